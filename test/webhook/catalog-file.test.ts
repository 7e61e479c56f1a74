import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalogFile, parseCatalog } from '../../webhook/catalog-file';
import { DatamountError } from '../../webhook/errors';
import { FIXTURES } from './review-fixtures';

describe('loadCatalogFile', () => {
  describe('when given the fixture catalog (Datasets of both groups, the cache ConfigMap, a Secret)', () => {
    it('holds every Dataset, normalised, and the cache report, and ignores the Secret with a log line', async () => {
      const logged: string[] = [];
      const catalog = await loadCatalogFile(join(FIXTURES, 'catalog.yaml'), (msg) => logged.push(msg));
      expect(catalog.isSynced()).toBe(true);
      expect(catalog.datasetCount()).toBe(7);
      expect(await catalog.getDataset('ml', 'imagenet')).toMatchObject({
        group: 'datamount.dev', problems: [],
        dataset: { bucket: 'training-data', prefix: 'imagenet/train/', readOnly: true, secret: { name: 'imagenet-creds', accessKeyIdKey: 'AWS_ACCESS_KEY_ID' } },
      });
      expect(await catalog.getDataset('ml', 'legacy-cos')).toMatchObject({ group: 'datashim.io', dataset: { bucket: 'archive', prefix: '2024/', readOnly: true } });
      expect((await catalog.getDataset('ml', 'inline-cos'))?.dataset).toBeUndefined();
      expect(await catalog.getDataset('ml', 'private')).toBeUndefined();
      expect(Object.keys(catalog.cacheLocations() ?? {})).toEqual(['node-a', 'node-b']);
      expect(logged).toEqual(['catalog entry is neither a Dataset nor the cache-location ConfigMap; ignored']);
    });
  });

  describe('when a Dataset has no namespace', () => {
    it('puts it in "default", as kubectl apply would', async () => {
      const catalog = parseCatalog('apiVersion: datamount.dev/v1alpha1\nkind: Dataset\nmetadata: { name: d }\nspec: { s3: { endpoint: https://s3.example.com, bucket: bkt } }\n', 'inline');
      expect((await catalog.getDataset('default', 'd'))?.dataset?.bucket).toBe('bkt');
    });
  });

  describe('when both groups define the same name', () => {
    it('uses the datamount.dev one and warns', async () => {
      const catalog = parseCatalog([
        'apiVersion: datashim.io/v1alpha1\nkind: Dataset\nmetadata: { name: d, namespace: ml }\nspec: { local: { type: COS, endpoint: https://a.example.com, bucket: from-datashim } }',
        'apiVersion: datamount.dev/v1alpha1\nkind: Dataset\nmetadata: { name: d, namespace: ml }\nspec: { s3: { endpoint: https://b.example.com, bucket: from-datamount } }',
      ].join('\n---\n'), 'inline');
      const entry = await catalog.getDataset('ml', 'd');
      expect(entry?.dataset?.bucket).toBe('from-datamount');
      expect(entry?.warnings).toEqual([expect.stringContaining('exists in both datamount.dev and datashim.io')]);
    });
  });

  describe('when the file is broken', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'datamount-catalog-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('refuses YAML that does not parse, naming the document', async () => {
      const path = join(dir, 'bad.yaml');
      await writeFile(path, 'kind: Dataset\n---\nmetadata: { name: [unclosed\n');
      await expect(loadCatalogFile(path)).rejects.toThrow(/is not valid YAML:\ndocument 2:/);
    });

    it('refuses a file that does not exist, with a DatamountError naming the path', async () => {
      const path = join(dir, 'missing.yaml');
      await expect(loadCatalogFile(path)).rejects.toBeInstanceOf(DatamountError);
      await expect(loadCatalogFile(path)).rejects.toThrow(`cannot read ${path}`);
    });
  });
});
