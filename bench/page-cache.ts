/**
 * Dropping the kernel page cache between runs, so a "warm" run measures the mounter's own
 * cache and not pages the kernel kept from the previous read (`sync; echo 3 >
 * /proc/sys/vm/drop_caches`, root only). Returns false where that is not permitted; the report
 * then says warm figures include the page cache.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function dropPageCache(): Promise<boolean> {
  await run('sync').catch(() => undefined);
  return fs.writeFile('/proc/sys/vm/drop_caches', '3').then(() => true, () => false);
}
