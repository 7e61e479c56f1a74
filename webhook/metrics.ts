/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written by hand: three
 * counters, a histogram and a few gauges do not justify a client library on the admission path.
 * Recording is a few additions; rendering happens only when /metrics is scraped.
 */

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Seconds. Reviews are served from memory and should finish well under a millisecond; the
 * upper buckets catch the direct-GET fallback and an API server that is slow to answer.
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface Gauges {
  catalogSynced: () => boolean;
  catalogDatasets: () => number;
}

export class WebhookMetrics {
  private readonly reviews = new Map<string, number>();
  private readonly rejected = new Map<string, number>();
  private readonly tlsReloads = new Map<string, number>();
  private readonly buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  private latencyCount = 0;
  private latencySum = 0;
  private injectedDatasets = 0;

  constructor(private readonly gauges?: Gauges) {}

  /** One review answered, with its outcome, duration and the number of datasets it injected. */
  recordReview(outcome: string, seconds: number, injected: number): void {
    increment(this.reviews, outcome);
    this.injectedDatasets += injected;
    this.latencyCount += 1;
    this.latencySum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= (LATENCY_BUCKETS[i] as number)) this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    }
  }

  /** A request refused before review (malformed, oversize, wrong media type). */
  recordRejectedRequest(code: string): void {
    increment(this.rejected, code);
  }

  recordTlsReload(result: 'ok' | 'failed'): void {
    increment(this.tlsReloads, result);
  }

  render(): string {
    const lines: string[] = [];
    lines.push('# HELP datamount_webhook_reviews_total Admission reviews answered, by outcome.');
    lines.push('# TYPE datamount_webhook_reviews_total counter');
    for (const [outcome, n] of this.reviews) lines.push(`datamount_webhook_reviews_total{outcome="${escape(outcome)}"} ${n}`);
    lines.push('# HELP datamount_webhook_review_duration_seconds Time to review one AdmissionReview, from parsed body to response.');
    lines.push('# TYPE datamount_webhook_review_duration_seconds histogram');
    LATENCY_BUCKETS.forEach((le, i) => lines.push(`datamount_webhook_review_duration_seconds_bucket{le="${le}"} ${this.buckets[i] ?? 0}`));
    lines.push(`datamount_webhook_review_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`);
    lines.push(`datamount_webhook_review_duration_seconds_sum ${this.latencySum}`);
    lines.push(`datamount_webhook_review_duration_seconds_count ${this.latencyCount}`);
    lines.push('# HELP datamount_webhook_injected_datasets_total Datasets injected into pods (first injections and repairs).');
    lines.push('# TYPE datamount_webhook_injected_datasets_total counter');
    lines.push(`datamount_webhook_injected_datasets_total ${this.injectedDatasets}`);
    lines.push('# HELP datamount_webhook_rejected_requests_total Requests refused before review, by error code.');
    lines.push('# TYPE datamount_webhook_rejected_requests_total counter');
    for (const [code, n] of this.rejected) lines.push(`datamount_webhook_rejected_requests_total{code="${escape(code)}"} ${n}`);
    lines.push('# HELP datamount_webhook_tls_reloads_total Reloads of the serving certificate, by result.');
    lines.push('# TYPE datamount_webhook_tls_reloads_total counter');
    for (const [result, n] of this.tlsReloads) lines.push(`datamount_webhook_tls_reloads_total{result="${escape(result)}"} ${n}`);
    if (this.gauges) {
      lines.push('# HELP datamount_webhook_catalog_synced 1 once the Dataset catalog holds a full listing.');
      lines.push('# TYPE datamount_webhook_catalog_synced gauge');
      lines.push(`datamount_webhook_catalog_synced ${this.gauges.catalogSynced() ? 1 : 0}`);
      lines.push('# HELP datamount_webhook_catalog_datasets Dataset objects held in memory.');
      lines.push('# TYPE datamount_webhook_catalog_datasets gauge');
      lines.push(`datamount_webhook_catalog_datasets ${this.gauges.catalogDatasets()}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Label values escape backslash, double quote and newline (exposition format spec). */
function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
