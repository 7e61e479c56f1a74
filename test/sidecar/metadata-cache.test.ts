import { MetadataCache, type Entry } from '../../sidecar/metadata-cache';

const file: Entry = { kind: 'file', size: 3, etag: '"e"', mtime: new Date(0) };

describe('metadata-cache', () => {
  let now = 0;
  const cache = () => new MetadataCache({ ttlMs: 1000, negativeTtlMs: 200, now: () => now });
  beforeEach(() => {
    now = 10_000;
  });

  describe('when an entry is stored', () => {
    it('is known until its TTL passes, then unknown', () => {
      const c = cache();
      c.setEntry('/f', file);
      now += 999;
      expect(c.entry('/f')).toEqual(file);
      now += 1;
      expect(c.entry('/f')).toBeUndefined();
    });
  });

  describe('when a miss is stored', () => {
    it('is remembered as null for the shorter negative TTL', () => {
      const c = cache();
      c.setEntry('/missing', null);
      now += 199;
      expect(c.entry('/missing')).toBeNull();
      now += 1;
      expect(c.entry('/missing')).toBeUndefined();
    });
  });

  describe('when a listing is stored', () => {
    it('expires with the TTL and is dropped when a child changes', () => {
      const c = cache();
      c.setListing('/d', new Map([['f', file]]));
      c.setEntry('/d/f', file);
      expect(c.listing('/d')?.get('f')).toEqual(file);
      c.invalidate('/d/f', '/d');
      expect(c.listing('/d')).toBeUndefined();
      expect(c.entry('/d/f')).toBeUndefined();
      c.setListing('/d', new Map());
      now += 1000;
      expect(c.listing('/d')).toBeUndefined();
    });
  });

  describe('when the TTL is zero', () => {
    it('remembers nothing', () => {
      const c = new MetadataCache({ ttlMs: 0, negativeTtlMs: 0, now: () => now });
      c.setEntry('/f', file);
      c.setListing('/', new Map());
      expect(c.entry('/f')).toBeUndefined();
      expect(c.listing('/')).toBeUndefined();
    });
  });
});
