import type { BlockCache, ObjectVersion } from '../../sidecar/block-cache';
import { Prefetcher } from '../../sidecar/prefetcher';
import { MiB } from './handlers-fixture';

/** A block cache that only records what the prefetcher asks for. */
function recordingCache(blockCount: number, memoryBytes = 64 * MiB) {
  const requested: Array<[number, number]> = [];
  const demoted: number[] = [];
  const cache = {
    blockSize: MiB,
    memoryBytes,
    options: { blockSize: MiB, maxRequestBytes: 8 * MiB, dataset: 'test' },
    blockCount: () => blockCount,
    prefetch: (_object: ObjectVersion, first: number, count: number) => requested.push([first, count]),
    demote: (_object: ObjectVersion, first: number, end: number) => {
      for (let index = first; index < end; index++) demoted.push(index);
    },
  } as unknown as BlockCache;
  return { cache, requested, demoted };
}

const object: ObjectVersion = { key: 'k', etag: '"e"', size: 1024 * MiB };
const options = { initialWindowBytes: 2 * MiB, maxWindowBytes: 16 * MiB };
const KiB128 = 128 * 1024;

describe('prefetcher', () => {
  describe('when a file is read from the start, sequentially', () => {
    it('requests blocks ahead, in a window that doubles up to the cap', () => {
      const { cache, requested } = recordingCache(1024);
      const prefetcher = new Prefetcher(cache, object, options);
      const windows: number[] = [];
      for (let offset = 0; offset < 40 * MiB; offset += KiB128) {
        prefetcher.onRead(offset, KiB128);
        if (offset % MiB === 0) windows.push(prefetcher.windowBytes / MiB);
      }
      expect(windows.slice(0, 5)).toEqual([2, 4, 8, 16, 16]);
      const ahead = Math.max(...requested.map(([first, count]) => first + count));
      expect(ahead).toBeGreaterThanOrEqual(40 + 8);
      expect(ahead).toBeLessThanOrEqual(40 + 16 + 1);
      // Every block up to the frontier was requested exactly once.
      const blocks = requested.flatMap(([first, count]) => Array.from({ length: count }, (_, i) => first + i));
      expect(new Set(blocks).size).toBe(blocks.length);
    });

    it('tolerates the kernel\'s slightly out-of-order readahead', () => {
      const { cache } = recordingCache(1024);
      const prefetcher = new Prefetcher(cache, object, options);
      for (const offset of [0, 2, 1, 3, 5, 4, 6, 8, 7, 9].map((i) => i * KiB128 * 4)) prefetcher.onRead(offset, KiB128 * 4);
      expect(prefetcher.windowBytes).toBeGreaterThan(0);
    });
  });

  describe('when a file is read at random offsets', () => {
    it('requests nothing ahead', () => {
      const { cache, requested } = recordingCache(1024);
      const prefetcher = new Prefetcher(cache, object, options);
      for (const block of [500, 17, 900, 300, 42]) prefetcher.onRead(block * MiB, MiB);
      expect(requested).toEqual([]);
      expect(prefetcher.windowBytes).toBe(0);
    });

    it.each([3 * 1024 * 4, 512 * 1024, MiB - 4096, 0.75 * MiB])(
      'requests nothing for the kernel\'s 128 KiB pieces of one 1 MiB read at block offset %i',
      (within) => {
        const { cache, requested } = recordingCache(1024);
        const prefetcher = new Prefetcher(cache, object, options);
        for (const start of [500, 17, 900].map((block) => block * MiB + within)) {
          for (let piece = start; piece < start + MiB; piece += KiB128) prefetcher.onRead(piece, KiB128);
        }
        expect(requested).toEqual([]);
        expect(prefetcher.windowBytes).toBe(0);
      },
    );

    it('opens a window for a reader that started mid-file once it has crossed two block boundaries in order', () => {
      const { cache, requested } = recordingCache(1024);
      const prefetcher = new Prefetcher(cache, object, options);
      const start = 300 * MiB + 4096;
      for (let piece = start; piece < start + MiB; piece += KiB128) prefetcher.onRead(piece, KiB128);
      expect(prefetcher.windowBytes).toBe(0);
      for (let piece = start + MiB; piece < start + 2 * MiB; piece += KiB128) prefetcher.onRead(piece, KiB128);
      expect(prefetcher.windowBytes).toBeGreaterThan(0);
      expect(Math.min(...requested.map(([first]) => first))).toBe(303);
    });

    it('resets the window after a jump, and grows it again once reads are sequential', () => {
      const { cache } = recordingCache(1024);
      const prefetcher = new Prefetcher(cache, object, options);
      for (let offset = 0; offset < 8 * MiB; offset += MiB) prefetcher.onRead(offset, MiB);
      expect(prefetcher.windowBytes).toBe(16 * MiB);
      prefetcher.onRead(700 * MiB, MiB);
      expect(prefetcher.windowBytes).toBe(0);
      prefetcher.onRead(701 * MiB, MiB);
      expect(prefetcher.windowBytes).toBe(0);
      prefetcher.onRead(702 * MiB, MiB);
      expect(prefetcher.windowBytes).toBe(2 * MiB);
    });
  });

  describe('when the end of the object is near', () => {
    it('never requests blocks past the last one', () => {
      const { cache, requested } = recordingCache(5);
      const prefetcher = new Prefetcher(cache, { ...object, size: 5 * MiB }, options);
      for (let offset = 0; offset < 5 * MiB; offset += KiB128) prefetcher.onRead(offset, KiB128);
      expect(Math.max(...requested.map(([first, count]) => first + count))).toBe(5);
    });
  });

  describe('when a sequential reader passes through an object larger than half the memory tier', () => {
    it('demotes each block once, a few blocks behind the reader, in order', () => {
      const { cache, demoted } = recordingCache(1024, 64 * MiB);
      const prefetcher = new Prefetcher(cache, object, options);
      for (let offset = 0; offset < 40 * MiB; offset += KiB128) prefetcher.onRead(offset, KiB128);
      expect(demoted).toEqual(Array.from({ length: demoted.length }, (_, i) => i));
      expect(demoted.length).toBeGreaterThanOrEqual(40 - 1 - 8 - 1);
      expect(demoted.length).toBeLessThanOrEqual(40 - 8);
    });
  });

  describe('when the object fits the memory tier comfortably, or the reader is random', () => {
    it.each([
      ['a small object read sequentially', { key: 'k', etag: '"e"', size: 16 * MiB }, (i: number) => i * KiB128],
      ['a large object read at random', object, (i: number) => ((i * 7919) % 1000) * MiB],
    ])('demotes nothing: %s', (_name, target, offsetOf) => {
      const { cache, demoted } = recordingCache(1024, 64 * MiB);
      const prefetcher = new Prefetcher(cache, target, options);
      for (let i = 0; i < 120; i++) prefetcher.onRead(offsetOf(i), KiB128);
      expect(demoted).toEqual([]);
    });
  });
});
