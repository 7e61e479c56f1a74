/**
 * `datamount-sidecar report`: the node's cache reporter and janitor, one per node (DaemonSet).
 *
 * Each run walks the node cache, lets the janitor bring it under budget, and publishes what is
 * left as this node's key in the cache-location ConfigMap, which the webhook turns into
 * node-affinity hints. Runs happen every interval (which also refreshes `updated`, so the
 * webhook's TTL keeps trusting a live node), and soon after the cache's top folders change (a
 * dataset appearing or vanishing is what moves placement; block-level churn waits for the
 * interval, because watching every folder of a large cache would exhaust inotify watches).
 * Runs never overlap; a change-triggered run whose result equals the last published one does
 * not call the API server.
 *
 * A failed publish is retried with backoff and jitter, then left to the next run: an API server
 * that is down never stops the janitor. On SIGTERM (or SIGINT) the reporter removes its key, so
 * the webhook stops sending pods to a node that no longer reports, and exits 0.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { runJanitor } from './cache-janitor';
import { formatCacheReport, scanCache, usageByDataset, type CacheFolder } from './cache-usage';
import { inClusterConfigMap, KubeConfigMap, type ConfigMapKeyStore } from './kube-configmap';
import { createLogger, type Logger } from './logger';
import { readReporterConfig, REPORTER_USAGE, ReporterConfigError, type ReporterConfig } from './reporter-config';

export interface ReporterDeps {
  /** Environment to read the configuration from; default the process's. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Aborting it stops the reporter as SIGTERM does; default: SIGTERM and SIGINT. */
  stop?: AbortSignal;
  log?: Logger;
  /** Where the key is written; default the Kubernetes API from the configuration. */
  store?: ConfigMapKeyStore;
  /** First retry delay of a failed publish; doubles each attempt. */
  retryDelayMs?: number;
}

type Trigger = 'start' | 'interval' | 'change';

const PUBLISH_ATTEMPTS = 4;
const REMOVE_ATTEMPTS = 3;
const DEFAULT_RETRY_DELAY_MS = 1_000;

class NodeReporter {
  private running: Promise<void> | undefined;
  private pending: Trigger | undefined;
  private stopping = false;
  private lastPublished: string | undefined;
  private lastRunAt = 0;
  private interval: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly watchers = new Map<string, FSWatcher>();

  constructor(
    private readonly config: ReporterConfig,
    private readonly store: ConfigMapKeyStore,
    private readonly log: Logger,
    private readonly retryDelayMs: number,
  ) {}

  /** One scan, janitor pass and publish; true when the report reached the API server. */
  async runOnce(trigger: Trigger): Promise<boolean> {
    this.lastRunAt = Date.now();
    const { cacheRoot, budget, folderGraceMs, node } = this.config;
    const scan = await scanCache(cacheRoot);
    const janitor = await runJanitor(scan, { root: cacheRoot, budget, folderGraceMs });
    const usage = usageByDataset(janitor.kept);
    const bytes = Object.values(usage).reduce((sum, entry) => sum + entry.bytes, 0);
    this.log.info('node cache scanned', {
      node, trigger, datasets: Object.keys(usage).length, bytes, budgetBytes: janitor.budgetBytes,
      evictedBlocks: janitor.evicted.blocks, evictedBytes: janitor.evicted.bytes,
      removedFolders: janitor.removedFolders.length,
      ...(janitor.failures.length > 0 ? { evictionFailures: janitor.failures } : {}),
      ...(scan.unreadable.length > 0 ? { unreadable: scan.unreadable } : {}),
    });
    if (!this.config.once) this.watchFolders(scan.folders.filter((folder) => folder.depth <= 2 && !janitor.removedFolders.includes(folder.path)));
    const datasets = JSON.stringify(usage);
    if (trigger === 'change' && datasets === this.lastPublished) return true;
    const published = await this.setKey(formatCacheReport(usage, new Date()), PUBLISH_ATTEMPTS);
    if (published) this.lastPublished = datasets;
    return published;
  }

  start(): void {
    this.watchFolders([]);
    this.schedule('start');
    this.interval = setInterval(() => this.schedule('interval'), this.config.intervalMs);
  }

  async stop(): Promise<boolean> {
    this.stopping = true;
    clearInterval(this.interval);
    clearTimeout(this.debounce);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    await this.running;
    return this.setKey(null, REMOVE_ATTEMPTS);
  }

