import type { WebhookConfig } from '../../webhook/config';
import { loadConfig } from '../../webhook/config';
import { type InjectionPlan, planInjection } from '../../webhook/injection-plan';
import { jsonText } from '../../webhook/json-text';
import type { Pod } from '../../webhook/pod';
import { parsePodRequest } from '../../webhook/pod-annotations';
import { buildSidecarConfig, buildSidecarContainer, sharedSidecarContainer } from '../../webhook/sidecar-spec';
import { fixtureCatalog, loadRequest } from './review-fixtures';

const catalog = fixtureCatalog();

function planFor(name: string, config: WebhookConfig, change: (pod: Pod) => void = () => {}): InjectionPlan {
  const request = loadRequest(name);
  const pod = structuredClone(request.object) as Pod;
  change(pod);
  const namespace = request.namespace ?? 'ml';
  const { request: wanted } = parsePodRequest(pod.metadata?.annotations, pod.metadata?.labels);
  const entries = wanted.datasets.map((d) => catalog.lookup(namespace, d.name));
  const problems: string[] = [];
  const plan = planInjection(pod, namespace, wanted, entries, config, problems, []);
  if (problems.length > 0) throw new Error(`fixture ${name} does not plan: ${problems.join('; ')}`);
  return plan;
}

describe('sharedSidecarContainer', () => {
  const config = loadConfig({});
  const fixtures = ['plain-pod', 'deployment-pod', 'several-datasets', 'custom-paths', 'sidecar-resources', 'datashim-labels'];

  describe.each(fixtures)('when a pod like %s is reviewed', (name) => {
    const plan = planFor(name, config);
    const shared = sharedSidecarContainer(plan, config);

    it('is the container buildSidecarContainer makes for the plan', () => {
      expect(shared).toEqual(buildSidecarContainer(plan, config));
      expect(JSON.parse(shared.env?.[0]?.value ?? '')).toEqual(buildSidecarConfig(plan, config));
    });

    it('is frozen, and its remembered JSON text is the container\'s', () => {
      expect(Object.isFrozen(shared)).toBe(true);
      expect(Object.isFrozen(shared.env)).toBe(true);
      expect(jsonText(shared)).toBe(JSON.stringify(buildSidecarContainer(plan, config)));
    });

    it('is the same object for the next pod with the same plan (a replica)', () => {
      expect(sharedSidecarContainer(planFor(name, config), config)).toBe(shared);
    });
  });

  describe('when the next pod differs in anything the sidecar is made of', () => {
    const base = planFor('several-datasets', config);
    it.each<[string, InjectionPlan, WebhookConfig]>([
      ['its user', { ...base, uid: base.uid + 1 }, config],
      ['its group', { ...base, gid: base.gid + 1 }, config],
      ['its cache size', { ...base, cacheSize: '20Gi' }, config],
      ['its memory cache', { ...base, cacheMemory: '1Gi' }, config],
      ['its sidecar resources', { ...base, resources: { ...base.resources, cpuLimit: '2' } }, config],
      ['one dataset\'s access', { ...base, datasets: base.datasets.map((d, i) => (i === 0 ? { ...d, readOnly: !d.readOnly } : d)) }, config],
      ['its datasets', { ...base, datasets: base.datasets.slice(1) }, config],
      ['the webhook\'s configuration', base, loadConfig({ DATAMOUNT_SIDECAR_IMAGE: 'registry.example/sidecar:2' })],
    ])('%s: gets its own sidecar, as built for it', (_what, plan, planConfig) => {
      const sidecar = sharedSidecarContainer(plan, planConfig);
      expect(sidecar).not.toBe(sharedSidecarContainer(base, config));
      expect(sidecar).toEqual(buildSidecarContainer(plan, planConfig));
    });
  });
});
