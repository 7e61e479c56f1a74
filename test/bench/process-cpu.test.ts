import { cpuSeconds, cpuSecondsNow, parseCpuSeconds, totalCpuSecondsNow } from '../../bench/process-cpu';

describe('process CPU time', () => {
  describe('when a /proc/<pid>/stat line is parsed', () => {
    it.each([
      ['a plain command name', '4242 (node) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 1000 1 1', 3.25],
      ['a name with spaces and parentheses', '7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 1 1', 0.03],
    ])('reads utime + stime from %s', (_name, line, seconds) => {
      expect(parseCpuSeconds(line)).toBeCloseTo(seconds, 5);
    });

    it('gives undefined for a line it cannot read', () => {
      expect(parseCpuSeconds('garbage')).toBeUndefined();
    });
  });

  describe('when this process is asked about', () => {
    it('counts CPU it just spent', async () => {
      const before = (await cpuSeconds(process.pid)) ?? NaN;
      // Spin until Node itself counts 0.1 s of CPU spent (not for a wall-clock time: on a busy
      // machine 150 ms of wall clock once gave this process only 40 ms of CPU).
      const start = process.cpuUsage();
      const spent = () => {
        const used = process.cpuUsage(start);
        return (used.user + used.system) / 1e6;
      };
      let spin = 0;
      while (spent() < 0.1) spin++;
      expect(spin).toBeGreaterThan(0);
      expect(((await cpuSeconds(process.pid)) ?? NaN) - before).toBeGreaterThanOrEqual(0.05);
    });
  });

  describe('when several processes are added up', () => {
    it('sums what each has used', () => {
      const own = cpuSecondsNow(process.pid) ?? NaN;
      const parent = cpuSecondsNow(process.ppid) ?? NaN;
      const total = totalCpuSecondsNow([process.pid, process.ppid]) ?? NaN;
      // Read one after the other, so the sum may have moved on by a clock tick or two.
      expect(total).toBeGreaterThanOrEqual(own + parent);
      expect(total).toBeLessThan(own + parent + 0.05);
    });

    it('gives undefined when one of them cannot be read', () => {
      expect(totalCpuSecondsNow([process.pid, 2 ** 22 + 1])).toBeUndefined();
    });
  });
});
