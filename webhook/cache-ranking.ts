/**
 * Which nodes a pod's datasets are cached on, and with which weights: the ranking half of the
 * cache hints (cache-hints.ts explains the score and the weights, and merges the result into
 * the pod's affinity).
 *
 * The ranking depends only on the cache reports, the pod's dataset keys, the TTL, the node
 * count and, through the TTL, the time. The reports change when the cache-location ConfigMap
 * does, every few minutes, while every injected pod asks; so for reports that cannot change
 * under us (a frozen array of frozen reports, as `parseCacheLocations` returns) the ranking is
 * worked out once per set of dataset keys and kept with the span of time in which the same
 * reports are fresh, rather than once per pod (docs/webhook.md, "Performance").
 */
import type { NodeCacheReport } from './cache-hints';

export interface PlannedNode {
  node: string;
  /** 1–100: the node's share of the chosen nodes' total score, as a percent. */
  weight: number;
}

export interface NodeRanking {
  /** The chosen nodes, best first; empty when no fresh report holds any of the datasets. */
  plan: readonly PlannedNode[];
  /** `node-a=87%,node-b=12%`, the value of the datamount.dev/cache-hints annotation. */
  annotation: string;
  freshCount: number;
  staleCount: number;
}

export interface RankingInput {
  reports: readonly NodeCacheReport[];
  /** Distinct "namespace/dataset" keys. */
  keys: readonly string[];
  sizes: Record<string, number> | undefined;
  now: Date;
  ttlMs: number;
  maxNodes: number;
}

interface RankedNode {
  node: string;
  score: number;
}

/** A ranking and the times (ms since the epoch) between which its reports are the fresh ones. */
interface Remembered {
  ranking: NodeRanking;
  from: number;
  until: number;
}

/** Rankings of one frozen set of reports, by TTL, node count and keys. */
const remembered = new WeakMap<readonly NodeCacheReport[], Map<string, Remembered>>();
/** Distinct key sets remembered per set of reports; beyond this the memory starts over. */
const MAX_REMEMBERED = 1024;

export function rankCachedNodes(input: RankingInput): NodeRanking {
  const { reports, keys, sizes, now, ttlMs, maxNodes } = input;
  if (sizes !== undefined || !Object.isFrozen(reports)) return rank(input).ranking;
  let byKeys = remembered.get(reports);
  if (!byKeys) {
    byKeys = new Map();
    remembered.set(reports, byKeys);
  }
  const id = `${ttlMs}\u0000${maxNodes}\u0000${keys.join('\u0000')}`;
  const at = now.getTime();
  const known = byKeys.get(id);
  if (known && known.from <= at && at <= known.until) return known.ranking;
  const { ranking, freshUntil } = rank(input);
  if (byKeys.size >= MAX_REMEMBERED) byKeys.clear();
  byKeys.set(id, { ranking, from: at, until: freshUntil });
  return ranking;
}

/**
 * The ranking now, and until when it stays the same: a report is fresh while `now` is at most
 * its `updated` + TTL, so the set of fresh reports holds until the first of those moments (and,
 * for a clock that does not go back, no stale report can turn fresh).
 */
function rank({ reports, keys, sizes, now, ttlMs, maxNodes }: RankingInput): { ranking: NodeRanking; freshUntil: number } {
  const oldest = now.getTime() - ttlMs;
  const fresh = reports.filter((report) => report.updated.getTime() >= oldest);
  let freshUntil = Infinity;
  for (const report of fresh) freshUntil = Math.min(freshUntil, report.updated.getTime() + ttlMs);
  const plan = Object.freeze(weigh(rankNodes(fresh, keys, sizes).slice(0, Math.max(0, Math.floor(maxNodes)))));
  const annotation = plan.map((entry) => `${entry.node}=${entry.weight}%`).join(',');
  return { ranking: Object.freeze({ plan, annotation, freshCount: fresh.length, staleCount: reports.length - fresh.length }), freshUntil };
}

/** Nodes with a positive score for these datasets, best first (ties by name, so plans repeat). */
function rankNodes(fresh: NodeCacheReport[], keys: readonly string[], sizes: Record<string, number> | undefined): RankedNode[] {
  const sizeOf = new Map<string, number>();
  for (const key of keys) {
    const known = sizes?.[key];
    if (known !== undefined && Number.isFinite(known) && known > 0) sizeOf.set(key, known);
    else {
      let largest = 0;
      for (const report of fresh) largest = Math.max(largest, report.datasets[key]?.bytes ?? 0);
      sizeOf.set(key, largest);
    }
  }
  const ranked: RankedNode[] = [];
  for (const report of fresh) {
    let score = 0;
    for (const key of keys) {
      const size = sizeOf.get(key) ?? 0;
      const bytes = report.datasets[key]?.bytes ?? 0;
      if (size > 0) score += Math.min(1, bytes / size);
    }
    if (score > 0) ranked.push({ node: report.node, score });
  }
  return ranked.sort((a, b) => b.score - a.score || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

function weigh(chosen: RankedNode[]): PlannedNode[] {
  const total = chosen.reduce((sum, entry) => sum + entry.score, 0);
  return chosen.map((entry) => Object.freeze({
    node: entry.node,
    weight: Math.min(100, Math.max(1, Math.round((100 * entry.score) / total))),
  }));
}
