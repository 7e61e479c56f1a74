import Ajv, { type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { normaliseDataset } from '../../webhook/dataset';
import { docsUnder, findObject, manifestDocs, type KubeObject } from './manifest-docs';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: Record<string, unknown> };
  additionalPrinterColumns: Array<{ name: string; jsonPath: string; type: string }>;
}

const crd = findObject<KubeObject & { spec: { group: string; names: { kind: string; plural: string }; scope: string; versions: CrdVersion[] } }>(
  docsUnder('manifests/base/').map((doc) => doc.object), 'CustomResourceDefinition', 'datasets.datamount.dev',
);
const version = crd.spec.versions.find((v) => v.name === 'v1alpha1');
const exampleDatasets = manifestDocs().filter((doc) => doc.object.kind === 'Dataset').map((doc) => doc.object);
const ourExamples = exampleDatasets.filter((o) => o.apiVersion === 'datamount.dev/v1alpha1');

/** The schema as the API server applies it: OpenAPI v3 keywords, `default` applied, unknown fields pruned (not refused). */
function compile(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true });
  return ajv.compile(version?.schema.openAPIV3Schema ?? {});
}

function dataset(spec: unknown): Record<string, unknown> {
  return { apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'd', namespace: 'ns' }, spec };
}

const S3 = { endpoint: 'https://s3.example.com', bucket: 'training-data' };

describe('the Dataset CRD', () => {
  it('is datasets.datamount.dev v1alpha1, namespaced, served and stored', () => {
    expect(crd.spec).toMatchObject({ group: 'datamount.dev', scope: 'Namespaced', names: { kind: 'Dataset', plural: 'datasets' } });
    expect(version).toMatchObject({ served: true, storage: true });
  });

  it('prints Endpoint, Bucket, Access and Age', () => {
    const columns = version?.additionalPrinterColumns.filter((c) => !('priority' in c)).map((c) => [c.name, c.jsonPath]);
    expect(columns).toEqual([
      ['Endpoint', '.spec.s3.endpoint'], ['Bucket', '.spec.s3.bucket'], ['Access', '.spec.access'], ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  it('carries an example in its description, which itself validates', () => {
    const description = String(version?.schema.openAPIV3Schema.description);
    const example = parse(description.slice(description.indexOf('Example:') + 'Example:'.length)) as Record<string, unknown>;
    expect(example).toMatchObject({ apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset' });
    expect(compile()(example)).toBe(true);
    expect(normaliseDataset(example)?.problems).toEqual([]);
  });

  describe('when validating the example Datasets', () => {
    const validate = compile();
    it.each(ourExamples.map((o) => [o.metadata.name, o] as const))('accepts %s', (_name, object) => {
      expect(validate(structuredClone(object))).toBe(true);
      expect(validate.errors ?? []).toEqual([]);
    });
  });

  describe('when a Dataset is wrong', () => {
    const validate = compile();
    it.each<[string, unknown, string]>([
      ['no spec.s3', {}, "/spec must have required property 's3'"],
      ['no bucket', { s3: { endpoint: S3.endpoint } }, "/spec/s3 must have required property 'bucket'"],
      ['no endpoint', { s3: { bucket: S3.bucket } }, "/spec/s3 must have required property 'endpoint'"],
      ['an endpoint without scheme', { s3: { ...S3, endpoint: 's3.example.com' } }, '/spec/s3/endpoint must match pattern'],
      ['an ftp endpoint', { s3: { ...S3, endpoint: 'ftp://s3.example.com' } }, '/spec/s3/endpoint must match pattern'],
      ['an upper-case bucket', { s3: { ...S3, bucket: 'Training' } }, '/spec/s3/bucket must match pattern'],
      ['a two-letter bucket', { s3: { ...S3, bucket: 'ab' } }, '/spec/s3/bucket must match pattern'],
      ['a control character in the prefix', { s3: { ...S3, prefix: 'a\nb/' } }, '/spec/s3/prefix must match pattern'],
      ['an access mode of another spelling', { s3: S3, access: 'readonly' }, '/spec/access must be equal to one of the allowed values'],
      ['a secretRef without name', { s3: { ...S3, secretRef: {} } }, "/spec/s3/secretRef must have required property 'name'"],
      ['forcePathStyle as a string', { s3: { ...S3, forcePathStyle: 'yes' } }, '/spec/s3/forcePathStyle must be boolean'],
    ])('refuses %s', (_case, spec, message) => {
      expect(validate(dataset(spec))).toBe(false);
      expect(validate.errors?.map((e) => `${e.instancePath} ${e.message}`).join('\n')).toContain(message);
    });
  });

  describe('when fields are left out', () => {
    it('defaults access to ReadOnly and the Secret keys to the AWS names', () => {
      const object = dataset({ s3: { ...S3, secretRef: { name: 'creds' } } });
      expect(compile()(object)).toBe(true);
      expect(object.spec).toEqual({
        s3: { ...S3, secretRef: { name: 'creds', accessKeyIdKey: 'AWS_ACCESS_KEY_ID', secretAccessKeyKey: 'AWS_SECRET_ACCESS_KEY' } },
        access: 'ReadOnly',
      });
    });
  });
});

describe('the example Datasets, as the webhook reads them', () => {
  it.each(exampleDatasets.map((o) => [`${o.apiVersion} ${o.metadata.name}`, o] as const))('%s is usable, without warnings', (_name, object) => {
    const entry = normaliseDataset(object);
    expect(entry?.problems).toEqual([]);
    expect(entry?.warnings).toEqual([]);
    expect(entry?.dataset).toBeDefined();
  });

  it('include a ReadWrite Dataset and a Datashim one', () => {
    const read = exampleDatasets.map((o) => normaliseDataset(o)?.dataset);
    expect(read.some((d) => d?.readOnly === false && d.group === 'datamount.dev')).toBe(true);
    expect(read.some((d) => d?.group === 'datashim.io')).toBe(true);
  });
});
