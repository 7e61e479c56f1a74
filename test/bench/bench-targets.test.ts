import type { BenchReport, WorkloadResult } from '../../bench/bench-report';
import { judgeTargets } from '../../bench/bench-targets';

const result = (peer: string, workload: WorkloadResult['workload'], value: number): WorkloadResult =>
  ({ peer, workload, title: workload, unit: 'MB/s', value });

const report = (results: WorkloadResult[]): BenchReport =>
  ({ peers: [{ name: 'datamount', command: '', memoryCacheBytes: 512 * 2 ** 20 }], results }) as unknown as BenchReport;

const verdict = (r: BenchReport, prefix: string) => judgeTargets(r).find((v) => v.target.startsWith(prefix));

describe('bench targets', () => {
  describe('when the fuse-native reference row is the fastest', () => {
    it('compares datamount with the fastest real mounter, not with the reference', () => {
      const judged = verdict(report([
        result('datamount', 'seq-cold', 300), result('s3fs', 'seq-cold', 250), result('fuse-native', 'seq-cold', 800),
      ]), 'sequential cold no slower');
      expect(judged?.met).toBe(true);
      expect(judged?.detail).toContain('s3fs');
    });
  });

  describe('when the warm sequential target is judged', () => {
    it.each([
      ['with the reference row', [result('fuse-native', 'seq-warm', 842)], 'at most 842 MB/s'],
      ['without it', [], ''],
    ])('states the fuse-native ceiling %s', (_name, extra, note) => {
      const judged = verdict(report([result('datamount', 'seq-warm', 400), ...extra]), 'sequential warm');
      expect(judged?.met).toBe(false);
      expect(judged?.detail).toBe(`400 MB/s${note ? ` (any fuse-native mount here: ${note}, the fuse-native row)` : ''}`);
    });
  });
});
