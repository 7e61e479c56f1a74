/**
 * Just enough S3 to fill the demo's embedded s3rver: create a bucket and PUT objects with plain
 * unsigned HTTP (s3rver serves anonymous requests). The demo stays off the AWS SDK on purpose:
 * the one S3 client of the project is the sidecar's, and the demo is what checks it.
 */
import http from 'node:http';
import type { Readable } from 'node:stream';

export class S3RequestError extends Error {
  override readonly name = 'S3RequestError';
}

export async function createBucket(endpoint: string, bucket: string): Promise<void> {
  const status = await request(endpoint, 'PUT', `/${bucket}`, undefined, 0);
  // 409 BucketAlreadyOwnedByYou: the bucket is there, which is what we want.
  if (status !== 200 && status !== 409) throw new S3RequestError(`PUT /${bucket}: HTTP ${status}`);
}

export async function putObject(endpoint: string, bucket: string, key: string, size: number, body: Readable): Promise<void> {
  const status = await request(endpoint, 'PUT', `/${bucket}/${encodeKey(key)}`, body, size);
  if (status !== 200) throw new S3RequestError(`PUT ${bucket}/${key}: HTTP ${status}`);
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function request(endpoint: string, method: string, path: string, body: Readable | undefined, size: number): Promise<number> {
  const url = new URL(path, endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { 'content-length': String(size) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else {
      req.end();
    }
  });
}
