/**
 * The sidecar's probe and metrics endpoints reveal no credentials (issue 7): `datamount-sidecar
 * run` with secret-looking credentials in its environment and three datasets — one working, one
 * whose credentials stop working after it is mounted (the fault proxy answers AccessDenied), one
 * whose key id the server never knew (it cannot mount) — so error paths run and get counted and
 * reported; every endpoint — and
 * paths that are not endpoints — is scraped before and after reads, and searched for the
 * credentials in plain, URL-encoded and base64 form. The log may name what failed, never the
 * secret key.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { forceUnmountAll, fuseMountsUnder } from '../support/fuse-cleanup';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { startS3Server, type S3Server } from '../support/s3-server';
import { childEnv, ensureBuilt, shell, startSidecar, type SidecarProcess } from '../sidecar/sidecar-process';
import { freePort } from '../support/free-port';

jest.setTimeout(120_000);

/** s3rver accepts any SigV4 secret for the key id S3RVER, so the secret can look like a real one. */
const GOOD = { id: 'S3RVER', secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYTENANTAKEY01' };
/** Accepted at mount time, refused afterwards (by the fault proxy). */
const REVOKED = { id: 'S3RVER', secret: 'c2VjcmV0LXRlbmFudC1jLXJldm9rZWQ+/EXAMPLE03' };
/** An unknown key id: the server answers InvalidAccessKeyId (403), whose body names the key id. */
const REFUSED = { id: 'AKIAZZTENANTB0000001', secret: 'Zm9vYmFyVEVOQU5UQlNFQ1JFVEtFWQ+/EXAMPLE02' };

function forms(value: string): string[] {
  return [value, encodeURIComponent(value), Buffer.from(value).toString('base64'), value.slice(0, 12)];
}


describe('sidecar probe and metrics endpoints', () => {
  let s3: S3Server;
  let proxy: FaultProxy;
  let work: string;
  let revoked: string;
  let sidecar: SidecarProcess;
  let port: number;
  let good: string;
  let refused: string;

  beforeAll(async () => {
    await ensureBuilt();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'sidecar-endpoints-'));
    s3 = await startS3Server({ buckets: ['tenant-a', 'tenant-b', 'tenant-c'] });
    proxy = await startFaultProxy({ upstream: s3.endpoint });
    const client = new S3Client({
      endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new PutObjectCommand({ Bucket: 'tenant-a', Key: 'a.txt', Body: 'tenant a data\n' }));
    await client.send(new PutObjectCommand({ Bucket: 'tenant-b', Key: 'b.txt', Body: 'tenant b data\n' }));
    await client.send(new PutObjectCommand({ Bucket: 'tenant-c', Key: 'c.txt', Body: 'tenant c data\n' }));
    client.destroy();

    port = await freePort();
    good = path.join(work, 'mnt', 'good');
    refused = path.join(work, 'mnt', 'refused');
    revoked = path.join(work, 'mnt', 'revoked');
    for (const dir of [good, refused, revoked]) await fs.mkdir(dir, { recursive: true });
    const dataset = (name: string, bucket: string, mountPoint: string, endpoint = s3.endpoint) => ({
      name, namespace: 'ml', endpoint, bucket, prefix: '', forcePathStyle: true, readOnly: true, mountPoint,
      cacheDir: path.join(work, 'cache', 'ml', name),
      accessKeyIdEnv: `DATAMOUNT_${name.toUpperCase()}_ACCESS_KEY_ID`, secretAccessKeyEnv: `DATAMOUNT_${name.toUpperCase()}_SECRET_ACCESS_KEY`,
    });
    const config = {
      version: 1, port, cacheRoot: path.join(work, 'cache'), cacheSize: '1Gi', cacheMemory: '64Mi', uid: 0, gid: 0,
      datasets: [dataset('good', 'tenant-a', good), dataset('refused', 'tenant-b', refused), dataset('revoked', 'tenant-c', revoked, proxy.url)],
    };
    sidecar = await startSidecar(['run'], childEnv({
      DATAMOUNT_CONFIG: JSON.stringify(config),
      DATAMOUNT_GOOD_ACCESS_KEY_ID: GOOD.id, DATAMOUNT_GOOD_SECRET_ACCESS_KEY: GOOD.secret,
      DATAMOUNT_REFUSED_ACCESS_KEY_ID: REFUSED.id, DATAMOUNT_REFUSED_SECRET_ACCESS_KEY: REFUSED.secret,
      DATAMOUNT_REVOKED_ACCESS_KEY_ID: REVOKED.id, DATAMOUNT_REVOKED_SECRET_ACCESS_KEY: REVOKED.secret,
    }), /serving probes and metrics/);
    const deadline = Date.now() + 20_000;
    while ((await fuseMountsUnder(path.join(work, 'mnt'))).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  }, 60_000);

  afterAll(async () => {
    await sidecar?.stop('SIGKILL');
    if (work) await forceUnmountAll(work);
    await proxy?.close();
    await s3?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const scrapeAll = async (): Promise<Array<{ path: string; status: number; body: string }>> => {
    const paths = ['/metrics', '/readyz', '/healthz', '/', '/metrics?debug=1', '/env', '/config', '/debug/vars', '/../../proc/self/environ'];
    return Promise.all(paths.map(async (p) => {
      const response = await fetch(`http://127.0.0.1:${port}${p}`);
      return { path: p, status: response.status, body: await response.text() };
    }));
  };

  it('shows no credential on any endpoint, before reads and after reads that succeed and fail', async () => {
    const before = await scrapeAll();
    const readyz = before.find((s) => s.path === '/readyz')!;
    expect(readyz.status).toBe(503);
    expect(readyz.body).toContain('ml/refused');
    proxy.setRules([{ action: { kind: 'accessDenied' } }]);
    const reads = await shell(`cat '${good}/a.txt'; cat '${refused}/b.txt'; cat '${revoked}/c.txt'`);
    expect(reads.stdout).toContain('tenant a data');
    expect(reads.stdout).not.toContain('tenant b data');
    expect(reads.stdout).not.toContain('tenant c data');
    expect(reads.stderr).toMatch(/revoked\/c.txt: Permission denied/);
    const after = await scrapeAll();
    const metrics = after.find((s) => s.path === '/metrics')!;
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('dataset="ml/good"');
    for (const scrape of [...before, ...after]) {
      for (const credential of [GOOD.secret, REVOKED.secret, REFUSED.secret, REFUSED.id]) {
        for (const form of forms(credential)) expect({ path: scrape.path, leaked: scrape.body.includes(form) ? form : undefined }).toEqual({ path: scrape.path, leaked: undefined });
      }
    }
  });

  it('never writes a secret key to its log', () => {
    const log = sidecar.output();
    for (const credential of [GOOD.secret, REVOKED.secret, REFUSED.secret]) for (const form of forms(credential)) expect(log.includes(form)).toBe(false);
    expect(log).toMatch(/access denied/i);
    console.log(`sidecar log ${log.includes(REFUSED.id) ? 'names' : 'does not name'} the refused access key id (${log.length} bytes of log)`);
  });
});
