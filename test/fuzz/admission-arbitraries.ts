/**
 * fast-check arbitraries for AdmissionReviews sent to the webhook's `/mutate` (issue 7).
 *
 * Two families:
 * - `reviewArb`: well-formed `admission.k8s.io/v1` reviews of schema-valid pods in namespace
 *   `ml`, carrying random datamount annotations and Datashim labels — right and wrong values
 *   alike (unknown datasets, relative paths, bad quantities, unknown containers), because a user
 *   mistake must come back as a 400 admission response, and a success as a patch that applies.
 * - `hostileBodyArb`: raw request bodies, because some attacks only exist as text: wrong types
 *   and missing fields anywhere, huge arrays, nesting thousands deep, odd unicode and control
 *   characters in annotation names and values, duplicate JSON keys, base64 where an object
 *   belongs, truncated JSON, bodies past the limit.
 *
 * Datasets named here are those of `fixtures/catalog.yaml`.
 */
import fc from 'fast-check';

export const FUZZ_NAMESPACE = 'ml';
/** Datasets that exist in `ml` (datamount.dev and, for `legacy`, datashim.io). */
export const KNOWN_DATASETS = ['imagenet', 'coco', 'scratch', 'legacy'] as const;
/** Exists only in namespace `other`: a pod in `ml` must never get it. */
export const FOREIGN_DATASET = 'private-y';
/** The Secrets the Datasets of each namespace reference: a pod's patch may name no other. */
export const NAMESPACE_SECRETS: Readonly<Record<string, readonly string[]>> = {
  ml: ['imagenet-creds', 'scratch-creds', 'legacy-creds'],
  other: ['other-creds'],
};
/** The Datasets each namespace has: nothing else may be injected into its pods. */
export const NAMESPACE_DATASETS: Readonly<Record<string, readonly string[]>> = {
  ml: KNOWN_DATASETS,
  other: [FOREIGN_DATASET],
};

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface ReviewCase {
  review: JsonObject;
  /** The pod inside, for checks on the patched result. */
  pod: JsonObject;
}

export interface RawCase {
  /** Which family of hostility made it, for the counts printed by the suite. */
  label: string;
  body: string;
  contentType: string;
}

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$/);

/** Mostly right, sometimes wrong: a user mistake must be a clean denial, a right value a patch that applies. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: bad });

const badQuantity = fc.constantFrom('-1', 'abc', '', '9999999Ei', '1.5.5Gi', '250m');
const byteQuantity = mostly(fc.constantFrom('64Mi', '512Mi', '2Gi', '10Gi', '1G'), badQuantity);
/** Requests drawn below limits, so a right pair never has the request above the limit. */
const resourceValue = {
  'cpu-request': mostly(fc.constantFrom('50m', '100m', '250m'), badQuantity),
  'cpu-limit': mostly(fc.constantFrom('500m', '1', '2'), badQuantity),
  'memory-request': mostly(fc.constantFrom('64Mi', '128Mi', '256Mi'), badQuantity),
  'memory-limit': mostly(fc.constantFrom('512Mi', '1Gi', '2Gi'), badQuantity),
};
const mountPath = mostly(
  fc.oneof(fc.constantFrom('/data/x', '/work', '/mnt/datasets/imagenet'), fc.stringMatching(/^\/[a-z0-9_-]{1,12}(\/[a-z0-9_-]{1,12}){0,2}$/)),
  fc.constantFrom('relative/path', '/', '/etc', '/data/../etc', '', '/data//y', '/proc/x'),
);
const readOnly = mostly(fc.constant('true'), fc.constantFrom('false', 'TRUE', 'yes', ''));
const useAs = mostly(fc.constantFrom('mount', 'env', 'mount,env'), fc.constantFrom('env, mount', 'configmap', 'bogus', ''));
const affinity = mostly(fc.constantFrom('preferred', 'required', 'none'), fc.constantFrom('maybe', ''));
const datasetName = fc.oneof(
  { weight: 18, arbitrary: fc.constantFrom(...KNOWN_DATASETS) },
  { weight: 1, arbitrary: fc.constant(FOREIGN_DATASET) },
  { weight: 1, arbitrary: dnsLabel },
);

