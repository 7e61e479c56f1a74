/**
 * The contract between the webhook and `datamount-sidecar run`, checked from the sidecar's side
 * with the webhook's real output: every admission fixture that injects a sidecar is reviewed,
 * its patch applied, and the injected container must be one the sidecar accepts and can serve
 * (docs/contract.md). The webhook's own tests check the same pods from its side.
 */
import { readdirSync } from 'node:fs';
import { reviewPod } from '../../webhook/review-pod';
import type { Container, Pod } from '../../webhook/pod';
import { datasetSpecs } from '../../sidecar/run-command';
import { parseSidecarConfig } from '../../sidecar/sidecar-config';
import { FIXTURES, loadRequest, patchedPod, testDeps } from '../webhook/review-fixtures';

async function injectedPods(): Promise<Array<[string, Pod, Container]>> {
  const found: Array<[string, Pod, Container]> = [];
  for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) {
    const name = file.replace(/\.json$/, '');
    const request = loadRequest(name);
    const { response } = await reviewPod(request, testDeps());
    if (!response.allowed || !response.patch) continue;
    const pod = patchedPod(request.object, response);
    const sidecar = pod.spec.initContainers?.find((c) => c.name === 'datamount-sidecar');
    if (sidecar) found.push([name, pod, sidecar]);
  }
  return found;
}

describe('webhook ⇄ sidecar contract', () => {
  let pods: Array<[string, Pod, Container]>;
  beforeAll(async () => {
    pods = await injectedPods();
  });

  it('has injected pods to check', () => {
    expect(pods.length).toBeGreaterThanOrEqual(3);
  });

  describe('when the sidecar reads what the webhook injected', () => {
    it('runs `run`, privileged, with a DATAMOUNT_CONFIG it accepts and every credential variable it names', () => {
      for (const [name, , sidecar] of pods) {
        expect({ name, args: sidecar.args, privileged: sidecar.securityContext?.privileged }).toEqual({ name, args: ['run'], privileged: true });
        const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value ?? (e.valueFrom?.secretKeyRef ? `secret-of-${e.name}` : undefined)]));
        const config = parseSidecarConfig(JSON.parse(String(env.DATAMOUNT_CONFIG)), env);
        for (const dataset of config.datasets) {
          // A credential resolved to a placeholder came from a secretKeyRef variable, never a literal.
          if (dataset.credentials) expect(dataset.credentials).toEqual({ accessKeyId: expect.stringMatching(/^secret-of-/), secretAccessKey: expect.stringMatching(/^secret-of-/) });
        }
        expect(String(env.DATAMOUNT_CONFIG)).not.toMatch(/secret-of-/);
      }
      expect(pods.some(([, , sidecar]) => sidecar.env?.some((e) => e.valueFrom?.secretKeyRef))).toBe(true);
    });

    it('probes /readyz on the port the sidecar serves, and mounts every dataset where the sidecar mounts it', () => {
      for (const [name, , sidecar] of pods) {
        const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value ?? 'x']));
        const config = parseSidecarConfig(JSON.parse(String(env.DATAMOUNT_CONFIG)), env);
        expect({ name, probe: (sidecar.startupProbe as { httpGet?: unknown } | undefined)?.httpGet }).toEqual({ name, probe: expect.objectContaining({ path: '/readyz', port: config.port }) });
        const mounts = sidecar.volumeMounts ?? [];
        for (const dataset of config.datasets) {
          expect({ name, mount: mounts.find((m) => m.mountPath === dataset.mountPoint) }).toEqual({ name, mount: expect.objectContaining({ mountPropagation: 'Bidirectional' }) });
          expect(dataset.cacheDir.startsWith(`${config.cacheRoot}/`)).toBe(true);
          // Its own cache folder only, mounted where DATAMOUNT_CONFIG names it (finding S1); none
          // when the pod asked for no disk cache (cache size 0).
          expect({ name, cache: mounts.filter((m) => m.mountPath === dataset.cacheDir).length }).toEqual({ name, cache: config.cacheSizeBytes === 0 ? 0 : 1 });
        }
        expect(mounts.some((m) => m.mountPath === config.cacheRoot)).toBe(false);
      }
    });

    it('serves a pod that asked for no disk cache (cache-size 0) from memory only, every other pod with its disk cache', () => {
      const seen = pods.map(([name, , sidecar]) => {
        const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value ?? 'x']));
        const config = parseSidecarConfig(JSON.parse(String(env.DATAMOUNT_CONFIG)), env);
        return { name, zero: config.cacheSizeBytes === 0, disks: datasetSpecs(config).map((spec) => spec.cacheDir !== undefined) };
      });
      expect(seen.filter((s) => s.zero).map((s) => s.name)).toEqual(['memory-cache-only']);
      for (const { name, zero, disks } of seen) expect({ name, disks }).toEqual({ name, disks: disks.map(() => !zero) });
    });
  });
});
