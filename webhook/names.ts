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
export const CACHE_VOLUME = 'datamount-cache';
const VOLUME_PREFIX = 'datamount-';
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
 * full name (two datasets `a.b` and `a-b` must not share a volume).
 */
export function datasetVolumeName(dataset: string): string {
  const plain = VOLUME_PREFIX + dataset;
  if (plain.length <= LABEL_MAX && DNS1123_LABEL.test(plain)) return plain;
  const hash = createHash('sha256').update(dataset).digest('hex').slice(0, 8);
  const stem = dataset.replace(/\./g, '-').slice(0, LABEL_MAX - VOLUME_PREFIX.length - hash.length - 1).replace(/-+$/, '');
  return `${VOLUME_PREFIX}${stem}-${hash}`;
}

/** True for every volume name datamount may own in a pod. */
export function isOurVolumeName(name: string): boolean {
  return name === CACHE_VOLUME || name.startsWith(VOLUME_PREFIX);
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
