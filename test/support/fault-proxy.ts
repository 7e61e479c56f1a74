/**
 * A fault-injecting HTTP proxy in front of the S3 server, for the robustness suites (issue 7).
 *
 * Every request is matched against an ordered list of rules; the first rule that matches and
 * fires decides what happens to it:
 *
 * - `pass`: forwarded unchanged (the default when no rule fires);
 * - `delay`: forwarded after `ms`;
 * - `reset`: the client connection is destroyed before any byte of a response (ECONNRESET);
 * - `truncate`: the upstream status and headers go out, `Content-Length` included, then only
 *   `afterBytes` of the body and the connection is destroyed — a broken promise the client
 *   must notice, not a short object;
 * - `slowDown`: 503 with S3's `SlowDown` XML error body (throttling, which clients retry);
 * - `accessDenied`: 403 with S3's `AccessDenied` XML error body (credentials that stop working);
 * - `hang`: nothing is answered until `release()`, which then forwards (or resets) it.
 *
 * A rule fires on matching requests by method, bucket and key (string or RegExp, path-style
 * addressing as the sidecar uses against non-AWS endpoints), by the ordinal of the match
 * (`nth`, 1-based, or `skip` then `times`), and by `probability` drawn from a seeded generator,
 * so a failing run replays exactly. The proxy counts what it did per action and per rule.
 *
 * Headers pass through unchanged, `Host` included, so SigV4 signatures made for the proxy's
 * address still verify at the server. When the upstream is unreachable (the S3 server was
 * killed), the client's connection is reset, as a dead server's would be.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream';
import { seededRandom } from '../../common/seeded-random';

/** Fault schedules are replayable: the same seed gives the same decisions (common/seeded-random.ts). */
export { seededRandom };

export type FaultAction =
  | { kind: 'pass' }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'truncate'; afterBytes: number }
  | { kind: 'slowDown' }
  | { kind: 'accessDenied' }
  | { kind: 'hang' };

export type FaultKind = FaultAction['kind'];

export interface FaultMatch {
  /** HTTP method(s), upper case. */
  method?: string | readonly string[];
  bucket?: string;
  /** Object key (decoded); a RegExp is tested against the whole key. Bucket operations have key "". */
  key?: string | RegExp;
  /** Only requests with (true) or without (false) a Range header. */
  ranged?: boolean;
}

export interface FaultRule {
  /** Shown in counts; defaults to the rule's index. */
  name?: string;
  match?: FaultMatch;
  /** Fire only on these ordinals among the requests this rule matched (1-based). */
  nth?: number | readonly number[];
  /** Let this many matching requests through before firing. */
  skip?: number;
  /** Fire at most this many times (a burst), then let everything through. */
  times?: number;
  /** Fire with this probability (0–1), drawn from the proxy's seeded generator. */
  probability?: number;
  action: FaultAction;
}

export interface FaultRecord {
  method: string;
  bucket: string;
  key: string;
  range: string | undefined;
  action: FaultKind;
  rule: string | undefined;
}

export interface FaultCounts {
  requests: number;
  byAction: Record<FaultKind, number>;
  byRule: Record<string, number>;
  /** Requests whose upstream connection failed (server down): answered with a reset. */
  upstreamErrors: number;
  /** Hanging requests the client gave up on before release. */
  abandoned: number;
  /** Most requests open at once (arrived, response not yet finished or abandoned). */
  maxInFlight: number;
}

export interface FaultProxyOptions {
  /** Base URL of the S3 server, e.g. `http://127.0.0.1:4568`. */
  upstream: string;
  rules?: readonly FaultRule[];
  /** Seed of the generator behind `probability`; same seed and traffic, same faults. */
  seed?: number;
  /** Port to listen on, 0 (default) for a free one; always on 127.0.0.1. */
  port?: number;
}

export interface FaultProxy {
  url: string;
  port: number;
  /** Replace the rules; the per-rule match ordinals start again from zero. */
  setRules(rules: readonly FaultRule[]): void;
  /** Point at another upstream (an S3 server restarted on a new port). */
  setUpstream(url: string): void;
  /** Requests currently held by `hang` rules. */
  hanging(): number;
  /** Requests open right now. */
  inFlight(): number;
  /** Let held requests go: forwarded (default) or reset. Returns how many were released. */
  release(how?: 'pass' | 'reset'): number;
  counts(reset?: boolean): FaultCounts;
  /** Every request seen since the last `counts(true)`, in arrival order. */
  log(): readonly FaultRecord[];
  close(): Promise<void>;
}

/** HTTP/1.1 hop-by-hop headers (RFC 9110 §7.6.1): never forwarded. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer'];

const S3_ERRORS = {
  slowDown: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
  accessDenied: { status: 403, code: 'AccessDenied', message: 'Access Denied' },
} as const;


/** Path-style S3 addressing: `/bucket/key/with/slashes?query`. */
export function parseS3Path(url: string): { bucket: string; key: string } {
  const path = url.split('?')[0] ?? '';
  const slash = path.indexOf('/', 1);
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  if (slash < 0) return { bucket: decode(path.slice(1)), key: '' };
  return { bucket: decode(path.slice(1, slash)), key: decode(path.slice(slash + 1)) };
}

function emptyCounts(): FaultCounts {
  return {
    requests: 0,
    byAction: { pass: 0, delay: 0, reset: 0, truncate: 0, slowDown: 0, accessDenied: 0, hang: 0 },
    byRule: {},
    upstreamErrors: 0,
    abandoned: 0,
    maxInFlight: 0,
  };
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const copy: http.OutgoingHttpHeaders = { ...headers };
  for (const name of HOP_BY_HOP) delete copy[name];
  return copy;
}

