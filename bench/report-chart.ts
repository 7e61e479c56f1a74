/**
 * The comparison as an SVG bar chart for the README, written by hand (no chart dependency):
 * one panel per workload, one horizontal bar per peer, each panel on its own scale because
 * the units differ (MB/s, files/s, entries/s). Failed runs show as "failed", not as zero.
 */
import type { BenchReport } from './bench-report';
import { READ_WORKLOADS } from './read-workloads';

const PALETTE: Readonly<Record<string, string>> = {
  datamount: '#2b7bb9', direct: '#9e9e9e', s3fs: '#e07b39', rclone: '#59a14f', 'rclone-full': '#b07aa1', 'fuse-native': '#c8c8c8',
};
const FALLBACK_COLOR = '#76b7b2';

const WIDTH = 760;
const LABEL_WIDTH = 110;
const BAR_AREA = 480;
const BAR_HEIGHT = 16;
const BAR_GAP = 4;
const PANEL_TITLE = 24;
const PANEL_GAP = 14;

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

function formatNumber(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function drawChart(report: BenchReport): string {
  const parts: string[] = [];
  let y = 40;
  for (const workload of READ_WORKLOADS) {
    const results = report.results.filter((r) => r.workload === workload.id);
    if (results.length === 0) continue;
    const max = Math.max(...results.map((r) => r.value ?? 0), 1e-9);
    parts.push(`<text x="10" y="${y + 16}" class="title">${escapeXml(workload.title)} (${workload.unit})</text>`);
    y += PANEL_TITLE;
    for (const result of results) {
      const color = PALETTE[result.peer] ?? FALLBACK_COLOR;
      parts.push(`<text x="${LABEL_WIDTH - 6}" y="${y + 12}" class="peer">${escapeXml(result.peer)}</text>`);
      if (result.value === undefined) {
        parts.push(`<text x="${LABEL_WIDTH + 4}" y="${y + 12}" class="failed">failed</text>`);
      } else {
        const width = Math.max(1, (result.value / max) * BAR_AREA);
        parts.push(`<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"/>`);
        parts.push(`<text x="${(LABEL_WIDTH + width + 4).toFixed(1)}" y="${y + 12}" class="value">${formatNumber(result.value)}</text>`);
      }
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += PANEL_GAP;
  }
  const model = report.latencyModel;
  const subtitle = `${model.ttfbMs} ms to first byte, ${(model.bytesPerSecondPerConnection / 2 ** 20).toFixed(0)} MiB/s per connection; ` +
    `${report.machine.cpus} CPUs; ${report.quick ? 'quick sizes' : 'full sizes'}; ${report.startedAt.slice(0, 16)}Z`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}" font-family="sans-serif">`,
    '<style>.title{font-size:13px;font-weight:bold}.peer{font-size:11px;text-anchor:end}.value{font-size:11px}.failed{font-size:11px;fill:#c00}.sub{font-size:11px;fill:#555}</style>',
    `<rect width="${WIDTH}" height="${y + 10}" fill="#fff"/>`,
    `<text x="10" y="18" class="title">datamount vs s3fs vs rclone mount vs direct GetObject — higher is better</text>`,
    `<text x="10" y="32" class="sub">${escapeXml(subtitle)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
