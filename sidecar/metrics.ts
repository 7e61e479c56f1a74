/**
 * The sidecar's metrics in the Prometheus text format (served at `/metrics` in `run` mode).
 * Labels carry dataset names, cache tiers and S3 operations — never keys, endpoints' secrets or
 * credentials. A tiny registry instead of a client library: three metric kinds are all we need.
 */

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge' | 'histogram') {}
  abstract lines(): string[];
}

export class Counter extends Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(name: string, help: string, type: 'counter' | 'gauge' = 'counter') {
    super(name, help, type);
  }
  inc(labels: Labels = {}, by = 1): void {
    const id = labelText(labels);
    const slot = this.values.get(id);
    if (slot) slot.value += by;
    else this.values.set(id, { labels, value: by });
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelText(labels), { labels, value });
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  /** The series of `labels`, resolved once: hot paths update it without formatting labels. */
  series(labels: Labels): { value: number } {
    const id = labelText(labels);
    let slot = this.values.get(id);
    if (!slot) {
      slot = { labels, value: 0 };
      this.values.set(id, slot);
    }
    return slot;
  }
  lines(): string[] {
    return [...this.values.values()].map((s) => `${this.name}${labelText(s.labels)} ${s.value}`);
  }
}

export class Histogram extends Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, readonly buckets: readonly number[]) {
    super(name, help, 'histogram');
  }
  observe(labels: Labels, value: number): void {
    const id = labelText(labels);
    let slot = this.series.get(id);
    if (!slot) {
      slot = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(id, slot);
    }
    this.buckets.forEach((bound, i) => {
      if (value <= bound && slot) slot.counts[i] = (slot.counts[i] ?? 0) + 1;
    });
    slot.sum += value;
    slot.count += 1;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((bound, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(bound) })} ${s.counts[i] ?? 0}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Every metric the sidecar exports; one instance per process, shared by all datasets. */
export class SidecarMetrics {
  readonly cacheHits = new Counter('datamount_cache_hits_total', 'Block reads served by a cache tier (tier="memory"|"disk").');
  readonly cacheMisses = new Counter('datamount_cache_misses_total', 'Block reads a cache tier could not serve (tier="memory"|"disk"; reason="corrupt" for blocks that failed authentication).');
  readonly s3Bytes = new Counter('datamount_s3_bytes_read_total', 'Bytes received from S3 for ranged GETs.');
  readonly s3Requests = new Counter('datamount_s3_requests_total', 'S3 requests by operation and outcome (ok or the error kind).');
  readonly s3Latency = new Histogram('datamount_s3_request_seconds', 'S3 request latency, retries included.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  readonly prefetchWindow = new Counter('datamount_prefetch_window_bytes', 'Largest prefetch window of an open file, per dataset, at the last read.', 'gauge');
  readonly bytesRead = new Counter('datamount_fuse_read_bytes_total', 'Bytes returned to readers of the mount.');
  readonly bytesUploaded = new Counter('datamount_upload_bytes_total', 'Bytes written through the mount and uploaded.');
  readonly errors = new Counter('datamount_fuse_errors_total', 'File-system operations answered with an error, by operation and errno.');
  readonly mounted = new Counter('datamount_mounted', '1 while the dataset is mounted.', 'gauge');
  readonly diskCacheBytes = new Counter('datamount_disk_cache_bytes', 'Bytes of block files in the dataset\'s disk cache.', 'gauge');
  readonly memoryCacheBytes = new Counter('datamount_memory_cache_bytes', 'Bytes of blocks in the memory cache.', 'gauge');
  readonly diskCacheDropped = new Counter('datamount_disk_cache_dropped_writes_total', 'Blocks not written to the disk cache because its write queue was full or the disk was full.', 'counter');
  readonly diskCacheLateWrites = new Counter('datamount_disk_cache_late_writes_total', 'Blocks written to the disk cache later than they arrived (held back by write-behind, or dropped while the disk fell behind), from the memory cache.', 'counter');
  readonly diskCacheLostWrites = new Counter('datamount_disk_cache_lost_writes_total', 'Blocks the memory cache let go before they were written to the disk cache (fetched from S3 again when read).', 'counter');
  readonly diskCacheUnwrittenBytes = new Counter('datamount_disk_cache_unwritten_bytes', 'Bytes of blocks in the memory cache waiting to be written to the disk cache (write-behind, or dropped while the disk fell behind).', 'gauge');
  readonly siblingPrefetchFiles = new Counter('datamount_sibling_prefetch_files_total', 'Files whose first block was fetched ahead of readers going through their directory.');
  readonly siblingPrefetchBytes = new Counter('datamount_sibling_prefetch_bytes_total', 'Bytes asked for by sibling prefetch (first block of each file).');
  readonly siblingPrefetchUsed = new Counter('datamount_sibling_prefetch_used_total', 'Files fetched ahead that a reader then opened.');
  readonly listingPrefetch = new Counter('datamount_listing_prefetch_total', 'Directories listed ahead of a walker (subdirectories of a directory just read, and its next siblings).');
  readonly listingPrefetchUsed = new Counter('datamount_listing_prefetch_used_total', 'Directories listed ahead that a walker then read.');
  readonly siblingPrefetchUnused = new Counter('datamount_sibling_prefetch_unused_total', 'Files fetched ahead that no reader opened within 30 s (reason="expired") or whose GET failed (reason="failed").');

  private readonly all: Metric[] = [
    this.cacheHits, this.cacheMisses, this.s3Bytes, this.s3Requests, this.s3Latency, this.prefetchWindow,
    this.bytesRead, this.bytesUploaded, this.errors, this.mounted, this.diskCacheBytes, this.memoryCacheBytes, this.diskCacheDropped, this.diskCacheLateWrites, this.diskCacheLostWrites, this.diskCacheUnwrittenBytes,
    this.siblingPrefetchFiles, this.siblingPrefetchBytes, this.siblingPrefetchUsed, this.siblingPrefetchUnused,
    this.listingPrefetch, this.listingPrefetchUsed,
  ];

  /** Called before rendering, to refresh gauges that are read rather than pushed. */
  readonly collectors: Array<() => void> = [];

  render(): string {
    for (const collect of this.collectors) collect();
    const out: string[] = [];
    for (const metric of this.all) {
      out.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} ${metric.type}`, ...metric.lines());
    }
    return `${out.join('\n')}\n`;
  }
}
