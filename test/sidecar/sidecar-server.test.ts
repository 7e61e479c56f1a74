import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { SidecarMetrics } from '../../sidecar/metrics';
import { createSidecarServer } from '../../sidecar/sidecar-server';

describe('sidecar-server', () => {
  let server: Server;
  let pending: string[];
  let base: string;
  const metrics = new SidecarMetrics();
  beforeAll(async () => {
    pending = ['ml/imagenet'];
    server = createSidecarServer({ pending: () => pending, failure: () => undefined }, metrics);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const get = async (path: string) => {
    const response = await fetch(base + path);
    return { status: response.status, body: await response.text() };
  };

  describe('when a dataset is not mounted yet', () => {
    it('answers /readyz 503 naming it, /healthz 200', async () => {
      expect(await get('/readyz')).toEqual({ status: 503, body: 'pending: ml/imagenet\n' });
      expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    });
  });

  describe('when every dataset is mounted', () => {
    it('answers /readyz 200', async () => {
      pending = [];
      expect(await get('/readyz')).toEqual({ status: 200, body: 'ready\n' });
    });
  });

  describe('when metrics are asked for', () => {
    it('renders the Prometheus text format with HELP and TYPE lines', async () => {
      metrics.cacheHits.inc({ dataset: 'ml/imagenet', tier: 'memory' }, 3);
      metrics.s3Latency.observe({ dataset: 'ml/imagenet', operation: 'get' }, 0.02);
      const { status, body } = await get('/metrics');
      expect(status).toBe(200);
      expect(body).toContain('# TYPE datamount_cache_hits_total counter');
      expect(body).toContain('datamount_cache_hits_total{dataset="ml/imagenet",tier="memory"} 3');
      expect(body).toContain('datamount_s3_request_seconds_bucket{dataset="ml/imagenet",operation="get",le="0.025"} 1');
      expect(body).toContain('datamount_s3_request_seconds_bucket{dataset="ml/imagenet",operation="get",le="0.01"} 0');
      expect(body).toContain('datamount_s3_request_seconds_count{dataset="ml/imagenet",operation="get"} 1');
    });
  });

  describe('when an unknown path is asked for', () => {
    it('answers 404', async () => {
      expect((await get('/secrets')).status).toBe(404);
    });
  });
});
