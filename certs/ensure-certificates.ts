/**
 * Self-managed certificates in the cluster (`datamount-certs ensure`, run by the install Job
 * and a daily CronJob under the `datamount-certs` ServiceAccount):
 *
 * 1. read the Secret `datamount-webhook-tls`; keep it if `renewalReason` finds nothing wrong;
 * 2. otherwise issue a new bundle and write it — create if absent, update with the read
 *    `resourceVersion` if present. With two runs racing, the API server lets exactly one write
 *    win (409 AlreadyExists / Conflict for the other); the loser starts over from step 1, finds
 *    the winner's fresh Secret and keeps it;
 * 3. patch the caBundle from the Secret as stored — never from a bundle this run made but did not
 *    manage to store — so every run ends with the caBundle matching the one Secret.
 *
 * The Secret is written before the caBundle is patched. The new `ca.crt` still holds the
 * previous CA, and the webhook pods keep serving the previous certificate until the kubelet
 * refreshes their Secret volume (a minute or more later), so every order of those events leaves
 * the API server trusting what the webhook serves.
 */
import { KubeApiError, type KubeRest } from './kube-rest';
import { toBase64 } from './pem';
import { renewalReason, validCaPems } from './renewal-check';
import { serviceDnsNames, type WebhookService } from './service-names';
import type { TlsBundle } from './tls-bundle';
import { bundleOfSecret, tlsSecret, type SecretRef, type TlsSecret } from './tls-secret';
import { patchCaBundle, webhookConfigPath } from './webhook-ca-bundle';

/** Each attempt is one read and at most one write; losing five races in a row means something else is wrong. */
const MAX_ATTEMPTS = 5;

export interface EnsureTarget {
  readonly service: WebhookService;
  readonly secret: SecretRef;
  readonly webhookConfig: string;
}

export interface EnsureDeps {
  readonly kube: KubeRest;
  readonly now: () => Date;
  /** Makes a new bundle (CA + serving certificate) for the Service, with only the new CA in it. */
  readonly issue: (service: WebhookService, now: Date) => Promise<TlsBundle>;
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
  /** How long to wait for the MutatingWebhookConfiguration to appear (it may be applied after the Job starts). */
  readonly configWaitMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type EnsureAction = 'kept' | 'created' | 'renewed' | 'adopted';

export interface EnsureResult {
  /** `adopted`: another run stored a Secret while this one was writing, and this run uses it. */
  readonly action: EnsureAction;
  readonly reason?: string;
  readonly caBundle: string;
  readonly patchedWebhooks: number;
}

function secretPaths(ref: SecretRef): { collection: string; item: string } {
  const collection = `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets`;
  return { collection, item: `${collection}/${encodeURIComponent(ref.name)}` };
}

function isStatus(err: unknown, status: number): err is KubeApiError {
  return err instanceof KubeApiError && err.status === status;
}

async function readSecret(kube: KubeRest, path: string): Promise<TlsSecret | undefined> {
  try {
    return await kube.get<TlsSecret>(path);
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

/** The new CA first, then the CA that signed the certificate the webhook pods serve until they reload. */
function withPreviousCa(fresh: TlsBundle, previous: TlsBundle | undefined, now: Date): TlsBundle {
  const keep = previous === undefined ? [] : validCaPems(previous.caPem, now).slice(0, 1);
  return { ...fresh, caPem: [fresh.caPem, ...keep].join('') };
}

interface Stored {
  secret: TlsSecret;
  action: EnsureAction;
  reason?: string;
}

async function ensureSecret(deps: EnsureDeps, target: EnsureTarget): Promise<Stored> {
  const paths = secretPaths(target.secret);
  const names = serviceDnsNames(target.service);
  let lostRace = false;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    const existing = await readSecret(deps.kube, paths.item);
    const now = deps.now();
    const previous = existing === undefined ? undefined : bundleOfSecret(existing);
    const reason = previous === undefined ? 'no Secret yet' : renewalReason(previous, names, now);
    if (existing !== undefined && reason === undefined) {
      return { secret: existing, action: lostRace ? 'adopted' : 'kept' };
    }
    const bundle = withPreviousCa(await deps.issue(target.service, now), previous, now);
    try {
      if (existing === undefined) {
        const created = await deps.kube.create<TlsSecret>(paths.collection, tlsSecret(target.secret, bundle));
        return { secret: created, action: 'created', reason };
      }
      const updated = await deps.kube.update<TlsSecret>(
        paths.item, tlsSecret(target.secret, bundle, existing.metadata.resourceVersion),
      );
      return { secret: updated, action: 'renewed', reason };
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      lostRace = true;
      deps.log('another run wrote the Secret first; reading it again', { attempt, reason: err.reason });
    }
  }
  throw new Error(`gave up on Secret ${target.secret.namespace}/${target.secret.name} after ${MAX_ATTEMPTS} conflicting writes`);
}

/** How often the MutatingWebhookConfiguration is looked for while it is not there yet. */
const CONFIG_POLL_MS = 2_000;

async function waitForWebhookConfig(deps: EnsureDeps, name: string): Promise<void> {
  const waitMs = deps.configWaitMs ?? 60_000;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const polls = Math.ceil(waitMs / CONFIG_POLL_MS);
  for (let poll = 0; ; poll += 1) {
    try {
      await deps.kube.get(webhookConfigPath(name));
      return;
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      if (poll >= polls) throw new Error(`MutatingWebhookConfiguration ${name} not found after ${waitMs} ms: apply the manifests first`);
      deps.log('waiting for the MutatingWebhookConfiguration', { name });
      await sleep(CONFIG_POLL_MS);
    }
  }
}

export async function ensureCertificates(deps: EnsureDeps, target: EnsureTarget): Promise<EnsureResult> {
  const stored = await ensureSecret(deps, target);
  const caBundle = toBase64(bundleOfSecret(stored.secret).caPem);
  await waitForWebhookConfig(deps, target.webhookConfig);
  const patch = await patchCaBundle(deps.kube, target.webhookConfig, target.service, caBundle);
  return {
    action: stored.action,
    ...(stored.reason === undefined ? {} : { reason: stored.reason }),
    caBundle,
    patchedWebhooks: patch.patched,
  };
}
