/**
 * Reads a V8 CPU profile (`node --cpu-prof`, as `make bench -- --cpu-prof DIR` writes for the
 * sidecar) and prints where the time went: the top functions by self time and the totals per
 * source file, with idle and GC apart, so a shortfall in the table can be traced to code.
 *
 * Usage: `node dist/bench/profile-summary.js FILE.cpuprofile [TOP]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileLine {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  gcMs: number;
  functions: ProfileLine[];
  files: ProfileLine[];
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const at = url.lastIndexOf('/node_modules/');
  if (at >= 0) return url.slice(at + 1);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 6);
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    total += us;
    if (frame.functionName === '(idle)') idle += us;
    else if (frame.functionName === '(garbage collector)') gc += us;
    const file = shortUrl(frame.url);
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
  }
  const lines = (map: Map<string, number>): ProfileLine[] =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, gcMs: gc / 1000, functions: lines(functions), files: lines(files) };
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const busy = summary.totalMs - summary.idleMs;
  const line = (l: ProfileLine): string => `  ${l.ms.toFixed(0).padStart(7)} ms ${(l.share * 100).toFixed(1).padStart(5)}%  ${l.name}`;
  return [
    `sampled ${summary.totalMs.toFixed(0)} ms: busy ${busy.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms, GC ${summary.gcMs.toFixed(0)} ms`,
    'self time by function:',
    ...summary.functions.map(line),
    'self time by file:',
    ...summary.files.map(line),
  ].join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [TOP]\n');
    process.exitCode = 2;
  } else {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    process.stdout.write(`${formatProfileSummary(summarizeProfile(profile, Number(top ?? 25)))}\n`);
  }
}
