/**
 * A Job's pod with an injected native sidecar must end like a Job's pod: with the app's exit
 * code, and with the sidecar stopped — nothing of it left running or mounted.
 */
import { containerResult } from '../support/pod-runner';
import { fuseMountsUnder } from '../support/fuse-cleanup';
import { fixturePod, podLogs, startLocalCluster, type LocalCluster } from './local-cluster';
import { isAlive } from '../support/process-alive';

let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await startLocalCluster();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('a Job-style pod with a dataset', () => {
  describe('when its app container exits 3', () => {
    it('fails with exit code 3 and the sidecar stopped cleanly, nothing left behind', async () => {
      const { pod } = await cluster.admit(fixturePod('job-pod.yaml'));
      expect(pod.metadata?.name).toMatch(/^imagenet-count-/);
      const node = await cluster.newNode();

      const result = await cluster.run(pod, node);

      expect({ phase: result.phase, reason: result.reason, logs: result.reason === 'Error' ? '' : podLogs(result) }).toEqual({ phase: 'Failed', reason: 'Error', logs: '' });
      const app = containerResult(result, 'count');
      expect(app.exitCode).toBe(3);
      expect(Number(app.stdout.trim())).toBe(cluster.bucketSums.size);
      const sidecar = containerResult(result, 'datamount-sidecar');
      expect(sidecar).toMatchObject({ kind: 'sidecar', exitCode: 0 });
      expect(sidecar.finishedAt?.getTime()).toBeGreaterThanOrEqual(app.finishedAt?.getTime() ?? Infinity);
      expect(isAlive(sidecar.pid)).toBe(false);
      expect(await fuseMountsUnder(node)).toEqual([]);
      expect(result.leftoverMounts).toEqual([]);
    });
  });
});
