import { SimNode } from '../../bench/placement-cluster';
import { scheduleOnto } from '../../bench/placement-scheduler';
import { seededRandom } from '../../common/seeded-random';
import { HOSTNAME_LABEL } from '../../webhook/cache-hints';

function nodes(running: number[]): SimNode[] {
  return running.map((count, i) => {
    const node = new SimNode(`n${i}`, 4, 1, 1);
    node.running = count;
    return node;
  });
}

const preferred = (terms: Array<[string[], number]>): Record<string, unknown> => ({
  nodeAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: terms.map(([values, weight]) => ({
      weight, preference: { matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values }] },
    })),
  },
});

const required = (...terms: Array<Array<{ operator: string; values?: string[] }>>): Record<string, unknown> => ({
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: terms.map((expressions) => ({ matchExpressions: expressions.map((e) => ({ key: HOSTNAME_LABEL, ...e })) })),
    },
  },
});

describe('scheduleOnto (kube-scheduler model)', () => {
  describe('when choosing among nodes', () => {
    it.each<[string, number[], Record<string, unknown> | undefined, string | undefined]>([
      ['no affinity: the least allocated node', [3, 1, 2], undefined, 'n1'],
      // n0: affinity 100×2 + least-allocated 25 = 225; n1: 25×2 + 75 = 125.
      ['preferred weights outweigh a less loaded node', [2, 0], preferred([[['n0'], 80], [['n1'], 20]]), 'n0'],
      // n0: 100×2 + 0 = 200; n1: 0 + 75×1 = 75 … but n2 has 100 affinity too and is emptier.
      ['equal preference: the less loaded of the preferred nodes', [3, 0, 1], preferred([[['n0', 'n2'], 50]]), 'n2'],
      // n0 is full, so it is filtered out whatever its weight.
      ['a full preferred node is filtered out', [4, 1, 0], preferred([[['n0'], 100], [['n1'], 1]]), 'n1'],
      // n1: 1 normalised to 100 (it is the best feasible) ×2 + 50 = 250; n2: 0 + 75.
      ['weights are normalised by the best feasible node', [4, 1, 0], preferred([[['n1'], 1]]), 'n1'],
      ['required: only the named nodes', [0, 3, 2], required([{ operator: 'In', values: ['n1', 'n2'] }]), 'n2'],
      ['required terms are ORed', [0, 2, 3], required([{ operator: 'In', values: ['n1'] }], [{ operator: 'In', values: ['n2'] }]), 'n1'],
      ['required expressions are ANDed', [0, 0, 3], required([{ operator: 'In', values: ['n0', 'n2'] }, { operator: 'NotIn', values: ['n0'] }]), 'n2'],
      ['required with every named node full: none', [0, 4], required([{ operator: 'In', values: ['n1'] }]), undefined],
      ['every node full: none', [4, 4], undefined, undefined],
    ])('%s', (_name, running, affinity, wanted) => {
      expect(scheduleOnto(nodes(running), affinity, seededRandom(1))?.name).toBe(wanted);
    });
  });

  describe('when nodes tie', () => {
    it('picks among them at random, repeatably for a seed', () => {
      const pick = (seed: number): string[] => {
        const random = seededRandom(seed);
        return Array.from({ length: 40 }, () => scheduleOnto(nodes([1, 1, 1, 3]), undefined, random)?.name ?? '');
      };
      expect(new Set(pick(7))).toEqual(new Set(['n0', 'n1', 'n2']));
      expect(pick(7)).toEqual(pick(7));
    });
  });
});
