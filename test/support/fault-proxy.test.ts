import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand, CreateBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { parseS3Path, seededRandom, startFaultProxy, type FaultProxy, type FaultRule } from './fault-proxy';

const BODY = Buffer.alloc(256 * 1024, 9);

/** An upstream standing in for the S3 server: a fixed body under any key, counts what reached it. */
function startUpstream(): Promise<{ server: http.Server; url: string; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    req.resume();
    res.setHeader('content-length', BODY.length);
    res.setHeader('x-seen-host', req.headers.host ?? '');
    res.end(req.method === 'HEAD' ? undefined : BODY);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits });
    });
  });
}

type Outcome =
  | { kind: 'response'; status: number; body: Buffer; headers: http.IncomingHttpHeaders }
  | { kind: 'error'; code: string; received: number; status?: number };

/** One request on its own connection; a connection that breaks is an outcome, not a throw. */
function request(url: string, options: { method?: string; timeoutMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    let received = 0;
    let status: number | undefined;
    const req = http.request(url, { method: options.method ?? 'GET', agent: false }, (res) => {
      status = res.statusCode;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'error', code: error.code ?? error.message, received, status }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'error', code: error.code ?? error.message, received, status }));
    if (options.timeoutMs !== undefined) req.setTimeout(options.timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.end();
  });
}

