/**
 * `datamount-sidecar mount s3://bucket[/prefix] DIR --endpoint URL …`: one bucket as a directory,
 * in the foreground until SIGTERM or SIGINT, like mount-s3 or s3fs. Credentials come from the
 * usual AWS variables (absent = anonymous). Prints `mounted <url> at <dir>` on stdout once the
 * directory is usable, so scripts and benchmarks can wait for that line.
 */
import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { parseByteQuantity, QUANTITY_HELP } from '../common/quantity';
import { mountDataset, type DatasetSpec } from './dataset-mount';
import { createLogger, type LogLevel } from './logger';
import { SidecarMetrics } from './metrics';
import { MAX_ID, MAX_LISTING_AHEAD, MAX_SIBLING_FILES, MAX_SIBLING_REQUESTS, mountCredentialsFromEnv } from './sidecar-config';
import { DEFAULT_PREFETCH } from './prefetcher';
import { DEFAULT_READAHEAD_KIB } from './fuse-adapter';
import { DEFAULT_SIBLING_PREFETCH } from './sibling-prefetcher';
import { DEFAULT_LISTING_PREFETCH } from './listing-prefetcher';
import { DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_MAX_ATTEMPTS } from './s3-object-client';

export const MOUNT_USAGE = `usage: datamount-sidecar mount s3://bucket[/prefix] DIR --endpoint URL [options]

  --endpoint URL        S3 endpoint, scheme required (e.g. https://s3.eu-de.example.com)
  --region R            signing region (default us-east-1)
  --read-only           refuse every change (EROFS)
  --cache-dir DIR       disk block cache folder (default: none, memory cache only)
  --cache-size Q        disk cache bound, a quantity (default 10Gi)
  --cache-memory Q      memory cache bound, a quantity (default 512Mi)
  --uid N --gid N       owner shown for every file (default: the caller's)
  --allow-other         let other users use the mount (needs user_allow_other or root)
  --metadata-ttl S      seconds attributes and listings are trusted (default 5)
  --prefetch-max Q      largest read-ahead window per open file (default 64Mi)
  --sibling-prefetch N  files of a directory being read whole fetched ahead of the readers
                        (default 64; 0 = off)
  --sibling-prefetch-requests N
                        GETs of sibling prefetch in flight at most (default 32)
  --listing-prefetch N  subdirectories listed ahead of a walker (ls -R, find; default 8; 0 = off)
  --readahead-kib N     kernel readahead of the mount in KiB (default 8192; 0 = kernel default)
  --s3-timeout S        deadline of one S3 request attempt in seconds (default 10)
  --s3-attempts N       attempts per S3 request, with backoff and jitter (default 4)
  --virtual-hosted      virtual-hosted-style URLs instead of path style
  --log-level L         debug | info | warn | error (default info)
  --debug               libfuse debug output

credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); none = anonymous`;

