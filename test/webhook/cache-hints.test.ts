import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CacheHintInput,
  HOSTNAME_LABEL,
  NodeCacheReport,
  parseCacheLocations,
  planCacheHints,
} from '../../webhook/cache-hints';
import { jsonText } from '../../webhook/json-text';
import { assertValidPod } from '../support/k8s-schema';

const NOW = new Date('2026-11-29T05:01:00Z');
const TTL = 5 * 60_000;
const GB = 1e9;

function report(node: string, datasets: Record<string, number>, updated: Date = NOW): NodeCacheReport {
  return {
    node,
    updated,
    datasets: Object.fromEntries(Object.entries(datasets).map(([key, bytes]) => [key, { bytes }])),
  };
}

function input(overrides: Partial<CacheHintInput>): CacheHintInput {
  return {
    podSpec: {},
    datasetKeys: ['ml/imagenet'],
    reports: [],
    mode: 'preferred',
    now: NOW,
    ttlMs: TTL,
    maxNodes: 3,
    ...overrides,
  };
}

function preferredTerm(node: string, weight: number): object {
  return { weight, preference: { matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values: [node] }] } };
}

/** The nodes and weights of the preferred hostname terms, in order. */
function preferredWeights(affinity: Record<string, unknown> | undefined): Array<[string, number]> {
  const terms = (affinity?.nodeAffinity as { preferredDuringSchedulingIgnoredDuringExecution?: unknown[] } | undefined)
    ?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  return terms.map((term) => {
    const t = term as { weight: number; preference: { matchExpressions: Array<{ values: string[] }> } };
    return [t.preference.matchExpressions[0]?.values[0] ?? '?', t.weight];
  });
}

describe('parseCacheLocations', () => {
  describe('when reading the fixture ConfigMap with good and broken entries', () => {
    const data = JSON.parse(readFileSync(join(__dirname, 'fixtures/cache-locations.json'), 'utf8')) as Record<string, string>;
    const logged: Array<{ msg: string; fields?: object }> = [];
    const reports = parseCacheLocations(data, (msg, fields) => logged.push({ msg, fields }));

    it('keeps the valid reports, in node order', () => {
      expect(reports.map((r) => r.node)).toEqual(['node-a', 'node-b', 'node-c']);
    });

    it('reads dates with offsets and fractions as the instant they name', () => {
      expect(reports[1]?.updated.toISOString()).toBe('2026-11-29T04:00:10.250Z');
    });

    it('keeps the good dataset entries of a report whose other entries are broken', () => {
      expect(reports[2]?.datasets).toEqual({ 'ml/imagenet': { bytes: 5e9 } });
    });

    it('logs one line per skipped value or entry, naming the node', () => {
      expect(logged).toEqual(expect.arrayContaining([
        { msg: 'cache-location entry skipped', fields: expect.objectContaining({ node: 'node-d' }) },
        { msg: 'cache-location entry skipped', fields: expect.objectContaining({ node: 'node-e' }) },
        { msg: 'cache-location entry skipped', fields: expect.objectContaining({ node: 'node-f' }) },
        { msg: 'cache-location dataset entry skipped', fields: expect.objectContaining({ node: 'node-c', dataset: 'other/logs' }) },
        { msg: 'cache-location dataset entry skipped', fields: expect.objectContaining({ node: 'node-c', dataset: 'ml/coco' }) },
      ]));
      expect(logged).toHaveLength(5);
    });
  });

  describe('when a value is malformed', () => {
    it.each([
      ['not JSON', '{"updated":', 'not JSON'],
      ['JSON null', 'null', 'not a JSON object'],
      ['a JSON string', '"hello"', 'not a JSON object'],
      ['an array', '[]', 'not a JSON object'],
      ['no updated', '{"datasets":{}}', 'RFC 3339'],
      ['updated as a number', '{"updated":1764392400,"datasets":{}}', 'RFC 3339'],
      ['updated without a zone', '{"updated":"2026-11-29T05:00:00","datasets":{}}', 'RFC 3339'],
      ['updated in month 13', '{"updated":"2026-13-01T05:00:00Z","datasets":{}}', 'not a real date'],
      ['no datasets', '{"updated":"2026-11-29T05:00:00Z"}', '"datasets"'],
      ['datasets as a list', '{"updated":"2026-11-29T05:00:00Z","datasets":[]}', '"datasets"'],
    ])('skips %s with a reason and does not throw', (_name, value, reason) => {
      const log = jest.fn();
      expect(parseCacheLocations({ 'node-x': value }, log)).toEqual([]);
      expect(log).toHaveBeenCalledWith('cache-location entry skipped', { node: 'node-x', reason: expect.stringContaining(reason) });
    });
  });

  describe('when a dataset entry is malformed', () => {
    it.each([
      ['negative bytes', { bytes: -5 }],
      ['bytes as a string', { bytes: '5' }],
      ['bytes missing', { blocks: 3 }],
      ['bytes null', { bytes: null }],
      ['an entry that is a number', 5],
    ])('skips %s and keeps the report', (_name, entry) => {
      const value = JSON.stringify({ updated: '2026-11-29T05:00:00Z', datasets: { 'ml/bad': entry, 'ml/good': { bytes: 7 } } });
      const log = jest.fn();
      const [parsed] = parseCacheLocations({ 'node-x': value }, log);
      expect(parsed?.datasets).toEqual({ 'ml/good': { bytes: 7 } });
      expect(log).toHaveBeenCalledTimes(1);
    });
  });

  describe('when there is no data', () => {
    it.each([[undefined], [{}]])('returns no reports for %p', (data) => {
      expect(parseCacheLocations(data)).toEqual([]);
    });
  });
});

