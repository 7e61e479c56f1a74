import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockCache, type ObjectVersion } from '../../sidecar/block-cache';
import { BLOCK_FILE_OVERHEAD, deriveBlockKeys } from '../../sidecar/block-file';
import { BlockFilePool } from '../../sidecar/block-file-pool';
import { DiskCache } from '../../sidecar/disk-cache';
import { silentLogger } from '../../sidecar/logger';
import { MemoryCache } from '../../sidecar/memory-cache';
import { MemoryObjectClient } from '../../sidecar/memory-object-client';
import { SidecarMetrics } from '../../sidecar/metrics';
import { MiB, patterned } from './handlers-fixture';

const keys = deriveBlockKeys('', { endpoint: 'http://s3', bucket: 'bucket' });
const options = { blockSize: MiB, maxRequestBytes: 8 * MiB, dataset: 'test' };

describe('block-cache', () => {
  let dir: string;
  let client: MemoryObjectClient;
  let object: ObjectVersion;
  const data = patterned(20 * MiB + 5);

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'block-cache-'));
    client = new MemoryObjectClient('bucket');
    const info = client.seed('obj', data);
    object = { key: 'obj', etag: info.etag, size: info.size };
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  const build = (disk?: DiskCache, memoryBytes = 64 * MiB) => {
    const metrics = new SidecarMetrics();
    return { cache: new BlockCache(client, new MemoryCache(memoryBytes), disk, options, metrics), metrics };
  };
  const gets = () => client.count('getRange');
  /** The real pool, but its reads wait until `release` is called; close `real` afterwards. */
  const heldReadsPool = () => {
    const real = new BlockFilePool(1);
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const pool = Object.assign(Object.create(real) as BlockFilePool, {
      read: async (...args: Parameters<BlockFilePool['read']>) => {
        await held;
        return real.read(...args);
      },
    });
    return { real, pool, release: () => release() };
  };

  describe('when asked whether a block is on its way', () => {
    it('gives the load while it runs and nothing once the block is cached, counting no hit or miss', async () => {
      const { cache, metrics } = build();
      expect(cache.loading(object, 2)).toBeUndefined();
      cache.prefetch(object, 2, 1);
      const load = cache.loading(object, 2);
      expect(load).toBeDefined();
      expect((await load)?.equals(data.subarray(2 * MiB, 3 * MiB))).toBe(true);
      expect(cache.loading(object, 2)).toBeUndefined();
      expect(metrics.cacheHits.get({ dataset: 'test', tier: 'memory' })).toBe(0);
      expect(metrics.cacheMisses.get({ dataset: 'test', tier: 'memory' })).toBe(0);
    });
  });

  describe('when a block is in memory', () => {
    it('serves it without a request', async () => {
      const { cache, metrics } = build();
      await cache.read(object, 3);
      const before = gets();
      expect((await cache.read(object, 3)).equals(data.subarray(3 * MiB, 4 * MiB))).toBe(true);
      expect(gets()).toBe(before);
      expect(metrics.cacheHits.get({ dataset: 'test', tier: 'memory' })).toBe(1);
    });
  });

  describe('when a block is only on disk', () => {
    it('serves it from disk after a restart, without a request', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await build(disk).cache.read(object, 20);
      await disk.flush();
      const restarted = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      const { cache, metrics } = build(restarted);
      const before = gets();
      expect((await cache.read(object, 20)).equals(data.subarray(20 * MiB))).toBe(true);
      expect(gets()).toBe(before);
      expect(metrics.cacheHits.get({ dataset: 'test', tier: 'disk' })).toBe(1);
    });

    it('refetches a block that fails authentication, and serves the right bytes', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await build(disk).cache.read(object, 2);
      await disk.flush();
      const file = disk.fileOf(`bucket\0obj\0${object.etag}\0${2}`);
      const bytes = await fs.readFile(file);
      bytes[100] = (bytes[100] ?? 0) ^ 0xff;
      await fs.writeFile(file, bytes);
      const restarted = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      const { cache, metrics } = build(restarted);
      const before = gets();
      expect((await cache.read(object, 2)).equals(data.subarray(2 * MiB, 3 * MiB))).toBe(true);
      await restarted.flush();
      expect(gets()).toBe(before + 1);
      expect(metrics.cacheMisses.get({ dataset: 'test', tier: 'disk', reason: 'corrupt' })).toBe(1);
    });
  });

  describe('when a scan outruns the disk and some writes are dropped', () => {
    it('keeps the dropped blocks in memory though the scan demotes them, so the next pass fetches none of them', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger, maxPendingWrites: 1 });
      await disk.ready;
      const { cache } = build(disk, 8 * MiB);
      /** A reader's pass over [first, end) that the disk keeps up with, demoting as it goes. */
      const keepUp = async (first: number, end: number) => {
        for (let index = first; index < end; index++) {
          await cache.read(object, index);
          await disk.flush();
          cache.demote(object, index, index + 1);
        }
      };
      await keepUp(0, 8); // fills the 8-block tier
      // Three blocks in one GET: the first one's write takes the queue, the other two are dropped.
      await Promise.all([8, 9, 10].map((index) => cache.read(object, index)));
      await disk.flush();
      cache.demote(object, 8, 11);
      expect(disk.droppedWrites).toBe(2);
      await keepUp(11, 19); // a demoted block is evicted newest first: 9 and 10 would go first
      const before = gets();
      for (const index of [9, 10]) expect((await cache.read(object, index)).equals(data.subarray(index * MiB, (index + 1) * MiB))).toBe(true);
      expect(gets()).toBe(before);
    });

    it('writes the dropped blocks later from memory, so a restart finds every block on disk', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger, maxPendingWrites: 1 });
      await disk.ready;
      const { cache } = build(disk, 8 * MiB);
      await Promise.all([0, 1, 2, 3].map((index) => cache.read(object, index))); // one GET: 3 writes dropped
      expect(disk.droppedWrites).toBe(3);
      await cache.flushDisk();
      expect(cache.lateWrites).toBe(3);
      const restarted = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await restarted.ready;
      const fresh = build(restarted).cache;
      const before = gets();
      for (const index of [0, 1, 2, 3]) expect((await fresh.read(object, index)).equals(data.subarray(index * MiB, (index + 1) * MiB))).toBe(true);
      expect(gets()).toBe(before);
    });
  });

  describe('with write-behind', () => {
    const writeBehind = (disk: DiskCache, memoryBytes: number, writeBehindBytes: number, writeBehindIdleMs: number, evictionExtraWrites = 0) =>
      new BlockCache(client, new MemoryCache(memoryBytes), disk, { ...options, writeBehindBytes, writeBehindIdleMs, evictionExtraWrites }, new SidecarMetrics());
    /** A fresh process's view of `dir`: whether blocks `indices` come from disk, with no GET. */
    const onDiskAfterRestart = async (indices: number[]) => {
      const restarted = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await restarted.ready;
      const fresh = build(restarted).cache;
      const before = gets();
      const same = await Promise.all(indices.map(async (index) => (await fresh.read(object, index)).equals(data.subarray(index * MiB, (index + 1) * MiB))));
      return { same: same.every(Boolean), gets: gets() - before };
    };
    const until = async (done: () => boolean) => {
      for (let waited = 0; !done() && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    };

    it('holds blocks back within its budget, writes the rest at once, and writes the held ones once loads pause', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await disk.ready;
      const cache = writeBehind(disk, 16 * MiB, 4 * MiB, 1000);
      await Promise.all([0, 1, 2, 3, 4, 5].map((index) => cache.read(object, index))); // one GET
      await disk.flush();
      expect({ onDisk: disk.bytes, late: cache.lateWrites, waiting: cache.unwrittenBytes }).toEqual({ onDisk: 2 * (MiB + BLOCK_FILE_OVERHEAD), late: 0, waiting: 4 * MiB });
      await until(() => cache.lateWrites === 4);
      await disk.flush();
      expect({ onDisk: disk.bytes, late: cache.lateWrites, lost: cache.lostWrites, waiting: cache.unwrittenBytes }).toEqual({
        onDisk: 6 * (MiB + BLOCK_FILE_OVERHEAD), late: 4, lost: 0, waiting: 0,
      });
      expect(await onDiskAfterRestart([0, 1, 2, 3, 4, 5])).toEqual({ same: true, gets: 0 });
    });

    it.each([
      ['loads go on (a cold pass)', (cache: BlockCache, turn: number) => cache.read(object, turn + 2)],
      ['reads are served from memory (a warm pass)', async (cache: BlockCache, turn: number) => cache.peek(object, turn % 2)],
    ])('keeps holding while %s, and writes once reads pause', async (_name, readOnce) => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await disk.ready;
      const cache = writeBehind(disk, 64 * MiB, 2 * MiB, 500);
      await Promise.all([0, 1].map((index) => cache.read(object, index)));
      // A read every 50 ms for 800 ms: more than one of the idle check's periods, none without a read.
      for (let turn = 0; turn < 16; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await readOnce(cache, turn)).toBeInstanceOf(Buffer);
      }
      await disk.flush();
      expect(cache.lateWrites).toBe(0);
      await until(() => cache.lateWrites === 2);
      expect(cache.lateWrites).toBe(2);
    });

    it('writes a held block when the memory tier lets it go', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await disk.ready;
      const cache = writeBehind(disk, 4 * MiB, 4 * MiB, 60_000);
      await Promise.all([0, 1, 2, 3].map((index) => cache.read(object, index))); // held: the budget is full
      // Block 4 is written at once (no budget left); it and block 5 evict blocks 0 and 1.
      await Promise.all([4, 5].map((index) => cache.read(object, index)));
      await disk.flush();
      expect({ late: cache.lateWrites, lost: cache.lostWrites }).toEqual({ late: 2, lost: 0 });
      expect(await onDiskAfterRestart([0, 1, 4])).toEqual({ same: true, gets: 0 });
    });

    it('counts a held block the memory tier lets go while the disk queue is full as lost, and fetches it again', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger, maxPendingWrites: 1 });
      await disk.ready;
      const cache = writeBehind(disk, 2 * MiB, 2 * MiB, 60_000);
      await Promise.all([0, 1].map((index) => cache.read(object, index))); // held
      // Block 2 takes the queue; block 3 is dropped and held; each evicts a held block on arrival.
      await Promise.all([2, 3].map((index) => cache.read(object, index)));
      await disk.flush();
      expect(cache.lostWrites).toBeGreaterThanOrEqual(1);
      const before = gets();
      expect((await cache.read(object, 0)).equals(data.subarray(0, MiB))).toBe(true);
      expect(gets()).toBe(before + 1);
    });

    it('lets such a write queue a little beyond the disk\'s bound rather than lose the block', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger, maxPendingWrites: 1 });
      await disk.ready;
      const cache = writeBehind(disk, 2 * MiB, 2 * MiB, 60_000, 2);
      await Promise.all([0, 1].map((index) => cache.read(object, index)));
      await Promise.all([2, 3].map((index) => cache.read(object, index)));
      await disk.flush();
      expect({ late: cache.lateWrites, lost: cache.lostWrites }).toEqual({ late: 2, lost: 0 });
      expect(await onDiskAfterRestart([0, 1, 2])).toEqual({ same: true, gets: 0 });
    });

    it('writes every held block at shutdown (flushDisk)', async () => {
      const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger });
      await disk.ready;
      const cache = writeBehind(disk, 16 * MiB, 8 * MiB, 60_000);
      await Promise.all([0, 1, 2, 3].map((index) => cache.read(object, index)));
      await cache.flushDisk();
      expect(cache.lateWrites).toBe(4);
      expect(await onDiskAfterRestart([0, 1, 2, 3])).toEqual({ same: true, gets: 0 });
    });
  });

  describe('when blocks wait to be written late while readers wait for the disk', () => {
    it('writes them once the reads are done, not beside them', async () => {
      const { real, pool, release } = heldReadsPool();
      try {
        const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger, pool, maxPendingWrites: 1 });
        await disk.ready;
        await build(disk).cache.read(object, 10);
        await disk.flush();
        const { cache } = build(disk); // a fresh memory tier: block 10 is on disk only
        const onDisk = cache.read(object, 10); // its read waits until released
        await Promise.all([0, 1, 2, 3].map((index) => cache.read(object, index))); // one GET: 3 writes dropped
        const settle = async () => {
          for (let turn = 0; turn < 10; turn++) {
            await disk.flush();
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        };
        await settle(); // the first block's write is done, and the late writes had every chance to start
        expect({ dropped: disk.droppedWrites, late: cache.lateWrites }).toEqual({ dropped: 3, late: 0 });
        release();
        expect((await onDisk).equals(data.subarray(10 * MiB, 11 * MiB))).toBe(true);
        await settle();
        expect(cache.lateWrites).toBe(3);
      } finally {
        release();
        await real.close();
      }
    });
  });

  describe('when a batch holds blocks on disk and a block the disk lacks', () => {
    it('starts the missing block\'s GET at once, not after the disk reads', async () => {
      const { real, pool, release } = heldReadsPool(); // a disk busy with a window of hits
      try {
        const disk = new DiskCache({ dir, maxBytes: 64 * MiB, keys, log: silentLogger, pool });
        await disk.ready;
        await build(disk).cache.read(object, 0);
        await disk.flush();
        const { cache } = build(disk); // a fresh memory tier: block 0 is on disk only
        const before = gets();
        const reads = Promise.all([cache.read(object, 0), cache.read(object, 1)]);
        for (let turn = 0; turn < 5 && gets() === before; turn++) await new Promise((resolve) => setImmediate(resolve));
        expect(gets()).toBe(before + 1);
        release();
        const [zero, one] = await reads;
        expect([zero.equals(data.subarray(0, MiB)), one.equals(data.subarray(MiB, 2 * MiB))]).toEqual([true, true]);
        expect(gets()).toBe(before + 1);
      } finally {
        release();
        await real.close();
      }
    });
  });

  describe('when the cache disk is full', () => {
    const tmpfs = () => path.join(dir, 'small');
    beforeEach(async () => {
      await fs.mkdir(tmpfs());
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', tmpfs()]);
    });
    afterEach(() => {
      execFileSync('umount', ['-l', tmpfs()]);
    });

    it('keeps serving the right bytes, uncached, and stops writing for a while', async () => {
      const disk = new DiskCache({ dir: tmpfs(), maxBytes: 64 * MiB, keys, log: silentLogger });
      const { cache } = build(disk);
      for (let index = 0; index < 6; index++) {
        expect((await cache.read(object, index)).equals(data.subarray(index * MiB, (index + 1) * MiB))).toBe(true);
        await disk.flush();
      }
      expect(disk.degraded).toBe(true);
    });

    it('finishes a shutdown flush with writes still deferred (they cannot be written)', async () => {
      const disk = new DiskCache({ dir: tmpfs(), maxBytes: 64 * MiB, keys, log: silentLogger, maxPendingWrites: 1 });
      await disk.ready;
      const { cache } = build(disk);
      await Promise.all([0, 1, 2, 3].map((index) => cache.read(object, index))); // the first write fills the disk, 3 dropped
      expect(disk.droppedWrites).toBe(3);
      await disk.flush();
      expect(disk.degraded).toBe(true);
      const outcome = await Promise.race([cache.flushDisk().then(() => 'flushed'), new Promise((resolve) => setTimeout(resolve, 2000, 'still looping'))]);
      expect(outcome).toBe('flushed');
      expect(cache.lateWrites).toBe(0);
    });
  });

  describe('when several blocks are asked for at once', () => {
    it('fetches each once, coalescing runs into GETs of at most maxRequestBytes', async () => {
      const { cache } = build();
      cache.prefetch(object, 0, 21);
      const blocks = await Promise.all(Array.from({ length: 21 }, (_, i) => cache.read(object, i)));
      expect(Buffer.concat(blocks).equals(data)).toBe(true);
      const lengths = client.requests.filter((r) => r.operation === 'getRange').map((r) => r.range?.length);
      expect(lengths).toEqual([8 * MiB, 8 * MiB, 4 * MiB + 5]);
    });

    it('hands out each block of a multi-block GET as soon as its bytes have arrived', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const streaming = Object.create(client) as MemoryObjectClient;
      streaming.getRange = async (key, range, ifMatch, parts) => {
        const result = await client.getRange(key, range, ifMatch);
        const part = (index: number) => parts?.onPart(index, result.data.subarray(index * MiB, (index + 1) * MiB));
        part(0); // the first block's bytes are in ...
        await gate; // ... the rest is still on the wire
        for (let index = 1; index * MiB < result.length; index++) part(index);
        return { ...result, data: Buffer.alloc(0) };
      };
      const streamingCache = new BlockCache(streaming, new MemoryCache(64 * MiB), undefined, options, new SidecarMetrics());
      streamingCache.prefetch(object, 0, 8);
      const firstBlock = await Promise.race([streamingCache.read(object, 0), new Promise((resolve) => setTimeout(() => resolve('waited'), 1000))]);
      expect((firstBlock as Buffer).equals(data.subarray(0, MiB))).toBe(true);
      release();
      expect((await streamingCache.read(object, 7)).equals(data.subarray(7 * MiB, 8 * MiB))).toBe(true);
    });

    it('fetches two missing neighbours asked for in the same turn with one GET (the pieces of one unaligned read)', async () => {
      const { cache } = build();
      const [a, b] = await Promise.all([cache.read(object, 4), cache.read(object, 5)]);
      expect(Buffer.concat([a, b]).equals(data.subarray(4 * MiB, 6 * MiB))).toBe(true);
      expect(client.requests.filter((r) => r.operation === 'getRange').map((r) => r.range)).toEqual([{ offset: 4 * MiB, length: 2 * MiB }]);
    });

    it('keeps each block in a buffer of its own, not a slice of the whole response', async () => {
      const { cache } = build();
      cache.prefetch(object, 0, 8);
      const blocks = await Promise.all(Array.from({ length: 8 }, (_, i) => cache.read(object, i)));
      for (const block of blocks) expect(block.buffer.byteLength).toBeLessThan(2 * MiB);
    });

    it('rejects every waiting reader when the fetch fails, and retries on the next read', async () => {
      const { cache } = build();
      client.beforeRequest = () => {
        throw new Error('boom');
      };
      await expect(Promise.all([cache.read(object, 1), cache.read(object, 1)])).rejects.toThrow('boom');
      client.beforeRequest = undefined;
      expect((await cache.read(object, 1)).equals(data.subarray(MiB, 2 * MiB))).toBe(true);
    });
  });
});
