/**
 * Every YAML document under manifests/, with where it came from, and the Kubernetes objects
 * the kustomizations build — shared by the manifest tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.join(__dirname, '../..');
export const MANIFESTS = path.join(ROOT, 'manifests');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface ManifestDoc {
  /** Path below the repo root, e.g. `manifests/base/webhook-service.yaml`. */
  readonly file: string;
  /** Index of the document in its file. */
  readonly index: number;
  readonly object: KubeObject;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(entry.name) ? [full] : [];
  }).sort();
}

/** Parse a YAML stream; any syntax error or warning throws, naming the file. */
export function parseYamlStream(text: string, file: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw new Error(`${file}: ${problem.message}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

/** Every YAML file below manifests/ (kustomization files included), relative to the repo root. */
export function manifestFiles(): string[] {
  return yamlFiles(MANIFESTS).map((file) => path.relative(ROOT, file));
}

/** Every Kubernetes object in manifests/ (kustomization files left out). */
export function manifestDocs(): ManifestDoc[] {
  return manifestFiles()
    .filter((file) => path.basename(file) !== 'kustomization.yaml')
    .flatMap((file) => parseYamlStream(readFileSync(path.join(ROOT, file), 'utf8'), file)
      .map((object, index) => ({ file, index, object: object as KubeObject })));
}

export function docsUnder(prefix: string): ManifestDoc[] {
  return manifestDocs().filter((doc) => doc.file.startsWith(prefix));
}

/** The one object of a kind and name among `objects`; throws when absent or ambiguous. */
export function findObject<T = KubeObject>(objects: readonly KubeObject[], kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as T;
}
