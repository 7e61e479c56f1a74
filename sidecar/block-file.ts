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
 * The codec is synchronous and runs in the disk tier's worker threads (block-file-pool.ts), never
 * on the thread that answers FUSE: AES-GCM of a 1 MiB block costs most of a millisecond, and
 * WebCrypto's main-thread share of it (copying every input, a promise per call) was a tenth of
 * the sidecar's time in sequential-read profiles. The workers pass it native/block-crypto.c when
 * `make native` built it, which seals into and opens from the caller's buffers at half
 * node:crypto's CPU (whose every `update` allocates and zero-fills its output); node:crypto
 * otherwise. Both write and read the same files.
 *
 * `blockCodec` is self-contained — it uses only the crypto module it is given — because the
 * worker runs its source text (`blockCodec.toString()`): a worker cannot load the TypeScript
 * module itself under ts-jest, and the compiled file's path differs between dist/ and tests.
 */
import * as nodeCrypto from 'node:crypto';
import { createHmac, hkdfSync } from 'node:crypto';

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

/** Bytes a block file has beyond the block's own: header and tag. */
export const BLOCK_FILE_OVERHEAD = 24 + 16;

/** Encode and decode block files; see `blockCodec`. */
export interface BlockCodec {
  /**
   * The file as buffers to write one after the other: the header, the ciphertext in pieces of at
   * most 64 KiB (encrypted in steps, so no block-sized buffer is allocated), the tag.
   */
  encode(key: Uint8Array, id: string, data: Uint8Array): Buffer[];
  /** The block's bytes, or undefined when `file` is not an intact block of `id` under `key`. */
  decode(key: Uint8Array, id: string, file: Uint8Array): Buffer | undefined;
  /**
   * Decode into `target` (at least the block's length) and return that length, or -1 when
   * `file` is not an intact block (`target` then holds garbage). Decrypts in small steps, so no
   * block-sized buffer is allocated (fresh memory is what costs most here: page faults).
   */
  decodeInto(key: Uint8Array, id: string, file: Uint8Array, target: Uint8Array): number;
  /**
   * Encode the whole file into `target` (at least the block's length plus BLOCK_FILE_OVERHEAD
   * bytes) and return its length: with the native module, sealed in place, with nothing
   * allocated; without it, `encode`'s parts copied in.
   */
  encodeInto(key: Uint8Array, id: string, data: Uint8Array, target: Uint8Array): number;
  /** True with the native module: `encodeInto` and `decodeInto` then allocate nothing. */
  readonly sealsInPlace: boolean;
  /** The length of the block a file of `fileBytes` holds, if it is a block file. */
  blockLength(fileBytes: number): number;
  /** The length of the file a block of `blockBytes` is stored in. */
  fileLength(blockBytes: number): number;
}

/**
 * native/block-crypto.c: AES-256-GCM between caller-owned buffers, each call true on success
 * (for `open`, only if the tag authenticates).
 */
export interface NativeBlockCrypto {
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array, out: Uint8Array, tag: Uint8Array): boolean;
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tag: Uint8Array, out: Uint8Array): boolean;
}

/**
 * The block format's codec, built from the crypto module passed in and nothing else from the
 * enclosing scope (see the note at the top: its source text is what the workers run). With
 * `native` (native/block-crypto.c, when built), `encodeInto` and `decodeInto` encrypt and decrypt
 * between the caller's buffers through it: half the CPU per block, the same files.
 */
