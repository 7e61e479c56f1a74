/**
 * The volumes and volume mounts of an injection (docs/contract.md): per mounted dataset, one
 * emptyDir — the sidecar mounts FUSE at its root with Bidirectional propagation, so the app
 * containers, mounting the same emptyDir with HostToContainer, see the FUSE mount — and one
 * hostPath of that dataset's own node-cache folder, mounted in the sidecar at the same path so
 * DATAMOUNT_CONFIG's `cacheDir` is valid inside it. Never the whole cache root (finding S1 in
 * docs/robustness.md: a sidecar could list, delete or fill other namespaces' blocks); only the
 * reporter DaemonSet mounts the root. Plus the list helpers that make injection a repeatable
 * upsert.
 */
import { sidecarMountPoint } from './names';
import type { Volume, VolumeMount } from './pod';

export function datasetVolume(volumeName: string): Volume {
  return { name: volumeName, emptyDir: {} };
}

export function cacheVolume(volumeName: string, cacheDir: string): Volume {
  return { name: volumeName, hostPath: { path: cacheDir, type: 'DirectoryOrCreate' } };
}

export function sidecarDatasetMount(volumeName: string, dataset: string): VolumeMount {
  return { name: volumeName, mountPath: sidecarMountPoint(dataset), mountPropagation: 'Bidirectional' };
}

export function sidecarCacheMount(volumeName: string, cacheDir: string): VolumeMount {
  return { name: volumeName, mountPath: cacheDir };
}

export function appDatasetMount(volumeName: string, mountPath: string, readOnly: boolean): VolumeMount {
  return {
    name: volumeName,
    mountPath,
    mountPropagation: 'HostToContainer',
    ...(readOnly ? { readOnly: true } : {}),
  };
}

/**
 * Make `list` hold exactly `wanted` among the items `owned` selects, keeping every other item
 * where it is: an item already present is replaced in place (only if it differs, so the diff
 * stays empty on reinvocation), a missing one is appended, an owned one no longer wanted is
 * removed. Returns the new list, or `list` itself when nothing is wanted and nothing in it is
 * owned (the common case of a container's own variables, checked on every review), which the
 * caller, like any list of the pod, replaces and never mutates.
 */
export function reconcileByName<T extends { name: string }>(list: readonly T[], wanted: readonly T[], owned: (item: T) => boolean, merge: (existing: T, next: T) => T = (_e, n) => n): T[] {
  if (wanted.length === 0 && !list.some(owned)) return list as T[];
  // The usual first injection: nothing of ours yet and no name taken, so everything wanted is appended.
  if (!list.some(owned) && !wanted.some((w) => list.some((item) => item.name === w.name))) return [...list, ...wanted];
  const byName = new Map(wanted.map((item) => [item.name, item]));
  const result: T[] = [];
  const placed = new Set<string>();
  for (const item of list) {
    const next = byName.get(item.name);
    if (next && !placed.has(item.name)) {
      result.push(merge(item, next));
      placed.add(item.name);
    } else if (!owned(item)) {
      result.push(item);
    }
  }
  for (const item of wanted) if (!placed.has(item.name)) result.push(item);
  return result;
}
