/**
 * The RBAC in the manifests against the calls the code really makes. Each program is run
 * against the fake API server (or, for the webhook, through its KubeClient port) and every
 * request it sends is checked against its ServiceAccount's rules — allowed, and nothing granted
 * that no call uses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { ensureCertificates, type EnsureDeps } from '../../certs/ensure-certificates';
import { KubeRest } from '../../certs/kube-rest';
import { issueTlsBundle } from '../../certs/tls-bundle';
import { tlsSecret } from '../../certs/tls-secret';
import { createLogger } from '../../sidecar/logger';
import { runReporter } from '../../sidecar/reporter';
import { startKubeCatalog } from '../../webhook/catalog-kube';
import { pathOf, type KubeClient, type ResourceRef } from '../../webhook/kube-client';
import { startFakeKubeApi, type FakeKubeApi, type KubeObject as FakeObject } from '../support/fake-kube-api';
import { resolveKustomization } from './kustomize-build';
import { MANIFESTS, ROOT, findObject, type KubeObject } from './manifest-docs';
import { allowingGrants, attributesOf, grantsOf, type Grant, type HttpRequest, type RequestAttributes } from './rbac-authorizer';

const NS = 'datamount-system';
const install = resolveKustomization(MANIFESTS);
const ACCOUNTS = { webhook: 'datamount-webhook', certs: 'datamount-certs', reporter: 'datamount-reporter' } as const;
const grants = (account: string): Grant[] => grantsOf(install, { namespace: NS, name: account });

function describeCall(call: RequestAttributes): string {
  return `${call.verb} ${call.apiGroup || 'core'}/${call.resource} ${call.namespace ?? '*'}/${call.name ?? '*'}`;
}

function grantKey(grant: Grant): string {
  return `${grant.rule} ${grant.verb} ${grant.apiGroup || 'core'}/${grant.resource}${grant.name ? ` ${grant.name}` : ''}`;
}

/** Every call allowed; every grant used by some call. */
function expectExactly(account: string, calls: readonly RequestAttributes[]): void {
  const held = grants(account);
  expect(calls.length).toBeGreaterThan(0);
  expect(calls.filter((call) => allowingGrants(held, call).length === 0).map(describeCall)).toEqual([]);
  const used = new Set(calls.flatMap((call) => allowingGrants(held, call)).map(grantKey));
  expect(held.map(grantKey).filter((key) => !used.has(key))).toEqual([]);
}

function unique(calls: RequestAttributes[]): RequestAttributes[] {
  return [...new Map(calls.map((c) => [describeCall(c), c])).values()];
}

const MWC = JSON.parse(readFileSync(path.join(ROOT, 'test/certs/fixtures/mutating-webhook-configuration.json'), 'utf8')) as FakeObject;

