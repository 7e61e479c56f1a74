/**
 * Listing prefetch end to end: `node dist/sidecar/main.js mount` over a real s3rver, walked by
 * `ls` and `ls -R` in child processes, LISTs counted at the server.
 */
import type { S3Server } from '../support/s3-server';
import { startBucketMounts, type BucketMounts } from './bucket-mounts';
import { shell } from './sidecar-process';

jest.setTimeout(120_000);

const BUCKET = 'walk';
const SUBDIRECTORIES = 12;
const AHEAD = 4;
const dirName = (i: number): string => `d${String(i).padStart(2, '0')}`;

describe('listing prefetch through a FUSE mount (integration)', () => {
  let mounts: BucketMounts | undefined;
  let s3: S3Server;
  const mount = (name: string, extra: string[]): Promise<string> => mounts!.mount(name, extra);

  /** Prefixes of whole-directory listings (not the one-key lookups) the server saw, in order. */
  const listings = async (): Promise<string[]> => {
    await s3.settle(200);
    return s3.requests
      .filter((r) => r.method === 'GET' && r.query.includes('list-type') && !r.query.includes('max-keys=1'))
      .map((r) => decodeURIComponent(/[?&]prefix=([^&]*)/.exec(r.query)?.[1] ?? ''));
  };

  beforeAll(async () => {
    function* objects(): Generator<[string, Buffer]> {
      // s3rver lists a prefix only when an object sits right below it: a marker for top/.
      yield ['top/', Buffer.alloc(0)];
      for (let i = 0; i < SUBDIRECTORIES; i++) {
        for (const file of ['a', 'b']) yield [`top/${dirName(i)}/${file}`, Buffer.from(`${i}${file}`)];
      }
    }
    mounts = await startBucketMounts(BUCKET, objects());
    s3 = mounts.s3;
  });

  afterAll(async () => {
    await mounts?.stop();
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
