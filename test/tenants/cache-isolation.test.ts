/**
 * The node cache is shared by pods of many namespaces (issue 7's tenant rule): a block on disk is
 * useless without the credentials of the dataset that cached it, and a block moved or planted
 * under another name is detected. Each case would fail without the protection:
 * - without encryption, the plaintext would be found in the cache folder;
 * - without a key derived from the credentials, a mount with other credentials would serve the
 *   copied blocks (no GET at the server) instead of fetching its own;
 * - without the block id in the authenticated data, planted blocks would be served as the
 *   victim file's bytes.
 *
 * s3rver checks only that a SigV4 request names a known access key id, not the signature
 * (node_modules/s3rver/lib/middleware/authentication.js: "Signature version 4 calculation is
 * unimplemented"), so "other credentials" here means the same key id with another secret: the
 * server answers both, and only the sidecar's cache can tell them apart.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FaultRig, MiB, readFile, sha256 } from '../faults/fault-rig';

jest.setTimeout(120_000);

const BOUND_MS = 60_000;
const LINE = 'CONFIDENTIAL tenant-a quarterly figures, line 000001\n';

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) found.push(path.join(entry.parentPath, entry.name));
  }
  return found.sort();
}

/** The block files under `dir` once there are `count` of them (the disk tier writes after the read returns). */
async function blockFilesOnceThere(dir: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const blocks = (await filesUnder(dir)).filter((f) => f.endsWith('.blk'));
    if (blocks.length >= count || Date.now() > deadline) return blocks;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('node cache isolation between tenants', () => {
  const rig = new FaultRig();
  let secretSha: string;
  let cacheA: string;

  beforeAll(async () => {
    await rig.start();
    // A little over 3 MiB: four 1 MiB blocks.
    const text = Buffer.from(LINE.repeat(Math.ceil((3 * MiB) / LINE.length)));
    await rig.put('tenant-a/report.txt', text);
    secretSha = sha256(text);
    cacheA = path.join(rig.work, 'cache-a');
    const mountA = await rig.mount('a', { cacheDir: cacheA });
    expect(await readFile(path.join(mountA.dir, 'tenant-a', 'report.txt'), BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: secretSha });
    await rig.unmount(mountA);
  }, 90_000);

  afterAll(async () => {
    await rig.stop();
  });

  const copyOf = async (name: string): Promise<string> => {
    const copy = path.join(rig.work, name);
    await fs.cp(cacheA, copy, { recursive: true });
    return copy;
  };

  describe('when someone reads the cache folder on the node', () => {
    it('finds neither the plaintext nor the object key in any file or file name', async () => {
      const files = await filesUnder(cacheA);
      expect(files.filter((f) => f.endsWith('.blk')).length).toBe(4);
      for (const file of files) {
        expect(path.relative(cacheA, file)).not.toMatch(/report|tenant-a/);
        const data = await fs.readFile(file);
        expect(data.includes('CONFIDENTIAL')).toBe(false);
        expect(data.includes('quarterly')).toBe(false);
      }
    });
  });

  describe("when another tenant's pod gets a copy of the cache folder", () => {
    it('reuses it with the same credentials (the control: copying alone does not defeat the cache)', async () => {
      const mount = await rig.mount('same-creds', { cacheDir: await copyOf('cache-same') });
      rig.proxy.counts(true);
      expect(await readFile(path.join(mount.dir, 'tenant-a', 'report.txt'), BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: secretSha });
      expect(rig.getsOf('tenant-a/report.txt')).toBe(0);
      await rig.unmount(mount);
    });

    it('cannot use a single block with other credentials: every block is fetched again from S3', async () => {
      const mount = await rig.mount('other-creds', { cacheDir: await copyOf('cache-other'), env: { AWS_SECRET_ACCESS_KEY: 'another-tenant-secret' } });
      rig.proxy.counts(true);
      expect(await readFile(path.join(mount.dir, 'tenant-a', 'report.txt'), BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: secretSha });
      const fetched = rig.proxy.log().filter((r) => r.method === 'GET' && r.key === 'tenant-a/report.txt');
      expect(fetched.length).toBeGreaterThan(0);
      // The ranges asked for cover the whole object: no block came from the copied cache.
      const covered = fetched.reduce((sum, r) => {
        const match = /bytes=(\d+)-(\d+)/.exec(r.range ?? '');
        return sum + (match ? Number(match[2]) - Number(match[1]) + 1 : 0);
      }, 0);
      expect(covered).toBeGreaterThanOrEqual(3 * MiB);
      await rig.unmount(mount);
    });
  });

  describe('when blocks of one object are planted under the names of another', () => {
    it("detects them, fetches the victim's real blocks, and never serves the planted bytes", async () => {
      const cache = path.join(rig.work, 'cache-plant');
      await rig.putRandom('donor.bin', 2 * MiB);
      const victim = await rig.putRandom('victim.bin', 2 * MiB);
      let mount = await rig.mount('plant', { cacheDir: cache });
      expect(await readFile(path.join(mount.dir, 'donor.bin'), BOUND_MS).result).toMatchObject({ kind: 'bytes' });
      const donorBlocks = await blockFilesOnceThere(cache, 2);
      expect(await readFile(path.join(mount.dir, 'victim.bin'), BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: victim.sha256 });
      const victimBlocks = (await blockFilesOnceThere(cache, 4)).filter((f) => !donorBlocks.includes(f));
      await rig.unmount(mount);
      expect(victimBlocks.length).toBe(2);
      for (const [i, file] of victimBlocks.entries()) await fs.copyFile(donorBlocks[i]!, file);

      mount = await rig.mount('plant', { cacheDir: cache });
      rig.proxy.counts(true);
      expect(await readFile(path.join(mount.dir, 'victim.bin'), BOUND_MS).result).toMatchObject({ kind: 'bytes', sha256: victim.sha256 });
      expect(rig.getsOf('victim.bin')).toBeGreaterThan(0);
      await rig.unmount(mount);
    });
  });
});
