/**
 * The review: one AdmissionRequest in, one AdmissionResponse out. It reads the pod's request,
 * looks its Datasets up, checks everything and collects every problem (so the user fixes the
 * pod in one round), then mutates a copy and diffs it into the JSON patch (`compare(before,
 * after)`, narrowed to what can change: pod-patch.ts), pepr's approach: the patch is whatever
 * makes the pod look like an injected pod, never a list of hand-written operations.
 *
 * Idempotent by structure: the injected items are upserted by name (replaced in place only if
 * different, appended if missing, removed if no longer wanted), so reviewing our own output
 * yields an empty diff, and a pod another webhook changed in between is repaired rather than
 * injected twice. Placement hints are only planned at the first injection, so a reinvocation
 * never moves them.
 *
 * No side effects anywhere: a `dryRun` request is reviewed exactly like any other.
 */
import { type AdmissionRequest, type AdmissionResponse, base64Of, isPodCreate } from './admission-review';
import { type NodeCacheReport, planCacheHints } from './cache-hints';
import type { DatasetCatalog } from './catalog';
import type { WebhookConfig } from './config';
import type { DatasetEntry } from './dataset';
import { appEnv } from './env-injection';
import { describeError } from './errors';
import { appContainers, type InjectionPlan, mountedDatasets, planInjection, reservedNameProblems } from './injection-plan';
import {
  CACHE_HINTS_ANNOTATION, DATASETS_ANNOTATION, INJECTED_DATASETS_ANNOTATION, INJECTED_LABEL,
  isOurVolumeName, OPT_OUT_ANNOTATION, SIDECAR_NAME,
} from './names';
import { type Container, checkPodShape, type EnvVar, type Pod, podDisplayName } from './pod';
import { parsePodRequest, type PodRequest } from './pod-annotations';
import { copyForInjection, diffPod, ownCopy, patchText } from './pod-patch';
import { sharedSidecarContainer } from './sidecar-spec';
import { reconcileByName } from './volumes';

export type ReviewOutcome = 'injected' | 'repaired' | 'unchanged' | 'skipped' | 'denied' | 'unavailable';

export interface ReviewResult {
  response: AdmissionResponse;
  outcome: ReviewOutcome;
  /** Why, in one line, for the log. */
  reason: string;
  /** Datasets in the pod after the review (for metrics and logs). */
  datasets: string[];
}

export type ReviewLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

export interface ReviewDeps {
  config: WebhookConfig;
  catalog: DatasetCatalog;
  /** Parsed cache reports (see `cacheReportReader`). */
  cacheReports: () => NodeCacheReport[];
  now: () => Date;
  log?: ReviewLog;
}

/** The API server may truncate warnings beyond a few; more than this is noise anyway. */
const MAX_WARNINGS = 20;

