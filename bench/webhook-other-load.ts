/**
 * How much of the machine other processes used while the webhook bench measured: the CPU time of
 * every core (/proc/stat's `cpu` line) less what the bench's own processes (the server and its
 * load generator, all their threads) used, as a share of all the cores' time. On a shared 2-core
 * machine a round in which someone's build took a core says little about the webhook, and the
 * bench prints this beside each round's p99 so such a round is seen as what it was.
 *
 * Linux only (proc(5)); elsewhere the figure is absent. Clock ticks of 1/100 s: over a 2-second
 * round the share is good to about a percent.
 */
import { readFileSync } from 'node:fs';
import { totalCpuSecondsNow } from './process-cpu';

export interface LoadMark {
  busyTicks: number;
  totalTicks: number;
  ourSeconds: number;
}

const TICKS_PER_SECOND = 100;

/** Busy and total ticks of all cores from /proc/stat's first line (user nice system idle iowait irq softirq steal …). */
export function parseMachineTicks(stat: string): { busy: number; total: number } | undefined {
  const fields = (stat.split('\n', 1)[0] ?? '').trim().split(/\s+/);
  if (fields[0] !== 'cpu') return undefined;
  const values = fields.slice(1, 9).map(Number);
  if (values.length < 8 || values.some((v) => !Number.isFinite(v))) return undefined;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = values as [number, number, number, number, number, number, number, number];
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The machine's counters and our processes' CPU now; undefined where /proc cannot be read. */
export function markLoad(ourPids: readonly number[]): LoadMark | undefined {
  const machine = parseMachineTicks(read('/proc/stat') ?? '');
  if (!machine) return undefined;
  const ourSeconds = totalCpuSecondsNow(ourPids);
  if (ourSeconds === undefined) return undefined;
  return { busyTicks: machine.busy, totalTicks: machine.total, ourSeconds };
}

/** Share (0–1) of all the cores' time that processes other than ours used between two marks. */
export function otherLoadShare(before: LoadMark, after: LoadMark): number {
  const total = after.totalTicks - before.totalTicks;
  if (total <= 0) return 0;
  const others = (after.busyTicks - before.busyTicks) - (after.ourSeconds - before.ourSeconds) * TICKS_PER_SECOND;
  return Math.min(1, Math.max(0, others / total));
}
