/**
 * Uploads the sample dataset with bounded concurrency (small files several at a time, each
 * object streamed, never held whole in memory) and reports progress as it goes. Returns the
 * sha256 of every object, computed from the same stream that was uploaded, for checking what
 * the pod reads.
 */
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { putObject } from './anonymous-s3';
import { objectStream, type SampleDatasetSpec, type SampleObject } from './sample-dataset';

export interface UploadProgress {
  objects: number;
  bytes: number;
}

export interface UploadTarget {
  endpoint: string;
  bucket: string;
}

export async function uploadSampleDataset(
  spec: SampleDatasetSpec,
  objects: readonly SampleObject[],
  target: UploadTarget,
  onProgress: (done: UploadProgress) => void,
  concurrency = 8,
): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  const done: UploadProgress = { objects: 0, bytes: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < objects.length) {
      const object = objects[next++];
      if (!object) break;
      const hash = createHash('sha256');
      const tee = new PassThrough();
      tee.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        done.bytes += chunk.length;
      });
      const source = objectStream(spec, object);
      source.on('error', (err) => tee.destroy(err));
      source.pipe(tee);
      await putObject(target.endpoint, target.bucket, object.key, object.size, tee);
      sums.set(object.key, hash.digest('hex'));
      done.objects++;
      onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return sums;
}
