/**
 * Blocks of objects, from the fastest tier that has them: memory, then disk, then S3.
 *
 * A block is `blockSize` bytes of one version of one object: its id is (bucket, key, ETag,
 * index), so a new version of an object never hits an old version's blocks, and S3 reads carry
 * If-Match with the ETag the file was opened with — a reader gets one version or ESTALE, never
 * a mix.
 *
 * Single flight: a block being loaded has one promise that every concurrent reader awaits, so
 * ten readers of a cold block cost one GET. Misses are gathered until the end of the current
 * turn of the event loop, then runs of consecutive missing blocks are fetched with one ranged
 * GET of up to `maxRequestBytes` each: the kernel's 128 KiB pieces of one unaligned 1 MiB read
 * arrive together and need two blocks — one GET, not two. The body is received block by block
 * (`RangeParts`), each block in a buffer of its own that the memory tier keeps as it is — and
 * whose memory is refilled with a new block once the tier evicts it (block-recycler.ts).
 */
import type { ObjectClient } from './object-client';
import type { MemoryCache } from './memory-cache';
import type { DiskCache } from './disk-cache';
import type { BlockDestination } from './block-file-pool';
import type { SidecarMetrics } from './metrics';
import { BlockRecycler } from './block-recycler';

/** One version of one object, as a file handle sees it. */
export interface ObjectVersion {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
}

export interface BlockCacheOptions {
  readonly blockSize: number;
  /** Largest ranged GET; runs of missing blocks are split into requests of at most this. */
  readonly maxRequestBytes: number;
  readonly dataset: string;
  /**
   * Write-behind: up to this many bytes of blocks fetched from S3 wait in the memory tier, and
   * are written to the disk tier once block reads pause (`WRITE_BEHIND_IDLE_MS`) or when the memory
   * tier lets them go; 0 (the default) writes every block as it arrives.
   */
  readonly writeBehindBytes?: number;
  /** How long block reads must pause before held blocks are written (default `WRITE_BEHIND_IDLE_MS`). */
  readonly writeBehindIdleMs?: number;
  /**
   * Writes an unwritten block the memory tier lets go may queue beyond the disk tier's bound
   * (default `EVICTION_EXTRA_WRITES`).
   */
  readonly evictionExtraWrites?: number;
}

/** Block reads must have paused this long before blocks held back by write-behind are written. */
export const WRITE_BEHIND_IDLE_MS = 100;
/**
 * 8 MiB beyond the disk tier's 24 pending writes for blocks the memory tier lets go unwritten:
 * each is the block's only copy, and dropping it costs a GET on its next read. In a full bench
 * run whose cold pass ran on a busy machine (run 19), the warm pass fetched 10 such blocks again.
 * The pinned blocks are memory beyond the tier's bound, so the allowance stays small.
 */
export const EVICTION_EXTRA_WRITES = 8;

/**
 * 1 MiB blocks: the kernel sends FUSE reads of at most 128 KiB (libfuse 2), so one block serves
 * eight of them from one cache lookup; a random 1 MiB read touches at most two blocks; a 64 KiB
 * file costs one small block file, not a large one.
 */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
/**
 * 8 MiB GETs for sequential runs (mountpoint-s3's part size): large enough that per-request
 * latency is amortised, small enough that a window of them keeps many connections busy.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024;

interface Pending {
  readonly promise: Promise<Buffer>;
  resolve(block: Buffer): void;
  reject(error: unknown): void;
}

interface Wanted {
  readonly index: number;
  readonly id: string;
  readonly pending: Pending;
}

/** Dropped disk writes remembered for writing later (`writeLater`): more than a memory tier holds. */
const MAX_UNWRITTEN = 4096;

