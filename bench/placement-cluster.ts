/**
 * The simulated cluster's nodes: each has a few pod slots and a block cache bounded in bytes
 * with least-recently-used eviction across datasets, as the node janitor keeps it. The cache is
 * modelled in segments (1 GiB by default) instead of 8 MiB blocks: the same LRU behaviour over a
 * sequential epoch at a thousandth of the bookkeeping.
 *
 * Each node's reporter output is the real one: `formatCacheReport` of the sidecar, so the webhook
 * side of the simulation reads the ConfigMap through the real `parseCacheLocations`.
 */
import { formatCacheReport, type DatasetUsage } from '../sidecar/cache-usage';

export class SimNode {
  running = 0;
  /** Segment id "dataset#index" → its dataset and size; Map order is the LRU order, oldest first. */
  private readonly segments = new Map<string, { key: string; bytes: number }>();
  private readonly bytesByDataset = new Map<string, number>();
  private cachedBytes = 0;

  constructor(
    readonly name: string,
    readonly slots: number,
    private readonly cacheBytes: number,
    private readonly segmentBytes: number,
  ) {}

  /**
   * Reads a dataset once, front to back, through the cache; returns the bytes found warm. Missed
   * segments are fetched and inserted, evicting the least recently used ones when over budget.
   */
  readDataset(key: string, bytes: number): number {
    let warm = 0;
    const count = Math.ceil(bytes / this.segmentBytes);
    for (let i = 0; i < count; i += 1) {
      const size = Math.min(this.segmentBytes, bytes - i * this.segmentBytes);
      const id = `${key}#${i}`;
      const hit = this.segments.get(id);
      if (hit !== undefined) {
        this.segments.delete(id);
        this.segments.set(id, hit);
        warm += size;
        continue;
      }
      this.segments.set(id, { key, bytes: size });
      this.cachedBytes += size;
      this.bytesByDataset.set(key, (this.bytesByDataset.get(key) ?? 0) + size);
      while (this.cachedBytes > this.cacheBytes) this.evictOldest();
    }
    return warm;
  }

  /** This node's value in the cache-location ConfigMap, as its reporter would write it at `at`. */
  report(at: Date): string {
    const usage: Record<string, DatasetUsage> = {};
    for (const [key, bytes] of this.bytesByDataset) {
      usage[key] = { bytes, blocks: Math.ceil(bytes / this.segmentBytes) };
    }
    return formatCacheReport(usage, at);
  }

  private evictOldest(): void {
    const oldest = this.segments.entries().next();
    if (oldest.done === true) return;
    const [id, segment] = oldest.value;
    this.segments.delete(id);
    this.cachedBytes -= segment.bytes;
    const left = (this.bytesByDataset.get(segment.key) ?? 0) - segment.bytes;
    if (left <= 0) this.bytesByDataset.delete(segment.key);
    else this.bytesByDataset.set(segment.key, left);
  }
}
