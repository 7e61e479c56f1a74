/**
 * Buffers for full-size blocks, reused once the memory tier has evicted them.
 *
 * Why: a sequential read moves every byte through a 1 MiB block buffer. A fresh one costs page
 * faults on first touch (about ten times the copy into warm memory on these VMs), and every
 * evicted one is external memory that only a full collection returns, so a scan of a large object
 * keeps a tier's worth of dead blocks waiting for V8 — resident memory the sidecar pays for, and
 * the reason it could not let its collector run less often (see `SIDECAR_NODE_FLAGS`). A scan
 * that evicts one block per block it reads instead refills the evicted block's memory.
 *
 * Safety — a recycled buffer is overwritten, so nobody may still read it:
 * - Only buffers made (`acquire`) or adopted (`adopt`) here, whole and full-size, are reused, and
 *   only after the memory tier evicted them (`evicted`). One evicted while pinned — being written
 *   to the disk tier, or held by a read that waits for another block (`pin`/`unpin`) — waits
 *   until its last pin is gone; one stored again in the meantime (`stored`) is not reused at all.
 * - Reuse waits one more turn of the event loop (a quarantine emptied by `setImmediate`): code
 *   handed a block in this turn — a promise reaction, the FUSE reply's copy — runs in this
 *   turn's microtasks, before the buffer can be handed out and filled again.
 * Everything else (a partial last block, a slice) is left to the garbage collector.
 *
 * Full-size blocks live in SharedArrayBuffers, so the disk tier's workers encrypt them where they
 * are instead of from a copy (block-file-pool.ts; the copy cost the main thread about 0.2 s of
 * CPU per GiB read cold). The pins above are what makes that safe: a block is pinned until its
 * write has finished, and the worker reads it only meanwhile. Shared memory used to be a problem
 * when every block was garbage: V8 does not count it as pressure on its collector, so dead blocks
 * piled up (a 1 GiB read peaked at 1.15–1.24 GiB resident with a 512 MiB tier). Blocks made here
 * are refilled, not dropped, so only those beyond `maxFree` wait for a collection.
 */
export class BlockRecycler {
  private readonly owned = new WeakSet<ArrayBufferLike>();
  private readonly pins = new Map<ArrayBufferLike, number>();
  /** Evicted while pinned: reusable once unpinned. */
  private readonly evictedWhilePinned = new Set<ArrayBufferLike>();
  private quarantine: Buffer[] = [];
  private quarantineScheduled = false;
  private readonly free: Buffer[] = [];
  /** Buffers handed out again instead of allocated (metrics, tests). */
  reused = 0;

  /**
   * @param blockSize the only size recycled
   * @param maxFree free buffers kept at most; more are left to the garbage collector
   */
  constructor(
    readonly blockSize: number,
    private readonly maxFree = 16,
  ) {}

  /** A buffer of `size` bytes; its contents are undefined (a reused block's old bytes). */
  acquire(size: number): Buffer {
    const reused = this.reuse(size);
    if (reused) return reused;
    if (size !== this.blockSize) return Buffer.allocUnsafeSlow(size);
    const block = Buffer.from(new SharedArrayBuffer(size));
    this.owned.add(block.buffer);
    return block;
  }

  /** A free block's memory if there is one (`size` must be the block size), else undefined. */
  reuse(size: number): Buffer | undefined {
    if (size !== this.blockSize) return undefined;
    const reused = this.free.pop();
    if (reused) this.reused++;
    return reused;
  }

  /**
   * A block from `acquire` that was never handed to anyone (a disk read that found no block for
   * it): free again at once. Without this it would be garbage in shared memory, which V8 does not
   * count as pressure on its collector.
   */
  release(block: Buffer): void {
    if (!this.owned.has(block.buffer) || !isWhole(block, this.blockSize) || this.pins.has(block.buffer)) return;
    if (this.free.length < this.maxFree && !this.free.some((free) => free.buffer === block.buffer)) this.free.push(block);
  }

  /** Treat `block` (e.g. plaintext from the disk tier) as one of ours, if it is whole and full-size. */
  adopt(block: Buffer): void {
    if (isWhole(block, this.blockSize)) this.owned.add(block.buffer);
  }

  /** Keep `block` from being reused until `unpin`. */
  pin(block: Buffer): void {
    if (!this.owned.has(block.buffer)) return;
    this.pins.set(block.buffer, (this.pins.get(block.buffer) ?? 0) + 1);
  }

  unpin(block: Buffer): void {
    const memory = block.buffer;
    const count = this.pins.get(memory);
    if (count === undefined) return;
    if (count > 1) {
      this.pins.set(memory, count - 1);
      return;
    }
    this.pins.delete(memory);
    if (this.evictedWhilePinned.delete(memory)) this.recycle(block);
  }

  /** The memory tier holds `block` (again): an eviction noted while it was pinned no longer counts. */
  stored(block: Buffer): void {
    const memory = block.buffer;
    if (!this.owned.has(memory)) return;
    this.evictedWhilePinned.delete(memory);
    // Taken back before its reuse: out of the quarantine and the free list again.
    this.quarantine = this.quarantine.filter((buffer) => buffer.buffer !== memory);
    const free = this.free.findIndex((buffer) => buffer.buffer === memory);
    if (free >= 0) this.free.splice(free, 1);
  }

  /** The memory tier no longer holds `block`. */
  evicted(block: Buffer): void {
    const memory = block.buffer;
    if (!this.owned.has(memory) || !isWhole(block, this.blockSize)) return;
    if (this.pins.has(memory)) this.evictedWhilePinned.add(memory);
    else this.recycle(block);
  }

  private recycle(block: Buffer): void {
    this.quarantine.push(block);
    if (this.quarantineScheduled) return;
    this.quarantineScheduled = true;
    setImmediate(() => {
      this.quarantineScheduled = false;
      const ready = this.quarantine;
      this.quarantine = [];
      for (const buffer of ready) if (this.free.length < this.maxFree) this.free.push(buffer);
    });
  }
}

function isWhole(block: Buffer, size: number): boolean {
  return block.byteOffset === 0 && block.length === size && block.buffer.byteLength === size;
}