/* istanbul ignore next -- instrumentation would break the worker's copy of this source */
export function blockCodec(crypto: typeof nodeCrypto, native?: NativeBlockCrypto): BlockCodec {
  const magic = Buffer.from('DMB1');
  const version = 1;
  const headerBytes = 24;
  const tagBytes = 16;
  const additionalData = (header: Uint8Array, id: string): Buffer => Buffer.concat([header, Buffer.from(id)]);
  /** Decryption steps of `decodeInto`: small enough that their outputs come from malloc's reused memory. */
  const step = 64 * 1024;
  /** The length of the file a block of `blockBytes` is stored in: header, ciphertext, tag. */
  const fileLength = (blockBytes: number): number => headerBytes + blockBytes + tagBytes;
  /** A file's parts, or undefined when its header or length say it is not a block file. */
  const layout = (bytes: Uint8Array): { header: Buffer; nonce: Buffer; sealed: Buffer; tag: Buffer } | undefined => {
    const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (file.length < headerBytes + tagBytes) return undefined;
    if (!file.subarray(0, 4).equals(magic) || file.readUInt8(4) !== version) return undefined;
    const length = file.readUInt32BE(20);
    if (file.length !== fileLength(length)) return undefined;
    return { header: file.subarray(0, headerBytes), nonce: file.subarray(8, 20), sealed: file.subarray(headerBytes, headerBytes + length), tag: file.subarray(headerBytes + length) };
  };
  /** A new file's header (random nonce) for a block of `length` bytes, written into `header`. */
  const writeHeader = (header: Buffer, length: number): void => {
    magic.copy(header, 0);
    header.writeUInt8(version, 4);
    header.fill(0, 5, 8);
    crypto.randomFillSync(header, 8, 12);
    header.writeUInt32BE(length, 20);
  };
  /** A file's header checked and its decipher set up, or undefined when it is not a block file. */
  const open = (key: Uint8Array, id: string, bytes: Uint8Array): { decipher: nodeCrypto.DecipherGCM; sealed: Buffer } | undefined => {
    const parts = layout(bytes);
    if (!parts) return undefined;
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, parts.nonce, { authTagLength: tagBytes });
      decipher.setAAD(additionalData(parts.header, id));
      decipher.setAuthTag(parts.tag);
      return { decipher, sealed: parts.sealed };
    } catch {
      return undefined;
    }
  };
  const encode = (key: Uint8Array, id: string, data: Uint8Array): Buffer[] => {
    const header = Buffer.alloc(headerBytes);
    writeHeader(header, data.length);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, header.subarray(8, 20), { authTagLength: tagBytes });
    cipher.setAAD(additionalData(header, id));
    const parts = [header];
    for (let start = 0; start < data.length; start += step) parts.push(cipher.update(data.subarray(start, start + step)));
    const last = cipher.final();
    if (last.length > 0) parts.push(last);
    parts.push(cipher.getAuthTag());
    return parts;
  };
  return {
    encode,
    sealsInPlace: native !== undefined,
    encodeInto(key, id, data, target) {
      const fileBytes = fileLength(data.length);
      if (target.length < fileBytes) throw new RangeError(`a block file of ${fileBytes} bytes does not fit in ${target.length}`);
      const into = Buffer.from(target.buffer, target.byteOffset, target.byteLength);
      if (!native) {
        let at = 0;
        for (const part of encode(key, id, data)) at += part.copy(into, at);
        return at;
      }
      const header = into.subarray(0, headerBytes);
      writeHeader(header, data.length);
      const sealedEnd = headerBytes + data.length;
      if (!native.seal(key, header.subarray(8, 20), additionalData(header, id), data, into.subarray(headerBytes, sealedEnd), into.subarray(sealedEnd, fileBytes))) {
        throw new Error('block crypto: seal failed');
      }
      return fileBytes;
    },
    decode(key, id, bytes) {
      const opened = open(key, id, bytes);
      if (!opened) return undefined;
      try {
        const plain = opened.decipher.update(opened.sealed);
        opened.decipher.final();
        return plain;
      } catch {
        return undefined;
      }
    },
    blockLength(fileBytes) {
      return fileBytes - headerBytes - tagBytes;
    },
    fileLength,
    decodeInto(key, id, bytes, target) {
      if (native) {
        const parts = layout(bytes);
        if (!parts || target.length < parts.sealed.length) return -1;
        return native.open(key, parts.nonce, additionalData(parts.header, id), parts.sealed, parts.tag, target) ? parts.sealed.length : -1;
      }
      const opened = open(key, id, bytes);
      if (!opened || target.length < opened.sealed.length) return -1;
      const into = Buffer.from(target.buffer, target.byteOffset, target.byteLength);
      try {
        let at = 0;
        for (let start = 0; start < opened.sealed.length; start += step) {
          at += opened.decipher.update(opened.sealed.subarray(start, start + step)).copy(into, at);
        }
        at += opened.decipher.final().copy(into, at);
        return at;
      } catch {
        return -1;
      }
    },
  };
}

const codec = blockCodec(nodeCrypto);

/** The whole file of a block, in one buffer (tests and tools; the disk tier writes the parts). */
export function encodeBlock(keys: BlockKeys, id: string, data: Uint8Array): Buffer {
  return Buffer.concat(codec.encode(keys.encryption, id, data));
}

/** The block's bytes, or undefined when the file is not an intact block of `id` under these keys. */
export function decodeBlock(keys: BlockKeys, id: string, file: Uint8Array): Buffer | undefined {
  return codec.decode(keys.encryption, id, file);
}
