/**
 * The results of one benchmark run, as written to bench/results/latest.json and read by the
 * table and the chart. Plain data only, so a saved report can be drawn again.
 */
import type { ProxyStats } from './latency-proxy';
import type { ReadOutcome } from './read-job';
import type { WorkloadId, WorkloadUnit } from './read-workloads';

export const DIRECT = 'direct';
/** Reference rows, not mounters to choose between (bench/fuse-ceiling-peer.ts): no target compares against them. */
export const REFERENCE_PEERS: ReadonlySet<string> = new Set(['fuse-native']);

export interface PeerInfo {
  name: string;
  /** The command line and options used. */
  command: string;
  /** Why it did not run, when it did not. */
  skipped?: string;
  /** Configured memory cache (datamount), shown next to its peak RSS. */
  memoryCacheBytes?: number;
}

export interface WorkloadResult {
  peer: string;
  workload: WorkloadId;
  title: string;
  unit: WorkloadUnit;
  /** The headline figure in `unit`; absent when the run failed. */
  value?: number;
  outcome?: ReadOutcome;
  error?: string;
  peakRssBytes?: number;
  /**
   * CPU the mounter's process used during the workload, all threads (user + system), in seconds;
   * for the direct download, its client's (the reader process).
   */
  cpuSeconds?: number;
  /**
   * CPU the S3 server and the latency proxy used during the workload. They share the machine
   * with the peer and its reader, so on two cores what one side spends the other cannot.
   */
  backendCpuSeconds?: number;
  /** Requests the peer sent to S3 during the workload (counted at the latency proxy). */
  s3?: ProxyStats;
  /** For a repeated run (`BenchReport.repeats`): which round it belongs to, from 1. */
  round?: number;
}

export interface BenchReport {
  startedAt: string;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; kernel: string; node: string };
  latencyModel: { ttfbMs: number; bytesPerSecondPerConnection: number };
  dataset: Record<string, unknown>;
  quick: boolean;
  readers: number;
  pageCacheDropped: boolean;
  peers: PeerInfo[];
  results: WorkloadResult[];
  /**
   * The cold sequential read again after all peers, direct, datamount and s3fs back to back in
   * rounds whose order turns round every other round (`--cold-rounds`): one round's ratios move
   * by ±0.2 with the shared machine's speed, so the cold targets are judged on the median round.
   */
  repeats?: WorkloadResult[];
  /** Other benchmark parts (webhook, placement) keep their own results here. */
  parts: Record<string, unknown>;
  notes: string[];
}
