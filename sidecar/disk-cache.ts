/**
 * The second cache tier: blocks as files in the dataset's cache directory on the node, bounded
 * in bytes, least recently used evicted first, surviving a restart of the sidecar.
 *
 * - Layout (docs/contract.md): `<dir>/<2 hex>/<48 hex>.blk`; files being written are
 *   `.<name>.<random>.tmp` in the same folder and renamed into place, so a reader or a crash
 *   never sees half a block under a `.blk` name (and a torn file would fail authentication).
 * - The index (name → size, in LRU order) lives in memory; on start it is rebuilt by scanning
 *   the directory in the background, oldest mtime first, so mounting is not delayed. Lookups
 *   read the file directly, so blocks are served before the scan ends.
 * - The node's janitor may delete any `.blk` at any moment: a missing file is a miss.
 * - Recency for the janitor: a served block's mtime is bumped, at most once a minute per file.
 * - Disk full (ENOSPC/EDQUOT) → stop writing for a while and serve reads uncached.
 * - Writes are best-effort and bounded: when too many are queued, new ones are dropped.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BLOCK_FILE_OVERHEAD, blockFileName, type BlockKeys } from './block-file';
import { BlockFileError, sharedBlockFilePool, type BlockDestination, type BlockFilePool } from './block-file-pool';
import { ConcurrencyLimit } from '../common/concurrency-limit';
import { CacheFolderWatch } from './cache-folder-watch';
import type { Logger } from './logger';

export interface DiskCacheOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly keys: BlockKeys;
  readonly log: Logger;
  /** How long writing stays off after the disk filled up. */
  readonly fullBackoffMs?: number;
  /** Writes waiting or running beyond which new blocks are not cached. */
  readonly maxPendingWrites?: number;
  /** Worker threads that encode, write, read and decode block files (default: the process's pool). */
  readonly pool?: BlockFilePool;
}

export type DiskLookup = { found: true; data: Buffer } | { found: false; reason: 'missing' | 'corrupt' };

interface IndexEntry {
  size: number;
  touched: number;
}

const TOUCH_INTERVAL_MS = 60_000;
const DEFAULT_FULL_BACKOFF_MS = 30_000;
/**
 * 24 blocks (24 MiB at most): a sequential reader at network speed outruns a slow disk only by
 * this much before blocks go uncached. A block waiting here is pinned, and a scan's blocks leave
 * the memory tier moments after they are read (demoted, memory-cache.ts), so what waits here is
 * memory beyond the tier's bound. A dropped block stays in the memory tier instead (it is not
 * demoted, and is written later: `BlockCache.unwritten`), so the next pass still finds it. Measured on the 2-core bench
 * machine, where a cold 1 GiB read outruns the two disk workers by a few hundred blocks: with 64
 * the peak RSS went 20 MiB past the stated bound in two of three runs, and the warm pass fetched
 * the dropped blocks again; with 24 the peak stayed at 725-746 MiB for a 512 MiB tier, the cold
 * read was faster (the disk workers took less of the CPU) and the warm pass fetched nothing.
 */
const DEFAULT_MAX_PENDING_WRITES = 24;
/** Block names remembered (`relativeOf`): more than a read-ahead window's lookups and writes. */
const RECENT_NAMES = 1024;
/** Writes handed to the worker pool at once (each worker does one at a time; the rest wait here). */
const MAX_PARALLEL_WRITES = 4;
/**
 * Block reads handed to the worker pool at once. Each holds its plaintext (1 MiB) until the
 * reader takes it; a 64 MiB prefetch window of disk hits all at once held ~200 MiB of
 * short-lived buffers on top of the memory tier (peak RSS 1.2 GiB with a 512 MiB tier), so the
 * rest of a window waits here, a few blocks ahead of the reader.
 */
const MAX_PARALLEL_READS = 8;

