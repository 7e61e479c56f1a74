/**
 * Mapping between object keys and paths in the mount. S3 keys are arbitrary byte strings with
 * `/` as a conventional separator; a POSIX directory entry is a name of 1–255 bytes without NUL
 * or `/`, and never `.` or `..`. Keys whose segment cannot be such a name are left out of
 * listings (logged once each) and so can never resolve; paths coming from the kernel are already
 * valid names, so no lookup can reach outside the mount's prefix.
 */

/** NAME_MAX on Linux. */
const NAME_MAX_BYTES = 255;

/** '' for the bucket root; otherwise the prefix with exactly one trailing '/'. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/** Why a directory-entry name is unusable, or undefined when it is fine. */
export function invalidNameReason(name: string): string | undefined {
  if (name === '') return 'empty path segment';
  if (name === '.' || name === '..') return `"${name}" is not a file name`;
  if (name.includes('\0')) return 'contains NUL';
  if (name.includes('/')) return 'contains /';
  if (Buffer.byteLength(name) > NAME_MAX_BYTES) return `longer than ${NAME_MAX_BYTES} bytes`;
  return undefined;
}

export class PathNames {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = normalizePrefix(prefix);
  }

  /** The object key a mount path names as a file (`/a/b` → `prefix/a/b`). */
  keyOf(path: string): string {
    return this.prefix + path.replace(/^\/+/, '');
  }

  /** The key prefix a mount path names as a directory (`/` → `prefix`, `/a` → `prefix/a/`). */
  directoryPrefixOf(path: string): string {
    const relative = path.replace(/^\/+/, '').replace(/\/+$/, '');
    return relative === '' ? this.prefix : `${this.prefix}${relative}/`;
  }

  /** The mount path of a key below the prefix (the inverse of `keyOf`). */
  pathOf(key: string): string {
    return `/${key.slice(this.prefix.length)}`;
  }
}

/** Parent path and entry name of a mount path (`/a/b` → [`/a`, `b`]). */
export function splitPath(path: string): [string, string] {
  const cut = path.lastIndexOf('/');
  return [cut <= 0 ? '/' : path.slice(0, cut), path.slice(cut + 1)];
}

export function joinPath(directory: string, name: string): string {
  return directory === '/' ? `/${name}` : `${directory}/${name}`;
}
