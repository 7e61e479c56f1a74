/**
 * The webhook bench's load generator (native/webhook-load.c, run by bench/webhook-load.ts)
 * against a real HTTPS server with a throwaway CA: what it sends, how it paces and times the open
 * loop, how it counts answers, and how it fails. `make native` builds the generator.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCertificates, SERVER_NAME } from '../../bench/webhook';
import { generateLoad, type LoadJob, type LoadMarks } from '../../bench/webhook-load';
import { monotonicMs } from '../../bench/webhook-tail';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  remotePort: number;
  atMs: number;
}

const certs = makeCertificates();
const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', pad: 'x'.repeat(9000) } });

/** An HTTPS server that records every request and answers with `answer(n)` (n counts from 0). */
async function server(answer: (n: number) => { status: number; text: string }): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const srv = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const n = seen.length;
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), remotePort: req.socket.remotePort ?? 0, atMs: monotonicMs() });
      const { status, text } = answer(n);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as AddressInfo).port, seen,
    close: () => new Promise((resolve) => { srv.closeAllConnections(); srv.close(() => resolve()); }),
  };
}

function job(port: number, overrides: Partial<LoadJob>): LoadJob {
  return {
    port, path: '/mutate?timeout=5s', body, caPem: certs.caPem, serverName: SERVER_NAME,
    warmupRequests: 2, mode: 'max', durationMs: 300, rate: 400, connections: 4, ...overrides,
  };
}

/** Marks that note their order, and the generator's pid. */
function marks(): LoadMarks & { calls: string[]; pid: number } {
  const calls: string[] = [];
  const result = {
    calls, pid: 0,
    measuring: (pid: number) => { calls.push('measuring'); result.pid = pid; },
    finished: () => { calls.push('finished'); },
  };
  return result;
}

const ok = () => ({ status: 200, text: '{"response":{"allowed":true}}' });

