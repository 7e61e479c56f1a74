/**
 * What the node cache holds: a walk of `<cacheRoot>/<namespace>/<dataset>/…` that lists every
 * cached block (docs/contract.md, "Node cache on disk": a block is a regular file named `*.blk`;
 * `*.tmp` and `.tmp*` files are being written and are not blocks yet; anything else is the
 * sidecar's bookkeeping). The reporter sums it per dataset; the janitor evicts from it.
 *
 * The walk is asynchronous throughout (`opendir` streams a directory without reading it whole,
 * `lstat` runs on libuv's pool, at most `concurrency` at a time), so a cache of 100,000 blocks
 * costs time but never stalls the event loop. Symbolic links are never followed: nothing
 * outside the cache root can be counted or, worse, evicted. Files and folders that vanish while
 * the walk runs (a sidecar renaming a block into place, the janitor of a previous run) are
 * simply not there.
 */
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';

export interface CacheBlock {
  path: string;
  /** "namespace/dataset". */
  dataset: string;
  bytes: number;
  /** Last use: the sidecar bumps it when it serves the block. */
  mtimeMs: number;
}

export interface CacheFolder {
  path: string;
  /** 1 = namespace folder, 2 = dataset folder, deeper = the sidecar's own layout. */
  depth: number;
  /** Entries seen in the folder (files of any kind and sub-folders). */
  entries: number;
  /** The parent folder, undefined for a namespace folder. */
  parent: string | undefined;
}

export interface DatasetUsage {
  bytes: number;
  blocks: number;
}

export interface CacheScan {
  blocks: CacheBlock[];
  folders: CacheFolder[];
  /** Folders or files that could not be read (EACCES, EIO…), with the cause; at most 20 listed. */
  unreadable: string[];
}

export interface ScanOptions {
  /** How many `lstat` calls may be in flight; default 32. */
  concurrency?: number;
}

const DEFAULT_CONCURRENCY = 32;

export function isBlockName(name: string): boolean {
  return name.endsWith('.blk') && !name.startsWith('.tmp');
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Walks the cache root. A missing root is an empty cache. */
export async function scanCache(root: string, options: ScanOptions = {}): Promise<CacheScan> {
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const scan: CacheScan = { blocks: [], folders: [], unreadable: [] };
  const namespaces = await listDirectory(root);
  for (const ns of namespaces) {
    if (!ns.isDirectory()) continue;
    const nsPath = join(root, ns.name);
    const datasets = await listDirectory(nsPath, scan);
    scan.folders.push({ path: nsPath, depth: 1, entries: datasets.length, parent: undefined });
    for (const dataset of datasets) {
      if (!dataset.isDirectory()) continue;
      await walkDataset(join(nsPath, dataset.name), `${ns.name}/${dataset.name}`, nsPath, scan, concurrency);
    }
  }
  return scan;
}

/**
 * The entries of a folder; a missing one is empty. An unreadable one is empty too, and noted
 * in `scan.unreadable` — one bad folder must not stop the report or the janitor — except for
 * the root (no `scan`), where it is an error worth failing the run for.
 */
async function listDirectory(path: string, scan?: CacheScan): Promise<Array<{ name: string; isDirectory(): boolean; isFile(): boolean }>> {
  const entries = [];
  try {
    for await (const entry of await opendir(path, { bufferSize: 256 })) entries.push(entry);
  } catch (err) {
    if (isMissing(err)) return entries;
    if (scan === undefined) throw err;
    noteUnreadable(scan, path, err);
  }
  return entries;
}

const MAX_UNREADABLE = 20;

function noteUnreadable(scan: CacheScan, path: string, err: unknown): void {
  if (scan.unreadable.length < MAX_UNREADABLE) scan.unreadable.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
}

async function walkDataset(top: string, dataset: string, nsPath: string, scan: CacheScan, concurrency: number): Promise<void> {
  const pending: Array<{ path: string; depth: number; parent: string }> = [{ path: top, depth: 2, parent: nsPath }];
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    const entries = await listDirectory(folder.path, scan);
    scan.folders.push({ path: folder.path, depth: folder.depth, entries: entries.length, parent: folder.parent });
    const files: string[] = [];
    for (const entry of entries) {
      const path = join(folder.path, entry.name);
      if (entry.isDirectory()) pending.push({ path, depth: folder.depth + 1, parent: folder.path });
      else if (entry.isFile() && isBlockName(entry.name)) files.push(path);
    }
    for (let i = 0; i < files.length; i += concurrency) {
      const stats = await Promise.all(files.slice(i, i + concurrency).map(async (path) => {
        try {
          return { path, stat: await lstat(path) };
        } catch (err) {
          if (!isMissing(err)) noteUnreadable(scan, path, err);
          return undefined;
        }
      }));
      for (const entry of stats) {
        if (entry?.stat.isFile()) scan.blocks.push({ path: entry.path, dataset, bytes: entry.stat.size, mtimeMs: entry.stat.mtimeMs });
      }
    }
  }
}

/** Bytes and block counts per "namespace/dataset", keys sorted. */
export function usageByDataset(blocks: Iterable<CacheBlock>): Record<string, DatasetUsage> {
  const usage = new Map<string, DatasetUsage>();
  for (const block of blocks) {
    const entry = usage.get(block.dataset) ?? { bytes: 0, blocks: 0 };
    entry.bytes += block.bytes;
    entry.blocks += 1;
    usage.set(block.dataset, entry);
  }
  return Object.fromEntries([...usage.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The node's value in the cache-location ConfigMap (docs: design.md, "The cache-location
 * ConfigMap"): `{"updated":"<RFC 3339>","datasets":{"ns/name":{"bytes":N,"blocks":M}}}`.
 * `blocks` is extra information for people reading the ConfigMap; the webhook reads `bytes`.
 */
export function formatCacheReport(usage: Record<string, DatasetUsage>, updated: Date): string {
  const seconds = new Date(Math.floor(updated.getTime() / 1000) * 1000);
  return JSON.stringify({ updated: seconds.toISOString().replace('.000Z', 'Z'), datasets: usage });
}