describe('planCacheHints', () => {
  describe('when ranking nodes', () => {
    it.each<[string, Partial<CacheHintInput>, Array<[string, number]>]>([
      [
        'one dataset: weights are each node\'s share',
        { reports: [report('node-c', { 'ml/imagenet': 5 * GB }), report('node-a', { 'ml/imagenet': 80 * GB }), report('node-b', { 'ml/imagenet': 15 * GB })] },
        [['node-a', 80], ['node-b', 15], ['node-c', 5]],
      ],
      [
        'more nodes than maxNodes: only the best, shares among them',
        {
          maxNodes: 2,
          reports: [report('a', { 'ml/imagenet': 60 }), report('b', { 'ml/imagenet': 20 }), report('c', { 'ml/imagenet': 20 }), report('d', { 'ml/imagenet': 10 })],
        },
        [['a', 75], ['b', 25]],
      ],
      [
        'equal caches: ties broken by node name',
        { reports: [report('node-b', { 'ml/imagenet': 10 }), report('node-a', { 'ml/imagenet': 10 })] },
        [['node-a', 50], ['node-b', 50]],
      ],
      [
        'a tiny share still weighs at least 1',
        { reports: [report('a', { 'ml/imagenet': 1000 }), report('b', { 'ml/imagenet': 1 })] },
        [['a', 100], ['b', 1]],
      ],
      [
        'two datasets: a small dataset held in full outranks half of a big one',
        {
          datasetKeys: ['ml/imagenet', 'ml/labels'],
          datasetSizes: { 'ml/imagenet': 100 * GB, 'ml/labels': 1 * GB },
          reports: [report('big-half', { 'ml/imagenet': 50 * GB }), report('small-full', { 'ml/labels': 1 * GB })],
        },
        [['small-full', 67], ['big-half', 33]],
      ],
      [
        'sizes unknown: the largest cache of a dataset stands for its size',
        {
          datasetKeys: ['ml/imagenet', 'ml/labels'],
          reports: [
            report('both', { 'ml/imagenet': 40 * GB, 'ml/labels': 1 * GB }),
            report('big', { 'ml/imagenet': 80 * GB }),
          ],
        },
        // both: 0.5 + 1 = 1.5, big: 1 + 0 = 1
        [['both', 60], ['big', 40]],
      ],
      [
        'caches of other datasets and empty caches do not count',
        { reports: [report('a', { 'ml/imagenet': 0, 'ml/coco': 99 * GB }), report('b', { 'ml/imagenet': 3 })] },
        [['b', 100]],
      ],
      [
        'a duplicated dataset key counts once',
        {
          datasetKeys: ['ml/imagenet', 'ml/imagenet', 'ml/labels'],
          reports: [report('a', { 'ml/imagenet': 10 }), report('b', { 'ml/labels': 10 })],
        },
        [['a', 50], ['b', 50]],
      ],
      [
        'reports older than the TTL are ignored; one exactly at the TTL is kept',
        {
          reports: [
            report('stale', { 'ml/imagenet': 100 * GB }, new Date(NOW.getTime() - TTL - 1)),
            report('edge', { 'ml/imagenet': 1 * GB }, new Date(NOW.getTime() - TTL)),
          ],
        },
        [['edge', 100]],
      ],
    ])('%s', (_name, overrides, wanted) => {
      const result = planCacheHints(input(overrides));
      expect(preferredWeights(result.affinity)).toEqual(wanted);
      expect(result.annotation).toBe(wanted.map(([node, weight]) => `${node}=${weight}%`).join(','));
      expect(result.warnings).toEqual([]);
    });

    it('stale reports do not stand for a dataset\'s size either', () => {
      const result = planCacheHints(input({
        datasetKeys: ['ml/imagenet', 'ml/labels'],
        reports: [
          report('old', { 'ml/imagenet': 100 }, new Date(0)),
          report('a', { 'ml/imagenet': 10 }),
          report('b', { 'ml/labels': 10 }),
        ],
      }));
      expect(result.annotation).toBe('a=50%,b=50%');
    });
  });

  describe('when nothing should be added', () => {
    const cached = [report('node-a', { 'ml/imagenet': 10 })];
    it.each<[string, Partial<CacheHintInput>, RegExp]>([
      ['mode none', { mode: 'none', reports: cached }, /"none"/],
      ['pinned by nodeName', { podSpec: { nodeName: 'node-z' }, reports: cached }, /pinned to node node-z by spec.nodeName/],
      ['pinned by a hostname nodeSelector', { podSpec: { nodeSelector: { [HOSTNAME_LABEL]: 'node-z' } }, reports: cached }, /pinned to node node-z by nodeSelector/],
      ['pinned by nodeName in required mode', { mode: 'required', podSpec: { nodeName: 'node-z' }, reports: cached }, /spec.nodeName/],
      ['no datasets', { datasetKeys: [], reports: cached }, /asks for no dataset/],
      ['no node has the data (preferred)', { reports: [report('node-a', { 'ml/coco': 10 })] }, /no node reports a fresh cache of ml\/imagenet/],
      ['only stale reports', { reports: [report('node-a', { 'ml/imagenet': 10 }, new Date(0))] }, /1 older than 300s ignored/],
      ['maxNodes 0', { maxNodes: 0, reports: cached }, /no node reports/],
      ['affinity that is not an object', { podSpec: { affinity: 'x' }, reports: cached }, /spec.affinity is not an object/],
      ['preferred terms that are not a list', { podSpec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: {} } } }, reports: cached }, /not a list/],
    ])('%s: no affinity, no annotation, no warning, a reason', (_name, overrides, reason) => {
      const result = planCacheHints(input(overrides));
      expect(result.affinity).toBeUndefined();
      expect(result.annotation).toBeUndefined();
      expect(result.warnings).toEqual([]);
      expect(result.reason).toMatch(reason);
    });

    it('warns only when required was asked and no node holds the data', () => {
      const result = planCacheHints(input({ mode: 'required', reports: [report('node-a', { 'ml/coco': 10 })] }));
      expect(result.affinity).toBeUndefined();
      expect(result.warnings).toEqual([expect.stringMatching(/"required" but no node reports a fresh cache of ml\/imagenet.*not restricted/)]);
    });

    it('applies hints when the nodeSelector names other labels', () => {
      const result = planCacheHints(input({ podSpec: { nodeSelector: { 'gpu': 'a100' } }, reports: cached }));
      expect(result.annotation).toBe('node-a=100%');
    });
  });

  const reports = [report('node-a', { 'ml/imagenet': 75 }), report('node-b', { 'ml/imagenet': 25 })];
  const userPreferred = { weight: 7, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] } };
  const userRequired = {
    nodeSelectorTerms: [
      { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] },
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z2'] }], matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['bad'] }] },
    ],
  };
  const podAntiAffinity = {
    preferredDuringSchedulingIgnoredDuringExecution: [
      { weight: 10, podAffinityTerm: { topologyKey: HOSTNAME_LABEL, labelSelector: { matchLabels: { app: 'x' } } } },
    ],
  };
  const hostnameIn = (values: string[]): object => ({ key: HOSTNAME_LABEL, operator: 'In', values });

  describe('when merging preferred hints with what the pod has', () => {
    it.each<[string, unknown, unknown]>([
      [
        'no affinity',
        undefined,
        { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('node-a', 75), preferredTerm('node-b', 25)] } },
      ],
      [
        'its own preferred terms come first and stay',
        { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [userPreferred] } },
        { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [userPreferred, preferredTerm('node-a', 75), preferredTerm('node-b', 25)] } },
      ],
      [
        'required terms and pod anti-affinity are untouched',
        { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: userRequired }, podAntiAffinity },
        {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: userRequired,
            preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('node-a', 75), preferredTerm('node-b', 25)],
          },
          podAntiAffinity,
        },
      ],
      [
        'it already prefers one of the nodes: that term stays as the pod has it, not doubled',
        { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('node-b', 3)] } },
        { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [preferredTerm('node-b', 3), preferredTerm('node-a', 75)] } },
      ],
    ])('%s', (_name, affinity, wanted) => {
      const podSpec = { affinity: structuredClone(affinity) };
      const result = planCacheHints(input({ podSpec, reports }));
      expect(result.affinity).toEqual(wanted);
      expect(podSpec.affinity).toEqual(affinity);
      assertValidPod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }], affinity: result.affinity } });
    });
  });

  describe('when merging a required hint with what the pod has', () => {
    it.each<[string, unknown, unknown]>([
      [
        'no affinity: one term with the best nodes',
        undefined,
        { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [hostnameIn(['node-a', 'node-b'])] }] } } },
      ],
      [
        'its own terms: the hostname is ANDed into every one, nothing else changes',
        { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: userRequired, preferredDuringSchedulingIgnoredDuringExecution: [userPreferred] } },
        {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'gpu', operator: 'Exists' }, hostnameIn(['node-a', 'node-b'])] },
                {
                  matchExpressions: [{ key: 'zone', operator: 'In', values: ['z2'] }, hostnameIn(['node-a', 'node-b'])],
                  matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['bad'] }],
                },
              ],
            },
            preferredDuringSchedulingIgnoredDuringExecution: [userPreferred],
          },
        },
      ],
      [
        'a term with only matchFields gets matchExpressions',
        { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }] }] } } },
        {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }], matchExpressions: [hostnameIn(['node-a', 'node-b'])] }],
            },
          },
        },
      ],
      [
        'a term that already names hostnames is left alone',
        { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [hostnameIn(['node-q'])] }, { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }] } } },
        {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [hostnameIn(['node-q'])] }, { matchExpressions: [{ key: 'gpu', operator: 'Exists' }, hostnameIn(['node-a', 'node-b'])] }],
            },
          },
        },
      ],
    ])('%s', (_name, affinity, wanted) => {
      const podSpec = { affinity: structuredClone(affinity) };
      const result = planCacheHints(input({ mode: 'required', podSpec, reports }));
      expect(result.affinity).toEqual(wanted);
      expect(result.annotation).toBe('node-a=75%,node-b=25%');
      expect(result.warnings).toEqual([]);
      expect(podSpec.affinity).toEqual(affinity);
      assertValidPod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }], affinity: result.affinity } });
    });
  });

  describe('when planning again on a pod it already hinted (reinvocation)', () => {
    it.each<[string, 'preferred' | 'required', unknown]>([
      ['preferred, no affinity', 'preferred', undefined],
      ['preferred, with the pod\'s own terms', 'preferred', { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [userPreferred] }, podAntiAffinity }],
      ['required, no affinity', 'required', undefined],
      ['required, with the pod\'s own terms', 'required', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: userRequired } }],
    ])('%s: yields the same affinity and annotation', (_name, mode, affinity) => {
      const first = planCacheHints(input({ mode, podSpec: { affinity }, reports }));
      const second = planCacheHints(input({ mode, podSpec: { affinity: first.affinity }, reports }));
      expect(first.affinity).toBeDefined();
      expect(second.affinity).toEqual(first.affinity);
      expect(second.annotation).toEqual(first.annotation);
    });
  });
});