export class DiskCache {
  /** Relative file path → entry, oldest first (a Map keeps insertion order). */
  private readonly index = new Map<string, IndexEntry>();
  private totalBytes = 0;
  /** Blocks not cached because the write queue was full. */
  droppedWrites = 0;
  private fullUntil = 0;
  /** Blocks queued or being written, readable before they reach the disk. */
  private readonly queued = new Map<string, Buffer>();
  private readonly writes = new ConcurrencyLimit(MAX_PARALLEL_WRITES);
  private readonly reads = new ConcurrencyLimit(MAX_PARALLEL_READS);
  private readonly createdFolders = new Set<string>();
  /** Resolves when the start-up scan has rebuilt the index. */
  readonly ready: Promise<void>;
  /** The index is complete (the scan is done) and kept so by `watch`: a block it lacks is not on disk. */
  private indexComplete = false;
  private readonly watch: CacheFolderWatch;

  private readonly pool: BlockFilePool;
  private readonly maxPendingWrites: number;
  private toldPageCache = false;
  private readonly recentNames = new Map<string, string>();

  constructor(private readonly options: DiskCacheOptions) {
    this.pool = options.pool ?? sharedBlockFilePool();
    this.maxPendingWrites = options.maxPendingWrites ?? DEFAULT_MAX_PENDING_WRITES;
    this.watch = new CacheFolderWatch(
      options.dir,
      (relative) => void this.learn(relative),
      (error) => options.log.warn('cannot watch the cache folder; every lookup goes to the disk', { dir: options.dir, error }),
    );
    this.ready = this.scan().catch((error: unknown) => options.log.warn('disk cache scan failed; starting empty', { dir: options.dir, error }));
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get files(): number {
    return this.index.size;
  }

  /** Where the block `id` lives (for tests and tools). */
  fileOf(id: string): string {
    return path.join(this.options.dir, this.relativeOf(id));
  }

  /**
   * True when this tier surely does not hold block `id`: its index is complete and lacks it, and
   * no write of it is waiting. No worker is asked; false means "maybe", for `get` to find out.
   */
  lacks(id: string): boolean {
    const relative = this.relativeOf(id);
    return !this.queued.has(relative) && this.surelyAbsent(relative);
  }

  /** Not in a complete index: not on disk (cache-folder-watch.ts), no need to ask a worker. */
  private surelyAbsent(relative: string): boolean {
    return this.indexComplete && this.watch.healthy && !this.index.has(relative);
  }

  /** Whether a write would be taken now with room to spare (half the queue free, disk not full). */
  get hasRoom(): boolean {
    return Date.now() >= this.fullUntil && this.writes.pending < this.maxPendingWrites / 2;
  }

  /** Whether block reads are running or waiting: a reader is waiting for this tier now. */
  get reading(): boolean {
    return this.reads.pending > 0;
  }

  /** The block `id` if this tier has it; read into `into`'s buffer when given (block-file-pool.ts). */
  async get(id: string, into?: BlockDestination): Promise<DiskLookup> {
    const relative = this.relativeOf(id);
    const waiting = this.queued.get(relative);
    if (waiting) return { found: true, data: waiting };
    if (this.surelyAbsent(relative)) return { found: false, reason: 'missing' };
    return this.reads.run(() => this.readBlock(id, relative, into));
  }

  private async readBlock(id: string, relative: string, into: BlockDestination | undefined): Promise<DiskLookup> {
    const file = path.join(this.options.dir, relative);
    const result = await this.pool
      .read({ file, size: this.index.get(relative)?.size ?? -1, key: this.options.keys.encryption, id }, into)
      .catch(() => ({ status: 'missing' as const }));
    if (result.status === 'missing') {
      this.forget(relative);
      return { found: false, reason: 'missing' };
    }
    if (result.status === 'corrupt') {
      this.options.log.warn('cached block failed authentication; refetching', { file });
      this.forget(relative);
      return { found: false, reason: 'corrupt' };
    }
    this.touch(relative, file, result.fileBytes);
    return { found: true, data: result.data };
  }

  /**
   * Cache a block in the background. When the block is taken, returns a promise that settles
   * once this tier no longer reads `data` (written or failed): until then its memory must not be
   * reused. 'busy' when it was dropped because too many writes wait (the caller may try again
   * later); undefined when it is not wanted (already cached or queued, or the disk is full).
   * `extraPending` lets this write queue beyond the bound by that many (a block whose only copy
   * is about to leave memory).
   */
  put(id: string, data: Buffer, extraPending = 0): Promise<void> | 'busy' | undefined {
    if (Date.now() < this.fullUntil) return undefined;
    const relative = this.relativeOf(id);
    if (this.index.has(relative) || this.queued.has(relative)) return undefined;
    if (this.writes.pending >= this.maxPendingWrites + extraPending) {
      this.droppedWrites++;
      return 'busy';
    }
    this.queued.set(relative, data);
    // `write` reports its own failures; whatever else happens, the promise settles without rejecting.
    return this.writes
      .run(() => this.write(id, relative, data))
      .catch((error: unknown) => this.options.log.warn('could not cache a block', { id, error }))
      .finally(() => this.queued.delete(relative));
  }

  /** Resolves once every queued write has finished (tests, shutdown). */
  async flush(): Promise<void> {
    await this.writes.idle();
  }

  get degraded(): boolean {
    return Date.now() < this.fullUntil;
  }

  private async write(id: string, relative: string, data: Buffer): Promise<void> {
    if (Date.now() < this.fullUntil || this.index.has(relative)) return;
    const encodedLength = data.length + BLOCK_FILE_OVERHEAD;
    if (encodedLength > this.options.maxBytes) return;
    // Reserve before the first await, so parallel writes cannot overshoot the bound together.
    const evicted = this.evictFor(encodedLength);
    this.totalBytes += encodedLength;
    await evicted;
    let stored = false;
    const file = path.join(this.options.dir, relative);
    const folder = path.dirname(file);
    try {
      await this.pool.write({ file, ensureFolder: !this.createdFolders.has(folder), key: this.options.keys.encryption, id, data });
      this.createdFolders.add(folder);
      stored = true;
      this.tellPageCache();
    } catch (error) {
      const code = error instanceof BlockFileError ? error.code : undefined;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        const backoff = this.options.fullBackoffMs ?? DEFAULT_FULL_BACKOFF_MS;
        if (Date.now() >= this.fullUntil) this.options.log.warn('cache disk full; serving reads uncached for a while', { dir: this.options.dir, backoffMs: backoff });
        this.fullUntil = Date.now() + backoff;
      } else if (code === 'ENOENT') {
        this.createdFolders.delete(folder); // the janitor removed the folder; make it again next time
      } else {
        this.options.log.warn('could not cache a block', { file, error });
      }
    } finally {
      this.totalBytes -= encodedLength;
      if (stored) this.remember(relative, encodedLength);
    }
  }

