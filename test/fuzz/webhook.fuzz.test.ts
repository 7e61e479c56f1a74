/**
 * The webhook's `/mutate` under thousands of generated and hostile AdmissionReviews (issue 7).
 * Cases come from seeded fast-check arbitraries (FUZZ_SEED to replay another run); every answer
 * goes through `checkMutateAnswer`, failures are collected rather than stopping at the first, and
 * the counts are printed for BENCHMARKS.md / docs/robustness.md.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { parseCatalog } from '../../webhook/catalog-file';
import { loadConfig } from '../../webhook/config';
import { buildServer, type WebhookServer } from '../../webhook/server';
import { validatePod } from '../support/k8s-schema';
import { FUZZ_NAMESPACE, hostileBodyArb, reviewArb, reviewFor, type RawCase } from './admission-arbitraries';
import { checkMutateAnswer, type AnswerContext } from './mutate-answer';

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const VALID_RUNS = 2000;
const HOSTILE_RUNS = 3000;
/** Heap growth allowed across the second half of the hostile run, after full GCs. */
const HEAP_GROWTH_LIMIT = 24 * 2 ** 20;

const config = loadConfig({});
const catalogText = readFileSync(path.join(__dirname, 'fixtures', 'catalog.yaml'), 'utf8');

/** A full, synchronous GC, without starting node with --expose-gc. */
function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

interface Tally {
  tried: number;
  failures: Array<{ label: string; problems: string[]; body: string }>;
  kinds: Record<string, number>;
}

function tally(): Tally {
  return { tried: 0, failures: [], kinds: {} };
}

function record(t: Tally, label: string, kind: string, problems: string[], body: string): void {
  t.tried += 1;
  t.kinds[kind] = (t.kinds[kind] ?? 0) + 1;
  if (problems.length > 0) t.failures.push({ label, problems, body: body.slice(0, 300) });
}

function summary(name: string, t: Tally): string {
  const byLabel: Record<string, number> = {};
  for (const f of t.failures) byLabel[f.label] = (byLabel[f.label] ?? 0) + 1;
  return `${name}: cases tried ${t.tried}, failures ${t.failures.length} (seed ${SEED})\n  answers: ${JSON.stringify(t.kinds)}` +
    (t.failures.length ? `\n  failures by kind: ${JSON.stringify(byLabel)}\n  first: ${JSON.stringify(t.failures.slice(0, 3), null, 1)}` : '');
}

/** What can be known of a raw body before sending it: its uid and pod, if it parses (last duplicate key wins, as in fastify). */
function contextOf(raw: RawCase): AnswerContext {
  let parsed: any;
  try {
    parsed = JSON.parse(raw.body);
  } catch {
    return { podWasValid: false, wellFormed: false, cacheHostPath: config.cacheHostPath };
  }
  const request = parsed?.request;
  const uid = typeof request?.uid === 'string' ? request.uid : undefined;
  const pod = request?.object;
  const namespace = typeof request?.namespace === 'string' && request.namespace !== '' ? request.namespace : pod?.metadata?.namespace;
  return { ...(uid ? { uid } : {}), ...(typeof namespace === 'string' ? { namespace } : {}), pod, podWasValid: () => typeof pod === 'object' && pod !== null && validatePod(pod).length === 0, wellFormed: false, cacheHostPath: config.cacheHostPath };
}

