import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validatePod } from './k8s-schema';

const fixturePod = (): Record<string, unknown> => (JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'admission', 'deployment-pod.json'), 'utf8')) as { request: { object: Record<string, unknown> } }).request.object;

describe('validatePod', () => {
  it('accepts a native sidecar pod', () => {
    expect(validatePod({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' },
      spec: { initContainers: [{ name: 's', image: 'i', restartPolicy: 'Always' }], containers: [{ name: 'c', image: 'i' }] },
    })).toEqual([]);
  });

  it('accepts a full pod as a Deployment makes it (maps, quantities, projected volumes, owner references)', () => {
    expect(validatePod(fixturePod())).toEqual([]);
  });

  it('rejects a container without a name', () => {
    expect(validatePod({ apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ image: 'i' }] } })).not.toEqual([]);
  });

  describe('when a field is not in the schema (strict field validation)', () => {
    it.each<[string, (pod: Record<string, any>) => void, string]>([
      ['a misspelt container field', (p) => { p.spec.containers[0].imagePullPolicyy = 'Always'; }, 'unknown field "spec.containers[0].imagePullPolicyy"'],
      ['a field on a volume mount', (p) => { p.spec.containers[0].volumeMounts[0].propagation = 'Bidirectional'; }, 'unknown field "spec.containers[0].volumeMounts[0].propagation"'],
      ['a namespace on a secretKeyRef (it has none)', (p) => {
        p.spec.containers[0].env = [{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'k', namespace: 'other' } } }];
      }, 'unknown field "spec.containers[0].env[0].valueFrom.secretKeyRef.namespace"'],
      ['a top-level field', (p) => { p.extra = true; }, 'unknown field "extra"'],
      ['a field in affinity terms', (p) => {
        p.spec.affinity = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [] }, node: 'a' }] } };
      }, 'unknown field "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].node"'],
    ])('rejects %s', (_name, mutate, expected) => {
      const pod = fixturePod();
      mutate(pod);
      expect(validatePod(pod)).toContain(expected);
    });

    it('accepts any key in a map (labels, annotations, resource quantities)', () => {
      const pod = fixturePod() as Record<string, any>;
      pod.metadata.labels['anything.example.com/any-key'] = 'v';
      pod.spec.containers[0].resources.requests['example.com/fpga'] = '1';
      expect(validatePod(pod)).toEqual([]);
    });
  });
});
