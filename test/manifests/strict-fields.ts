/**
 * Unknown-field detection for built-in kinds. The `kubernetes-models` validators accept unknown
 * fields, but `kubectl apply` does not: since Kubernetes 1.27 kubectl asks the API server for
 * strict field validation, so a typo such as `readinesProbe` fails the install. This walks an
 * object alongside the field lists of the model's TypeScript declarations (generated from the
 * same Kubernetes OpenAPI document) and names every field the API does not have.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const MODELS_DIR = path.dirname(require.resolve('kubernetes-models/package.json'));
const NODE_MODULES = path.dirname(MODELS_DIR);

/** Field name → declared type text, or undefined for a type with no fields to check (a string, a quantity…). */
type Fields = ReadonlyMap<string, string>;

interface Declaration {
  readonly file: string;
  readonly fields: Fields;
  readonly imports: ReadonlyMap<string, string>;
}

const cache = new Map<string, Declaration | undefined>();

function declaration(file: string): Declaration | undefined {
  if (cache.has(file)) return cache.get(file);
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = new Map<string, string>();
  for (const match of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports.set(match[1] ?? '', match[2] ?? '');
  const body = /export interface \w+(?: extends [\w, ]+)? \{([\s\S]*?)\n\}/.exec(text)?.[1];
  let result: Declaration | undefined;
  if (body !== undefined) {
    const fields = new Map<string, string>();
    for (const match of body.matchAll(/"([^"]+)"\??: (\{[^}]*\}|[^;]+);/g)) fields.set(match[1] ?? '', (match[2] ?? '').trim());
    result = { file, fields, imports };
  }
  cache.set(file, result);
  return result;
}

function importedFile(from: Declaration, typeName: string): string | undefined {
  const source = from.imports.get(typeName);
  if (source === undefined) return undefined;
  const base = source.startsWith('.') ? path.resolve(path.dirname(from.file), source) : path.join(NODE_MODULES, source);
  return `${base}.d.ts`;
}

function checkValue(value: unknown, type: string, from: Declaration, where: string, errors: string[]): void {
  if (value === null || typeof value !== 'object') return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((item, i) => checkValue(item, array[1] ?? '', from, `${where}[${i}]`, errors));
    return;
  }
  const map = /^\{\s*\[key: string\]: (.+?);?\s*\}$/.exec(type);
  if (map) {
    for (const [key, item] of Object.entries(value)) checkValue(item, map[1] ?? '', from, `${where}.${key}`, errors);
    return;
  }
  if (!/^I\w+$/.test(type)) return;
  const file = importedFile(from, type);
  const target = file === undefined ? undefined : declaration(file);
  if (target) checkObject(value as Record<string, unknown>, target, where, errors);
}

function checkObject(object: Record<string, unknown>, decl: Declaration, where: string, errors: string[]): void {
  for (const [key, value] of Object.entries(object)) {
    const type = decl.fields.get(key);
    if (type === undefined) {
      errors.push(`${where}.${key}: unknown field (known: ${[...decl.fields.keys()].join(', ')})`);
      continue;
    }
    checkValue(value, type, decl, `${where}.${key}`, errors);
  }
}

/** Every field of a built-in object that its kind does not define, as `.spec.template.x: unknown field`. */
export function unknownFields(object: { apiVersion: string; kind: string }): string[] {
  const decl = declaration(path.join(MODELS_DIR, object.apiVersion, `${object.kind}.d.ts`));
  if (!decl) throw new Error(`no declaration for ${object.apiVersion} ${object.kind}`);
  const errors: string[] = [];
  checkObject(object, decl, '', errors);
  return errors;
}
