/**
 * The benchmark's one S3 client (the only bench file that imports the SDK): uploads the data
 * set straight to the server and measures the direct download through the proxy. Checksums
 * only when required, per the design's facts (s3rver stores aws-chunked trailers otherwise).
 */
import http from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';

/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export function benchS3Client(endpoint: string, maxSockets = 64): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: {
      httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
    },
  });
}
