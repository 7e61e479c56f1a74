/**
 * Puts the benchmark's data set on the S3 server, straight (not through the latency proxy),
 * with bounded concurrency. A manifest object written last records what was uploaded; when it
 * matches, the upload is skipped, so a kept `.cache/bench-s3/` makes later runs start at once.
 */
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MiB, bigBlock, smallFileBody, smallKeys, treeKeys, type BenchDataset } from './bench-dataset';

const MANIFEST_KEY = 'bench-manifest.json';
/** Bumped whenever the layout changes, so an old data directory is filled again. */
const LAYOUT_VERSION = 2;
/**
 * Zero-byte directory markers for the prefixes that hold only sub-prefixes. s3rver's delimiter
 * listing finds a common prefix only through an object directly below it (its walk skips deeper
 * directories), so without these `small/` and `tree/` would be missing from the bucket's root
 * listing. Real S3 needs no markers; mounters all accept them (consoles create them too).
 */
const DIRECTORY_MARKERS = ['small/', 'tree/'];
const UPLOAD_CONCURRENCY = 16;

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function uploadedManifest(client: S3Client, bucket: string): Promise<string | undefined> {
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: MANIFEST_KEY }));
    return await answer.Body?.transformToString();
  } catch {
    return undefined;
  }
}

function bigObjectStream(totalBytes: number): Readable {
  let index = 0;
  return new Readable({
    read() {
      const offset = index * MiB;
      if (offset >= totalBytes) {
        this.push(null);
        return;
      }
      this.push(bigBlock(index, Math.min(MiB, totalBytes - offset)));
      index += 1;
    },
  });
}

/** Makes sure the bucket holds `data`; returns whether anything had to be uploaded. */
export async function ensureDataset(client: S3Client, data: BenchDataset, log: (line: string) => void): Promise<boolean> {
  const manifest = JSON.stringify({ layout: LAYOUT_VERSION, ...data });
  if ((await uploadedManifest(client, data.bucket)) === manifest) return false;
  try {
    await client.send(new CreateBucketCommand({ Bucket: data.bucket }));
  } catch (error) {
    if (!/BucketAlready/.test((error as Error).name)) throw error;
  }
  log(`uploading the data set to bucket ${data.bucket} (kept in the S3 data directory for later runs)`);
  const started = performance.now();
  await client.send(new PutObjectCommand({
    Bucket: data.bucket, Key: data.bigKey, Body: bigObjectStream(data.bigBytes), ContentLength: data.bigBytes,
  }));
  await forEachLimited(smallKeys(data), UPLOAD_CONCURRENCY, async (key) => {
    await client.send(new PutObjectCommand({ Bucket: data.bucket, Key: key, Body: smallFileBody(key, data.smallBytes) }));
  });
  await forEachLimited(treeKeys(data), UPLOAD_CONCURRENCY, async (key) => {
    await client.send(new PutObjectCommand({ Bucket: data.bucket, Key: key, Body: `${key}\n` }));
  });
  for (const marker of DIRECTORY_MARKERS) {
    await client.send(new PutObjectCommand({ Bucket: data.bucket, Key: marker, Body: '' }));
  }
  await client.send(new PutObjectCommand({ Bucket: data.bucket, Key: MANIFEST_KEY, Body: manifest }));
  log(`uploaded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return true;
}
