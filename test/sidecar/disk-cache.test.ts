import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deriveBlockKeys } from '../../sidecar/block-file';
import type { BlockFilePool } from '../../sidecar/block-file-pool';
import { DiskCache } from '../../sidecar/disk-cache';
import { silentLogger } from '../../sidecar/logger';

const keys = deriveBlockKeys('id\0secret', { endpoint: 'http://s3', bucket: 'b' });
const KiB = 1024;

async function blockFiles(dir: string): Promise<Array<{ file: string; size: number }>> {
  const out: Array<{ file: string; size: number }> = [];
  for (const folder of await fs.readdir(dir)) {
    const folderPath = path.join(dir, folder);
    if (!(await fs.stat(folderPath)).isDirectory()) continue;
    for (const name of await fs.readdir(folderPath)) {
      out.push({ file: path.join(folderPath, name), size: (await fs.stat(path.join(folderPath, name))).size });
    }
  }
  return out;
}

/** Wait (up to 5 s) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('disk-cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'disk-cache-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const open = async (maxBytes = 1024 * KiB, cacheKeys = keys): Promise<DiskCache> => {
    const cache = new DiskCache({ dir, maxBytes, keys: cacheKeys, log: silentLogger });
    await cache.ready;
    return cache;
  };

  describe('when another sidecar on the node writes blocks into the same folder', () => {
    it('serves them once its folder watch reports them', async () => {
      const reader = await open();
      const writer = await open();
      void writer.put('from-elsewhere', Buffer.from('written by the other sidecar'));
      await writer.flush();
      await until(() => reader.files === 1);
      expect(await reader.get('from-elsewhere')).toEqual({ found: true, data: Buffer.from('written by the other sidecar') });
      reader.close();
      writer.close();
    });
  });

  describe("when the pool's file system refuses direct I/O", () => {
    it('says so once, naming the folder and the errno', async () => {
      const lines: Array<{ message: string; fields?: Record<string, unknown> }> = [];
      const log = { ...silentLogger, info: (message: string, fields?: Record<string, unknown>) => lines.push({ message, fields }) };
      const refusedIn = (folder: string) => (folder === dir ? 'EINVAL' : undefined);
      const pool = { directRefusedIn: refusedIn, read: () => Promise.resolve({ status: 'missing' as const }), write: () => Promise.resolve(100) } as unknown as BlockFilePool;
      const cache = new DiskCache({ dir, maxBytes: 1024 * KiB, keys, log, pool });
      await cache.ready;
      await cache.put('one', Buffer.alloc(60));
      await cache.put('two', Buffer.alloc(60));
      await cache.flush();
      expect(lines.filter((line) => /direct I\/O/.test(line.message))).toEqual([{ message: 'the cache folder refuses direct I/O; block files go through the page cache', fields: { dir, code: 'EINVAL' } }]);
      cache.close();
    });

    it("says nothing when only another dataset's folder refused it", async () => {
      const lines: string[] = [];
      const log = { ...silentLogger, info: (message: string) => lines.push(message) };
      const pool = { directRefusedIn: () => undefined, read: () => Promise.resolve({ status: 'missing' as const }), write: () => Promise.resolve(100) } as unknown as BlockFilePool;
      const cache = new DiskCache({ dir, maxBytes: 1024 * KiB, keys, log, pool });
      await cache.ready;
      await cache.put('one', Buffer.alloc(60));
      await cache.flush();
      expect(lines.filter((line) => /direct I\/O/.test(line))).toEqual([]);
      cache.close();
    });
  });

  describe('when a block is not in its complete index', () => {
    it('answers "missing" without asking a worker to open a file', async () => {
      let reads = 0;
      const pool = {
        read: () => {
          reads++;
          return Promise.resolve({ status: 'missing' as const });
        },
        write: () => Promise.resolve(0),
      } as unknown as BlockFilePool;
      const cache = new DiskCache({ dir, maxBytes: 1024 * KiB, keys, log: silentLogger, pool });
      await cache.ready;
      expect(await cache.get('never-written')).toEqual({ found: false, reason: 'missing' });
      expect(reads).toBe(0);
      // Closed (the dataset unmounted): no news from the folder any more, so the disk is asked.
      cache.close();
      expect(await cache.get('never-written')).toEqual({ found: false, reason: 'missing' });
      expect(reads).toBe(1);
    });
  });

  describe('when blocks are stored', () => {
    it('serves them back and names every file *.blk, never leaving *.tmp files', async () => {
      const cache = await open();
      void cache.put('a', Buffer.from('alpha'));
      void cache.put('b', Buffer.from('beta'));
      await cache.flush();
      expect(await cache.get('a')).toEqual({ found: true, data: Buffer.from('alpha') });
      expect(await cache.get('c')).toEqual({ found: false, reason: 'missing' });
      const files = await blockFiles(dir);
      expect(files).toHaveLength(2);
      expect(files.every((f) => f.file.endsWith('.blk'))).toBe(true);
    });

    it('keeps the bytes on disk under the bound by evicting the least recently used', async () => {
      const cache = await open(100 * KiB);
      const block = Buffer.alloc(10 * KiB, 1);
      // Nine fit (10 KiB + header each). One at a time: writes in flight together finish in any
      // order on the two disk workers, and recency counts from when a block is on disk.
      for (let i = 0; i < 9; i++) {
        void cache.put(`block-${i}`, block);
        await cache.flush();
      }
      expect((await cache.get('block-0')).found).toBe(true); // now the most recently used
      for (let i = 9; i < 12; i++) {
        void cache.put(`block-${i}`, block);
        await cache.flush();
      }
      const files = await blockFiles(dir);
      const total = files.reduce((sum, f) => sum + f.size, 0);
      expect(total).toBeLessThanOrEqual(100 * KiB);
      expect(cache.bytes).toBe(total);
      expect((await cache.get('block-11')).found).toBe(true);
      expect((await cache.get('block-0')).found).toBe(true);
      expect((await cache.get('block-1')).found).toBe(false);
    });
    it('keeps under the bound when many writes run at once', async () => {
      const cache = await open(100 * KiB);
      for (let i = 0; i < 40; i++) void cache.put(`parallel-${i}`, Buffer.alloc(10 * KiB, 2));
      await cache.flush();
      const total = (await blockFiles(dir)).reduce((sum, f) => sum + f.size, 0);
      expect(total).toBeGreaterThan(50 * KiB);
      expect(total).toBeLessThanOrEqual(100 * KiB);
    });
  });

  describe('when blocks come faster than the disk takes them', () => {
    it('drops those past its queue and knows which blocks it surely lacks', async () => {
      const cache = new DiskCache({ dir, maxBytes: 1024 * KiB, keys, log: silentLogger, maxPendingWrites: 1 });
      await cache.ready;
      expect(cache.lacks('a')).toBe(true);
      expect(cache.put('a', Buffer.alloc(10 * KiB, 1))).toBeInstanceOf(Promise);
      expect(cache.lacks('a')).toBe(false); // queued: readable before it reaches the disk
      expect(cache.put('b', Buffer.alloc(10 * KiB, 2))).toBe('busy');
      expect(cache.droppedWrites).toBe(1);
      await cache.flush();
      expect({ a: cache.lacks('a'), b: cache.lacks('b') }).toEqual({ a: false, b: true });
      expect(cache.put('b', Buffer.alloc(10 * KiB, 2))).toBeInstanceOf(Promise);
      await cache.flush();
      expect({ lacks: cache.lacks('b'), dropped: cache.droppedWrites }).toEqual({ lacks: false, dropped: 1 });
    });
  });

  describe('when many blocks are looked up at once (a prefetch window of disk hits)', () => {
    it('serves every one of them, the right bytes each, through the bounded read queue', async () => {
      const cache = await open(4096 * KiB);
      const blocks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(20 * KiB + i, i));
      // In two halves: more writes than that at once are dropped (the write queue's bound).
      for (const half of [0, 20]) {
        blocks.slice(half, half + 20).forEach((block, i) => void cache.put(`id-${half + i}`, block));
        await cache.flush();
      }
      expect(cache.droppedWrites).toBe(0);
      const restarted = await open(4096 * KiB);
      const found = await Promise.all(blocks.map((_, i) => restarted.get(`id-${i}`)));
      found.forEach((lookup, i) => expect(lookup.found && lookup.data.equals(blocks[i] as Buffer)).toBe(true));
    });
  });

  describe('when the process restarts', () => {
    it('finds the blocks of the previous run and accounts for them', async () => {
      const first = await open();
      void first.put('kept', Buffer.from('from the first run'));
      await first.flush();
      const second = await open();
      expect(second.files).toBe(1);
      expect(second.bytes).toBeGreaterThan(0);
      expect(await second.get('kept')).toEqual({ found: true, data: Buffer.from('from the first run') });
    });

    it('removes leftovers of writes torn by a crash', async () => {
      const first = await open();
      void first.put('kept', Buffer.from('x'));
      await first.flush();
      const folder = path.dirname(first.fileOf('kept'));
      const torn = path.join(folder, '.half-written.1234.tmp');
      await fs.writeFile(torn, 'partial');
      await fs.utimes(torn, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      await open();
      expect((await fs.readdir(folder)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    });
  });

  describe('when a block file is damaged or foreign', () => {
    it.each([
      ['truncated', async (file: string) => fs.truncate(file, 30)],
      ['bit-flipped', async (file: string) => {
        const bytes = await fs.readFile(file);
        bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0x40;
        await fs.writeFile(file, bytes);
      }],
      ['replaced by garbage', async (file: string) => fs.writeFile(file, Buffer.alloc(200, 7))],
    ])('reports a %s block as corrupt, deletes it and never serves it', async (_name, damage) => {
      const cache = await open();
      void cache.put('victim', Buffer.alloc(100, 9));
      await cache.flush();
      await damage(cache.fileOf('victim'));
      expect(await cache.get('victim')).toEqual({ found: false, reason: 'corrupt' });
      await expect(fs.access(cache.fileOf('victim'))).rejects.toThrow();
    });

    it('rejects a block written under another dataset\'s credentials, even at the expected name', async () => {
      const tenantA = await open();
      void tenantA.put('shared-id', Buffer.from('secret of tenant A'));
      await tenantA.flush();
      const tenantB = await open(1024 * KiB, deriveBlockKeys('id\0other-secret', { endpoint: 'http://s3', bucket: 'b' }));
      await fs.mkdir(path.dirname(tenantB.fileOf('shared-id')), { recursive: true });
      await fs.copyFile(tenantA.fileOf('shared-id'), tenantB.fileOf('shared-id'));
      // Written by "another process": the tier knows of it once its folder watch says so (the
      // folder is shared, so tenant B also indexed tenant A's own file when it started).
      await until(() => tenantB.files === 2);
      expect(await tenantB.get('shared-id')).toEqual({ found: false, reason: 'corrupt' });
    });

    it('treats a block deleted by the janitor as a miss', async () => {
      const cache = await open();
      void cache.put('gone', Buffer.from('x'));
      await cache.flush();
      await fs.unlink(cache.fileOf('gone'));
      expect(await cache.get('gone')).toEqual({ found: false, reason: 'missing' });
      expect(cache.files).toBe(0);
    });
  });
});
