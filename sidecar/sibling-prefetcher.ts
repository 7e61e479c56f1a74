/**
 * Read-ahead across files: a data loader walks its dataset's directories, then opens the files
 * and reads each one whole, with several workers. Every such read waits a round trip to S3,
 * although which files come next is written in the listing the loader just walked. Once files
 * of a directory have been read whole (`TRIGGER_WHOLE_READS` of them, from the start to the
 * end), opening one of its files fetches the next files of that directory ahead of the readers:
 * in listing order from the file opened, wrapping around (so in a shuffled epoch "any file of
 * the directory not yet fetched" is what comes next), and when the directory has no file left,
 * the first files of the next directory of its parent. Of each file only the first block is
 * fetched — the whole file when it fits one block — through `BlockCache.prefetch`: the cache's
 * single flight makes a reader that arrives while the block loads await the same GET.
 *
 * What keeps it from doing harm:
 * - Random readers trigger nothing: opening files, or reading parts of them, does not count;
 *   only files read whole do, and only within their own directory.
 * - Budget: at most `maxRequests` GETs in flight (readers and the sequential read-ahead keep the
 *   rest of the client's sockets), at most `maxAheadBytes` fetched and not yet opened (a share
 *   of the memory cache, so it does not push out what readers use), and, for a directory read
 *   in listing order, at most `aheadFiles` files fetched ahead of its readers. A directory whose
 *   files are opened out of order (a shuffled epoch: some open lands more than `ORDER_SLACK`
 *   files behind the furthest one opened) has no "ahead" — every file not read yet comes next,
 *   equally likely — so only the bytes bound holds it: counted in files, a shuffled reader
 *   would rarely open one of the few fetched and the budget would stay full. A file fetched
 *   ahead but not opened within `AHEAD_EXPIRY_MS` stops counting against the budget (it was not
 *   needed soon, as far as can be told) and counts as unused.
 * - Files larger than `MAX_SIBLING_BYTES` are left alone: the round trip saved is small next to
 *   their transfer, and the sequential read-ahead takes over from their first read.
 * - Versions: a file is fetched as the directory's listing describes it (key, size, ETag); the
 *   block cache keys blocks by ETag and sends If-Match, so a reader that opens a newer version
 *   never gets these bytes — a prefetch of an outdated version is wasted, nothing more. A failed
 *   GET (412: the listing is outdated; or S3 failing) pauses the directory until it is listed again.
 */
import { LRUCache } from 'lru-cache';
import type { BlockCache, ObjectVersion } from './block-cache';
import type { FileTree } from './file-tree';
import { subdirectoriesAfter, type Listing } from './metadata-cache';
import type { SidecarMetrics } from './metrics';
import { joinPath, splitPath, type PathNames } from './path-names';

export interface SiblingPrefetchOptions {
  /** Files fetched ahead and not yet opened, at most; 0 turns sibling prefetch off. */
  readonly aheadFiles: number;
  /** GETs of sibling prefetch in flight, at most. */
  readonly maxRequests: number;
  /** Bytes fetched ahead and not yet opened, at most. */
  readonly maxAheadBytes: number;
}

/**
 * 64 files ahead: 8 readers each a few files ahead with room to spare, and at most 64 MiB of
 * 1 MiB blocks. 32 GETs in flight: a small GET takes 20 ms at best and 50–100 ms from a busy
 * server, so 32 keep 300–1,500 files/s coming — more than one FUSE thread serves (16 measured
 * 276–306 files/s where 32 reached 326–409 in the benchmark, same machine) — while the S3
 * client's 64 sockets keep room for readers' own misses and the sequential read-ahead.
 */
export const DEFAULT_SIBLING_PREFETCH: Omit<SiblingPrefetchOptions, 'maxAheadBytes'> = {
  aheadFiles: 64,
  maxRequests: 32,
};

/**
 * Three files of one directory read whole: one could be anything (`cat README`), three in the
 * same directory are a reader going through it. A random reader never reads files whole.
 */
export const TRIGGER_WHOLE_READS = 3;
/** Beyond one 8 MiB GET a file's first block saves a negligible share of its read. */
export const MAX_SIBLING_BYTES = 8 * 1024 * 1024;
/** A file fetched ahead and not opened within this time was not needed soon. */
export const AHEAD_EXPIRY_MS = 30_000;
/** Parallel readers of one directory open its files slightly out of order; more is a shuffle. */
export const ORDER_SLACK = 32;
/** Directories whose reading progress is remembered (least recently used out first). */
const MAX_DIRECTORIES = 1024;
/**
 * Files of those directories, in all: the metadata cache's own bound (200,000 entries), so the
 * progress kept costs no more than the listings it follows. A directory with more files than
 * this gets no sibling prefetch.
 */
export const MAX_TRACKED_FILES = 200_000;

type FileEntry = { readonly name: string; readonly size: number; readonly etag: string };

