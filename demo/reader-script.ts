/**
 * What the demo's app container runs: plain `sh`, `find`, `xargs` and `sha256sum`, as a training
 * job's data loader would touch the data — every file, several readers in parallel. It prints
 * one `sha256sum` line per file as it goes (the demo counts them for progress and checks each
 * against the bucket) and a last line `READ files=N bytes=B ns=T`, timed inside the container.
 */

export const READ_PARALLELISM = 4;

export function readerScript(dir: string): string {
  return [
    'set -e',
    `cd ${JSON.stringify(dir)}`,
    'start=$(date +%s%N)',
    `find . -type f -print0 | xargs -0 -P ${READ_PARALLELISM} -n 64 sha256sum`,
    'end=$(date +%s%N)',
    "bytes=$(find . -type f -printf '%s\\n' | awk '{ s += $1 } END { printf \"%d\", s }')",
    'files=$(find . -type f | wc -l)',
    'echo "READ files=$files bytes=$bytes ns=$((end - start))"',
  ].join('\n');
}

export interface ReadReport {
  files: number;
  bytes: number;
  seconds: number;
  /** Relative path (as `./train/…`, without `./`) → sha256. */
  sums: Map<string, string>;
}

export function parseReaderOutput(stdout: string): ReadReport {
  const sums = new Map<string, string>();
  let summary: RegExpExecArray | null = null;
  for (const line of stdout.split('\n')) {
    const sum = /^([0-9a-f]{64}) [ *]\.\/(.*)$/.exec(line);
    if (sum?.[1] && sum[2] !== undefined) sums.set(sum[2], sum[1]);
    summary ??= /^READ files=(\d+) bytes=(\d+) ns=(\d+)$/.exec(line);
  }
  if (!summary) throw new Error(`the reader printed no READ line; its output ended with:\n${stdout.slice(-2000)}`);
  return { files: Number(summary[1]), bytes: Number(summary[2]), seconds: Number(summary[3]) / 1e9, sums };
}

/** Keys whose sum the reader got wrong or did not read at all ([] when everything matches). */
export function mismatchedKeys(report: ReadReport, expected: ReadonlyMap<string, string>, prefix: string): string[] {
  const wrong: string[] = [];
  for (const [key, sum] of expected) {
    if (report.sums.get(key.slice(prefix.length)) !== sum) wrong.push(key);
  }
  for (const relative of report.sums.keys()) if (!expected.has(prefix + relative)) wrong.push(prefix + relative);
  return wrong;
}
