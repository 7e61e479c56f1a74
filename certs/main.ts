/**
 * `datamount-certs`: the webhook's CA and serving certificate, as files and Secret YAML
 * (`generate`) or kept current in the cluster (`ensure`). Exit codes: 0 done, 1 failed, 2 usage.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureCertificates } from './ensure-certificates';
import { KubeRest, inClusterKubeRest } from './kube-rest';
import { toBase64 } from './pem';
import { USAGE, UsageError, parseCliOptions, type EnsureOptions, type GenerateOptions } from './cli-options';
import { issueTlsBundle } from './tls-bundle';
import { tlsSecretYaml } from './tls-secret';

function log(message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), msg: message, ...fields })}\n`);
}

async function generate(options: GenerateOptions): Promise<void> {
  const bundle = await issueTlsBundle({ service: options.service, now: new Date(), keyBits: options.keyBits });
  if (options.outDir !== undefined) {
    await mkdir(options.outDir, { recursive: true });
    await writeFile(path.join(options.outDir, 'ca.crt'), bundle.caPem);
    await writeFile(path.join(options.outDir, 'tls.crt'), bundle.certPem);
    await writeFile(path.join(options.outDir, 'tls.key'), bundle.keyPem, { mode: 0o600 });
    log('wrote ca.crt, tls.crt, tls.key', { dir: options.outDir });
  }
  if (options.secretYaml !== undefined) {
    await mkdir(path.dirname(options.secretYaml), { recursive: true });
    await writeFile(options.secretYaml, tlsSecretYaml(options.secret, bundle), { mode: 0o600 });
    log('wrote the Secret', { file: options.secretYaml, secret: `${options.secret.namespace}/${options.secret.name}` });
  }
  process.stdout.write(`${toBase64(bundle.caPem)}\n`);
}

async function ensure(options: EnsureOptions): Promise<void> {
  const kube = options.server !== undefined
    ? new KubeRest({ baseUrl: options.server })
    : await inClusterKubeRest({ host: options.kubernetesHost, port: options.kubernetesPort });
  const result = await ensureCertificates(
    { kube, now: () => new Date(), issue: (service, now) => issueTlsBundle({ service, now }), log },
    { service: options.service, secret: options.secret, webhookConfig: options.webhookConfig },
  );
  log(`certificates ${result.action}`, {
    ...(result.reason === undefined ? {} : { reason: result.reason }),
    secret: `${options.secret.namespace}/${options.secret.name}`,
    webhookConfig: options.webhookConfig,
    patchedWebhooks: result.patchedWebhooks,
  });
}

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseCliOptions(argv, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`datamount-certs: ${err.message}\n`);
    return 2;
  }
  try {
    if (options.command === 'help') process.stdout.write(`${USAGE}\n`);
    else if (options.command === 'generate') await generate(options);
    else await ensure(options);
    return 0;
  } catch (err) {
    log('failed', { error: err instanceof Error ? err.message : String(err) });
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`datamount-certs: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