/** What is known about reading one directory, for one version of its listing. */
interface DirectoryState {
  readonly path: string;
  readonly listing: Listing;
  readonly files: readonly FileEntry[];
  readonly position: ReadonlyMap<string, number>;
  /** 1 = opened or fetched ahead already: no candidate any more. */
  readonly handled: Uint8Array;
  remaining: number;
  /** Where the search for the next candidate starts. */
  next: number;
  wholeReads: number;
  qualified: boolean;
  /** The furthest file opened, and whether an open landed far behind it (a shuffled epoch). */
  furthest: number;
  shuffled: boolean;
  /** A GET failed (the listing may be outdated): nothing more until the listing is refreshed. */
  paused: boolean;
}

interface Ahead {
  readonly bytes: number;
  readonly since: number;
  /** Fetched for a directory read in listing order: counts against `aheadFiles`. */
  readonly ordered: boolean;
}

export interface SiblingPrefetcherDeps {
  readonly tree: FileTree;
  readonly names: PathNames;
  readonly blocks: BlockCache;
  readonly metrics: SidecarMetrics;
  readonly dataset: string;
  readonly options: SiblingPrefetchOptions;
  readonly now?: () => number;
}

export class SiblingPrefetcher {
  private readonly directories = new LRUCache<string, DirectoryState>({
    max: MAX_DIRECTORIES, maxSize: MAX_TRACKED_FILES, sizeCalculation: (state) => Math.max(1, state.files.length),
  });
  /** Next directories listed again for prefetch, and when. */
  private readonly relisted = new LRUCache<string, number>({ max: MAX_DIRECTORIES });
  /** Files fetched ahead and not yet opened, by path and ETag, oldest first. */
  private readonly ahead = new Map<string, Ahead>();
  private aheadBytes = 0;
  private aheadOrdered = 0;
  private inFlight = 0;
  private scheduled = false;
  /** The directory a reader opened a file in last: where a freed budget is spent. */
  private current: DirectoryState | undefined;
  private readonly now: () => number;
  private readonly counters: Record<'files' | 'bytes' | 'used' | 'expired' | 'failed', { value: number }>;

  constructor(private readonly deps: SiblingPrefetcherDeps) {
    this.now = deps.now ?? Date.now;
    const { metrics, dataset } = deps;
    this.counters = {
      files: metrics.siblingPrefetchFiles.series({ dataset }),
      bytes: metrics.siblingPrefetchBytes.series({ dataset }),
      used: metrics.siblingPrefetchUsed.series({ dataset }),
      expired: metrics.siblingPrefetchUnused.series({ dataset, reason: 'expired' }),
      failed: metrics.siblingPrefetchUnused.series({ dataset, reason: 'failed' }),
    };
  }

  /** A file was opened for reading, as `object` (the version its handle pins). */
  onOpen(path: string, object: ObjectVersion): void {
    const [directory, name] = splitPath(path);
    const state = this.stateOf(directory);
    if (!state) return;
    const index = state.position.get(name);
    if (index === undefined) return;
    const id = `${path}\0${object.etag}`;
    if (this.forget(id)) this.counters.used.value++;
    this.markHandled(state, index);
    if (index < state.furthest - ORDER_SLACK) state.shuffled = true;
    state.furthest = Math.max(state.furthest, index);
    if (index >= state.next) state.next = index + 1;
    this.current = state;
    if (state.qualified) this.schedule();
  }

  /** A file opened for reading was read from its start to its end. */
  onWholeRead(path: string): void {
    const [directory] = splitPath(path);
    const state = this.stateOf(directory);
    if (!state) return;
    state.wholeReads++;
    if (!state.qualified && state.wholeReads >= TRIGGER_WHOLE_READS) {
      state.qualified = true;
      this.current = state;
      this.schedule();
    }
  }

  /** The reading state of a directory whose listing is fresh; rebuilt (progress kept) when the listing was refreshed. */
  private stateOf(directory: string): DirectoryState | undefined {
    const listing = this.deps.tree.freshListing(directory);
    if (!listing) return undefined;
    const known = this.directories.get(directory);
    if (known?.listing === listing) return known;
    if (listing.size > MAX_TRACKED_FILES) return undefined;
    const files: FileEntry[] = [];
    const position = new Map<string, number>();
    for (const [name, entry] of listing) {
      if (entry.kind !== 'file') continue;
      position.set(name, files.length);
      files.push({ name, size: entry.size, etag: entry.etag });
    }
    const state: DirectoryState = {
      path: directory, listing, files, position, handled: new Uint8Array(files.length), remaining: files.length,
      next: 0, wholeReads: known?.wholeReads ?? 0, qualified: known?.qualified ?? false, paused: false,
      furthest: known?.furthest ?? -1, shuffled: known?.shuffled ?? false,
    };
    if (known) {
      // The same version of a file keeps its progress; a changed one is a candidate again.
      known.files.forEach((file, i) => {
        const at = position.get(file.name);
        if (known.handled[i] && at !== undefined && files[at]?.etag === file.etag) this.markHandled(state, at);
      });
      state.next = Math.min(known.next, files.length);
    }
    this.directories.set(directory, state);
    return state;
  }

