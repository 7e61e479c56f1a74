/**
 * What a pod asks of datamount, read from its `datamount.dev/*` annotations and Datashim's
 * `dataset.<N>.*` labels (../shared/design.md, "User contract"). Pure: strings in, a request and
 * a list of problems out. Every problem names the annotation or label, the value and what is
 * accepted, because the message goes back to `kubectl` verbatim.
 */
import { parseQuantity, QUANTITY_HELP } from '../common/quantity';
import { parseDatashimLabels } from './datashim-labels';
import {
  ANNOTATION_PREFIX, CACHE_AFFINITY_ANNOTATION, CACHE_HINTS_ANNOTATION, CACHE_MEMORY_ANNOTATION, CACHE_SIZE_ANNOTATION,
  DATASET_NAME_HELP, DATASETS_ANNOTATION, defaultMountPath, INJECTED_DATASETS_ANNOTATION, INJECTION_LABEL, isDatasetName,
  OPT_OUT_ANNOTATION, SIDECAR_RESOURCE_ANNOTATIONS,
} from './names';

/** Same union as `CacheAffinityMode` in cache-hints.ts; repeated so parsing does not depend on planning. */
export type CacheAffinity = 'preferred' | 'required' | 'none';

export interface DatasetRequest {
  name: string;
  /** Absolute path in the app containers, normalised (no trailing "/"). */
  mountPath: string;
  /** Container names from `<dataset>.containers`; undefined = every container and init container. */
  containers?: string[];
  /** `<dataset>.read-only`: true narrows, false insists on writing (an error on a ReadOnly Dataset). */
  readOnly?: boolean;
  mount: boolean;
  env: boolean;
  /** Datashim's `useas: configmap`: environment variables under Datashim's own names. */
  datashimConfigmap: boolean;
  /** Where the pod asked for it, for messages. */
  source: string;
}

export interface SidecarResourceRequest {
  cpuRequest?: string;
  cpuLimit?: string;
  memoryRequest?: string;
  memoryLimit?: string;
}

export interface PodRequest {
  optedOut: boolean;
  datasets: DatasetRequest[];
  resources: SidecarResourceRequest;
  cacheSize?: string;
  cacheMemory?: string;
  cacheAffinity: CacheAffinity;
}

export interface ParsedPodRequest {
  request: PodRequest;
  problems: string[];
  warnings: string[];
}

const PER_DATASET_KEYS = ['mount-path', 'containers', 'read-only', 'use-as'] as const;
type PerDatasetKey = (typeof PER_DATASET_KEYS)[number];
const GLOBAL_KEYS = new Set<string>([
  DATASETS_ANNOTATION, OPT_OUT_ANNOTATION, CACHE_AFFINITY_ANNOTATION, CACHE_SIZE_ANNOTATION, CACHE_MEMORY_ANNOTATION,
  INJECTED_DATASETS_ANNOTATION, CACHE_HINTS_ANNOTATION, ...Object.values(SIDECAR_RESOURCE_ANNOTATIONS),
]);
const CACHE_AFFINITY_VALUES: readonly CacheAffinity[] = ['preferred', 'required', 'none'];
/** Mounting over these would hide what the container runtime itself put there. */
const RESERVED_PATHS = ['/proc', '/sys', '/dev'];
const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/**
 * Each dataset is a FUSE mount in the sidecar and a lookup against the API server; a pod naming
 * hundreds would fan out into as many requests (docs/robustness.md, W2). 16 is far above any
 * real training job's needs.
 */
export const MAX_DATASETS = 16;

