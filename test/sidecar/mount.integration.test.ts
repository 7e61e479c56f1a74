/**
 * The standalone mount end to end: `node dist/sidecar/main.js mount` (a child process) over a
 * real s3rver, read by ordinary tools in other child processes. Compares what tools see with
 * what a direct download gives, and counts GETs at the server to check the caches.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { forceUnmountAll } from '../support/fuse-cleanup';
import { startS3Server, type S3Server } from '../support/s3-server';
import { childEnv, ensureBuilt, shell, startSidecar, type SidecarProcess } from './sidecar-process';
import tree from './fixtures/tree.json';

jest.setTimeout(180_000);

const BUCKET = 'data';
const MiB = 1024 * 1024;
const BIG_BYTES = 300 * MiB;
const MANY_KEYS = 10_000;

describe('datamount-sidecar mount (integration)', () => {
  let s3: S3Server;
  let client: S3Client;
  let work: string;
  let big: Buffer;
  let bigSha256: string;
  const running: SidecarProcess[] = [];

  const mount = async (name: string, extra: string[] = [], prefix = ''): Promise<{ dir: string; process: SidecarProcess }> => {
    const dir = path.join(work, name);
    await fs.mkdir(dir, { recursive: true });
    const process = await startSidecar(
      ['mount', `s3://${BUCKET}${prefix}`, dir, '--endpoint', s3.endpoint, '--metadata-ttl', '1', ...extra],
      childEnv({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }),
    );
    running.push(process);
    return { dir, process };
  };

  const download = async (key: string): Promise<Buffer> => {
    const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  };

  beforeAll(async () => {
    await ensureBuilt();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'sidecar-it-'));
    s3 = await startS3Server({ buckets: [BUCKET] });
    client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const put = (key: string, body: Buffer | string) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from(body) }));
    for (const [key, body] of Object.entries(tree.objects)) await put(key, body);
    big = randomBytes(BIG_BYTES);
    bigSha256 = createHash('sha256').update(big).digest('hex');
    await put('large/big.bin', big);
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < MANY_KEYS) {
        const i = next++;
        await put(`many/file-${String(i).padStart(5, '0')}.txt`, `${i}\n`);
      }
    }));
  });

  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    if (work) await forceUnmountAll(work);
    client?.destroy();
    await s3?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  describe('when mounted read-only with a disk cache', () => {
    let dir: string;
    let cacheDir: string;
    let sidecar: SidecarProcess;
    beforeAll(async () => {
      cacheDir = path.join(work, 'cache-ro');
      ({ dir, process: sidecar } = await mount('ro', ['--read-only', '--cache-dir', cacheDir, '--cache-size', '1Gi']));
    });

    it('shows the tree as find sees it: nested prefixes, spaces, unicode, empty files; unusable keys left out', async () => {
      const { stdout, code } = await shell(`cd '${dir}' && find . -path ./many -prune -o -path ./large -prune -o -mindepth 1 -print`);
      expect(code).toBe(0);
      const found = stdout.split('\n').filter(Boolean).map((p) => p.slice(2)).sort();
      expect(found).toEqual([...tree.visible].sort());
    });

    it('gives cat the same bytes as a direct download, for every visible file', async () => {
      for (const [key, body] of Object.entries(tree.objects)) {
        const isDirectory = key.endsWith('/') || tree.visible.some((v) => v.startsWith(`${key}/`));
        if (!tree.visible.includes(key) || isDirectory) continue;
        const { stdout, code } = await shell(`cat '${path.join(dir, key)}'`);
        expect({ key, code, stdout }).toEqual({ key, code: 0, stdout: body });
        expect((await download(key)).toString()).toBe(body);
      }
    });

    it('lists a directory of 10,000 keys completely', async () => {
      const { stdout } = await shell(`ls '${dir}/many' | wc -l; find '${dir}/many' -type f | wc -l`);
      expect(stdout.split('\n').slice(0, 2)).toEqual([String(MANY_KEYS), String(MANY_KEYS)]);
      expect((await shell(`cat '${dir}/many/file-09999.txt'`)).stdout).toBe('9999\n');
    });

    it(`reads a ${BIG_BYTES / MiB} MiB file with sha256sum to the same digest as the uploaded bytes`, async () => {
      const { stdout, code } = await shell(`sha256sum '${dir}/large/big.bin'`);
      expect(code).toBe(0);
      expect(stdout.split(' ')[0]).toBe(bigSha256);
    });

    it('serves a second read from the cache with no GET at the server', async () => {
      await shell(`cat '${dir}/nested/a/sibling.txt' '${dir}/large/big.bin' > /dev/null`);
      await s3.settle();
      s3.resetRequests();
      const { stdout } = await shell(`sync; echo 3 > /proc/sys/vm/drop_caches; head -c 50000000 '${dir}/large/big.bin' | sha256sum; cat '${dir}/nested/a/sibling.txt'`);
      expect(stdout).toContain(createHash('sha256').update(big.subarray(0, 50_000_000)).digest('hex'));
      await s3.settle();
      expect(s3.countGets()).toBe(0);
    });

    it('archives a subtree with tar to the same files as the bucket holds', async () => {
      const extract = path.join(work, 'extract');
      await fs.mkdir(extract);
      const { code, stderr } = await shell(`tar -C '${dir}' -cf - nested | tar -C '${extract}' -xf -`);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      for (const key of tree.visible.filter((k) => k.startsWith('nested/') && k in tree.objects && !k.endsWith('/'))) {
        expect((await fs.readFile(path.join(extract, key))).equals(await download(key))).toBe(true);
      }
    });

    it.each([
      ['creating a file', 'touch new-file'],
      ['writing into a file', 'echo x > README.txt'],
      ['removing a file', 'rm README.txt'],
      ['making a directory', 'mkdir new-dir'],
    ])('refuses %s with EROFS', async (_name, command) => {
      const { code, stderr } = await shell(`cd '${dir}' && ${command}`);
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/Read-only file system/);
      expect((await download('README.txt')).toString()).toBe(tree.objects['README.txt']);
    });

    it('exits 0 on SIGTERM and leaves no mount; a new process reuses the disk cache without GETs', async () => {
      expect(await sidecar.stop()).toBe(0);
      expect(await fs.readFile('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
      // Blocks wait in memory for their disk write (write-behind, and writes the disk dropped
      // while reads outran it, as a loaded CI machine can), written at the latest on shutdown:
      // only blocks the memory tier let go of before the disk took them come from S3 again.
      const statistic = (name: string): number => Number(new RegExp(`"${name}":(\\d+)\\b`).exec(sidecar.output())?.[1]);
      const lost = statistic('diskCacheLostWrites');
      expect(lost).toBeGreaterThanOrEqual(0);
      expect(lost).toBeLessThan(BIG_BYTES / MiB / 4);
      await s3.settle();
      s3.resetRequests();
      const again = await mount('ro-again', ['--read-only', '--cache-dir', cacheDir, '--cache-size', '1Gi']);
      const { stdout } = await shell(`sha256sum '${again.dir}/large/big.bin'; cat '${again.dir}/nested/a/sibling.txt'`);
      expect(stdout).toContain(bigSha256);
      await s3.settle();
      expect(s3.countGets()).toBeLessThanOrEqual(lost);
      expect(await again.process.stop()).toBe(0);
    });
  });

  describe('when the disk cache is smaller than the data read', () => {
    it('keeps the cache folder under its bound', async () => {
      const cacheDir = path.join(work, 'cache-small');
      const { dir, process } = await mount('small-cache', ['--read-only', '--cache-dir', cacheDir, '--cache-size', '24Mi']);
      await shell(`head -c 104857600 '${dir}/large/big.bin' > /dev/null`);
      expect(await process.stop()).toBe(0);
      const { stdout } = await shell(`find '${cacheDir}' -name '*.blk' -printf '%s\\n' | awk '{s+=$1} END {print s+0}'`);
      expect(Number(stdout)).toBeGreaterThan(0);
      expect(Number(stdout)).toBeLessThanOrEqual(24 * MiB);
    });
  });

  describe('when an object changes in the bucket', () => {
    it('is not served stale past the metadata TTL', async () => {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'changing.txt', Body: 'version one\n' }));
      const { dir } = await mount('changing', ['--read-only']);
      expect((await shell(`cat '${dir}/changing.txt'`)).stdout).toBe('version one\n');
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'changing.txt', Body: 'the second version\n' }));
      await new Promise((resolve) => setTimeout(resolve, 3500)); // metadata TTL 1 s + kernel attribute cache 1 s, with margin
      expect((await shell(`cat '${dir}/changing.txt'`)).stdout).toBe('the second version\n');
    });
  });

  describe('when mounted read-write', () => {
    let dir: string;
    beforeAll(async () => {
      ({ dir } = await mount('rw', [], '/rw-area'));
    });

    it('uploads a new file written with cp (multipart) and echo (single PUT), readable back', async () => {
      const local = path.join(work, 'local-20mib.bin');
      const payload = randomBytes(20 * MiB + 17);
      await fs.writeFile(local, payload);
      const { code, stderr } = await shell(`cp '${local}' '${dir}/copied.bin' && echo 'hello world' > '${dir}/sub-file.txt'`);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect((await download('rw-area/copied.bin')).equals(payload)).toBe(true);
      expect((await download('rw-area/sub-file.txt')).toString()).toBe('hello world\n');
      expect((await shell(`sha256sum < '${dir}/copied.bin'`)).stdout).toContain(createHash('sha256').update(payload).digest('hex'));
    });

    it('overwrites a whole file, and refuses an append with an error', async () => {
      await shell(`echo first > '${dir}/over.txt'`);
      expect((await shell(`echo second > '${dir}/over.txt'`)).code).toBe(0);
      expect((await download('rw-area/over.txt')).toString()).toBe('second\n');
      const append = await shell(`echo more >> '${dir}/over.txt'`);
      expect(append.code).not.toBe(0);
      expect((await download('rw-area/over.txt')).toString()).toBe('second\n');
    });

    it('makes and removes directories, renames and deletes files', async () => {
      const steps = `cd '${dir}' && mkdir made && echo x > made/f && mv made/f made/g && ls made && rm made/g && rmdir made && ls`;
      const { stdout, code, stderr } = await shell(steps);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout.split('\n')[0]).toBe('g');
      expect(stdout).not.toContain('made');
      const listed = await shell(`ls -A '${dir}'`);
      expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual(['copied.bin', 'over.txt', 'sub-file.txt']);
    });
  });
});
