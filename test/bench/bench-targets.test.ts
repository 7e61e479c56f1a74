import type { BenchReport, WorkloadResult } from '../../bench/bench-report';
import { judgeTargets } from '../../bench/bench-targets';

const result = (peer: string, workload: WorkloadResult['workload'], value: number): WorkloadResult =>
  ({ peer, workload, title: workload, unit: 'MB/s', value });

const report = (results: WorkloadResult[]): BenchReport =>
  ({ peers: [{ name: 'datamount', command: '', memoryCacheBytes: 512 * 2 ** 20 }], results }) as unknown as BenchReport;

const verdict = (r: BenchReport, prefix: string) => judgeTargets(r).find((v) => v.target.startsWith(prefix));

describe('bench targets', () => {
  describe('when the cold sequential read was repeated in back-to-back rounds', () => {
    const repeat = (round: number, peer: string, value: number): WorkloadResult => ({ ...result(peer, 'seq-cold', value), round });
    /** The peers' table [datamount, direct], then each round [datamount, direct]. */
    const judged = (table: [number, number], ...rounds: Array<[number, number]>) => {
      const r = report([result('datamount', 'seq-cold', table[0]), result('direct', 'seq-cold', table[1])]);
      r.repeats = rounds.flatMap(([mine, direct], i) => [repeat(i + 1, 'direct', direct), repeat(i + 1, 'datamount', mine)]);
      return verdict(r, 'sequential cold ≥ 0.9×');
    };

    it('judges on the median round, listing every round in the order they ran, and the peers\' table apart', () => {
      const verdictOf = judged([70, 100], [95, 100], [300, 320], [80, 100], [250, 250], [200, 210]);
      expect(verdictOf?.met).toBe(true);
      expect(verdictOf?.detail).toBe("median 0.95× of 5 back-to-back rounds (0.95, 0.94, 0.80, 1.00, 0.95); the peers' table, not a pair: 0.70× (70.0 vs 100.0)");
    });

    it('does not count the peers\' table as a round, either way', () => {
      expect(judged([100, 100], [85, 100], [88, 100], [95, 100])?.met).toBe(false); // the table's 1.00 would lift the median to 0.915
      expect(judged([50, 100], [90, 100], [95, 100], [85, 100])?.met).toBe(true); // and its 0.50 would drop it to 0.875
    });

    it('misses when the median round is below the factor, though one round is above', () => {
      expect(judged([95, 100], [95, 100], [80, 100], [85, 100], [70, 100])?.met).toBe(false); // median (0.80 + 0.85) / 2
    });

    it('leaves out a round whose run failed', () => {
      const r = report([result('datamount', 'seq-cold', 50), result('direct', 'seq-cold', 100)]);
      r.repeats = [
        repeat(1, 'direct', 100), { peer: 'datamount', workload: 'seq-cold', title: '', unit: 'MB/s', error: 'timed out', round: 1 },
        repeat(2, 'datamount', 95), repeat(2, 'direct', 100),
      ];
      expect(verdict(r, 'sequential cold ≥ 0.9×')?.detail).toMatch(/^median 0\.95× of 1 back-to-back rounds \(0\.95\)/);
    });

    it('judges the peers\' table alone when no round ran', () => {
      expect(judged([85, 100])?.detail).toBe('0.85× (85.0 vs 100.0)');
    });

    describe('against the other peers', () => {
      const peers = (table: Record<string, number>, rounds: Array<Record<string, number>>) => {
        const r = report(Object.entries(table).map(([peer, value]) => result(peer, 'seq-cold', value)));
        r.repeats = rounds.flatMap((values, i) => Object.entries(values).map(([peer, value]) => repeat(i + 1, peer, value)));
        return verdict(r, 'sequential cold no slower');
      };

      it('judges a peer that ran in the rounds on its median round, not on the peers\' table', () => {
        const table = { datamount: 226.8, s3fs: 226.9, rclone: 100 };
        const rounds = [{ datamount: 330, s3fs: 300 }, { datamount: 310, s3fs: 320 }, { datamount: 300, s3fs: 290 }];
        const judgedPeers = peers(table, rounds);
        expect(judgedPeers?.met).toBe(true);
        expect(judgedPeers?.detail).toBe("1.03× the best peer, s3fs (median 1.03× of 3 back-to-back rounds (1.10, 0.97, 1.03); the peers' table, not a pair: 1.00×, s3fs: 226.9, datamount 226.8)");
      });

      it('misses when datamount is slower than a peer in the median round, though faster in the peers\' table', () => {
        const judgedPeers = peers({ datamount: 300, s3fs: 250 }, [{ datamount: 300, s3fs: 320 }, { datamount: 300, s3fs: 310 }, { datamount: 300, s3fs: 290 }]);
        expect(judgedPeers?.met).toBe(false);
        expect(judgedPeers?.detail).toMatch(/^0\.97× the best peer, s3fs/);
      });

      it('still judges a peer that did not run in the rounds on the peers\' table, and names the lower ratio', () => {
        const judgedPeers = peers({ datamount: 300, s3fs: 250, rclone: 310 }, [{ datamount: 300, s3fs: 280 }]);
        expect(judgedPeers?.met).toBe(false);
        expect(judgedPeers?.detail).toBe('0.97× the best peer (rclone: 310.0, datamount 300.0)');
      });
    });
  });

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