export function parsePodRequest(annotations: Record<string, string> | undefined, labels: Record<string, string> | undefined): ParsedPodRequest {
  const all = annotations ?? {};
  const problems: string[] = [];
  const warnings: string[] = [];

  const optOut = all[OPT_OUT_ANNOTATION];
  if (optOut !== undefined && optOut !== 'false' && optOut !== 'true') {
    warnings.push(`annotation ${OPT_OUT_ANNOTATION}: "${optOut}" is not "false" or "true"; injection goes ahead (only "false" opts out)`);
  }

  const perDataset = new Map<string, Partial<Record<PerDatasetKey, string>>>();
  for (const [key, value] of Object.entries(all)) {
    if (!key.startsWith(ANNOTATION_PREFIX) || GLOBAL_KEYS.has(key)) continue;
    const rest = key.slice(ANNOTATION_PREFIX.length);
    const dot = rest.lastIndexOf('.');
    const field = rest.slice(dot + 1);
    if (dot > 0 && (PER_DATASET_KEYS as readonly string[]).includes(field)) {
      const dataset = rest.slice(0, dot);
      const fields = perDataset.get(dataset) ?? {};
      fields[field as PerDatasetKey] = value;
      perDataset.set(dataset, fields);
    } else if (dot > 0) {
      problems.push(`annotation ${key}: unknown setting "${field}" for Dataset "${rest.slice(0, dot)}"; accepted: ${PER_DATASET_KEYS.map((k) => `${ANNOTATION_PREFIX}<dataset>.${k}`).join(', ')}`);
    } else if (key === INJECTION_LABEL) {
      warnings.push(`annotation ${key} has no effect on a pod; it is a namespace label (datamount.dev/injection=enabled)`);
    } else {
      warnings.push(`annotation ${key} is not a datamount setting and is ignored`);
    }
  }

  const datasets = new Map<string, DatasetRequest>();
  const listed = all[DATASETS_ANNOTATION];
  if (listed !== undefined) {
    const names = listed.split(',').map((name) => name.trim()).filter((name) => name !== '');
    if (names.length === 0) problems.push(`annotation ${DATASETS_ANNOTATION}: "${listed}" names no Dataset; expected a comma-separated list such as "imagenet, coco"`);
    for (const name of names) {
      if (!isDatasetName(name)) {
        problems.push(`annotation ${DATASETS_ANNOTATION}: "${name}" is not a valid Dataset name; expected ${DATASET_NAME_HELP}`);
      } else if (!datasets.has(name)) {
        datasets.set(name, newRequest(name, `annotation ${DATASETS_ANNOTATION}`, true, false));
      }
    }
  }

  const datashim = parseDatashimLabels(labels);
  problems.push(...datashim.problems);
  for (const wanted of datashim.requests) {
    if (!isDatasetName(wanted.name)) {
      problems.push(`${wanted.source}: "${wanted.name}" is not a valid Dataset name; expected ${DATASET_NAME_HELP}`);
      continue;
    }
    const existing = datasets.get(wanted.name);
    if (existing) {
      existing.mount ||= wanted.mount;
      existing.datashimConfigmap = wanted.configmap;
    } else {
      datasets.set(wanted.name, newRequest(wanted.name, wanted.source, wanted.mount, wanted.configmap));
    }
  }

  for (const [name, fields] of perDataset) {
    const request = datasets.get(name);
    if (!request) {
      warnings.push(`annotations ${ANNOTATION_PREFIX}${name}.* are ignored: Dataset "${name}" is not requested by ${DATASETS_ANNOTATION} or a dataset.<N>.id label`);
      continue;
    }
    applyPerDataset(request, fields, problems);
  }

  const resources: SidecarResourceRequest = {};
  for (const [field, key] of Object.entries(SIDECAR_RESOURCE_ANNOTATIONS) as [keyof SidecarResourceRequest, string][]) {
    const value = readQuantity(all, key, problems, ANY_QUANTITY);
    if (value !== undefined) resources[field] = value;
  }
  checkRequestWithinLimit(resources.cpuRequest, resources.cpuLimit, 'cpu', problems);
  checkRequestWithinLimit(resources.memoryRequest, resources.memoryLimit, 'memory', problems);

  const affinityText = all[CACHE_AFFINITY_ANNOTATION];
  let cacheAffinity: CacheAffinity = 'preferred';
  if (affinityText !== undefined) {
    if ((CACHE_AFFINITY_VALUES as readonly string[]).includes(affinityText)) cacheAffinity = affinityText as CacheAffinity;
    else problems.push(`annotation ${CACHE_AFFINITY_ANNOTATION}: "${affinityText}" is not accepted; use ${CACHE_AFFINITY_VALUES.join(', ')}`);
  }

  if (datasets.size > MAX_DATASETS) {
    problems.push(`annotation ${DATASETS_ANNOTATION} and dataset.<N>.id labels name ${datasets.size} Datasets; at most ${MAX_DATASETS} per pod are accepted`);
    datasets.clear();
  }

  const request: PodRequest = {
    optedOut: optOut === 'false',
    datasets: [...datasets.values()],
    resources,
    cacheAffinity,
  };
  // 0: no disk tier, the memory tier only (a single pass over data too large to cache, on a node
  // short of CPU: writing every block to the node cache is most of a cold read's cost).
  const cacheSize = readQuantity(all, CACHE_SIZE_ANNOTATION, problems, BYTES_OR_NO_DISK_CACHE);
  if (cacheSize !== undefined) request.cacheSize = cacheSize;
  const cacheMemory = readQuantity(all, CACHE_MEMORY_ANNOTATION, problems, SOME_BYTES);
  if (cacheMemory !== undefined) request.cacheMemory = cacheMemory;
  return { request, problems, warnings };
}

