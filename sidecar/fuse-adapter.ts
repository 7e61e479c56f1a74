/**
 * The only place that knows fuse-native: it turns the promise-based handlers into its
 * callbacks (errors through `toErrno`, negated as FUSE wants), copies read data into the
 * kernel's buffer, and mounts / unmounts.
 *
 * Throughput: libfuse 2 alone caps each FUSE read at 128 KiB; our fuse-native build asks the
 * kernel for requests of up to 1 MiB (`fuseMaxRequestBytes`), one block, so a sequential read is
 * a request per block. The kernel issues them concurrently only as far as its readahead reaches. After mounting we raise
 * the mount's readahead (`/sys/class/bdi/<dev>/read_ahead_kb`) so a sequential reader keeps many
 * requests in flight, and ask for `big_writes` so writes arrive in 128 KiB, not 4 KiB, pieces.
 *
 * Timeouts: fuse-native's own op timeout answers a read while our handler may still fill the
 * buffer later, so it is off; instead every op here has a deadline after which it answers
 * EIO/ETIMEDOUT and ignores the late result (and never touches the kernel's buffer again).
 */
import Fuse from 'fuse-native';
import { createFuse, reusesThreadState } from './fuse-mount-point';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { Errno, toErrno } from './errno';
import type { Handlers, Stat } from './fs-handlers';
import type { Logger } from './logger';
import type { SidecarMetrics } from './metrics';

const run = promisify(execFile);

export interface MountOptions {
  readonly mountPoint: string;
  readonly allowOther: boolean;
  /** Kernel attribute and entry cache, in seconds. */
  readonly kernelCacheSeconds: number;
  /** Readahead of the mount in KiB (0 leaves the kernel default). */
  readonly readaheadKiB: number;
  /** Deadline of any operation but flush/fsync/release (which wait for uploads). */
  readonly opTimeoutMs: number;
  readonly debug?: boolean;
  readonly dataset: string;
}

/** 8 MiB: eight blocks ahead in the kernel; our own prefetcher works further ahead. */
export const DEFAULT_READAHEAD_KIB = 8192;
/** Above the S3 client's worst case (4 attempts × 10 s + backoff), so S3's own error wins. */
export const DEFAULT_OP_TIMEOUT_MS = 60_000;
const FUSECTL = '/sys/fs/fuse/connections';
/**
 * Background (readahead) requests in flight per mount: 32 MiB in our build's 1 MiB requests.
 * The request round trip (kernel, libfuse thread, the event loop, the reply), not CPU, bounds a
 * warm read, so it takes many bytes in flight: with 128 KiB requests, from memory, 16 gave
 * 266–816 MB/s, 32 848–852, 48 984–1,030 and 64 1,089–1,253 — 8 MiB in flight. With 1 MiB
 * requests, 32 read warm at 1,253–1,486 MB/s, and each request holds a 1 MiB libfuse buffer, so
 * 64 held twice the memory for no speed (BENCHMARKS.md, sixth session). Fewer slots would let one
 * file whose readahead waits on a hung GET take all of them and stall every other read of the
 * mount (with 8, a 2 MiB file did: test/faults).
 */
const MAX_BACKGROUND = 32;
/** Uploads on close may legitimately take long; they are bounded by the S3 client's retries. */
const UNBOUNDED_OPS = new Set(['flush', 'fsync', 'release']);

export interface Mounted {
  readonly mountPoint: string;
  unmount(): Promise<void>;
}

type Reply = (...args: unknown[]) => void;