describe('planCacheHints on the reports the webhook parsed (frozen)', () => {
  const data = {
    'node-a': JSON.stringify({ updated: NOW.toISOString(), datasets: { 'ml/imagenet': { bytes: 9 * GB } } }),
    'node-b': JSON.stringify({ updated: NOW.toISOString(), datasets: { 'ml/imagenet': { bytes: 1 * GB } } }),
  };
  const reports = parseCacheLocations(data);

  describe.each(['preferred', 'required'] as const)('when pods without affinity of their own ask, mode %s', (mode) => {
    it('gives every such pod the same hints, frozen, with their JSON text remembered', () => {
      const first = planCacheHints(input({ mode, reports }));
      const second = planCacheHints(input({ mode, reports }));
      expect(second).toBe(first);
      expect(first.annotation).toBe('node-a=90%,node-b=10%');
      expect(Object.isFrozen(first.affinity)).toBe(true);
      expect(jsonText(first.affinity)).toBe(JSON.stringify(first.affinity));
    });

    it('merges into a copy of a pod\'s own affinity, which it leaves as it was', () => {
      const own = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [] } };
      const result = planCacheHints(input({ mode, reports, podSpec: { affinity: own } }));
      expect(own).toEqual({ podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [] } });
      expect(result.affinity).toMatchObject(own);
      expect(result.affinity).toHaveProperty('nodeAffinity');
      expect(Object.isFrozen(result.affinity)).toBe(false);
    });
  });
});

