import { FileTree } from '../../sidecar/file-tree';
import type { Logger } from '../../sidecar/logger';
import { MemoryObjectClient } from '../../sidecar/memory-object-client';
import { MetadataCache } from '../../sidecar/metadata-cache';
import { PathNames } from '../../sidecar/path-names';

function setup(keys: string[], prefix = '') {
  const client = new MemoryObjectClient();
  for (const key of keys) client.seed(key, key);
  const warnings: Array<[string, unknown]> = [];
  const log: Logger = { debug: () => {}, info: () => {}, warn: (m, f) => warnings.push([m, f?.key]), error: () => {} };
  let now = 0;
  const cache = new MetadataCache({ ttlMs: 1000, negativeTtlMs: 500, now: () => now });
  const tree = new FileTree(client, new PathNames(prefix), cache, log);
  return { client, tree, warnings, advance: (ms: number) => (now += ms) };
}

describe('file-tree', () => {
  describe('when looking up a path not covered by a listing', () => {
    it('asks S3 once with a HEAD and a one-key LIST in parallel', async () => {
      const { client, tree } = setup(['a/b.txt']);
      expect(await tree.stat('/a')).toMatchObject({ kind: 'directory' });
      expect(await tree.stat('/a/b.txt')).toMatchObject({ kind: 'file', size: 7 });
      expect(client.requests.map((r) => r.operation).sort()).toEqual(['head', 'head', 'list', 'list']);
    });

    it('prefers the directory when a key is both an object and a prefix, logging it once', async () => {
      const { tree, warnings } = setup(['x', 'x/y']);
      expect(await tree.stat('/x')).toMatchObject({ kind: 'directory' });
      await tree.list('/');
      expect(warnings.filter(([, key]) => key === 'x')).toHaveLength(1);
    });
  });

  describe('when a directory has been listed', () => {
    it('answers lookups of its children, positive and negative, without S3', async () => {
      const { client, tree } = setup(['d/one', 'd/two']);
      await tree.list('/d');
      const before = client.requests.length;
      expect(await tree.stat('/d/one')).toMatchObject({ kind: 'file' });
      expect(await tree.stat('/d/three')).toBeNull();
      expect(client.requests.length).toBe(before);
    });

    it('lists again once the TTL has passed and sees new objects', async () => {
      const { client, tree, advance } = setup(['d/one']);
      expect([...(await tree.list('/d')).keys()]).toEqual(['one']);
      client.seed('d/two', 'new');
      expect([...(await tree.list('/d')).keys()]).toEqual(['one']);
      advance(1000);
      expect([...(await tree.list('/d')).keys()]).toEqual(['one', 'two']);
    });

    it('answers lookups after the TTL by listing the directory again, once for all of them', async () => {
      const { client, tree, advance } = setup(['d/one', 'd/two', 'd/three']);
      await tree.list('/d');
      client.seed('d/one', 'changed contents');
      client.seed('d/four', 'new');
      advance(1000);
      const before = client.requests.length;
      const [one, two, four, five] = await Promise.all(['/d/one', '/d/two', '/d/four', '/d/five'].map((p) => tree.stat(p)));
      expect(one).toMatchObject({ kind: 'file', size: 'changed contents'.length });
      expect(two).toMatchObject({ kind: 'file' });
      expect(four).toMatchObject({ kind: 'file', size: 3 });
      expect(five).toBeNull();
      expect(client.requests.slice(before).map((r) => r.operation)).toEqual(['list']);
    });

    it('lists a directory once for concurrent callers', async () => {
      const { client, tree } = setup(['d/one']);
      await Promise.all([tree.list('/d'), tree.list('/d'), tree.list('/d')]);
      expect(client.count('list')).toBe(1);
    });
  });

  describe('when keys cannot be names', () => {
    it.each([
      ['an empty segment', 'd//x', ''],
      ['a dot segment', 'd/./x', '.'],
      ['a dot-dot segment', 'd/../x', '..'],
      ['an over-long name', `d/${'n'.repeat(300)}`, 'n'.repeat(300)],
    ])('skips %s and logs it once', async (_name, key, entry) => {
      const { tree, warnings } = setup([key, 'd/ok']);
      expect([...(await tree.list('/d')).keys()]).toEqual(['ok']);
      await tree.list('/d');
      expect(warnings).toHaveLength(1);
      expect(await tree.stat(`/d/${entry}`)).toBeNull();
    });
  });
});
