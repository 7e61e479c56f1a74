/**
 * Dataset objects of both groups — `datamount.dev/v1alpha1` and Datashim's `datashim.io/v1alpha1`
 * (`spec.local.type: COS`) — turned into one internal shape, with the reasons an object cannot
 * be used. The catalog normalises each object once when it arrives, so a review only looks up.
 *
 * Never a secret value: a Dataset only names a Secret in its own namespace (a `secretKeyRef`
 * has no namespace field, so the pod can only ever reach Secrets of its own namespace).
 */

export const DATAMOUNT_GROUP = 'datamount.dev';
export const DATASHIM_GROUP = 'datashim.io';
export const DATASET_VERSION = 'v1alpha1';

export interface DatasetSecret {
  name: string;
  accessKeyIdKey: string;
  secretAccessKeyKey: string;
}

export interface Dataset {
  group: typeof DATAMOUNT_GROUP | typeof DATASHIM_GROUP;
  namespace: string;
  name: string;
  endpoint: string;
  bucket: string;
  /** "" or ending in "/" (docs/contract.md). */
  prefix: string;
  region?: string;
  forcePathStyle: boolean;
  readOnly: boolean;
  /** Absent: anonymous access. */
  secret?: DatasetSecret;
}

/** One catalog entry: a usable Dataset, or why the object cannot be used; warnings either way. */
export interface DatasetEntry {
  group: Dataset['group'];
  namespace: string;
  name: string;
  dataset?: Dataset;
  problems: string[];
  warnings: string[];
}

/** Datamount's default Secret keys are the AWS variable names users already have. */
const DATAMOUNT_KEYS = { accessKeyIdKey: 'AWS_ACCESS_KEY_ID', secretAccessKeyKey: 'AWS_SECRET_ACCESS_KEY' };
/** Datashim's COS Secrets hold these keys (datashim-io/datashim, processLocalDatasetCOS). */
const DATASHIM_KEYS = { accessKeyIdKey: 'accessKeyID', secretAccessKeyKey: 'secretAccessKey' };
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Group of a Dataset object, or undefined for anything that is not one of ours. */
export function datasetGroupOf(obj: unknown): Dataset['group'] | undefined {
  if (!isObject(obj) || obj.kind !== 'Dataset') return undefined;
  if (obj.apiVersion === `${DATAMOUNT_GROUP}/${DATASET_VERSION}`) return DATAMOUNT_GROUP;
  if (obj.apiVersion === `${DATASHIM_GROUP}/${DATASET_VERSION}`) return DATASHIM_GROUP;
  return undefined;
}

/** Normalise a Dataset object; undefined when it is not a Dataset of either group or has no name. */
export function normaliseDataset(obj: unknown, defaultNamespace?: string): DatasetEntry | undefined {
  const group = datasetGroupOf(obj);
  if (!group || !isObject(obj)) return undefined;
  const metadata = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : undefined;
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
  if (!name || !namespace) return undefined;
  const entry: DatasetEntry = { group, namespace, name, problems: [], warnings: [] };
  const spec = isObject(obj.spec) ? obj.spec : {};
  const dataset = group === DATAMOUNT_GROUP ? fromDatamount(spec, entry) : fromDatashim(spec, entry);
  // Frozen: reviews share what they build from a Dataset object for as long as it is the catalog's (dataset-parts.ts).
  if (dataset && entry.problems.length === 0) entry.dataset = Object.freeze({ ...dataset, ...(dataset.secret ? { secret: Object.freeze(dataset.secret) } : {}) });
  return entry;
}

