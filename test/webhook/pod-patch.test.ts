import fc from 'fast-check';
import { applyPatch } from 'fast-json-patch';
import type { Pod } from '../../webhook/pod';
import { withText } from '../../webhook/json-text';
import { copyForInjection, diffPod, type PatchOperation, patchText } from '../../webhook/pod-patch';
import { loadRequest } from './review-fixtures';

function apply(before: Pod, after: Pod): Pod {
  return applyPatch(structuredClone(before), diffPod(before, after), true, false).newDocument;
}

describe('copyForInjection', () => {
  it('gives new metadata, labels, annotations, spec and container objects and leaves the original untouched when they are written', () => {
    const pod = loadRequest('init-containers').object as Pod;
    const frozen = JSON.stringify(pod);
    const copy = copyForInjection(pod);
    copy.metadata!.labels!.extra = 'x';
    copy.metadata!.annotations = { ...copy.metadata!.annotations, more: 'y' };
    copy.spec.containers[0]!.env = [{ name: 'A', value: '1' }];
    copy.spec.initContainers![0]!.volumeMounts = [];
    copy.spec.volumes = [];
    copy.spec.affinity = { nodeAffinity: {} };
    expect(JSON.stringify(pod)).toBe(frozen);
  });
});

describe('diffPod', () => {
  const base = loadRequest('custom-paths').object as Pod;

  it.each<[string, (pod: Pod) => void, number]>([
    ['nothing changed', () => {}, 0],
    ['a sidecar put in front of existing init containers: one add, not a shifted replace of each', (p) => {
      p.spec.initContainers = [{ name: 'datamount-sidecar', image: 'i' }, ...(p.spec.initContainers ?? [])];
    }, 1],
    ['a sidecar put in front of init containers that also got a mount: the add plus one small change', (p) => {
      const prepare = p.spec.initContainers![0]!;
      p.spec.initContainers = [{ name: 'datamount-sidecar', image: 'i' }, { ...prepare, volumeMounts: [{ name: 'v', mountPath: '/v' }] }];
    }, 2],
    ['a named item removed from the middle', (p) => {
      p.spec.containers = [p.spec.containers[0]!, p.spec.containers[2]!];
    }, 1],
    ['a label added to labels with a "/" in the key', (p) => {
      p.metadata!.labels = { ...p.metadata!.labels, 'datamount.dev/injected': 'true' };
    }, 1],
    ['a volume mount appended to one container', (p) => {
      p.spec.containers[1] = { ...p.spec.containers[1]!, volumeMounts: [...(p.spec.containers[1]!.volumeMounts ?? []), { name: 'v', mountPath: '/v' }] };
    }, 1],
    ['affinity added where there was none', (p) => {
      p.spec.affinity = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } };
    }, 1],
  ])('%s', (_name, mutate, expectedOps) => {
    const before = structuredClone(base);
    before.spec.initContainers = [{ name: 'prepare', image: 'busybox' }];
    const after = copyForInjection(before);
    mutate(after);
    const ops = diffPod(before, after);
    expect(ops).toHaveLength(expectedOps);
    expect(apply(before, after)).toEqual(JSON.parse(JSON.stringify(after)));
  });

  it('escapes "~" and "/" in keys as RFC 6901 says', () => {
    const before = structuredClone(base);
    const after = copyForInjection(before);
    after.metadata!.annotations = { ...after.metadata!.annotations, 'a/b~c': 'v' };
    expect(diffPod(before, after)).toEqual([{ op: 'add', path: '/metadata/annotations/a~1b~0c', value: 'v' }]);
  });

  describe('for any change to the parts an injection writes', () => {
    // No "__proto__" or "constructor"/"prototype" keys: the server refuses a body holding them
    // before any review (json-body.ts), and fast-json-patch will not apply a patch that names them.
    const json = fc.jsonValue({ maxDepth: 3 }).filter((value) => !/"(__proto__|constructor|prototype)":/.test(JSON.stringify(value)));
    const named = fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: json }, { requiredKeys: ['name'] });
    const part = fc.record({
      labels: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })), { nil: undefined }),
      init: fc.option(fc.array(named, { maxLength: 4 }), { nil: undefined }),
      volumes: fc.option(fc.array(named, { maxLength: 4 }), { nil: undefined }),
      affinity: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), json, { maxKeys: 3 }), { nil: undefined }),
      env: fc.array(named, { maxLength: 5 }),
    });
    const podOf = (p: { labels?: unknown; init?: unknown; volumes?: unknown; affinity?: unknown; env: unknown }): Pod => JSON.parse(JSON.stringify({
      metadata: { name: 'p', ...(p.labels ? { labels: p.labels } : {}) },
      spec: { containers: [{ name: 'c', env: p.env }], ...(p.init ? { initContainers: p.init } : {}), ...(p.volumes ? { volumes: p.volumes } : {}), ...(p.affinity ? { affinity: p.affinity } : {}) },
    })) as Pod;

    it('produces a patch that turns the original into the copy', () => {
      fc.assert(fc.property(part, part, (a, b) => {
        const before = podOf(a);
        const target = podOf(b);
        const after = copyForInjection(before);
        after.metadata = target.metadata;
        after.spec.containers = target.spec.containers;
        for (const field of ['initContainers', 'volumes', 'affinity'] as const) {
          if (target.spec[field] === undefined) delete after.spec[field];
          else (after.spec as Record<string, unknown>)[field] = target.spec[field];
        }
        expect(apply(before, after)).toEqual(target);
      }), { numRuns: 300 });
    });
  });
});

describe('patchText', () => {
  describe('for any operations the diff writes', () => {
    // No "__proto__" or "constructor"/"prototype" keys: the server refuses a body holding them
    // before any review (json-body.ts), and fast-json-patch will not apply a patch that names them.
    const json = fc.jsonValue({ maxDepth: 3 }).filter((value) => !/"(__proto__|constructor|prototype)":/.test(JSON.stringify(value)));
    const value = fc.oneof(json, json.filter((v): v is object => typeof v === 'object' && v !== null).map((v) => withText(structuredClone(v))));
    const operation = fc.oneof(
      fc.record({ op: fc.constantFrom<'add' | 'replace'>('add', 'replace'), path: fc.string(), value }),
      fc.record({ op: fc.constant<'remove'>('remove'), path: fc.string() }),
    );

    it('is the text JSON.stringify writes, remembered parts in it or not', () => {
      fc.assert(fc.property(fc.array(operation, { maxLength: 6 }), (operations: PatchOperation[]) => {
        expect(patchText(operations)).toBe(JSON.stringify(operations));
      }), { numRuns: 500 });
    });
  });
});

