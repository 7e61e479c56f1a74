/**
 * The stage of the sidecar fault suites: a real s3rver (data kept in a folder we own, so it can
 * be killed and started again on the same data), the fault proxy in front of it, a direct S3
 * client for setting objects up behind the proxy's back, and standalone mounts
 * (`datamount-sidecar mount`, a child process) pointed at the proxy.
 *
 * Readers and writers are child processes (a mount must never be touched synchronously by the
 * process serving it, and a hung read must be killable): each prints one JSON line saying what
 * it got — the bytes' SHA-256, or the errno code — and is killed if it takes longer than its
 * bound, which the suites report as a hung mount.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { forceUnmountAll } from '../support/fuse-cleanup';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { startS3Server, type S3Server } from '../support/s3-server';
import { childEnv, ensureBuilt, startSidecar, type SidecarProcess } from '../sidecar/sidecar-process';

export const BUCKET = 'faults';
export const MiB = 1024 * 1024;

export interface Mount {
  dir: string;
  cacheDir: string | undefined;
  process: SidecarProcess;
}

export type ReadOutcome =
  | { kind: 'bytes'; sha256: string; length: number; ms: number }
  | { kind: 'error'; code: string; ms: number }
  | { kind: 'hung'; ms: number };

export type WriteOutcome = { kind: 'closed'; ms: number } | { kind: 'error'; code: string; step: string; ms: number } | { kind: 'hung'; ms: number };

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** libuv has no name for some errnos (ESTALE shows as "Unknown system error -116"): name them from os.constants. */
const ERRNO_NAME = `
const errnoName = (e) => {
  if (e.code && !String(e.code).startsWith('Unknown')) return e.code;
  const names = require('os').constants.errno;
  const found = Object.keys(names).find((name) => names[name] === -e.errno);
  return found || e.code || e.message;
};
`;

/** Read a whole file in 256 KiB reads (optionally pausing after the first read until stdin says go). */
const READER = `
const fs = require('fs');
${ERRNO_NAME}
const crypto = require('crypto');
const [file, pause] = process.argv.slice(1);
const started = Date.now();
const done = (o) => { process.stdout.write(JSON.stringify({ ...o, ms: Date.now() - started }) + '\\n'); process.exit(0); };
(async () => {
  let fh;
  try {
    fh = await fs.promises.open(file, 'r');
    const hash = crypto.createHash('sha256');
    const buf = Buffer.alloc(256 * 1024);
    let length = 0;
    for (let first = true; ; first = false) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, length);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      length += bytesRead;
      if (first && pause === 'pause') {
        process.stdout.write('paused\\n');
        await new Promise((resolve) => process.stdin.once('data', resolve));
      }
    }
    await fh.close();
    done({ kind: 'bytes', sha256: hash.digest('hex'), length });
  } catch (e) {
    done({ kind: 'error', code: errnoName(e) });
  }
})();
`;

/** Write \`bytes\` of a repeatable pattern in 1 MiB writes, optionally fsync, then close; reports the step that failed. */
const WRITER = `
const fs = require('fs');
${ERRNO_NAME}
const [file, bytes, fsyncFirst] = process.argv.slice(1);
const started = Date.now();
const done = (o) => { process.stdout.write(JSON.stringify({ ...o, ms: Date.now() - started }) + '\\n'); process.exit(0); };
(async () => {
  let step = 'open';
  let fh;
  try {
    fh = await fs.promises.open(file, 'w');
    const chunk = Buffer.alloc(1024 * 1024);
    for (let written = 0, i = 0; written < Number(bytes); written += chunk.length, i++) {
      step = 'write';
      chunk.fill(i % 251);
      await fh.write(chunk, 0, Math.min(chunk.length, Number(bytes) - written));
      if (i === 0) process.stdout.write('writing\\n');
    }
    if (fsyncFirst === 'fsync') { step = 'fsync'; await fh.sync(); }
    step = 'close';
    await fh.close();
    done({ kind: 'closed' });
  } catch (e) {
    done({ kind: 'error', code: errnoName(e), step });
  }
})();
`;

export interface ChildRun<T> {
  /** Resolves with the child's one JSON line, or `hung` when it ran past its bound (then it is killed). */
  result: Promise<T>;
  /** Resolves when the child printed `line` on stdout, or has exited. */
  saw(line: string): Promise<void>;
  /** Write a line to the child's stdin. */
  tell(line: string): void;
}

