import { invalidNameReason, normalizePrefix, PathNames, splitPath } from '../../sidecar/path-names';

describe('path-names', () => {
  describe('when checking a directory-entry name', () => {
    it.each([
      ['plain.txt', undefined],
      ['with space', undefined],
      ['ünïcødé 日本語', undefined],
      ['..hidden', undefined],
      ['', 'empty path segment'],
      ['.', '"." is not a file name'],
      ['..', '".." is not a file name'],
      ['a\0b', 'contains NUL'],
      ['a/b', 'contains /'],
      ['x'.repeat(255), undefined],
      ['x'.repeat(256), 'longer than 255 bytes'],
      ['é'.repeat(128), 'longer than 255 bytes'],
    ])('%j → %s', (name, reason) => {
      expect(invalidNameReason(name)).toBe(reason);
    });
  });

  describe('when mapping paths to keys', () => {
    it.each([
      ['', '', '/a/b', 'a/b', 'a/b/'],
      ['train', 'train/', '/a', 'train/a', 'train/a/'],
      ['/train/', 'train/', '/', 'train/', 'train/'],
      ['train//', 'train/', '/x/y', 'train/x/y', 'train/x/y/'],
    ])('prefix %j (normalised %j): %s → key %s, directory prefix %s', (prefix, normalised, path, key, directory) => {
      const names = new PathNames(prefix);
      expect(names.prefix).toBe(normalised);
      expect(normalizePrefix(prefix)).toBe(normalised);
      expect(names.keyOf(path)).toBe(key);
      expect(names.directoryPrefixOf(path)).toBe(path === '/' ? normalised : directory);
      if (path !== '/') expect(names.pathOf(key)).toBe(path);
    });
  });

  describe('when splitting paths', () => {
    it.each([
      ['/a', ['/', 'a']],
      ['/a/b/c', ['/a/b', 'c']],
    ])('%s → %j', (path, parts) => {
      expect(splitPath(path)).toEqual(parts);
    });
  });
});
