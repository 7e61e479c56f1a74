/**
 * The decided shape of one injection — which Dataset goes where, read-only or not, with which
 * sidecar resources — and the checks that decide it. The review plans first and injects only
 * when no check found a problem; the builders of the sidecar, the volumes and the environment
 * only read the plan.
 */
import { parseQuantity } from '../common/quantity';
import type { WebhookConfig } from './config';
import type { Dataset, DatasetEntry } from './dataset';
import { appEnv } from './env-injection';
import { type DatasetParts, datasetParts } from './dataset-parts';
import { envNamePart, INJECTED_LABEL, isOurVolumeName, SIDECAR_NAME } from './names';
import type { Container, Pod } from './pod';
import type { DatasetRequest, PodRequest } from './pod-annotations';

export interface PlannedDataset {
  request: DatasetRequest;
  dataset: Dataset;
  /** The Dataset's access narrowed by the pod's `read-only` annotation. */
  readOnly: boolean;
  volumeName: string;
  /** The hostPath volume of the dataset's own node-cache folder, and that folder (finding S1: never the whole cache root). */
  cacheVolumeName: string;
  cacheDir: string;
  /** Names of the app containers and init containers that get the mount and/or the variables. */
  containers: string[];
  /** What the injection adds for this Dataset whatever the pod (built once per Dataset). */
  parts: DatasetParts;
}

export interface InjectionPlan {
  namespace: string;
  datasets: PlannedDataset[];
  /** Owner the mount shows its files as (docs/contract.md: runAsUser/runAsGroup or fsGroup, else 0). */
  uid: number;
  gid: number;
  resources: { cpuRequest?: string; cpuLimit?: string; memoryRequest?: string; memoryLimit?: string };
  cacheSize: string;
  cacheMemory: string;
  /**
   * False for a cache size of 0 (annotation datamount.dev/cache-size: "0"): the sidecar keeps
   * blocks in memory only, so the pod gets no node-cache volume and no placement hints.
   */
  diskCache: boolean;
}

/** The datasets the sidecar must mount (use-as includes mount). */
export function mountedDatasets(plan: InjectionPlan): PlannedDataset[] {
  return plan.datasets.filter((d) => d.request.mount);
}

/** Our names in a pod that did not come from us: refuse rather than take them over. */
export function reservedNameProblems(pod: Pod, injectedBefore: boolean): string[] {
  const problems: string[] = [];
  if (pod.spec.containers.some((c) => c.name === SIDECAR_NAME)) {
    problems.push(`spec.containers holds a container named "${SIDECAR_NAME}"; that name is reserved for the sidecar datamount injects, rename the container`);
  }
  if (injectedBefore) return problems;
  if ((pod.spec.initContainers ?? []).some((c) => c.name === SIDECAR_NAME)) {
    problems.push(`spec.initContainers holds a container named "${SIDECAR_NAME}" but the pod was not injected by datamount (no ${INJECTED_LABEL} label); that name is reserved, rename the container`);
  }
  for (const volume of pod.spec.volumes ?? []) {
    if (isOurVolumeName(volume.name)) {
      problems.push(`spec.volumes holds a volume named "${volume.name}" but the pod was not injected by datamount; volume names starting with "datamount-" are reserved, rename it`);
    }
  }
  return problems;
}

export function appContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []).filter((c) => c.name !== SIDECAR_NAME), ...pod.spec.containers];
}

/**
 * Resolve the pod's request against its Datasets and check everything that depends on the pod
 * itself (containers, paths, ports, variable names). Pushes every problem and warning it finds;
 * the plan is only used when no problem was found.
 */
