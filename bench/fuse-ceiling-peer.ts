/**
 * A reference row, not a mounter to choose: the big object served from memory by a trivial
 * fuse-native file system (bench/fuse-ceiling-process.ts), read by the same workloads. Its
 * speed is the most any fuse-native file system reaches on this machine, so it shows how much
 * of a gap to a target is the FUSE path itself. Only the workloads on the big object.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { benchDataset } from './bench-dataset';
import { mountProcess, type MountPeer } from './mount-peer';
import { DEFAULT_READAHEAD_KIB } from '../sidecar/fuse-adapter';

const PROCESS = path.resolve(__dirname, 'fuse-ceiling-process.js');

export const fuseCeilingPeer = (quick: boolean): MountPeer => {
  const data = benchDataset(quick);
  const options = { key: data.bigKey, bytes: data.bigBytes, readaheadKiB: DEFAULT_READAHEAD_KIB };
  return {
    name: 'fuse-native',
    workloads: ['seq-cold', 'seq-warm', 'random'],
    describe: (target) => `node fuse-ceiling-process.js ${target.mountDir} '${JSON.stringify(options)}' (bytes generated in memory, readahead as datamount)`,
    async unavailable() {
      return existsSync(PROCESS) ? undefined : `${PROCESS} is missing (run make build)`;
    },
    mount: (target) => mountProcess('fuse-native', process.execPath, [PROCESS, target.mountDir, JSON.stringify(options)], target),
  };
};
