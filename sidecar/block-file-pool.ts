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
 * Block files are written and read with direct I/O (O_DIRECT) where the file system allows it:
 * through the page cache, the kernel's copy of every block into freshly allocated cache pages
 * was half of the workers' time in cold sequential reads (and the dirty pages' writeback cost
 * more CPU later, charged to the pod's memory meanwhile); a direct write or read moves the bytes
 * between the device and one page-aligned buffer per worker. A folder whose file system refuses
 * (EINVAL: tmpfs before Linux 6.6, some FUSE and network file systems) goes through the page
 * cache from then on, and the pool reports it (`directRefusedIn`); other folders keep direct I/O.
 *
 * Each worker does one thing at a time, so the pool's size is the disk tier's parallelism. A
 * worker holds the process open only while it has work; one that dies fails its pending calls
 * (the disk tier treats that as a miss or a dropped write) and is replaced on the next call.
 */
import * as nodeCrypto from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';
import { Worker, type MessagePort } from 'node:worker_threads';
import { BLOCK_FILE_OVERHEAD, blockCodec, type BlockCodec, type NativeBlockCrypto } from './block-file';
import { builtArtifactPath } from './native-artifact';

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

/**
 * Where the pool puts a block it read: a buffer of `length` bytes (e.g. a recycled block). The
 * pool may take one before it knows it will have a block for it (to decode in place); one it
 * took and then did not return (no file, a file that did not authenticate, another length) it
 * hands to `unused`, when there is one.
 */
export interface BlockDestination {
  (length: number): Buffer;
  unused?(buffer: Buffer): void;
}

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
type ReadOutcome = ({ status: 'found'; data: Buffer | number; fileBytes: number } & Io) | { status: 'missing' | 'corrupt' };
/** The part of the WebAssembly global the workers use (this project's TypeScript libraries lack it). */
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer } };

/**
 * `direct`: the file was written or read with direct I/O; `refused`: the folder whose file system
 * just refused it, and the errno (ENOWASM: the runtime has no WebAssembly, so no folder gets it).
 */
type Io = { direct: boolean; refused?: { folder: string; code: string } };
type Reply =
  | { seq: number; error: { message: string; code?: string } }
  | ({ seq: number; bytes: number } & Io)
  | ({ seq: number; status: 'found'; data: Uint8Array | number; fileBytes: number } & Io)
  | { seq: number; status: 'missing' | 'corrupt' };

/** How the worker pool does its I/O and its crypto. */
export interface BlockFilePoolOptions {
  /** Try direct I/O (default true); false goes through the page cache always. */
  readonly directIo?: boolean;
  /**
   * Path of the native AES-GCM module (native/block-crypto.c) for the workers, or false for
   * node:crypto alone. Default: `nativeBlockCryptoPath()`, the module `make native` builds, if it
   * loads.
   */
  readonly blockCrypto?: string | false;
}

/**
 * The worker's program, run from its source text (see block-file.ts on why), so it uses only
 * what it is handed (and the global WebAssembly). Exported for tests, which run it in-process
 * with a file system that refuses direct I/O.
 */
