/**
 * The catalog port: where the review finds Datasets and the node cache report. Two adapters
 * implement it — `catalog-kube.ts` (list+watch against the API server, served from memory)
 * and `catalog-file.ts` (a YAML file, for running without a cluster) — and both keep their
 * objects in a `MemoryCatalog`, which tests also use directly.
 */
import { DATAMOUNT_GROUP, type DatasetEntry, normaliseDataset } from './dataset';

export const CACHE_LOCATIONS_CONFIGMAP = 'datamount-cache-locations';

export interface DatasetCatalog {
  /**
   * The Dataset `name` in `namespace`, or undefined when neither group has it. Rejects with a
   * DatamountError (CATALOG_UNAVAILABLE) only when the answer cannot be known.
   */
  getDataset(namespace: string, name: string): Promise<DatasetEntry | undefined>;
  /** The raw `data` of the cache-location ConfigMap, or undefined when there is none. */
  cacheLocations(): Record<string, string> | undefined;
  /** True once the first full listing is in memory (readiness). */
  isSynced(): boolean;
  /** When the catalog lost its source (a watch down, a relist failing); undefined while current. */
  staleSince(): Date | undefined;
  /** Dataset objects held in memory (a gauge). */
  datasetCount(): number;
  close(): Promise<void>;
}

/** Datasets and the cache report held in memory, keyed by group, namespace and name. */
export class MemoryCatalog implements DatasetCatalog {
  private readonly entries = new Map<string, DatasetEntry>();
  private locations: Record<string, string> | undefined;
  private synced = false;
  private stale: Date | undefined;

  /** Store (or replace) a Dataset object of either group; returns false for anything else. */
  upsert(obj: unknown): boolean {
    const entry = normaliseDataset(obj);
    if (!entry) return false;
    this.entries.set(key(entry.group, entry.namespace, entry.name), entry);
    return true;
  }

  remove(group: string, namespace: string, name: string): void {
    this.entries.delete(key(group, namespace, name));
  }

  /** Drop every Dataset of one group (before a relist replaces them). */
  clearGroup(group: string): void {
    for (const [k, entry] of this.entries) if (entry.group === group) this.entries.delete(k);
  }

  setCacheLocations(data: Record<string, string> | undefined): void {
    this.locations = data;
  }

  markSynced(synced = true): void {
    this.synced = synced;
  }

  /** The entry as held in memory, without any fallback. */
  lookup(namespace: string, name: string): DatasetEntry | undefined {
    const ours = this.entries.get(key(DATAMOUNT_GROUP, namespace, name));
    const datashim = this.entries.get(key('datashim.io', namespace, name));
    if (ours && datashim) {
      return { ...ours, warnings: [...ours.warnings, `Dataset ${namespace}/${name} exists in both ${DATAMOUNT_GROUP} and datashim.io; the ${DATAMOUNT_GROUP} one is used`] };
    }
    return ours ?? datashim;
  }

  async getDataset(namespace: string, name: string): Promise<DatasetEntry | undefined> {
    return this.lookup(namespace, name);
  }

  cacheLocations(): Record<string, string> | undefined {
    return this.locations;
  }

  isSynced(): boolean {
    return this.synced;
  }

  staleSince(): Date | undefined {
    return this.stale;
  }

  markStale(since: Date | undefined): void {
    this.stale = since;
  }

  datasetCount(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {}
}

function key(group: string, namespace: string, name: string): string {
  return `${group}\u0000${namespace}\u0000${name}`;
}
