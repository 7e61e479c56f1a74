/**
 * The compiled `datamount-certs` program end to end (built by `make build`; run
 * `npx tsc -p tsconfig.build.json` first when running this file alone).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Secret } from 'kubernetes-models/v1/Secret';
import { parse } from 'yaml';
import { bundleOfSecret } from '../../certs/tls-secret';
import { startFakeKubeApi, type KubeObject } from '../support/fake-kube-api';
import { handshake } from './tls-handshake';

const MAIN = path.join(__dirname, '../../dist/certs/main.js');
const run = promisify(execFile);

/** The environment without the variables Kubernetes sets in a pod, so the tests behave the same inside a cluster. */
const { KUBERNETES_SERVICE_HOST: _host, KUBERNETES_SERVICE_PORT: _port, ...ENV } = process.env;

function certs(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [MAIN, ...args], { timeout: 30_000, env: ENV });
}

function exitOf(args: string[]): Promise<{ code: number; stderr: string }> {
  return certs(args).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
}

describe('datamount-certs', () => {
  let dir: string;

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`make build\` (or npx tsc -p tsconfig.build.json) first`);
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'datamount-certs-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  describe('generate', () => {
    it('writes the three PEM files and a Secret, and prints the caBundle', async () => {
      const { stdout } = await certs(['generate', '--out', dir, '--secret-yaml', path.join(dir, 'secret.yaml')]);
      const caPem = await readFile(path.join(dir, 'ca.crt'), 'utf8');
      const certPem = await readFile(path.join(dir, 'tls.crt'), 'utf8');
      const keyPem = await readFile(path.join(dir, 'tls.key'), 'utf8');
      expect(stdout).toBe(`${Buffer.from(caPem).toString('base64')}\n`);
      expect((await stat(path.join(dir, 'tls.key'))).mode & 0o777).toBe(0o600);

      const secret = parse(await readFile(path.join(dir, 'secret.yaml'), 'utf8')) as Record<string, unknown>;
      expect(() => new Secret(secret).validate()).not.toThrow();
      expect(secret).toMatchObject({
        kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'datamount-webhook-tls', namespace: 'datamount-system' },
      });
      expect(bundleOfSecret(secret as { data: Record<string, string> })).toEqual({ caPem, certPem, keyPem });
      await expect(handshake({ certPem, keyPem }, { caPem, servername: 'datamount-webhook.datamount-system.svc' }))
        .resolves.toEqual({ authorized: true });
    });

    it('exits 2 with the reason on a bad command line', async () => {
      const { code, stderr } = await exitOf(['generate']);
      expect(code).toBe(2);
      expect(stderr).toContain('generate needs --out DIR, --secret-yaml FILE or both');
    });
  });

  describe('ensure', () => {
    it('creates the Secret and patches the caBundle through the API server at --server', async () => {
      const api = await startFakeKubeApi();
      try {
        api.seed(JSON.parse(await readFile(path.join(__dirname, 'fixtures/mutating-webhook-configuration.json'), 'utf8')) as KubeObject);
        const { stderr } = await certs(['ensure', '--server', api.url]);
        expect(stderr).toContain('"msg":"certificates created"');
        const secret = api.get('v1', 'Secret', 'datamount-system', 'datamount-webhook-tls') as unknown as { data: Record<string, string> };
        const config = api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'datamount-webhook');
        expect((config?.webhooks as Array<{ clientConfig: { caBundle?: string } }>)[1]?.clientConfig.caBundle).toBe(secret.data['ca.crt']);
      } finally {
        await api.stop();
      }
    });

    it('exits 1 and says why when it cannot reach a cluster', async () => {
      const { code, stderr } = await exitOf(['ensure']);
      expect(code).toBe(1);
      expect(stderr).toContain('not running in a cluster');
    });
  });
});
