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
 * datamount's ratio to `other` in each cold round run back to back (`BenchReport.repeats`), in
 * the order they ran; rounds where either run failed are left out.
 */
function roundRatios(report: BenchReport, other: string): number[] {
  const repeats = report.repeats ?? [];
  const valueIn = (peer: string, round: number | undefined) => repeats.find((r) => r.round === round && r.peer === peer && r.workload === 'seq-cold')?.value;
  return [...new Set(repeats.map((r) => r.round))]
    .map((round) => [valueIn(SUBJECT, round), valueIn(other, round)])
    .filter((values): values is [number, number] => values[0] !== undefined && values[1] !== undefined)
    .map(([mine, theirs]) => mine / theirs);
}

const listed = (ratios: readonly number[]): string => `median ${median(ratios).toFixed(2)}× of ${ratios.length} back-to-back rounds (${ratios.map((r) => r.toFixed(2)).join(', ')})`;

/**
 * The cold sequential target over the rounds run back to back, judged on the median ratio; every
 * round is listed, in the order they ran. The peers' table's cold runs are shown beside it but do
 * not count: they are minutes apart (direct's other workloads ran in between), so they compare two
 * states of the machine as much as two readers. Without rounds (`--quick`, `--cold-rounds 0`),
 * the peers' table is all there is, and `ratioTarget` judges it.
 */
function coldRoundsTarget(report: BenchReport, target: string, factor: number): TargetVerdict {
  const table = ratioTarget(report, target, 'seq-cold', DIRECT, factor);
  const ratios = roundRatios(report, DIRECT);
  if (ratios.length === 0) return table;
  return { target, met: median(ratios) >= factor, detail: `${listed(ratios)}; the peers' table, not a pair: ${table.detail}` };
}

/** The middle value of a non-empty list; the mean of the two middle ones for an even count. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[half] ?? NaN) : ((sorted[half - 1] ?? NaN) + (sorted[half] ?? NaN)) / 2;
}

/**
 * datamount against the fastest real mounter on `workload`: for a peer that also ran in the cold
 * rounds, datamount's median ratio to it there; for the others, the peers' table's ratio. The
 * verdict names the peer with the lowest ratio.
 */
function noSlowerThanPeers(report: BenchReport, target: string, workload: WorkloadId): TargetVerdict {
  const mine = valueOf(report, SUBJECT, workload);
  const others = report.results.filter((r) => r.workload === workload && r.peer !== SUBJECT && r.peer !== DIRECT && !REFERENCE_PEERS.has(r.peer) && r.value !== undefined);
  if (mine === undefined || others.length === 0) return { target, detail: 'not measured' };
  const against = others.map((other) => {
    const theirs = other.value ?? 1;
    const table = `${other.peer}: ${theirs.toFixed(1)}, datamount ${mine.toFixed(1)}`;
    const rounds = workload === 'seq-cold' ? roundRatios(report, other.peer) : [];
    if (rounds.length === 0) return { ratio: mine / theirs, detail: `${(mine / theirs).toFixed(2)}× the best peer (${table})` };
    return { ratio: median(rounds), detail: `${median(rounds).toFixed(2)}× the best peer, ${other.peer} (${listed(rounds)}; the peers' table, not a pair: ${(mine / theirs).toFixed(2)}×, ${table})` };
  });
  const worst = against.reduce((a, b) => (a.ratio <= b.ratio ? a : b));
  return { target, met: worst.ratio >= 1, detail: worst.detail };
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
    coldRoundsTarget(report, 'sequential cold ≥ 0.9× direct download', 0.9),
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
