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

  describe('when a scan larger than the bound demotes what it has read', () => {
    const scan = (cache: MemoryCache, blocks: number, lag = 2) => {
      let hits = 0;
      for (let i = 0; i < blocks; i++) {
        if (cache.get(`b${i}`)) hits++;
        else cache.set(`b${i}`, Buffer.alloc(100));
        if (i >= lag) cache.demote(`b${i - lag}`);
      }
      return hits;
    };

    it('keeps what the first pass read while it fitted, so the next pass hits it', () => {
      const cache = new MemoryCache(1000); // 10 blocks of a 20-block loop
      expect(scan(cache, 20)).toBe(0);
      expect(cache.bytes).toBeLessThanOrEqual(1000);
      const second = scan(cache, 20);
      expect(second).toBeGreaterThanOrEqual(6);
      expect(scan(cache, 20)).toBeGreaterThanOrEqual(6);
      expect(cache.bytes).toBeLessThanOrEqual(1000);
    });

    it('without demotion a plain LRU hits nothing on the second pass (the case this fixes)', () => {
      const cache = new MemoryCache(1000);
      for (let pass = 0; pass < 2; pass++) {
        let hits = 0;
        for (let i = 0; i < 20; i++) {
          if (cache.get(`b${i}`)) hits++;
          else cache.set(`b${i}`, Buffer.alloc(100));
        }
        expect(hits).toBe(0);
      }
    });

    it('evicts demoted blocks before blocks in use elsewhere', () => {
      const cache = new MemoryCache(500);
      cache.set('hot', Buffer.alloc(100));
      scan(cache, 30);
      expect(cache.has('hot')).toBe(true);
    });

    it('promotes a demoted block that is read again', () => {
      const cache = new MemoryCache(300);
      cache.set('a', Buffer.alloc(100));
      cache.set('b', Buffer.alloc(100));
      cache.demote('a');
      expect(cache.get('a')).toBeDefined();
      cache.demote('b');
      cache.set('c', Buffer.alloc(100));
      cache.set('d', Buffer.alloc(100));
      expect(cache.has('a')).toBe(true);
      expect(cache.has('b')).toBe(false);
      expect(cache.bytes).toBeLessThanOrEqual(300);
    });
  });
});
