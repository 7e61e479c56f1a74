import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import { ContainerConfigError, expandVariables, resolveContainerEnv, type EnvSources } from './kubelet-env';

const pod: IPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'trainer', namespace: 'ml', uid: 'u-1', labels: { app: 'train', tier: 'gpu' }, annotations: { note: 'x' } },
  spec: { serviceAccountName: 'runner', containers: [] },
};

const sources: EnvSources = {
  pod,
  nodeName: 'node-a',
  podIP: '10.0.0.7',
  hostIP: '192.168.1.2',
  secrets: [{
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'ml' },
    data: { AWS_ACCESS_KEY_ID: Buffer.from('S3RVER').toString('base64'), 'bad key': Buffer.from('v').toString('base64') },
    stringData: { token: 'plain' },
  }],
  configMaps: [{
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'ml' },
    data: { MODE: 'fast', LEVEL: '3' },
  }],
};

function envOf(env: IEnvVar[], extra: Partial<IContainer> = {}): Record<string, string> {
  return Object.fromEntries(resolveContainerEnv({ name: 'app', env, ...extra }, sources).vars);
}

describe('resolveContainerEnv', () => {
  describe('when a variable has a value', () => {
    it.each([
      ['a plain value', [{ name: 'A', value: 'one' }], { A: 'one' }],
      ['$(VAR) of an earlier variable', [{ name: 'A', value: 'x' }, { name: 'B', value: '$(A)-y' }], { A: 'x', B: 'x-y' }],
      ['$(VAR) of a later variable stays as written', [{ name: 'B', value: '$(A)' }, { name: 'A', value: 'x' }], { B: '$(A)', A: 'x' }],
      ['$$ escapes a dollar', [{ name: 'A', value: 'x' }, { name: 'B', value: '$$(A)' }], { A: 'x', B: '$(A)' }],
      ['an unknown variable stays as written', [{ name: 'B', value: 'a$(NOPE)b' }], { B: 'a$(NOPE)b' }],
      ['an empty value', [{ name: 'E' }], { E: '' }],
    ])('resolves %s', (_what, env, wanted) => {
      expect(envOf(env)).toEqual(wanted);
    });
  });

  describe('when a variable comes from valueFrom', () => {
    it.each([
      ['secretKeyRef (data, base64)', { secretKeyRef: { name: 'creds', key: 'AWS_ACCESS_KEY_ID' } }, 'S3RVER'],
      ['secretKeyRef (stringData)', { secretKeyRef: { name: 'creds', key: 'token' } }, 'plain'],
      ['configMapKeyRef', { configMapKeyRef: { name: 'settings', key: 'MODE' } }, 'fast'],
      ['fieldRef metadata.name', { fieldRef: { fieldPath: 'metadata.name' } }, 'trainer'],
      ['fieldRef metadata.namespace', { fieldRef: { fieldPath: 'metadata.namespace' } }, 'ml'],
      ['fieldRef metadata.uid', { fieldRef: { fieldPath: 'metadata.uid' } }, 'u-1'],
      ['fieldRef a label', { fieldRef: { fieldPath: "metadata.labels['tier']" } }, 'gpu'],
      ['fieldRef all labels', { fieldRef: { fieldPath: 'metadata.labels' } }, 'app="train"\ntier="gpu"'],
      ['fieldRef spec.nodeName', { fieldRef: { fieldPath: 'spec.nodeName' } }, 'node-a'],
      ['fieldRef spec.serviceAccountName', { fieldRef: { fieldPath: 'spec.serviceAccountName' } }, 'runner'],
      ['fieldRef status.podIP', { fieldRef: { fieldPath: 'status.podIP' } }, '10.0.0.7'],
      ['fieldRef status.hostIP', { fieldRef: { fieldPath: 'status.hostIP' } }, '192.168.1.2'],
    ])('resolves %s', (_what, valueFrom, wanted) => {
      expect(envOf([{ name: 'V', valueFrom }])).toEqual({ V: wanted });
    });

    it.each([
      ['limits.memory in Mi', { resource: 'limits.memory', divisor: '1Mi' }, '512'],
      ['limits.cpu in millicores', { resource: 'limits.cpu', divisor: '1m' }, '1500'],
      ['limits.cpu rounded up to cores', { resource: 'limits.cpu' }, '2'],
      ['requests.memory defaulting to the limit', { resource: 'requests.memory' }, String(512 * 2 ** 20)],
    ])('resolves resourceFieldRef %s', (_what, resourceFieldRef, wanted) => {
      const resources = { limits: { cpu: '1500m', memory: '512Mi' } };
      expect(envOf([{ name: 'R', valueFrom: { resourceFieldRef } }], { resources })).toEqual({ R: wanted });
    });
  });

  describe('when a reference cannot be resolved', () => {
    it.each([
      ['a missing Secret key', { secretKeyRef: { name: 'creds', key: 'NOPE' } }, "couldn't find key NOPE in Secret ml/creds"],
      ['a missing Secret', { secretKeyRef: { name: 'gone', key: 'K' } }, 'secret "gone" not found'],
      ['a missing ConfigMap key', { configMapKeyRef: { name: 'settings', key: 'NOPE' } }, "couldn't find key NOPE in ConfigMap ml/settings"],
      ['a missing ConfigMap', { configMapKeyRef: { name: 'gone', key: 'K' } }, 'configmap "gone" not found'],
      ['an unknown fieldPath', { fieldRef: { fieldPath: 'spec.nope' } }, 'unsupported fieldRef fieldPath "spec.nope"'],
    ])('fails on %s with the kubelet\'s message', (_what, valueFrom, message) => {
      const resolve = (): unknown => envOf([{ name: 'V', valueFrom }]);
      expect(resolve).toThrow(ContainerConfigError);
      expect(resolve).toThrow(message);
    });

    it.each([
      ['a Secret key', { secretKeyRef: { name: 'creds', key: 'NOPE', optional: true } }],
      ['a Secret', { secretKeyRef: { name: 'gone', key: 'K', optional: true } }],
      ['a ConfigMap key', { configMapKeyRef: { name: 'settings', key: 'NOPE', optional: true } }],
    ])('leaves the variable out when %s is missing but optional', (_what, valueFrom) => {
      expect(envOf([{ name: 'A', value: 'a' }, { name: 'V', valueFrom }])).toEqual({ A: 'a' });
    });
  });

  describe('when the container has envFrom', () => {
    it('adds every key under its prefix, before env, which can refer to and override them', () => {
      const env = envOf(
        [{ name: 'CFG_MODE', value: 'slow' }, { name: 'BOTH', value: '$(CFG_LEVEL)/$(S_AWS_ACCESS_KEY_ID)' }],
        { envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }, { secretRef: { name: 'creds' }, prefix: 'S_' }] },
      );
      expect(env).toEqual({ CFG_MODE: 'slow', CFG_LEVEL: '3', S_AWS_ACCESS_KEY_ID: 'S3RVER', S_token: 'plain', BOTH: '3/S3RVER' });
    });

    it('skips keys that are not valid variable names, with a warning', () => {
      const resolved = resolveContainerEnv({ name: 'app', envFrom: [{ secretRef: { name: 'creds' } }] }, sources);
      expect(resolved.vars.has('bad key')).toBe(false);
      expect(resolved.warnings).toEqual([expect.stringContaining('"bad key"')]);
    });

    it('fails on a missing source unless optional', () => {
      expect(() => envOf([], { envFrom: [{ configMapRef: { name: 'gone' } }] })).toThrow('configmap "gone" not found');
      expect(envOf([], { envFrom: [{ configMapRef: { name: 'gone', optional: true } }] })).toEqual({});
    });
  });
});

describe('expandVariables', () => {
  it.each([
    ['$(A)$(B)', 'ab'],
    ['$A', '$A'],
    ['$(A', '$(A'],
    ['$', '$'],
    ['x$$$(A)', 'x$a'],
  ])('expands %j to %j', (input, wanted) => {
    expect(expandVariables(input, new Map([['A', 'a'], ['B', 'b']]))).toBe(wanted);
  });
});