  private schedule(trigger: Trigger): void {
    if (this.stopping) return;
    if (this.running !== undefined) {
      // A periodic run must also publish, so it wins over a change-triggered one.
      this.pending = this.pending === 'interval' ? 'interval' : trigger;
      return;
    }
    this.running = this.runOnce(trigger)
      .then(() => undefined, (error: unknown) => this.log.error('node cache run failed', { node: this.config.node, trigger, error }))
      .finally(() => {
        this.running = undefined;
        const next = this.pending;
        this.pending = undefined;
        if (next !== undefined) this.schedule(next);
      });
  }

  private changed(): void {
    if (this.stopping) return;
    clearTimeout(this.debounce);
    const wait = Math.max(this.config.debounceMs, this.lastRunAt + this.config.debounceMs - Date.now());
    this.debounce = setTimeout(() => this.schedule('change'), wait);
  }

  /** Keeps one non-recursive watcher on the root and on each namespace and dataset folder. */
  private watchFolders(folders: CacheFolder[]): void {
    const wanted = new Set([this.config.cacheRoot, ...folders.map((folder) => folder.path)]);
    for (const [path, watcher] of this.watchers) {
      if (!wanted.has(path)) {
        watcher.close();
        this.watchers.delete(path);
      }
    }
    for (const path of wanted) {
      if (this.watchers.has(path)) continue;
      try {
        const watcher = watch(path, { persistent: false }, () => this.changed());
        // A watched folder that the janitor or a sidecar removes ends its watcher; the next run re-syncs.
        watcher.on('error', () => {
          watcher.close();
          this.watchers.delete(path);
        });
        this.watchers.set(path, watcher);
      } catch (error) {
        this.log.warn('cannot watch cache folder; changes there wait for the next interval', { path, error });
      }
    }
  }

  private async setKey(value: string | null, attempts: number): Promise<boolean> {
    const action = value === null ? 'remove' : 'publish';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        await this.store.setKey(this.config.node, value);
        this.log.info(value === null ? 'cache report removed' : 'cache report published', {
          node: this.config.node, configMap: `${this.config.namespace}/${this.config.configMap}`,
        });
        return true;
      } catch (error) {
        const last = attempt === attempts;
        this.log.warn(`cannot ${action} cache report${last ? '; giving up until the next run' : '; retrying'}`, {
          node: this.config.node, attempt, error,
        });
        if (last) break;
        // Exponential backoff with ±50% jitter, so reporters of a whole cluster do not retry in step.
        await sleep(this.retryDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
      }
    }
    return false;
  }
}

async function storeFor(config: ReporterConfig): Promise<ConfigMapKeyStore> {
  if (config.apiServer !== undefined) {
    return new KubeConfigMap({ baseUrl: config.apiServer, namespace: config.namespace, name: config.configMap });
  }
  return inClusterConfigMap(config.kubernetesHost ?? '', config.kubernetesPort ?? '', config.namespace, config.configMap);
}

function stopSignal(given: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
  if (given !== undefined) return { signal: given, release: () => {} };
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  process.once('SIGTERM', abort);
  process.once('SIGINT', abort);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGTERM', abort);
      process.off('SIGINT', abort);
    },
  };
}

/** Entry point of `datamount-sidecar report`; resolves to the process exit code. */
export async function runReporter(argv: string[], deps: ReporterDeps = {}): Promise<number> {
  const log = deps.log ?? createLogger();
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${REPORTER_USAGE}\n`);
    return 0;
  }
  let config: ReporterConfig;
  let store: ConfigMapKeyStore;
  try {
    config = readReporterConfig(argv, deps.env);
    store = deps.store ?? (await storeFor(config));
  } catch (error) {
    if (error instanceof ReporterConfigError) log.error('invalid reporter configuration', { problems: error.problems, usage: REPORTER_USAGE });
    else log.error('cannot reach the Kubernetes API from this pod', { error });
    return 2;
  }
  try {
    // The DaemonSet's hostPath is DirectoryOrCreate; this covers running outside it.
    await mkdir(config.cacheRoot, { recursive: true });
  } catch (error) {
    log.error('cannot create the cache root', { cacheRoot: config.cacheRoot, error });
    return 1;
  }
  const reporter = new NodeReporter(config, store, log, deps.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
  log.info('cache reporter starting', {
    node: config.node, cacheRoot: config.cacheRoot, budget: config.budget, intervalMs: config.intervalMs, once: config.once,
  });

  if (config.once) {
    try {
      return (await reporter.runOnce('start')) ? 0 : 1;
    } catch (error) {
      log.error('node cache run failed', { node: config.node, error });
      return 1;
    }
  }

  const { signal, release } = stopSignal(deps.stop);
  try {
    reporter.start();
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    log.info('cache reporter stopping', { node: config.node });
    await reporter.stop();
    return 0;
  } finally {
    release();
  }
}
