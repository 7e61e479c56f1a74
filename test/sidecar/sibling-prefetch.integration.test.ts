/**
 * Sibling prefetch end to end: `node dist/sidecar/main.js mount` (a child process) over a real
 * s3rver, read by `cat` and `dd` in other child processes, GETs counted at the server.
 */
import { createHash } from 'node:crypto';
import type { S3Server } from '../support/s3-server';
import { startBucketMounts, type BucketMounts } from './bucket-mounts';
import { shell } from './sidecar-process';

jest.setTimeout(120_000);

const BUCKET = 'loader';
const MiB = 1024 * 1024;
const SMALL_FILES = 40;
const LARGE_FILES = 12;
const AHEAD = 8;
const name = (i: number): string => `f${String(i).padStart(3, '0')}`;
const smallBody = (dir: string, i: number): Buffer => Buffer.alloc(8192 + i, `${dir}/${name(i)};`);
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('sibling prefetch through a FUSE mount (integration)', () => {
  let mounts: BucketMounts | undefined;
  let s3: S3Server;
  const mount = (dirName: string, extra: string[]): Promise<string> => mounts!.mount(dirName, extra);

  /** GETs the server saw for keys under `prefix`, once the mount has been quiet for a while. */
  const getsUnder = async (prefix: string): Promise<string[]> => {
    await s3.settle(200);
    return s3.requests.filter((r) => r.method === 'GET' && r.key.startsWith(prefix) && !r.query.includes('list-type')).map((r) => r.key);
  };

  /** `cat` of files one after another, as one data-loader worker does; returns their sha256 sums. */
  const catEach = async (dir: string, files: string[]): Promise<string[]> => {
    const { stdout, code, stderr } = await shell(`cd '${dir}' && for f in ${files.join(' ')}; do cat "$f" | sha256sum; done`);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return stdout.split('\n').filter(Boolean).map((line) => line.split(' ')[0] ?? '');
  };

  beforeAll(async () => {
    function* objects(): Generator<[string, Buffer]> {
      for (const dir of ['walk', 'off']) for (let i = 0; i < SMALL_FILES; i++) yield [`${dir}/${name(i)}`, smallBody(dir, i)];
      for (let i = 0; i < LARGE_FILES; i++) yield [`large/${name(i)}`, Buffer.alloc(3 * MiB, `large/${name(i)};`)];
    }
    mounts = await startBucketMounts(BUCKET, objects());
    s3 = mounts.s3;
  });

  afterAll(async () => {
    await mounts?.stop();
  });

  describe('when a reader lists a directory and then reads its files whole, one by one', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mount('on', ['--sibling-prefetch', String(AHEAD), '--sibling-prefetch-requests', '4']);
      expect((await shell(`ls '${dir}/walk' | wc -l`)).stdout.trim()).toBe(String(SMALL_FILES));
      s3.resetRequests();
    });

    it(`has the next ${AHEAD} files fetched before the reader asks for them`, async () => {
      await catEach(dir, Array.from({ length: 10 }, (_, i) => `walk/${name(i)}`));
      const fetched = await getsUnder('walk/');
      // The reader's own first two, in order. Its third whole read qualifies the directory: that
      // file's GET and the first siblings' start in the same turn, each after its disk-tier lookup
      // on a worker thread, so the server may see them in any order among themselves, as it may
      // the siblings' (4 in flight) — each within a few places of its listing order.
      expect(fetched.slice(0, 2)).toEqual(['walk/f000', 'walk/f001']);
      fetched.forEach((key, position) => expect(Math.abs(Number(/f(\d+)$/.exec(key)?.[1]) - position)).toBeLessThan(4));
      expect([...fetched].sort()).toEqual(Array.from({ length: 10 + AHEAD }, (_, i) => `walk/${name(i)}`));
    });

    it('gives the reader the same bytes as S3 holds, with one GET per file in all', async () => {
      const files = Array.from({ length: SMALL_FILES - 10 }, (_, i) => `walk/${name(i + 10)}`);
      const sums = await catEach(dir, files);
      expect(sums).toEqual(files.map((_, i) => sha256(smallBody('walk', i + 10))));
      const fetched = await getsUnder('walk/');
      expect(fetched).toHaveLength(SMALL_FILES);
      expect(new Set(fetched).size).toBe(SMALL_FILES);
    });
  });

  describe('when a reader reads parts of files at random offsets', () => {
    it('fetches nothing but what it reads', async () => {
      const dir = await mount('random', ['--sibling-prefetch', String(AHEAD)]);
      expect((await shell(`ls '${dir}/large' | wc -l`)).stdout.trim()).toBe(String(LARGE_FILES));
      s3.resetRequests();
      const read = [7, 2, 9, 4, 0, 11];
      const { code } = await shell(read.map((i) => `dd if='${dir}/large/${name(i)}' of=/dev/null bs=4096 skip=${512 + i} count=1 status=none`).join(' && '));
      expect(code).toBe(0);
      const fetched = new Set(await getsUnder('large/'));
      expect([...fetched].sort()).toEqual(read.map((i) => `large/${name(i)}`).sort());
    });
  });

  describe('when turned off with --sibling-prefetch 0', () => {
    it('fetches only the files read', async () => {
      const dir = await mount('off', ['--sibling-prefetch', '0']);
      expect((await shell(`ls '${dir}/off' | wc -l`)).stdout.trim()).toBe(String(SMALL_FILES));
      s3.resetRequests();
      await catEach(dir, Array.from({ length: 10 }, (_, i) => `off/${name(i)}`));
      expect((await getsUnder('off/')).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `off/${name(i)}`));
    });
  });
});
