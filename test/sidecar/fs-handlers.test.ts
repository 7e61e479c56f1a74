import { constants } from 'node:fs';
import { ObjectClientError } from '../../sidecar/object-client';
import { testMount, patterned, errnoOf, MiB } from './handlers-fixture';

const O_WRONLY_TRUNC = constants.O_WRONLY | constants.O_TRUNC;

describe('fs-handlers', () => {
  describe('when reading a file', () => {
    const size = 3 * MiB + 12345;
    const data = patterned(size);
    const setup = () => {
      const mount = testMount();
      mount.client.seed('big.bin', data);
      return mount;
    };

    it.each([
      ['offset 0, one byte', 0, 1],
      ['the whole first block', 0, MiB],
      ['ending exactly on a block boundary', MiB - 100, 100],
      ['starting exactly on a block boundary', MiB, 4096],
      ['spanning a block boundary', MiB - 10, 20],
      ['spanning three blocks', MiB - 1, MiB + 2],
      ['the last partial block', 3 * MiB, 12345],
      ['the last byte', size - 1, 1],
      ['past the end (clamped)', size - 10, 4096],
    ])('returns the right bytes for %s', async (_name, offset, length) => {
      const mount = setup();
      const got = await mount.readFile('/big.bin', offset, length);
      expect(got.equals(data.subarray(offset, Math.min(size, offset + length)))).toBe(true);
    });

    it.each([
      ['at the end', size],
      ['beyond the end', size + MiB],
    ])('returns no bytes for a read %s', async (_name, offset) => {
      const mount = setup();
      expect((await mount.readFile('/big.bin', offset, 4096)).length).toBe(0);
    });

    it('returns no bytes and sends no GET for a zero-length file', async () => {
      const mount = testMount();
      mount.client.seed('empty', '');
      expect((await mount.readFile('/empty', 0, 4096)).length).toBe(0);
      expect(mount.client.count('getRange')).toBe(0);
    });

    it('serves a second read of the same bytes from memory without a GET', async () => {
      const mount = setup();
      await mount.readFile('/big.bin', 0, 4096);
      const gets = mount.client.count('getRange');
      await mount.readFile('/big.bin', 100, 4096);
      expect(mount.client.count('getRange')).toBe(gets);
    });

    it('fetches an unaligned 1 MiB read, arriving as the kernel\'s 128 KiB pieces, with one GET and nothing ahead', async () => {
      const mount = setup();
      const fd = await mount.handlers.open('/big.bin', 0);
      const start = MiB / 2 + 4096;
      const pieces = Array.from({ length: 8 }, (_, i) => mount.handlers.read('/big.bin', fd, 128 * 1024, start + i * 128 * 1024));
      const got = Buffer.concat((await Promise.all(pieces)).flat());
      expect(got.equals(data.subarray(start, start + MiB))).toBe(true);
      expect(mount.client.requests.filter((r) => r.operation === 'getRange').map((r) => r.range)).toEqual([{ offset: 0, length: 2 * MiB }]);
    });

    it('fetches a block once however many readers ask for it at the same time (single flight)', async () => {
      const mount = setup();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      mount.client.beforeRequest = (r) => (r.operation === 'getRange' ? gate : undefined);
      const fd = await mount.handlers.open('/big.bin', 0);
      const readers = Array.from({ length: 10 }, (_, i) => mount.handlers.read('/big.bin', fd, 1000, 2 * MiB + i * 1000));
      await new Promise((resolve) => setImmediate(resolve));
      release();
      const results = await Promise.all(readers);
      results.forEach((slices, i) => expect(Buffer.concat(slices).equals(data.subarray(2 * MiB + i * 1000, 2 * MiB + i * 1000 + 1000))).toBe(true));
      expect(mount.client.requests.filter((r) => r.operation === 'getRange' && r.range?.offset === 2 * MiB)).toHaveLength(1);
    });

    it('answers ESTALE, never other bytes, when the object changed under an open file', async () => {
      const mount = setup();
      const fd = await mount.handlers.open('/big.bin', 0);
      const first = Buffer.concat(await mount.handlers.read('/big.bin', fd, 4096, 0));
      mount.client.seed('big.bin', patterned(size, 99));
      expect(first.equals(data.subarray(0, 4096))).toBe(true);
      expect(await errnoOf(mount.handlers.read('/big.bin', fd, 4096, 3 * MiB))).toBe('ESTALE');
    });

    it('keeps serving the version it opened from cache after the object changed', async () => {
      const mount = setup();
      const fd = await mount.handlers.open('/big.bin', 0);
      await mount.handlers.read('/big.bin', fd, 4096, 0);
      mount.client.seed('big.bin', patterned(size, 99));
      expect(Buffer.concat(await mount.handlers.read('/big.bin', fd, 4096, 0)).equals(data.subarray(0, 4096))).toBe(true);
    });

    it('reports EIO when S3 fails and ENOENT when the object is gone', async () => {
      const mount = setup();
      const fd = await mount.handlers.open('/big.bin', 0);
      mount.client.beforeRequest = () => {
        throw new ObjectClientError('Transient', 'connection reset');
      };
      expect(await errnoOf(mount.handlers.read('/big.bin', fd, 10, 0))).toBe('EIO');
      mount.client.beforeRequest = undefined;
      await mount.client.delete('big.bin');
      expect(await errnoOf(mount.handlers.read('/big.bin', fd, 10, 0))).toBe('ENOENT');
    });
  });

  describe('when reading sequentially', () => {
    it('fetches blocks ahead of a sequential reader, in growing multi-block GETs', async () => {
      const mount = testMount();
      const data = patterned(40 * MiB);
      mount.client.seed('seq.bin', data);
      const fd = await mount.handlers.open('/seq.bin', 0);
      const chunk = 128 * 1024;
      const requestedBeforeRead: boolean[] = [];
      const covered = (offset: number): boolean =>
        mount.client.requests.some((r) => r.operation === 'getRange' && r.range !== undefined && r.range.offset <= offset && offset < r.range.offset + r.range.length);
      for (let offset = 0; offset < 16 * MiB; offset += chunk) {
        if (offset >= 2 * MiB && offset % MiB === 0) requestedBeforeRead.push(covered(offset));
        const got = Buffer.concat(await mount.handlers.read('/seq.bin', fd, chunk, offset));
        expect(got.equals(data.subarray(offset, offset + chunk))).toBe(true);
      }
      expect(requestedBeforeRead.every(Boolean)).toBe(true);
      const lengths = mount.client.requests.filter((r) => r.operation === 'getRange').map((r) => r.range?.length ?? 0);
      expect(Math.max(...lengths)).toBe(8 * MiB);
    });

    it('does not prefetch for random reads', async () => {
      const mount = testMount();
      mount.client.seed('random.bin', patterned(64 * MiB));
      const fd = await mount.handlers.open('/random.bin', 0);
      for (const block of [37, 5, 60, 21, 44, 12]) await mount.handlers.read('/random.bin', fd, MiB, block * MiB);
      const fetched = mount.client.requests.filter((r) => r.operation === 'getRange').reduce((sum, r) => sum + (r.range?.length ?? 0), 0);
      expect(fetched).toBe(6 * MiB);
    });
  });

  describe('when listing and looking up', () => {
    const setup = () => {
      const mount = testMount();
      for (const key of ['a.txt', 'dir/b.txt', 'dir/sub/c.txt', 'marker/', 'shadow', 'shadow/inner', 'bad//name', 'dots/../escape', 'dots/./x', `${'n'.repeat(256)}`, 'spaced name ü.txt']) {
        mount.client.seed(key, key);
      }
      return mount;
    };

    it('lists objects as files and prefixes as directories, skipping unusable names', async () => {
      const mount = setup();
      const { names } = await mount.handlers.readdir('/');
      expect(names.sort()).toEqual(['.', '..', 'a.txt', 'bad', 'dir', 'dots', 'marker', 'shadow', 'spaced name ü.txt'].sort());
      expect((await mount.handlers.readdir('/dots')).names.sort()).toEqual(['.', '..']);
      expect((await mount.handlers.readdir('/bad')).names.sort()).toEqual(['.', '..']);
    });

    it('lets a directory win over an object of the same name, keeping its contents reachable', async () => {
      const mount = setup();
      const stat = await mount.handlers.getattr('/shadow');
      expect(stat.mode & 0o170000).toBe(0o040000);
      expect((await mount.readFile('/shadow/inner')).toString()).toBe('shadow/inner');
    });

    it('shows sizes, the configured owner and modes', async () => {
      const mount = setup();
      const file = await mount.handlers.getattr('/dir/b.txt');
      expect(file).toMatchObject({ size: 'dir/b.txt'.length, uid: 1000, gid: 2000, mode: 0o100644 });
      expect((await mount.handlers.getattr('/marker')).mode).toBe(0o040755);
    });

    it('answers ENOENT for missing names and remembers the miss', async () => {
      const mount = setup();
      expect(await errnoOf(mount.handlers.getattr('/missing'))).toBe('ENOENT');
      const before = mount.client.requests.length;
      expect(await errnoOf(mount.handlers.getattr('/missing'))).toBe('ENOENT');
      expect(mount.client.requests.length).toBe(before);
    });

    it('shows only the prefix of a prefix mount', async () => {
      const mount = testMount({ prefix: 'dir' });
      mount.client.seed('dir/b.txt', 'b');
      mount.client.seed('other/c.txt', 'c');
      expect((await mount.handlers.readdir('/')).names.sort()).toEqual(['.', '..', 'b.txt']);
      expect(await errnoOf(mount.handlers.getattr('/other'))).toBe('ENOENT');
    });

    it('pages through directories of more than 1,000 keys', async () => {
      const mount = testMount();
      for (let i = 0; i < 2500; i++) mount.client.seed(`many/f${String(i).padStart(5, '0')}`, '');
      expect((await mount.handlers.readdir('/many')).names).toHaveLength(2502);
      expect(mount.client.count('list', 'many/')).toBe(4); // one lookup + three pages
    });
  });

  describe('when writing', () => {
    it('creates a file that appears in S3 only once it is closed', async () => {
      const mount = testMount();
      const fd = await mount.handlers.create('/new.txt', 0o644);
      await mount.handlers.write('/new.txt', fd, Buffer.from('hello '), 0);
      await mount.handlers.write('/new.txt', fd, Buffer.from('world'), 6);
      expect((await mount.handlers.getattr('/new.txt')).size).toBe(11);
      expect(mount.client.contents('new.txt')).toBeUndefined();
      await mount.handlers.flush('/new.txt', fd);
      await mount.handlers.release('/new.txt', fd);
      expect(mount.client.contents('new.txt')?.toString()).toBe('hello world');
      expect((await mount.readFile('/new.txt')).toString()).toBe('hello world');
    });

    it('replaces a whole file opened with O_TRUNC', async () => {
      const mount = testMount();
      mount.client.seed('old.txt', 'old contents');
      const fd = await mount.handlers.open('/old.txt', O_WRONLY_TRUNC);
      await mount.handlers.write('/old.txt', fd, Buffer.from('new'), 0);
      await mount.handlers.release('/old.txt', fd);
      expect(mount.client.contents('old.txt')?.toString()).toBe('new');
    });

    it.each([
      ['a write into an existing object without O_TRUNC', constants.O_WRONLY, 0],
      ['an append to an existing object', constants.O_WRONLY | constants.O_APPEND, 12],
    ])('refuses %s with EOPNOTSUPP and leaves the object alone', async (_name, flags, offset) => {
      const mount = testMount();
      mount.client.seed('old.txt', 'old contents');
      const fd = await mount.handlers.open('/old.txt', flags);
      expect(await errnoOf(mount.handlers.write('/old.txt', fd, Buffer.from('x'), offset))).toBe('EOPNOTSUPP');
      await mount.handlers.release('/old.txt', fd);
      expect(mount.client.contents('old.txt')?.toString()).toBe('old contents');
    });

    it('refuses a non-sequential write with EOPNOTSUPP', async () => {
      const mount = testMount();
      const fd = await mount.handlers.create('/f', 0o644);
      await mount.handlers.write('/f', fd, Buffer.from('abc'), 0);
      expect(await errnoOf(mount.handlers.write('/f', fd, Buffer.from('x'), 100))).toBe('EOPNOTSUPP');
    });

    it('reports a failed upload from flush and leaves nothing at the key', async () => {
      const mount = testMount();
      const fd = await mount.handlers.create('/f', 0o644);
      await mount.handlers.write('/f', fd, Buffer.from('abc'), 0);
      mount.client.beforeRequest = (r) => {
        if (r.operation === 'put') throw new ObjectClientError('Transient', 'S3 is down');
      };
      expect(await errnoOf(mount.handlers.flush('/f', fd))).toBe('EIO');
      expect(mount.client.contents('f')).toBeUndefined();
    });

    it('makes and removes directories, refusing to remove one that is not empty', async () => {
      const mount = testMount();
      await mount.handlers.mkdir('/d', 0o755);
      expect(mount.client.contents('d/')?.length).toBe(0);
      expect((await mount.handlers.getattr('/d')).mode & 0o170000).toBe(0o040000);
      mount.client.seed('d/file', 'x');
      expect(await errnoOf(mount.handlers.rmdir('/d'))).toBe('ENOTEMPTY');
      await mount.handlers.unlink('/d/file');
      await mount.handlers.rmdir('/d');
      expect(mount.client.keys()).toEqual([]);
    });

    it('renames a file by copy and delete', async () => {
      const mount = testMount();
      mount.client.seed('from', 'payload');
      await mount.handlers.rename('/from', '/to');
      expect(mount.client.keys()).toEqual(['to']);
      expect((await mount.readFile('/to')).toString()).toBe('payload');
      expect(await errnoOf(mount.handlers.getattr('/from'))).toBe('ENOENT');
    });
  });

  describe('when asked to change modes or owners', () => {
    it.each([
      ['chmod to the mode shown', (m: ReturnType<typeof testMount>) => m.handlers.chmod('/f', 0o644), 'ok'],
      ['chmod of a directory to the mode shown', (m: ReturnType<typeof testMount>) => m.handlers.chmod('/d', 0o755), 'ok'],
      ['chmod to another mode', (m: ReturnType<typeof testMount>) => m.handlers.chmod('/f', 0o600), 'EPERM'],
      ['chown to the owner shown', (m: ReturnType<typeof testMount>) => m.handlers.chown('/f', 1000, 2000), 'ok'],
      ['chown leaving both as they are (-1)', (m: ReturnType<typeof testMount>) => m.handlers.chown('/f', 0xffffffff, 0xffffffff), 'ok'],
      ['chown to another owner', (m: ReturnType<typeof testMount>) => m.handlers.chown('/f', 0, 2000), 'EPERM'],
    ])('%s → %s', async (_name, operation, outcome) => {
      const mount = testMount();
      mount.client.seed('f', 'x');
      mount.client.seed('d/g', 'y');
      if (outcome === 'ok') await expect(operation(mount)).resolves.toBeUndefined();
      else expect(await errnoOf(operation(mount))).toBe(outcome);
    });
  });

  describe('when the dataset is read-only', () => {
    it.each([
      ['create', (m: ReturnType<typeof testMount>) => m.handlers.create('/x', 0o644)],
      ['open for writing', (m: ReturnType<typeof testMount>) => m.handlers.open('/f', constants.O_WRONLY)],
      ['open with O_TRUNC', (m: ReturnType<typeof testMount>) => m.handlers.open('/f', constants.O_RDONLY | constants.O_TRUNC)],
      ['unlink', (m: ReturnType<typeof testMount>) => m.handlers.unlink('/f')],
      ['mkdir', (m: ReturnType<typeof testMount>) => m.handlers.mkdir('/d', 0o755)],
      ['rmdir', (m: ReturnType<typeof testMount>) => m.handlers.rmdir('/d')],
      ['rename', (m: ReturnType<typeof testMount>) => m.handlers.rename('/f', '/g')],
      ['truncate', (m: ReturnType<typeof testMount>) => m.handlers.truncate('/f', 0)],
    ])('refuses %s with EROFS', async (_name, operation) => {
      const mount = testMount({ readOnly: true });
      mount.client.seed('f', 'data');
      expect(await errnoOf(operation(mount))).toBe('EROFS');
      expect(mount.client.keys()).toEqual(['f']);
    });

    it('shows files as read-only', async () => {
      const mount = testMount({ readOnly: true });
      mount.client.seed('f', 'data');
      expect((await mount.handlers.getattr('/f')).mode).toBe(0o100444);
    });
  });
});
