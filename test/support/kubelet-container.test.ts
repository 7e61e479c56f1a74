import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { sweepNamespace } from './kubelet-container';
import { isAlive } from './process-alive';

describe('sweepNamespace', () => {
  describe('when a process runs in a mount namespace of its own', () => {
    it('kills it only if it started before the moment given (a namespace number freed and taken again is not ours)', async () => {
      const child = spawn('unshare', ['--mount', '--propagation', 'unchanged', '--', 'sleep', '30'], { stdio: 'ignore' });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        const pid = child.pid ?? -1;
        const ours = await fs.readlink('/proc/self/ns/mnt');
        let namespace = ours;
        for (let turn = 0; turn < 200 && namespace === ours; turn++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          namespace = await fs.readlink(`/proc/${pid}/ns/mnt`).catch(() => ours);
        }
        expect(namespace).not.toBe(ours);

        expect(await sweepNamespace(namespace, 1)).toBe(0); // "born before the first tick since boot": none is
        expect(isAlive(pid)).toBe(true);
        expect(await sweepNamespace(namespace)).toBe(1);
        await exited;
        expect(isAlive(pid)).toBe(false);
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});