  /** Say once that blocks go through the page cache because the file system refused direct I/O. */
  private tellPageCache(): void {
    if (this.toldPageCache) return;
    const code = this.pool.directRefusedIn(this.options.dir);
    if (code === undefined) return;
    this.toldPageCache = true;
    this.options.log.info('the cache folder refuses direct I/O; block files go through the page cache', { dir: this.options.dir, code });
  }

  /**
   * Delete least recently used blocks until `incoming` more bytes fit under the bound. The index
   * and byte count change synchronously; only the unlinks are awaited.
   */
  private evictFor(incoming: number): Promise<unknown> {
    const victims: string[] = [];
    for (const [relative, entry] of this.index) {
      if (this.totalBytes + incoming <= this.options.maxBytes) break;
      victims.push(relative);
      this.totalBytes -= entry.size;
    }
    for (const relative of victims) this.index.delete(relative);
    return Promise.all(victims.map((relative) => fs.unlink(path.join(this.options.dir, relative)).catch(() => undefined)));
  }

  private remember(relative: string, size: number): void {
    const existing = this.index.get(relative);
    if (existing) {
      this.totalBytes -= existing.size;
      this.index.delete(relative);
    }
    this.index.set(relative, { size, touched: Date.now() });
    this.totalBytes += size;
  }

