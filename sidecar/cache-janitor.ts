/**
 * The node cache janitor: keeps every dataset's blocks on this node, together, under one budget
 * by deleting the least recently used blocks (oldest mtime — the sidecar bumps a block's mtime
 * when it serves it) across all datasets.
 *
 * Deleting a block a sidecar is reading is safe by contract (docs/contract.md): an open file
 * descriptor keeps the data readable on Linux, and a sidecar that finds a block gone or
 * unreadable fetches it again. Temporary files (`*.tmp`, `.tmp*`) are never touched: they are
 * not in the scan.
 *
 * Budget. The smaller of a byte count and a percentage of the space the cache could have: the
 * file system's free space (`statfs`, blocks available to unprivileged users) plus what the
 * cache holds now. Counting the cache's own bytes as available keeps the budget steady as the
 * cache grows; a budget of plain free space would shrink with every block written.
 * Hysteresis: once over budget the janitor evicts down to LOW_WATER of it, so a cache that
 * grows steadily is trimmed in batches, not one block per run.
 *
 * Folders. A folder is removed only if it is empty and has not changed for `folderGraceMs`: the
 * folder's own mtime changes whenever an entry is added or removed, so an old mtime means no
 * sidecar created a file there lately, and `rmdir` itself refuses a folder that is not empty.
 * A parent emptied this way gets its turn on a later run, when it too has been quiet.
 */
import { lstat, rmdir, statfs, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CacheBlock, CacheScan } from './cache-usage';

export interface CacheBudget {
  /** At most this many bytes of blocks. */
  maxBytes?: number;
  /** At most this percent (0–100] of (free space + the cache's bytes) on the cache's file system. */
  maxPercentOfFree?: number;
}

export interface JanitorOptions {
  root: string;
  budget: CacheBudget;
  /** Empty folders unchanged for this long are removed; default 10 minutes. */
  folderGraceMs?: number;
  now?: () => number;
  /** Free bytes on the cache's file system; default `statfs(root)`. Replaceable in tests. */
  freeBytes?: (root: string) => Promise<number>;
}

export interface JanitorResult {
  /** Blocks still there after the run. */
  kept: CacheBlock[];
  evicted: { blocks: number; bytes: number };
  /** Blocks that could not be deleted (e.g. EACCES), with the cause; at most 10 are listed. */
  failures: string[];
  /** The effective budget in bytes, undefined when no budget is set. */
  budgetBytes: number | undefined;
  removedFolders: string[];
}

/** After going over budget, evict down to this fraction of it. */
export const LOW_WATER = 0.9;
const DEFAULT_FOLDER_GRACE_MS = 10 * 60_000;
/** Deletions in flight at once: enough to hide disk latency, few enough not to starve sidecars' I/O. */
const UNLINK_BATCH = 16;
const MAX_FAILURES_LISTED = 10;

async function statfsFreeBytes(root: string): Promise<number> {
  const stats = await statfs(root);
  return Number(stats.bavail) * Number(stats.bsize);
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** The budget in bytes for a cache that holds `cachedBytes` now; undefined when unbounded. */
export async function effectiveBudget(options: JanitorOptions, cachedBytes: number): Promise<number | undefined> {
  const { maxBytes, maxPercentOfFree } = options.budget;
  const limits: number[] = [];
  if (maxBytes !== undefined) limits.push(maxBytes);
  if (maxPercentOfFree !== undefined) {
    const free = await (options.freeBytes ?? statfsFreeBytes)(options.root);
    limits.push(Math.floor(((free + cachedBytes) * maxPercentOfFree) / 100));
  }
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/** One janitor pass over a fresh scan. */
export async function runJanitor(scan: CacheScan, options: JanitorOptions): Promise<JanitorResult> {
  const total = scan.blocks.reduce((sum, block) => sum + block.bytes, 0);
  const budgetBytes = await effectiveBudget(options, total);
  const evicted = { blocks: 0, bytes: 0 };
  const failures: string[] = [];
  const gone = new Set<CacheBlock>();
  const emptiedFrom = new Map<string, number>();

  if (budgetBytes !== undefined && total > budgetBytes) {
    const target = Math.floor(budgetBytes * LOW_WATER);
    const oldestFirst = [...scan.blocks].sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : 1));
    let remaining = total;
    // Batches of the oldest blocks, deleted in parallel; a block that cannot be deleted is
    // reported and its bytes still count, so the next batch makes up for it.
    for (let next = 0; remaining > target && next < oldestFirst.length;) {
      const batch: CacheBlock[] = [];
      for (let planned = remaining; planned > target && next < oldestFirst.length && batch.length < UNLINK_BATCH; next += 1) {
        const block = oldestFirst[next] as CacheBlock;
        batch.push(block);
        planned -= block.bytes;
      }
      const outcomes = await Promise.all(batch.map(async (block) => {
        try {
          await unlink(block.path);
        } catch (err) {
          if (errorCode(err) !== 'ENOENT') return `${block.path}: ${err instanceof Error ? err.message : String(err)}`;
        }
        return undefined;
      }));
      batch.forEach((block, i) => {
        const failure = outcomes[i];
        if (failure !== undefined) {
          if (failures.length < MAX_FAILURES_LISTED) failures.push(failure);
          return;
        }
        remaining -= block.bytes;
        evicted.blocks += 1;
        evicted.bytes += block.bytes;
        gone.add(block);
        const folder = dirname(block.path);
        emptiedFrom.set(folder, (emptiedFrom.get(folder) ?? 0) + 1);
      });
    }
  }

  const removedFolders = await removeQuietEmptyFolders(scan, emptiedFrom, options);
  return { kept: scan.blocks.filter((block) => !gone.has(block)), evicted, failures, budgetBytes, removedFolders };
}

async function removeQuietEmptyFolders(scan: CacheScan, emptiedFrom: Map<string, number>, options: JanitorOptions): Promise<string[]> {
  const now = (options.now ?? Date.now)();
  const grace = options.folderGraceMs ?? DEFAULT_FOLDER_GRACE_MS;
  const removed: string[] = [];
  const deepestFirst = [...scan.folders].sort((a, b) => b.depth - a.depth);
  const removedChildren = new Map<string, number>();
  for (const folder of deepestFirst) {
    // Namespace and dataset folders (depth 1 and 2) stay: a dataset folder is the hostPath a
    // running sidecar has mounted as its cache, and once removed from under that bind mount
    // nothing can be created in it again (a recursive mkdir there never returns). Empty, they
    // cost nothing.
    if (folder.depth <= 2) continue;
    const left = folder.entries - (emptiedFrom.get(folder.path) ?? 0) - (removedChildren.get(folder.path) ?? 0);
    if (left > 0) continue;
    try {
      const stats = await lstat(folder.path);
      if (!stats.isDirectory() || now - stats.mtimeMs < grace) continue;
      await rmdir(folder.path);
    } catch {
      // Something appeared since the scan (ENOTEMPTY), it is already gone, or it is not ours
      // to remove: an empty folder left behind costs nothing, so leave it.
      continue;
    }
    removed.push(folder.path);
    if (folder.parent !== undefined) removedChildren.set(folder.parent, (removedChildren.get(folder.parent) ?? 0) + 1);
  }
  return removed;
}
