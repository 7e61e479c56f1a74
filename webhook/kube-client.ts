/**
 * The one file that loads `@kubernetes/client-node` (ESM-only since 1.0, so a real dynamic
 * `import()` from this CommonJS build). It offers a deliberately small client — list, get and
 * watch of a resource — so the catalog depends on three functions, not on the library.
 *
 * Credentials: in a pod, the ServiceAccount token and CA (`loadFromDefault` falls back to the
 * in-cluster config); elsewhere the usual kubeconfig. `server` overrides both for tests.
 */
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

/** A resource collection: `/apis/<group>/<version>[/namespaces/<ns>]/<plural>` (group "" = core). */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  /** Undefined: all namespaces. */
  namespace?: string;
  fieldSelector?: string;
}

export interface KubeList {
  items: unknown[];
  resourceVersion: string;
}

export interface KubeWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

export interface KubeWatch {
  abort(): void;
}

export interface KubeClient {
  list(ref: ResourceRef): Promise<KubeList>;
  /** The object, or undefined when the API server answers 404. */
  get(ref: ResourceRef & { namespace: string }, name: string): Promise<unknown>;
  /** Stream changes after `resourceVersion`; `onDone` is called once when the stream ends. */
  watch(ref: ResourceRef, resourceVersion: string, onEvent: (event: KubeWatchEvent) => void, onDone: (err: unknown) => void): Promise<KubeWatch>;
}

/** An API server answer other than success, with its HTTP status (410 Gone means relist). */
export class KubeApiError extends Error {
  constructor(readonly status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeApiError';
  }
}

export interface KubeClientOptions {
  /** API server URL (plain HTTP allowed, for the fake API server in tests). */
  server?: string;
}

/** Page size of lists: big enough for one round trip in most clusters, small enough to bound memory per response. */
const PAGE = 500;
/**
 * Ask the server to end each watch after this long; we resume from the last resourceVersion.
 * Below 30 s because client-node 1.x aborts every watch request after 30 s on its own
 * (AbortSignal.timeout(30000) in watch.js); a server-side end is clean and cheaper to resume.
 */
const WATCH_TIMEOUT_SECONDS = 25;

let library: Promise<typeof K8s> | undefined;
function loadLibrary(): Promise<typeof K8s> {
  library ??= import('@kubernetes/client-node');
  return library;
}

export async function createKubeClient(options: KubeClientOptions = {}): Promise<KubeClient> {
  const k8s = await loadLibrary();
  const kc = new k8s.KubeConfig();
  if (options.server) {
    // client-node refuses http:// unless skipTLSVerify is set; there is no TLS to verify then.
    // For https:// verification stays on.
    const plainHttp = options.server.startsWith('http://');
    kc.loadFromOptions({
      clusters: [{ name: 'target', server: options.server, skipTLSVerify: plainHttp }],
      users: [{ name: 'anonymous' }],
      contexts: [{ name: 'target', cluster: 'target', user: 'anonymous' }],
      currentContext: 'target',
    });
  } else {
    kc.loadFromDefault();
  }
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const watcher = new k8s.Watch(kc);

  const wrap = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      const status = typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 0;
      throw new KubeApiError(status, `${what}: ${status ? `HTTP ${status}` : (err as Error).message}`, { cause: err });
    }
  };

  return {
    async list(ref) {
      const items: unknown[] = [];
      let resourceVersion = '';
      let next: string | undefined;
      do {
        const page = await wrap(`list ${pathOf(ref)}`, (): Promise<{ items?: unknown[]; metadata?: { resourceVersion?: string; _continue?: string; continue?: string } }> => {
          const common = { limit: PAGE, ...(next ? { _continue: next } : {}), ...(ref.fieldSelector ? { fieldSelector: ref.fieldSelector } : {}) };
          if (ref.group === '') return listCore(core, ref, common);
          if (ref.namespace) return custom.listNamespacedCustomObject({ group: ref.group, version: ref.version, plural: ref.plural, namespace: ref.namespace, ...common });
          return custom.listClusterCustomObject({ group: ref.group, version: ref.version, plural: ref.plural, ...common });
        });
        items.push(...(page.items ?? []));
        resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
        next = page.metadata?._continue ?? page.metadata?.continue;
      } while (next);
      return { items, resourceVersion };
    },

    async get(ref, name) {
      try {
        return await wrap(`get ${pathOf(ref)}/${name}`, () => {
          if (ref.group === '') return getCore(core, ref, name);
          return custom.getNamespacedCustomObject({ group: ref.group, version: ref.version, plural: ref.plural, namespace: ref.namespace, name });
        });
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },

    async watch(ref, resourceVersion, onEvent, onDone) {
      const query = {
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: WATCH_TIMEOUT_SECONDS,
        ...(ref.fieldSelector ? { fieldSelector: ref.fieldSelector } : {}),
      };
      // client-node reports its own 30 s cap and our abort() as errors; both are ordinary ends.
      const done = (err: unknown): void => onDone(isAbort(err) ? null : err);
      const controller = await watcher.watch(pathOf(ref), query, (phase, object) => onEvent({ type: phase as KubeWatchEvent['type'], object }), done);
      return { abort: () => controller.abort() };
    },
  };
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

export function pathOf(ref: ResourceRef): string {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  return `${base}${ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : ''}/${ref.plural}`;
}

/** Core resources: only ConfigMaps are needed (the cache-location report). */
function listCore(core: K8s.CoreV1Api, ref: ResourceRef, common: { limit: number; _continue?: string; fieldSelector?: string }) {
  if (ref.plural !== 'configmaps' || !ref.namespace) throw new Error(`core resource ${ref.plural} is not supported by this client`);
  return core.listNamespacedConfigMap({ namespace: ref.namespace, ...common }) as Promise<{ items?: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } }>;
}

function getCore(core: K8s.CoreV1Api, ref: ResourceRef & { namespace: string }, name: string): Promise<unknown> {
  if (ref.plural !== 'configmaps') throw new Error(`core resource ${ref.plural} is not supported by this client`);
  return core.readNamespacedConfigMap({ namespace: ref.namespace, name });
}
