/**
 * `make demo`: the whole path on one machine, no cluster needed.
 *
 *   1. an embedded S3 server (s3rver) with a generated dataset that looks like training data;
 *   2. the real admission webhook over HTTPS, with the Dataset in its catalog file;
 *   3. `manifests/examples/pod.yaml` submitted as the API server would, and what was injected;
 *   4. the injected pod run as a kubelet would (test/support/pod-runner): the sidecar mounts the
 *      bucket with FUSE, the app container reads and checksums every file — cold, from S3;
 *   5. a second pod on the same node, placed there by the webhook's cache hints, reads it warm
 *      from the node's block cache;
 *   6. everything stopped and unmounted — also on Ctrl-C.
 *
 * Flags: `--small` (a few hundred files, for a quick look), `--fresh` (regenerate the data).
 */
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { startS3Server, type S3Server } from '../test/support/s3-server';
import { containerResult, removeNodeRoot, runPod, type PodEvent } from '../test/support/pod-runner';
import { repoRoot } from '../test/support/kubelet-images';
import { mountsUnder } from '../test/support/kubelet-volumes';
import { fuseMountsUnder } from '../test/support/fuse-cleanup';
import { admitPod } from './admission-client';
import { cacheLocations, catalogYaml } from './catalog';
import { CleanupStack } from './cleanup-stack';
import { uploadSampleDataset } from './dataset-upload';
import { exampleObjects, type ExampleObjects } from './example-objects';
import { freePort } from '../test/support/free-port';
import { injectionSummary } from './injection-summary';
import { count, mib, ProgressLine, rate } from './progress-line';
import { mismatchedKeys, parseReaderOutput, readerScript, type ReadReport } from './reader-script';
import { DEFAULT_SAMPLE, planSampleDataset, totalBytes, type SampleDatasetSpec } from './sample-dataset';
import { readSampleManifest, removeSampleManifest, writeSampleManifest } from './sample-manifest';
import { fetchMetrics, metricSum, type MetricSample } from './sidecar-metrics';
import { startWebhook, type WebhookProcess } from './webhook-process';

const BUCKET = 'datamount-demo';
const NODE = 'node-a';
const SMALL_SAMPLE: SampleDatasetSpec = { ...DEFAULT_SAMPLE, images: 300, shards: 2, shardBytes: 16 * 2 ** 20 };

interface DemoOptions {
  small: boolean;
  fresh: boolean;
}

interface ReadRun {
  report: ReadReport;
  s3Gets: number;
  s3GetBytes: number;
  metrics: MetricSample[];
  sidecarReadyS: number;
}

const say = (text = ''): void => { process.stdout.write(`${text}\n`); };
const step = (n: number, title: string): void => say(`\n[${n}/6] ${title}`);

async function main(argv: string[]): Promise<number> {
  const options: DemoOptions = { small: argv.includes('--small'), fresh: argv.includes('--fresh') };
  const unknown = argv.filter((a) => a !== '--small' && a !== '--fresh');
  if (unknown.length > 0) {
    process.stderr.write(`datamount demo: unknown argument(s) ${unknown.join(' ')}; accepted: --small, --fresh\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('datamount demo: run it as root (sudo make demo): the pod runner creates mount namespaces and the sidecar mounts FUSE\n');
    return 1;
  }
  const repo = repoRoot();
  for (const entry of ['dist/webhook/main.js', 'dist/sidecar/main.js']) {
    if (!existsSync(path.join(repo, entry))) {
      process.stderr.write(`datamount demo: ${entry} is missing; run \`make build\` first (\`make demo\` does)\n`);
      return 1;
    }
  }

  const cleanup = new CleanupStack();
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      say(`\n${signal}: stopping the pod and cleaning up (again to force)…`);
      abort.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'datamount-demo-'));
  cleanup.push('remove the work folder', () => fs.rm(workDir, { recursive: true, force: true }));
  let status = 0;
  try {
    await runDemo(repo, workDir, options, cleanup, abort.signal);
  } catch (err) {
    status = 1;
    say(abort.signal.aborted ? '\nstopped.' : `\ndemo failed: ${(err as Error).message}`);
  }
  const failures = await cleanup.runAll();
  const leftMounts = [...await mountsUnder(workDir), ...(await fuseMountsUnder(workDir)).map((m) => m.mountPoint)];
  if (failures.length > 0 || leftMounts.length > 0) {
    say(`cleanup problems: ${[...failures, ...leftMounts.map((m) => `still mounted: ${m}`)].join('; ')}`);
    return 1;
  }
  say('cleanup: pods stopped, webhook and S3 server stopped, nothing left mounted.');
  return abort.signal.aborted ? 130 : status;
}

