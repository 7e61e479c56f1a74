// Child process of test/support/s3-server.ts: runs s3rver and reports every request to the
// parent over IPC. Plain JavaScript so it runs under `node --openssl-legacy-provider` without a
// TypeScript loader (s3rver's >1000-key listings need the legacy provider, see design.md).
'use strict';
const S3rver = require('s3rver');

const options = JSON.parse(process.argv[2] || '{}');
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: options.dir,
  configureBuckets: (options.buckets || []).map((name) => ({ name })),
});

server.run().then(
  (address) => {
    server.httpServer.on('request', (req, res) => {
      const started = Date.now();
      res.on('finish', () => {
        const url = new URL(req.url, 'http://localhost');
        const parts = url.pathname.split('/');
        const bucket = decodeURIComponent(parts[1] || '');
        const key = parts.length > 2 ? decodeURIComponent(parts.slice(2).join('/')) : '';
        process.send({
          type: 'request',
          request: {
            method: req.method,
            bucket,
            key,
            query: url.search,
            range: req.headers.range,
            status: res.statusCode,
            ms: Date.now() - started,
          },
        });
      });
    });
    process.send({ type: 'ready', port: address.port });
  },
  (error) => {
    process.stderr.write(`s3rver failed to start: ${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);

process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
