/**
 * Two ways to build a kustomization: `kubectl kustomize` when kubectl is installed (it builds
 * offline), and a small resolver of our own for machines without it. The resolver knows only
 * what our kustomizations use — `resources` (files and folders) and inline `patches` that
 * delete an object (`$patch: delete`) or merge into its maps — and refuses anything else, so a
 * new kustomize feature in the manifests cannot slip past it unnoticed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseYamlStream, type KubeObject } from './manifest-docs';

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  resources?: string[];
  patches?: Array<{ patch?: string; path?: string; target?: unknown }>;
  [field: string]: unknown;
}

const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches']);

export function hasKubectl(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
}

export function kubectlKustomize(dir: string): KubeObject[] {
  const output = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseYamlStream(output, `kubectl kustomize ${dir}`) as KubeObject[];
}

function sameObject(a: KubeObject, b: KubeObject): boolean {
  return a.kind === b.kind && a.metadata.name === b.metadata.name && (a.metadata.namespace ?? '') === (b.metadata.namespace ?? '');
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mergeMaps(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (Array.isArray(value)) throw new Error(`patch sets the list ${key}: the resolver only merges maps`);
    out[key] = isMap(value) && isMap(out[key]) ? mergeMaps(out[key], value) : value;
  }
  return out;
}

function applyPatch(objects: KubeObject[], patch: KubeObject & { $patch?: string }, where: string): KubeObject[] {
  const index = objects.findIndex((o) => sameObject(o, patch) || (patch.metadata.namespace === undefined && o.kind === patch.kind && o.metadata.name === patch.metadata.name));
  if (index < 0) throw new Error(`${where}: patch targets ${patch.kind} ${patch.metadata.name}, which the resources do not hold`);
  if (patch.$patch === 'delete') return objects.filter((_, i) => i !== index);
  if (patch.$patch !== undefined) throw new Error(`${where}: $patch ${patch.$patch} is not supported`);
  const next = [...objects];
  next[index] = mergeMaps(objects[index] as KubeObject, patch) as KubeObject;
  return next;
}

/** Build `dir` the way kustomize would, for the features our kustomizations use. */
export function resolveKustomization(dir: string): KubeObject[] {
  const file = path.join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir} has no kustomization.yaml`);
  const [kustomization] = parseYamlStream(readFileSync(file, 'utf8'), file) as Kustomization[];
  if (!kustomization) throw new Error(`${file} is empty`);
  const unknown = Object.keys(kustomization).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) throw new Error(`${file}: the resolver does not know ${unknown.join(', ')}`);
  let objects: KubeObject[] = [];
  for (const resource of kustomization.resources ?? []) {
    const target = path.join(dir, resource);
    if (!existsSync(target)) throw new Error(`${file}: resource ${resource} does not exist`);
    const added = statSync(target).isDirectory()
      ? resolveKustomization(target)
      : (parseYamlStream(readFileSync(target, 'utf8'), target) as KubeObject[]);
    for (const object of added) {
      if (objects.some((o) => sameObject(o, object))) throw new Error(`${file}: ${object.kind} ${object.metadata.name} is listed twice`);
      objects.push(object);
    }
  }
  for (const [i, entry] of (kustomization.patches ?? []).entries()) {
    if (entry.patch === undefined || entry.path !== undefined || entry.target !== undefined) {
      throw new Error(`${file}: patches[${i}] must be an inline patch without target`);
    }
    const [patch] = parseYamlStream(entry.patch, `${file} patches[${i}]`) as Array<KubeObject & { $patch?: string }>;
    if (!patch) throw new Error(`${file}: patches[${i}] is empty`);
    objects = applyPatch(objects, patch, `${file} patches[${i}]`);
  }
  return objects;
}

/** A stable identity for comparing builds: `Kind namespace/name`. */
export function objectId(object: KubeObject): string {
  return `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}
