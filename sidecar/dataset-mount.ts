/**
 * One dataset, assembled: S3 client → metrics decorator → block cache (memory + disk) →
 * metadata cache and file tree → handlers → FUSE mount. Both `mount` and `run` build their
 * datasets here, so the two modes cannot drift apart.
 */
import { BlockCache, DEFAULT_BLOCK_SIZE, DEFAULT_MAX_REQUEST_BYTES } from './block-cache';
import { deriveBlockKeys } from './block-file';
import { DiskCache } from './disk-cache';
import { FileTree } from './file-tree';
import { createHandlers, type Handlers } from './fs-handlers';
import { DEFAULT_OP_TIMEOUT_MS, DEFAULT_READAHEAD_KIB, mountHandlers, type Mounted } from './fuse-adapter';
import { instrumentObjectClient } from './instrumented-object-client';
import type { Logger } from './logger';
import { MemoryCache } from './memory-cache';
import { MetadataCache } from './metadata-cache';
import type { SidecarMetrics } from './metrics';
import type { ObjectClient } from './object-client';
import { PathNames } from './path-names';
import { DEFAULT_PREFETCH, type PrefetchOptions } from './prefetcher';
import { S3ObjectClient, type S3Credentials } from './s3-object-client';
import { DEFAULT_SIBLING_PREFETCH, type SiblingPrefetchOptions } from './sibling-prefetcher';
import { DEFAULT_LISTING_PREFETCH, type ListingPrefetchOptions } from './listing-prefetcher';
import { DEFAULT_UPLOAD } from './upload';

export interface DatasetSpec {
  /** Label in logs and metrics (`namespace/name` in a pod, the bucket for `mount`). */
  readonly name: string;
  readonly endpoint: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region?: string;
  readonly forcePathStyle: boolean;
  readonly credentials?: S3Credentials;
  readonly readOnly: boolean;
  readonly mountPoint: string;
  /** Undefined = no disk tier. */
  readonly cacheDir?: string;
  readonly cacheBytes: number;
  readonly memoryBytes: number;
  readonly uid: number;
  readonly gid: number;
  readonly allowOther: boolean;
  readonly metadataTtlMs: number;
  readonly prefetch?: PrefetchOptions;
  /** Read-ahead across a directory's files (`aheadFiles: 0` = off); default DEFAULT_SIBLING_PREFETCH. */
  readonly siblingPrefetch?: Omit<SiblingPrefetchOptions, 'maxAheadBytes'>;
  /** Subdirectory listings ahead of walkers (`directories: 0` = off); default DEFAULT_LISTING_PREFETCH. */
  readonly listingPrefetch?: ListingPrefetchOptions;
  readonly readaheadKiB?: number;
  /** Deadline of one S3 request attempt, and attempts per request (retries with backoff). */
  readonly s3AttemptTimeoutMs?: number;
  readonly s3MaxAttempts?: number;
  readonly debug?: boolean;
}

export interface MountedDataset {
  readonly spec: DatasetSpec;
  readonly handlers: Handlers;
  readonly blocks: BlockCache;
  readonly disk: DiskCache | undefined;
  readonly memory: MemoryCache;
  /** Finish uploads, then unmount. */
  close(): Promise<void>;
}

/** Negative entries live shorter than positive ones: a file being created elsewhere shows up soon. */
const NEGATIVE_TTL_FRACTION = 0.5;
/** Sibling prefetch holds at most this share of the memory cache in files not yet opened. */
const SIBLING_MEMORY_FRACTION = 0.25;
/**
 * Write-behind (block-cache.ts) holds at most this share of the memory cache in blocks not yet
 * written to the disk cache. Half: the rest keeps room for the read-ahead window and for blocks
 * whose write the disk dropped while it fell behind, which otherwise push held blocks out
 * before they are written. On the 2-core bench machine a cold 1 GiB read went from a median
 * 0.85x to 0.92-0.94x the direct download (BENCHMARKS.md, seventh session).
 */
const WRITE_BEHIND_SHARE = 0.5;

export interface DatasetParts {
  readonly handlers: Handlers;
  readonly blocks: BlockCache;
  readonly disk: DiskCache | undefined;
  readonly memory: MemoryCache;
  readonly client: ObjectClient;
}

