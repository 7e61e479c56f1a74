/**
 * News of block files appearing in a disk-tier folder, from whoever writes them: this sidecar,
 * or another one on the node that caches the same dataset (the folder is shared per dataset).
 *
 * Why: with it the disk tier can answer "not cached" for a block its index does not know
 * without asking a worker thread to open the file — every block's first lookup in a cold read,
 * and every small file's. That round trip was the largest share of the main thread's messages
 * to the workers (BENCHMARKS.md); skipping it made small files cold 10–25 % faster.
 *
 * One inotify watch per folder, not per file: the root (for new `<2 hex>` subfolders) and each
 * subfolder. Node 20's `recursive` watch on Linux would watch and stat every file. When a watch
 * fails (no inotify, too many watches) the tier goes back to asking the workers for everything.
 */
import { promises as fs, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

const SUBFOLDER = /^[0-9a-f]{2}$/;

export class CacheFolderWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  private broken = false;

  /**
   * @param dir the disk tier's folder
   * @param onBlockFile called with the relative path of a `.blk` file that appeared (or may have: a
   *   rename or deletion reports the name too; the listener checks)
   * @param onFailure called once, when watching stops working
   */
  constructor(
    private readonly dir: string,
    private readonly onBlockFile: (relative: string) => void,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** Whether every folder so far is watched: only then may a block the index lacks be called absent. */
  get healthy(): boolean {
    return !this.broken && this.watchers.has('');
  }

  /** Watch the root folder (call once it exists). */
  start(): void {
    this.add('', (name) => {
      if (SUBFOLDER.test(name)) this.folder(name, true);
    });
  }

  /** Watch subfolder `name` (idempotent); `list` reports the files it already holds. */
  folder(name: string, list = false): void {
    if (this.watchers.has(name)) return;
    this.add(name, (file) => {
      if (file.endsWith('.blk') && !file.startsWith('.')) this.onBlockFile(path.join(name, file));
    });
    // Files written before the watch began (a subfolder another process just made and filled).
    if (list) {
      void fs.readdir(path.join(this.dir, name)).then(
        (files) => files.filter((file) => file.endsWith('.blk') && !file.startsWith('.')).forEach((file) => this.onBlockFile(path.join(name, file))),
        () => undefined,
      );
    }
  }

  /** Stop for good (a scan still running starts no watch after this). */
  close(): void {
    this.broken = true;
    this.unwatch();
  }

  private unwatch(): void {
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private add(relative: string, onName: (name: string) => void): void {
    if (this.broken) return;
    try {
      const watcher = watch(path.join(this.dir, relative), { persistent: false }, (_event, name) => {
        if (typeof name === 'string') onName(name);
      });
      watcher.on('error', (error) => this.fail(error));
      this.watchers.set(relative, watcher);
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.broken) return;
    this.broken = true;
    this.unwatch();
    this.onFailure(error);
  }
}
