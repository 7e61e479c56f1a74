import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Fuse from 'fuse-native';
import { createFuse, isFuseMountPoint } from '../../sidecar/fuse-mount-point';
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
});
