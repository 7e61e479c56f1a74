/**
 * What an injection adds for one Dataset that depends only on the Dataset and the webhook's
 * configuration, never on the pod: the names of its two volumes and its node-cache folder, the
 * volumes themselves, the sidecar's mounts of them and credential variables, and the variables
 * of `use-as: env` and Datashim's `useas: configmap`.
 *
 * They are built once per Dataset object and shared by every review that injects it, frozen and
 * with their JSON text remembered (json-text.ts), instead of being built, copied and serialised
 * again for every pod (docs/webhook.md, "Performance"). The catalog makes a new, frozen Dataset
 * object whenever a Dataset changes (dataset.ts), so parts keyed on the object are never stale;
 * they are weakly held, so a Dataset that leaves the catalog takes its parts with it.
 */
import type { WebhookConfig } from './config';
import type { Dataset } from './dataset';
import { datasetEnv, datashimEnv, sidecarCredentialEnv } from './env-injection';
import { withText } from './json-text';
import { cacheVolumeName, datasetCacheDir, datasetVolumeName } from './names';
import type { EnvVar, Volume, VolumeMount } from './pod';
import { appDatasetMount, cacheVolume, datasetVolume, sidecarCacheMount, sidecarDatasetMount } from './volumes';

export interface DatasetParts {
  /** Tells these parts from any other's in a key (sidecar-spec.ts keeps sidecars by their datasets' parts). */
  readonly id: number;
  readonly volumeName: string;
  readonly cacheVolumeName: string;
  readonly cacheDir: string;
  readonly datasetVolume: Volume;
  readonly cacheVolume: Volume;
  readonly sidecarDatasetMount: VolumeMount;
  readonly sidecarCacheMount: VolumeMount;
  /** The sidecar's credential variables (none for an anonymous Dataset). */
  readonly sidecarEnv: readonly EnvVar[];
  /** `use-as: env` variables. */
  readonly env: readonly EnvVar[];
  /** Datashim `useas: configmap` variables. */
  readonly datashimEnv: readonly EnvVar[];
  /** The app containers' mount of the dataset volume at `mountPath`, made once per path and access. */
  appMount(mountPath: string, readOnly: boolean): VolumeMount;
}

let lastId = 0;
const built = new WeakMap<Dataset, { config: WebhookConfig; parts: DatasetParts }>();
/** App mounts kept per Dataset: a pod may choose any path, so beyond this many the memory starts over. */
const MAX_APP_MOUNTS = 64;

export function datasetParts(dataset: Dataset, config: WebhookConfig): DatasetParts {
  const known = built.get(dataset);
  if (known?.config === config) return known.parts;
  const parts = buildParts(dataset, config);
  built.set(dataset, { config, parts });
  return parts;
}

function buildParts(dataset: Dataset, config: WebhookConfig): DatasetParts {
  const volumeName = datasetVolumeName(dataset.name);
  const cacheName = cacheVolumeName(dataset.name);
  const cacheDir = datasetCacheDir(config.cacheHostPath, dataset.namespace, dataset.name);
  const appMounts = new Map<string, VolumeMount>();
  return Object.freeze({
    id: ++lastId,
    volumeName,
    cacheVolumeName: cacheName,
    cacheDir,
    datasetVolume: withText(datasetVolume(volumeName)),
    cacheVolume: withText(cacheVolume(cacheName, cacheDir)),
    sidecarDatasetMount: withText(sidecarDatasetMount(volumeName, dataset.name)),
    sidecarCacheMount: withText(sidecarCacheMount(cacheName, cacheDir)),
    sidecarEnv: withText(sidecarCredentialEnv(dataset)),
    env: withText(datasetEnv(dataset)),
    datashimEnv: withText(datashimEnv(dataset)),
    appMount(mountPath: string, readOnly: boolean): VolumeMount {
      const key = `${readOnly ? 'ro' : 'rw'}:${mountPath}`;
      let mount = appMounts.get(key);
      if (!mount) {
        if (appMounts.size >= MAX_APP_MOUNTS) appMounts.clear();
        mount = withText(appDatasetMount(volumeName, mountPath, readOnly));
        appMounts.set(key, mount);
      }
      return mount;
    },
  });
}
