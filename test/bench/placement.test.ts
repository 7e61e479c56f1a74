import { runPlacementBench, parsePlacementArgs, type PlacementOptions } from '../../bench/placement';

const SMALL: Partial<PlacementOptions> = { nodes: 10, slotsPerNode: 2, pods: 200, datasets: 10, maxDatasetGiB: 60, seed: 3 };

describe('runPlacementBench', () => {
  describe('when run twice with the same seed', () => {
    it('gives the same rows, one per mode, every pod completed', () => {
      const first = runPlacementBench(SMALL);
      expect(runPlacementBench(SMALL)).toEqual(first);
      expect(first.map((row) => [row.mode, row.podsCompleted])).toEqual([['none', 200], ['preferred', 200], ['required', 200]]);
    });
  });

  describe('when datasets fit in the node caches', () => {
    it('preferred hints raise the hit ratio and shorten epochs against no hints', () => {
      const [none, preferred] = runPlacementBench({ ...SMALL, modes: ['none', 'preferred'] });
      expect(preferred?.hitRatio).toBeGreaterThan(none?.hitRatio ?? 1);
      expect(preferred?.meanEpochS).toBeLessThan(none?.meanEpochS ?? 0);
      expect(preferred?.s3Bytes).toBeLessThan(none?.s3Bytes ?? 0);
    });
  });
});

describe('parsePlacementArgs', () => {
  it('reads flags, and measured speeds clear the "assumed" mark', () => {
    expect(parsePlacementArgs(['--nodes', '20', '--cache', '100Gi', '--cold-mbps', '250', '--modes', 'none,required'])).toEqual({
      nodes: 20, cacheBytesPerNode: 100 * 2 ** 30, coldMBps: 250, speedsAssumed: false, modes: ['none', 'required'],
    });
  });

  it('names every bad flag in one error', () => {
    expect(() => parsePlacementArgs(['--nodes', '0', '--cache', 'big', '--modes', 'sometimes', '--what', '1']))
      .toThrow(/--nodes "0"[\s\S]*--cache "big"[\s\S]*--modes "sometimes"[\s\S]*unknown flag "--what"/);
  });
});
