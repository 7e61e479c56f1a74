/**
 * An HTTP server that speaks enough of the Kubernetes REST API for the adapters under test:
 * get, list, watch, create, update, patch and delete of any resource, namespaced or
 * cluster-scoped, core (`/api/v1/...`) or in a group (`/apis/<group>/<version>/...`).
 *
 * It keeps the API server's concurrency rules, because that is what the adapters must get
 * right: one global, increasing resourceVersion; `PUT` with a stale `metadata.resourceVersion`
 * is a 409 Conflict; `POST` of an existing name is a 409 AlreadyExists; a watch started at
 * resourceVersion N replays every event after N, and one started before the oldest kept event
 * gets a 410 Gone so the client must relist. Errors are `Status` objects as the real server sends.
 *
 * Kinds map to plurals by lower-casing and adding `s` (Dataset → datasets,
 * ConfigMap → configmaps, MutatingWebhookConfiguration → mutatingwebhookconfigurations).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyPatch, type Operation } from 'fast-json-patch';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
}

export interface InterceptedReply {
  status: number;
  body?: unknown;
}

export type Interceptor = (req: RecordedRequest) => InterceptedReply | undefined;

export interface FakeKubeApi {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Store an object as if created (events go to watchers); returns the stored copy. */
  seed(obj: KubeObject): KubeObject;
  /** Delete an object as if by the API (a DELETED event goes to watchers). */
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean;
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  /** End every open watch stream, as an API server restart or a load balancer timeout would. */
  dropWatches(): void;
  /** Forget events up to now, so a watch from an older resourceVersion gets 410 Gone. */
  compactHistory(): void;
  /** Install a fault injector: a reply it returns is sent instead of the normal handling. */
  intercept(fn: Interceptor | undefined): void;
  /** Number of watch streams currently open. */
  openWatches(): number;
  stop(): Promise<void>;
}

interface Route {
  /** Storage key of the resource type: `<apiVersion>/<plural>`. */
  type: string;
  apiVersion: string;
  plural: string;
  namespace: string | undefined;
  name: string | undefined;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

interface Watcher {
  route: Route;
  res: http.ServerResponse;
}

function plural(kind: string): string {
  return `${kind.toLowerCase()}s`;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function parseRoute(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let apiVersion: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') {
    apiVersion = 'v1';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    apiVersion = `${parts[1]}/${parts[2]}`;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, ...extra] = rest;
  if (!resource || extra.length > 0) return undefined;
  return { type: `${apiVersion}/${resource}`, apiVersion, plural: resource, namespace, name };
}

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function status(code: number, reason: string, message: string): { code: number; body: unknown } {
  return {
    code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code },
  };
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const base: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const store = new Map<string, Map<string, KubeObject>>();
  const history: WatchEvent[] = [];
  let oldestKeptRv = 0;
  let resourceVersion = 1;
  const watchers = new Set<Watcher>();
  const requests: RecordedRequest[] = [];
  let interceptor: Interceptor | undefined;
  let uidCounter = 0;

  function bucket(type: string): Map<string, KubeObject> {
    let b = store.get(type);
    if (!b) {
      b = new Map();
      store.set(type, b);
    }
    return b;
  }

  function typeOf(obj: KubeObject): string {
    return `${obj.apiVersion}/${plural(obj.kind)}`;
  }

  function matches(route: Route, obj: KubeObject): boolean {
    if (typeOf(obj) !== route.type) return false;
    if (route.namespace !== undefined && obj.metadata.namespace !== route.namespace) return false;
    if (route.name !== undefined && obj.metadata.name !== route.name) return false;
    return true;
  }

  function emit(type: WatchEvent['type'], object: KubeObject): void {
    const event: WatchEvent = { rv: Number(object.metadata.resourceVersion), type, object: clone(object) };
    history.push(event);
    for (const w of watchers) {
      if (matches(w.route, object)) w.res.write(`${JSON.stringify({ type, object: event.object })}\n`);
    }
  }

