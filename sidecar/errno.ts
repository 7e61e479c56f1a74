/**
 * The one mapping from failures to errnos (mountpoint-s3's `ToErrno`). Handlers throw
 * `FsError` for what they decide themselves (read-only, unsupported write) and let
 * `ObjectClientError`s through; everything else is a bug or an unexpected failure → EIO, with
 * the cause logged so the errno a user sees can be traced.
 */
import { constants } from 'node:os';
import { ObjectClientError } from './object-client';
import type { Logger } from './logger';

export const Errno = {
  EPERM: constants.errno.EPERM,
  ENOENT: constants.errno.ENOENT,
  EIO: constants.errno.EIO,
  EBADF: constants.errno.EBADF,
  EACCES: constants.errno.EACCES,
  EEXIST: constants.errno.EEXIST,
  EXDEV: constants.errno.EXDEV,
  ENOTDIR: constants.errno.ENOTDIR,
  EISDIR: constants.errno.EISDIR,
  EINVAL: constants.errno.EINVAL,
  EFBIG: constants.errno.EFBIG,
  ENOSPC: constants.errno.ENOSPC,
  EROFS: constants.errno.EROFS,
  ENAMETOOLONG: constants.errno.ENAMETOOLONG,
  ENOTEMPTY: constants.errno.ENOTEMPTY,
  EOPNOTSUPP: constants.errno.EOPNOTSUPP,
  ETIMEDOUT: constants.errno.ETIMEDOUT,
  ESTALE: constants.errno.ESTALE,
} as const;

export type ErrnoName = keyof typeof Errno;

/** A file-system answer decided by the sidecar itself, with the reason for the log. */
export class FsError extends Error {
  readonly errno: number;
  constructor(readonly code: ErrnoName, reason: string, options?: { cause?: unknown }) {
    super(`${code}: ${reason}`, options);
    this.name = 'FsError';
    this.errno = Errno[code];
  }
}

/** The positive errno for a failure; unexpected ones are logged with their cause. */
export function toErrno(error: unknown, log: Logger, operation: string, path: string): number {
  if (error instanceof FsError) {
    if (error.code !== 'ENOENT') log.debug('refused', { operation, path, reason: error.message });
    return error.errno;
  }
  if (error instanceof ObjectClientError) {
    switch (error.kind) {
      case 'NotFound':
        return Errno.ENOENT;
      case 'AccessDenied':
        log.warn('access denied by the object store', { operation, path, error });
        return Errno.EACCES;
      case 'PreconditionFailed':
        log.warn('object changed in the store while open', { operation, path, error });
        return Errno.ESTALE;
      case 'Throttled':
      case 'Transient':
      case 'Other':
        log.error('object store request failed', { operation, path, kind: error.kind, error });
        return Errno.EIO;
    }
  }
  log.error('unexpected failure', { operation, path, error });
  return Errno.EIO;
}
