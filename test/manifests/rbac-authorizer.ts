/**
 * Kubernetes RBAC, as the API server's authorizer applies it (kubernetes.io/docs/reference/
 * access-authn-authz/rbac), for the objects in our manifests: which rules let a ServiceAccount
 * make a request. Also the HTTP → request-attributes mapping of the API server
 * (k8s.io/apiserver RequestInfoFactory) for the paths our programs call.
 */
import type { KubeObject } from './manifest-docs';

export interface RequestAttributes {
  readonly verb: string;
  readonly apiGroup: string;
  readonly resource: string;
  /** Undefined for cluster-scoped resources and all-namespace lists. */
  readonly namespace?: string;
  /** The object's name; for list/watch, the `metadata.name` field selector if there is one. */
  readonly name?: string;
}

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

/** One permission a rule gives: a verb on a resource, maybe of one name. */
export interface Grant {
  /** `Role datamount-system/datamount-certs#0`. */
  readonly rule: string;
  readonly verb: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly name?: string;
  /** Where it applies: a namespace, or undefined for everywhere (ClusterRoleBinding). */
  readonly namespace?: string;
}

export function attributesOf(request: HttpRequest): RequestAttributes {
  const parts = request.path.split('/').filter(Boolean).map(decodeURIComponent);
  let rest: string[];
  let apiGroup: string;
  if (parts[0] === 'api') {
    apiGroup = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    apiGroup = parts[1] ?? '';
    rest = parts.slice(3);
  } else {
    throw new Error(`not a resource path: ${request.path}`);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource = '', name, subresource] = rest;
  if (subresource !== undefined) throw new Error(`subresources are not expected here: ${request.path}`);
  const selected = /^metadata\.name=([^,]+)$/.exec(request.query.fieldSelector ?? '')?.[1];
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection' };
  let verb = verbs[request.method];
  if (request.method === 'GET') verb = name ? 'get' : request.query.watch === 'true' || request.query.watch === '1' ? 'watch' : 'list';
  if (verb === undefined) throw new Error(`method ${request.method} is not mapped`);
  const objectName = name ?? (verb === 'list' || verb === 'watch' ? selected : undefined);
  return { verb, apiGroup, resource, ...(namespace === undefined ? {} : { namespace }), ...(objectName === undefined ? {} : { name: objectName }) };
}

function bindsServiceAccount(binding: KubeObject, account: { namespace: string; name: string }): boolean {
  return ((binding.subjects ?? []) as Subject[]).some((s) => s.kind === 'ServiceAccount' && s.name === account.name && s.namespace === account.namespace);
}

function rulesOf(objects: readonly KubeObject[], kind: string, name: string, namespace?: string): PolicyRule[] {
  const role = objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  if (!role) throw new Error(`binding names ${kind} ${name}, which the manifests do not hold`);
  return (role.rules ?? []) as PolicyRule[];
}

/** Every permission the ServiceAccount holds through the bindings in `objects`, one per verb × group × resource × name. */
export function grantsOf(objects: readonly KubeObject[], account: { namespace: string; name: string }): Grant[] {
  const grants: Grant[] = [];
  for (const binding of objects.filter((o) => (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') && bindsServiceAccount(o, account))) {
    const ref = binding.roleRef as { kind: string; name: string };
    const namespace = binding.kind === 'RoleBinding' ? binding.metadata.namespace : undefined;
    const rules = rulesOf(objects, ref.kind, ref.name, ref.kind === 'Role' ? namespace : undefined);
    rules.forEach((rule, index) => {
      if (rule.nonResourceURLs) throw new Error('nonResourceURLs are not expected in our roles');
      const label = `${ref.kind} ${ref.kind === 'Role' ? `${namespace}/` : ''}${ref.name}#${index}`;
      for (const verb of rule.verbs) {
        for (const apiGroup of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            const names = rule.resourceNames?.length ? rule.resourceNames : [undefined];
            for (const name of names) {
              grants.push({ rule: label, verb, apiGroup, resource, ...(name === undefined ? {} : { name }), ...(namespace === undefined ? {} : { namespace }) });
            }
          }
        }
      }
    });
  }
  return grants;
}

/** The grants that allow a request (empty: forbidden). */
export function allowingGrants(grants: readonly Grant[], request: RequestAttributes): Grant[] {
  return grants.filter((g) =>
    (g.namespace === undefined || g.namespace === request.namespace)
    && (g.verb === '*' || g.verb === request.verb)
    && (g.apiGroup === '*' || g.apiGroup === request.apiGroup)
    && (g.resource === '*' || g.resource === request.resource)
    && (g.name === undefined || g.name === request.name));
}
