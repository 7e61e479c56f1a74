import { metricSum, parsePrometheusText } from '../../demo/sidecar-metrics';

const TEXT = `# HELP datamount_cache_hits_total Block reads served by a cache tier.
# TYPE datamount_cache_hits_total counter
datamount_cache_hits_total{dataset="ml/imagenet",tier="memory"} 12
datamount_cache_hits_total{dataset="ml/imagenet",tier="disk"} 30
datamount_cache_hits_total{dataset="ml/coco",tier="disk"} 5
datamount_s3_bytes_read_total{dataset="ml/imagenet"} 1.5e+06
datamount_mounted 1
`;

describe('parsePrometheusText', () => {
  const samples = parsePrometheusText(TEXT);

  it('reads every sample with its labels, skipping comments', () => {
    expect(samples).toHaveLength(5);
    expect(samples[0]).toEqual({ name: 'datamount_cache_hits_total', labels: { dataset: 'ml/imagenet', tier: 'memory' }, value: 12 });
    expect(samples[4]).toEqual({ name: 'datamount_mounted', labels: {}, value: 1 });
  });

  it.each([
    ['all hits', {}, 47],
    ['disk hits', { tier: 'disk' }, 35],
    ['disk hits of one dataset', { tier: 'disk', dataset: 'ml/imagenet' }, 30],
    ['nothing matching', { tier: 'tape' }, 0],
  ])('sums %s', (_what, where, total) => {
    expect(metricSum(samples, 'datamount_cache_hits_total', where)).toBe(total);
  });

  it('reads exponent notation', () => {
    expect(metricSum(samples, 'datamount_s3_bytes_read_total')).toBe(1_500_000);
  });
});