/** A container's fields but its name; built once (stringMatching is costly to construct). */
const containerBody: fc.Arbitrary<JsonObject> = fc.record(
  {
    image: fc.constantFrom('busybox:1.36', 'python:3.12-slim', 'registry.example.com/team/train@sha256:' + 'a'.repeat(64)),
    command: fc.array(fc.constantFrom('sh', '-c', 'python', 'train.py', 'sleep 3600'), { maxLength: 3 }),
    env: fc.array(fc.record({ name: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,12}$/), value: fc.string({ maxLength: 20 }) }), { maxLength: 3 }),
  },
  { requiredKeys: ['image'] },
);

interface PodShape {
  names: string[];
  initCount: number;
  datasets: string[];
  separator: string;
  perDataset: Array<{ mountPath?: string; containers?: string; readOnly?: string; useAs?: string }>;
  resources: Partial<Record<'cpu-request' | 'cpu-limit' | 'memory-request' | 'memory-limit', string>>;
  cacheSize?: string;
  cacheMemory?: string;
  cacheAffinity?: string;
  optOut?: string;
  datashim: Array<{ id: string; useas?: string }>;
  named: boolean;
  namespaced: boolean;
  runAsUser?: number;
  zoneAffinity: boolean;
  fsGroup?: number;
}

/** Present about half the time (fast-check: nil with probability 1/freq). */
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });

const podShape: fc.Arbitrary<PodShape> = fc.record({
  names: fc.uniqueArray(dnsLabel, { minLength: 1, maxLength: 5 }),
  initCount: fc.nat({ max: 2 }),
  datasets: fc.oneof({ weight: 1, arbitrary: fc.constant<string[]>([]) }, { weight: 9, arbitrary: fc.array(datasetName, { minLength: 1, maxLength: 3 }) }),
  separator: fc.constantFrom(',', ', ', ' ,', ',,'),
  perDataset: fc.array(
    fc.record({ mountPath: optional(mountPath), containers: optional(fc.string({ minLength: 1, maxLength: 3 })), readOnly: optional(readOnly), useAs: optional(useAs) }),
    { minLength: 4, maxLength: 4 },
  ),
  resources: fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.record(resourceValue, { requiredKeys: [] }) },
  ),
  cacheSize: optional(byteQuantity),
  cacheMemory: optional(byteQuantity),
  cacheAffinity: optional(affinity),
  optOut: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('false', 'true', 'no') }),
  datashim: fc.oneof(
    { weight: 4, arbitrary: fc.constant<PodShape['datashim']>([]) },
    { weight: 1, arbitrary: fc.array(fc.record({ id: datasetName, useas: optional(mostly(fc.constantFrom('mount', 'configmap', 'mount.configmap'), fc.constant('bogus'))) }), { maxLength: 2 }) },
  ),
  named: fc.boolean(),
  namespaced: fc.boolean(),
  runAsUser: optional(fc.integer({ min: 0, max: 65535 })),
  zoneAffinity: fc.boolean(),
  fsGroup: optional(fc.integer({ min: 0, max: 65535 })),
});

/** The `containers` annotation: a subset of the pod's names, sometimes with one that does not exist. */
function containersValue(selector: string, names: string[]): string {
  const picked = names.filter((_, i) => (selector.charCodeAt(i % Math.max(1, selector.length)) || 0) % 2 === 0);
  if (selector === 'x') picked.push('no-such-container');
  if (picked.length === 0) picked.push(names[0] ?? 'none');
  return picked.join(',');
}

