/**
 * The HTTP(S) edge: `POST /mutate`, `GET /healthz`, `GET /readyz`, `GET /metrics`. Thin on
 * purpose — it checks the body, calls the pure `reviewPod`, records the metric and writes one
 * log line. `buildServer` returns the fastify app without listening, so tests use
 * `app.inject(...)`; pass `https` to serve TLS (the API server only calls webhooks over HTTPS).
 */
import type { SecureContextOptions } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerOptions, type onRequestHookHandler } from 'fastify';
import { type AdmissionResponse, parseAdmissionReview, serializeReview } from './admission-review';
import { parseCacheLocations } from './cache-hints';
import type { DatasetCatalog } from './catalog';
import type { WebhookConfig } from './config';
import { describeError, ERRORS, type ErrorKind } from './errors';
import { parseJsonBody } from './json-body';
import { METRICS_CONTENT_TYPE, WebhookMetrics } from './metrics';
import { cacheReportReader, reviewPod, type ReviewDeps } from './review-pod';

export interface ServerDeps {
  config: WebhookConfig;
  catalog: DatasetCatalog;
  metrics?: WebhookMetrics;
  now?: () => Date;
  /** Key and certificate (PEM) to serve HTTPS; absent = plain HTTP (tests with inject only). */
  https?: Pick<SecureContextOptions, 'key' | 'cert'>;
  /** fastify's logger option; false in tests, pino with the configured level in main. */
  logger?: FastifyServerOptions['logger'];
}

/**
 * Kubernetes objects are shallow (a Pod is about a dozen levels deep); a body nested deeper
 * than this is not a real AdmissionReview, and refusing it up front keeps the recursive clone
 * and diff of the review far from the stack limit.
 */
const MAX_DEPTH = 64;

const JSON_TYPE = 'application/json; charset=utf-8';

/** The answer to the API server, serialised by serializeReview rather than by fastify's JSON.stringify. */
function sendReview(reply: FastifyReply, response: AdmissionResponse): FastifyReply {
  return reply.type(JSON_TYPE).send(serializeReview(response));
}

export type WebhookServer = FastifyInstance;

