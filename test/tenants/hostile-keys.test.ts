/**
 * Object keys can never reach outside the mount (issue 7). A bucket holds keys with `..` and `.`
 * segments, a leading `/`, empty segments, control characters, backslashes and over-long names;
 * a child process walks the mount, reads everything it finds, and also tries paths that would
 * lead out of it. Nothing it sees may resolve outside the mount, no entry may be `.`/`..` or
 * over 255 bytes, every file read must hold its own key's bytes, nothing may appear outside the
 * mount, and a prefix mount must never ask the store for a key outside its prefix.
 *
 * The bucket is served by `key-bucket-server.ts`, not s3rver: s3rver stores keys as paths and
 * cannot hold these (see that file).
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { forceUnmountAll } from '../support/fuse-cleanup';
import { childEnv, ensureBuilt, startSidecar, type SidecarProcess } from '../sidecar/sidecar-process';
import { sha256 } from '../faults/fault-rig';
import { startKeyBucketServer, type KeyBucketServer } from './key-bucket-server';

jest.setTimeout(120_000);

const BUCKET = 'hostile';
const KEYS = [
  'ok.txt', 'dir/fine.txt', 'inner/ok.txt', 'inner/deeper/ok.txt', 'top-secret.txt',
  '../escape.txt', 'a/../../up.txt', '/abs.txt', 'dir//double.txt', './dot.txt', 'dir/./x.txt',
  'dir/..', '.', '..', 'dir/.', 'a/b/../../c.txt', 'inner/../top-secret.txt', 'inner/../../escape2.txt',
  'ctrl\u0001name.txt', 'new\nline.txt', 'tab\tname.txt', 'esc\u001b[31mred.txt', 'back\\slash.txt', '..\\win.txt',
  'rtl\u202etxt.exe', `long-${'x'.repeat(300)}.txt`, `dir/${'y'.repeat(256)}`,
];
const OBJECTS = new Map(KEYS.map((key) => [key, Buffer.from(`the object at key ${JSON.stringify(key)}\n`)]));
const SHA_TO_KEY = new Map([...OBJECTS].map(([key, body]) => [sha256(body), key]));

/** Walk DIR in a child: every entry with its real path, and each file's SHA-256 (or errno). Then try paths that lead out. */
const WALKER = `
const fs = require('fs'); const path = require('path'); const crypto = require('crypto');
const [root, ...probes] = process.argv.slice(1);
const seen = [];
const walk = (dir) => {
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    const entry = { name, path: full, real: fs.realpathSync(full) };
    try {
      const st = fs.lstatSync(full);
      if (st.isDirectory()) { entry.type = 'dir'; seen.push(entry); walk(full); continue; }
      entry.type = 'file';
      entry.sha256 = crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    } catch (e) { entry.error = e.code; }
    seen.push(entry);
  }
};
walk(root);
const tried = probes.map((p) => { try { return { path: p, read: fs.readFileSync(p, 'utf8') }; } catch (e) { return { path: p, error: e.code }; } });
process.stdout.write(JSON.stringify({ seen, tried }));
`;

interface Walked {
  seen: Array<{ name: string; path: string; real: string; type?: string; sha256?: string; error?: string }>;
  tried: Array<{ path: string; read?: string; error?: string }>;
}

function walk(root: string, probes: string[]): Promise<Walked> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', WALKER, root, ...probes], { timeout: 30_000, maxBuffer: 16 * 2 ** 20 }, (error, stdout) => {
      if (error) reject(new Error(`walking ${root} failed: ${error.message}`));
      else resolve(JSON.parse(stdout) as Walked);
    });
  });
}

/** Every path under `dir`, except inside `skip` (the mounts), with sizes: what exists outside the mounts. */
async function outsideTree(dir: string, skip: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (skip.includes(full)) continue;
    found.push(full);
    if (entry.isDirectory()) found.push(...(await outsideTree(full, skip)));
  }
  return found.sort();
}