describe('fault proxy', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let proxy: FaultProxy;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => {
    await new Promise((resolve) => upstream.server.close(resolve));
  });
  afterEach(async () => {
    await proxy.close();
  });

  async function withRules(rules: FaultRule[], seed?: number): Promise<FaultProxy> {
    proxy = await startFaultProxy({ upstream: upstream.url, rules, ...(seed === undefined ? {} : { seed }) });
    return proxy;
  }

  describe('when no rule fires', () => {
    it('passes requests through unchanged, Host header included, and counts them as pass', async () => {
      await withRules([{ match: { method: 'PUT' }, action: { kind: 'reset' } }]);
      const outcome = await request(`${proxy.url}/bucket/some/key`);
      expect(outcome).toMatchObject({ kind: 'response', status: 200 });
      if (outcome.kind !== 'response') return;
      expect(outcome.body.equals(BODY)).toBe(true);
      expect(outcome.headers['x-seen-host']).toBe(new URL(proxy.url).host);
      expect(proxy.counts()).toMatchObject({ requests: 1, byAction: { pass: 1, reset: 0 } });
      expect(proxy.log()).toEqual([{ method: 'GET', bucket: 'bucket', key: 'some/key', range: undefined, action: 'pass', rule: undefined }]);
    });
  });

  describe('when a reset rule fires', () => {
    it('drops the connection before any response byte and never reaches the upstream', async () => {
      await withRules([{ name: 'boom', action: { kind: 'reset' } }]);
      const before = upstream.hits();
      const outcome = await request(`${proxy.url}/bucket/k`);
      expect(outcome).toMatchObject({ kind: 'error', code: 'ECONNRESET', received: 0 });
      expect(upstream.hits()).toBe(before);
      expect(proxy.counts().byRule).toEqual({ boom: 1 });
    });
  });

  describe('when a truncate rule fires', () => {
    it.each([0, 1000, 100_000])('sends the full Content-Length but only %i body bytes, then breaks the connection', async (afterBytes) => {
      await withRules([{ action: { kind: 'truncate', afterBytes } }]);
      const outcome = await request(`${proxy.url}/bucket/k`);
      expect(outcome.kind).toBe('error');
      if (outcome.kind !== 'error') return;
      expect(outcome.status).toBe(200);
      expect(outcome.received).toBe(afterBytes);
      expect(proxy.counts().byAction.truncate).toBe(1);
    });
  });

  describe('when an S3 error rule fires', () => {
    it.each([
      ['slowDown', 503, 'SlowDown'],
      ['accessDenied', 403, 'AccessDenied'],
    ] as const)('%s answers %i with an S3 XML error body whose Code is %s', async (kind, status, code) => {
      await withRules([{ action: { kind } }]);
      const outcome = await request(`${proxy.url}/bucket/k`);
      expect(outcome).toMatchObject({ kind: 'response', status });
      if (outcome.kind !== 'response') return;
      expect(outcome.headers['content-type']).toBe('application/xml');
      expect(outcome.body.toString()).toContain(`<Code>${code}</Code>`);
      expect(outcome.body.toString()).toContain('<Resource>/bucket/k</Resource>');
    });

    it('answers a HEAD with the status and no body', async () => {
      await withRules([{ action: { kind: 'accessDenied' } }]);
      expect(await request(`${proxy.url}/bucket/k`, { method: 'HEAD' })).toMatchObject({ kind: 'response', status: 403, body: Buffer.alloc(0) });
    });
  });

  describe('when a delay rule fires', () => {
    it('answers correctly, no sooner than the delay', async () => {
      await withRules([{ action: { kind: 'delay', ms: 300 } }]);
      const started = performance.now();
      const outcome = await request(`${proxy.url}/bucket/k`);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(outcome).toMatchObject({ kind: 'response', status: 200 });
    });
  });

  describe('when a hang rule fires', () => {
    it('holds the request until release, then forwards it', async () => {
      await withRules([{ action: { kind: 'hang' } }]);
      let settled = false;
      const pending = request(`${proxy.url}/bucket/k`).then((outcome) => {
        settled = true;
        return outcome;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(settled).toBe(false);
      expect(proxy.hanging()).toBe(1);
      expect(proxy.release()).toBe(1);
      expect(await pending).toMatchObject({ kind: 'response', status: 200 });
      expect(proxy.hanging()).toBe(0);
    });

    it('resets held requests when released that way', async () => {
      await withRules([{ action: { kind: 'hang' } }]);
      const pending = request(`${proxy.url}/bucket/k`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(proxy.release('reset')).toBe(1);
      expect(await pending).toMatchObject({ kind: 'error', code: 'ECONNRESET' });
    });

    it('counts the most requests open at once', async () => {
      await withRules([{ action: { kind: 'hang' } }]);
      const pending = [1, 2, 3].map(() => request(`${proxy.url}/bucket/k`));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(proxy.inFlight()).toBe(3);
      proxy.release();
      await Promise.all(pending);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(proxy.inFlight()).toBe(0);
      expect(proxy.counts().maxInFlight).toBe(3);
    });

    it('counts a request the client gave up on as abandoned', async () => {
      await withRules([{ action: { kind: 'hang' } }]);
      expect(await request(`${proxy.url}/bucket/k`, { timeoutMs: 200 })).toMatchObject({ kind: 'error', code: 'TIMEOUT' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(proxy.hanging()).toBe(0);
      expect(proxy.counts().abandoned).toBe(1);
    });
  });

  describe('when rules select requests', () => {
    it('matches by method, bucket, key pattern and Range header', async () => {
      await withRules([
        { name: 'put', match: { method: ['PUT', 'POST'] }, action: { kind: 'slowDown' } },
        { name: 'other-bucket', match: { bucket: 'other' }, action: { kind: 'accessDenied' } },
        { name: 'ranged-blk', match: { key: /\.bin$/, ranged: true }, action: { kind: 'slowDown' } },
      ]);
      const ranged = await new Promise<number>((resolve) => {
        http.get(`${proxy.url}/b/x.bin`, { agent: false, headers: { range: 'bytes=0-1' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
      });
      expect(ranged).toBe(503);
      expect(await request(`${proxy.url}/b/x.bin`)).toMatchObject({ status: 200 });
      expect(await request(`${proxy.url}/other/x.txt`)).toMatchObject({ status: 403 });
      expect(await request(`${proxy.url}/b/y`, { method: 'PUT' })).toMatchObject({ status: 503 });
      expect(proxy.counts().byRule).toEqual({ put: 1, 'other-bucket': 1, 'ranged-blk': 1 });
    });

    it('fires on the nth matches only, after skip, and at most times (a burst)', async () => {
      await withRules([
        { name: 'third', match: { key: 'a' }, nth: [3], action: { kind: 'accessDenied' } },
        { name: 'burst', match: { key: 'b' }, skip: 1, times: 2, action: { kind: 'slowDown' } },
      ]);
      const statusesA: number[] = [];
      const statusesB: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const a = await request(`${proxy.url}/bucket/a`);
        const b = await request(`${proxy.url}/bucket/b`);
        statusesA.push(a.kind === 'response' ? a.status : -1);
        statusesB.push(b.kind === 'response' ? b.status : -1);
      }
      expect(statusesA).toEqual([200, 200, 403, 200, 200]);
      expect(statusesB).toEqual([200, 503, 503, 200, 200]);
    });

    it('replays the same probabilistic schedule for the same seed, and another for another seed', async () => {
      const schedule = async (seed: number): Promise<string> => {
        await withRules([{ probability: 0.5, action: { kind: 'slowDown' } }], seed);
        let out = '';
        for (let i = 0; i < 24; i += 1) {
          const outcome = await request(`${proxy.url}/bucket/k${i}`);
          out += outcome.kind === 'response' && outcome.status === 503 ? 'x' : '.';
        }
        await proxy.close();
        return out;
      };
      const first = await schedule(42);
      const again = await schedule(42);
      const other = await schedule(7);
      proxy = await startFaultProxy({ upstream: upstream.url });
      expect(again).toBe(first);
      expect(other).not.toBe(first);
      expect(first).toMatch(/x/);
      expect(first).toMatch(/\./);
    });

    it('starts counting ordinals again when the rules are replaced', async () => {
      await withRules([{ nth: 1, action: { kind: 'slowDown' } }]);
      expect(await request(`${proxy.url}/bucket/k`)).toMatchObject({ status: 503 });
      expect(await request(`${proxy.url}/bucket/k`)).toMatchObject({ status: 200 });
      proxy.setRules([{ nth: 1, action: { kind: 'accessDenied' } }]);
      expect(await request(`${proxy.url}/bucket/k`)).toMatchObject({ status: 403 });
      expect(proxy.counts(true)).toMatchObject({ requests: 3, byAction: { slowDown: 1, pass: 1, accessDenied: 1 } });
      expect(proxy.counts()).toMatchObject({ requests: 0 });
      expect(proxy.log()).toEqual([]);
    });
  });

  describe('when the upstream is down', () => {
    it('resets the client connection and counts an upstream error, then recovers on a new upstream', async () => {
      const dead = http.createServer();
      await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
      const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
      await new Promise((resolve) => dead.close(resolve));
      proxy = await startFaultProxy({ upstream: deadUrl });
      expect(await request(`${proxy.url}/bucket/k`)).toMatchObject({ kind: 'error', code: 'ECONNRESET' });
      expect(proxy.counts().upstreamErrors).toBe(1);
      proxy.setUpstream(upstream.url);
      expect(await request(`${proxy.url}/bucket/k`)).toMatchObject({ kind: 'response', status: 200 });
    });
  });
});

describe('fault proxy in front of a real s3rver, seen by the AWS SDK', () => {
  // s3rver ships no types; this is the part of its API used here.
  interface S3rverInstance { run(): Promise<AddressInfo>; close(): Promise<void> }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require('s3rver') as new (options: object) => S3rverInstance;
  let s3: S3rverInstance;
  let dir: string;
  let proxy: FaultProxy;
  let client: S3Client;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fault-proxy-'));
    s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true });
    const address = await s3.run();
    proxy = await startFaultProxy({ upstream: `http://127.0.0.1:${address.port}` });
    client = new S3Client({
      endpoint: proxy.url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: 'data' }));
    await client.send(new PutObjectCommand({ Bucket: 'data', Key: 'dir/obj.bin', Body: BODY }));
  });
  afterAll(async () => {
    client.destroy();
    await proxy.close();
    await s3.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const get = async (): Promise<Buffer> => {
    const answer = await client.send(new GetObjectCommand({ Bucket: 'data', Key: 'dir/obj.bin' }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  };

  it('passes signed requests through so the bytes match', async () => {
    proxy.setRules([]);
    expect((await get()).equals(BODY)).toBe(true);
  });

  it.each([
    ['slowDown', 'SlowDown', 503],
    ['accessDenied', 'AccessDenied', 403],
  ] as const)('turns %s into an S3ServiceException named %s', async (kind, name, status) => {
    proxy.setRules([{ match: { key: 'dir/obj.bin' }, action: { kind } }]);
    const error = await get().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(S3ServiceException);
    expect(error).toMatchObject({ name, $metadata: { httpStatusCode: status } });
  });

  it('makes a truncated body fail the read instead of returning short bytes', async () => {
    proxy.setRules([{ match: { key: 'dir/obj.bin' }, action: { kind: 'truncate', afterBytes: 4096 } }]);
    await expect(get()).rejects.toThrow();
  });
});

describe('seededRandom and parseS3Path', () => {
  it('gives values in [0, 1) that depend on the seed', () => {
    const a = seededRandom(1);
    const values = Array.from({ length: 1000 }, () => a());
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(990);
    expect(seededRandom(1)()).toBe(values[0]);
    expect(seededRandom(2)()).not.toBe(values[0]);
  });

  it.each([
    ['/bucket', { bucket: 'bucket', key: '' }],
    ['/bucket/?list-type=2', { bucket: 'bucket', key: '' }],
    ['/bucket/a/b%20c.txt?x-id=GetObject', { bucket: 'bucket', key: 'a/b c.txt' }],
    ['/bucket/%E2%9C%93', { bucket: 'bucket', key: '✓' }],
    ['/bucket/bad%zz', { bucket: 'bucket', key: 'bad%zz' }],
  ])('parses %s', (url, expected) => {
    expect(parseS3Path(url)).toEqual(expected);
  });
});
