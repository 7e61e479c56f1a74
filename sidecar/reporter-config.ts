/**
 * Configuration of `datamount-sidecar report` (the node cache reporter and janitor, run by a
 * DaemonSet): flags first, then environment, then defaults. Read once, validated (every bad
 * setting named in one error), frozen. This is the only place the reporter reads its environment.
 */
import { parseByteQuantity, QUANTITY_HELP } from '../common/quantity';
import type { CacheBudget } from './cache-janitor';

export interface ReporterConfig {
  readonly node: string;
  readonly cacheRoot: string;
  readonly budget: Readonly<CacheBudget>;
  readonly intervalMs: number;
  /** Quiet time after a change in the cache's top folders before a run; also the least time between runs. */
  readonly debounceMs: number;
  readonly namespace: string;
  readonly configMap: string;
  /** API server base URL; undefined = in-cluster (KUBERNETES_SERVICE_HOST/PORT). */
  readonly apiServer: string | undefined;
  readonly kubernetesHost: string | undefined;
  readonly kubernetesPort: string | undefined;
  /** Empty cache folders unchanged this long are removed. */
  readonly folderGraceMs: number;
  /** One scan, janitor and publish, then exit (no removal of the key). */
  readonly once: boolean;
}

export const REPORTER_USAGE = `usage: datamount-sidecar report [flags]
  --node NAME             this node's name (env DATAMOUNT_NODE_NAME, from the downward API: spec.nodeName)
  --cache-root DIR        node cache root (env DATAMOUNT_CACHE_ROOT, default /var/lib/datamount/cache)
  --budget QUANTITY       cache budget in bytes, e.g. 200Gi (env DATAMOUNT_CACHE_BUDGET)
  --budget-percent N      budget as a percent of the disk's free space plus the cache (env DATAMOUNT_CACHE_BUDGET_PERCENT;
                          default 80 when no budget is set; with both, the smaller wins)
  --interval DURATION     how often to report, e.g. 30s (env DATAMOUNT_REPORT_INTERVAL, default 30s)
  --debounce DURATION     quiet time after a change before reporting (env DATAMOUNT_REPORT_DEBOUNCE, default 5s)
  --namespace NS          namespace of the ConfigMap (env DATAMOUNT_NAMESPACE, default datamount-system)
  --configmap NAME        the cache-location ConfigMap (env DATAMOUNT_CACHE_LOCATIONS, default datamount-cache-locations)
  --api-server URL        API server URL (env DATAMOUNT_KUBE_API_URL; default in-cluster)
  --once                  report once and exit`;

export class ReporterConfigError extends Error {
  override readonly name = 'ReporterConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid reporter configuration:\n  - ${problems.join('\n  - ')}\n${REPORTER_USAGE}`);
  }
}

const FLAGS: Record<string, string> = {
  '--node': 'DATAMOUNT_NODE_NAME',
  '--cache-root': 'DATAMOUNT_CACHE_ROOT',
  '--budget': 'DATAMOUNT_CACHE_BUDGET',
  '--budget-percent': 'DATAMOUNT_CACHE_BUDGET_PERCENT',
  '--interval': 'DATAMOUNT_REPORT_INTERVAL',
  '--debounce': 'DATAMOUNT_REPORT_DEBOUNCE',
  '--namespace': 'DATAMOUNT_NAMESPACE',
  '--configmap': 'DATAMOUNT_CACHE_LOCATIONS',
  '--api-server': 'DATAMOUNT_KUBE_API_URL',
};

const DEFAULT_BUDGET_PERCENT = 80;
const DEFAULT_FOLDER_GRACE_MS = 10 * 60_000;
const DURATION_HELP = 'a duration such as 30s, 2m, 1m30s or 500ms';
/** ConfigMap keys must match this (and node names always do). */
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go-style duration (`1h30m`, `30s`, `250ms`) in milliseconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g) : null;
  if (!parts) return undefined;
  let total = 0;
  for (const part of parts) {
    const [, number = '', unit = ''] = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(part) ?? [];
    total += Number(number) * (UNIT_MS[unit] ?? Number.NaN);
  }
  return Number.isFinite(total) ? total : undefined;
}

function readArgs(argv: readonly string[], problems: string[]): { values: Map<string, string>; once: boolean } {
  const values = new Map<string, string>();
  let once = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--once') {
      once = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!(flag in FLAGS)) {
      problems.push(`unknown argument ${JSON.stringify(arg)} (accepted: ${[...Object.keys(FLAGS), '--once'].join(', ')})`);
      // An unknown `--flag value` is one mistake, not two.
      if (flag.startsWith('--') && eq < 0 && !(argv[i + 1] ?? '--').startsWith('--')) i += 1;
      continue;
    }
    const value = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[(i += 1)];
    if (value === undefined || value === '') problems.push(`${flag} needs a value`);
    else values.set(flag, value);
  }
  return { values, once };
}

