import fc from 'fast-check';
import { type NodeCacheReport, parseCacheLocations } from '../../webhook/cache-hints';
import { rankCachedNodes, type RankingInput } from '../../webhook/cache-ranking';

const MINUTE = 60_000;
const T0 = Date.parse('2026-11-29T05:00:00Z');
const TTL = 10 * MINUTE;

function locations(entries: Record<string, { minute: number; datasets: Record<string, number> }>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).map(([node, { minute, datasets }]) => [node, JSON.stringify({
    updated: new Date(T0 + minute * MINUTE).toISOString(),
    datasets: Object.fromEntries(Object.entries(datasets).map(([key, bytes]) => [key, { bytes }])),
  })]));
}

function at(reports: readonly NodeCacheReport[], minute: number, keys: string[] = ['ml/imagenet']): RankingInput {
  return { reports, keys, sizes: undefined, now: new Date(T0 + minute * MINUTE), ttlMs: TTL, maxNodes: 3 };
}

/** The same reports as a new, unfrozen list: ranked afresh on every call. */
function unfrozen(reports: readonly NodeCacheReport[]): NodeCacheReport[] {
  return reports.map((r) => ({ ...r }));
}

describe('rankCachedNodes', () => {
  const reports = parseCacheLocations(locations({
    'node-a': { minute: 0, datasets: { 'ml/imagenet': 80, 'ml/coco': 5 } },
    'node-b': { minute: 4, datasets: { 'ml/imagenet': 20 } },
  }));

  describe('when the reports are frozen, as parseCacheLocations returns them', () => {
    it('answers a second pod with the same keys with the ranking it worked out for the first', () => {
      const first = rankCachedNodes(at(reports, 1));
      expect(first.annotation).toBe('node-a=80%,node-b=20%');
      expect(rankCachedNodes(at(reports, 2))).toBe(first);
    });

    it('ranks again, without it, once a report it used is older than the TTL', () => {
      expect(rankCachedNodes(at(reports, 9)).annotation).toBe('node-a=80%,node-b=20%');
      const later = rankCachedNodes(at(reports, 10.5));
      expect(later).toMatchObject({ annotation: 'node-b=100%', freshCount: 1, staleCount: 1 });
    });

    it('ranks again when the clock has gone back to before it ranked', () => {
      expect(rankCachedNodes(at(reports, 11)).annotation).toBe('node-b=100%');
      expect(rankCachedNodes(at(reports, 3)).annotation).toBe('node-a=80%,node-b=20%');
    });

    it('keeps rankings of different keys apart', () => {
      expect(rankCachedNodes(at(reports, 1, ['ml/coco'])).annotation).toBe('node-a=100%');
      expect(rankCachedNodes(at(reports, 1, ['ml/imagenet'])).annotation).toBe('node-a=80%,node-b=20%');
    });

    it('hands out plans that cannot be changed', () => {
      const { plan } = rankCachedNodes(at(reports, 1));
      expect(Object.isFrozen(plan)).toBe(true);
      expect(plan.every((entry) => Object.isFrozen(entry))).toBe(true);
    });
  });

  describe('on arbitrary reports, keys and times', () => {
    const node = fc.constantFrom('node-a', 'node-b', 'node-c');
    const key = fc.constantFrom('ml/imagenet', 'ml/coco', 'ml/labels');
    const entry = fc.record({ minute: fc.integer({ min: -30, max: 30 }), datasets: fc.dictionary(key, fc.nat({ max: 100 })) });

    it('ranks frozen reports exactly as the same reports ranked afresh, call after call', () => {
      fc.assert(fc.property(
        fc.dictionary(node, entry),
        fc.array(fc.tuple(fc.integer({ min: -20, max: 60 }), fc.uniqueArray(key, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 12 }),
        (data, calls) => {
          const frozen = parseCacheLocations(locations(data));
          for (const [minute, keys] of calls) {
            const kept = rankCachedNodes(at(frozen, minute, keys));
            const fresh = rankCachedNodes(at(unfrozen(frozen), minute, keys));
            expect(kept).toEqual(fresh);
          }
        },
      ), { numRuns: 300 });
    });
  });
});
