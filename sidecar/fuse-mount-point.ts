/**
 * fuse-native refuses to mount on a directory whose device differs from its parent's
 * ("Mountpoint in use"). In a pod that is always the case: the dataset's emptyDir is bind-mounted
 * into the sidecar container, so its root is a mount point of its own — and mounting FUSE right
 * there, with Bidirectional propagation, is exactly how the app container gets to see the data.
 *
 * `createFuse` returns a fuse-native instance whose open step keeps fuse-native's behaviour
 * except that one check, replaced by the check that matters: the directory must not already
 * carry a FUSE mount (a second datamount, or a stale one that `force` could not clear).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Fuse from 'fuse-native';

type FuseOptions = ConstructorParameters<typeof Fuse>[2];
type Operations = ConstructorParameters<typeof Fuse>[1];
type OpenCallback = (error: Error | null) => void;

/** The loaded native binding: requiring the same `.node` file returns the module fuse-native holds. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = require('node-gyp-build')(path.dirname(require.resolve('fuse-native/package.json'))) as {
  sizeof_fuse_thread_t: number;
  fuse_native_mount: (...args: unknown[]) => void;
  datamount_reuses_thread_state?: number;
  datamount_fuse_threads?: number;
  datamount_fuse_max_pages?: number;
};

/**
 * Whether the loaded binding is our build of fuse-native (native/build-fuse-native.sh), which
 * reuses the state of libfuse threads that ended. The bundled prebuild leaks an event-loop
 * handle per thread ever started, and every wake-up of the loop visits all of them.
 */
export const reusesThreadState = binding.datamount_reuses_thread_state === 1;

/**
 * The fixed number of FUSE worker threads our build runs per mount, which hand their requests to
 * the event loop through one queue in arrival order (0 for the prebuild, whose libfuse loop starts
 * a thread whenever none is idle and ends one whenever more than ten are).
 */
export const fuseThreads = binding.datamount_fuse_threads ?? 0;

/**
 * The largest FUSE request our build asks the kernel for, in bytes: 1 MiB, where libfuse 2 alone
 * gets 128 KiB (it predates the protocol's FUSE_MAX_PAGES; the build adds it to the INIT reply).
 */
export const fuseMaxRequestBytes = (binding.datamount_fuse_max_pages ?? 32) * 4096;

/** The internals of a fuse-native instance that its own open step uses. */
interface FuseInternals {
  mnt: string;
  _thread: Buffer;
  _openCallback: OpenCallback;
  _handlers: unknown;
  _malloc: unknown;
  _fuseOptions(): string;
  _getImplementedArray(): unknown;
}

/** Whether `dir` is currently the mount point of a FUSE file system. */
export async function isFuseMountPoint(dir: string): Promise<boolean> {
  const target = path.resolve(dir);
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => {
    const [pre, post] = line.split(' - ');
    if (!pre || !post?.startsWith('fuse')) return false;
    const mountPoint = (pre.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    return mountPoint === target;
  });
}

async function openOnMountPoint(self: FuseInternals, cb: OpenCallback): Promise<void> {
  const stat = await fs.stat(self.mnt);
  if (!stat.isDirectory()) throw new Error(`mount point ${self.mnt} is not a directory`);
  if (await isFuseMountPoint(self.mnt)) throw new Error(`mount point ${self.mnt} already carries a FUSE mount`);
  self._thread = Buffer.alloc(binding.sizeof_fuse_thread_t);
  self._openCallback = cb;
  binding.fuse_native_mount(self.mnt, self._fuseOptions(), self._thread, self, self._malloc, self._handlers, self._getImplementedArray());
}

export function createFuse(mountPoint: string, ops: Operations, options: FuseOptions): Fuse {
  const fuse = new Fuse(mountPoint, ops, { ...options, force: false });
  const internals = fuse as unknown as FuseInternals & { _open: (cb: OpenCallback) => void };
  const clearStale = options?.force === true;
  internals._open = (cb: OpenCallback) => {
    const start = clearStale
      ? new Promise<void>((resolve) => {
          // A mount left by a crashed server answers ENOTCONN: clear it first, as fuse-native's `force` does.
          fs.stat(path.join(mountPoint, '.')).then(
            () => resolve(),
            () => Fuse.unmount(mountPoint, () => resolve()),
          );
        })
      : Promise.resolve();
    start.then(() => openOnMountPoint(internals, cb)).catch((error: unknown) => cb(error instanceof Error ? error : new Error(String(error))));
  };
  return fuse;
}
