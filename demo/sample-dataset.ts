/**
 * A sample dataset that looks like training data: ImageNet-style class folders of image-sized
 * files (`train/n01440764/img_00001.jpg`, 20–200 KiB) with a `train/labels.csv`, a few large
 * shards (`shards/train-00000-of-00002.tar`), and a synset mapping file.
 *
 * `train/labels.csv` also keeps `train/` visible on s3rver: its delimiter listing leaves out a
 * prefix whose objects all sit one folder deeper (it prunes the walk below the common prefix
 * before it has seen an object), which real S3 does not do.
 *
 * Every byte is a function of (seed, key): the content is an AES-256-CTR keystream (a fast,
 * deterministic stream: GB/s with AES-NI) behind a JPEG or tar-looking header. So the same
 * plan always produces the same bucket, the sums can be recomputed, and nothing is stored.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export interface SampleDatasetSpec {
  /** Key prefix of every object, ending in `/` (the Dataset's `spec.s3.prefix`). */
  prefix: string;
  classes: number;
  images: number;
  minImageBytes: number;
  maxImageBytes: number;
  shards: number;
  shardBytes: number;
  seed: string;
}

export interface SampleObject {
  /** Full key, prefix included. */
  key: string;
  size: number;
}

/** The first ImageNet-1k synsets, for folder names that look familiar. */
const SYNSETS: ReadonlyArray<[string, string]> = [
  ['n01440764', 'tench'], ['n01443537', 'goldfish'], ['n01484850', 'great white shark'],
  ['n01491361', 'tiger shark'], ['n01494475', 'hammerhead'], ['n01496331', 'electric ray'],
  ['n01498041', 'stingray'], ['n01514668', 'cock'], ['n01514859', 'hen'], ['n01518878', 'ostrich'],
  ['n01530575', 'brambling'], ['n01531178', 'goldfinch'], ['n01532829', 'house finch'],
  ['n01534433', 'junco'], ['n01537544', 'indigo bunting'], ['n01558993', 'robin'],
];

export const DEFAULT_SAMPLE: SampleDatasetSpec = Object.freeze({
  prefix: 'imagenet-sample/',
  classes: 10,
  images: 2400,
  minImageBytes: 20 * 1024,
  maxImageBytes: 200 * 1024,
  shards: 2,
  shardBytes: 128 * 2 ** 20,
  seed: 'datamount-demo-1',
});

const MAPPING_KEY = 'LOC_synset_mapping.txt';
const LABELS_KEY = 'train/labels.csv';
const CHUNK = 1024 * 1024;

/** Every object of the dataset, in upload order (small files first, shards last). */
export function planSampleDataset(spec: SampleDatasetSpec): SampleObject[] {
  const objects: SampleObject[] = [
    { key: spec.prefix + MAPPING_KEY, size: Buffer.byteLength(mappingText(spec)) },
    { key: spec.prefix + LABELS_KEY, size: Buffer.byteLength(labelsText(spec)) },
  ];
  for (let i = 0; i < spec.images; i++) {
    const key = spec.prefix + imagePath(spec, i);
    const span = spec.maxImageBytes - spec.minImageBytes;
    objects.push({ key, size: spec.minImageBytes + (seedNumber(spec.seed, key) % (span + 1)) });
  }
  for (let i = 0; i < spec.shards; i++) {
    const key = `${spec.prefix}shards/train-${String(i).padStart(5, '0')}-of-${String(spec.shards).padStart(5, '0')}.tar`;
    objects.push({ key, size: spec.shardBytes });
  }
  return objects;
}

/** The bytes of one object, streamed in 1 MiB chunks. */
export function objectStream(spec: SampleDatasetSpec, object: SampleObject): Readable {
  if (object.key === spec.prefix + MAPPING_KEY) return Readable.from([Buffer.from(mappingText(spec))]);
  if (object.key === spec.prefix + LABELS_KEY) return Readable.from([Buffer.from(labelsText(spec))]);
  const key = createHash('sha256').update(`${spec.seed}\0${object.key}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const header = object.key.endsWith('.jpg') ? JPEG_HEADER : tarHeader(object.key);
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= object.size) {
        this.push(null);
        return;
      }
      const length = Math.min(CHUNK, object.size - produced);
      const chunk = cipher.update(Buffer.alloc(length));
      if (produced === 0) header.copy(chunk, 0, 0, Math.min(header.length, length));
      produced += length;
      this.push(chunk);
    },
  });
}

/** sha256 of an object's bytes, as `sha256sum` prints it. */
export async function objectSha256(spec: SampleDatasetSpec, object: SampleObject): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of objectStream(spec, object)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function totalBytes(objects: readonly SampleObject[]): number {
  return objects.reduce((sum, o) => sum + o.size, 0);
}

// JFIF start of image + APP0 marker: enough for `file` to call it a JPEG.
const JPEG_HEADER = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);

function tarHeader(key: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(key.split('/').pop() ?? 'shard', 0, 100);
  header.write('ustar\0', 257);
  return header;
}

function mappingText(spec: SampleDatasetSpec): string {
  return classesOf(spec).map(([id, name]) => `${id} ${name}\n`).join('');
}

function labelsText(spec: SampleDatasetSpec): string {
  const lines = ['path,synset'];
  for (let i = 0; i < spec.images; i++) {
    const path = imagePath(spec, i);
    lines.push(`${path.slice('train/'.length)},${path.split('/')[1]}`);
  }
  return `${lines.join('\n')}\n`;
}

function classesOf(spec: SampleDatasetSpec): ReadonlyArray<[string, string]> {
  return SYNSETS.slice(0, Math.max(1, Math.min(spec.classes, SYNSETS.length)));
}

function imagePath(spec: SampleDatasetSpec, index: number): string {
  const classes = classesOf(spec);
  const [synset] = classes[index % classes.length] ?? ['n00000000'];
  return `train/${synset}/img_${String(index + 1).padStart(5, '0')}.jpg`;
}

function seedNumber(seed: string, key: string): number {
  return createHash('sha256').update(`${seed}\0size\0${key}`).digest().readUInt32BE(0);
}
