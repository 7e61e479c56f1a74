/**
 * The webhook bench's load generator (run in a child process, so its work is not the server's):
 * a closed loop for throughput and an open loop for latency, over a fixed set of keep-alive
 * HTTPS connections (webhook-connection.ts).
 *
 * The open loop is honest about queueing (no coordinated omission): request i is due at
 * `start + i / rate` whatever happened before it, and its latency runs from that due moment, so
 * a request that waited for a free connection, or for the generator itself, counts the wait.
 * The clock is a worker thread (webhook-pacer.ts) rather than a poll, so the generator sleeps
 * between requests and leaves the server its core. Both loops report the generator's own CPU
 * per request, and the open loop the p99 of its lag in sending, so a tail made on the client's
 * side of the socket shows as such.
 */
import { type ConnectionTarget, type Outcome, ReviewConnection, requestBytes } from './webhook-connection';
import { createPacer, type Pacer } from './webhook-pacer';
import { monotonicMs, type SentRequests } from './webhook-tail';

export interface LoadJob extends ConnectionTarget {
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
  /** The first failure, to name in the report (a run with errors is not a result). */
  firstError?: string;
  seconds: number;
  latenciesMs: number[];
  /** CPU time of the load generator itself (every thread of it) over the measured window, µs. */
  clientCpuUs: number;
  /** Open loop: how long after its due moment each request was written to its connection, ms. */
  sendLagsMs: number[];
  /** Open loop: each request's connection, due, sent and answered moments, to set beside the server's view (webhook-tail.ts). */
  sent?: SentRequests;
}

class Tally {
  readonly latenciesMs: number[] = [];
  readonly sendLagsMs: number[] = [];
  readonly sent: SentRequests = { ports: [], indexes: [], dueMs: [], sentMs: [], doneMs: [] };
  errors = 0;
  firstError: string | undefined;

  record(outcome: Outcome, latencyMs: number): void {
    this.latenciesMs.push(latencyMs);
    if (outcome === 'ok') return;
    this.errors += 1;
    this.firstError ??= outcome;
  }
}

/**
 * Drive one target; `onMeasuring` is called once the connections are open and warm, just before
 * the measured window (the parent reads the server's CPU then).
 */
export async function generateLoad(job: LoadJob, onMeasuring: () => void): Promise<LoadResult> {
  const request = requestBytes(job);
  const connections = Array.from({ length: job.connections }, () => new ReviewConnection(job, request));
  const tally = new Tally();
  // The open loop's clock thread is started before the measured window, which its start-up would otherwise stretch.
  const pacer = job.mode === 'rate' ? await createPacer() : undefined;
  try {
    for (let i = 0; i < job.warmupRequests; i++) {
      const outcomes = await Promise.all(connections.map((c) => c.send()));
      const failed = outcomes.find((o) => o !== 'ok');
      if (failed) throw new Error(`warm-up request to ${job.path} failed: ${failed}`);
    }
    onMeasuring();
    const cpuAtStart = process.cpuUsage();
    const started = performance.now();
    if (pacer) await openLoop(connections, job, pacer, tally);
    else await closedLoop(connections, started + job.durationMs, tally);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuAtStart);
    return {
      requests: tally.latenciesMs.length, errors: tally.errors, ...(tally.firstError ? { firstError: tally.firstError } : {}),
      seconds, latenciesMs: tally.latenciesMs, clientCpuUs: cpu.user + cpu.system, sendLagsMs: tally.sendLagsMs,
      ...(pacer ? { sent: tally.sent } : {}),
    };
  } finally {
    await pacer?.stop();
    for (const connection of connections) connection.close();
  }
}

/** Each connection sends its next request as soon as the last one is answered. */
async function closedLoop(connections: ReviewConnection[], deadline: number, tally: Tally): Promise<void> {
  await Promise.all(connections.map(async (connection) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const outcome = await connection.send();
      tally.record(outcome, performance.now() - t0);
    }
  }));
}

/** Requests at a fixed rate, each on a free connection, or queued (its clock running) until one is free. */
async function openLoop(connections: ReviewConnection[], job: LoadJob, pacer: Pacer, tally: Tally): Promise<void> {
  const count = Math.max(1, Math.floor((job.durationMs * job.rate) / 1000));
  const free = [...connections];
  /** Due moments of requests waiting for a free connection, oldest first. */
  const queued: number[] = [];
  let queuedHead = 0;
  let answered = 0;
  let allAnswered: () => void = () => {};
  const finished = new Promise<void>((resolve) => { allAnswered = resolve; });

  // performance.now() on this process's clock, turned into the machine's monotonic clock for the timeline.
  const toMonotonic = monotonicMs() - performance.now();
  const send = (connection: ReviewConnection, due: number): void => {
    const sentAt = performance.now();
    tally.sendLagsMs.push(sentAt - due);
    const index = connection.sentCount;
    void connection.send().then((outcome) => {
      const doneAt = performance.now();
      tally.record(outcome, doneAt - due);
      const timeline = tally.sent;
      timeline.ports.push(connection.localPort);
      timeline.indexes.push(index);
      timeline.dueMs.push(due + toMonotonic);
      timeline.sentMs.push(sentAt + toMonotonic);
      timeline.doneMs.push(doneAt + toMonotonic);
      answered += 1;
      if (queuedHead < queued.length) send(connection, queued[queuedHead++] as number);
      else free.push(connection);
      if (answered === count) allAnswered();
    });
  };

  let sent = 0;
  const clock = pacer.start(job.rate, count, (due) => {
    for (; sent < due; sent++) {
      const dueMs = clock.startedMs + sent * clock.intervalMs;
      const connection = free.pop();
      if (connection) send(connection, dueMs);
      else queued.push(dueMs);
    }
  });
  await finished;
}
