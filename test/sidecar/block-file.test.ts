import { blockFileName, decodeBlock, deriveBlockKeys, encodeBlock } from '../../sidecar/block-file';

const context = { endpoint: 'https://s3.example.com', bucket: 'data' };
const keys = deriveBlockKeys('AKIA\0secret', context);
const id = ['data', 'train/x.bin', '"etag"', '7'].join('\0');
const data = Buffer.from('the bytes of one block');

describe('block-file', () => {
  describe('when a block is written and read back under the same keys and id', () => {
    it('returns the same bytes, stored encrypted', () => {
      const file = encodeBlock(keys, id, data);
      expect(decodeBlock(keys, id, file)?.equals(data)).toBe(true);
      expect(file.includes(data)).toBe(false);
    });
  });

  describe('when the file or its context is not what was written', () => {
    let file: Buffer;
    beforeAll(() => {
      file = encodeBlock(keys, id, data);
    });
    const flipped = (at: number) => {
      const copy = Buffer.from(file);
      copy[at] = (copy[at] ?? 0) ^ 0x01;
      return copy;
    };
    it.each([
      ['a flipped ciphertext bit', () => decodeBlock(keys, id, flipped(30))],
      ['a flipped header bit', () => decodeBlock(keys, id, flipped(21))],
      ['a flipped tag bit', () => decodeBlock(keys, id, flipped(file.length - 1))],
      ['a truncated file', () => decodeBlock(keys, id, file.subarray(0, file.length - 5))],
      ['an empty file', () => decodeBlock(keys, id, Buffer.alloc(0))],
      ['another block id (a file moved to another name)', () => decodeBlock(keys, `${id}8`, file)],
      ['keys of other credentials', () => decodeBlock(deriveBlockKeys('AKIA\0other', context), id, file)],
      ['keys of another bucket', () => decodeBlock(deriveBlockKeys('AKIA\0secret', { ...context, bucket: 'other' }), id, file)],
      ['anonymous keys', () => decodeBlock(deriveBlockKeys('', context), id, file)],
    ])('rejects %s', (_name, decode) => {
      expect(decode()).toBeUndefined();
    });
  });

  describe('when naming block files', () => {
    it('derives names from the keys, so names differ between tenants and reveal no object key', () => {
      const name = blockFileName(keys, id);
      expect(name).toMatch(/^[0-9a-f]{48}\.blk$/);
      expect(blockFileName(deriveBlockKeys('AKIA\0other', context), id)).not.toBe(name);
    });
  });
});
