/**
 * The names datamount owns in a pod (fixed in ../shared/design.md and docs/contract.md), and the
 * derived names of per-dataset objects. Everything that must be recognised again on
 * reinvocation is derived here, from one place, so injection and repair agree.
 */
import { createHash } from 'node:crypto';

export const ANNOTATION_PREFIX = 'datamount.dev/';
export const INJECTION_LABEL = 'datamount.dev/injection';
export const OPT_OUT_ANNOTATION = 'datamount.dev/inject';
export const DATASETS_ANNOTATION = 'datamount.dev/datasets';
export const CACHE_AFFINITY_ANNOTATION = 'datamount.dev/cache-affinity';
export const CACHE_SIZE_ANNOTATION = 'datamount.dev/cache-size';
export const CACHE_MEMORY_ANNOTATION = 'datamount.dev/cache-memory';
export const SIDECAR_RESOURCE_ANNOTATIONS = {
  cpuRequest: 'datamount.dev/sidecar-cpu-request',
  cpuLimit: 'datamount.dev/sidecar-cpu-limit',
  memoryRequest: 'datamount.dev/sidecar-memory-request',
  memoryLimit: 'datamount.dev/sidecar-memory-limit',
} as const;

/** Markers left on an injected pod; their presence is what makes a reinvocation a repair. */
export const INJECTED_LABEL = 'datamount.dev/injected';
export const INJECTED_DATASETS_ANNOTATION = 'datamount.dev/injected-datasets';
export const CACHE_HINTS_ANNOTATION = 'datamount.dev/cache-hints';

export const SIDECAR_NAME = 'datamount-sidecar';
const VOLUME_PREFIX = 'datamount-';
/** Every node-cache volume's name starts with this; no dataset volume's does (see datasetVolumeName). */
const CACHE_VOLUME_PREFIX = 'datamount-cache-';
/**
 * The single node-cache volume of pods injected before finding S1 (docs/robustness.md): the
 * whole cache root. Never injected any more; a reinvocation replaces it (it is one of our names).
 */
const LEGACY_CACHE_VOLUME = 'datamount-cache';
/** The prefix of a dataset volume whose name would otherwise fall among the cache volumes' names. */
const DATASET_VOLUME_ALT_PREFIX = 'datamount-ds-';
/** Where the sidecar mounts each dataset inside its own container (docs/contract.md). */
export const SIDECAR_MOUNT_ROOT = '/datamount';
export const DEFAULT_MOUNT_ROOT = '/mnt/datasets';

/** RFC 1123 subdomain: what Kubernetes accepts as a custom resource's name. */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Volume names are DNS-1123 labels: at most 63 characters. */
const LABEL_MAX = 63;

export function isDatasetName(name: string): boolean {
  return name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}
export const DATASET_NAME_HELP = 'a DNS-1123 name: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit, at most 253 characters';

/**
 * The emptyDir volume of one dataset. A Dataset name may hold dots and be up to 253 characters
 * long, a volume name may not, so such names are shortened and made unique with a hash of the
 * full name (two datasets `a.b` and `a-b` must not share a volume). A name that would look like
 * a cache volume's (dataset `cache` or `cache-…`) is moved out of their way, so the emptyDir of
 * one dataset can never be named like the cache volume of another.
 */
export function datasetVolumeName(dataset: string): string {
  const plain = VOLUME_PREFIX + dataset;
  if (isVolumeLabel(plain) && !isCacheVolumeName(plain)) return plain;
  const hashed = hashedVolumeName(VOLUME_PREFIX, dataset);
  return isCacheVolumeName(hashed) ? hashedVolumeName(DATASET_VOLUME_ALT_PREFIX, dataset) : hashed;
}

/**
 * The hostPath volume of one dataset's node-cache folder (`<cacheRoot>/<namespace>/<dataset>`):
 * `datamount-cache-<dataset>`, shortened and hashed like datasetVolumeName where needed. The
 * namespace is not part of the name: a pod only ever gets Datasets of its own namespace.
 */
export function cacheVolumeName(dataset: string): string {
  const plain = CACHE_VOLUME_PREFIX + dataset;
  return isVolumeLabel(plain) ? plain : hashedVolumeName(CACHE_VOLUME_PREFIX, dataset);
}

/**
 * One dataset's folder in the node cache, as the sidecar's DATAMOUNT_CONFIG names it and as its
 * hostPath volume mounts it (docs/contract.md). Namespaces are DNS labels and Dataset names
 * DNS-1123 subdomains, so neither can be empty, `.`, `..` or hold a `/`.
 */
export function datasetCacheDir(cacheRoot: string, namespace: string, dataset: string): string {
  return `${cacheRoot}/${namespace}/${dataset}`;
}

function isCacheVolumeName(name: string): boolean {
  return name === LEGACY_CACHE_VOLUME || name.startsWith(CACHE_VOLUME_PREFIX);
}

function isVolumeLabel(name: string): boolean {
  return name.length <= LABEL_MAX && DNS1123_LABEL.test(name);
}

/** `<prefix><stem>-<8 hex of sha256(dataset)>`, at most 63 characters; the stem is the name with dots as dashes, cut to fit. */
function hashedVolumeName(prefix: string, dataset: string): string {
  const hash = createHash('sha256').update(dataset).digest('hex').slice(0, 8);
  const stem = dataset.replace(/\./g, '-').slice(0, LABEL_MAX - prefix.length - hash.length - 1).replace(/-+$/, '');
  return `${prefix}${stem}-${hash}`;
}

/** True for every volume name datamount may own in a pod (the legacy whole-cache volume too). */
export function isOurVolumeName(name: string): boolean {
  return name.startsWith(VOLUME_PREFIX);
}

/** `imagenet-v2.large` → `IMAGENET_V2_LARGE`, for DATASET_<NAME>_* and DATAMOUNT_<NAME>_* variables. */
export function envNamePart(dataset: string): string {
  return dataset.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export function sidecarMountPoint(dataset: string): string {
  return `${SIDECAR_MOUNT_ROOT}/${dataset}`;
}

export function defaultMountPath(dataset: string): string {
  return `${DEFAULT_MOUNT_ROOT}/${dataset}`;
}
