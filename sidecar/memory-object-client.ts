/**
 * An in-memory `ObjectClient` with S3's semantics where the file system depends on them
 * (lexicographic byte order, delimiter listings with pagination, If-Match on GET, multipart
 * objects that appear only on completion). It counts calls so tests can assert what reached
 * "S3", and `beforeRequest` lets a test delay or fail any request.
 */
import { createHash } from 'node:crypto';
import {
  multipartEtag,
  ObjectClientError,
  type ByteRange,
  type CompletedPart,
  type ListPage,
  type ListRequest,
  type ObjectClient,
  type ObjectInfo,
  type RangeParts,
  type RangeResult,
} from './object-client';

interface StoredObject {
  data: Buffer;
  etag: string;
  lastModified: Date;
}

export type MemoryOperation =
  | 'list' | 'head' | 'getRange' | 'put' | 'createMultipartUpload' | 'uploadPart'
  | 'completeMultipartUpload' | 'abortMultipartUpload' | 'delete' | 'copy';

export interface MemoryRequest {
  readonly operation: MemoryOperation;
  readonly key: string;
  readonly range?: ByteRange;
}

export class MemoryObjectClient implements ObjectClient {
  readonly requests: MemoryRequest[] = [];
  /** Called before every request; may await (to hold requests) or throw (to fail them). */
  beforeRequest: ((request: MemoryRequest) => Promise<void> | void) | undefined;
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, { key: string; parts: Map<number, Buffer> }>();
  private uploadCounter = 0;

  constructor(readonly bucket = 'memory-bucket') {}

  /** Store an object directly (no request counted), as a test fixture. */
  seed(key: string, data: Buffer | string, lastModified = new Date('2026-01-01T00:00:00Z')): ObjectInfo {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const stored = { data: bytes, etag: etagOf(bytes), lastModified };
    this.objects.set(key, stored);
    return { key, size: bytes.length, etag: stored.etag, lastModified };
  }

  contents(key: string): Buffer | undefined {
    return this.objects.get(key)?.data;
  }

  keys(): string[] {
    return [...this.objects.keys()].sort(compareKeys);
  }

  count(operation: MemoryOperation, key?: string): number {
    return this.requests.filter((r) => r.operation === operation && (key === undefined || r.key === key)).length;
  }

  async list(request: ListRequest): Promise<ListPage> {
    await this.enter({ operation: 'list', key: request.prefix });
    const maxKeys = request.maxKeys ?? 1000;
    const entries: Array<{ name: string; object?: ObjectInfo }> = [];
    const seenPrefixes = new Set<string>();
    for (const key of this.keys()) {
      if (!key.startsWith(request.prefix)) continue;
      const rest = key.slice(request.prefix.length);
      const cut = request.delimiter ? rest.indexOf(request.delimiter) : -1;
      if (cut >= 0 && request.delimiter) {
        const prefix = request.prefix + rest.slice(0, cut + request.delimiter.length);
        if (!seenPrefixes.has(prefix)) {
          seenPrefixes.add(prefix);
          entries.push({ name: prefix });
        }
      } else {
        const stored = this.objects.get(key);
        if (stored) entries.push({ name: key, object: info(key, stored) });
      }
    }
    const start = request.token === undefined ? 0 : entries.findIndex((e) => compareKeys(e.name, request.token ?? '') > 0);
    const page = start < 0 ? [] : entries.slice(start, start + maxKeys);
    const last = page[page.length - 1];
    const more = start >= 0 && start + maxKeys < entries.length;
    return {
      objects: page.flatMap((e) => (e.object ? [e.object] : [])),
      prefixes: page.flatMap((e) => (e.object ? [] : [e.name])),
      nextToken: more && last ? last.name : undefined,
    };
  }

  async head(key: string): Promise<ObjectInfo> {
    await this.enter({ operation: 'head', key });
    return info(key, this.find(key));
  }

