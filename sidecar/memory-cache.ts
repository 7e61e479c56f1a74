/**
 * The first cache tier: recently used blocks in memory, bounded in bytes (lru-cache's
 * `maxSize` with each block's length as its size). Buffers are stored and returned as they are
 * — never copied — so a hit costs a map lookup.
 */
import { LRUCache } from 'lru-cache';

export class MemoryCache {
  private readonly lru: LRUCache<string, Buffer> | undefined;

  constructor(readonly maxBytes: number) {
    this.lru = maxBytes > 0 ? new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (b) => Math.max(1, b.length) }) : undefined;
  }

  get(id: string): Buffer | undefined {
    return this.lru?.get(id);
  }

  has(id: string): boolean {
    return this.lru?.has(id) ?? false;
  }

  set(id: string, block: Buffer): void {
    if (block.length <= this.maxBytes) this.lru?.set(id, block);
  }

  get bytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }
}
