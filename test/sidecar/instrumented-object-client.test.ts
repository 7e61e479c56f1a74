import { instrumentObjectClient } from '../../sidecar/instrumented-object-client';
import { MemoryObjectClient } from '../../sidecar/memory-object-client';
import { SidecarMetrics } from '../../sidecar/metrics';

describe('instrumented-object-client', () => {
  describe('when requests succeed and fail', () => {
    it('counts them by operation and outcome, times them and counts bytes read', async () => {
      const client = new MemoryObjectClient();
      client.seed('k', 'twelve bytes');
      const metrics = new SidecarMetrics();
      const instrumented = instrumentObjectClient(client, metrics, 'ns/ds');
      await instrumented.getRange('k', { offset: 0, length: 6 });
      await expect(instrumented.head('missing')).rejects.toMatchObject({ kind: 'NotFound' });
      expect(metrics.s3Requests.get({ dataset: 'ns/ds', operation: 'get', outcome: 'ok' })).toBe(1);
      expect(metrics.s3Requests.get({ dataset: 'ns/ds', operation: 'head', outcome: 'NotFound' })).toBe(1);
      expect(metrics.s3Bytes.get({ dataset: 'ns/ds' })).toBe(6);
      expect(metrics.render()).toMatch(/^datamount_s3_request_seconds_count\{dataset="ns\/ds",operation="get"\} 1$/m);
    });
  });
});
