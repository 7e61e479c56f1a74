import { MemoryCache } from '../../sidecar/memory-cache';

describe('memory-cache', () => {
  describe('when more bytes are stored than the bound', () => {
    it('evicts the least recently used blocks and stays under the bound', () => {
      const cache = new MemoryCache(300);
      cache.set('a', Buffer.alloc(100));
      cache.set('b', Buffer.alloc(100));
      cache.set('c', Buffer.alloc(100));
      cache.get('a');
      cache.set('d', Buffer.alloc(100));
      expect(cache.has('a')).toBe(true);
      expect(cache.has('b')).toBe(false);
      expect(cache.bytes).toBeLessThanOrEqual(300);
    });
  });

  describe('when a block is stored', () => {
    it('returns the same buffer, not a copy', () => {
      const cache = new MemoryCache(300);
      const block = Buffer.from('x');
      cache.set('x', block);
      expect(cache.get('x')).toBe(block);
    });
  });

  describe('when the bound is zero or smaller than the block', () => {
    it.each([
      [0, 10],
      [50, 100],
    ])('bound %d, block %d: keeps nothing', (bound, size) => {
      const cache = new MemoryCache(bound);
      cache.set('x', Buffer.alloc(size));
      expect(cache.get('x')).toBeUndefined();
    });
  });
});