/** A usage mistake: the message names the argument and what is accepted. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseMountArgs(argv: string[], env: NodeJS.ProcessEnv, defaults: { uid: number; gid: number }): { spec: DatasetSpec; logLevel: LogLevel } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        endpoint: { type: 'string' },
        region: { type: 'string' },
        'read-only': { type: 'boolean', default: false },
        'cache-dir': { type: 'string' },
        'cache-size': { type: 'string', default: '10Gi' },
        'cache-memory': { type: 'string', default: '512Mi' },
        uid: { type: 'string' },
        gid: { type: 'string' },
        'allow-other': { type: 'boolean', default: false },
        'metadata-ttl': { type: 'string', default: '5' },
        'prefetch-max': { type: 'string' },
        'readahead-kib': { type: 'string' },
        'sibling-prefetch': { type: 'string' },
        'sibling-prefetch-requests': { type: 'string' },
        'listing-prefetch': { type: 'string' },
        's3-timeout': { type: 'string' },
        's3-attempts': { type: 'string' },
        'virtual-hosted': { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
        debug: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const problems: string[] = [];
  const [url, dir, ...extra] = positionals;
  if (!url || !dir || extra.length > 0) problems.push('expected exactly two arguments: s3://bucket[/prefix] DIR');
  const location = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url ?? '');
  if (url && !location) problems.push(`"${url}" is not s3://bucket[/prefix]`);
  if (!values.endpoint) problems.push('--endpoint is required (an http:// or https:// URL)');
  else if (!/^https?:\/\/[^/]+/.test(values.endpoint)) problems.push(`--endpoint "${values.endpoint}" must be an http:// or https:// URL`);
  const quantity = (name: string, text: string | undefined): number => {
    const value = text === undefined ? undefined : parseByteQuantity(text);
    if (value === undefined) problems.push(`--${name} "${text}" is not ${QUANTITY_HELP}`);
    return value ?? 0;
  };
  const integer = (name: string, text: string | undefined, fallback: number, bounds: { min?: number; max?: number; hint?: string } = {}): number => {
    if (text === undefined) return fallback;
    const { min = 0, max = Number.MAX_SAFE_INTEGER, hint = '' } = bounds;
    const value = Number(text);
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    if (!Number.isInteger(value) || value < min || value > max) problems.push(`--${name} "${text}" must be an integer ${range}${hint}`);
    return value;
  };
  const cacheBytes = quantity('cache-size', values['cache-size']);
  const memoryBytes = quantity('cache-memory', values['cache-memory']);
  const prefetchMax = values['prefetch-max'] === undefined ? DEFAULT_PREFETCH.maxWindowBytes : quantity('prefetch-max', values['prefetch-max']);
  const ttl = Number(values['metadata-ttl']);
  if (!Number.isFinite(ttl) || ttl < 0) problems.push(`--metadata-ttl "${values['metadata-ttl']}" must be a number of seconds ≥ 0`);
  const logLevel = values['log-level'] as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) problems.push(`--log-level "${logLevel}" must be debug, info, warn or error`);
  const uid = integer('uid', values.uid, defaults.uid, { max: MAX_ID });
  const gid = integer('gid', values.gid, defaults.gid, { max: MAX_ID });
  const readaheadKiB = integer('readahead-kib', values['readahead-kib'], DEFAULT_READAHEAD_KIB);
  const siblingFiles = integer('sibling-prefetch', values['sibling-prefetch'], DEFAULT_SIBLING_PREFETCH.aheadFiles, { max: MAX_SIBLING_FILES });
  const siblingRequests = integer('sibling-prefetch-requests', values['sibling-prefetch-requests'], DEFAULT_SIBLING_PREFETCH.maxRequests, {
    min: 1,
    max: MAX_SIBLING_REQUESTS,
    hint: ' (turn sibling prefetch off with --sibling-prefetch 0)',
  });
  const listingAhead = integer('listing-prefetch', values['listing-prefetch'], DEFAULT_LISTING_PREFETCH.directories, { max: MAX_LISTING_AHEAD });
  const s3Attempts = integer('s3-attempts', values['s3-attempts'], DEFAULT_MAX_ATTEMPTS, { min: 1 });
  const s3Timeout = values['s3-timeout'] === undefined ? DEFAULT_ATTEMPT_TIMEOUT_MS / 1000 : Number(values['s3-timeout']);
  if (!Number.isFinite(s3Timeout) || s3Timeout <= 0) problems.push(`--s3-timeout "${values['s3-timeout']}" must be a number of seconds > 0`);
  let credentials;
  try {
    credentials = mountCredentialsFromEnv(env);
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (problems.length > 0 || !location || !dir || !values.endpoint) throw new UsageError(problems.join('\n'));
  return {
    logLevel,
    spec: {
      name: location[1] ?? '',
      endpoint: values.endpoint,
      bucket: location[1] ?? '',
      prefix: location[2] ?? '',
      region: values.region,
      forcePathStyle: !values['virtual-hosted'],
      credentials,
      readOnly: values['read-only'],
      mountPoint: path.resolve(dir),
      cacheDir: values['cache-dir'] === undefined ? undefined : path.resolve(values['cache-dir']),
      cacheBytes,
      memoryBytes,
      uid,
      gid,
      allowOther: values['allow-other'],
      metadataTtlMs: ttl * 1000,
      prefetch: { initialWindowBytes: Math.min(DEFAULT_PREFETCH.initialWindowBytes, prefetchMax), maxWindowBytes: prefetchMax },
      siblingPrefetch: { aheadFiles: siblingFiles, maxRequests: siblingRequests },
      listingPrefetch: { directories: listingAhead },
      readaheadKiB,
      s3AttemptTimeoutMs: s3Timeout * 1000,
      s3MaxAttempts: s3Attempts,
      debug: values.debug,
    },
  };
}

export async function runMount(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseMountArgs(argv, env, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`datamount-sidecar mount: ${error.message}\n\n${MOUNT_USAGE}\n`);
    return 2;
  }
  const log = createLogger(parsed.logLevel);
  const metrics = new SidecarMetrics();
  const { spec } = parsed;
  let dataset;
  try {
    dataset = await mountDataset(spec, log, metrics);
  } catch (error) {
    process.stderr.write(`datamount-sidecar mount: cannot mount s3://${spec.bucket}/${spec.prefix} at ${spec.mountPoint}: ${(error as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`mounted s3://${spec.bucket}/${spec.prefix} at ${spec.mountPoint}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info('stopping', { signal });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await dataset.close();
  const labels = { dataset: spec.name };
  log.info('statistics', {
    diskCacheDroppedWrites: dataset.disk?.droppedWrites ?? 0,
    diskCacheLateWrites: dataset.blocks.lateWrites,
    diskCacheLostWrites: dataset.blocks.lostWrites,
    diskCacheBytes: dataset.disk?.bytes ?? 0,
    siblingPrefetchFiles: metrics.siblingPrefetchFiles.get(labels),
    siblingPrefetchUsed: metrics.siblingPrefetchUsed.get(labels),
    siblingPrefetchExpired: metrics.siblingPrefetchUnused.get({ ...labels, reason: 'expired' }),
    siblingPrefetchFailed: metrics.siblingPrefetchUnused.get({ ...labels, reason: 'failed' }),
    listingPrefetch: metrics.listingPrefetch.get(labels),
    listingPrefetchUsed: metrics.listingPrefetchUsed.get(labels),
  });
  return 0;
}
