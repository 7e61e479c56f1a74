import { normaliseDataset } from '../../webhook/dataset';

const datamount = (spec: object, name = 'd') => ({ apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: 'ml' }, spec });
const datashim = (local: object) => ({ apiVersion: 'datashim.io/v1alpha1', kind: 'Dataset', metadata: { name: 'd', namespace: 'ml' }, spec: { local } });

describe('normaliseDataset', () => {
  describe('when given something that is not a Dataset of either group', () => {
    it.each([
      ['a ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'ml' } }],
      ['another version', { apiVersion: 'datamount.dev/v1', kind: 'Dataset', metadata: { name: 'x', namespace: 'ml' } }],
      ['a Dataset without a name', { apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset', metadata: { namespace: 'ml' } }],
      ['null', null],
    ])('%s → undefined', (_name, obj) => {
      expect(normaliseDataset(obj)).toBeUndefined();
    });
  });

  describe('when given a datamount.dev Dataset', () => {
    it.each<[string, object, object]>([
      ['defaults: ReadOnly, anonymous, path style for a non-AWS endpoint', { s3: { endpoint: 'https://minio.example.com', bucket: 'bkt' } },
        { readOnly: true, forcePathStyle: true, prefix: '' }],
      ['virtual-host style for AWS', { s3: { endpoint: 'https://s3.eu-west-1.amazonaws.com', bucket: 'bkt' } }, { forcePathStyle: false }],
      ['a prefix gets its trailing slash and loses a leading one', { s3: { endpoint: 'https://e.example.com', bucket: 'bkt', prefix: '/a/b' } }, { prefix: 'a/b/' }],
      ['ReadWrite access', { s3: { endpoint: 'https://e.example.com', bucket: 'bkt' }, access: 'ReadWrite' }, { readOnly: false }],
      ['secret keys default to the AWS names', { s3: { endpoint: 'https://e.example.com', bucket: 'bkt', secretRef: { name: 'creds' } } },
        { secret: { name: 'creds', accessKeyIdKey: 'AWS_ACCESS_KEY_ID', secretAccessKeyKey: 'AWS_SECRET_ACCESS_KEY' } }],
    ])('%s', (_name, spec, expected) => {
      const entry = normaliseDataset(datamount(spec));
      expect(entry?.problems).toEqual([]);
      expect(entry?.dataset).toMatchObject(expected);
      if (!('secretRef' in (spec as { s3: object }).s3)) expect(entry?.dataset).not.toHaveProperty('secret');
    });

    it.each<[string, object, string]>([
      ['no s3 section', {}, 'has no spec.s3'],
      ['no endpoint', { s3: { bucket: 'bkt' } }, 'spec.s3.endpoint is required'],
      ['an endpoint with credentials in it', { s3: { endpoint: 'https://user:pw@e.example.com', bucket: 'bkt' } }, 'must not hold credentials'],
      ['an ftp endpoint', { s3: { endpoint: 'ftp://e.example.com', bucket: 'bkt' } }, 'must use http or https'],
      ['a bad bucket name', { s3: { endpoint: 'https://e.example.com', bucket: 'Bad_Bucket' } }, 'is not an S3 bucket name'],
      ['a prefix escaping upwards', { s3: { endpoint: 'https://e.example.com', bucket: 'bkt', prefix: 'a/../../b' } }, 'must not hold "." or ".." segments'],
      ['a Secret of another namespace', { s3: { endpoint: 'https://e.example.com', bucket: 'bkt', secretRef: { name: 'c', namespace: 'kube-system' } } }, 'can only use a Secret of its own namespace (ml)'],
      ['an unknown access mode', { s3: { endpoint: 'https://e.example.com', bucket: 'bkt' }, access: 'WriteOnly' }, 'spec.access: "WriteOnly" is not accepted; use ReadOnly or ReadWrite'],
    ])('refuses %s', (_name, spec, problem) => {
      const entry = normaliseDataset(datamount(spec));
      expect(entry?.dataset).toBeUndefined();
      expect(entry?.problems.join('\n')).toContain(problem);
    });

    it('warns about an endpoint without a scheme and assumes https', () => {
      const entry = normaliseDataset(datamount({ s3: { endpoint: 's3.example.com', bucket: 'bkt' } }));
      expect(entry?.dataset?.endpoint).toBe('https://s3.example.com');
      expect(entry?.warnings).toEqual(['Dataset ml/d (datamount.dev) spec.s3.endpoint "s3.example.com" has no scheme; using https://s3.example.com']);
    });
  });

  describe('when given a datashim.io Dataset', () => {
    it('reads COS: bucket/prefix, readonly string, secret-name with Datashim\'s key names', () => {
      const entry = normaliseDataset(datashim({ type: 'COS', endpoint: 'https://cos.example.com', bucket: 'bkt1/x/y', readonly: 'true', region: 'eu', 'secret-name': 's' }));
      expect(entry?.dataset).toMatchObject({ group: 'datashim.io', bucket: 'bkt1', prefix: 'x/y/', readOnly: true, region: 'eu', secret: { name: 's', accessKeyIdKey: 'accessKeyID', secretAccessKeyKey: 'secretAccessKey' } });
    });

    it.each<[string, object, string]>([
      ['inline credentials', { type: 'COS', endpoint: 'https://e.example.com', bucket: 'bkt', accessKeyID: 'a', secretAccessKey: 'b' }, 'put them in a Secret with keys accessKeyID and secretAccessKey and name it in spec.local.secret-name'],
      ['an NFS dataset', { type: 'NFS', server: 'nfs', share: '/x' }, 'spec.local.type "NFS" is not supported; datamount reads only type COS'],
      ['a secret-namespace elsewhere', { type: 'COS', endpoint: 'https://e.example.com', bucket: 'bkt', 'secret-name': 's', 'secret-namespace': 'other' }, 'can only use a Secret of its own namespace'],
    ])('refuses %s', (_name, local, problem) => {
      const entry = normaliseDataset(datashim(local));
      expect(entry?.dataset).toBeUndefined();
      expect(entry?.problems.join('\n')).toContain(problem);
    });
  });
});