  function write(obj: KubeObject, type: WatchEvent['type']): KubeObject {
    resourceVersion += 1;
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(resourceVersion);
    if (!stored.metadata.uid) stored.metadata.uid = `uid-${++uidCounter}`;
    if (!stored.metadata.creationTimestamp) stored.metadata.creationTimestamp = new Date().toISOString();
    bucket(typeOf(stored)).set(objectKey(stored.metadata.namespace, stored.metadata.name), stored);
    emit(type, stored);
    return clone(stored);
  }

  function erase(type: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const b = bucket(type);
    const key = objectKey(namespace, name);
    const existing = b.get(key);
    if (!existing) return undefined;
    b.delete(key);
    resourceVersion += 1;
    const gone = clone(existing);
    gone.metadata.resourceVersion = String(resourceVersion);
    emit('DELETED', gone);
    return gone;
  }

  function listItems(route: Route): KubeObject[] {
    return [...bucket(route.type).values()].filter((o) => matches(route, o)).map(clone);
  }

  function kindFor(route: Route): string {
    const sample = [...bucket(route.type).values()][0];
    if (sample) return sample.kind;
    const singular = route.plural.endsWith('s') ? route.plural.slice(0, -1) : route.plural;
    return singular.charAt(0).toUpperCase() + singular.slice(1);
  }