function podFrom(shape: PodShape): fc.Arbitrary<JsonObject> {
  const initNames = shape.names.slice(0, Math.min(shape.initCount, shape.names.length - 1));
  const appNames = shape.names.slice(initNames.length);
  return fc.array(containerBody, { minLength: shape.names.length, maxLength: shape.names.length }).map((bodies) => {
    const withName = (name: string, i: number): JsonObject => ({ name, ...bodies[i] });
    const inits = initNames.map((name, i) => withName(name, i));
    const apps = appNames.map((name, i) => withName(name, initNames.length + i));
    const annotations: Record<string, string> = {};
    const labels: Record<string, string> = { app: 'fuzz' };
    if (shape.datasets.length > 0) annotations['datamount.dev/datasets'] = shape.datasets.join(shape.separator);
    shape.datasets.forEach((name, i) => {
      const per = shape.perDataset[i % shape.perDataset.length]!;
      if (per.mountPath !== undefined) annotations[`datamount.dev/${name}.mount-path`] = per.mountPath;
      if (per.containers !== undefined) annotations[`datamount.dev/${name}.containers`] = containersValue(per.containers, shape.names);
      if (per.readOnly !== undefined) annotations[`datamount.dev/${name}.read-only`] = per.readOnly;
      if (per.useAs !== undefined) annotations[`datamount.dev/${name}.use-as`] = per.useAs;
    });
    for (const [which, value] of Object.entries(shape.resources)) annotations[`datamount.dev/sidecar-${which}`] = value;
    if (shape.cacheSize !== undefined) annotations['datamount.dev/cache-size'] = shape.cacheSize;
    if (shape.cacheMemory !== undefined) annotations['datamount.dev/cache-memory'] = shape.cacheMemory;
    if (shape.cacheAffinity !== undefined) annotations['datamount.dev/cache-affinity'] = shape.cacheAffinity;
    if (shape.optOut !== undefined) annotations['datamount.dev/inject'] = shape.optOut;
    shape.datashim.forEach((entry, n) => {
      labels[`dataset.${n}.id`] = entry.id;
      if (entry.useas !== undefined) labels[`dataset.${n}.useas`] = entry.useas;
    });
    const metadata: JsonObject = shape.named ? { name: 'fuzz-pod' } : { generateName: 'fuzz-job-' };
    if (shape.namespaced) metadata.namespace = FUZZ_NAMESPACE;
    metadata.labels = labels;
    if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
    const spec: JsonObject = { containers: apps, restartPolicy: 'Never' };
    if (inits.length > 0) spec.initContainers = inits;
    const securityContext: JsonObject = {};
    if (shape.runAsUser !== undefined) securityContext.runAsUser = shape.runAsUser;
    if (shape.fsGroup !== undefined) securityContext.fsGroup = shape.fsGroup;
    if (Object.keys(securityContext).length > 0) spec.securityContext = securityContext;
    if (shape.zoneAffinity) {
      spec.affinity = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } }] } };
    }
    return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
  });
}

export const podArb: fc.Arbitrary<JsonObject> = podShape.chain(podFrom);

