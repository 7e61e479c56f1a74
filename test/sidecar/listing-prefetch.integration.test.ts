/**
 * Listing prefetch end to end: `node dist/sidecar/main.js mount` over a real s3rver, walked by
 * `ls` and `ls -R` in child processes, LISTs counted at the server.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { forceUnmountAll } from '../support/fuse-cleanup';
import { startS3Server, type S3Server } from '../support/s3-server';
import { childEnv, ensureBuilt, shell, startSidecar, type SidecarProcess } from './sidecar-process';

jest.setTimeout(120_000);

const BUCKET = 'walk';
const SUBDIRECTORIES = 12;
const AHEAD = 4;
const dirName = (i: number): string => `d${String(i).padStart(2, '0')}`;

describe('listing prefetch through a FUSE mount (integration)', () => {
  let s3: S3Server;
  let work: string;
  const running: SidecarProcess[] = [];

  const mount = async (dirName_: string, extra: string[]): Promise<string> => {
    const dir = path.join(work, dirName_);
    await fs.mkdir(dir, { recursive: true });
    running.push(await startSidecar(
      ['mount', `s3://${BUCKET}`, dir, '--endpoint', s3.endpoint, '--read-only', '--metadata-ttl', '60', ...extra],
      childEnv({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }),
    ));
    return dir;
  };

  /** Prefixes of whole-directory listings (not the one-key lookups) the server saw, in order. */
  const listings = async (): Promise<string[]> => {
    await s3.settle(200);
    return s3.requests
      .filter((r) => r.method === 'GET' && r.query.includes('list-type') && !r.query.includes('max-keys=1'))
      .map((r) => decodeURIComponent(/[?&]prefix=([^&]*)/.exec(r.query)?.[1] ?? ''));
  };

  beforeAll(async () => {
    await ensureBuilt();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'listing-it-'));
    s3 = await startS3Server({ buckets: [BUCKET] });
    const client = new S3Client({
      endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // s3rver lists a prefix only when an object sits right below it: a marker for top/.
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'top/', Body: Buffer.alloc(0) }));
    for (let i = 0; i < SUBDIRECTORIES; i++) {
      for (const file of ['a', 'b']) await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `top/${dirName(i)}/${file}`, Body: Buffer.from(`${i}${file}`) }));
    }
    client.destroy();
  });

  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    if (work) await forceUnmountAll(work);
    await s3?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it(`lists the first ${AHEAD} subdirectories of a directory ls reads, and no more`, async () => {
    const dir = await mount('ls', ['--listing-prefetch', String(AHEAD)]);
    s3.resetRequests();
    expect((await shell(`ls '${dir}/top' | wc -l`)).stdout.trim()).toBe(String(SUBDIRECTORIES));
    expect((await listings()).filter((prefix) => prefix.startsWith('top/d')).sort()).toEqual([0, 1, 2, 3].map((i) => `top/${dirName(i)}/`));
  });

  it('gives ls -R the same tree as without it, listing every directory once', async () => {
    const on = await mount('on', ['--listing-prefetch', String(AHEAD)]);
    const off = await mount('off', ['--listing-prefetch', '0']);
    s3.resetRequests();
    const withPrefetch = await shell(`cd '${on}' && ls -R top`);
    const listed = await listings();
    const without = await shell(`cd '${off}' && ls -R top`);
    expect(withPrefetch.code).toBe(0);
    expect(withPrefetch.stdout).toBe(without.stdout);
    expect(withPrefetch.stdout).toContain(`top/${dirName(SUBDIRECTORIES - 1)}:\na\nb\n`);
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed.filter((prefix) => prefix.startsWith('top/d'))).toHaveLength(SUBDIRECTORIES);
  });
});
