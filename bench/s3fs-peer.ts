/**
 * s3fs-fuse (Debian's `s3fs`), tuned for reading as its man page suggests: parallel ranged
 * GETs for big files (`parallel_count` × `multipart_size`), a large stat cache, parallel HEADs
 * for listings (`multireq_max`), negative-lookup cache. Not `notsup_compat_dir`: with it s3fs
 * no longer sees directories that exist only as key prefixes, which is most of this bucket. No `use_cache` (data cache): that is s3fs as
 * usually deployed, and the s3fs targets are about it.
 */
import { promises as fs } from 'node:fs';
import { S3RVER_CREDENTIALS } from './bench-s3-client';
import { commandExists, mountProcess, type MountPeer, type MountTarget } from './mount-peer';

function options(target: MountTarget): string[] {
  return [
    `url=${target.endpoint}`,
    'use_path_request_style',
    `passwd_file=${target.workDir}/s3fs.passwd`,
    'parallel_count=16',
    'multipart_size=8',
    'multireq_max=32',
    'max_stat_cache_size=100000',
    'stat_cache_expire=900',
    'enable_noobj_cache',
    'complement_stat',
    'ro',
  ];
}

export const s3fsPeer: MountPeer = {
  name: 's3fs',
  describe: (target) => `s3fs ${target.bucket} DIR -f -o ${options(target).join(',')}`,
  async unavailable() {
    return (await commandExists('s3fs')) ? undefined : 's3fs is not installed (apt-get install s3fs)';
  },
  async mount(target) {
    const passwd = `${target.workDir}/s3fs.passwd`;
    await fs.writeFile(passwd, `${S3RVER_CREDENTIALS.accessKeyId}:${S3RVER_CREDENTIALS.secretAccessKey}\n`, { mode: 0o600 });
    return mountProcess('s3fs', 's3fs', [target.bucket, target.mountDir, '-f', '-o', options(target).join(',')], target);
  },
};
