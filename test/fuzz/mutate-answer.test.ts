import { checkMutateAnswer, secretNamesIn, type AnswerContext } from './mutate-answer';

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'busybox' }] } };
const context: AnswerContext = { uid: 'u1', pod, podWasValid: true, wellFormed: true, cacheHostPath: '/var/lib/datamount/cache', namespace: 'ml' };
const b64 = (ops: unknown): string => Buffer.from(JSON.stringify(ops)).toString('base64');
const review = (response: object): string => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
const envFrom = (secret: string) => [{ op: 'add', path: '/spec/containers/0/env', value: [{ name: 'K', valueFrom: { secretKeyRef: { name: secret, key: 'k' } } }] }];

describe('checkMutateAnswer', () => {
  describe('when the answer keeps the contract', () => {
    it.each([
      ['an allowance without a patch', 200, review({ uid: 'u1', allowed: true })],
      ['a denial with a 400 and a message', 200, review({ uid: 'u1', allowed: false, status: { code: 400, message: 'annotation x: bad' } })],
      ['a patch that applies and keeps to the namespace Secrets', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64(envFrom('imagenet-creds')) })],
      ['an HTTP 400 with a reason for a body that is not a review', 400, JSON.stringify({ code: 'X', message: 'body must be a JSON object' })],
      ['the node-cache folder of an injected Dataset of the namespace', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64([
        { op: 'add', path: '/metadata/annotations', value: { 'datamount.dev/injected-datasets': 'imagenet' } },
        { op: 'add', path: '/spec/volumes', value: [{ name: 'datamount-cache-imagenet', hostPath: { path: '/var/lib/datamount/cache/ml/imagenet', type: 'DirectoryOrCreate' } }] },
      ]) })],
    ])('finds no problem in %s', (_name, status, payload) => {
      expect(checkMutateAnswer(status, payload, { ...context, wellFormed: status === 200 })).toMatchObject({ problems: [] });
    });
  });

  describe('when the answer breaks it', () => {
    it.each([
      ['a 500', 500, '{"message":"boom"}', context],
      ['a body that is not JSON', 200, '<html>', context],
      ['another uid', 200, review({ uid: 'u2', allowed: true }), context],
      ['an internal-error denial', 200, review({ uid: 'u1', allowed: false, status: { code: 500, message: 'bug' } }), context],
      ['a denial without a message', 200, review({ uid: 'u1', allowed: false, status: { code: 400 } }), context],
      ['an HTTP 400 for a well-formed review', 400, '{"message":"no"}', context],
      ['an HTTP 400 without a reason', 400, '{}', { ...context, wellFormed: false }],
      ['a patch that is not base64', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: '%%' }), context],
      ['a patch that does not apply', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64([{ op: 'replace', path: '/spec/nothing/here', value: 1 }]) }), context],
      ['a patch that breaks the Pod schema', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64([{ op: 'add', path: '/spec/containers/0/image', value: 7 }]) }), context],
      ['a Secret of another namespace', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64(envFrom('other-creds')) }), context],
      ['a Dataset of another namespace', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64([{ op: 'add', path: '/metadata/annotations', value: { 'datamount.dev/injected-datasets': 'coco,private-y' } }]) }), context],
      ['a hostPath other than the cache', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64([{ op: 'add', path: '/spec/volumes', value: [{ name: 'h', hostPath: { path: '/' } }] }]) }), context],
      ['the whole node-cache root', 200, review({ uid: 'u1', allowed: true, patchType: 'JSONPatch', patch: b64([{ op: 'add', path: '/spec/volumes', value: [{ name: 'datamount-cache', hostPath: { path: '/var/lib/datamount/cache' } }] }]) }), context],
    ] as const)('reports %s', (_name, status, payload, ctx) => {
      expect(checkMutateAnswer(status, payload, ctx).problems.length).toBeGreaterThan(0);
    });
  });

  describe('secretNamesIn', () => {
    it('finds secretKeyRef, secretRef, secret volumes and nothing else', () => {
      const names = secretNamesIn({ a: [{ secretKeyRef: { name: 'one' } }, { envFrom: [{ secretRef: { name: 'two' } }] }], volumes: [{ secret: { secretName: 'three' } }, { configMap: { name: 'cm' } }] });
      expect([...names].sort()).toEqual(['one', 'three', 'two']);
    });
  });
});
