import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdmissionResponse } from '../../webhook/admission-review';
import { MemoryCatalog } from '../../webhook/catalog';
import { loadConfig } from '../../webhook/config';
import { buildServer, type WebhookServer } from '../../webhook/server';
import { listenLocally, type Reply, send, sendHttps } from './http-client';
import { assertValidPod } from '../support/k8s-schema';
import { FIXTURES, fixtureCatalog, loadReview, patchedPod } from './review-fixtures';
import { makeServingCert, makeTestCa, WEBHOOK_DNS_NAMES, WEBHOOK_SERVER_NAME } from './test-ca';

const config = loadConfig({});

interface Running {
  base: string;
}

const running: WebhookServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(server: WebhookServer): Promise<Running> {
  running.push(server);
  const base = await listenLocally(server);
  return { base };
}

function app(catalog = fixtureCatalog(), now?: () => Date): Promise<Running> {
  return start(buildServer({ config, catalog, ...(now ? { now } : {}) }));
}

function mutate(server: Running, payload: string | object, contentType = 'application/json', path = '/mutate'): Promise<Reply> {
  return send(server.base, 'POST', path, typeof payload === 'string' ? payload : JSON.stringify(payload), contentType);
}

/** The API server calls the configured path with its timeoutSeconds added (`?timeout=5s`); both must be bounded alike. */
const MUTATE_PATHS: [string][] = [['/mutate'], ['/mutate?timeout=5s']];

function get(server: Running, path: string): Promise<Reply> {
  return send(server.base, 'GET', path);
}