export class BlockCache {
  private readonly inflight = new Map<string, Pending>();
  /**
   * Blocks not yet on disk, oldest first, with their lengths: held back by write-behind, or
   * dropped because the disk fell behind. They stay in the memory tier (`demote` skips them), and
   * are written once the disk has room again (with write-behind: once reads pause), when the
   * memory tier evicts them, or at shutdown (`flushDisk`), so a restarted sidecar or the next pod
   * on the node finds them there.
   */
  private readonly unwritten = new Map<string, number>();
  private unwrittenTotal = 0;
  /** Blocks written to disk later than they arrived, from the memory tier (statistics, tests). */
  lateWrites = 0;
  /**
   * Unwritten blocks let go before the disk took them: the memory tier evicted them while the
   * disk's queue was full, or more were waiting than `MAX_UNWRITTEN`. The next read of one
   * fetches it from S3 again.
   */
  lostWrites = 0;
  /** `options.writeBehindBytes`, 0 when not set: write-behind is off. */
  private readonly writeBehindBytes: number;
  /**
   * Block reads so far (memory hits, loads and prefetches), the count when the idle check last
   * looked, and the count at which it found reads paused (write-behind): reads are paused while
   * no read came since (`idle`).
   */
  private activity = 0;
  private activitySeen = -1;
  private pausedAt = -1;
  private idleCheck: NodeJS.Timeout | undefined;
  /** Blocks registered during this turn of the event loop, by object version, loaded at its end. */
  private readonly batch = new Map<string, { object: ObjectVersion; blocks: Wanted[] }>();
  private batchScheduled = false;
  private readonly memoryHits: { value: number };
  private readonly memoryMisses: { value: number };
  private readonly recycler: BlockRecycler;
  private readonly allocate: (size: number) => Buffer;
  /**
   * Where the disk tier decodes blocks: recycled block memory. The pool takes a destination
   * before it reads when it knows the file's size; one it then does not return (no file after
   * all, one that did not authenticate) comes back to the recycler, not to the collector.
   */
  private readonly diskDestination: BlockDestination;

  constructor(
    private readonly client: ObjectClient,
    private readonly memory: MemoryCache,
    private readonly disk: DiskCache | undefined,
    readonly options: BlockCacheOptions,
    private readonly metrics: SidecarMetrics,
  ) {
    this.writeBehindBytes = options.writeBehindBytes ?? 0;
    this.memoryHits = metrics.cacheHits.series({ dataset: options.dataset, tier: 'memory' });
    this.memoryMisses = metrics.cacheMisses.series({ dataset: options.dataset, tier: 'memory' });
    this.recycler = new BlockRecycler(options.blockSize);
    this.allocate = (size) => this.recycler.acquire(size);
    this.diskDestination = Object.assign((size: number) => this.recycler.acquire(size), { unused: (buffer: Buffer) => this.recycler.release(buffer) });
    memory.setEvictionListener((block, id) => {
      if (this.forgetUnwritten(id)) this.writeEvicted(id, block);
      this.recycler.evicted(block);
    });
  }

  /** Bytes of the blocks waiting in memory for their disk write (metrics). */
  get unwrittenBytes(): number {
    return this.unwrittenTotal;
  }

  /** Write-behind found block reads paused, and none came since. */
  private get idle(): boolean {
    return this.activity === this.pausedAt;
  }

  /** Block buffers reused instead of allocated (tests). */
  get reusedBuffers(): number {
    return this.recycler.reused;
  }

  get blockSize(): number {
    return this.options.blockSize;
  }

  blockCount(object: ObjectVersion): number {
    return Math.ceil(object.size / this.options.blockSize);
  }

  /** The block `index` of `object` (shorter than blockSize only at the end of the object). */
  read(object: ObjectVersion, index: number): Promise<Buffer> {
    this.activity++;
    const id = this.idOf(object, index);
    const hit = this.memory.get(id);
    if (hit) {
      this.memoryHits.value++;
      return Promise.resolve(hit);
    }
    const pending = this.inflight.get(id);
    if (pending) return pending.promise;
    this.memoryMisses.value++;
    return this.load(object, [index])[0] ?? Promise.reject(new Error('no block loaded'));
  }

  /**
   * Blocks [first, last] of `object`, for a read that copies them out as soon as all are here.
   * Each is pinned from its arrival until the turn after the last one's, so none is evicted and
   * refilled with another block while the read waits for the rest.
   */
  readAll(object: ObjectVersion, first: number, last: number): Promise<Buffer[]> {
    if (first === last) return this.read(object, first).then((block) => [block]);
    const pinned: Buffer[] = [];
    const loads: Array<Promise<Buffer>> = [];
    for (let index = first; index <= last; index++) {
      loads.push(
        this.read(object, index).then((block) => {
          this.recycler.pin(block);
          pinned.push(block);
          return block;
        }),
      );
    }
    void Promise.allSettled(loads).then(() => setImmediate(() => pinned.forEach((block) => this.recycler.unpin(block))));
    return Promise.all(loads);
  }

