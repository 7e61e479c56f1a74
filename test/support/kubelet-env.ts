/**
 * A container's environment, resolved the way the kubelet does it
 * (pkg/kubelet/kubelet_pods.go `makeEnvironmentVariables`):
 *
 * - `envFrom` sources first, in order, each key under its `prefix`; keys that are not valid
 *   variable names are skipped (the kubelet records an event, so do we, as a warning);
 * - then `env` in order: `value` with `$(VAR)` expanded against the variables defined so far
 *   (`$$` escapes, an unknown `$(X)` stays as written), `secretKeyRef`, `configMapKeyRef`,
 *   `fieldRef`, `resourceFieldRef`;
 * - a missing Secret / ConfigMap or key fails the container unless the reference is `optional`,
 *   with the kubelet's own words: `couldn't find key K in Secret ns/name`,
 *   `secret "name" not found` (the kubelet's status reason is CreateContainerConfigError).
 *
 * `command` and `args` are expanded against the final environment (`expandCommand`).
 */
import os from 'node:os';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IObjectFieldSelector } from 'kubernetes-models/v1/ObjectFieldSelector';
import type { IResourceFieldSelector } from 'kubernetes-models/v1/ResourceFieldSelector';
import { parseQuantity } from '../../common/quantity';

/** What the kubelet knows when it builds a container's environment. */
export interface EnvSources {
  pod: IPod;
  secrets: readonly ISecret[];
  configMaps: readonly IConfigMap[];
  nodeName: string;
  podIP: string;
  hostIP: string;
}

export interface ResolvedEnv {
  /** Variables in definition order; a later definition of a name replaces the earlier value. */
  vars: Map<string, string>;
  /** Things the kubelet would report as events but that do not stop the container. */
  warnings: string[];
}

/** The error the kubelet reports as CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  override readonly name = 'ContainerConfigError';
  readonly reason = 'CreateContainerConfigError';
}

// k8s.io/apimachinery validation.IsEnvVarName: letters, digits, '_', '-', '.'; no leading digit.
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function resolveContainerEnv(container: IContainer, sources: EnvSources): ResolvedEnv {
  const vars = new Map<string, string>();
  const warnings: string[] = [];
  const namespace = sources.pod.metadata?.namespace ?? 'default';

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let data: Record<string, string> | undefined;
    if (from.configMapRef) {
      const configMap = findConfigMap(sources, namespace, from.configMapRef.name ?? '', from.configMapRef.optional);
      data = configMap ? configMapData(configMap) : undefined;
    } else if (from.secretRef) {
      const secret = findSecret(sources, namespace, from.secretRef.name ?? '', from.secretRef.optional);
      data = secret ? secretData(secret) : undefined;
    }
    for (const [key, value] of Object.entries(data ?? {})) {
      const name = prefix + key;
      if (!ENV_VAR_NAME.test(name)) {
        warnings.push(`skipped ${JSON.stringify(name)} from envFrom: not a valid environment variable name`);
        continue;
      }
      vars.set(name, value);
    }
  }

  for (const variable of container.env ?? []) {
    const source = variable.valueFrom;
    let value: string | undefined;
    if (!source) {
      value = expandVariables(variable.value ?? '', vars);
    } else if (source.secretKeyRef) {
      const { name = '', key, optional } = source.secretKeyRef;
      const secret = findSecret(sources, namespace, name, optional);
      value = secret ? secretData(secret)[key] : undefined;
      if (secret && value === undefined && !optional) {
        throw new ContainerConfigError(`couldn't find key ${key} in Secret ${namespace}/${name}`);
      }
    } else if (source.configMapKeyRef) {
      const { name = '', key, optional } = source.configMapKeyRef;
      const configMap = findConfigMap(sources, namespace, name, optional);
      value = configMap ? configMapData(configMap)[key] : undefined;
      if (configMap && value === undefined && !optional) {
        throw new ContainerConfigError(`couldn't find key ${key} in ConfigMap ${namespace}/${name}`);
      }
    } else if (source.fieldRef) {
      value = podFieldValue(source.fieldRef, sources);
    } else if (source.resourceFieldRef) {
      value = resourceFieldValue(source.resourceFieldRef, container, sources.pod);
    }
    if (value !== undefined) vars.set(variable.name, value);
  }
  return { vars, warnings };
}

/**
 * Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion): `$$` is a literal `$`,
 * `$(NAME)` is NAME's value when defined and stays as written otherwise.
 */
