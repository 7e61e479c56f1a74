/**
 * PROTOTYPE (stage 1 of the fifth round): the bench's webhook served by a node:cluster of N
 * worker processes sharing one listening socket, to measure whether more than one main thread
 * moves the open loop's tail. Forked by bench/webhook.ts; the primary reports the port and the
 * pids (its own and every worker's) so the bench can read their CPU from /proc.
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { parseCatalog } from '../webhook/catalog-file';
import { loadConfig } from '../webhook/config';
import { buildServer } from '../webhook/server';

export interface ClusterJob {
  workers: number;
  certPem: string;
  keyPem: string;
  catalog: string;
}

export interface ClusterReady {
  port: number;
  pids: number[];
}

const JOB_VARIABLE = 'WEBHOOK_BENCH_CLUSTER_JOB';

async function serveWorker(job: ClusterJob): Promise<void> {
  const config = loadConfig({});
  const catalog = parseCatalog(job.catalog, 'bench catalog');
  const app = buildServer({ config, catalog, https: { key: job.keyPem, cert: job.certPem } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ port: (app.server.address() as AddressInfo).port });
}

function servePrimary(job: ClusterJob): void {
  cluster.setupPrimary({ exec: __filename });
  const ports: number[] = [];
  const pids: number[] = [];
  for (let i = 0; i < job.workers; i++) {
    const worker = cluster.fork({ [JOB_VARIABLE]: JSON.stringify(job) });
    worker.on('message', (message: { port: number }) => {
      ports.push(message.port);
      pids.push(worker.process.pid ?? 0);
      if (ports.length === job.workers) process.send?.({ port: ports[0] ?? 0, pids: [process.pid, ...pids] } satisfies ClusterReady);
    });
  }
}

if (cluster.isWorker) {
  const job = JSON.parse(process.env[JOB_VARIABLE] ?? '{}') as ClusterJob;
  serveWorker(job).catch((err: Error) => {
    process.stderr.write(`bench cluster worker: ${err.message}\n`);
    process.exit(1);
  });
} else if (require.main === module) {
  process.once('message', (job: ClusterJob) => servePrimary(job));
}
