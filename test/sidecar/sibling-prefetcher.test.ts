import { testMount, type TestMount } from './handlers-fixture';
import type { DatasetSpec } from '../../sidecar/dataset-mount';
import { TRIGGER_WHOLE_READS } from '../../sidecar/sibling-prefetcher';

const KiB = 1024;
const FILE_BYTES = 4 * KiB;
const name = (i: number): string => `f${String(i).padStart(3, '0')}`;

/** Let every pending GET, block load and prefetch of the in-memory mount run to its end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

function bodyOf(key: string, version = 1): Buffer {
  return Buffer.alloc(FILE_BYTES, `${key} v${version};`);
}

/**
 * A metadata lifetime short enough to wait out, long enough that a walk and a few reads finish
 * inside it on a loaded CI machine (100 ms made these tests fail about one run in ten there).
 */
const SHORT_TTL_MS = 1000;

/** A mount over `dirs` (directory → file count), read-only, with a small sibling budget; every directory listed, as a walk does. */
async function walkedMount(dirs: Record<string, number>, overrides: Partial<DatasetSpec> = {}): Promise<TestMount> {
  const mount = testMount({ readOnly: true, siblingPrefetch: { aheadFiles: 8, maxRequests: 4 }, ...overrides });
  for (const [dir, count] of Object.entries(dirs)) {
    for (let i = 0; i < count; i++) mount.client.seed(`${dir}/${name(i)}`, bodyOf(`${dir}/${name(i)}`));
  }
  await mount.handlers.readdir('/');
  for (const dir of Object.keys(dirs)) await mount.handlers.readdir(`/${dir}`);
  return mount;
}

/** Keys fetched with GETs, in order. */
const gets = (mount: TestMount): string[] => mount.client.requests.filter((r) => r.operation === 'getRange').map((r) => r.key);

async function readWhole(mount: TestMount, path: string): Promise<Buffer> {
  const body = await mount.readFile(path);
  await settle();
  return body;
}

const counter = (mount: TestMount, metric: 'siblingPrefetchFiles' | 'siblingPrefetchUsed'): number => mount.metrics[metric].get({ dataset: 'test' });

