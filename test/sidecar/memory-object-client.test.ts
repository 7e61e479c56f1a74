import { compareKeys, MemoryObjectClient } from '../../sidecar/memory-object-client';

describe('memory-object-client', () => {
  describe('when listing with a delimiter', () => {
    it('returns objects and common prefixes in UTF-8 byte order, paginated like S3', async () => {
      const client = new MemoryObjectClient();
      for (const key of ['b', 'a/1', 'a/2', 'é', 'z/x/y', 'Z']) client.seed(key, key);
      const first = await client.list({ prefix: '', delimiter: '/', maxKeys: 3 });
      expect([...first.prefixes, ...first.objects.map((o) => o.key)].sort(compareKeys)).toEqual(['Z', 'a/', 'b']);
      const second = await client.list({ prefix: '', delimiter: '/', maxKeys: 3, token: first.nextToken });
      expect([...second.prefixes, ...second.objects.map((o) => o.key)]).toEqual(['z/', 'é']);
      expect(second.nextToken).toBeUndefined();
    });
  });

  describe('when reading with If-Match', () => {
    it('refuses a changed object', async () => {
      const client = new MemoryObjectClient();
      const { etag } = client.seed('k', 'one');
      client.seed('k', 'two');
      await expect(client.getRange('k', { offset: 0, length: 1 }, etag)).rejects.toMatchObject({ kind: 'PreconditionFailed' });
    });
  });

  describe('when uploading in parts', () => {
    it('shows the object only after completion, and nothing after an abort', async () => {
      const client = new MemoryObjectClient();
      const id = await client.createMultipartUpload('k');
      const etag = await client.uploadPart('k', id, 1, Buffer.from('abc'));
      expect(client.contents('k')).toBeUndefined();
      await client.completeMultipartUpload('k', id, [{ partNumber: 1, etag }]);
      expect(client.contents('k')?.toString()).toBe('abc');
      const aborted = await client.createMultipartUpload('other');
      await client.abortMultipartUpload('other', aborted);
      expect(client.contents('other')).toBeUndefined();
      expect(client.pendingUploads).toBe(0);
    });
  });
});
