import { WebhookMetrics } from '../../webhook/metrics';

describe('WebhookMetrics', () => {
  describe('when reviews are recorded', () => {
    it('renders a cumulative latency histogram whose +Inf bucket equals the count', () => {
      const metrics = new WebhookMetrics();
      for (const seconds of [0.0002, 0.0008, 0.003, 0.2, 5]) metrics.recordReview('injected', seconds, 2);
      const text = metrics.render();
      const bucket = (le: string) => Number(new RegExp(`_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\d+)`).exec(text)?.[1]);
      expect([bucket('0.0005'), bucket('0.001'), bucket('0.005'), bucket('0.25'), bucket('2.5'), bucket('+Inf')]).toEqual([1, 2, 3, 4, 4, 5]);
      expect(text).toContain('datamount_webhook_review_duration_seconds_count 5');
      expect(text).toContain('datamount_webhook_reviews_total{outcome="injected"} 5');
      expect(text).toContain('datamount_webhook_injected_datasets_total 10');
    });
  });

  describe('when a label value holds quotes, backslashes or newlines', () => {
    it('escapes them as the exposition format requires', () => {
      const metrics = new WebhookMetrics();
      metrics.recordRejectedRequest('a"b\\c\nd');
      expect(metrics.render()).toContain('datamount_webhook_rejected_requests_total{code="a\\"b\\\\c\\nd"} 1');
    });
  });

  describe('when gauges are given', () => {
    it('reads them at render time', () => {
      let synced = false;
      const metrics = new WebhookMetrics({ catalogSynced: () => synced, catalogDatasets: () => 7 });
      expect(metrics.render()).toContain('datamount_webhook_catalog_synced 0');
      synced = true;
      expect(metrics.render()).toContain('datamount_webhook_catalog_synced 1\n');
      expect(metrics.render()).toContain('datamount_webhook_catalog_datasets 7\n');
    });
  });
});