export function expandVariables(input: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const char = input[i];
    if (char !== '$' || i + 1 >= input.length) {
      out += char;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      out += vars.get(name) ?? `$(${name})`;
      i = close;
    } else {
      out += char;
    }
  }
  return out;
}

/** `command` and `args` with `$(VAR)` expanded against the container's environment. */
export function expandCommand(words: readonly string[] | undefined, vars: ReadonlyMap<string, string>): string[] | undefined {
  return words?.map((word) => expandVariables(word, vars));
}

function findSecret(sources: EnvSources, namespace: string, name: string, optional: boolean | undefined): ISecret | undefined {
  const found = sources.secrets.find((s) => s.metadata?.name === name && (s.metadata.namespace ?? namespace) === namespace);
  if (!found && !optional) throw new ContainerConfigError(`secret "${name}" not found`);
  return found;
}

function findConfigMap(sources: EnvSources, namespace: string, name: string, optional: boolean | undefined): IConfigMap | undefined {
  const found = sources.configMaps.find((c) => c.metadata?.name === name && (c.metadata.namespace ?? namespace) === namespace);
  if (!found && !optional) throw new ContainerConfigError(`configmap "${name}" not found`);
  return found;
}

function secretData(secret: ISecret): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [key, encoded] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(encoded, 'base64').toString('utf8');
  // stringData is write-only in the API (merged into data by the API server); accept it here.
  Object.assign(data, secret.stringData ?? {});
  return data;
}

function configMapData(configMap: IConfigMap): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [key, encoded] of Object.entries(configMap.binaryData ?? {})) data[key] = Buffer.from(encoded, 'base64').toString('utf8');
  Object.assign(data, configMap.data ?? {});
  return data;
}

// pkg/kubelet/kubelet_pods.go podFieldSelectorRuntimeValue and pkg/fieldpath.
function podFieldValue(selector: IObjectFieldSelector, sources: EnvSources): string {
  const meta = sources.pod.metadata ?? {};
  const path = selector.fieldPath;
  const subscript = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (subscript) {
    const map = subscript[1] === 'labels' ? meta.labels : meta.annotations;
    return map?.[subscript[2] ?? ''] ?? '';
  }
  switch (path) {
    case 'metadata.name': return meta.name ?? '';
    case 'metadata.namespace': return meta.namespace ?? 'default';
    case 'metadata.uid': return meta.uid ?? '';
    case 'metadata.labels': return formatMap(meta.labels);
    case 'metadata.annotations': return formatMap(meta.annotations);
    case 'spec.nodeName': return sources.nodeName;
    case 'spec.serviceAccountName': return sources.pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP': case 'status.hostIPs': return sources.hostIP;
    case 'status.podIP': case 'status.podIPs': return sources.podIP;
    default: throw new ContainerConfigError(`unsupported fieldRef fieldPath ${JSON.stringify(path)}`);
  }
}

/** The downward API's `key="value"` lines, sorted by key. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {}).sort().map((key) => `${key}=${JSON.stringify(map?.[key])}`).join('\n');
}

/**
 * pkg/api/v1/resource ExtractContainerResourceValue: value / divisor rounded up; a missing limit
 * is the node's allocatable amount (here: this machine's CPUs and memory), a missing request
 * defaults to the limit as the API server's defaulting does, else 0.
 */
function resourceFieldValue(selector: IResourceFieldSelector, container: IContainer, pod: IPod): string {
  const target = selector.containerName
    ? [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === selector.containerName)
    : container;
  if (!target) throw new ContainerConfigError(`resourceFieldRef names no container ${JSON.stringify(selector.containerName)}`);
  const [kind, resource] = selector.resource.split('.') as [string, string | undefined];
  const allocatable: Record<string, number> = { cpu: os.cpus().length, memory: os.totalmem() };
  const limits = target.resources?.limits ?? {};
  const requests = target.resources?.requests ?? {};
  const quantity = (q: string | number | undefined): number | undefined => (q === undefined ? undefined : parseQuantity(String(q)));
  const limit = quantity(limits[resource ?? '']) ?? allocatable[resource ?? ''];
  const value = kind === 'limits' ? limit : quantity(requests[resource ?? '']) ?? quantity(limits[resource ?? '']) ?? 0;
  if ((kind !== 'limits' && kind !== 'requests') || value === undefined) {
    throw new ContainerConfigError(`unsupported resourceFieldRef resource ${JSON.stringify(selector.resource)}`);
  }
  const divisor = quantity(selector.divisor ?? '1') ?? 1;
  return String(Math.ceil(value / divisor));
}