function runChild<T>(script: string, args: string[], boundMs: number): ChildRun<T> {
  const child = spawn(process.execPath, ['-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<{ line: string; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
    for (const w of [...waiters]) if (out.split('\n').includes(w.line)) w.resolve();
  });
  const started = Date.now();
  const result = new Promise<T>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ kind: 'hung', ms: Date.now() - started } as T);
    }, boundMs);
    // 'close', not 'exit': 'exit' may come before the child's last stdout bytes are read, and a
    // result line not yet seen would count as a hang.
    child.once('close', () => {
      clearTimeout(timer);
      // A child that ended never prints what a waiter waits for: let the test go on to the result.
      for (const w of waiters.splice(0)) w.resolve();
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        resolve({ kind: 'hung', ms: Date.now() - started } as T);
      }
    });
  });
  return {
    result,
    saw: (line) => new Promise<void>((resolve) => {
      if (out.split('\n').includes(line) || child.exitCode !== null || child.signalCode !== null) resolve();
      else waiters.push({ line, resolve });
    }),
    tell: (line) => {
      child.stdin.write(`${line}\n`);
    },
  };
}

export function readFile(file: string, boundMs: number, pause = false): ChildRun<ReadOutcome> {
  return runChild<ReadOutcome>(READER, [file, pause ? 'pause' : ''], boundMs);
}

export function writeFile(file: string, bytes: number, boundMs: number, fsyncFirst = false): ChildRun<WriteOutcome> {
  return runChild<WriteOutcome>(WRITER, [file, String(bytes), fsyncFirst ? 'fsync' : ''], boundMs);
}

/** The pattern WRITER writes, for comparing what reached S3. */
export function writerPattern(bytes: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let offset = 0, i = 0; offset < bytes; offset += MiB, i++) data.fill(i % 251, offset, Math.min(bytes, offset + MiB));
  return data;
}

export class FaultRig {
  s3!: S3Server;
  proxy!: FaultProxy;
  client!: S3Client;
  work!: string;
  private s3Dir!: string;
  private readonly mounts: Mount[] = [];

  async start(seed = 7): Promise<void> {
    await ensureBuilt();
    this.work = await fs.mkdtemp(path.join(os.tmpdir(), 'faults-'));
    this.s3Dir = path.join(this.work, 's3');
    await fs.mkdir(this.s3Dir);
    this.s3 = await startS3Server({ buckets: [BUCKET], dir: this.s3Dir });
    this.proxy = await startFaultProxy({ upstream: this.s3.endpoint, seed });
    this.client = this.directClient(this.s3.endpoint);
  }

  private directClient(endpoint: string): S3Client {
    return new S3Client({
      endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 3,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** Kill the S3 server (SIGKILL) — the proxy then resets every request, as a dead server would. */
  async killS3(): Promise<void> {
    await this.s3.stop();
  }

  /** Start the S3 server again on the same data (a new port), and point the proxy at it. */
  async restartS3(): Promise<void> {
    this.s3 = await startS3Server({ dir: this.s3Dir });
    this.proxy.setUpstream(this.s3.endpoint);
    this.client.destroy();
    this.client = this.directClient(this.s3.endpoint);
  }

  async put(key: string, body: Buffer): Promise<string> {
    const out = await this.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    return out.ETag ?? '';
  }

  async putRandom(key: string, bytes: number): Promise<{ data: Buffer; sha256: string }> {
    const data = randomBytes(bytes);
    await this.put(key, data);
    return { data, sha256: sha256(data) };
  }

  /** The object at `key`, or undefined when there is none. */
  async get(key: string): Promise<Buffer | undefined> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    } catch {
      return undefined;
    }
    const out = await this.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
  }

  /** Mount the bucket through the proxy; `cacheDir: true` makes a fresh cache folder. */
  async mount(name: string, options: { cacheDir?: string | true; extra?: string[]; env?: Record<string, string> } = {}): Promise<Mount> {
    const dir = path.join(this.work, name);
    await fs.mkdir(dir, { recursive: true });
    const cacheDir = options.cacheDir === true ? path.join(this.work, `${name}-cache`) : options.cacheDir;
    if (cacheDir) await fs.mkdir(cacheDir, { recursive: true });
    const args = ['mount', `s3://${BUCKET}`, dir, '--endpoint', this.proxy.url, '--metadata-ttl', '1', '--log-level', 'warn'];
    if (cacheDir) args.push('--cache-dir', cacheDir);
    const process = await startSidecar([...args, ...(options.extra ?? [])], childEnv({ AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', ...options.env }));
    const mount = { dir, cacheDir: cacheDir ?? undefined, process };
    this.mounts.push(mount);
    return mount;
  }

  /** Stop a mount's sidecar (SIGTERM: unmounts) and make sure nothing is left mounted. */
  async unmount(mount: Mount, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const code = await mount.process.stop(signal);
    await forceUnmountAll(mount.dir);
    return code;
  }

  /** GET requests for `key` that the proxy saw (ranged or not), since the last `counts(true)`. */
  getsOf(key: string): number {
    return this.proxy.log().filter((r) => r.method === 'GET' && r.key === key).length;
  }

  async stop(): Promise<void> {
    await Promise.all(this.mounts.map((m) => m.process.stop('SIGKILL').catch(() => undefined)));
    if (this.work) await forceUnmountAll(this.work);
    this.client?.destroy();
    await this.proxy?.close();
    await this.s3?.stop();
    if (this.work) await fs.rm(this.work, { recursive: true, force: true });
  }
}
