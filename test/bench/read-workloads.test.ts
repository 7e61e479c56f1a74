import { benchDataset } from '../../bench/bench-dataset';
import { READ_WORKLOADS, workloadValue, type WorkloadId } from '../../bench/read-workloads';

const data = benchDataset(false);
const workload = (id: WorkloadId) => {
  const found = READ_WORKLOADS.find((w) => w.id === id);
  if (!found) throw new Error(id);
  return found;
};

describe('READ_WORKLOADS', () => {
  it('runs cold workloads on a fresh mount and warm ones on the mount before them', () => {
    expect(READ_WORKLOADS.map((w) => [w.id, w.fresh])).toEqual([
      ['seq-cold', true], ['seq-warm', false], ['random', true], ['small-cold', true], ['small-warm', false], ['list', true], ['epochs', true],
    ]);
  });

  describe('when a run read too little', () => {
    it.each([
      ['seq-cold', { seconds: 1, bytes: data.bigBytes - 1, files: 1 }, false, /wanted 1073741824/],
      ['small-cold', { seconds: 1, bytes: 0, files: 4999, listSeconds: 0 }, false, /wanted 5000/],
      ['epochs', { seconds: 1, bytes: 0, files: 5000, listSeconds: 0 }, false, /wanted 10000/],
      ['list', { seconds: 1, bytes: 0, files: 0, entries: 10_000 }, false, /wanted 10100/],
    ] as const)('%s fails the check', (id, outcome, direct, message) => {
      expect(workload(id).check(outcome, data, direct)).toMatch(message);
    });
  });

  describe('when a run read everything', () => {
    it.each([
      ['list on a mount sees keys and directories', { seconds: 1, bytes: 0, files: 0, entries: 10_100 }, false],
      ['list straight from S3 sees keys only', { seconds: 1, bytes: 0, files: 0, entries: 10_000 }, true],
      ['small-cold', { seconds: 1, bytes: 0, files: 5000 }, false],
    ] as const)('%s passes', (name, outcome, direct) => {
      const id = name.split(' ')[0] as WorkloadId;
      expect(workload(id).check(outcome, data, direct)).toBeUndefined();
    });
  });

  it('builds a direct job only where plain GetObject is a meaningful ceiling', () => {
    expect(READ_WORKLOADS.filter((w) => w.direct).map((w) => w.id)).toEqual(['seq-cold', 'random', 'small-cold', 'list']);
  });
});

describe('workloadValue', () => {
  it.each([
    ['MB/s', { seconds: 2, bytes: 200e6, files: 1 }, 100],
    ['files/s', { seconds: 4, bytes: 0, files: 5000 }, 1250],
    ['entries/s', { seconds: 5, bytes: 0, files: 0, entries: 10_100 }, 2020],
    ['MB/s', { seconds: 0, bytes: 1, files: 1 }, 0],
  ] as const)('%s of %p is %p', (unit, outcome, value) => {
    expect(workloadValue(unit, outcome)).toBe(value);
  });
});
