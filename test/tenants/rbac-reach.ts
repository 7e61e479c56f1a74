/**
 * What a ServiceAccount may do, worked out from manifests the way the RBAC authorizer does
 * (k8s.io/apiserver, plugin/pkg/authorizer/rbac): every RoleBinding and ClusterRoleBinding whose
 * subjects cover the account — by name, by `system:serviceaccount:<ns>:<name>`, or through the
 * groups every service account is in — contributes the rules of its role; `*` matches any
 * group, resource or verb; `pods/*` covers subresources. A binding to a role that the manifests
 * do not define (cluster-admin, edit, …) or to an aggregated ClusterRole cannot be checked from
 * the files, so it is reported as unresolved rather than assumed harmless.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface ManifestObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  [field: string]: unknown;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs?: string[];
  nonResourceURLs?: string[];
}

export interface Grant {
  rule: PolicyRule;
  /** Namespace the rule applies in, or "*" for a ClusterRoleBinding. */
  scope: string;
  /** `RoleBinding ns/name → Role name`, for messages. */
  via: string;
}

export interface Reach {
  grants: Grant[];
  /** Bindings whose role cannot be checked from the manifests. */
  unresolved: string[];
}

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** Every object in every YAML file under `root` (kustomization files are build instructions, not objects). */
export function loadManifests(root: string): ManifestObject[] {
  const objects: ManifestObject[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir).sort()) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(entry) && !/^kustomization\.ya?ml$/.test(entry)) {
        for (const doc of parseAllDocuments(readFileSync(full, 'utf8'))) {
          const value: unknown = doc.toJS();
          if (value && typeof value === 'object' && !Array.isArray(value)) objects.push(value as ManifestObject);
        }
      }
    }
  };
  walk(root);
  return objects;
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

function covers(subject: Subject, bindingNamespace: string | undefined, account: ServiceAccountRef): boolean {
  switch (subject.kind) {
    case 'ServiceAccount':
      return subject.name === account.name && (subject.namespace ?? bindingNamespace) === account.namespace;
    case 'User':
      return subject.name === `system:serviceaccount:${account.namespace}:${account.name}`;
    case 'Group':
      return ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`, 'system:authenticated'].includes(subject.name ?? '');
    default:
      return false;
  }
}

export function reachOf(objects: readonly ManifestObject[], account: ServiceAccountRef): Reach {
  const reach: Reach = { grants: [], unresolved: [] };
  const isRbac = (o: ManifestObject, kind: string): boolean => o.apiVersion === 'rbac.authorization.k8s.io/v1' && o.kind === kind;
  for (const binding of objects) {
    const cluster = isRbac(binding, 'ClusterRoleBinding');
    if (!cluster && !isRbac(binding, 'RoleBinding')) continue;
    const namespace = binding.metadata?.namespace;
    const subjects = (binding.subjects ?? []) as Subject[];
    if (!subjects.some((s) => covers(s, namespace, account))) continue;
    const ref = (binding.roleRef ?? {}) as { kind?: string; name?: string };
    const role = objects.find((o) => isRbac(o, ref.kind ?? '') && o.metadata?.name === ref.name
      && (ref.kind === 'ClusterRole' || o.metadata?.namespace === namespace));
    const via = `${binding.kind} ${namespace ? `${namespace}/` : ''}${binding.metadata?.name ?? '?'} → ${ref.kind ?? '?'} ${ref.name ?? '?'}`;
    if (!role) {
      reach.unresolved.push(`${via}: role not defined in the manifests`);
      continue;
    }
    if (role.aggregationRule !== undefined) {
      reach.unresolved.push(`${via}: aggregated ClusterRole, its rules come from other roles at run time`);
      continue;
    }
    for (const rule of (role.rules ?? []) as PolicyRule[]) reach.grants.push({ rule, scope: cluster ? '*' : (namespace ?? '?'), via });
  }
  return reach;
}

const any = (list: string[] | undefined, value: string): boolean => (list ?? []).some((item) => item === '*' || item === value);

/** True when the grant lets `verb` be done on `resource` (e.g. `pods`, `pods/exec`) of API group `group`. */
export function allows(grant: Grant, verb: string, group: string, resource: string): boolean {
  const { rule } = grant;
  if (!any(rule.apiGroups, group) || !any(rule.verbs, verb)) return false;
  const [base] = resource.split('/');
  return (rule.resources ?? []).some((r) => r === '*' || r === resource || (r === `${base}/*` && resource.includes('/')));
}
