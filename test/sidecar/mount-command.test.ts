import { parseMountArgs, UsageError } from '../../sidecar/mount-command';

const defaults = { uid: 500, gid: 501 };
const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseMountArgs(args, env, defaults);

describe('mount-command', () => {
  describe('when the arguments are valid', () => {
    it('builds the dataset with the documented defaults', () => {
      const { spec, logLevel } = parse(['s3://bucket', '/mnt/x', '--endpoint', 'http://127.0.0.1:9000']);
      expect(spec).toMatchObject({
        bucket: 'bucket', prefix: '', endpoint: 'http://127.0.0.1:9000', readOnly: false, mountPoint: '/mnt/x',
        cacheDir: undefined, cacheBytes: 10 * 2 ** 30, memoryBytes: 512 * 2 ** 20, uid: 500, gid: 501,
        forcePathStyle: true, allowOther: false, metadataTtlMs: 5000, credentials: undefined,
        siblingPrefetch: { aheadFiles: 64, maxRequests: 32 }, listingPrefetch: { directories: 8 },
      });
      expect(logLevel).toBe('info');
    });

    it('takes every option', () => {
      const { spec } = parse(
        ['s3://bucket/some/prefix', 'rel-dir', '--endpoint', 'https://s3.example.com', '--region', 'eu-de', '--read-only', '--cache-dir', '/tmp/c',
          '--cache-size', '2Gi', '--cache-memory', '64Mi', '--uid', '7', '--gid', '8', '--allow-other', '--metadata-ttl', '0.5', '--prefetch-max', '16Mi', '--virtual-hosted',
          '--sibling-prefetch', '0', '--sibling-prefetch-requests', '4', '--listing-prefetch', '2'],
        { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' },
      );
      expect(spec).toMatchObject({
        prefix: 'some/prefix', region: 'eu-de', readOnly: true, cacheDir: '/tmp/c', cacheBytes: 2 * 2 ** 30, memoryBytes: 64 * 2 ** 20,
        uid: 7, gid: 8, allowOther: true, metadataTtlMs: 500, forcePathStyle: false, prefetch: { maxWindowBytes: 16 * 2 ** 20 },
        siblingPrefetch: { aheadFiles: 0, maxRequests: 4 }, listingPrefetch: { directories: 2 },
        credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
      });
      expect(spec.mountPoint).toBe(`${process.cwd()}/rel-dir`);
    });
  });

  describe('when the arguments are wrong', () => {
    it.each([
      ['no arguments', [], 'expected exactly two arguments'],
      ['not an s3 URL', ['bucket', '/mnt', '--endpoint', 'http://x'], 'is not s3://bucket'],
      ['no endpoint', ['s3://b', '/mnt'], '--endpoint is required'],
      ['an endpoint without scheme', ['s3://b', '/mnt', '--endpoint', 'minio:9000'], '--endpoint "minio:9000"'],
      ['a bad cache size', ['s3://b', '/mnt', '--endpoint', 'http://x', '--cache-size', 'lots'], '--cache-size "lots"'],
      ['a bad uid', ['s3://b', '/mnt', '--endpoint', 'http://x', '--uid', '1.5'], '--uid "1.5"'],
      ['a sibling prefetch that is not a number', ['s3://b', '/mnt', '--endpoint', 'http://x', '--sibling-prefetch', 'many'], '--sibling-prefetch "many"'],
      ['no sibling prefetch requests', ['s3://b', '/mnt', '--endpoint', 'http://x', '--sibling-prefetch-requests', '0'], '--sibling-prefetch-requests "0" must be an integer from 1 to 64 (turn sibling prefetch off with --sibling-prefetch 0)'],
      ['more sibling prefetch requests than a sidecar holds', ['s3://b', '/mnt', '--endpoint', 'http://x', '--sibling-prefetch-requests', '65'], '--sibling-prefetch-requests "65" must be an integer from 1 to 64 (turn sibling prefetch off with --sibling-prefetch 0)'],
      ['more siblings ahead than the bound', ['s3://b', '/mnt', '--endpoint', 'http://x', '--sibling-prefetch', '5000'], '--sibling-prefetch "5000" must be an integer from 0 to 4096'],
      ['more directories listed ahead than the bound', ['s3://b', '/mnt', '--endpoint', 'http://x', '--listing-prefetch', '100'], '--listing-prefetch "100" must be an integer from 0 to 64'],
      ['the "no id" uid', ['s3://b', '/mnt', '--endpoint', 'http://x', '--uid', '4294967295'], '--uid "4294967295" must be an integer from 0 to 4294967294'],
      ['no S3 attempts', ['s3://b', '/mnt', '--endpoint', 'http://x', '--s3-attempts', '0'], '--s3-attempts "0" must be an integer ≥ 1'],
      ['a fractional listing prefetch', ['s3://b', '/mnt', '--endpoint', 'http://x', '--listing-prefetch', '2.5'], '--listing-prefetch "2.5"'],
      ['an unknown option', ['s3://b', '/mnt', '--endpoint', 'http://x', '--turbo'], "Unknown option '--turbo'"],
    ])('says what is wrong with %s', (_name, args, message) => {
      expect(() => parse(args)).toThrow(UsageError);
      expect(() => parse(args)).toThrow(message);
    });
  });
});
