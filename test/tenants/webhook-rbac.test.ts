import path from 'node:path';
import { allows, loadManifests, reachOf, type Grant, type ManifestObject, type Reach } from './rbac-reach';

const MANIFESTS = path.join(__dirname, '..', '..', 'manifests');
const WEBHOOK = { namespace: 'datamount-system', name: 'datamount-webhook' };

const ALL_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const POD_RESOURCES = ['pods', 'pods/exec', 'pods/attach', 'pods/portforward', 'pods/eviction', 'pods/binding', 'pods/status', 'pods/ephemeralcontainers', 'pods/proxy'];
/** Verbs that reach further than their resource: acting as someone else, granting rights. */
const ESCALATING = [
  ['impersonate', '', 'serviceaccounts'], ['impersonate', '', 'users'], ['impersonate', '', 'groups'],
  ['escalate', 'rbac.authorization.k8s.io', 'roles'], ['bind', 'rbac.authorization.k8s.io', 'clusterrolebindings'],
  ['create', '', 'serviceaccounts/token'],
] as const;

/** Everything the account must not be able to do; empty when the manifests keep the tenant rule. */
function violations(reach: Reach): string[] {
  const found = [...reach.unresolved];
  const check = (grant: Grant, verb: string, group: string, resource: string, why: string): void => {
    if (allows(grant, verb, group, resource)) found.push(`${grant.via} in ${grant.scope}: ${verb} ${resource} (${why})`);
  };
  for (const grant of reach.grants) {
    for (const verb of ALL_VERBS) check(grant, verb, '', 'secrets', 'the webhook never reads a Secret');
    for (const verb of WRITE_VERBS) for (const resource of POD_RESOURCES) check(grant, verb, '', resource, 'the webhook only answers reviews');
    for (const [verb, group, resource] of ESCALATING) check(grant, verb, group, resource, 'escalation');
  }
  return found;
}

function rbac(kind: string, name: string, body: object, namespace?: string): ManifestObject {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: { name, ...(namespace ? { namespace } : {}) }, ...body };
}
const webhookSubject = [{ kind: 'ServiceAccount', name: 'datamount-webhook', namespace: 'datamount-system' }];

describe('webhook RBAC (tenant rule: no Secrets, no writes to pods)', () => {
  const shipped = loadManifests(MANIFESTS);

  describe('when reading the shipped manifests', () => {
    it('runs the webhook Deployment under the datamount-webhook ServiceAccount that is checked here', () => {
      const deployment = shipped.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'datamount-webhook');
      expect(deployment).toBeDefined();
      expect((deployment as any).spec.template.spec.serviceAccountName).toBe(WEBHOOK.name);
    });

    it('binds the webhook account to roles the manifests define, granting reads of Datasets', () => {
      const reach = reachOf(shipped, WEBHOOK);
      expect(reach.unresolved).toEqual([]);
      expect(reach.grants.some((g) => allows(g, 'watch', 'datamount.dev', 'datasets'))).toBe(true);
    });

    it('grants the webhook account nothing on Secrets, no write on pods, no escalation', () => {
      expect(violations(reachOf(shipped, WEBHOOK))).toEqual([]);
    });

    it('keeps the one Secret-writing role on its own account (datamount-certs), away from the webhook', () => {
      const certs = reachOf(shipped, { namespace: 'datamount-system', name: 'datamount-certs' });
      expect(certs.grants.some((g) => allows(g, 'update', '', 'secrets'))).toBe(true);
    });
  });

  describe('when a manifest would break the rule (the check must catch it)', () => {
    it.each<[string, ManifestObject[]]>([
      ['a rule reading Secrets', [
        rbac('Role', 'leak', { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] }, 'datamount-system'),
        rbac('RoleBinding', 'leak', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leak' }, subjects: webhookSubject }, 'datamount-system'),
      ]],
      ['a cluster rule patching pods', [
        rbac('ClusterRole', 'mutator', { rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }] }),
        rbac('ClusterRoleBinding', 'mutator', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'mutator' }, subjects: webhookSubject }),
      ]],
      ['wildcards in the core group', [
        rbac('ClusterRole', 'wild', { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['list'] }] }),
        rbac('ClusterRoleBinding', 'wild', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'wild' }, subjects: webhookSubject }),
      ]],
      ['pods/exec through a subresource wildcard', [
        rbac('ClusterRole', 'exec', { rules: [{ apiGroups: [''], resources: ['pods/*'], verbs: ['create'] }] }),
        rbac('ClusterRoleBinding', 'exec', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'exec' }, subjects: webhookSubject }),
      ]],
      ['a binding to a built-in role (edit)', [
        rbac('ClusterRoleBinding', 'builtin', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: webhookSubject }),
      ]],
      ['Secrets given to every service account by group', [
        rbac('ClusterRole', 'all-sa', { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] }),
        rbac('ClusterRoleBinding', 'all-sa', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'all-sa' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts' }] }),
      ]],
      ['an aggregated ClusterRole', [
        rbac('ClusterRole', 'agg', { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] } }),
        rbac('ClusterRoleBinding', 'agg', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agg' }, subjects: webhookSubject }),
      ]],
      ['impersonation', [
        rbac('ClusterRole', 'imp', { rules: [{ apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'] }] }),
        rbac('ClusterRoleBinding', 'imp', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'imp' }, subjects: [{ kind: 'User', name: 'system:serviceaccount:datamount-system:datamount-webhook' }] }),
      ]],
    ])('reports %s', (_name, extra) => {
      expect(violations(reachOf([...shipped, ...extra], WEBHOOK)).length).toBeGreaterThan(0);
    });

    it('does not blame the webhook for a Secret rule bound to another account', () => {
      const extra = [
        rbac('Role', 'other', { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] }, 'datamount-system'),
        rbac('RoleBinding', 'other', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'other' }, subjects: [{ kind: 'ServiceAccount', name: 'someone-else', namespace: 'datamount-system' }] }, 'datamount-system'),
      ];
      expect(violations(reachOf([...shipped, ...extra], WEBHOOK))).toEqual([]);
    });
  });
});
