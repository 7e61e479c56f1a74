/**
 * Puts the CA bundle into the MutatingWebhookConfiguration's `clientConfig.caBundle`, for
 * every webhook of it that calls our Service.
 *
 * A JSON patch, not a merge patch: a merge patch replaces the whole `webhooks` list, and the
 * strategic merge that keys it by name is not available to a plain JSON client. Each write
 * carries a `test` of the webhook's name at that index, so a concurrent edit that reorders the
 * list makes the patch fail (422) instead of writing into the wrong webhook; we then re-read.
 */
import { KubeApiError, type JsonPatch, type KubeRest } from './kube-rest';
import type { WebhookService } from './service-names';

export const WEBHOOK_CONFIG_NAME = 'datamount-webhook';

const MAX_ATTEMPTS = 5;

interface WebhookEntry {
  name?: string;
  clientConfig?: { caBundle?: string; service?: { name?: string; namespace?: string } };
}

interface MutatingWebhookConfiguration {
  metadata?: { name?: string };
  webhooks?: WebhookEntry[] | null;
}

export function webhookConfigPath(name: string): string {
  return `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`;
}

export interface CaBundlePatchResult {
  /** Webhooks of the configuration that call the Service. */
  readonly webhooks: number;
  /** How many of those had another caBundle and were patched. */
  readonly patched: number;
}

function patchFor(config: MutatingWebhookConfiguration, service: WebhookService, caBundle: string): { ops: JsonPatch; webhooks: number } {
  const ops: JsonPatch[number][] = [];
  let webhooks = 0;
  (config.webhooks ?? []).forEach((webhook, index) => {
    const target = webhook.clientConfig?.service;
    if (target?.name !== service.name || target.namespace !== service.namespace) return;
    webhooks += 1;
    if (webhook.clientConfig?.caBundle === caBundle) return;
    ops.push({ op: 'test', path: `/webhooks/${index}/name`, value: webhook.name });
    ops.push({ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle });
  });
  return { ops, webhooks };
}

export async function patchCaBundle(
  kube: KubeRest, configName: string, service: WebhookService, caBundle: string,
): Promise<CaBundlePatchResult> {
  const path = webhookConfigPath(configName);
  for (let attempt = 1; ; attempt += 1) {
    const config = await kube.get<MutatingWebhookConfiguration>(path);
    const { ops, webhooks } = patchFor(config, service, caBundle);
    if (webhooks === 0) {
      throw new Error(
        `MutatingWebhookConfiguration ${configName} has no webhook whose clientConfig.service is ${service.namespace}/${service.name}`,
      );
    }
    if (ops.length === 0) return { webhooks, patched: 0 };
    try {
      await kube.jsonPatch(path, ops);
      return { webhooks, patched: ops.length / 2 };
    } catch (err) {
      const raced = err instanceof KubeApiError && (err.status === 422 || err.status === 409);
      if (!raced || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}
