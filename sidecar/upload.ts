/**
 * One new version of an object being written through the mount. S3 objects are written whole,
 * so a file is written front to back: bytes are buffered into parts and sent as a multipart
 * upload while the writer goes on; closing the file completes the upload, and only then does
 * the object appear at its key — a failed or abandoned upload is aborted and never leaves a
 * partial object behind. Small files (under one part) are sent with one PUT on close.
 *
 * A write anywhere but at the end is refused (EOPNOTSUPP) rather than buffered to a temporary
 * file: the point of the mount is streaming at network speed with bounded memory, and a
 * silently spooled rewrite would hide a whole-object re-upload from the user.
 */
import { type CompletedPart, isObjectError, multipartEtag, type ObjectClient } from './object-client';
import { FsError } from './errno';

export interface UploadOptions {
  /** Bytes per part; S3 needs ≥ 5 MiB for all parts but the last. */
  readonly partSize: number;
  /** Parts sent at once; further writes wait (bounded memory: partSize × (this + 1)). */
  readonly maxParallelParts: number;
}

/**
 * 8 MiB parts, four in flight: 40 MiB of buffer per file being written at most, and S3's
 * 10,000-part limit allows objects up to 78 GiB.
 */
export const DEFAULT_UPLOAD: UploadOptions = { partSize: 8 * 1024 * 1024, maxParallelParts: 4 };
const MAX_PARTS = 10_000;

export class Upload {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private uploadId: Promise<string> | undefined;
  private readonly parts: Array<Promise<CompletedPart>> = [];
  private readonly running = new Set<Promise<CompletedPart>>();
  private failure: Error | undefined;
  private completion: Promise<{ etag: string }> | undefined;
  /** Bytes accepted so far (the file's size as the writer sees it). */
  written = 0;

  constructor(
    private readonly client: ObjectClient,
    readonly key: string,
    private readonly options: UploadOptions,
  ) {}

  get completed(): boolean {
    return this.completion !== undefined;
  }

  /** Append `data` (copied: the caller's buffer is reused by FUSE) at `offset`, which must be the end. */
  async write(data: Buffer, offset: number): Promise<number> {
    if (this.completion) throw new FsError('EOPNOTSUPP', `${this.key}: the file was already closed or synced; S3 objects cannot be appended to`);
    if (this.failure) throw this.failure;
    if (offset !== this.written) {
      throw new FsError('EOPNOTSUPP', `${this.key}: write at ${offset} but ${this.written} bytes written; only sequential writes are supported`);
    }
    this.buffered.push(Buffer.from(data));
    this.bufferedBytes += data.length;
    this.written += data.length;
    if (this.bufferedBytes >= this.options.partSize) await this.sendPart();
    return data.length;
  }

  /** Finish the object (once; later calls share the result). Aborts the upload on failure. */
  complete(): Promise<{ etag: string }> {
    this.completion ??= this.finish();
    return this.completion;
  }

  /** Give up: nothing appears at the key. */
  async abort(): Promise<void> {
    this.failure ??= new FsError('EIO', `${this.key}: upload abandoned`);
    this.completion ??= Promise.reject(this.failure);
    this.completion.catch(() => undefined);
    if (this.uploadId) {
      const id = await this.uploadId.catch(() => undefined);
      await Promise.allSettled(this.running);
      if (id) await this.client.abortMultipartUpload(this.key, id).catch(() => undefined);
    }
  }

  private async finish(): Promise<{ etag: string }> {
    if (this.failure) {
      await this.abort();
      throw this.failure;
    }
    if (!this.uploadId) {
      const body = Buffer.concat(this.buffered, this.bufferedBytes);
      this.buffered = [];
      return this.client.put(this.key, body);
    }
    try {
      if (this.bufferedBytes > 0) await this.sendPart();
      const parts = await Promise.all(this.parts);
      const id = await this.uploadId;
      try {
        return await this.client.completeMultipartUpload(this.key, id, parts);
      } catch (error) {
        const landed = await this.landedDespite(error, parts);
        if (landed) return landed;
        throw error;
      }
    } catch (error) {
      this.failure ??= asError(error);
      await this.abort();
      throw error;
    }
  }

  /**
   * A completion S3 performed but whose answer was lost (a reset, a timeout) is retried by the
   * client and then answered NoSuchUpload: the upload is gone because it succeeded. The object
   * at the key is ours only if its ETag is the multipart ETag of exactly our parts; otherwise
   * (someone else's object, or a server whose part ETags are not MD5s) the failure stands.
   */
  private async landedDespite(error: unknown, parts: CompletedPart[]): Promise<{ etag: string } | undefined> {
    if (!isObjectError(error, 'NotFound')) return undefined;
    const head = await this.client.head(this.key).catch(() => undefined);
    if (head && head.size === this.written && head.etag === multipartEtag(parts)) return { etag: head.etag };
    return undefined;
  }

  private async sendPart(): Promise<void> {
    if (this.parts.length >= MAX_PARTS) throw new FsError('EFBIG', `${this.key}: more than ${MAX_PARTS} parts of ${this.options.partSize} bytes`);
    const body = Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    this.uploadId ??= this.client.createMultipartUpload(this.key);
    const partNumber = this.parts.length + 1;
    const uploadId = this.uploadId;
    const part = (async () => {
      const etag = await this.client.uploadPart(this.key, await uploadId, partNumber, body);
      return { partNumber, etag };
    })();
    part.catch((error: unknown) => {
      this.failure ??= asError(error);
    });
    this.parts.push(part);
    this.running.add(part);
    void part.finally(() => this.running.delete(part)).catch(() => undefined);
    if (this.running.size >= this.options.maxParallelParts) {
      await Promise.race(this.running).catch(() => undefined);
    }
    if (this.failure) throw this.failure;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
