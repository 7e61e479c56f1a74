/**
 * What the node cache's encryption costs (issue 7: "measure what it costs"): AES-256-GCM
 * encode and decode of cache blocks with the sidecar's own block format (sidecar/block-file.ts),
 * next to a plain copy of the same bytes — the cost a block file would have without it. Pure
 * CPU on one core, no disk: the disk tier's I/O is the same either way.
 *
 * A function for the benchmark (bench/ may call `measureBlockCryptoCost`) and a one-off command:
 *   npx tsc -p tsconfig.json --outDir /tmp/dm-out && node /tmp/dm-out/test/tenants/block-crypto-cost.js
 */
import { randomBytes } from 'node:crypto';
import { decodeBlock, deriveBlockKeys, encodeBlock } from '../../sidecar/block-file';

export interface BlockCryptoCost {
  blockBytes: number;
  blocks: number;
  /** MB/s (10^6 bytes) of plaintext. */
  encodeMBps: number;
  decodeMBps: number;
  copyMBps: number;
  /** Extra CPU time per GiB read from the disk tier, in ms: decode minus copy. */
  decodeMsPerGiB: number;
}

function rate(bytes: number, run: () => void): number {
  run(); // warm up
  const started = process.hrtime.bigint();
  run();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return bytes / seconds / 1e6;
}

export function measureBlockCryptoCost(options: { blockBytes?: number; blocks?: number } = {}): BlockCryptoCost {
  const blockBytes = options.blockBytes ?? 1024 * 1024;
  const blocks = options.blocks ?? 256;
  const keys = deriveBlockKeys('AKIAEXAMPLE\0secret', { endpoint: 'https://s3.example.com', bucket: 'bench' });
  const data = Array.from({ length: 8 }, () => randomBytes(blockBytes));
  const files = data.map((d, i) => encodeBlock(keys, `id-${i}`, d));
  const total = blockBytes * blocks;
  const encodeMBps = rate(total, () => {
    for (let i = 0; i < blocks; i++) encodeBlock(keys, `id-${i % 8}`, data[i % 8]!);
  });
  const decodeMBps = rate(total, () => {
    for (let i = 0; i < blocks; i++) if (!decodeBlock(keys, `id-${i % 8}`, files[i % 8]!)) throw new Error('block did not decode');
  });
  const copyMBps = rate(total, () => {
    for (let i = 0; i < blocks; i++) Buffer.from(data[i % 8]!);
  });
  const msPerGiB = (mbps: number): number => ((2 ** 30) / (mbps * 1e6)) * 1000;
  return { blockBytes, blocks, encodeMBps, decodeMBps, copyMBps, decodeMsPerGiB: msPerGiB(decodeMBps) - msPerGiB(copyMBps) };
}

if (require.main === module) {
  const cost = measureBlockCryptoCost();
  process.stdout.write(
    `block ${cost.blockBytes} B × ${cost.blocks}: encode ${cost.encodeMBps.toFixed(0)} MB/s, decode ${cost.decodeMBps.toFixed(0)} MB/s, ` +
    `plain copy ${cost.copyMBps.toFixed(0)} MB/s; decryption adds ${cost.decodeMsPerGiB.toFixed(0)} ms of one core per GiB read from the disk cache\n`,
  );
}
