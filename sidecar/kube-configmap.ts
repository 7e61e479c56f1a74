/**
 * The reporter's one conversation with the Kubernetes API: set or remove one key of one
 * ConfigMap with a JSON merge patch (RFC 7386, `{"data":{"<key>":"<value>"}}` or `null`), so a
 * node's reporter only ever changes its own key and reporters on different nodes never
 * overwrite each other, with no read-modify-write and no resourceVersion conflicts.
 *
 * Why not @kubernetes/client-node: it is ESM-only and loaded by exactly one file, the webhook's
 * adapter; the sidecar image and the `report` command should not depend on the webhook's code,
 * and one PATCH (plus a POST when the ConfigMap does not exist yet) needs no client library.
 * Why `node:https` and not the built-in `fetch`: the API server's certificate is signed by the
 * cluster CA from the ServiceAccount volume, and Node 20's `fetch` cannot be given a CA without
 * the `undici` package; `https.request` takes `ca` directly (same reasoning as certs/kube-rest.ts).
 *
 * The ServiceAccount token is read again for every request: projected tokens are rotated by the
 * kubelet (about hourly) and a DaemonSet runs for months.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const REQUEST_TIMEOUT_MS = 10_000;

export interface ConfigMapKeyStore {
  /** Sets `data[key]`, or removes it when `value` is null; creates the ConfigMap when missing. */
  setKey(key: string, value: string | null): Promise<void>;
}

export interface KubeConfigMapOptions {
  /** `https://10.96.0.1:443` in the cluster, `http://127.0.0.1:PORT` in tests. */
  baseUrl: string;
  namespace: string;
  name: string;
  /** File holding the bearer token; absent = no Authorization header. */
  tokenFile?: string;
  /** PEM of the CA that signed the API server's certificate. */
  ca?: string;
}

/** A non-2xx answer, with the `Status` reason the API server gave. */
export class KubeRequestError extends Error {
  override readonly name = 'KubeRequestError';
  constructor(readonly method: string, readonly path: string, readonly status: number, readonly reason: string, detail: string) {
    super(`${method} ${path}: ${status} ${reason}: ${detail}`);
  }
}

export class KubeConfigMap implements ConfigMapKeyStore {
  private readonly base: URL;

  constructor(private readonly options: KubeConfigMapOptions) {
    this.base = new URL(options.baseUrl);
  }

  async setKey(key: string, value: string | null): Promise<void> {
    const { namespace, name } = this.options;
    const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    const patch = { data: { [key]: value } };
    try {
      await this.call('PATCH', `${collection}/${encodeURIComponent(name)}`, patch, 'application/merge-patch+json');
      return;
    } catch (err) {
      if (!(err instanceof KubeRequestError) || err.status !== 404) throw err;
      if (value === null) return;
    }
    // The ConfigMap is missing (normally the manifests create it): create it with our key. If
    // another node's reporter created it a moment ago, patch theirs instead.
    try {
      await this.call('POST', collection, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { [key]: value } }, 'application/json');
    } catch (err) {
      if (!(err instanceof KubeRequestError) || err.status !== 409) throw err;
      await this.call('PATCH', `${collection}/${encodeURIComponent(name)}`, patch, 'application/merge-patch+json');
    }
  }

  private async call(method: string, path: string, body: unknown, contentType: string): Promise<void> {
    const url = new URL(path, this.base);
    const payload = Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': contentType,
      'content-length': String(payload.length),
    };
    if (this.options.tokenFile !== undefined) {
      headers.authorization = `Bearer ${(await readFile(this.options.tokenFile, 'utf8')).trim()}`;
    }
    const transport = url.protocol === 'https:' ? https : http;
    const ca = this.options.ca;
    await new Promise<void>((resolve, reject) => {
      const request = transport.request(url, { method, headers, timeout: REQUEST_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve();
            return;
          }
          const text = Buffer.concat(chunks).toString('utf8');
          let reason = 'Unknown';
          let message = text.slice(0, 200);
          try {
            const parsed = JSON.parse(text) as { reason?: unknown; message?: unknown };
            if (typeof parsed.reason === 'string') reason = parsed.reason;
            if (typeof parsed.message === 'string') message = parsed.message;
          } catch {
            // Not a Status object (a proxy's HTML error page): keep the raw text.
          }
          reject(new KubeRequestError(method, path, status, reason, message));
        });
      });
      request.on('timeout', () => request.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      request.on('error', reject);
      request.end(payload);
    });
  }
}

/** The API server as a pod sees it: the address in its environment, the ServiceAccount's token and CA. */
export async function inClusterConfigMap(host: string, port: string, namespace: string, name: string, dir = SERVICE_ACCOUNT_DIR): Promise<KubeConfigMap> {
  const ca = await readFile(`${dir}/ca.crt`, 'utf8');
  const address = host.includes(':') ? `[${host}]` : host;
  return new KubeConfigMap({ baseUrl: `https://${address}:${port}`, namespace, name, tokenFile: `${dir}/token`, ca });
}
