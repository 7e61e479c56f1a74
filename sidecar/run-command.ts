/**
 * `datamount-sidecar run`: the in-pod mode (docs/contract.md). Serves the probe and metrics
 * port first (so the startupProbe sees 503 while mounting), mounts every dataset of
 * `DATAMOUNT_CONFIG` at its mountPoint with allow_other, and on SIGTERM finishes pending
 * uploads, unmounts (lazily if busy) and exits 0.
 *
 * A dataset that cannot be mounted is retried with backoff (S3 may come up after the pod);
 * readiness stays 503 meanwhile and says why, so the pod's startupProbe decides when to give up.
 */
import type { AddressInfo } from 'node:net';
import { mountDataset, type DatasetSpec, type MountedDataset } from './dataset-mount';
import { createLogger } from './logger';
import { SidecarMetrics } from './metrics';
import { ConfigError, loadSidecarConfig, type SidecarConfig } from './sidecar-config';
import { createSidecarServer } from './sidecar-server';

const RUN_METADATA_TTL_MS = 5_000;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

export function datasetSpecs(config: SidecarConfig): DatasetSpec[] {
  const share = Math.max(1, config.datasets.length);
  return config.datasets.map((d) => ({
    name: `${d.namespace}/${d.name}`,
    endpoint: d.endpoint,
    bucket: d.bucket,
    prefix: d.prefix,
    region: d.region,
    forcePathStyle: d.forcePathStyle,
    credentials: d.credentials,
    readOnly: d.readOnly,
    mountPoint: d.mountPoint,
    // A cache size of 0 (annotation datamount.dev/cache-size: "0") asks for no disk tier at all.
    cacheDir: config.cacheSizeBytes === 0 ? undefined : d.cacheDir,
    // The pod's budgets are shared evenly by its datasets.
    cacheBytes: Math.floor(config.cacheSizeBytes / share),
    memoryBytes: Math.floor(config.cacheMemoryBytes / share),
    uid: config.uid,
    gid: config.gid,
    allowOther: true,
    metadataTtlMs: RUN_METADATA_TTL_MS,
    siblingPrefetch: { aheadFiles: config.siblingPrefetchFiles, maxRequests: config.siblingPrefetchRequests },
    listingPrefetch: { directories: config.listingPrefetchDirectories },
  }));
}

export async function runSidecar(_argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const log = createLogger(env.DATAMOUNT_LOG_LEVEL === 'debug' ? 'debug' : 'info');
  let config: SidecarConfig;
  try {
    config = loadSidecarConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`datamount-sidecar run: ${error.message}\n`);
    return 2;
  }
  const metrics = new SidecarMetrics();
  const specs = datasetSpecs(config);
  const mounted = new Map<string, MountedDataset>();
  const lastError = new Map<string, string>();
  let stopping = false;

  const server = createSidecarServer(
    {
      pending: () => specs.filter((s) => !mounted.has(s.name)).map((s) => (lastError.has(s.name) ? `${s.name} (${lastError.get(s.name)})` : s.name)),
      failure: () => undefined,
    },
    metrics,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, () => resolve());
  });
  log.info('serving probes and metrics', { port: (server.address() as AddressInfo).port });

  const mountWithRetry = async (spec: DatasetSpec): Promise<void> => {
    for (let delay = RETRY_FIRST_MS; !stopping; delay = Math.min(RETRY_MAX_MS, delay * 2)) {
      try {
        const dataset = await mountDataset(spec, log, metrics);
        if (stopping) {
          await dataset.close();
          return;
        }
        mounted.set(spec.name, dataset);
        lastError.delete(spec.name);
        return;
      } catch (error) {
        lastError.set(spec.name, (error as Error).message);
        log.error('mount failed; retrying', { dataset: spec.name, mountPoint: spec.mountPoint, retryInMs: delay, error });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  };

  const mounting = Promise.all(specs.map(mountWithRetry)).then(() => {
    if (!stopping) log.info('all datasets mounted', { datasets: specs.map((s) => s.name) });
  });

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  stopping = true;
  log.info('stopping: finishing uploads, then unmounting', { signal });
  await mounting;
  await Promise.all([...mounted.values()].map((dataset) => dataset.close()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return 0;
}
