/**
 * The real admission webhook (`dist/webhook/main.js`) as a child process, the way the demo and
 * the end-to-end tests meet it: HTTPS with a throwaway CA and serving certificate (from
 * certs/tls-bundle, SANs `datamount-webhook`, `.datamount-system`, `.datamount-system.svc`),
 * Datasets from a catalog file, and a client that verifies the certificate against that CA under
 * the name the API server would use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { issueTlsBundle } from '../certs/tls-bundle';
import { DEFAULT_SERVICE } from '../certs/service-names';
import { freePort } from '../test/support/free-port';

/** The name the API server dials and verifies (`<service>.<namespace>.svc`). */
export const WEBHOOK_SERVER_NAME = `${DEFAULT_SERVICE.name}.${DEFAULT_SERVICE.namespace}.svc`;

export interface WebhookProcessOptions {
  repoRoot: string;
  catalogPath: string;
  /** Folder for the certificate files. */
  workDir: string;
  /** Extra configuration (DATAMOUNT_SIDECAR_PORT, …). */
  env?: Record<string, string>;
  onLog?: (line: string) => void;
}

export interface WebhookProcess {
  url: string;
  caPem: string;
  agent: https.Agent;
  process: ChildProcess;
  /** Everything the webhook printed. */
  output(): string;
  stop(): Promise<void>;
}

export async function startWebhook(options: WebhookProcessOptions): Promise<WebhookProcess> {
  const entry = path.join(options.repoRoot, 'dist', 'webhook', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`make build\` (npx tsc -p tsconfig.build.json) first`);
  const tls = await issueTlsBundle({ service: DEFAULT_SERVICE, now: new Date() });
  await fs.mkdir(options.workDir, { recursive: true });
  const certPath = path.join(options.workDir, 'tls.crt');
  const keyPath = path.join(options.workDir, 'tls.key');
  await fs.writeFile(certPath, tls.certPem);
  await fs.writeFile(keyPath, tls.keyPem, { mode: 0o600 });
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    env: {
      PATH: process.env.PATH,
      DATAMOUNT_TLS_CERT: certPath,
      DATAMOUNT_TLS_KEY: keyPath,
      DATAMOUNT_PORT: String(port),
      DATAMOUNT_HOST: '127.0.0.1',
      DATAMOUNT_CATALOG: options.catalogPath,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (text: string) => {
      output += text;
      for (const line of text.split('\n')) if (line.trim()) options.onLog?.(line);
    });
  }
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const agent = new https.Agent({ ca: tls.caPem, servername: WEBHOOK_SERVER_NAME, keepAlive: true });
  const webhook: WebhookProcess = {
    url: `https://127.0.0.1:${port}`,
    caPem: tls.caPem,
    agent,
    process: child,
    output: () => output,
    stop: async () => {
      agent.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  try {
    await waitUntilReady(webhook, exited);
  } catch (err) {
    await webhook.stop();
    throw new Error(`${(err as Error).message}\nwebhook output:\n${output}`);
  }
  return webhook;
}

/** GET over HTTPS with the webhook's CA; resolves with status and body. */
export function webhookGet(webhook: WebhookProcess, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(urlPath, webhook.url), { agent: webhook.agent, servername: WEBHOOK_SERVER_NAME }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function waitUntilReady(webhook: WebhookProcess, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => { gone = true; });
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    if (gone) throw new Error('the webhook exited during start-up');
    try {
      const { status, body } = await webhookGet(webhook, '/readyz');
      if (status === 200) return;
      last = `HTTP ${status} ${body.trim()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the webhook did not become ready within 20 s (last: ${last})`);
}
