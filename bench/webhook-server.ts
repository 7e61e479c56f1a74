/**
 * One of the webhook bench's two servers, in a process of its own: `/mutate` as the webhook
 * serves it (`buildServer` over the bench's catalog), or the bare echo that is its control. A
 * deployed webhook has its process to itself. Served from the bench's own process — which also
 * holds the other server, every round's results and timelines (hundreds of thousands of numbers
 * parsed from the load generator's output) — the webhook's open loop had stalls of 15–145 ms in
 * some rounds that the same server in a process of its own did not show (docs/webhook.md, sixth
 * round). Both targets are served this way, so the echo stays the like-for-like control.
 *
 * Forked by bench/webhook.ts. It answers `{ port }` once listening, and over IPC records what it
 * answered (webhook-tail.ts's server view) while told to, and sends that record when asked.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { parseCatalog } from '../webhook/catalog-file';
import { loadConfig } from '../webhook/config';
import { buildServer } from '../webhook/server';
import { ServedLog, type ServedRequests } from './webhook-tail';

export interface ServerJob {
  target: 'webhook' | 'echo';
  certPem: string;
  keyPem: string;
  /** The Datasets and cache report the webhook serves from (YAML, as DATAMOUNT_CATALOG holds them). */
  catalog: string;
}

/** Parent → server: start or stop recording answers (starting clears the record), or send the record. */
export type ServerCommand = { type: 'record'; on: boolean } | { type: 'send-record' };

/** Server → parent: listening, or the record asked for. */
export type ServerReport = { type: 'listening'; port: number } | { type: 'record'; served: ServedRequests };

function build(job: ServerJob): FastifyInstance {
  const config = loadConfig({});
  const https = { key: job.keyPem, cert: job.certPem };
  if (job.target === 'webhook') return buildServer({ config, catalog: parseCatalog(job.catalog, 'bench catalog'), https });
  const bare = Fastify({ https, bodyLimit: config.bodyLimit, logger: false });
  // The bare route parses the JSON body (as fastify does for /mutate) and sends it back.
  bare.post('/echo', async (request) => request.body);
  return bare;
}

/**
 * Keeps, while recording, each answer's connection and the time from routing to the answer
 * written, as fastify measures it (`reply.elapsedTime`). An onResponse hook makes fastify time
 * every request; the webhook as deployed, which logs, already does.
 */
function recordAnswers(app: FastifyInstance, log: ServedLog, recording: () => boolean): void {
  app.addHook('onResponse', (request, reply, done) => {
    if (recording()) log.record(request.raw.socket.remotePort ?? 0, reply.elapsedTime);
    done();
  });
}

export async function serve(job: ServerJob, send: (report: ServerReport) => void): Promise<(command: ServerCommand) => void> {
  const app = build(job);
  const served = new ServedLog();
  let recording = false;
  recordAnswers(app, served, () => recording);
  await app.listen({ port: 0, host: '127.0.0.1' });
  send({ type: 'listening', port: (app.server.address() as AddressInfo).port });
  return (command) => {
    if (command.type === 'record') {
      if (command.on) served.clear();
      recording = command.on;
    } else {
      send({ type: 'record', served: served.snapshot() });
    }
  };
}

if (require.main === module) {
  const report = (message: ServerReport): void => {
    process.send?.(message);
  };
  process.once('message', (job: ServerJob) => {
    serve(job, report).then((handle) => process.on('message', handle), (err: Error) => {
      process.stderr.write(`webhook bench server (${job.target}): ${err.message}\n`);
      process.exit(1);
    });
  });
  // The bench kills this process when done; if the bench itself dies, the IPC channel closes.
  process.once('disconnect', () => process.exit(0));
}
