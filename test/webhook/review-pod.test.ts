import fc from 'fast-check';
import type { AdmissionRequest } from '../../webhook/admission-review';
import { MemoryCatalog } from '../../webhook/catalog';
import { DatamountError, ERRORS } from '../../webhook/errors';
import type { Container, Pod } from '../../webhook/pod';
import { reviewPod } from '../../webhook/review-pod';
import type { SidecarConfig } from '../../webhook/sidecar-spec';
import { assertValidPod, validatePod } from '../support/k8s-schema';
import { datasetVolumeName } from '../../webhook/names';
import { fixtureCatalog, loadRequest, patchedPod, patchOf, testDeps, withPod } from './review-fixtures';

const SIDECAR = 'datamount-sidecar';

function sidecarOf(pod: Pod): Container {
  const sidecar = pod.spec.initContainers?.[0];
  if (sidecar?.name !== SIDECAR) throw new Error(`initContainers[0] is ${sidecar?.name ?? 'missing'}, not ${SIDECAR}`);
  return sidecar;
}

function sidecarConfig(pod: Pod): SidecarConfig {
  const value = sidecarOf(pod).env?.find((e) => e.name === 'DATAMOUNT_CONFIG')?.value;
  if (!value) throw new Error('no DATAMOUNT_CONFIG');
  return JSON.parse(value) as SidecarConfig;
}

function container(pod: Pod, name: string): Container {
  const found = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}

function mountOf(pod: Pod, containerName: string, path: string) {
  return container(pod, containerName).volumeMounts?.find((m) => m.mountPath === path);
}

