import { bigBlock, checkBigRange, checkSmallFile, fillBigRange, MiB, smallFileBody } from '../../bench/bench-dataset';
import { shuffled } from '../../common/seeded-random';

describe('bench data set marks', () => {
  describe('when a range of the big object is read', () => {
    const object = Buffer.concat([bigBlock(0, MiB), bigBlock(1, MiB), bigBlock(2, MiB)]);

    it.each([[0], [MiB], [4096], [MiB - 4]])('accepts the right bytes at offset %p', (offset) => {
      expect(checkBigRange(object.subarray(offset, offset + MiB), offset)).toBeUndefined();
    });

    it('rejects a block served at the wrong place', () => {
      expect(checkBigRange(object.subarray(MiB, 2 * MiB), 2 * MiB)).toMatch(/reads 1, wanted 2/);
    });
  });

  describe('when a small file is read', () => {
    const body = smallFileBody('small/d00/f001.bin', 65536);

    it('accepts its own content', () => {
      expect(checkSmallFile(body, 'small/d00/f001.bin', 65536)).toBeUndefined();
    });

    it.each([
      ['another file', smallFileBody('small/d00/f002.bin', 65536), /another file/],
      ['a short read', body.subarray(0, 4096), /read 4096 bytes/],
    ])('rejects %s', (_what, read, message) => {
      expect(checkSmallFile(read, 'small/d00/f001.bin', 65536)).toMatch(message);
    });
  });

  describe('shuffled', () => {
    it('repeats for a seed, differs between seeds, and keeps every item', () => {
      const items = Array.from({ length: 100 }, (_, i) => i);
      expect(shuffled(items, 1)).toEqual(shuffled(items, 1));
      expect(shuffled(items, 1)).not.toEqual(shuffled(items, 2));
      expect([...shuffled(items, 1)].sort((a, b) => a - b)).toEqual(items);
    });
  });

  describe('when the big object is generated in place (the fuse-native ceiling serves it so)', () => {
    const object = Buffer.concat([bigBlock(0, MiB), bigBlock(1, MiB), bigBlock(2, MiB)]);
    it.each([
      ['a whole block', 0, MiB],
      ['a 128 KiB piece inside a block', MiB + 128 * 1024, 128 * 1024],
      ['a range across a block boundary', MiB - 100, 300],
      ['a range starting inside a mark', 2 * MiB + 3, 50],
      ['a range ending inside a mark', 2 * MiB - 10, 14],
    ])('gives the same bytes as the uploaded object: %s', (_name, offset, length) => {
      const target = Buffer.alloc(length, 0xee);
      fillBigRange(target, offset);
      expect(target.equals(object.subarray(offset, offset + length))).toBe(true);
    });
  });
});
