/**
 * The `ObjectClient` port over `@aws-sdk/client-s3` — the only file that imports the SDK.
 *
 * - Checksums: `WHEN_REQUIRED` both ways; the SDK's default aws-chunked uploads with trailers
 *   are stored verbatim by servers that do not understand them (design.md, known facts).
 * - Connections: a keep-alive agent with `maxSockets` at least the prefetch window, so parallel
 *   ranged GETs never queue behind each other or pay a TCP/TLS handshake each.
 * - Retries live here, once: throttling (429/503 SlowDown), 5xx, resets, truncated bodies and
 *   timeouts are retried with exponential backoff and full jitter; the SDK's own retry is off so
 *   attempts are not multiplied and a truncated body (which the SDK never retries) is covered.
 * - Credentials are passed in by the caller (config is read once elsewhere); none = anonymous,
 *   sent unsigned.
 * - Ranged GETs, the hot path, skip the SDK (s3-range-request.ts: signed here, same agents, same
 *   retries and error classes); every other call goes through it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  ObjectClientError,
  type ByteRange,
  type CompletedPart,
  type ListPage,
  type ListRequest,
  type ObjectClient,
  type ObjectErrorKind,
  type ObjectInfo,
  type RangeParts,
  type RangeResult,
} from './object-client';
import { UnframedResponseError } from './http-connection';
import { BodyTooLongError, PartWriter, readRangeBody, type RangeBody } from './range-body';
import { S3RangeRequester, type SigningCredentials } from './s3-range-request';

/** Static S3 credentials (the ranged-GET signer and the SDK take the same). */
export type S3Credentials = SigningCredentials;

export interface S3ClientOptions {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  /** Undefined = anonymous (unsigned requests). */
  readonly credentials?: S3Credentials;
  /** Sockets per host; keep ≥ the prefetcher's parallel requests. */
  readonly maxSockets?: number;
  /** Attempts per request, first included. */
  readonly maxAttempts?: number;
  /** Deadline of one attempt, body included. */
  readonly attemptTimeoutMs?: number;
  /** First backoff step; later steps double, each drawn uniformly from [0, step] (full jitter). */
  readonly backoffBaseMs?: number;
  readonly onRetry?: (error: ObjectClientError, attempt: number) => void;
}

const DEFAULT_MAX_SOCKETS = 64;
export const DEFAULT_MAX_ATTEMPTS = 4;
/**
 * 10 s covers an 8 MiB range at ~1 MB/s; a hung server fails the attempt instead of hanging the
 * reader. With 4 attempts and backoff, a read gives up (EIO) after about 42 s at worst.
 */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;
const DEFAULT_BACKOFF_BASE_MS = 100;
/** CopyObject and CompleteMultipartUpload work on the server for up to minutes on large objects. */
const SERVER_SIDE_TIMEOUT_MS = 300_000;
const BACKOFF_CAP_MS = 5_000;

export class S3ObjectClient implements ObjectClient {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly ranges: S3RangeRequester;
  private readonly maxAttempts: number;
  private readonly attemptTimeoutMs: number;
  private readonly backoffBaseMs: number;

