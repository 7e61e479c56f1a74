/**
 * The compiled webhook (`dist/webhook/main.js`) in its own process, as it runs in a pod: HTTPS
 * with a throwaway self-signed certificate, Datasets from an API server named by a kubeconfig
 * (the real @kubernetes/client-node adapter, which jest's CommonJS loader could not import
 * in-process) or from a catalog file. Its own process also means its own CPU, apart from the
 * load generator, and a crash shows as an exit.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/free-port';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'webhook', 'main.js');

export interface WebhookProcess {
  url: string;
  child: ChildProcess;
  /** Exit code and signal once it has exited, undefined while it runs. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Lines it wrote to stderr (the last 200). */
  stderr(): string[];
  agent: https.Agent;
  stop(): Promise<void>;
}

export interface WebhookProcessOptions {
  /** API server URL (plain HTTP); written into a kubeconfig the webhook loads. */
  apiServer?: string;
  /** A DATAMOUNT_CATALOG file instead of an API server. */
  catalogFile?: string;
  env?: Record<string, string>;
  maxSockets?: number;
}


export async function startWebhookProcess(options: WebhookProcessOptions): Promise<WebhookProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`make build\` (tsc -p tsconfig.build.json) before this suite`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'webhook-proc-'));
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=datamount-webhook.datamount-system.svc', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    DATAMOUNT_TLS_CERT: cert,
    DATAMOUNT_TLS_KEY: key,
    DATAMOUNT_PORT: String(await freePort()),
    DATAMOUNT_HOST: '127.0.0.1',
    DATAMOUNT_LOG_LEVEL: 'error',
    ...options.env,
  };
  if (options.catalogFile) env.DATAMOUNT_CATALOG = options.catalogFile;
  if (options.apiServer) {
    const kubeconfig = path.join(dir, 'kubeconfig');
    await fs.writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: options.apiServer, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'anonymous', user: {} }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'anonymous' } }],
    }));
    env.KUBECONFIG = kubeconfig;
  }

  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, signal) => {
    exit = { code, signal };
  });
  const lines: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    lines.push(...text.split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  });
  const url = `https://127.0.0.1:${env.DATAMOUNT_PORT}`;
  const agent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256, rejectUnauthorized: false });

  const stop = async (): Promise<void> => {
    agent.destroy();
    if (!exit) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise((resolve) => (exit ? resolve(undefined) : child.once('exit', resolve)));
      clearTimeout(killer);
    }
    await fs.rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exit) throw new Error(`webhook exited at start (${JSON.stringify(exit)}): ${lines.join('\n')}`);
    const status = await getStatus(url, '/healthz', agent).catch(() => 0);
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`webhook did not answer /healthz within 20 s: ${lines.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, child, exited: () => exit, stderr: () => [...lines], agent, stop };
}

export function getStatus(url: string, pathName: string, agent: https.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${url}${pathName}`, { agent }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}
