import { datasetVolumeName, envNamePart, isDatasetName } from '../../webhook/names';

describe('datasetVolumeName', () => {
  it.each([['imagenet', 'datamount-imagenet'], ['coco-2017', 'datamount-coco-2017']])('keeps a short label-like name: %s', (name, volume) => {
    expect(datasetVolumeName(name)).toBe(volume);
  });

  it.each(['web.v2', 'a'.repeat(80), `${'b'.repeat(60)}.c`])('makes a valid, unique volume name from %s', (name) => {
    const volume = datasetVolumeName(name);
    expect(volume).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(volume.length).toBeLessThanOrEqual(63);
  });

  it('gives different names to datasets whose sanitised forms collide', () => {
    expect(datasetVolumeName('a.b')).not.toBe(datasetVolumeName('a-b'));
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
