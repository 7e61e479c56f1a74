/**
 * What one would `kubectl apply` for the demo, as objects: the Dataset (no secret in it, only a
 * `secretRef`), the Secret it names (given to the pod runner, never to the webhook), and the
 * cache-location ConfigMap a node reporter would write. `catalogYaml` renders the objects the
 * webhook may read into the multi-document file `DATAMOUNT_CATALOG` names.
 */
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { stringify } from 'yaml';

export interface DemoDatasetOptions {
  name: string;
  namespace: string;
  endpoint: string;
  bucket: string;
  prefix: string;
  secretName: string;
  access?: 'ReadOnly' | 'ReadWrite';
}

export interface DatasetObject {
  apiVersion: 'datamount.dev/v1alpha1';
  kind: 'Dataset';
  metadata: { name: string; namespace: string };
  spec: {
    s3: { endpoint: string; bucket: string; prefix: string; region: string; forcePathStyle: boolean; secretRef: { name: string } };
    access: 'ReadOnly' | 'ReadWrite';
  };
}

/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export function datasetObject(options: DemoDatasetOptions): DatasetObject {
  return {
    apiVersion: 'datamount.dev/v1alpha1',
    kind: 'Dataset',
    metadata: { name: options.name, namespace: options.namespace },
    spec: {
      s3: {
        endpoint: options.endpoint,
        bucket: options.bucket,
        prefix: options.prefix,
        region: 'us-east-1',
        forcePathStyle: true,
        secretRef: { name: options.secretName },
      },
      access: options.access ?? 'ReadOnly',
    },
  };
}

export function credentialsSecret(name: string, namespace: string): ISecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'Opaque',
    data: {
      AWS_ACCESS_KEY_ID: Buffer.from(S3RVER_CREDENTIALS.accessKeyId).toString('base64'),
      AWS_SECRET_ACCESS_KEY: Buffer.from(S3RVER_CREDENTIALS.secretAccessKey).toString('base64'),
    },
  };
}

/** The ConfigMap a node reporter keeps: one key per node, bytes cached per `<ns>/<dataset>`. */
export function cacheLocations(nodes: Record<string, Record<string, number>>, updated: Date = new Date()): IConfigMap {
  const data: Record<string, string> = {};
  for (const [node, datasets] of Object.entries(nodes)) {
    const entries = Object.fromEntries(Object.entries(datasets).map(([key, bytes]) => [key, { bytes }]));
    data[node] = JSON.stringify({ updated: updated.toISOString(), datasets: entries });
  }
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'datamount-cache-locations', namespace: 'datamount-system' }, data };
}

export function catalogYaml(objects: readonly object[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}
