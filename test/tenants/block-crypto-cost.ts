/**
 * What the node cache's encryption costs (issue 7: "measure what it costs"): AES-256-GCM
 * encode and decode of cache blocks with the sidecar's own block format (sidecar/block-file.ts,
 * node:crypto, as the disk tier's worker threads run it), one block at a time on one thread, next to a plain copy
 * of the same bytes — the cost a block file would have without it. CPU only, no disk: the disk
 * tier's I/O is the same either way.
 *
 * A function for the benchmark (bench/ may call `measureBlockCryptoCost`) and a one-off command:
 *   npx tsc -p tsconfig.json --outDir /tmp/dm-out && node /tmp/dm-out/test/tenants/block-crypto-cost.js
 */
import { randomBytes } from 'node:crypto';
import { decodeBlock, deriveBlockKeys, encodeBlock } from '../../sidecar/block-file';

export interface BlockCryptoCost {
  blockBytes: number;
  blocks: number;
  /** MB/s (10^6 bytes) of plaintext, one block at a time. */
  encodeMBps: number;
  decodeMBps: number;
  copyMBps: number;
  /** Extra time per GiB read from the disk tier one block at a time, in ms: decode minus copy. */
  decodeMsPerGiB: number;
}

async function rate(bytes: number, run: () => Promise<void> | void): Promise<number> {
  await run(); // warm up
  const started = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return bytes / seconds / 1e6;
}

export async function measureBlockCryptoCost(options: { blockBytes?: number; blocks?: number } = {}): Promise<BlockCryptoCost> {
  const blockBytes = options.blockBytes ?? 1024 * 1024;
  const blocks = options.blocks ?? 256;
  const keys = deriveBlockKeys('AKIAEXAMPLE\0secret', { endpoint: 'https://s3.example.com', bucket: 'bench' });
  const data = Array.from({ length: 8 }, () => randomBytes(blockBytes));
  const files = data.map((d, i) => encodeBlock(keys, `id-${i}`, d));
  const total = blockBytes * blocks;
  const decode = (i: number): void => {
    if (!decodeBlock(keys, `id-${i % 8}`, files[i % 8]!)) throw new Error('block did not decode');
  };
  const encodeMBps = await rate(total, () => {
    for (let i = 0; i < blocks; i++) encodeBlock(keys, `id-${i % 8}`, data[i % 8]!);
  });
  const decodeMBps = await rate(total, () => {
    for (let i = 0; i < blocks; i++) decode(i);
  });
  const copyMBps = await rate(total, () => {
    for (let i = 0; i < blocks; i++) Buffer.from(data[i % 8]!);
  });
  const msPerGiB = (mbps: number): number => ((2 ** 30) / (mbps * 1e6)) * 1000;
  return { blockBytes, blocks, encodeMBps, decodeMBps, copyMBps, decodeMsPerGiB: msPerGiB(decodeMBps) - msPerGiB(copyMBps) };
}

if (require.main === module) {
  void measureBlockCryptoCost().then((cost) => {
    process.stdout.write(
      `block ${cost.blockBytes} B × ${cost.blocks}: encode ${cost.encodeMBps.toFixed(0)} MB/s, decode ${cost.decodeMBps.toFixed(0)} MB/s, ` +
      `plain copy ${cost.copyMBps.toFixed(0)} MB/s; ` +
      `one block at a time, decryption adds ${cost.decodeMsPerGiB.toFixed(0)} ms per GiB read from the disk cache\n`,
    );
  });
}
