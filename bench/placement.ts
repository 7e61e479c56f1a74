/**
 * `bench/placement`: does telling the scheduler where the caches are pay off? A discrete-event
 * simulation of a cluster (nodes with pod slots and an LRU node cache each), a seeded stream of
 * training pods reading Zipf-popular datasets for a few epochs, and three ways of admitting
 * them: no hints, `preferred` hints and `required` hints.
 *
 * Only the scheduler and the disks are modelled; the decisions are the product's own code: every
 * node's report is the sidecar reporter's `formatCacheReport`, published every report interval,
 * read back through the webhook's `parseCacheLocations` and turned into affinity by the webhook's
 * `planCacheHints` when the pod is admitted (with the webhook's default TTL and node count).
 * The scheduler model is in placement-scheduler.ts.
 *
 * Time per epoch = warm bytes / warm speed + cold bytes / cold speed, per pod (pods on one node are
 * assumed not to share bandwidth). The defaults for the speeds are ASSUMED (cold 300 MB/s from
 * S3, warm 1,500 MB/s from the node cache) until the read benchmark's figures replace them:
 * pass `--cold-mbps` and `--warm-mbps`.
 *
 * Run: `node dist/bench/placement.js [--help]`; the bench driver calls `runPlacementBench`.
 */
import { parseByteQuantity, QUANTITY_HELP } from '../common/quantity';
import { type CacheAffinityMode, type NodeCacheReport, parseCacheLocations, planCacheHints } from '../webhook/cache-hints';
import { SimNode } from './placement-cluster';
import { scheduleOnto } from './placement-scheduler';
import { generateWorkload, GiB, type SimDataset, type SimPod, withArrivals, type WorkloadOptions } from './placement-workload';
import { seededRandom } from '../common/seeded-random';

/** The cluster and scheduling model on top of the workload's own options (seed, datasets, pods, …). */
export interface PlacementOptions extends WorkloadOptions {
  nodes: number;
  slotsPerNode: number;
  cacheBytesPerNode: number;
  segmentBytes: number;
  /** Arrivals are paced so the cluster would be this busy without any cache. */
  utilization: number;
  coldMBps: number;
  warmMBps: number;
  /** True when the speeds are the assumed defaults, not measured ones. */
  speedsAssumed: boolean;
  reportIntervalS: number;
  ttlS: number;
  maxNodes: number;
  modes: CacheAffinityMode[];
}

export const DEFAULT_PLACEMENT_OPTIONS: Readonly<PlacementOptions> = Object.freeze<PlacementOptions>({
  seed: 42,
  nodes: 50,
  slotsPerNode: 4,
  cacheBytesPerNode: 200 * GiB,
  segmentBytes: GiB,
  datasets: 30,
  minDatasetGiB: 1,
  maxDatasetGiB: 250,
  zipf: 1,
  pods: 2000,
  twoDatasetShare: 0.15,
  minEpochs: 1,
  maxEpochs: 5,
  utilization: 0.7,
  coldMBps: 300,
  warmMBps: 1500,
  speedsAssumed: true,
  reportIntervalS: 30,
  ttlS: 600,
  maxNodes: 3,
  modes: ['none', 'preferred', 'required'],
});

export interface PlacementRow {
  mode: CacheAffinityMode;
  podsCompleted: number;
  bytesRead: number;
  warmBytes: number;
  /** Bytes fetched from S3 (cache misses). */
  s3Bytes: number;
  /** warmBytes / bytesRead. */
  hitRatio: number;
  meanEpochS: number;
  meanFirstEpochS: number;
  meanWaitS: number;
  makespanS: number;
  /** Pods that got hints, and the share of them bound to a node their hints named. */
  hintedPods: number;
  onHintedNode: number;
}

/** Simulation time 0, as a wall-clock date for the reports' `updated` field. */
const EPOCH_MS = Date.parse('2026-01-01T00:00:00Z');
const MB = 1e6;

