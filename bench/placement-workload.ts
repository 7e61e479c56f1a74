/**
 * The placement simulation's workload: datasets with sizes and Zipf popularity, and a stream of
 * pods that each read one or two of them for a few epochs. Generated from a seed, so the runs
 * with and without hints see exactly the same stream.
 *
 * Sizes are log-uniform between `minDatasetGiB` and `maxDatasetGiB` (real training sets span
 * orders of magnitude: a 1 GiB validation split, a 25 GiB COCO, a 150 GiB ImageNet) and are drawn
 * independently of popularity. Popularity follows Zipf's law with exponent `zipf`: the k-th most
 * popular dataset is asked for in proportion to 1/k^zipf.
 */
import { seededRandom } from '../common/seeded-random';

export const GiB = 2 ** 30;

export interface SimDataset {
  /** "namespace/name", as in the cache-location ConfigMap. */
  key: string;
  bytes: number;
  /** Popularity rank, 1 = most asked for. */
  rank: number;
}

export interface SimPod {
  id: number;
  arrivalS: number;
  datasets: string[];
  epochs: number;
}

export interface WorkloadOptions {
  seed: number;
  datasets: number;
  minDatasetGiB: number;
  maxDatasetGiB: number;
  zipf: number;
  pods: number;
  /** Probability that a pod reads a second dataset (e.g. a labels or validation set). */
  twoDatasetShare: number;
  minEpochs: number;
  maxEpochs: number;
}

export interface Workload {
  datasets: SimDataset[];
  /** Pods without arrival times yet; `withArrivals` spaces them out. */
  pods: Array<Omit<SimPod, 'arrivalS'>>;
}

export function generateWorkload(options: WorkloadOptions): Workload {
  const random = seededRandom(options.seed);
  const logMin = Math.log(options.minDatasetGiB);
  const logMax = Math.log(options.maxDatasetGiB);
  const datasets: SimDataset[] = Array.from({ length: options.datasets }, (_, i) => ({
    key: `ml/dataset-${String(i + 1).padStart(2, '0')}`,
    bytes: Math.round(Math.exp(logMin + random() * (logMax - logMin)) * GiB),
    rank: i + 1,
  }));
  const weights = datasets.map((d) => 1 / d.rank ** options.zipf);
  const total = weights.reduce((sum, w) => sum + w, 0);
  const cumulative: number[] = [];
  let running = 0;
  for (const w of weights) cumulative.push((running += w / total));
  const pick = (): string => {
    const u = random();
    const index = cumulative.findIndex((c) => u < c);
    return (datasets[index === -1 ? datasets.length - 1 : index] as SimDataset).key;
  };
  const pods = Array.from({ length: options.pods }, (_, id) => {
    const first = pick();
    const keys = [first];
    if (random() < options.twoDatasetShare) {
      const second = pick();
      if (second !== first) keys.push(second);
    }
    const epochs = options.minEpochs + Math.floor(random() * (options.maxEpochs - options.minEpochs + 1));
    return { id, datasets: keys, epochs };
  });
  return { datasets, pods };
}

/** Poisson arrivals at `perSecond`, from a seed of their own. */
export function withArrivals(pods: Workload['pods'], perSecond: number, seed: number): SimPod[] {
  const random = seededRandom(seed ^ 0x5eed);
  let t = 0;
  return pods.map((pod) => {
    t += -Math.log(1 - random()) / perSecond;
    return { ...pod, arrivalS: t };
  });
}
