import { parseDuration, readReporterConfig, ReporterConfigError } from '../../sidecar/reporter-config';

const IN_CLUSTER = { DATAMOUNT_NODE_NAME: 'node-a', KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

function problemsOf(argv: string[], env: Record<string, string>): string[] {
  try {
    readReporterConfig(argv, env);
  } catch (err) {
    if (err instanceof ReporterConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ReporterConfigError');
}

describe('readReporterConfig', () => {
  describe('when only the node name and the cluster address are set', () => {
    it('uses the documented defaults', () => {
      expect(readReporterConfig([], IN_CLUSTER)).toEqual({
        node: 'node-a',
        cacheRoot: '/var/lib/datamount/cache',
        budget: { maxPercentOfFree: 80 },
        intervalMs: 30_000,
        debounceMs: 5_000,
        namespace: 'datamount-system',
        configMap: 'datamount-cache-locations',
        apiServer: undefined,
        kubernetesHost: '10.96.0.1',
        kubernetesPort: '443',
        folderGraceMs: 600_000,
        once: false,
      });
    });

    it('is frozen', () => {
      expect(Object.isFrozen(readReporterConfig([], IN_CLUSTER))).toBe(true);
    });
  });

  describe('when settings come from the environment and flags', () => {
    it.each<[string, string[], Record<string, string>, object]>([
      ['a byte budget alone drops the default percent', [], { DATAMOUNT_CACHE_BUDGET: '200Gi' }, { budget: { maxBytes: 200 * 2 ** 30 } }],
      ['both budgets are kept', [], { DATAMOUNT_CACHE_BUDGET: '1G', DATAMOUNT_CACHE_BUDGET_PERCENT: '12.5' }, { budget: { maxBytes: 1e9, maxPercentOfFree: 12.5 } }],
      ['a flag wins over the environment', ['--node', 'node-z', '--interval=1m30s'], { DATAMOUNT_REPORT_INTERVAL: '10s' }, { node: 'node-z', intervalMs: 90_000 }],
      ['--once', ['--once'], {}, { once: true }],
      ['an explicit API server replaces the in-cluster one', ['--api-server', 'http://127.0.0.1:8080'], {}, { apiServer: 'http://127.0.0.1:8080' }],
      ['names', [], { DATAMOUNT_NAMESPACE: 'infra', DATAMOUNT_CACHE_LOCATIONS: 'caches.v2', DATAMOUNT_CACHE_ROOT: '/data/cache' }, { namespace: 'infra', configMap: 'caches.v2', cacheRoot: '/data/cache' }],
    ])('%s', (_name, argv, env, wanted) => {
      expect(readReporterConfig(argv, { ...IN_CLUSTER, ...env })).toMatchObject(wanted);
    });
  });

  describe('when settings are wrong', () => {
    it.each<[string, string[], Record<string, string>, RegExp]>([
      ['no node name', [], { DATAMOUNT_NODE_NAME: '' }, /node name is not set: DATAMOUNT_NODE_NAME/],
      ['a node name with a slash', ['--node', 'a/b'], {}, /--node "a\/b" is not a node name/],
      ['a relative cache root', [], { DATAMOUNT_CACHE_ROOT: 'cache' }, /DATAMOUNT_CACHE_ROOT "cache" must be an absolute path/],
      ['a budget that is no quantity', [], { DATAMOUNT_CACHE_BUDGET: '10 GB' }, /DATAMOUNT_CACHE_BUDGET "10 GB" is not a size: expected a Kubernetes quantity/],
      ['a negative budget', ['--budget', '-1Gi'], {}, /--budget "-1Gi" is not a size/],
      ['a percent of 0', [], { DATAMOUNT_CACHE_BUDGET_PERCENT: '0' }, /above 0 and at most 100/],
      ['a percent over 100', [], { DATAMOUNT_CACHE_BUDGET_PERCENT: '150' }, /DATAMOUNT_CACHE_BUDGET_PERCENT "150"/],
      ['an interval without a unit', [], { DATAMOUNT_REPORT_INTERVAL: '30' }, /DATAMOUNT_REPORT_INTERVAL "30" is not a duration such as 30s/],
      ['a zero debounce', ['--debounce', '0s'], {}, /--debounce "0s"/],
      ['a namespace with capitals', [], { DATAMOUNT_NAMESPACE: 'Infra' }, /not a namespace name/],
      ['an unknown flag', ['--budgit', '1Gi'], {}, /unknown argument "--budgit"/],
      ['a flag without a value', ['--node'], {}, /--node needs a value/],
      ['an API server URL without a scheme', ['--api-server', '127.0.0.1:8080'], {}, /must be an http:\/\/ or https:\/\/ URL/],
      ['no cluster and no API server', [], { KUBERNETES_SERVICE_HOST: '' }, /KUBERNETES_SERVICE_HOST\/KUBERNETES_SERVICE_PORT are unset/],
    ])('%s is named', (_name, argv, env, wanted) => {
      expect(problemsOf(argv, { ...IN_CLUSTER, ...env })).toEqual([expect.stringMatching(wanted)]);
    });

    it('names every problem in one error', () => {
      const problems = problemsOf(['--budget', 'x'], { DATAMOUNT_REPORT_INTERVAL: 'y', DATAMOUNT_NAMESPACE: 'Z' });
      expect(problems).toHaveLength(5);
    });
  });
});

describe('parseDuration', () => {
  it.each<[string, number | undefined]>([
    ['30s', 30_000], ['500ms', 500], ['2m', 120_000], ['1h30m', 5_400_000], ['1.5s', 1_500],
    ['30', undefined], ['', undefined], ['s', undefined], ['-5s', undefined], ['1d', undefined], ['5 s', undefined],
  ])('%p is %p ms', (text, wanted) => {
    expect(parseDuration(text)).toBe(wanted);
  });
});