interface Running {
  pod: SimPod;
  node: SimNode;
  epoch: number;
}

/** A binary min-heap of epoch ends by time. */
class EventHeap {
  private readonly items: Array<{ at: number; seq: number; run: Running }> = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  peekTime(): number {
    return this.items[0]?.at ?? Number.POSITIVE_INFINITY;
  }

  push(at: number, run: Running): void {
    const items = this.items;
    items.push({ at, seq: (this.seq += 1), run });
    for (let i = items.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { at: number; run: Running } | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined) return undefined;
    if (items.length > 0) {
      items[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && this.less(l, m)) m = l;
        if (r < items.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    const x = this.items[a];
    const y = this.items[b];
    return x !== undefined && y !== undefined && (x.at < y.at || (x.at === y.at && x.seq < y.seq));
  }

  private swap(a: number, b: number): void {
    const x = this.items[a];
    const y = this.items[b];
    if (x === undefined || y === undefined) return;
    this.items[a] = y;
    this.items[b] = x;
  }
}

function simulate(mode: CacheAffinityMode, pods: SimPod[], datasets: Map<string, SimDataset>, options: PlacementOptions): PlacementRow {
  const nodes = Array.from({ length: options.nodes }, (_, i) =>
    new SimNode(`node-${String(i + 1).padStart(2, '0')}`, options.slotsPerNode, options.cacheBytesPerNode, options.segmentBytes));
  const random = seededRandom(options.seed + 1);
  const coldBps = options.coldMBps * MB;
  const warmBps = options.warmMBps * MB;
  const ends = new EventHeap();
  const queue: Array<{ pod: SimPod; affinity: Record<string, unknown> | undefined; hinted: Set<string> }> = [];
  let reports: NodeCacheReport[] = [];
  let reportTick = -1;
  const row: PlacementRow = {
    mode, podsCompleted: 0, bytesRead: 0, warmBytes: 0, s3Bytes: 0, hitRatio: 0,
    meanEpochS: 0, meanFirstEpochS: 0, meanWaitS: 0, makespanS: 0, hintedPods: 0, onHintedNode: 0,
  };
  let epochs = 0;
  let epochSeconds = 0;
  let firstEpochSeconds = 0;
  let waitSeconds = 0;
  let onHinted = 0;

  // The ConfigMap as the webhook sees it at `t`: every reporter published at the last tick.
  const refreshReports = (t: number): void => {
    const tick = Math.floor(t / options.reportIntervalS);
    if (tick === reportTick) return;
    reportTick = tick;
    const at = new Date(EPOCH_MS + tick * options.reportIntervalS * 1000);
    reports = parseCacheLocations(Object.fromEntries(nodes.map((node) => [node.name, node.report(at)])));
  };

  const startEpoch = (run: Running, t: number): void => {
    let bytes = 0;
    let warm = 0;
    for (const key of run.pod.datasets) {
      const size = datasets.get(key)?.bytes ?? 0;
      bytes += size;
      warm += run.node.readDataset(key, size);
    }
    const seconds = warm / warmBps + (bytes - warm) / coldBps;
    row.bytesRead += bytes;
    row.warmBytes += warm;
    epochs += 1;
    epochSeconds += seconds;
    if (run.epoch === 0) firstEpochSeconds += seconds;
    ends.push(t + seconds, run);
  };

  const trySchedule = (t: number): void => {
    for (let i = 0; i < queue.length;) {
      if (nodes.every((node) => node.running >= node.slots)) return;
      const waiting = queue[i];
      if (waiting === undefined) break;
      const node = scheduleOnto(nodes, waiting.affinity, random);
      if (node === undefined) {
        i += 1;
        continue;
      }
      queue.splice(i, 1);
      node.running += 1;
      waitSeconds += t - waiting.pod.arrivalS;
      if (waiting.hinted.has(node.name)) onHinted += 1;
      startEpoch({ pod: waiting.pod, node, epoch: 0 }, t);
    }
  };

  let next = 0;
  let now = 0;
  while (next < pods.length || ends.size > 0) {
    const arrival = pods[next];
    if (ends.peekTime() <= (arrival?.arrivalS ?? Number.POSITIVE_INFINITY)) {
      const end = ends.pop();
      if (end === undefined) break;
      now = end.at;
      refreshReports(now);
      const run = end.run;
      run.epoch += 1;
      if (run.epoch < run.pod.epochs) {
        startEpoch(run, now);
      } else {
        run.node.running -= 1;
        row.podsCompleted += 1;
        trySchedule(now);
      }
      continue;
    }
    if (arrival === undefined) break;
    next += 1;
    now = arrival.arrivalS;
    refreshReports(now);
    let affinity: Record<string, unknown> | undefined;
    const hinted = new Set<string>();
    if (mode !== 'none') {
      const plan = planCacheHints({
        podSpec: {},
        datasetKeys: arrival.datasets,
        datasetSizes: Object.fromEntries(arrival.datasets.map((key) => [key, datasets.get(key)?.bytes ?? 0])),
        reports,
        mode,
        now: new Date(EPOCH_MS + now * 1000),
        ttlMs: options.ttlS * 1000,
        maxNodes: options.maxNodes,
      });
      affinity = plan.affinity;
      for (const entry of plan.annotation?.split(',') ?? []) hinted.add(entry.slice(0, entry.lastIndexOf('=')));
      if (hinted.size > 0) row.hintedPods += 1;
    }
    queue.push({ pod: arrival, affinity, hinted });
    trySchedule(now);
  }

  row.s3Bytes = row.bytesRead - row.warmBytes;
  row.hitRatio = row.bytesRead > 0 ? row.warmBytes / row.bytesRead : 0;
  row.meanEpochS = epochs > 0 ? epochSeconds / epochs : 0;
  row.meanFirstEpochS = pods.length > 0 ? firstEpochSeconds / pods.length : 0;
  row.meanWaitS = pods.length > 0 ? waitSeconds / pods.length : 0;
  row.makespanS = now;
  row.onHintedNode = row.hintedPods > 0 ? onHinted / row.hintedPods : 0;
  if (queue.length > 0) throw new Error(`${queue.length} pod(s) never scheduled in mode ${mode}`);
  return row;
}

/** Runs the simulation once per mode, on the same workload and arrival stream. */
export function runPlacementBench(overrides: Partial<PlacementOptions> = {}): PlacementRow[] {
  const options: PlacementOptions = { ...DEFAULT_PLACEMENT_OPTIONS, ...overrides };
  const workload = generateWorkload(options);
  const datasets = new Map(workload.datasets.map((d) => [d.key, d]));
  // Pace arrivals from the cold-cache duration of the average pod: first epoch from S3, the rest warm.
  const meanPodSeconds = workload.pods.reduce((sum, pod) => {
    const bytes = pod.datasets.reduce((s, key) => s + (datasets.get(key)?.bytes ?? 0), 0);
    return sum + bytes / (options.coldMBps * MB) + ((pod.epochs - 1) * bytes) / (options.warmMBps * MB);
  }, 0) / Math.max(1, workload.pods.length);
  const perSecond = (options.utilization * options.nodes * options.slotsPerNode) / meanPodSeconds;
  const pods = withArrivals(workload.pods, perSecond, options.seed);
  return options.modes.map((mode) => simulate(mode, pods, datasets, options));
}

const TiB = 2 ** 40;

function fixed(value: number, digits: number): string {
  return value.toFixed(digits);
}

/** The results as a plain-text table, first row the baseline the others are compared with. */
export function formatPlacementTable(rows: PlacementRow[], options: PlacementOptions): string {
  const base = rows[0];
  const header = ['hints', 'hit ratio', 'from S3 (TiB)', 'epoch (s)', 'vs none', 'first epoch (s)', 'wait (s)', 'on hinted node'];
  const lines = rows.map((row) => [
    row.mode,
    `${fixed(row.hitRatio * 100, 1)}%`,
    fixed(row.s3Bytes / TiB, 2),
    fixed(row.meanEpochS, 1),
    base === undefined || row === base ? '' : `${fixed(((row.meanEpochS - base.meanEpochS) / base.meanEpochS) * 100, 1)}%`,
    fixed(row.meanFirstEpochS, 1),
    fixed(row.meanWaitS, 1),
    row.hintedPods > 0 ? `${fixed(row.onHintedNode * 100, 0)}% of ${row.hintedPods}` : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const render = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  const speeds = `cold ${options.coldMBps} MB/s, warm ${options.warmMBps} MB/s${options.speedsAssumed ? ' (ASSUMED defaults, not measured)' : ''}`;
  return [
    `placement simulation: ${options.nodes} nodes × ${options.slotsPerNode} slots, ${options.cacheBytesPerNode / GiB} GiB LRU cache each;`
      + ` ${options.datasets} datasets ${options.minDatasetGiB}–${options.maxDatasetGiB} GiB, Zipf ${options.zipf};`
      + ` ${options.pods} pods, ${options.minEpochs}–${options.maxEpochs} epochs, target load ${options.utilization}; seed ${options.seed}; ${speeds}`,
    render(header),
    ...lines.map(render),
  ].join('\n');
}

export const PLACEMENT_USAGE = `usage: node dist/bench/placement.js [options]
  --seed N            random seed (default ${DEFAULT_PLACEMENT_OPTIONS.seed})
  --seeds N           run N seeds from --seed on and print their means (default 1)
  --nodes N           nodes (default ${DEFAULT_PLACEMENT_OPTIONS.nodes})
  --slots N           pods per node (default ${DEFAULT_PLACEMENT_OPTIONS.slotsPerNode})
  --cache Q           node cache size, a quantity (default 200Gi)
  --datasets N        datasets (default ${DEFAULT_PLACEMENT_OPTIONS.datasets})
  --zipf X            popularity exponent (default ${DEFAULT_PLACEMENT_OPTIONS.zipf})
  --pods N            pods in the stream (default ${DEFAULT_PLACEMENT_OPTIONS.pods})
  --load X            target cluster load 0–1 (default ${DEFAULT_PLACEMENT_OPTIONS.utilization})
  --cold-mbps N       read speed from S3 per pod, MB/s (default ${DEFAULT_PLACEMENT_OPTIONS.coldMBps}, assumed)
  --warm-mbps N       read speed from the node cache per pod, MB/s (default ${DEFAULT_PLACEMENT_OPTIONS.warmMBps}, assumed)
  --max-nodes N       nodes named in hints (default ${DEFAULT_PLACEMENT_OPTIONS.maxNodes})
  --modes LIST        comma list of none, preferred, required (default all; the first is the baseline)`;

/** Parses the command line; every bad flag is named in one error. */
export function parsePlacementArgs(argv: readonly string[]): (Partial<PlacementOptions> & { seeds?: number }) | 'help' {
  const options: Partial<PlacementOptions> & { seeds?: number } = {};
  const problems: string[] = [];
  const number = (flag: string, text: string, check: (n: number) => boolean, accepted: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || !check(value)) problems.push(`${flag} "${text}": expected ${accepted}`);
    return value;
  };
  const whole = (n: number): boolean => Number.isInteger(n) && n > 0;
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] ?? '';
    if (flag === '--help' || flag === '-h') return 'help';
    const value = argv[(i += 1)];
    if (value === undefined) {
      problems.push(`${flag} needs a value`);
      break;
    }
    switch (flag) {
      case '--seed': options.seed = number(flag, value, Number.isInteger, 'a whole number'); break;
      case '--seeds': options.seeds = number(flag, value, whole, 'a positive whole number'); break;
      case '--nodes': options.nodes = number(flag, value, whole, 'a positive whole number'); break;
      case '--slots': options.slotsPerNode = number(flag, value, whole, 'a positive whole number'); break;
      case '--datasets': options.datasets = number(flag, value, whole, 'a positive whole number'); break;
      case '--pods': options.pods = number(flag, value, whole, 'a positive whole number'); break;
      case '--max-nodes': options.maxNodes = number(flag, value, whole, 'a positive whole number'); break;
      case '--zipf': options.zipf = number(flag, value, (n) => n >= 0, 'a number ≥ 0'); break;
      case '--load': options.utilization = number(flag, value, (n) => n > 0 && n <= 1, 'a number above 0, at most 1'); break;
      case '--cold-mbps': options.coldMBps = number(flag, value, (n) => n > 0, 'MB/s above 0'); options.speedsAssumed = false; break;
      case '--warm-mbps': options.warmMBps = number(flag, value, (n) => n > 0, 'MB/s above 0'); options.speedsAssumed = false; break;
      case '--cache': {
        const bytes = parseByteQuantity(value);
        if (bytes === undefined || bytes <= 0) problems.push(`--cache "${value}": expected ${QUANTITY_HELP}`);
        else options.cacheBytesPerNode = bytes;
        break;
      }
      case '--modes': {
        const modes = value.split(',').map((m) => m.trim());
        const bad = modes.filter((m) => !['none', 'preferred', 'required'].includes(m));
        if (bad.length > 0 || modes.length === 0) problems.push(`--modes "${value}": expected a comma list of none, preferred, required`);
        else options.modes = modes as CacheAffinityMode[];
        break;
      }
      default:
        problems.push(`unknown flag ${JSON.stringify(flag)}`);
    }
  }
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\n${PLACEMENT_USAGE}`);
  return options;
}

function main(argv: string[]): number {
  let parsed: ReturnType<typeof parsePlacementArgs>;
  try {
    parsed = parsePlacementArgs(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(`${PLACEMENT_USAGE}\n`);
    return 0;
  }
  const { seeds = 1, ...rest } = parsed;
  const options = { ...DEFAULT_PLACEMENT_OPTIONS, ...rest };
  const started = Date.now();
  const runs: PlacementRow[][] = [];
  for (let i = 0; i < seeds; i += 1) {
    const seeded = { ...options, seed: options.seed + i };
    const rows = runPlacementBench(seeded);
    runs.push(rows);
    process.stdout.write(`${formatPlacementTable(rows, seeded)}\n\n`);
  }
  if (seeds > 1) process.stdout.write(`${formatSweepSummary(runs)}\n`);
  process.stdout.write(`(simulated in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  return 0;
}

/** Means over several seeds, per mode: the spread between seeds is as telling as the mean. */
export function formatSweepSummary(runs: PlacementRow[][]): string {
  const modes = runs[0]?.map((row) => row.mode) ?? [];
  const lines = [`over ${runs.length} seeds (mean, min–max):`];
  for (const [i, mode] of modes.entries()) {
    const rows = runs.map((r) => r[i]).filter((row): row is PlacementRow => row !== undefined);
    const stat = (f: (row: PlacementRow, run: PlacementRow[]) => number, scale = 1, digits = 1): string => {
      const values = rows.map((row, k) => f(row, runs[k] ?? []) * scale);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return `${mean.toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
    };
    const vsBase = (row: PlacementRow, run: PlacementRow[]): number => (run[0] === undefined ? 0 : (row.meanEpochS - run[0].meanEpochS) / run[0].meanEpochS);
    lines.push(`  ${mode.padStart(9)}: hit ratio ${stat((r) => r.hitRatio, 100)}%, from S3 ${stat((r) => r.s3Bytes / TiB, 1, 1)} TiB,`
      + ` epoch ${stat((r) => r.meanEpochS)} s${i === 0 ? '' : ` = ${stat(vsBase, 100)}% vs ${modes[0] ?? ''}`}, wait ${stat((r) => r.meanWaitS)} s`);
  }
  return lines.join('\n');
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