/** An AdmissionReview the API server could send for a pod CREATE (sometimes dryRun). */
export function reviewFor(pod: JsonObject, uid: string, dryRun = false, operation = 'CREATE'): JsonObject {
  const metadata = (pod.metadata ?? {}) as JsonObject;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: typeof metadata.name === 'string' ? metadata.name : '',
      namespace: FUZZ_NAMESPACE,
      operation,
      userInfo: { username: 'system:serviceaccount:kube-system:job-controller', groups: ['system:serviceaccounts'] },
      object: pod,
      oldObject: null,
      dryRun,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export const reviewArb: fc.Arbitrary<ReviewCase> = fc
  .record({ pod: podArb, uid: fc.uuid(), dryRun: fc.boolean() })
  .map(({ pod, uid, dryRun }) => ({ pod, review: reviewFor(pod, uid, dryRun) }));

// ---- hostile bodies -------------------------------------------------------------------------

type Path = Array<string | number>;

/** Every path to a value inside `value` (depth-first), the root excluded. */
export function pathsOf(value: Json, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const entries: Array<[string | number, Json]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
}

function edit(root: Json, path: Path, change: (parent: JsonObject | Json[], key: string | number) => void): Json {
  const copy = structuredClone(root);
  let parent: Json = copy;
  for (const step of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[step] as Json;
  change(parent as JsonObject | Json[], path[path.length - 1]!);
  return copy;
}

const anyJson: fc.Arbitrary<Json> = fc.oneof<fc.Arbitrary<Json>[]>(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 8 }),
  fc.constant([] as Json[]),
  fc.constant({}),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

const json = (value: unknown): RawCase['body'] => JSON.stringify(value);
const raw = (label: string, body: string, contentType = 'application/json'): RawCase => ({ label, body, contentType });

/** A value somewhere in the review replaced by one of another type. */
const wrongType = reviewArb.chain(({ review }) => {
  const paths = pathsOf(review);
  return fc.tuple(fc.constantFrom(...paths), anyJson).map(([path, value]) =>
    raw('wrong-type', json(edit(review, path, (parent, key) => {
      (parent as Record<string | number, Json>)[key] = value;
    }))),
  );
});

/** A field somewhere in the review removed (array elements spliced out). */
const missingField = reviewArb.chain(({ review }) =>
  fc.constantFrom(...pathsOf(review)).map((path) =>
    raw('missing-field', json(edit(review, path, (parent, key) => {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    }))),
  ),
);

/** Arrays and maps far past what a pod has: thousands of containers, datasets, annotations, labels. */
const hugeArray = fc.tuple(reviewArb, fc.constantFrom('containers', 'datasets', 'annotations', 'env', 'datashim', 'volumes'), fc.integer({ min: 1000, max: 6000 })).map(
  ([{ review }, what, n]) => {
    const copy = structuredClone(review);
    const pod = (copy.request as JsonObject).object as JsonObject;
    const metadata = pod.metadata as JsonObject;
    const spec = pod.spec as JsonObject;
    const annotations = (metadata.annotations ?? {}) as JsonObject;
    metadata.annotations = annotations;
    switch (what) {
      case 'containers':
        spec.containers = Array.from({ length: n }, (_, i) => ({ name: `c${i}`, image: 'busybox' }));
        break;
      case 'datasets':
        annotations['datamount.dev/datasets'] = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'imagenet' : `ds${i}`)).join(',');
        break;
      case 'annotations':
        for (let i = 0; i < n; i += 1) annotations[`datamount.dev/ds${i}.mount-path`] = `/d/${i}`;
        annotations['datamount.dev/datasets'] = 'imagenet';
        break;
      case 'env':
        ((spec.containers as JsonObject[])[0]!).env = Array.from({ length: n }, (_, i) => ({ name: `V${i}`, value: 'x' }));
        break;
      case 'datashim':
        metadata.labels = Object.fromEntries(Array.from({ length: n }, (_, i) => [`dataset.${i}.id`, i % 2 ? 'coco' : 'nope']));
        break;
      case 'volumes':
        spec.volumes = Array.from({ length: n }, (_, i) => ({ name: `v${i}`, emptyDir: {} }));
        break;
    }
    return raw(`huge-${what}`, json(copy));
  },
);

const DEEP = '"__DEEP_VALUE__"';
/** Nesting thousands deep, spliced into the text (building it as an object would overflow here first). */
const deepNesting = fc.tuple(reviewArb, fc.constantFrom('array', 'object'), fc.integer({ min: 100, max: 20_000 }), fc.constantFrom('options', 'annotation', 'env', 'spec', 'request')).map(
  ([{ review }, shape, depth, where]) => {
    const copy = structuredClone(review);
    const request = copy.request as JsonObject;
    const pod = request.object as JsonObject;
    const metadata = pod.metadata as JsonObject;
    const placeholder = '__DEEP_VALUE__';
    if (where === 'options') request.options = placeholder;
    else if (where === 'annotation') metadata.annotations = { ...(metadata.annotations as JsonObject | undefined), 'datamount.dev/datasets': placeholder };
    else if (where === 'env') ((pod.spec as JsonObject).containers as JsonObject[])[0]!.env = placeholder;
    else if (where === 'spec') (pod.spec as JsonObject).affinity = placeholder;
    else copy.request = placeholder;
    const nested = shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    return raw(`deep-${shape}`, json(copy).replace(DEEP, nested));
  },
);

