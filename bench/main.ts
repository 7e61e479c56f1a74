/**
 * `make bench`: the single benchmark driver. Runs the read comparison (datamount, s3fs,
 * rclone mount and the direct download, under the S3 latency model), then the webhook's
 * admission benchmark (bench/webhook.ts) and the placement simulation (bench/placement.ts);
 * prints their tables and the read targets, and writes bench/results/latest.json and
 * bench/results/comparison.svg.
 * `--only` picks parts, `--quick` shrinks the sizes for a smoke run; `--help` lists the rest.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseByteQuantity } from '../common/quantity';
import { forceUnmountAll } from '../test/support/fuse-cleanup';
import { startS3Server } from '../test/support/s3-server';
import { parseBenchArgs, USAGE, type BenchConfig } from './bench-config';
import { benchDataset, MiB } from './bench-dataset';
import type { BenchReport } from './bench-report';
import { benchS3Client } from './bench-s3-client';
import { judgeTargets } from './bench-targets';
import { datamountCacheMemory, datamountPeer } from './datamount-peer';
import { ensureDataset } from './dataset-upload';
import { fuseCeilingPeer } from './fuse-ceiling-peer';
import { spawnLatencyProxy } from './latency-proxy-process';
import type { MountPeer } from './mount-peer';
import { installMissingPeers } from './peer-install';
import { DEFAULT_PLACEMENT_OPTIONS, formatPlacementTable, runPlacementBench, type PlacementOptions } from './placement';
import { rcloneFullPeer, rcloneOffPeer } from './rclone-peer';
import { runReadBench } from './read-bench';
import { READ_WORKLOADS } from './read-workloads';
import { drawChart } from './report-chart';
import { formatCpuBudget, formatMarkdownTable, formatMarkdownTargets, formatTable, formatTargets } from './report-table';
import { s3fsPeer } from './s3fs-peer';
import { formatWebhookTable, runWebhookBench } from './webhook';

const REPO = path.resolve(__dirname, '..', '..');
const S3_DATA_DIR = path.join(REPO, '.cache', 'bench-s3');

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function newReport(config: BenchConfig): BenchReport {
  return {
    startedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryBytes: os.totalmem(),
      kernel: os.release(), node: process.version,
    },
    latencyModel: { ttfbMs: config.ttfbMs, bytesPerSecondPerConnection: config.bytesPerSecond },
    dataset: { ...benchDataset(config.quick) },
    quick: config.quick,
    readers: config.readers,
    pageCacheDropped: false,
    peers: [],
    results: [],
    parts: {},
    notes: [],
  };
}

async function runReadPart(config: BenchConfig, report: BenchReport, workDir: string): Promise<void> {
  const data = benchDataset(config.quick);
  const profileDir = config.cpuProfileDir ? path.resolve(config.cpuProfileDir) : undefined;
  if (profileDir) await fs.mkdir(profileDir, { recursive: true });
  const mountPeers: readonly MountPeer[] = [datamountPeer(profileDir, config.datamountArgs), s3fsPeer, rcloneOffPeer, rcloneFullPeer, fuseCeilingPeer(config.quick)];
  const wanted = mountPeers.filter((peer) => config.peers.includes(peer.name as never));
  const needs = [wanted.some((p) => p.name === 's3fs') ? 's3fs' : '', wanted.some((p) => p.name.startsWith('rclone')) ? 'rclone' : ''].filter(Boolean);
  if (config.install) await installMissingPeers(needs, log);

  log(`S3 server: s3rver, data kept in ${path.relative(REPO, S3_DATA_DIR)}/`);
  await fs.mkdir(S3_DATA_DIR, { recursive: true });
  const server = await startS3Server({ dir: S3_DATA_DIR });
  let proxy: Awaited<ReturnType<typeof spawnLatencyProxy>> | undefined;
  try {
    const direct = benchS3Client(server.endpoint);
    await ensureDataset(direct, data, log);
    direct.destroy();
    server.resetRequests();
    proxy = await spawnLatencyProxy({ upstream: server.endpoint, ttfbMs: config.ttfbMs, bytesPerSecond: config.bytesPerSecond });
    log(`latency proxy: ${config.ttfbMs} ms to first byte, ${(config.bytesPerSecond / MiB).toFixed(0)} MiB/s per connection, at ${proxy.url}`);
    const run = await runReadBench({
      data,
      peers: wanted,
      includeDirect: config.peers.includes('direct'),
      workloads: READ_WORKLOADS.filter((w) => config.workloads.includes(w.id)),
      settings: { readers: config.readers, directConcurrency: 16, directPartBytes: 8 * MiB },
      timeoutMs: config.timeoutMs,
      workDir,
      proxy,
      env: config.childEnv,
      // What the report shows beside peak RSS, and what the RSS target allows above: the cache this run's mounts got.
      memoryCacheBytes: { datamount: parseByteQuantity(datamountCacheMemory(config.datamountArgs)) ?? 0 },
      coldRounds: config.coldRounds,
      backendPids: [server.pid, proxy.pid],
      // The server keeps a log of every request for tests; the proxy counts for the bench.
      afterEachRun: () => server.resetRequests(),
      log,
    });
    report.peers = run.peers;
    report.results = run.results;
    if (run.repeats.length > 0) report.repeats = run.repeats;
    report.pageCacheDropped = run.pageCacheDropped;
  } finally {
    await proxy?.close();
    await server.stop();
  }
}

/**
 * The placement simulation (bench/placement.ts), fed with the speeds datamount just reached
 * here (cold and warm sequential) when the read part measured them, else its stated defaults.
 */
