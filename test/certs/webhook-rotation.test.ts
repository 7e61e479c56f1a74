/**
 * Self-managed certificates end to end, with the real webhook program: `ensure` makes the
 * Secret and the caBundle, the Secret reaches the webhook as a kubelet-style Secret volume, the
 * API server's view (trust = the caBundle, name = the Service's .svc name) accepts it; then a
 * renewal replaces the Secret, the volume is updated the way the kubelet does it, and the webhook
 * serves the new certificate without a restart — trusted by the new caBundle throughout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { ensureCertificates, type EnsureDeps } from '../../certs/ensure-certificates';
import { KubeRest } from '../../certs/kube-rest';
import { fromBase64 } from '../../certs/pem';
import { issueTlsBundle, type TlsBundle } from '../../certs/tls-bundle';
import { bundleOfSecret } from '../../certs/tls-secret';
import { startFakeKubeApi, type FakeKubeApi, type KubeObject } from '../support/fake-kube-api';
import { writeSecretVolume } from './secret-volume';
import { freePort } from '../support/free-port';

const ROOT = path.join(__dirname, '../..');
const WEBHOOK_MAIN = path.join(ROOT, 'dist/webhook/main.js');
const SERVER_NAME = 'datamount-webhook.datamount-system.svc';
const TARGET = {
  service: { name: 'datamount-webhook', namespace: 'datamount-system' },
  secret: { name: 'datamount-webhook-tls', namespace: 'datamount-system' },
  webhookConfig: 'datamount-webhook',
};
const DAY_MS = 86_400_000;


/** A request as the API server makes it: verified against the caBundle, for the Service's name. */
function apiServerRequest(port: number, caPem: string, method: string, urlPath: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      { host: '127.0.0.1', port, servername: SERVER_NAME, ca: caPem, method, path: urlPath, headers: body ? { 'content-type': 'application/json' } : {} },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** The SHA-256 fingerprint of the certificate the server presents now. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SERVER_NAME, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (done(value)) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last: ${String(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function storedBundle(api: FakeKubeApi): TlsBundle {
  return bundleOfSecret(api.get('v1', 'Secret', 'datamount-system', 'datamount-webhook-tls') as unknown as { data: Record<string, string> });
}

function caBundle(api: FakeKubeApi): string {
  const config = api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'datamount-webhook');
  return fromBase64((config?.webhooks as Array<{ clientConfig: { caBundle: string } }>)[1]?.clientConfig.caBundle ?? '');
}

describe('self-managed certificates with the running webhook', () => {
  let api: FakeKubeApi;
  let dir: string;
  let webhook: ChildProcess | undefined;
  let stderr = '';

  beforeAll(() => {
    if (!existsSync(WEBHOOK_MAIN)) throw new Error(`${WEBHOOK_MAIN} is missing: run \`make build\` first`);
  });
  beforeEach(async () => {
    api = await startFakeKubeApi();
    api.seed(JSON.parse(readFileSync(path.join(__dirname, 'fixtures/mutating-webhook-configuration.json'), 'utf8')) as KubeObject);
    dir = await mkdtemp(path.join(os.tmpdir(), 'datamount-tls-volume-'));
  });
  afterEach(async () => {
    if (webhook && webhook.exitCode === null) {
      const exited = new Promise((resolve) => webhook?.once('exit', resolve));
      webhook.kill('SIGTERM');
      await exited;
    }
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the ensured certificate, then the renewed one without a restart', async () => {
    let clock = new Date();
    const deps: EnsureDeps = {
      kube: new KubeRest({ baseUrl: api.url }), now: () => clock, log: () => undefined,
      issue: (service, now) => issueTlsBundle({ service, now }),
    };
    await expect(ensureCertificates(deps, TARGET)).resolves.toMatchObject({ action: 'created' });
    const first = storedBundle(api);
    await writeSecretVolume(dir, { 'tls.crt': first.certPem, 'tls.key': first.keyPem, 'ca.crt': first.caPem });

    const port = await freePort();
    webhook = spawn(process.execPath, [WEBHOOK_MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        DATAMOUNT_TLS_CERT: path.join(dir, 'tls.crt'),
        DATAMOUNT_TLS_KEY: path.join(dir, 'tls.key'),
        DATAMOUNT_PORT: String(port),
        DATAMOUNT_HOST: '127.0.0.1',
        DATAMOUNT_CATALOG: path.join(ROOT, 'manifests/examples/dataset-imagenet.yaml'),
        DATAMOUNT_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    webhook.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });

    const ready = await eventually('the webhook to be ready', () => apiServerRequest(port, caBundle(api), 'GET', '/readyz'), (r) => r.status === 200)
      .catch((err: Error) => Promise.reject(new Error(`${err.message}\nwebhook stderr:\n${stderr}`)));
    expect(ready.text).toBe('ok\n');
    const review = readFileSync(path.join(__dirname, 'fixtures/admission-review.json'), 'utf8');
    const answer = await apiServerRequest(port, caBundle(api), 'POST', '/mutate', review);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ response: { uid: '0f5c3a52-7b8e-4a57-9d51-3c1b8f0e2a11', allowed: true, patchType: 'JSONPatch' } });

    // 300 days on, the daily run renews; the pods still serve the first certificate.
    clock = new Date(Date.now() + 300 * DAY_MS);
    await expect(ensureCertificates(deps, TARGET)).resolves.toMatchObject({ action: 'renewed' });
    const second = storedBundle(api);
    expect(await servedFingerprint(port)).toBe(new X509Certificate(first.certPem).fingerprint256);
    expect((await apiServerRequest(port, caBundle(api), 'GET', '/healthz')).status).toBe(200);

    // The kubelet swaps the volume's ..data link; the webhook picks the new pair up by itself.
    await writeSecretVolume(dir, { 'tls.crt': second.certPem, 'tls.key': second.keyPem, 'ca.crt': second.caPem });
    const wanted = new X509Certificate(second.certPem).fingerprint256;
    await eventually('the webhook to serve the renewed certificate', () => servedFingerprint(port), (f) => f === wanted);
    expect((await apiServerRequest(port, caBundle(api), 'POST', '/mutate', review)).status).toBe(200);
    expect(webhook.exitCode).toBeNull();
  });
});
