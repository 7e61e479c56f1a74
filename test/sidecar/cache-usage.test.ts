import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatCacheReport, scanCache, usageByDataset } from '../../sidecar/cache-usage';
import { parseCacheLocations } from '../../webhook/cache-hints';

async function put(root: string, path: string, bytes: number): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), Buffer.alloc(bytes, 1));
}

describe('cache usage', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'datamount-usage-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('when the cache holds blocks, temporary files and bookkeeping', () => {
    beforeEach(async () => {
      await put(root, 'ml/imagenet/ab/0001.blk', 1000);
      await put(root, 'ml/imagenet/ab/cd/0002.blk', 500);
      await put(root, 'ml/imagenet/0003.blk.tmp', 7000);
      await put(root, 'ml/imagenet/.tmp-0004.blk', 7000);
      await put(root, 'ml/imagenet/index.json', 300);
      await put(root, 'ml/coco/x.blk', 42);
      await put(root, 'team-b/logs/deep/er/still/y.blk', 8);
      await put(root, 'stray-file.blk', 99);
      await put(root, 'ml/stray-in-namespace.blk', 99);
      await mkdir(join(root, 'ml/empty-dataset'), { recursive: true });
    });

    it('sums bytes and counts only *.blk files per namespace/dataset, at any depth', async () => {
      const scan = await scanCache(root);
      expect(usageByDataset(scan.blocks)).toEqual({
        'ml/coco': { bytes: 42, blocks: 1 },
        'ml/imagenet': { bytes: 1500, blocks: 2 },
        'team-b/logs': { bytes: 8, blocks: 1 },
      });
    });

    it('lists every folder below the root with its entry count', async () => {
      const scan = await scanCache(root);
      const byPath = Object.fromEntries(scan.folders.map((f) => [f.path.slice(root.length + 1), [f.depth, f.entries]]));
      expect(byPath).toMatchObject({ 'ml': [1, 4], 'ml/imagenet': [2, 4], 'ml/imagenet/ab': [3, 2], 'ml/empty-dataset': [2, 0] });
    });
  });

  describe('when a dataset folder links outside the cache', () => {
    it('does not follow the link', async () => {
      const outside = await mkdtemp(join(tmpdir(), 'datamount-outside-'));
      try {
        await put(outside, 'secret.blk', 123);
        await mkdir(join(root, 'ml'));
        await symlink(outside, join(root, 'ml/linked'));
        await put(root, 'ml/real/a.blk', 1);
        const scan = await scanCache(root);
        expect(scan.blocks.map((b) => b.dataset)).toEqual(['ml/real']);
      } finally {
        await rm(outside, { recursive: true, force: true });
      }
    });
  });

  describe('when the root does not exist', () => {
    it('reports an empty cache', async () => {
      const scan = await scanCache(join(root, 'missing'));
      expect(scan).toEqual({ blocks: [], folders: [], unreadable: [] });
    });
  });

  describe('when the cache holds 100,000 blocks', () => {
    it('walks them all without stalling the event loop for long', async () => {
      const files = 100_000;
      for (let d = 0; d < 100; d += 1) {
        const folder = join(root, 'ns', `ds${d % 4}`, `f${d}`);
        await mkdir(folder, { recursive: true });
        await Promise.all(Array.from({ length: files / 100 }, (_, i) => writeFile(join(folder, `${i}.blk`), 'x')));
      }
      let longestGapMs = 0;
      let last = performance.now();
      const ticker = setInterval(() => {
        const at = performance.now();
        longestGapMs = Math.max(longestGapMs, at - last);
        last = at;
      }, 5);
      const scan = await scanCache(root);
      clearInterval(ticker);
      expect(scan.blocks).toHaveLength(files);
      expect(usageByDataset(scan.blocks)['ns/ds0']).toEqual({ bytes: 25_000, blocks: 25_000 });
      // A synchronous walk would hold the loop for the whole scan (seconds); generous bound for 2 busy cores.
      expect(longestGapMs).toBeLessThan(500);
    }, 120_000);
  });
});

describe('formatCacheReport', () => {
  it('writes the ConfigMap value the webhook reads back', () => {
    const value = formatCacheReport({ 'ml/imagenet': { bytes: 81604378624, blocks: 9728 } }, new Date('2026-11-29T05:00:00.789Z'));
    expect(JSON.parse(value)).toEqual({ updated: '2026-11-29T05:00:00Z', datasets: { 'ml/imagenet': { bytes: 81604378624, blocks: 9728 } } });
    const log = jest.fn();
    expect(parseCacheLocations({ 'node-a': value }, log)).toEqual([
      { node: 'node-a', updated: new Date('2026-11-29T05:00:00Z'), datasets: { 'ml/imagenet': { bytes: 81604378624 } } },
    ]);
    expect(log).not.toHaveBeenCalled();
  });
});
