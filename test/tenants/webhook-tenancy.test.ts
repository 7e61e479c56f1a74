/**
 * The webhook keeps tenants apart (issue 7):
 * - a Dataset of another namespace can never be mounted, however the pod names it — the
 *   lookup uses the namespace the API server states for the request, never one the pod claims;
 * - no annotation lets a pod choose which Secret the sidecar reads: every Secret a patch
 *   references is the `secretRef` of a Dataset injected into the pod, with that Dataset's keys
 *   (a `secretKeyRef` has no namespace field, so it can only ever reach the pod's own namespace).
 * Each would fail if the protection were removed: a lookup by a pod-supplied namespace or a
 * qualified name would inject `private-y`; an annotation-chosen Secret would show in the patch.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { applyPatch, type Operation } from 'fast-json-patch';
import fc from 'fast-check';
import type { AdmissionRequest } from '../../webhook/admission-review';
import { parseCatalog } from '../../webhook/catalog-file';
import { loadConfig } from '../../webhook/config';
import { cacheReportReader, reviewPod, type ReviewDeps } from '../../webhook/review-pod';
import { FOREIGN_DATASET, podArb, reviewFor } from '../fuzz/admission-arbitraries';

const catalog = parseCatalog(readFileSync(path.join(__dirname, '..', 'fuzz', 'fixtures', 'catalog.yaml'), 'utf8'), 'catalog.yaml');
const deps: ReviewDeps = { config: loadConfig({}), catalog, now: () => new Date('2026-11-29T05:05:00Z'), cacheReports: cacheReportReader(catalog, () => []) };

/** What each Dataset of `ml` may put in a pod: its Secret and the keys it names (fixtures/catalog.yaml). */
const OWN_SECRETS: Record<string, { name: string; keys: string[] }> = {
  imagenet: { name: 'imagenet-creds', keys: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] },
  scratch: { name: 'scratch-creds', keys: ['id', 'key'] },
  legacy: { name: 'legacy-creds', keys: ['accessKeyID', 'secretAccessKey'] },
};

function pod(annotations: Record<string, string>, labels: Record<string, string> = {}, namespace?: string): Record<string, any> {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'p', ...(namespace ? { namespace } : {}), annotations, labels },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  };
}

function review(object: unknown, namespace = 'ml'): AdmissionRequest {
  return { ...(reviewFor(object as never, 'uid-1').request as unknown as AdmissionRequest), namespace };
}

function patched(object: unknown, patch: string | undefined): any {
  const operations = patch ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[]) : [];
  return applyPatch(structuredClone(object), operations, true, false).newDocument;
}

/** Every secretKeyRef in a pod, with where it is. */
function secretKeyRefs(value: unknown): Array<{ name: string; key: string }> {
  const found: Array<{ name: string; key: string }> = [];
  const stack: unknown[] = [value];
  while (stack.length) {
    const item = stack.pop();
    if (Array.isArray(item)) stack.push(...(item as unknown[]));
    else if (item && typeof item === 'object') {
      for (const [k, v] of Object.entries(item)) {
        if (k === 'secretKeyRef' && v && typeof v === 'object') found.push({ name: String((v).name), key: String((v).key) });
        else stack.push(v);
      }
    }
  }
  return found;
}

