import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createLogger } from '../../sidecar/logger';
import { runReporter } from '../../sidecar/reporter';
import { parseCacheLocations } from '../../webhook/cache-hints';
import { startFakeKubeApi, type FakeKubeApi } from '../support/fake-kube-api';

const NS = 'datamount-system';
const CM = 'datamount-cache-locations';
const CM_PATH = `/api/v1/namespaces/${NS}/configmaps/${CM}`;
const DIST_REPORTER = join(__dirname, '../../dist/sidecar/reporter.js');

async function put(root: string, path: string, bytes: number, ageMinutes = 0): Promise<void> {
  const full = join(root, path);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, Buffer.alloc(bytes, 3));
  const at = new Date(Date.now() - ageMinutes * 60_000);
  await utimes(full, at, at);
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('runReporter', () => {
  let api: FakeKubeApi;
  let roots: string[];
  let logs: string[];
  const log = createLogger('debug', (line) => logs.push(line));

  const newRoot = async (): Promise<string> => {
    const root = await mkdtemp(join(tmpdir(), 'datamount-reporter-'));
    roots.push(root);
    return root;
  };
  const data = (): Record<string, string> => (api.get('v1', 'ConfigMap', NS, CM)?.data ?? {}) as Record<string, string>;
  const env = (node: string, root: string, extra: Record<string, string> = {}): Record<string, string> => ({
    DATAMOUNT_NODE_NAME: node,
    DATAMOUNT_CACHE_ROOT: root,
    DATAMOUNT_KUBE_API_URL: api.url,
    ...extra,
  });
  const seedConfigMap = (entries: Record<string, string> = {}): void => {
    api.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CM, namespace: NS }, data: entries });
  };

  beforeEach(async () => {
    api = await startFakeKubeApi();
    roots = [];
    logs = [];
  });
  afterEach(async () => {
    await api.stop();
    await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
  });

  describe('when two nodes report once', () => {
    it('each patches only its own key, and neither erases the other or a third node', async () => {
      seedConfigMap({ 'node-c': '{"updated":"2026-11-29T05:00:00Z","datasets":{}}' });
      const rootA = await newRoot();
      const rootB = await newRoot();
      await put(rootA, 'ml/imagenet/aa/1.blk', 4096);
      await put(rootA, 'ml/imagenet/aa/2.blk', 4096);
      await put(rootA, 'ml/imagenet/aa/.3.blk.x1.tmp', 999);
      await put(rootB, 'ml/coco/bb/1.blk', 100);

      expect(await runReporter(['--once'], { env: env('node-a', rootA), log })).toBe(0);
      expect(await runReporter(['--once'], { env: env('node-b', rootB), log })).toBe(0);

      const reports = parseCacheLocations(data());
      expect(reports.map((r) => [r.node, r.datasets])).toEqual([
        ['node-a', { 'ml/imagenet': { bytes: 8192 } }],
        ['node-b', { 'ml/coco': { bytes: 100 } }],
        ['node-c', {}],
      ]);
      expect(JSON.parse(data()['node-a'] ?? '{}').datasets['ml/imagenet'].blocks).toBe(2);
      const writes = api.requests.filter((r) => r.method !== 'GET');
      expect(writes).toEqual([
        expect.objectContaining({ method: 'PATCH', path: CM_PATH, contentType: 'application/merge-patch+json' }),
        expect.objectContaining({ method: 'PATCH', path: CM_PATH, contentType: 'application/merge-patch+json' }),
      ]);
    });
  });

  describe('when the ConfigMap does not exist yet', () => {
    it('creates it with its key, and the next node patches it', async () => {
      const rootA = await newRoot();
      await put(rootA, 'ml/imagenet/1.blk', 10);
      expect(await runReporter(['--once'], { env: env('node-a', rootA), log })).toBe(0);
      expect(await runReporter(['--once'], { env: env('node-b', await newRoot()), log })).toBe(0);
      expect(Object.keys(data()).sort()).toEqual(['node-a', 'node-b']);
      expect(api.requests.map((r) => r.method)).toEqual(['PATCH', 'POST', 'PATCH']);
    });
  });

  describe('when the cache is over budget', () => {
    it('runs the janitor before publishing, so the report shows what is left', async () => {
      seedConfigMap();
      const root = await newRoot();
      await put(root, 'ml/old/1.blk', 1000, 30);
      await put(root, 'ml/new/2.blk', 1000, 1);
      expect(await runReporter(['--once', '--budget', '1500'], { env: env('node-a', root), log })).toBe(0);
      expect(parseCacheLocations(data())[0]?.datasets).toEqual({ 'ml/new': { bytes: 1000 } });
      expect(existsSync(join(root, 'ml/old/1.blk'))).toBe(false);
    });
  });

  describe('when the API server fails', () => {
    it('retries a 500 and publishes once the server answers', async () => {
      seedConfigMap();
      let failures = 2;
      api.intercept((req) => (req.method === 'PATCH' && failures-- > 0 ? { status: 500 } : undefined));
      const code = await runReporter(['--once'], { env: env('node-a', await newRoot()), log, retryDelayMs: 5 });
      expect(code).toBe(0);
      expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(3);
      expect(Object.keys(data())).toEqual(['node-a']);
      expect(logs.filter((line) => line.includes('retrying'))).toHaveLength(2);
    });

    it('gives up after a few attempts without crashing, and says so', async () => {
      seedConfigMap();
      api.intercept(() => ({ status: 500 }));
      const code = await runReporter(['--once'], { env: env('node-a', await newRoot()), log, retryDelayMs: 5 });
      expect(code).toBe(1);
      expect(logs.some((line) => line.includes('giving up until the next run'))).toBe(true);
    });

    it('keeps running in the background and publishes once the server is back', async () => {
      seedConfigMap();
      api.intercept(() => ({ status: 503 }));
      const stop = new AbortController();
      const running = runReporter(['--interval', '100ms'], { env: env('node-a', await newRoot()), log, retryDelayMs: 5, stop: stop.signal });
      await waitFor('a few failed attempts', () => api.requests.length >= 5);
      api.intercept(undefined);
      await waitFor('the key to be published', () => 'node-a' in data());
      stop.abort();
      expect(await running).toBe(0);
    });
  });

  describe('when it runs until stopped', () => {
    it('publishes, picks up a new dataset soon after it appears, and removes only its key on stop', async () => {
      seedConfigMap({ 'node-b': '{"updated":"2026-11-29T05:00:00Z","datasets":{}}' });
      const root = await newRoot();
      await put(root, 'ml/imagenet/aa/1.blk', 10);
      const stop = new AbortController();
      const running = runReporter([], {
        env: env('node-a', root, { DATAMOUNT_REPORT_INTERVAL: '1h', DATAMOUNT_REPORT_DEBOUNCE: '100ms' }), log, stop: stop.signal,
      });
      await waitFor('the first report', () => 'node-a' in data());

      await put(root, 'ml/coco/bb/1.blk', 20);
      await waitFor('the new dataset in the report', () => (data()['node-a'] ?? '').includes('ml/coco'));
      expect(parseCacheLocations(data()).find((r) => r.node === 'node-a')?.datasets).toEqual({
        'ml/coco': { bytes: 20 }, 'ml/imagenet': { bytes: 10 },
      });

      stop.abort();
      expect(await running).toBe(0);
      expect(Object.keys(data())).toEqual(['node-b']);
      expect(logs.some((line) => line.includes('cache report removed'))).toBe(true);
    });
  });

  describe('when the configuration is wrong', () => {
    it('returns 2 and names every bad setting in one log line, without calling the API', async () => {
      const code = await runReporter(['--budget', 'lots'], {
        env: { DATAMOUNT_CACHE_ROOT: 'relative', DATAMOUNT_REPORT_INTERVAL: 'soon', DATAMOUNT_KUBE_API_URL: api.url }, log,
      });
      expect(code).toBe(2);
      const line = JSON.parse(logs.find((l) => l.includes('invalid reporter configuration')) ?? '{}');
      expect(line.problems).toEqual([
        expect.stringContaining('DATAMOUNT_NODE_NAME'),
        expect.stringContaining('DATAMOUNT_CACHE_ROOT'),
        expect.stringContaining('--budget "lots"'),
        expect.stringContaining('DATAMOUNT_REPORT_INTERVAL "soon"'),
      ]);
      expect(api.requests).toEqual([]);
    });
  });

  describe('when the process gets SIGTERM', () => {
    it('removes its key and exits 0', async () => {
      if (!existsSync(DIST_REPORTER)) throw new Error(`${DIST_REPORTER} is missing: run \`make build\` (npx tsc -p tsconfig.build.json) first`);
      seedConfigMap({ 'node-b': '{"updated":"2026-11-29T05:00:00Z","datasets":{}}' });
      const root = await newRoot();
      const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(DIST_REPORTER)}).runReporter(process.argv.slice(1)).then((code) => process.exit(code))`, '--', '--interval', '1h'], {
        env: { PATH: process.env.PATH, ...env('node-a', root) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        await waitFor('the first report', () => 'node-a' in data());
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      expect(Object.keys(data())).toEqual(['node-b']);
      expect(stderr.trim().split('\n').map((line) => JSON.parse(line).message)).toContain('cache report removed');
    });
  });
});
