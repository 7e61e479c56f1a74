/**
 * `datamount-webhook`: read the configuration, open the Dataset catalog (the API server, or a
 * YAML file when DATAMOUNT_CATALOG is set), and serve HTTPS until SIGTERM. Start-up failures
 * (bad configuration, unreadable certificate, unreachable catalog file) exit with status 1 and
 * a message that names what to fix.
 */
import { parseCacheLocations } from './cache-hints';
import type { DatasetCatalog } from './catalog';
import { loadCatalogFile } from './catalog-file';
import { startKubeCatalog } from './catalog-kube';
import { loadConfig, type WebhookConfig } from './config';
import { describeError } from './errors';
import { createKubeClient } from './kube-client';
import { WebhookMetrics } from './metrics';
import { buildServer } from './server';
import { TlsReloader } from './tls-reloader';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

async function openCatalog(config: WebhookConfig, log: Log): Promise<DatasetCatalog> {
  if (config.catalogPath) {
    const catalog = await loadCatalogFile(config.catalogPath, (msg, fields) => log('warn', msg, fields));
    log('info', 'Dataset catalog read from file', { path: config.catalogPath, datasets: catalog.datasetCount(), cacheReports: parseCacheLocations(catalog.cacheLocations()).length });
    return catalog;
  }
  const client = await createKubeClient();
  return startKubeCatalog({ client, namespace: config.namespace, log });
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let config: WebhookConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    process.stderr.write(`datamount-webhook: ${describeError(err)}\n`);
    return 1;
  }

  const catalogRef: { current?: DatasetCatalog } = {};
  const metrics = new WebhookMetrics({
    catalogSynced: () => catalogRef.current?.isSynced() ?? false,
    catalogDatasets: () => catalogRef.current?.datasetCount() ?? 0,
  });
  let app: ReturnType<typeof buildServer> | undefined;
  let reloader: TlsReloader | undefined;
  try {
    // Before the server (and its logger) exists, start-up messages go to stderr as JSON lines.
    const log: Log = (level, msg, fields) => {
      if (app) app.log[level]({ ...fields }, msg);
      else process.stderr.write(`${JSON.stringify({ level, msg, ...fields })}\n`);
    };
    reloader = new TlsReloader({
      certPath: config.tlsCert,
      keyPath: config.tlsKey,
      apply: (pair) => (app?.server as unknown as { setSecureContext(o: object): void }).setSecureContext(pair),
      log,
      onReload: (result) => metrics.recordTlsReload(result),
    });
    const pair = await reloader.load();
    const catalog = await openCatalog(config, log);
    catalogRef.current = catalog;
    app = buildServer({ config, catalog, metrics, https: pair, logger: { level: config.logLevel } });
    reloader.start();
    const server = app;
    const shutdown = (signal: string): void => {
      server.log.info({ signal }, 'shutting down');
      reloader?.stop();
      void server.close().then(() => catalog.close()).then(() => process.exit(0));
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
    await app.listen({ port: config.port, host: config.host });
    return 0;
  } catch (err) {
    reloader?.stop();
    await app?.close();
    process.stderr.write(`datamount-webhook: cannot start: ${describeError(err)}\n`);
    return 1;
  }
}

// This module is the program: run whether it is node's entry point or required by the
// bin/datamount-webhook shim (where require.main is the shim). Nothing imports it.
void main().then((code) => {
  if (code !== 0) process.exit(code);
});