/** Characters that break naive handling: controls, NUL, bidi overrides, zero-width, lone surrogates, lookalikes. */
const oddString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.constantFrom('\u0000', '\n', '\r\n', '\t', '\u001b[31m', '\u202e', '\u200b', '\ufeff', '\ud800', '\udfff', 'İ', 'ｉｍａｇｅｎｅｔ', 'imagenet\u200b', 'imag\u0000enet', '../../etc', '$(SECRET)', '${HOME}', '"quoted"', '\\', 'a'.repeat(70_000)),
);
const oddUnicode = fc.tuple(reviewArb, oddString, oddString, fc.constantFrom('name', 'value', 'datasets', 'dataset-name', 'label', 'container')).map(
  ([{ review }, a, b, where]) => {
    const copy = structuredClone(review);
    const pod = (copy.request as JsonObject).object as JsonObject;
    const metadata = pod.metadata as JsonObject;
    const annotations = { ...((metadata.annotations ?? {}) as JsonObject) };
    switch (where) {
      case 'name':
        annotations[`datamount.dev/${a}`] = b;
        break;
      case 'value':
        annotations['datamount.dev/datasets'] = 'imagenet';
        annotations[`datamount.dev/imagenet.${['mount-path', 'containers', 'read-only', 'use-as'][a.length % 4]!}`] = b;
        break;
      case 'datasets':
        annotations['datamount.dev/datasets'] = `${a},imagenet,${b}`;
        break;
      case 'dataset-name':
        annotations['datamount.dev/datasets'] = a;
        annotations[`datamount.dev/${a}.mount-path`] = `/data/${b}`;
        break;
      case 'label':
        metadata.labels = { 'dataset.0.id': a, 'dataset.0.useas': b };
        break;
      case 'container':
        ((pod.spec as JsonObject).containers as JsonObject[])[0]!.name = a;
        annotations['datamount.dev/datasets'] = 'coco';
        annotations['datamount.dev/coco.containers'] = a;
        break;
    }
    metadata.annotations = annotations;
    return raw(`unicode-${where}`, json(copy));
  },
);

/** The same key twice in one object: only exists as text. JSON.parse keeps the last, as Go does. */
const duplicateKeys = fc.tuple(reviewArb, fc.constantFrom('datasets', 'namespace', 'uid', 'request', 'object')).map(([{ review }, which]) => {
  const text = json(review);
  switch (which) {
    case 'datasets': {
      const copy = structuredClone(review);
      const metadata = ((copy.request as JsonObject).object as JsonObject).metadata as JsonObject;
      metadata.annotations = { 'datamount.dev/datasets': 'imagenet', ...((metadata.annotations ?? {}) as JsonObject), __DUP__: 1 };
      return raw('duplicate-datasets', json(copy).replace('"__DUP__":1', `"datamount.dev/datasets":"${FOREIGN_DATASET}"`));
    }
    case 'namespace':
      return raw('duplicate-namespace', text.replace(`"namespace":"${FUZZ_NAMESPACE}",`, `"namespace":"${FUZZ_NAMESPACE}","namespace":"other",`));
    case 'uid':
      return raw('duplicate-uid', text.replace('"uid":', '"uid":"first","uid":'));
    case 'request':
      return raw('duplicate-request', text.replace('"request":', '"request":{"uid":"x"},"request":'));
    case 'object':
      return raw('duplicate-object', text.replace('"object":', '"object":{"kind":"Pod"},"object":'));
  }
});

/** Base64 where Kubernetes sends JSON (RawExtension), valid or not, and invalid patches in a response. */
const invalidBase64 = fc.tuple(reviewArb, fc.constantFrom('garbage', 'valid-pod', 'response')).map(([{ review, pod }, which]) => {
  const copy = structuredClone(review);
  const request = copy.request as JsonObject;
  if (which === 'garbage') request.object = '!!!not*base64@@==';
  else if (which === 'valid-pod') request.object = Buffer.from(JSON.stringify(pod)).toString('base64');
  else copy.response = { uid: 'x', allowed: true, patchType: 'JSONPatch', patch: '%%%%' };
  return raw(`base64-${which}`, json(copy));
});

