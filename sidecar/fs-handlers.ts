/**
 * The FUSE operations as a plain object of promise-returning functions over the object-store
 * port and the caches (pnpm mount-modules' shape), so tests call `handlers.read(...)` without a
 * mount. Failures are thrown (`FsError` or `ObjectClientError`) and turned into errnos in one
 * place (`errno.ts`) by the adapter; nothing here knows fuse-native.
 *
 * Open files: a read handle pins the object version (size, ETag) it was opened on and owns a
 * prefetcher; opens and whole-file reads are told to the sibling prefetcher, which fetches the
 * next files of a directory a reader is going through; readdirs are told to the listing
 * prefetcher, which lists the directories a walker descends into next; a write handle owns an
 * `Upload`. Files being written show up in `getattr` and
 * `readdir` with the bytes written so far.
 */
import { constants } from 'node:fs';
import type { BlockCache, ObjectVersion } from './block-cache';
import { FsError } from './errno';
import type { FileTree } from './file-tree';
import type { Entry } from './metadata-cache';
import { isObjectError, type ObjectClient } from './object-client';
import { splitPath, type PathNames } from './path-names';
import { Prefetcher, type PrefetchOptions } from './prefetcher';
import { SiblingPrefetcher, type SiblingPrefetchOptions } from './sibling-prefetcher';
import { ListingPrefetcher, type ListingPrefetchOptions } from './listing-prefetcher';
import { Upload, type UploadOptions } from './upload';
import type { Logger } from './logger';
import type { SidecarMetrics } from './metrics';

/** What `getattr` returns, in fuse-native's shape. */
export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  blksize: number;
  blocks: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

export interface HandlerOptions {
  readonly client: ObjectClient;
  readonly names: PathNames;
  readonly tree: FileTree;
  readonly blocks: BlockCache;
  readonly readOnly: boolean;
  readonly uid: number;
  readonly gid: number;
  readonly fileMode?: number;
  readonly directoryMode?: number;
  readonly prefetch: PrefetchOptions;
  /** Read-ahead across the files of a directory; absent = off. */
  readonly siblingPrefetch?: SiblingPrefetchOptions;
  /** Read-ahead of subdirectory listings for walkers; absent = off. */
  readonly listingPrefetch?: ListingPrefetchOptions;
  readonly upload: UploadOptions;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly dataset: string;
}

