import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BlockFileError, BlockFilePool } from '../../sidecar/block-file-pool';
import { decodeBlock, deriveBlockKeys, encodeBlock } from '../../sidecar/block-file';

const keys = deriveBlockKeys('AKIA\0secret', { endpoint: 'http://s3', bucket: 'b' });
const id = 'b\0train/x.bin\0"etag"\x000';

describe('BlockFilePool', () => {
  let dir: string;
  let pool: BlockFilePool;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'block-pool-'));
    pool = new BlockFilePool(2);
  });
  afterEach(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when a block is written from a SharedArrayBuffer', () => {
    it('stores the block format, readable by the main-thread codec, with no temporary file left', async () => {
      const data = Buffer.from(new SharedArrayBuffer(300_000)).fill(7);
      const file = path.join(dir, 'ab', 'one.blk');
      const bytes = await pool.write({ file, ensureFolder: true, key: keys.encryption, id, data });
      const stored = readFileSync(file);
      expect(bytes).toBe(stored.length);
      expect(decodeBlock(keys, id, stored)?.equals(data)).toBe(true);
      expect(readdirSync(path.dirname(file))).toEqual(['one.blk']);
    });
  });

  describe('when a block is written from part of an ordinary buffer', () => {
    it('writes exactly that part', async () => {
      const whole = Buffer.from('xxxxTHE BLOCKyyyy');
      const file = path.join(dir, 'part.blk');
      await pool.write({ file, ensureFolder: false, key: keys.encryption, id, data: whole.subarray(4, 13) });
      expect(decodeBlock(keys, id, readFileSync(file))?.toString()).toBe('THE BLOCK');
    });
  });

  describe('when reading', () => {
    it.each([
      ['with its size known', true],
      ['with its size unknown (stat first)', false],
    ])('returns the plaintext of an intact file %s', async (_name, knownSize) => {
      const data = Buffer.from('hello block');
      const file = path.join(dir, 'r.blk');
      const encoded = encodeBlock(keys, id, data);
      writeFileSync(file, encoded);
      const result = await pool.read({ file, size: knownSize ? encoded.length : -1, key: keys.encryption, id });
      expect(result).toMatchObject({ status: 'found', fileBytes: encoded.length });
      expect(result.status === 'found' && result.data.equals(data)).toBe(true);
    });

    it.each([
      ['a small block', 11],
      ['a 1 MiB block (decrypted in steps)', 1024 * 1024],
      ['a block of an odd size', 200_003],
    ])('decodes %s into the destination it is given, through a staging slot', async (_name, size) => {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 7) % 256;
      const file = path.join(dir, 'into.blk');
      writeFileSync(file, encodeBlock(keys, id, data));
      const destinations: Buffer[] = [];
      const result = await pool.read({ file, size: -1, key: keys.encryption, id }, (length) => {
        const buffer = Buffer.alloc(length, 0xee);
        destinations.push(buffer);
        return buffer;
      });
      expect(destinations).toHaveLength(1);
      expect(result.status === 'found' && result.data === destinations[0]).toBe(true);
      expect(result.status === 'found' && result.data.equals(data)).toBe(true);
    });

    it('reports a tampered file as corrupt when decoding into a destination, and never calls it', async () => {
      const file = path.join(dir, 'bad-into.blk');
      const encoded = encodeBlock(keys, id, Buffer.alloc(300_000, 1));
      encoded[100_000] = (encoded[100_000] ?? 0) ^ 1;
      writeFileSync(file, encoded);
      let called = false;
      const result = await pool.read({ file, size: -1, key: keys.encryption, id }, (length) => {
        called = true;
        return Buffer.alloc(length);
      });
      expect(result).toEqual({ status: 'corrupt' });
      expect(called).toBe(false);
    });

    it('reads into destinations with more reads in flight than staging slots', async () => {
      const blocks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(100_000 + i, i));
      blocks.forEach((block, i) => writeFileSync(path.join(dir, `m${i}.blk`), encodeBlock(keys, `${id}${i}`, block)));
      const results = await Promise.all(blocks.map((_, i) => pool.read({ file: path.join(dir, `m${i}.blk`), size: -1, key: keys.encryption, id: `${id}${i}` }, (length) => Buffer.alloc(length))));
      results.forEach((result, i) => expect(result.status === 'found' && result.data.equals(blocks[i] as Buffer)).toBe(true));
    });

    it('reports a missing file as missing', async () => {
      expect(await pool.read({ file: path.join(dir, 'none.blk'), size: -1, key: keys.encryption, id })).toEqual({ status: 'missing' });
    });

    it('reports a file that does not authenticate as corrupt, and deletes it', async () => {
      const file = path.join(dir, 'bad.blk');
      const encoded = encodeBlock(keys, id, Buffer.from('hello block'));
      encoded[30] = (encoded[30] ?? 0) ^ 1;
      writeFileSync(file, encoded);
      expect(await pool.read({ file, size: -1, key: keys.encryption, id })).toEqual({ status: 'corrupt' });
      expect(existsSync(file)).toBe(false);
    });
  });

  describe('when the file system refuses a write', () => {
    it('rejects with the errno code and leaves no temporary file', async () => {
      const file = path.join(dir, 'no-such-folder', 'x.blk');
      const failure = pool.write({ file, ensureFolder: false, key: keys.encryption, id, data: Buffer.from('x') });
      await expect(failure).rejects.toBeInstanceOf(BlockFileError);
      await expect(failure).rejects.toMatchObject({ code: 'ENOENT' });
      expect(readdirSync(dir)).toEqual([]);
    });
  });

  describe('when many calls are in flight at once', () => {
    it('answers each with its own result', async () => {
      const blocks = Array.from({ length: 40 }, (_, i) => Buffer.from(`block number ${i}`));
      await Promise.all(blocks.map((data, i) => pool.write({ file: path.join(dir, `${i}.blk`), ensureFolder: false, key: keys.encryption, id: `${id}${i}`, data })));
      const read = await Promise.all(blocks.map((_, i) => pool.read({ file: path.join(dir, `${i}.blk`), size: -1, key: keys.encryption, id: `${id}${i}` })));
      expect(read.map((r) => (r.status === 'found' ? r.data.toString() : r.status))).toEqual(blocks.map((b) => b.toString()));
    });
  });

  describe('when the pool is closed', () => {
    it('refuses further calls', async () => {
      await pool.close();
      await expect(pool.read({ file: path.join(dir, 'x.blk'), size: -1, key: keys.encryption, id })).rejects.toThrow(/closed/);
    });
  });

  describe('when built with a size that is not a positive integer', () => {
    it.each([0, -1, 1.5])('refuses %p', (size) => {
      expect(() => new BlockFilePool(size)).toThrow(/positive integer/);
    });
  });
});