export function planInjection(pod: Pod, namespace: string, wanted: PodRequest, entries: (DatasetEntry | undefined)[], config: WebhookConfig, problems: string[], warnings: string[]): InjectionPlan {
  const containers = appContainers(pod);
  const containerNames = containers.map((c) => c.name);
  const datasets: PlannedDataset[] = [];
  wanted.datasets.forEach((request, i) => {
    const entry = entries[i];
    if (!entry) {
      problems.push(`${request.source}: Dataset "${request.name}" does not exist in namespace ${namespace} (a pod can only use Datasets of its own namespace; see kubectl get datasets.datamount.dev -n ${namespace})`);
      return;
    }
    warnings.push(...entry.warnings);
    if (!entry.dataset) {
      problems.push(...entry.problems);
      return;
    }
    if (request.readOnly === false && entry.dataset.readOnly) {
      problems.push(`annotation datamount.dev/${request.name}.read-only: "false" cannot widen Dataset "${request.name}", which is ReadOnly; remove the annotation or ask for a ReadWrite Dataset`);
      return;
    }
    const unknown = (request.containers ?? []).filter((c) => !containerNames.includes(c));
    if (unknown.length > 0) {
      problems.push(`annotation datamount.dev/${request.name}.containers: no container named ${unknown.map((c) => `"${c}"`).join(', ')}; the pod has ${containerNames.map((c) => `"${c}"`).join(', ')}`);
      return;
    }
    const parts = datasetParts(entry.dataset, config);
    datasets.push({
      request,
      dataset: entry.dataset,
      readOnly: entry.dataset.readOnly || request.readOnly === true,
      volumeName: parts.volumeName,
      cacheVolumeName: parts.cacheVolumeName,
      cacheDir: parts.cacheDir,
      containers: request.containers ?? containerNames,
      parts,
    });
  });

  checkSharedEnvNames(datasets, problems);
  checkSharedVolumeNames(datasets, problems);
  checkMountPaths(containers, datasets, problems);
  if (!(pod.metadata?.labels?.[INJECTED_LABEL] === 'true')) checkEnvConflicts(containers, datasets, problems);
  if (datasets.some((d) => d.request.mount)) checkSidecarPort(containers, config.sidecarPort, problems);

  const security = pod.spec.securityContext ?? {};
  const numberOr = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : fallback);
  return {
    namespace,
    datasets,
    uid: numberOr(security.runAsUser, 0),
    gid: numberOr(security.runAsGroup, numberOr(security.fsGroup, 0)),
    resources: sidecarResources(config, wanted),
    cacheSize: wanted.cacheSize ?? config.cacheSize,
    cacheMemory: wanted.cacheMemory ?? config.cacheMemory,
    diskCache: parseQuantity(wanted.cacheSize ?? config.cacheSize) !== 0,
  };
}

/**
 * The pod's annotations override the configured defaults one by one. A request given without a
 * limit that exceeds the default limit raises the limit with it (and a lone limit below the
 * default request lowers the request), so an annotation alone never makes an invalid pod.
 */
function sidecarResources(config: WebhookConfig, wanted: PodRequest): InjectionPlan['resources'] {
  const own = wanted.resources;
  if (own.cpuRequest === undefined && own.cpuLimit === undefined && own.memoryRequest === undefined && own.memoryLimit === undefined) {
    // Most pods set none: the configured defaults, worked out once per configuration.
    let defaults = defaultResources.get(config);
    if (!defaults) {
      defaults = Object.freeze(resolveResources(config, wanted));
      defaultResources.set(config, defaults);
    }
    return defaults;
  }
  return resolveResources(config, wanted);
}

const defaultResources = new WeakMap<WebhookConfig, InjectionPlan['resources']>();

function resolveResources(config: WebhookConfig, wanted: PodRequest): InjectionPlan['resources'] {
  const result = { ...config.sidecarResources, ...wanted.resources };
  for (const [request, limit] of [['cpuRequest', 'cpuLimit'], ['memoryRequest', 'memoryLimit']] as const) {
    const r = result[request];
    const l = result[limit];
    if (r === undefined || l === undefined || (parseQuantity(r) ?? 0) <= (parseQuantity(l) ?? Infinity)) continue;
    if (wanted.resources[request] !== undefined && wanted.resources[limit] === undefined) result[limit] = r;
    else result[request] = l;
  }
  return result;
}

