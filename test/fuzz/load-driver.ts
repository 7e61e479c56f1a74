/**
 * An open-loop load generator: requests leave at a fixed rate whatever the server does (as the
 * API server sends reviews when pods are created, not when the webhook is ready for more), so a
 * server that cannot keep up shows it as growing latency or as refusals, never as a politely
 * slowed client. Each answer is checked by the caller as it arrives; only figures are kept.
 */
import https from 'node:https';

export interface LoadRequest {
  /** Class of the request for the figures, e.g. `hit` or `miss`. */
  kind: string;
  body: string;
}

export interface LoadSample {
  kind: string;
  /** Milliseconds from the start of the run to when it was sent. */
  sentMs: number;
  latencyMs: number;
  /** HTTP status, or 0 when the connection failed. */
  status: number;
  problems: string[];
}

export interface LoadOptions {
  url: string;
  agent: https.Agent;
  /** Requests per second. */
  rate: number;
  seconds: number;
  next(index: number): LoadRequest;
  check(request: LoadRequest, status: number, payload: string): string[];
  timeoutMs?: number;
}

export interface LoadFigures {
  sent: number;
  answered: number;
  p50: number;
  p99: number;
  max: number;
  byStatus: Record<string, number>;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function figures(samples: readonly LoadSample[]): LoadFigures {
  const latencies = samples.filter((s) => s.status !== 0).map((s) => s.latencyMs).sort((a, b) => a - b);
  const byStatus: Record<string, number> = {};
  for (const s of samples) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  return { sent: samples.length, answered: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN, byStatus };
}

/** One POST; a broken connection or a timeout is an answer with status 0 and an error. */
function post(target: URL, options: { agent: https.Agent; timeoutMs?: number }, request: LoadRequest): Promise<{ status: number; payload: string; error?: string }> {
  return new Promise((resolve) => {
    const req = https.request(target, { method: 'POST', agent: options.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(request.body) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, payload: Buffer.concat(parts).toString('utf8') }));
      res.on('error', (e) => resolve({ status: 0, payload: '', error: `response: ${e.message}` }));
    });
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new Error('no answer in time')));
    req.on('error', (e) => resolve({ status: 0, payload: '', error: `request: ${e.message}` }));
    req.end(request.body);
  });
}

export async function driveLoad(options: LoadOptions): Promise<LoadSample[]> {
  const samples: LoadSample[] = [];
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const total = Math.round(options.rate * options.seconds);
  const target = new URL('/mutate', options.url);
  const send = (index: number): Promise<void> => {
    const request = options.next(index);
    const sentMs = performance.now() - started;
    return post(target, options, request).then(({ status, payload, error }) => {
      samples.push({ kind: request.kind, sentMs, latencyMs: performance.now() - started - sentMs, status, problems: error ? [error] : options.check(request, status, payload) });
    });
  };

  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * options.rate));
    while (sent < due) {
      const p = send(sent);
      pending.add(p);
      void p.then(() => pending.delete(p));
      sent += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(pending);
  return samples;
}

/** A closed loop: `concurrency` clients, each sending its next request when the last is answered. */
export async function driveClosed(options: Omit<LoadOptions, 'rate'> & { concurrency: number }): Promise<LoadSample[]> {
  const samples: LoadSample[] = [];
  const started = performance.now();
  const target = new URL('/mutate', options.url);
  let index = 0;
  const one = async (request: LoadRequest): Promise<void> => {
    const sentMs = performance.now() - started;
    const { status, payload, error } = await post(target, options, request);
    samples.push({ kind: request.kind, sentMs, latencyMs: performance.now() - started - sentMs, status, problems: error ? [error] : options.check(request, status, payload) });
  };
  const client = async (): Promise<void> => {
    while (performance.now() - started < options.seconds * 1000) await one(options.next(index++));
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  return samples;
}
