/**
 * The webhook's configuration: read from the environment once at start, validated, frozen and
 * passed in (no `process.env` anywhere else). Names and defaults are fixed in docs/contract.md
 * and must match the manifests. Every bad variable is reported in one start-up error, so an
 * operator fixes a Deployment in one round rather than one variable per crash.
 */
import { isIP } from 'node:net';
import { parseByteQuantity, parseQuantity, QUANTITY_HELP } from '../common/quantity';
import { DatamountError, ERRORS } from './errors';

export interface SidecarResourceDefaults {
  cpuRequest?: string;
  cpuLimit?: string;
  memoryRequest?: string;
  memoryLimit?: string;
}

export interface WebhookConfig {
  tlsCert: string;
  tlsKey: string;
  port: number;
  /** Address to listen on: all interfaces in a pod; loopback for the demo and tests. */
  host: string;
  /** Undefined: Datasets come from the API server. */
  catalogPath?: string;
  namespace: string;
  sidecarImage: string;
  sidecarPort: number;
  cacheHostPath: string;
  sidecarResources: Readonly<SidecarResourceDefaults>;
  cacheSize: string;
  cacheMemory: string;
  /** Cache reports older than this are ignored when planning placement hints. */
  cacheHintTtlMs: number;
  /** At most this many nodes are named in placement hints. */
  cacheHintNodes: number;
  /** Largest AdmissionReview body accepted, in bytes. */
  bodyLimit: number;
  /** A catalog that has not heard from the API server for this long makes /readyz fail. */
  catalogStaleMs: number;
  /** Reviews accepted at once; beyond this a request is refused at once with HTTP 503. */
  maxInFlight: number;
  /** A review that waited longer than this before its turn is refused (503) instead of done. */
  reviewDeadlineMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * 3 MiB by default: the API server caps a stored object near 1.5 MiB (etcd's request limit) and
 * the AdmissionReview carries the pod once (plus `oldObject` on updates, which we do not
 * register for), so anything much larger is not a real review and is refused before parsing.
 */
const DEFAULT_BODY_LIMIT = 3 * 1024 * 1024;

export const CONFIG_DEFAULTS = {
  DATAMOUNT_TLS_CERT: '/etc/datamount/tls/tls.crt',
  DATAMOUNT_TLS_KEY: '/etc/datamount/tls/tls.key',
  DATAMOUNT_PORT: '8443',
  DATAMOUNT_HOST: '0.0.0.0',
  DATAMOUNT_NAMESPACE: 'datamount-system',
  DATAMOUNT_SIDECAR_IMAGE: 'ghcr.io/datamount/sidecar:0.1.0',
  DATAMOUNT_SIDECAR_PORT: '9090',
  DATAMOUNT_CACHE_HOST_PATH: '/var/lib/datamount/cache',
  DATAMOUNT_SIDECAR_CPU_REQUEST: '100m',
  DATAMOUNT_SIDECAR_CPU_LIMIT: '',
  DATAMOUNT_SIDECAR_MEMORY_REQUEST: '256Mi',
  DATAMOUNT_SIDECAR_MEMORY_LIMIT: '1Gi',
  DATAMOUNT_CACHE_SIZE: '10Gi',
  DATAMOUNT_CACHE_MEMORY: '256Mi',
  DATAMOUNT_CACHE_HINT_TTL: '10m',
  DATAMOUNT_CACHE_HINT_NODES: '3',
  DATAMOUNT_BODY_LIMIT: String(DEFAULT_BODY_LIMIT),
  DATAMOUNT_CATALOG_STALE: '5m',
  DATAMOUNT_MAX_IN_FLIGHT: '256',
  DATAMOUNT_REVIEW_DEADLINE: '4s',
  DATAMOUNT_LOG_LEVEL: 'info',
} as const;

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function loadConfig(env: Readonly<Record<string, string | undefined>>): Readonly<WebhookConfig> {
  const problems: string[] = [];
  const read = (name: keyof typeof CONFIG_DEFAULTS): string => {
    const value = env[name];
    return value === undefined ? CONFIG_DEFAULTS[name] : value.trim();
  };
  const nonEmpty = (name: keyof typeof CONFIG_DEFAULTS, what: string): string => {
    const value = read(name);
    if (value === '') problems.push(`${name} is empty; expected ${what}`);
    return value;
  };
  const integer = (name: keyof typeof CONFIG_DEFAULTS, min: number, max: number): number => {
    const text = read(name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      problems.push(`${name}="${text}" is not accepted; expected a whole number from ${min} to ${max}`);
      return min;
    }
    return value;
  };
  const quantity = (name: keyof typeof CONFIG_DEFAULTS, optional: boolean, bytes: boolean): string | undefined => {
    const text = read(name);
    if (text === '' && optional) return undefined;
    const value = bytes ? parseByteQuantity(text) : parseQuantity(text);
    if (value === undefined || value < 0) {
      problems.push(`${name}="${text}" is not accepted; expected ${QUANTITY_HELP}${optional ? ', or empty for none' : ''}`);
      return undefined;
    }
    return text;
  };
  const duration = (name: keyof typeof CONFIG_DEFAULTS): number => {
    const text = read(name);
    const match = DURATION.exec(text);
    if (!match) {
      problems.push(`${name}="${text}" is not accepted; expected a duration such as 30s, 10m or 1h (units ms, s, m, h)`);
      return 0;
    }
    return Number(match[1]) * (DURATION_UNIT[match[2] ?? 's'] ?? 1000);
  };

  const namespace = nonEmpty('DATAMOUNT_NAMESPACE', 'a namespace name');
  if (namespace !== '' && !DNS1123_LABEL.test(namespace)) problems.push(`DATAMOUNT_NAMESPACE="${namespace}" is not a namespace name (DNS-1123 label)`);
  const logLevel = read('DATAMOUNT_LOG_LEVEL');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) problems.push(`DATAMOUNT_LOG_LEVEL="${logLevel}" is not accepted; use ${LOG_LEVELS.join(', ')}`);
  const cacheHostPath = nonEmpty('DATAMOUNT_CACHE_HOST_PATH', 'an absolute path');
  if (cacheHostPath !== '' && !cacheHostPath.startsWith('/')) problems.push(`DATAMOUNT_CACHE_HOST_PATH="${cacheHostPath}" is not an absolute path`);
  const catalogPath = env.DATAMOUNT_CATALOG?.trim();
  const host = read('DATAMOUNT_HOST');
  if (isIP(host) === 0) problems.push(`DATAMOUNT_HOST="${host}" is not accepted; expected an IP address to listen on, such as 0.0.0.0, :: or 127.0.0.1`);

  const config: WebhookConfig = {
    tlsCert: nonEmpty('DATAMOUNT_TLS_CERT', 'the path of a PEM certificate'),
    tlsKey: nonEmpty('DATAMOUNT_TLS_KEY', 'the path of a PEM private key'),
    host,
    port: integer('DATAMOUNT_PORT', 1, 65535),
    ...(catalogPath ? { catalogPath } : {}),
    namespace,
    sidecarImage: nonEmpty('DATAMOUNT_SIDECAR_IMAGE', 'a container image reference'),
    sidecarPort: integer('DATAMOUNT_SIDECAR_PORT', 1, 65535),
    cacheHostPath: cacheHostPath.replace(/(.)\/+$/, '$1'),
    sidecarResources: Object.freeze(dropUndefined({
      cpuRequest: quantity('DATAMOUNT_SIDECAR_CPU_REQUEST', true, false),
      cpuLimit: quantity('DATAMOUNT_SIDECAR_CPU_LIMIT', true, false),
      memoryRequest: quantity('DATAMOUNT_SIDECAR_MEMORY_REQUEST', true, false),
      memoryLimit: quantity('DATAMOUNT_SIDECAR_MEMORY_LIMIT', true, false),
    })),
    cacheSize: quantity('DATAMOUNT_CACHE_SIZE', false, true) ?? '',
    cacheMemory: quantity('DATAMOUNT_CACHE_MEMORY', false, true) ?? '',
    cacheHintTtlMs: duration('DATAMOUNT_CACHE_HINT_TTL'),
    cacheHintNodes: integer('DATAMOUNT_CACHE_HINT_NODES', 1, 20),
    bodyLimit: integer('DATAMOUNT_BODY_LIMIT', 64 * 1024, 64 * 1024 * 1024),
    catalogStaleMs: duration('DATAMOUNT_CATALOG_STALE'),
    maxInFlight: integer('DATAMOUNT_MAX_IN_FLIGHT', 1, 100_000),
    reviewDeadlineMs: duration('DATAMOUNT_REVIEW_DEADLINE'),
    logLevel: logLevel as WebhookConfig['logLevel'],
  };
  if (problems.length > 0) {
    throw new DatamountError(ERRORS.CONFIG_INVALID, `${problems.length} setting(s) to fix:\n  ${problems.join('\n  ')}`);
  }
  return Object.freeze(config);
}

function dropUndefined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}
