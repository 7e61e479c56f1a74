/**
 * The body of a ranged GET, read into buffers of one part (block) each.
 *
 * Why not `for await` into one buffer of the whole range: profiles of sequential reads showed
 * the sidecar's thread spending about a fifth of its time in GC (an 8 MiB buffer per GET, pinned
 * until every block sliced from it was evicted) and another ~8 % in the promise `for await`
 * makes per socket chunk. Here the socket's chunks are copied once, in `'data'` events, straight
 * into `allocUnsafe` buffers of `partSize` bytes; each is handed out the moment it is full, and
 * the cache keeps it as the block — no promise per chunk, no range-sized buffer, no second copy.
 *
 * Parts come from the caller's `allocate`: the block cache hands out its recycled blocks
 * (block-recycler.ts), which live in shared memory the disk tier's workers read in place.
 */
import type { Readable } from 'node:stream';

export class BodyTooLongError extends Error {}

export interface RangeBody {
  /** The parts, in order: all of them without `onPart`; with it, only one cut short by an early end. */
  readonly parts: Buffer[];
  /** Bytes received (less than expected when the body ended early). */
  readonly received: number;
}

/**
 * Bytes of one ranged GET's body, copied into parts of `partSize` bytes (the last one shorter)
 * as they arrive — from a stream (`readRangeBody`) or a raw connection's read buffer
 * (http-connection.ts). With `onPart` each part is handed over when complete and not kept.
 */
export class PartWriter {
  private readonly kept: Buffer[] = [];
  private index = 0;
  private part: Buffer;
  private filled = 0;
  /** Bytes written so far. */
  received = 0;

  constructor(
    private readonly expected: number,
    private readonly partSize: number,
    private readonly onPart?: (index: number, part: Buffer) => void,
    private readonly allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
  ) {
    this.part = allocate(Math.min(partSize, expected));
  }

  /** Copy `data[start, end)`; throws BodyTooLongError past the announced length (nothing copied). */
  write(data: Buffer, start = 0, end = data.length): void {
    if (this.received + (end - start) > this.expected) throw new BodyTooLongError(`body longer than the ${this.expected} bytes announced`);
    this.received += end - start;
    for (let at = start; at < end; ) {
      const n = Math.min(end - at, this.part.length - this.filled);
      data.copy(this.part, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === this.part.length) this.handOver();
    }
  }

  /** The current part is full: hand it over and open the next. */
  private handOver(): void {
    if (this.onPart) this.onPart(this.index, this.part);
    else this.kept.push(this.part);
    this.index++;
    const left = this.expected - this.index * this.partSize;
    this.part = this.allocate(Math.max(0, Math.min(this.partSize, left)));
    this.filled = 0;
  }

  /**
   * Where the next bytes may be written directly (the free rest of the current part, at most
   * `max` bytes), for a reader that fills it and then calls `commit`; undefined when no part is
   * open (the body is complete).
   */
  region(max: number): Buffer | undefined {
    if (this.filled >= this.part.length) return undefined;
    return this.part.subarray(this.filled, this.filled + Math.min(max, this.part.length - this.filled));
  }

  /** `length` bytes were written at the start of the last `region`. */
  commit(length: number): void {
    if (length > this.part.length - this.filled || this.received + length > this.expected) throw new BodyTooLongError(`body longer than the ${this.expected} bytes announced`);
    this.received += length;
    this.filled += length;
    if (this.filled === this.part.length) this.handOver();
  }

  /** What arrived: a part cut short by an early end is included, so the caller sees every byte. */
  finish(): RangeBody {
    if (this.filled > 0) this.kept.push(this.part.subarray(0, this.filled));
    this.filled = 0;
    return { parts: this.kept, received: this.received };
  }
}

/**
 * Read `body` (announced as `expected` bytes) into parts (see `PartWriter`). Rejects when the
 * stream fails, is destroyed before its end, or sends more than `expected`; resolves with what
 * arrived when it ends early (the caller decides that a short body is an error).
 */
export function readRangeBody(
  body: Readable,
  expected: number,
  partSize: number,
  onPart?: (index: number, part: Buffer) => void,
  allocate?: (size: number) => Buffer,
): Promise<RangeBody> {
  return new Promise<RangeBody>((resolve, reject) => {
    const writer = new PartWriter(expected, partSize, onPart, allocate);
    let settled = false;

    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', finish);
      body.off('close', onClose);
      // The stream may still fail after we are done with it (a reset after a refused body):
      // nobody listens any more, and an unheard 'error' would end the process.
      body.on('error', () => undefined);
      if (error) reject(error);
      else resolve(writer.finish());
    };
    const onData = (chunk: Buffer): void => {
      try {
        writer.write(chunk);
      } catch (error) {
        finish(error as Error);
        body.destroy();
      }
    };
    const onEnd = (): void => finish();
    const onClose = (): void => finish(Object.assign(new Error('response body closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));

    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', finish);
    body.once('close', onClose);
  });
}