  /** The block if it is in memory now (the read path's fast lane: no promise). */
  peek(object: ObjectVersion, index: number): Buffer | undefined {
    this.activity++;
    const hit = this.memory.get(this.idOf(object, index));
    if (hit) this.memoryHits.value++;
    return hit;
  }

  /**
   * The load of block `index` while it is on its way (from disk or S3), else undefined: for code
   * that wants to know when a prefetch ends without reading the block (no hit or miss counted).
   */
  loading(object: ObjectVersion, index: number): Promise<Buffer> | undefined {
    return this.inflight.get(this.idOf(object, index))?.promise;
  }

  /** Start loading blocks [first, first + count) that are neither cached nor on their way. */
  prefetch(object: ObjectVersion, first: number, count: number): void {
    const last = Math.min(first + count, this.blockCount(object));
    const wanted: number[] = [];
    for (let index = Math.max(0, first); index < last; index++) {
      const id = this.idOf(object, index);
      if (!this.memory.has(id) && !this.inflight.has(id)) wanted.push(index);
    }
    if (wanted.length > 0) void this.load(object, wanted, false);
  }

  /** Bytes the memory tier holds at most. */
  get memoryBytes(): number {
    return this.memory.maxBytes;
  }

  /**
   * A sequential reader is done with blocks [first, end): evict them before anything else
   * (memory-cache.ts) — except those whose disk write was dropped (the disk fell behind the
   * network): the memory tier holds their only copy, so they stay in its LRU, and the next pass
   * finds them there instead of fetching them again. They take room from the scan's own demoted
   * blocks, never more than the tier holds.
   */
  demote(object: ObjectVersion, first: number, end: number): void {
    for (let index = Math.max(0, first); index < end; index++) {
      const id = this.idOf(object, index);
      if (this.unwritten.has(id)) continue;
      this.memory.demote(id);
    }
  }

  private idOf(object: ObjectVersion, index: number): string {
    return `${this.client.bucket}\0${object.key}\0${object.etag}\0${index}`;
  }

