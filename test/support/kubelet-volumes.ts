/**
 * The node side of a pod's volumes, under `nodeRoot` (a temp dir standing for the node's file
 * system):
 *
 * - `emptyDir` → `<nodeRoot>/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>`,
 *   bind-mounted onto itself and marked shared. That is what makes mount propagation work: a
 *   container's bind of a shared mount joins its peer group, so a FUSE mount made on the
 *   sidecar's Bidirectional (rshared) bind appears here and in every HostToContainer (rslave)
 *   bind of the app containers. (On a real node /var/lib/kubelet is itself rshared.)
 *   `medium: Memory` is a tmpfs, also shared.
 * - `hostPath` → the same path under nodeRoot (`/var/lib/datamount/cache` →
 *   `<nodeRoot>/var/lib/datamount/cache`), so two pods with one nodeRoot share a node cache;
 *   `DirectoryOrCreate`, `Directory`, `FileOrCreate`, `File` and "" are honoured. hostPaths are
 *   plain directories, not shared mounts: propagation into or out of them is not modelled.
 * - `configMap` / `secret` → a directory holding one file per key (or per `items` entry).
 *
 * The pod's folder itself is a private bind mount, so nothing the containers mount below it
 * reaches the node's mount table except through the emptyDirs' shared marks.
 *
 * `releaseVolumes` unmounts everything mounted below the pod's folder (FUSE first, through
 * forceUnmountAll, so a hung server cannot block it) and deletes the pod's folder only once
 * nothing is mounted there any more, so it can never delete through a live mount.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IKeyToPath } from 'kubernetes-models/v1/KeyToPath';
import { forceUnmountAll } from './fuse-cleanup';

const run = promisify(execFile);

export class VolumeSetupError extends Error {
  override readonly name = 'VolumeSetupError';
  readonly reason = 'FailedMount';
}

export interface PreparedVolumes {
  /** The pod's own folder on the node (`.../pods/<uid>`); everything in it is removed at the end. */
  podDir: string;
  /** Volume name → the node path a container bind-mounts. */
  hostPaths: Map<string, string>;
}

export interface VolumeSources {
  secrets: readonly ISecret[];
  configMaps: readonly IConfigMap[];
}

export function nodePath(nodeRoot: string, absolute: string): string {
  return path.join(nodeRoot, path.resolve('/', absolute));
}

export async function prepareVolumes(pod: IPod, uid: string, nodeRoot: string, sources: VolumeSources): Promise<PreparedVolumes> {
  const podDir = nodePath(nodeRoot, `/var/lib/kubelet/pods/${uid}`);
  await fs.mkdir(podDir, { recursive: true });
  // A private anchor: on hosts where / is shared (systemd), the containers' namespaces would
  // otherwise send every mount they make below the pod's folder (their root, their binds) back
  // into this namespace. Only the emptyDirs below, marked shared on purpose, propagate.
  await mount(['--bind', podDir, podDir]);
  await mount(['--make-private', podDir]);
  const hostPaths = new Map<string, string>();
  const namespace = pod.metadata?.namespace ?? 'default';
  for (const volume of pod.spec?.volumes ?? []) {
    hostPaths.set(volume.name, await prepareVolume(volume, podDir, nodeRoot, namespace, sources));
  }
  return { podDir, hostPaths };
}

async function prepareVolume(volume: IVolume, podDir: string, nodeRoot: string, namespace: string, sources: VolumeSources): Promise<string> {
  if (volume.emptyDir) {
    const dir = path.join(podDir, 'volumes', 'kubernetes.io~empty-dir', volume.name);
    await fs.mkdir(dir, { recursive: true });
    if (volume.emptyDir.medium === 'Memory') await mount(['-t', 'tmpfs', 'tmpfs', dir]);
    else await mount(['--bind', dir, dir]);
    await mount(['--make-shared', dir]);
    return dir;
  }
  if (volume.hostPath) {
    const target = nodePath(nodeRoot, volume.hostPath.path);
    await prepareHostPath(volume.name, target, volume.hostPath.type ?? '');
    return target;
  }
  if (volume.configMap || volume.secret) {
    const dir = path.join(podDir, 'volumes', volume.configMap ? 'kubernetes.io~configmap' : 'kubernetes.io~secret', volume.name);
    await fs.mkdir(dir, { recursive: true });
    const data = volume.configMap
      ? configMapFiles(sources.configMaps, namespace, volume.configMap.name ?? '', volume.configMap.optional)
      : secretFiles(sources.secrets, namespace, volume.secret?.secretName ?? '', volume.secret?.optional);
    const items: IKeyToPath[] = (volume.configMap ?? volume.secret)?.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of items) {
      const content = data[item.key];
      if (content === undefined) throw new VolumeSetupError(`volume ${volume.name}: key ${JSON.stringify(item.key)} not found`);
      const file = path.join(dir, path.normalize(`/${item.path}`));
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, content, { mode: item.mode ?? 0o644 });
    }
    return dir;
  }
  const kinds = Object.keys(volume).filter((key) => key !== 'name').join(', ');
  throw new VolumeSetupError(`volume ${volume.name}: type ${kinds} is not supported by the pod runner (emptyDir, hostPath, configMap, secret are)`);
}

