/**
 * datamount's standalone mount (`datamount-sidecar mount`, compiled `dist/sidecar/main.js`),
 * read-only, with a fresh disk cache per cold mount and the memory cache the report shows
 * next to its peak RSS.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { S3RVER_CREDENTIALS } from './bench-s3-client';
import { SIDECAR_NODE_FLAGS } from '../sidecar/node-flags';
import { mountProcess, type MountPeer, type MountTarget } from './mount-peer';

export const DATAMOUNT_CACHE_MEMORY = '512Mi';

/** The memory cache a mount with these extra options gets: the last `--cache-memory` among them wins, as in the sidecar. */
export function datamountCacheMemory(extraArgs: readonly string[]): string {
  const at = extraArgs.lastIndexOf('--cache-memory');
  return at >= 0 && extraArgs[at + 1] !== undefined ? (extraArgs[at + 1] as string) : DATAMOUNT_CACHE_MEMORY;
}
const CACHE_SIZE = '10Gi';
/**
 * 900 s, the metadata lifetime the s3fs options here use (`stat_cache_expire=900`; rclone gets
 * `--dir-cache-time 1h`): all peers compared with the same kind of metadata cache. The
 * sidecar's default is 5 s; BENCHMARKS.md shows what that costs on small files.
 */
const METADATA_TTL_S = '900';

const SIDECAR = path.resolve(__dirname, '..', 'sidecar', 'main.js');

/** Not a sidecar option: tells the bench to mount without a disk tier (memory cache only). */
const NO_DISK_CACHE = '--no-cache-dir';

function args(target: MountTarget, extraArgs: readonly string[]): string[] {
  const disk = extraArgs.includes(NO_DISK_CACHE) ? [] : ['--cache-dir', target.cacheDir, '--cache-size', CACHE_SIZE];
  return [
    'mount', `s3://${target.bucket}`, target.mountDir,
    '--endpoint', target.endpoint,
    '--read-only',
    ...disk,
    '--cache-memory', DATAMOUNT_CACHE_MEMORY,
    '--metadata-ttl', METADATA_TTL_S,
    ...extraArgs.filter((arg) => arg !== NO_DISK_CACHE),
  ];
}

/**
 * `cpuProfileDir`: run the sidecar under `node --cpu-prof`, one .cpuprofile per mount, written at
 * exit. `extraArgs`: more `mount` options, for experiments (e.g. `--metadata-ttl 3600`), or
 * `--no-cache-dir` to mount without the disk tier.
 */
export const datamountPeer = (cpuProfileDir?: string, extraArgs: readonly string[] = []): MountPeer => ({
  name: 'datamount',
  describe: (target) => `datamount-sidecar ${args(target, extraArgs).join(' ')}`,
  async unavailable() {
    return existsSync(SIDECAR) ? undefined : `${SIDECAR} is missing (run make build; the sidecar may not be written yet)`;
  },
  async mount(target) {
    const profiling = cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [];
    return mountProcess('datamount', process.execPath, [...SIDECAR_NODE_FLAGS, ...profiling, SIDECAR, ...args(target, extraArgs)], {
      ...target,
      env: {
        ...target.env,
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
        // As the sidecar image sets them (manifests/images/sidecar.Dockerfile): glibc arenas.
        MALLOC_ARENA_MAX: '2',
        MALLOC_MMAP_THRESHOLD_: '2097152',
      },
    });
  },
});
