import { ConfigError, loadSidecarConfig, mountCredentialsFromEnv, parseSidecarConfig } from '../../sidecar/sidecar-config';
import example from './fixtures/sidecar-config.json';

const env = { DATAMOUNT_IMAGENET_ACCESS_KEY_ID: 'AKIA-EXAMPLE', DATAMOUNT_IMAGENET_SECRET_ACCESS_KEY: 'secret-example' };

function problemsOf(raw: unknown, environment: NodeJS.ProcessEnv = env): string[] {
  try {
    parseSidecarConfig(raw, environment);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

const withDataset = (changes: Record<string, unknown>) => ({ ...example, datasets: [{ ...example.datasets[0], ...changes }] });

describe('sidecar-config', () => {
  describe('when DATAMOUNT_CONFIG is the contract example', () => {
    it('parses every field and resolves credentials from the named variables', () => {
      const config = loadSidecarConfig({ ...env, DATAMOUNT_CONFIG: JSON.stringify(example) });
      expect(config).toMatchObject({ port: 9090, cacheSizeBytes: 10 * 2 ** 30, cacheMemoryBytes: 256 * 2 ** 20, uid: 1000, gid: 1000 });
      expect(config.datasets[0]).toMatchObject({
        name: 'imagenet', namespace: 'ml', prefix: 'imagenet/train/', readOnly: true, mountPoint: '/datamount/imagenet',
        credentials: { accessKeyId: 'AKIA-EXAMPLE', secretAccessKey: 'secret-example' },
      });
      expect(config.datasets[1]).toMatchObject({ name: 'coco', readOnly: false, credentials: undefined, forcePathStyle: true });
      expect(Object.isFrozen(config)).toBe(true);
    });
  });

  describe('when the read-ahead fields are absent, as the webhook writes it', () => {
    it('turns sibling and listing prefetch on with their defaults', () => {
      expect(parseSidecarConfig(example, env)).toMatchObject({ siblingPrefetchFiles: 64, siblingPrefetchRequests: 32, listingPrefetchDirectories: 8 });
    });

    it('takes 0 to turn them off', () => {
      const config = parseSidecarConfig({ ...example, siblingPrefetchFiles: 0, listingPrefetchDirectories: 0 }, env);
      expect(config).toMatchObject({ siblingPrefetchFiles: 0, listingPrefetchDirectories: 0 });
    });
  });

  describe('when a dataset name has dots, as Kubernetes object names may', () => {
    it('accepts it, as the webhook does', () => {
      const config = parseSidecarConfig(withDataset({ name: 'imagenet.v2' }), env);
      expect(config.datasets[0]?.name).toBe('imagenet.v2');
    });
  });

  describe('when a field is wrong', () => {
    it.each([
      ['version', { ...example, version: 2 }, 'version'],
      ['port', { ...example, port: 70000 }, 'port'],
      ['cacheSize', { ...example, cacheSize: 'ten gigs' }, 'cacheSize'],
      ['uid', { ...example, uid: -1 }, 'uid'],
      ['datasets', { ...example, datasets: [] }, 'datasets'],
      ['a dataset name', withDataset({ name: 'Image Net' }), 'datasets[0].name'],
      ['a dataset name with an empty label', withDataset({ name: 'image..net' }), 'datasets[0].name'],
      ['an endpoint without scheme', withDataset({ endpoint: 's3.example.com' }), 'datasets[0].endpoint'],
      ['a prefix without trailing slash', withDataset({ prefix: 'imagenet' }), 'datasets[0].prefix'],
      ['a relative mount point', withDataset({ mountPoint: 'datamount/x' }), 'datasets[0].mountPoint'],
      ['a mount point with ..', withDataset({ mountPoint: '/datamount/../etc' }), 'datasets[0].mountPoint'],
      ['readOnly as a string', withDataset({ readOnly: 'yes' }), 'datasets[0].readOnly'],
      ['only one credential variable', withDataset({ secretAccessKeyEnv: undefined }), 'datasets[0].accessKeyIdEnv'],
      ['siblingPrefetchFiles below 0', { ...example, siblingPrefetchFiles: -1 }, 'siblingPrefetchFiles'],
      ['siblingPrefetchRequests of 0', { ...example, siblingPrefetchRequests: 0 }, 'siblingPrefetchRequests'],
      ['listingPrefetchDirectories as a string', { ...example, listingPrefetchDirectories: '8' }, 'listingPrefetchDirectories'],
    ])('names the field for %s', (_name, raw, field) => {
      expect(problemsOf(raw).join('\n')).toContain(field);
    });

    it('names a credential variable that is not set, without printing any secret', () => {
      const problems = problemsOf(example, { DATAMOUNT_IMAGENET_ACCESS_KEY_ID: 'AKIA-EXAMPLE' });
      expect(problems.join('\n')).toContain('DATAMOUNT_IMAGENET_SECRET_ACCESS_KEY');
      expect(problems.join('\n')).not.toContain('AKIA-EXAMPLE');
    });

    it('lists every problem at once', () => {
      expect(problemsOf({ version: 3, port: 'x', datasets: 'none' })).toHaveLength(3);
    });

    it.each([
      ['missing', undefined, 'not set'],
      ['not JSON', '{nope', 'not JSON'],
    ])('explains a DATAMOUNT_CONFIG that is %s', (_name, value, message) => {
      expect(() => loadSidecarConfig({ DATAMOUNT_CONFIG: value })).toThrow(message);
    });
  });

  describe('when reading credentials for mount', () => {
    it.each([
      ['none (anonymous)', {}, undefined],
      ['both', { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' }, { accessKeyId: 'id', secretAccessKey: 'secret' }],
      ['with a session token', { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 't' }, { accessKeyId: 'id', secretAccessKey: 'secret', sessionToken: 't' }],
    ])('takes the AWS variables: %s', (_name, environment, expected) => {
      expect(mountCredentialsFromEnv(environment)).toEqual(expected);
    });

    it('refuses half a pair', () => {
      expect(() => mountCredentialsFromEnv({ AWS_ACCESS_KEY_ID: 'id' })).toThrow('AWS_SECRET_ACCESS_KEY');
    });
  });
});