export async function reviewPod(request: AdmissionRequest, deps: ReviewDeps): Promise<ReviewResult> {
  const { uid } = request;
  if (!isPodCreate(request)) {
    const what = `${request.operation} of ${request.kind.kind || 'an object'}${request.subResource ? `/${request.subResource}` : ''}`;
    return skipped(uid, `${what} is not a pod creation; nothing to do`, []);
  }
  const shape = checkPodShape(request.object);
  if (shape.length > 0) return denied(uid, `request.object is not a valid Pod: ${shape.slice(0, 10).join('; ')}`, [], []);
  const pod = request.object as Pod;
  const namespace = request.namespace || pod.metadata?.namespace;
  if (!namespace) return denied(uid, 'request.namespace is empty; a Pod is always namespaced', [], []);
  const who = podDisplayName(pod, namespace);

  const parsed = parsePodRequest(pod.metadata?.annotations, pod.metadata?.labels);
  const { request: wanted, warnings } = parsed;
  const problems = [...parsed.problems];
  const injectedBefore = pod.metadata?.labels?.[INJECTED_LABEL] === 'true';
  if (wanted.optedOut) return skipped(uid, `pod ${who} opted out with ${OPT_OUT_ANNOTATION}: "false"`, warnings);
  if (wanted.datasets.length === 0 && !injectedBefore) {
    // Asked, but every name was unusable: say why rather than silently skipping the pod.
    const asked = pod.metadata?.annotations?.[DATASETS_ANNOTATION] !== undefined || Object.keys(pod.metadata?.labels ?? {}).some((k) => k.startsWith('dataset.'));
    if (!asked || problems.length === 0) return skipped(uid, `pod ${who} asks for no dataset (no ${DATASETS_ANNOTATION} annotation or dataset.<N>.id label)`, warnings);
    return denied(uid, `datamount cannot give pod ${who} its datasets: ${numbered(problems)}`, warnings, []);
  }

  problems.push(...reservedNameProblems(pod, injectedBefore));

  let entries: (DatasetEntry | undefined)[];
  try {
    entries = await Promise.all(wanted.datasets.map((d) => deps.catalog.getDataset(namespace, d.name)));
  } catch (err) {
    deps.log?.('error', 'dataset lookup failed', { pod: who, err: describeError(err) });
    return {
      response: { uid, allowed: false, status: { code: 503, reason: 'ServiceUnavailable', message: `datamount cannot look up Datasets for pod ${who} right now: ${describeError(err)}; retry in a moment` } },
      outcome: 'unavailable', reason: describeError(err), datasets: [],
    };
  }

  const plan = planInjection(pod, namespace, wanted, entries, deps.config, problems, warnings);
  if (problems.length > 0) {
    return denied(uid, `datamount cannot give pod ${who} its datasets: ${numbered(problems)}`, warnings, wanted.datasets.map((d) => d.name));
  }

  const after = copyForInjection(pod);
  const hintReason = applyInjection(after, plan, wanted, injectedBefore, deps, warnings);
  const operations = diffPod(pod, after);
  const names = plan.datasets.map((d) => d.dataset.name);
  if (operations.length === 0) {
    return { response: withWarnings({ uid, allowed: true }, warnings), outcome: 'unchanged', reason: `pod ${who} already has its datasets`, datasets: names };
  }
  const response: AdmissionResponse = {
    uid,
    allowed: true,
    patchType: 'JSONPatch',
    patch: base64Of(patchText(operations)),
    auditAnnotations: { datasets: names.join(','), ...(hintReason ? { 'cache-hints': hintReason } : {}) },
  };
  return {
    response: withWarnings(response, warnings),
    outcome: injectedBefore ? 'repaired' : 'injected',
    reason: `${injectedBefore ? 'repaired' : 'injected'} ${names.join(', ') || 'nothing'} into pod ${who}${hintReason ? `; ${hintReason}` : ''}`,
    datasets: names,
  };
}

/**
 * Parses the cache-location ConfigMap only when it changed: the catalog hands back the same
 * `data` object until a new version arrives, so the reports are cached on its identity.
 */
export function cacheReportReader(catalog: DatasetCatalog, parse: (data: Record<string, string> | undefined) => NodeCacheReport[]): () => NodeCacheReport[] {
  let lastData: Record<string, string> | undefined;
  let lastReports: NodeCacheReport[] = [];
  let primed = false;
  return () => {
    const data = catalog.cacheLocations();
    if (!primed || data !== lastData) {
      lastReports = parse(data);
      lastData = data;
      primed = true;
    }
    return lastReports;
  };
}

function skipped(uid: string, reason: string, warnings: string[]): ReviewResult {
  return { response: withWarnings({ uid, allowed: true }, warnings), outcome: 'skipped', reason, datasets: [] };
}

function denied(uid: string, message: string, warnings: string[], datasets: string[]): ReviewResult {
  return {
    response: withWarnings({ uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } }, warnings),
    outcome: 'denied', reason: message, datasets,
  };
}

function numbered(problems: string[]): string {
  return problems.map((p, i) => `(${i + 1}) ${p}`).join('; ');
}

function withWarnings(response: AdmissionResponse, warnings: string[]): AdmissionResponse {
  if (warnings.length === 0) return response;
  // A copy with a key added, so not a spread (ownCopy says why).
  const copy = ownCopy(response);
  copy.warnings = [...new Set(warnings)].slice(0, MAX_WARNINGS);
  return copy;
}

