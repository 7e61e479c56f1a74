import { MemoryCatalog } from '../../webhook/catalog';
import { loadConfig } from '../../webhook/config';
import type { Dataset } from '../../webhook/dataset';
import { datasetParts } from '../../webhook/dataset-parts';
import { datasetEnv, datashimEnv, sidecarCredentialEnv } from '../../webhook/env-injection';
import { jsonText } from '../../webhook/json-text';
import { appDatasetMount, cacheVolume, datasetVolume, sidecarCacheMount, sidecarDatasetMount } from '../../webhook/volumes';
import { fixtureCatalog } from './review-fixtures';

function dataset(catalog: MemoryCatalog, name: string): Dataset {
  const found = catalog.lookup('ml', name)?.dataset;
  if (!found) throw new Error(`fixture catalog has no usable Dataset ml/${name}`);
  return found;
}

describe('datasetParts', () => {
  const config = loadConfig({});
  const catalog = fixtureCatalog();

  describe('when asked for a Dataset of the catalog', () => {
    const imagenet = dataset(catalog, 'imagenet');
    const parts = datasetParts(imagenet, config);

    it('holds what the builders make for it, names and cache folder included', () => {
      expect(parts).toMatchObject({ volumeName: 'datamount-imagenet', cacheVolumeName: 'datamount-cache-imagenet', cacheDir: '/var/lib/datamount/cache/ml/imagenet' });
      expect(parts.datasetVolume).toEqual(datasetVolume('datamount-imagenet'));
      expect(parts.cacheVolume).toEqual(cacheVolume('datamount-cache-imagenet', parts.cacheDir));
      expect(parts.sidecarDatasetMount).toEqual(sidecarDatasetMount('datamount-imagenet', 'imagenet'));
      expect(parts.sidecarCacheMount).toEqual(sidecarCacheMount('datamount-cache-imagenet', parts.cacheDir));
      expect(parts.sidecarEnv).toEqual(sidecarCredentialEnv(imagenet));
      expect(parts.env).toEqual(datasetEnv(imagenet));
      expect(parts.datashimEnv).toEqual(datashimEnv(imagenet));
      expect(parts.appMount('/data', true)).toEqual(appDatasetMount('datamount-imagenet', '/data', true));
    });

    it('builds them once: a second review gets the same objects, frozen, their JSON text remembered', () => {
      const again = datasetParts(imagenet, config);
      expect(again).toBe(parts);
      expect(again.appMount('/data', true)).toBe(parts.appMount('/data', true));
      for (const part of [parts.datasetVolume, parts.cacheVolume, parts.sidecarDatasetMount, parts.sidecarEnv, parts.env, parts.appMount('/data', true)]) {
        expect(Object.isFrozen(part)).toBe(true);
        expect(jsonText(part)).toBe(JSON.stringify(part));
      }
    });

    it('keeps app mounts of other paths and access apart', () => {
      expect(parts.appMount('/data', false)).toEqual(appDatasetMount('datamount-imagenet', '/data', false));
      expect(parts.appMount('/other', true).mountPath).toBe('/other');
    });
  });

  describe('when the Dataset changes or the configuration differs', () => {
    it('builds new parts for the new object the catalog holds after an update', () => {
      const mutable = fixtureCatalog();
      const before = datasetParts(dataset(mutable, 'coco'), config);
      mutable.upsert({ apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'coco', namespace: 'ml' }, spec: { s3: { endpoint: 'http://minio.storage.svc:9000', bucket: 'coco-v2' } } });
      const after = datasetParts(dataset(mutable, 'coco'), config);
      expect(after).not.toBe(before);
      expect(after.env).toContainEqual({ name: 'DATASET_COCO_BUCKET', value: 'coco-v2' });
      expect(after.sidecarEnv).toEqual([]);
    });

    it('builds parts for another configuration from it, not the first configuration\'s', () => {
      const coco = dataset(catalog, 'coco');
      const other = loadConfig({ DATAMOUNT_CACHE_HOST_PATH: '/srv/cache' });
      expect(datasetParts(coco, other).cacheDir).toBe('/srv/cache/ml/coco');
      expect(datasetParts(coco, config).cacheDir).toBe('/var/lib/datamount/cache/ml/coco');
    });
  });

  describe('the Datasets the catalog holds', () => {
    it('are frozen, so parts built from one can never disagree with it', () => {
      const coco = dataset(catalog, 'coco');
      expect(Object.isFrozen(coco)).toBe(true);
      expect(Object.isFrozen(coco.secret)).toBe(true);
    });
  });
});
