/**
 * The decided shape of one injection: which Dataset goes where, read-only or not. The review
 * builds it after every check has passed; the builders of the sidecar, the volumes and the
 * environment only read it.
 */
import type { Dataset } from './dataset';
import type { DatasetRequest } from './pod-annotations';

export interface PlannedDataset {
  request: DatasetRequest;
  dataset: Dataset;
  /** The Dataset's access narrowed by the pod's `read-only` annotation. */
  readOnly: boolean;
  volumeName: string;
  /** Names of the app containers and init containers that get the mount and/or the variables. */
  containers: string[];
}

export interface InjectionPlan {
  namespace: string;
  datasets: PlannedDataset[];
  /** Owner the mount shows its files as (docs/contract.md: runAsUser/runAsGroup or fsGroup, else 0). */
  uid: number;
  gid: number;
  resources: { cpuRequest?: string; cpuLimit?: string; memoryRequest?: string; memoryLimit?: string };
  cacheSize: string;
  cacheMemory: string;
}

/** The datasets the sidecar must mount (use-as includes mount). */
export function mountedDatasets(plan: InjectionPlan): PlannedDataset[] {
  return plan.datasets.filter((d) => d.request.mount);
}
