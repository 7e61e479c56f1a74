/**
 * The on-disk format of one cached block (docs/contract.md, issue 7's tenant rule): encrypted
 * and authenticated with AES-256-GCM under a key derived from the dataset's credentials, so a
 * block is useless to anyone without them, and a flipped, truncated or foreign block fails
 * authentication and is refetched instead of served.
 *
 *   offset  size  field
 *   0       4     magic "DMB1"
 *   4       1     format version (1)
 *   5       3     zero
 *   8       12    GCM nonce (random per file)
 *   20      4     plaintext length, big-endian
 *   24      n     ciphertext
 *   24+n    16    GCM tag
 *
 * The additional authenticated data is the header plus the block's cache id (bucket, key, ETag,
 * block index), so a valid block moved to another name does not authenticate either.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const MAGIC = Buffer.from('DMB1');
const VERSION = 1;
const HEADER_BYTES = 24;
const TAG_BYTES = 16;
const NONCE_BYTES = 12;

export interface BlockKeys {
  /** AES-256-GCM key. */
  readonly encryption: Buffer;
  /** HMAC key turning cache ids into file names, so names do not reveal object keys. */
  readonly naming: Buffer;
}

/**
 * Keys for one dataset. `secret` is the dataset's credentials (access key id and secret), or
 * '' for an anonymous dataset, whose blocks are then authenticated (not secret: anyone who
 * knows the endpoint and bucket could derive the key, as anyone can read the bucket).
 */
export function deriveBlockKeys(secret: string, context: { endpoint: string; bucket: string }): BlockKeys {
  const material = Buffer.from(hkdfSync('sha256', Buffer.from(`datamount-credentials:${secret}`), Buffer.from('datamount-block-cache-v1'), Buffer.from(`${context.endpoint}\0${context.bucket}`), 64));
  return { encryption: material.subarray(0, 32), naming: material.subarray(32, 64) };
}

/** The file name (without directory) of a block id: hex HMAC, `.blk`. */
export function blockFileName(keys: BlockKeys, id: string): string {
  return `${createHmac('sha256', keys.naming).update(id).digest('hex').slice(0, 48)}.blk`;
}

export function encodeBlock(keys: BlockKeys, id: string, data: Buffer): Buffer {
  const file = Buffer.allocUnsafe(HEADER_BYTES + data.length + TAG_BYTES);
  MAGIC.copy(file, 0);
  file.writeUInt8(VERSION, 4);
  file.fill(0, 5, 8);
  randomBytes(NONCE_BYTES).copy(file, 8);
  file.writeUInt32BE(data.length, 20);
  const header = file.subarray(0, HEADER_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.encryption, file.subarray(8, 20));
  cipher.setAAD(Buffer.concat([header, Buffer.from(id)]));
  const written = cipher.update(data).copy(file, HEADER_BYTES);
  cipher.final().copy(file, HEADER_BYTES + written);
  cipher.getAuthTag().copy(file, HEADER_BYTES + data.length);
  return file;
}

/** The block's bytes, or undefined when the file is not an intact block of `id` under these keys. */
export function decodeBlock(keys: BlockKeys, id: string, file: Buffer): Buffer | undefined {
  if (file.length < HEADER_BYTES + TAG_BYTES) return undefined;
  if (!file.subarray(0, 4).equals(MAGIC) || file.readUInt8(4) !== VERSION) return undefined;
  const length = file.readUInt32BE(20);
  if (file.length !== HEADER_BYTES + length + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.encryption, file.subarray(8, 20));
    decipher.setAAD(Buffer.concat([file.subarray(0, HEADER_BYTES), Buffer.from(id)]));
    decipher.setAuthTag(file.subarray(HEADER_BYTES + length));
    const head = decipher.update(file.subarray(HEADER_BYTES, HEADER_BYTES + length));
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    return undefined;
  }
}
