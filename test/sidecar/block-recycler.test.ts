import { setImmediate as nextTurn } from 'node:timers/promises';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockCache, type ObjectVersion } from '../../sidecar/block-cache';
import { BLOCK_FILE_OVERHEAD, deriveBlockKeys } from '../../sidecar/block-file';
import type { BlockDestination, BlockFilePool, BlockRead, BlockReadResult, BlockWrite } from '../../sidecar/block-file-pool';
import { DiskCache } from '../../sidecar/disk-cache';
import { silentLogger } from '../../sidecar/logger';
import { BlockRecycler } from '../../sidecar/block-recycler';
import { MemoryCache } from '../../sidecar/memory-cache';
import { MemoryObjectClient } from '../../sidecar/memory-object-client';
import { SidecarMetrics } from '../../sidecar/metrics';
import type { ByteRange, RangeParts, RangeResult } from '../../sidecar/object-client';
import { MiB, patterned } from './handlers-fixture';

const SIZE = 1024;

describe('BlockRecycler', () => {
  describe('when a block it made is evicted', () => {
    it('hands its memory out again, but only from the next turn of the event loop', async () => {
      const recycler = new BlockRecycler(SIZE);
      const block = recycler.acquire(SIZE);
      recycler.evicted(block);
      expect(recycler.acquire(SIZE).buffer).not.toBe(block.buffer);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).toBe(block.buffer);
      expect(recycler.reused).toBe(1);
    });
  });

  describe('when it makes a block', () => {
    it('puts a full-size one in shared memory (the disk workers encrypt it in place) and any other in ordinary memory', () => {
      const recycler = new BlockRecycler(SIZE);
      const full = recycler.acquire(SIZE);
      const short = recycler.acquire(SIZE - 1);
      expect(full.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect([full.byteOffset, full.length, full.buffer.byteLength]).toEqual([0, SIZE, SIZE]);
      expect(short.buffer).not.toBeInstanceOf(SharedArrayBuffer);
      expect(short.length).toBe(SIZE - 1);
    });
  });

  describe('when a block it made is released unused (a disk read that found nothing)', () => {
    it('hands its memory out again at once, and only once', () => {
      const recycler = new BlockRecycler(SIZE);
      const block = recycler.acquire(SIZE);
      recycler.release(block);
      recycler.release(Buffer.from(block.buffer, 0, SIZE));
      expect(recycler.acquire(SIZE).buffer).toBe(block.buffer);
      expect(recycler.acquire(SIZE).buffer).not.toBe(block.buffer);
      expect(recycler.reused).toBe(1);
    });

    it('ignores a buffer it did not make, a short one, and a pinned one', () => {
      const recycler = new BlockRecycler(SIZE);
      const pinned = recycler.acquire(SIZE);
      recycler.pin(pinned);
      recycler.release(pinned);
      recycler.release(Buffer.from(new SharedArrayBuffer(SIZE)));
      recycler.release(recycler.acquire(SIZE - 1));
      expect(recycler.reuse(SIZE)).toBeUndefined();
    });
  });

  describe('when a block is pinned while it is evicted', () => {
    it('is reused only after its last pin is gone', async () => {
      const recycler = new BlockRecycler(SIZE);
      const block = recycler.acquire(SIZE);
      recycler.pin(block);
      recycler.pin(block);
      recycler.evicted(block);
      recycler.unpin(block);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).not.toBe(block.buffer);
      recycler.unpin(block);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).toBe(block.buffer);
    });

    it('is not reused when it was stored again before the pin went', async () => {
      const recycler = new BlockRecycler(SIZE);
      const block = recycler.acquire(SIZE);
      recycler.pin(block);
      recycler.evicted(block);
      recycler.stored(block);
      recycler.unpin(block);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).not.toBe(block.buffer);
    });
  });

  describe('when a block is stored again before its reuse', () => {
    it('takes it back out of the quarantine', async () => {
      const recycler = new BlockRecycler(SIZE);
      const block = recycler.acquire(SIZE);
      recycler.evicted(block);
      recycler.stored(block);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).not.toBe(block.buffer);
      expect(recycler.reused).toBe(0);
    });
  });

  describe('when it adopts a buffer made elsewhere (disk-tier plaintext)', () => {
    it('reuses a whole full-size one after its eviction', async () => {
      const recycler = new BlockRecycler(SIZE);
      const plaintext = Buffer.alloc(SIZE);
      recycler.adopt(plaintext);
      recycler.evicted(plaintext);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).toBe(plaintext.buffer);
    });

    it('ignores a view into a larger buffer', async () => {
      const recycler = new BlockRecycler(SIZE);
      const view = Buffer.alloc(2 * SIZE).subarray(0, SIZE);
      recycler.adopt(view);
      recycler.evicted(view);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).not.toBe(view.buffer);
    });
  });

  describe('when a buffer is not one of its own full-size blocks', () => {
    it.each([
      ['a buffer it did not make', () => Buffer.alloc(SIZE)],
      ['a shorter block (the end of an object)', (r: BlockRecycler) => r.acquire(SIZE - 1)],
      ['a slice of a block', (r: BlockRecycler) => r.acquire(SIZE).subarray(1)],
    ])('never reuses %s', async (_name, make) => {
      const recycler = new BlockRecycler(SIZE);
      const buffer = make(recycler);
      recycler.evicted(buffer);
      await nextTurn();
      expect(recycler.acquire(SIZE).buffer).not.toBe(buffer.buffer);
      expect(recycler.reused).toBe(0);
    });
  });

  describe('when more blocks are evicted than it keeps', () => {
    it('keeps at most maxFree of them', async () => {
      const recycler = new BlockRecycler(SIZE, 2);
      for (const block of [recycler.acquire(SIZE), recycler.acquire(SIZE), recycler.acquire(SIZE)]) recycler.evicted(block);
      await nextTurn();
      const again = new Set([recycler.acquire(SIZE).buffer, recycler.acquire(SIZE).buffer, recycler.acquire(SIZE).buffer]);
      expect(again.size).toBe(3);
      expect(recycler.reused).toBe(2);
    });
  });
});