function fromDatamount(spec: Json, entry: DatasetEntry): Dataset | undefined {
  const where = `Dataset ${entry.namespace}/${entry.name} (${DATAMOUNT_GROUP})`;
  if (!isObject(spec.s3)) {
    entry.problems.push(`${where} has no spec.s3; it needs at least spec.s3.endpoint and spec.s3.bucket`);
    return undefined;
  }
  const s3 = spec.s3;
  const endpoint = readEndpoint(s3.endpoint, `${where} spec.s3.endpoint`, entry);
  const bucket = readBucket(s3.bucket, `${where} spec.s3.bucket`, entry);
  const prefix = readPrefix(s3.prefix, `${where} spec.s3.prefix`, entry);
  const region = optionalString(s3.region, `${where} spec.s3.region`, entry);
  let forcePathStyle = endpoint !== undefined && !isAwsEndpoint(endpoint);
  if (s3.forcePathStyle !== undefined) {
    if (typeof s3.forcePathStyle === 'boolean') forcePathStyle = s3.forcePathStyle;
    else entry.problems.push(`${where} spec.s3.forcePathStyle must be true or false`);
  }
  let secret: DatasetSecret | undefined;
  if (s3.secretRef !== undefined) {
    const ref = isObject(s3.secretRef) ? s3.secretRef : {};
    const secretName = optionalString(ref.name, `${where} spec.s3.secretRef.name`, entry);
    if (!secretName) entry.problems.push(`${where} spec.s3.secretRef needs a name: the Secret in namespace ${entry.namespace} holding the keys`);
    if (ref.namespace !== undefined && ref.namespace !== entry.namespace) {
      entry.problems.push(`${where} spec.s3.secretRef.namespace ${show(ref.namespace)}: a Dataset can only use a Secret of its own namespace (${entry.namespace})`);
    }
    secret = {
      name: secretName ?? '',
      accessKeyIdKey: optionalString(ref.accessKeyIdKey, `${where} spec.s3.secretRef.accessKeyIdKey`, entry) ?? DATAMOUNT_KEYS.accessKeyIdKey,
      secretAccessKeyKey: optionalString(ref.secretAccessKeyKey, `${where} spec.s3.secretRef.secretAccessKeyKey`, entry) ?? DATAMOUNT_KEYS.secretAccessKeyKey,
    };
  }
  let readOnly = true;
  if (spec.access !== undefined) {
    if (spec.access === 'ReadOnly' || spec.access === 'ReadWrite') readOnly = spec.access === 'ReadOnly';
    else entry.problems.push(`${where} spec.access: ${show(spec.access)} is not accepted; use ReadOnly or ReadWrite`);
  }
  if (endpoint === undefined || bucket === undefined) return undefined;
  return { group: DATAMOUNT_GROUP, namespace: entry.namespace, name: entry.name, endpoint, bucket, prefix, ...(region ? { region } : {}), forcePathStyle, readOnly, ...(secret ? { secret } : {}) };
}