describe('webhook /mutate under generated and hostile AdmissionReviews', () => {
  // Over a loopback socket rather than app.inject: light-my-request needs the ESM-only
  // `cookie` 2.x, which jest's CommonJS loader cannot load; a socket also exercises Node's parser.
  let app: WebhookServer;
  let port: number;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  beforeAll(async () => {
    app = buildServer({ config, catalog: parseCatalog(catalogText, 'catalog.yaml'), now: () => new Date('2026-11-29T05:05:00Z') });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    agent.destroy();
    await app.close();
  });

  const send = (body: string | undefined, headers: http.OutgoingHttpHeaders, chunks?: string[]): Promise<{ status: number; payload: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/mutate', headers, agent }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, payload: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (chunks) {
        for (const chunk of chunks) req.write(chunk);
        req.end();
      } else req.end(body);
    });

  const mutate = (body: string, contentType = 'application/json'): Promise<{ status: number; payload: string }> =>
    send(body, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });

  describe('when the reviews are well formed (random datamount annotations, right and wrong)', () => {
    it('answers each for its uid; every patch applies, gives a schema-valid pod within the tenant rules, and a second review of it changes nothing', async () => {
      const t = tally();
      await fc.assert(
        fc.asyncProperty(reviewArb, async ({ review, pod }) => {
          const body = JSON.stringify(review);
          const uid = (review.request as { uid: string }).uid;
          const { status, payload } = await mutate(body);
          const checked = checkMutateAnswer(status, payload, { uid, pod, podWasValid: validatePod(pod).length === 0, wellFormed: true, cacheHostPath: config.cacheHostPath, namespace: FUZZ_NAMESPACE });
          const problems = [...checked.problems];
          if (checked.patched !== undefined && problems.length === 0) {
            // Reinvocation (reinvocationPolicy: IfNeeded): our own output must come back unchanged.
            const again = await mutate(JSON.stringify(reviewFor(checked.patched as never, `${uid}-again`)));
            const second = checkMutateAnswer(again.status, again.payload, { uid: `${uid}-again`, pod: checked.patched, podWasValid: true, wellFormed: true, cacheHostPath: config.cacheHostPath, namespace: FUZZ_NAMESPACE });
            problems.push(...second.problems);
            if (second.kind !== 'allowed') problems.push(`reviewing the injected pod again gave ${second.kind}, not an allowance without a patch`);
          }
          record(t, 'valid', checked.kind, problems, body);
          return true;
        }),
        { numRuns: VALID_RUNS, seed: SEED },
      );
      console.log(summary('well-formed reviews', t));
      expect(t.tried).toBe(VALID_RUNS);
      expect(t.kinds.patched ?? 0).toBeGreaterThan(VALID_RUNS / 4);
      expect(Object.keys(t.kinds).some((k) => k.startsWith('denied-4'))).toBe(true);
      expect(t.failures).toEqual([]);
    });
  });

  describe('when the bodies are hostile', () => {
    it('answers every one with an AdmissionReview response or a 400 with a reason, and the heap stays flat', async () => {
      const gc = collectGarbage();
      const t = tally();
      let heapAtHalf = 0;
      await fc.assert(
        fc.asyncProperty(hostileBodyArb(config.bodyLimit), async (raw) => {
          const { status, payload } = await mutate(raw.body, raw.contentType);
          const checked = checkMutateAnswer(status, payload, contextOf(raw));
          record(t, raw.label, checked.kind, checked.problems, raw.body);
          if (t.tried === HOSTILE_RUNS / 2) {
            gc();
            gc();
            heapAtHalf = process.memoryUsage().heapUsed;
          }
          return true;
        }),
        { numRuns: HOSTILE_RUNS, seed: SEED + 1 },
      );
      gc();
      gc();
      const growth = process.memoryUsage().heapUsed - heapAtHalf;
      console.log(`${summary('hostile bodies', t)}\n  heap growth over the second ${HOSTILE_RUNS / 2} cases: ${(growth / 2 ** 20).toFixed(1)} MiB`);
      expect(t.tried).toBe(HOSTILE_RUNS);
      expect(t.failures).toEqual([]);
      expect(growth).toBeLessThan(HEAP_GROWTH_LIMIT);
      const health = await new Promise<number>((resolve) => http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }));
      expect(health).toBe(200);
    });

    it.each([
      ['nested 100,000 arrays deep', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
      ['nested 50,000 objects deep', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`],
      ['a __proto__ key inside the pod', JSON.stringify(reviewFor({ apiVersion: 'v1', kind: 'Pod', metadata: { annotations: { 'datamount.dev/datasets': 'coco' } }, spec: { containers: [{ name: 'a', image: 'x' }] } }, 'u-proto')).replace('"metadata":{', '"metadata":{"__proto__":{"polluted":true},')],
    ])('survives %s', async (_name, body) => {
      const { status, payload } = await mutate(body);
      expect(checkMutateAnswer(status, payload, contextOf({ label: 'x', body, contentType: 'application/json' })).problems).toEqual([]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('when the body arrives in pieces', () => {
    it('refuses a chunked body that grows past the limit with a 400 naming the limit', async () => {
      const chunk = 'x'.repeat(256 * 1024);
      const chunks = ['{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"', ...Array.from({ length: Math.ceil(config.bodyLimit / chunk.length) + 2 }, () => chunk), '"}}'];
      const { status, payload } = await send(undefined, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, chunks);
      expect(status).toBe(400);
      expect(JSON.parse(payload).message).toContain(String(config.bodyLimit));
    });
  });
});
