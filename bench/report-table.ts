/**
 * The printed comparison: one row per workload and peer, with the headline figure, the ratio
 * to the direct download and to s3fs in the same run, the S3 requests made and the peer's peak
 * RSS; then the targets. Pure text from a {@link BenchReport}.
 */
import { DIRECT, type BenchReport, type WorkloadResult } from './bench-report';
import type { TargetVerdict } from './bench-targets';
import { READ_WORKLOADS } from './read-workloads';

const MiB = 2 ** 20;

function ratio(result: WorkloadResult, report: BenchReport, other: string): string {
  if (result.peer === other || result.value === undefined) return '';
  const base = report.results.find((r) => r.workload === result.workload && r.peer === other)?.value;
  return base ? `${(result.value / base).toFixed(2)}×` : '';
}

function requests(result: WorkloadResult): string {
  if (!result.s3) return '';
  const { requests: byMethod, lists, rangedGets } = result.s3;
  const gets = (byMethod.GET ?? 0) - lists;
  const parts = [`${gets} GET`];
  if (rangedGets) parts[0] += ` (${rangedGets} ranged)`;
  if (byMethod.HEAD) parts.push(`${byMethod.HEAD} HEAD`);
  if (lists) parts.push(`${lists} LIST`);
  return parts.join(', ');
}

function extra(result: WorkloadResult): string {
  if (result.error) return `FAILED: ${result.error.split('\n')[0]}`;
  const epochs = result.outcome?.epochSeconds;
  if (epochs && epochs.length === 2) {
    const [first, second] = epochs as [number, number];
    return `epoch 1 ${first.toFixed(1)} s, epoch 2 ${second.toFixed(1)} s (e2/e1 ${(second / first).toFixed(2)})`;
  }
  if (result.outcome?.listSeconds !== undefined && result.unit === 'files/s') return `listing ${result.outcome.listSeconds.toFixed(1)} s`;
  return '';
}

function formatValue(result: WorkloadResult): string {
  if (result.value === undefined) return '—';
  return `${result.value >= 100 ? result.value.toFixed(0) : result.value.toFixed(1)} ${result.unit}`;
}

function render(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const line = (row: string[]): string => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const [head, ...body] = rows;
  return [line(head ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function tableRows(report: BenchReport): string[][] {
  const rows: string[][] = [['workload', 'peer', 'result', 'time', `× ${DIRECT}`, '× s3fs', 'S3 requests', 'mounter CPU', 'S3-side CPU', 'peak RSS', 'notes']];
  for (const workload of READ_WORKLOADS) {
    for (const result of report.results.filter((r) => r.workload === workload.id)) {
      const cache = report.peers.find((p) => p.name === result.peer)?.memoryCacheBytes;
      const rss = result.peakRssBytes === undefined ? '' : `${(result.peakRssBytes / MiB).toFixed(0)} MiB`;
      rows.push([
        workload.id,
        result.peer,
        formatValue(result),
        result.outcome ? `${result.outcome.seconds.toFixed(2)} s` : '',
        ratio(result, report, DIRECT),
        ratio(result, report, 's3fs'),
        requests(result),
        result.cpuSeconds === undefined ? '' : `${result.cpuSeconds.toFixed(2)} s`,
        result.backendCpuSeconds === undefined ? '' : `${result.backendCpuSeconds.toFixed(2)} s`,
        cache === undefined || !rss ? rss : `${rss} (cache ${(cache / MiB).toFixed(0)})`,
        extra(result),
      ]);
    }
  }
  return rows;
}

/**
 * Where the machine's CPU went in each cold sequential run: the peer (for the direct download,
 * its client), its reader (a mount's data also passes through the reading process) and the S3
 * side (server and latency proxy), against the run's time. Near the machine's core count, the
 * run was bound by CPU, and a peer's speed follows from what it spends beside the S3 side.
 */
export function formatCpuBudget(report: BenchReport): string {
  const lines = report.results
    .filter((r) => r.workload === 'seq-cold' && r.outcome && r.cpuSeconds !== undefined && r.backendCpuSeconds !== undefined)
    .map((r) => {
      const own = r.cpuSeconds ?? 0;
      const backend = r.backendCpuSeconds ?? 0;
      const reader = r.peer === DIRECT ? 0 : (r.outcome?.readerCpuSeconds ?? 0);
      const total = own + reader + backend;
      const seconds = r.outcome?.seconds ?? 1;
      const parts = r.peer === DIRECT ? `client ${own.toFixed(2)}` : `mounter ${own.toFixed(2)} + reader ${reader.toFixed(2)}`;
      return `  ${r.peer.padEnd(12)} ${parts} + S3 side ${backend.toFixed(2)} = ${total.toFixed(2)} s of CPU in ${seconds.toFixed(2)} s: ${(total / seconds).toFixed(2)} of ${report.machine.cpus} cores`;
    });
  return lines.length === 0 ? '' : ['seq-cold, CPU of the processes on this machine per run:', ...lines].join('\n');
}

export function formatTable(report: BenchReport): string {
  return render(tableRows(report));
}

/** The same table in Markdown, for BENCHMARKS.md. */
export function formatMarkdownTable(report: BenchReport): string {
  const [head, ...body] = tableRows(report);
  const line = (row: string[]): string => `| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head ?? []), `|${(head ?? []).map(() => '---').join('|')}|`, ...body.map(line)].join('\n');
}

export function formatMarkdownTargets(verdicts: readonly TargetVerdict[]): string {
  const rows = verdicts.map((v) => `| ${v.target} | ${v.met === undefined ? 'not measured' : v.met ? 'met' : '**missed**'} | ${v.detail} |`);
  return ['| target | verdict | this run |', '|---|---|---|', ...rows].join('\n');
}

export function formatTargets(verdicts: readonly TargetVerdict[]): string {
  return verdicts
    .map((v) => `${v.met === undefined ? 'n/a ' : v.met ? 'MET ' : 'MISS'}  ${v.target}: ${v.detail}`)
    .join('\n');
}
