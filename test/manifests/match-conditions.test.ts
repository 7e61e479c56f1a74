/**
 * The webhook configuration's CEL matchConditions decide which pods the API server sends to
 * the webhook at all. Evaluated here with a CEL implementation (@bufbuild/cel) over the example
 * pods and over every AdmissionReview fixture of the webhook's own tests: a pod the webhook
 * would act on (inject, repair, deny) must always be sent, or it would be created without its
 * data — the very thing failurePolicy Fail is there to prevent.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { run, type CelInput } from '@bufbuild/cel';
import type { IMutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { reviewPod } from '../../webhook/review-pod';
import { FIXTURES, loadReview, patchedPod, testDeps, withPod } from '../webhook/review-fixtures';
import { resolveKustomization } from './kustomize-build';
import { MANIFESTS, findObject, type KubeObject } from './manifest-docs';

const config = findObject<IMutatingWebhookConfiguration & KubeObject>(resolveKustomization(MANIFESTS), 'MutatingWebhookConfiguration', 'datamount-webhook');
const conditions = config.webhooks?.[0]?.matchConditions ?? [];

/** CEL sees JSON objects as maps. */
function toCel(value: unknown): CelInput {
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') return new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  return value as CelInput;
}

/** True when every condition holds (the API server then calls the webhook); throws when one does not evaluate to a bool. */
function sent(pod: unknown): boolean {
  return conditions.every((condition) => {
    const result: unknown = run(condition.expression, { object: toCel(pod) });
    if (typeof result !== 'boolean') throw new Error(`matchCondition ${condition.name} gave ${String(result)}`);
    return result;
  });
}

const pod = (metadata: object): object => ({ apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'c', image: 'busybox' }] } });

describe('the matchConditions', () => {
  it('are there', () => {
    expect(conditions.map((c) => c.name)).toEqual(['mentions-datamount', 'not-opted-out']);
  });

  describe.each<[string, object, boolean]>([
    ['a pod with no labels or annotations', { name: 'p' }, false],
    ['a pod with empty maps', { name: 'p', labels: {}, annotations: {} }, false],
    ['a pod with other annotations and labels', { labels: { app: 'x' }, annotations: { 'example.com/a': 'b' } }, false],
    ['a pod asking by annotation', { annotations: { 'datamount.dev/datasets': 'imagenet' } }, true],
    ['a pod with only a per-dataset annotation (the webhook explains what is missing)', { annotations: { 'datamount.dev/imagenet.mount-path': '/data' } }, true],
    ['a Datashim-style pod', { labels: { 'dataset.0.id': 'archive', 'dataset.0.useas': 'mount' } }, true],
    ['a pod with a malformed Datashim label (the webhook refuses it with a reason)', { labels: { 'dataset.x.id': 'archive' } }, true],
    ['an opted-out pod', { annotations: { 'datamount.dev/datasets': 'imagenet', 'datamount.dev/inject': 'false' } }, false],
    ['a pod with inject: "true"', { annotations: { 'datamount.dev/datasets': 'imagenet', 'datamount.dev/inject': 'true' } }, true],
  ])('for %s', (_case, metadata, expected) => {
    it(expected ? 'sends it to the webhook' : 'creates it without the webhook', () => {
      expect(sent(pod(metadata))).toBe(expected);
    });
  });

  describe('for the example pods', () => {
    const examples = [...resolveKustomization(path.join(MANIFESTS, 'examples')), ...resolveKustomization(path.join(MANIFESTS, 'examples/datashim'))];
    const pods = examples.flatMap((o): Array<[string, object]> => {
      if (o.kind === 'Pod') return [[`Pod ${o.metadata.name}`, o]];
      const template = (o.spec as { template?: { metadata?: object; spec?: object } } | undefined)?.template;
      return template ? [[`${o.kind} ${o.metadata.name}`, { apiVersion: 'v1', kind: 'Pod', metadata: template.metadata ?? {}, spec: template.spec }]] : [];
    });

    it.each(pods)('sends %s', (_name, object) => {
      expect(sent(object)).toBe(true);
    });
  });

  describe("for the webhook's review fixtures", () => {
    const creates = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''))
      .map((name) => [name, loadReview(name).request] as const)
      .filter(([, request]) => request.operation === 'CREATE' && request.kind.kind === 'Pod');

    it('cover the cases', () => {
      expect(creates.length).toBeGreaterThanOrEqual(20);
    });

    it.each(creates)('%s: a pod the webhook acts on is sent to it, and so is the pod it makes', async (_name, request) => {
      const result = await reviewPod(request, testDeps());
      // A pod the webhook skips may or may not be sent; the condition must still evaluate.
      if (result.outcome === 'skipped') expect(typeof sent(request.object)).toBe('boolean');
      else expect(sent(request.object)).toBe(true);
      if (result.outcome === 'injected') {
        // Reinvocation (IfNeeded) only reaches the webhook if the injected pod still matches.
        const injected = patchedPod(request.object, result.response);
        expect(sent(injected)).toBe(true);
        expect((await reviewPod(withPod(request, injected), testDeps())).outcome).toBe('unchanged');
      }
    });

    it('leaves out the opted-out fixture', () => {
      expect(sent(loadReview('skip-opted-out').request.object)).toBe(false);
    });
  });
});
