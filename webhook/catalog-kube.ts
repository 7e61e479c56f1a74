/**
 * The API-server adapter of the catalog. Reviews are answered from memory: one reflector per
 * source keeps a copy current with the Kubernetes list+watch protocol —
 *
 *   list (remember `metadata.resourceVersion`) → watch from that version → on every event move
 *   the version on → when the stream ends (server timeout, load balancer, API server restart)
 *   watch again *from the last version seen*, so nothing is missed or replayed → when the
 *   server says the version is too old (410 Gone, sent as an ERROR event) relist from scratch.
 *
 * Sources: `datasets.datamount.dev` and Datashim's `datasets.datashim.io` in all namespaces,
 * and the `datamount-cache-locations` ConfigMap in the webhook's namespace. A cluster without
 * Datashim answers 404 for its group; that source then counts as empty and synced, and is
 * retried now and then in case the CRD is installed later.
 *
 * A Dataset created a moment ago may not have reached the watch yet when its first pod is
 * reviewed, so a miss in memory is checked with a direct GET before the pod is refused.
 */
import { ConcurrencyLimit } from '../common/concurrency-limit';
import { CACHE_LOCATIONS_CONFIGMAP, type DatasetCatalog, MemoryCatalog } from './catalog';
import { DATAMOUNT_GROUP, DATASET_VERSION, type DatasetEntry, DATASHIM_GROUP } from './dataset';
import { DatamountError, describeError, ERRORS } from './errors';
import { KubeApiError, type KubeClient, type KubeWatchEvent, type ResourceRef } from './kube-client';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

export interface KubeCatalogOptions {
  client: KubeClient;
  /** Namespace of the cache-location ConfigMap. */
  namespace: string;
  log?: Log;
  /** First retry delay after a failure; doubles up to `retryMaxMs`. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** How often a missing CRD (404) is looked for again. */
  missingCrdRetryMs?: number;
  /** A direct GET slower than this counts as a failed lookup (the API server waits ~10 s for us). */
  lookupTimeoutMs?: number;
  /**
   * A list slower than this counts as failed (and the catalog as stale): client-node puts no
   * limit on it, and an API server that accepts the connection but never answers would
   * otherwise leave the catalog waiting forever while /readyz still says ready.
   */
  listTimeoutMs?: number;
  /** Direct lookups running at once (default 32, i.e. at most 64 GETs in flight). */
  maxConcurrentLookups?: number;
  /** How long a Dataset the API server did not have is answered as absent without asking again. */
  negativeCacheMs?: number;
  now?: () => Date;
}

export interface KubeCatalog extends DatasetCatalog {
  /** Resolves once every source has been listed. */
  whenSynced(): Promise<void>;
}

interface Source {
  ref: ResourceRef;
  /** Replace everything this source holds with a fresh listing. */
  replace(items: unknown[]): void;
  apply(event: KubeWatchEvent): void;
}

const DATASETS = (group: string): ResourceRef => ({ group, version: DATASET_VERSION, plural: 'datasets' });

