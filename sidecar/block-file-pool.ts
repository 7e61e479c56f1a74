/**
 * The disk tier's hands: a few worker threads that encrypt and write block files, and read and
 * decrypt them, with plain synchronous node:fs and node:crypto calls — cheap on a thread of their
 * own. The thread that answers FUSE only posts a message per block and receives one back.
 *
 * Why: profiles of sequential reads (BENCHMARKS.md) showed the disk tier costing the main thread
 * more than the network did — WebCrypto's copies and promises, GC of every ciphertext, four
 * promise-based file calls per block (open, write, close, rename), each a trip through libuv's
 * pool and back. Here a write is one copy into a shared staging slot, one message out and a
 * number back; a read is one message out and the plaintext back, its buffer transferred.
 *
 * Each worker does one thing at a time, so the pool's size is the disk tier's parallelism. A
 * worker holds the process open only while it has work; one that dies fails its pending calls
 * (the disk tier treats that as a miss or a dropped write) and is replaced on the next call.
 */
import * as nodeCrypto from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';
import { Worker, type MessagePort } from 'node:worker_threads';
import { blockCodec, type BlockCodec } from './block-file';

export interface BlockWrite {
  /** Final path of the block file; written as a temporary file beside it and renamed. */
  readonly file: string;
  /** Create the file's folder first (recursive mkdir). */
  readonly ensureFolder: boolean;
  readonly key: Uint8Array;
  readonly id: string;
  readonly data: Uint8Array;
}

export interface BlockRead {
  readonly file: string;
  /** The file's size if known (one read, no stat); -1 if not. */
  readonly size: number;
  readonly key: Uint8Array;
  readonly id: string;
}

/** Where the pool puts a block it read: a buffer of `length` bytes (e.g. a recycled block). */
export type BlockDestination = (length: number) => Buffer;

export type BlockReadResult =
  | { readonly status: 'found'; readonly data: Buffer; readonly fileBytes: number }
  | { readonly status: 'missing' }
  /** The file did not authenticate; the worker has deleted it. */
  | { readonly status: 'corrupt' };

/** A file-system error from a worker, with its errno code (ENOSPC, ENOENT, ...). */
export class BlockFileError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

/** A read may name a staging slot to decode into (then the reply carries the length, not the data). */
type Request = ({ op: 'write' } & BlockWrite) | ({ op: 'read'; slot?: Uint8Array } & BlockRead);
type ReadOutcome = { status: 'found'; data: Buffer | number; fileBytes: number } | { status: 'missing' | 'corrupt' };
type Reply =
  | { seq: number; error: { message: string; code?: string } }
  | { seq: number; bytes: number }
  | { seq: number; status: 'found'; data: Uint8Array | number; fileBytes: number }
  | { seq: number; status: 'missing' | 'corrupt' };

/**
 * The worker's program, run from its source text (see block-file.ts on why), so it uses only
 * what it is handed.
 */