async function runDemo(repo: string, workDir: string, options: DemoOptions, cleanup: CleanupStack, signal: AbortSignal): Promise<void> {
  const spec = options.small ? SMALL_SAMPLE : DEFAULT_SAMPLE;
  const started = Date.now();
  say('datamount demo — an S3 server, the admission webhook and a pod run as a kubelet would, all on this machine.');

  step(1, 'S3 server and sample dataset');
  const s3Dir = path.join(repo, '.cache', 'demo', options.small ? 's3-small' : 's3');
  if (options.fresh) await fs.rm(s3Dir, { recursive: true, force: true });
  await fs.mkdir(s3Dir, { recursive: true });
  const s3 = await startS3Server({ buckets: [BUCKET], dir: s3Dir });
  cleanup.push('stop the S3 server', () => s3.stop());
  say(`    s3rver at ${s3.endpoint}, bucket ${BUCKET} (data kept in ${path.relative(repo, s3Dir)})`);
  const sums = await sampleData(s3, s3Dir, spec, signal);

  const objects = exampleObjects(repo, { endpoint: s3.endpoint, bucket: BUCKET, prefix: spec.prefix }, (mountPath) => ['/bin/sh', '-c', readerScript(mountPath)]);
  const nodeRoot = path.join(workDir, NODE);
  await fs.mkdir(nodeRoot);
  cleanup.push(`remove ${NODE}`, () => removeNodeRoot(nodeRoot));

  step(2, 'admission webhook');
  const sidecarPort = await freePort();
  const catalogPath = path.join(workDir, 'catalog.yaml');
  await fs.writeFile(catalogPath, catalogYaml([objects.dataset]));
  let webhook = await startDemoWebhook(repo, workDir, catalogPath, sidecarPort, cleanup);
  say(`    datamount-webhook at ${webhook.url} (HTTPS, throwaway CA), Dataset ${objects.namespace}/${objects.datasetName} → s3://${BUCKET}/${spec.prefix}`);

  step(3, `submit the example pod (${objects.source})`);
  const cold = await admit(webhook, objects.pod, objects);

  step(4, `cold read: pod ${cold.metadata?.name} on ${NODE}, data from S3`);
  const coldRun = await readWithPod(cold, objects, nodeRoot, sidecarPort, s3, spec, sums, signal);

  step(5, `warm read: a second pod, steered to ${NODE} by its cache`);
  const cachedBytes = await blockBytes(path.join(nodeRoot, 'var/lib/datamount/cache', objects.namespace, objects.datasetName));
  say(`    ${NODE}'s node cache holds ${mib(cachedBytes)} of ${objects.namespace}/${objects.datasetName}; the reporter DaemonSet would publish that in datamount-cache-locations`);
  await fs.writeFile(catalogPath, catalogYaml([objects.dataset, cacheLocations({ [NODE]: { [`${objects.namespace}/${objects.datasetName}`]: cachedBytes } })]));
  await webhook.stop();
  webhook = await startDemoWebhook(repo, workDir, catalogPath, sidecarPort, cleanup);
  const secondPod = structuredClone(objects.pod);
  secondPod.metadata = { ...secondPod.metadata, name: `${objects.pod.metadata?.name ?? 'pod'}-warm` };
  const warm = await admit(webhook, secondPod, objects);
  const warmRun = await readWithPod(warm, objects, nodeRoot, sidecarPort, s3, spec, sums, signal);

  step(6, 'results');
  printResults(coldRun, warmRun);
  say(`    total demo time ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

async function sampleData(s3: S3Server, dir: string, spec: SampleDatasetSpec, signal: AbortSignal): Promise<Map<string, string>> {
  const plan = planSampleDataset(spec);
  const total = totalBytes(plan);
  const images = plan.filter((o) => o.key.endsWith('.jpg')).length;
  const shards = plan.filter((o) => o.key.endsWith('.tar')).length;
  const what = `${count(images)} images in ${spec.classes} class folders + ${shards} shards of ${mib(spec.shardBytes)} = ${count(plan.length)} objects, ${mib(total)}`;
  const kept = await readSampleManifest(dir, BUCKET, spec);
  if (kept) {
    say(`    reusing the sample dataset: ${what} (--fresh regenerates it)`);
    return kept;
  }
  await removeSampleManifest(dir);
  const progress = new ProgressLine();
  const began = Date.now();
  const sums = await uploadSampleDataset(spec, plan, { endpoint: s3.endpoint, bucket: BUCKET }, (done) => {
    if (signal.aborted) throw new Error('aborted');
    const seconds = (Date.now() - began) / 1000;
    progress.update(`    generating ${what}: ${count(done.objects)} objects, ${mib(done.bytes)} (${rate(done.bytes, seconds)})`);
  });
  progress.done(`    generated ${what} in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  await writeSampleManifest(dir, BUCKET, spec, sums);
  return sums;
}

async function startDemoWebhook(repo: string, workDir: string, catalogPath: string, sidecarPort: number, cleanup: CleanupStack): Promise<WebhookProcess> {
  const webhook = await startWebhook({
    repoRoot: repo,
    catalogPath,
    workDir: path.join(workDir, 'webhook-tls'),
    env: { DATAMOUNT_SIDECAR_PORT: String(sidecarPort), DATAMOUNT_LOG_LEVEL: 'warn' },
  });
  cleanup.push('stop the webhook', () => webhook.stop());
  return webhook;
}

async function admit(webhook: WebhookProcess, pod: IPod, objects: ExampleObjects): Promise<IPod> {
  const outcome = await admitPod(webhook, pod, objects.namespace);
  if (!outcome.allowed) throw new Error(`the webhook denied the pod (${outcome.code}): ${outcome.message}`);
  say(`    AdmissionReview CREATE pods ${objects.namespace}/${pod.metadata?.name} → allowed, JSON patch of ${outcome.patch.length} operations:`);
  for (const line of injectionSummary(pod, outcome.pod)) say(`      ${line}`);
  for (const warning of outcome.warnings) say(`      warning: ${warning}`);
  return outcome.pod;
}

async function readWithPod(
  pod: IPod, objects: ExampleObjects, nodeRoot: string, sidecarPort: number,
  s3: S3Server, spec: SampleDatasetSpec, sums: ReadonlyMap<string, string>, signal: AbortSignal,
): Promise<ReadRun> {
  s3.resetRequests();
  const progress = new ProgressLine();
  const began = Date.now();
  let filesRead = 0;
  let sidecarReadyS = 0;
  let metrics: MetricSample[] = [];
  const onEvent = (event: PodEvent): void => {
    const at = ((event.time.getTime() - began) / 1000).toFixed(1);
    if (event.reason === 'Started' && event.message.startsWith('startupProbe passed')) {
      sidecarReadyS = Number(at);
      progress.done(`    ${at} s  ${event.object} ready: dataset mounted at ${objects.mountPath} (startupProbe passed)`);
    } else if (event.reason === 'Started' && event.object === objects.appContainer) {
      progress.done(`    ${at} s  ${event.object} started: find | xargs -P 4 sha256sum over ${objects.mountPath}`);
    } else if (event.type === 'Warning' && event.reason !== 'Unhealthy') {
      progress.done(`    ${at} s  ${event.object}: ${event.reason} ${event.message}`);
    }
  };
  const onLog = (container: string, stream: 'stdout' | 'stderr', text: string): void => {
    if (container !== objects.appContainer || stream !== 'stdout') return;
    filesRead += text.split('\n').filter((line) => /^[0-9a-f]{64} /.test(line)).length;
    progress.update(`    reading: ${count(filesRead)}/${count(sums.size)} files (${((Date.now() - began) / 1000).toFixed(0)} s)`);
  };
  const result = await runPod({
    pod, nodeRoot, nodeName: NODE, secrets: [objects.secret], signal, onEvent, onLog, timeoutMs: 600_000, maxStartupMs: 60_000,
    beforeTeardown: async () => { metrics = await fetchMetrics(sidecarPort).catch(() => []); },
  });
  const app = result.containers.find((c) => c.name === objects.appContainer);
  if (result.phase !== 'Succeeded' || !app) {
    const sidecarLog = result.containers.find((c) => c.kind === 'sidecar')?.stderr.split('\n').slice(-8).join('\n      ') ?? '';
    throw new Error(`pod ${result.phase}: ${result.reason ?? ''} ${result.message ?? ''}\n    app stderr: ${app?.stderr.slice(-800) ?? '(not started)'}\n    sidecar log:\n      ${sidecarLog}`);
  }
  const report = parseReaderOutput(containerResult(result, objects.appContainer).stdout);
  const wrong = mismatchedKeys(report, sums, spec.prefix);
  if (wrong.length > 0) throw new Error(`${wrong.length} file(s) read differ from the bucket, e.g. ${wrong.slice(0, 3).join(', ')}`);
  await s3.settle();
  const gets = s3.requests.filter((r) => r.method === 'GET' && r.key !== '' && !r.query.includes('list-type'));
  const s3GetBytes = gets.reduce((sum, r) => sum + rangeBytes(r.range), 0);
  progress.done(`    ${((Date.now() - began) / 1000).toFixed(1)} s  pod Succeeded: ${count(report.files)} files, ${mib(report.bytes)} in ${report.seconds.toFixed(1)} s = ${rate(report.bytes, report.seconds)}; every sha256 matches the bucket`);
  return { report, s3Gets: gets.length, s3GetBytes, metrics, sidecarReadyS };
}

function rangeBytes(range: string | undefined): number {
  const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
  return match ? Number(match[2]) - Number(match[1]) + 1 : 0;
}

function printResults(cold: ReadRun, warm: ReadRun): void {
  const row = (label: string, run: ReadRun): string => {
    const hits = metricSum(run.metrics, 'datamount_cache_hits_total');
    const diskHits = metricSum(run.metrics, 'datamount_cache_hits_total', { tier: 'disk' });
    const misses = metricSum(run.metrics, 'datamount_cache_misses_total');
    const fromS3 = metricSum(run.metrics, 'datamount_s3_bytes_read_total');
    return [
      label.padEnd(22),
      count(run.report.files).padStart(6),
      mib(run.report.bytes).padStart(9),
      `${run.report.seconds.toFixed(1)} s`.padStart(7),
      rate(run.report.bytes, run.report.seconds).padStart(9),
      count(run.s3Gets).padStart(8),
      mib(fromS3).padStart(9),
      `${count(hits)} (${count(diskHits)} disk) / ${count(misses)}`.padStart(22),
    ].join('  ');
  };
  say(`    ${'pod'.padEnd(22)}  ${'files'.padStart(6)}  ${'bytes'.padStart(9)}  ${'time'.padStart(7)}  ${'rate'.padStart(9)}  ${'S3 GETs'.padStart(8)}  ${'from S3'.padStart(9)}  ${'cache hits / misses'.padStart(22)}`);
  say(`    ${row('cold (from S3)', cold)}`);
  say(`    ${row('warm (node cache)', warm)}`);
  const speedup = cold.report.seconds / Math.max(warm.report.seconds, 1e-3);
  say(`    warm read ${speedup.toFixed(1)}× faster; S3 GETs ${count(cold.s3Gets)} → ${count(warm.s3Gets)}`);
}

async function blockBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith('.blk')) {
      total += (await fs.stat(path.join(entry.parentPath ?? dir, entry.name)).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`datamount demo: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
