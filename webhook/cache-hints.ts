/**
 * Cache-aware placement: the pure core that turns the node reporters' ConfigMap
 * (`datamount-cache-locations`, one key per node) into node-affinity hints for a pod.
 *
 * Ranking. A node's score for a pod is the sum, over the pod's datasets, of the *fraction* of
 * each dataset that node holds (0…1 per dataset). The fraction needs the dataset's size: the
 * caller's `datasetSizes` when it knows it, otherwise the largest cache any fresh report shows
 * for that dataset (a lower bound of its size, and the best cache there is). Fractions rather
 * than raw bytes because every dataset is a separate mount the pod reads: a small validation
 * set held in full saves its whole cold start, and with raw bytes one huge dataset would always
 * drown it out. Within one dataset the two orderings agree.
 *
 * Weights. kube-scheduler's NodeAffinity score plugin sums the weights of the matching preferred
 * terms and then normalises by the best node's sum, so only the ratios between our weights
 * matter: each chosen node gets its share of the chosen nodes' total score, as a percent, 1–100.
 * The `datamount.dev/cache-hints` annotation shows the same percentages.
 *
 * Merging. Existing affinity is kept verbatim. `preferred` appends one term per chosen node
 * unless a term of exactly our shape (hostname `In` that one node) is already there — which
 * makes the result idempotent: planning again on a hinted pod adds nothing. `required` ANDs a
 * hostname `In` expression into every existing required nodeSelectorTerm (terms are ORed, so
 * each alternative the pod allowed must be narrowed), or adds one term if there is none; a term
 * that already restricts the hostname with `In` is left alone, for the same reason.
 */
import { type NodeRanking, type PlannedNode, rankCachedNodes } from './cache-ranking';
import { withText } from './json-text';

export type CacheAffinityMode = 'preferred' | 'required' | 'none';

/** One node's entry in the cache-location ConfigMap; dataset keys are "namespace/dataset". */
export interface NodeCacheReport {
  node: string;
  updated: Date;
  datasets: Record<string, { bytes: number }>;
}

export interface CacheHintInput {
  podSpec: { affinity?: unknown; nodeName?: string; nodeSelector?: Record<string, string> };
  /** The pod's datasets as "namespace/dataset". */
  datasetKeys: string[];
  /** Dataset sizes in bytes, where the caller knows them. */
  datasetSizes?: Record<string, number>;
  reports: readonly NodeCacheReport[];
  mode: CacheAffinityMode;
  now: Date;
  /** Reports older than this are ignored (a node that stopped reporting may be gone). */
  ttlMs: number;
  /** At most this many nodes are named in the hints. */
  maxNodes: number;
}

export interface CacheHintResult {
  /** The pod's whole affinity after merging, to set as `spec.affinity`; undefined = leave it as it is. */
  affinity?: Record<string, unknown>;
  /** Value for `datamount.dev/cache-hints`, e.g. `node-a=87%,node-b=12%`; undefined when no hint applies. */
  annotation?: string;
  /** Admission warnings for the user (only `required` with no known cache produces one). */
  warnings: string[];
  /** Why the hints are what they are, for the log and the admission response. */
  reason: string;
}

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

type Log = (msg: string, fields?: object) => void;
type JsonObject = Record<string, unknown>;

/** RFC 3339 date-time, as Kubernetes and Go's time.RFC3339 write it. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads the ConfigMap's `data`. A value that is not a valid report is skipped with a log line
 * (a broken reporter on one node must never break admission for the cluster); a single bad
 * dataset entry inside an otherwise valid report is skipped alone. Never throws. The list and
 * its reports are frozen: planCacheHints may then keep their ranking (cache-ranking.ts).
 */
export function parseCacheLocations(data: Record<string, string> | undefined, log?: Log): NodeCacheReport[] {
  if (!isObject(data)) return Object.freeze([] as NodeCacheReport[]) as NodeCacheReport[];
  const reports: NodeCacheReport[] = [];
  for (const node of Object.keys(data).sort()) {
    const report = parseReport(node, data[node], log);
    if (typeof report === 'string') log?.('cache-location entry skipped', { node, reason: report });
    else reports.push(Object.freeze(report));
  }
  // Frozen, so the ranking of these reports can be worked out once and kept (cache-ranking.ts).
  return Object.freeze(reports) as NodeCacheReport[];
}

