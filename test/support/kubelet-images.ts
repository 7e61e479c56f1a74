/**
 * The pod runner pulls no images: each image name maps to a local command, the way an image's
 * ENTRYPOINT and CMD would start it. Our sidecar image runs the compiled `dist/sidecar/main.js`
 * with this Node (and the V8 options of its shim's `#!` line, SIDECAR_NODE_FLAGS); shell images (busybox, alpine, ubuntu, debian) run this machine's `/bin/sh`,
 * so a pod's `command`/`args` work as written as long as they use standard tools.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SIDECAR_NODE_FLAGS } from '../../sidecar/node-flags';

/** What an image contributes to a container's process: ENTRYPOINT, CMD, WORKDIR and ENV. */
export interface ImageStandIn {
  entrypoint: readonly string[];
  cmd: readonly string[];
  workingDir: string;
  env: Readonly<Record<string, string>>;
}

export interface ImageTableEntry {
  /** Matched against the image reference, registry and tag included. */
  pattern: RegExp;
  standIn: ImageStandIn;
}

export type ImageTable = readonly ImageTableEntry[];

export class ImageNotFoundError extends Error {
  override readonly name = 'ImageNotFoundError';
  readonly reason = 'ErrImagePull';
}

const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The repository root (the folder whose package.json is datamount's), from source or dist/. */
export function repoRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'datamount') return dir;
  }
  throw new Error(`no datamount package.json above ${__dirname}`);
}

export function defaultImageTable(root: string = repoRoot()): ImageTable {
  const shell: ImageStandIn = { entrypoint: [], cmd: ['/bin/sh'], workingDir: '/', env: { PATH: IMAGE_PATH } };
  const ourImage = (program: string, entrypointName: string, nodeFlags: readonly string[] = []): ImageStandIn => ({
    entrypoint: [process.execPath, ...nodeFlags, path.join(root, 'dist', program, 'main.js')],
    cmd: [],
    workingDir: '/',
    env: { PATH: IMAGE_PATH, DATAMOUNT_ENTRYPOINT: entrypointName },
  });
  return [
    { pattern: /^(ghcr\.io\/)?datamount\/sidecar([:@].*)?$/, standIn: ourImage('sidecar', 'datamount-sidecar', SIDECAR_NODE_FLAGS) },
    { pattern: /^(ghcr\.io\/)?datamount\/webhook([:@].*)?$/, standIn: ourImage('webhook', 'datamount-webhook') },
    { pattern: /^((docker\.io\/)?(library\/)?)?(busybox|alpine|ubuntu|debian)([:@].*)?$/, standIn: shell },
    {
      pattern: /^((docker\.io\/)?(library\/)?)?python([:@].*)?$/,
      standIn: { ...shell, cmd: ['/usr/bin/python3'] },
    },
    {
      pattern: /^((docker\.io\/)?(library\/)?)?node([:@].*)?$/,
      standIn: { ...shell, cmd: [process.execPath] },
    },
  ];
}

export function resolveImage(image: string | undefined, table: ImageTable): ImageStandIn {
  const found = table.find((entry) => entry.pattern.test(image ?? ''));
  if (!found) {
    const known = table.map((entry) => entry.pattern.source).join(', ');
    throw new ImageNotFoundError(`image ${JSON.stringify(image ?? '')} has no local stand-in in the pod runner's image table (known: ${known})`);
  }
  return found.standIn;
}

/**
 * The process argv the container runtime starts (Kubernetes "Notes" on command and args):
 * `command` replaces ENTRYPOINT and drops CMD; `args` replaces CMD.
 */
export function containerArgv(standIn: ImageStandIn, command: readonly string[] | undefined, args: readonly string[] | undefined): string[] {
  const argv = command && command.length > 0 ? [...command, ...(args ?? [])] : [...standIn.entrypoint, ...(args ?? standIn.cmd)];
  if (argv.length === 0) throw new ImageNotFoundError('the container has neither command/args nor an image default to run');
  return argv;
}
