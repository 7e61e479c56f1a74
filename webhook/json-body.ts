/**
 * The request body parser for `application/json`, in place of fastify's default. It refuses
 * what the default refuses — a body with a `__proto__` key, or a `constructor` key holding a
 * `prototype` (secure-json-parse with `protoAction`/`constructorAction: 'error'`) — but decides
 * more cheaply when to look: such a key is either spelled out in the text or written with a
 * `\u` escape (JSON has no other way to write those letters), so a body in which neither
 * "__proto__", "constructor" nor "\u" occurs cannot hold one and is not walked. The indexOf
 * scans take about two microseconds on a 10 KiB body; the two regular expressions the default
 * runs over every body took 4–11 µs (docs/webhook.md, "Performance"). (Short needles only, on
 * purpose: V8 finds a needle of up to six characters with a memchr-like scan, a longer one,
 * such as "__proto__", several times more slowly; the whole word is compared only where the
 * short needle occurs.)
 *
 * A malformed body is refused with what JSON.parse said, e.g. "Unexpected end of JSON input",
 * so the caller learns what is wrong with it and not only that something is.
 */

import { token } from './pod-patch';

/** A body that cannot be an AdmissionReview; a SyntaxError, which the server answers with 400. */
export class JsonBodyError extends SyntaxError {
  constructor(message: string) {
    super(message);
    this.name = 'JsonBodyError';
  }
}

const BYTE_ORDER_MARK = 0xfeff;
/** Longest path quoted in an error: a key is the sender's text and may be long. */
const MAX_PATH = 200;

/** Parse a request body, or throw a JsonBodyError that says what is wrong with it. */
export function parseJsonBody(text: string): unknown {
  const json = text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text;
  if (json.trim() === '') throw new JsonBodyError('the body is empty; send the AdmissionReview as JSON');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new JsonBodyError(`the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (mayHoldPrototypeKey(json)) {
    const path = prototypeKeyPath(value);
    if (path !== undefined) throw new JsonBodyError(`the body holds a forbidden prototype property at ${path.slice(0, MAX_PATH)}`);
  }
  return value;
}

/**
 * False only when no key in the JSON text can be `__proto__` or `constructor`. Each word is
 * found through a short needle and checked where that occurs: "proto" is in every pod with a
 * container port (`"protocol": "TCP"`), and scanning the rest of the text for "__proto__" from
 * there cost 4.5 µs of the 5.5 µs this took on the bench's pod (now ~2 µs); "constr" occurs in
 * `topologySpreadConstraints`.
 */
export function mayHoldPrototypeKey(text: string): boolean {
  return text.indexOf('\\u') !== -1 || wordAt(text, 'proto', '__proto__', 2) || wordAt(text, 'constr', 'constructor', 0);
}

/** True when `word` occurs in `text` starting `offset` characters before an occurrence of `needle`. */
function wordAt(text: string, needle: string, word: string, offset: number): boolean {
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) {
    if (i >= offset && text.startsWith(word, i - offset)) return true;
  }
  return false;
}

/**
 * Where a parsed value holds an own `__proto__` key, or a `constructor` key whose value has an
 * own `prototype`, as a JSON pointer; undefined when it holds neither. Iterative, so a deeply
 * nested body cannot exhaust the stack here (the route refuses it for its depth afterwards).
 */
export function prototypeKeyPath(value: unknown): string | undefined {
  const pending: { node: object; path: string }[] = [];
  if (typeof value === 'object' && value !== null) pending.push({ node: value, path: '' });
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { node, path } = next;
    if (Array.isArray(node)) {
      node.forEach((item: unknown, i) => {
        if (typeof item === 'object' && item !== null) pending.push({ node: item, path: `${path}/${i}` });
      });
      continue;
    }
    const record = node as Record<string, unknown>;
    if (Object.hasOwn(record, '__proto__')) return `${path}/__proto__`;
    const ctor = Object.hasOwn(record, 'constructor') ? record.constructor : undefined;
    if (typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return `${path}/constructor/prototype`;
    for (const key of Object.keys(record)) {
      const child = record[key];
      if (typeof child === 'object' && child !== null) pending.push({ node: child, path: `${path}/${token(key)}` });
    }
  }
  return undefined;
}
