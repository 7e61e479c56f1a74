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
 *
 * Encryption runs through WebCrypto, whose AES-GCM works on libuv's thread pool: a 1 MiB block
 * costs about a millisecond of AES, which would otherwise stall the thread that answers FUSE.
 * WebCrypto's output is ciphertext followed by the 16-byte tag — exactly the layout above.
 */
import { createHmac, hkdfSync, randomBytes, webcrypto } from 'node:crypto';

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

const cryptoKeys = new WeakMap<BlockKeys, Promise<webcrypto.CryptoKey>>();

function cryptoKeyOf(keys: BlockKeys): Promise<webcrypto.CryptoKey> {
  let key = cryptoKeys.get(keys);
  if (!key) {
    key = webcrypto.subtle.importKey('raw', keys.encryption, 'AES-GCM', false, ['encrypt', 'decrypt']);
    cryptoKeys.set(keys, key);
  }
  return key;
}

/** The file's bytes as two buffers, header and sealed body, to be written together (no 1 MiB concat copy). */
export async function encodeBlockParts(keys: BlockKeys, id: string, data: Buffer): Promise<[Buffer, Buffer]> {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(VERSION, 4);
  randomBytes(NONCE_BYTES).copy(header, 8);
  header.writeUInt32BE(data.length, 20);
  const sealed = await webcrypto.subtle.encrypt(
    { name: 'AES-GCM', iv: header.subarray(8, 20), additionalData: Buffer.concat([header, Buffer.from(id)]), tagLength: TAG_BYTES * 8 },
    await cryptoKeyOf(keys),
    data,
  );
  return [header, Buffer.from(sealed)];
}

export async function encodeBlock(keys: BlockKeys, id: string, data: Buffer): Promise<Buffer> {
  return Buffer.concat(await encodeBlockParts(keys, id, data));
}

/** The block's bytes, or undefined when the file is not an intact block of `id` under these keys. */
export async function decodeBlock(keys: BlockKeys, id: string, file: Buffer): Promise<Buffer | undefined> {
  if (file.length < HEADER_BYTES + TAG_BYTES) return undefined;
  if (!file.subarray(0, 4).equals(MAGIC) || file.readUInt8(4) !== VERSION) return undefined;
  const length = file.readUInt32BE(20);
  if (file.length !== HEADER_BYTES + length + TAG_BYTES) return undefined;
  try {
    const plain = await webcrypto.subtle.decrypt(
      { name: 'AES-GCM', iv: file.subarray(8, 20), additionalData: Buffer.concat([file.subarray(0, HEADER_BYTES), Buffer.from(id)]), tagLength: TAG_BYTES * 8 },
      await cryptoKeyOf(keys),
      file.subarray(HEADER_BYTES),
    );
    return Buffer.from(plain);
  } catch {
    return undefined;
  }
}
