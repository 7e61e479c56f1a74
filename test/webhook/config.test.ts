import { CONFIG_DEFAULTS, loadConfig } from '../../webhook/config';

describe('loadConfig', () => {
  describe('when the environment sets nothing', () => {
    it('uses the defaults of docs/contract.md and freezes the result', () => {
      const config = loadConfig({});
      expect(config).toMatchObject({
        tlsCert: '/etc/datamount/tls/tls.crt', tlsKey: '/etc/datamount/tls/tls.key', port: 8443, namespace: 'datamount-system',
        sidecarImage: 'ghcr.io/datamount/sidecar:0.1.0', sidecarPort: 9090, cacheHostPath: '/var/lib/datamount/cache',
        sidecarResources: { cpuRequest: '100m', memoryRequest: '256Mi', memoryLimit: '1Gi' },
        cacheSize: '10Gi', cacheMemory: '256Mi', cacheHintTtlMs: 600_000, cacheHintNodes: 3, bodyLimit: 3 * 1024 * 1024,
      });
      expect(config.catalogPath).toBeUndefined();
      expect(config.sidecarResources.cpuLimit).toBeUndefined();
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.sidecarResources)).toBe(true);
    });
  });

  describe('when variables are set', () => {
    it.each<[string, string, object]>([
      ['DATAMOUNT_PORT', '9443', { port: 9443 }],
      ['DATAMOUNT_HOST', '127.0.0.1', { host: '127.0.0.1' }],
      ['DATAMOUNT_CATALOG', '/etc/datamount/catalog.yaml', { catalogPath: '/etc/datamount/catalog.yaml' }],
      ['DATAMOUNT_SIDECAR_CPU_LIMIT', '1', { sidecarResources: expect.objectContaining({ cpuLimit: '1' }) }],
      ['DATAMOUNT_SIDECAR_MEMORY_LIMIT', '', { sidecarResources: expect.not.objectContaining({ memoryLimit: expect.anything() }) }],
      ['DATAMOUNT_CACHE_HINT_TTL', '90s', { cacheHintTtlMs: 90_000 }],
      ['DATAMOUNT_CACHE_HINT_TTL', '1.5h', { cacheHintTtlMs: 5_400_000 }],
      ['DATAMOUNT_CACHE_HOST_PATH', '/data/cache/', { cacheHostPath: '/data/cache' }],
    ])('%s=%j is read', (name, value, expected) => {
      expect(loadConfig({ [name]: value })).toMatchObject(expected);
    });
  });

  describe('when variables are wrong', () => {
    it('names every bad variable in one error', () => {
      const env = {
        DATAMOUNT_PORT: '84433', DATAMOUNT_HOST: 'localhost', DATAMOUNT_SIDECAR_PORT: 'http', DATAMOUNT_CACHE_SIZE: 'big', DATAMOUNT_CACHE_HINT_TTL: '10 minutes',
        DATAMOUNT_NAMESPACE: 'Datamount_System', DATAMOUNT_CACHE_HOST_PATH: 'relative/cache', DATAMOUNT_SIDECAR_IMAGE: ' ', DATAMOUNT_LOG_LEVEL: 'loud',
      };
      let message = '';
      try {
        loadConfig(env);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain('9 setting(s) to fix');
      for (const name of Object.keys(env)) expect(message).toContain(name);
      expect(message).toContain('DATAMOUNT_CACHE_HINT_TTL="10 minutes" is not accepted; expected a duration such as 30s, 10m or 1h');
    });

    it('has a default for every variable it documents', () => {
      for (const name of Object.keys(CONFIG_DEFAULTS)) expect(name).toMatch(/^DATAMOUNT_[A-Z_]+$/);
      expect(() => loadConfig({ ...CONFIG_DEFAULTS })).not.toThrow();
    });
  });
});
