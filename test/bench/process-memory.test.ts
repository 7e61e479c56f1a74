import { watchPeakRss } from '../../bench/process-memory';

describe('watchPeakRss', () => {
  describe('when the process grows during the watch', () => {
    it('reports a peak at least as large as the growth', async () => {
      const watch = await watchPeakRss(process.pid);
      const before = process.memoryUsage().rss;
      const held = Buffer.alloc(64 * 2 ** 20, 1);
      await new Promise((resolve) => setTimeout(resolve, 250));
      const peak = await watch.stop();
      expect(held[0]).toBe(1);
      expect(peak).toBeGreaterThanOrEqual(before + 60 * 2 ** 20);
    });
  });

  describe('when the process does not exist', () => {
    it('reports nothing rather than a number', async () => {
      const watch = await watchPeakRss(2 ** 22 + 12345);
      expect(await watch.stop()).toBeUndefined();
    });
  });
});