  /**
   * Register single-flight promises for `indices` (ascending) and fill them from disk or S3: at
   * once, or with this turn's batch (`gather`, for reads, whose neighbours may be asked for by
   * the next piece of the same read).
   */
  private load(object: ObjectVersion, indices: number[], gather = true): Array<Promise<Buffer>> {
    const pendings = indices.map((index) => {
      const id = this.idOf(object, index);
      let resolve!: (block: Buffer) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<Buffer>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A prefetched block nobody reads must not become an unhandled rejection.
      promise.catch(() => undefined);
      const pending: Pending = { promise, resolve, reject };
      this.inflight.set(id, pending);
      void promise.then(
        () => this.inflight.delete(id),
        () => this.inflight.delete(id),
      );
      return { index, id, pending };
    });
    if (!gather) {
      void this.fill(object, pendings);
      return pendings.map((p) => p.pending.promise);
    }
    const version = `${object.key}\0${object.etag}`;
    const gathered = this.batch.get(version);
    if (gathered) gathered.blocks.push(...pendings);
    else this.batch.set(version, { object, blocks: pendings });
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      setImmediate(() => this.loadBatch());
    }
    return pendings.map((p) => p.pending.promise);
  }

  private loadBatch(): void {
    this.batchScheduled = false;
    const batches = [...this.batch.values()];
    this.batch.clear();
    for (const { object, blocks } of batches) {
      blocks.sort((a, b) => a.index - b.index);
      void this.fill(object, blocks);
    }
  }

  private async fill(object: ObjectVersion, blocks: Wanted[]): Promise<void> {
    this.activity++;
    let missing = blocks;
    const fetches: Array<Promise<void>> = [];
    if (this.disk) {
      const disk = this.disk;
      // Blocks the disk tier surely lacks (its index says so) are fetched at once, not once the
      // batch's disk reads are done: a warm pass over a file with a few blocks missing (their
      // writes dropped while the cold pass outran the disk) waited that long for each of them.
      const lacking: Wanted[] = [];
      const maybeOnDisk: Wanted[] = [];
      for (const block of blocks) (disk.lacks(block.id) ? lacking : maybeOnDisk).push(block);
      if (lacking.length > 0) {
        this.metrics.cacheMisses.inc({ dataset: this.options.dataset, tier: 'disk' }, lacking.length);
        fetches.push(...this.runs(lacking).map((run) => this.fetch(object, run)));
      }
      // Each hit is handed out as soon as its own file is read, not when the whole batch is.
      const lookups = maybeOnDisk.map(async (block) => {
        const lookup = await disk.get(block.id, this.diskDestination).catch(() => ({ found: false as const, reason: 'missing' as const }));
        if (lookup.found) {
          this.metrics.cacheHits.inc({ dataset: this.options.dataset, tier: 'disk' });
          this.deliver(block, this.asBlock(lookup.data));
          return undefined;
        }
        this.metrics.cacheMisses.inc({ dataset: this.options.dataset, tier: 'disk', ...(lookup.reason === 'corrupt' ? { reason: 'corrupt' } : {}) });
        return block;
      });
      missing = (await Promise.all(lookups)).filter((block) => block !== undefined);
      if (this.unwritten.size > 0) this.writeLater();
    }
    await Promise.all([...fetches, ...this.runs(missing).map((run) => this.fetch(object, run))]);
  }

  /**
   * A block from the disk tier: usually already in block memory (the pool decoded it into
   * `diskDestination`'s buffer, or into a staging slot and copied it there); a block the pool
   * had to hand over in a buffer of its own (all slots busy, or a block still queued for
   * writing) is adopted, so its memory is reused once it is evicted.
   */
  private asBlock(data: Buffer): Buffer {
    this.recycler.adopt(data);
    return data;
  }

  /**
   * Hand a block fetched from S3 to the disk tier (pinned until written: its memory must not be
   * reused meanwhile), or hold it back for later while write-behind has room.
   */
  private store(id: string, block: Buffer): void {
    if (!this.disk) return;
    if (this.unwrittenTotal + block.length <= this.writeBehindBytes && !this.disk.degraded) {
      this.holdUnwritten(id, block.length);
      return;
    }
    const taken = this.disk.put(id, block);
    if (taken === 'busy') this.holdUnwritten(id, block.length);
    else if (taken) this.pinUntilWritten(block, taken);
  }

  private holdUnwritten(id: string, length: number): void {
    this.forgetUnwritten(id);
    this.unwritten.set(id, length);
    this.unwrittenTotal += length;
    if (this.unwritten.size > MAX_UNWRITTEN && this.forgetUnwritten(this.unwritten.keys().next().value as string)) this.lostWrites++;
    if (this.writeBehindBytes > 0) this.watchForIdle();
  }

  /** Remove `id` from the unwritten blocks; true if it was one. */
  private forgetUnwritten(id: string): boolean {
    const length = this.unwritten.get(id);
    if (length === undefined) return false;
    this.unwritten.delete(id);
    this.unwrittenTotal -= length;
    return true;
  }

  /**
   * Write-behind's clock: every `writeBehindIdleMs` while blocks wait, it looks whether a block
   * was read since it last looked (a memory hit too: a warm pass served from memory is as busy as
   * a cold one); once none was, the blocks are written (`writeLater`). So they are written
   * between one and two periods after the last read. The timer does not keep the process alive.
   */
  private watchForIdle(): void {
    if (this.idleCheck) return;
    this.idleCheck = setInterval(() => {
      if (this.unwritten.size === 0) {
        clearInterval(this.idleCheck);
        this.idleCheck = undefined;
        return;
      }
      if (this.activity !== this.activitySeen) {
        this.activitySeen = this.activity;
        return;
      }
      this.pausedAt = this.activity;
      this.writeLater();
    }, this.options.writeBehindIdleMs ?? WRITE_BEHIND_IDLE_MS);
    this.idleCheck.unref();
  }

  /**
   * The memory tier let an unwritten block go: write it now if the disk takes it (queueing a
   * little beyond its bound), its memory pinned meanwhile (the caller recycles it after this
   * returns, which then waits for the pin).
   */
  private writeEvicted(id: string, block: Buffer): void {
    const written = this.disk?.put(id, block, this.options.evictionExtraWrites ?? EVICTION_EXTRA_WRITES);
    if (written === 'busy') this.lostWrites++;
    if (!written || written === 'busy') return;
    this.lateWrites++;
    this.pinUntilWritten(block, written);
  }

  /** Keep `block`'s memory from reuse until the disk tier has written it, then write what waits. */
  private pinUntilWritten(block: Buffer, written: Promise<void>): void {
    this.recycler.pin(block);
    void written.then(() => {
      this.recycler.unpin(block);
      this.writeLater();
    });
  }

  /**
   * Write unwritten blocks, oldest first, while the disk has room and the memory tier still holds
   * them. They wait while the disk tier is reading (unless `evenWhileReading`, at shutdown): a
   * late write shares the disk workers with readers who are waiting now, and a warm pass that
   * ran beside the late writes of its cold pass lost up to a third of its speed. The last read of
   * a batch calls this again (`fill`), so what waited is written once the readers are done.
   * With write-behind they also wait until reads pause (`watchForIdle`): on a busy CPU, every
   * block written during a cold read is CPU taken from that read.
   */
  private writeLater(evenWhileReading = false): void {
    const disk = this.disk;
    if (!disk || (disk.reading && !evenWhileReading)) return;
    if (this.writeBehindBytes > 0 && !this.idle && !evenWhileReading) return;
    for (const id of this.unwritten.keys()) {
      if (!disk.hasRoom) return;
      this.forgetUnwritten(id);
      const block = this.memory.peek(id);
      if (!block) continue; // evicted meanwhile: the disk tier will not have it
      const written = disk.put(id, block);
      if (written === 'busy') {
        this.holdUnwritten(id, block.length); // the queue filled up after all: wait again
        return;
      }
      if (!written) continue; // cached meanwhile, or the disk filled up
      this.lateWrites++;
      this.pinUntilWritten(block, written);
    }
  }

  /**
   * Resolves once every write is done, including the dropped blocks the memory tier still holds
   * (shutdown). A disk that has filled up takes no more: what is deferred then stays unwritten.
   */
  async flushDisk(): Promise<void> {
    if (!this.disk) return;
    do {
      this.writeLater(true);
      await this.disk.flush();
    } while (this.unwritten.size > 0 && !this.disk.degraded);
  }

  /** A loaded block: into the memory tier, then to everyone waiting for it. */
  private deliver(block: Wanted, data: Buffer): void {
    this.recycler.stored(data);
    this.memory.set(block.id, data);
    block.pending.resolve(data);
  }

  /** Group ascending blocks into runs of consecutive indices no longer than one request. */
  private runs<T extends { index: number }>(blocks: T[]): T[][] {
    const perRequest = Math.max(1, Math.floor(this.options.maxRequestBytes / this.options.blockSize));
    const runs: T[][] = [];
    let current: T[] = [];
    for (const block of blocks) {
      const previous = current[current.length - 1];
      if (previous && (block.index !== previous.index + 1 || current.length >= perRequest)) {
        runs.push(current);
        current = [];
      }
      current.push(block);
    }
    if (current.length > 0) runs.push(current);
    return runs;
  }

  /**
   * One ranged GET for a run of blocks, received block by block: each block arrives in a buffer
   * of its own and is handed out as soon as it is complete, not when the whole range is — a
   * reader waiting for the first block of an 8 MiB request gets it after 1 MiB.
   */
  private async fetch(object: ObjectVersion, run: Wanted[]): Promise<void> {
    const first = run[0];
    if (!first) return;
    const { blockSize } = this.options;
    const offset = first.index * blockSize;
    const length = Math.min(run.length * blockSize, object.size - offset);
    let next = 0;
    const onPart = (index: number, block: Buffer): void => {
      // After a retry the parts start over: those already handed out are skipped.
      if (index !== next) return;
      const wanted = run[next];
      if (!wanted) return;
      next++;
      this.store(wanted.id, block);
      this.deliver(wanted, block);
    };
    try {
      const result = await this.client.getRange(object.key, { offset, length }, object.etag, { size: blockSize, onPart, allocate: this.allocate });
      if (result.length !== length || next !== run.length) {
        throw new Error(`${object.key}: got ${result.length} bytes at ${offset}, wanted ${length}`);
      }
    } catch (error) {
      for (const block of run.slice(next)) block.pending.reject(error);
    }
  }
}
