/**
 * The generated dataset is kept in `.cache/demo/s3` between runs (s3rver's data folder); this
 * manifest beside it records the spec it was made from and every object's sha256, so a rerun
 * with the same spec skips the upload and still checks what the pod reads.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SampleDatasetSpec } from './sample-dataset';

const FILE = 'sample-manifest.json';

interface Manifest {
  bucket: string;
  spec: SampleDatasetSpec;
  sums: Record<string, string>;
}

export async function readSampleManifest(dir: string, bucket: string, spec: SampleDatasetSpec): Promise<Map<string, string> | undefined> {
  try {
    const manifest = JSON.parse(await fs.readFile(path.join(dir, FILE), 'utf8')) as Manifest;
    if (manifest.bucket !== bucket || JSON.stringify(manifest.spec) !== JSON.stringify(spec)) return undefined;
    return new Map(Object.entries(manifest.sums));
  } catch {
    return undefined;
  }
}

export async function writeSampleManifest(dir: string, bucket: string, spec: SampleDatasetSpec, sums: ReadonlyMap<string, string>): Promise<void> {
  const manifest: Manifest = { bucket, spec, sums: Object.fromEntries(sums) };
  await fs.writeFile(path.join(dir, FILE), JSON.stringify(manifest));
}

export async function removeSampleManifest(dir: string): Promise<void> {
  await fs.rm(path.join(dir, FILE), { force: true });
}
