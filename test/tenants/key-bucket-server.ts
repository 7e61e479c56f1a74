/**
 * A read-only S3 bucket held in memory, speaking just what a mount needs — ListObjectsV2
 * (prefix, delimiter, one page), HEAD and ranged GET, path-style — for keys that s3rver cannot
 * store: its file-system store maps keys to paths, so `..` segments land outside its bucket
 * folder, `.`/`..` keys and keys over 255 bytes break it, and after such a key it stops
 * answering (seen here: every request after a 300-byte key was refused). Real S3 stores all of
 * them. Keys with characters XML 1.0 cannot carry are sent as numeric character references,
 * as S3 does. Every request is recorded, so a test can check what the mount asked for.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface KeyBucketServer {
  url: string;
  /** Decoded object keys of every HEAD/GET of an object, and the prefix of every listing. */
  readonly objectRequests: string[];
  readonly listPrefixes: string[];
  close(): Promise<void>;
}

/** Markup characters, and the C0 controls XML 1.0 cannot carry literally (all but tab, LF, CR). */
const xml = (text: string): string =>
  [...text].map((c) => {
    const code = c.charCodeAt(0);
    return '<>&\'"'.includes(c) || (code < 0x20 && c !== '\t' && c !== '\n' && c !== '\r') ? `&#${code};` : c;
  }).join('');

export async function startKeyBucketServer(bucket: string, objects: ReadonlyMap<string, Buffer>): Promise<KeyBucketServer> {
  const objectRequests: string[] = [];
  const listPrefixes: string[] = [];
  const etag = (body: Buffer): string => `"${createHash('md5').update(body).digest('hex')}"`;
  const modified = new Date('2026-11-29T00:00:00Z');

  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    const [, first = '', ...rest] = url.pathname.split('/');
    if (decodeURIComponent(first) !== bucket) {
      res.writeHead(404).end();
      return;
    }
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
      const prefix = url.searchParams.get('prefix') ?? '';
      const delimiter = url.searchParams.get('delimiter') ?? '';
      listPrefixes.push(prefix);
      const contents: string[] = [];
      const prefixes = new Set<string>();
      for (const [key, body] of [...objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (!key.startsWith(prefix)) continue;
        const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
        if (cut >= 0) prefixes.add(key.slice(0, cut + delimiter.length));
        else contents.push(`<Contents><Key>${xml(key)}</Key><LastModified>${modified.toISOString()}</LastModified><ETag>${xml(etag(body))}</ETag><Size>${body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`);
      }
      const common = [...prefixes].map((p) => `<CommonPrefixes><Prefix>${xml(p)}</Prefix></CommonPrefixes>`).join('');
      const payload = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${contents.length + prefixes.size}</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>${xml(delimiter)}</Delimiter><IsTruncated>false</IsTruncated>${contents.join('')}${common}</ListBucketResult>`;
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(payload) }).end(payload);
      return;
    }
    const key = rest.map(decodeURIComponent).join('/');
    objectRequests.push(key);
    const body = objects.get(key);
    if (!body) {
      const payload = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>';
      res.writeHead(404, { 'content-type': 'application/xml', 'content-length': req.method === 'HEAD' ? 0 : Buffer.byteLength(payload) });
      res.end(req.method === 'HEAD' ? undefined : payload);
      return;
    }
    const headers = { etag: etag(body), 'last-modified': modified.toUTCString(), 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && body.length > 0) {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
      const part = body.subarray(start, end + 1);
      res.writeHead(206, { ...headers, 'content-length': part.length, 'content-range': `bytes ${start}-${end}/${body.length}` });
      res.end(req.method === 'HEAD' ? undefined : part);
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objectRequests,
    listPrefixes,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
