import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { isObjectError, ObjectClientError } from '../../sidecar/object-client';
import { S3ObjectClient, toObjectError } from '../../sidecar/s3-object-client';
import { startS3Server, type S3Server } from '../support/s3-server';

describe('s3-object-client', () => {
  describe('against a real S3 server (s3rver)', () => {
    let s3: S3Server;
    let client: S3ObjectClient;
    beforeAll(async () => {
      s3 = await startS3Server({ buckets: ['bucket'] });
      client = new S3ObjectClient({ endpoint: s3.endpoint, bucket: 'bucket', credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    });
    afterAll(async () => {
      client?.destroy();
      await s3?.stop();
    });

    it('puts, heads, lists with a delimiter and reads ranges', async () => {
      const data = Buffer.from('0123456789abcdef');
      const { etag } = await client.put('dir/file.bin', data);
      await client.put('dir/sub/x', Buffer.from('x'));
      expect(await client.head('dir/file.bin')).toMatchObject({ key: 'dir/file.bin', size: 16, etag });
      const page = await client.list({ prefix: 'dir/', delimiter: '/' });
      expect(page.objects.map((o) => o.key)).toEqual(['dir/file.bin']);
      expect(page.prefixes).toEqual(['dir/sub/']);
      const range = await client.getRange('dir/file.bin', { offset: 4, length: 6 }, etag);
      expect(range.data.toString()).toBe('456789');
      expect(range.etag).toBe(etag);
      expect((await client.getRange('dir/file.bin', { offset: 10, length: 100 })).data.toString()).toBe('abcdef');
    });

    it('uploads in parts that appear only on completion, and copies and deletes', async () => {
      const id = await client.createMultipartUpload('multi.bin');
      const part1 = Buffer.alloc(5 * 1024 * 1024, 1);
      const etag1 = await client.uploadPart('multi.bin', id, 1, part1);
      const etag2 = await client.uploadPart('multi.bin', id, 2, Buffer.from('tail'));
      await expect(client.head('multi.bin')).rejects.toMatchObject({ kind: 'NotFound' });
      await client.completeMultipartUpload('multi.bin', id, [{ partNumber: 1, etag: etag1 }, { partNumber: 2, etag: etag2 }]);
      expect((await client.head('multi.bin')).size).toBe(5 * 1024 * 1024 + 4);
      await client.copy('multi.bin', 'copy.bin');
      await client.delete('multi.bin');
      await expect(client.head('multi.bin')).rejects.toMatchObject({ kind: 'NotFound' });
      expect((await client.getRange('copy.bin', { offset: 5 * 1024 * 1024, length: 4 })).data.toString()).toBe('tail');
    });

    it('fails with PreconditionFailed when the object changed since the ETag was taken', async () => {
      const { etag } = await client.put('changing', Buffer.from('one'));
      await client.put('changing', Buffer.from('two!'));
      await expect(client.getRange('changing', { offset: 0, length: 3 }, etag)).rejects.toMatchObject({ kind: 'PreconditionFailed' });
    });

    it('fails with NotFound for a missing key', async () => {
      await expect(client.getRange('missing', { offset: 0, length: 1 })).rejects.toMatchObject({ kind: 'NotFound' });
    });

    it('sends ranges as offset-length, never suffix ranges', async () => {
      await client.put('r', Buffer.from('abc'));
      await s3.settle();
      s3.resetRequests();
      await client.getRange('r', { offset: 1, length: 2 });
      await s3.settle();
      expect(s3.requests.filter((r) => r.key === 'r').map((r) => [r.method, r.range])).toEqual([['GET', 'bytes=1-2']]);
    });
  });

  describe('against a server that fails', () => {
    let server: http.Server;
    let endpoint: string;
    let answers: Array<(response: http.ServerResponse) => void>;
    let seen: number;
    beforeEach(async () => {
      seen = 0;
      answers = [];
      server = http.createServer((request, response) => {
        seen++;
        request.resume();
        const answer = answers.shift() ?? ((r: http.ServerResponse) => r.writeHead(500).end());
        answer(response);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const clientOf = (maxAttempts: number, attemptTimeoutMs = 5000) =>
      new S3ObjectClient({ endpoint, bucket: 'b', maxAttempts, backoffBaseMs: 1, attemptTimeoutMs });
    const slowDown = (r: http.ServerResponse) => r.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>slow</Message></Error>');
    const ok = (r: http.ServerResponse) => r.writeHead(206, { etag: '"e"', 'content-length': '3', 'content-range': 'bytes 0-2/3' }).end('abc');

    it('retries throttling and 5xx, then succeeds', async () => {
      answers.push(slowDown, (r) => r.writeHead(500).end(), ok);
      const result = await clientOf(5).getRange('k', { offset: 0, length: 3 });
      expect(result.data.toString()).toBe('abc');
      expect(seen).toBe(3);
    });

    it('gives up after maxAttempts with the kind of the last failure', async () => {
      answers.push(slowDown, slowDown, slowDown);
      await expect(clientOf(3).getRange('k', { offset: 0, length: 3 })).rejects.toMatchObject({ kind: 'Throttled' });
      expect(seen).toBe(3);
    });

    it('retries a body cut short', async () => {
      answers.push((r) => {
        r.writeHead(206, { etag: '"e"', 'content-length': '3' });
        r.write('a');
        r.socket?.destroy();
      }, ok);
      expect((await clientOf(3).getRange('k', { offset: 0, length: 3 })).data.toString()).toBe('abc');
    });

    it('abandons an attempt that hangs', async () => {
      answers.push(() => undefined, ok);
      expect((await clientOf(2, 1000).getRange('k', { offset: 0, length: 3 })).data.toString()).toBe('abc');
    });

    it('does not retry access denied', async () => {
      answers.push((r) => r.writeHead(403, { 'content-type': 'application/xml' }).end('<Error><Code>AccessDenied</Code><Message>no</Message></Error>'));
      await expect(clientOf(5).head('k')).rejects.toMatchObject({ kind: 'AccessDenied' });
      expect(seen).toBe(1);
    });

    it('sends no Authorization header when anonymous', async () => {
      let authorization: string | undefined = 'unset';
      server.removeAllListeners('request');
      server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
        authorization = request.headers.authorization;
        ok(response);
      });
      await clientOf(1).getRange('k', { offset: 0, length: 3 });
      expect(authorization).toBeUndefined();
    });
  });

  describe('against a server whose answer ends with its connection (no Content-Length, not chunked)', () => {
    it('asks again by node:http, which reads such answers, and returns the right bytes', async () => {
      let requests = 0;
      const server = net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => {
          requests++;
          socket.end('HTTP/1.1 206 Partial Content\r\netag: "e"\r\nconnection: close\r\n\r\nabc');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const client = new S3ObjectClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bucket: 'b', maxAttempts: 1 });
        const result = await client.getRange('k', { offset: 0, length: 3 });
        client.destroy();
        expect(result.data.toString()).toBe('abc');
        expect(requests).toBe(2);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('when classifying SDK errors', () => {
    it.each([
      [{ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }, 'NotFound'],
      [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, 'AccessDenied'],
      [{ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } }, 'PreconditionFailed'],
      [{ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }, 'Throttled'],
      [{ name: 'InternalError', $metadata: { httpStatusCode: 500 } }, 'Transient'],
      [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'Transient'],
      [{ name: 'InvalidRange', $metadata: { httpStatusCode: 416 } }, 'Other'],
    ])('%j → %s', (raw, kind) => {
      const error = toObjectError('test', raw);
      expect(error).toBeInstanceOf(ObjectClientError);
      expect(isObjectError(error, kind as ObjectClientError['kind'])).toBe(true);
      expect(error.cause).toBe(raw);
    });
  });
});
