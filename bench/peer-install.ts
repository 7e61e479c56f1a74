/**
 * Installs the Debian peers (s3fs, rclone) when they are missing, as the issue asks of the
 * bench command; a failure is reported and the peer is then skipped with a line saying so.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { commandExists } from './mount-peer';

const run = promisify(execFile);

export async function installMissingPeers(commands: readonly string[], log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const command of commands) if (!(await commandExists(command))) missing.push(command);
  if (missing.length === 0) return;
  log(`installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update', '-qq'], { env, timeout: 300_000 });
    await run('apt-get', ['install', '-y', '-qq', ...missing], { env, timeout: 600_000 });
  } catch (error) {
    log(`could not install ${missing.join(' ')}: ${(error as Error).message.split('\n')[0]}`);
  }
}
