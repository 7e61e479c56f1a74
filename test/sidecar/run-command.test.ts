import { datasetSpecs } from '../../sidecar/run-command';
import { parseSidecarConfig } from '../../sidecar/sidecar-config';
import example from './fixtures/sidecar-config.json';

const env = { DATAMOUNT_IMAGENET_ACCESS_KEY_ID: 'AKIA-EXAMPLE', DATAMOUNT_IMAGENET_SECRET_ACCESS_KEY: 'secret-example' };

describe('run-command', () => {
  describe('when building the datasets of DATAMOUNT_CONFIG', () => {
    it.each([
      ['the webhook\'s config (fields absent)', {}, { aheadFiles: 64, maxRequests: 32 }, { directories: 8 }],
      ['read-ahead turned off', { siblingPrefetchFiles: 0, listingPrefetchDirectories: 0 }, { aheadFiles: 0, maxRequests: 32 }, { directories: 0 }],
      ['a larger budget', { siblingPrefetchFiles: 256, siblingPrefetchRequests: 48, listingPrefetchDirectories: 16 }, { aheadFiles: 256, maxRequests: 48 }, { directories: 16 }],
    ])('gives every dataset the read-ahead of %s', (_name, fields, sibling, listing) => {
      const specs = datasetSpecs(parseSidecarConfig({ ...example, ...fields }, env));
      expect(specs.length).toBeGreaterThan(1);
      for (const spec of specs) expect(spec).toMatchObject({ siblingPrefetch: sibling, listingPrefetch: listing });
    });

    it.each([
      ['a disk cache of 10Gi', '10Gi', true],
      ['a disk cache of 0 (memory tier only)', '0', false],
    ])('with %s, gives every dataset a cache folder: %p', (_name, cacheSize, hasDisk) => {
      const specs = datasetSpecs(parseSidecarConfig({ ...example, cacheSize }, env));
      expect(specs.length).toBeGreaterThan(1);
      for (const spec of specs) expect(spec.cacheDir !== undefined).toBe(hasDisk);
    });
  });
});