describe('the webhook bench load generator', () => {
  it('sends the API server\'s request on each connection in a closed loop, and counts every answer', async () => {
    const target = await server(ok);
    try {
      const seenMarks = marks();
      const result = await generateLoad(job(target.port, {}), seenMarks);
      expect(seenMarks.calls).toEqual(['measuring', 'finished']);
      expect(seenMarks.pid).toBeGreaterThan(0);
      expect(result.errors).toBe(0);
      expect(result.firstError).toBeUndefined();
      expect(result.requests).toBeGreaterThan(10);
      expect(result.latenciesMs).toHaveLength(result.requests);
      expect(result.latenciesMs.every((ms) => ms > 0 && ms < 5000)).toBe(true);
      expect(result.sendLagsMs).toEqual([]);
      expect(result.sent).toBeUndefined();
      expect(result.seconds).toBeGreaterThanOrEqual(0.3);
      expect(result.clientCpuUs).toBeGreaterThan(0);
      // Warm-up (2 on each of 4 connections) and measured requests, all alike, on 4 connections.
      expect(target.seen).toHaveLength(result.requests + 8);
      expect(new Set(target.seen.map((s) => s.remotePort)).size).toBe(4);
      for (const request of target.seen) {
        expect(request).toMatchObject({ method: 'POST', url: '/mutate?timeout=5s', body });
        expect(request.headers).toMatchObject({
          'user-agent': 'kube-apiserver-admission', 'content-type': 'application/json', accept: 'application/json, */*',
          'accept-encoding': 'gzip', host: `${SERVER_NAME}:${target.port}`,
        });
      }
    } finally {
      await target.close();
    }
  });

  it('sends the open loop\'s requests at their due moments and times each from it', async () => {
    const target = await server(ok);
    try {
      const before = monotonicMs();
      const result = await generateLoad(job(target.port, { mode: 'rate', rate: 400, durationMs: 500 }), marks());
      const after = monotonicMs();
      expect(result.errors).toBe(0);
      expect(result.requests).toBe(200);
      const sent = result.sent;
      if (!sent) throw new Error('no timeline for the open loop');
      expect(sent.dueMs).toHaveLength(200);
      // Due every 2.5 ms, on the machine's monotonic clock (the server's records use the same).
      expect(sent.dueMs[0]).toBeGreaterThan(before);
      expect(sent.doneMs.every((done) => done < after)).toBe(true);
      sent.dueMs.forEach((due, i) => {
        if (i > 0) expect(due - (sent.dueMs[i - 1] as number)).toBeCloseTo(2.5, 3);
        expect(sent.sentMs[i]).toBeGreaterThanOrEqual(due);
        expect(sent.doneMs[i]).toBeGreaterThan(sent.sentMs[i] as number);
      });
      expect(target.seen).toHaveLength(208);
      // A connection's n-th request is the n-th the server saw on it (the tail view matches them
      // so), and the server read it between its sent and answered moments.
      for (const port of new Set(sent.ports)) {
        const onServer = target.seen.filter((s) => s.remotePort === port);
        const mine = sent.indexes.map((index, i) => ({ index, i })).filter(({ i }) => sent.ports[i] === port).sort((a, b) => a.index - b.index);
        expect(mine.map(({ index }) => index)).toEqual(Array.from({ length: mine.length }, (_, k) => k + 2));
        expect(onServer).toHaveLength(mine.length + 2);
        for (const { index, i } of mine) {
          const served = onServer[index] as Seen;
          expect(served.atMs).toBeGreaterThanOrEqual(sent.sentMs[i] as number);
          expect(served.atMs).toBeLessThanOrEqual(sent.doneMs[i] as number);
        }
      }
      // Latency and send lag as the timeline says, in completion order.
      const latencies = sent.doneMs.map((done, i) => done - (sent.dueMs[i] as number)).sort((a, b) => a - b);
      // (Each figure is printed to 0.1 µs, so the two agree to within a few tenths of a µs.)
      const reported = [...result.latenciesMs].sort((a, b) => a - b);
      expect(reported).toHaveLength(latencies.length);
      reported.forEach((ms, i) => expect(Math.abs(ms - (latencies[i] as number))).toBeLessThan(0.001));
      expect(result.sendLagsMs).toHaveLength(200);
    } finally {
      await target.close();
    }
  });

  it('counts answers other than 200 as errors and names the first', async () => {
    const target = await server((n) => (n >= 2 && n % 2 === 1 ? { status: 500, text: 'no' } : ok()));
    try {
      const result = await generateLoad(job(target.port, { connections: 1, mode: 'rate', rate: 200, durationMs: 200 }), marks());
      expect(result.requests).toBe(40);
      expect(result.errors).toBe(20);
      expect(result.firstError).toBe('status 500');
    } finally {
      await target.close();
    }
  });

  it('stops with the reason when an answer has no Content-Length, or the warm-up fails', async () => {
    const chunked = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (_req, res) => { res.write('{"a":'); res.end('1}'); });
    await new Promise<void>((resolve) => chunked.listen(0, '127.0.0.1', resolve));
    try {
      const port = (chunked.address() as AddressInfo).port;
      await expect(generateLoad(job(port, { warmupRequests: 0 }), marks())).rejects.toThrow(/malformed answer on port \d+, not a status line and a Content-Length/);
    } finally {
      chunked.closeAllConnections();
      chunked.close();
    }
    const failing = await server(() => ({ status: 503, text: 'busy' }));
    try {
      await expect(generateLoad(job(failing.port, {}), marks())).rejects.toThrow(/warm-up request failed: status 503/);
    } finally {
      await failing.close();
    }
  });

  it('refuses a server whose certificate is not for the server name', async () => {
    const target = await server(ok);
    try {
      await expect(generateLoad(job(target.port, { serverName: 'other.example.svc' }), marks()))
        .rejects.toThrow(/TLS handshake with other\.example\.svc: .*certificate verify failed/);
      expect(target.seen).toHaveLength(0);
    } finally {
      await target.close();
    }
  });

  it('says how to build the generator when it is missing', async () => {
    await expect(generateLoad(job(1, {}), marks(), '/nonexistent/webhook-load')).rejects.toThrow('`make native` builds it (it needs libssl-dev)');
  });
});
