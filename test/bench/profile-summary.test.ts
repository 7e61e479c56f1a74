import path from 'node:path';
import { readFileSync } from 'node:fs';
import { formatProfileSummary, summarizeProfile } from '../../bench/profile-summary';

const profile = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'tiny.cpuprofile'), 'utf8'));

describe('summarizeProfile', () => {
  const summary = summarizeProfile(profile);

  it('adds self time per sample and keeps idle and GC apart', () => {
    expect(summary).toMatchObject({ totalMs: 10, idleMs: 2, gcMs: 1 });
  });

  it('ranks functions by self time, named with their file and line', () => {
    expect(summary.functions[0]).toEqual({ name: 'seal sidecar/block-file.js:42', ms: 6, share: 0.6 });
  });

  it('totals per file, shortening dist/ and node_modules/ paths', () => {
    expect(summary.files.map((f) => f.name)).toEqual(['sidecar/block-file.js', '(native)', 'node_modules/@smithy/util-stream/dist-cjs/index.js']);
  });

  it('prints busy time first', () => {
    expect(formatProfileSummary(summary).split('\n')[0]).toBe('sampled 10 ms: busy 8 ms, idle 2 ms, GC 1 ms');
  });
});
