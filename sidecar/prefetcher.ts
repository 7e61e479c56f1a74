/**
 * Read-ahead for one open file. A reader that keeps reading where it stopped is sequential:
 * blocks ahead of it are fetched in parallel before it asks, in a window that starts small (a
 * file read once from the start need not cost much) and doubles with every block the reader
 * consumes, up to a cap. A jump elsewhere resets the window and fetches only the blocks asked
 * for, so random readers (1 MiB records, image lookups) cause no wasted transfer.
 *
 * The kernel delivers its own readahead as concurrent requests that may arrive slightly out of
 * order, so "where it stopped" allows a few blocks of slack once the reader is sequential.
 *
 * When does a reader become sequential? A read from the start of the file, or a run of reads,
 * each starting within what the run already covered (plus half a block, for pieces arriving out
 * of order), that has crossed two block boundaries in order. The kernel cuts one 1 MiB read into
 * eight 128 KiB pieces that look exactly like a sequential reader; but a 1 MiB read crosses at
 * most one boundary, so random 1 MiB reads no longer open a window each (the benchmark measured
 * 2.7× the bytes read fetched before this rule).
 *
 * A sequential reader of an object larger than half the memory tier also tells the cache which
 * blocks it has read through (`BlockCache.demote`, a few blocks behind it, since the kernel's
 * pieces arrive slightly out of order), so the scan evicts its own used blocks rather than
 * everything else — and a second pass finds the part that fitted (memory-cache.ts).
 */
import type { BlockCache, ObjectVersion } from './block-cache';

export interface PrefetchOptions {
  readonly initialWindowBytes: number;
  readonly maxWindowBytes: number;
}

/**
 * 2 MiB to start (two blocks: one being read, one ahead); 64 MiB at most — eight 8 MiB GETs in
 * flight, which is what one S3 prefix needs to fill a ~1 GB/s link at 50 ms first-byte latency
 * (mountpoint-s3 goes further, to 2 GiB, with a larger memory budget than a sidecar has).
 */
export const DEFAULT_PREFETCH: PrefetchOptions = {
  initialWindowBytes: 2 * 1024 * 1024,
  maxWindowBytes: 64 * 1024 * 1024,
};

/** Distance (in blocks) from the last read still counted as sequential. */
const SLACK_BLOCKS = 4;
/** How far behind the reader blocks are demoted: past the slack, so a late piece still hits. */
const DEMOTE_LAG_BLOCKS = 2 * SLACK_BLOCKS;

export class Prefetcher {
  /** End of the furthest read of the current run (-1 before the first read). */
  private lastEnd = -1;
  /** Where the current run of in-order reads started. */
  private runStart = 0;
  private sequential = false;
  private windowBlocks = 0;
  /** Blocks before this index have been requested (exclusive frontier). */
  private frontier = 0;
  private lastBlock = -1;
  private readonly initialBlocks: number;
  private readonly maxBlocks: number;
  /** Blocks per GET the cache makes of a run. */
  private readonly requestBlocks: number;
  /** Whether a sequential pass over this object would wash out the memory tier. */
  private readonly scanning: boolean;
  /** Blocks of the current run before this index have been demoted. */
  private demotedUpTo = 0;

  constructor(
    private readonly cache: BlockCache,
    private readonly object: ObjectVersion,
    options: PrefetchOptions,
  ) {
    this.initialBlocks = Math.max(1, Math.ceil(options.initialWindowBytes / cache.blockSize));
    this.maxBlocks = Math.max(this.initialBlocks, Math.ceil(options.maxWindowBytes / cache.blockSize));
    this.requestBlocks = Math.max(1, Math.floor(cache.options.maxRequestBytes / cache.blockSize));
    this.scanning = object.size > cache.memoryBytes / 2;
  }

  /** The current read-ahead window in bytes (0 while the reader is not sequential). */
  get windowBytes(): number {
    return this.sequential ? this.windowBlocks * this.cache.blockSize : 0;
  }

  /** Note a read of [offset, offset + length) and start fetching what a sequential reader needs next. */
  onRead(offset: number, length: number): void {
    const { blockSize } = this.cache;
    const end = offset + length;
    const block = Math.floor(offset / blockSize);
    if (this.sequential && Math.abs(offset - this.lastEnd) <= SLACK_BLOCKS * blockSize) {
      if (block > this.lastBlock) this.windowBlocks = Math.min(this.maxBlocks, this.windowBlocks * 2);
      this.lastEnd = Math.max(this.lastEnd, end);
      this.lastBlock = Math.max(this.lastBlock, block);
    } else {
      const continues = this.lastEnd >= 0 && offset >= this.runStart && offset <= this.lastEnd + blockSize / 2;
      if (continues) {
        this.lastEnd = Math.max(this.lastEnd, end);
      } else {
        this.runStart = offset;
        this.lastEnd = end;
      }
      const crossed = Math.floor((this.lastEnd - 1) / blockSize) - Math.floor(this.runStart / blockSize);
      this.sequential = this.runStart === 0 || crossed >= 2;
      this.windowBlocks = this.sequential ? this.initialBlocks : 0;
      this.lastBlock = block;
      this.frontier = block;
      this.demotedUpTo = block;
    }
    if (!this.sequential) return;

    const done = this.lastBlock - DEMOTE_LAG_BLOCKS;
    if (this.scanning && done > this.demotedUpTo) {
      this.cache.demote(this.object, this.demotedUpTo, done);
      this.demotedUpTo = done;
    }

    const endBlock = Math.ceil(end / blockSize);
    const target = Math.min(endBlock + this.windowBlocks, this.cache.blockCount(this.object));
    // Refill as soon as one full-size request fits (so the number of GETs in flight stays near
    // the window, as a parallel downloader's would), never in pieces smaller than that.
    const start = Math.max(this.frontier, endBlock);
    const batch = Math.max(1, Math.min(Math.floor(this.windowBlocks / 2), this.requestBlocks));
    if (target - start >= batch || start < endBlock + 1) {
      if (target > start) this.cache.prefetch(this.object, start, target - start);
      this.frontier = Math.max(this.frontier, target);
    }
  }
}
