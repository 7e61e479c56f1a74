/**
 * Read-ahead across directories: `ls -R`, `find`, `du` and a data loader's dataset walk list a
 * directory, then descend into its subdirectories one after another, each a LIST they wait for.
 * When a directory is read (readdir), its first subdirectories, and — when its parent was read
 * too — the subdirectories of its parent that come after it, are listed ahead: a window of
 * `directories` ahead of the walker, whichever order it descends in (depth first, as `ls -R`
 * and `find`; breadth first, as a Python `os.walk` or a dataset class), so that its next
 * readdir finds the listing cached or already on its way (the file tree's single flight joins
 * a walker to a LIST in progress).
 *
 * Bounds: at most `directories` LISTs in flight, only subdirectories of directories a reader
 * actually read, at most `directories` ahead of the last one read; directories cached already
 * are skipped. A walker that stops costs at most that many LISTs (of one page each, or of all
 * pages for a directory larger than 1,000 keys — what its readdir would have cost).
 */
import { LRUCache } from 'lru-cache';
import type { FileTree } from './file-tree';
import { subdirectoriesAfter, subdirectoriesOf, type Listing } from './metadata-cache';
import type { SidecarMetrics } from './metrics';
import { joinPath, splitPath } from './path-names';

export interface ListingPrefetchOptions {
  /** Directories listed ahead of a walker, and LISTs in flight for it, at most; 0 turns it off. */
  readonly directories: number;
}

/** Eight LISTs in flight: a walker waiting ~one round trip per directory goes ~8× faster. */
export const DEFAULT_LISTING_PREFETCH: ListingPrefetchOptions = { directories: 8 };

/** Directories remembered as listed ahead, to count which a walker then read. */
const MAX_REMEMBERED = 4096;

export interface ListingPrefetcherDeps {
  readonly tree: FileTree;
  readonly metrics: SidecarMetrics;
  readonly dataset: string;
  readonly options: ListingPrefetchOptions;
}

export class ListingPrefetcher {
  /** Directories to list, the most urgent first. */
  private queue: string[] = [];
  private inFlight = 0;
  private readonly listedAhead = new LRUCache<string, true>({ max: MAX_REMEMBERED });
  /** Directories readers have read: a walker's trail. */
  private readonly walked = new LRUCache<string, true>({ max: MAX_REMEMBERED });
  private readonly listed: { value: number };
  private readonly used: { value: number };

  constructor(private readonly deps: ListingPrefetcherDeps) {
    this.listed = deps.metrics.listingPrefetch.series({ dataset: deps.dataset });
    this.used = deps.metrics.listingPrefetchUsed.series({ dataset: deps.dataset });
  }

  /** A reader read the directory at `path`, whose entries are `listing`. */
  onReaddir(path: string, listing: Listing): void {
    const ahead = this.deps.options.directories;
    if (this.listedAhead.has(path)) {
      this.listedAhead.delete(path);
      this.used.value++;
    }
    this.walked.set(path, true);
    const wanted = subdirectoriesOf(listing).names.slice(0, ahead).map((name) => joinPath(path, name));
    const [parent, name] = splitPath(path);
    // Siblings only inside a directory the walker read: `ls -R dir` does not go on to dir's siblings.
    if (path !== '/' && this.walked.has(parent)) {
      const parentListing = this.deps.tree.freshListing(parent);
      if (parentListing) wanted.push(...subdirectoriesAfter(parentListing, name, ahead).map((sibling) => joinPath(parent, sibling)));
    }
    const fresh = wanted.filter((dir) => !this.listedAhead.has(dir) && !this.deps.tree.freshListing(dir));
    if (fresh.length === 0) return;
    // The walker's newest position first; what it has left behind drops off the end.
    this.queue = [...fresh, ...this.queue.filter((dir) => !fresh.includes(dir))].slice(0, 2 * ahead);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.deps.options.directories) {
      const dir = this.queue.shift();
      if (dir === undefined) return;
      if (this.listedAhead.has(dir) || this.deps.tree.freshListing(dir)) continue;
      this.listedAhead.set(dir, true);
      this.inFlight++;
      this.listed.value++;
      const done = (): void => {
        this.inFlight--;
        this.pump();
      };
      // A failure is the walker's to see when it gets there (its own readdir lists again).
      this.deps.tree.list(dir).then(done, () => {
        this.listedAhead.delete(dir);
        done();
      });
    }
  }
}
