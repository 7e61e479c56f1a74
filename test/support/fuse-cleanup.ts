/**
 * Unmounting a FUSE mount whose server died or deadlocked. A plain `umount` of a hung mount
 * blocks forever, so the order is: `fusermount -u` (clean), `umount -l` (detach from the tree),
 * then abort the connection through fusectl so every process blocked on it gets ENOTCONN.
 * Tests call this in teardown so one failing test cannot hang the suite or CI.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const FUSECTL = '/sys/fs/fuse/connections';

/** Mount points of FUSE file systems at or below `root`, with their device minor numbers. */
export async function fuseMountsUnder(root: string): Promise<Array<{ mountPoint: string; minor: number }>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const found: Array<{ mountPoint: string; minor: number }> = [];
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || !post.startsWith('fuse')) continue;
    const fields = pre.split(' ');
    const device = fields[2] ?? '';
    const mountPoint = unescapeMountPath(fields[4] ?? '');
    if (mountPoint === root || mountPoint.startsWith(root.endsWith('/') ? root : `${root}/`)) {
      found.push({ mountPoint, minor: Number(device.split(':')[1]) });
    }
  }
  return found;
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

async function tryRun(cmd: string, args: string[], timeoutMs: number): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: timeoutMs });
    return true;
  } catch {
    return false;
  }
}

/** Make sure nothing FUSE is left mounted at or below `root`; never blocks on a hung server. */
export async function forceUnmountAll(root: string): Promise<void> {
  for (const { mountPoint, minor } of await fuseMountsUnder(root)) {
    if (await tryRun('fusermount', ['-u', mountPoint], 3000)) continue;
    if (await tryRun('fusermount3', ['-u', mountPoint], 3000)) continue;
    await tryRun('umount', ['-l', mountPoint], 3000);
    await abortConnection(minor);
  }
}

/** Abort a FUSE connection by device minor; mounts fusectl first when it is not mounted. */
export async function abortConnection(minor: number): Promise<void> {
  if (!Number.isFinite(minor)) return;
  try {
    const entries = await fs.readdir(FUSECTL);
    if (entries.length === 0) await tryRun('mount', ['-t', 'fusectl', 'none', FUSECTL], 3000);
    await fs.writeFile(`${FUSECTL}/${minor}/abort`, '1');
  } catch {
    // Already gone: the connection ended on its own.
  }
}
