/**
 * The sidecar under S3 faults (issue 7), through the fault proxy: readers in child processes get
 * the right bytes or a clean errno (EIO, ESTALE, EACCES) within a bound — never wrong bytes,
 * never a hung mount — and the mount recovers by itself when S3 does. Then the cache (a block
 * file torn or flipped on disk, a disk that fills up, a crash while blocks are written) and
 * writes (a crash or an outage during an upload).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { FaultRig, MiB, readFile, sha256, writeFile, writerPattern, type Mount } from './fault-rig';

jest.setTimeout(120_000);

/** A read that cannot succeed must fail within this: retries with backoff, not the 120 s op timeout. */
const CLEAN_ERROR_BOUND_MS = 30_000;
const READ_BOUND_MS = 60_000;
const CLEAN_ERRORS = ['EIO', 'ESTALE', 'EACCES'];

describe('sidecar under S3 faults', () => {
  const rig = new FaultRig();
  let mount: Mount;

  beforeAll(async () => {
    await rig.start();
    mount = await rig.mount('m');
  }, 60_000);

  afterAll(async () => {
    await rig.stop();
  });

  beforeEach(() => {
    rig.proxy.setRules([]);
    rig.proxy.counts(true);
  });

  /** A fresh object per test, so no cache tier can answer for it. */
  let serial = 0;
  const freshObject = async (bytes = 6 * MiB): Promise<{ key: string; file: string; sha256: string }> => {
    const key = `obj-${++serial}.bin`;
    const { sha256: digest } = await rig.putRandom(key, bytes);
    return { key, file: path.join(mount.dir, key), sha256: digest };
  };

  describe('when S3 misbehaves for a while', () => {
    it.each([
      ['connection resets (30% of GETs)', { probability: 0.3, action: { kind: 'reset' } }, 'reset'],
      ['truncated bodies (the first 3 GETs stop after 100 KiB)', { times: 3, action: { kind: 'truncate', afterBytes: 100 * 1024 } }, 'truncate'],
      ['a burst of 4 SlowDown answers', { times: 4, action: { kind: 'slowDown' } }, 'slowDown'],
      ['slow answers (300 ms each)', { action: { kind: 'delay', ms: 300 } }, 'delay'],
    ] as const)('returns the right bytes despite %s', async (_name, rule, kind) => {
      const object = await freshObject();
      rig.proxy.setRules([{ match: { method: 'GET', key: object.key }, ...rule }]);
      const outcome = await readFile(object.file, READ_BOUND_MS).result;
      expect(outcome).toMatchObject({ kind: 'bytes', sha256: object.sha256 });
      expect(rig.proxy.counts().byAction[kind]).toBeGreaterThan(0);
    });
  });

  describe('when faults of every kind are mixed at random (seeded schedule)', () => {
    it('gives every reader its right bytes or a clean error — never other bytes, never a hang', async () => {
      const sizes = [0, 1, 4095, MiB - 1, MiB, MiB + 1, 3 * MiB + 17, 5 * MiB];
      const tally: Record<string, number> = {};
      for (let round = 0; round < 3; round++) {
        const objects = await Promise.all(sizes.map(async (size) => ({ size, ...(await freshObject(size)) })));
        await new Promise((resolve) => setTimeout(resolve, 1200));
        rig.proxy.setRules([
          { match: { method: 'GET' }, probability: 0.15, action: { kind: 'reset' } },
          { match: { method: 'GET' }, probability: 0.15, action: { kind: 'truncate', afterBytes: 7777 } },
          { match: { method: 'GET' }, probability: 0.15, action: { kind: 'slowDown' } },
          { probability: 0.05, action: { kind: 'delay', ms: 200 } },
          { match: { method: 'HEAD' }, probability: 0.05, action: { kind: 'reset' } },
        ]);
        const outcomes = await Promise.all(objects.map((o) => readFile(o.file, READ_BOUND_MS).result));
        rig.proxy.setRules([]);
        for (const [i, outcome] of outcomes.entries()) {
          const name = outcome.kind === 'error' ? outcome.code : outcome.kind;
          tally[name] = (tally[name] ?? 0) + 1;
          if (outcome.kind === 'bytes') expect({ size: sizes[i], sha256: outcome.sha256 }).toEqual({ size: sizes[i], sha256: objects[i]!.sha256 });
          else expect(CLEAN_ERRORS).toContain(name);
        }
      }
      console.log(`mixed faults: ${JSON.stringify(rig.proxy.counts().byAction)}; readers ${JSON.stringify(tally)}`);
      expect(rig.proxy.counts().requests).toBeGreaterThan(sizes.length);
    });
  });

  describe('when S3 keeps failing', () => {
    it.each([
      ['answers 503 SlowDown to every GET', { kind: 'slowDown' }, ['EIO']],
      ['resets every GET', { kind: 'reset' }, ['EIO']],
      ['truncates every body', { kind: 'truncate', afterBytes: 1000 }, ['EIO']],
      ['refuses the credentials (403 AccessDenied)', { kind: 'accessDenied' }, ['EACCES']],
    ] as const)('fails the read cleanly when S3 %s', async (_name, action, codes) => {
      const object = await freshObject(2 * MiB);
      rig.proxy.setRules([{ match: { method: 'GET', key: object.key }, action }]);
      const outcome = await readFile(object.file, CLEAN_ERROR_BOUND_MS + 10_000).result;
      expect(outcome.kind).toBe('error');
      if (outcome.kind !== 'error') return;
      expect(codes).toContain(outcome.code);
      expect(outcome.ms).toBeLessThan(CLEAN_ERROR_BOUND_MS);
    });

    it('refuses with EACCES on open or read when the credentials stop working for every request', async () => {
      const object = await freshObject(2 * MiB);
      rig.proxy.setRules([{ action: { kind: 'accessDenied' } }]);
      // Attributes may still be cached from the listing above (metadata TTL 1 s): wait past them.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const outcome = await readFile(object.file, CLEAN_ERROR_BOUND_MS + 10_000).result;
      expect(outcome).toMatchObject({ kind: 'error', code: 'EACCES' });
      rig.proxy.setRules([]);
      expect(await readFile(object.file, READ_BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: object.sha256 });
    });
  });

  describe('when a request hangs', () => {
    it('serves other files and listings meanwhile, and the right bytes once the request is let go', async () => {
      const stuck = await freshObject(2 * MiB);
      const other = await freshObject(2 * MiB);
      rig.proxy.setRules([{ match: { method: 'GET', key: stuck.key }, nth: 1, action: { kind: 'hang' } }]);
      const stuckRead = readFile(stuck.file, READ_BOUND_MS);
      while (rig.proxy.hanging() === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await readFile(other.file, 10_000).result).toMatchObject({ kind: 'bytes', sha256: other.sha256 });
      const listing = await promisify(execFile)('ls', [mount.dir], { timeout: 10_000 });
      expect(listing.stdout).toContain(other.key);
      expect(rig.proxy.release('pass')).toBe(1);
      expect(await stuckRead.result).toMatchObject({ kind: 'bytes', sha256: stuck.sha256 });
    });

    it('retries a request that never answers once its attempt times out, and returns the right bytes', async () => {
      const stuck = await freshObject(1 * MiB);
      rig.proxy.setRules([{ match: { method: 'GET', key: stuck.key }, nth: 1, action: { kind: 'hang' } }]);
      // The listing cached by the previous test (1 s TTL) does not know the new key yet.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const outcome = await readFile(stuck.file, 90_000).result;
      console.log(`a GET that never answers cost the reader ${outcome.ms} ms (attempt timeout), then: ${outcome.kind}`);
      expect(outcome).toMatchObject({ kind: 'bytes', sha256: stuck.sha256 });
      expect(rig.proxy.counts().abandoned).toBe(1);
    }, 100_000);
  });

  describe('when the S3 server is killed mid-read and comes back', () => {
    it('gives the reader the right bytes or a clean error, never other bytes, and serves again by itself', async () => {
      const object = await freshObject(16 * MiB);
      // Slow GETs, so the server dies while the reader is in the middle of the file.
      rig.proxy.setRules([{ match: { method: 'GET', key: object.key }, action: { kind: 'delay', ms: 250 } }]);
      // A listing cached by an earlier test (1 s TTL) would not know the new key yet.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const reader = readFile(object.file, READ_BOUND_MS);
      let finished = false;
      void reader.result.then(() => {
        finished = true;
      });
      while (rig.getsOf(object.key) < 2 && !finished) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(finished).toBe(false);
      await rig.killS3();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await rig.restartS3();
      const outcome = await reader.result;
      console.log(`reader across an S3 restart: ${JSON.stringify(outcome)}; proxy saw ${rig.proxy.counts().upstreamErrors} requests fail upstream`);
      if (outcome.kind === 'hung') console.log(`sidecar said: ${mount.process.output().slice(-4000)}`);
      expect(['bytes', 'error']).toContain(outcome.kind);
      if (outcome.kind === 'bytes') expect(outcome.sha256).toBe(object.sha256);
      if (outcome.kind === 'error') expect(CLEAN_ERRORS).toContain(outcome.code);
      rig.proxy.setRules([]);
      expect(await readFile(object.file, 30_000).result).toMatchObject({ kind: 'bytes', sha256: object.sha256 });
    }, 120_000);
  });

  describe('when an object is overwritten while a reader has it open', () => {
    it('gives the reader either every old byte, every new byte, or ESTALE — never a mix — and new readers the new bytes', async () => {
      const key = `changing-${++serial}.bin`;
      const before = await rig.putRandom(key, 12 * MiB);
      const file = path.join(mount.dir, key);
      // Slow GETs, so most of the file is still to come when it changes.
      rig.proxy.setRules([{ match: { method: 'GET', key }, action: { kind: 'delay', ms: 150 } }]);
      // Past the metadata TTL of any listing or miss cached by earlier tests.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const reader = readFile(file, READ_BOUND_MS, true);
      await reader.saw('paused');
      const after = await rig.putRandom(key, 12 * MiB);
      reader.tell('go');
      const outcome = await reader.result;
      console.log(`reader across an overwrite: ${outcome.kind === 'bytes' ? (outcome.sha256 === before.sha256 ? 'old bytes' : outcome.sha256 === after.sha256 ? 'new bytes' : 'MIXED') : JSON.stringify(outcome)}`);
      if (outcome.kind === 'bytes') expect([before.sha256, after.sha256]).toContain(outcome.sha256);
      else expect(outcome).toMatchObject({ kind: 'error', code: 'ESTALE' });
      rig.proxy.setRules([]);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await readFile(file, READ_BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: after.sha256 });
    });
  });

  describe('when an upload fails', () => {
    it.each([
      ['the S3 server refuses every upload request', { kind: 'accessDenied' }],
      ['every upload request is reset', { kind: 'reset' }],
    ] as const)('reports the failure from close and leaves no object at the key when %s', async (_name, action) => {
      const key = `upload-${++serial}.bin`;
      rig.proxy.setRules([{ match: { method: ['PUT', 'POST'] }, action }]);
      const outcome = await writeFile(path.join(mount.dir, key), 20 * MiB, READ_BOUND_MS).result;
      expect(outcome).toMatchObject({ kind: 'error' });
      rig.proxy.setRules([]);
      expect(await rig.get(key)).toBeUndefined();
    });

    it('reports the failure from fsync when S3 fails mid-upload', async () => {
      const key = `upload-${++serial}.bin`;
      rig.proxy.setRules([{ match: { method: 'PUT' }, skip: 1, action: { kind: 'accessDenied' } }]);
      const outcome = await writeFile(path.join(mount.dir, key), 24 * MiB, READ_BOUND_MS, true).result;
      expect(outcome).toMatchObject({ kind: 'error' });
      if (outcome.kind === 'error') expect(['write', 'fsync', 'close']).toContain(outcome.step);
      rig.proxy.setRules([]);
      expect(await rig.get(key)).toBeUndefined();
    });

    it('writes the whole object when nothing fails (the control case)', async () => {
      const key = `upload-${++serial}.bin`;
      expect(await writeFile(path.join(mount.dir, key), 20 * MiB, READ_BOUND_MS, true).result).toMatchObject({ kind: 'closed' });
      const stored = await rig.get(key);
      expect(stored && sha256(stored)).toBe(sha256(writerPattern(20 * MiB)));
    });
  });

  describe('when uploads meet faults mixed at random (seeded schedule)', () => {
    it('leaves at each key either nothing or the whole object, and a successful close always means the whole object', async () => {
      const sizes = [0, 1, MiB, 5 * MiB + 3, 9 * MiB, 17 * MiB];
      rig.proxy.setRules([
        { match: { method: ['PUT', 'POST'] }, probability: 0.15, action: { kind: 'reset' } },
        { match: { method: ['PUT', 'POST'] }, probability: 0.1, action: { kind: 'slowDown' } },
        { match: { method: 'POST' }, probability: 0.2, action: { kind: 'truncate', afterBytes: 10 } },
      ]);
      const keys = sizes.map((size) => `mixed-upload-${++serial}-${size}.bin`);
      const outcomes = await Promise.all(keys.map((key, i) => writeFile(path.join(mount.dir, key), sizes[i]!, READ_BOUND_MS).result));
      rig.proxy.setRules([]);
      const tally: Record<string, number> = {};
      for (const [i, outcome] of outcomes.entries()) {
        expect(outcome.kind).not.toBe('hung');
        const stored = await rig.get(keys[i]!);
        const state = stored === undefined ? 'absent' : sha256(stored) === sha256(writerPattern(sizes[i]!)) ? 'whole' : 'WRONG';
        tally[`${outcome.kind}/${state}`] = (tally[`${outcome.kind}/${state}`] ?? 0) + 1;
        expect(state).not.toBe('WRONG');
        if (outcome.kind === 'closed') expect(state).toBe('whole');
      }
      console.log(`mixed upload faults: ${JSON.stringify(rig.proxy.counts().byAction)}; writer/object ${JSON.stringify(tally)}`);
    });
  });

  describe('when the sidecar is killed during an upload', () => {
    it('leaves no object, partial or whole, at the key', async () => {
      const victim = await rig.mount('killed-upload');
      const key = `upload-${++serial}.bin`;
      const writer = writeFile(path.join(victim.dir, key), 64 * MiB, READ_BOUND_MS);
      await writer.saw('writing');
      while (!rig.proxy.log().some((r) => r.method === 'PUT' && r.key === key)) await new Promise((resolve) => setTimeout(resolve, 20));
      await rig.unmount(victim, 'SIGKILL');
      const outcome = await writer.result;
      expect(outcome.kind).not.toBe('closed');
      expect(await rig.get(key)).toBeUndefined();
    });
  });
});

