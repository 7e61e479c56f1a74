/**
 * One bucket on a real s3rver and read-only `mount` sidecars (child processes) over it, for
 * integration tests that count what a mount asks of S3. Started in a `beforeAll`, stopped in the
 * `afterAll`: sidecars killed, mounts forced off, server stopped, work folder removed.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { forceUnmountAll } from '../support/fuse-cleanup';
import { startS3Server, type S3Server } from '../support/s3-server';
import { childEnv, ensureBuilt, startSidecar, type SidecarProcess } from './sidecar-process';

export interface BucketMounts {
  readonly s3: S3Server;
  /** Mount the bucket read-only at `<work>/<name>`, metadata trusted 60 s, plus `extra` options. */
  mount(name: string, extra: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Start a server holding `bucket` with `objects` put in order (key, body). */
export async function startBucketMounts(bucket: string, objects: Iterable<readonly [string, Buffer]>): Promise<BucketMounts> {
  await ensureBuilt();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `${bucket}-it-`));
  const running: SidecarProcess[] = [];
  let s3: S3Server | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await forceUnmountAll(work);
    await s3?.stop();
    await fs.rm(work, { recursive: true, force: true });
  };
  try {
    s3 = await startS3Server({ buckets: [bucket] });
    const client = new S3Client({
      endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      for (const [key, body] of objects) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    } finally {
      client.destroy();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const server = s3;
  return {
    s3: server,
    async mount(name, extra) {
      const dir = path.join(work, name);
      await fs.mkdir(dir, { recursive: true });
      running.push(await startSidecar(
        ['mount', `s3://${bucket}`, dir, '--endpoint', server.endpoint, '--read-only', '--metadata-ttl', '60', ...extra],
        childEnv({ AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey }),
      ));
      return dir;
    },
    stop,
  };
}
