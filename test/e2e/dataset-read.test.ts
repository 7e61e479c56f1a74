/**
 * The whole path: AdmissionReview → the real webhook over HTTPS → JSON patch → the stored pod
 * (schema-checked) → the pod runner → the sidecar mounts the bucket with FUSE → the app reads
 * every file. Then the node cache: a second pod on the same node reads without fetching data
 * from S3, while a pod on another node does fetch it.
 */
import { containerResult } from '../support/pod-runner';
import { validatePod } from '../support/k8s-schema';
import { dataGets, expectSucceeded, expectedSums, fixturePod, parseSums, startLocalCluster, type LocalCluster } from './local-cluster';

let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await startLocalCluster();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('an injected pod that reads its dataset', () => {
  let nodeA: string;

  beforeAll(async () => {
    nodeA = await cluster.newNode();
  });

  describe('when it is the first pod on its node', () => {
    it('gets a valid pod from the webhook and reads every file with the bucket\'s bytes', async () => {
      const { pod, patch } = await cluster.admit(fixturePod('reader-pod.yaml'));
      expect(patch.length).toBeGreaterThan(0);
      expect(validatePod(pod)).toEqual([]);
      cluster.s3.resetRequests();

      const result = await cluster.run(pod, nodeA);

      expectSucceeded(result);
      expect(parseSums(containerResult(result, 'reader').stdout)).toEqual(expectedSums(cluster));
      await cluster.s3.settle();
      expect(dataGets(cluster)).toBeGreaterThan(0);
      expect(result.leftoverMounts).toEqual([]);
    });
  });

  describe('when a second pod runs on the same node', () => {
    it('reads the same bytes with every block served from the node cache', async () => {
      const { pod } = await cluster.admit({ ...fixturePod('reader-pod.yaml'), metadata: { ...fixturePod('reader-pod.yaml').metadata, name: 'imagenet-reader-2' } });
      cluster.s3.resetRequests();

      const result = await cluster.run(pod, nodeA);

      expectSucceeded(result);
      expect(parseSums(containerResult(result, 'reader').stdout)).toEqual(expectedSums(cluster));
      await cluster.s3.settle();
      expect(dataGets(cluster)).toBe(0);
    });
  });

  describe('when a pod runs on another node', () => {
    it('fetches the data from S3 again (the cache is per node)', async () => {
      const { pod } = await cluster.admit(fixturePod('reader-pod.yaml'));
      cluster.s3.resetRequests();

      const result = await cluster.run(pod, await cluster.newNode());

      expectSucceeded(result);
      await cluster.s3.settle();
      expect(dataGets(cluster)).toBeGreaterThan(0);
    });
  });
});
