import { markLoad, otherLoadShare, parseMachineTicks } from '../../bench/webhook-other-load';

describe('the share of the machine other processes used', () => {
  describe('when /proc/stat is parsed', () => {
    it('adds user, nice, system, irq, softirq and steal as busy, and idle and iowait to the total', () => {
      const stat = 'cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\n';
      expect(parseMachineTicks(stat)).toEqual({ busy: 167, total: 1187 });
    });

    it.each([
      ['an empty text', ''],
      ['a first line that is not the machine total', 'cpu0 1 2 3 4 5 6 7 8\n'],
      ['a line with too few fields', 'cpu 1 2 3\n'],
    ])('gives undefined for %s', (_name, stat) => {
      expect(parseMachineTicks(stat)).toBeUndefined();
    });
  });

  describe('when two marks are compared', () => {
    it('counts the busy ticks our processes did not spend, as a share of all the cores\' time', () => {
      // 400 ticks of the machine's time went by, 300 busy, of which our processes spent 1 s = 100 ticks.
      const share = otherLoadShare({ busyTicks: 1000, totalTicks: 2000, ourSeconds: 1 }, { busyTicks: 1300, totalTicks: 2400, ourSeconds: 2 });
      expect(share).toBeCloseTo(0.5);
    });

    it('never goes below 0 (our CPU is read a moment after the machine\'s) nor above 1', () => {
      expect(otherLoadShare({ busyTicks: 0, totalTicks: 0, ourSeconds: 0 }, { busyTicks: 10, totalTicks: 100, ourSeconds: 0.5 })).toBe(0);
      expect(otherLoadShare({ busyTicks: 0, totalTicks: 0, ourSeconds: 0 }, { busyTicks: 200, totalTicks: 100, ourSeconds: 0 })).toBe(1);
      expect(otherLoadShare({ busyTicks: 5, totalTicks: 9, ourSeconds: 0 }, { busyTicks: 5, totalTicks: 9, ourSeconds: 0 })).toBe(0);
    });
  });

  describe('when this machine is asked', () => {
    const linux = process.platform === 'linux' ? it : it.skip;

    linux('marks the machine and this process', () => {
      const mark = markLoad([process.pid]);
      expect(mark?.totalTicks).toBeGreaterThan(0);
      expect(mark?.ourSeconds).toBeGreaterThan(0);
    });

    linux('gives no mark when one of the processes is gone', () => {
      expect(markLoad([process.pid, 2 ** 22 + 1])).toBeUndefined();
    });
  });
});
