import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeRest } from '../../certs/kube-rest';
import { patchCaBundle } from '../../certs/webhook-ca-bundle';
import { startFakeKubeApi, type FakeKubeApi, type KubeObject } from '../support/fake-kube-api';

const SERVICE = { name: 'datamount-webhook', namespace: 'datamount-system' };
const CONFIG = JSON.parse(readFileSync(path.join(__dirname, 'fixtures/mutating-webhook-configuration.json'), 'utf8')) as KubeObject;

interface Webhook {
  name: string;
  clientConfig: { caBundle?: string; service?: { name: string } };
}

describe('patchCaBundle', () => {
  let api: FakeKubeApi;
  let kube: KubeRest;
  const webhooks = (): Webhook[] =>
    (api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'datamount-webhook')?.webhooks ?? []) as Webhook[];

  beforeEach(async () => {
    api = await startFakeKubeApi();
    kube = new KubeRest({ baseUrl: api.url });
  });
  afterEach(() => api.stop());

  describe('when two webhooks call our Service and one another', () => {
    beforeEach(() => {
      const config = structuredClone(CONFIG);
      const ours = (config.webhooks as Webhook[])[1] as Webhook;
      (config.webhooks as Webhook[]).push({ ...structuredClone(ours), name: 'pods-again.datamount.dev' });
      api.seed(config);
    });

    it('sets the caBundle of both of ours, leaves the other alone, with a JSON patch guarded by name tests', async () => {
      await expect(patchCaBundle(kube, 'datamount-webhook', SERVICE, 'bmV3')).resolves.toEqual({ webhooks: 2, patched: 2 });
      expect(webhooks().map((w) => w.clientConfig.caBundle)).toEqual(['b3RoZXI=', 'bmV3', 'bmV3']);
      expect(api.requests.filter((r) => r.method === 'PATCH').map((r) => r.contentType)).toEqual(['application/json-patch+json']);
    });

    it('sends no patch when the caBundle is already right', async () => {
      await patchCaBundle(kube, 'datamount-webhook', SERVICE, 'bmV3');
      api.requests.length = 0;
      await expect(patchCaBundle(kube, 'datamount-webhook', SERVICE, 'bmV3')).resolves.toEqual({ webhooks: 2, patched: 0 });
      expect(api.requests.map((r) => r.method)).toEqual(['GET']);
    });
  });

  describe('when the webhooks were reordered between read and patch', () => {
    it('the name test fails the patch instead of writing into the wrong webhook, and the next attempt gets it right', async () => {
      api.seed(structuredClone(CONFIG));
      let reordered = false;
      api.intercept((req) => {
        if (req.method === 'PATCH' && !reordered) {
          reordered = true;
          const config = structuredClone(CONFIG);
          config.webhooks = [...(config.webhooks as Webhook[])].reverse();
          api.seed(config);
        }
        return undefined;
      });
      await expect(patchCaBundle(kube, 'datamount-webhook', SERVICE, 'bmV3')).resolves.toEqual({ webhooks: 1, patched: 1 });
      expect(webhooks().map((w) => [w.name, w.clientConfig.caBundle])).toEqual([['pods.datamount.dev', 'bmV3'], ['other.example.com', 'b3RoZXI=']]);
      expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(2);
    });
  });

  describe('when every patch keeps failing', () => {
    it('gives up after five attempts with the API error', async () => {
      api.seed(structuredClone(CONFIG));
      api.intercept((req) => (req.method === 'PATCH' ? { status: 409 } : undefined));
      await expect(patchCaBundle(kube, 'datamount-webhook', SERVICE, 'bmV3')).rejects.toThrow(/^PATCH .+: 409 /);
      expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(5);
    });
  });
});
