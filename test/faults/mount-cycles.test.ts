/**
 * Mounting and unmounting many times leaks nothing (issue 7):
 * - in one long-lived process (the jest worker, as `run` mode keeps one process for a pod's
 *   life), 100 mount/unmount cycles of a dataset leave its open file descriptors and the mount
 *   table as they were, and every tenth mount serves the right bytes to a child reader;
 * - `datamount-sidecar mount` processes stopped by SIGTERM at seeded random moments — while
 *   starting, while mounted and idle, while a reader is in the middle of a file — exit, take
 *   their mount with them, and leave no process behind; a reader caught by the unmount gets
 *   its bytes or an error, never a hang.
 */
import { promises as fs, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { mountDataset, type DatasetSpec } from '../../sidecar/dataset-mount';
import { createLogger } from '../../sidecar/logger';
import { SidecarMetrics } from '../../sidecar/metrics';
import { forceUnmountAll, fuseMountsUnder } from '../support/fuse-cleanup';
import { seededRandom } from '../support/fault-proxy';
import { childEnv, startSidecar } from '../sidecar/sidecar-process';
import { BUCKET, FaultRig, MiB, readFile } from './fault-rig';

jest.setTimeout(180_000);

const IN_PROCESS_CYCLES = 100;
const PROCESS_CYCLES = Number(process.env.MOUNT_CYCLES ?? 40);
const SEED = Number(process.env.FAULT_SEED ?? 11);

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** Processes whose command line mentions `needle` (our mount directories are unique per test). */
async function processesMentioning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle)) found.push(Number(entry));
  }
  return found;
}

describe('mount cycles', () => {
  const rig = new FaultRig();
  let digest: string;

  beforeAll(async () => {
    await rig.start();
    digest = (await rig.putRandom('cycle.bin', 3 * MiB)).sha256;
  }, 60_000);

  afterAll(async () => {
    await rig.stop();
  });

  describe(`when one process mounts and unmounts ${IN_PROCESS_CYCLES} times`, () => {
    it('keeps its file descriptors and the mount table as they were, and serves the right bytes throughout', async () => {
      const mountPoint = path.join(rig.work, 'in-process');
      await fs.mkdir(mountPoint);
      const spec: DatasetSpec = {
        name: 'cycles', endpoint: rig.proxy.url, bucket: BUCKET, prefix: '', forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, readOnly: true, mountPoint,
        cacheBytes: 64 * MiB, memoryBytes: 16 * MiB, uid: 0, gid: 0, allowOther: false, metadataTtlMs: 1000,
      };
      const log = createLogger('error');
      const warmUp = await mountDataset(spec, log, new SidecarMetrics());
      await warmUp.close();
      const fdsBefore = openFds();
      let reads = 0;
      try {
        for (let cycle = 0; cycle < IN_PROCESS_CYCLES; cycle++) {
          const dataset = await mountDataset(spec, log, new SidecarMetrics());
          if (cycle % 10 === 0) {
            expect(await readFile(path.join(mountPoint, 'cycle.bin'), 30_000).result).toMatchObject({ kind: 'bytes', sha256: digest });
            reads += 1;
          }
          await dataset.close();
          expect(await fuseMountsUnder(mountPoint)).toEqual([]);
        }
      } finally {
        await forceUnmountAll(mountPoint);
      }
      const fdsAfter = openFds();
      console.log(`${IN_PROCESS_CYCLES} in-process mount cycles (${reads} with reads): open fds ${fdsBefore} → ${fdsAfter}`);
      expect(fdsAfter - fdsBefore).toBeLessThanOrEqual(3);
    });
  });

  describe(`when ${PROCESS_CYCLES} sidecar processes get SIGTERM at random moments (seed ${SEED})`, () => {
    it('each exits, takes its mount with it, and leaves no process; readers caught by it never hang', async () => {
      const random = seededRandom(SEED);
      const moments: Record<string, number> = { starting: 0, idle: 0, reading: 0 };
      const exits: Record<string, number> = {};
      const readerOutcomes: Record<string, number> = {};
      const problems: string[] = [];
      for (let cycle = 0; cycle < PROCESS_CYCLES; cycle++) {
        const dir = path.join(rig.work, `proc-${cycle}`);
        await fs.mkdir(dir);
        const moment = (['starting', 'idle', 'reading'] as const)[Math.floor(random() * 3)]!;
        moments[moment]! += 1;
        const sidecar = await startSidecar(
          ['mount', `s3://${BUCKET}`, dir, '--endpoint', rig.proxy.url, '--log-level', 'error'],
          childEnv({ AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }),
          moment === 'starting' ? undefined : /^mounted /m,
        );
        let reader: ReturnType<typeof readFile> | undefined;
        if (moment === 'starting') await new Promise((resolve) => setTimeout(resolve, random() * 400));
        if (moment === 'idle') await new Promise((resolve) => setTimeout(resolve, random() * 200));
        if (moment === 'reading') {
          rig.proxy.setRules([{ match: { key: 'cycle.bin' }, action: { kind: 'delay', ms: 100 } }]);
          reader = readFile(path.join(dir, 'cycle.bin'), 30_000);
          await new Promise((resolve) => setTimeout(resolve, 50 + random() * 300));
        }
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([sidecar.stop('SIGTERM'), new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve('no exit in 20 s'), 20_000);
        })]);
        clearTimeout(timer);
        exits[String(code)] = (exits[String(code)] ?? 0) + 1;
        if (typeof code === 'string') {
          problems.push(`cycle ${cycle} (${moment}): ${code}`);
          await sidecar.stop('SIGKILL');
        }
        if (reader) {
          const outcome = await reader.result;
          readerOutcomes[outcome.kind === 'error' ? outcome.code : outcome.kind] = (readerOutcomes[outcome.kind === 'error' ? outcome.code : outcome.kind] ?? 0) + 1;
          if (outcome.kind === 'hung') problems.push(`cycle ${cycle}: reader hung`);
          if (outcome.kind === 'bytes' && outcome.sha256 !== digest) problems.push(`cycle ${cycle}: reader got wrong bytes`);
          rig.proxy.setRules([]);
        }
        const left = await fuseMountsUnder(dir);
        if (left.length > 0) problems.push(`cycle ${cycle} (${moment}): still mounted after exit`);
        const alive = await processesMentioning(dir);
        if (alive.length > 0) problems.push(`cycle ${cycle} (${moment}): processes left ${alive.join(',')}`);
        await forceUnmountAll(dir);
      }
      console.log(`${PROCESS_CYCLES} SIGTERM cycles: moments ${JSON.stringify(moments)}, exit codes ${JSON.stringify(exits)}, readers ${JSON.stringify(readerOutcomes)}, problems ${problems.length}`);
      expect(problems).toEqual([]);
      expect(Object.keys(exits).every((c) => c === '0' || c === 'null')).toBe(true);
    });
  });
});
