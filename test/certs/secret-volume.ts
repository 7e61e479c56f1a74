/**
 * A Secret volume written the way the kubelet writes one (AtomicWriter): the files live in a
 * timestamped folder, `..data` points at it, and each key is a symlink through `..data`. An
 * update makes a new folder and renames a fresh `..data` link over the old one, so readers see
 * either all old or all new files and the key paths themselves never change.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writeSecretVolume(dir: string, files: Record<string, string>): Promise<void> {
  const previous = existsSync(path.join(dir, '..data')) ? await readlink(path.join(dir, '..data')) : undefined;
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${randomBytes(4).toString('hex')}`;
  await mkdir(path.join(dir, stamp), { recursive: true });
  for (const [key, value] of Object.entries(files)) await writeFile(path.join(dir, stamp, key), value);
  await symlink(stamp, path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const key of Object.keys(files)) {
    if (!existsSync(path.join(dir, key))) await symlink(path.join('..data', key), path.join(dir, key));
  }
  if (previous !== undefined) await rm(path.join(dir, previous), { recursive: true, force: true });
}