function envOf(pod: Pod, containerName: string): Record<string, unknown> {
  return Object.fromEntries((container(pod, containerName).env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
}

async function inject(name: string): Promise<{ request: AdmissionRequest; pod: Pod; warnings: string[] }> {
  const request = loadRequest(name);
  const result = await reviewPod(request, testDeps());
  expect(result.response.status?.message).toBeUndefined();
  expect(result.response.allowed).toBe(true);
  expect(result.response.uid).toBe(request.uid);
  return { request, pod: patchedPod(request.object, result.response), warnings: result.response.warnings ?? [] };
}

describe('reviewPod', () => {
  describe('when the pod asks for datasets', () => {
    const injectedFixtures = [
      'plain-pod', 'deployment-pod', 'init-containers', 'custom-paths', 'env-mode', 'env-only', 'datashim-labels',
      'several-datasets', 'sidecar-resources', 'dry-run', 'endpoint-without-scheme', 'pinned-node',
    ];

    it.each(injectedFixtures)('%s: returns a JSON patch that applies and yields a schema-valid, marked pod', async (name) => {
      const { pod } = await inject(name);
      assertValidPod(pod);
      expect(pod.metadata?.labels?.['datamount.dev/injected']).toBe('true');
      expect(pod.metadata?.annotations?.['datamount.dev/injected-datasets']).toMatch(/^[a-z0-9.,-]+$/);
    });

    it.each(injectedFixtures.filter((n) => n !== 'env-only'))('%s: puts the native sidecar first in initContainers, as the contract fixes it', async (name) => {
      const { pod } = await inject(name);
      const sidecar = sidecarOf(pod);
      expect(sidecar).toMatchObject({
        image: 'ghcr.io/datamount/sidecar:0.1.0',
        args: ['run'],
        restartPolicy: 'Always',
        securityContext: { privileged: true },
        startupProbe: { httpGet: { path: '/readyz', port: 9090 }, periodSeconds: 1, failureThreshold: 120 },
      });
      const config = sidecarConfig(pod);
      expect(config).toMatchObject({ version: 1, port: 9090, cacheRoot: '/var/lib/datamount/cache' });
      for (const d of config.datasets) {
        expect(d.mountPoint).toBe(`/datamount/${d.name}`);
        expect(d.cacheDir).toBe(`/var/lib/datamount/cache/ml/${d.name}`);
        expect(d.prefix === '' || d.prefix.endsWith('/')).toBe(true);
        expect(sidecar.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: d.mountPoint, mountPropagation: 'Bidirectional' }));
        expect(pod.spec.volumes).toContainEqual({ name: `datamount-cache-${d.name}`, hostPath: { path: d.cacheDir, type: 'DirectoryOrCreate' } });
        expect(sidecar.volumeMounts).toContainEqual({ name: `datamount-cache-${d.name}`, mountPath: d.cacheDir });
      }
    });

    it.each(injectedFixtures)('%s: gives the sidecar only its datasets\' own node-cache folders, never the cache root (finding S1)', async (name) => {
      const { pod } = await inject(name);
      const cacheDirs = pod.spec.initContainers?.[0]?.name === SIDECAR ? sidecarConfig(pod).datasets.map((d) => d.cacheDir) : [];
      const hostPaths = (pod.spec.volumes ?? []).flatMap((v) => (v.hostPath ? [v.hostPath.path] : []));
      expect(hostPaths.sort()).toEqual(cacheDirs.sort());
      const mountPaths = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap((c) => (c.volumeMounts ?? []).map((m) => m.mountPath));
      expect(mountPaths).not.toContain('/var/lib/datamount/cache');
    });

    it('plain-pod: mounts the dataset read-only with HostToContainer at /mnt/datasets/<name>, credentials by secretKeyRef only', async () => {
      const { pod } = await inject('plain-pod');
      expect(mountOf(pod, 'train', '/mnt/datasets/imagenet')).toEqual({
        name: 'datamount-imagenet', mountPath: '/mnt/datasets/imagenet', mountPropagation: 'HostToContainer', readOnly: true,
      });
      expect(pod.spec.volumes).toContainEqual({ name: 'datamount-imagenet', emptyDir: {} });
      const config = sidecarConfig(pod);
      expect(config).toMatchObject({ uid: 1000, gid: 1000, cacheSize: '10Gi', cacheMemory: '256Mi' });
      expect(config.datasets).toEqual([{
        name: 'imagenet', namespace: 'ml', endpoint: 'https://s3.eu-de.example.com', bucket: 'training-data',
        prefix: 'imagenet/train/', region: 'eu-de', forcePathStyle: true, readOnly: true,
        mountPoint: '/datamount/imagenet', cacheDir: '/var/lib/datamount/cache/ml/imagenet',
        accessKeyIdEnv: 'DATAMOUNT_IMAGENET_ACCESS_KEY_ID', secretAccessKeyEnv: 'DATAMOUNT_IMAGENET_SECRET_ACCESS_KEY',
      }]);
      expect(envOf(pod, SIDECAR)).toMatchObject({
        DATAMOUNT_IMAGENET_ACCESS_KEY_ID: { secretKeyRef: { name: 'imagenet-creds', key: 'AWS_ACCESS_KEY_ID' } },
        DATAMOUNT_IMAGENET_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'imagenet-creds', key: 'AWS_SECRET_ACCESS_KEY' } },
      });
      expect(sidecarOf(pod).resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } });
    });

    it('plain-pod: adds preferred node affinity towards the nodes caching the dataset, and records it', async () => {
      const { pod } = await inject('plain-pod');
      expect(pod.metadata?.annotations?.['datamount.dev/cache-hints']).toMatch(/^node-a=\d+%,node-b=\d+%$/);
      const preferred = (pod.spec.affinity as { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: { weight: number }[] } })
        .nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution;
      expect(preferred).toHaveLength(2);
      expect(preferred[0]?.weight).toBeGreaterThan(preferred[1]?.weight ?? 100);
    });

    it('pinned-node: skips the hints for a pod pinned by nodeName', async () => {
      const { pod } = await inject('pinned-node');
      expect(pod.spec.affinity).toBeUndefined();
      expect(pod.metadata?.annotations?.['datamount.dev/cache-hints']).toBeUndefined();
    });

    it('deployment-pod: uses request.namespace for a pod that has only a generateName and no namespace yet', async () => {
      const { pod } = await inject('deployment-pod');
      expect(pod.metadata?.namespace).toBeUndefined();
      expect(sidecarConfig(pod).datasets.map((d) => `${d.namespace}/${d.name}`)).toEqual(['ml/imagenet', 'ml/coco']);
      for (const name of ['train', 'metrics']) {
        expect(mountOf(pod, name, '/mnt/datasets/imagenet')?.readOnly).toBe(true);
        expect(mountOf(pod, name, '/mnt/datasets/coco')?.readOnly).toBeUndefined();
      }
      expect(envOf(pod, SIDECAR)).toMatchObject({ DATAMOUNT_COCO_ACCESS_KEY_ID: { secretKeyRef: { name: 'coco-creds', key: 'user' } } });
    });

    it('init-containers: mounts into the pod\'s own init container, which starts after the sidecar', async () => {
      const { pod } = await inject('init-containers');
      expect(pod.spec.initContainers?.map((c) => c.name)).toEqual([SIDECAR, 'prepare']);
      expect(mountOf(pod, 'prepare', '/mnt/datasets/imagenet')).toBeDefined();
    });

    it('custom-paths: mounts each dataset at its path, only into the named containers, narrowing to read-only', async () => {
      const { pod } = await inject('custom-paths');
      expect(mountOf(pod, 'train', '/data/imagenet')?.name).toBe('datamount-imagenet');
      expect(mountOf(pod, 'eval', '/data/imagenet')).toBeUndefined();
      expect(mountOf(pod, 'train', '/data/coco')?.readOnly).toBe(true);
      expect(mountOf(pod, 'eval', '/data/coco')?.readOnly).toBe(true);
      expect(container(pod, 'logger').volumeMounts?.some((m) => m.name.startsWith('datamount-'))).toBe(false);
      expect(sidecarConfig(pod).datasets.find((d) => d.name === 'coco')?.readOnly).toBe(true);
    });

    it('env-mode: adds DATASET_<NAME>_* variables, secrets by reference, and no mount for an env-only dataset', async () => {
      const { pod } = await inject('env-mode');
      expect(envOf(pod, 'train')).toEqual({
        DATASET_IMAGENET_ENDPOINT: 'https://s3.eu-de.example.com', DATASET_IMAGENET_BUCKET: 'training-data',
        DATASET_IMAGENET_PREFIX: 'imagenet/train/', DATASET_IMAGENET_REGION: 'eu-de',
        DATASET_IMAGENET_ACCESS_KEY_ID: { secretKeyRef: { name: 'imagenet-creds', key: 'AWS_ACCESS_KEY_ID' } },
        DATASET_IMAGENET_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'imagenet-creds', key: 'AWS_SECRET_ACCESS_KEY' } },
        DATASET_COCO_ENDPOINT: 'http://minio.storage.svc:9000', DATASET_COCO_BUCKET: 'coco', DATASET_COCO_PREFIX: '',
        DATASET_COCO_ACCESS_KEY_ID: { secretKeyRef: { name: 'coco-creds', key: 'user' } },
        DATASET_COCO_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'coco-creds', key: 'password' } },
      });
      expect(mountOf(pod, 'train', '/mnt/datasets/imagenet')).toBeDefined();
      expect(mountOf(pod, 'train', '/mnt/datasets/coco')).toBeUndefined();
      expect(sidecarConfig(pod).datasets.map((d) => d.name)).toEqual(['imagenet']);
    });

    it('env-only: injects no sidecar and no volume when no dataset is mounted', async () => {
      const { pod } = await inject('env-only');
      expect(pod.spec.initContainers).toBeUndefined();
      expect(pod.spec.volumes?.some((v) => v.name.startsWith('datamount-'))).toBe(false);
      expect(envOf(pod, 'train')).toHaveProperty('DATASET_COCO_BUCKET', 'coco');
    });

    it('datashim-labels: mounts Datashim Datasets and sets Datashim\'s own configmap variable names', async () => {
      const { pod } = await inject('datashim-labels');
      expect(mountOf(pod, 'train', '/mnt/datasets/legacy-cos')?.readOnly).toBe(true);
      expect(mountOf(pod, 'train', '/mnt/datasets/public-weights')).toBeDefined();
      expect(envOf(pod, 'train')).toEqual({
        'legacy-cos_endpoint': 'https://s3.eu-gb.cloud-object-storage.example.com', 'legacy-cos_bucket': 'archive',
        'legacy-cos_folder': '2024/', 'legacy-cos_region': 'eu-gb',
        'legacy-cos_accessKeyID': { secretKeyRef: { name: 'legacy-cos-creds', key: 'accessKeyID' } },
        'legacy-cos_secretAccessKey': { secretKeyRef: { name: 'legacy-cos-creds', key: 'secretAccessKey' } },
      });
      const weights = sidecarConfig(pod).datasets.find((d) => d.name === 'public-weights');
      expect(weights).toMatchObject({ forcePathStyle: false, readOnly: true });
      expect(weights?.accessKeyIdEnv).toBeUndefined();
    });

    it('several-datasets: gives each dataset its own volume and mount, ReadWrite where the Dataset allows it', async () => {
      const { pod } = await inject('several-datasets');
      expect(pod.spec.volumes?.filter((v) => v.name.startsWith('datamount-')).map((v) => v.name))
        .toEqual(['datamount-imagenet', 'datamount-coco', 'datamount-public-weights', 'datamount-cache-imagenet', 'datamount-cache-coco', 'datamount-cache-public-weights']);
      expect(mountOf(pod, 'train', '/mnt/datasets/coco')?.readOnly).toBeUndefined();
      expect(pod.metadata?.annotations?.['datamount.dev/injected-datasets']).toBe('imagenet,coco,public-weights');
    });

    it('sidecar-resources: takes resources and cache sizes from annotations, raising the default limit under a larger request', async () => {
      const { pod } = await inject('sidecar-resources');
      expect(sidecarOf(pod).resources).toEqual({ requests: { cpu: '500m', memory: '2Gi' }, limits: { cpu: '2', memory: '2Gi' } });
      expect(sidecarConfig(pod)).toMatchObject({ cacheSize: '50Gi', cacheMemory: '1Gi' });
      expect(pod.spec.affinity).toBeUndefined();
    });

    it('memory-cache-only: hands the sidecar a disk cache of 0 and mounts no node cache, with no placement hints (plain-pod, the same Dataset, gets both)', async () => {
      const { pod } = await inject('memory-cache-only');
      assertValidPod(pod);
      expect(sidecarConfig(pod)).toMatchObject({ cacheSize: '0' });
      expect({
        hostPaths: (pod.spec.volumes ?? []).filter((v) => v.hostPath),
        sidecarMounts: (sidecarOf(pod).volumeMounts ?? []).map((m) => m.name),
        affinity: pod.spec.affinity,
      }).toEqual({ hostPaths: [], sidecarMounts: ['datamount-imagenet'], affinity: undefined });
    });

    it('endpoint-without-scheme: injects with https:// assumed and says so in a warning', async () => {
      const { pod, warnings } = await inject('endpoint-without-scheme');
      expect(sidecarConfig(pod).datasets[0]?.endpoint).toBe('https://s3.example.com');
      expect(warnings).toEqual([expect.stringContaining('spec.s3.endpoint "s3.example.com" has no scheme; using https://s3.example.com')]);
    });
  });

  describe('when the request is a dry run', () => {
    it('answers exactly as for the real request and touches nothing else', async () => {
      const catalog = testDeps().catalog;
      const before = JSON.stringify(catalog.cacheLocations());
      const real = await reviewPod(loadRequest('plain-pod'), testDeps({ catalog }));
      const dry = await reviewPod({ ...loadRequest('dry-run'), uid: loadRequest('plain-pod').uid }, testDeps({ catalog }));
      expect(dry.response).toEqual(real.response);
      expect(JSON.stringify(catalog.cacheLocations())).toBe(before);
    });
  });

  describe('when it reviews its own output again (reinvocation)', () => {
    it.each(['plain-pod', 'deployment-pod', 'init-containers', 'custom-paths', 'env-mode', 'env-only', 'datashim-labels', 'several-datasets', 'sidecar-resources', 'memory-cache-only'])(
      '%s: returns no patch',
      async (name) => {
        const { request, pod } = await inject(name);
        const again = await reviewPod(withPod(request, pod), testDeps());
        expect(again.response).toEqual({ uid: request.uid, allowed: true });
        expect(again.outcome).toBe('unchanged');
      },
    );

    it('keeps a variable the pod set itself under one of our names (mount-only dataset)', async () => {
      const request = loadRequest('plain-pod');
      const pod = structuredClone(request.object) as Pod;
      pod.spec.containers[0]!.env = [{ name: 'DATASET_IMAGENET_BUCKET', value: 'my-own' }];
      const first = await reviewPod(withPod(request, pod), testDeps());
      const injected = patchedPod(pod, first.response);
      const again = await reviewPod(withPod(request, injected), testDeps());
      expect(again.response.patch).toBeUndefined();
      expect(envOf(injected, 'train')).toEqual({ DATASET_IMAGENET_BUCKET: 'my-own' });
    });

    it('returns no patch even when the cache report changed since the first review', async () => {
      const { request, pod } = await inject('plain-pod');
      const catalog = testDeps().catalog as MemoryCatalog;
      catalog.setCacheLocations({ 'node-z': '{"updated":"2026-11-29T05:04:00Z","datasets":{"ml/imagenet":{"bytes":99999999999}}}' });
      const again = await reviewPod(withPod(request, pod), testDeps({ catalog }));
      expect(patchOf(again.response)).toEqual([]);
    });
  });

  describe('when another webhook changed the injected pod in between', () => {
    it('mounts into a container added after the injection, without a second sidecar', async () => {
      const { request, pod } = await inject('plain-pod');
      pod.spec.containers.push({ name: 'istio-proxy', image: 'istio/proxyv2:1.22' });
      const repaired = patchedPod(pod, (await reviewPod(withPod(request, pod), testDeps())).response);
      assertValidPod(repaired);
      expect(mountOf(repaired, 'istio-proxy', '/mnt/datasets/imagenet')).toBeDefined();
      expect([...(repaired.spec.initContainers ?? []), ...repaired.spec.containers].filter((c) => c.name === SIDECAR)).toHaveLength(1);
    });

    it('puts back a removed dataset volume and moves the sidecar back to the front', async () => {
      const { request, pod } = await inject('init-containers');
      pod.spec.volumes = pod.spec.volumes?.filter((v) => v.name !== 'datamount-imagenet');
      pod.spec.initContainers = [{ name: 'vault-agent-init', image: 'vault:1.15' }, ...(pod.spec.initContainers ?? [])];
      const result = await reviewPod(withPod(request, pod), testDeps());
      expect(result.outcome).toBe('repaired');
      const repaired = patchedPod(pod, result.response);
      assertValidPod(repaired);
      expect(repaired.spec.initContainers?.map((c) => c.name)).toEqual([SIDECAR, 'vault-agent-init', 'prepare']);
      expect(repaired.spec.volumes).toContainEqual({ name: 'datamount-imagenet', emptyDir: {} });
      expect((await reviewPod(withPod(request, repaired), testDeps())).outcome).toBe('unchanged');
    });

    it('keeps what another webhook added to the sidecar and restores what it changed of ours', async () => {
      const { request, pod } = await inject('plain-pod');
      const sidecar = sidecarOf(pod);
      sidecar.env = [...(sidecar.env ?? []), { name: 'HTTPS_PROXY', value: 'http://proxy:3128' }];
      sidecar.image = 'registry.example.com/mirror/sidecar:0.1.0';
      const repaired = patchedPod(pod, (await reviewPod(withPod(request, pod), testDeps())).response);
      expect(sidecarOf(repaired).image).toBe('ghcr.io/datamount/sidecar:0.1.0');
      expect(envOf(repaired, SIDECAR)).toHaveProperty('HTTPS_PROXY', 'http://proxy:3128');
    });
  });

  describe('when the pod was injected under the old contract, with the whole node cache as one volume', () => {
    /** What the webhook injected before finding S1: one `datamount-cache` hostPath of the cache root, mounted at the root. */
    function oldStyle(pod: Pod): Pod {
      const old = structuredClone(pod);
      old.spec.volumes = [
        ...(old.spec.volumes ?? []).filter((v) => !v.name.startsWith('datamount-cache-')),
        { name: 'datamount-cache', hostPath: { path: '/var/lib/datamount/cache', type: 'DirectoryOrCreate' } },
      ];
      const sidecar = sidecarOf(old);
      sidecar.volumeMounts = [
        ...(sidecar.volumeMounts ?? []).filter((m) => !m.name.startsWith('datamount-cache-')),
        { name: 'datamount-cache', mountPath: '/var/lib/datamount/cache' },
      ];
      return old;
    }

    it.each(['plain-pod', 'several-datasets', 'custom-paths'])('%s: repairs it to one cache folder per dataset, which is then stable', async (name) => {
      const { request, pod } = await inject(name);
      const old = oldStyle(pod);
      const result = await reviewPod(withPod(request, old), testDeps());
      expect(result.outcome).toBe('repaired');
      const repaired = patchedPod(old, result.response);
      assertValidPod(repaired);
      expect(repaired).toEqual(pod);
      expect(repaired.spec.volumes?.some((v) => v.name === 'datamount-cache')).toBe(false);
      expect((await reviewPod(withPod(request, repaired), testDeps())).response).toEqual({ uid: request.uid, allowed: true });
    });

    it('refuses the old volume name on a pod that was not injected by datamount', async () => {
      const request = loadRequest('plain-pod');
      const pod = structuredClone(request.object) as Pod;
      pod.spec.volumes = [...(pod.spec.volumes ?? []), { name: 'datamount-cache', hostPath: { path: '/var/lib/datamount/cache' } }];
      const { response, outcome } = await reviewPod(withPod(request, pod), testDeps());
      expect(outcome).toBe('denied');
      expect(response.status?.message).toContain('spec.volumes holds a volume named "datamount-cache" but the pod was not injected by datamount');
    });
  });

  describe('when the pod has a mistake', () => {
    it.each<[string, string[]]>([
      ['error-unknown-dataset', ['annotation datamount.dev/datasets: Dataset "missing" does not exist in namespace ml']],
      ['error-other-namespace', ['Dataset "private" does not exist in namespace ml', 'only use Datasets of its own namespace']],
      ['error-bad-quantity', ['annotation datamount.dev/sidecar-memory-limit: "lots" is not accepted; expected a Kubernetes quantity', 'annotation datamount.dev/cache-size: "-1Gi" is not accepted']],
      ['error-relative-path', ['annotation datamount.dev/imagenet.mount-path: "data/imagenet" is not an absolute path']],
      ['error-clashing-path', ['annotation datamount.dev/imagenet.mount-path: "/scratch" clashes with volume "scratch" already mounted there in container "train"']],
      ['error-nested-paths', ['mount paths of Datasets "imagenet" (/mnt/datasets/imagenet) and "coco" (/mnt/datasets/imagenet/coco) clash in container "train"']],
      ['error-unknown-container', ['annotation datamount.dev/imagenet.containers: no container named "trainer"; the pod has "train"']],
      ['error-read-only-false', ['annotation datamount.dev/imagenet.read-only: "false" cannot widen Dataset "imagenet", which is ReadOnly']],
      ['error-datashim-inline', ['Dataset ml/inline-cos (datashim.io) holds inline credentials', 'spec.local.secret-name']],
      ['error-reserved-names', ['spec.initContainers holds a container named "datamount-sidecar" but the pod was not injected by datamount', 'spec.volumes holds a volume named "datamount-imagenet"', 'spec.volumes holds a volume named "datamount-cache-imagenet"']],
      ['error-invalid-name', ['annotation datamount.dev/datasets: "ImageNet_2012" is not a valid Dataset name; expected a DNS-1123 name']],
      ['error-bad-values', ['datamount.dev/imagenet.use-as: "volume" is not accepted; use mount, env or "mount,env"', 'datamount.dev/imagenet.read-only: "yes" is not accepted', 'datamount.dev/cache-affinity: "maybe" is not accepted; use preferred, required, none', 'unknown setting "mountpath"']],
      ['error-many-problems', ['(1) ', '(2) ', '(3) ', '"relative" is not an absolute path', 'sidecar-cpu-request: "fast"', 'Dataset "missing" does not exist']],
      ['error-datashim-labels', ['label dataset.x.id: "x" is not a dataset index', 'label dataset.0.useas: "nfs" is not accepted', 'label dataset.2.id: Dataset "legacy-cos" is already requested by dataset.1.id']],
      ['error-sidecar-port', ['container "train" uses port 9090, which the datamount sidecar needs']],
      ['error-env-clash', ['container "train" already defines DATASET_COCO_BUCKET']],
    ])('%s: denies with 400 and a message naming the problem', async (name, fragments) => {
      const request = loadRequest(name);
      const { response, outcome } = await reviewPod(request, testDeps());
      expect(outcome).toBe('denied');
      expect(response).toMatchObject({ uid: request.uid, allowed: false, status: { code: 400, reason: 'BadRequest' } });
      expect(response.patch).toBeUndefined();
      for (const fragment of fragments) expect(response.status?.message).toContain(fragment);
    });

    it('denies two Datasets whose volume names would be the same after shortening, naming both', async () => {
      const catalog = fixtureCatalog();
      // "a-b-<hash of a.b>" is a valid Dataset name equal to the hashed volume stem of "a.b".
      const lookalike = datasetVolumeName('a.b').slice('datamount-'.length);
      for (const name of ['a.b', lookalike]) {
        catalog.upsert({ apiVersion: 'datamount.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: 'ml' }, spec: { s3: { endpoint: 'https://s3.example.com', bucket: 'shared-data' } } });
      }
      const request = loadRequest('plain-pod');
      const pod = structuredClone(request.object) as Pod;
      pod.metadata = { ...pod.metadata, annotations: { 'datamount.dev/datasets': `a.b, ${lookalike}` } };
      const { response, outcome } = await reviewPod(withPod(request, pod), testDeps({ catalog }));
      expect(outcome).toBe('denied');
      expect(response.status?.message).toContain(`Datasets "a.b" and "${lookalike}" would share the volume name "${datasetVolumeName('a.b')}"`);
    });

    it('names every problem of the pod in one message', async () => {
      const { response } = await reviewPod(loadRequest('error-many-problems'), testDeps());
      expect(response.status?.message?.match(/\(\d+\) /g)).toHaveLength(3);
    });

    it('denies a body whose object is not a Pod, naming the field', async () => {
      const request = loadRequest('plain-pod');
      const { response } = await reviewPod(withPod(request, { metadata: { annotations: { a: 1 } }, spec: { containers: [{ image: 'x' }] } }), testDeps());
      expect(response.status?.code).toBe(400);
      expect(response.status?.message).toContain('metadata.annotations must map strings to strings');
      expect(response.status?.message).toContain('spec.containers[0].name must be a string');
    });
  });

  describe('when there is nothing to do', () => {
    it.each(['skip-no-datasets', 'skip-opted-out', 'skip-update', 'skip-binding'])('%s: allows without a patch', async (name) => {
      const request = loadRequest(name);
      const result = await reviewPod(request, testDeps());
      expect(result.response).toEqual({ uid: request.uid, allowed: true });
      expect(result.outcome).toBe('skipped');
    });
  });

  describe('when the catalog cannot answer', () => {
    it('refuses with 503 and says to retry, instead of guessing', async () => {
      const catalog = new MemoryCatalog();
      catalog.getDataset = () => Promise.reject(new DatamountError(ERRORS.CATALOG_UNAVAILABLE, 'GET timed out'));
      const { response, outcome } = await reviewPod(loadRequest('plain-pod'), testDeps({ catalog }));
      expect(outcome).toBe('unavailable');
      expect(response).toMatchObject({ allowed: false, status: { code: 503 } });
      expect(response.status?.message).toContain('retry');
    });
  });
});

