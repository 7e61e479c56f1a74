import { SimNode } from '../../bench/placement-cluster';
import { parseCacheLocations } from '../../webhook/cache-hints';

describe('SimNode cache', () => {
  describe('when a dataset fits in the cache', () => {
    it('reads it cold once, then warm', () => {
      const node = new SimNode('n', 4, 100, 10);
      expect(node.readDataset('ml/a', 55)).toBe(0);
      expect(node.readDataset('ml/a', 55)).toBe(55);
    });
  });

  describe('when the cache is full', () => {
    it('evicts the least recently used segments across datasets', () => {
      const node = new SimNode('n', 4, 100, 10);
      node.readDataset('ml/a', 50);
      node.readDataset('ml/b', 50);
      node.readDataset('ml/a', 50);
      node.readDataset('ml/c', 30);
      // b was used least recently: its first three segments made room for c.
      expect(node.readDataset('ml/a', 50)).toBe(50);
      expect(node.readDataset('ml/c', 30)).toBe(30);
      const report = parseCacheLocations({ n: node.report(new Date('2026-01-01T00:00:00Z')) })[0];
      expect(report?.datasets).toEqual({ 'ml/a': { bytes: 50 }, 'ml/b': { bytes: 20 }, 'ml/c': { bytes: 30 } });
    });

    it('never hits on a dataset larger than the cache read front to back (LRU scan)', () => {
      const node = new SimNode('n', 4, 100, 10);
      node.readDataset('ml/big', 150);
      expect(node.readDataset('ml/big', 150)).toBe(0);
    });
  });
});