export interface Handlers {
  getattr(path: string): Promise<Stat>;
  readdir(path: string): Promise<{ names: string[]; stats: Stat[] }>;
  open(path: string, flags: number): Promise<number>;
  create(path: string, mode: number): Promise<number>;
  /**
   * The bytes of [offset, offset + length) clamped to the file, as slices of cached blocks: copy
   * them out in the turn the promise settles in (the FUSE reply does), since block memory is
   * reused for other blocks after that (block-recycler.ts).
   */
  read(path: string, fd: number, length: number, offset: number): Promise<Buffer[]>;
  write(path: string, fd: number, data: Buffer, offset: number): Promise<number>;
  flush(path: string, fd: number): Promise<void>;
  fsync(path: string, fd: number): Promise<void>;
  release(path: string, fd: number): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  ftruncate(path: string, fd: number, size: number): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, mode: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  rename(source: string, destination: string): Promise<void>;
  utimens(path: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  statfs(path: string): Promise<StatFs>;
  /** Complete every open upload (shutdown); resolves when all have finished or failed. */
  finishUploads(): Promise<void>;
  /** Open handles (for shutdown decisions and tests). */
  readonly openHandles: number;
}

/** How much of a file a read handle has read: enough to tell a whole-file read (start to end). */
interface ReadProgress {
  fromStart: boolean;
  bytes: number;
  whole: boolean;
}

type Handle =
  | { readonly kind: 'read'; readonly path: string; readonly object: ObjectVersion; readonly prefetcher: Prefetcher; readonly progress: ReadProgress }
  | { readonly kind: 'write'; readonly path: string; upload: Upload | undefined; dirty: boolean; readonly existingSize: number };

const O_ACCMODE = 3;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** chown's "leave as is" (-1 as an unsigned 32-bit id). */
const UNCHANGED_ID = 0xffffffff;

/**
 * Note a read of [offset, end) and tell whether it completes a whole-file read: one that
 * started at 0, reached the end, and delivered at least the file's size (once per handle).
 */
function readsWhole(progress: ReadProgress, offset: number, end: number, size: number): boolean {
  if (progress.whole) return false;
  if (offset === 0) progress.fromStart = true;
  progress.bytes += end - offset;
  progress.whole = progress.fromStart && end === size && progress.bytes >= size;
  return progress.whole;
}

export function createHandlers(options: HandlerOptions): Handlers {
  const { client, names, tree, blocks, readOnly, log, metrics, dataset } = options;
  const fileMode = options.fileMode ?? (readOnly ? 0o444 : 0o644);
  const directoryMode = options.directoryMode ?? (readOnly ? 0o555 : 0o755);
  const handles = new Map<number, Handle>();
  const bytesRead = metrics.bytesRead.series({ dataset });
  const prefetchWindow = metrics.prefetchWindow.series({ dataset });
  /** Files being written, by path, so they are visible before their upload completes. */
  const writing = new Map<string, Handle & { kind: 'write' }>();
  let nextFd = 1;
  const siblings = options.siblingPrefetch && options.siblingPrefetch.aheadFiles > 0
    ? new SiblingPrefetcher({ tree, names, blocks, metrics, dataset, options: options.siblingPrefetch })
    : undefined;
  const listings = options.listingPrefetch && options.listingPrefetch.directories > 0
    ? new ListingPrefetcher({ tree, metrics, dataset, options: options.listingPrefetch })
    : undefined;

  const toStat = (entry: Entry): Stat => {
    const isFile = entry.kind === 'file';
    const size = isFile ? entry.size : 4096;
    return {
      mode: isFile ? S_IFREG | fileMode : S_IFDIR | directoryMode,
      uid: options.uid,
      gid: options.gid,
      size,
      nlink: isFile ? 1 : 2,
      blksize: blocks.blockSize,
      blocks: Math.ceil(size / 512),
      mtime: entry.mtime,
      atime: entry.mtime,
      ctime: entry.mtime,
    };
  };

  const writingEntry = (handle: Handle & { kind: 'write' }): Entry => ({
    kind: 'file',
    size: handle.upload?.written ?? (handle.dirty ? 0 : handle.existingSize),
    etag: '',
    mtime: new Date(),
  });

  const entryAt = async (path: string): Promise<Entry> => {
    const pending = writing.get(path);
    if (pending) return writingEntry(pending);
    const entry = await tree.stat(path);
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    return entry;
  };

  const refuseIfReadOnly = (path: string, what: string): void => {
    if (readOnly) throw new FsError('EROFS', `${path}: ${what} on a read-only dataset`);
  };

  const allocate = (handle: Handle): number => {
    while (handles.has(nextFd)) nextFd = nextFd >= 0xfffffff0 ? 1 : nextFd + 1;
    const fd = nextFd;
    nextFd = nextFd >= 0xfffffff0 ? 1 : nextFd + 1;
    handles.set(fd, handle);
    return fd;
  };

  const handleOf = (fd: number, path: string): Handle => {
    const handle = handles.get(fd);
    if (!handle) throw new FsError('EBADF', `${path}: no open file ${fd}`);
    return handle;
  };

  const openForWrite = (path: string, existingSize: number, dirty: boolean): number => {
    if (writing.has(path)) throw new FsError('EOPNOTSUPP', `${path}: already open for writing`);
    const handle: Handle & { kind: 'write' } = { kind: 'write', path, upload: undefined, dirty, existingSize };
    writing.set(path, handle);
    return allocate(handle);
  };

  /** Upload what a write handle holds (once), then show the new object to later lookups. */
  const commit = async (handle: Handle & { kind: 'write' }): Promise<void> => {
    if (!handle.dirty) return;
    handle.upload ??= new Upload(client, names.keyOf(handle.path), options.upload);
    if (handle.upload.completed) {
      await handle.upload.complete();
      return;
    }
    try {
      await handle.upload.complete();
      metrics.bytesUploaded.inc({ dataset }, handle.upload.written);
    } finally {
      tree.invalidate(handle.path);
    }
  };

  const handlers: Handlers = {
    get openHandles() {
      return handles.size;
    },

    async getattr(path) {
      return toStat(await entryAt(path));
    },

    async readdir(path) {
      const entry = await entryAt(path);
      if (entry.kind !== 'directory') throw new FsError('ENOTDIR', `${path}: not a directory`);
      const listing = await tree.list(path);
      listings?.onReaddir(path, listing);
      const names = ['.', '..'];
      const stats = [toStat(entry), toStat(entry)];
      for (const [name, child] of listing) {
        names.push(name);
        stats.push(toStat(child));
      }
      for (const [pendingPath, handle] of writing) {
        const [parent, name] = splitPath(pendingPath);
        if (parent === path && !listing.has(name)) {
          names.push(name);
          stats.push(toStat(writingEntry(handle)));
        }
      }
      return { names, stats };
    },

    async open(path, flags) {
      const access = flags & O_ACCMODE;
      const truncate = (flags & constants.O_TRUNC) !== 0;
      if (access !== constants.O_RDONLY || truncate) refuseIfReadOnly(path, 'open for writing');
      const entry = await entryAt(path);
      if (entry.kind !== 'file') throw new FsError('EISDIR', `${path}: is a directory`);
      if (access === constants.O_WRONLY || truncate) {
        return openForWrite(path, entry.size, truncate);
      }
      // O_RDONLY, or O_RDWR without O_TRUNC (opened "just in case"): readable; writes are refused.
      const object = { key: names.keyOf(path), etag: entry.etag, size: entry.size };
      const fd = allocate({ kind: 'read', path, object, prefetcher: new Prefetcher(blocks, object, options.prefetch), progress: { fromStart: false, bytes: 0, whole: false } });
      siblings?.onOpen(path, object);
      return fd;
    },

    async create(path) {
      refuseIfReadOnly(path, 'create');
      const [parent] = splitPath(path);
      const parentEntry = await entryAt(parent);
      if (parentEntry.kind !== 'directory') throw new FsError('ENOTDIR', `${parent}: not a directory`);
      const fd = openForWrite(path, 0, true);
      tree.invalidate(path);
      return fd;
    },

    async read(path, fd, length, offset) {
      const handle = handleOf(fd, path);
      if (handle.kind !== 'read') throw new FsError('EOPNOTSUPP', `${path}: reading a file while writing it is not supported`);
      const { object } = handle;
      if (offset >= object.size || length <= 0) return [];
      const end = Math.min(object.size, offset + length);
      handle.prefetcher.onRead(offset, end - offset);
      const whole = siblings !== undefined && readsWhole(handle.progress, offset, end, object.size);
      const size = blocks.blockSize;
      const first = Math.floor(offset / size);
      const last = Math.floor((end - 1) / size);
      bytesRead.value += end - offset;
      prefetchWindow.value = handle.prefetcher.windowBytes;
      const slice = (block: Buffer, index: number): Buffer => {
        const blockStart = index * size;
        return block.subarray(Math.max(0, offset - blockStart), Math.min(block.length, end - blockStart));
      };
      // Most kernel reads (128 KiB) fall inside one block already in memory: no promise needed.
      const hit = first === last ? blocks.peek(object, first) : undefined;
      if (hit) {
        if (whole) siblings?.onWholeRead(path);
        return [slice(hit, first)];
      }
      const loads = blocks.readAll(object, first, last);
      // After this read's own blocks were asked for, so that its GET does not queue behind them.
      if (whole) siblings?.onWholeRead(path);
      return (await loads).map((block, i) => slice(block, first + i));
    },

    async write(path, fd, data, offset) {
      const handle = handleOf(fd, path);
      if (handle.kind !== 'write') throw new FsError('EOPNOTSUPP', `${path}: opened without O_TRUNC; S3 objects can only be replaced whole`);
      if (!handle.dirty && handle.existingSize > 0) {
        throw new FsError('EOPNOTSUPP', `${path}: writing into an existing object needs O_TRUNC (replace it whole); appends and in-place edits are not supported`);
      }
      handle.dirty = true;
      handle.upload ??= new Upload(client, names.keyOf(path), options.upload);
      return handle.upload.write(data, offset);
    },

    async flush(path, fd) {
      const handle = handleOf(fd, path);
      // close() of any descriptor of the file flushes, and shells close the descriptor they
      // opened before writing through its dup (`echo x > f`): only a flush after data was
      // written completes the upload, so its failure reaches close(); otherwise release does.
      if (handle.kind === 'write' && (handle.upload?.written ?? 0) > 0) await commit(handle);
    },

    async fsync(path, fd) {
      const handle = handleOf(fd, path);
      if (handle.kind === 'write') await commit(handle);
    },

    async release(path, fd) {
      const handle = handleOf(fd, path);
      handles.delete(fd);
      if (handle.kind !== 'write') return;
      try {
        await commit(handle);
      } finally {
        if (writing.get(handle.path) === handle) writing.delete(handle.path);
      }
    },

    async truncate(path, size) {
      refuseIfReadOnly(path, 'truncate');
      const pending = writing.get(path);
      if (pending) return truncateHandle(pending, size);
      const entry = await entryAt(path);
      if (entry.kind !== 'file') throw new FsError('EISDIR', `${path}: is a directory`);
      if (size === entry.size) return;
      if (size !== 0) throw new FsError('EOPNOTSUPP', `${path}: truncating to ${size} bytes; only truncation to 0 is supported`);
      await client.put(names.keyOf(path), Buffer.alloc(0));
      tree.invalidate(path);
    },

    async ftruncate(path, fd, size) {
      const handle = handleOf(fd, path);
      if (handle.kind !== 'write') return handlers.truncate(path, size);
      return truncateHandle(handle, size);
    },

    async unlink(path) {
      refuseIfReadOnly(path, 'unlink');
      const entry = await entryAt(path);
      if (entry.kind !== 'file') throw new FsError('EISDIR', `${path}: is a directory`);
      await client.delete(names.keyOf(path));
      tree.invalidate(path);
    },

    async mkdir(path) {
      refuseIfReadOnly(path, 'mkdir');
      if (await tree.stat(path)) throw new FsError('EEXIST', `${path}: exists`);
      await client.put(names.directoryPrefixOf(path), Buffer.alloc(0));
      tree.invalidate(path);
    },

    async rmdir(path) {
      refuseIfReadOnly(path, 'rmdir');
      const entry = await entryAt(path);
      if (entry.kind !== 'directory') throw new FsError('ENOTDIR', `${path}: not a directory`);
      if (await tree.hasChildren(path)) throw new FsError('ENOTEMPTY', `${path}: directory not empty`);
      await client.delete(names.directoryPrefixOf(path)).catch((error: unknown) => {
        if (!isObjectError(error, 'NotFound')) throw error;
      });
      tree.invalidate(path);
    },

    async rename(source, destination) {
      refuseIfReadOnly(source, 'rename');
      const entry = await entryAt(source);
      if (entry.kind !== 'file') {
        throw new FsError('EXDEV', `${source}: renaming directories is not supported (tools like mv then copy and delete instead)`);
      }
      if (writing.has(source)) throw new FsError('EOPNOTSUPP', `${source}: still being written`);
      const target = await tree.stat(destination);
      if (target?.kind === 'directory') throw new FsError('EISDIR', `${destination}: is a directory`);
      await client.copy(names.keyOf(source), names.keyOf(destination), entry.etag || undefined);
      await client.delete(names.keyOf(source));
      tree.invalidate(source);
      tree.invalidate(destination);
    },

    async utimens(path) {
      // S3 sets an object's mtime itself; accepted (so touch, cp -p and tar work) and ignored.
      await entryAt(path);
    },

    // S3 objects have no mode or owner: the mount shows configured ones. Setting what is already
    // shown succeeds (so mv across directories, cp -a and rsync work); changing it is refused.
    async chmod(path, mode) {
      const entry = await entryAt(path);
      if ((mode & 0o7777) === (entry.kind === 'file' ? fileMode : directoryMode)) return;
      throw new FsError('EPERM', `${path}: S3 objects have no mode; the mount shows the configured modes`);
    },

    async chown(path, uid, gid) {
      await entryAt(path);
      const unchanged = (wanted: number, shown: number): boolean => wanted === shown || wanted === UNCHANGED_ID;
      if (unchanged(uid, options.uid) && unchanged(gid, options.gid)) return;
      throw new FsError('EPERM', `${path}: S3 objects have no owner; the mount shows the configured uid/gid`);
    },

    async statfs() {
      // S3 has no capacity to report; large free numbers keep tools that check space happy.
      const blocksFree = 0xffffffff;
      return { bsize: blocks.blockSize, frsize: blocks.blockSize, blocks: blocksFree, bfree: blocksFree, bavail: blocksFree, files: 0xffffffff, ffree: 0xffffffff, favail: 0xffffffff, namemax: 255 };
    },

    async finishUploads() {
      const pending = [...writing.values()];
      const results = await Promise.allSettled(pending.map((handle) => commit(handle)));
      results.forEach((result, i) => {
        if (result.status === 'rejected') log.error('upload failed at shutdown', { path: pending[i]?.path, error: result.reason });
      });
    },
  };

  const truncateHandle = async (handle: Handle & { kind: 'write' }, size: number): Promise<void> => {
    const current = handle.upload?.written ?? (handle.dirty ? 0 : handle.existingSize);
    if (size === current) return;
    if (size === 0 && (handle.upload?.written ?? 0) === 0) {
      handle.dirty = true;
      return;
    }
    throw new FsError('EOPNOTSUPP', `${handle.path}: truncating an open file to ${size} bytes is not supported`);
  };

  return handlers;
}