describe('reviewPod on generated pods', () => {
  const rare = <T,>(common: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) => fc.oneof({ arbitrary: common, weight: 6 }, { arbitrary: odd, weight: 1 });
  const key = fc.constantFrom(
    'datamount.dev/imagenet.mount-path', 'datamount.dev/imagenet.containers', 'datamount.dev/coco.read-only', 'datamount.dev/coco.use-as',
    'datamount.dev/cache-size', 'datamount.dev/sidecar-cpu-limit', 'datamount.dev/cache-affinity', 'datamount.dev/inject', 'datamount.dev/x.y.z', 'constructor',
  );
  const value = fc.oneof(
    fc.constantFrom('/data/x', 'train', 'true', 'false', 'env', 'mount,env', '10Gi', 'required', 'none', ''),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
  );
  const datasets = rare(fc.constantFrom('imagenet', 'imagenet, coco', 'coco', 'public-weights, imagenet', 'legacy-cos'), fc.constantFrom('private', 'missing', 'noscheme', 'Bad_Name', ''));
  const annotations = fc.tuple(fc.option(datasets, { freq: 4, nil: undefined }), fc.dictionary(key, value, { maxKeys: 2 }), fc.boolean())
    .map(([list, extra, withExtra]) => ({ ...(list === undefined ? {} : { 'datamount.dev/datasets': list }), ...(withExtra ? extra : {}) }));
  const name = rare(fc.constantFrom('train', 'eval', 'prepare', 'side'), fc.constant('datamount-sidecar'));
  const container = fc.record({
    name,
    image: fc.constant('img'),
    env: fc.option(fc.array(fc.record({ name: rare(fc.constant('A'), fc.constantFrom('DATASET_COCO_BUCKET', 'coco_bucket')), value: fc.string({ maxLength: 3 }) }), { maxLength: 2 }), { nil: undefined }),
    volumeMounts: fc.option(fc.array(fc.record({ name: rare(fc.constant('v'), fc.constant('datamount-imagenet')), mountPath: rare(fc.constant('/v'), fc.constant('/mnt/datasets/imagenet')) }), { maxLength: 1 }), { nil: undefined }),
    ports: fc.option(fc.array(fc.record({ containerPort: rare(fc.constant(80), fc.constant(9090)) }), { maxLength: 1 }), { nil: undefined }),
  }, { requiredKeys: ['name', 'image'] });
  const pod = fc.record({
    annotations,
    labels: fc.dictionary(rare(fc.constant('app'), fc.constantFrom('dataset.0.id', 'dataset.0.useas', 'datamount.dev/injected')), fc.constantFrom('legacy-cos', 'mount', 'configmap', 'true', 'x'), { maxKeys: 2 }),
    containers: fc.uniqueArray(container, { minLength: 1, maxLength: 3, selector: (c) => c.name }),
    initContainers: fc.option(fc.uniqueArray(container, { maxLength: 2, selector: (c) => c.name }), { nil: undefined }),
    volumes: fc.option(fc.array(fc.record({ name: rare(fc.constant('v'), fc.constantFrom('datamount-cache', 'datamount-cache-imagenet')), emptyDir: fc.constant({}) }), { maxLength: 1 }), { nil: undefined }),
  });

  it('always answers with the request uid; every patch applies, yields a schema-valid pod and is stable on reinvocation', async () => {
    const request = loadRequest('plain-pod');
    const deps = testDeps();
    const outcomes: Record<string, number> = {};
    await fc.assert(fc.asyncProperty(pod, async (p) => {
      const object: Pod = {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: 'p', annotations: p.annotations, labels: p.labels },
        spec: { containers: p.containers, ...(p.initContainers ? { initContainers: p.initContainers } : {}), ...(p.volumes ? { volumes: p.volumes } : {}) },
      };
      const { response, outcome } = await reviewPod(withPod(request, object), deps);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      expect(response.uid).toBe(request.uid);
      if (!response.allowed) {
        expect(response.status?.message).toBeTruthy();
        return;
      }
      if (!response.patch) return;
      const patched = patchedPod(object, response);
      expect(validatePod(patched)).toEqual([]);
      const again = await reviewPod(withPod(request, patched), deps);
      expect(again.response).toEqual({ uid: request.uid, allowed: true, ...(again.response.warnings ? { warnings: again.response.warnings } : {}) });
    }), { numRuns: 300 });
    // The generator must reach every branch, or the property proves little.
    expect(Math.min(outcomes.injected ?? 0, outcomes.denied ?? 0, outcomes.skipped ?? 0)).toBeGreaterThan(10);
    expect(outcomes.unavailable).toBeUndefined();
  });
});
