/**
 * Runs the compiled sidecar (`node dist/sidecar/main.js …`) as a child process for integration
 * tests: the mount is served by that child, so the test process can read it synchronously or
 * through other children without deadlocking fuse-native (design.md).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '..', '..');
export const SIDECAR_MAIN = path.join(ROOT, 'dist', 'sidecar', 'main.js');
const run = promisify(execFile);

/** Build dist/ when it is missing or older than the sidecar's sources (type errors elsewhere do not stop tsc emitting). */
export async function ensureBuilt(): Promise<void> {
  const newestSource = Math.max(...readdirSync(path.join(ROOT, 'sidecar')).map((f) => statSync(path.join(ROOT, 'sidecar', f)).mtimeMs));
  if (existsSync(SIDECAR_MAIN) && statSync(SIDECAR_MAIN).mtimeMs >= newestSource) return;
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => undefined);
  if (!existsSync(SIDECAR_MAIN)) throw new Error(`${SIDECAR_MAIN} is missing: build with \`npx tsc -p tsconfig.build.json\` (make build)`);
}

export interface SidecarProcess {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Environment for children talking plain HTTP to a loopback S3 (AWS_CA_BUNDLE confuses some tools). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.AWS_CA_BUNDLE;
  return env;
}

/** Start the sidecar with `args`; resolves once stdout or stderr shows `readyLine`. */
export async function startSidecar(args: string[], env: NodeJS.ProcessEnv, readyLine: RegExp | undefined = /^mounted /m, timeoutMs = 30_000): Promise<SidecarProcess> {
  const child = spawn(process.execPath, ['--no-warnings', SIDECAR_MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidecar not ready within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (readyLine === undefined || readyLine.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sidecar exited with ${code}:\n${output}`));
    });
    if (readyLine === undefined) {
      clearTimeout(timer);
      resolve();
    }
  });
  return {
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Run a shell command in a child process; resolves with stdout, stderr and the exit code. */
export async function shell(command: string, env: NodeJS.ProcessEnv = childEnv()): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error ? Number((error as { code?: number }).code ?? 1) : 0 });
    });
  });
}
