/**
 * The few Kubernetes REST calls `datamount-certs ensure` makes: get, create and update one
 * Secret, get and JSON-patch one MutatingWebhookConfiguration.
 *
 * Why not @kubernetes/client-node: that package is ESM-only and the project loads it in exactly
 * one place, the webhook's adapter (`webhook/kube-client.ts`). Depending on it here would tie
 * this small install-time CLI to the webhook's adapter and its dynamic import; five REST calls do
 * not need a client library.
 *
 * Why `node:https` and not `fetch`: in the cluster the API server's certificate is signed by the
 * cluster CA in the ServiceAccount volume, and Node 20's built-in `fetch` cannot be given a CA
 * without the `undici` package (not a dependency). `https.request` takes `ca` directly.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A request that should answer in well under a second; a hung API server must not hang a Job. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface KubeRestOptions {
  /** `https://10.96.0.1:443` in the cluster, `http://127.0.0.1:PORT` in tests. */
  readonly baseUrl: string;
  readonly token?: string;
  /** PEM of the CA that signed the API server's certificate. */
  readonly ca?: string;
}

/** A non-2xx answer, with the `Status` reason the API server gave (`AlreadyExists`, `Conflict`…). */
export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
    detail: string,
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${detail}`);
    this.name = 'KubeApiError';
  }
}

export type JsonPatch = ReadonlyArray<{ op: 'add' | 'replace' | 'test' | 'remove'; path: string; value?: unknown }>;

export class KubeRest {
  private readonly base: URL;

  constructor(private readonly options: KubeRestOptions) {
    this.base = new URL(options.baseUrl);
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  create<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body, 'application/json');
  }

  update<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body, 'application/json');
  }

  jsonPatch<T>(path: string, patch: JsonPatch): Promise<T> {
    return this.call<T>('PATCH', path, patch, 'application/json-patch+json');
  }

  private call<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    if (payload !== undefined && contentType !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(payload.length);
    }
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const request = transport.request(
        url,
        { method, headers, timeout: REQUEST_TIMEOUT_MS, ...(this.options.ca === undefined ? {} : { ca: this.options.ca }) },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            if (status >= 200 && status < 300) {
              resolve(parsed as T);
              return;
            }
            const statusBody = (parsed ?? {}) as { reason?: string; message?: string };
            reject(new KubeApiError(method, path, status, statusBody.reason ?? 'Unknown', statusBody.message ?? text.slice(0, 200)));
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      request.on('error', reject);
      request.end(payload);
    });
  }
}

/**
 * The API server as a pod sees it: the address Kubernetes puts in every pod's environment and
 * the ServiceAccount's token and CA. The environment is passed in (read by the CLI's options).
 */
export async function inClusterKubeRest(env: { host?: string; port?: string }, dir = SERVICE_ACCOUNT_DIR): Promise<KubeRest> {
  if (!env.host || !env.port) {
    throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (use --server URL)');
  }
  const [token, ca] = await Promise.all([readFile(`${dir}/token`, 'utf8'), readFile(`${dir}/ca.crt`, 'utf8')]);
  const host = env.host.includes(':') ? `[${env.host}]` : env.host;
  return new KubeRest({ baseUrl: `https://${host}:${env.port}`, token: token.trim(), ca });
}
