import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureCertificates, type EnsureDeps, type EnsureTarget } from '../../certs/ensure-certificates';
import { KubeRest } from '../../certs/kube-rest';
import { fromBase64, splitPemCertificates } from '../../certs/pem';
import { issueTlsBundle, type TlsBundle } from '../../certs/tls-bundle';
import { bundleOfSecret, tlsSecret } from '../../certs/tls-secret';
import { startFakeKubeApi, type FakeKubeApi, type KubeObject } from '../support/fake-kube-api';
import { handshake } from './tls-handshake';

const SERVICE = { name: 'datamount-webhook', namespace: 'datamount-system' };
const TARGET: EnsureTarget = {
  service: SERVICE,
  secret: { name: 'datamount-webhook-tls', namespace: 'datamount-system' },
  webhookConfig: 'datamount-webhook',
};
const SERVER_NAME = 'datamount-webhook.datamount-system.svc';
const SECRET_PATH = '/api/v1/namespaces/datamount-system/secrets/datamount-webhook-tls';
const DAY_MS = 24 * 60 * 60 * 1000;
const CONFIG = JSON.parse(
  readFileSync(path.join(__dirname, 'fixtures/mutating-webhook-configuration.json'), 'utf8'),
) as KubeObject;

interface Webhook {
  name: string;
  clientConfig: { caBundle?: string };
}

function storedBundle(api: FakeKubeApi): TlsBundle {
  const secret = api.get('v1', 'Secret', 'datamount-system', 'datamount-webhook-tls');
  if (!secret) throw new Error('no Secret stored');
  return bundleOfSecret(secret as { data?: Record<string, string> });
}

function webhooks(api: FakeKubeApi): Webhook[] {
  const config = api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'datamount-webhook');
  return (config?.webhooks ?? []) as Webhook[];
}

function ourCaBundle(api: FakeKubeApi): string {
  const bundle = webhooks(api)[1]?.clientConfig.caBundle;
  if (bundle === undefined) throw new Error('caBundle not set');
  return fromBase64(bundle);
}

function writes(api: FakeKubeApi, pathPrefix: string): string[] {
  return api.requests.filter((r) => r.method !== 'GET' && r.path.startsWith(pathPrefix)).map((r) => r.method);
}

/**
 * RSA key generation dominates these tests, and which fresh bundle a run gets does not matter,
 * so bundles are made once and handed out in turn (each one different from the others).
 */
const POOL_SIZE = 4;
let pool: TlsBundle[] = [];
let old: TlsBundle;
let next = 0;
const pooledIssuer: EnsureDeps['issue'] = async () => {
  next += 1;
  return pool[next % POOL_SIZE] as TlsBundle;
};

beforeAll(async () => {
  [old, ...pool] = await Promise.all([
    issueTlsBundle({ service: SERVICE, now: new Date(Date.now() - 300 * DAY_MS) }),
    ...Array.from({ length: POOL_SIZE }, () => issueTlsBundle({ service: SERVICE, now: new Date() })),
  ]);
});

/** An issuer that holds every caller until `parties` of them are in, so racing runs both read before either writes. */
function barrierIssuer(parties: number): EnsureDeps['issue'] {
  let waiting: Array<() => void> = [];
  return async (service, now) => {
    const bundle = pooledIssuer(service, now);
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === parties) {
        waiting.forEach((release) => release());
        waiting = [];
      }
    });
    return bundle;
  };
}

