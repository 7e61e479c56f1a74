/**
 * One of the webhook bench's two servers, as the manifests deploy the webhook: `replicas`
 * processes (two, manifests/base/webhook-deployment.yaml) behind one port, each serving `/mutate`
 * as the webhook does (`buildServer` over the bench's catalog), or the bare echo that is its
 * control. Both targets are served the same way, so the echo stays the like-for-like control.
 *
 * Forked by bench/webhook.ts, this process is a cluster primary: it forks the replicas (cluster
 * workers), hands each new connection to the next one in turn (SCHED_RR: as a Service spreads the
 * API server's connections over the webhook's pods) and does nothing per request. It answers
 * `{ port, pids }` once every replica listens; over IPC the replicas record what they answered
 * (webhook-tail.ts's server view) while told to, and the primary sends their records as one.
 *
 * Why replicas and not one process (docs/webhook.md, seventh round): a Node server is one thread,
 * and at 2,000 reviews/s one process is busy two thirds to nine tenths of a core, so any slower
 * stretch of the machine queues requests. Each replica has its own process, as each pod does;
 * the bench's own process (every round's results) is apart from all of them.
 */
import cluster, { type Worker } from 'node:cluster';
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
  /** Processes serving behind the one port (DEPLOYED_REPLICAS unless the bench was told otherwise). */
  replicas: number;
}

/** The webhook Deployment's replica count (manifests/base/webhook-deployment.yaml; a test keeps them equal). */
export const DEPLOYED_REPLICAS = 2;

/** Parent → server: start or stop recording answers (starting clears the record), or send the record. */
export type ServerCommand = { type: 'record'; on: boolean } | { type: 'send-record' };

/** Server → parent: listening (with every process serving: the primary, then the replicas), or the record asked for. */
export type ServerReport = { type: 'listening'; port: number; pids: number[] } | { type: 'record'; served: ServedRequests };

/** What the primary sends each replica: the job, and the replica's number for the record. */
interface ReplicaJob {
  job: ServerJob;
  replica: number;
}

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

/** One replica: serves `job` and keeps its record of answers, numbered `replica`. */
async function serve(job: ServerJob, replica: number, send: (report: ServerReport) => void): Promise<(command: ServerCommand) => void> {
  const app = build(job);
  const served = new ServedLog(replica);
  let recording = false;
  recordAnswers(app, served, () => recording);
  await app.listen({ port: 0, host: '127.0.0.1' });
  send({ type: 'listening', port: (app.server.address() as AddressInfo).port, pids: [process.pid] });
  return (command) => {
    if (command.type === 'record') {
      if (command.on) served.clear();
      recording = command.on;
    } else {
      send({ type: 'record', served: served.snapshot() });
    }
  };
}

/** Concatenates the replicas' records (each answer keeps its replica's number). */
function mergeRecords(records: readonly ServedRequests[]): ServedRequests {
  return {
    ports: records.flatMap((r) => r.ports),
    indexes: records.flatMap((r) => r.indexes),
    endMs: records.flatMap((r) => r.endMs),
    insideMs: records.flatMap((r) => r.insideMs),
    servers: records.flatMap((r) => r.servers),
  };
}

/**
 * The primary: forks `replicas` workers, reports once all listen (on one port: cluster workers
 * listening on port 0 share the port the primary chose), passes every command on to each, and
 * answers a record request with their records merged. A replica that dies ends the primary, so
 * the bench sees the server gone rather than measuring half of it.
 */
function runPrimary(job: ServerJob, send: (report: ServerReport) => void): void {
  const { replicas } = job;
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const workers: Worker[] = [];
  const listening: number[] = [];
  let records: ServedRequests[] = [];
  for (let replica = 0; replica < replicas; replica++) {
    const worker = cluster.fork();
    workers.push(worker);
    worker.on('message', (report: ServerReport) => {
      if (report.type === 'listening') {
        listening.push(...report.pids);
        if (listening.length === replicas) send({ type: 'listening', port: report.port, pids: [process.pid, ...listening] });
        return;
      }
      records.push(report.served);
      if (records.length === replicas) {
        send({ type: 'record', served: mergeRecords(records) });
        records = [];
      }
    });
    worker.send({ job, replica } satisfies ReplicaJob);
  }
  cluster.on('exit', (worker, code, signal) => {
    process.stderr.write(`webhook bench server (${job.target}): replica ${workers.indexOf(worker)} exited (${signal ?? code})\n`);
    process.exit(1);
  });
  process.on('message', (command: ServerCommand) => {
    for (const worker of workers) worker.send(command);
  });
  process.once('SIGTERM', () => {
    cluster.removeAllListeners('exit');
    for (const worker of workers) worker.kill();
    process.exit(0);
  });
}

if (require.main === module && cluster.isWorker) {
  const report = (message: ServerReport): void => {
    process.send?.(message);
  };
  process.once('message', ({ job, replica }: ReplicaJob) => {
    serve(job, replica, report).then((handle) => process.on('message', handle), (err: Error) => {
      process.stderr.write(`webhook bench server (${job.target}, replica ${replica}): ${err.message}\n`);
      process.exit(1);
    });
  });
  // The primary's going closes the channel.
  process.once('disconnect', () => process.exit(0));
} else if (require.main === module) {
  process.once('message', (job: ServerJob) => runPrimary(job, (report) => process.send?.(report)));
  // The bench kills this process when done; if the bench itself dies, the IPC channel closes.
  process.once('disconnect', () => process.exit(0));
}
