/**
 * The read workloads of issues 3 and 8, in the order they run on each peer. `fresh` ones start
 * from a new mount with an empty cache directory (cold); the others reuse the previous mount,
 * after the kernel page cache is dropped (warm = the mounter's own cache). `direct` is the same
 * work done with plain parallel GetObject calls through the same proxy: the ceiling.
 */
import { smallKeys, treeKeys, type BenchDataset } from './bench-dataset';
import type { ReadJob, ReadOutcome } from './read-job';

export const WORKLOAD_IDS = ['seq-cold', 'seq-warm', 'random', 'small-cold', 'small-warm', 'list', 'epochs'] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

export type WorkloadUnit = 'MB/s' | 'files/s' | 'entries/s';

export interface WorkloadSettings {
  /** Parallel readers of the small-file workloads (a data loader's workers). */
  readers: number;
  /** Parallel ranged GETs of the direct download, and its part size. */
  directConcurrency: number;
  directPartBytes: number;
}

export interface ReadWorkload {
  id: WorkloadId;
  title: string;
  unit: WorkloadUnit;
  fresh: boolean;
  onMount(mountDir: string, data: BenchDataset, settings: WorkloadSettings): ReadJob;
  direct?(endpoint: string, data: BenchDataset, settings: WorkloadSettings): ReadJob;
  /** What is wrong with an outcome (files or entries missing), if anything. */
  check(outcome: ReadOutcome, data: BenchDataset, direct: boolean): string | undefined;
}

const SEED = 20261129;

const sequentialJob = (mountDir: string, data: BenchDataset): ReadJob =>
  ({ kind: 'sequential', file: `${mountDir}/${data.bigKey}`, bytes: data.bigBytes });

const smallJob = (epochs: number, shuffle: boolean) =>
  (mountDir: string, data: BenchDataset, settings: WorkloadSettings): ReadJob =>
    ({ kind: 'files', root: `${mountDir}/small`, keyPrefix: 'small/', fileBytes: data.smallBytes, readers: settings.readers, epochs, shuffle });

const smallDirect = (endpoint: string, data: BenchDataset, settings: WorkloadSettings): ReadJob =>
  ({ kind: 'direct-files', endpoint, bucket: data.bucket, keyPrefix: 'small/', fileBytes: data.smallBytes, readers: settings.readers });

const expectFiles = (epochs: number) => (outcome: ReadOutcome, data: BenchDataset): string | undefined => {
  const wanted = smallKeys(data).length * epochs;
  return outcome.files === wanted ? undefined : `read ${outcome.files} files, wanted ${wanted}`;
};

const expectBytes = (outcome: ReadOutcome, data: BenchDataset): string | undefined =>
  outcome.bytes === data.bigBytes ? undefined : `read ${outcome.bytes} bytes, wanted ${data.bigBytes}`;

export const READ_WORKLOADS: readonly ReadWorkload[] = [
  {
    id: 'seq-cold', title: 'sequential 1 object, cold', unit: 'MB/s', fresh: true,
    onMount: sequentialJob,
    direct: (endpoint, data, settings) => ({
      kind: 'direct-sequential', endpoint, bucket: data.bucket, key: data.bigKey, bytes: data.bigBytes,
      partBytes: settings.directPartBytes, concurrency: settings.directConcurrency,
    }),
    check: expectBytes,
  },
  { id: 'seq-warm', title: 'sequential 1 object, warm', unit: 'MB/s', fresh: false, onMount: sequentialJob, check: expectBytes },
  {
    id: 'random', title: 'random 1 MiB reads, cold', unit: 'MB/s', fresh: true,
    onMount: (mountDir, data) => ({
      kind: 'random', file: `${mountDir}/${data.bigKey}`, bytes: data.bigBytes, reads: data.randomReads,
      readBytes: data.randomReadBytes, seed: SEED,
    }),
    direct: (endpoint, data) => ({
      kind: 'direct-random', endpoint, bucket: data.bucket, key: data.bigKey, bytes: data.bigBytes,
      reads: data.randomReads, readBytes: data.randomReadBytes, seed: SEED,
    }),
    check: (outcome, data) => (outcome.bytes === data.randomReads * data.randomReadBytes ? undefined : `read ${outcome.bytes} bytes`),
  },
  { id: 'small-cold', title: 'small files, cold', unit: 'files/s', fresh: true, onMount: smallJob(1, false), direct: smallDirect, check: expectFiles(1) },
  { id: 'small-warm', title: 'small files, warm', unit: 'files/s', fresh: false, onMount: smallJob(1, false), check: expectFiles(1) },
  {
    id: 'list', title: 'ls -lR of the key tree', unit: 'entries/s', fresh: true,
    onMount: (mountDir) => ({ kind: 'list', root: `${mountDir}/tree` }),
    direct: (endpoint, data) => ({ kind: 'direct-list', endpoint, bucket: data.bucket, keyPrefix: 'tree/' }),
    check: (outcome, data, direct) => {
      // ls -lR shows each subdirectory and each file; the flat direct listing sees keys only.
      const wanted = treeKeys(data).length + (direct ? 0 : data.treeDirs);
      return outcome.entries === wanted ? undefined : `saw ${outcome.entries} entries, wanted ${wanted}`;
    },
  },
  { id: 'epochs', title: 'two shuffled epochs over the small files', unit: 'files/s', fresh: true, onMount: smallJob(2, true), check: expectFiles(2) },
];

/** The workload's headline figure: MB/s, files/s or entries/s. */
export function workloadValue(unit: WorkloadUnit, outcome: ReadOutcome): number {
  if (outcome.seconds <= 0) return 0;
  if (unit === 'MB/s') return outcome.bytes / 1e6 / outcome.seconds;
  if (unit === 'files/s') return outcome.files / outcome.seconds;
  return (outcome.entries ?? 0) / outcome.seconds;
}