describe('RBAC', () => {
  describe('the datamount-certs ServiceAccount', () => {
    let api: FakeKubeApi;
    beforeEach(async () => {
      api = await startFakeKubeApi();
    });
    afterEach(() => api.stop());

    it('allows exactly what `datamount-certs ensure` calls: create, keep, renew, race', async () => {
      api.seed(structuredClone(MWC));
      const target = { service: { name: 'datamount-webhook', namespace: NS }, secret: { name: 'datamount-webhook-tls', namespace: NS }, webhookConfig: 'datamount-webhook' };
      // Which certificate is issued does not change the calls; one bundle serves every run.
      const fresh = issueTlsBundle({ service: target.service, now: new Date() });
      const deps: EnsureDeps = { kube: new KubeRest({ baseUrl: api.url }), now: () => new Date(), log: () => undefined, issue: () => fresh };
      await Promise.all([ensureCertificates(deps, target), ensureCertificates(deps, target)]);
      await ensureCertificates(deps, target);
      const old = await issueTlsBundle({ service: target.service, now: new Date(Date.now() - 300 * 86_400_000) });
      api.seed(tlsSecret(target.secret, old) as unknown as FakeObject);
      await ensureCertificates(deps, target);
      const calls = unique(api.requests.map((r) => attributesOf(r)));
      expect(calls.map(describeCall).sort()).toEqual([
        'create core/secrets datamount-system/*',
        'get admissionregistration.k8s.io/mutatingwebhookconfigurations */datamount-webhook',
        'get core/secrets datamount-system/datamount-webhook-tls',
        'patch admissionregistration.k8s.io/mutatingwebhookconfigurations */datamount-webhook',
        'update core/secrets datamount-system/datamount-webhook-tls',
      ]);
      expectExactly(ACCOUNTS.certs, calls);
    });
  });

  describe('the datamount-reporter ServiceAccount', () => {
    let api: FakeKubeApi;
    let root: string;
    beforeEach(async () => {
      api = await startFakeKubeApi();
      root = await mkdtemp(path.join(tmpdir(), 'datamount-rbac-'));
    });
    afterEach(async () => {
      await api.stop();
      await rm(root, { recursive: true, force: true });
    });

    it('allows exactly what the reporter calls: patch its key in, patch it out on shutdown', async () => {
      const configMap = findObject(install, 'ConfigMap', 'datamount-cache-locations');
      api.seed(structuredClone(configMap));
      const stop = new AbortController();
      const env = { DATAMOUNT_NODE_NAME: 'node-a', DATAMOUNT_CACHE_ROOT: root, DATAMOUNT_KUBE_API_URL: api.url };
      const running = runReporter([], { env, stop: stop.signal, log: createLogger('error', () => undefined) });
      const until = Date.now() + 10_000;
      while (!api.requests.some((r) => r.method === 'PATCH') && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
      stop.abort();
      await expect(running).resolves.toBe(0);
      expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(2);
      const calls = unique(api.requests.map((r) => attributesOf(r)));
      expect(calls.map(describeCall)).toEqual(['patch core/configmaps datamount-system/datamount-cache-locations']);
      expectExactly(ACCOUNTS.reporter, calls);
    });

    it("does not allow the reporter's create fallback, which the shipped ConfigMap makes unnecessary", () => {
      const create: RequestAttributes = { verb: 'create', apiGroup: '', resource: 'configmaps', namespace: NS };
      expect(allowingGrants(grants(ACCOUNTS.reporter), create)).toEqual([]);
      expect(install.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'datamount-cache-locations' && o.metadata.namespace === NS)).toBe(true);
    });
  });

  describe('the datamount-webhook ServiceAccount', () => {
    /** The webhook's KubeClient port, recording each call as the HTTP request the adapter sends for it (pathOf). */
    function recordingClient(requests: HttpRequest[]): KubeClient {
      const query = (ref: ResourceRef, extra: Record<string, string> = {}): Record<string, string> =>
        ({ ...(ref.fieldSelector ? { fieldSelector: ref.fieldSelector } : {}), ...extra });
      return {
        async list(ref) {
          requests.push({ method: 'GET', path: pathOf(ref), query: query(ref) });
          return { items: [], resourceVersion: '1' };
        },
        async get(ref, name) {
          requests.push({ method: 'GET', path: `${pathOf(ref)}/${encodeURIComponent(name)}`, query: {} });
          return undefined;
        },
        async watch(ref, resourceVersion, _onEvent, onDone) {
          requests.push({ method: 'GET', path: pathOf(ref), query: query(ref, { watch: 'true', resourceVersion }) });
          return { abort: () => onDone(undefined) };
        },
      };
    }

    it('allows exactly what the catalog calls: list, watch and get of Datasets, list and watch of the one ConfigMap', async () => {
      const requests: HttpRequest[] = [];
      const catalog = startKubeCatalog({ client: recordingClient(requests), namespace: NS });
      try {
        await catalog.whenSynced();
        await expect(catalog.getDataset('ml', 'not-yet-watched')).resolves.toBeUndefined();
        const until = Date.now() + 5_000;
        while (requests.filter((r) => r.query.watch === 'true').length < 3 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
      } finally {
        await catalog.close();
      }
      const calls = unique(requests.map(attributesOf));
      expect(calls.map(describeCall).sort()).toEqual([
        'get datamount.dev/datasets ml/not-yet-watched',
        'get datashim.io/datasets ml/not-yet-watched',
        'list core/configmaps datamount-system/datamount-cache-locations',
        'list datamount.dev/datasets */*',
        'list datashim.io/datasets */*',
        'watch core/configmaps datamount-system/datamount-cache-locations',
        'watch datamount.dev/datasets */*',
        'watch datashim.io/datasets */*',
      ]);
      expectExactly(ACCOUNTS.webhook, calls);
    });

    it('has an adapter that can only read', () => {
      const source = readFileSync(path.join(ROOT, 'webhook/kube-client.ts'), 'utf8');
      expect(source.match(/\.(create|replace|patch|delete)\w*\(/g) ?? []).toEqual([]);
    });
  });

  describe('across the manifests', () => {
    const all = Object.values(ACCOUNTS).flatMap((account) => grants(account).map((g) => ({ account, ...g })));

    it('no ServiceAccount but datamount-certs touches Secrets, and it only its own plus create', () => {
      expect(all.filter((g) => g.resource === 'secrets' || g.resource === '*').map((g) => `${g.account} ${g.verb} ${g.name ?? '*'}`).sort()).toEqual([
        'datamount-certs create *', 'datamount-certs get datamount-webhook-tls', 'datamount-certs update datamount-webhook-tls',
      ]);
    });

    it('nothing may write pods', () => {
      expect(all.filter((g) => g.resource === 'pods' || g.resource.startsWith('pods/'))).toEqual([]);
    });

    it('no rule uses a wildcard or can escalate', () => {
      expect(all.filter((g) => [g.verb, g.apiGroup, g.resource].includes('*') || ['escalate', 'bind', 'impersonate'].includes(g.verb))).toEqual([]);
    });

    it('every Role and ClusterRole is bound, to one of our ServiceAccounts', () => {
      const roles = install.filter((o: KubeObject) => o.kind === 'Role' || o.kind === 'ClusterRole').map((o) => `${o.kind} ${o.metadata.name}`);
      const bound = install.filter((o) => o.kind.endsWith('Binding')).map((o) => `${(o.roleRef as { kind: string }).kind} ${(o.roleRef as { name: string }).name}`);
      expect(roles.sort()).toEqual([...new Set(bound)].sort());
    });
  });
});