export function buildServer(deps: ServerDeps): WebhookServer {
  const { config, catalog } = deps;
  const metrics = deps.metrics ?? new WebhookMetrics({ catalogSynced: () => catalog.isSynced(), catalogDatasets: () => catalog.datasetCount() });
  const now = deps.now ?? (() => new Date());
  const app = Fastify({
    ...(deps.https ? { https: { ...deps.https, minVersion: 'TLSv1.2' as const } } : {}),
    logger: deps.logger ?? false,
    // Set explicitly, not left at fastify's 1 MiB default: a Pod can approach the API server's
    // ~1.5 MiB object limit, and the limit must match what config documents (DATAMOUNT_BODY_LIMIT).
    bodyLimit: config.bodyLimit,
    // One log line per review is written below; fastify's two per request would double the cost.
    logController: new LogController({ disableRequestLogging: true }),
    // The API server keeps connections open; idle ones are closed after this long.
    keepAliveTimeout: 30_000,
    // The API server gives up on a webhook after timeoutSeconds (at most 30 s); a request still
    // arriving after that has no caller, so a slow-trickling body may not hold a socket longer.
    requestTimeout: 30_000,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;

  // The API server sends application/json; fastify's text/plain parser would let a string through.
  app.removeContentTypeParser('text/plain');
  // As safe against prototype poisoning as fastify's parser, cheaper on a clean body, and it
  // says what is wrong with a malformed one (json-body.ts).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  const log: FastifyBaseLogger = app.log;
  const reviewDeps: ReviewDeps = {
    config,
    catalog,
    now,
    cacheReports: cacheReportReader(catalog, (data) => parseCacheLocations(data, (msg, fields) => log.warn({ ...fields }, msg))),
    log: (level, msg, fields) => log[level]({ ...fields }, msg),
  };

  const refuse = (kind: ErrorKind, reason: string) => {
    metrics.recordRejectedRequest(kind.code);
    return { code: kind.code, message: `${kind.summary}: ${reason}` };
  };

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    // Every problem with the body itself is the caller's: answer 400 with the reason, never 5xx.
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(400).send(refuse(ERRORS.BODY_TOO_LARGE, `the limit is ${config.bodyLimit} bytes (DATAMOUNT_BODY_LIMIT)`));
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(400).send(refuse(ERRORS.BODY_MEDIA_TYPE, 'send Content-Type: application/json'));
    }
    if (error.code?.startsWith('FST_ERR_CTP') || error instanceof SyntaxError || error instanceof RangeError || error.statusCode === 400) {
      return reply.code(400).send(refuse(ERRORS.BODY_MALFORMED, describeError(error)));
    }
    log.error({ err: error }, 'unexpected error while serving a request');
    return reply.code(500).send({ code: ERRORS.INTERNAL.code, message: ERRORS.INTERNAL.summary });
  });

  /**
   * Bounded work (docs/robustness.md, W1). The API server gives up on a webhook after its
   * timeoutSeconds (5 s in the manifests), so a review answered later is wasted and one queued
   * behind thousands of others only makes every answer late. Requests are counted from the moment
   * their headers arrive: beyond DATAMOUNT_MAX_IN_FLIGHT they are refused at once (HTTP 503,
   * Retry-After), and a review that waited longer than DATAMOUNT_REVIEW_DEADLINE is refused with a
   * 503 admission response instead of being done. failurePolicy decides what the pod sees.
   */
  let inFlight = 0;
  /** performance.now() when each review's headers arrived (a number: no BigInt per request). */
  const arrivals = new WeakMap<object, number>();
  const counted = new WeakSet<object>();
  const done = (request: object): void => {
    if (counted.delete(request)) inFlight -= 1;
  };
  // A callback hook, not an async one: no promise and no extra turn of the microtask queue per
  // request. The route's own hook, not a check of request.url: the API server calls
  // `/mutate?timeout=5s` (it adds its timeoutSeconds to the path), which a URL compare missed.
  const admit: onRequestHookHandler = (request, reply, next) => {
    arrivals.set(request, performance.now());
    if (inFlight >= config.maxInFlight) {
      reply.code(503).header('retry-after', '1').send(refuse(ERRORS.OVERLOADED, `${inFlight} reviews in flight (DATAMOUNT_MAX_IN_FLIGHT=${config.maxInFlight})`));
      return;
    }
    inFlight += 1;
    counted.add(request);
    // The slot is returned when the response closes: 'close' follows 'finish' and also fires on a
    // socket destroyed mid-review, which is what the API server does at timeoutSeconds. (fastify's
    // onRequestAbort runs only for a client gone before the body was complete, and onResponse only
    // on 'finish', so a caller that sent the review and left would keep its slot for ever: W4.)
    reply.raw.once('close', () => done(request));
    next();
  };

  app.post('/mutate', { onRequest: admit }, async (request, reply) => {
    const started = performance.now();
    if (depthExceeds(request.body, MAX_DEPTH)) {
      return reply.code(400).send(refuse(ERRORS.BODY_MALFORMED, `the body is nested deeper than ${MAX_DEPTH} levels`));
    }
    const parsed = parseAdmissionReview(request.body);
    if (!parsed.ok) return reply.code(400).send(refuse(ERRORS.BODY_MALFORMED, parsed.reason));
    const waitedMs = started - (arrivals.get(request) ?? started);
    if (waitedMs > config.reviewDeadlineMs) {
      metrics.recordReview('shed', (performance.now() - started) / 1000, 0);
      return sendReview(reply, {
        uid: parsed.request.uid,
        allowed: false,
        status: { code: 503, reason: 'ServiceUnavailable', message: `datamount is overloaded: this review waited ${waitedMs.toFixed(0)} ms (over DATAMOUNT_REVIEW_DEADLINE); retry` },
      });
    }
    try {
      const result = await reviewPod(parsed.request, reviewDeps);
      const seconds = (performance.now() - started) / 1000;
      const injected = result.outcome === 'injected' || result.outcome === 'repaired' ? result.datasets.length : 0;
      metrics.recordReview(result.outcome, seconds, injected);
      const fields = { uid: parsed.request.uid, outcome: result.outcome, datasets: result.datasets, dryRun: parsed.request.dryRun === true, ms: seconds * 1000 };
      if (result.outcome === 'skipped' || result.outcome === 'unchanged') log.debug(fields, result.reason);
      else if (result.outcome === 'unavailable') log.error(fields, result.reason);
      else log.info(fields, result.reason);
      return sendReview(reply, result.response);
    } catch (err) {
      // A bug of ours: say so, and still answer the API server with a well-formed review.
      metrics.recordReview('error', (performance.now() - started) / 1000, 0);
      log.error({ err, uid: parsed.request.uid }, 'review failed');
      return sendReview(reply, {
        uid: parsed.request.uid,
        allowed: false,
        status: { code: 500, reason: 'InternalError', message: `${ERRORS.INTERNAL.summary} (${ERRORS.INTERNAL.code}): ${describeError(err)}` },
      });
    }
  });

  app.get('/healthz', async () => 'ok\n');

  app.get('/readyz', async (_request, reply) => {
    if (!catalog.isSynced()) return reply.code(503).send('not ready: the Dataset catalog has not finished its first listing\n');
    const staleSince = catalog.staleSince();
    if (staleSince && now().getTime() - staleSince.getTime() > config.catalogStaleMs) {
      return reply.code(503).send(`not ready: the Dataset catalog lost its source at ${staleSince.toISOString()} (longer than DATAMOUNT_CATALOG_STALE)\n`);
    }
    return 'ok\n';
  });

  app.get('/metrics', async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(metrics.render()));

  return app;
}

/**
 * Recursion is safe here: it stops at `limit` levels, far below the stack limit, whatever the
 * body's real depth (JSON.parse itself is not recursive in V8). A child that is not an object is
 * passed over where it is found rather than in a call of its own: most of a pod's values are
 * strings (about a fifth of this walk's time on the bench's pod).
 */
function depthExceeds(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) if (typeof item === 'object' && item !== null && depthExceeds(item, limit - 1)) return true;
    return false;
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && depthExceeds(child, limit - 1)) return true;
  }
  return false;
}