/** The keys that more than one Dataset would use, each with those Datasets' names. */
function sharedKeys(pairs: [key: string, dataset: string][]): [string, string[]][] {
  const owners = new Map<string, string[]>();
  for (const [key, dataset] of pairs) owners.set(key, [...(owners.get(key) ?? []), dataset]);
  return [...owners].filter(([, names]) => names.length > 1);
}

function checkSharedEnvNames(datasets: PlannedDataset[], problems: string[]): void {
  for (const [part, names] of sharedKeys(datasets.map((d) => [envNamePart(d.dataset.name), d.dataset.name]))) {
    problems.push(`Datasets ${names.map((n) => `"${n}"`).join(' and ')} would share the variable names DATASET_${part}_* / DATAMOUNT_${part}_*; ask for only one of them`);
  }
}

/**
 * Volume names are shortened with a hash where a Dataset name does not fit a label, so two
 * Datasets could in principle be given one name (`a.b` and one deliberately named like its
 * hashed form); refuse that rather than let one volume silently stand for both.
 */
function checkSharedVolumeNames(datasets: PlannedDataset[], problems: string[]): void {
  const volumes = datasets.filter((d) => d.request.mount).flatMap((d): [string, string][] => [[d.volumeName, d.dataset.name], [d.cacheVolumeName, d.dataset.name]]);
  for (const [volume, names] of sharedKeys(volumes)) {
    problems.push(`Datasets ${names.map((n) => `"${n}"`).join(' and ')} would share the volume name "${volume}"; ask for only one of them`);
  }
}

function checkMountPaths(containers: Container[], datasets: PlannedDataset[], problems: string[]): void {
  for (const container of containers) {
    const ours = datasets.filter((d) => d.request.mount && d.containers.includes(container.name));
    const theirs = (container.volumeMounts ?? []).filter((m) => !isOurVolumeName(m.name));
    for (const d of ours) {
      const path = d.request.mountPath;
      const clash = theirs.find((m) => (m.mountPath.endsWith('/') ? m.mountPath.replace(/(.)\/+$/, '$1') : m.mountPath) === path);
      if (clash) problems.push(`annotation datamount.dev/${d.dataset.name}.mount-path: "${path}" clashes with volume "${clash.name}" already mounted there in container "${container.name}"; choose another path`);
    }
    for (let i = 0; i < ours.length; i++) {
      for (let j = i + 1; j < ours.length; j++) {
        const [a, b] = [ours[i] as PlannedDataset, ours[j] as PlannedDataset];
        const [pa, pb] = [a.request.mountPath, b.request.mountPath];
        if (pa === pb || pa.startsWith(`${pb}/`) || pb.startsWith(`${pa}/`)) {
          problems.push(`mount paths of Datasets "${a.dataset.name}" (${pa}) and "${b.dataset.name}" (${pb}) clash in container "${container.name}": they must be different and not inside each other; set datamount.dev/<dataset>.mount-path`);
        }
      }
    }
  }
}

function checkEnvConflicts(containers: Container[], datasets: PlannedDataset[], problems: string[]): void {
  const withEnv = datasets.filter((d) => d.request.env || d.request.datashimConfigmap);
  if (withEnv.length === 0) return;
  for (const container of containers) {
    const existing = new Set((container.env ?? []).map((e) => e.name));
    if (existing.size === 0) continue;
    const clashes = withEnv.filter((d) => d.containers.includes(container.name))
      .flatMap(appEnv).map((e) => e.name).filter((n) => existing.has(n));
    if (clashes.length > 0) problems.push(`container "${container.name}" already defines ${clashes.join(', ')}, which datamount would set; remove them or do not use use-as env / useas configmap`);
  }
}

function checkSidecarPort(containers: Container[], port: number, problems: string[]): void {
  for (const container of containers) {
    if ((container.ports ?? []).some((p) => p.containerPort === port)) {
      problems.push(`container "${container.name}" uses port ${port}, which the datamount sidecar needs in the pod's network namespace; use another port (or ask the operator to change DATAMOUNT_SIDECAR_PORT)`);
    }
  }
}
