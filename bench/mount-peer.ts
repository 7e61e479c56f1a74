/**
 * A mounter under test ("peer"): how to tell whether it is installed, how to mount the bench
 * bucket with it, and the options used (they go into the report). Every peer runs in the
 * foreground as a child of the harness, so its PID is known for peak-RSS sampling and so a
 * hung peer can be killed; its output goes to a log file next to the mount.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import { forceUnmountAll, fuseMountsUnder } from '../test/support/fuse-cleanup';

export interface MountTarget {
  /** The latency proxy's URL: every peer reads through it. */
  endpoint: string;
  bucket: string;
  mountDir: string;
  /** An empty directory the peer may use for its cache (fresh for every cold mount). */
  cacheDir: string;
  /** Where the peer's log and any credential file go. */
  workDir: string;
  /** Environment for the peer's process (AWS_CA_BUNDLE removed: plain HTTP here). */
  env: NodeJS.ProcessEnv;
}

export interface MountedPeer {
  pid: number;
  unmount(): Promise<void>;
}

export interface MountPeer {
  name: string;
  /** Command line, with the options that matter, for the report. */
  describe(target: MountTarget): string;
  /** Why it cannot run here, or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  mount(target: MountTarget): Promise<MountedPeer>;
  /** The workloads it takes part in (default: all). */
  readonly workloads?: readonly string[];
}

const MOUNT_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

async function isMounted(dir: string): Promise<boolean> {
  return (await fuseMountsUnder(dir)).some((mount) => mount.mountPoint === dir);
}

async function tailOf(file: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-15).join('\n');
}

/** Whether `command` is on the PATH. */
export async function commandExists(command: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    child.on('close', (code) => resolve(code === 0));
    child.on('error', () => resolve(false));
  });
}

/**
 * Starts a foreground mounter and waits until `mountDir` is a FUSE mount point. Stopping it:
 * SIGTERM (each of these unmounts on it), then, if it does not exit, the forced unmount of
 * test/support/fuse-cleanup.ts and SIGKILL.
 */
export async function mountProcess(
  name: string,
  command: string,
  args: string[],
  target: MountTarget,
): Promise<MountedPeer> {
  const logFile = `${target.workDir}/${name}.log`;
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { env: target.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const deadline = Date.now() + MOUNT_TIMEOUT_MS;
  while (!(await isMounted(target.mountDir))) {
    if (spawnError || child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await forceUnmountAll(target.mountDir);
      const why = spawnError?.message ?? (child.exitCode !== null ? `exited with ${child.exitCode}` : 'timed out');
      throw new Error(`${name} did not mount (${why}); last log lines:\n${await tailOf(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    pid: child.pid ?? -1,
    async unmount() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS + 2000))]);
        clearTimeout(timer);
      }
      await forceUnmountAll(target.mountDir);
      log.end();
    },
  };
}