  /** A block file may have appeared (written by us or another process): index it if it is there. */
  private async learn(relative: string): Promise<void> {
    if (this.index.has(relative) || this.queued.has(relative)) return;
    const stat = await fs.stat(path.join(this.options.dir, relative)).catch(() => undefined);
    if (stat?.isFile() && !this.index.has(relative)) this.remember(relative, stat.size);
  }

  /** Stop watching the folder (tests, shutdown); lookups go to the workers from then on. */
  close(): void {
    this.watch.close();
  }

  private forget(relative: string): void {
    const entry = this.index.get(relative);
    if (!entry) return;
    this.index.delete(relative);
    this.totalBytes -= entry.size;
  }

  private touch(relative: string, file: string, size: number): void {
    const entry = this.index.get(relative);
    const now = Date.now();
    if (!entry) {
      this.remember(relative, size);
      return;
    }
    this.index.delete(relative);
    this.index.set(relative, entry);
    if (now - entry.touched < TOUCH_INTERVAL_MS) return;
    entry.touched = now;
    const when = new Date(now);
    void fs.utimes(file, when, when).catch(() => undefined);
  }

  /**
   * A block's path in the folder. Each block's name is asked for twice in a row (the lookup that
   * misses, then the write of the fetched block), and an HMAC per call was ~3 % of the main
   * thread in a cold read, so the last names are kept.
   */
  private relativeOf(id: string): string {
    let relative = this.recentNames.get(id);
    if (relative !== undefined) return relative;
    const name = blockFileName(this.options.keys, id);
    relative = path.join(name.slice(0, 2), name);
    if (this.recentNames.size >= RECENT_NAMES) this.recentNames.clear();
    this.recentNames.set(id, relative);
    return relative;
  }

  /** Rebuild the index from the files on disk, oldest first; remove leftovers of torn writes. */
  private async scan(): Promise<void> {
    const started = Date.now();
    await fs.mkdir(this.options.dir, { recursive: true });
    // Watch before listing, so that a file written meanwhile is seen by one or the other.
    this.watch.start();
    const found: Array<{ relative: string; size: number; mtime: number }> = [];
    for (const folder of await fs.readdir(this.options.dir, { withFileTypes: true })) {
      if (!folder.isDirectory()) continue;
      this.watch.folder(folder.name);
      const folderPath = path.join(this.options.dir, folder.name);
      for (const name of await fs.readdir(folderPath).catch(() => [] as string[])) {
        const file = path.join(folderPath, name);
        if (!name.endsWith('.blk') && !name.endsWith('.tmp')) continue;
        const stat = await fs.stat(file).catch(() => undefined);
        if (!stat?.isFile()) continue;
        // A .tmp from before this process started is a write torn by a crash; ours are in flight.
        if (name.endsWith('.tmp')) {
          if (stat.mtimeMs < started - 1000) await fs.unlink(file).catch(() => undefined);
          continue;
        }
        found.push({ relative: path.join(folder.name, name), size: stat.size, mtime: stat.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    // Blocks found on disk are older than anything this process touched while scanning.
    const touched = [...this.index];
    const touchedNames = new Set(this.index.keys());
    this.index.clear();
    for (const file of found) {
      if (touchedNames.has(file.relative)) continue;
      this.index.set(file.relative, { size: file.size, touched: file.mtime });
      this.totalBytes += file.size;
    }
    for (const [relative, entry] of touched) this.index.set(relative, entry);
    if (this.totalBytes > this.options.maxBytes) await this.evictFor(0);
    this.indexComplete = true;
    this.options.log.info('disk cache ready', { dir: this.options.dir, files: this.index.size, bytes: this.totalBytes, crypto: this.pool.crypto });
  }
}