  constructor(private readonly options: S3ClientOptions) {
    this.bucket = options.bucket;
    this.maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    this.backoffBaseMs = options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    const httpAgent = new http.Agent({ keepAlive: true, maxSockets });
    const httpsAgent = new https.Agent({ keepAlive: true, maxSockets });
    const region = options.region ?? 'us-east-1';
    const forcePathStyle = options.forcePathStyle ?? true;
    this.ranges = new S3RangeRequester({ endpoint: options.endpoint, bucket: options.bucket, region, forcePathStyle, credentials: options.credentials, httpAgent, httpsAgent, maxSockets });
    this.client = new S3Client({
      endpoint: options.endpoint,
      region,
      forcePathStyle,
      credentials: options.credentials ?? { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' },
      // Anonymous: send the request as it is, without an Authorization header.
      ...(options.credentials ? {} : { signer: { sign: async (request) => request } }),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: 5_000,
        httpAgent,
        httpsAgent,
      }),
    });
  }

  destroy(): void {
    this.client.destroy();
    this.ranges.close();
  }

  list(request: ListRequest): Promise<ListPage> {
    return this.attempt(`list ${request.prefix}`, async (abortSignal) => {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: request.prefix,
          Delimiter: request.delimiter,
          ContinuationToken: request.token,
          MaxKeys: request.maxKeys,
        }),
        { abortSignal },
      );
      return {
        objects: (out.Contents ?? []).flatMap((o) =>
          o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified ?? new Date(0) }],
        ),
        prefixes: (out.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix])),
        nextToken: out.IsTruncated ? out.NextContinuationToken : undefined,
      };
    });
  }

  head(key: string): Promise<ObjectInfo> {
    return this.attempt(`head ${key}`, async (abortSignal) => {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? '', lastModified: out.LastModified ?? new Date(0) };
    });
  }

  getRange(key: string, range: ByteRange, ifMatch?: string, parts?: RangeParts): Promise<RangeResult> {
    const end = range.offset + range.length - 1;
    return this.attempt(`get ${key} bytes=${range.offset}-${end}`, async (abortSignal) => {
      try {
        return await this.fetchRange(key, range, ifMatch, abortSignal, parts);
      } catch (error) {
        if (!(error instanceof UnframedResponseError)) throw error;
        return this.streamRange(key, range, ifMatch, abortSignal, parts);
      }
    });
  }

  /** A ranged GET on the requester's own connections, its body copied straight into parts. */
  private async fetchRange(key: string, range: ByteRange, ifMatch: string | undefined, abortSignal: AbortSignal, parts?: RangeParts): Promise<RangeResult> {
    let writer: PartWriter | undefined;
    let expected = 0;
    const out = await this.ranges.fetch(key, range, ifMatch, abortSignal, {
      onHead: (etag, length) => {
        checkAnswer(key, range, ifMatch, etag, length);
        expected = length;
        writer = parts ? new PartWriter(length, parts.size, (index, part) => parts.onPart(index, part), parts.allocate?.bind(parts)) : new PartWriter(length, length);
      },
      onBody: (data, start, stop) => {
        try {
          writer?.write(data, start, stop);
        } catch (error) {
          if (error instanceof BodyTooLongError) throw new ObjectClientError('Other', `${key}: ${error.message}`);
          throw error;
        }
      },
      // The socket reads straight into the block being filled: no copy.
      bodyRegion: (max) => writer?.region(max),
      onBodyWritten: (length) => writer?.commit(length),
    });
    if (expected === 0 && out.received === 0) return { data: Buffer.alloc(0), length: 0, etag: out.etag };
    const read = (writer as PartWriter).finish();
    // A chunked answer that broke off announces -1: short, whatever arrived.
    return rangeResult(key, read, expected, out.etag, parts !== undefined, out.length >= 0);
  }

  /** The same GET by node:http, for an answer `fetchRange` cannot frame. */
  private async streamRange(key: string, range: ByteRange, ifMatch: string | undefined, abortSignal: AbortSignal, parts?: RangeParts): Promise<RangeResult> {
    const out = await this.ranges.get(key, range, ifMatch, abortSignal);
    const body: Readable | undefined = out.body;
    const etag = out.etag;
    const expected = out.length;
    try {
      checkAnswer(key, range, ifMatch, etag, expected);
    } catch (error) {
      body?.destroy();
      throw error;
    }
    if (!body || expected === 0) {
      body?.resume();
      return { data: Buffer.alloc(0), length: 0, etag };
    }
    // The abort ends the request; make sure a body stalled mid-way is torn down too.
    const abort = (): void => void body.destroy();
    abortSignal.addEventListener('abort', abort, { once: true });
    try {
      const read = parts
        ? await readRangeBody(body, expected, parts.size, (index, part) => parts.onPart(index, part), parts.allocate?.bind(parts))
        : await readRangeBody(body, expected, expected);
      return rangeResult(key, read, expected, etag, parts !== undefined);
    } catch (error) {
      if (error instanceof BodyTooLongError) throw new ObjectClientError('Other', `${key}: ${error.message}`);
      throw error;
    } finally {
      abortSignal.removeEventListener('abort', abort);
    }
  }

  put(key: string, body: Buffer): Promise<{ etag: string }> {
    return this.attempt(`put ${key}`, async (abortSignal) => {
      const out = await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length }),
        { abortSignal },
      );
      return { etag: out.ETag ?? '' };
    });
  }

  createMultipartUpload(key: string): Promise<string> {
    return this.attempt(`create upload ${key}`, async (abortSignal) => {
      const out = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
      if (!out.UploadId) throw new ObjectClientError('Other', `${key}: server returned no UploadId`);
      return out.UploadId;
    });
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    return this.attempt(`upload part ${partNumber} of ${key}`, async (abortSignal) => {
      const out = await this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
        { abortSignal },
      );
      return out.ETag ?? '';
    });
  }

  completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }> {
    return this.attempt(`complete upload ${key}`, async (abortSignal) => {
      const out = await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
        { abortSignal },
      );
      return { etag: out.ETag ?? '' };
    }, Math.max(this.attemptTimeoutMs, SERVER_SIDE_TIMEOUT_MS));
  }

  abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    return this.attempt(`abort upload ${key}`, async (abortSignal) => {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), { abortSignal });
    });
  }

  delete(key: string): Promise<void> {
    return this.attempt(`delete ${key}`, async (abortSignal) => {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
    });
  }

  copy(sourceKey: string, destinationKey: string, ifMatch?: string): Promise<{ etag: string }> {
    return this.attempt(`copy ${sourceKey} to ${destinationKey}`, async (abortSignal) => {
      const out = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: destinationKey,
          CopySource: `${this.bucket}/${sourceKey.split('/').map(encodeURIComponent).join('/')}`,
          CopySourceIfMatch: ifMatch,
        }),
        { abortSignal },
      );
      return { etag: out.CopyObjectResult?.ETag ?? '' };
    }, Math.max(this.attemptTimeoutMs, SERVER_SIDE_TIMEOUT_MS));
  }

  /** Run one request with a per-attempt deadline, retrying what may succeed next time. */
  private async attempt<T>(what: string, run: (abortSignal: AbortSignal) => Promise<T>, timeoutMs = this.attemptTimeoutMs): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      try {
        return await run(controller.signal);
      } catch (raw) {
        const error = controller.signal.aborted
          ? new ObjectClientError('Transient', `${what}: no answer within ${timeoutMs} ms`, { cause: raw })
          : toObjectError(what, raw);
        if (!error.retryable || attempt >= this.maxAttempts) throw error;
        this.options.onRetry?.(error, attempt);
        const step = Math.min(BACKOFF_CAP_MS, this.backoffBaseMs * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * step));
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** A whole body as a RangeResult (empty `data` when it went out in parts); one that ended early is a Transient error. */
function rangeResult(key: string, read: RangeBody, expected: number, etag: string, inParts: boolean, complete = true): RangeResult {
  if (!complete || read.received !== expected) throw new ObjectClientError('Transient', `${key}: body ended after ${read.received} of ${expected} bytes`);
  return { data: inParts ? Buffer.alloc(0) : (read.parts[0] ?? Buffer.alloc(0)), length: read.received, etag };
}

