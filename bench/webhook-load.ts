/**
 * The webhook bench's load generator: native/webhook-load.c, run as a child process so that its
 * work is not the server's, and written in C so that it costs the machine little and does not
 * stall (docs/webhook.md, "Performance", has the comparison with the generator in Node it
 * replaced). It calls the webhook the way the API server does: keep-alive TLS connections,
 * CA-verified, server name set, ALPN `http/1.1` only (the API server offers nothing else to
 * admission webhooks, kubernetes#75791), the API server's request line and headers.
 *
 * Two modes. `max`, a closed loop: each connection sends its next request as soon as the last
 * is answered (throughput). `rate`, an open loop, honest about queueing (no coordinated
 * omission): request i is due at `start + i / rate` whatever happened before it, and its latency
 * runs from that due moment, so a request that waited for a free connection, or for the
 * generator itself, counts the wait.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { builtArtifactPath } from '../sidecar/native-artifact';
import type { SentRequests } from './webhook-tail';

export interface LoadJob {
  port: number;
  path: string;
  body: string;
  caPem: string;
  serverName: string;
  /** Requests each connection sends before measuring (TLS handshakes, warm connections). */
  warmupRequests: number;
  mode: 'max' | 'rate';
  durationMs: number;
  rate: number;
  connections: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** The first failure (`status 500`, `malformed response`), to name in the report: a run with errors is not a result. */
  firstError?: string;
  seconds: number;
  /** Closed loop: from sending to the answer; open loop: from the due moment to the answer. */
  latenciesMs: number[];
  /** CPU time of the load generator over the measured window, µs. */
  clientCpuUs: number;
  /** Open loop: how long after its due moment each request was written to its connection, ms (empty for the closed loop). */
  sendLagsMs: number[];
  /** Open loop: each request's connection, due, sent and answered moments, to set beside the server's view (webhook-tail.ts). */
  sent?: SentRequests;
}

/** The moments the parent measures its own side at: the measured window's start and end. */
export interface LoadMarks {
  /** `generatorPid`: the generator's process, whose CPU is not "other load" (webhook-other-load.ts). */
  measuring(generatorPid: number): void;
  finished(): void;
}

/** Where `make native` builds native/webhook-load.c (in the node_modules above this file, from bench/ or dist/bench/). */
export function loadGeneratorPath(from = __dirname): string {
  return builtArtifactPath('webhook-load', from) ?? path.join(from, '..', '..', 'node_modules', '.datamount', 'webhook-load');
}

/** The request's bytes: a POST of `body` as JSON to `path`, with the headers the API server's client sends. */
export function requestBytes(job: Pick<LoadJob, 'body' | 'path' | 'port' | 'serverName'>): Buffer {
  const body = Buffer.from(job.body);
  const head = `POST ${job.path} HTTP/1.1\r\nHost: ${job.serverName}:${job.port}\r\n`
    + 'User-Agent: kube-apiserver-admission\r\nContent-Length: ' + body.length + '\r\n'
    + 'Accept: application/json, */*\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n';
  return Buffer.concat([Buffer.from(head), body]);
}

/**
 * Runs one job. The generator prints "measuring" once its connections are open and warm,
 * "finished" when the last measured answer is in, then its result as one line of JSON; `marks`
 * are called at the first two, so the parent can read its own CPU over exactly that window.
 */
export function generateLoad(job: LoadJob, marks: LoadMarks, generator = loadGeneratorPath()): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'datamount-webhook-load-'));
  writeFileSync(path.join(dir, 'ca.pem'), job.caPem);
  writeFileSync(path.join(dir, 'request'), requestBytes(job));
  return new Promise<LoadResult>((resolve, reject) => {
    const child = spawn(generator, [
      '--port', String(job.port), '--ca', path.join(dir, 'ca.pem'), '--server-name', job.serverName,
      '--request', path.join(dir, 'request'), '--connections', String(job.connections),
      '--warmup-requests', String(job.warmupRequests), '--mode', job.mode, '--duration-ms', String(job.durationMs),
      '--rate', String(job.rate),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let pending = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      pending += text;
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line === 'measuring') marks.measuring(child.pid ?? 0);
        else if (line === 'finished') marks.finished();
        lines.push(line);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => { stderr += text; });
    child.once('error', (error: NodeJS.ErrnoException) => {
      rmSync(dir, { recursive: true, force: true });
      reject(error.code === 'ENOENT'
        ? new Error(`the load generator ${generator} is missing: \`make native\` builds it (it needs libssl-dev)`)
        : error);
    });
    child.once('close', (code, signal) => {
      rmSync(dir, { recursive: true, force: true });
      const result = lines.at(-1);
      if (code !== 0 || lines[0] !== 'measuring' || lines[1] !== 'finished' || result === undefined) {
        const why = stderr.trim() || `it exited with ${signal ?? code}`;
        reject(new Error(`load generator for ${job.path} on port ${job.port}: ${why}`));
        return;
      }
      resolve(JSON.parse(result) as LoadResult);
    });
  });
}
