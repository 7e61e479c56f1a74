/**
 * What the webhook changed in a pod, in a few readable lines: the sidecar, the volumes and
 * where each container mounts them, added environment variables (names and sources, never
 * values), markers and scheduling hints.
 */
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IVolume } from 'kubernetes-models/v1/Volume';

export function injectionSummary(before: IPod, after: IPod): string[] {
  const lines: string[] = [];
  const oldNames = new Set([...(before.spec?.initContainers ?? []), ...(before.spec?.containers ?? [])].map((c) => c.name));
  for (const sidecar of (after.spec?.initContainers ?? []).filter((c) => !oldNames.has(c.name))) {
    const probe = sidecar.startupProbe?.httpGet;
    const kind = sidecar.restartPolicy === 'Always' ? 'native sidecar' : 'init container';
    lines.push(`+ ${kind} ${sidecar.name}: ${sidecar.image} ${(sidecar.args ?? []).join(' ')}`.trimEnd()
      + (probe ? `, startupProbe GET ${probe.path}:${probe.port}` : '')
      + (sidecar.securityContext?.privileged ? ', privileged' : ''));
  }
  const oldVolumes = new Set((before.spec?.volumes ?? []).map((v) => v.name));
  const added = (after.spec?.volumes ?? []).filter((v) => !oldVolumes.has(v.name));
  const containers = [...(after.spec?.initContainers ?? []), ...(after.spec?.containers ?? [])];
  for (const volume of added) {
    const where = containers.flatMap((c) => (c.volumeMounts ?? [])
      .filter((m) => m.name === volume.name)
      .map((m) => `${c.name}:${m.mountPath}${m.mountPropagation ? ` (${m.mountPropagation}${m.readOnly ? ', ro' : ''})` : m.readOnly ? ' (ro)' : ''}`));
    lines.push(`+ volume ${volume.name} (${volumeKind(volume)}) → ${where.join(', ') || 'not mounted'}`);
  }
  for (const container of containers) {
    const old = [...(before.spec?.initContainers ?? []), ...(before.spec?.containers ?? [])].find((c) => c.name === container.name);
    const env = addedEnv(old, container);
    if (env.length > 0) lines.push(`+ env in ${container.name}: ${env.join(', ')}`);
  }
  const labels = addedEntries(before.metadata?.labels, after.metadata?.labels);
  const annotations = addedEntries(before.metadata?.annotations, after.metadata?.annotations);
  if (labels.length > 0) lines.push(`+ labels: ${labels.join(', ')}`);
  if (annotations.length > 0) lines.push(`+ annotations: ${annotations.join(', ')}`);
  const preferred = after.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const oldPreferred = before.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  if (preferred.length > oldPreferred.length) {
    const terms = preferred.slice(oldPreferred.length).map((t) => `${(t.preference.matchExpressions ?? []).map((e) => (e.values ?? []).join('|')).join(',')} weight ${t.weight}`);
    lines.push(`+ node affinity (preferred): ${terms.join('; ')}`);
  }
  return lines;
}

function volumeKind(volume: IVolume): string {
  if (volume.emptyDir) return 'emptyDir';
  if (volume.hostPath) return `hostPath ${volume.hostPath.path}`;
  return Object.keys(volume).filter((k) => k !== 'name').join(',');
}

function addedEnv(before: IContainer | undefined, after: IContainer): string[] {
  const old = new Set((before?.env ?? []).map((e) => e.name));
  return (after.env ?? []).filter((e) => !old.has(e.name)).map((e) => {
    const from = e.valueFrom;
    if (from?.secretKeyRef) return `${e.name} (Secret ${from.secretKeyRef.name}/${from.secretKeyRef.key})`;
    if (from?.configMapKeyRef) return `${e.name} (ConfigMap ${from.configMapKeyRef.name})`;
    if (from?.fieldRef) return `${e.name} (${from.fieldRef.fieldPath})`;
    return e.name;
  });
}

function addedEntries(before: Record<string, string> | undefined, after: Record<string, string> | undefined): string[] {
  return Object.entries(after ?? {}).filter(([k, v]) => before?.[k] !== v).map(([k, v]) => `${k}=${v.length > 60 ? `${v.slice(0, 57)}...` : v}`);
}