describe('hostile object keys', () => {
  let server: KeyBucketServer;
  let work: string;
  let whole: string;
  let inner: string;
  const sidecars: SidecarProcess[] = [];
  let before: string[];

  beforeAll(async () => {
    await ensureBuilt();
    server = await startKeyBucketServer(BUCKET, OBJECTS);
    // The mounts sit two levels down, so `..` from them still lands inside the test's folder.
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'hostile-keys-'));
    whole = path.join(work, 'level1', 'whole');
    inner = path.join(work, 'level1', 'inner');
    await fs.mkdir(whole, { recursive: true });
    await fs.mkdir(inner, { recursive: true });
    before = await outsideTree(work, [whole, inner]);
    const env = childEnv({ AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' });
    for (const [url, dir] of [[`s3://${BUCKET}`, whole], [`s3://${BUCKET}/inner`, inner]] as const) {
      sidecars.push(await startSidecar(['mount', url, dir, '--endpoint', server.url, '--log-level', 'error'], env));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
    if (work) await forceUnmountAll(work);
    await server?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  describe('when the whole bucket is mounted', () => {
    let walked: Walked;
    beforeAll(async () => {
      walked = await walk(whole, [path.join(whole, '..', 'escape.txt'), path.join(whole, '..', '..', 'up.txt'), path.join(whole, 'a', '..', '..', 'up.txt')]);
      console.log(`${KEYS.length} keys in the bucket; the mount shows ${walked.seen.length} entries: ${JSON.stringify(walked.seen.map((e) => path.relative(whole, e.path)))}`);
    });

    it('lists only names a directory can hold, none resolving outside the mount', () => {
      expect(walked.seen.length).toBeGreaterThan(5);
      for (const entry of walked.seen) {
        expect(['.', '..', '']).not.toContain(entry.name);
        expect(entry.name).not.toContain('/');
        expect(Buffer.byteLength(entry.name)).toBeLessThanOrEqual(255);
        expect(entry.real.startsWith(`${whole}/`)).toBe(true);
      }
    });

    it('gives every file it lists the bytes of the key that names it, and shows the ordinary keys', () => {
      for (const entry of walked.seen.filter((e) => e.type === 'file')) {
        const key = path.relative(whole, entry.path);
        expect(entry.error).toBeUndefined();
        expect(SHA_TO_KEY.get(entry.sha256 ?? '')).toBe(key);
      }
      const listed = walked.seen.map((e) => path.relative(whole, e.path));
      expect(listed).toEqual(expect.arrayContaining(['ok.txt', 'dir/fine.txt', 'inner/ok.txt', 'top-secret.txt']));
      expect(listed.some((p) => p.includes('escape') || p.includes('up.txt'))).toBe(false);
    });

    it('finds nothing by walking up out of it, and creates nothing outside it', async () => {
      for (const probe of walked.tried) expect(probe).toMatchObject({ error: 'ENOENT' });
      expect(await outsideTree(work, [whole, inner])).toEqual(before);
    });
  });

  describe('when a prefix of the bucket is mounted', () => {
    it('shows only the prefix, and never asks the store for a key or listing outside it', async () => {
      server.objectRequests.length = 0;
      server.listPrefixes.length = 0;
      const walked = await walk(inner, [path.join(inner, '..', 'top-secret.txt'), path.join(inner, '..', '..', 'escape2.txt')]);
      const listed = walked.seen.map((e) => path.relative(inner, e.path)).sort();
      expect(listed).toEqual(['deeper', 'deeper/ok.txt', 'ok.txt']);
      for (const entry of walked.seen.filter((e) => e.type === 'file')) expect(SHA_TO_KEY.get(entry.sha256 ?? '')).toBe(`inner/${path.relative(inner, entry.path)}`);
      for (const probe of walked.tried) expect(probe).toMatchObject({ error: 'ENOENT' });
      expect(server.objectRequests.filter((key) => !key.startsWith('inner/'))).toEqual([]);
      expect(server.listPrefixes.filter((prefix) => !prefix.startsWith('inner/'))).toEqual([]);
    });
  });
});
