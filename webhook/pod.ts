/**
 * The slice of the core/v1 Pod the webhook reads and writes. Only the fields we touch are
 * typed; everything else passes through untouched (the index signatures), because the patch is
 * a diff of the whole object and must never drop a field we do not know about.
 */

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; [field: string]: unknown };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  mountPropagation?: 'None' | 'HostToContainer' | 'Bidirectional';
  subPath?: string;
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  ports?: { containerPort: number; name?: string; protocol?: string }[];
  restartPolicy?: string;
  securityContext?: { runAsUser?: number; runAsGroup?: number; privileged?: boolean; [field: string]: unknown };
  [field: string]: unknown;
}

export interface Volume {
  name: string;
  emptyDir?: Record<string, unknown>;
  hostPath?: { path: string; type?: string };
  [field: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: Record<string, unknown>;
  securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number; [field: string]: unknown };
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: PodSpec;
  [field: string]: unknown;
}

/** How a pod is named in messages and logs: controllers' pods only have a generateName yet. */
export function podDisplayName(pod: Pod, namespace: string): string {
  const name = pod.metadata?.name ?? (pod.metadata?.generateName ? `${pod.metadata.generateName}<generated>` : '<unnamed>');
  return `${namespace}/${name}`;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): boolean {
  return value === undefined || (isObject(value) && Object.values(value).every((v) => typeof v === 'string'));
}

/**
 * The API server only sends Pods that passed its own decoding, but the webhook must never crash
 * on a body that lies: check every field the review reads has the type it assumes. Returns the
 * reasons it is not a Pod (empty when it is one as far as we care).
 */
export function checkPodShape(obj: unknown): string[] {
  if (!isObject(obj)) return ['request.object must be a Pod object'];
  const problems: string[] = [];
  const metadata = obj.metadata;
  if (metadata !== undefined && !isObject(metadata)) problems.push('metadata must be an object');
  if (isObject(metadata)) {
    if (!isStringMap(metadata.labels)) problems.push('metadata.labels must map strings to strings');
    if (!isStringMap(metadata.annotations)) problems.push('metadata.annotations must map strings to strings');
    for (const field of ['name', 'generateName', 'namespace'] as const) {
      if (metadata[field] !== undefined && typeof metadata[field] !== 'string') problems.push(`metadata.${field} must be a string`);
    }
  }
  const spec = obj.spec;
  if (!isObject(spec)) return [...problems, 'spec must be an object'];
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) problems.push('spec.containers must be a non-empty list');
  for (const list of ['containers', 'initContainers'] as const) {
    const containers = spec[list];
    if (containers === undefined && list === 'initContainers') continue;
    if (!Array.isArray(containers)) {
      if (list === 'initContainers') problems.push('spec.initContainers must be a list');
      continue;
    }
    containers.forEach((c: unknown, i) => problems.push(...checkContainer(c, `spec.${list}[${i}]`)));
  }
  if (spec.volumes !== undefined) {
    if (!Array.isArray(spec.volumes)) problems.push('spec.volumes must be a list');
    else spec.volumes.forEach((v: unknown, i) => {
      if (!isObject(v) || typeof v.name !== 'string') problems.push(`spec.volumes[${i}] must be an object with a string name`);
    });
  }
  if (spec.nodeName !== undefined && typeof spec.nodeName !== 'string') problems.push('spec.nodeName must be a string');
  if (!isStringMap(spec.nodeSelector)) problems.push('spec.nodeSelector must map strings to strings');
  if (spec.affinity !== undefined && !isObject(spec.affinity)) problems.push('spec.affinity must be an object');
  if (spec.securityContext !== undefined && !isObject(spec.securityContext)) problems.push('spec.securityContext must be an object');
  return problems;
}

function checkContainer(container: unknown, where: string): string[] {
  if (!isObject(container)) return [`${where} must be an object`];
  const problems: string[] = [];
  if (typeof container.name !== 'string') problems.push(`${where}.name must be a string`);
  if (container.env !== undefined) {
    if (!Array.isArray(container.env)) problems.push(`${where}.env must be a list`);
    else container.env.forEach((e: unknown, i) => {
      if (!isObject(e) || typeof e.name !== 'string') problems.push(`${where}.env[${i}] must be an object with a string name`);
    });
  }
  if (container.volumeMounts !== undefined) {
    if (!Array.isArray(container.volumeMounts)) problems.push(`${where}.volumeMounts must be a list`);
    else container.volumeMounts.forEach((m: unknown, i) => {
      if (!isObject(m) || typeof m.name !== 'string' || typeof m.mountPath !== 'string') problems.push(`${where}.volumeMounts[${i}] must be an object with string name and mountPath`);
    });
  }
  if (container.ports !== undefined && !Array.isArray(container.ports)) problems.push(`${where}.ports must be a list`);
  if (container.securityContext !== undefined && !isObject(container.securityContext)) problems.push(`${where}.securityContext must be an object`);
  return problems;
}