/** A ranged GET's answer must be of the version asked for, and no longer than the range. */
function checkAnswer(key: string, range: ByteRange, ifMatch: string | undefined, etag: string, length: number): void {
  if (ifMatch !== undefined && etag !== ifMatch) throw new ObjectClientError('PreconditionFailed', `${key}: ETag is ${etag}, wanted ${ifMatch}`);
  if (length > range.length) throw new ObjectClientError('Other', `${key}: ${length} bytes announced for a range of ${range.length}`);
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Classify an SDK or network error by what the file system should do about it. */
export function toObjectError(what: string, raw: unknown): ObjectClientError {
  if (raw instanceof ObjectClientError) return raw;
  const error = raw as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = error?.$metadata?.httpStatusCode;
  const name = error?.name ?? '';
  const kind = classify(status, name, error?.code);
  return new ObjectClientError(kind, `${what}: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${error?.message ?? String(raw)}`, { cause: raw });
}

function classify(status: number | undefined, name: string, code: string | undefined): ObjectErrorKind {
  if (status === 404 || name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || name === 'NoSuchUpload') return 'NotFound';
  if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') return 'AccessDenied';
  if (status === 412 || name === 'PreconditionFailed') return 'PreconditionFailed';
  if (status === 429 || name === 'SlowDown' || name === 'Throttling' || name === 'ThrottlingException' || (status === 503 && name !== 'ServiceUnavailable')) return 'Throttled';
  if ((status !== undefined && status >= 500) || name === 'TimeoutError' || name === 'AbortError' || name === 'ServiceUnavailable') return 'Transient';
  if (code !== undefined && NETWORK_CODES.has(code)) return 'Transient';
  // Every answer from S3 has a status; an error without one never got an answer (reset, refused,
  // cut-off body), so another attempt may well succeed.
  if (status === undefined) return 'Transient';
  return 'Other';
}
