import { cacheVolumeName, datasetCacheDir, datasetVolumeName, envNamePart, isDatasetName, isOurVolumeName } from '../../webhook/names';

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

describe('datasetVolumeName', () => {
  it.each([['imagenet', 'datamount-imagenet'], ['coco-2017', 'datamount-coco-2017']])('keeps a short label-like name: %s', (name, volume) => {
    expect(datasetVolumeName(name)).toBe(volume);
  });

  it.each(['web.v2', 'a'.repeat(80), `${'b'.repeat(60)}.c`])('makes a valid, unique volume name from %s', (name) => {
    const volume = datasetVolumeName(name);
    expect(volume).toMatch(LABEL);
    expect(volume.length).toBeLessThanOrEqual(63);
  });

  it('gives different names to datasets whose sanitised forms collide', () => {
    expect(datasetVolumeName('a.b')).not.toBe(datasetVolumeName('a-b'));
  });
});

describe('cacheVolumeName', () => {
  it.each([['imagenet', 'datamount-cache-imagenet'], ['coco-2017', 'datamount-cache-coco-2017']])('keeps a short label-like name: %s', (name, volume) => {
    expect(cacheVolumeName(name)).toBe(volume);
  });

  it.each(['web.v2', 'a'.repeat(80), `${'b'.repeat(47)}x`, `${'b'.repeat(60)}.c`])('makes a valid volume name of datamount\'s from %s', (name) => {
    const volume = cacheVolumeName(name);
    expect(volume).toMatch(LABEL);
    expect(volume.length).toBeLessThanOrEqual(63);
    expect(isOurVolumeName(volume)).toBe(true);
  });

  it('gives different names to datasets whose sanitised forms collide', () => {
    expect(cacheVolumeName('a.b')).not.toBe(cacheVolumeName('a-b'));
  });

  describe('when a Dataset name starts like a cache volume', () => {
    // The emptyDir of dataset "cache-imagenet" must not be named like the cache of "imagenet".
    const tricky = ['cache', 'cache-imagenet', 'cache.v2', 'imagenet', 'cache-cache', `cache-${'x'.repeat(60)}`, 'ds-cache-imagenet', 'cachex'];

    it('never names a dataset volume like any cache volume, and names every volume of these datasets apart', () => {
      const names = tricky.flatMap((d) => [datasetVolumeName(d), cacheVolumeName(d)]);
      expect(new Set(names).size).toBe(names.length);
      for (const d of tricky) expect(datasetVolumeName(d)).not.toMatch(/^datamount-cache(-|$)/);
      for (const name of names) expect(name).toMatch(LABEL);
    });
  });
});

describe('datasetCacheDir', () => {
  it('is the dataset\'s folder under its namespace\'s folder of the cache root', () => {
    expect(datasetCacheDir('/var/lib/datamount/cache', 'ml', 'web.v2')).toBe('/var/lib/datamount/cache/ml/web.v2');
  });
});

describe('envNamePart', () => {
  it('upper-cases and turns other characters into _', () => {
    expect(envNamePart('web.v2-large')).toBe('WEB_V2_LARGE');
  });
});

describe('isDatasetName', () => {
  it.each([['imagenet', true], ['web.v2', true], ['ImageNet', false], ['-a', false], ['a_b', false], ['a'.repeat(254), false]])('%s → %s', (name, valid) => {
    expect(isDatasetName(name)).toBe(valid);
  });
});