/** A client whose GETs of chosen blocks wait until released. */
class GatedClient extends MemoryObjectClient {
  private readonly gates = new Map<number, { promise: Promise<void>; open(): void }>();
  hold(offset: number): void {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gates.set(offset, { promise, open });
  }
  release(offset: number): void {
    this.gates.get(offset)?.open();
  }
  override async getRange(key: string, range: ByteRange, ifMatch?: string, parts?: RangeParts): Promise<RangeResult> {
    await this.gates.get(range.offset)?.promise;
    return super.getRange(key, range, ifMatch, parts);
  }
}

describe('BlockCache with recycled block memory', () => {
  const blocks = 40;
  const data = patterned(blocks * MiB);
  const build = (memoryBlocks: number) => {
    const client = new GatedClient('bucket');
    const info = client.seed('obj', data);
    const object: ObjectVersion = { key: 'obj', etag: info.etag, size: info.size };
    const cache = new BlockCache(client, new MemoryCache(memoryBlocks * MiB), undefined, { blockSize: MiB, maxRequestBytes: MiB, dataset: 't' }, new SidecarMetrics());
    return { client, object, cache };
  };
  const expected = (index: number) => data.subarray(index * MiB, (index + 1) * MiB);

  describe('when a read holds one block while it waits for the next, and other reads churn the tier', () => {
    it('still gets the bytes of the block it holds, not those of a block that reused its memory', async () => {
      const { client, object, cache } = build(4);
      await cache.read(object, 0); // block 0 in memory
      client.hold(MiB); // block 1 will wait
      const read = cache.readAll(object, 0, 1);
      await nextTurn();
      // Twenty other blocks pass through a 4-block tier: block 0 is evicted, its memory free to reuse.
      for (let index = 2; index < 22; index++) {
        await cache.read(object, index);
        await nextTurn();
      }
      expect(cache.reusedBuffers).toBeGreaterThan(0);
      client.release(MiB);
      const [zero, one] = await read;
      expect(zero?.equals(expected(0))).toBe(true);
      expect(one?.equals(expected(1))).toBe(true);
    });
  });

  describe('when an object larger than the tier is read through twice, block by block', () => {
    it('returns every block right and reuses block memory', async () => {
      const { object, cache } = build(6);
      for (let pass = 0; pass < 2; pass++) {
        for (let index = 0; index < blocks; index++) {
          const [block] = await cache.readAll(object, index, index);
          expect(block?.equals(expected(index))).toBe(true);
          cache.prefetch(object, index + 1, 3);
          await nextTurn(); // as network I/O would: freed memory becomes reusable between turns
        }
      }
      expect(cache.reusedBuffers).toBeGreaterThan(blocks);
    });
  });

  describe('when the disk tier writes a block slowly while the memory tier churns', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'recycler-disk-'));
    });
    afterEach(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });
    /** A disk tier over `pool` in `dir`, the object in a gated client, and block caches (4 blocks of memory) over both. */
    const diskBacked = (pool: BlockFilePool) => {
      const keys = deriveBlockKeys('', { endpoint: 'http://test', bucket: 'bucket' });
      const disk = new DiskCache({ dir, maxBytes: 1024 * MiB, keys, log: silentLogger, pool, maxPendingWrites: 1000 });
      const client = new GatedClient('bucket');
      const info = client.seed('obj', data);
      const object: ObjectVersion = { key: 'obj', etag: info.etag, size: info.size };
      const cacheOver = () => new BlockCache(client, new MemoryCache(4 * MiB), disk, { blockSize: MiB, maxRequestBytes: MiB, dataset: 't' }, new SidecarMetrics());
      return { disk, client, object, cacheOver };
    };

    it('writes the bytes the block had when it arrived, not those of a block that reused its memory', async () => {
      // A pool whose write of block 0 waits for a gate before it reads the block (as a busy disk
      // tier's writes do); the other blocks are written at once and recycled.
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const files = new Map<string, Buffer>();
      const pool = {
        async write(request: BlockWrite): Promise<number> {
          if (request.id.endsWith('\u00000')) await gate;
          files.set(request.file, Buffer.from(request.data));
          return request.data.length;
        },
        async read(request: BlockRead): Promise<BlockReadResult> {
          const data = files.get(request.file);
          return data ? { status: 'found', data: Buffer.from(data), fileBytes: data.length } : { status: 'missing' };
        },
        async close(): Promise<void> {},
      } as unknown as BlockFilePool;
      const { disk, client, object, cacheOver } = diskBacked(pool);
      const cache = cacheOver();
      for (let index = 0; index < 24; index++) {
        await cache.read(object, index);
        await nextTurn();
      }
      expect(cache.reusedBuffers).toBeGreaterThan(0);
      open();
      await disk.flush();
      // A new cache over the same disk tier: every block comes from what was written.
      const again = cacheOver();
      const gets = client.count('getRange');
      for (let index = 0; index < 24; index++) expect((await again.read(object, index)).equals(expected(index))).toBe(true);
      expect(client.count('getRange')).toBe(gets);
    });

    it('reuses the block a disk read took for a file that had gone (the pool hands it back), for the fetch from S3 that follows', async () => {
      const files = new Map<string, Buffer>();
      const handed: Buffer[] = [];
      const pool = {
        async write(request: BlockWrite): Promise<number> {
          files.set(request.file, Buffer.from(request.data));
          return request.data.length + BLOCK_FILE_OVERHEAD;
        },
        // As the real pool does: the index knows the file's size, so the destination is taken
        // first; then the file is gone, and the destination goes to `unused`.
        async read(request: BlockRead, into?: BlockDestination): Promise<BlockReadResult> {
          if (into && request.size >= 0) {
            const taken = into(request.size - BLOCK_FILE_OVERHEAD);
            handed.push(taken);
            into.unused?.(taken);
          }
          return { status: 'missing' };
        },
        async close(): Promise<void> {},
      } as unknown as BlockFilePool;
      const { disk, object, cacheOver } = diskBacked(pool);
      await cacheOver().read(object, 0);
      await disk.flush();
      const again = cacheOver();
      const block = await again.read(object, 0);
      expect(block.equals(expected(0))).toBe(true);
      expect(handed).toHaveLength(1);
      expect(block.buffer).toBe(handed[0]?.buffer);
      expect(again.reusedBuffers).toBe(1);
    });
  });
});