describe('webhook tenancy', () => {
  describe('when a pod in namespace ml names a Dataset that exists only in namespace other', () => {
    it.each<[string, Record<string, any>, string]>([
      ['by the datasets annotation', pod({ 'datamount.dev/datasets': FOREIGN_DATASET }), 'ml'],
      ['by a Datashim label', pod({}, { 'dataset.0.id': FOREIGN_DATASET, 'dataset.0.useas': 'mount' }), 'ml'],
      ['with a namespace-qualified name', pod({ 'datamount.dev/datasets': `other/${FOREIGN_DATASET}` }), 'ml'],
      ['with a dotted qualified name', pod({ 'datamount.dev/datasets': `${FOREIGN_DATASET}.other` }), 'ml'],
      ['with a namespace annotation of its own invention', pod({ 'datamount.dev/datasets': FOREIGN_DATASET, [`datamount.dev/${FOREIGN_DATASET}.namespace`]: 'other' }), 'ml'],
      ['while its own metadata claims namespace other', pod({ 'datamount.dev/datasets': FOREIGN_DATASET }, {}, 'other'), 'ml'],
    ])('refuses it %s, with a 400 naming it, and injects nothing', async (_how, object, namespace) => {
      const result = await reviewPod(review(object, namespace), deps);
      expect(result.response.allowed).toBe(false);
      expect(result.response.status?.code).toBe(400);
      expect(result.response.patch).toBeUndefined();
      expect(result.response.status?.message).toMatch(new RegExp(FOREIGN_DATASET.replace('-', '\\-')));
    });

    it('mounts it for a pod of namespace other (the control: the Dataset itself is usable)', async () => {
      const result = await reviewPod(review(pod({ 'datamount.dev/datasets': FOREIGN_DATASET }), 'other'), deps);
      expect(result.response.allowed).toBe(true);
      expect(secretKeyRefs(patched(pod({ 'datamount.dev/datasets': FOREIGN_DATASET }), result.response.patch)).map((r) => r.name)).toContain('other-creds');
    });
  });

  describe('when annotations try to choose a Secret', () => {
    const smuggling = fc.record({
      dataset: fc.constantFrom('imagenet', 'scratch', 'legacy', 'coco'),
      useAs: fc.constantFrom('mount', 'env', 'mount,env'),
      field: fc.constantFrom('secret', 'secret-name', 'secretRef', 'secret-namespace', 'credentials', 'access-key-id', 'secret-access-key', 'env', 'secretKeyRef'),
      value: fc.constantFrom('other-creds', 'other/other-creds', 'kube-system/admin-token', '{"name":"other-creds","namespace":"other"}', 'AWS_SECRET_ACCESS_KEY', 'datamount-webhook-tls'),
      global: fc.boolean(),
    });

    it('every Secret in the patch is the secretRef of an injected Dataset, with its own keys (1,000 generated pods)', async () => {
      let injected = 0;
      await fc.assert(
        fc.asyncProperty(podArb, smuggling, async (generated, attack) => {
          const object = structuredClone(generated) as Record<string, any>;
          object.metadata.annotations = {
            ...object.metadata.annotations,
            'datamount.dev/datasets': attack.dataset,
            [`datamount.dev/${attack.dataset}.use-as`]: attack.useAs,
            [attack.global ? `datamount.dev/${attack.field}` : `datamount.dev/${attack.dataset}.${attack.field}`]: attack.value,
          };
          const result = await reviewPod(review(object), deps);
          if (!result.response.patch) return;
          injected += 1;
          const after = patched(object, result.response.patch);
          // Datasets the pod really got (the generated pod may ask for more through Datashim labels).
          const names = String(after.metadata.annotations['datamount.dev/injected-datasets'] ?? '').split(',').filter(Boolean);
          const allowed = names.flatMap((name) => (OWN_SECRETS[name] ? [OWN_SECRETS[name]] : []));
          const had = new Set(secretKeyRefs(object).map((r) => `${r.name}/${r.key}`));
          for (const ref of secretKeyRefs(after)) {
            if (had.has(`${ref.name}/${ref.key}`)) continue;
            expect(allowed.some((own) => own.name === ref.name && own.keys.includes(ref.key))).toBe(true);
            expect(ref.name).not.toMatch(/other|admin|tls|\//);
          }
        }),
        { numRuns: 1000, seed: 7 },
      );
      expect(injected).toBeGreaterThan(100);
    });
  });

  describe('when the sidecar is given the node cache', () => {
    // Finding S1 (docs/robustness.md), fixed: the sidecar gets one hostPath per injected
    // dataset, its own folder `<cacheRoot>/<namespace>/<dataset>`, never the cache root, so it
    // cannot list, delete or fill another namespace's blocks.
    it('reaches only the cache folders of its own namespace\'s injected Datasets', async () => {
      const object = pod({ 'datamount.dev/datasets': 'imagenet, coco' });
      const result = await reviewPod(review(object), deps);
      const after = patched(object, result.response.patch);
      const hostPaths: string[] = (after.spec.volumes ?? []).flatMap((v: any) => (v.hostPath ? [v.hostPath.path] : []));
      expect(hostPaths.length).toBeGreaterThan(0);
      const root = deps.config.cacheHostPath;
      for (const p of hostPaths) expect([`${root}/ml/imagenet`, `${root}/ml/coco`]).toContain(p);
    });
  });
});
