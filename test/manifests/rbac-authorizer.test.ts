import type { KubeObject } from './manifest-docs';
import { allowingGrants, attributesOf, grantsOf, type RequestAttributes } from './rbac-authorizer';

const SA = { namespace: 'sys', name: 'robot' };
const subjects = [{ kind: 'ServiceAccount', name: 'robot', namespace: 'sys' }];
const OBJECTS = [
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'one-cm', namespace: 'sys' },
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cm'], verbs: ['get', 'list', 'create'] }] },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'one-cm', namespace: 'sys' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'one-cm' }, subjects },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'datasets' },
    rules: [{ apiGroups: ['datamount.dev'], resources: ['datasets'], verbs: ['watch'] }] },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'datasets' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'datasets' }, subjects },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'someone-else' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'datasets' }, subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: 'other' }] },
] as unknown as KubeObject[];

describe('attributesOf', () => {
  it.each<[string, string, Record<string, string>, RequestAttributes]>([
    ['GET', '/api/v1/namespaces/sys/configmaps/cm', {}, { verb: 'get', apiGroup: '', resource: 'configmaps', namespace: 'sys', name: 'cm' }],
    ['GET', '/api/v1/namespaces/sys/configmaps', { fieldSelector: 'metadata.name=cm' }, { verb: 'list', apiGroup: '', resource: 'configmaps', namespace: 'sys', name: 'cm' }],
    ['GET', '/apis/datamount.dev/v1alpha1/datasets', { watch: 'true' }, { verb: 'watch', apiGroup: 'datamount.dev', resource: 'datasets' }],
    ['POST', '/api/v1/namespaces/sys/secrets', {}, { verb: 'create', apiGroup: '', resource: 'secrets', namespace: 'sys' }],
    ['PUT', '/api/v1/namespaces/sys/secrets/s', {}, { verb: 'update', apiGroup: '', resource: 'secrets', namespace: 'sys', name: 's' }],
    ['PATCH', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/w', {}, { verb: 'patch', apiGroup: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', name: 'w' }],
  ])('%s %s %j', (method, path, query, expected) => {
    expect(attributesOf({ method, path, query })).toEqual(expected);
  });
});

describe('allowingGrants', () => {
  const grants = grantsOf(OBJECTS, SA);

  it.each<[string, RequestAttributes, boolean]>([
    ['get of the named ConfigMap', { verb: 'get', apiGroup: '', resource: 'configmaps', namespace: 'sys', name: 'cm' }, true],
    ['get of another ConfigMap', { verb: 'get', apiGroup: '', resource: 'configmaps', namespace: 'sys', name: 'other' }, false],
    ['the named ConfigMap in another namespace (a Role binds only its own)', { verb: 'get', apiGroup: '', resource: 'configmaps', namespace: 'elsewhere', name: 'cm' }, false],
    ['list narrowed to the name by a field selector', { verb: 'list', apiGroup: '', resource: 'configmaps', namespace: 'sys', name: 'cm' }, true],
    ['list of every ConfigMap', { verb: 'list', apiGroup: '', resource: 'configmaps', namespace: 'sys' }, false],
    ['create, which carries no name a resourceNames rule could match', { verb: 'create', apiGroup: '', resource: 'configmaps', namespace: 'sys' }, false],
    ['watch of Datasets in every namespace (ClusterRoleBinding)', { verb: 'watch', apiGroup: 'datamount.dev', resource: 'datasets' }, true],
    ['watch of Datasets of another group', { verb: 'watch', apiGroup: 'datashim.io', resource: 'datasets' }, false],
    ['list of Datasets (not granted)', { verb: 'list', apiGroup: 'datamount.dev', resource: 'datasets' }, false],
  ])('%s → %s', (_case, request, allowed) => {
    expect(allowingGrants(grants, request).length > 0).toBe(allowed);
  });

  it('counts only bindings of this ServiceAccount', () => {
    expect(grants.map((g) => g.rule)).toEqual([
      'Role sys/one-cm#0', 'Role sys/one-cm#0', 'Role sys/one-cm#0', 'ClusterRole datasets#0',
    ]);
  });
});
