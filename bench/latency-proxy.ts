/**
 * An S3 latency model: a reverse proxy in front of the local S3 server that makes loopback
 * look like an object store across a network.
 *
 * - Time to first byte: a response's status line leaves no earlier than `ttfbMs` after its
 *   request arrived (S3's first-byte latency is 10–30 ms within a region), so a reader that
 *   issues one request at a time pays it on every request, as against real S3.
 * - Bandwidth: each client connection has its own token bucket (`bytesPerSecond`, 100 MiB/s by
 *   default, roughly what one TCP stream to S3 gets), so only parallel connections go faster.
 *
 * Bodies stream through (requests untouched, responses paced); nothing is buffered whole and
 * the event loop never blocks. Headers pass through unchanged, `Host` included, so SigV4
 * signatures made for the proxy's address still verify at the server.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { ThrottleStream } from './throttle-stream';
import { TokenBucket } from './token-bucket';

export interface LatencyProxyOptions {
  /** Base URL of the S3 server, e.g. `http://127.0.0.1:4568`. */
  upstream: string;
  ttfbMs: number;
  bytesPerSecond: number;
  /** Port to listen on, 0 (default) for a free one; always on 127.0.0.1. */
  port?: number;
}

/** What went through the proxy since the last reset: the S3 request mix a mounter produced. */
export interface ProxyStats {
  requests: Record<string, number>;
  /** GETs on a bucket (no key): listings. */
  lists: number;
  /** GETs with a Range header. */
  rangedGets: number;
  bytesOut: number;
  connections: number;
}

export interface LatencyProxy {
  url: string;
  stats(reset?: boolean): ProxyStats;
  close(): Promise<void>;
}

/** HTTP/1.1 hop-by-hop headers (RFC 9110 §7.6.1): never forwarded. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer'];

function emptyStats(): ProxyStats {
  return { requests: {}, lists: 0, rangedGets: 0, bytesOut: 0, connections: 0 };
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const copy: http.OutgoingHttpHeaders = { ...headers };
  for (const name of HOP_BY_HOP) delete copy[name];
  return copy;
}

/** Path-style S3: `/bucket` or `/bucket/` (with a query) is a bucket operation, i.e. a listing. */
function isBucketPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return /^\/[^/]+\/?$/.test(path);
}

/**
 * Bucket capacity: 10 ms worth of bandwidth, at least 64 KiB — enough that one pacing step
 * never waits on a single piece, small enough that a connection cannot burst far above the cap.
 */
function bucketCapacity(bytesPerSecond: number): number {
  return Math.max(64 * 1024, bytesPerSecond / 100);
}

export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const upstream = new URL(options.upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const buckets = new WeakMap<Socket, TokenBucket>();
  let stats = emptyStats();

  const bucketFor = (socket: Socket): TokenBucket => {
    let bucket = buckets.get(socket);
    if (!bucket) {
      bucket = new TokenBucket(options.bytesPerSecond, bucketCapacity(options.bytesPerSecond));
      buckets.set(socket, bucket);
    }
    return bucket;
  };

  const server = http.createServer((req, res) => {
    const arrived = performance.now();
    const method = req.method ?? 'GET';
    stats.requests[method] = (stats.requests[method] ?? 0) + 1;
    if (method === 'GET' && isBucketPath(req.url ?? '/')) stats.lists += 1;
    if (method === 'GET' && req.headers.range) stats.rangedGets += 1;

    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method,
        path: req.url,
        headers: withoutHopByHop(req.headers),
        agent,
      },
      (answer) => {
        const wait = Math.max(0, arrived + options.ttfbMs - performance.now());
        setTimeout(() => {
          if (res.destroyed) {
            answer.destroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers));
          const throttle = new ThrottleStream(bucketFor(req.socket), (bytes) => {
            stats.bytesOut += bytes;
          });
          pipeline(answer, throttle, res, () => undefined);
        }, wait);
      },
    );
    forward.on('error', (error) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`latency proxy: upstream failed: ${error.message}`);
      } else {
        res.destroy(error);
      }
    });
    pipeline(req, forward, () => undefined);
  });
  server.on('connection', () => {
    stats.connections += 1;
  });
  // Long uploads and slow readers are legitimate here; Node's default 300 s request timeout is not.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('latency proxy: no TCP address');

  return {
    url: `http://127.0.0.1:${address.port}`,
    stats(reset = false) {
      const current = stats;
      if (reset) stats = emptyStats();
      return structuredClone(current);
    },
    async close() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