async function prepareHostPath(name: string, target: string, type: string): Promise<void> {
  const stat = await fs.stat(target).catch(() => undefined);
  switch (type) {
    case '':
    case 'DirectoryOrCreate':
      if (!stat) await fs.mkdir(target, { recursive: true, mode: 0o755 });
      return;
    case 'Directory':
      if (!stat?.isDirectory()) throw new VolumeSetupError(`hostPath volume ${name}: ${target} is not a directory (type Directory)`);
      return;
    case 'FileOrCreate':
      if (!stat) {
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.writeFile(target, '', { mode: 0o644 });
      }
      return;
    case 'File':
      if (!stat?.isFile()) throw new VolumeSetupError(`hostPath volume ${name}: ${target} is not a file (type File)`);
      return;
    default:
      throw new VolumeSetupError(`hostPath volume ${name}: type ${type} is not supported by the pod runner`);
  }
}

function secretFiles(secrets: readonly ISecret[], namespace: string, name: string, optional: boolean | undefined): Record<string, Buffer> {
  const secret = secrets.find((s) => s.metadata?.name === name && (s.metadata.namespace ?? namespace) === namespace);
  if (!secret && !optional) throw new VolumeSetupError(`secret "${name}" not found`);
  const files: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(secret?.data ?? {})) files[key] = Buffer.from(value, 'base64');
  for (const [key, value] of Object.entries(secret?.stringData ?? {})) files[key] = Buffer.from(value);
  return files;
}

function configMapFiles(configMaps: readonly IConfigMap[], namespace: string, name: string, optional: boolean | undefined): Record<string, Buffer> {
  const configMap = configMaps.find((c) => c.metadata?.name === name && (c.metadata.namespace ?? namespace) === namespace);
  if (!configMap && !optional) throw new VolumeSetupError(`configmap "${name}" not found`);
  const files: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(configMap?.binaryData ?? {})) files[key] = Buffer.from(value, 'base64');
  for (const [key, value] of Object.entries(configMap?.data ?? {})) files[key] = Buffer.from(value);
  return files;
}

/** Mount points at or below `root` in this process's namespace, deepest first. */
export async function mountsUnder(root: string): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const mountPoint = (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (mountPoint === root || mountPoint.startsWith(prefix)) found.push(mountPoint);
  }
  return found.sort((a, b) => b.length - a.length);
}

/** Unmount everything below the pod's folder, then delete the folder if nothing is left mounted. */
export async function releaseVolumes(podDir: string): Promise<string[]> {
  const left = await releaseMountsUnder(podDir);
  if (left.length === 0) await fs.rm(podDir, { recursive: true, force: true });
  return left;
}

/** Unmounts every mount at or below `root` (FUSE through forceUnmountAll); returns what is left. */
export async function releaseMountsUnder(root: string): Promise<string[]> {
  await forceUnmountAll(root);
  for (let round = 0; round < 5; round++) {
    const left = await mountsUnder(root);
    if (left.length === 0) break;
    for (const mountPoint of left) await run('umount', ['-l', mountPoint]).catch(() => undefined);
  }
  return mountsUnder(root);
}

async function mount(args: string[]): Promise<void> {
  try {
    await run('mount', args);
  } catch (err) {
    throw new VolumeSetupError(`mount ${args.join(' ')}: ${(err as Error).message.trim()}`);
  }
}
