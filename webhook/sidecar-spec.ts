/**
 * The injected container, exactly as docs/contract.md fixes it: `datamount-sidecar`, a native
 * sidecar (`restartPolicy: Always` in initContainers, Kubernetes ≥ 1.29) whose startupProbe
 * passes only once every dataset is mounted, so the pod's own init containers and containers
 * start after the data is there. It is privileged because FUSE with Bidirectional mount
 * propagation needs it. Its whole configuration is one JSON document in `DATAMOUNT_CONFIG`
 * (no secrets in it); credentials come as `secretKeyRef` variables.
 */
import type { WebhookConfig } from './config';
import { sidecarCredentialEnvNames } from './env-injection';
import { type InjectionPlan, mountedDatasets } from './injection-plan';
import { withText } from './json-text';
import { SIDECAR_NAME, sidecarMountPoint } from './names';
import type { Container } from './pod';

/** One dataset in `DATAMOUNT_CONFIG` (read by `datamount-sidecar run`). */
export interface SidecarDatasetConfig {
  name: string;
  namespace: string;
  endpoint: string;
  bucket: string;
  prefix: string;
  region?: string;
  forcePathStyle: boolean;
  readOnly: boolean;
  mountPoint: string;
  cacheDir: string;
  accessKeyIdEnv?: string;
  secretAccessKeyEnv?: string;
}

/** `DATAMOUNT_CONFIG`, version 1. */
export interface SidecarConfig {
  version: 1;
  port: number;
  cacheRoot: string;
  cacheSize: string;
  cacheMemory: string;
  uid: number;
  gid: number;
  datasets: SidecarDatasetConfig[];
}

export const SIDECAR_CONFIG_ENV = 'DATAMOUNT_CONFIG';
/** Port name of the probe/metrics port (at most 15 characters, IANA_SVC_NAME). */
const PORT_NAME = 'datamount';
/** Probe every second for up to two minutes: mounting is quick, but a cold S3 listing may not be. */
const STARTUP_PROBE = { periodSeconds: 1, failureThreshold: 120 };

export function buildSidecarConfig(plan: InjectionPlan, config: WebhookConfig): SidecarConfig {
  return {
    version: 1,
    port: config.sidecarPort,
    cacheRoot: config.cacheHostPath,
    cacheSize: plan.cacheSize,
    cacheMemory: plan.cacheMemory,
    uid: plan.uid,
    gid: plan.gid,
    datasets: mountedDatasets(plan).map(({ dataset, readOnly, cacheDir }) => ({
      name: dataset.name,
      namespace: dataset.namespace,
      endpoint: dataset.endpoint,
      bucket: dataset.bucket,
      prefix: dataset.prefix,
      ...(dataset.region ? { region: dataset.region } : {}),
      forcePathStyle: dataset.forcePathStyle,
      readOnly,
      mountPoint: sidecarMountPoint(dataset.name),
      cacheDir,
      ...(dataset.secret ? sidecarCredentialEnvNames(dataset.name) : {}),
    })),
  };
}

export function buildSidecarContainer(plan: InjectionPlan, config: WebhookConfig): Container {
  const mounted = mountedDatasets(plan);
  const requests = pick({ cpu: plan.resources.cpuRequest, memory: plan.resources.memoryRequest });
  const limits = pick({ cpu: plan.resources.cpuLimit, memory: plan.resources.memoryLimit });
  return {
    name: SIDECAR_NAME,
    image: config.sidecarImage,
    args: ['run'],
    restartPolicy: 'Always',
    env: [
      { name: SIDECAR_CONFIG_ENV, value: JSON.stringify(buildSidecarConfig(plan, config)) },
      ...mounted.flatMap(({ parts }) => parts.sidecarEnv),
    ],
    ports: [{ name: PORT_NAME, containerPort: config.sidecarPort, protocol: 'TCP' }],
    startupProbe: { httpGet: { path: '/readyz', port: config.sidecarPort }, ...STARTUP_PROBE },
    resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) },
    securityContext: { privileged: true },
    volumeMounts: [...mounted.map(({ parts }) => parts.sidecarDatasetMount), ...(plan.diskCache ? mounted.map(({ parts }) => parts.sidecarCacheMount) : [])],
  };
}

/** Sidecars kept per configuration, by everything they are made of (`sidecarKey`). */
const sidecars = new WeakMap<WebhookConfig, Map<string, Container>>();
/** Distinct sidecars kept per configuration; beyond this the memory starts over. */
const MAX_SIDECARS = 256;
const NONE = '\u0001';

/**
 * The sidecar for this plan, shared and frozen (its JSON text remembered, json-text.ts): pods
 * of one Deployment or Job, which is most pods a webhook sees, get one and the same sidecar, so
 * it is built and written once, not once per pod (docs/webhook.md, "Performance"). The review
 * never changes a container in place (a repair merges into a new one), and frozen, it could not.
 */
export function sharedSidecarContainer(plan: InjectionPlan, config: WebhookConfig): Container {
  let kept = sidecars.get(config);
  if (!kept) {
    kept = new Map();
    sidecars.set(config, kept);
  }
  const key = sidecarKey(plan);
  let sidecar = kept.get(key);
  if (!sidecar) {
    if (kept.size >= MAX_SIDECARS) kept.clear();
    sidecar = withText(buildSidecarContainer(plan, config));
    kept.set(key, sidecar);
  }
  return sidecar;
}

/** Everything buildSidecarContainer reads from the plan (the configuration is the map's key). */
function sidecarKey(plan: InjectionPlan): string {
  const { resources: r } = plan;
  let key = `${plan.uid}/${plan.gid}/${plan.cacheSize}/${plan.cacheMemory}/${r.cpuRequest ?? NONE}/${r.cpuLimit ?? NONE}/${r.memoryRequest ?? NONE}/${r.memoryLimit ?? NONE}`;
  for (const { parts, readOnly } of mountedDatasets(plan)) key += `/${parts.id}${readOnly ? 'r' : 'w'}`;
  return key;
}

function pick(values: Record<string, string | undefined>): Record<string, string> | undefined {
  const defined = Object.entries(values).filter((e): e is [string, string] => e[1] !== undefined);
  return defined.length > 0 ? Object.fromEntries(defined) : undefined;
}
