/**
 * The file adapter of the catalog (`DATAMOUNT_CATALOG`): a multi-document YAML file holding the
 * same objects one would apply to a cluster — Datasets of either group and, optionally, the
 * cache-location ConfigMap — for running the webhook without an API server (demo, tests).
 * The file is read once at start; it is configuration, like the rest of the environment.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { CACHE_LOCATIONS_CONFIGMAP, MemoryCatalog } from './catalog';
import { datasetGroupOf } from './dataset';
import { DatamountError, ERRORS } from './errors';

export type CatalogLog = (msg: string, fields?: object) => void;

/** Namespace kubectl would give an object without one. */
const DEFAULT_NAMESPACE = 'default';

export async function loadCatalogFile(path: string, log: CatalogLog = () => {}): Promise<MemoryCatalog> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DatamountError(ERRORS.CATALOG_FILE_INVALID, `cannot read ${path}`, { cause: err });
  }
  return parseCatalog(text, path, log);
}

export function parseCatalog(text: string, source: string, log: CatalogLog = () => {}): MemoryCatalog {
  const catalog = new MemoryCatalog();
  const documents = parseAllDocuments(text);
  const errors = documents.flatMap((doc, index) => doc.errors.map((e) => `document ${index + 1}: ${e.message}`));
  if (errors.length > 0) throw new DatamountError(ERRORS.CATALOG_FILE_INVALID, `${source} is not valid YAML:\n${errors.join('\n')}`);

  const objects: unknown[] = [];
  for (const doc of documents) {
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items)) objects.push(...value.items);
    else objects.push(value);
  }

  for (const [index, obj] of objects.entries()) {
    if (!isObject(obj)) {
      log('catalog entry is not an object; ignored', { source, index });
      continue;
    }
    const metadata = isObject(obj.metadata) ? obj.metadata : {};
    if (datasetGroupOf(obj)) {
      const withNamespace = { ...obj, metadata: { namespace: DEFAULT_NAMESPACE, ...metadata } };
      if (!catalog.upsert(withNamespace)) log('Dataset without metadata.name; ignored', { source, index });
    } else if (obj.apiVersion === 'v1' && obj.kind === 'ConfigMap' && metadata.name === CACHE_LOCATIONS_CONFIGMAP) {
      const data = isObject(obj.data) ? obj.data : {};
      catalog.setCacheLocations(Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => typeof e[1] === 'string')));
    } else {
      log('catalog entry is neither a Dataset nor the cache-location ConfigMap; ignored', { source, index, apiVersion: obj.apiVersion, kind: obj.kind });
    }
  }
  catalog.markSynced();
  return catalog;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