/** Mutates `pod` into the injected pod; returns the placement-hint reason (if hints were planned). */
function applyInjection(pod: Pod, plan: InjectionPlan, wanted: PodRequest, injectedBefore: boolean, deps: ReviewDeps, warnings: string[]): string | undefined {
  const { config } = deps;
  const spec = pod.spec;
  const mounted = mountedDatasets(plan);

  const existingSidecar = (spec.initContainers ?? []).find((c) => c.name === SIDECAR_NAME);
  const initContainers = (spec.initContainers ?? []).filter((c) => c.name !== SIDECAR_NAME);
  if (mounted.length > 0) {
    const desired = sharedSidecarContainer(plan, config);
    initContainers.unshift(existingSidecar ? mergeSidecar(existingSidecar, desired) : desired);
  }
  setList(spec, 'initContainers', initContainers);

  const volumes = [...mounted.map((d) => d.parts.datasetVolume), ...(plan.diskCache ? mounted.map((d) => d.parts.cacheVolume) : [])];
  setList(spec, 'volumes', reconcileByName(spec.volumes ?? [], volumes, (v) => isOurVolumeName(v.name)));

  const names = plan.datasets.map((d) => d.dataset.name);
  // Variables are upserted by name and never removed: a name alone cannot tell our
  // DATASET_COCO_BUCKET from one the pod set itself (found by the generated-pod property test:
  // a repair deleted the pod's own variable). A first injection refuses such clashes instead.
  for (const container of appContainers(pod)) {
    const mine = plan.datasets.filter((d) => d.containers.includes(container.name));
    const mounts = mine.filter((d) => d.request.mount).map((d) => d.parts.appMount(d.request.mountPath, d.readOnly));
    setList(container, 'volumeMounts', reconcileByName(container.volumeMounts ?? [], mounts, (m) => isOurVolumeName(m.name)));
    const env = mine.flatMap(appEnv);
    if (env.length > 0) setList(container, 'env', reconcileByName<EnvVar>(container.env ?? [], env, () => false));
  }

  // The copy's labels and annotations are its own (copyForInjection), so they are written in place.
  const metadata = (pod.metadata ??= {});
  if (plan.datasets.length > 0) {
    (metadata.labels ??= {})[INJECTED_LABEL] = 'true';
    (metadata.annotations ??= {})[INJECTED_DATASETS_ANNOTATION] = names.join(',');
  } else {
    if (metadata.labels) delete metadata.labels[INJECTED_LABEL];
    if (metadata.annotations) delete metadata.annotations[INJECTED_DATASETS_ANNOTATION];
  }

  // Hints lead to nodes whose disk cache holds the data: nothing for a pod without one.
  if (injectedBefore || mounted.length === 0 || !plan.diskCache) return undefined;
  return applyCacheHints(pod, plan, wanted, deps, warnings);
}

function applyCacheHints(pod: Pod, plan: InjectionPlan, wanted: PodRequest, deps: ReviewDeps, warnings: string[]): string {
  try {
    const result = planCacheHints({
      podSpec: pod.spec,
      datasetKeys: mountedDatasets(plan).map((d) => `${plan.namespace}/${d.dataset.name}`),
      reports: deps.cacheReports(),
      mode: wanted.cacheAffinity,
      now: deps.now(),
      ttlMs: deps.config.cacheHintTtlMs,
      maxNodes: deps.config.cacheHintNodes,
    });
    if (result.affinity) pod.spec.affinity = result.affinity;
    if (result.annotation) ((pod.metadata ??= {}).annotations ??= {})[CACHE_HINTS_ANNOTATION] = result.annotation;
    warnings.push(...result.warnings);
    return result.reason;
  } catch (err) {
    // Placement is an optimisation: a bug in it must never keep a pod from its data.
    deps.log?.('error', 'cache hint planning failed; pod admitted without hints', { err: describeError(err) });
    return `cache hints skipped: planning failed (${describeError(err)})`;
  }
}

/** Our fields win; anything another webhook added to the sidecar (env, mounts, fields) stays. */
function mergeSidecar(existing: Container, desired: Container): Container {
  const ownedEnv = (e: EnvVar): boolean => e.name.startsWith('DATAMOUNT_');
  return {
    ...existing,
    ...desired,
    env: reconcileByName(existing.env ?? [], desired.env ?? [], ownedEnv),
    volumeMounts: reconcileByName(existing.volumeMounts ?? [], desired.volumeMounts ?? [], (m) => isOurVolumeName(m.name)),
  };
}

/** Set a list field, without turning an absent field into `[]` (that would be a needless patch). */
function setList<K extends string, T>(owner: { [key in K]?: T[] } & object, key: K, list: T[]): void {
  const current = owner[key];
  // Keep the original array when nothing in it changed: the diff skips shared references.
  if (current && current.length === list.length && current.every((item, i) => item === list[i])) return;
  if (list.length > 0 || current !== undefined) owner[key] = list as (typeof owner)[K];
}