describe('sidecar disk cache under damage', () => {
  const rig = new FaultRig();

  beforeAll(async () => {
    await rig.start();
  }, 60_000);

  afterAll(async () => {
    await rig.stop();
  });

  const blockFiles = async (dir: string): Promise<string[]> => {
    const found: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const entry of await fs.readdir(d, { withFileTypes: true })) {
        const full = path.join(d, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.name.endsWith('.blk')) found.push(full);
      }
    };
    await walk(dir);
    return found.sort();
  };

  /** Header check of the block format (sidecar/block-file.ts): magic, version, length matching the size. */
  const wellFormed = async (file: string): Promise<boolean> => {
    const data = await fs.readFile(file);
    return data.length >= 40 && data.subarray(0, 4).toString() === 'DMB1' && data.readUInt32BE(20) + 40 === data.length;
  };

  it('detects blocks truncated or flipped on disk, refetches them, and never serves them', async () => {
    const { sha256: digest } = await rig.putRandom('cached.bin', 8 * MiB);
    const cacheDir = path.join(rig.work, 'damage-cache');
    let mount = await rig.mount('damage', { cacheDir });
    expect(await readFile(path.join(mount.dir, 'cached.bin'), READ_BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: digest });
    await rig.unmount(mount);
    const blocks = await blockFiles(cacheDir);
    expect(blocks.length).toBe(8);

    for (const [i, file] of blocks.entries()) {
      const data = await fs.readFile(file);
      if (i % 2 === 0) await fs.truncate(file, Math.floor(data.length / 2));
      else {
        data[100 + i] = data[100 + i]! ^ 0x01;
        await fs.writeFile(file, data);
      }
    }
    rig.proxy.counts(true);
    mount = await rig.mount('damage', { cacheDir });
    expect(await readFile(path.join(mount.dir, 'cached.bin'), READ_BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: digest });
    const refetches = rig.getsOf('cached.bin');
    await rig.unmount(mount);
    expect(refetches).toBeGreaterThan(0);

    // The refetched blocks replaced the damaged ones: a third process reads everything from disk.
    rig.proxy.counts(true);
    mount = await rig.mount('damage', { cacheDir });
    expect(await readFile(path.join(mount.dir, 'cached.bin'), READ_BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: digest });
    expect(rig.getsOf('cached.bin')).toBe(0);
    await rig.unmount(mount);
  });

  it('serves the right bytes, uncached, when the cache disk is full', async () => {
    const { sha256: digest } = await rig.putRandom('big-for-small-disk.bin', 16 * MiB);
    const cacheDir = path.join(rig.work, 'tiny-cache');
    await fs.mkdir(cacheDir);
    await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', cacheDir]);
    try {
      // The bound says 10Gi, the disk says 2 MiB: the sidecar must live with ENOSPC.
      const mount = await rig.mount('tiny', { cacheDir, extra: ['--cache-memory', '4Mi'] });
      for (let round = 0; round < 2; round++) {
        expect(await readFile(path.join(mount.dir, 'big-for-small-disk.bin'), READ_BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: digest });
      }
      expect(mount.process.child.exitCode).toBeNull();
      for (const file of await blockFiles(cacheDir)) expect(await wellFormed(file)).toBe(true);
      await rig.unmount(mount);
    } finally {
      await promisify(execFile)('umount', ['-l', cacheDir]).catch(() => undefined);
    }
  });

  it('leaves no torn block to be trusted after a SIGKILL while blocks are being written', async () => {
    const { sha256: digest } = await rig.putRandom('crash.bin', 48 * MiB);
    const cacheDir = path.join(rig.work, 'crash-cache');
    let mount = await rig.mount('crash', { cacheDir });
    const reader = readFile(path.join(mount.dir, 'crash.bin'), READ_BOUND_MS);
    while (rig.getsOf('crash.bin') < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 150));
    await rig.unmount(mount, 'SIGKILL');
    const interrupted = await reader.result;
    expect(interrupted.kind).not.toBe('hung');
    if (interrupted.kind === 'bytes') expect(interrupted.sha256).toBe(digest);

    for (const file of await blockFiles(cacheDir)) expect(await wellFormed(file)).toBe(true);
    mount = await rig.mount('crash', { cacheDir });
    expect(await readFile(path.join(mount.dir, 'crash.bin'), READ_BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: digest });
    await rig.unmount(mount);
  });
});