export function readReporterConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): ReporterConfig {
  const problems: string[] = [];
  const { values, once } = readArgs(argv, problems);
  const setting = (flag: string): { value: string | undefined; name: string } => {
    const fromFlag = values.get(flag);
    if (fromFlag !== undefined) return { value: fromFlag, name: flag };
    const variable = FLAGS[flag] ?? '';
    const fromEnv = env[variable];
    return { value: fromEnv === '' ? undefined : fromEnv, name: variable };
  };

  const node = setting('--node');
  if (node.value === undefined) problems.push('the node name is not set: DATAMOUNT_NODE_NAME (downward API fieldRef spec.nodeName) or --node');
  else if (!CONFIGMAP_KEY.test(node.value)) problems.push(`${node.name} ${JSON.stringify(node.value)} is not a node name (letters, digits, '-', '.', '_')`);

  const cacheRoot = setting('--cache-root');
  const root = cacheRoot.value ?? '/var/lib/datamount/cache';
  if (!root.startsWith('/')) problems.push(`${cacheRoot.name} ${JSON.stringify(root)} must be an absolute path`);

  const budget: CacheBudget = {};
  const bytes = setting('--budget');
  if (bytes.value !== undefined) {
    const parsed = parseByteQuantity(bytes.value);
    if (parsed === undefined) problems.push(`${bytes.name} ${JSON.stringify(bytes.value)} is not a size: expected ${QUANTITY_HELP}`);
    else budget.maxBytes = parsed;
  }
  const percent = setting('--budget-percent');
  if (percent.value !== undefined) {
    const parsed = Number(percent.value);
    if (!/^\d+(\.\d+)?$/.test(percent.value) || parsed <= 0 || parsed > 100) {
      problems.push(`${percent.name} ${JSON.stringify(percent.value)} must be a number above 0 and at most 100`);
    } else budget.maxPercentOfFree = parsed;
  }
  if (bytes.value === undefined && percent.value === undefined) budget.maxPercentOfFree = DEFAULT_BUDGET_PERCENT;

  const duration = (flag: string, fallback: number): number => {
    const { value, name } = setting(flag);
    if (value === undefined) return fallback;
    const parsed = parseDuration(value);
    if (parsed === undefined || parsed <= 0) {
      problems.push(`${name} ${JSON.stringify(value)} is not ${DURATION_HELP}`);
      return fallback;
    }
    return parsed;
  };
  const intervalMs = duration('--interval', 30_000);
  const debounceMs = duration('--debounce', 5_000);

  const namespace = setting('--namespace');
  const ns = namespace.value ?? 'datamount-system';
  if (!DNS_LABEL.test(ns)) problems.push(`${namespace.name} ${JSON.stringify(ns)} is not a namespace name (a DNS label)`);
  const configMap = setting('--configmap');
  const cm = configMap.value ?? 'datamount-cache-locations';
  if (!DNS_SUBDOMAIN.test(cm)) problems.push(`${configMap.name} ${JSON.stringify(cm)} is not a ConfigMap name (a DNS subdomain)`);

  const apiServer = setting('--api-server');
  if (apiServer.value !== undefined && !/^https?:\/\/[^/]+/.test(apiServer.value)) {
    problems.push(`${apiServer.name} ${JSON.stringify(apiServer.value)} must be an http:// or https:// URL`);
  }
  const kubernetesHost = env.KUBERNETES_SERVICE_HOST || undefined;
  const kubernetesPort = env.KUBERNETES_SERVICE_PORT || undefined;
  if (apiServer.value === undefined && (kubernetesHost === undefined || kubernetesPort === undefined)) {
    problems.push('no API server: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are unset (not in a cluster?); set DATAMOUNT_KUBE_API_URL or --api-server');
  }

  if (problems.length > 0) throw new ReporterConfigError(problems);
  return Object.freeze({
    node: node.value ?? '',
    cacheRoot: root,
    budget: Object.freeze(budget),
    intervalMs,
    debounceMs,
    namespace: ns,
    configMap: cm,
    apiServer: apiServer.value,
    kubernetesHost,
    kubernetesPort,
    folderGraceMs: DEFAULT_FOLDER_GRACE_MS,
    once,
  });
}
