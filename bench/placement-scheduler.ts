/**
 * A model of kube-scheduler's choice for one pod, reduced to what matters here:
 *
 * - Filter: NodeResourcesFit (a free pod slot) and NodeAffinity's required terms (nodeSelectorTerms
 *   ORed, matchExpressions within a term ANDed).
 * - Score, each plugin 0–100, combined by the default plugin weights of kube-scheduler's
 *   `getDefaultPlugins` (pkg/scheduler/apis/config/v1/default_plugins.go): NodeAffinity × 2 —
 *   the sum of the weights of the matching preferred terms, normalised so the best feasible node
 *   gets 100 (`helper.DefaultNormalizeScore`) — and NodeResourcesFit × 1 with the LeastAllocated
 *   strategy, `(capacity − requested) × 100 / capacity` counting the incoming pod. Plugins that do
 *   not tell these nodes apart (TaintToleration, ImageLocality, BalancedAllocation with a single
 *   resource, PodTopologySpread for Job pods without a Service) are left out.
 * - Select: the highest total; ties broken at random (kube-scheduler samples uniformly among
 *   the top nodes), from a seeded generator so runs repeat.
 *
 * Node labels are only `kubernetes.io/hostname`, as the hints use nothing else.
 */
import { HOSTNAME_LABEL } from '../webhook/cache-hints';
import type { SimNode } from './placement-cluster';

const MAX_NODE_SCORE = 100;
const NODE_AFFINITY_WEIGHT = 2;
const NODE_RESOURCES_FIT_WEIGHT = 1;

interface Requirement {
  key?: unknown;
  operator?: unknown;
  values?: unknown;
}

function labelsOf(node: SimNode): Record<string, string> {
  return { [HOSTNAME_LABEL]: node.name };
}

function matches(requirement: Requirement, labels: Record<string, string>): boolean {
  const key = typeof requirement.key === 'string' ? requirement.key : '';
  const values = Array.isArray(requirement.values) ? requirement.values : [];
  const value = labels[key];
  switch (requirement.operator) {
    case 'In': return value !== undefined && values.includes(value);
    case 'NotIn': return value === undefined || !values.includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    default: return false;
  }
}

function termMatches(term: unknown, labels: Record<string, string>): boolean {
  const expressions = (term as { matchExpressions?: Requirement[] } | undefined)?.matchExpressions ?? [];
  return expressions.every((requirement) => matches(requirement, labels));
}

interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: unknown[] };
  preferredDuringSchedulingIgnoredDuringExecution?: Array<{ weight?: number; preference?: unknown }>;
}

/** The node kube-scheduler would bind the pod to, or undefined when no node fits now. */
export function scheduleOnto(nodes: SimNode[], affinity: Record<string, unknown> | undefined, random: () => number): SimNode | undefined {
  const nodeAffinity = (affinity?.nodeAffinity ?? {}) as NodeAffinity;
  const required = nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  const preferred = nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution ?? [];

  const feasible = nodes.filter((node) => node.running < node.slots
    && (required === undefined || required.some((term) => termMatches(term, labelsOf(node)))));
  if (feasible.length === 0) return undefined;

  const affinityRaw = feasible.map((node) => preferred
    .filter((term) => termMatches(term.preference, labelsOf(node)))
    .reduce((sum, term) => sum + (term.weight ?? 0), 0));
  const maxAffinity = Math.max(...affinityRaw);

  let best: SimNode[] = [];
  let bestScore = -1;
  feasible.forEach((node, i) => {
    const affinityScore = maxAffinity > 0 ? Math.floor((MAX_NODE_SCORE * (affinityRaw[i] ?? 0)) / maxAffinity) : 0;
    const leastAllocated = Math.floor(((node.slots - (node.running + 1)) * MAX_NODE_SCORE) / node.slots);
    const score = NODE_AFFINITY_WEIGHT * affinityScore + NODE_RESOURCES_FIT_WEIGHT * leastAllocated;
    if (score > bestScore) {
      best = [node];
      bestScore = score;
    } else if (score === bestScore) {
      best.push(node);
    }
  });
  return best[Math.floor(random() * best.length)];
}
