/**
 * Configuration read once from the environment and validated (every problem listed in one
 * error naming the field), then frozen: `DATAMOUNT_CONFIG` for `run` (docs/contract.md, the
 * `SidecarConfig` the webhook writes) and the standard AWS variables for `mount`. The only
 * module that reads `process.env`-shaped input; it never logs or returns secrets elsewhere than
 * in the credentials it hands to the S3 client.
 */
import * as path from 'node:path';
import { parseByteQuantity, QUANTITY_HELP } from '../common/quantity';
import type { S3Credentials } from './s3-object-client';
import { DEFAULT_SIBLING_PREFETCH } from './sibling-prefetcher';
import { DEFAULT_LISTING_PREFETCH } from './listing-prefetcher';

export interface SidecarDatasetConfig {
  readonly name: string;
  readonly namespace: string;
  readonly endpoint: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region?: string;
  readonly forcePathStyle: boolean;
  readonly readOnly: boolean;
  readonly mountPoint: string;
  readonly cacheDir: string;
  /** Resolved from the variables named by accessKeyIdEnv / secretAccessKeyEnv; undefined = anonymous. */
  readonly credentials?: S3Credentials;
}

export interface SidecarConfig {
  readonly version: 1;
  readonly port: number;
  readonly cacheRoot: string;
  readonly cacheSizeBytes: number;
  readonly cacheMemoryBytes: number;
  readonly uid: number;
  readonly gid: number;
  /**
   * Sibling prefetch of every dataset (docs/sidecar.md): files fetched ahead of readers going
   * through a directory (0 turns it off) and GETs in flight for it. Optional; the webhook
   * writes neither, so pods get the defaults.
   */
  readonly siblingPrefetchFiles: number;
  readonly siblingPrefetchRequests: number;
  /** Subdirectories listed ahead of a walker (and LISTs in flight for it); 0 turns it off. Optional. */
  readonly listingPrefetchDirectories: number;
  readonly datasets: readonly SidecarDatasetConfig[];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid DATAMOUNT_CONFIG:\n  - ${problems.join('\n  - ')}`);
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Dataset names are object names: DNS-1123 subdomains (dots allowed, as the webhook accepts), at most 253 characters. */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Beyond these the budget no longer bounds anything a sidecar's memory and sockets can hold
 * (`datamount-sidecar mount` checks its options against the same bounds).
 */
export const MAX_SIBLING_FILES = 4096;
export const MAX_SIBLING_REQUESTS = 64;
export const MAX_LISTING_AHEAD = 64;
/** uid and gid: 32-bit, less the "no id" value (2^32 - 1). */
export const MAX_ID = 2 ** 32 - 2;

/** Parse and check `DATAMOUNT_CONFIG`, resolving per-dataset credentials from `env`. */
export function loadSidecarConfig(env: NodeJS.ProcessEnv): SidecarConfig {
  const text = env.DATAMOUNT_CONFIG;
  if (text === undefined || text.trim() === '') throw new ConfigError(['DATAMOUNT_CONFIG is not set; `run` needs the JSON document the webhook injects']);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`DATAMOUNT_CONFIG is not JSON: ${(error as Error).message}`]);
  }
  return parseSidecarConfig(raw, env);
}

export function parseSidecarConfig(raw: unknown, env: NodeJS.ProcessEnv): SidecarConfig {
  const problems: string[] = [];
  if (!isRecord(raw)) throw new ConfigError(['DATAMOUNT_CONFIG must be a JSON object']);
  const field = new Fields(raw, '', problems);
  const version = raw.version;
  if (version !== 1) problems.push(`version: must be 1 (got ${JSON.stringify(version)})`);
  const port = field.integer('port', { min: 1, max: 65535, fallback: 9090 });
  const cacheRoot = field.absolutePath('cacheRoot', '/var/lib/datamount/cache');
  const cacheSizeBytes = field.quantity('cacheSize', '10Gi');
  const cacheMemoryBytes = field.quantity('cacheMemory', '256Mi');
  const uid = field.integer('uid', { min: 0, max: MAX_ID, fallback: 0 });
  const gid = field.integer('gid', { min: 0, max: MAX_ID, fallback: 0 });
  const siblingPrefetchFiles = field.integer('siblingPrefetchFiles', { min: 0, max: MAX_SIBLING_FILES, fallback: DEFAULT_SIBLING_PREFETCH.aheadFiles });
  const listingPrefetchDirectories = field.integer('listingPrefetchDirectories', { min: 0, max: MAX_LISTING_AHEAD, fallback: DEFAULT_LISTING_PREFETCH.directories });
  const siblingPrefetchRequests = field.integer('siblingPrefetchRequests', { min: 1, max: MAX_SIBLING_REQUESTS, fallback: DEFAULT_SIBLING_PREFETCH.maxRequests });
  const datasets: SidecarDatasetConfig[] = [];
  if (!Array.isArray(raw.datasets) || raw.datasets.length === 0) {
    problems.push('datasets: must be a non-empty array');
  } else {
    raw.datasets.forEach((item: unknown, i: number) => {
      const at = `datasets[${i}]`;
      if (!isRecord(item)) {
        problems.push(`${at}: must be an object`);
        return;
      }
      const d = new Fields(item, `${at}.`, problems);
      const name = d.string('name', { pattern: DNS_SUBDOMAIN, what: 'a DNS-1123 subdomain (lower-case letters, digits, - and .)' });
      const namespace = d.string('namespace', { pattern: DNS_LABEL, what: 'a DNS label', fallback: 'default' });
      const endpoint = d.string('endpoint', { pattern: /^https?:\/\/[^/\s]+/, what: 'an http:// or https:// URL' });
      const bucket = d.string('bucket', { pattern: /^[^/\s]+$/, what: 'a bucket name' });
      const prefix = d.string('prefix', { pattern: /^(|.*\/)$/s, what: '"" or a prefix ending in /', fallback: '' });
      const region = item.region === undefined ? undefined : d.string('region', { pattern: /^\S+$/, what: 'a region name' });
      const forcePathStyle = d.boolean('forcePathStyle', true);
      const readOnly = d.boolean('readOnly', true);
      const mountPoint = d.absolutePath('mountPoint');
      const cacheDir = d.absolutePath('cacheDir', path.join(cacheRoot, namespace, name));
      const credentials = resolveCredentials(item, at, env, problems);
      datasets.push({ name, namespace, endpoint, bucket, prefix, region, forcePathStyle, readOnly, mountPoint, cacheDir, credentials });
    });
    const mountPoints = datasets.map((d) => d.mountPoint);
    const duplicate = mountPoints.find((m, i) => mountPoints.indexOf(m) !== i);
    if (duplicate) problems.push(`datasets: mountPoint ${duplicate} is used twice`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    version: 1, port, cacheRoot, cacheSizeBytes, cacheMemoryBytes, uid, gid, siblingPrefetchFiles, siblingPrefetchRequests, listingPrefetchDirectories, datasets: Object.freeze(datasets),
  });
}

/** Credentials for `mount`: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), or none. */
export function mountCredentialsFromEnv(env: NodeJS.ProcessEnv): S3Credentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey) throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, for anonymous access)');
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

function resolveCredentials(item: Record<string, unknown>, at: string, env: NodeJS.ProcessEnv, problems: string[]): S3Credentials | undefined {
  const idEnv = item.accessKeyIdEnv;
  const secretEnv = item.secretAccessKeyEnv;
  if (idEnv === undefined && secretEnv === undefined) return undefined;
  if (typeof idEnv !== 'string' || !ENV_NAME.test(idEnv) || typeof secretEnv !== 'string' || !ENV_NAME.test(secretEnv)) {
    problems.push(`${at}.accessKeyIdEnv / secretAccessKeyEnv: both must be environment variable names, or both absent for anonymous access`);
    return undefined;
  }
  const accessKeyId = env[idEnv];
  const secretAccessKey = env[secretEnv];
  if (!accessKeyId) problems.push(`${at}.accessKeyIdEnv: variable ${idEnv} is not set in the sidecar's environment`);
  if (!secretAccessKey) problems.push(`${at}.secretAccessKeyEnv: variable ${secretEnv} is not set in the sidecar's environment`);
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Typed field readers that record a problem (naming the field) instead of throwing. */
class Fields {
  constructor(private readonly raw: Record<string, unknown>, private readonly at: string, private readonly problems: string[]) {}

