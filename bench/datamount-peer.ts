/**
 * datamount's standalone mount (`datamount-sidecar mount`, compiled `dist/sidecar/main.js`),
 * read-only, with a fresh disk cache per cold mount and the memory cache the report shows
 * next to its peak RSS.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { S3RVER_CREDENTIALS } from './bench-s3-client';
import { mountProcess, type MountPeer, type MountTarget } from './mount-peer';

export const DATAMOUNT_CACHE_MEMORY = '512Mi';
const CACHE_SIZE = '10Gi';
/**
 * 900 s, the metadata lifetime the s3fs options here use (`stat_cache_expire=900`; rclone gets
 * `--dir-cache-time 1h`): all peers compared with the same kind of metadata cache. The
 * sidecar's default is 5 s; docs/benchmarks.md shows what that costs on small files.
 */
const METADATA_TTL_S = '900';

const SIDECAR = path.resolve(__dirname, '..', 'sidecar', 'main.js');

function args(target: MountTarget): string[] {
  return [
    'mount', `s3://${target.bucket}`, target.mountDir,
    '--endpoint', target.endpoint,
    '--read-only',
    '--cache-dir', target.cacheDir,
    '--cache-size', CACHE_SIZE,
    '--cache-memory', DATAMOUNT_CACHE_MEMORY,
    '--metadata-ttl', METADATA_TTL_S,
  ];
}

/**
 * `cpuProfileDir`: run the sidecar under `node --cpu-prof`, one .cpuprofile per mount, written at
 * exit. `extraArgs`: more `mount` options, for experiments (e.g. `--metadata-ttl 3600`).
 */
export const datamountPeer = (cpuProfileDir?: string, extraArgs: readonly string[] = []): MountPeer => ({
  name: 'datamount',
  describe: (target) => `datamount-sidecar ${[...args(target), ...extraArgs].join(' ')}`,
  async unavailable() {
    return existsSync(SIDECAR) ? undefined : `${SIDECAR} is missing (run make build; the sidecar may not be written yet)`;
  },
  async mount(target) {
    const profiling = cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [];
    return mountProcess('datamount', process.execPath, [...profiling, SIDECAR, ...args(target), ...extraArgs], {
      ...target,
      env: {
        ...target.env,
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
      },
    });
  },
});
