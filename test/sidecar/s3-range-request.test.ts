import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueTlsBundle } from '../../certs/tls-bundle';
import { S3RangeRequester, uriEncode, type RangeRequestOptions } from '../../sidecar/s3-range-request';

const agents = { httpAgent: new http.Agent({ keepAlive: false }), httpsAgent: new https.Agent({ keepAlive: false }), maxSockets: 4 };
const example: RangeRequestOptions = {
  endpoint: 'https://s3.amazonaws.com',
  bucket: 'examplebucket',
  region: 'us-east-1',
  forcePathStyle: false,
  credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  ...agents,
};

describe('S3RangeRequester', () => {
  describe('when signing the GET of AWS\'s Signature Version 4 worked example', () => {
    it('produces the signature AWS documents', () => {
      const signed = new S3RangeRequester(example).sign('examplebucket.s3.amazonaws.com', '/test.txt', { range: 'bytes=0-9' }, new Date('2013-05-24T00:00:00Z'));
      expect(signed.authorization).toBe(
        'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      );
      expect(signed['x-amz-date']).toBe('20130524T000000Z');
    });

    it('signs a session token too, when there is one', () => {
      const signed = new S3RangeRequester({ ...example, credentials: { ...example.credentials!, sessionToken: 'token' } })
        .sign('examplebucket.s3.amazonaws.com', '/test.txt', { range: 'bytes=0-9' }, new Date('2013-05-24T00:00:00Z'));
      expect(signed['x-amz-security-token']).toBe('token');
      expect(signed.authorization).toContain('SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token,');
    });

    it('signs nothing for an anonymous dataset', () => {
      expect(new S3RangeRequester({ ...example, credentials: undefined }).sign('h', '/k', {}, new Date())).toEqual({});
    });
  });

  describe('when encoding a key for the request path', () => {
    it.each([
      ['plain', 'a-b_c.d~e', 'a-b_c.d~e'],
      ['space and unicode', 'été 1', '%C3%A9t%C3%A9%201'],
      ['characters encodeURIComponent leaves alone', "it's(1)*!", 'it%27s%281%29%2A%21'],
      ['plus and equals', 'a+b=c', 'a%2Bb%3Dc'],
    ])('%s', (_name, segment, encoded) => {
      expect(uriEncode(segment)).toBe(encoded);
    });
  });

  describe('when talking to a server', () => {
    let server: http.Server;
    let seen: http.IncomingHttpHeaders[] = [];
    let paths: string[] = [];
    let answer: (response: http.ServerResponse) => void = () => undefined;
    beforeAll(async () => {
      server = http.createServer((request, response) => {
        seen.push(request.headers);
        paths.push(request.url ?? '');
        answer(response);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    beforeEach(() => {
      seen = [];
      paths = [];
    });
    const requester = (overrides: Partial<RangeRequestOptions> = {}) =>
      new S3RangeRequester({ ...example, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, forcePathStyle: true, ...overrides });

    it('sends a path-style ranged GET with If-Match and returns the body stream and ETag', async () => {
      answer = (response) => response.writeHead(206, { etag: '"abc"', 'content-length': '5' }).end('hello');
      const result = await requester().get('dir/a b.txt', { offset: 10, length: 5 }, '"abc"', new AbortController().signal);
      const body = await new Promise<string>((resolve) => {
        let text = '';
        result.body.on('data', (chunk: Buffer) => (text += chunk.toString())).on('end', () => resolve(text));
      });
      expect({ etag: result.etag, length: result.length, body }).toEqual({ etag: '"abc"', length: 5, body: 'hello' });
      expect(paths).toEqual(['/examplebucket/dir/a%20b.txt']);
      expect(seen[0]).toMatchObject({ range: 'bytes=10-14', 'if-match': '"abc"', 'x-amz-content-sha256': expect.any(String) });
      expect(seen[0]?.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/s3\/aws4_request,SignedHeaders=host;if-match;range;/);
    });

    it('fetches the same GET on its own connection, the body to the receiver, keeping the connection', async () => {
      answer = (response) => response.writeHead(206, { etag: '"abc"', 'content-length': '5' }).end('hello');
      const client = requester();
      const bodies: string[] = [];
      for (let i = 0; i < 2; i++) {
        let etag = '';
        let text = '';
        const result = await client.fetch('dir/a b.txt', { offset: 10, length: 5 }, '"abc"', new AbortController().signal, {
          onHead: (tag) => (etag = tag),
          onBody: (data, start, end) => (text += data.toString('latin1', start, end)),
        });
        expect(result).toEqual({ etag: '"abc"', length: 5, received: 5 });
        expect(etag).toBe('"abc"');
        bodies.push(text);
      }
      client.close();
      expect(bodies).toEqual(['hello', 'hello']);
      expect(paths).toEqual(['/examplebucket/dir/a%20b.txt', '/examplebucket/dir/a%20b.txt']);
      expect(seen[0]).toMatchObject({ range: 'bytes=10-14', 'if-match': '"abc"', host: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
      expect(seen[0]?.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/s3\/aws4_request,SignedHeaders=host;if-match;range;/);
    });

    it('refuses to send a header value holding a line break', async () => {
      const fetching = requester().fetch('k', { offset: 0, length: 1 }, '"a"\r\nx-evil: 1', new AbortController().signal, { onHead: () => undefined, onBody: () => undefined });
      await expect(fetching).rejects.toThrow(/line break/);
      expect(paths).toEqual([]);
    });

    it.each([
      [404, '<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>', 'NoSuchKey'],
      [503, '<Error><Code>SlowDown</Code></Error>', 'SlowDown'],
      [500, 'not xml', 'HTTP500'],
    ])('turns a (chunked) HTTP %d answer to fetch into an error named as the SDK names it', async (status, body, name) => {
      answer = (response) => response.writeHead(status).end(body);
      const fetching = requester().fetch('k', { offset: 0, length: 1 }, undefined, new AbortController().signal, { onHead: () => undefined, onBody: () => undefined });
      await expect(fetching).rejects.toMatchObject({ name, $metadata: { httpStatusCode: status } });
    });

    it.each([
      [404, '<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>', 'NoSuchKey'],
      [412, '<Error><Code>PreconditionFailed</Code></Error>', 'PreconditionFailed'],
      [503, '<Error><Code>SlowDown</Code></Error>', 'SlowDown'],
      [403, '', 'AccessDenied'],
      [500, 'not xml', 'HTTP500'],
    ])('turns HTTP %d into an error named as the SDK names it', async (status, body, name) => {
      answer = (response) => response.writeHead(status).end(body);
      await expect(requester().get('k', { offset: 0, length: 1 }, undefined, new AbortController().signal)).rejects.toMatchObject({
        name,
        $metadata: { httpStatusCode: status },
      });
    });
  });

  describe('when the endpoint is HTTPS', () => {
    it('verifies the server against the agent\'s CA and reads the range', async () => {
      const bundle = await issueTlsBundle({ service: { name: 'localhost', namespace: 'default' }, now: new Date() });
      const server = https.createServer({ key: bundle.keyPem, cert: bundle.certPem }, (request, response) => {
        response.writeHead(206, { etag: '"t"', 'content-length': '3' }).end(request.headers.range === 'bytes=0-2' ? 'tls' : 'bad');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const requester = new S3RangeRequester({
          ...example,
          endpoint: `https://localhost:${(server.address() as AddressInfo).port}`,
          forcePathStyle: true,
          httpsAgent: new https.Agent({ keepAlive: false, ca: bundle.caPem }),
        });
        const result = await requester.get('k', { offset: 0, length: 3 }, undefined, new AbortController().signal);
        const body = await new Promise<string>((resolve) => {
          let text = '';
          result.body.on('data', (chunk: Buffer) => (text += chunk.toString())).on('end', () => resolve(text));
        });
        expect(body).toBe('tls');
        let fetched = '';
        await requester.fetch('k', { offset: 0, length: 3 }, undefined, new AbortController().signal, {
          onHead: () => undefined,
          onBody: (data, start, end) => (fetched += data.toString('latin1', start, end)),
        });
        requester.close();
        expect(fetched).toBe('tls');
        const untrusted = new S3RangeRequester({ ...example, endpoint: `https://localhost:${(server.address() as AddressInfo).port}`, forcePathStyle: true });
        await expect(untrusted.get('k', { offset: 0, length: 3 }, undefined, new AbortController().signal)).rejects.toThrow(/certificate/);
        const untrustedFetch = untrusted.fetch('k', { offset: 0, length: 3 }, undefined, new AbortController().signal, { onHead: () => undefined, onBody: () => undefined });
        await expect(untrustedFetch).rejects.toThrow(/certificate/);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });
});
