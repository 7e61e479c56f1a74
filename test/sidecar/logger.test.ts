import { createLogger } from '../../sidecar/logger';

describe('logger', () => {
  const capture = (level: Parameters<typeof createLogger>[0]) => {
    const lines: string[] = [];
    return { log: createLogger(level, (line) => lines.push(line)), lines };
  };

  describe('when logging', () => {
    it('writes one JSON object per line with time, level, message and fields', () => {
      const { log, lines } = capture('info');
      log.info('mounted', { dataset: 'ml/imagenet' });
      expect(lines).toHaveLength(1);
      expect(lines[0]?.endsWith('\n')).toBe(true);
      expect(JSON.parse(lines[0] ?? '')).toEqual({ time: expect.any(String), level: 'info', message: 'mounted', dataset: 'ml/imagenet' });
    });

    it('drops lines below the minimum level', () => {
      const { log, lines } = capture('warn');
      log.debug('d');
      log.info('i');
      log.warn('w');
      expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['w']);
    });

    it('renders errors with their cause, and a field cannot replace the message', () => {
      const { log, lines } = capture('info');
      log.error('failed', { message: 'not the message', error: new Error('outer', { cause: new Error('inner') }) });
      expect(JSON.parse(lines[0] ?? '')).toMatchObject({ message: 'failed', error: { name: 'Error', message: 'outer', cause: 'Error: inner' } });
    });
  });
});
