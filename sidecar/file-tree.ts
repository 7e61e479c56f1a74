/**
 * The bucket seen as a tree of directories and files, answered from the metadata cache or S3.
 *
 * - A directory's entries come from ListObjectsV2 with delimiter `/` (all pages): common
 *   prefixes are directories (implicit, or made by a zero-byte `dir/` marker), objects are files.
 * - A key that is both an object and a prefix (`a` and `a/b`): the directory wins, as in
 *   mountpoint-s3; the shadowed object is logged once.
 * - Names that cannot be POSIX names are skipped and logged once (`path-names.ts`).
 * - A path under a directory listed before whose listing has expired is answered by listing that
 *   directory again, once for all concurrent lookups (a data loader opening a directory's files
 *   after the TTL costs one LIST, not a HEAD and a LIST per file: 4× slower in the benchmark).
 * - Any other path not covered by a fresh listing is resolved with a HEAD of the key and a
 *   one-key LIST of `key/` in parallel, so a lookup costs one round trip.
 */
import { isObjectError, type ObjectClient } from './object-client';
import type { Entry, Listing, MetadataCache } from './metadata-cache';
import { invalidNameReason, joinPath, splitPath, type PathNames } from './path-names';
import type { Logger } from './logger';

/** Keys already reported as skipped; bounded so a hostile bucket cannot grow it forever. */
const MAX_REPORTED = 10_000;

export class FileTree {
  private readonly reported = new Set<string>();
  private readonly pendingListings = new Map<string, Promise<Listing>>();
  private readonly mountTime = new Date();

  constructor(
    private readonly client: ObjectClient,
    private readonly names: PathNames,
    private readonly cache: MetadataCache,
    private readonly log: Logger,
  ) {}

  /** The entry at `path`, or null when nothing is there. */
  async stat(path: string): Promise<Entry | null> {
    if (path === '/') return { kind: 'directory', mtime: this.mountTime };
    const cached = this.cache.entry(path);
    if (cached !== undefined) return cached;
    const [parent, name] = splitPath(path);
    // The parent's listing answers: a fresh one as it is, an expired one once listed again (module header).
    const parentListing = this.cache.listing(parent) ?? (this.cache.listingExpired(parent) ? await this.list(parent) : undefined);
    const entry = parentListing ? parentListing.get(name) ?? null : await this.lookup(path);
    this.cache.setEntry(path, entry);
    return entry;
  }

  /** The entries of the directory at `path`, listed (once, however many callers ask) if not cached. */
  async list(path: string): Promise<Listing> {
    const cached = this.cache.listing(path);
    if (cached) return cached;
    let pending = this.pendingListings.get(path);
    if (!pending) {
      pending = this.listAll(path).finally(() => this.pendingListings.delete(path));
      this.pendingListings.set(path, pending);
    }
    return pending;
  }

  /** The listing of the directory at `path` if it is cached and fresh; never asks S3. */
  freshListing(path: string): Listing | undefined {
    return this.cache.listing(path);
  }

  /** Whether the directory at `path` was listed and that listing has expired. */
  listingExpired(path: string): boolean {
    return this.cache.listingExpired(path);
  }

  invalidate(path: string): void {
    this.cache.invalidate(path, splitPath(path)[0]);
  }

  /** Whether the directory at `path` holds any object other than its own marker. */
  async hasChildren(path: string): Promise<boolean> {
    const prefix = this.names.directoryPrefixOf(path);
    const page = await this.client.list({ prefix, maxKeys: 2 });
    return page.objects.some((o) => o.key !== prefix);
  }

  private async lookup(path: string): Promise<Entry | null> {
    const key = this.names.keyOf(path);
    const [head, children] = await Promise.all([
      this.client.head(key).catch((error: unknown) => {
        if (isObjectError(error, 'NotFound')) return null;
        throw error;
      }),
      this.client.list({ prefix: `${key}/`, delimiter: '/', maxKeys: 1 }),
    ]);
    if (children.objects.length > 0 || children.prefixes.length > 0) {
      if (head) this.reportOnce(key, 'object shadowed by a directory of the same name');
      return { kind: 'directory', mtime: this.mountTime };
    }
    if (!head) return null;
    return { kind: 'file', size: head.size, etag: head.etag, mtime: head.lastModified };
  }

  private async listAll(path: string): Promise<Listing> {
    const prefix = this.names.directoryPrefixOf(path);
    const directories = new Map<string, Entry>();
    const files = new Map<string, Entry>();
    let token: string | undefined;
    do {
      const page = await this.client.list({ prefix, delimiter: '/', token });
      for (const common of page.prefixes) {
        const name = common.slice(prefix.length, -1);
        if (this.usable(common, name)) directories.set(name, { kind: 'directory', mtime: this.mountTime });
      }
      for (const object of page.objects) {
        const name = object.key.slice(prefix.length);
        if (name === '') continue; // the directory's own `dir/` marker
        if (this.usable(object.key, name)) {
          files.set(name, { kind: 'file', size: object.size, etag: object.etag, mtime: object.lastModified });
        }
      }
      token = page.nextToken;
    } while (token !== undefined);

    const listing = new Map<string, Entry>(directories);
    for (const [name, entry] of files) {
      if (directories.has(name)) this.reportOnce(prefix + name, 'object shadowed by a directory of the same name');
      else listing.set(name, entry);
    }
    this.cache.setListing(path, listing);
    for (const [name, entry] of listing) this.cache.setEntry(joinPath(path, name), entry);
    return listing;
  }

  private usable(key: string, name: string): boolean {
    const reason = invalidNameReason(name);
    if (reason === undefined) return true;
    this.reportOnce(key, `key skipped: ${reason}`);
    return false;
  }

  private reportOnce(key: string, message: string): void {
    if (this.reported.has(key) || this.reported.size >= MAX_REPORTED) return;
    this.reported.add(key);
    this.log.warn(message, { key });
  }
}
