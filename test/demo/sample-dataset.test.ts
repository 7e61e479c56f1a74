import { createHash } from 'node:crypto';
import { DEFAULT_SAMPLE, objectSha256, objectStream, planSampleDataset, totalBytes, type SampleDatasetSpec } from '../../demo/sample-dataset';

const SPEC: SampleDatasetSpec = { ...DEFAULT_SAMPLE, images: 50, classes: 5, shards: 2, shardBytes: 3 * 2 ** 20 + 7 };

async function bytesOf(key: string): Promise<Buffer> {
  const object = planSampleDataset(SPEC).find((o) => o.key === key);
  if (!object) throw new Error(`no ${key}`);
  const chunks: Buffer[] = [];
  for await (const chunk of objectStream(SPEC, object)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('planSampleDataset', () => {
  const plan = planSampleDataset(SPEC);

  it('lays out class folders, a label file, a mapping file and the shards', () => {
    expect(plan).toHaveLength(2 + 50 + 2);
    expect(plan.map((o) => o.key)).toEqual(expect.arrayContaining([
      'imagenet-sample/LOC_synset_mapping.txt',
      'imagenet-sample/train/labels.csv',
      'imagenet-sample/train/n01440764/img_00001.jpg',
      'imagenet-sample/train/n01494475/img_00050.jpg',
      'imagenet-sample/shards/train-00001-of-00002.tar',
    ]));
    expect(new Set(plan.filter((o) => o.key.endsWith('.jpg')).map((o) => o.key.split('/')[2])).size).toBe(5);
  });

  it('keeps image sizes in range and shards at their size', () => {
    for (const o of plan.filter((x) => x.key.endsWith('.jpg'))) {
      expect(o.size).toBeGreaterThanOrEqual(SPEC.minImageBytes);
      expect(o.size).toBeLessThanOrEqual(SPEC.maxImageBytes);
    }
    expect(plan.filter((o) => o.key.endsWith('.tar')).map((o) => o.size)).toEqual([SPEC.shardBytes, SPEC.shardBytes]);
    expect(totalBytes(plan)).toBe(plan.reduce((s, o) => s + o.size, 0));
  });

  it('is the same plan every time', () => {
    expect(planSampleDataset(SPEC)).toEqual(plan);
  });
});

describe('objectStream', () => {
  it.each([
    'imagenet-sample/train/n01440764/img_00001.jpg',
    'imagenet-sample/shards/train-00000-of-00002.tar',
    'imagenet-sample/train/labels.csv',
  ])('streams exactly the planned size of %s, the same bytes every time', async (key) => {
    const size = planSampleDataset(SPEC).find((o) => o.key === key)?.size;
    const first = await bytesOf(key);
    expect(first.length).toBe(size);
    expect((await bytesOf(key)).equals(first)).toBe(true);
  });

  it('gives different files different bytes, images a JPEG header', async () => {
    const a = await bytesOf('imagenet-sample/train/n01440764/img_00001.jpg');
    const b = await bytesOf('imagenet-sample/train/n01443537/img_00002.jpg');
    expect(a.subarray(0, 4)).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    expect(a.subarray(100, 200).equals(b.subarray(100, 200))).toBe(false);
  });

  it('lists every image with its class in labels.csv', async () => {
    const lines = (await bytesOf('imagenet-sample/train/labels.csv')).toString().trim().split('\n');
    expect(lines[0]).toBe('path,synset');
    expect(lines[1]).toBe('n01440764/img_00001.jpg,n01440764');
    expect(lines).toHaveLength(51);
  });
});

describe('objectSha256', () => {
  it('is the sha256 of the streamed bytes', async () => {
    const key = 'imagenet-sample/train/n01440764/img_00006.jpg';
    const object = planSampleDataset(SPEC).find((o) => o.key === key);
    if (!object) throw new Error('missing');
    expect(await objectSha256(SPEC, object)).toBe(createHash('sha256').update(await bytesOf(key)).digest('hex'));
  });
});