/** Everything but the mount (tests build handlers over a memory client this way). */
export function buildDataset(spec: DatasetSpec, rawClient: ObjectClient, log: Logger, metrics: SidecarMetrics): DatasetParts {
  const client = instrumentObjectClient(rawClient, metrics, spec.name);
  const memory = new MemoryCache(spec.memoryBytes);
  const disk = spec.cacheDir
    ? new DiskCache({
        dir: spec.cacheDir,
        maxBytes: spec.cacheBytes,
        keys: deriveBlockKeys(spec.credentials ? `${spec.credentials.accessKeyId}\0${spec.credentials.secretAccessKey}` : '', {
          endpoint: spec.endpoint,
          bucket: spec.bucket,
        }),
        log,
      })
    : undefined;
  const writeBehindBytes = disk ? Math.floor(spec.memoryBytes * WRITE_BEHIND_SHARE) : 0;
  const blocks = new BlockCache(client, memory, disk, { blockSize: DEFAULT_BLOCK_SIZE, maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES, dataset: spec.name, writeBehindBytes }, metrics);
  const names = new PathNames(spec.prefix);
  const metadata = new MetadataCache({ ttlMs: spec.metadataTtlMs, negativeTtlMs: Math.floor(spec.metadataTtlMs * NEGATIVE_TTL_FRACTION) });
  const tree = new FileTree(client, names, metadata, log);
  const handlers = createHandlers({
    client, names, tree, blocks, log, metrics,
    readOnly: spec.readOnly,
    uid: spec.uid,
    gid: spec.gid,
    prefetch: spec.prefetch ?? DEFAULT_PREFETCH,
    siblingPrefetch: { ...(spec.siblingPrefetch ?? DEFAULT_SIBLING_PREFETCH), maxAheadBytes: Math.floor(spec.memoryBytes * SIBLING_MEMORY_FRACTION) },
    listingPrefetch: spec.listingPrefetch ?? DEFAULT_LISTING_PREFETCH,
    upload: DEFAULT_UPLOAD,
    dataset: spec.name,
  });
  metrics.collectors.push(() => {
    metrics.memoryCacheBytes.set({ dataset: spec.name }, memory.bytes);
    if (disk) {
      metrics.diskCacheBytes.set({ dataset: spec.name }, disk.bytes);
      metrics.diskCacheDropped.set({ dataset: spec.name }, disk.droppedWrites);
      metrics.diskCacheLateWrites.set({ dataset: spec.name }, blocks.lateWrites);
      metrics.diskCacheLostWrites.set({ dataset: spec.name }, blocks.lostWrites);
      metrics.diskCacheUnwrittenBytes.set({ dataset: spec.name }, blocks.unwrittenBytes);
    }
  });
  return { handlers, blocks, disk, memory, client };
}

/** The S3 client of a dataset, with enough sockets for its prefetch window. */
export function s3ClientFor(spec: DatasetSpec, log: Logger): S3ObjectClient {
  const prefetch = spec.prefetch ?? DEFAULT_PREFETCH;
  return new S3ObjectClient({
    endpoint: spec.endpoint,
    bucket: spec.bucket,
    region: spec.region,
    forcePathStyle: spec.forcePathStyle,
    credentials: spec.credentials,
    attemptTimeoutMs: spec.s3AttemptTimeoutMs,
    maxAttempts: spec.s3MaxAttempts,
    maxSockets: Math.max(32, 2 * Math.ceil(prefetch.maxWindowBytes / DEFAULT_MAX_REQUEST_BYTES) * 4),
    onRetry: (error, attempt) => log.warn('retrying S3 request', { dataset: spec.name, attempt, kind: error.kind, reason: error.message }),
  });
}

export async function mountDataset(spec: DatasetSpec, log: Logger, metrics: SidecarMetrics): Promise<MountedDataset> {
  const s3 = s3ClientFor(spec, log);
  const parts = buildDataset(spec, s3, log, metrics);
  let mounted: Mounted;
  try {
    // One LIST before mounting: wrong endpoints, buckets or credentials fail here, with S3's
    // reason, instead of as EIO on the first `ls`.
    await parts.client.list({ prefix: new PathNames(spec.prefix).prefix, delimiter: '/', maxKeys: 1 }).catch((error: unknown) => {
      throw new Error(`cannot list s3://${spec.bucket}/${spec.prefix} at ${spec.endpoint}: ${(error as Error).message}`, { cause: error });
    });
    mounted = await mountHandlers(parts.handlers, {
      mountPoint: spec.mountPoint,
      allowOther: spec.allowOther,
      kernelCacheSeconds: Math.max(0, Math.min(1, spec.metadataTtlMs / 1000)),
      readaheadKiB: spec.readaheadKiB ?? DEFAULT_READAHEAD_KIB,
      opTimeoutMs: DEFAULT_OP_TIMEOUT_MS,
      dataset: spec.name,
      debug: spec.debug,
    }, log, metrics);
  } catch (error) {
    parts.disk?.close();
    s3.destroy();
    throw error;
  }
  metrics.mounted.set({ dataset: spec.name }, 1);
  log.info('mounted', { dataset: spec.name, bucket: spec.bucket, prefix: spec.prefix, mountPoint: spec.mountPoint, readOnly: spec.readOnly, cacheDir: spec.cacheDir });
  let closing: Promise<void> | undefined;
  return {
    spec,
    handlers: parts.handlers,
    blocks: parts.blocks,
    disk: parts.disk,
    memory: parts.memory,
    close: () => {
      closing ??= (async () => {
        await parts.handlers.finishUploads();
        await mounted.unmount();
        await parts.blocks.flushDisk();
        // Its folder watch holds inotify watches: a process that mounts again must not pile them up.
        parts.disk?.close();
        metrics.mounted.set({ dataset: spec.name }, 0);
        s3.destroy();
        log.info('unmounted', { dataset: spec.name, mountPoint: spec.mountPoint });
      })();
      return closing;
    },
  };
}