export function startKubeCatalog(options: KubeCatalogOptions): KubeCatalog {
  const { client, log = () => {} } = options;
  const now = options.now ?? (() => new Date());
  const memory = new MemoryCatalog();
  const retryMin = options.retryMinMs ?? 500;
  const retryMax = options.retryMaxMs ?? 30_000;
  const listTimeout = options.listTimeoutMs ?? 30_000;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const watches = new Set<{ abort(): void }>();
  const wakeups = new Set<() => void>();

  const datasetSource = (group: string): Source => ({
    ref: DATASETS(group),
    replace(items) {
      memory.clearGroup(group);
      for (const item of items) memory.upsert(withKind(item, `${group}/${DATASET_VERSION}`, 'Dataset'));
    },
    apply(event) {
      const obj = withKind(event.object, `${group}/${DATASET_VERSION}`, 'Dataset');
      if (event.type === 'DELETED') {
        const meta = metadataOf(obj);
        if (meta.name && meta.namespace) memory.remove(group, meta.namespace, meta.name);
      } else {
        memory.upsert(obj);
      }
    },
  });
  const configMapSource: Source = {
    ref: { group: '', version: 'v1', plural: 'configmaps', namespace: options.namespace, fieldSelector: `metadata.name=${CACHE_LOCATIONS_CONFIGMAP}` },
    replace(items) {
      // The field selector already narrows the list; the name is checked again all the same.
      const found = items.find((item) => metadataOf(item).name === CACHE_LOCATIONS_CONFIGMAP);
      memory.setCacheLocations(found ? dataOf(found) : undefined);
    },
    apply(event) {
      if (metadataOf(event.object).name !== CACHE_LOCATIONS_CONFIGMAP) return;
      memory.setCacheLocations(event.type === 'DELETED' ? undefined : dataOf(event.object));
    },
  };
  const sources = [datasetSource(DATAMOUNT_GROUP), datasetSource(DATASHIM_GROUP), configMapSource];
  const synced = new Set<Source>();
  const staleSince = new Map<Source, Date>();
  let resolveSynced: () => void = () => {};
  const syncedPromise = new Promise<void>((resolve) => {
    resolveSynced = resolve;
  });

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => {
    if (closed) return resolve();
    const wake = (): void => {
      clearTimeout(timer);
      timers.delete(timer);
      wakeups.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    timers.add(timer);
    wakeups.add(wake);
  });

  const markSynced = (source: Source): void => {
    synced.add(source);
    staleSince.delete(source);
    if (synced.size === sources.length) {
      memory.markSynced();
      resolveSynced();
    }
    memory.markStale(oldest(staleSince));
  };
  const markStale = (source: Source): void => {
    if (!staleSince.has(source)) staleSince.set(source, now());
    memory.markStale(oldest(staleSince));
  };

  /** Watch once from `resourceVersion`; resolves with how the stream ended. */
  const watchOnce = (source: Source, start: string, onVersion: (rv: string) => void): Promise<{ gone: boolean; err?: unknown; events: number }> =>
    new Promise((resolve) => {
      let gone = false;
      let events = 0;
      let handle: { abort(): void } | undefined;
      const onEvent = (event: KubeWatchEvent): void => {
        if (event.type === 'ERROR') {
          const code = (event.object as { code?: unknown } | undefined)?.code;
          if (code === 410) gone = true;
          else log('warn', 'watch error event', { resource: source.ref.plural, group: source.ref.group, status: event.object });
          handle?.abort();
          return;
        }
        events += 1;
        const rv = metadataOf(event.object).resourceVersion;
        if (event.type !== 'BOOKMARK') source.apply(event);
        if (rv) onVersion(rv);
      };
      let ended = false;
      client.watch(source.ref, start, onEvent, (err) => {
        ended = true;
        if (handle) watches.delete(handle);
        resolve({ gone, err: gone ? undefined : err ?? undefined, events });
      }).then((h) => {
        // client-node reports a refused watch (non-200) through onDone before this resolves.
        if (ended) return;
        handle = h;
        watches.add(h);
        if (closed) h.abort();
        // The stream is open: the copy is current again.
        staleSince.delete(source);
        memory.markStale(oldest(staleSince));
      }, (err: unknown) => resolve({ gone: err instanceof KubeApiError && err.status === 410, err, events }));
    });

  const reflect = async (source: Source): Promise<void> => {
    let delay = retryMin;
    const where = { group: source.ref.group || 'core', resource: source.ref.plural };
    while (!closed) {
      let resourceVersion: string;
      try {
        const list = await withTimeout(client.list(source.ref), listTimeout, `list ${source.ref.plural}`);
        if (closed) return;
        source.replace(list.items);
        resourceVersion = list.resourceVersion;
        markSynced(source);
        delay = retryMin;
      } catch (err) {
        if (closed) return;
        if (err instanceof KubeApiError && err.status === 404 && source.ref.group !== '') {
          // The CRD is not installed (typically Datashim's): nothing to serve from it.
          source.replace([]);
          if (!synced.has(source)) log('info', 'Dataset resource not installed; treating it as empty', where);
          markSynced(source);
          await sleep(options.missingCrdRetryMs ?? 60_000);
          continue;
        }
        markStale(source);
        log('warn', 'list failed; retrying', { ...where, err: describeError(err), retryMs: delay });
        await sleep(delay);
        delay = Math.min(delay * 2, retryMax);
        continue;
      }

      // Watch, and resume from the last version seen whenever the stream ends.
      while (!closed) {
        const started = Date.now();
        const ended = await watchOnce(source, resourceVersion, (rv) => {
          resourceVersion = rv;
        });
        if (closed) return;
        if (ended.gone) {
          log('info', 'watch resourceVersion expired (410 Gone); relisting', where);
          break;
        }
        if (ended.err) {
          markStale(source);
          log('warn', 'watch failed; resuming', { ...where, resourceVersion, err: describeError(ended.err), retryMs: delay });
          await sleep(delay);
          delay = Math.min(delay * 2, retryMax);
          continue;
        }
        // A clean end (timeoutSeconds, a proxy closing idle streams) is normal: resume at once,
        // unless streams keep ending immediately without news, which would be a busy loop.
        if (ended.events === 0 && Date.now() - started < 1000) {
          await sleep(delay);
          delay = Math.min(delay * 2, retryMax);
        } else {
          delay = retryMin;
        }
      }
    }
  };

  for (const source of sources) {
    void reflect(source).catch((err: unknown) => log('error', 'catalog reflector stopped', { resource: source.ref.plural, err: describeError(err) }));
  }

  const lookupTimeout = options.lookupTimeoutMs ?? 3000;
  const fetchDataset = (group: string, namespace: string, name: string): Promise<unknown> =>
    withTimeout(client.get({ ...DATASETS(group), namespace }, name), lookupTimeout, `GET ${group} Dataset`);

  /**
   * Direct lookups in flight, by namespace/name: a burst of pods naming the same Dataset (a Job
   * with 500 parallel pods, say) shares one pair of GETs instead of sending one pair per pod.
   */
  const inflight = new Map<string, Promise<DatasetEntry | undefined>>();
  /**
   * At most this many direct lookups (two GETs each) run at once, across all pods; the rest wait
   * their turn. Many pods naming many different missing Datasets must not turn into hundreds of
   * concurrent requests against the API server (docs/robustness.md, W2).
   */
  const lookups = new ConcurrencyLimit(options.maxConcurrentLookups ?? 32);
  /** Names the API server said do not exist, until when: a pod retried in a loop costs one pair of GETs per second. */
  const absent = new Map<string, number>();
  const absentForMs = options.negativeCacheMs ?? 1000;
  const lookupDirect = async (namespace: string, name: string): Promise<DatasetEntry | undefined> => {
    const key = `${namespace}/${name}`;
    const until = absent.get(key);
    if (until !== undefined && until > Date.now()) return undefined;
    absent.delete(key);
    const found = await lookups.run(() => lookupNow(namespace, name));
    if (!found) {
      if (absent.size > 10_000) absent.clear();
      absent.set(key, Date.now() + absentForMs);
    }
    return found;
  };
  const lookupNow = async (namespace: string, name: string): Promise<DatasetEntry | undefined> => {
    const results = await Promise.allSettled([DATAMOUNT_GROUP, DATASHIM_GROUP].map((group) => fetchDataset(group, namespace, name)));
    let failure: unknown;
    for (const [i, result] of results.entries()) {
      const group = i === 0 ? DATAMOUNT_GROUP : DATASHIM_GROUP;
      if (result.status === 'fulfilled') {
        if (result.value !== undefined) memory.upsert(withKind(result.value, `${group}/${DATASET_VERSION}`, 'Dataset'));
      } else if (!(result.reason instanceof KubeApiError && result.reason.status === 404)) {
        failure ??= result.reason;
      }
    }
    const found = memory.lookup(namespace, name);
    if (found) return found;
    if (failure !== undefined) throw new DatamountError(ERRORS.CATALOG_UNAVAILABLE, `GET Dataset ${namespace}/${name}: ${describeError(failure)}`, { cause: failure });
    return undefined;
  };

  return {
    async getDataset(namespace: string, name: string): Promise<DatasetEntry | undefined> {
      const held = memory.lookup(namespace, name);
      if (held) return held;
      const key = `${namespace}/${name}`;
      let pending = inflight.get(key);
      if (!pending) {
        pending = lookupDirect(namespace, name).finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      return pending;
    },
    cacheLocations: () => memory.cacheLocations(),
    isSynced: () => memory.isSynced(),
    staleSince: () => memory.staleSince(),
    datasetCount: () => memory.datasetCount(),
    whenSynced: () => syncedPromise,
    async close() {
      closed = true;
      for (const w of watches) w.abort();
      for (const wake of [...wakeups]) wake();
      for (const timer of timers) clearTimeout(timer);
    },
  };
}

/** The promise's answer, or a rejection after `ms` (the request itself is left to finish or fail). */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function metadataOf(obj: unknown): { name?: string; namespace?: string; resourceVersion?: string } {
  const metadata = isObject(obj) && isObject(obj.metadata) ? obj.metadata : {};
  return {
    ...(typeof metadata.name === 'string' ? { name: metadata.name } : {}),
    ...(typeof metadata.namespace === 'string' ? { namespace: metadata.namespace } : {}),
    ...(typeof metadata.resourceVersion === 'string' ? { resourceVersion: metadata.resourceVersion } : {}),
  };
}

function dataOf(obj: unknown): Record<string, string> {
  const data = isObject(obj) && isObject(obj.data) ? obj.data : {};
  return Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** List items come without apiVersion/kind; the source knows what they are. */
function withKind(obj: unknown, apiVersion: string, kind: string): unknown {
  return isObject(obj) ? { ...obj, apiVersion, kind } : obj;
}

function oldest(dates: Map<unknown, Date>): Date | undefined {
  let result: Date | undefined;
  for (const date of dates.values()) if (!result || date < result) result = date;
  return result;
}
