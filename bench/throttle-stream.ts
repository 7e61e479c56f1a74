/**
 * A pass-through stream that paces bytes through a {@link TokenBucket}. Chunks are cut into
 * small pieces so a 1 MiB chunk does not go out as one burst followed by a long pause. The
 * transform callback is held while waiting, so a slow bucket pushes back on the source (the
 * upstream socket) instead of buffering the body.
 */
import { Transform, TransformCallback } from 'node:stream';
import { TokenBucket } from './token-bucket';

/** 16 KiB: about 0.16 ms at 100 MiB/s, below timer resolution, so pacing stays smooth. */
const PIECE_BYTES = 16 * 1024;

export class ThrottleStream extends Transform {
  /** `onSent` is told the size of every piece as it leaves (for byte counters). */
  constructor(
    private readonly bucket: TokenBucket,
    private readonly onSent: (bytes: number) => void = () => undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.sendFrom(chunk, 0, done);
  }

  private sendFrom(chunk: Buffer, offset: number, done: TransformCallback): void {
    let at = offset;
    while (at < chunk.length) {
      if (this.destroyed) return done();
      const piece = chunk.subarray(at, at + PIECE_BYTES);
      at += piece.length;
      const waitMs = this.bucket.take(piece.length);
      if (waitMs >= 1) {
        setTimeout(() => {
          if (this.destroyed) return done();
          this.onSent(piece.length);
          this.push(piece);
          this.sendFrom(chunk, at, done);
        }, waitMs);
        return;
      }
      this.onSent(piece.length);
      this.push(piece);
    }
    done();
  }
}
