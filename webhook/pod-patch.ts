/**
 * The two halves of "mutate a copy, then diff": a copy of the pod that the injection may write
 * to, and the JSON patch from the original to the written copy.
 *
 * Both are narrowed to what an injection can touch — `metadata` (labels, annotations),
 * `spec.initContainers`, `spec.volumes`, `spec.affinity` and the app containers — because a
 * full deep clone and a full-tree diff of a 10 KiB pod cost more than the rest of the review
 * together (measured with bench/webhook.ts). Everything else is shared between the original
 * and the copy, and the diff descends only into parts that changed identity.
 */
import { jsonText } from './json-text';
import type { Pod, PodSpec } from './pod';

/** The spec fields the injection may replace; any other field of the copy is the original's. */
const WRITABLE_SPEC = ['initContainers', 'volumes', 'affinity', 'containers'] as const satisfies readonly (keyof PodSpec)[];

/**
 * A copy whose metadata (labels, annotations), spec and container objects are new; arrays and
 * objects below a container are shared and must be replaced, never mutated in place.
 */
export function copyForInjection(pod: Pod): Pod {
  const copy = ownCopy(pod);
  copy.spec = ownCopy(pod.spec);
  copy.spec.containers = pod.spec.containers.map(ownCopy);
  if (pod.spec.initContainers) copy.spec.initContainers = pod.spec.initContainers.map(ownCopy);
  if (pod.metadata) {
    copy.metadata = ownCopy(pod.metadata);
    if (pod.metadata.labels) copy.metadata.labels = ownCopy(pod.metadata.labels);
    if (pod.metadata.annotations) copy.metadata.annotations = ownCopy(pod.metadata.annotations);
  }
  return copy;
}

/**
 * A shallow copy of a parsed JSON object, made to have keys added to it: the injection adds
 * our label and annotations, `spec.affinity`, a container's first `volumeMounts`. Not
 * `{ ...value }`: V8 (Node 20) gives a spread copy a hidden class outside the transition tree,
 * so the first key added to it makes a new hidden class (map and descriptor array) for that one
 * object. Measured on the bench's pod: 4.4 µs per review against 0.4 µs for these copies, and
 * ~1 KB per review of maps that outlive every young-generation collection and leave only with
 * a full GC (a mark-compact of up to 9 ms every ~2 s at 2,000 reviews/s), besides making every
 * later read of the copies megamorphic. `Object.assign` onto a fresh literal keeps the copies'
 * hidden classes shared. It assigns, so a key named `__proto__` would set the copy's prototype
 * instead of being copied; such a key is defined as a property instead (the server refuses
 * bodies holding one, json-body.ts, but the review does not rely on that).
 */
