/** Handlers over an in-memory object client, as the sidecar builds them, for unit tests. */
import { buildDataset, type DatasetSpec } from '../../sidecar/dataset-mount';
import type { Handlers } from '../../sidecar/fs-handlers';
import { silentLogger } from '../../sidecar/logger';
import { MemoryObjectClient } from '../../sidecar/memory-object-client';
import { SidecarMetrics } from '../../sidecar/metrics';
import type { DiskCache } from '../../sidecar/disk-cache';
import { Errno, toErrno } from '../../sidecar/errno';

export const MiB = 1024 * 1024;

export interface TestMount {
  readonly client: MemoryObjectClient;
  readonly handlers: Handlers;
  readonly metrics: SidecarMetrics;
  readonly disk: DiskCache | undefined;
  /** Open, read [offset, offset+length), release: the bytes a reader gets. */
  readFile(path: string, offset?: number, length?: number): Promise<Buffer>;
}

export function testMount(overrides: Partial<DatasetSpec> = {}, client = new MemoryObjectClient('bucket')): TestMount {
  const spec: DatasetSpec = {
    name: 'test',
    endpoint: 'http://memory',
    bucket: client.bucket,
    prefix: '',
    forcePathStyle: true,
    readOnly: false,
    mountPoint: '/unused',
    cacheBytes: 0,
    memoryBytes: 64 * MiB,
    uid: 1000,
    gid: 2000,
    allowOther: false,
    metadataTtlMs: 60_000,
    ...overrides,
  };
  const metrics = new SidecarMetrics();
  const { handlers, disk } = buildDataset(spec, client, silentLogger, metrics);
  const readFile = async (path: string, offset = 0, length?: number): Promise<Buffer> => {
    const fd = await handlers.open(path, 0);
    try {
      const size = (await handlers.getattr(path)).size;
      return Buffer.concat(await handlers.read(path, fd, length ?? size, offset));
    } finally {
      await handlers.release(path, fd);
    }
  };
  return { client, handlers, metrics, disk, readFile };
}

/** Deterministic bytes whose value depends on the position, so misplaced bytes show. */
export function patterned(size: number, seed = 7): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + seed + (i >> 20)) & 0xff;
  return data;
}

/** The errno a promise rejects with (FsError/ObjectClientError mapped like the adapter does). */
export async function errnoOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const errno = toErrno(error, silentLogger, 'test', '/');
    return Object.entries(Errno).find(([, value]) => value === errno)?.[0] ?? String(errno);
  }
  throw new Error('expected the operation to fail');
}