function matches(match: FaultMatch | undefined, req: { method: string; bucket: string; key: string; ranged: boolean }): boolean {
  if (!match) return true;
  if (match.method !== undefined) {
    const methods = typeof match.method === 'string' ? [match.method] : match.method;
    if (!methods.includes(req.method)) return false;
  }
  if (match.bucket !== undefined && match.bucket !== req.bucket) return false;
  if (match.key !== undefined) {
    if (typeof match.key === 'string' ? match.key !== req.key : !match.key.test(req.key)) return false;
  }
  if (match.ranged !== undefined && match.ranged !== req.ranged) return false;
  return true;
}

function s3ErrorBody(code: string, message: string, resource: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    `<Resource>${resource.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}</Resource>` +
    `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`
  );
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  let upstream = new URL(options.upstream);
  let agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  let rules: readonly FaultRule[] = options.rules ?? [];
  let seen = new Map<number, number>();
  let fired = new Map<number, number>();
  const random = seededRandom(options.seed ?? 1);
  let counts = emptyCounts();
  let records: FaultRecord[] = [];
  const held = new Set<{ go: (how: 'pass' | 'reset') => void }>();
  let inFlight = 0;

  const choose = (req: { method: string; bucket: string; key: string; ranged: boolean }): { action: FaultAction; rule?: string } => {
    for (const [index, rule] of rules.entries()) {
      if (!matches(rule.match, req)) continue;
      const ordinal = (seen.get(index) ?? 0) + 1;
      seen.set(index, ordinal);
      if (rule.skip !== undefined && ordinal <= rule.skip) continue;
      if (rule.nth !== undefined) {
        const wanted = typeof rule.nth === 'number' ? [rule.nth] : rule.nth;
        if (!wanted.includes(ordinal)) continue;
      }
      if (rule.times !== undefined && (fired.get(index) ?? 0) >= rule.times) continue;
      // Draw only for rules that got this far, so adding a rule for other keys keeps the schedule.
      if (rule.probability !== undefined && random() >= rule.probability) continue;
      fired.set(index, (fired.get(index) ?? 0) + 1);
      return { action: rule.action, rule: rule.name ?? String(index) };
    }
    return { action: { kind: 'pass' } };
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, truncateAfter?: number): void => {
    const outgoing = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: withoutHopByHop(req.headers), agent },
      (answer) => {
        if (res.destroyed) {
          answer.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers));
        if (truncateAfter === undefined) {
          pipeline(answer, res, () => undefined);
          return;
        }
        let remaining = truncateAfter;
        const cut = (): void => {
          answer.destroy();
          // Flush what was written (end sends it before the FIN), with the body still owed.
          const socket = res.socket;
          socket?.end();
          setTimeout(() => socket?.destroy(), 200).unref();
        };
        if (remaining === 0) {
          res.flushHeaders();
          cut();
          return;
        }
        answer.on('data', (chunk: Buffer) => {
          if (remaining <= 0) return;
          const piece = chunk.subarray(0, remaining);
          remaining -= piece.length;
          res.write(piece);
          if (remaining <= 0) cut();
        });
        answer.on('end', () => {
          if (remaining > 0) res.end();
        });
      },
    );
    outgoing.on('error', () => {
      counts.upstreamErrors += 1;
      res.socket?.destroy();
    });
    pipeline(req, outgoing, () => undefined);
  };

  const answerError = (req: http.IncomingMessage, res: http.ServerResponse, which: keyof typeof S3_ERRORS): void => {
    const { status, code, message } = S3_ERRORS[which];
    const body = req.method === 'HEAD' ? '' : s3ErrorBody(code, message, req.url ?? '/');
    req.resume();
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'FAULTPROXY' });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const { bucket, key } = parseS3Path(req.url ?? '/');
    const range = req.headers.range;
    const { action, rule } = choose({ method, bucket, key, ranged: range !== undefined });
    counts.requests += 1;
    counts.byAction[action.kind] += 1;
    if (rule !== undefined) counts.byRule[rule] = (counts.byRule[rule] ?? 0) + 1;
    records.push({ method, bucket, key, range, action: action.kind, rule });
    inFlight += 1;
    counts.maxInFlight = Math.max(counts.maxInFlight, inFlight);
    res.once('close', () => {
      inFlight -= 1;
    });

    switch (action.kind) {
      case 'pass':
        forward(req, res);
        return;
      case 'delay': {
        const timer = setTimeout(() => forward(req, res), action.ms);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'truncate':
        forward(req, res, action.afterBytes);
        return;
      case 'slowDown':
      case 'accessDenied':
        answerError(req, res, action.kind);
        return;
      case 'hang': {
        const entry = {
          go: (how: 'pass' | 'reset') => {
            held.delete(entry);
            if (how === 'reset') req.socket.destroy();
            else forward(req, res);
          },
        };
        held.add(entry);
        req.socket.once('close', () => {
          if (held.delete(entry)) counts.abandoned += 1;
        });
        return;
      }
    }
  });
  // Hanging requests and slow readers are the point here; Node's default request timeout is not.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address');

  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    setRules(next) {
      rules = next;
      seen = new Map();
      fired = new Map();
    },
    setUpstream(url) {
      upstream = new URL(url);
      agent.destroy();
      agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    },
    hanging: () => held.size,
    inFlight: () => inFlight,
    release(how = 'pass') {
      const entries = [...held];
      for (const entry of entries) entry.go(how);
      return entries.length;
    },
    counts(reset = false) {
      const current = counts;
      if (reset) {
        counts = emptyCounts();
        records = [];
      }
      return structuredClone(current);
    },
    log: () => [...records],
    async close() {
      for (const entry of [...held]) entry.go('reset');
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