function runPlacementPart(config: BenchConfig, report: BenchReport): void {
  const measured = (workload: string): number | undefined =>
    report.results.find((r) => r.peer === 'datamount' && r.workload === workload)?.value;
  const cold = measured('seq-cold');
  const warm = measured('seq-warm');
  const options: PlacementOptions = {
    ...DEFAULT_PLACEMENT_OPTIONS,
    ...(config.quick ? { pods: 500 } : {}),
    ...(cold !== undefined && warm !== undefined ? { coldMBps: Math.round(cold), warmMBps: Math.round(warm), speedsAssumed: false } : {}),
  };
  log('\nplacement simulation (cache-aware hints vs none)');
  const rows = runPlacementBench(options);
  log(formatPlacementTable(rows, options));
  report.parts.placement = { options, rows };
}

/** What the run's read figures add up to, worked out once for the console and the files. */
interface Verdicts {
  readonly targets: ReturnType<typeof judgeTargets>;
  /** The cold sequential runs' CPU per process, if the run has them. */
  readonly budget: string | undefined;
}

async function writeResults(config: BenchConfig, report: BenchReport, { targets, budget }: Verdicts): Promise<void> {
  const outDir = path.resolve(REPO, config.outDir);
  await fs.mkdir(outDir, { recursive: true });
  const json = path.join(outDir, 'latest.json');
  await fs.writeFile(`${json}.tmp`, `${JSON.stringify({ ...report, targets }, null, 2)}\n`);
  await fs.rename(`${json}.tmp`, json);
  if (report.results.length > 0) {
    await fs.writeFile(path.join(outDir, 'comparison.svg'), drawChart(report));
    const markdown = `${formatMarkdownTable(report)}\n\n${budget ? `\`\`\`\n${budget}\n\`\`\`\n\n` : ''}${formatMarkdownTargets(targets)}\n`;
    await fs.writeFile(path.join(outDir, 'latest.md'), markdown);
  }
  log(`\nwrote ${path.relative(REPO, json)}${report.results.length > 0 ? ` and ${path.relative(REPO, path.join(outDir, 'comparison.svg'))}` : ''}`);
}

async function main(argv: string[]): Promise<number> {
  let config: BenchConfig;
  try {
    config = parseBenchArgs(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  if (config.help) {
    log(USAGE);
    return 0;
  }
  const report = newReport(config);
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'datamount-bench-'));
  const cleanUp = async (): Promise<void> => {
    await forceUnmountAll(workDir);
    await fs.rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
  try {
    if (config.parts.includes('read')) await runReadPart(config, report, workDir);
    if (config.parts.includes('webhook')) {
      log('\nwebhook admission benchmark (bench/webhook.ts)');
      const rows = await runWebhookBench({ durationMs: config.quick ? 2000 : 5000, log });
      log(formatWebhookTable(rows));
      report.parts.webhook = rows;
    }
  } finally {
    await cleanUp();
  }
  if (config.parts.includes('placement')) runPlacementPart(config, report);
  const verdicts: Verdicts = { targets: judgeTargets(report), budget: formatCpuBudget(report) || undefined };
  if (report.results.length > 0) {
    log(`\n${formatTable(report)}${verdicts.budget ? `\n\n${verdicts.budget}` : ''}\n\ntargets (datamount, ratios within this run):\n${formatTargets(verdicts.targets)}`);
  }
  await writeResults(config, report, verdicts);
  return report.results.some((r) => r.error?.startsWith('WRONG BYTES') || r.error?.includes('WRONG BYTES')) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
