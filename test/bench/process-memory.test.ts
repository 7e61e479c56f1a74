import { spawn } from 'node:child_process';
import { watchPeakRss } from '../../bench/process-memory';

const MiB = 2 ** 20;

describe('watchPeakRss', () => {
  describe('when the watched process grows during the watch', () => {
    it('reports a peak at least as large as the growth', async () => {
      // A child of its own, so the figure does not depend on this jest worker's heap and GC.
      const child = spawn(process.execPath, ['-e', `
        process.stdout.write('up\\n');
        setTimeout(() => { globalThis.held = Buffer.alloc(96 * ${MiB}, 1); process.stdout.write('grown\\n'); }, 300);
        setTimeout(() => {}, 10000);
      `], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        let output = '';
        const saw = (word: string) => new Promise<void>((resolve) => {
          const check = () => (output.includes(word) ? resolve() : undefined);
          child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); check(); });
          check();
        });
        await saw('up');
        const watch = await watchPeakRss(child.pid!);
        await saw('grown');
        await new Promise((resolve) => setTimeout(resolve, 250));
        const peak = await watch.stop();
        expect(peak).toBeGreaterThanOrEqual(96 * MiB);
      } finally {
        child.kill('SIGKILL');
      }
    });
  });

  describe('when the process does not exist', () => {
    it('reports nothing rather than a number', async () => {
      const watch = await watchPeakRss(2 ** 22 + 12345);
      expect(await watch.stop()).toBeUndefined();
    });
  });
});
