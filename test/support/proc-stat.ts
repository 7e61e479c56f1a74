/** Reading proc(5)'s /proc/<pid>/stat, shared by the bench (CPU per process) and the pod runner (start times). */

/** /proc's clock: USER_HZ, 100 on Linux whatever the kernel's own tick. */
export const TICKS_PER_SECOND = 100;

/**
 * Field `n` of a /proc/<pid>/stat line (numbered from 1 as in proc(5)) as a number, from field 3
 * on; undefined when it is missing or not a number. The command name (field 2) may hold spaces
 * and parentheses, so fields are counted from its last ")".
 */
export function statField(stat: string, n: number): number | undefined {
  if (n < 3) return undefined;
  const text = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n - 3];
  const value = Number(text);
  return text === undefined || text === '' || !Number.isFinite(value) ? undefined : value;
}
