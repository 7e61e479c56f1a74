import { checkMountPath, parsePodRequest } from '../../webhook/pod-annotations';

describe('parsePodRequest', () => {
  describe('when the pod names datasets by annotation', () => {
    it('reads the list, trimming spaces and dropping duplicates, with defaults for each dataset', () => {
      const { request, problems } = parsePodRequest({ 'datamount.dev/datasets': ' imagenet ,coco, imagenet,' }, {});
      expect(problems).toEqual([]);
      expect(request.datasets).toEqual([
        { name: 'imagenet', mountPath: '/mnt/datasets/imagenet', mount: true, env: false, datashimConfigmap: false, source: 'annotation datamount.dev/datasets' },
        { name: 'coco', mountPath: '/mnt/datasets/coco', mount: true, env: false, datashimConfigmap: false, source: 'annotation datamount.dev/datasets' },
      ]);
      expect(request.cacheAffinity).toBe('preferred');
    });

    it('reads per-dataset settings, also for names with dots', () => {
      const { request, problems } = parsePodRequest({
        'datamount.dev/datasets': 'web.v2',
        'datamount.dev/web.v2.mount-path': '/data/web/',
        'datamount.dev/web.v2.containers': 'a, b',
        'datamount.dev/web.v2.read-only': 'true',
        'datamount.dev/web.v2.use-as': 'env, mount',
      }, {});
      expect(problems).toEqual([]);
      expect(request.datasets[0]).toMatchObject({ name: 'web.v2', mountPath: '/data/web', containers: ['a', 'b'], readOnly: true, mount: true, env: true });
    });

    it('warns about settings for a dataset the pod does not ask for, and about unknown datamount annotations', () => {
      const { warnings, problems } = parsePodRequest({ 'datamount.dev/datasets': 'a', 'datamount.dev/b.mount-path': '/b', 'datamount.dev/colour': 'blue' }, {});
      expect(problems).toEqual([]);
      expect(warnings).toEqual([
        'annotation datamount.dev/colour is not a datamount setting and is ignored',
        'annotations datamount.dev/b.* are ignored: Dataset "b" is not requested by datamount.dev/datasets or a dataset.<N>.id label',
      ]);
    });
  });

  describe('when the pod uses Datashim labels', () => {
    it('merges them with the annotation, Datashim\'s configmap mode kept apart from use-as env', () => {
      const { request, problems } = parsePodRequest({ 'datamount.dev/datasets': 'a' }, { 'dataset.0.id': 'a', 'dataset.0.useas': 'configmap', 'dataset.1.id': 'b', 'dataset.1.useas': 'configmap' });
      expect(problems).toEqual([]);
      expect(request.datasets.map((d) => [d.name, d.mount, d.datashimConfigmap])).toEqual([['a', true, true], ['b', false, true]]);
    });

    it('ignores labels that only look alike (dataset.version)', () => {
      expect(parsePodRequest({}, { 'dataset.version': '3' }).request.datasets).toEqual([]);
    });
  });

  describe('when values are wrong', () => {
    it.each<[string, Record<string, string>, string]>([
      ['an empty list', { 'datamount.dev/datasets': ' , ' }, 'names no Dataset'],
      ['a bad container name', { 'datamount.dev/datasets': 'a', 'datamount.dev/a.containers': 'Main_Container' }, '"Main_Container" cannot be a container name'],
      ['a request above its limit', { 'datamount.dev/sidecar-memory-request': '2Gi', 'datamount.dev/sidecar-memory-limit': '1Gi' }, 'a request must not exceed its limit'],
      ['a zero memory cache', { 'datamount.dev/cache-memory': '0' }, 'at least 1 byte'],
      ['a negative disk cache', { 'datamount.dev/cache-size': '-1Gi' }, '"-1Gi" is not accepted; expected a Kubernetes quantity such as 512Mi, 10Gi, 1.5G, 500m or 2 (suffixes Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or an exponent e3), or 0 for no disk cache'],
      ['more Datasets than a pod may ask for', { 'datamount.dev/datasets': Array.from({ length: 17 }, (_, i) => `d${i}`).join(',') }, 'name 17 Datasets; at most 16 per pod are accepted'],
    ])('%s', (_name, annotations, problem) => {
      expect(parsePodRequest(annotations, {}).problems.join('\n')).toContain(problem);
    });
  });

  describe('when the disk cache size is 0', () => {
    it('accepts it: the pod asks for the memory tier only', () => {
      const { request, problems } = parsePodRequest({ 'datamount.dev/datasets': 'a', 'datamount.dev/cache-size': '0' }, {});
      expect(problems).toEqual([]);
      expect(request.cacheSize).toBe('0');
    });
  });

  describe('opting out', () => {
    it.each<[string | undefined, boolean]>([['false', true], ['true', false], [undefined, false]])('datamount.dev/inject=%s → optedOut %s', (value, optedOut) => {
      expect(parsePodRequest(value === undefined ? {} : { 'datamount.dev/inject': value }, {}).request.optedOut).toBe(optedOut);
    });
  });
});

describe('checkMountPath', () => {
  it.each<[string, string | RegExp]>([
    ['/data', '/data'],
    ['/data/sets/', '/data/sets'],
    ['data', /not an absolute path/],
    ['/', /whole file system/],
    ['/a/../etc', /"\.\." segments/],
    ['/a//b', /empty/],
    ['/proc/x', /inside \/proc/],
    ['/dev', /inside \/dev/],
    ['/a\nb', /control characters/],
  ])('%j → %s', (path, expected) => {
    const result = checkMountPath(path);
    if (typeof expected === 'string') expect(result).toBe(expected);
    else expect(typeof result === 'object' ? result.problem : result).toMatch(expected);
  });
});
