import * as nodeCrypto from 'node:crypto';
import { nativeBlockCryptoPath } from '../../sidecar/block-file-pool';
import { blockCodec, blockFileName, BLOCK_FILE_OVERHEAD, decodeBlock, deriveBlockKeys, encodeBlock, type NativeBlockCrypto } from '../../sidecar/block-file';

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

  describe('with the native AES-GCM module (native/block-crypto.c, built by make install)', () => {
    const modulePath = nativeBlockCryptoPath();
    const native = (() => {
      const module = { exports: {} as NativeBlockCrypto };
      if (modulePath) process.dlopen(module, modulePath);
      return module.exports;
    })();
    const withNative = blockCodec(nodeCrypto, native);
    const withNode = blockCodec(nodeCrypto);
    const encodeWith = (codec: typeof withNode, block: Buffer) => {
      const target = Buffer.alloc(block.length + BLOCK_FILE_OVERHEAD + 7, 0xee);
      const length = codec.encodeInto(keys.encryption, id, block, target);
      expect(length).toBe(block.length + BLOCK_FILE_OVERHEAD);
      return target.subarray(0, length);
    };

    it('is built and found where the disk workers look for it', () => {
      expect(modulePath).toMatch(/node_modules\/\.datamount\/block_crypto\.node$/);
    });

    it('makes the codec seal in place (the workers then seal page-cache writes into their scratch buffer too)', () => {
      expect(withNative.sealsInPlace).toBe(true);
      expect(withNode.sealsInPlace).toBe(false);
    });

    it.each([0, 1, 65_537, 1024 * 1024])('writes files of %i-byte blocks that node:crypto reads, and reads node:crypto\'s', (size) => {
      const block = nodeCrypto.randomBytes(size);
      expect(withNode.decode(keys.encryption, id, encodeWith(withNative, block))?.equals(block)).toBe(true);
      const target = Buffer.alloc(size + 3, 0xee);
      expect(withNative.decodeInto(keys.encryption, id, encodeWith(withNode, block), target)).toBe(size);
      expect(target.subarray(0, size).equals(block)).toBe(true);
    });

    it('seals into a SharedArrayBuffer view from one, as the workers do', () => {
      const block = Buffer.from(new SharedArrayBuffer(4096)).fill(9);
      const target = Buffer.from(new SharedArrayBuffer(4096 + BLOCK_FILE_OVERHEAD));
      withNative.encodeInto(keys.encryption, id, block, target);
      expect(decodeBlock(keys, id, target)?.equals(block)).toBe(true);
    });

    it.each([
      ['a flipped ciphertext bit', 30, id],
      ['a flipped header bit', 21, id],
      ['a flipped tag bit', -1, id],
      ['another block id', undefined, `${id}8`],
    ])('rejects %s', (_name, flip, readAs) => {
      const file = Buffer.from(encodeWith(withNative, Buffer.from('the bytes of one block')));
      if (flip !== undefined) {
        const at = flip < 0 ? file.length + flip : flip;
        file[at] = (file[at] ?? 0) ^ 0x01;
      }
      expect(withNative.decodeInto(keys.encryption, readAs, file, Buffer.alloc(64))).toBe(-1);
    });

    it('rejects keys of other credentials, and a destination too small', () => {
      const file = encodeWith(withNative, Buffer.alloc(100, 1));
      expect(withNative.decodeInto(deriveBlockKeys('AKIA\0other', context).encryption, id, file, Buffer.alloc(100))).toBe(-1);
      expect(withNative.decodeInto(keys.encryption, id, file, Buffer.alloc(99))).toBe(-1);
      expect(withNative.decodeInto(keys.encryption, id, file, Buffer.alloc(100))).toBe(100);
    });

    it('refuses a target that cannot hold the file', () => {
      expect(() => withNative.encodeInto(keys.encryption, id, Buffer.alloc(100), Buffer.alloc(100 + BLOCK_FILE_OVERHEAD - 1))).toThrow(RangeError);
    });

    it.each([
      ['a short key', [Buffer.alloc(16), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(16)]],
      ['a short nonce', [Buffer.alloc(32), Buffer.alloc(8), Buffer.alloc(0), Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(16)]],
      ['an output shorter than the input', [Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(8), Buffer.alloc(7), Buffer.alloc(16)]],
      ['a string for bytes', [Buffer.alloc(32), Buffer.alloc(12), 'aad', Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(16)]],
      ['too few arguments', [Buffer.alloc(32), Buffer.alloc(12)]],
    ])('answers false to %s, without crashing', (_name, args) => {
      const call = (fn: (...a: unknown[]) => boolean) => fn(...(args as unknown[]));
      expect(call(native.seal as (...a: unknown[]) => boolean)).toBe(false);
      expect(call(native.open as (...a: unknown[]) => boolean)).toBe(false);
    });
  });
});
