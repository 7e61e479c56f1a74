/**
 * The targets of issues 3 and 8, judged on one report: ratios within the same run, since the
 * machine is shared and absolute figures drift. A target whose inputs are missing (a peer
 * skipped, a run failed) is "not measured", never passed.
 */
import { DIRECT, REFERENCE_PEERS, type BenchReport, type WorkloadResult } from './bench-report';
import type { WorkloadId } from './read-workloads';

export const SUBJECT = 'datamount';
/** Stated overhead of the sidecar above its memory cache: Node runtime, SDK, FUSE buffers, prefetch in flight. */
export const MEMORY_OVERHEAD_BYTES = 256 * 2 ** 20;

export interface TargetVerdict {
  target: string;
  /** undefined: not measured in this run. */
  met?: boolean;
  detail: string;
}

function valueOf(report: BenchReport, peer: string, workload: WorkloadId): number | undefined {
  return report.results.find((r) => r.peer === peer && r.workload === workload)?.value;
}

function ratioTarget(report: BenchReport, target: string, workload: WorkloadId, other: string, factor: number): TargetVerdict {
  const mine = valueOf(report, SUBJECT, workload);
  const theirs = valueOf(report, other, workload);
  if (mine === undefined || theirs === undefined) return { target, detail: `not measured (${mine === undefined ? SUBJECT : other} has no ${workload} figure)` };
  const ratio = mine / theirs;
  return { target, met: ratio >= factor, detail: `${ratio.toFixed(2)}× (${mine.toFixed(1)} vs ${theirs.toFixed(1)})` };
}

/**
 * The cold sequential target over the pairs run back to back (`BenchReport.repeats`), judged on
 * the median ratio; every pair is listed, in the order they ran. The peers' table's cold runs
 * are shown beside it but do not count: they are minutes apart (direct's other workloads ran in
 * between), so they compare two states of the machine as much as two readers. Without pairs
 * (`--quick`, `--cold-pairs 0`), the peers' table is all there is, and `ratioTarget` judges it.
 */
function coldPairsTarget(report: BenchReport, target: string, factor: number): TargetVerdict {
  const table = ratioTarget(report, target, 'seq-cold', DIRECT, factor);
  const repeats = report.repeats ?? [];
  const pairs = [...new Set(repeats.map((r) => r.pair))];
  const valueIn = (peer: string, pair: number | undefined) => repeats.find((r) => r.pair === pair && r.peer === peer && r.workload === 'seq-cold')?.value;
  const ratios = pairs.map((pair) => [valueIn(SUBJECT, pair), valueIn(DIRECT, pair)])
    .filter((values): values is [number, number] => values[0] !== undefined && values[1] !== undefined)
    .map(([mine, theirs]) => mine / theirs);
  if (ratios.length === 0) return table;
  const middle = median(ratios);
  return {
    target,
    met: middle >= factor,
    detail: `median ${middle.toFixed(2)}× of ${ratios.length} back-to-back pairs (${ratios.map((r) => r.toFixed(2)).join(', ')}); the peers' table, not a pair: ${table.detail}`,
  };
}

/** The middle value of a non-empty list; the mean of the two middle ones for an even count. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[half] ?? NaN) : ((sorted[half - 1] ?? NaN) + (sorted[half] ?? NaN)) / 2;
}

function noSlowerThanPeers(report: BenchReport, target: string, workload: WorkloadId): TargetVerdict {
  const mine = valueOf(report, SUBJECT, workload);
  const others = report.results.filter((r) => r.workload === workload && r.peer !== SUBJECT && r.peer !== DIRECT && !REFERENCE_PEERS.has(r.peer) && r.value !== undefined);
  if (mine === undefined || others.length === 0) return { target, detail: 'not measured' };
  const best = others.reduce((a, b) => ((a.value ?? 0) >= (b.value ?? 0) ? a : b));
  const ratio = mine / (best.value ?? 1);
  return { target, met: ratio >= 1, detail: `${ratio.toFixed(2)}× the best peer (${best.peer}: ${(best.value ?? 0).toFixed(1)}, datamount ${mine.toFixed(1)})` };
}

function memoryTarget(report: BenchReport): TargetVerdict {
  const target = `peak RSS ≤ memory cache + ${MEMORY_OVERHEAD_BYTES / 2 ** 20} MiB in every workload`;
  const cache = report.peers.find((p) => p.name === SUBJECT)?.memoryCacheBytes;
  const mine: WorkloadResult[] = report.results.filter((r) => r.peer === SUBJECT && r.peakRssBytes !== undefined);
  if (cache === undefined || mine.length === 0) return { target, detail: 'not measured' };
  const peak = mine.reduce((a, b) => ((a.peakRssBytes ?? 0) >= (b.peakRssBytes ?? 0) ? a : b));
  const limit = cache + MEMORY_OVERHEAD_BYTES;
  return {
    target,
    met: (peak.peakRssBytes ?? 0) <= limit,
    detail: `highest ${((peak.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB in ${peak.workload}; limit ${(limit / 2 ** 20).toFixed(0)} MiB`,
  };
}

/** What the fuse-native reference reached on the same workload, when it ran. */
function ceilingNote(report: BenchReport): string {
  const ceiling = valueOf(report, 'fuse-native', 'seq-warm');
  return ceiling === undefined ? '' : ` (any fuse-native mount here: at most ${ceiling.toFixed(0)} MB/s, the fuse-native row)`;
}

export function judgeTargets(report: BenchReport): TargetVerdict[] {
  const warmSeq = valueOf(report, SUBJECT, 'seq-warm');
  const warmCold = ((): TargetVerdict => {
    const target = 'small files warm ≥ 4× cold';
    const warm = valueOf(report, SUBJECT, 'small-warm');
    const cold = valueOf(report, SUBJECT, 'small-cold');
    if (warm === undefined || cold === undefined) return { target, detail: 'not measured' };
    return { target, met: warm / cold >= 4, detail: `${(warm / cold).toFixed(2)}× (${warm.toFixed(0)} vs ${cold.toFixed(0)} files/s)` };
  })();
  return [
    coldPairsTarget(report, 'sequential cold ≥ 0.9× direct download', 0.9),
    noSlowerThanPeers(report, 'sequential cold no slower than any peer', 'seq-cold'),
    ratioTarget(report, 'small files cold ≥ 2× s3fs', 'small-cold', 's3fs', 2),
    ratioTarget(report, 'small files cold ≥ 1.5× rclone (no cache)', 'small-cold', 'rclone', 1.5),
    warmCold,
    noSlowerThanPeers(report, 'ls -lR no slower than any peer', 'list'),
    warmSeq === undefined
      ? { target: 'sequential warm ≥ 1 GB/s', detail: 'not measured' }
      : { target: 'sequential warm ≥ 1 GB/s', met: warmSeq >= 1000, detail: `${warmSeq.toFixed(0)} MB/s${ceilingNote(report)}` },
    memoryTarget(report),
  ];
}
