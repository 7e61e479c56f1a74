import { testMount, type TestMount } from './handlers-fixture';
import type { DatasetSpec } from '../../sidecar/dataset-mount';

const AHEAD = 4;
const dirName = (i: number): string => `d${String(i).padStart(2, '0')}`;

/** Let every LIST started ahead run to its end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** `top/d00 … top/dNN`, each with two files and, for the first, two subdirectories of its own. */
function treeMount(subdirectories: number, overrides: Partial<DatasetSpec> = {}): TestMount {
  const mount = testMount({ readOnly: true, listingPrefetch: { directories: AHEAD }, ...overrides });
  for (let i = 0; i < subdirectories; i++) {
    mount.client.seed(`top/${dirName(i)}/a`, 'a');
    mount.client.seed(`top/${dirName(i)}/b`, 'b');
  }
  mount.client.seed('top/d00/x/file', 'x');
  mount.client.seed('top/d00/y/file', 'y');
  mount.client.seed('other/file', 'o');
  return mount;
}

/** Prefixes listed (delimiter listings of whole directories), in order. */
const lists = (mount: TestMount): string[] => mount.client.requests.filter((r) => r.operation === 'list').map((r) => r.key);

const counter = (mount: TestMount, metric: 'listingPrefetch' | 'listingPrefetchUsed'): number => mount.metrics[metric].get({ dataset: 'test' });

describe('listing-prefetcher', () => {
  describe('when a directory is read', () => {
    it(`lists its first ${AHEAD} subdirectories ahead, in listing order, and no more`, async () => {
      const mount = treeMount(20);
      await mount.handlers.readdir('/top');
      await settle();
      expect(lists(mount).filter((prefix) => /^top\/d\d\d\/$/.test(prefix))).toEqual([0, 1, 2, 3].map((i) => `top/${dirName(i)}/`));
      expect(counter(mount, 'listingPrefetch')).toBe(AHEAD);
    });

    it('lists no sibling of a directory whose parent was not read (ls -R dir stays in dir)', async () => {
      const mount = treeMount(20);
      await mount.handlers.readdir('/top');
      await mount.handlers.readdir('/top/d10');
      await settle();
      expect(lists(mount)).not.toContain('other/');
      const direct = treeMount(20);
      await direct.handlers.readdir('/top/d10');
      await settle();
      expect(lists(direct).filter((prefix) => /^top\/d\d\d\/$/.test(prefix) && prefix !== 'top/d10/')).toEqual([]);
    });

    it('lists nothing again that is cached', async () => {
      const mount = treeMount(20);
      await mount.handlers.readdir('/top/d01');
      const before = lists(mount).length;
      await mount.handlers.readdir('/top');
      await settle();
      expect(lists(mount).slice(before)).not.toContain('top/d01/');
      expect(lists(mount).slice(before)).toContain('top/d02/');
    });
  });

  describe('when a walker descends depth first, as ls -R and find do', () => {
    it('finds every listing cached or on its way, and each directory is listed once in all', async () => {
      const mount = treeMount(20);
      const walk = async (path: string): Promise<void> => {
        const { names, stats } = await mount.handlers.readdir(path);
        for (let i = 2; i < names.length; i++) {
          if ((stats[i]?.mode ?? 0) & 0o040000) await walk(`${path === '/' ? '' : path}/${names[i]}`);
        }
      };
      await mount.handlers.readdir('/');
      await walk('/top');
      await settle();
      const listed = lists(mount).filter((prefix) => prefix.startsWith('top/'));
      expect(new Set(listed).size).toBe(listed.length);
      expect(listed).toHaveLength(1 + 20 + 2);
      // /top itself was listed ahead when / was read.
      expect(counter(mount, 'listingPrefetchUsed')).toBe(1 + 20 + 2);
    });
  });

  describe('when a walker descends breadth first, as a dataset walk does', () => {
    it('keeps listing ahead of it: every subdirectory read was listed ahead', async () => {
      const mount = treeMount(20);
      await mount.handlers.readdir('/top');
      for (let i = 0; i < 20; i++) await mount.handlers.readdir(`/top/${dirName(i)}`);
      await settle();
      expect(counter(mount, 'listingPrefetchUsed')).toBe(20);
      expect(lists(mount).filter((prefix) => /^top\/d\d\d\/$/.test(prefix))).toHaveLength(20);
    });
  });

  describe('when the budget is reached', () => {
    it(`keeps at most ${AHEAD} LISTs in flight`, async () => {
      const mount = treeMount(30);
      let inFlight = 0;
      let most = 0;
      mount.client.beforeRequest = async (request) => {
        if (request.operation !== 'list' || request.key === 'top/') return;
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
      };
      await mount.handlers.readdir('/top');
      for (let i = 0; i < 30; i++) await mount.handlers.readdir(`/top/${dirName(i)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(most).toBe(AHEAD);
    });
  });

  describe('when turned off', () => {
    it('lists only what is read', async () => {
      const mount = treeMount(20, { listingPrefetch: { directories: 0 } });
      await mount.handlers.readdir('/');
      await mount.handlers.readdir('/top');
      await settle();
      expect(lists(mount).filter((prefix) => prefix.startsWith('top/'))).toEqual(['top/']);
    });
  });
});