  async getRange(key: string, range: ByteRange, ifMatch?: string, parts?: RangeParts): Promise<RangeResult> {
    await this.enter({ operation: 'getRange', key, range });
    const stored = this.find(key);
    if (ifMatch !== undefined && ifMatch !== stored.etag) {
      throw new ObjectClientError('PreconditionFailed', `${key}: ETag is ${stored.etag}, wanted ${ifMatch}`);
    }
    if (range.offset >= stored.data.length) throw new ObjectClientError('Other', `${key}: range not satisfiable`);
    const data = Buffer.from(stored.data.subarray(range.offset, range.offset + range.length));
    if (!parts) return { data, length: data.length, etag: stored.etag };
    // Each part in a buffer of its own, as the S3 client hands them out.
    for (let index = 0; index * parts.size < data.length; index++) {
      const bytes = data.subarray(index * parts.size, (index + 1) * parts.size);
      const part = parts.allocate ? parts.allocate(bytes.length) : Buffer.allocUnsafe(bytes.length);
      bytes.copy(part);
      parts.onPart(index, part);
    }
    return { data: Buffer.alloc(0), length: data.length, etag: stored.etag };
  }

  async put(key: string, body: Buffer): Promise<{ etag: string }> {
    await this.enter({ operation: 'put', key });
    return { etag: this.seed(key, Buffer.from(body), new Date()).etag };
  }

  async createMultipartUpload(key: string): Promise<string> {
    await this.enter({ operation: 'createMultipartUpload', key });
    const id = `upload-${++this.uploadCounter}`;
    this.uploads.set(id, { key, parts: new Map() });
    return id;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    await this.enter({ operation: 'uploadPart', key });
    const upload = this.upload(key, uploadId);
    upload.parts.set(partNumber, Buffer.from(body));
    return etagOf(body);
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<{ etag: string }> {
    await this.enter({ operation: 'completeMultipartUpload', key });
    const upload = this.upload(key, uploadId);
    const chunks = parts.map((part) => {
      const data = upload.parts.get(part.partNumber);
      if (!data || etagOf(data) !== part.etag) throw new ObjectClientError('Other', `${key}: part ${part.partNumber} is not uploaded`);
      return data;
    });
    this.uploads.delete(uploadId);
    // Multipart ETags are not the MD5 of the object but of the parts' MD5s, as S3 computes them.
    const etag = multipartEtag(parts);
    this.objects.set(key, { data: Buffer.concat(chunks), etag, lastModified: new Date() });
    return { etag };
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.enter({ operation: 'abortMultipartUpload', key });
    this.uploads.delete(uploadId);
  }

  /** Uploads started and neither completed nor aborted. */
  get pendingUploads(): number {
    return this.uploads.size;
  }

  async delete(key: string): Promise<void> {
    await this.enter({ operation: 'delete', key });
    this.objects.delete(key);
  }

  async copy(sourceKey: string, destinationKey: string, ifMatch?: string): Promise<{ etag: string }> {
    await this.enter({ operation: 'copy', key: sourceKey });
    const stored = this.find(sourceKey);
    if (ifMatch !== undefined && ifMatch !== stored.etag) {
      throw new ObjectClientError('PreconditionFailed', `${sourceKey}: changed`);
    }
    return { etag: this.seed(destinationKey, stored.data, new Date()).etag };
  }

  private async enter(request: MemoryRequest): Promise<void> {
    this.requests.push(request);
    await this.beforeRequest?.(request);
  }

  private find(key: string): StoredObject {
    const stored = this.objects.get(key);
    if (!stored) throw new ObjectClientError('NotFound', `${key}: no such key`);
    return stored;
  }

  private upload(key: string, uploadId: string): { key: string; parts: Map<number, Buffer> } {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw new ObjectClientError('NotFound', `${key}: no such upload ${uploadId}`);
    return upload;
  }
}

function info(key: string, stored: StoredObject): ObjectInfo {
  return { key, size: stored.data.length, etag: stored.etag, lastModified: stored.lastModified };
}

function etagOf(data: Buffer): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

/** S3 orders keys by their UTF-8 bytes, not by UTF-16 code units. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