  function send(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function startWatch(route: Route, query: Record<string, string>, res: http.ServerResponse): void {
    const since = query.resourceVersion ? Number(query.resourceVersion) : undefined;
    if (since !== undefined && since !== 0 && since < oldestKeptRv) {
      // Kubernetes answers an expired resourceVersion with a 200 stream carrying one ERROR event.
      res.writeHead(200, { 'content-type': 'application/json' });
      const gone = status(410, 'Expired', `too old resource version: ${since} (${oldestKeptRv})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone.body })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (since === undefined || since === 0) {
      for (const obj of listItems(route)) res.write(`${JSON.stringify({ type: 'ADDED', object: obj })}\n`);
    } else {
      for (const e of history) {
        if (e.rv > since && matches(route, e.object)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
      }
    }
    const watcher: Watcher = { route, res };
    watchers.add(watcher);
    res.on('close', () => watchers.delete(watcher));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams.entries());
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      contentType: req.headers['content-type']?.split(';')[0],
    };
    requests.push(recorded);
    const body = ['POST', 'PUT', 'PATCH'].includes(recorded.method) ? await readBody(req) : '';
    const injected = interceptor?.(recorded);
    if (injected) {
      send(res, injected.status, injected.body ?? status(injected.status, 'InternalError', 'injected fault').body);
      return;
    }
    const route = parseRoute(url.pathname);
    if (!route) {
      const e = status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
      send(res, e.code, e.body);
      return;
    }
    const b = bucket(route.type);
    const key = route.name === undefined ? undefined : objectKey(route.namespace, route.name);
    const current = key === undefined ? undefined : b.get(key);
    const notFound = () => status(404, 'NotFound', `${route.plural} "${route.name}" not found`);

    let parsed: unknown;
    if (body) {
      try {
        parsed = JSON.parse(body);
      } catch {
        const e = status(400, 'BadRequest', 'request body is not valid JSON');
        send(res, e.code, e.body);
        return;
      }
    }

    switch (recorded.method) {
      case 'GET': {
        if (query.watch === 'true' || query.watch === '1') {
          startWatch(route, query, res);
          return;
        }
        if (route.name !== undefined) {
          if (!current) {
            const e = notFound();
            send(res, e.code, e.body);
          } else send(res, 200, current);
          return;
        }
        send(res, 200, {
          apiVersion: route.apiVersion,
          kind: `${kindFor(route)}List`,
          metadata: { resourceVersion: String(resourceVersion) },
          items: listItems(route),
        });
        return;
      }
      case 'POST': {
        const obj = parsed as KubeObject;
        if (!obj?.metadata?.name) {
          const e = status(422, 'Invalid', 'metadata.name: Required value');
          send(res, e.code, e.body);
          return;
        }
        const ns = route.namespace ?? obj.metadata.namespace;
        const stored = { ...obj, apiVersion: route.apiVersion, metadata: { ...obj.metadata, namespace: ns } };
        if (b.has(objectKey(ns, obj.metadata.name))) {
          const e = status(409, 'AlreadyExists', `${route.plural} "${obj.metadata.name}" already exists`);
          send(res, e.code, e.body);
          return;
        }
        if (query.dryRun) send(res, 201, stored);
        else send(res, 201, write(stored, 'ADDED'));
        return;
      }
      case 'PUT': {
        const obj = parsed as KubeObject;
        if (!current) {
          const e = notFound();
          send(res, e.code, e.body);
          return;
        }
        const sent = obj?.metadata?.resourceVersion;
        if (sent !== undefined && sent !== current.metadata.resourceVersion) {
          const e = status(
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${route.plural} "${route.name}": the object has been modified; please apply your changes to the latest version and try again`,
          );
          send(res, e.code, e.body);
          return;
        }
        const next = { ...obj, metadata: { ...obj.metadata, namespace: current.metadata.namespace, uid: current.metadata.uid } };
        send(res, 200, query.dryRun ? next : write(next, 'MODIFIED'));
        return;
      }
      case 'PATCH': {
        if (!current) {
          const e = notFound();
          send(res, e.code, e.body);
          return;
        }
        let next: KubeObject;
        try {
          if (recorded.contentType === 'application/json-patch+json') {
            next = applyPatch(clone(current), parsed as Operation[], true, false).newDocument;
          } else if (
            recorded.contentType === 'application/merge-patch+json' ||
            recorded.contentType === 'application/strategic-merge-patch+json'
          ) {
            next = mergePatch(current, parsed) as KubeObject;
          } else {
            const e = status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${recorded.contentType}`);
            send(res, e.code, e.body);
            return;
          }
        } catch (err) {
          const e = status(422, 'Invalid', `patch does not apply: ${(err as Error).message}`);
          send(res, e.code, e.body);
          return;
        }
        const sent = next.metadata?.resourceVersion;
        if (sent !== undefined && sent !== current.metadata.resourceVersion) {
          const e = status(409, 'Conflict', `Operation cannot be fulfilled on ${route.plural} "${route.name}": the object has been modified`);
          send(res, e.code, e.body);
          return;
        }
        send(res, 200, query.dryRun ? next : write(next, 'MODIFIED'));
        return;
      }
      case 'DELETE': {
        if (!current || route.name === undefined) {
          const e = notFound();
          send(res, e.code, e.body);
          return;
        }
        if (query.dryRun) send(res, 200, current);
        else send(res, 200, erase(route.type, route.namespace, route.name));
        return;
      }
      default: {
        const e = status(405, 'MethodNotAllowed', `method ${recorded.method} is not supported`);
        send(res, e.code, e.body);
      }
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = status(500, 'InternalError', String(err));
      if (!res.headersSent) send(res, e.code, e.body);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    seed: (obj) => write(obj, bucket(typeOf(obj)).has(objectKey(obj.metadata.namespace, obj.metadata.name)) ? 'MODIFIED' : 'ADDED'),
    remove: (apiVersion, kind, namespace, name) => erase(`${apiVersion}/${plural(kind)}`, namespace, name) !== undefined,
    get: (apiVersion, kind, namespace, name) => {
      const found = bucket(`${apiVersion}/${plural(kind)}`).get(objectKey(namespace, name));
      return found ? clone(found) : undefined;
    },
    dropWatches: () => {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    compactHistory: () => {
      history.length = 0;
      oldestKeptRv = resourceVersion;
    },
    intercept: (fn) => {
      interceptor = fn;
    },
    openWatches: () => watchers.size,
    stop: async () => {
      for (const w of watchers) w.res.destroy();
      watchers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