  private markHandled(state: DirectoryState, index: number): void {
    if (state.handled[index]) return;
    state.handled[index] = 1;
    state.remaining--;
  }

  private hasBudget(state: DirectoryState): boolean {
    const { options } = this.deps;
    return this.inFlight < options.maxRequests && this.aheadBytes < options.maxAheadBytes && (state.shuffled || this.aheadOrdered < options.aheadFiles);
  }

  /** Drop a file from those fetched ahead; whether it was one. */
  private forget(id: string): boolean {
    const ahead = this.ahead.get(id);
    if (!ahead) return false;
    this.ahead.delete(id);
    this.aheadBytes -= ahead.bytes;
    if (ahead.ordered) this.aheadOrdered--;
    return true;
  }

  /** Spend the budget on the next candidates of `state`, then of the directory after it. */
  private pump(state: DirectoryState): void {
    this.expire();
    let directory: DirectoryState | undefined = state;
    let continued = false;
    while (directory && this.hasBudget(directory)) {
      const index = this.nextCandidate(directory);
      if (index !== undefined) {
        this.fetch(directory, index);
        continue;
      }
      if (continued) return;
      continued = true;
      directory = this.nextDirectory(directory);
    }
  }

  /** The next file of `state` neither opened nor fetched, from `next` on, wrapping around once. */
  private nextCandidate(state: DirectoryState): number | undefined {
    const count = state.files.length;
    if (state.paused) return undefined;
    for (let scanned = 0; state.remaining > 0 && scanned < count; scanned++) {
      if (state.next >= count) state.next = 0;
      const index = state.next++;
      if (!state.handled[index]) return index;
    }
    return undefined;
  }

  /**
   * The directory after `state` in its parent's listing, qualified on the strength of this one
   * (readers finishing a directory go on to the next). A next directory listed before whose
   * listing expired is listed again first — the LIST its first reader would send anyway.
   */
  private nextDirectory(state: DirectoryState): DirectoryState | undefined {
    if (state.path === '/') return undefined;
    const [parent, name] = splitPath(state.path);
    const siblings = this.deps.tree.freshListing(parent);
    if (!siblings) return undefined;
    const [after] = subdirectoriesAfter(siblings, name, 1);
    if (after === undefined) return undefined;
    const path = joinPath(parent, after);
    const next = this.stateOf(path);
    if (next) {
      next.qualified = true;
      return next;
    }
    // Once per directory and expiry period: a failing S3 must not turn every open into a LIST.
    const lastTry = this.relisted.get(path);
    if (this.deps.tree.listingExpired(path) && (lastTry === undefined || lastTry <= this.now() - AHEAD_EXPIRY_MS)) {
      this.relisted.set(path, this.now());
      void this.deps.tree.list(path).then(() => {
        const refreshed = this.stateOf(path);
        if (!refreshed) return;
        refreshed.qualified = true;
        this.pump(refreshed);
      }, () => undefined);
    }
    return undefined;
  }

  private fetch(state: DirectoryState, index: number): void {
    this.markHandled(state, index);
    const file = state.files[index];
    if (!file || file.size === 0 || file.size > MAX_SIBLING_BYTES) return;
    const path = joinPath(state.path, file.name);
    const object: ObjectVersion = { key: this.deps.names.keyOf(path), etag: file.etag, size: file.size };
    const { blocks } = this.deps;
    const bytes = Math.min(file.size, blocks.blockSize);
    const id = `${path}\0${file.etag}`;
    this.ahead.set(id, { bytes, since: this.now(), ordered: !state.shuffled });
    this.aheadBytes += bytes;
    if (!state.shuffled) this.aheadOrdered++;
    this.inFlight++;
    this.counters.files.value++;
    this.counters.bytes.value += bytes;
    blocks.prefetch(object, 0, 1);
    // The block's single-flight promise (prefetch registered it): tells when the GET is over. A
    // block already in memory has none, and is done already.
    (blocks.loading(object, 0) ?? Promise.resolve()).then(
      () => this.settled(),
      () => {
        state.paused = true;
        if (this.forget(id)) this.counters.failed.value++;
        this.settled();
      },
    );
  }

  private settled(): void {
    this.inFlight--;
    this.schedule();
  }

  /**
   * Spend the budget at the end of this turn of the event loop: after the block cache has sent
   * the GETs readers asked for during it (so a reader's own GET never queues behind ours), and
   * once for every open, read and completion of the turn.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.current) this.pump(this.current);
    });
  }

  /** Files fetched ahead long ago and still not opened stop holding the budget. */
  private expire(): void {
    const limit = this.now() - AHEAD_EXPIRY_MS;
    for (const [id, ahead] of this.ahead) {
      if (ahead.since > limit) return;
      this.forget(id);
      this.counters.expired.value++;
    }
  }
}
