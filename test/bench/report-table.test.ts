import type { BenchReport } from '../../bench/bench-report';
import { judgeTargets } from '../../bench/bench-targets';
import { formatCpuBudget, formatMarkdownTable, formatMarkdownTargets, formatTable, formatTargets } from '../../bench/report-table';
import report from './fixtures/report.json';

const fixture = report as unknown as BenchReport;

function row(table: string, workload: string, peer: string): string {
  const line = table.split('\n').find((l) => l.startsWith(`${workload} `) && l.split(/\s{2,}/)[1] === peer);
  if (!line) throw new Error(`no row ${workload}/${peer} in\n${table}`);
  return line;
}

describe('formatTable', () => {
  const table = formatTable(fixture);

  describe('when a peer has a figure', () => {
    it.each([
      ['seq-cold', 'datamount', '380 MB/s', '0.95×', '0.97×'],
      ['small-cold', 'datamount', '450 files/s', '1.50×', '3.00×'],
      ['small-cold', 's3fs', '150 files/s', '0.50×', ''],
    ])('shows %s of %s as %s, ratio to direct %s and to s3fs %s', (workload, peer, value, toDirect, toS3fs) => {
      const line = row(table, workload, peer);
      expect(line).toContain(value);
      expect(line).toContain(toDirect);
      if (toS3fs) expect(line).toContain(toS3fs);
    });

    it('shows the S3 request mix and the peak RSS next to the memory cache', () => {
      expect(row(table, 'seq-cold', 'datamount')).toContain('138 GET (138 ranged), 1 HEAD, 2 LIST');
      expect(row(table, 'seq-cold', 'datamount')).toContain('300 MiB (cache 512)');
    });

    it('shows epoch times and their ratio for the training loop', () => {
      expect(row(table, 'epochs', 'datamount')).toContain('epoch 1 12.5 s, epoch 2 4.1 s (e2/e1 0.33)');
    });
  });

  describe('when a run failed', () => {
    it('says so and why, with no figure', () => {
      const line = row(table, 'list', 's3fs');
      expect(line).toContain('FAILED: timed out after 300 s');
      expect(line).toContain('—');
    });
  });
});

describe('formatCpuBudget', () => {
  describe('when the cold sequential runs carry CPU figures', () => {
    const withCpu: BenchReport = {
      ...fixture,
      results: fixture.results.map((r) => {
        if (r.workload !== 'seq-cold') return r;
        if (r.peer === 'direct') return { ...r, cpuSeconds: 2.5, backendCpuSeconds: 2.8 };
        if (r.peer === 'datamount') return { ...r, cpuSeconds: 3, backendCpuSeconds: 2.6, outcome: { ...r.outcome, seconds: 4, bytes: 2 ** 30, files: 1, readerCpuSeconds: 0.4 } };
        return r;
      }),
    };

    it('adds up client or mounter, reader and S3 side per run, against the run time and the cores', () => {
      expect(formatCpuBudget(withCpu).split('\n')).toEqual([
        'seq-cold, CPU of the processes on this machine per run:',
        '  direct       client 2.50 + S3 side 2.80 = 5.30 s of CPU in 2.68 s: 1.98 of 2 cores',
        '  datamount    mounter 3.00 + reader 0.40 + S3 side 2.60 = 6.00 s of CPU in 4.00 s: 1.50 of 2 cores',
      ]);
    });

    it('shows the S3 side in the table', () => {
      expect(row(formatTable(withCpu), 'seq-cold', 'direct')).toMatch(/2\.50 s\s+2\.80 s/);
    });
  });

  describe('when no run has them', () => {
    it('prints nothing', () => {
      expect(formatCpuBudget(fixture)).toBe('');
    });
  });
});

describe('judgeTargets', () => {
  const verdicts = judgeTargets(fixture);
  const verdict = (name: string): { met?: boolean; detail: string } => {
    const found = verdicts.find((v) => v.target.startsWith(name));
    if (!found) throw new Error(`no target ${name}`);
    return found;
  };

  it.each([
    ['sequential cold ≥ 0.9× direct', true, '0.95×'],
    ['sequential cold no slower than any peer', false, 's3fs'],
    ['small files cold ≥ 2× s3fs', true, '3.00×'],
    ['small files cold ≥ 1.5× rclone', false, '1.41×'],
    ['small files warm ≥ 4× cold', false, '3.33×'],
    ['ls -lR no slower than any peer', true, 'rclone'],
    ['sequential warm ≥ 1 GB/s', true, '1200 MB/s'],
    ['peak RSS', false, '900 MiB in seq-warm'],
  ])('judges "%s" as met=%p (%s)', (name, met, detail) => {
    expect(verdict(name).met).toBe(met);
    expect(verdict(name).detail).toContain(detail);
  });

  describe('when a figure is missing', () => {
    it('calls the target not measured, never met', () => {
      const withoutS3fs = { ...fixture, results: fixture.results.filter((r) => r.peer !== 's3fs') };
      const found = judgeTargets(withoutS3fs).find((v) => v.target.includes('2× s3fs'));
      expect(found?.met).toBeUndefined();
      expect(found?.detail).toMatch(/not measured/);
    });
  });

  it('prints one line per target with MET, MISS or n/a', () => {
    const lines = formatTargets(verdicts).split('\n');
    expect(lines).toHaveLength(verdicts.length);
    expect(lines.every((l) => /^(MET |MISS|n\/a )/.test(l))).toBe(true);
  });
});

describe('formatMarkdownTable', () => {
  const markdown = formatMarkdownTable(fixture).split('\n');

  it('is a Markdown table with the same rows as the printed one', () => {
    expect(markdown[0]).toMatch(/^\| workload \| peer \| result \|/);
    expect(markdown[1]).toMatch(/^\|---\|---\|/);
    expect(markdown).toHaveLength(formatTable(fixture).split('\n').length);
    expect(markdown.find((l) => l.startsWith('| small-cold | datamount |'))).toContain('| 1.50× | 3.00× |');
  });
});

describe('formatMarkdownTargets', () => {
  it('marks missed targets in bold', () => {
    const text = formatMarkdownTargets(judgeTargets(fixture));
    expect(text).toContain('| small files cold ≥ 1.5× rclone (no cache) | **missed** | 1.41×');
    expect(text).toContain('| small files cold ≥ 2× s3fs | met | 3.00×');
  });
});
