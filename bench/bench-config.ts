/**
 * The benchmark's command line, parsed once and frozen. Every bad flag is listed in one error
 * that names the flag and what it accepts. The environment is read here and nowhere else.
 */
import { parseByteQuantity, QUANTITY_HELP } from '../common/quantity';
import { WORKLOAD_IDS, type WorkloadId } from './read-workloads';

export const PARTS = ['read', 'webhook', 'placement'] as const;
export type BenchPart = (typeof PARTS)[number];
export const PEER_NAMES = ['direct', 'datamount', 's3fs', 'rclone', 'rclone-full', 'fuse-native'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

export interface BenchConfig {
  parts: readonly BenchPart[];
  quick: boolean;
  peers: readonly PeerName[];
  workloads: readonly WorkloadId[];
  ttfbMs: number;
  bytesPerSecond: number;
  readers: number;
  /** Rounds of the cold sequential read run back to back after the peers (direct, datamount, s3fs; ABBA); the cold targets are judged on the median round. */
  coldRounds: number;
  timeoutMs: number;
  outDir: string;
  install: boolean;
  /** Where to write CPU profiles of the datamount sidecar (`node --cpu-prof`), if anywhere. */
  cpuProfileDir?: string;
  /** Extra options for `datamount-sidecar mount` (experiments; reported with the peer's command). */
  datamountArgs: string[];
  help: boolean;
  /** Environment for peers and readers: AWS_CA_BUNDLE removed (they talk plain HTTP to loopback). */
  childEnv: NodeJS.ProcessEnv;
}

export const USAGE = `usage: node dist/bench/main.js [options]   (make bench)
  --only PARTS        comma list of ${PARTS.join(', ')} (default: all)
  --quick             small sizes (64 MiB object, 500 small files, 1,000-key tree) for a smoke run
  --peers NAMES       comma list of ${PEER_NAMES.join(', ')} (default: all)
  --workloads IDS     comma list of ${WORKLOAD_IDS.join(', ')} (default: all)
  --ttfb-ms N         latency model: time to first byte per request (default 20)
  --bandwidth Q       latency model: bandwidth per connection, bytes/s (default 100Mi)
  --readers N         parallel readers for the small-file workloads (default 8)
  --cold-rounds N     after the peers, N rounds of cold sequential runs back to back: direct,
                      datamount, s3fs, the order turned round every other round; the cold
                      targets are judged on the median round (default 5, quick 0; --cold-pairs
                      is the same option's older name)
  --timeout-s N       timeout of one workload run (default 300, quick 90)
  --out DIR           where latest.json and comparison.svg go (default bench/results)
  --no-install        do not apt-get install missing peers (they are skipped)
  --cpu-prof DIR      profile the datamount sidecar with node --cpu-prof into DIR
  --datamount-args S  extra options for datamount-sidecar mount, space-separated (e.g. "--metadata-ttl 3600");
                      "--no-cache-dir" mounts without the disk tier`;

function commaList<T extends string>(flag: string, text: string, allowed: readonly T[], errors: string[]): T[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((item) => !(allowed as readonly string[]).includes(item));
  if (bad.length > 0 || items.length === 0) errors.push(`${flag}: ${bad.join(', ') || '(empty)'} not accepted; use a comma list of ${allowed.join(', ')}`);
  return items.filter((item): item is T => (allowed as readonly string[]).includes(item));
}

function wholeNumber(flag: string, text: string, errors: string[]): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) errors.push(`${flag}: "${text}" is not a whole number ≥ 0`);
  return value;
}

function positiveInteger(flag: string, text: string, errors: string[]): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) errors.push(`${flag}: "${text}" is not a positive whole number`);
  return value;
}

export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Readonly<BenchConfig> {
  const errors: string[] = [];
  const config: BenchConfig = {
    parts: PARTS, quick: false, peers: PEER_NAMES, workloads: WORKLOAD_IDS, ttfbMs: 20, bytesPerSecond: 100 * 2 ** 20,
    readers: 8, coldRounds: -1, timeoutMs: 0, outDir: 'bench/results', install: true, datamountArgs: [], help: false, childEnv: {},
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] ?? '';
    const takeValue = (): string => {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) {
        errors.push(`${flag}: needs a value`);
        return '';
      }
      i += 1;
      return value;
    };
    switch (flag) {
      case '--only': config.parts = commaList(flag, takeValue(), PARTS, errors); break;
      case '--quick': config.quick = true; break;
      case '--peers': config.peers = commaList(flag, takeValue(), PEER_NAMES, errors); break;
      case '--workloads': config.workloads = commaList(flag, takeValue(), WORKLOAD_IDS, errors); break;
      case '--ttfb-ms': {
        const text = takeValue();
        config.ttfbMs = Number(text);
        if (!Number.isFinite(config.ttfbMs) || config.ttfbMs < 0) errors.push(`--ttfb-ms: "${text}" is not a number of milliseconds ≥ 0`);
        break;
      }
      case '--bandwidth': {
        const text = takeValue();
        const bytes = parseByteQuantity(text);
        if (bytes === undefined || bytes <= 0) errors.push(`--bandwidth: "${text}" is not ${QUANTITY_HELP}, above 0`);
        else config.bytesPerSecond = bytes;
        break;
      }
      case '--readers': config.readers = positiveInteger(flag, takeValue(), errors); break;
      case '--cold-rounds': case '--cold-pairs': config.coldRounds = wholeNumber(flag, takeValue(), errors); break;
      case '--timeout-s': config.timeoutMs = positiveInteger(flag, takeValue(), errors) * 1000; break;
      case '--out': config.outDir = takeValue(); break;
      case '--no-install': config.install = false; break;
      case '--cpu-prof': config.cpuProfileDir = takeValue(); break;
      case '--datamount-args': {
        // Its value is itself options ("--metadata-ttl 3600"), so it may start with "--".
        const value = argv[i + 1];
        if (value === undefined) errors.push(`${flag}: needs a value`);
        else config.datamountArgs = value.split(' ').filter(Boolean);
        i += 1;
        break;
      }
      case '--help': case '-h': config.help = true; break;
      default: errors.push(`${flag}: unknown option`);
    }
  }
  if (errors.length > 0) throw new Error(`bad arguments:\n  ${errors.join('\n  ')}\n${USAGE}`);
  if (config.timeoutMs === 0) config.timeoutMs = (config.quick ? 90 : 300) * 1000;
  if (config.coldRounds < 0) config.coldRounds = config.quick ? 0 : 5;
  const childEnv = { ...env };
  delete childEnv.AWS_CA_BUNDLE;
  config.childEnv = childEnv;
  return Object.freeze(config);
}
