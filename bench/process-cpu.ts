/**
 * CPU time a process has used, all its threads together (user + system), from /proc/<pid>/stat
 * (proc(5): fields 14 and 15, in clock ticks of 1/100 s — USER_HZ is 100 on Linux). The bench
 * takes it before and after each workload: on a machine whose cores are all busy, the CPU a
 * mounter spends per byte decides its speed more than anything it overlaps.
 */
import { promises as fs } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** Seconds of CPU `pid` has used so far, or undefined when it cannot be read. */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseCpuSeconds(text);
}

/** utime + stime of a /proc/<pid>/stat line, in seconds (the command name may hold spaces and parentheses). */
export function parseCpuSeconds(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After ")": state is field 3 of proc(5), so utime (14) and stime (15) are at 11 and 12 here.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / TICKS_PER_SECOND : undefined;
}
