/**
 * The data the benchmark reads, generated (never downloaded) and self-checking: every 1 MiB
 * block of the big object starts with its block index, every small file starts with its own
 * key. Readers check those marks cheaply, so a mounter that returned misplaced blocks or the
 * wrong file would fail the run instead of posting a good time.
 */
import { seededRandom } from '../common/seeded-random';

export const MiB = 2 ** 20;
const KiB = 2 ** 10;

export interface BenchDataset {
  bucket: string;
  bigKey: string;
  bigBytes: number;
  smallDirs: number;
  smallPerDir: number;
  smallBytes: number;
  treeDirs: number;
  treePerDir: number;
  randomReads: number;
  randomReadBytes: number;
}

/** The sizes (1 GiB, 5,000 × 64 KiB, 10,000 keys, 256 random reads), or a quick tenth. */
export function benchDataset(quick: boolean): BenchDataset {
  return quick
    ? { bucket: 'bench-quick', bigKey: 'big/object.bin', bigBytes: 64 * MiB, smallDirs: 10, smallPerDir: 50,
      smallBytes: 64 * KiB, treeDirs: 10, treePerDir: 100, randomReads: 32, randomReadBytes: MiB }
    : { bucket: 'bench-full', bigKey: 'big/object.bin', bigBytes: 1024 * MiB, smallDirs: 50, smallPerDir: 100,
      smallBytes: 64 * KiB, treeDirs: 100, treePerDir: 100, randomReads: 256, randomReadBytes: MiB };
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export function smallKeys(data: BenchDataset): string[] {
  const keys: string[] = [];
  for (let d = 0; d < data.smallDirs; d += 1) {
    for (let f = 0; f < data.smallPerDir; f += 1) keys.push(`small/d${pad(d, 2)}/f${pad(f, 3)}.bin`);
  }
  return keys;
}

export function treeKeys(data: BenchDataset): string[] {
  const keys: string[] = [];
  for (let d = 0; d < data.treeDirs; d += 1) {
    for (let f = 0; f < data.treePerDir; f += 1) keys.push(`tree/d${pad(d, 2)}/k${pad(f, 3)}.txt`);
  }
  return keys;
}

let pattern: Buffer | undefined;

/** 1 MiB of seeded noise (so no layer can compress or dedupe it), made once. */
function noise(): Buffer {
  if (!pattern) {
    const random = seededRandom(42);
    pattern = Buffer.alloc(MiB);
    for (let i = 0; i < MiB; i += 4) pattern.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  }
  return pattern;
}

/** Block `index` of the big object: the noise with the index in its first 8 bytes. */
export function bigBlock(index: number, bytes: number): Buffer {
  const block = Buffer.from(noise().subarray(0, bytes));
  if (bytes >= 8) block.writeBigUInt64LE(BigInt(index), 0);
  return block;
}

/**
 * Fill `target` with bytes [offset, offset + target.length) of the big object, as `bigBlock`
 * makes them, without allocating: a copy of the noise and the marks written over it.
 */
export function fillBigRange(target: Buffer, offset: number): void {
  const source = noise();
  for (let at = 0; at < target.length; ) {
    const inBlock = (offset + at) % MiB;
    const n = Math.min(target.length - at, MiB - inBlock);
    source.copy(target, at, inBlock, inBlock + n);
    at += n;
  }
  const end = offset + target.length;
  for (let mark = Math.floor(offset / MiB) * MiB; mark < end; mark += MiB) {
    if (mark + 8 <= offset) continue;
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(BigInt(mark / MiB), 0);
    const from = Math.max(mark, offset);
    bytes.copy(target, from - offset, from - mark, Math.min(8, end - mark));
  }
}

/** Checks the block marks that fall inside `buffer`, read at `offset` of the big object. */
export function checkBigRange(buffer: Buffer, offset: number): string | undefined {
  const first = Math.ceil(offset / MiB) * MiB;
  for (let mark = first; mark + 8 <= offset + buffer.length; mark += MiB) {
    const seen = buffer.readBigUInt64LE(mark - offset);
    if (seen !== BigInt(mark / MiB)) return `block mark at ${mark} reads ${seen}, wanted ${mark / MiB}`;
  }
  return undefined;
}

export function smallFileBody(key: string, bytes: number): Buffer {
  const body = Buffer.from(noise().subarray(0, bytes));
  body.write(`${key}\n`, 0, 'utf8');
  return body;
}

/** Checks a small file read through a mount: its size and the key it starts with. */
export function checkSmallFile(body: Buffer, key: string, bytes: number): string | undefined {
  if (body.length !== bytes) return `${key}: read ${body.length} bytes, wanted ${bytes}`;
  if (body.toString('utf8', 0, key.length + 1) !== `${key}\n`) return `${key}: content belongs to another file`;
  return undefined;
}
