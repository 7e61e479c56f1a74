/**
 * `datamount-sidecar run` as the webhook injects it: DATAMOUNT_CONFIG with two datasets (one
 * with credentials through per-dataset variables, one anonymous prefix mount), probes and
 * metrics on the configured port, SIGTERM → exit 0 with nothing left mounted.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { forceUnmountAll, fuseMountsUnder } from '../support/fuse-cleanup';
import { startS3Server, type S3Server } from '../support/s3-server';
import { childEnv, ensureBuilt, shell, startSidecar, type SidecarProcess } from './sidecar-process';
import { freePort } from '../support/free-port';

jest.setTimeout(120_000);


async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

describe('datamount-sidecar run (integration)', () => {
  let s3: S3Server;
  let work: string;
  let sidecar: SidecarProcess | undefined;

  beforeAll(async () => {
    await ensureBuilt();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'sidecar-run-'));
    s3 = await startS3Server({ buckets: ['training', 'public'] });
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new PutObjectCommand({ Bucket: 'training', Key: 'images/cat.jpg', Body: 'not really a cat' }));
    await client.send(new PutObjectCommand({ Bucket: 'public', Key: 'shared/readme.md', Body: '# public data\n' }));
    await client.send(new PutObjectCommand({ Bucket: 'public', Key: 'other/hidden.txt', Body: 'outside the prefix' }));
    client.destroy();
  });

  afterAll(async () => {
    await sidecar?.stop('SIGKILL');
    if (work) await forceUnmountAll(work);
    await s3?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('reports 503 until every dataset is mounted, then 200; serves metrics; exits 0 on SIGTERM leaving no mount', async () => {
    const port = await freePort();
    const training = path.join(work, 'datamount', 'training');
    const shared = path.join(work, 'datamount', 'shared');
    await fs.mkdir(training, { recursive: true });
    // `shared`'s mount point appears only later, so the probe must first say it is pending.
    const config = {
      version: 1,
      port,
      cacheRoot: path.join(work, 'cache'),
      cacheSize: '1Gi',
      cacheMemory: '64Mi',
      uid: 1000,
      gid: 1000,
      datasets: [
        {
          name: 'training', namespace: 'ml', endpoint: s3.endpoint, bucket: 'training', prefix: '', forcePathStyle: true,
          readOnly: true, mountPoint: training, cacheDir: path.join(work, 'cache', 'ml', 'training'),
          accessKeyIdEnv: 'DATAMOUNT_TRAINING_ACCESS_KEY_ID', secretAccessKeyEnv: 'DATAMOUNT_TRAINING_SECRET_ACCESS_KEY',
        },
        {
          name: 'shared', namespace: 'ml', endpoint: s3.endpoint, bucket: 'public', prefix: 'shared/', forcePathStyle: true,
          readOnly: true, mountPoint: shared, cacheDir: path.join(work, 'cache', 'ml', 'shared'),
        },
      ],
    };
    sidecar = await startSidecar(['run'], childEnv({
      DATAMOUNT_CONFIG: JSON.stringify(config),
      DATAMOUNT_TRAINING_ACCESS_KEY_ID: s3.accessKeyId,
      DATAMOUNT_TRAINING_SECRET_ACCESS_KEY: 'S3RVER',
    }), /serving probes and metrics/);

    const pending = await get(`http://127.0.0.1:${port}/readyz`);
    expect(pending.status).toBe(503);
    expect(pending.body).toContain('ml/shared');
    expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    await fs.mkdir(shared, { recursive: true });
    let ready = pending;
    for (let i = 0; i < 100 && ready.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      ready = await get(`http://127.0.0.1:${port}/readyz`);
    }
    expect(ready).toEqual({ status: 200, body: 'ready\n' });

    const read = await shell(`cat '${training}/images/cat.jpg'; echo; cat '${shared}/readme.md'; ls -n '${training}/images'; ls '${shared}'`);
    expect(read.stdout).toContain('not really a cat');
    expect(read.stdout).toContain('# public data');
    expect(read.stdout).toMatch(/ 1000 1000 /);
    expect(read.stdout).not.toContain('hidden.txt');

    const metrics = await get(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^datamount_cache_misses_total\{dataset="ml\/training",tier="memory"\} \d+/m);
    expect(metrics.body).toMatch(/^datamount_s3_bytes_read_total\{dataset="ml\/training"\} 16$/m);
    expect(metrics.body).toMatch(/^datamount_s3_request_seconds_count\{dataset="ml\/shared",operation="get"\} 1$/m);
    expect(metrics.body).toMatch(/^datamount_mounted\{dataset="ml\/shared"\} 1$/m);
    expect(metrics.body).toContain('datamount_prefetch_window_bytes');
    expect(metrics.body).toMatch(/^datamount_disk_cache_dropped_writes_total\{dataset="ml\/training"\} 0$/m);
    // The one block read waits for the disk (write-behind) until reads pause: written by now or not.
    expect(metrics.body).toMatch(/^datamount_disk_cache_late_writes_total\{dataset="ml\/training"\} [01]$/m);
    expect(metrics.body).toMatch(/^datamount_disk_cache_lost_writes_total\{dataset="ml\/training"\} 0$/m);
    // 16 bytes read, so 0 or 16 still waiting for the disk.
    expect(metrics.body).toMatch(/^datamount_disk_cache_unwritten_bytes\{dataset="ml\/training"\} (0|16)$/m);
    expect(metrics.body).not.toContain('S3RVER');

    const write = await shell(`touch '${training}/new-file'`);
    expect(write.stderr).toMatch(/Read-only file system/);

    expect(await sidecar.stop('SIGTERM')).toBe(0);
    expect(await fuseMountsUnder(work)).toEqual([]);
    expect(sidecar.output()).not.toContain('S3RVER');
  });

  it('refuses an invalid DATAMOUNT_CONFIG with exit code 2 and a message naming the fields', async () => {
    const bad = { version: 1, datasets: [{ name: 'Bad Name', endpoint: 'ftp://x', bucket: 'b', mountPoint: 'relative', accessKeyIdEnv: 'MISSING_ID', secretAccessKeyEnv: 'MISSING_SECRET' }] };
    const result = await shell(`node '${path.resolve(__dirname, '../../dist/sidecar/main.js')}' run`, childEnv({ DATAMOUNT_CONFIG: JSON.stringify(bad) }));
    expect(result.code).toBe(2);
    for (const field of ['datasets[0].name', 'datasets[0].endpoint', 'datasets[0].mountPoint', 'MISSING_ID']) expect(result.stderr).toContain(field);
  });
});
