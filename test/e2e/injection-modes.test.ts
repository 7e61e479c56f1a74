/**
 * The other ways a pod meets a dataset, run for real: as environment variables (`use-as: env`),
 * read-only (writes refused by the file system), and through Datashim's labels.
 */
import { containerResult } from '../support/pod-runner';
import { BUCKET, E2E_SAMPLE, expectSucceeded, expectedSums, fixturePod, parseSums, startLocalCluster, type LocalCluster } from './local-cluster';

let cluster: LocalCluster;
let node: string;

beforeAll(async () => {
  cluster = await startLocalCluster();
  node = await cluster.newNode();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('a pod asking for a dataset', () => {
  describe('when it asks for it as environment variables', () => {
    it('sees DATASET_IMAGENET_* with the credentials resolved from the Secret', async () => {
      const { pod } = await cluster.admit(fixturePod('env-pod.yaml'));

      const result = await cluster.run(pod, node);

      expectSucceeded(result);
      const lines = containerResult(result, 'app').stdout.split('\n');
      expect(lines).toEqual(expect.arrayContaining([
        'DATASET_IMAGENET_ACCESS_KEY_ID=S3RVER',
        `DATASET_IMAGENET_BUCKET=${BUCKET}`,
        `DATASET_IMAGENET_ENDPOINT=${cluster.s3.endpoint}`,
        `DATASET_IMAGENET_PREFIX=${E2E_SAMPLE.prefix}`,
        'DATASET_IMAGENET_SECRET_ACCESS_KEY=S3RVER',
      ]));
    });
  });

  describe('when the Dataset is ReadOnly', () => {
    it('reads, and every write is refused with "Read-only file system"', async () => {
      const { pod } = await cluster.admit(fixturePod('write-pod.yaml'));

      const result = await cluster.run(pod, node);

      expectSucceeded(result);
      const writer = containerResult(result, 'writer');
      expect(writer.stdout.split('\n')).toEqual(['read-ok', 'create-refused', 'append-refused', 'mkdir-refused', 'unlink-refused', '']);
      expect(writer.stderr.match(/Read-only file system/g)?.length).toBe(4);
    });
  });

  describe('when it names the dataset with Datashim labels', () => {
    it('reads the Datashim Dataset at /mnt/datasets/<id> with the same bytes', async () => {
      const { pod } = await cluster.admit(fixturePod('datashim-pod.yaml'));

      const result = await cluster.run(pod, node);

      expectSucceeded(result);
      expect(parseSums(containerResult(result, 'reader').stdout)).toEqual(expectedSums(cluster));
    });
  });
});
