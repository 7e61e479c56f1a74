/**
 * One container = one process tree in its own mount namespace, started by
 * `unshare --mount --propagation unchanged` running a small generated shell script that builds
 * the container's file system and then `exec`s chroot into it.
 *
 * Why chroot over an overlay, not bind mounts into the real root: a container path such as
 * /mnt/datasets/x needs a mount point, and creating it in the real root would litter the
 * machine (and removing it afterwards races with other containers still using it). So each
 * container gets `<state>/root`, an overlayfs whose lower layer is the host's `/` (read: this
 * machine's /bin/sh, node, the repository) and whose upper layer is a tmpfs private to the
 * container. Mount points, and anything the container writes outside its volumes, land in that
 * tmpfs and vanish with the namespace. /proc, /dev, /sys and the mounts holding Node and the
 * repository (when they are not on `/`) are rbind-mounted in, since overlayfs shows only `/`'s
 * own file system.
 *
 * Volume mounts (kubelet → runc semantics): each volumeMount is an rbind of the node-side
 * volume path (plus subPath) at `root/<mountPath>`, parents before children; propagation
 * Bidirectional → rshared (joins the emptyDir's peer group, so a mount made here reaches the
 * node and the other containers), HostToContainer → rslave (receives, never sends), None →
 * rprivate; `readOnly` → `remount,bind,ro`.
 *
 * The namespace starts as a copy of the runner's: "unchanged" keeps the emptyDirs' shared
 * marks, everything else on this machine is private here. The process is a session leader
 * (`detached`), so the whole container is one process group; the script also records the
 * namespace's inode so that `sweep` can find any process that left the group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { statField, TICKS_PER_SECOND } from './proc-stat';

export interface ContainerLaunch {
  container: IContainer;
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  workingDir: string;
  /** Volume name → node path (from prepareVolumes). */
  volumePaths: ReadonlyMap<string, string>;
  /** A folder for this container's root and bookkeeping; removed by the runner. */
  stateDir: string;
  /** Extra paths whose mounts must be visible inside (e.g. the repository). */
  hostPathsNeeded: readonly string[];
  runAsUser?: number;
  runAsGroup?: number;
}

export interface RunningContainer {
  name: string;
  process: ChildProcess;
  pid: number;
  /** Resolves once the process has exited (code or signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** Mount-namespace inode (`mnt:[…]`), known once the setup script ran. */
  namespaceId(): string | undefined;
  /** When the main process exited, in clock ticks since boot (`sweepNamespace`); undefined while it runs. */
  exitedAtTicks(): number | undefined;
}

/** Quote a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function containerSetupScript(launch: ContainerLaunch, extraMounts: readonly string[]): string {
  const root = path.join(launch.stateDir, 'root');
  const scratch = path.join(launch.stateDir, 'scratch');
  const q = shellQuote;
  const lines = [
    'set -e',
    `/bin/readlink /proc/$$/ns/mnt > ${q(path.join(launch.stateDir, 'namespace'))}`,
    `/bin/mount -t tmpfs -o mode=0755 pod-runner ${q(scratch)}`,
    `/bin/mkdir -p ${q(`${scratch}/upper`)} ${q(`${scratch}/work`)}`,
    `/bin/mount -t overlay overlay -o ${q(`lowerdir=/,upperdir=${scratch}/upper,workdir=${scratch}/work`)} ${q(root)}`,
  ];
  for (const hostMount of ['/proc', '/dev', '/sys', ...extraMounts]) {
    lines.push(
      `/bin/mkdir -p ${q(root + hostMount)}`,
      `/bin/mount --rbind ${q(hostMount)} ${q(root + hostMount)}`,
      `/bin/mount --make-rslave ${q(root + hostMount)}`,
    );
  }
  for (const mount of sortedMounts(launch.container.volumeMounts ?? [])) {
    const source = volumeSource(mount, launch.volumePaths);
    const target = root + path.resolve('/', mount.mountPath);
    if (mount.subPath) lines.push(`[ -e ${q(source)} ] || /bin/mkdir -p ${q(source)}`);
    lines.push(
      `if [ -d ${q(source)} ]; then /bin/mkdir -p ${q(target)}; else /bin/mkdir -p ${q(path.dirname(target))}; /bin/touch ${q(target)}; fi`,
      `/bin/mount --rbind ${q(source)} ${q(target)}`,
      `/bin/mount ${propagationFlag(mount)} ${q(target)}`,
    );
    if (mount.readOnly) lines.push(`/bin/mount -o remount,bind,ro ${q(target)}`);
  }
  const user = launch.runAsUser !== undefined ? [`--userspec=${launch.runAsUser}:${launch.runAsGroup ?? launch.runAsUser}`] : [];
  const chroot = ['/usr/sbin/chroot', ...user, root, '/bin/sh', '-c', 'cd -- "$0" && exec "$@"', launch.workingDir, ...launch.argv];
  lines.push(`exec ${chroot.map(q).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export async function startContainer(launch: ContainerLaunch): Promise<RunningContainer> {
  const name = launch.container.name;
  await fs.mkdir(path.join(launch.stateDir, 'root'), { recursive: true });
  await fs.mkdir(path.join(launch.stateDir, 'scratch'), { recursive: true });
  const script = path.join(launch.stateDir, 'setup.sh');
  await fs.writeFile(script, containerSetupScript(launch, await mountsHolding(launch.hostPathsNeeded)), { mode: 0o700 });
  // setpriv --pdeathsig: if the runner itself dies (a killed test run), the kernel kills the
  // container's main process instead of leaving a sidecar serving FUSE with nobody to stop it.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--mount', '--propagation', 'unchanged', '--', '/bin/sh', script], {
    env: launch.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let exitTicks: number | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exitTicks = ticksSinceBoot();
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      child.stderr?.emit('data', Buffer.from(`pod runner: cannot start ${name}: ${err.message}\n`));
      resolve({ code: 128, signal: null });
    });
  });
  let done = false;
  void exited.then(() => { done = true; });
  let namespace: string | undefined;
  const namespaceFile = path.join(launch.stateDir, 'namespace');
  return {
    name,
    process: child,
    pid: child.pid ?? -1,
    exited,
    hasExited: () => done,
    namespaceId: () => {
      if (namespace === undefined) {
        try { namespace = readFileSync(namespaceFile, 'utf8').trim() || undefined; } catch { /* not written yet */ }
      }
      return namespace;
    },
    exitedAtTicks: () => exitTicks,
  };
}