function fromDatashim(spec: Json, entry: DatasetEntry): Dataset | undefined {
  const where = `Dataset ${entry.namespace}/${entry.name} (${DATASHIM_GROUP})`;
  const local = isObject(spec.local) ? spec.local : undefined;
  if (!local) {
    entry.problems.push(`${where} has no spec.local; datamount reads Datashim Datasets of spec.local.type COS`);
    return undefined;
  }
  if (local.type !== 'COS') {
    entry.problems.push(`${where} spec.local.type ${show(local.type)} is not supported; datamount reads only type COS (S3)`);
    return undefined;
  }
  if (local.accessKeyID !== undefined || local.secretAccessKey !== undefined) {
    entry.problems.push(`${where} holds inline credentials (spec.local.accessKeyID/secretAccessKey), which datamount refuses: put them in a Secret with keys accessKeyID and secretAccessKey and name it in spec.local.secret-name`);
  }
  const secretNamespace = local['secret-namespace'];
  if (secretNamespace !== undefined && secretNamespace !== entry.namespace) {
    entry.problems.push(`${where} spec.local.secret-namespace ${show(secretNamespace)}: a Dataset can only use a Secret of its own namespace (${entry.namespace})`);
  }
  const endpoint = readEndpoint(local.endpoint, `${where} spec.local.endpoint`, entry);
  const bucketPath = optionalString(local.bucket, `${where} spec.local.bucket`, entry);
  let bucket: string | undefined;
  let prefix = '';
  if (bucketPath === undefined) {
    entry.problems.push(`${where} needs spec.local.bucket ("bucket" or "bucket/prefix")`);
  } else {
    const slash = bucketPath.indexOf('/');
    bucket = readBucket(slash < 0 ? bucketPath : bucketPath.slice(0, slash), `${where} spec.local.bucket`, entry);
    if (slash >= 0) prefix = readPrefix(bucketPath.slice(slash + 1), `${where} spec.local.bucket (prefix part)`, entry);
  }
  const region = optionalString(local.region, `${where} spec.local.region`, entry);
  const readonlyText = local.readonly;
  let readOnly = false;
  if (readonlyText !== undefined) {
    // Datashim stores it as a string; YAML authors also write a bare boolean.
    if (readonlyText === 'true' || readonlyText === true) readOnly = true;
    else if (readonlyText !== 'false' && readonlyText !== false) entry.problems.push(`${where} spec.local.readonly: ${show(readonlyText)} is not accepted; use "true" or "false"`);
  }
  const secretName = optionalString(local['secret-name'], `${where} spec.local.secret-name`, entry);
  if (endpoint === undefined || bucket === undefined) return undefined;
  return {
    group: DATASHIM_GROUP, namespace: entry.namespace, name: entry.name, endpoint, bucket, prefix,
    ...(region ? { region } : {}), forcePathStyle: !isAwsEndpoint(endpoint), readOnly,
    ...(secretName ? { secret: { name: secretName, ...DATASHIM_KEYS } } : {}),
  };
}

/** A value from an untrusted object, quoted for a message. */
function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function optionalString(value: unknown, what: string, entry: DatasetEntry): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  entry.problems.push(`${what} must be a string`);
  return undefined;
}

function readEndpoint(value: unknown, what: string, entry: DatasetEntry): string | undefined {
  const text = optionalString(value, what, entry);
  if (text === undefined) {
    entry.problems.push(`${what} is required: the S3 endpoint URL, such as https://s3.eu-de.example.com`);
    return undefined;
  }
  // The design asks for a scheme; one without is most likely https, so it is used with a warning.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  if (withScheme !== text) entry.warnings.push(`${what} "${text}" has no scheme; using ${withScheme}`);
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    entry.problems.push(`${what} "${text}" is not a URL; expected something like https://s3.eu-de.example.com`);
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    entry.problems.push(`${what} "${text}" must use http or https`);
    return undefined;
  }
  if (url.username || url.password) {
    entry.problems.push(`${what} must not hold credentials; name a Secret instead`);
    return undefined;
  }
  return withScheme.replace(/\/+$/, '');
}

function readBucket(value: unknown, what: string, entry: DatasetEntry): string | undefined {
  const text = optionalString(value, what, entry);
  if (text === undefined) {
    entry.problems.push(`${what} is required`);
    return undefined;
  }
  if (!BUCKET.test(text)) {
    entry.problems.push(`${what} "${text}" is not an S3 bucket name (3-63 lower-case letters, digits, "." and "-")`);
    return undefined;
  }
  return text;
}

function readPrefix(value: unknown, what: string, entry: DatasetEntry): string {
  const text = optionalString(value, what, entry) ?? '';
  const trimmed = text.replace(/^\/+/, '');
  if (trimmed === '') return '';
  // eslint-disable-next-line no-control-regex
  if (trimmed.split('/').some((s) => s === '.' || s === '..') || /[\u0000-\u001f]/.test(trimmed)) {
    entry.problems.push(`${what} "${text}" must not hold "." or ".." segments or control characters`);
    return '';
  }
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

function isAwsEndpoint(endpoint: string): boolean {
  try {
    return /(^|\.)amazonaws\.com(\.cn)?$/.test(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}