/* istanbul ignore next -- instrumentation would break the worker's copy of this source */
export function serveBlockFiles(codec: BlockCodec, fs: typeof nodeFs, path: typeof nodePath, crypto: typeof nodeCrypto, port: MessagePort, options: BlockFilePoolOptions): void {
  let scratch = Buffer.alloc(0);
  /** The worker's one buffer for page-cache reads and writes, at least `bytes` long (kept, not reallocated per call). */
  const scratchOf = (bytes: number): Buffer => {
    if (scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(bytes);
    return scratch;
  };
  /** Direct I/O moves whole 4 KiB pages from and to page-aligned memory. */
  const page = 4096;
  /** Wasm pages (64 KiB) of the aligned buffer: a 1 MiB block with its header, tag and padding. */
  const alignedPages = 17;
  const padded = (bytes: number): number => Math.ceil(bytes / page) * page;
  const { O_DIRECT, O_RDONLY, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
  /** Direct I/O for no folder (turned off, or no WebAssembly), and folders whose file system refused it. */
  let never = options.directIo === false || O_DIRECT === undefined;
  const refusedFolders = new Set<string>();
  let refused: { folder: string; code: string } | undefined;
  const directFor = (file: string): boolean => !never && !refusedFolders.has(path.dirname(file));
  /**
   * The buffer direct I/O goes through: WebAssembly memory, because its pages are mapped on
   * their own and so page-aligned, which no Buffer is promised to be. Made on first use.
   */
  let aligned: Buffer | undefined;
  const alignedBuffer = (file: string, bytes: number): Buffer | undefined => {
    if (!directFor(file) || padded(bytes) > alignedPages * 65536) return undefined;
    try {
      aligned ??= Buffer.from(new WebAssembly.Memory({ initial: alignedPages, maximum: alignedPages }).buffer);
    } catch {
      never = true;
      refused = { folder: path.dirname(file), code: 'ENOWASM' };
      return undefined;
    }
    return aligned;
  };
  /** True (and `file`'s folder off direct I/O from now on) when `error` is its file system refusing it. */
  const declined = (file: string, error: unknown): boolean => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL') return false;
    refusedFolders.add(path.dirname(file));
    refused = { folder: path.dirname(file), code };
    return true;
  };
  /** The reply's I/O fields, reporting a refusal once. */
  const io = (usedDirect: boolean): Io => {
    const reply: Io = refused === undefined ? { direct: usedDirect } : { direct: usedDirect, refused };
    refused = undefined;
    return reply;
  };

  /** Write `bytes` (at most `length` of them count) to a new `temporary` file, renamed to `file`. */
  const writeFile = (temporary: string, file: string, flags: number | string, bytes: Uint8Array[], length: number): number => {
    let fd = -1;
    try {
      fd = fs.openSync(temporary, flags, 0o666);
      // One writev, then plain writes for whatever a short write left (a filling disk writes
      // part of it, then fails with ENOSPC).
      let done = fs.writevSync(fd, bytes, 0);
      let start = 0;
      for (const part of bytes) {
        const end = start + part.length;
        while (done < end) {
          const written = fs.writeSync(fd, part, done - start, end - done, done);
          if (written === 0) throw Object.assign(new Error('no bytes written'), { code: 'ENOSPC' });
          done += written;
        }
        start = end;
      }
      if (done > length) fs.ftruncateSync(fd, length); // the padding of a direct write
      fs.closeSync(fd);
      fd = -1;
      fs.renameSync(temporary, file);
      return length;
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

  const write = (request: BlockWrite): { bytes: number } & Io => {
    const folder = path.dirname(request.file);
    if (request.ensureFolder) fs.mkdirSync(folder, { recursive: true });
    const temporary = path.join(folder, `.${path.basename(request.file)}.${crypto.randomBytes(4).toString('hex')}.tmp`);
    const memory = alignedBuffer(request.file, codec.fileLength(request.data.length));
    if (memory) {
      // Encoded straight into the aligned buffer (sealed in place with the native module).
      const length = codec.encodeInto(request.key, request.id, request.data, memory);
      memory.fill(0, length, padded(length));
      try {
        return { bytes: writeFile(temporary, request.file, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, [memory.subarray(0, padded(length))], length), ...io(true) };
      } catch (error) {
        if (!declined(request.file, error)) throw error;
      }
      // Refused: the same bytes through the page cache.
      return { bytes: writeFile(temporary, request.file, 'wx', [memory.subarray(0, length)], length), ...io(false) };
    }
    if (codec.sealsInPlace) {
      // Through the page cache (no direct I/O here, or a block larger than the aligned buffer):
      // sealed into the scratch buffer the reads use too, not into freshly allocated parts.
      const target = scratchOf(codec.fileLength(request.data.length));
      const length = codec.encodeInto(request.key, request.id, request.data, target);
      return { bytes: writeFile(temporary, request.file, 'wx', [target.subarray(0, length)], length), ...io(false) };
    }
    const parts = codec.encode(request.key, request.id, request.data);
    let length = 0;
    for (const part of parts) length += part.length;
    return { bytes: writeFile(temporary, request.file, 'wx', parts, length), ...io(false) };
  };

  /**
   * The file's bytes read with direct I/O (a view of the aligned buffer, reused by the next call),
   * or undefined when this file cannot be (its folder's file system refuses, or it is too large).
   */
  const readDirect = (request: BlockRead): Buffer | undefined => {
    let fd: number;
    try {
      fd = fs.openSync(request.file, O_RDONLY | O_DIRECT);
    } catch (error) {
      if (declined(request.file, error)) return undefined;
      throw error;
    }
    try {
      const size = request.size >= 0 ? request.size : fs.fstatSync(fd).size;
      const memory = alignedBuffer(request.file, size);
      return memory?.subarray(0, fs.readSync(fd, memory, 0, padded(size), 0));
    } catch (error) {
      if (declined(request.file, error)) return undefined;
      throw error;
    } finally {
      fs.closeSync(fd);
    }
  };

  /** The file's bytes through the page cache (a view of a buffer reused by the next call). */
  const readCached = (request: BlockRead): Buffer => {
    const fd = fs.openSync(request.file, 'r');
    try {
      const size = request.size >= 0 ? request.size : fs.fstatSync(fd).size;
      const target = scratchOf(size);
      return target.subarray(0, fs.readSync(fd, target, 0, size, 0));
    } finally {
      fs.closeSync(fd);
    }
  };

  const read = (request: BlockRead & { slot?: Uint8Array }): ReadOutcome => {
    let file: Buffer | undefined;
    let usedDirect = false;
    try {
      file = directFor(request.file) ? readDirect(request) : undefined;
      usedDirect = file !== undefined;
      file ??= readCached(request);
    } catch {
      return { status: 'missing' };
    }
    // A block larger than the slot (a larger block size) comes in a buffer of its own.
    const slot = request.slot && codec.blockLength(file.length) <= request.slot.length ? request.slot : undefined;
    const data = slot ? codec.decodeInto(request.key, request.id, file, slot) : codec.decode(request.key, request.id, file);
    if (data === undefined || data === -1) {
      try {
        fs.unlinkSync(request.file);
      } catch {
        // gone already
      }
      return { status: 'corrupt' };
    }
    return { status: 'found', data, fileBytes: file.length, ...io(usedDirect) };
  };

  port.on('message', (message: Request & { seq: number }) => {
    try {
      if (message.op === 'write') {
        port.postMessage({ seq: message.seq, ...write(message) });
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
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const codec = (${blockCodec.toString()})(crypto, workerData.blockCrypto ? require(workerData.blockCrypto) : undefined);
(${serveBlockFiles.toString()})(codec, require('node:fs'), require('node:path'), crypto, parentPort, workerData);
`;

/**
 * The native AES-GCM module's path (native/build-block-crypto.sh builds it) if it is built and
 * loads in this process (then it loads in the workers too: same process, same Node), else undefined.
 */
export function nativeBlockCryptoPath(from = __dirname): string | undefined {
  const candidate = builtArtifactPath('block_crypto.node', from);
  if (candidate === undefined) return undefined;
  try {
    const module = { exports: {} as Partial<NativeBlockCrypto> };
    process.dlopen(module, candidate);
    return typeof module.exports.seal === 'function' && typeof module.exports.open === 'function' ? candidate : undefined;
  } catch {
    return undefined;
  }
}

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

  /** Writes whose block was copied into a staging slot first (tests): blocks in shared memory are not. */
  stagedWrites = 0;
  /** Block files written and read with direct I/O, and through the page cache. */
  readonly io = { direct: 0, pageCache: 0 };
  /** Folders whose file system refused direct I/O, with the errno (ENOWASM: refused everywhere). */
  private readonly refusals = new Map<string, string>();

  /** How the workers encrypt: the native module (its path), or node:crypto. */
  readonly crypto: { readonly native: string } | 'node:crypto';
  private readonly workerData: BlockFilePoolOptions & { blockCrypto: string | false };

  constructor(
    readonly size: number,
    options: BlockFilePoolOptions = {},
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`pool size must be a positive integer, not ${size}`);
    const native = options.blockCrypto === false ? undefined : (options.blockCrypto ?? nativeBlockCryptoPath());
    this.crypto = native === undefined ? 'node:crypto' : { native };
    this.workerData = { ...options, blockCrypto: native ?? false };
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
   * A block in shared memory (the block cache's full-size blocks, block-recycler.ts) is posted as
   * it is: the worker encrypts it in place, and the caller keeps it unchanged until the write
   * resolves. Any other block (a short last block, a small file, a block the disk tier handed
   * over in a buffer of its own) is copied into a free slot of shared memory that stays mapped
   * for the pool's life. Posting such a block itself would clone it into freshly allocated
   * memory, whose page faults cost ten times the copy on these VMs.
   */
  private stage(data: Uint8Array): { index: number; view: Uint8Array } | undefined {
    if (data.buffer instanceof SharedArrayBuffer || data.byteLength > STAGING_SLOT_BYTES) return undefined;
    const slot = this.slot();
    if (!slot) return undefined;
    const view = slot.view.subarray(0, data.byteLength);
    view.set(data);
    this.stagedWrites++;
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
   * Read and decode a block file. With `into` and the file's size known, the destination is
   * taken first: one in shared memory (a recycled full-size block) is decoded into where it is;
   * otherwise the worker decodes into a staging slot and the block is copied from there into
   * `into`'s buffer (no block-sized allocation in the worker either way). Without `into`, or with
   * every slot taken, the plaintext comes in a buffer of its own.
   */
  async read(request: BlockRead, into?: BlockDestination): Promise<BlockReadResult> {
    const expected = into && request.size >= BLOCK_FILE_OVERHEAD ? into(request.size - BLOCK_FILE_OVERHEAD) : undefined;
    const inPlace = expected?.buffer instanceof SharedArrayBuffer ? expected : undefined;
    const slot = into && !inPlace ? this.slot(WRITE_SLOTS) : undefined;
    const decodeTo = inPlace ?? slot?.view;
    let handedOut = false;
    try {
      const reply = await this.send({ op: 'read', ...request, ...(decodeTo ? { slot: decodeTo } : {}) });
      if (!('status' in reply)) throw new Error('block file worker: unexpected reply to a read');
      if (reply.status !== 'found') return { status: reply.status };
      if (typeof reply.data !== 'number') return { status: 'found', data: Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength), fileBytes: reply.fileBytes };
      if (!decodeTo || !into) throw new Error('block file worker: decoded into a slot it was not given');
      if (reply.data === expected?.length) {
        if (!inPlace) expected.set(decodeTo.subarray(0, reply.data));
        handedOut = true;
        return { status: 'found', data: expected, fileBytes: reply.fileBytes };
      }
      // The file was not the size the index said (rewritten meanwhile): a destination of its own.
      const data = into(reply.data);
      data.set(decodeTo.subarray(0, reply.data));
      return { status: 'found', data, fileBytes: reply.fileBytes };
    } finally {
      if (slot) this.staging?.free.push(slot.index);
      if (expected && !handedOut) into?.unused?.(expected);
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

  private count(reply: Io): void {
    if (reply.direct) this.io.direct++;
    else this.io.pageCache++;
    if (reply.refused !== undefined) this.refusals.set(reply.refused.folder, reply.refused.code);
  }

  /** The errno with which direct I/O was refused in `dir` or a folder below it, if it was. */
  directRefusedIn(dir: string): string | undefined {
    const below = dir.endsWith(nodePath.sep) ? dir : dir + nodePath.sep;
    for (const [folder, code] of this.refusals) if (code === 'ENOWASM' || folder === dir || folder.startsWith(below)) return code;
    return undefined;
  }

  /** The least busy worker, starting another while fewer than `size` run and all are busy. */
  private pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const candidate of this.workers) if (!best || candidate.waiting.size < best.waiting.size) best = candidate;
    if (best && (best.waiting.size === 0 || this.workers.length >= this.size)) return best;
    return this.start();
  }

  private start(): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'datamount-block-files', workerData: this.workerData });
    worker.unref();
    const entry: PoolWorker = { worker, waiting: new Map() };
    const fail = (error: Error): void => {
      const index = this.workers.indexOf(entry);
      if (index >= 0) this.workers.splice(index, 1);
      for (const waiting of entry.waiting.values()) waiting.reject(error);
      entry.waiting.clear();
    };
    worker.on('message', (reply: Reply) => {
      if ('direct' in reply) this.count(reply);
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
