import { validatePod } from './k8s-schema';

describe('validatePod', () => {
  it('accepts a native sidecar pod', () => {
    expect(validatePod({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' },
      spec: { initContainers: [{ name: 's', image: 'i', restartPolicy: 'Always' }], containers: [{ name: 'c', image: 'i' }] },
    })).toEqual([]);
  });
  it('rejects a container without a name', () => {
    expect(validatePod({ apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ image: 'i' }] } })).not.toEqual([]);
  });
});
