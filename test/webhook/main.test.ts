/**
 * `datamount-webhook` as a process: the compiled entry point (dist/webhook/main.js, built by
 * `make build`) started with a catalog file and a throwaway certificate, called over HTTPS the
 * way the API server calls it, and stopped with SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeKubeApi, type FakeKubeApi } from '../support/fake-kube-api';
import { FIXTURES, loadReview } from './review-fixtures';
import { makeServingCert, makeTestCa, type ServingCert, WEBHOOK_DNS_NAMES, WEBHOOK_SERVER_NAME } from './test-ca';
import { freePort } from '../support/free-port';
import { sendHttps } from './http-client';

const MAIN = join(__dirname, '..', '..', 'dist', 'webhook', 'main.js');


function run(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const { DATAMOUNT_CATALOG: _ignored, ...base } = process.env;
  const child = spawn(process.execPath, [MAIN], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => { output += c.toString(); });
  child.stderr?.on('data', (c: Buffer) => { output += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

type Call = (method: string, path: string, body?: string) => Promise<{ status: number; body: string }>;

function httpsCaller(port: number, caPem: string): Call {
  return (method, path, body) => sendHttps({ port, ca: caPem, servername: WEBHOOK_SERVER_NAME }, method, path, body);
}

/** A fresh folder holding the serving certificate and key, and the variables that point the webhook at them. */
async function writeServingPair(prefix: string, serving: ServingCert): Promise<{ dir: string; tlsEnv: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await writeFile(join(dir, 'tls.crt'), serving.certPem);
  await writeFile(join(dir, 'tls.key'), serving.keyPem);
  return { dir, tlsEnv: { DATAMOUNT_TLS_CERT: join(dir, 'tls.crt'), DATAMOUNT_TLS_KEY: join(dir, 'tls.key') } };
}

async function waitReady(call: Call): Promise<number> {
  const deadline = Date.now() + 20_000;
  let ready = 0;
  while (Date.now() < deadline && ready !== 200) {
    ready = await call('GET', '/readyz').then((r) => r.status, () => 0);
    if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  return ready;
}

describe('datamount-webhook (dist/webhook/main.js)', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`make build\` (make test does) before this test`);
  });

  describe('when the configuration is wrong', () => {
    it('exits 1 naming every bad variable', async () => {
      const proc = run({ DATAMOUNT_PORT: 'eighty', DATAMOUNT_CACHE_SIZE: 'lots' });
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toContain('DATAMOUNT_PORT="eighty"');
      expect(proc.output()).toContain('DATAMOUNT_CACHE_SIZE="lots"');
    });

    it('exits 1 when the certificate files cannot be read', async () => {
      const proc = run({ DATAMOUNT_TLS_CERT: '/nonexistent/tls.crt', DATAMOUNT_TLS_KEY: '/nonexistent/tls.key', DATAMOUNT_CATALOG: join(FIXTURES, 'catalog.yaml') });
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toContain('cannot start');
      expect(proc.output()).toContain('/nonexistent/tls.crt');
      expect(proc.output()).toContain('/nonexistent/tls.key');
    });
  });

  describe('when started with a catalog file and a serving certificate', () => {
    const ca = makeTestCa();
    const serving = makeServingCert(ca, WEBHOOK_DNS_NAMES);
    let dir: string;
    let proc: ReturnType<typeof run>;
    let call: Call;

    beforeAll(async () => {
      const pair = await writeServingPair('datamount-main-', serving);
      dir = pair.dir;
      const port = await freePort();
      call = httpsCaller(port, ca.certPem);
      proc = run({
        ...pair.tlsEnv,
        DATAMOUNT_PORT: String(port), DATAMOUNT_HOST: '127.0.0.1', DATAMOUNT_CATALOG: join(FIXTURES, 'catalog.yaml'), DATAMOUNT_LOG_LEVEL: 'warn',
      });
    });

    afterAll(async () => {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });

    it('becomes ready over HTTPS, answers a review with a patch, and exits 0 on SIGTERM', async () => {
      const ready = await waitReady(call);
      expect({ ready, output: proc.output() }).toMatchObject({ ready: 200 });
      const reply = await call('POST', '/mutate', JSON.stringify(loadReview('plain-pod')));
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ response: { allowed: true, patchType: 'JSONPatch' } });
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    });
  });

  describe('when started without a catalog file, against an API server (kubeconfig)', () => {
    const ca = makeTestCa();
    const serving = makeServingCert(ca, WEBHOOK_DNS_NAMES);
    let dir: string;
    let api: FakeKubeApi;
    let proc: ReturnType<typeof run>;
    let call: Call;

    beforeAll(async () => {
      const pair = await writeServingPair('datamount-main-kube-', serving);
      dir = pair.dir;
      api = await startFakeKubeApi();
      api.seed({ apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'imagenet', namespace: 'ml' }, spec: { s3: { endpoint: 'https://s3.example.com', bucket: 'training-data' } } });
      await writeFile(join(dir, 'kubeconfig'), [
        'apiVersion: v1', 'kind: Config', 'current-context: fake',
        `clusters: [{ name: fake, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }]`,
        'users: [{ name: nobody, user: {} }]',
        'contexts: [{ name: fake, context: { cluster: fake, user: nobody } }]', '',
      ].join('\n'));
      const port = await freePort();
      call = httpsCaller(port, ca.certPem);
      proc = run({ ...pair.tlsEnv, DATAMOUNT_PORT: String(port), DATAMOUNT_HOST: '127.0.0.1', KUBECONFIG: join(dir, 'kubeconfig'), DATAMOUNT_LOG_LEVEL: 'warn' });
    });

    afterAll(async () => {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await proc.exited;
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('lists and watches the Datasets, becomes ready, and injects one created after start-up', async () => {
      expect(await waitReady(call)).toBe(200);
      // Ready follows the list; the watch request may reach the API a moment later.
      const watching = () => api.requests.some((r) => r.path === '/apis/datamount.dev/v1alpha1/datasets' && r.query.watch === 'true');
      for (const deadline = Date.now() + 5000; !watching() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
      expect(watching()).toBe(true);
      api.seed({ apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'coco', namespace: 'ml' }, spec: { s3: { endpoint: 'https://s3.example.com', bucket: 'coco' } } });
      const review = loadReview('deployment-pod');
      const reply = await call('POST', '/mutate', JSON.stringify(review));
      expect(JSON.parse(reply.body)).toMatchObject({ response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch' } });
      expect(api.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    });
  });
});
