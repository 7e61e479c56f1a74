import * as nodeCrypto from 'node:crypto';
import * as nodeFs from 'node:fs';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { BlockFileError, BlockFilePool, serveBlockFiles, type BlockDestination, type BlockFilePoolOptions } from '../../sidecar/block-file-pool';
import { blockCodec, decodeBlock, deriveBlockKeys, encodeBlock, BLOCK_FILE_OVERHEAD } from '../../sidecar/block-file';

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

    it('encrypts it where it is, without a copy into a staging slot (an ordinary block gets one)', async () => {
      const shared = Buffer.from(new SharedArrayBuffer(4096)).fill(1);
      await pool.write({ file: path.join(dir, 'shared.blk'), ensureFolder: false, key: keys.encryption, id, data: shared });
      expect(pool.stagedWrites).toBe(0);
      const ordinary = Buffer.alloc(4096, 2);
      await pool.write({ file: path.join(dir, 'ordinary.blk'), ensureFolder: false, key: keys.encryption, id, data: ordinary });
      expect(pool.stagedWrites).toBe(1);
      expect(decodeBlock(keys, id, readFileSync(path.join(dir, 'shared.blk')))?.equals(shared)).toBe(true);
      expect(decodeBlock(keys, id, readFileSync(path.join(dir, 'ordinary.blk')))?.equals(ordinary)).toBe(true);
    });
  });

  describe('when its workers encrypt with the native module or with node:crypto', () => {
    it('uses the native module by default, once built', () => {
      expect(pool.crypto).toEqual({ native: expect.stringMatching(/block_crypto\.node$/) });
    });

    it.each([
      ['native writes, node:crypto reads', {}, { blockCrypto: false }],
      ['node:crypto writes, native reads', { blockCrypto: false }, {}],
    ] as Array<[string, BlockFilePoolOptions, BlockFilePoolOptions]>)('%s the same files, into a destination and into a buffer of its own', async (_name, writerOptions, readerOptions) => {
      const writer = new BlockFilePool(1, writerOptions);
      const reader = new BlockFilePool(1, readerOptions);
      try {
        expect([writer.crypto === 'node:crypto', reader.crypto === 'node:crypto']).toEqual([writerOptions.blockCrypto === false, readerOptions.blockCrypto === false]);
        const data = nodeCrypto.randomBytes(1024 * 1024 - 5);
        const file = path.join(dir, 'x.blk');
        await writer.write({ file, ensureFolder: false, key: keys.encryption, id, data });
        const into = await reader.read({ file, size: -1, key: keys.encryption, id }, (length) => Buffer.alloc(length));
        const own = await reader.read({ file, size: -1, key: keys.encryption, id });
        for (const result of [into, own]) expect(result.status === 'found' && result.data.equals(data)).toBe(true);
      } finally {
        await Promise.all([writer.close(), reader.close()]);
      }
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

    describe('with the file size known (from the disk tier\'s index)', () => {
      const sizes = [1, 65_537, 1024 * 1024];
      const stored = (size: number, name: string): { file: string; data: Buffer; fileBytes: number } => {
        const data = Buffer.alloc(size);
        for (let i = 0; i < size; i++) data[i] = (i * 13 + size) % 256;
        const file = path.join(dir, name);
        const encoded = encodeBlock(keys, id, data);
        writeFileSync(file, encoded);
        return { file, data, fileBytes: encoded.length };
      };

      it.each(sizes)('decodes %i bytes straight into a destination in shared memory, taken before the read', async (size) => {
        const { file, data, fileBytes } = stored(size, `shared-${size}.blk`);
        const destinations: Buffer[] = [];
        const result = await pool.read({ file, size: fileBytes, key: keys.encryption, id }, (length) => {
          const buffer = Buffer.from(new SharedArrayBuffer(length)).fill(0xee);
          destinations.push(buffer);
          return buffer;
        });
        expect(destinations.map((buffer) => buffer.length)).toEqual([size]);
        expect(result.status === 'found' && result.data === destinations[0]).toBe(true);
        expect(result.status === 'found' && result.data.equals(data)).toBe(true);
      });

      it.each(sizes)('copies %i bytes through a staging slot into an ordinary destination, taken once', async (size) => {
        const { file, data, fileBytes } = stored(size, `ordinary-${size}.blk`);
        const destinations: Buffer[] = [];
        const result = await pool.read({ file, size: fileBytes, key: keys.encryption, id }, (length) => {
          const buffer = Buffer.alloc(length, 0xee);
          destinations.push(buffer);
          return buffer;
        });
        expect(destinations).toHaveLength(1);
        expect(result.status === 'found' && result.data === destinations[0] && result.data.equals(data)).toBe(true);
      });

      it('returns the block the file holds when the file is shorter than it was told', async () => {
        const { file, data, fileBytes } = stored(5000, 'shorter.blk');
        const lengths: number[] = [];
        const result = await pool.read({ file, size: fileBytes + 1000, key: keys.encryption, id }, (length) => {
          lengths.push(length);
          return Buffer.from(new SharedArrayBuffer(length));
        });
        expect(result.status === 'found' && result.data.equals(data)).toBe(true);
        expect(lengths).toEqual([6000, 5000]);
      });

      it('reports a tampered file as corrupt through a shared destination too (what it decoded is not handed out)', async () => {
        const { file, fileBytes } = stored(300_000, 'bad-shared.blk');
        const encoded = readFileSync(file);
        encoded[100_000] = (encoded[100_000] ?? 0) ^ 1;
        writeFileSync(file, encoded);
        const result = await pool.read({ file, size: fileBytes, key: keys.encryption, id }, (length) => Buffer.from(new SharedArrayBuffer(length)));
        expect(result).toEqual({ status: 'corrupt' });
        expect(existsSync(file)).toBe(false);
      });

      it('hands a destination it took but does not return to unused: no file, a file that does not authenticate, another length', async () => {
        const destination = (): BlockDestination & { taken: Buffer[]; back: Buffer[] } => {
          const taken: Buffer[] = [];
          const back: Buffer[] = [];
          const take = (length: number): Buffer => {
            const buffer = Buffer.from(new SharedArrayBuffer(length));
            taken.push(buffer);
            return buffer;
          };
          return Object.assign(take, { taken, back, unused: (buffer: Buffer) => back.push(buffer) });
        };
        const { file, data, fileBytes } = stored(5000, 'unused.blk');

        const found = destination();
        const hit = await pool.read({ file, size: fileBytes, key: keys.encryption, id }, found);
        expect(hit.status === 'found' && hit.data === found.taken[0] && hit.data.equals(data)).toBe(true);
        expect(found.back).toEqual([]);

        const shorter = destination();
        const other = await pool.read({ file, size: fileBytes + 1000, key: keys.encryption, id }, shorter);
        expect(other.status === 'found' && other.data === shorter.taken[1] && other.data.equals(data)).toBe(true);
        expect(shorter.back).toHaveLength(1);
        expect(shorter.back[0]).toBe(shorter.taken[0]);

        const none = destination();
        expect(await pool.read({ file: path.join(dir, 'gone.blk'), size: fileBytes, key: keys.encryption, id }, none)).toEqual({ status: 'missing' });
        expect(none.back).toEqual(none.taken);
        expect(none.taken).toHaveLength(1);

        const encoded = readFileSync(file);
        encoded[100] = (encoded[100] ?? 0) ^ 1;
        writeFileSync(file, encoded);
        const tampered = destination();
        expect(await pool.read({ file, size: fileBytes, key: keys.encryption, id }, tampered)).toEqual({ status: 'corrupt' });
        expect(tampered.back).toEqual(tampered.taken);
        expect(tampered.taken).toHaveLength(1);
      });

      it('reads into shared destinations with more reads in flight than staging slots', async () => {
        const blocks = Array.from({ length: 20 }, (_, i) => stored(100_000 + i, `s${i}.blk`));
        const results = await Promise.all(blocks.map(({ file, fileBytes }) => pool.read({ file, size: fileBytes, key: keys.encryption, id }, (length) => Buffer.from(new SharedArrayBuffer(length)))));
        results.forEach((result, i) => expect(result.status === 'found' && result.data.equals(blocks[i]?.data as Buffer)).toBe(true));
      });
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

  describe('when the file system does direct I/O', () => {
    /** Whether `folder`'s file system takes O_DIRECT (ext4 and xfs do; the test says which it saw). */
    const takesDirectIo = (folder: string): boolean => {
      try {
        closeSync(openSync(path.join(folder, 'probe'), nodeFs.constants.O_WRONLY | nodeFs.constants.O_CREAT | nodeFs.constants.O_DIRECT));
        return true;
      } catch {
        return false;
      } finally {
        rmSync(path.join(folder, 'probe'), { force: true });
      }
    };

    it.each([
      ['an empty block', 0],
      ['a one-byte block', 1],
      ['a block whose file is exactly one page', 4096 - BLOCK_FILE_OVERHEAD],
      ['a block whose file is one byte over a page', 4097 - BLOCK_FILE_OVERHEAD],
      ['a 1 MiB block', 1024 * 1024],
      ['a block too large for the aligned buffer (through the page cache)', 1024 * 1024 + 64 * 1024],
    ])('writes and reads back %s, its file exactly the block format long', async (_name, size) => {
      const data = nodeCrypto.randomBytes(size);
      const file = path.join(dir, 'd.blk');
      const bytes = await pool.write({ file, ensureFolder: false, key: keys.encryption, id, data });
      expect(bytes).toBe(size + BLOCK_FILE_OVERHEAD);
      expect(statSync(file).size).toBe(size + BLOCK_FILE_OVERHEAD);
      expect(decodeBlock(keys, id, readFileSync(file))?.equals(data)).toBe(true);
      const plain = await pool.read({ file, size: bytes, key: keys.encryption, id });
      const into = await pool.read({ file, size: -1, key: keys.encryption, id }, (length) => Buffer.alloc(length, 0xee));
      expect(plain.status === 'found' && plain.data.equals(data)).toBe(true);
      expect(into.status === 'found' && into.data.equals(data)).toBe(true);
      expect(readdirSync(dir)).toEqual(['d.blk']);
    });

    it('uses it for blocks that fit the aligned buffer, and says so', async () => {
      const direct = takesDirectIo(dir);
      const file = path.join(dir, 'd.blk');
      await pool.write({ file, ensureFolder: false, key: keys.encryption, id, data: Buffer.alloc(500_000, 3) });
      await pool.read({ file, size: -1, key: keys.encryption, id });
      expect(pool.io).toEqual(direct ? { direct: 2, pageCache: 0 } : { direct: 0, pageCache: 2 });
      expect(pool.directRefusedIn(dir)).toBe(direct ? undefined : 'EINVAL');
    });

    it('goes through the page cache when built without it', async () => {
      const cached = new BlockFilePool(1, { directIo: false });
      try {
        const file = path.join(dir, 'p.blk');
        await cached.write({ file, ensureFolder: false, key: keys.encryption, id, data: Buffer.alloc(500_000, 3) });
        const result = await cached.read({ file, size: -1, key: keys.encryption, id });
        expect(result.status).toBe('found');
        expect(cached.io).toEqual({ direct: 0, pageCache: 2 });
        expect(cached.directRefusedIn(dir)).toBeUndefined();
      } finally {
        await cached.close();
      }
    });
  });

  describe.each<[string, string | false | undefined]>([
    ['the native module (sealed into the worker\'s scratch buffer)', undefined],
    ['node:crypto', false],
  ])('when writing through the page cache with %s', (_name, blockCrypto) => {
    it('writes each block file exactly, whatever the sizes written before it', async () => {
      const cached = new BlockFilePool(1, { directIo: false, blockCrypto });
      try {
        expect(cached.crypto === 'node:crypto').toBe(blockCrypto === false);
        const sizes = [1024 * 1024, 10, 300_000, 0, 2 * 1024 * 1024 + 5];
        for (const [i, size] of sizes.entries()) {
          const data = Buffer.alloc(size);
          for (let j = 0; j < size; j++) data[j] = (j * 31 + i) % 256;
          const file = path.join(dir, `pc${i}.blk`);
          expect(await cached.write({ file, ensureFolder: false, key: keys.encryption, id, data })).toBe(size + BLOCK_FILE_OVERHEAD);
          const stored = readFileSync(file);
          expect(stored.length).toBe(size + BLOCK_FILE_OVERHEAD);
          expect(decodeBlock(keys, id, stored)?.equals(data)).toBe(true);
        }
        expect(cached.io).toEqual({ direct: 0, pageCache: sizes.length });
      } finally {
        await cached.close();
      }
    });
  });

  describe('when the file system refuses direct I/O (EINVAL, as tmpfs did before Linux 6.6)', () => {
    /** The worker's program run in-process over a file system that refuses O_DIRECT opens in `refusingIn`. */
    const refusingWorker = (refusingIn = dir) => {
      const attempts = { direct: 0 };
      const refusing = {
        ...nodeFs,
        openSync: (file: nodeFs.PathLike, flags?: nodeFs.OpenMode, mode?: nodeFs.Mode | null) => {
          if (typeof flags === 'number' && (flags & nodeFs.constants.O_DIRECT) !== 0 && path.dirname(String(file)) === refusingIn) {
            attempts.direct++;
            throw Object.assign(new Error(`EINVAL: invalid argument, open '${String(file)}'`), { code: 'EINVAL' });
          }
          return nodeFs.openSync(file, flags ?? 'r', mode);
        },
      } as typeof nodeFs;
      const channel = new MessageChannel();
      serveBlockFiles(blockCodec(nodeCrypto), refusing, path, nodeCrypto, channel.port2, {});
      let seq = 0;
      const call = (request: object): Promise<Record<string, unknown>> =>
        new Promise((resolve) => {
          const mine = ++seq;
          const onReply = (reply: Record<string, unknown>) => {
            if (reply.seq !== mine) return;
            channel.port1.off('message', onReply);
            resolve(reply);
          };
          channel.port1.on('message', onReply);
          channel.port1.postMessage({ ...request, seq: mine });
        });
      return { call, attempts, close: () => channel.port1.close() };
    };

    it('writes and reads through the page cache, reports the refusal once, and does not try again', async () => {
      const worker = refusingWorker();
      try {
        const data = Buffer.from('a block on a file system without direct I/O');
        const file = path.join(dir, 'r.blk');
        const first = await worker.call({ op: 'write', file, ensureFolder: false, key: keys.encryption, id, data });
        const second = await worker.call({ op: 'write', file: path.join(dir, 's.blk'), ensureFolder: false, key: keys.encryption, id, data });
        const read = await worker.call({ op: 'read', file, size: -1, key: keys.encryption, id });
        expect(first).toMatchObject({ bytes: data.length + BLOCK_FILE_OVERHEAD, direct: false, refused: { folder: dir, code: 'EINVAL' } });
        expect(second).toEqual({ seq: 2, bytes: data.length + BLOCK_FILE_OVERHEAD, direct: false });
        expect(read).toMatchObject({ status: 'found', direct: false });
        expect(read).not.toHaveProperty('refused');
        expect(Buffer.from(read.data as Uint8Array).equals(data)).toBe(true);
        expect(decodeBlock(keys, id, readFileSync(file))?.equals(data)).toBe(true);
        expect(worker.attempts.direct).toBe(1);
        expect(readdirSync(dir).sort()).toEqual(['r.blk', 's.blk']);
      } finally {
        worker.close();
      }
    });

    it('keeps direct I/O for a folder on another file system', async () => {
      const refusingIn = path.join(dir, 'tmpfs');
      const other = path.join(dir, 'ext4');
      mkdirSync(refusingIn);
      mkdirSync(other);
      const worker = refusingWorker(refusingIn);
      try {
        const data = Buffer.from('one block');
        const refused = await worker.call({ op: 'write', file: path.join(refusingIn, 'a.blk'), ensureFolder: false, key: keys.encryption, id, data });
        const direct = await worker.call({ op: 'write', file: path.join(other, 'b.blk'), ensureFolder: false, key: keys.encryption, id, data });
        expect(refused).toMatchObject({ direct: false, refused: { folder: refusingIn, code: 'EINVAL' } });
        // The test's own folder takes O_DIRECT where the machine's file system does (ext4 and xfs do).
        expect(direct).not.toHaveProperty('refused');
        expect(worker.attempts.direct).toBe(1);
      } finally {
        worker.close();
      }
    });

    it('reads an existing block through the page cache when the first direct open is refused', async () => {
      const worker = refusingWorker();
      try {
        const data = Buffer.from('written before the worker started');
        const file = path.join(dir, 'old.blk');
        writeFileSync(file, encodeBlock(keys, id, data));
        const read = await worker.call({ op: 'read', file, size: -1, key: keys.encryption, id });
        expect(read).toMatchObject({ status: 'found', direct: false, refused: { folder: dir, code: 'EINVAL' } });
        expect(Buffer.from(read.data as Uint8Array).equals(data)).toBe(true);
        expect(await worker.call({ op: 'read', file: path.join(dir, 'none.blk'), size: -1, key: keys.encryption, id })).toEqual({ seq: 2, status: 'missing' });
        expect(worker.attempts.direct).toBe(1);
      } finally {
        worker.close();
      }
    });
  });

  describe('when built with a size that is not a positive integer', () => {
    it.each([0, -1, 1.5])('refuses %p', (size) => {
      expect(() => new BlockFilePool(size)).toThrow(/positive integer/);
    });
  });
});
