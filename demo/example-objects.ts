/**
 * The objects the demo submits: `manifests/examples/pod.yaml`, `dataset-imagenet.yaml` and
 * `s3-credentials.yaml` as a user would apply them, adapted to this machine — the Dataset points
 * at the embedded S3 server and the sample's prefix, the Secret holds s3rver's keys, and the
 * pod's first container runs the demo's reader instead of its own command (which sleeps for an
 * hour). When the examples are missing or do not fit (no dataset annotation, no container),
 * an embedded pod of the same shape is used and the demo says so.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { parse } from 'yaml';
import { credentialsSecret, datasetObject, type DatasetObject } from './catalog';

export interface ExampleObjects {
  pod: IPod;
  dataset: DatasetObject;
  secret: ISecret;
  namespace: string;
  datasetName: string;
  /** Where the app container sees the dataset. */
  mountPath: string;
  appContainer: string;
  /** Which files the objects came from, for the demo's output. */
  source: string;
}

export interface S3Location {
  endpoint: string;
  bucket: string;
  prefix: string;
}

const DATASETS_ANNOTATION = 'datamount.dev/datasets';

export function exampleObjects(repoRoot: string, s3: S3Location, appCommand: (mountPath: string) => string[]): ExampleObjects {
  const examples = path.join(repoRoot, 'manifests', 'examples');
  const fromFiles = loadExamples(examples);
  const base = fromFiles ?? embeddedExamples();
  const { pod, dataset, secretName } = base;
  const namespace = pod.metadata?.namespace ?? dataset.metadata.namespace;
  const datasetName = dataset.metadata.name;
  const mountPath = pod.metadata?.annotations?.[`datamount.dev/${datasetName}.mount-path`] ?? `/mnt/datasets/${datasetName}`;
  const adaptedDataset = datasetObject({
    name: datasetName,
    namespace,
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    prefix: s3.prefix,
    secretName,
    access: dataset.spec.access,
  });
  const adaptedPod = structuredClone(pod);
  const app = adaptedPod.spec?.containers[0];
  if (!app) throw new Error('the example pod has no container');
  app.command = appCommand(mountPath);
  delete app.args;
  return {
    pod: adaptedPod,
    dataset: adaptedDataset,
    secret: credentialsSecret(secretName, namespace),
    namespace,
    datasetName,
    mountPath,
    appContainer: app.name,
    source: fromFiles ? 'manifests/examples/{pod,dataset-imagenet,s3-credentials}.yaml' : 'an embedded example pod (manifests/examples/pod.yaml not found or not usable)',
  };
}

interface Loaded {
  pod: IPod;
  dataset: DatasetObject;
  secretName: string;
}

function loadExamples(dir: string): Loaded | undefined {
  const files = ['pod.yaml', 'dataset-imagenet.yaml'].map((f) => path.join(dir, f));
  if (!files.every((f) => existsSync(f))) return undefined;
  try {
    const [podFile, datasetFile] = files as [string, string];
    const pod = parse(readFileSync(podFile, 'utf8')) as IPod;
    const dataset = parse(readFileSync(datasetFile, 'utf8')) as DatasetObject;
    const wanted = (pod.metadata?.annotations?.[DATASETS_ANNOTATION] ?? '').split(',').map((s) => s.trim());
    const fits = pod.kind === 'Pod' && (pod.spec?.containers.length ?? 0) > 0 && dataset.kind === 'Dataset'
      && wanted.includes(dataset.metadata.name) && wanted.length === 1;
    if (!fits) return undefined;
    return { pod, dataset, secretName: dataset.spec.s3.secretRef?.name ?? 'training-data-creds' };
  } catch {
    return undefined;
  }
}

function embeddedExamples(): Loaded {
  const pod: IPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'imagenet-browser', namespace: 'ml-demo', annotations: { [DATASETS_ANNOTATION]: 'imagenet' } },
    spec: { containers: [{ name: 'shell', image: 'busybox:1.36', command: ['sh', '-c', 'ls -l /mnt/datasets/imagenet'] }] },
  };
  const dataset = datasetObject({
    name: 'imagenet', namespace: 'ml-demo', endpoint: 'http://127.0.0.1', bucket: 'training-data', prefix: 'imagenet/', secretName: 'training-data-creds',
  });
  return { pod, dataset, secretName: 'training-data-creds' };
}

