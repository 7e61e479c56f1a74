import { docsUnder, manifestDocs } from './manifest-docs';
import { kubernetesSchemaErrors } from './kind-models';
import { unknownFields } from './strict-fields';

const CUSTOM_GROUPS = ['datamount.dev/', 'datashim.io/', 'cert-manager.io/'];
const docs = manifestDocs();
const builtIn = docs.filter((doc) => !CUSTOM_GROUPS.some((group) => doc.object.apiVersion.startsWith(group)));
const label = (doc: (typeof docs)[number]): string => `${doc.file}#${doc.index} ${doc.object.kind} ${doc.object.metadata.name}`;

describe('the manifests', () => {
  it('hold the install, the overlay and the examples', () => {
    expect(docsUnder('manifests/base/').length).toBeGreaterThanOrEqual(20);
    expect(docsUnder('manifests/examples/').length).toBeGreaterThanOrEqual(10);
  });

  describe.each(builtIn.map((doc) => [label(doc), doc] as const))('%s', (_label, doc) => {
    it('validates against the Kubernetes OpenAPI schema of its kind', () => {
      expect(kubernetesSchemaErrors(doc.object)).toEqual([]);
    });

    it('has no field its kind does not define (kubectl apply validates strictly)', () => {
      expect(unknownFields(doc.object)).toEqual([]);
    });
  });

  it('use only custom kinds of the groups known here', () => {
    const custom = docs.filter((doc) => !builtIn.includes(doc)).map((doc) => `${doc.object.apiVersion} ${doc.object.kind}`);
    expect([...new Set(custom)].sort()).toEqual([
      'cert-manager.io/v1 Certificate', 'cert-manager.io/v1 Issuer', 'datamount.dev/v1alpha1 Dataset', 'datashim.io/v1alpha1 Dataset',
    ]);
  });
});

describe('the strict field check', () => {
  describe('when a field is misspelt', () => {
    it('names it with its path', () => {
      const deployment = {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', labelz: {} },
        spec: { selector: {}, template: { spec: { containers: [{ name: 'c', readinesProbe: {} }] } } },
      };
      expect(unknownFields(deployment).map((error) => error.split(':')[0])).toEqual([
        '.metadata.labelz', '.spec.template.spec.containers[0].readinesProbe',
      ]);
    });
  });

  describe('when maps hold arbitrary keys', () => {
    it('accepts labels, annotations and ConfigMap data', () => {
      const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { anything: 'goes' } }, data: { 'node-a': '{}' } };
      expect(unknownFields(configMap)).toEqual([]);
    });
  });
});