describe('sibling-prefetcher', () => {
  describe('when a reader goes through a directory file by file, reading each whole', () => {
    it(`fetches nothing ahead before ${TRIGGER_WHOLE_READS} files were read whole`, async () => {
      const mount = await walkedMount({ d: 30 });
      for (let i = 0; i < TRIGGER_WHOLE_READS - 1; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(gets(mount)).toEqual(['d/f000', 'd/f001']);
    });

    it('then fetches the next files in listing order, as many as the budget allows', async () => {
      const mount = await walkedMount({ d: 30 });
      for (let i = 0; i < TRIGGER_WHOLE_READS; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(gets(mount)).toEqual(['d/f000', 'd/f001', 'd/f002', ...[3, 4, 5, 6, 7, 8, 9, 10].map((i) => `d/${name(i)}`)]);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(8);
    });

    it('keeps ahead of the reader, fetching every file once, and serves the reader the right bytes', async () => {
      const mount = await walkedMount({ d: 30 });
      for (let i = 0; i < 30; i++) {
        const body = await readWhole(mount, `/d/${name(i)}`);
        expect(body.equals(bodyOf(`d/${name(i)}`))).toBe(true);
      }
      expect(gets(mount)).toEqual(Array.from({ length: 30 }, (_, i) => `d/${name(i)}`));
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(30 - TRIGGER_WHOLE_READS);
      expect(counter(mount, 'siblingPrefetchUsed')).toBe(30 - TRIGGER_WHOLE_READS);
    });

    it('goes on to the first files of the next directory when this one has none left', async () => {
      const mount = await walkedMount({ d: 6, e: 20 });
      for (let i = 0; i < 6; i++) await readWhole(mount, `/d/${name(i)}`);
      const fetched = gets(mount);
      expect(fetched.slice(0, 6)).toEqual(Array.from({ length: 6 }, (_, i) => `d/${name(i)}`));
      expect(fetched.slice(6)).toEqual(Array.from({ length: 8 }, (_, i) => `e/${name(i)}`));
    });

    it('lists the next directory again first when its listing has expired, then goes on to it', async () => {
      const mount = await walkedMount({ d: 6, e: 20 }, { metadataTtlMs: SHORT_TTL_MS, listingPrefetch: { directories: 0 } });
      await new Promise((resolve) => setTimeout(resolve, SHORT_TTL_MS + 200));
      await mount.handlers.readdir('/');
      const before = mount.client.requests.length;
      for (let i = 0; i < 6; i++) await readWhole(mount, `/d/${name(i)}`);
      await settle();
      expect(mount.client.requests.slice(before).filter((r) => r.operation === 'list').map((r) => r.key)).toContain('e/');
      expect(gets(mount).filter((key) => key.startsWith('e/'))).toEqual(Array.from({ length: 8 }, (_, i) => `e/${name(i)}`));
    });

    it('tries listing an expired next directory once, not at every open, when S3 fails', async () => {
      const mount = await walkedMount({ d: 6, e: 20 }, { metadataTtlMs: SHORT_TTL_MS, listingPrefetch: { directories: 0 } });
      await new Promise((resolve) => setTimeout(resolve, SHORT_TTL_MS + 200));
      await mount.handlers.readdir('/');
      mount.client.beforeRequest = (request) => {
        if (request.operation === 'list' && request.key === 'e/') throw new Error('S3 is down');
      };
      for (let round = 0; round < 3; round++) for (let i = 0; i < 6; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(mount.client.requests.filter((r) => r.operation === 'list' && r.key === 'e/')).toHaveLength(2);
    });

    it('does not go on to a directory that was never listed', async () => {
      const mount = await walkedMount({ d: 6 });
      mount.client.seed('e/f000', 'not listed yet');
      await mount.handlers.readdir('/');
      for (let i = 0; i < 6; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(gets(mount).filter((key) => key.startsWith('e/'))).toEqual([]);
    });
  });

  describe('when a shuffled epoch reads a directory in random order', () => {
    it('fetches files not yet read, each once, and the reader never fetches a file twice', async () => {
      const mount = await walkedMount({ d: 40 });
      const order = [17, 3, 38, 0, 25, 9, 31, 12, 6, 39, 21, 1, 28, 14, 35, 5, 19, 2, 33, 10, 26, 7, 37, 15, 23, 4, 30, 11, 36, 18, 8, 27, 13, 34, 20, 24, 16, 29, 22, 32];
      for (const i of order) expect((await readWhole(mount, `/d/${name(i)}`)).equals(bodyOf(`d/${name(i)}`))).toBe(true);
      const fetched = gets(mount);
      expect(fetched).toHaveLength(40);
      expect(new Set(fetched).size).toBe(40);
      expect(counter(mount, 'siblingPrefetchUsed')).toBe(counter(mount, 'siblingPrefetchFiles'));
      expect(counter(mount, 'siblingPrefetchFiles')).toBeGreaterThan(20);
    });
  });

  describe('when files are opened far out of listing order, as in a shuffled epoch over a large directory', () => {
    const shuffledStart = async (mount: TestMount): Promise<void> => {
      for (const i of [100, 150, 20]) await readWhole(mount, `/d/${name(i)}`);
      for (let i = 0; i < 10; i++) await settle();
    };

    it('fetches every file not read yet, beyond the files-ahead budget of in-order readers', async () => {
      const mount = await walkedMount({ d: 200 }, { siblingPrefetch: { aheadFiles: 8, maxRequests: 4 } });
      await shuffledStart(mount);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(200 - 3);
      expect(new Set(gets(mount)).size).toBe(200);
    });

    it('still holds at most a quarter of the memory cache in files not yet opened', async () => {
      // 256 KiB of memory: 64 KiB ahead = sixteen 4 KiB files.
      const mount = await walkedMount({ d: 200 }, { memoryBytes: 256 * KiB, siblingPrefetch: { aheadFiles: 8, maxRequests: 4 } });
      await shuffledStart(mount);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(16);
    });
  });

  describe('when the budget is reached', () => {
    it('keeps at most the configured number of files fetched ahead and not yet opened', async () => {
      const mount = await walkedMount({ d: 100 }, { siblingPrefetch: { aheadFiles: 5, maxRequests: 4 } });
      for (let i = 0; i < TRIGGER_WHOLE_READS; i++) await readWhole(mount, `/d/${name(i)}`);
      await settle();
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(5);
      await readWhole(mount, `/d/${name(3)}`);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(6);
    });

    it('keeps at most the configured number of GETs in flight', async () => {
      const mount = await walkedMount({ d: 100 }, { siblingPrefetch: { aheadFiles: 64, maxRequests: 3 } });
      for (let i = 0; i < TRIGGER_WHOLE_READS - 1; i++) await readWhole(mount, `/d/${name(i)}`);
      let inFlight = 0;
      let most = 0;
      mount.client.beforeRequest = async (request) => {
        if (request.operation !== 'getRange' || request.key === `d/${name(2)}`) return;
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
      };
      await mount.readFile(`/d/${name(2)}`);
      for (let i = 0; i < 50 && counter(mount, 'siblingPrefetchFiles') < 64; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(64);
      expect(most).toBe(3);
    });

    it('holds at most a quarter of the memory cache in files fetched ahead', async () => {
      // 64 KiB of memory: 16 KiB ahead = four 4 KiB files.
      const mount = await walkedMount({ d: 100 }, { memoryBytes: 64 * KiB, siblingPrefetch: { aheadFiles: 64, maxRequests: 16 } });
      for (let i = 0; i < TRIGGER_WHOLE_READS; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(4);
    });
  });

  describe('when a reader does not read files whole', () => {
    it('fetches nothing for many files read in part', async () => {
      const mount = await walkedMount({ d: 30 });
      for (let i = 0; i < 20; i++) await (async () => {
        await mount.readFile(`/d/${name(i)}`, 100, 200);
        await settle();
      })();
      expect(gets(mount)).toHaveLength(20);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(0);
    });

    it('fetches nothing for files opened and closed without reading', async () => {
      const mount = await walkedMount({ d: 30 });
      for (let i = 0; i < 20; i++) await mount.handlers.release(`/d/${name(i)}`, await mount.handlers.open(`/d/${name(i)}`, 0));
      await settle();
      expect(gets(mount)).toEqual([]);
    });

    it('fetches nothing for files read whole in different directories, one each', async () => {
      const mount = await walkedMount({ a: 10, b: 10, c: 10, d: 10 });
      for (const dir of ['a', 'b', 'c', 'd']) await readWhole(mount, `/${dir}/${name(0)}`);
      expect(gets(mount)).toEqual(['a/f000', 'b/f000', 'c/f000', 'd/f000']);
    });
  });

  describe('when many directories are read', () => {
    it('follows each directory on its own: one file read whole in each of 30 others fetches nothing ahead, a directory read through does', async () => {
      const dirs = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`x${String(i).padStart(2, '0')}`, 5]));
      const mount = await walkedMount({ ...dirs, d: 30 });
      for (const dir of Object.keys(dirs)) await readWhole(mount, `/${dir}/${name(0)}`);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(0);
      for (let i = 0; i < 30; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(gets(mount).filter((key) => key.startsWith('d/'))).toEqual(Array.from({ length: 30 }, (_, i) => `d/${name(i)}`));
      expect(counter(mount, 'siblingPrefetchUsed')).toBe(30 - TRIGGER_WHOLE_READS);
    });
  });

  describe('when the directory listing is not cached', () => {
    it('fetches nothing ahead (files looked up one by one)', async () => {
      const mount = testMount({ readOnly: true, siblingPrefetch: { aheadFiles: 8, maxRequests: 4 } });
      for (let i = 0; i < 10; i++) mount.client.seed(`d/${name(i)}`, bodyOf(`d/${name(i)}`));
      for (let i = 0; i < 5; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(gets(mount)).toEqual(['d/f000', 'd/f001', 'd/f002', 'd/f003', 'd/f004']);
    });
  });

  describe('when turned off', () => {
    it('fetches only what readers read', async () => {
      const mount = await walkedMount({ d: 30 }, { siblingPrefetch: { aheadFiles: 0, maxRequests: 4 } });
      for (let i = 0; i < 10; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(gets(mount)).toEqual(Array.from({ length: 10 }, (_, i) => `d/${name(i)}`));
    });
  });

  describe('when an object changes after its directory was listed', () => {
    it('never serves the version fetched ahead once the listing has expired', async () => {
      const mount = await walkedMount({ d: 30 }, { metadataTtlMs: SHORT_TTL_MS });
      for (let i = 0; i < TRIGGER_WHOLE_READS; i++) await readWhole(mount, `/d/${name(i)}`);
      expect(gets(mount)).toContain('d/f005');
      mount.client.seed('d/f005', bodyOf('d/f005', 2));
      await new Promise((resolve) => setTimeout(resolve, SHORT_TTL_MS + 200));
      expect((await mount.readFile('/d/f005')).equals(bodyOf('d/f005', 2))).toBe(true);
    });

    it('stops at the first failed GET of a version replaced meanwhile, and the reader gets the new version after the TTL', async () => {
      const mount = await walkedMount({ d: 30 }, { metadataTtlMs: SHORT_TTL_MS });
      for (let i = 0; i < TRIGGER_WHOLE_READS - 1; i++) await readWhole(mount, `/d/${name(i)}`);
      for (let i = 3; i < 30; i++) mount.client.seed(`d/${name(i)}`, bodyOf(`d/${name(i)}`, 2));
      await readWhole(mount, `/d/${name(2)}`);
      expect(mount.metrics.siblingPrefetchUnused.get({ dataset: 'test', reason: 'failed' })).toBe(4);
      expect(counter(mount, 'siblingPrefetchFiles')).toBe(4);
      await new Promise((resolve) => setTimeout(resolve, SHORT_TTL_MS + 200));
      expect((await mount.readFile('/d/f004')).equals(bodyOf('d/f004', 2))).toBe(true);
    });
  });
});