export function fuseOperations(handlers: Handlers, options: MountOptions, log: Logger, metrics: SidecarMetrics): Record<string, Reply> {
  /** Run `work`, answer once: `ok` with its result, or the errno; late answers are dropped. */
  const answer = <T>(operation: string, path: string, cb: Reply, work: () => Promise<T>, ok: (value: T) => void, isRead = false): void => {
    let done = false;
    const timer = UNBOUNDED_OPS.has(operation)
      ? undefined
      : setTimeout(() => {
          if (done) return;
          done = true;
          log.error('operation timed out', { operation, path, timeoutMs: options.opTimeoutMs });
          metrics.errors.inc({ dataset: options.dataset, operation, errno: 'ETIMEDOUT' });
          cb(isRead ? -Errno.EIO : -Errno.ETIMEDOUT);
        }, options.opTimeoutMs);
    work().then(
      (value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ok(value);
      },
      (error: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const errno = toErrno(error, log, operation, path);
        if (errno !== Errno.ENOENT) metrics.errors.inc({ dataset: options.dataset, operation, errno: String(errno) });
        cb(-errno);
      },
    );
  };

  const simple = (operation: string, call: (path: string, ...rest: never[]) => Promise<unknown>) =>
    (...args: unknown[]): void => {
      const cb = args[args.length - 1] as Reply;
      const path = args[0] as string;
      answer(operation, path, cb, () => (call as (...a: unknown[]) => Promise<unknown>)(...args.slice(0, -1)), () => cb(0));
    };

  return {
    init: (...args: unknown[]) => (args[0] as Reply)(0),
    getattr: (path: unknown, cb: unknown) =>
      answer('getattr', path as string, cb as Reply, () => handlers.getattr(path as string), (stat: Stat) => (cb as Reply)(0, stat)),
    fgetattr: (path: unknown, _fd: unknown, cb: unknown) =>
      answer('getattr', path as string, cb as Reply, () => handlers.getattr(path as string), (stat: Stat) => (cb as Reply)(0, stat)),
    readdir: (path: unknown, cb: unknown) =>
      answer('readdir', path as string, cb as Reply, () => handlers.readdir(path as string), (r) => (cb as Reply)(0, r.names, r.stats)),
    open: (path: unknown, flags: unknown, cb: unknown) =>
      answer('open', path as string, cb as Reply, () => handlers.open(path as string, flags as number), (fd) => (cb as Reply)(0, fd)),
    create: (path: unknown, mode: unknown, cb: unknown) =>
      answer('create', path as string, cb as Reply, () => handlers.create(path as string, mode as number), (fd) => (cb as Reply)(0, fd)),
    read: (path: unknown, fd: unknown, buffer: unknown, length: unknown, position: unknown, cb: unknown) =>
      answer(
        'read',
        path as string,
        cb as Reply,
        () => handlers.read(path as string, fd as number, length as number, position as number),
        (slices) => {
          const target = buffer as Buffer;
          let filled = 0;
          for (const slice of slices) filled += slice.copy(target, filled);
          (cb as Reply)(filled);
        },
        true,
      ),
    write: (path: unknown, fd: unknown, buffer: unknown, length: unknown, position: unknown, cb: unknown) =>
      answer(
        'write',
        path as string,
        cb as Reply,
        () => handlers.write(path as string, fd as number, (buffer as Buffer).subarray(0, length as number), position as number),
        (written) => (cb as Reply)(written),
        true,
      ),
    flush: simple('flush', handlers.flush.bind(handlers)),
    fsync: (path: unknown, _datasync: unknown, fd: unknown, cb: unknown) =>
      answer('fsync', path as string, cb as Reply, () => handlers.fsync(path as string, fd as number), () => (cb as Reply)(0)),
    release: simple('release', handlers.release.bind(handlers)),
    truncate: simple('truncate', handlers.truncate.bind(handlers)),
    ftruncate: simple('ftruncate', handlers.ftruncate.bind(handlers)),
    unlink: simple('unlink', handlers.unlink.bind(handlers)),
    mkdir: simple('mkdir', handlers.mkdir.bind(handlers)),
    rmdir: simple('rmdir', handlers.rmdir.bind(handlers)),
    rename: simple('rename', handlers.rename.bind(handlers)),
    utimens: simple('utimens', handlers.utimens.bind(handlers)),
    chmod: simple('chmod', handlers.chmod.bind(handlers)),
    chown: simple('chown', handlers.chown.bind(handlers)),
    statfs: (path: unknown, cb: unknown) =>
      answer('statfs', path as string, cb as Reply, () => handlers.statfs(path as string), (s) => (cb as Reply)(0, s)),
  };
}

let warnedPrebuild = false;

/** Mount `handlers` at `options.mountPoint`; resolves once the kernel has the mount. */
export async function mountHandlers(handlers: Handlers, options: MountOptions, log: Logger, metrics: SidecarMetrics): Promise<Mounted> {
  if (!reusesThreadState && !warnedPrebuild) {
    warnedPrebuild = true;
    log.warn("fuse-native's bundled prebuild is loaded: it leaks an event-loop handle per FUSE thread, and a busy mount slows down over time; build the patched binding with `make native`");
  }
  const fuse = createFuse(options.mountPoint, fuseOperations(handlers, options, log, metrics), {
    // fuse-native knows only some libfuse options; the rest ride along in fsname's `-o` list.
    fsname: 'datamount,big_writes,atomic_o_trunc',
    subtype: 'datamount',
    allowOther: options.allowOther,
    defaultPermissions: true,
    attrTimeout: options.kernelCacheSeconds,
    entryTimeout: options.kernelCacheSeconds,
    force: true,
    timeout: false,
    debug: options.debug ?? false,
  });
  await new Promise<void>((resolve, reject) => fuse.mount((error) => (error ? reject(error) : resolve())));
  if (options.readaheadKiB > 0) await raiseReadahead(options.mountPoint, options.readaheadKiB, log);
  let unmounting: Promise<void> | undefined;
  return {
    mountPoint: options.mountPoint,
    unmount: () => {
      unmounting ??= unmount(fuse, options.mountPoint, log);
      return unmounting;
    },
  };
}

/**
 * Let the kernel keep more reads in flight: the mount's readahead (its backing device info) and
 * the connection's limit of background requests (fusectl; libfuse 2 cannot negotiate it and the
 * kernel default of 12 caps how much readahead is outstanding). Best effort: needs root and sysfs.
 */
export async function raiseReadahead(mountPoint: string, kib: number, log: Logger): Promise<void> {
  try {
    const { dev } = await fs.stat(mountPoint);
    const major = Math.floor(dev / 256) & 0xfff;
    const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    await fs.writeFile(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, String(kib));
    const connection = `${FUSECTL}/${minor}`;
    if ((await fs.readdir(FUSECTL)).length === 0) await run('mount', ['-t', 'fusectl', 'none', FUSECTL], { timeout: 3000 });
    await fs.writeFile(`${connection}/max_background`, String(MAX_BACKGROUND));
    await fs.writeFile(`${connection}/congestion_threshold`, String(Math.floor((MAX_BACKGROUND * 3) / 4)));
  } catch (error) {
    log.warn('could not raise the mount\'s readahead; sequential reads will be slower', { mountPoint, error });
  }
}

/** Unmount; when busy or broken fall back to a lazy unmount, so the process can always exit. */
async function unmount(fuse: Fuse, mountPoint: string, log: Logger): Promise<void> {
  const clean = await new Promise<Error | null>((resolve) => fuse.unmount(resolve));
  if (!clean) return;
  log.warn('unmount failed; detaching lazily', { mountPoint, error: clean });
  for (const [command, args] of [['fusermount', ['-uz', mountPoint]], ['umount', ['-l', mountPoint]]] as const) {
    try {
      await run(command, [...args], { timeout: 5000 });
      return;
    } catch {
      // try the next way
    }
  }
  log.error('could not unmount', { mountPoint });
}
