import path from 'node:path';
import { MANIFESTS, ROOT, docsUnder, manifestFiles } from './manifest-docs';
import { hasKubectl, kubectlKustomize, objectId, resolveKustomization } from './kustomize-build';

const KUBECTL = hasKubectl();
const withKubectl = KUBECTL ? it : it.skip;
const BUILDS = ['manifests', 'manifests/base', 'manifests/overlays/cert-manager', 'manifests/examples', 'manifests/examples/datashim'];

function ids(objects: Array<Parameters<typeof objectId>[0]>): string[] {
  return objects.map(objectId).sort();
}

describe('the kustomizations', () => {
  describe('when resolved by our own resolver (no kubectl needed)', () => {
    it.each(BUILDS)('%s builds', (dir) => {
      expect(resolveKustomization(path.join(ROOT, dir)).length).toBeGreaterThan(0);
    });

    it('the install holds every file of base/, each object once', () => {
      const built = ids(resolveKustomization(MANIFESTS));
      expect(built).toEqual(ids(docsUnder('manifests/base/').map((doc) => doc.object)));
      expect(new Set(built).size).toBe(built.length);
    });

    it('the examples hold every example file, the Datashim ones in their own build', () => {
      expect(ids([...resolveKustomization(path.join(MANIFESTS, 'examples')), ...resolveKustomization(path.join(MANIFESTS, 'examples/datashim'))]))
        .toEqual(ids(docsUnder('manifests/examples/').map((doc) => doc.object)));
    });

    it('has exactly these five kustomizations', () => {
      const kustomizations = manifestFiles().filter((file) => path.basename(file) === 'kustomization.yaml').map(path.dirname).sort();
      expect(kustomizations).toEqual([...BUILDS].sort());
    });
  });

  describe('when built by kubectl kustomize (offline)', () => {
    if (!KUBECTL) {
      it('is skipped: kubectl is not installed here, the resolver above stands in for it', () => {
        expect(KUBECTL).toBe(false);
      });
    }

    withKubectl.each(BUILDS)('%s gives exactly the objects the resolver gives', (dir) => {
      const byId = (objects: ReturnType<typeof resolveKustomization>) => [...objects].sort((a, b) => objectId(a).localeCompare(objectId(b)));
      expect(byId(kubectlKustomize(path.join(ROOT, dir)))).toEqual(byId(resolveKustomization(path.join(ROOT, dir))));
    });
  });

  describe('the cert-manager overlay', () => {
    const overlay = resolveKustomization(path.join(MANIFESTS, 'overlays/cert-manager'));

    it('drops the certificate Job, CronJob and their RBAC, and nothing else of the base', () => {
      const base = ids(resolveKustomization(MANIFESTS));
      const kept = ids(overlay).filter((id) => base.includes(id));
      expect(base.filter((id) => !kept.includes(id))).toEqual([
        'ClusterRole /datamount-certs', 'ClusterRoleBinding /datamount-certs', 'CronJob datamount-system/datamount-certs',
        'Job datamount-system/datamount-certs', 'Role datamount-system/datamount-certs', 'RoleBinding datamount-system/datamount-certs',
        'ServiceAccount datamount-system/datamount-certs',
      ]);
    });

    it('adds the cert-manager issuers and certificates', () => {
      expect(ids(overlay.filter((o) => o.apiVersion === 'cert-manager.io/v1'))).toEqual([
        'Certificate datamount-system/datamount-webhook-ca', 'Certificate datamount-system/datamount-webhook-tls',
        'Issuer datamount-system/datamount-selfsigned', 'Issuer datamount-system/datamount-webhook-ca',
      ]);
    });
  });
});