/** Not an AdmissionReview body at all: cut JSON, scalars, empty, a BOM, non-JSON literals, wrong type. */
const notJson = fc.oneof(
  reviewArb.chain(({ review }) => {
    const text = json(review);
    return fc.integer({ min: 0, max: text.length - 1 }).map((cut) => raw('truncated-json', text.slice(0, cut)));
  }),
  fc.constantFrom(
    raw('empty', ''), raw('null', 'null'), raw('array', '[]'), raw('string', '"AdmissionReview"'), raw('number', '42'),
    raw('nan', '{"kind":NaN}'), raw('bom', '\ufeff{"kind":"AdmissionReview"}'), raw('trailing-garbage', '{"kind":"AdmissionReview"} x'),
    raw('proto', '{"__proto__":{"allowed":true},"constructor":{"prototype":{"polluted":1}},"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}'),
  ),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => raw('random-text', s)),
);

/** Right JSON, wrong envelope: other versions, kinds, operations, subresources, no request. */
const wrongEnvelope = fc.tuple(reviewArb, fc.constantFrom('v1beta1', 'kind', 'no-request', 'deployment', 'update', 'delete', 'connect', 'binding', 'empty-uid', 'long-uid')).map(
  ([{ review }, which]) => {
    const copy = structuredClone(review);
    const request = copy.request as JsonObject;
    switch (which) {
      case 'v1beta1': copy.apiVersion = 'admission.k8s.io/v1beta1'; break;
      case 'kind': copy.kind = 'AdmissionRequest'; break;
      case 'no-request': delete copy.request; break;
      case 'deployment': request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' }; break;
      case 'update': request.operation = 'UPDATE'; request.oldObject = request.object ?? null; break;
      case 'delete': request.operation = 'DELETE'; request.oldObject = request.object ?? null; delete request.object; break;
      case 'connect': request.operation = 'CONNECT'; break;
      case 'binding': request.subResource = 'binding'; break;
      case 'empty-uid': request.uid = ''; break;
      case 'long-uid': request.uid = 'u'.repeat(100_000); break;
    }
    return raw(`envelope-${which}`, json(copy));
  },
);

/** Content types an API server never sends. */
const wrongContentType = fc.tuple(reviewArb, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/yaml', 'application/octet-stream')).map(
  ([{ review }, type]) => raw(`content-type-${type}`, json(review), type),
);

/** A well-formed review padded just past the body limit. */
export function pastLimitArb(limitBytes: number): fc.Arbitrary<RawCase> {
  return fc.tuple(reviewArb, fc.integer({ min: 1, max: 64 * 1024 })).map(([{ review }, over]) => {
    const copy = structuredClone(review);
    const metadata = ((copy.request as JsonObject).object as JsonObject).metadata as JsonObject;
    metadata.annotations = { ...((metadata.annotations ?? {}) as JsonObject), padding: '' };
    const size = Buffer.byteLength(json(copy));
    (metadata.annotations).padding = 'p'.repeat(limitBytes - size + over);
    return raw('past-limit', json(copy));
  });
}

/** Every hostile family, weighted so the cheap ones run most often. */
export function hostileBodyArb(limitBytes: number): fc.Arbitrary<RawCase> {
  return fc.oneof(
    { weight: 6, arbitrary: wrongType },
    { weight: 4, arbitrary: missingField },
    { weight: 1, arbitrary: hugeArray },
    { weight: 1, arbitrary: deepNesting },
    { weight: 5, arbitrary: oddUnicode },
    { weight: 2, arbitrary: duplicateKeys },
    { weight: 1, arbitrary: invalidBase64 },
    { weight: 3, arbitrary: notJson },
    { weight: 2, arbitrary: wrongEnvelope },
    { weight: 1, arbitrary: wrongContentType },
    { weight: 1, arbitrary: pastLimitArb(limitBytes) },
  );
}
