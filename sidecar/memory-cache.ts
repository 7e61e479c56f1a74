/**
 * The first cache tier: recently used blocks in memory, bounded in bytes (lru-cache's
 * `maxSize` with each block's length as its size). Buffers are stored and returned as they are
 * — never copied — so a hit costs a map lookup.
 *
 * Scan resistance. A sequential scan of an object larger than the tier turns a plain LRU into a
 * conveyor belt: every block is evicted before the scan comes round again, so a second epoch over
 * a 1 GiB file with a 512 MiB tier hits nothing. So blocks a sequential reader has finished with
 * are *demoted* (`demote`): they stay cached, but move to a cold list that is evicted before
 * anything else, most recently demoted first. The scan then evicts its own just-read blocks to
 * make room, and whatever it read while the tier still had room survives for the next pass — an
 * MRU policy for loops, the best a cache smaller than the loop can do (about capacity / object
 * size of the next pass hits memory, instead of nothing). A demoted block that is read again is
 * promoted back to the LRU.
 */
import { LRUCache } from 'lru-cache';

export class MemoryCache {
  private readonly lru: LRUCache<string, Buffer> | undefined;
  /** Told of every block the tier lets go to make room (not of demotions or replacements). */
  private onEvict: ((block: Buffer, id: string) => void) | undefined;
  /** Demoted blocks, with the number of their latest demotion. */
  private readonly cold = new Map<string, { block: Buffer; demotion: number }>();
  /** Demotions in order (the newest last, evicted first); entries of promoted blocks are stale. */
  private readonly demotions: Array<{ id: string; demotion: number }> = [];
  private demotionCount = 0;
  private coldBytes = 0;

  constructor(readonly maxBytes: number) {
    this.lru =
      maxBytes > 0
        ? new LRUCache<string, Buffer>({
            maxSize: maxBytes,
            sizeCalculation: (b) => sizeOf(b),
            dispose: (block, id, reason) => {
              if (reason === 'evict') this.onEvict?.(block, id);
            },
          })
        : undefined;
  }

  /** Call `listener` with each block evicted to make room, and its id (block-recycler.ts reuses its memory). */
  setEvictionListener(listener: (block: Buffer, id: string) => void): void {
    this.onEvict = listener;
  }

  get(id: string): Buffer | undefined {
    const hit = this.lru?.get(id);
    if (hit) return hit;
    const cold = this.cold.get(id)?.block;
    if (cold) this.promote(id, cold);
    return cold;
  }

  /** The block if the tier holds it, without counting as a use (no promotion, no LRU move). */
  peek(id: string): Buffer | undefined {
    return this.lru?.peek(id) ?? this.cold.get(id)?.block;
  }

  has(id: string): boolean {
    return (this.lru?.has(id) ?? false) || this.cold.has(id);
  }

  set(id: string, block: Buffer): void {
    if (!this.lru || block.length > this.maxBytes) return;
    this.dropCold(id);
    this.makeRoom(sizeOf(block));
    this.lru.set(id, block);
  }

  /** Mark a block as read through by a scan: evicted before any other block, newest first. */
  demote(id: string): void {
    const block = this.lru?.peek(id);
    if (!block || !this.lru) return;
    this.lru.delete(id);
    const demotion = ++this.demotionCount;
    this.cold.set(id, { block, demotion });
    this.demotions.push({ id, demotion });
    this.coldBytes += sizeOf(block);
    // Promoted blocks leave stale entries behind; drop them before the list outgrows the set.
    if (this.demotions.length > 2 * this.cold.size + 64) {
      const live = this.demotions.filter((entry) => this.cold.get(entry.id)?.demotion === entry.demotion);
      this.demotions.splice(0, this.demotions.length, ...live);
    }
  }

  get bytes(): number {
    return (this.lru?.calculatedSize ?? 0) + this.coldBytes;
  }

  private promote(id: string, block: Buffer): void {
    this.dropCold(id);
    this.lru?.set(id, block);
  }

  private dropCold(id: string): void {
    const entry = this.cold.get(id);
    if (!entry) return;
    this.cold.delete(id);
    this.coldBytes -= sizeOf(entry.block);
  }

  /** Evict demoted blocks, newest first, until `incoming` fits beside everything else. */
  private makeRoom(incoming: number): void {
    const hot = this.lru?.calculatedSize ?? 0;
    while (this.coldBytes > 0 && hot + this.coldBytes + incoming > this.maxBytes) {
      const newest = this.demotions.pop();
      if (!newest) break;
      const entry = this.cold.get(newest.id);
      if (entry?.demotion !== newest.demotion) continue;
      this.dropCold(newest.id);
      this.onEvict?.(entry.block, newest.id);
    }
  }
}

function sizeOf(block: Buffer): number {
  return Math.max(1, block.length);
}
