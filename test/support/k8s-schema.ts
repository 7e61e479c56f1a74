/**
 * Validation against the official Kubernetes OpenAPI schema, through `kubernetes-models`
 * (generated from the upstream swagger), in two parts:
 *
 * 1. types, formats, enums and required fields: kubernetes-models' own validators;
 * 2. unknown fields, which those validators accept: the API server rejects them under strict
 *    field validation (`fieldValidation=Strict`, "strict decoding error: unknown field"), and a
 *    webhook patch that adds one is a bug — the field would silently be dropped otherwise.
 *
 * kubernetes-models ships its schemas only as compiled validator functions, but its type
 * definitions (`v1/Pod.d.ts` and everything they import) are generated from the same OpenAPI
 * definitions, one interface per definition, one property per schema property. So the field
 * check walks those types with the TypeScript compiler API: an object's keys must be
 * properties of its interface, maps (`{ [key: string]: T }`) take any key, and `any` (the
 * schema's free-form fields) takes anything. Property lookups are cached per type, so after
 * the first call (≈1 s to load the declarations) a check costs microseconds.
 */
import { dirname, join } from 'node:path';
import type * as TS from 'typescript';
import { Pod } from 'kubernetes-models/v1/Pod';

interface Walker {
  ts: typeof TS;
  checker: TS.TypeChecker;
  podType: TS.Type;
  properties: Map<TS.Type, Map<string, TS.Type | undefined>>;
}

let walker: Walker | undefined;

function loadWalker(): Walker {
  if (walker) return walker;
  // Loaded on first use: TypeScript is a dev dependency and only tests validate pods.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof TS;
  const file = join(dirname(require.resolve('kubernetes-models/v1/Pod')), 'Pod.d.ts');
  const program = ts.createProgram([file], { noEmit: true, skipLibCheck: true, types: [], strict: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const moduleSymbol = source ? checker.getSymbolAtLocation(source) : undefined;
  const podSymbol = moduleSymbol ? checker.getExportsOfModule(moduleSymbol).find((s) => s.name === 'IPod') : undefined;
  if (!podSymbol) throw new Error(`k8s-schema: interface IPod not found in ${file}`);
  walker = { ts, checker, podType: checker.getDeclaredTypeOfSymbol(podSymbol), properties: new Map() };
  return walker;
}

/** The object-like members of a type (dropping undefined and null from `T | undefined`). */
function objectParts(w: Walker, type: TS.Type): TS.Type[] {
  const parts = type.isUnion() ? type.types : [type];
  return parts.filter((t) => !(t.flags & (w.ts.TypeFlags.Undefined | w.ts.TypeFlags.Null)));
}

function isFreeForm(w: Walker, type: TS.Type): boolean {
  return objectParts(w, type).some((t) => (t.flags & (w.ts.TypeFlags.Any | w.ts.TypeFlags.Unknown)) !== 0 || w.checker.typeToString(t) === 'object');
}

function propertyType(w: Walker, type: TS.Type, key: string): TS.Type | undefined | null {
  let cache = w.properties.get(type);
  if (!cache) {
    cache = new Map();
    w.properties.set(type, cache);
  }
  if (cache.has(key)) return cache.get(key) ?? null;
  let found: TS.Type | undefined;
  for (const part of objectParts(w, type)) {
    const symbol = part.getProperty(key);
    if (symbol) {
      found = w.checker.getTypeOfSymbol(symbol);
      break;
    }
    const index = w.checker.getIndexTypeOfType(part, w.ts.IndexKind.String);
    if (index) {
      found = index;
      break;
    }
  }
  cache.set(key, found);
  return found ?? null;
}

function elementType(w: Walker, type: TS.Type): TS.Type | undefined {
  for (const part of objectParts(w, type)) {
    if (w.checker.isArrayType(part)) return w.checker.getTypeArguments(part as TS.TypeReference)[0];
  }
  return undefined;
}

function unknownFields(w: Walker, value: unknown, type: TS.Type, path: string, out: string[]): void {
  if (typeof value !== 'object' || value === null || isFreeForm(w, type)) return;
  if (Array.isArray(value)) {
    const element = elementType(w, type);
    if (element) value.forEach((item, i) => unknownFields(w, item, element, `${path}[${i}]`, out));
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    const childType = propertyType(w, type, key);
    const childPath = path ? `${path}.${key}` : key;
    if (childType === null) out.push(`unknown field "${childPath}"`);
    else if (childType) unknownFields(w, child, childType, childPath, out);
  }
}

/** Every reason the pod fails the Pod schema (types, enums, required fields, unknown fields). */
export function validatePod(pod: unknown): string[] {
  const errors: string[] = [];
  try {
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
  } catch (err) {
    errors.push(err instanceof Error ? err.message : String(err));
  }
  const w = loadWalker();
  unknownFields(w, pod, w.podType, '', errors);
  return errors;
}

export function assertValidPod(pod: unknown): void {
  const errors = validatePod(pod);
  if (errors.length > 0) throw new Error(`pod fails the Kubernetes Pod schema:\n${errors.join('\n')}`);
}
