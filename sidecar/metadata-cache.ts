/**
 * Attributes and directory listings remembered for a while, so `ls -l`, `find` and every open
 * do not each cost S3 requests. Entries expire after `ttlMs`; misses are remembered too
 * (negative entries, `negativeTtlMs`) because tools probe many names that do not exist
 * (`.git`, `__pycache__`, locale files). Bounded in entries, least recently used out first.
 */
import { LRUCache } from 'lru-cache';

export type Entry =
  | { readonly kind: 'file'; readonly size: number; readonly etag: string; readonly mtime: Date }
  | { readonly kind: 'directory'; readonly mtime: Date };

/** A directory's entries by name, in listing order. */
export type Listing = ReadonlyMap<string, Entry>;

export interface MetadataCacheOptions {
  readonly ttlMs: number;
  readonly negativeTtlMs: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

interface Timed<T> {
  readonly value: T;
  readonly expires: number;
}

const DEFAULT_MAX_ENTRIES = 200_000;

export class MetadataCache {
  private readonly entries: LRUCache<string, Timed<Entry | null>>;
  private readonly listings: LRUCache<string, Timed<Listing>>;
  private readonly now: () => number;

  constructor(private readonly options: MetadataCacheOptions) {
    this.now = options.now ?? Date.now;
    const max = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.entries = new LRUCache({ max });
    // A listing holds up to a directory's worth of entries; keep fewer of them.
    this.listings = new LRUCache({ max: Math.max(16, Math.floor(max / 1000)) });
  }

  /** The entry at `path`; `null` = known not to exist; `undefined` = unknown or expired. */
  entry(path: string): Entry | null | undefined {
    const timed = this.entries.get(path);
    if (!timed) return undefined;
    if (timed.expires <= this.now()) {
      this.entries.delete(path);
      return undefined;
    }
    return timed.value;
  }

  setEntry(path: string, entry: Entry | null): void {
    const ttl = entry === null ? this.options.negativeTtlMs : this.options.ttlMs;
    if (ttl <= 0) return;
    this.entries.set(path, { value: entry, expires: this.now() + ttl });
  }

  /** The listing of the directory at `path` while it is fresh. */
  listing(path: string): Listing | undefined {
    const timed = this.listings.get(path);
    if (!timed || timed.expires <= this.now()) return undefined;
    return timed.value;
  }

  /**
   * Whether `path` was listed and that listing has expired. Expired listings are kept (never
   * served) so that a lookup under them can refresh the whole directory with one LIST rather
   * than a HEAD and a LIST per name.
   */
  listingExpired(path: string): boolean {
    const timed = this.listings.peek(path);
    return timed !== undefined && timed.expires <= this.now();
  }

  setListing(path: string, listing: Listing): void {
    if (this.options.ttlMs <= 0) return;
    this.listings.set(path, { value: listing, expires: this.now() + this.options.ttlMs });
  }

  /** Forget what is known about `path` and its parent directory's listing (after a write). */
  invalidate(path: string, parent: string): void {
    this.entries.delete(path);
    this.listings.delete(path);
    this.listings.delete(parent);
  }
}

/** The subdirectories of a listing, in listing order, and each one's position among them. */
export interface Subdirectories {
  readonly names: readonly string[];
  readonly position: ReadonlyMap<string, number>;
}

const subdirectoryIndex = new WeakMap<Listing, Subdirectories>();

/** The subdirectories of `listing` (built once per listing object, shared by its readers). */
export function subdirectoriesOf(listing: Listing): Subdirectories {
  let known = subdirectoryIndex.get(listing);
  if (!known) {
    const names: string[] = [];
    const position = new Map<string, number>();
    for (const [name, entry] of listing) {
      if (entry.kind !== 'directory') continue;
      position.set(name, names.length);
      names.push(name);
    }
    known = { names, position };
    subdirectoryIndex.set(listing, known);
  }
  return known;
}

/** Up to `count` subdirectories of `listing` that come after the subdirectory `name`; none if it is not one. */
export function subdirectoriesAfter(listing: Listing, name: string, count: number): string[] {
  const { names, position } = subdirectoriesOf(listing);
  const at = position.get(name);
  return at === undefined ? [] : names.slice(at + 1, at + 1 + count);
}