function ticksSinceBoot(): number {
  return Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * TICKS_PER_SECOND);
}

/** Signal the container's process group; a group already gone is fine. */
export function signalContainer(running: RunningContainer, signal: NodeJS.Signals): void {
  if (running.pid <= 0) return;
  try { process.kill(-running.pid, signal); } catch { /* ESRCH: no process left in the group */ }
}

/**
 * SIGKILL every process still in the container's mount namespace (even if it left the group).
 * A namespace's inode number is free again once its last process is gone, and the kernel hands
 * out the lowest free one: another runner's new container (a parallel test) soon has it. So
 * with `bornBeforeTicks` (when the container's main process exited) only processes started
 * before then are ours; one started later in a namespace of that number is someone else's —
 * sweeping it killed a second test's reader now and then.
 */
export async function sweepNamespace(namespaceId: string | undefined, bornBeforeTicks?: number): Promise<number> {
  if (!namespaceId) return 0;
  let killed = 0;
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const link = await fs.readlink(`/proc/${entry}/ns/mnt`).catch(() => '');
    if (link !== namespaceId) continue;
    if (bornBeforeTicks !== undefined) {
      const started = await startTicks(entry);
      if (started === undefined || started >= bornBeforeTicks) continue;
    }
    try { process.kill(Number(entry), 'SIGKILL'); killed++; } catch { /* gone meanwhile */ }
  }
  return killed;
}

/** A process's start, in clock ticks since boot (proc(5) stat field 22), if it still exists. */
async function startTicks(pid: string): Promise<number | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined ? undefined : statField(stat, 22);
}

function sortedMounts(mounts: readonly IVolumeMount[]): IVolumeMount[] {
  // Parents first so a child mount is not hidden by its parent's bind.
  return [...mounts].sort((a, b) => path.resolve('/', a.mountPath).length - path.resolve('/', b.mountPath).length);
}

function volumeSource(mount: IVolumeMount, volumePaths: ReadonlyMap<string, string>): string {
  const base = volumePaths.get(mount.name);
  if (base === undefined) throw new Error(`volumeMount ${mount.name} names no volume of the pod`);
  return mount.subPath ? path.join(base, path.normalize(`/${mount.subPath}`)) : base;
}

function propagationFlag(mount: IVolumeMount): string {
  switch (mount.mountPropagation) {
    case 'Bidirectional': return '--make-rshared';
    case 'HostToContainer': return '--make-rslave';
    default: return '--make-rprivate';
  }
}

/**
 * Mount points (other than `/`, /proc, /dev, /sys) that hold the given paths: overlayfs over `/`
 * does not show other file systems, so those are bound into the container as they are.
 */
async function mountsHolding(paths: readonly string[]): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const mountPoints = text.split('\n').map((line) => line.split(' ')[4]).filter((m): m is string => !!m);
  const found = new Set<string>();
  for (const wanted of paths) {
    let best = '/';
    for (const m of mountPoints) {
      if ((wanted === m || wanted.startsWith(`${m}/`)) && m.length > best.length) best = m;
    }
    if (best !== '/' && !/^\/(proc|dev|sys)(\/|$)/.test(best)) found.add(best);
  }
  return [...found];
}
