/**
 * What every answer of `POST /mutate` must be, whatever was sent (issue 7): either an HTTP 400
 * whose JSON body carries a reason, or an HTTP 200 AdmissionReview response for the request's
 * uid — a denial with a 4xx/503 status and a message, or an allowance whose JSON patch applies
 * to the pod. A 5xx or an internal-error denial is a bug of ours and counts as a failure.
 *
 * Tenant rules checked on every patched pod: the Secrets it references are only those of the
 * Datasets of the request's namespace (as the API server states it: with duplicate keys, the
 * last one, which is how both Go's decoder and JSON.parse read it), a Dataset of another
 * namespace is never injected, and the only hostPaths added are the injected Datasets' own
 * node-cache folders (`<cacheRoot>/<namespace>/<dataset>`, finding S1).
 */
import { applyPatch, type Operation } from 'fast-json-patch';
import { validatePod } from '../support/k8s-schema';
import { NAMESPACE_DATASETS, NAMESPACE_SECRETS } from './admission-arbitraries';

export interface AnswerContext {
  /** The request uid when the body carried a usable one. */
  uid?: string;
  /** The pod sent, when the body carried one; the patch must apply to it. */
  pod?: unknown;
  /** Whether the pod sent was schema-valid (then the patched pod must be too); asked only when there is a patch. */
  podWasValid: boolean | (() => boolean);
  /** A well-formed review: a 400 at the HTTP level would be wrong (denials go in the envelope). */
  wellFormed: boolean;
  cacheHostPath: string;
  /** The request's namespace; the tenant whose Datasets and Secrets the patch may use. */
  namespace?: string;
}

export interface CheckedAnswer {
  problems: string[];
  /** `http-400`, `allowed`, `patched`, `denied-<code>`: for the counts printed by the suites. */
  kind: string;
  /** The pod after the patch, when there was one. */
  patched?: unknown;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function checkMutateAnswer(status: number, payload: string, context: AnswerContext): CheckedAnswer {
  const problems: string[] = [];
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return { problems: [`HTTP ${status} with a body that is not JSON: ${payload.slice(0, 120)}`], kind: `http-${status}` };
  }
  if (status === 400) {
    if (context.wellFormed) problems.push('a well-formed review got HTTP 400 instead of an AdmissionReview response');
    if (!isObject(body) || typeof body.message !== 'string' || body.message.trim() === '') problems.push(`HTTP 400 without a reason: ${payload.slice(0, 120)}`);
    return { problems, kind: 'http-400' };
  }
  if (status !== 200) return { problems: [`HTTP ${status}: ${payload.slice(0, 200)}`], kind: `http-${status}` };

