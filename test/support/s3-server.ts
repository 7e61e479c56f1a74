/**
 * A real S3 server for tests and benchmarks: `s3rver` on a free loopback port, in a child
 * process started with `--openssl-legacy-provider` (its ListObjectsV2 continuation tokens use
 * single DES, so every page after the first 1,000 keys fails without it — design.md).
 *
 *   const s3 = await startS3Server({ buckets: ['data'] });
 *   // s3.endpoint = http://127.0.0.1:PORT, s3.accessKeyId / s3.secretAccessKey = S3RVER / S3RVER,
 *   // s3.region = us-east-1; path-style URLs (forcePathStyle: true).
 *   s3.countGets('dir/')            // GETs of object keys starting with 'dir/' (listings excluded)
 *   s3.requests                     // every request seen: { method, bucket, key, query, range, status }
 *   s3.resetRequests();
 *   await s3.stop();                // kills the child; the data folder is removed unless `dir` was given
 *
 * Requests are reported by the child after each response finishes (over IPC), so a count taken
 * right after a client's request resolved may lag by a few milliseconds: use `settle()` first.
 * Remember s3rver's quirks (design.md): key order, `encoding-type=url`, suffix ranges and
 * ranges on empty objects differ from S3 — a test must not depend on them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface S3Request {
  readonly method: string;
  readonly bucket: string;
  /** Object key, URL-decoded; '' for bucket-level requests (listings). */
  readonly key: string;
  /** The query string, '?list-type=2&prefix=…' for listings, '' for plain object requests. */
  readonly query: string;
  readonly range?: string;
  readonly status: number;
}

export interface S3Server {
  readonly endpoint: string;
  /** The s3rver child's process id (the benchmark counts its CPU). */
  readonly pid: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** Folder holding the buckets' data. */
  readonly dir: string;
  readonly requests: readonly S3Request[];
  /** GET requests for object keys (not listings) whose key starts with `keyPrefix`. */
  countGets(keyPrefix?: string): number;
  resetRequests(): void;
  /** Wait at least `quietMs` (default 50 ms), until no request report has arrived for that long. */
  settle(quietMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  readonly buckets?: string[];
  /** Data folder to use (kept on stop); default a fresh temporary folder (removed on stop). */
  readonly dir?: string;
}

const START_TIMEOUT_MS = 20_000;

/** The child script sits next to this file in the source tree (tsc does not copy .js files to dist/). */
function childScript(): string {
  const beside = path.join(__dirname, 's3-server-child.js');
  if (existsSync(beside)) return beside;
  return path.resolve(__dirname, '..', '..', '..', 'test', 'support', 's3-server-child.js');
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const dir = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-')));
  const ownsDir = options.dir === undefined;
  const child: ChildProcess = fork(childScript(), [JSON.stringify({ dir, buckets: options.buckets ?? [] })], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const requests: S3Request[] = [];
  let lastReport = Date.now();
  child.on('message', (message: { type: string; request?: S3Request }) => {
    if (message.type === 'request' && message.request) {
      requests.push(message.request);
      lastReport = Date.now();
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    child.on('message', (message: { type: string; port?: number }) => {
      if (message.type === 'ready' && message.port) {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code} before it was ready: ${stderr}`));
    });
  });
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    dir,
    get requests() {
      return requests;
    },
    countGets(keyPrefix = '') {
      return requests.filter((r) => r.method === 'GET' && r.key !== '' && r.key.startsWith(keyPrefix) && !r.query.includes('list-type')).length;
    },
    resetRequests() {
      requests.length = 0;
    },
    async settle(quietMs = 50) {
      do await new Promise((resolve) => setTimeout(resolve, quietMs));
      while (Date.now() - lastReport < quietMs);
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          await exited;
        }
        if (ownsDir) await fs.rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
