/**
 * JSON text kept with the objects it was made from, so that writing the patch copies text
 * instead of walking the same objects again for every pod.
 *
 * Most of an injection is the same for every pod that asks for a Dataset, or for every replica
 * of one Deployment: the Dataset's volumes and mounts (dataset-parts.ts), the sidecar container
 * (sidecar-spec.ts). Those objects are built once, frozen, and their text is remembered here;
 * `jsonText` copies it where JSON.stringify would write the object again.
 *
 * Remembered objects are frozen, deeply: a text can never go stale, because the object it was
 * made from cannot change (an attempt throws, in strict mode, where a stale patch would silently
 * be wrong).
 */

const texts = new WeakMap<object, string>();

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Freezes `value`, deeply, and remembers its JSON text. */
export function withText<T extends object>(value: T): T {
  deepFreeze(value);
  texts.set(value, JSON.stringify(value));
  return value;
}

/** `JSON.stringify(value)`: the remembered text of an object made by `withText`, or written now. */
export function jsonText(value: unknown): string {
  return (typeof value === 'object' && value !== null ? texts.get(value) : undefined) ?? JSON.stringify(value);
}
