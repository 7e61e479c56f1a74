import type { BenchReport } from '../../bench/bench-report';
import { drawChart } from '../../bench/report-chart';
import report from './fixtures/report.json';

const fixture = report as unknown as BenchReport;

describe('drawChart', () => {
  const svg = drawChart(fixture);

  it('is one SVG document', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
  });

  it('draws one bar per figure and a "failed" label per failed run', () => {
    const withFigure = fixture.results.filter((r) => r.value !== undefined).length;
    expect(svg.match(/<rect x="110"/g)).toHaveLength(withFigure);
    expect(svg.match(/>failed</g)).toHaveLength(1);
  });

  it('scales bars within a workload: the best gets the full width, others in proportion', () => {
    const widths = [...svg.matchAll(/<rect x="110" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    // seq-cold: direct 400, datamount 380, s3fs 390, rclone 100 → 480, 456, 468, 120 px.
    expect(widths.slice(0, 4)).toEqual([480, 456, 468, 120]);
  });

  it('escapes text', () => {
    const tricky = { ...fixture, results: [{ ...fixture.results[0]!, peer: '<a&b>' }] };
    expect(drawChart(tricky)).toContain('&lt;a&amp;b&gt;');
  });
});
