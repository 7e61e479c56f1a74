/**
 * Environment variables an injection adds. Credentials only ever travel as `secretKeyRef`
 * (which has no namespace field, so only Secrets of the pod's own namespace are reachable); the
 * webhook never reads a Secret and never writes a secret value.
 *
 * - `use-as: env` → `DATASET_<NAME>_ENDPOINT`, `_BUCKET`, `_PREFIX`, `_REGION`, and by reference
 *   `_ACCESS_KEY_ID`, `_SECRET_ACCESS_KEY` (../shared/design.md).
 * - Datashim `useas: configmap` → Datashim's own names. Datashim injects its Dataset ConfigMap
 *   (`endpoint`, `bucket`, `folder`, `region`) and Secret (`accessKeyID`, `secretAccessKey`)
 *   with `envFrom` and the prefix `<dataset>_`; we have no such ConfigMap, so the same names
 *   are written as plain variables: `<dataset>_endpoint`, …, `<dataset>_secretAccessKey`.
 * - the sidecar gets `DATAMOUNT_<NAME>_ACCESS_KEY_ID` / `_SECRET_ACCESS_KEY` (docs/contract.md).
 */
import type { Dataset } from './dataset';
import type { PlannedDataset } from './injection-plan';
import { envNamePart } from './names';
import type { EnvVar } from './pod';

function secretEnv(name: string, dataset: Dataset, key: 'accessKeyIdKey' | 'secretAccessKeyKey'): EnvVar[] {
  if (!dataset.secret) return [];
  return [{ name, valueFrom: { secretKeyRef: { name: dataset.secret.name, key: dataset.secret[key] } } }];
}

export function datasetEnv(dataset: Dataset): EnvVar[] {
  const base = `DATASET_${envNamePart(dataset.name)}`;
  return [
    { name: `${base}_ENDPOINT`, value: dataset.endpoint },
    { name: `${base}_BUCKET`, value: dataset.bucket },
    { name: `${base}_PREFIX`, value: dataset.prefix },
    ...(dataset.region ? [{ name: `${base}_REGION`, value: dataset.region }] : []),
    ...secretEnv(`${base}_ACCESS_KEY_ID`, dataset, 'accessKeyIdKey'),
    ...secretEnv(`${base}_SECRET_ACCESS_KEY`, dataset, 'secretAccessKeyKey'),
  ];
}

export function datashimEnv(dataset: Dataset): EnvVar[] {
  const base = dataset.name;
  return [
    { name: `${base}_endpoint`, value: dataset.endpoint },
    { name: `${base}_bucket`, value: dataset.bucket },
    { name: `${base}_folder`, value: dataset.prefix },
    { name: `${base}_region`, value: dataset.region ?? '' },
    ...secretEnv(`${base}_accessKeyID`, dataset, 'accessKeyIdKey'),
    ...secretEnv(`${base}_secretAccessKey`, dataset, 'secretAccessKeyKey'),
  ];
}

/** Everything the app containers that use this dataset get (built once per Dataset: dataset-parts.ts). */
export function appEnv({ request, parts }: PlannedDataset): readonly EnvVar[] {
  if (request.env && request.datashimConfigmap) return [...parts.env, ...parts.datashimEnv];
  return request.env ? parts.env : request.datashimConfigmap ? parts.datashimEnv : [];
}

export function sidecarCredentialEnvNames(dataset: string): { accessKeyIdEnv: string; secretAccessKeyEnv: string } {
  const base = `DATAMOUNT_${envNamePart(dataset)}`;
  return { accessKeyIdEnv: `${base}_ACCESS_KEY_ID`, secretAccessKeyEnv: `${base}_SECRET_ACCESS_KEY` };
}

export function sidecarCredentialEnv(dataset: Dataset): EnvVar[] {
  const names = sidecarCredentialEnvNames(dataset.name);
  return [
    ...secretEnv(names.accessKeyIdEnv, dataset, 'accessKeyIdKey'),
    ...secretEnv(names.secretAccessKeyEnv, dataset, 'secretAccessKeyKey'),
  ];
}