export function ownCopy<T extends object>(value: T): T {
  if (!Object.hasOwn(value, '__proto__')) return Object.assign({}, value);
  const copy = {} as T;
  for (const key of Object.keys(value)) {
    Object.defineProperty(copy, key, { value: (value as Record<string, unknown>)[key], enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

/** RFC 6902 operations turning `before` into `after` (a copy made by copyForInjection). */
export function diffPod(before: Pod, after: Pod): PatchOperation[] {
  const operations: PatchOperation[] = [];
  diffValue(before.metadata, after.metadata, '/metadata', operations);
  for (const field of WRITABLE_SPEC) diffValue(before.spec[field], after.spec[field], `/spec/${field}`, operations);
  return operations;
}

/** The operations the diff writes (a subset of RFC 6902's), each with its members in this order. */
export type PatchOperation = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

/**
 * The patch as JSON text, as JSON.stringify(operations) writes it, with the remembered text of
 * shared parts (the sidecar, the volumes and mounts) copied rather than written again
 * (json-text.ts). Collected as pieces and joined once: one flat string, where adding each piece
 * to a string made a chain of ~60 string pieces the encoder then had to flatten.
 */
export function patchText(operations: readonly PatchOperation[]): string {
  const pieces = ['['];
  for (let i = 0; i < operations.length; i++) {
    const operation = operations[i] as PatchOperation;
    pieces.push(i > 0 ? ',{"op":"' : '{"op":"', operation.op, '","path":', JSON.stringify(operation.path));
    if (operation.op === 'remove' || operation.value === undefined) pieces.push('}');
    else pieces.push(',"value":', jsonText(operation.value), '}');
  }
  pieces.push(']');
  return pieces.join('');
}

type Json = Record<string, unknown>;

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A property of the object itself: user keys such as "constructor" must not find Object.prototype's. */
function own(obj: Json, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** RFC 6901: "~" and "/" in a key are escaped as "~0" and "~1". */
export function token(key: string): string {
  // Most keys have neither; two regular-expression replaces per key were a measurable share of the diff.
  if (key.indexOf('~') === -1 && key.indexOf('/') === -1) return key;
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Like fast-json-patch's `compare`, minus two costs that dominated the review: it walks
 * unchanged subtrees (we skip anything identical by reference, which the copy shares), and it
 * deep-clones every value it emits (we serialise the operations at once, so no clone is needed).
 * Arrays skip their identical leading and trailing items, so inserting the sidecar at the front
 * of initContainers is one `add`, not a replace of every item after it.
 */
function diffValue(before: unknown, after: unknown, path: string, operations: PatchOperation[]): void {
  if (before === after) return;
  if (before === undefined) {
    operations.push({ op: 'add', path, value: after });
  } else if (after === undefined) {
    operations.push({ op: 'remove', path });
  } else if (Array.isArray(before) && Array.isArray(after)) {
    diffArray(before as unknown[], after as unknown[], path, operations);
  } else if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of Object.keys(before)) {
      if (before[key] !== undefined && own(after, key) === undefined) operations.push({ op: 'remove', path: `${path}/${token(key)}` });
    }
    for (const key of Object.keys(after)) {
      const was = own(before, key);
      // Checked here, not only in the call below, so the path of an unchanged key is never built.
      if (was !== after[key]) diffValue(was, after[key], `${path}/${token(key)}`, operations);
    }
  } else if (typeof before === 'object' || typeof after === 'object' || before !== after) {
    operations.push({ op: 'replace', path, value: after });
  }
}

function diffArray(before: unknown[], after: unknown[], path: string, operations: PatchOperation[]): void {
  if (before.length === after.length) {
    // Item by item: an unchanged item yields no operation, so trimming equal ends first (below) would only cost.
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) diffValue(before[i], after[i], `${path}/${i}`, operations);
    return;
  }
  if (diffNamedList(before, after, path, operations)) return;
  let head = 0;
  while (head < before.length && head < after.length && equal(before[head], after[head])) head++;
  let tail = 0;
  while (tail < before.length - head && tail < after.length - head && equal(before[before.length - 1 - tail], after[after.length - 1 - tail])) tail++;
  const removedEnd = before.length - tail;
  const addedEnd = after.length - tail;
  const common = Math.min(removedEnd - head, addedEnd - head);
  for (let i = 0; i < common; i++) diffValue(before[head + i], after[head + i], `${path}/${head + i}`, operations);
  // Extra old items go from the highest index down, so earlier indexes stay valid.
  for (let i = removedEnd - 1; i >= head + common; i--) operations.push({ op: 'remove', path: `${path}/${i}` });
  for (let i = head + common; i < addedEnd; i++) operations.push({ op: 'add', path: `${path}/${i}`, value: after[i] });
}

function namesOf(list: unknown[]): string[] | undefined {
  const names: string[] = [];
  for (const item of list) {
    if (!isPlainObject(item) || typeof item.name !== 'string') return undefined;
    names.push(item.name);
  }
  return unique(names) ? names : undefined;
}

/** Pods' lists are short: below this length a nested loop finds a repeated name without a Set. */
const SHORT_LIST = 16;

function unique(names: string[]): boolean {
  if (names.length > SHORT_LIST) return new Set(names).size === names.length;
  for (let i = 1; i < names.length; i++) {
    for (let j = 0; j < i; j++) if (names[i] === names[j]) return false;
  }
  return true;
}

function isSubsequence(short: string[], long: string[]): boolean {
  let j = 0;
  for (const name of long) if (j < short.length && short[j] === name) j++;
  return j === short.length;
}

/**
 * Lists of named items (containers, volumes, mounts, variables) where items were only inserted
 * or only removed: align them by name, so the sidecar put in front of the pod's init containers
 * is one `add` at index 0 and each existing container is diffed against itself. Indexes are
 * those of the array as the operations before have left it. False when this does not apply.
 */
function diffNamedList(before: unknown[], after: unknown[], path: string, operations: PatchOperation[]): boolean {
  if (before.length === after.length) return false;
  const beforeNames = namesOf(before);
  const afterNames = namesOf(after);
  if (!beforeNames || !afterNames) return false;
  if (before.length < after.length && isSubsequence(beforeNames, afterNames)) {
    let j = 0;
    after.forEach((item, i) => {
      if (j < before.length && beforeNames[j] === afterNames[i]) diffValue(before[j++], item, `${path}/${i}`, operations);
      else operations.push({ op: 'add', path: `${path}/${i}`, value: item });
    });
    return true;
  }
  if (before.length > after.length && isSubsequence(afterNames, beforeNames)) {
    let kept = 0;
    before.forEach((item, j) => {
      if (kept < after.length && afterNames[kept] === beforeNames[j]) diffValue(item, after[kept], `${path}/${kept++}`, operations);
      else operations.push({ op: 'remove', path: `${path}/${kept}` });
    });
    return true;
  }
  return false;
}

/** Deep equality of JSON values, short-circuiting on shared references. */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => equal(item, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    // Loops rather than filter/every: this runs on every container of every review.
    let defined = 0;
    for (const key of Object.keys(a)) {
      if (a[key] === undefined) continue;
      defined += 1;
      if (!equal(a[key], own(b, key))) return false;
    }
    for (const key of Object.keys(b)) if (b[key] !== undefined) defined -= 1;
    return defined === 0;
  }
  return false;
}
