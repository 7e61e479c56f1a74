import { Errno, FsError } from '../../sidecar/errno';
import { fuseOperations, type MountOptions } from '../../sidecar/fuse-adapter';
import type { Handlers } from '../../sidecar/fs-handlers';
import { silentLogger } from '../../sidecar/logger';
import { SidecarMetrics } from '../../sidecar/metrics';
import { ObjectClientError } from '../../sidecar/object-client';

const options: MountOptions = { mountPoint: '/unused', allowOther: false, kernelCacheSeconds: 1, readaheadKiB: 0, opTimeoutMs: 200, dataset: 'test' };

/** Call a fuse-native style operation and resolve with the arguments of its callback. */
function call(ops: Record<string, (...args: unknown[]) => void>, name: string, ...args: unknown[]): Promise<unknown[]> {
  return new Promise((resolve) => ops[name]?.(...args, (...reply: unknown[]) => resolve(reply)));
}

describe('fuse-adapter', () => {
  const metrics = new SidecarMetrics();
  /** Handlers with only the given operations; the others fail loudly if the adapter calls them. */
  const build = (handlers: Partial<Handlers>) => {
    const complete = new Proxy(handlers, {
      get: (target, key) => target[key as keyof Handlers] ?? (async () => Promise.reject(new Error(`${String(key)} not expected`))),
    });
    return fuseOperations(complete as Handlers, options, silentLogger, metrics);
  };

  describe('when a read succeeds', () => {
    it('copies the slices into the kernel buffer and answers the byte count', async () => {
      const ops = build({ read: async () => [Buffer.from('hello '), Buffer.from('world')] });
      const buffer = Buffer.alloc(16);
      expect(await call(ops, 'read', '/f', 1, buffer, 16, 0)).toEqual([11]);
      expect(buffer.subarray(0, 11).toString()).toBe('hello world');
    });
  });

  describe('when an operation fails', () => {
    it.each([
      ['getattr', new FsError('ENOENT', 'missing'), ['/x'], -Errno.ENOENT],
      ['open', new ObjectClientError('AccessDenied', 'no'), ['/x', 0], -Errno.EACCES],
      ['read', new ObjectClientError('PreconditionFailed', 'changed'), ['/x', 1, Buffer.alloc(1), 1, 0], -Errno.ESTALE],
      ['unlink', new FsError('EROFS', 'read-only'), ['/x'], -Errno.EROFS],
      ['mkdir', new Error('bug'), ['/x', 0o755], -Errno.EIO],
    ])('%s answers the negated errno', async (name, error, args, errno) => {
      const rejecting = async () => {
        throw error;
      };
      const ops = build({ getattr: rejecting, open: rejecting, read: rejecting, unlink: rejecting, mkdir: rejecting });
      expect((await call(ops, name, ...args))[0]).toBe(errno);
    });
  });

  describe('when an operation does not finish in time', () => {
    it('answers EIO for a read and never touches the buffer afterwards', async () => {
      let finish!: (slices: Buffer[]) => void;
      const ops = build({ read: () => new Promise((resolve) => (finish = resolve)) });
      const buffer = Buffer.alloc(4);
      expect(await call(ops, 'read', '/f', 1, buffer, 4, 0)).toEqual([-Errno.EIO]);
      finish([Buffer.from('late')]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(buffer.equals(Buffer.alloc(4))).toBe(true);
    });

    it('answers ETIMEDOUT for a lookup', async () => {
      const ops = build({ getattr: () => new Promise(() => undefined) });
      expect(await call(ops, 'getattr', '/slow')).toEqual([-Errno.ETIMEDOUT]);
    });

    it('lets close (flush/release) wait for an upload however long it takes', async () => {
      const ops = build({ release: () => new Promise((resolve) => setTimeout(resolve, 400)) });
      expect(await call(ops, 'release', '/f', 1)).toEqual([0]);
    });
  });

  describe('when listing', () => {
    it('passes names and stats through', async () => {
      const stat = { mode: 0o40755 };
      const ops = build({ readdir: async () => ({ names: ['.', '..', 'a'], stats: [stat, stat, stat] as never }) });
      expect(await call(ops, 'readdir', '/')).toEqual([0, ['.', '..', 'a'], [stat, stat, stat]]);
    });
  });
});