describe('buildServer', () => {
  describe('POST /mutate', () => {
    it('answers an AdmissionReview with an AdmissionReview carrying the same uid and a patch', async () => {
      const server = await app();
      const review = loadReview('plain-pod');
      const reply = await mutate(server, review);
      expect(reply.statusCode).toBe(200);
      const body = reply.json<{ apiVersion: string; kind: string; response: AdmissionResponse }>();
      expect(body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch' } });
      assertValidPod(patchedPod(review.request.object, body.response));
    });

    it('answers a denied pod with 200 and allowed: false (the API server reads the review, not the HTTP status)', async () => {
      const server = await app();
      const reply = await mutate(server, loadReview('error-unknown-dataset'));
      expect(reply.statusCode).toBe(200);
      expect(reply.json()).toMatchObject({ response: { allowed: false, status: { code: 400 } } });
    });

    const valid = loadReview('plain-pod');
    it.each<[string, string | object, string, string]>([
      ['a body that is not JSON', '{"apiVersion": "admission.k8s.io/v1", ', 'not a valid AdmissionReview', 'application/json'],
      ['an empty body', '', 'not a valid AdmissionReview', 'application/json'],
      ['a JSON array', '[1,2,3]', 'body must be a JSON object, got an array', 'application/json'],
      ['the wrong kind', { ...valid, kind: 'Pod' }, 'kind must be "AdmissionReview", got "Pod"', 'application/json'],
      ['an admission.k8s.io/v1beta1 review', { ...valid, apiVersion: 'admission.k8s.io/v1beta1' }, 'admissionReviewVersions: ["v1"]', 'application/json'],
      ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 'request must be an object', 'application/json'],
      ['a request without uid', { ...valid, request: { ...valid.request, uid: undefined } }, 'request.uid must be a non-empty string', 'application/json'],
      ['a non-boolean dryRun', { ...valid, request: { ...valid.request, dryRun: 'yes' } }, 'request.dryRun must be true or false', 'application/json'],
      ['a __proto__ key', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","__proto__":{"x":1}}', 'not a valid AdmissionReview', 'application/json'],
      ['a truncated body, saying what JSON.parse found', '{"apiVersion": "admission.k8s.io/v1", ', 'the body is not valid JSON: Expected double-quoted property name', 'application/json'],
      ['a constructor.prototype key in the pod', JSON.stringify(valid).replace('"metadata":{', '"metadata":{"constructor":{"prototype":{"polluted":true}},'), 'forbidden prototype property at /request/object/metadata/constructor/prototype', 'application/json'],
      ['a \\u-escaped __proto__ key', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","\\u005f_proto__":{"polluted":true}}', 'forbidden prototype property at /__proto__', 'application/json'],
      ['a body nested 65 levels deep, one more than allowed', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'['.repeat(64)}"x"${']'.repeat(64)}}`, 'nested deeper than 64 levels', 'application/json'],
      ['a body nested 64 levels deep, which passes the depth check to fail the next', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'['.repeat(63)}"x"${']'.repeat(63)}}`, 'request must be an object, got an array', 'application/json'],
      ['a body nested 1,000 levels deep', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'['.repeat(1000)}${']'.repeat(1000)}}`, 'nested deeper than 64 levels', 'application/json'],
      ['a text/plain body', 'hello', 'must be application/json', 'text/plain'],
    ])('answers %s with HTTP 400 and the reason', async (_name, payload, reason, contentType) => {
      const server = await app();
      const reply = await mutate(server, payload, contentType);
      expect(reply.statusCode).toBe(400);
      expect(reply.json<{ message: string }>().message).toContain(reason);
    });

    it('leaves Object.prototype alone after bodies that try to poison it', async () => {
      const server = await app();
      for (const body of ['{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"\\u005f_proto__":{"polluted":true}}']) {
        expect((await mutate(server, body)).statusCode).toBe(400);
      }
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('answers a body over the limit with HTTP 400 naming the limit', async () => {
      const server = await start(buildServer({ config: loadConfig({ DATAMOUNT_BODY_LIMIT: String(64 * 1024) }), catalog: fixtureCatalog() }));
      const big = loadReview('plain-pod');
      (big.request.object as { metadata: { annotations: Record<string, string> } }).metadata.annotations.padding = 'x'.repeat(70 * 1024);
      const reply = await mutate(server, big);
      expect(reply.statusCode).toBe(400);
      expect(reply.json<{ message: string; code: string }>()).toMatchObject({ code: 'DM_BODY_TOO_LARGE', message: expect.stringContaining('65536 bytes') });
    });
  });

  describe('when more reviews arrive than it accepts at once', () => {
    it.each(MUTATE_PATHS)('refuses the one beyond DATAMOUNT_MAX_IN_FLIGHT at once with HTTP 503, and serves again when the first is done (POST %s)', async (path) => {
      const catalog = fixtureCatalog();
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const lookup = catalog.getDataset.bind(catalog);
      catalog.getDataset = async (namespace, name) => {
        await gate;
        return lookup(namespace, name);
      };
      const server = await start(buildServer({ config: loadConfig({ DATAMOUNT_MAX_IN_FLIGHT: '1' }), catalog }));
      const first = mutate(server, loadReview('plain-pod'), 'application/json', path);
      await new Promise((r) => setTimeout(r, 100));
      const second = await mutate(server, loadReview('plain-pod'), 'application/json', path);
      expect(second.statusCode).toBe(503);
      expect(second.headers['retry-after']).toBe('1');
      expect(second.json()).toMatchObject({ code: 'DM_OVERLOADED' });
      release();
      expect((await first).statusCode).toBe(200);
      expect((await mutate(server, loadReview('plain-pod'), 'application/json', path)).statusCode).toBe(200);
    });

    it.each(MUTATE_PATHS)('refuses a review that waited past DATAMOUNT_REVIEW_DEADLINE with a 503 admission response (POST %s)', async (path) => {
      const server = await start(buildServer({ config: loadConfig({ DATAMOUNT_REVIEW_DEADLINE: '0ms' }), catalog: fixtureCatalog() }));
      const review = loadReview('plain-pod');
      const reply = await mutate(server, review, 'application/json', path);
      expect(reply.statusCode).toBe(200);
      expect(reply.json()).toMatchObject({ response: { uid: review.request.uid, allowed: false, status: { code: 503 } } });
    });
  });

  describe('GET /readyz', () => {
    it('is 503 until the catalog has finished its first listing, then 200', async () => {
      const catalog = new MemoryCatalog();
      const server = await app(catalog);
      const before = await get(server, '/readyz');
      expect(before.statusCode).toBe(503);
      expect(before.body).toContain('first listing');
      catalog.markSynced();
      expect((await get(server, '/readyz')).statusCode).toBe(200);
    });

    it('is 503 once the catalog has been without its source for longer than DATAMOUNT_CATALOG_STALE', async () => {
      const catalog = new MemoryCatalog();
      catalog.markSynced();
      let now = new Date('2026-11-29T06:00:00Z');
      const server = await app(catalog, () => now);
      catalog.markStale(new Date('2026-11-29T05:58:00Z'));
      expect((await get(server, '/readyz')).statusCode).toBe(200);
      now = new Date('2026-11-29T06:04:00Z');
      const stale = await get(server, '/readyz');
      expect(stale.statusCode).toBe(503);
      expect(stale.body).toContain('lost its source at 2026-11-29T05:58:00.000Z');
    });
  });

  describe('GET /healthz', () => {
    it('is 200 while the process serves', async () => {
      const server = await app(new MemoryCatalog());
      expect((await get(server, '/healthz')).statusCode).toBe(200);
    });
  });

  describe('GET /metrics', () => {
    it('counts reviews by outcome, their latency and the datasets injected, in Prometheus text format', async () => {
      const server = await app();
      await mutate(server, loadReview('deployment-pod'));
      await mutate(server, loadReview('error-unknown-dataset'));
      await mutate(server, loadReview('skip-no-datasets'));
      await mutate(server, 'not json');
      const reply = await get(server, '/metrics');
      expect(reply.headers['content-type']).toContain('text/plain; version=0.0.4');
      const text = reply.body;
      expect(text).toContain('datamount_webhook_reviews_total{outcome="injected"} 1');
      expect(text).toContain('datamount_webhook_reviews_total{outcome="denied"} 1');
      expect(text).toContain('datamount_webhook_reviews_total{outcome="skipped"} 1');
      expect(text).toContain('datamount_webhook_review_duration_seconds_count 3');
      expect(text).toContain('datamount_webhook_review_duration_seconds_bucket{le="+Inf"} 3');
      expect(text).toContain('datamount_webhook_injected_datasets_total 2');
      expect(text).toContain('datamount_webhook_rejected_requests_total{code="DM_BODY_MALFORMED"} 1');
      expect(text).toContain('datamount_webhook_catalog_synced 1');
      expect(text).toMatch(/datamount_webhook_catalog_datasets 7\n/);
    });
  });

  describe('when serving HTTPS the way the API server calls it', () => {
    const ca = makeTestCa();
    const serving = makeServingCert(ca, WEBHOOK_DNS_NAMES);
    let server: WebhookServer;
    let port: number;

    beforeAll(async () => {
      server = buildServer({ config, catalog: fixtureCatalog(), https: { key: serving.keyPem, cert: serving.certPem } });
      await server.listen({ port: 0, host: '127.0.0.1' });
      port = (server.server.address() as AddressInfo).port;
    });
    afterAll(() => server.close());

    function call(servername: string, body: string): Promise<{ status: number; body: string }> {
      return sendHttps({ port, ca: ca.certPem, servername }, 'POST', '/mutate', body);
    }

    it(`verifies against the CA with server name ${WEBHOOK_SERVER_NAME} and gets the patch`, async () => {
      const body = readFileSync(join(FIXTURES, 'plain-pod.json'), 'utf8');
      const reply = await call(WEBHOOK_SERVER_NAME, body);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ response: { allowed: true, patchType: 'JSONPatch' } });
    });

    it('fails verification for a name the certificate does not carry (so the check above is real)', async () => {
      await expect(call('datamount-webhook.other-namespace.svc', '{}')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    });
  });
});
