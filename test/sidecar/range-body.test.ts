import { PassThrough, Readable } from 'node:stream';
import { BodyTooLongError, readRangeBody } from '../../sidecar/range-body';

/** A body of `length` bytes (byte i = i mod 251) sent in chunks of `chunk` bytes. */
function body(length: number, chunk: number): { stream: Readable; bytes: Buffer } {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = i % 251;
  const chunks: Buffer[] = [];
  for (let at = 0; at < length; at += chunk) chunks.push(bytes.subarray(at, at + chunk));
  return { stream: Readable.from(chunks, { objectMode: false }), bytes };
}

describe('range-body', () => {
  describe('when the body arrives whole, in chunks of any size', () => {
    // chunk sizes below, equal to, across and above the part size; lengths that end on and off a part boundary
    it.each([
      [16, 1, 4],
      [16, 3, 4],
      [16, 4, 4],
      [17, 5, 4],
      [17, 4, 4],
      [17, 64, 4],
      [3, 7, 4],
      [4096 + 5, 1000, 1024],
      [10 * 1024, 1024, 1024],
      [10 * 1024 + 1, 4096, 1024],
    ])('assembles %i bytes sent in %i-byte chunks into parts of %i', async (length, chunk, partSize) => {
      const { stream, bytes } = body(length, chunk);
      const handed: Array<[number, Buffer]> = [];
      const result = await readRangeBody(stream, length, partSize, (index, part) => handed.push([index, Buffer.from(part)]));
      expect(result.received).toBe(length);
      expect(result.parts).toEqual([]);
      expect(handed.map(([index]) => index)).toEqual(Array.from({ length: Math.ceil(length / partSize) }, (_, i) => i));
      handed.forEach(([index, part]) => expect(part.equals(bytes.subarray(index * partSize, (index + 1) * partSize))).toBe(true));
    });

    it.each([
      [16, 3],
      [1, 1],
      [1000, 64],
    ])('keeps %i bytes sent in %i-byte chunks as one buffer when no parts are asked for', async (length, chunk) => {
      const { stream, bytes } = body(length, chunk);
      const result = await readRangeBody(stream, length, length);
      expect(result.parts).toHaveLength(1);
      expect(result.parts[0]?.equals(bytes)).toBe(true);
    });
  });

  describe('when the body ends early', () => {
    it('resolves with what arrived, the cut part included, so the caller can refuse it', async () => {
      const { stream, bytes } = body(10, 3);
      const handed: number[] = [];
      const result = await readRangeBody(stream, 16, 4, (index) => handed.push(index));
      expect(result.received).toBe(10);
      expect(handed).toEqual([0, 1]);
      expect(result.parts[0]?.equals(bytes.subarray(8, 10))).toBe(true);
    });
  });

  describe('when the body is longer than announced', () => {
    it('rejects', async () => {
      const { stream } = body(20, 8);
      await expect(readRangeBody(stream, 16, 4)).rejects.toBeInstanceOf(BodyTooLongError);
    });
  });

  describe('when the stream fails or closes before its end', () => {
    it('rejects with the stream error', async () => {
      const stream = new PassThrough();
      const reading = readRangeBody(stream, 16, 4);
      stream.write(Buffer.alloc(5));
      stream.destroy(new Error('connection reset'));
      await expect(reading).rejects.toThrow('connection reset');
    });

    it('rejects a close without an end', async () => {
      const stream = new PassThrough();
      const reading = readRangeBody(stream, 16, 4);
      stream.write(Buffer.alloc(5));
      stream.destroy();
      await expect(reading).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    });
  });
});