  if (!isObject(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview' || !isObject(body.response)) {
    return { problems: [`HTTP 200 but not an AdmissionReview response: ${payload.slice(0, 200)}`], kind: 'malformed' };
  }
  const response = body.response;
  if (context.uid !== undefined && response.uid !== context.uid) problems.push(`response.uid ${String(response.uid).slice(0, 40)} is not the request's`);
  if (typeof response.allowed !== 'boolean') problems.push('response.allowed is not a boolean');
  if (response.warnings !== undefined && (!Array.isArray(response.warnings) || response.warnings.some((w) => typeof w !== 'string'))) {
    problems.push('response.warnings is not a list of strings');
  }

  if (response.allowed !== true) {
    const code = isObject(response.status) ? response.status.code : undefined;
    const message = isObject(response.status) ? response.status.message : undefined;
    if (typeof message !== 'string' || message.trim() === '') problems.push('a denial without a message');
    if (typeof code !== 'number' || code < 400 || code > 599) problems.push(`a denial with status.code ${String(code)}`);
    if (code === 500) problems.push(`an internal error (a bug): ${String(message).slice(0, 300)}`);
    return { problems, kind: `denied-${String(code)}` };
  }
  if (response.patch === undefined) return { problems, kind: 'allowed' };

  if (response.patchType !== 'JSONPatch') problems.push(`patchType ${String(response.patchType)}`);
  if (typeof response.patch !== 'string' || !BASE64.test(response.patch)) return { problems: [...problems, 'patch is not base64'], kind: 'patched' };
  let operations: Operation[];
  try {
    operations = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  } catch {
    return { problems: [...problems, 'patch is not JSON'], kind: 'patched' };
  }
  if (!Array.isArray(operations)) return { problems: [...problems, 'patch is not a JSON array'], kind: 'patched' };
  if (!isObject(context.pod)) return { problems: [...problems, 'a patch for a request without a pod object'], kind: 'patched' };

  let patched: unknown;
  try {
    patched = applyPatch(structuredClone(context.pod), operations, true, false).newDocument;
  } catch (err) {
    return { problems: [...problems, `the patch does not apply: ${err instanceof Error ? err.message : String(err)}`], kind: 'patched' };
  }
  if (typeof context.podWasValid === 'function' ? context.podWasValid() : context.podWasValid) {
    const schema = validatePod(patched);
    if (schema.length > 0) problems.push(`the patched pod fails the Pod schema: ${schema.join('; ').slice(0, 400)}`);
  }
  problems.push(...tenantProblems(context.pod, patched, context.cacheHostPath, context.namespace ?? ''));
  return { problems, kind: 'patched', patched };
}

/** Secret names referenced anywhere in a pod (secretKeyRef, secretRef, secret volumes, pull secrets). */
export function secretNamesIn(value: unknown, found = new Set<string>()): Set<string> {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (Array.isArray(item)) stack.push(...(item as unknown[]));
    else if (isObject(item)) {
      for (const [key, child] of Object.entries(item)) {
        if ((key === 'secretKeyRef' || key === 'secretRef') && isObject(child) && typeof child.name === 'string') found.add(child.name);
        if (key === 'secret' && isObject(child) && typeof child.secretName === 'string') found.add(child.secretName);
        stack.push(child);
      }
    }
  }
  return found;
}

function tenantProblems(before: unknown, after: unknown, cacheHostPath: string, namespace: string): string[] {
  const problems: string[] = [];
  const had = secretNamesIn(before);
  const secrets = NAMESPACE_SECRETS[namespace] ?? [];
  for (const name of secretNamesIn(after)) {
    if (!had.has(name) && !secrets.includes(name)) problems.push(`the patch references Secret "${name}", which no Dataset of namespace "${namespace}" names`);
  }
  const annotations = isObject(after) && isObject(after.metadata) && isObject(after.metadata.annotations) ? after.metadata.annotations : {};
  const marker = annotations['datamount.dev/injected-datasets'];
  const injected = (typeof marker === 'string' ? marker : '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const own = NAMESPACE_DATASETS[namespace] ?? [];
  for (const name of injected) if (!own.includes(name)) problems.push(`Dataset "${name}" injected, which namespace "${namespace}" does not have`);
  const volumesOf = (pod: unknown): Json[] => (isObject(pod) && isObject(pod.spec) && Array.isArray(pod.spec.volumes) ? (pod.spec.volumes as Json[]) : []);
  const hostPaths = (pod: unknown): string[] => volumesOf(pod).flatMap((v) => (isObject(v.hostPath) ? [String(v.hostPath.path)] : []));
  const hadPaths = new Set(hostPaths(before));
  // Finding S1: a sidecar gets only its injected Datasets' own node-cache folders, never the root.
  const cacheDirs = new Set(injected.filter((name) => own.includes(name)).map((name) => `${cacheHostPath}/${namespace}/${name}`));
  for (const p of hostPaths(after)) if (!hadPaths.has(p) && !cacheDirs.has(p)) problems.push(`the patch adds hostPath ${p}, which is not the node-cache folder of an injected Dataset of namespace "${namespace}"`);
  return problems;
}
