/**
 * `rclone mount` (Debian's `rclone`), S3 provider "Other", configured through RCLONE_CONFIG_*
 * variables so no config file is written. Two configurations, as its VFS documentation sets
 * them out: `--vfs-cache-mode off` (streaming reads with a read buffer, chunked ranged GETs)
 * and `--vfs-cache-mode full` (a disk cache with read-ahead). `--use-server-modtime` spares a
 * HEAD per file for modification times; directory and attribute caches are kept long.
 */
import { S3RVER_CREDENTIALS } from './bench-s3-client';
import { commandExists, mountProcess, type MountPeer, type MountTarget } from './mount-peer';

const COMMON = [
  '--read-only',
  '--use-server-modtime',
  '--dir-cache-time', '1h',
  '--attr-timeout', '1h',
  '--buffer-size', '64M',
  '--vfs-read-chunk-size', '16M',
  '--vfs-read-chunk-size-limit', '256M',
  '--transfers', '16',
  '--checkers', '16',
  '--no-checksum',
];

function remoteEnv(target: MountTarget): NodeJS.ProcessEnv {
  return {
    ...target.env,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCH_ENDPOINT: target.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
  };
}

function rclonePeer(name: string, cacheFlags: (target: MountTarget) => string[]): MountPeer {
  const args = (target: MountTarget): string[] => [...COMMON, ...cacheFlags(target)];
  return {
    name,
    describe: (target) => `rclone mount bench:${target.bucket} DIR ${args(target).join(' ')}`,
    async unavailable() {
      return (await commandExists('rclone')) ? undefined : 'rclone is not installed (apt-get install rclone)';
    },
    async mount(target) {
      return mountProcess(name, 'rclone', ['mount', `bench:${target.bucket}`, target.mountDir, ...args(target)], {
        ...target,
        env: remoteEnv(target),
      });
    },
  };
}

export const rcloneOffPeer = rclonePeer('rclone', () => ['--vfs-cache-mode', 'off']);

export const rcloneFullPeer = rclonePeer('rclone-full', (target) => [
  '--vfs-cache-mode', 'full',
  '--cache-dir', target.cacheDir,
  '--vfs-cache-max-size', '20G',
  '--vfs-read-ahead', '256M',
  '--vfs-fast-fingerprint',
]);