function parseReport(node: string, text: unknown, log: Log | undefined): NodeCacheReport | string {
  if (typeof text !== 'string') return 'value is not a string';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `value is not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (!isObject(value)) return 'value is not a JSON object';
  if (typeof value.updated !== 'string' || !RFC3339.test(value.updated)) {
    return '"updated" is not an RFC 3339 date-time such as 2026-11-29T05:00:00Z';
  }
  const updated = new Date(value.updated);
  if (Number.isNaN(updated.getTime())) return `"updated" is not a real date: ${value.updated}`;
  if (!isObject(value.datasets)) return '"datasets" is not an object';
  const datasets: Record<string, { bytes: number }> = {};
  for (const [key, entry] of Object.entries(value.datasets)) {
    const bytes = isObject(entry) ? entry.bytes : undefined;
    if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) {
      log?.('cache-location dataset entry skipped', {
        node,
        dataset: key,
        reason: '"bytes" must be a non-negative finite number',
      });
      continue;
    }
    datasets[key] = { bytes };
  }
  return { node, updated, datasets };
}

function hostnameIn(values: string[]): JsonObject {
  return { key: HOSTNAME_LABEL, operator: 'In', values };
}

/** The node a preferred term points at, if the term has exactly the shape this module writes. */
function hintedNode(term: unknown): string | undefined {
  if (!isObject(term) || !isObject(term.preference)) return undefined;
  const { matchExpressions, matchFields } = term.preference;
  if (matchFields !== undefined && !(Array.isArray(matchFields) && matchFields.length === 0)) return undefined;
  if (!Array.isArray(matchExpressions) || matchExpressions.length !== 1) return undefined;
  const expression: unknown = matchExpressions[0];
  if (!isObject(expression) || expression.key !== HOSTNAME_LABEL || expression.operator !== 'In') return undefined;
  const values = expression.values;
  return Array.isArray(values) && values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
}

function restrictsHostname(term: JsonObject): boolean {
  const expressions = term.matchExpressions;
  return Array.isArray(expressions)
    && expressions.some((e) => isObject(e) && e.key === HOSTNAME_LABEL && e.operator === 'In');
}

/** Decides the cache hints for one pod. Pure: the same input always gives the same result. */
export function planCacheHints(input: CacheHintInput): CacheHintResult {
  const { podSpec, mode } = input;
  if (mode === 'none') return { warnings: [], reason: 'cache hints off: datamount.dev/cache-affinity is "none"' };
  if (podSpec.nodeName) {
    return { warnings: [], reason: `cache hints skipped: the pod is pinned to node ${podSpec.nodeName} by spec.nodeName` };
  }
  const pinnedHost = podSpec.nodeSelector?.[HOSTNAME_LABEL];
  if (pinnedHost !== undefined) {
    return {
      warnings: [],
      reason: `cache hints skipped: the pod is pinned to node ${pinnedHost} by nodeSelector ${HOSTNAME_LABEL}`,
    };
  }
  const keys = [...new Set(input.datasetKeys)];
  if (keys.length === 0) return { warnings: [], reason: 'cache hints skipped: the pod asks for no dataset' };

  const ranking = rankCachedNodes({
    reports: input.reports, keys, sizes: input.datasetSizes, now: input.now, ttlMs: input.ttlMs, maxNodes: input.maxNodes,
  });
  const { plan, annotation, freshCount, staleCount } = ranking;
  if (plan.length === 0) {
    const why = `no node reports a fresh cache of ${keys.join(', ')}`
      + ` (${freshCount} fresh report(s), ${staleCount} older than ${Math.round(input.ttlMs / 1000)}s ignored)`;
    if (mode === 'required') {
      return {
        warnings: [`datamount.dev/cache-affinity is "required" but ${why}; the pod is not restricted to any node`],
        reason: `cache hints skipped: ${why}`,
      };
    }
    return { warnings: [], reason: `cache hints skipped: ${why}` };
  }

  const existing = podSpec.affinity;
  if (existing === undefined) return hintsFromScratch(ranking, mode);
  if (!isObject(existing)) return { warnings: [], reason: 'cache hints skipped: spec.affinity is not an object' };
  // The pod's own affinity is copied, never changed in place.
  const affinity = structuredClone(existing);
  const nodeAffinity = affinity.nodeAffinity ?? {};
  if (!isObject(nodeAffinity)) return { warnings: [], reason: 'cache hints skipped: spec.affinity.nodeAffinity is not an object' };
  affinity.nodeAffinity = nodeAffinity;
  return mode === 'required'
    ? mergeRequired(affinity, nodeAffinity, plan, annotation)
    : mergePreferred(affinity, nodeAffinity, plan, annotation);
}

/**
 * Hints for pods with no affinity of their own, kept per ranking (which cache-ranking.ts keeps
 * per cache report) and mode: every such pod asking for the same datasets gets the same hints,
 * frozen, their JSON text remembered for the patch (json-text.ts).
 */
const fromScratch = new WeakMap<NodeRanking, Map<CacheAffinityMode, CacheHintResult>>();

function hintsFromScratch(ranking: NodeRanking, mode: 'preferred' | 'required'): CacheHintResult {
  let byMode = fromScratch.get(ranking);
  if (!byMode) {
    byMode = new Map();
    fromScratch.set(ranking, byMode);
  }
  let result = byMode.get(mode);
  if (!result) {
    const affinity: JsonObject = {};
    const nodeAffinity: JsonObject = {};
    affinity.nodeAffinity = nodeAffinity;
    result = mode === 'required'
      ? mergeRequired(affinity, nodeAffinity, ranking.plan, ranking.annotation)
      : mergePreferred(affinity, nodeAffinity, ranking.plan, ranking.annotation);
    if (result.affinity) withText(result.affinity);
    Object.freeze(result.warnings);
    byMode.set(mode, Object.freeze(result));
  }
  return result;
}

function mergePreferred(affinity: JsonObject, nodeAffinity: JsonObject, plan: readonly PlannedNode[], annotation: string): CacheHintResult {
  const field = 'preferredDuringSchedulingIgnoredDuringExecution';
  const terms = nodeAffinity[field] ?? [];
  if (!Array.isArray(terms)) return { warnings: [], reason: `cache hints skipped: nodeAffinity.${field} is not a list` };
  const present = new Set(terms.map(hintedNode).filter((node) => node !== undefined));
  const added = plan.filter((entry) => !present.has(entry.node));
  nodeAffinity[field] = [
    ...terms,
    ...added.map((entry) => ({ weight: entry.weight, preference: { matchExpressions: [hostnameIn([entry.node])] } })),
  ];
  const kept = plan.length - added.length;
  return {
    affinity,
    annotation,
    warnings: [],
    reason: `preferred node affinity for cached data: ${annotation}`
      + (kept > 0 ? ` (${kept} node(s) already preferred by the pod, left as they were)` : ''),
  };
}

function mergeRequired(affinity: JsonObject, nodeAffinity: JsonObject, plan: readonly PlannedNode[], annotation: string): CacheHintResult {
  const field = 'requiredDuringSchedulingIgnoredDuringExecution';
  const nodes = plan.map((entry) => entry.node);
  const required = nodeAffinity[field] ?? {};
  if (!isObject(required)) return { warnings: [], reason: `cache hints skipped: nodeAffinity.${field} is not an object` };
  const terms = required.nodeSelectorTerms ?? [];
  if (!Array.isArray(terms) || !terms.every(isObject)) {
    return { warnings: [], reason: `cache hints skipped: nodeAffinity.${field}.nodeSelectorTerms is not a list of terms` };
  }
  let leftAlone = 0;
  if (terms.length === 0) {
    required.nodeSelectorTerms = [{ matchExpressions: [hostnameIn(nodes)] }];
  } else {
    for (const term of terms) {
      if (restrictsHostname(term)) {
        leftAlone += 1;
        continue;
      }
      const expressions = term.matchExpressions ?? [];
      term.matchExpressions = [...(Array.isArray(expressions) ? expressions : []), hostnameIn(nodes)];
    }
    required.nodeSelectorTerms = terms;
  }
  nodeAffinity[field] = required;
  return {
    affinity,
    annotation,
    warnings: [],
    reason: `required node affinity to nodes with cached data: ${annotation}`
      + (leftAlone > 0 ? ` (${leftAlone} required term(s) already restrict ${HOSTNAME_LABEL}, left as they were)` : ''),
  };
}