function newRequest(name: string, source: string, mount: boolean, datashimConfigmap: boolean): DatasetRequest {
  return { name, mountPath: defaultMountPath(name), mount, env: false, datashimConfigmap, source };
}

function applyPerDataset(request: DatasetRequest, fields: Partial<Record<PerDatasetKey, string>>, problems: string[]): void {
  const key = (field: PerDatasetKey): string => `annotation ${ANNOTATION_PREFIX}${request.name}.${field}`;

  if (fields['mount-path'] !== undefined) {
    const checked = checkMountPath(fields['mount-path']);
    if (typeof checked === 'string') request.mountPath = checked;
    else problems.push(`${key('mount-path')}: "${fields['mount-path']}" ${checked.problem}`);
  }
  if (fields.containers !== undefined) {
    const names = fields.containers.split(',').map((n) => n.trim()).filter((n) => n !== '');
    const invalid = names.filter((n) => !CONTAINER_NAME.test(n));
    if (names.length === 0) problems.push(`${key('containers')}: "${fields.containers}" names no container; expected a comma-separated list of container names`);
    else if (invalid.length > 0) problems.push(`${key('containers')}: ${invalid.map((n) => `"${n}"`).join(', ')} cannot be a container name (lower-case letters, digits and "-")`);
    else request.containers = [...new Set(names)];
  }
  if (fields['read-only'] !== undefined) {
    if (fields['read-only'] === 'true') request.readOnly = true;
    else if (fields['read-only'] === 'false') request.readOnly = false;
    else problems.push(`${key('read-only')}: "${fields['read-only']}" is not accepted; use "true" or "false"`);
  }
  if (fields['use-as'] !== undefined) {
    const uses = fields['use-as'].split(',').map((u) => u.trim()).filter((u) => u !== '');
    const unknown = uses.filter((u) => u !== 'mount' && u !== 'env');
    if (uses.length === 0 || unknown.length > 0) {
      problems.push(`${key('use-as')}: "${fields['use-as']}" is not accepted; use mount, env or "mount,env"`);
    } else {
      request.mount = uses.includes('mount');
      request.env = uses.includes('env');
    }
  }
}

/** A normalised absolute path, or why it cannot be a mount path. */
export function checkMountPath(path: string): string | { problem: string } {
  const help = 'expected an absolute path such as /mnt/datasets/imagenet';
  if (!path.startsWith('/')) return { problem: `is not an absolute path; ${help}` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return { problem: `holds control characters; ${help}` };
  const normalised = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const segments = normalised.split('/').slice(1);
  if (normalised === '/' || segments.length === 0) return { problem: 'would hide the whole file system; choose a directory below /' };
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return { problem: `has empty, "." or ".." segments; ${help}` };
  const reserved = RESERVED_PATHS.find((r) => normalised === r || normalised.startsWith(`${r}/`));
  if (reserved) return { problem: `is inside ${reserved}, which the container runtime provides; choose another directory` };
  return normalised;
}

/** The smallest value a quantity annotation takes, and how its error message says so. */
interface QuantityFloor {
  readonly least: number;
  readonly help: string;
}

/** Any quantity that is not negative (CPU, memory of the sidecar's resources). */
const ANY_QUANTITY: QuantityFloor = { least: 0, help: '' };
/** A cache bound: at least 1 byte. */
const SOME_BYTES: QuantityFloor = { least: 1, help: ', at least 1 byte' };
/** The disk cache bound: 0 means no disk tier, the memory tier only. */
const BYTES_OR_NO_DISK_CACHE: QuantityFloor = { least: 0, help: ', or 0 for no disk cache' };

function readQuantity(all: Record<string, string>, key: string, problems: string[], floor: QuantityFloor): string | undefined {
  const text = all[key];
  if (text === undefined) return undefined;
  const value = parseQuantity(text);
  if (value === undefined || value < floor.least) {
    problems.push(`annotation ${key}: "${text}" is not accepted; expected ${QUANTITY_HELP}${floor.help}`);
    return undefined;
  }
  return text.trim();
}

function checkRequestWithinLimit(request: string | undefined, limit: string | undefined, resource: string, problems: string[]): void {
  if (request === undefined || limit === undefined) return;
  const r = parseQuantity(request) ?? 0;
  const l = parseQuantity(limit) ?? Infinity;
  if (r > l) {
    problems.push(`annotations ${ANNOTATION_PREFIX}sidecar-${resource}-request "${request}" is more than ${ANNOTATION_PREFIX}sidecar-${resource}-limit "${limit}"; a request must not exceed its limit`);
  }
}