describe('ensureCertificates', () => {
  let api: FakeKubeApi;
  let logs: string[];
  let deps: EnsureDeps;

  beforeEach(async () => {
    api = await startFakeKubeApi();
    api.seed(structuredClone(CONFIG));
    logs = [];
    deps = {
      kube: new KubeRest({ baseUrl: api.url }),
      now: () => new Date(),
      issue: pooledIssuer,
      log: (message) => logs.push(message),
      sleep: async () => undefined,
    };
  });

  afterEach(async () => {
    await api.stop();
  });

  describe('when there is no Secret', () => {
    it('creates it and puts its CA into our webhook only', async () => {
      const result = await ensureCertificates(deps, TARGET);
      expect(result).toMatchObject({ action: 'created', reason: 'no Secret yet', patchedWebhooks: 1 });
      const bundle = storedBundle(api);
      expect(ourCaBundle(api)).toBe(bundle.caPem);
      expect(fromBase64(result.caBundle)).toBe(bundle.caPem);
      expect(webhooks(api)[0]?.clientConfig.caBundle).toBe('b3RoZXI=');
      await expect(handshake(bundle, { caPem: ourCaBundle(api), servername: SERVER_NAME })).resolves.toEqual({ authorized: true });
    });

    it('stores a kubernetes.io/tls Secret', async () => {
      await ensureCertificates(deps, TARGET);
      const secret = api.get('v1', 'Secret', 'datamount-system', 'datamount-webhook-tls');
      expect(secret?.type).toBe('kubernetes.io/tls');
      expect(Object.keys(secret?.data as object).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    });
  });

  describe('when the Secret is fresh', () => {
    it('leaves it alone and patches nothing on a second run', async () => {
      await ensureCertificates(deps, TARGET);
      const before = api.get('v1', 'Secret', 'datamount-system', 'datamount-webhook-tls');
      api.requests.length = 0;
      const result = await ensureCertificates(deps, TARGET);
      expect(result).toMatchObject({ action: 'kept', patchedWebhooks: 0 });
      expect(result.reason).toBeUndefined();
      expect(api.get('v1', 'Secret', 'datamount-system', 'datamount-webhook-tls')).toEqual(before);
      expect(api.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    });

    it('still repairs a caBundle that someone reset', async () => {
      await ensureCertificates(deps, TARGET);
      api.seed(structuredClone(CONFIG));
      const result = await ensureCertificates(deps, TARGET);
      expect(result).toMatchObject({ action: 'kept', patchedWebhooks: 1 });
      expect(ourCaBundle(api)).toBe(storedBundle(api).caPem);
    });
  });

  describe('when the serving certificate is close to expiry', () => {
    beforeEach(() => {
      api.seed(tlsSecret(TARGET.secret, old) as unknown as KubeObject);
    });

    it('renews it and keeps the previous CA trusted while pods still serve the old certificate', async () => {
      const result = await ensureCertificates(deps, TARGET);
      expect(result.action).toBe('renewed');
      expect(result.reason).toMatch(/^tls\.crt has used 82% of its lifetime/);
      const renewed = storedBundle(api);
      expect(renewed.certPem).not.toBe(old.certPem);
      expect(splitPemCertificates(renewed.caPem)).toEqual([expect.any(String), old.caPem]);
      const caPem = ourCaBundle(api);
      expect(caPem).toBe(renewed.caPem);
      await expect(handshake(renewed, { caPem, servername: SERVER_NAME })).resolves.toEqual({ authorized: true });
      await expect(handshake(old, { caPem, servername: SERVER_NAME })).resolves.toEqual({ authorized: true });
    });

    it('updates the Secret in place, with the resourceVersion it read', async () => {
      await ensureCertificates(deps, TARGET);
      expect(writes(api, SECRET_PATH)).toEqual(['PUT']);
    });
  });

  describe('when two runs race', () => {
    async function race(): Promise<Array<Awaited<ReturnType<typeof ensureCertificates>>>> {
      const racing = { ...deps, issue: barrierIssuer(2) };
      return Promise.all([ensureCertificates(racing, TARGET), ensureCertificates(racing, TARGET)]);
    }

    it('on an empty namespace, one creates and the other adopts its Secret', async () => {
      const results = await race();
      expect(results.map((r) => r.action).sort()).toEqual(['adopted', 'created']);
      expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
      const bundle = storedBundle(api);
      expect(ourCaBundle(api)).toBe(bundle.caPem);
      expect(results.map((r) => fromBase64(r.caBundle))).toEqual([bundle.caPem, bundle.caPem]);
      await expect(handshake(bundle, { caPem: ourCaBundle(api), servername: SERVER_NAME })).resolves.toEqual({ authorized: true });
      expect(logs).toContain('another run wrote the Secret first; reading it again');
    });

    it('on an expiring Secret, one renews and the other adopts the renewal', async () => {
      api.seed(tlsSecret(TARGET.secret, old) as unknown as KubeObject);
      const results = await race();
      expect(results.map((r) => r.action).sort()).toEqual(['adopted', 'renewed']);
      expect(writes(api, SECRET_PATH)).toEqual(['PUT', 'PUT']);
      const bundle = storedBundle(api);
      expect(bundle.certPem).not.toBe(old.certPem);
      expect(ourCaBundle(api)).toBe(bundle.caPem);
      await expect(handshake(bundle, { caPem: ourCaBundle(api), servername: SERVER_NAME })).resolves.toEqual({ authorized: true });
    });
  });

  describe('when the MutatingWebhookConfiguration is not there yet', () => {
    it('waits for it', async () => {
      api.remove('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'datamount-webhook');
      const sleep = jest.fn(async () => {
        api.seed(structuredClone(CONFIG));
      });
      const result = await ensureCertificates({ ...deps, sleep }, TARGET);
      expect(sleep).toHaveBeenCalledTimes(1);
      expect(result.patchedWebhooks).toBe(1);
    });

    it('gives up after the wait with a message saying what to do', async () => {
      api.remove('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'datamount-webhook');
      const sleep = jest.fn(async () => undefined);
      await expect(ensureCertificates({ ...deps, configWaitMs: 6_000, sleep }, TARGET)).rejects.toThrow(
        'MutatingWebhookConfiguration datamount-webhook not found after 6000 ms: apply the manifests first',
      );
      expect(sleep.mock.calls).toEqual([[2_000], [2_000], [2_000]]);
    });
  });

  describe('when the configuration has no webhook calling our Service', () => {
    it('fails naming the Service it looked for', async () => {
      const foreign = structuredClone(CONFIG);
      foreign.webhooks = (foreign.webhooks as unknown[]).slice(0, 1);
      api.seed(foreign);
      await expect(ensureCertificates(deps, TARGET)).rejects.toThrow(
        'MutatingWebhookConfiguration datamount-webhook has no webhook whose clientConfig.service is datamount-system/datamount-webhook',
      );
    });
  });

  describe('when the caBundle patch meets a concurrent edit', () => {
    it('reads the configuration again and patches once more', async () => {
      let refused = 0;
      api.intercept((req) => {
        if (req.method !== 'PATCH' || refused > 0) return undefined;
        refused += 1;
        return { status: 422, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422, message: 'test failed' } };
      });
      const result = await ensureCertificates(deps, TARGET);
      expect(refused).toBe(1);
      expect(result.patchedWebhooks).toBe(1);
      expect(ourCaBundle(api)).toBe(storedBundle(api).caPem);
    });
  });

  describe('when the API server refuses a write for another reason', () => {
    it('fails with the API server status and stores nothing', async () => {
      api.intercept((req) => (req.method === 'POST'
        ? { status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'secrets is forbidden' } }
        : undefined));
      await expect(ensureCertificates(deps, TARGET)).rejects.toThrow(
        'POST /api/v1/namespaces/datamount-system/secrets: 403 Forbidden: secrets is forbidden',
      );
      expect(api.get('v1', 'Secret', 'datamount-system', 'datamount-webhook-tls')).toBeUndefined();
    });
  });
});
