/**
 * The webhook bench's server (dist/bench/webhook-server.js, built by `make build`) as the bench
 * runs it: a primary forking the replicas behind one port, each connection handed to the next
 * replica, and their records of answers sent back as one. Real HTTPS, verified against the
 * throwaway CA under the webhook's service name.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { makeCertificates, SERVER_NAME } from '../../bench/webhook';
import { DEPLOYED_REPLICAS, type ServerCommand, type ServerJob, type ServerReport } from '../../bench/webhook-server';
import type { ServedRequests } from '../../bench/webhook-tail';
import { isAlive } from '../support/process-alive';
import { sendHttps } from '../webhook/http-client';

const SERVER_SCRIPT = path.join(__dirname, '../../dist/bench/webhook-server.js');
const certs = makeCertificates();

/** Starts the server script; resolves with its listening report. */
function start(job: ServerJob): Promise<{ child: ChildProcess; listening: Extract<ServerReport, { type: 'listening' }> }> {
  const child = fork(SERVER_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (report: ServerReport) => {
      if (report.type === 'listening') resolve({ child, listening: report });
      else reject(new Error(`expected listening, got ${report.type}`));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    child.send(job);
  });
}

function record(child: ChildProcess): Promise<ServedRequests> {
  return new Promise((resolve) => {
    child.once('message', (report: ServerReport) => {
      if (report.type === 'record') resolve(report.served);
    });
    child.send({ type: 'send-record' } satisfies ServerCommand);
  });
}

/** `count` requests, one after another, on one keep-alive connection of its own; resolves with the answers. */
async function onOneConnection(port: number, count: number): Promise<string[]> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const answers: string[] = [];
  for (let i = 0; i < count; i++) {
    const { status, body } = await sendHttps({ port, ca: certs.caPem, servername: SERVER_NAME, agent }, 'POST', '/echo', JSON.stringify({ n: i }));
    answers.push(`${status} ${body}`);
  }
  agent.destroy();
  return answers;
}

describe('the webhook bench server', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill();
    child = undefined;
  });

  it('runs as many replicas as the webhook Deployment has', () => {
    const deployment = parseDocument(readFileSync(path.join(__dirname, '../../manifests/base/webhook-deployment.yaml'), 'utf8')).toJS() as { spec: { replicas: number } };
    expect(DEPLOYED_REPLICAS).toBe(deployment.spec.replicas);
  });

  it('serves from every replica behind one port, numbers each replica\'s answers, and stops them all', async () => {
    const started = await start({ target: 'echo', certPem: certs.certPem, keyPem: certs.keyPem, catalog: '', replicas: 2 });
    child = started.child;
    const { port, pids } = started.listening;
    expect(pids).toHaveLength(3);
    expect(new Set(pids).size).toBe(3);

    child.send({ type: 'record', on: true } satisfies ServerCommand);
    // Four connections, two requests each.
    const answers = await Promise.all([0, 1, 2, 3].map(() => onOneConnection(port, 2)));
    child.send({ type: 'record', on: false } satisfies ServerCommand);
    expect(answers.flat()).toEqual(Array.from({ length: 4 }, () => ['200 {"n":0}', '200 {"n":1}']).flat());

    const served = await record(child);
    expect(served.ports).toHaveLength(8);
    // Both replicas served (the primary's round robin hands a connection to the next free one, so
    // the split of four connections need not be two and two).
    expect(new Set(served.servers)).toEqual(new Set([0, 1]));
    // Each connection's answers are numbered from 0 on the replica that had it, and one replica had it.
    const byPort = new Map<number, { indexes: number[]; servers: Set<number> }>();
    served.ports.forEach((p, i) => {
      const seen = byPort.get(p) ?? { indexes: [], servers: new Set<number>() };
      seen.indexes.push(served.indexes[i] as number);
      seen.servers.add(served.servers[i] as number);
      byPort.set(p, seen);
    });
    expect(byPort.size).toBe(4);
    for (const seen of byPort.values()) {
      expect(seen.indexes.sort()).toEqual([0, 1]);
      expect(seen.servers.size).toBe(1);
    }

    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill();
    await exited;
    for (let i = 0; i < 50 && pids.some(isAlive); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pids.filter(isAlive)).toEqual([]);
  });
});
