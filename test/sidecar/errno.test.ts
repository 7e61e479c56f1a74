import { Errno, FsError, toErrno } from '../../sidecar/errno';
import type { Logger } from '../../sidecar/logger';
import { ObjectClientError } from '../../sidecar/object-client';

function recordingLogger(): Logger & { lines: Array<[string, string, Record<string, unknown> | undefined]> } {
  const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push([level, message, fields]);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('errno', () => {
  describe('when mapping failures', () => {
    it.each([
      [new ObjectClientError('NotFound', 'gone'), 'ENOENT'],
      [new ObjectClientError('AccessDenied', 'no'), 'EACCES'],
      [new ObjectClientError('PreconditionFailed', 'changed'), 'ESTALE'],
      [new ObjectClientError('Throttled', 'slow down'), 'EIO'],
      [new ObjectClientError('Transient', 'reset'), 'EIO'],
      [new ObjectClientError('Other', 'odd'), 'EIO'],
      [new FsError('EROFS', 'read-only'), 'EROFS'],
      [new FsError('EOPNOTSUPP', 'random write'), 'EOPNOTSUPP'],
      [new TypeError('a bug'), 'EIO'],
    ] as const)('%s → %s', (error, name) => {
      expect(toErrno(error, recordingLogger(), 'read', '/f')).toBe(Errno[name]);
    });
  });

  describe('when the failure is unexpected', () => {
    it('logs the cause with the operation and path', () => {
      const log = recordingLogger();
      const cause = new Error('socket hang up');
      toErrno(new ObjectClientError('Transient', 'get failed', { cause }), log, 'read', '/data/x');
      expect(log.lines).toEqual([['error', 'object store request failed', expect.objectContaining({ operation: 'read', path: '/data/x', kind: 'Transient' })]]);
      expect((log.lines[0]?.[2]?.error as Error).cause).toBe(cause);
    });
  });
});