  string(key: string, rule: { pattern: RegExp; what: string; fallback?: string }): string {
    const value = this.raw[key];
    if (value === undefined && rule.fallback !== undefined) return rule.fallback;
    if (typeof value !== 'string' || !rule.pattern.test(value)) {
      this.problems.push(`${this.at}${key}: must be ${rule.what} (got ${JSON.stringify(value)})`);
      return '';
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.problems.push(`${this.at}${key}: must be true or false (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return value;
  }

  integer(key: string, rule: { min: number; max: number; fallback: number }): number {
    const value = this.raw[key];
    if (value === undefined) return rule.fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
      this.problems.push(`${this.at}${key}: must be an integer from ${rule.min} to ${rule.max} (got ${JSON.stringify(value)})`);
      return rule.fallback;
    }
    return value;
  }

  quantity(key: string, fallback: string): number {
    const value = this.raw[key] ?? fallback;
    const bytes = typeof value === 'string' ? parseByteQuantity(value) : undefined;
    if (bytes === undefined) {
      this.problems.push(`${this.at}${key}: must be ${QUANTITY_HELP} (got ${JSON.stringify(value)})`);
      return 0;
    }
    return bytes;
  }

  absolutePath(key: string, fallback?: string): string {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'string' || !path.isAbsolute(value) || value.split('/').includes('..')) {
      this.problems.push(`${this.at}${key}: must be an absolute path without .. (got ${JSON.stringify(value)})`);
      return '/';
    }
    return path.normalize(value);
  }
}
