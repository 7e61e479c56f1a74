import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Fuse from 'fuse-native';
import { createFuse, fuseMaxRequestBytes, fuseThreads, isFuseMountPoint, reusesThreadState } from '../../sidecar/fuse-mount-point';
import { forceUnmountAll } from '../support/fuse-cleanup';

const run = promisify(execFile);

function attrs(mode: number, size: number) {
  const now = new Date();
  return { mtime: now, atime: now, ctime: now, nlink: 1, size, mode, uid: 0, gid: 0 };
}

const ops = {
  readdir: (_p: string, cb: (code: number, names?: string[]) => void) => cb(0, ['hello']),
  getattr: (p: string, cb: (code: number, st?: object) => void) => {
    if (p === '/') cb(0, attrs(0o40755, 4096));
    else if (p === '/hello') cb(0, attrs(0o100644, 5));
    else cb(-2);
  },
} as unknown as ConstructorParameters<typeof Fuse>[1];

const mountAsync = (fuse: Fuse) => new Promise<void>((resolve, reject) => fuse.mount((e) => (e ? reject(e) : resolve())));
const unmountAsync = (fuse: Fuse) => new Promise<void>((resolve) => fuse.unmount(() => resolve()));

describe('createFuse', () => {
  let root: string;
  let mnt: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'dm-mountpoint-'));
    mnt = path.join(root, 'mnt');
    mkdirSync(mnt);
  });
  afterEach(async () => {
    await forceUnmountAll(root);
    try {
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    } catch {
      // not bind-mounted in this case
    }
  });

  describe('when the mount point is itself a bind mount, as an emptyDir in a container is', () => {
    it('mounts there (fuse-native alone refuses with "Mountpoint in use")', async () => {
      execFileSync('mount', ['--bind', mnt, mnt]);
      const fuse = createFuse(mnt, ops, { force: true });
      await mountAsync(fuse);
      try {
        // Read from a child process: the FUSE callbacks run on this process's main thread.
        expect((await run('ls', [mnt])).stdout.trim()).toBe('hello');
        expect(await isFuseMountPoint(mnt)).toBe(true);
      } finally {
        await unmountAsync(fuse);
      }
      expect(await isFuseMountPoint(mnt)).toBe(false);
    });
  });

  describe('when a reader asks for 1 MiB at a time', () => {
    const size = 8 * 1024 * 1024;
    /** A file whose every 4-byte word holds its own offset / 4, and the read sizes asked for. */
    const counting = () => {
      const lengths: number[] = [];
      const words = {
        ...ops,
        getattr: (p: string, cb: (code: number, st?: object) => void) => (p === '/big' ? cb(0, attrs(0o100644, size)) : cb(p === '/' ? 0 : -2, p === '/' ? attrs(0o40755, 4096) : undefined)),
        open: (_p: string, _flags: number, cb: (code: number, fd: number) => void) => cb(0, 7),
        release: (_p: string, _fd: number, cb: (code: number) => void) => cb(0),
        read: (_p: string, _fd: number, buf: Buffer, length: number, position: number, cb: (bytes: number) => void) => {
          lengths.push(length);
          const bytes = Math.max(0, Math.min(length, size - position));
          for (let at = 0; at < bytes; at += 4) buf.writeUInt32LE((position + at) / 4, at);
          cb(bytes);
        },
      } as unknown as ConstructorParameters<typeof Fuse>[1];
      return { words, lengths };
    };

    it('is asked for 1 MiB per request, not libfuse 2\'s 128 KiB, and returns the right bytes', async () => {
      expect(fuseMaxRequestBytes).toBe(1024 * 1024);
      const { words, lengths } = counting();
      const fuse = createFuse(mnt, words, {});
      await mountAsync(fuse);
      try {
        // Direct I/O: every read(2) of 1 MiB goes to the file system as it is, with no page cache.
        const { stdout } = await run('sh', ['-c', `dd if='${mnt}/big' bs=1M iflag=direct status=none | od -A n -t u4 -v | awk '{ for (i = 1; i <= NF; i++) if ($i != n++) bad++ } END { print n, bad + 0 }'`], { maxBuffer: 1024 * 1024 });
        expect(stdout.trim()).toBe(`${size / 4} 0`);
        expect(lengths).toEqual(Array.from({ length: size / (1024 * 1024) }, () => 1024 * 1024));
      } finally {
        await unmountAsync(fuse);
      }
    });
  });

  describe('when the directory already carries a FUSE mount', () => {
    it('refuses a second mount with a reason', async () => {
      const first = createFuse(mnt, ops, {});
      await mountAsync(first);
      try {
        await expect(mountAsync(createFuse(mnt, ops, {}))).rejects.toThrow(/already carries a FUSE mount/);
      } finally {
        await unmountAsync(first);
      }
    });
  });

  describe('when bursts of reads arrive (libfuse 2 alone would start and end threads for them)', () => {
    /** A file system whose reads all wait `delayMs`, counting how many are in flight at once. */
    const slowReads = (delayMs: number) => {
      const seen = { inFlight: 0, most: 0 };
      const slow = {
        ...(ops as object),
        getattr: (p: string, cb: (code: number, st?: object) => void) => (p === '/' || /^\/b\d+$/.test(p) ? cb(0, attrs(0o40755, 4096)) : cb(0, attrs(0o100644, 4096))),
        open: (_p: string, _flags: number, cb: (code: number, fd?: number) => void) => cb(0, 1),
        read: (_p: string, _fd: number, buffer: Buffer, length: number, _position: number, cb: (bytes: number) => void) => {
          seen.inFlight++;
          seen.most = Math.max(seen.most, seen.inFlight);
          setTimeout(() => {
            seen.inFlight--;
            cb(buffer.fill(120, 0, length) && length);
          }, delayMs);
        },
      } as unknown as ConstructorParameters<typeof Fuse>[1];
      return { slow, seen };
    };

    it('is running the patched binding: thread state reused, a fixed pool of threads', () => {
      expect(reusesThreadState).toBe(true);
      expect(fuseThreads).toBe(96);
    });

    it('serves bursts with a fixed pool of threads: none started meanwhile, one state per pool thread at most', async () => {
      const { slow, seen } = slowReads(150);
      const fuse = createFuse(mnt, slow, {});
      await mountAsync(fuse);
      const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
      try {
        await new Promise((resolve) => setTimeout(resolve, 200)); // the pool starts with the mount
        const idle = threads();
        const readers = 16;
        for (let burst = 0; burst < 4; burst++) {
          // New files each burst (the page cache would answer the old ones), read by separate
          // processes so that every read is its own FUSE request at the same time.
          const files = Array.from({ length: readers }, (_, i) => path.join(mnt, `b${burst}`, `f${i}`));
          const reads = Promise.all(files.map((file) => run('head', ['-c', '100', file])));
          while (seen.inFlight < 12) await new Promise((resolve) => setTimeout(resolve, 5));
          // libfuse's own loop starts a thread for every request beyond its idle ones (14 → 28).
          expect(threads()).toBe(idle);
          await reads;
        }
        expect(seen.most).toBeGreaterThan(12);
        expect((fuse as unknown as { _threads: Set<Buffer> })._threads.size).toBeLessThanOrEqual(fuseThreads);
      } finally {
        await unmountAsync(fuse);
      }
    });
  });
});
