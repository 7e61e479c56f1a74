import { TokenBucket } from '../../bench/token-bucket';

describe('TokenBucket', () => {
  const clock = (): { now: () => number; advance: (ms: number) => void } => {
    let t = 0;
    return { now: () => t, advance: (ms) => (t += ms) };
  };

  describe('when the bucket is full', () => {
    it('lets up to its capacity through without waiting', () => {
      const c = clock();
      const bucket = new TokenBucket(1000, 500, c.now);
      expect(bucket.take(500)).toBe(0);
    });
  });

  describe('when more is taken than there is', () => {
    it.each([
      { rate: 1000, capacity: 500, take: 1500, waitMs: 1000 },
      { rate: 100 * 2 ** 20, capacity: 2 ** 20, take: 2 * 2 ** 20, waitMs: 10 },
    ])('waits the debt at $rate B/s (take $take of $capacity → $waitMs ms)', ({ rate, capacity, take, waitMs }) => {
      const c = clock();
      const bucket = new TokenBucket(rate, capacity, c.now);
      expect(bucket.take(take)).toBeCloseTo(waitMs, 6);
    });

    it('counts time passed as refilled tokens, never above capacity', () => {
      const c = clock();
      const bucket = new TokenBucket(1000, 500, c.now);
      bucket.take(500);
      c.advance(250);
      expect(bucket.take(250)).toBe(0);
      c.advance(10_000);
      expect(bucket.take(600)).toBeCloseTo(100, 6);
    });
  });

  describe('when misconfigured', () => {
    it.each([[0, 10], [10, 0], [-1, 10]])('refuses rate %p capacity %p', (rate, capacity) => {
      expect(() => new TokenBucket(rate, capacity)).toThrow(RangeError);
    });
  });
});
