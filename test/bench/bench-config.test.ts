import { parseBenchArgs } from '../../bench/bench-config';

describe('parseBenchArgs', () => {
  describe('when given no flags', () => {
    const config = parseBenchArgs([], { AWS_CA_BUNDLE: '/etc/ca.pem', PATH: '/bin' });

    it('runs every part, peer and workload at full size with the issue latency model', () => {
      expect(config).toMatchObject({
        parts: ['read', 'webhook', 'placement'], quick: false, ttfbMs: 20, bytesPerSecond: 100 * 2 ** 20, readers: 8, coldRounds: 5, timeoutMs: 300_000,
      });
      expect(config.peers).toContain('s3fs');
      expect(config.workloads).toContain('epochs');
    });

    it('removes AWS_CA_BUNDLE from the environment of peers and readers, keeping the rest', () => {
      expect(config.childEnv).toEqual({ PATH: '/bin' });
    });
  });

  describe('when given flags', () => {
    it.each([
      [['--only', 'read,webhook'], { parts: ['read', 'webhook'] }],
      [['--quick'], { quick: true, timeoutMs: 90_000, coldRounds: 0 }],
      [['--quick', '--cold-rounds', '2'], { quick: true, coldRounds: 2 }],
      [['--cold-pairs', '0'], { coldRounds: 0 }], // the older name
      [['--peers', 'datamount,direct'], { peers: ['datamount', 'direct'] }],
      [['--ttfb-ms', '0', '--bandwidth', '1Gi'], { ttfbMs: 0, bytesPerSecond: 2 ** 30 }],
      [['--readers', '16', '--timeout-s', '30'], { readers: 16, timeoutMs: 30_000 }],
    ])('%p gives %p', (argv, expected) => {
      expect(parseBenchArgs(argv, {})).toMatchObject(expected);
    });
  });

  describe('when flags are wrong', () => {
    it('lists every problem in one error, naming the flag and what it accepts', () => {
      let message = '';
      try {
        parseBenchArgs(['--only', 'reads', '--bandwidth', 'fast', '--readers', '0', '--cold-rounds', '-1', '--frobnicate'], {});
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain('--only: reads not accepted; use a comma list of read, webhook, placement');
      expect(message).toContain('--bandwidth: "fast" is not a Kubernetes quantity');
      expect(message).toContain('--readers: "0" is not a positive whole number');
      expect(message).toContain('--cold-rounds: "-1" is not a whole number ≥ 0');
      expect(message).toContain('--frobnicate: unknown option');
    });

    it('refuses a flag whose value is missing', () => {
      expect(() => parseBenchArgs(['--peers'], {})).toThrow(/--peers: needs a value/);
    });
  });
});
