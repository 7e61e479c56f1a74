import { access, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { effectiveBudget, LOW_WATER, runJanitor } from '../../sidecar/cache-janitor';
import { scanCache, usageByDataset } from '../../sidecar/cache-usage';

const T0 = Date.parse('2026-11-29T00:00:00Z');

async function put(root: string, path: string, bytes: number, ageMinutes: number): Promise<void> {
  const full = join(root, path);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, Buffer.alloc(bytes, 7));
  const at = new Date(T0 - ageMinutes * 60_000);
  await utimes(full, at, at);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

describe('cache janitor', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'datamount-janitor-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('when the cache is over a byte budget', () => {
    beforeEach(async () => {
      // Ages in minutes: the older, the sooner it goes, whatever its dataset.
      await put(root, 'ml/imagenet/a/1.blk', 1000, 50);
      await put(root, 'ml/coco/2.blk', 1000, 40);
      await put(root, 'ml/imagenet/a/3.blk', 1000, 30);
      await put(root, 'team/logs/4.blk', 1000, 20);
      await put(root, 'ml/coco/5.blk', 1000, 10);
      await put(root, 'ml/imagenet/6.blk.tmp', 5000, 60);
      await put(root, 'ml/imagenet/.tmp7.blk', 5000, 60);
    });

    it('evicts the least recently used blocks across datasets until under budget', async () => {
      const result = await runJanitor(await scanCache(root), { root, budget: { maxBytes: 3500 } });
      expect(result.evicted).toEqual({ blocks: 2, bytes: 2000 });
      expect(await exists(join(root, 'ml/imagenet/a/1.blk'))).toBe(false);
      expect(await exists(join(root, 'ml/coco/2.blk'))).toBe(false);
      expect(await exists(join(root, 'ml/imagenet/a/3.blk'))).toBe(true);
      const after = usageByDataset((await scanCache(root)).blocks);
      const total = Object.values(after).reduce((sum, u) => sum + u.bytes, 0);
      expect(total).toBeLessThanOrEqual(3500 * LOW_WATER);
      expect(usageByDataset(result.kept)).toEqual(after);
    });

    it('never touches temporary files, whatever their age', async () => {
      await runJanitor(await scanCache(root), { root, budget: { maxBytes: 0 } });
      expect(await exists(join(root, 'ml/imagenet/6.blk.tmp'))).toBe(true);
      expect(await exists(join(root, 'ml/imagenet/.tmp7.blk'))).toBe(true);
      expect((await scanCache(root)).blocks).toEqual([]);
    });

    it.each([
      ['under budget', 10_000],
      ['exactly at budget', 5000],
    ])('evicts nothing when %s', async (_name, maxBytes) => {
      const result = await runJanitor(await scanCache(root), { root, budget: { maxBytes } });
      expect(result.evicted).toEqual({ blocks: 0, bytes: 0 });
      expect((await scanCache(root)).blocks).toHaveLength(5);
    });

    it('reports a block it cannot delete and evicts the next oldest instead', async () => {
      const scan = await scanCache(root);
      // Unlinking a directory fails (EISDIR), like a block on a read-only or broken disk would.
      await rm(join(root, 'ml/imagenet/a/1.blk'));
      await mkdir(join(root, 'ml/imagenet/a/1.blk'));
      const result = await runJanitor(scan, { root, budget: { maxBytes: 3500 } });
      expect(result.failures).toEqual([expect.stringContaining('ml/imagenet/a/1.blk')]);
      expect(result.evicted).toEqual({ blocks: 2, bytes: 2000 });
      expect(await exists(join(root, 'ml/coco/2.blk'))).toBe(false);
      expect(await exists(join(root, 'ml/imagenet/a/3.blk'))).toBe(false);
      expect(await exists(join(root, 'team/logs/4.blk'))).toBe(true);
    });

    it('counts a block already deleted by someone else as gone, without failing', async () => {
      const scan = await scanCache(root);
      await rm(join(root, 'ml/imagenet/a/1.blk'));
      const result = await runJanitor(scan, { root, budget: { maxBytes: 3500 } });
      expect(result.failures).toEqual([]);
      expect((await scanCache(root)).blocks).toHaveLength(3);
    });
  });

  describe('when the budget is a percent of the free space', () => {
    it.each<[string, { maxBytes?: number; maxPercentOfFree?: number }, number | undefined]>([
      ['percent only: of free space plus the cache itself', { maxPercentOfFree: 50 }, 5000],
      ['both: the smaller wins', { maxBytes: 4000, maxPercentOfFree: 50 }, 4000],
      ['both: the smaller wins (percent)', { maxBytes: 9000, maxPercentOfFree: 10 }, 1000],
      ['none: unbounded', {}, undefined],
    ])('%s', async (_name, budget, wanted) => {
      const freeBytes = jest.fn(async () => 6000);
      expect(await effectiveBudget({ root, budget, freeBytes }, 4000)).toBe(wanted);
    });

    it('reads the real file system with statfs', async () => {
      const budget = await effectiveBudget({ root, budget: { maxPercentOfFree: 100 } }, 0);
      expect(budget).toBeGreaterThan(0);
    });
  });

  describe('when folders are empty', () => {
    it('removes empty folders below the dataset folders that have been quiet for the grace period', async () => {
      await put(root, 'ml/old/x/1.blk', 10, 100);
      await put(root, 'ml/kept/2.blk', 10, 1);
      await mkdir(join(root, 'ml/idle/sub'), { recursive: true });
      await utimes(join(root, 'ml/idle/sub'), new Date(T0 - 3_600_000), new Date(T0 - 3_600_000));
      await utimes(join(root, 'ml/idle'), new Date(T0 - 3_600_000), new Date(T0 - 3_600_000));
      const result = await runJanitor(await scanCache(root), {
        root, budget: { maxBytes: 15 }, folderGraceMs: 60_000, now: () => Date.now() + 3_600_000,
      });
      expect(result.removedFolders.map((p) => p.slice(root.length + 1)).sort()).toEqual(['ml/idle/sub', 'ml/old/x']);
      expect(await exists(join(root, 'ml/kept/2.blk'))).toBe(true);
      expect(await exists(join(root, 'ml'))).toBe(true);
      // A dataset folder is a running sidecar's hostPath mount: never removed, even empty and quiet.
      expect(await exists(join(root, 'ml/idle'))).toBe(true);
      expect(await exists(join(root, 'ml/old'))).toBe(true);
    });

    it('keeps an empty folder that changed within the grace period (a sidecar may be about to write)', async () => {
      await mkdir(join(root, 'ml/new-dataset'), { recursive: true });
      const result = await runJanitor(await scanCache(root), { root, budget: {}, folderGraceMs: 60_000 });
      expect(result.removedFolders).toEqual([]);
      expect(await exists(join(root, 'ml/new-dataset'))).toBe(true);
    });

    it('keeps a folder in which a file appeared after the scan', async () => {
      await mkdir(join(root, 'ml/racing'), { recursive: true });
      const scan = await scanCache(root);
      await writeFile(join(root, 'ml/racing/.tmp-block'), 'x');
      const result = await runJanitor(scan, { root, budget: {}, folderGraceMs: 0 });
      expect(result.removedFolders).toEqual([]);
      expect(await exists(join(root, 'ml/racing/.tmp-block'))).toBe(true);
    });
  });
});