describe('cache hints on arbitrary input', () => {
  const nodeName = fc.constantFrom('node-a', 'node-b', 'node-c', 'node-d');
  const datasetKey = fc.constantFrom('ml/imagenet', 'ml/coco', 'ml/labels');
  const reportValue = fc.oneof(
    fc.string(),
    fc.json(),
    fc.record({
      updated: fc.oneof(fc.constant('2026-11-29T05:00:00Z'), fc.string(), fc.integer()),
      datasets: fc.oneof(fc.dictionary(datasetKey, fc.oneof(fc.record({ bytes: fc.oneof(fc.nat(), fc.double(), fc.string()) }), fc.anything())), fc.anything()),
    }).map((value) => JSON.stringify(value)),
  );
  const hostExpression = fc.record({ key: fc.constantFrom(HOSTNAME_LABEL, 'zone'), operator: fc.constantFrom('In', 'NotIn', 'Exists'), values: fc.array(nodeName, { maxLength: 3 }) });
  const affinity = fc.oneof(
    fc.anything(),
    fc.record({
      nodeAffinity: fc.record({
        preferredDuringSchedulingIgnoredDuringExecution: fc.array(fc.record({ weight: fc.integer({ min: 1, max: 100 }), preference: fc.record({ matchExpressions: fc.array(hostExpression, { maxLength: 2 }) }) }), { maxLength: 3 }),
        requiredDuringSchedulingIgnoredDuringExecution: fc.record({ nodeSelectorTerms: fc.array(fc.record({ matchExpressions: fc.array(hostExpression, { maxLength: 2 }) }), { maxLength: 3 }) }),
      }, { requiredKeys: [] }),
    }, { requiredKeys: [] }),
  );

  it('never throws, plans within bounds, and planning twice changes nothing', () => {
    fc.assert(fc.property(
      fc.dictionary(nodeName, reportValue),
      affinity,
      fc.constantFrom<'preferred' | 'required' | 'none'>('preferred', 'required', 'none'),
      fc.array(datasetKey, { maxLength: 3 }),
      fc.integer({ min: 0, max: 5 }),
      (data, podAffinity, mode, datasetKeys, maxNodes) => {
        const reports = parseCacheLocations(data, () => {});
        const plan = (a: unknown) => planCacheHints({ podSpec: { affinity: a }, datasetKeys, reports, mode, now: NOW, ttlMs: 365 * 86_400_000, maxNodes });
        const first = plan(structuredClone(podAffinity));
        expect(typeof first.reason).toBe('string');
        const named = first.annotation?.split(',') ?? [];
        expect(named.length).toBeLessThanOrEqual(maxNodes);
        for (const entry of named) expect(entry).toMatch(/^node-[a-d]=([1-9]\d?|100)%$/);
        if (first.affinity !== undefined) expect(plan(first.affinity).affinity).toEqual(first.affinity);
      },
    ), { numRuns: 500 });
  });
});