/* istanbul ignore next -- instrumentation would break the worker's copy of this source */
function serveBlockFiles(codec: BlockCodec, fs: typeof nodeFs, path: typeof nodePath, crypto: typeof nodeCrypto, port: MessagePort): void {
  let scratch = Buffer.alloc(0);

  const write = (request: BlockWrite): number => {
    const parts = codec.encode(request.key, request.id, request.data);
    const folder = path.dirname(request.file);
    if (request.ensureFolder) fs.mkdirSync(folder, { recursive: true });
    const temporary = path.join(folder, `.${path.basename(request.file)}.${crypto.randomBytes(4).toString('hex')}.tmp`);
    let fd = -1;
    try {
      fd = fs.openSync(temporary, 'wx');
      // One writev, then plain writes for whatever a short write left (a filling disk writes
      // part of it, then fails with ENOSPC).
      let done = fs.writevSync(fd, parts, 0);
      let start = 0;
      for (const part of parts) {
        const end = start + part.length;
        while (done < end) {
          const written = fs.writeSync(fd, part, done - start, end - done, done);
          if (written === 0) throw Object.assign(new Error('no bytes written'), { code: 'ENOSPC' });
          done += written;
        }
        start = end;
      }
      fs.closeSync(fd);
      fd = -1;
      fs.renameSync(temporary, request.file);
      return done;
    } catch (error) {
      if (fd >= 0) fs.closeSync(fd);
      try {
        fs.unlinkSync(temporary);
      } catch {
        // never created, or already gone
      }
      throw error;
    }
  };

  const read = (request: BlockRead & { slot?: Uint8Array }): ReadOutcome => {
    let file: Buffer;
    try {
      const fd = fs.openSync(request.file, 'r');
      try {
        const size = request.size >= 0 ? request.size : fs.fstatSync(fd).size;
        if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(size);
        file = scratch.subarray(0, fs.readSync(fd, scratch, 0, size, 0));
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return { status: 'missing' };
    }
    const data = request.slot ? codec.decodeInto(request.key, request.id, file, request.slot) : codec.decode(request.key, request.id, file);
    if (data === undefined || data === -1) {
      try {
        fs.unlinkSync(request.file);
      } catch {
        // gone already
      }
      return { status: 'corrupt' };
    }
    return { status: 'found', data, fileBytes: file.length };
  };

  port.on('message', (message: Request & { seq: number }) => {
    try {
      if (message.op === 'write') {
        port.postMessage({ seq: message.seq, bytes: write(message) });
        return;
      }
      const reply = read(message);
      if (reply.status !== 'found') {
        port.postMessage({ ...reply, seq: message.seq });
        return;
      }
      const data = reply.data;
      if (typeof data === 'number') {
        port.postMessage({ ...reply, seq: message.seq });
        return;
      }
      // Hand the plaintext over without a copy when it owns its memory (it does: decipher output).
      const owned = data.byteOffset === 0 && data.buffer.byteLength === data.byteLength && data.buffer instanceof ArrayBuffer;
      const out = owned ? data : new Uint8Array(data);
      port.postMessage({ ...reply, data: out, seq: message.seq }, [out.buffer as ArrayBuffer]);
    } catch (error) {
      const failure = error as NodeJS.ErrnoException;
      port.postMessage({ seq: message.seq, error: { message: failure.message, code: failure.code } });
    }
  });
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const codec = (${blockCodec.toString()})(crypto);
(${serveBlockFiles.toString()})(codec, require('node:fs'), require('node:path'), crypto, parentPort);
`;

interface Waiting {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly waiting: Map<number, Waiting>;
}

export class BlockFilePool {
  private readonly workers: PoolWorker[] = [];
  private seq = 0;
  private closed = false;
  /** Shared memory blocks are copied into on their way to a worker (see `stage`), and its free slots. */
  private staging: { readonly memory: SharedArrayBuffer; readonly free: number[] } | undefined;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`pool size must be a positive integer, not ${size}`);
  }

  /** Encrypt `data` into the block file; resolves with the file's size. */
  async write(request: BlockWrite): Promise<number> {
    const slot = this.stage(request.data);
    try {
      const reply = await this.send({ op: 'write', ...request, data: slot?.view ?? shareable(request.data) });
      if ('bytes' in reply) return reply.bytes;
      throw new Error('block file worker: unexpected reply to a write');
    } finally {
      if (slot) this.staging?.free.push(slot.index);
    }
  }

  /**
   * Copy a block into a free slot of shared memory that stays mapped for the pool's life (about
   * 0.04 ms per MiB). Posting the block itself would clone it into freshly allocated memory,
   * whose page faults cost ten times the copy on these VMs; and blocks are not kept in
   * SharedArrayBuffers for the collector's sake (range-body.ts).
   */
  private stage(data: Uint8Array): { index: number; view: Uint8Array } | undefined {
    if (data.buffer instanceof SharedArrayBuffer || data.byteLength > STAGING_SLOT_BYTES) return undefined;
    const slot = this.slot();
    if (!slot) return undefined;
    const view = slot.view.subarray(0, data.byteLength);
    view.set(data);
    return { index: slot.index, view };
  }

  /** A free staging slot (a whole slot's view) if more than `keep` are free, else undefined. */
  private slot(keep = 0): { index: number; view: Uint8Array } | undefined {
    if (!this.staging) {
      const memory = new SharedArrayBuffer(STAGING_SLOTS * STAGING_SLOT_BYTES);
      new Uint8Array(memory).fill(0); // fault the pages in once, here, not on every block
      this.staging = { memory, free: Array.from({ length: STAGING_SLOTS }, (_, i) => i) };
    }
    if (this.staging.free.length <= keep) return undefined;
    const index = this.staging.free.pop();
    if (index === undefined) return undefined;
    return { index, view: new Uint8Array(this.staging.memory, index * STAGING_SLOT_BYTES, STAGING_SLOT_BYTES) };
  }

  /**
   * Read and decode a block file. With `into`, the worker decodes into a staging slot (no
   * block-sized allocation on either side) and the block is copied from there into `into`'s
   * buffer; without it, or with every slot taken, the plaintext comes in a buffer of its own.
   */
  async read(request: BlockRead, into?: BlockDestination): Promise<BlockReadResult> {
    const slot = into ? this.slot(WRITE_SLOTS) : undefined;
    try {
      const reply = await this.send({ op: 'read', ...request, ...(slot ? { slot: slot.view } : {}) });
      if (!('status' in reply)) throw new Error('block file worker: unexpected reply to a read');
      if (reply.status !== 'found') return { status: reply.status };
      if (typeof reply.data !== 'number') return { status: 'found', data: Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength), fileBytes: reply.fileBytes };
      if (!slot || !into) throw new Error('block file worker: decoded into a slot it was not given');
      const data = into(reply.data);
      data.set(slot.view.subarray(0, reply.data));
      return { status: 'found', data, fileBytes: reply.fileBytes };
    } finally {
      if (slot) this.staging?.free.push(slot.index);
    }
  }

  /** Stop the workers; calls still pending fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.splice(0).map(({ worker }) => worker.terminate()));
  }

  private send(request: Request): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('block file pool is closed'));
    const target = this.pick();
    const seq = ++this.seq;
    return new Promise<Reply>((resolve, reject) => {
      if (target.waiting.size === 0) target.worker.ref();
      target.waiting.set(seq, { resolve, reject });
      target.worker.postMessage({ ...request, seq });
    }).then((reply) => {
      if ('error' in reply) throw new BlockFileError(reply.error.message, reply.error.code);
      return reply;
    });
  }

  /** The least busy worker, starting another while fewer than `size` run and all are busy. */
  private pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const candidate of this.workers) if (!best || candidate.waiting.size < best.waiting.size) best = candidate;
    if (best && (best.waiting.size === 0 || this.workers.length >= this.size)) return best;
    return this.start();
  }

  private start(): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'datamount-block-files' });
    worker.unref();
    const entry: PoolWorker = { worker, waiting: new Map() };
    const fail = (error: Error): void => {
      const index = this.workers.indexOf(entry);
      if (index >= 0) this.workers.splice(index, 1);
      for (const waiting of entry.waiting.values()) waiting.reject(error);
      entry.waiting.clear();
    };
    worker.on('message', (reply: Reply) => {
      const waiting = entry.waiting.get(reply.seq);
      if (!waiting) return;
      entry.waiting.delete(reply.seq);
      if (entry.waiting.size === 0) worker.unref();
      waiting.resolve(reply);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`block file worker exited with code ${code}`)));
    this.workers.push(entry);
    return entry;
  }
}

/**
 * Bytes to post to a worker without copying more than the block: a view into a SharedArrayBuffer
 * is shared as it is; a view of part of an ordinary buffer (a pool slab, a larger read) would be
 * cloned with its whole buffer, so it is copied to a buffer of its own first.
 */
function shareable(data: Uint8Array): Uint8Array {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  return new Uint8Array(data);
}

/**
 * Staging slots of one block each: as many as the disk tier has reads and writes in flight at
 * most (8 + 4, disk-cache.ts), so neither waits for the other. A write finding none free (or a
 * larger block) posts a copy instead; a read gets its block in a buffer of its own. Every read
 * holds one, even a lookup that finds no file (every block's first lookup in a cold read).
 */
const STAGING_SLOTS = 12;
/**
 * Slots reads leave to writes. A write without a slot posts a copy of its block (a 1 MiB clone on
 * the main thread, fresh memory in the worker); a read without one only gets its block in a buffer
 * of its own — so when slots run short, writes keep theirs.
 */
const WRITE_SLOTS = 4;
const STAGING_SLOT_BYTES = 1024 * 1024;

/**
 * Two workers: AES-GCM runs at about 1.3 GB/s per core here, so two keep a 1 GB/s reader fed
 * from disk, and on a 2-core node more would only take CPU from the reader and the network.
 */
export const DEFAULT_BLOCK_FILE_WORKERS = 2;

let shared: BlockFilePool | undefined;

/** The process's pool, shared by every dataset's disk tier. */
export function sharedBlockFilePool(): BlockFilePool {
  shared ??= new BlockFilePool(DEFAULT_BLOCK_FILE_WORKERS);
  return shared;
}
