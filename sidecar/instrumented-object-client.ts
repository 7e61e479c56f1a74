/**
 * An `ObjectClient` decorator counting requests, outcomes, latency and bytes per dataset into
 * the metrics, so the real client stays about S3 and the metrics stay about the mount.
 */
import { ObjectClientError, type ObjectClient } from './object-client';
import type { SidecarMetrics } from './metrics';

export function instrumentObjectClient(client: ObjectClient, metrics: SidecarMetrics, dataset: string): ObjectClient {
  const timed = <T>(operation: string, run: () => Promise<T>, bytes?: (value: T) => number): Promise<T> => {
    const started = process.hrtime.bigint();
    const finish = (outcome: string): void => {
      metrics.s3Requests.inc({ dataset, operation, outcome });
      metrics.s3Latency.observe({ dataset, operation }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    return run().then(
      (value) => {
        finish('ok');
        if (bytes) metrics.s3Bytes.inc({ dataset }, bytes(value));
        return value;
      },
      (error: unknown) => {
        finish(error instanceof ObjectClientError ? error.kind : 'Other');
        throw error;
      },
    );
  };
  return {
    bucket: client.bucket,
    list: (request) => timed('list', () => client.list(request)),
    head: (key) => timed('head', () => client.head(key)),
    getRange: (key, range, ifMatch, parts) => timed('get', () => client.getRange(key, range, ifMatch, parts), (r) => r.length),
    put: (key, body) => timed('put', () => client.put(key, body)),
    createMultipartUpload: (key) => timed('create_multipart', () => client.createMultipartUpload(key)),
    uploadPart: (key, id, n, body) => timed('upload_part', () => client.uploadPart(key, id, n, body)),
    completeMultipartUpload: (key, id, parts) => timed('complete_multipart', () => client.completeMultipartUpload(key, id, parts)),
    abortMultipartUpload: (key, id) => timed('abort_multipart', () => client.abortMultipartUpload(key, id)),
    delete: (key) => timed('delete', () => client.delete(key)),
    copy: (source, destination, ifMatch) => timed('copy', () => client.copy(source, destination, ifMatch)),
  };
}
