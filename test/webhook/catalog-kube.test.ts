/**
 * The API-server adapter against an HTTP server speaking the Kubernetes list/watch protocol.
 * Needs NODE_OPTIONS=--experimental-vm-modules: @kubernetes/client-node is ESM-only and is
 * loaded with a dynamic import(), which jest only supports with that flag (the Makefile sets it).
 */
import net from 'node:net';
import { type KubeCatalog, startKubeCatalog } from '../../webhook/catalog-kube';
import { createKubeClient, type KubeClient } from '../../webhook/kube-client';
import { DatamountError } from '../../webhook/errors';
import { type FakeKubeApi, type KubeObject, startFakeKubeApi } from '../support/fake-kube-api';

function dataset(name: string, bucket: string, namespace = 'ml', group = 'datamount.dev'): KubeObject {
  const spec = group === 'datamount.dev'
    ? { s3: { endpoint: 'https://s3.example.com', bucket } }
    : { local: { type: 'COS', endpoint: 'https://cos.example.com', bucket, 'secret-name': `${name}-creds` } };
  return { apiVersion: `${group}/v1alpha1`, kind: 'Dataset', metadata: { name, namespace }, spec };
}

const cacheLocations = (bytes: number): KubeObject => ({
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'datamount-cache-locations', namespace: 'datamount-system' },
  data: { 'node-a': JSON.stringify({ updated: '2026-11-29T05:00:00Z', datasets: { 'ml/imagenet': { bytes } } }) },
});

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('startKubeCatalog', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  let catalog: KubeCatalog | undefined;

  beforeEach(async () => {
    api = await startFakeKubeApi();
    client = await createKubeClient({ server: api.url });
    api.seed(dataset('imagenet', 'training-data'));
    api.seed(dataset('legacy', 'archive', 'ml', 'datashim.io'));
    api.seed(dataset('private', 'other-tenant', 'other'));
    api.seed(cacheLocations(1000));
  });

  afterEach(async () => {
    await catalog?.close();
    catalog = undefined;
    await api.stop();
  });

  function start(options: { retryMinMs?: number; lookupTimeoutMs?: number } = {}): KubeCatalog {
    catalog = startKubeCatalog({ client, namespace: 'datamount-system', retryMinMs: options.retryMinMs ?? 20, retryMaxMs: 200, ...(options.lookupTimeoutMs ? { lookupTimeoutMs: options.lookupTimeoutMs } : {}) });
    return catalog;
  }

  const lists = () => api.requests.filter((r) => r.method === 'GET' && r.query.watch !== 'true' && r.path.endsWith('/datasets'));
  const gets = () => api.requests.filter((r) => r.method === 'GET' && /\/datasets\/[^/]+$/.test(r.path));

  describe('when the API server has Datasets of both groups and the cache ConfigMap', () => {
    it('lists them all, becomes synced, and serves lookups from memory', async () => {
      const c = start();
      expect(c.isSynced()).toBe(false);
      await c.whenSynced();
      expect(c.isSynced()).toBe(true);
      expect((await c.getDataset('ml', 'imagenet'))?.dataset?.bucket).toBe('training-data');
      expect((await c.getDataset('ml', 'legacy'))?.dataset).toMatchObject({ group: 'datashim.io', bucket: 'archive' });
      expect((await c.getDataset('other', 'private'))?.dataset?.bucket).toBe('other-tenant');
      expect(c.cacheLocations()).toEqual(cacheLocations(1000).data);
      expect(gets()).toEqual([]);
      expect(api.requests.filter((r) => r.path === '/api/v1/namespaces/datamount-system/configmaps')[0]?.query.fieldSelector)
        .toBe('metadata.name=datamount-cache-locations');
    });

    it('follows additions, changes and deletions through the watch', async () => {
      const c = start();
      await c.whenSynced();
      api.seed(dataset('coco', 'coco'));
      api.seed(dataset('imagenet', 'moved-bucket'));
      api.remove('datashim.io/v1alpha1', 'Dataset', 'ml', 'legacy');
      api.seed(cacheLocations(2000));
      await eventually(async () => (await c.getDataset('ml', 'imagenet'))?.dataset?.bucket === 'moved-bucket', 'the modification');
      await eventually(() => c.datasetCount() === 3, 'the addition and the deletion');
      expect((await c.getDataset('ml', 'coco'))?.dataset?.bucket).toBe('coco');
      await eventually(() => c.cacheLocations()?.['node-a']?.includes('2000') === true, 'the new cache report');
    });
  });

  describe('when the watch stream drops', () => {
    it('resumes from the last resourceVersion seen, without relisting, and misses nothing', async () => {
      const c = start();
      await c.whenSynced();
      api.seed(dataset('before-drop', 'b1'));
      await eventually(() => c.datasetCount() === 4, 'the event before the drop');
      const lastSeen = api.get('datamount.dev/v1alpha1', 'Dataset', 'ml', 'before-drop')?.metadata.resourceVersion;
      const listsBefore = lists().length;
      api.dropWatches();
      api.seed(dataset('after-drop', 'b2'));
      await eventually(() => c.datasetCount() === 5, 'the event after the drop');
      const resumed = api.requests.filter((r) => r.path === '/apis/datamount.dev/v1alpha1/datasets' && r.query.watch === 'true');
      expect(resumed.length).toBeGreaterThanOrEqual(2);
      expect(resumed.map((r) => r.query.resourceVersion)).toContain(lastSeen);
      expect(lists().length).toBe(listsBefore);
    });

    it('relists when the server says the resourceVersion is too old (410 Gone)', async () => {
      const c = start();
      await c.whenSynced();
      const listsBefore = lists().length;
      // Keep the watch away while history moves on and is compacted past what the catalog saw.
      api.intercept((req) => (req.query.watch === 'true' ? { status: 503 } : undefined));
      api.dropWatches();
      api.seed(dataset('during-gap', 'gap'));
      api.compactHistory();
      api.intercept(undefined);
      await eventually(async () => c.datasetCount() === 4, 'the relisted Dataset');
      expect((await c.getDataset('ml', 'during-gap'))?.dataset?.bucket).toBe('gap');
      expect(lists().length).toBeGreaterThan(listsBefore);
      expect(gets()).toEqual([]);
    });

    it('reports itself stale while watches fail, and current again once they are back', async () => {
      const c = start();
      await c.whenSynced();
      expect(c.staleSince()).toBeUndefined();
      api.intercept((req) => (req.query.watch === 'true' ? { status: 500 } : undefined));
      api.dropWatches();
      await eventually(() => c.staleSince() !== undefined, 'the stale mark');
      api.intercept(undefined);
      await eventually(() => c.staleSince() === undefined, 'recovery');
    });
  });

  describe('when a Dataset was created a moment ago and the watch has not delivered it', () => {
    it('finds it with a direct GET and keeps it', async () => {
      const c = start({ retryMinMs: 60_000 });
      await c.whenSynced();
      api.intercept((req) => (req.query.watch === 'true' ? { status: 503 } : undefined));
      api.dropWatches();
      api.seed(dataset('fresh', 'brand-new'));
      expect((await c.getDataset('ml', 'fresh'))?.dataset?.bucket).toBe('brand-new');
      expect(gets().map((r) => r.path)).toContain('/apis/datamount.dev/v1alpha1/namespaces/ml/datasets/fresh');
      const getsAfterFirst = gets().length;
      await c.getDataset('ml', 'fresh');
      expect(gets().length).toBe(getsAfterFirst);
    });

    it('sends one pair of GETs for a burst of pods naming the same unknown Dataset', async () => {
      const c = start();
      await c.whenSynced();
      const answers = await Promise.all(Array.from({ length: 50 }, () => c.getDataset('ml', 'nowhere')));
      expect(answers.every((a) => a === undefined)).toBe(true);
      expect(gets()).toHaveLength(2);
    });

    it('keeps at most maxConcurrentLookups direct lookups open, and answers a known-absent name from memory for a moment', async () => {
      let open = 0;
      let most = 0;
      const counting: KubeClient = {
        ...client,
        get: async (ref, name) => {
          open += 1;
          most = Math.max(most, open);
          try {
            return await client.get(ref, name);
          } finally {
            open -= 1;
          }
        },
      };
      catalog = startKubeCatalog({ client: counting, namespace: 'datamount-system', retryMinMs: 20, maxConcurrentLookups: 4, negativeCacheMs: 60_000 });
      await catalog.whenSynced();
      const names = Array.from({ length: 40 }, (_, i) => `ghost-${i}`);
      const answers = await Promise.all(names.map((n) => catalog!.getDataset('ml', n)));
      expect(answers.every((a) => a === undefined)).toBe(true);
      expect(gets()).toHaveLength(80);
      expect(most).toBeLessThanOrEqual(8);
      await catalog.getDataset('ml', 'ghost-0');
      expect(gets()).toHaveLength(80);
    });

    it('answers undefined when neither group has it, and never looks in another namespace', async () => {
      const c = start();
      await c.whenSynced();
      expect(await c.getDataset('ml', 'private')).toBeUndefined();
      expect(gets().map((r) => r.path).sort()).toEqual([
        '/apis/datamount.dev/v1alpha1/namespaces/ml/datasets/private',
        '/apis/datashim.io/v1alpha1/namespaces/ml/datasets/private',
      ]);
    });

    it('throws CATALOG_UNAVAILABLE when the API server cannot answer the GET', async () => {
      const c = start();
      await c.whenSynced();
      api.intercept((req) => (/\/datasets\/missing$/.test(req.path) ? { status: 500 } : undefined));
      await expect(c.getDataset('ml', 'missing')).rejects.toBeInstanceOf(DatamountError);
      await expect(c.getDataset('ml', 'missing')).rejects.toThrow(/Datasets cannot be looked up right now: GET Dataset ml\/missing/);
    });
  });

  describe('when Datashim is not installed (its group answers 404)', () => {
    it('treats that source as empty and still becomes synced', async () => {
      api.intercept((req) => (req.path.startsWith('/apis/datashim.io/') ? { status: 404 } : undefined));
      const c = start();
      await c.whenSynced();
      expect(c.isSynced()).toBe(true);
      expect(await c.getDataset('ml', 'legacy')).toBeUndefined();
      expect((await c.getDataset('ml', 'imagenet'))?.dataset).toBeDefined();
    });
  });

  describe('when the API server accepts connections but never answers', () => {
    it('gives up on the list after listTimeoutMs and reports itself stale and not synced', async () => {
      const sockets: net.Socket[] = [];
      const silent = net.createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const hungClient = await createKubeClient({ server: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}` });
      const c = startKubeCatalog({ client: hungClient, namespace: 'datamount-system', listTimeoutMs: 100, retryMinMs: 50, retryMaxMs: 100 });
      try {
        await eventually(() => c.staleSince() !== undefined, 'the stale mark', 5000);
        expect(c.isSynced()).toBe(false);
      } finally {
        await c.close();
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  });
});
