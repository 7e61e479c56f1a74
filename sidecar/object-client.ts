/**
 * The object-store port: everything the file system needs from S3, and nothing more. One real
 * implementation (`s3-object-client.ts`, the only file that knows the AWS SDK) and one in memory
 * (`memory-object-client.ts`, for unit tests), as mountpoint-s3 does with its `ObjectClient`.
 *
 * A client is bound to one bucket. Failures are `ObjectClientError`s whose `kind` is all the file
 * system needs to choose an errno (see `errno.ts`); the SDK's error stays in `cause` for the log.
 */
import { createHash } from 'node:crypto';

/** What a listing or a HEAD says about one object. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** The ETag exactly as the server sent it, quotes included; it names one version of the bytes. */
  readonly etag: string;
  readonly lastModified: Date;
}

/** One page of ListObjectsV2. */
export interface ListPage {
  readonly objects: ObjectInfo[];
  /** Common prefixes (with their trailing delimiter) when a delimiter was given. */
  readonly prefixes: string[];
  /** Continuation token of the next page; undefined on the last page. */
  readonly nextToken?: string;
}

export interface ListRequest {
  readonly prefix: string;
  readonly delimiter?: string;
  readonly token?: string;
  readonly maxKeys?: number;
}

/** A byte range: `offset` and `length` (never a suffix range, which some servers get wrong). */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface RangeResult {
  /**
   * Exactly the requested bytes (shorter only when the object ends first); empty when they were
   * handed out in `parts` instead.
   */
  readonly data: Buffer;
  /** Bytes received, whether in `data` or in parts. */
  readonly length: number;
  readonly etag: string;
}

/**
 * Receives the body of a ranged GET in parts of `size` bytes (the last may be shorter), each in
 * a buffer of its own as soon as it is complete, so a cache can keep one block without pinning
 * the whole response and a reader waiting for the first block of a large range gets it early.
 */
export interface RangeParts {
  readonly size: number;
  /** `index` counts from 0 at the range's start; after a retry the parts start over from 0. */
  onPart(index: number, part: Buffer): void;
  /** Where a part is received (`size` bytes, or fewer for the last); default: new memory. */
  allocate?(size: number): Buffer;
}

export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
}

export interface ObjectClient {
  readonly bucket: string;
  list(request: ListRequest): Promise<ListPage>;
  head(key: string): Promise<ObjectInfo>;
  /**
   * A ranged GET; with `ifMatch` the server refuses (PreconditionFailed) when the object changed.
   * With `parts`, the bytes are handed out in parts as they arrive (see `RangeParts`) and the
   * result's `data` is empty.
   */
  getRange(key: string, range: ByteRange, ifMatch?: string, parts?: RangeParts): Promise<RangeResult>;
  put(key: string, body: Buffer): Promise<{ etag: string }>;
  createMultipartUpload(key: string): Promise<string>;
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string>;
  completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }>;
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
  delete(key: string): Promise<void>;
  copy(sourceKey: string, destinationKey: string, ifMatch?: string): Promise<{ etag: string }>;
}

/**
 * Why a request failed, as far as the file system cares:
 * - `NotFound`: no such key (or bucket) → ENOENT
 * - `AccessDenied`: credentials refused → EACCES
 * - `PreconditionFailed`: If-Match failed, the object changed → ESTALE
 * - `Throttled`: 503 SlowDown / 429 after retries → EIO
 * - `Transient`: 5xx, reset, timeout after retries → EIO
 * - `Other`: anything else → EIO
 */
export type ObjectErrorKind = 'NotFound' | 'AccessDenied' | 'PreconditionFailed' | 'Throttled' | 'Transient' | 'Other';

export class ObjectClientError extends Error {
  constructor(
    readonly kind: ObjectErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ObjectClientError';
  }

  /** Whether trying the same request again may succeed. */
  get retryable(): boolean {
    return this.kind === 'Throttled' || this.kind === 'Transient';
  }
}

export function isObjectError(error: unknown, kind?: ObjectErrorKind): error is ObjectClientError {
  return error instanceof ObjectClientError && (kind === undefined || error.kind === kind);
}

/** S3's ETag of a completed multipart upload: MD5 of the parts' binary MD5s, then "-<parts>". */
export function multipartEtag(parts: readonly CompletedPart[]): string {
  const hash = createHash('md5');
  for (const part of parts) hash.update(Buffer.from(part.etag.replace(/"/g, ''), 'hex'));
  return `"${hash.digest('hex')}-${parts.length}"`;
}
