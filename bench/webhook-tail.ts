/**
 * Where the open loop's slowest requests spent their time: the load generator's and the server's
 * view of the same requests, put side by side.
 *
 * The latency the target is judged on runs from each request's due moment to its answer, and on a
 * 2-core machine that holds the server and its load generator, four things make it: the generator
 * sending late (its send lag), the request waiting to be taken up by the server (the server busy
 * with earlier requests, or not running at all), the time inside the server's request handling,
 * and the answer's way back to the generator. The generator knows when a request was due, sent
 * and answered; the server knows when it took each request up and when its answer was written.
 * Both read the same monotonic clock (`monotonicMs`, CLOCK_MONOTONIC, shared by every process on
 * the machine), and a connection carries one request at a time, so the n-th request sent on a
 * connection is the n-th the server answered on it: matched by (port, n), nothing is guessed.
 */

/** performance.now() is uv_hrtime since the process's time origin; this offset makes it machine-wide. */
const MONOTONIC_OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();

/** Milliseconds on the machine's monotonic clock, comparable between processes. */
export function monotonicMs(): number {
  return performance.now() + MONOTONIC_OFFSET_MS;
}

/** The generator's view, one entry per measured request (all times `monotonicMs`). */
export interface SentRequests {
  /** Local port of the connection the request went on. */
  ports: number[];
  /** How many requests that connection had carried before this one (warm-up included). */
  indexes: number[];
  dueMs: number[];
  sentMs: number[];
  doneMs: number[];
}

/** The server's view, one entry per answer, in the order the answers were written. */
export interface ServedRequests {
  /** Remote port of the connection (the generator's local port). */
  ports: number[];
  /** How many answers the server had written on that connection before this one. */
  indexes: number[];
  /** When the answer was written (fastify's onResponse). */
  endMs: number[];
  /** From the request's routing (its headers read) to its answer written (fastify's reply.elapsedTime). */
  insideMs: number[];
  /** Which of the server's replicas (processes) wrote the answer. */
  servers: number[];
}

/** Which part of a slow request's latency was the largest. */
export type TailPart = 'send lag' | 'before the server' | 'inside the server' | 'back to the generator';

export interface TailReport {
  /** Requests found in both views (all of them, unless the server answered something the generator did not send). */
  matched: number;
  /** Time inside the server, over every matched request. */
  insideP50Ms: number;
  insideP99Ms: number;
  /** The slowest `fraction` of the matched requests by latency from their due moment. */
  slowest: number;
  /** Of those, the share sent while the server was still handling an earlier request (queueing). */
  sentWhileBusy: number;
  /** Of those, the share whose largest part was each part. */
  largestPart: Record<TailPart, number>;
}

/** Records what the server answered on each connection, numbering the answers per connection from its first. */
export class ServedLog implements ServedRequests {
  readonly ports: number[] = [];
  readonly endMs: number[] = [];
  readonly insideMs: number[] = [];
  readonly indexes: number[] = [];
  readonly servers: number[] = [];
  private readonly answered = new Map<number, number>();

  /** `server`: the number of the replica keeping this log. */
  constructor(private readonly server = 0) {}

  record(port: number, insideMs: number): void {
    const index = this.answered.get(port) ?? 0;
    this.answered.set(port, index + 1);
    this.ports.push(port);
    this.indexes.push(index);
    this.endMs.push(monotonicMs());
    this.insideMs.push(insideMs);
    this.servers.push(this.server);
  }

  /** A copy of the answers kept so far. */
  snapshot(): ServedRequests {
    return { ports: [...this.ports], indexes: [...this.indexes], endMs: [...this.endMs], insideMs: [...this.insideMs], servers: [...this.servers] };
  }

  /** Forget the answers kept so far (the per-connection numbering goes on). */
  clear(): void {
    this.ports.length = 0;
    this.indexes.length = 0;
    this.endMs.length = 0;
    this.insideMs.length = 0;
    this.servers.length = 0;
  }
}

/** The nearest-rank `p`th percentile of ascending `sorted` (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

interface Matched {
  due: number;
  sent: number;
  done: number;
  start: number;
  end: number;
  server: number;
}

/** Pairs the two views by (port, per-connection index); a request either side has no partner for is left out. */
function match(sent: SentRequests, served: ServedRequests): Matched[] {
  const answers = new Map<string, number>();
  served.ports.forEach((port, i) => answers.set(`${port}/${served.indexes[i] ?? -1}`, i));
  const out: Matched[] = [];
  sent.ports.forEach((port, i) => {
    const j = answers.get(`${port}/${sent.indexes[i] ?? -1}`);
    if (j === undefined) return;
    const end = served.endMs[j] as number;
    out.push({ due: sent.dueMs[i] as number, sent: sent.sentMs[i] as number, done: sent.doneMs[i] as number, start: end - (served.insideMs[j] as number), end, server: served.servers[j] ?? 0 });
  });
  return out;
}

/** One open-loop round seen from both sides. */
export interface RoundViews {
  sent: SentRequests;
  served: ServedRequests;
}

/**
 * Puts the two views of open-loop rounds side by side (see the module comment), each round matched
 * on its own (a port may be used again in a later round) and the rounds then taken together.
 */
export function attributeTail(rounds: readonly RoundViews[], fraction = 0.01): TailReport {
  const requests = rounds.flatMap((round) => match(round.sent, round.served));
  const inside = requests.map((r) => r.end - r.start).sort((a, b) => a - b);
  // Was the replica that answered still inside an earlier request when this one was sent? Sweep
  // each replica's requests in the order it took them up (a connection goes to one replica).
  const byStart = [...requests].sort((a, b) => a.start - b.start);
  const busyAtSend = new Set<Matched>();
  const latestEnd = new Map<number, number>();
  for (const r of byStart) {
    const end = latestEnd.get(r.server) ?? -Infinity;
    if (end > r.sent) busyAtSend.add(r);
    latestEnd.set(r.server, Math.max(end, r.end));
  }
  const slowest = [...requests].sort((a, b) => (b.done - b.due) - (a.done - a.due)).slice(0, Math.ceil(fraction * requests.length));
  const largestPart: Record<TailPart, number> = { 'send lag': 0, 'before the server': 0, 'inside the server': 0, 'back to the generator': 0 };
  for (const r of slowest) {
    const parts: [TailPart, number][] = [
      ['send lag', r.sent - r.due], ['before the server', r.start - r.sent], ['inside the server', r.end - r.start], ['back to the generator', r.done - r.end],
    ];
    const [largest] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
    largestPart[largest] += 1 / slowest.length;
  }
  return {
    matched: requests.length,
    insideP50Ms: percentile(inside, 50),
    insideP99Ms: percentile(inside, 99),
    slowest: slowest.length,
    sentWhileBusy: slowest.length === 0 ? 0 : slowest.filter((r) => busyAtSend.has(r)).length / slowest.length,
    largestPart,
  };
}
