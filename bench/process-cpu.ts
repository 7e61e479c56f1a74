/**
 * CPU time a process has used, all its threads together (user + system), from /proc/<pid>/stat
 * (proc(5): fields 14 and 15, in clock ticks of 1/100 s — USER_HZ is 100 on Linux). The bench
 * takes it before and after each workload: on a machine whose cores are all busy, the CPU a
 * mounter spends per byte decides its speed more than anything it overlaps.
 */
import { promises as fs, readFileSync } from 'node:fs';
import { statField, TICKS_PER_SECOND } from '../test/support/proc-stat';

/** Seconds of CPU `pid` has used so far, or undefined when it cannot be read. */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseCpuSeconds(text);
}

/** The same, read synchronously: for marks taken at an exact moment (the webhook bench's measured window). */
export function cpuSecondsNow(pid: number): number | undefined {
  try {
    return parseCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Seconds of CPU all of `pids` have used so far, or undefined when any cannot be read. */
export function totalCpuSecondsNow(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const seconds = cpuSecondsNow(pid);
    if (seconds === undefined) return undefined;
    total += seconds;
  }
  return total;
}

/** utime + stime of a /proc/<pid>/stat line, in seconds (the command name may hold spaces and parentheses). */
export function parseCpuSeconds(stat: string): number | undefined {
  const utime = statField(stat, 14);
  const stime = statField(stat, 15);
  return utime !== undefined && stime !== undefined ? (utime + stime) / TICKS_PER_SECOND : undefined;
}
