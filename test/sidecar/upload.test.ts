import { MemoryObjectClient } from '../../sidecar/memory-object-client';
import { ObjectClientError } from '../../sidecar/object-client';
import { Upload } from '../../sidecar/upload';
import { MiB, patterned } from './handlers-fixture';

const options = { partSize: 5 * MiB, maxParallelParts: 2 };

async function writeAll(upload: Upload, data: Buffer, chunk = 128 * 1024): Promise<void> {
  for (let offset = 0; offset < data.length; offset += chunk) await upload.write(data.subarray(offset, offset + chunk), offset);
}

describe('upload', () => {
  describe('when a file smaller than one part is written', () => {
    it('sends one PUT on completion and nothing before', async () => {
      const client = new MemoryObjectClient();
      const upload = new Upload(client, 'small', options);
      await writeAll(upload, Buffer.from('tiny'));
      expect(client.requests).toEqual([]);
      await upload.complete();
      expect(client.requests.map((r) => r.operation)).toEqual(['put']);
      expect(client.contents('small')?.toString()).toBe('tiny');
    });
  });

  describe('when a large file is written', () => {
    it('streams parts of at least 5 MiB while writing, and the object appears only on completion', async () => {
      const client = new MemoryObjectClient();
      const data = patterned(17 * MiB + 3);
      const upload = new Upload(client, 'large', options);
      await writeAll(upload, data);
      expect(client.count('uploadPart')).toBeGreaterThanOrEqual(3);
      expect(client.contents('large')).toBeUndefined();
      await upload.complete();
      expect(client.contents('large')?.equals(data)).toBe(true);
      expect(client.pendingUploads).toBe(0);
    });

    it('copies the caller\'s buffer (FUSE reuses it)', async () => {
      const client = new MemoryObjectClient();
      const upload = new Upload(client, 'k', options);
      const buffer = Buffer.from('first');
      await upload.write(buffer, 0);
      buffer.write('XXXXX');
      await upload.complete();
      expect(client.contents('k')?.toString()).toBe('first');
    });
  });

  describe('when something goes wrong', () => {
    it('refuses a write that is not at the end', async () => {
      const upload = new Upload(new MemoryObjectClient(), 'k', options);
      await upload.write(Buffer.from('abc'), 0);
      await expect(upload.write(Buffer.from('x'), 1)).rejects.toThrow('only sequential writes');
    });

    it('aborts the multipart upload when a part fails, reports it, and leaves no object', async () => {
      const client = new MemoryObjectClient();
      client.beforeRequest = (r) => {
        if (r.operation === 'uploadPart' && client.count('uploadPart') === 2) throw new ObjectClientError('Transient', 'reset');
      };
      const upload = new Upload(client, 'broken', options);
      await expect(writeAll(upload, patterned(16 * MiB)).then(() => upload.complete())).rejects.toThrow('reset');
      await expect(upload.complete()).rejects.toThrow();
      expect(client.contents('broken')).toBeUndefined();
      expect(client.count('abortMultipartUpload')).toBe(1);
      expect(client.pendingUploads).toBe(0);
    });

    it('aborts when completion fails, and leaves no object', async () => {
      const client = new MemoryObjectClient();
      client.beforeRequest = (r) => {
        if (r.operation === 'completeMultipartUpload') throw new ObjectClientError('Transient', 'S3 went away');
      };
      const upload = new Upload(client, 'k', options);
      await writeAll(upload, patterned(6 * MiB));
      await expect(upload.complete()).rejects.toThrow('S3 went away');
      expect(client.contents('k')).toBeUndefined();
      expect(client.pendingUploads).toBe(0);
    });

    describe('when S3 completed the upload but its answer was lost (retry answered NoSuchUpload)', () => {
      function losingAnswers(client: MemoryObjectClient, store: boolean): void {
        const complete = client.completeMultipartUpload.bind(client);
        client.completeMultipartUpload = async (key, id, parts) => {
          if (store) await complete(key, id, parts);
          throw new ObjectClientError('NotFound', 'NoSuchUpload: the specified upload does not exist');
        };
      }

      it('reports success when the object at the key is exactly its parts', async () => {
        const client = new MemoryObjectClient();
        losingAnswers(client, true);
        const upload = new Upload(client, 'k', options);
        const data = patterned(13 * MiB);
        await writeAll(upload, data);
        await expect(upload.complete()).resolves.toEqual({ etag: expect.stringMatching(/-3"$/) });
        expect(client.contents('k')?.equals(data)).toBe(true);
      });

      it('still fails when nothing, or another object, is at the key', async () => {
        const client = new MemoryObjectClient();
        losingAnswers(client, false);
        client.seed('k', patterned(13 * MiB));
        const upload = new Upload(client, 'k', options);
        await writeAll(upload, patterned(13 * MiB));
        await expect(upload.complete()).rejects.toThrow('NoSuchUpload');
      });
    });

    it('refuses writes after completion', async () => {
      const upload = new Upload(new MemoryObjectClient(), 'k', options);
      await upload.write(Buffer.from('a'), 0);
      await upload.complete();
      await expect(upload.write(Buffer.from('b'), 1)).rejects.toThrow('already closed');
    });
  });
});
