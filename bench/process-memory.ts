/**
 * Peak resident memory of a process during one workload. Linux keeps the high-water mark in
 * /proc/<pid>/status (VmHWM) and resets it when "5" is written to /proc/<pid>/clear_refs
 * (proc(5)); where the reset is refused, a 100 ms VmRSS poll stands in.
 */
import { promises as fs } from 'node:fs';

async function statusField(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number | undefined> {
  const text = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}

export interface PeakRssWatch {
  /** Stops watching; the peak RSS in bytes, or undefined when the process could not be read. */
  stop(): Promise<number | undefined>;
}

export async function watchPeakRss(pid: number): Promise<PeakRssWatch> {
  const reset = await fs.writeFile(`/proc/${pid}/clear_refs`, '5').then(() => true, () => false);
  let polled: number | undefined;
  const poll = async (): Promise<void> => {
    const rss = await statusField(pid, 'VmRSS');
    if (rss !== undefined) polled = Math.max(polled ?? 0, rss);
  };
  const timer = setInterval(() => void poll(), 100);
  await poll();
  return {
    async stop() {
      clearInterval(timer);
      await poll();
      const hwm = reset ? await statusField(pid, 'VmHWM') : undefined;
      if (hwm === undefined) return polled;
      return Math.max(hwm, polled ?? 0);
    },
  };
}
