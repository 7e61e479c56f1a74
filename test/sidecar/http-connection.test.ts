/**
 * The raw keep-alive HTTP connection and its pool, against a TCP server that answers with bytes
 * written here — split where a parser could stumble, framed in every way S3 and its peers do.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpConnection, UnframedResponseError, type ResponseHead } from '../../sidecar/http-connection';
import { HttpConnectionPool } from '../../sidecar/http-connection-pool';

/** How the server answers one request: pieces written one after another (a pause between them). */
type Script = (socket: net.Socket, request: string) => Array<string | Buffer> | 'close' | 'hang';

class ScriptedServer {
  private readonly server: net.Server;
  readonly requests: string[] = [];
  private readonly sockets = new Set<net.Socket>();
  connections = 0;
  script: Script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'];

  constructor() {
    this.server = net.createServer((socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      let pending = '';
      socket.on('error', () => undefined);
      socket.on('data', (data) => {
        pending += data.toString('latin1');
        let end = pending.indexOf('\r\n\r\n');
        while (end >= 0) {
          const request = pending.slice(0, end + 4);
          pending = pending.slice(end + 4);
          this.requests.push(request);
          void this.answer(socket, request);
          end = pending.indexOf('\r\n\r\n');
        }
      });
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async answer(socket: net.Socket, request: string): Promise<void> {
    const pieces = this.script(socket, request);
    if (pieces === 'hang') return;
    if (pieces === 'close') {
      socket.destroy();
      return;
    }
    for (const [i, piece] of pieces.entries()) {
      if (i > 0) await sleep(5);
      if (!socket.destroyed) socket.write(piece);
    }
  }
}

/** Collects what an exchange delivers. */
function collector(): { head?: ResponseHead; body: Buffer[]; handler: { onHead(head: ResponseHead): void; onBody(data: Buffer, start: number, end: number): void }; text(): string } {
  const result: { head?: ResponseHead; body: Buffer[] } = { body: [] };
  return {
    ...result,
    body: result.body,
    get head() {
      return result.head;
    },
    handler: {
      onHead: (head) => (result.head = head),
      onBody: (data, start, end) => result.body.push(Buffer.from(data.subarray(start, end))),
    },
    text: () => Buffer.concat(result.body).toString('latin1'),
  };
}

const GET = 'GET /b/k HTTP/1.1\r\nhost: test\r\n\r\n';

// Every test gets a server of its own.
let server: ScriptedServer;
let port: number;
beforeEach(async () => {
  server = new ScriptedServer();
  port = await server.start();
});
afterEach(async () => {
  await server.stop();
});

describe('HttpConnection', () => {
  const connect = () => new HttpConnection({ host: '127.0.0.1', port, secure: false });

  describe('when the answer is framed by Content-Length', () => {
    it.each([
      ['in one piece', ['HTTP/1.1 206 Partial Content\r\ncontent-length: 5\r\netag: "e"\r\n\r\nhello']],
      ['with the head split inside its empty line', ['HTTP/1.1 206 Partial Content\r\ncontent-length: 5\r\netag: "e"\r\n\r', '\nhel', 'lo']],
      ['byte by byte', [...'HTTP/1.1 206 Partial Content\r\ncontent-length: 5\r\netag: "e"\r\n\r\nhello']],
      ['with the body apart from the head', ['HTTP/1.1 206 Partial Content\r\ncontent-length: 5\r\netag: "e"\r\n\r\n', 'hello']],
    ])('delivers head and body whole, %s', async (_name, pieces) => {
      server.script = () => pieces;
      const seen = collector();
      const exchange = await connect().exchange(GET, seen.handler);
      expect(seen.head?.status).toBe(206);
      expect(seen.head?.headers.get('etag')).toBe('"e"');
      expect(seen.text()).toBe('hello');
      expect(exchange).toMatchObject({ received: 5, announced: 5 });
    });

    it('keeps the connection for the next request', async () => {
      server.script = (_socket, request) => [`HTTP/1.1 200 OK\r\ncontent-length: ${request.length}\r\n\r\n${request}`];
      const connection = connect();
      for (let i = 0; i < 3; i++) {
        const seen = collector();
        await connection.exchange(GET, seen.handler);
        expect(seen.text()).toBe(GET);
        expect(connection.idle).toBe(true);
      }
      expect(server.connections).toBe(1);
    });

    it('closes the connection after an answer that says Connection: close', async () => {
      server.script = () => ['HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok'];
      const connection = connect();
      await connection.exchange(GET, collector().handler);
      expect(connection.closed).toBe(true);
    });
  });

  describe('when the handler gives regions to read the body into', () => {
    it('has the socket read the body straight into them, and the bytes are the body', async () => {
      const body = Buffer.alloc(300_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 13) % 256;
      server.script = () => [`HTTP/1.1 206 Partial Content\r\ncontent-length: ${body.length}\r\n\r\n`, body.subarray(0, 100_000), body.subarray(100_000)];
      const target = Buffer.alloc(body.length);
      let filled = 0;
      let written = 0;
      let copied = 0;
      const handler = {
        onHead: () => undefined,
        onBody: (data: Buffer, start: number, end: number) => {
          filled += data.copy(target, filled, start, end);
          copied += end - start;
        },
        bodyRegion: (max: number) => target.subarray(filled, filled + Math.min(max, 40_000)),
        onBodyWritten: (length: number) => {
          filled += length;
          written += length;
        },
      };
      const connection = connect();
      const exchange = await connection.exchange(GET, handler);
      expect(exchange).toMatchObject({ received: body.length, announced: body.length });
      expect(target.equals(body)).toBe(true);
      expect(written).toBeGreaterThan(body.length / 2);
      expect(written + copied).toBe(body.length);
      // The connection is reusable, reading into its own buffer again.
      server.script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'];
      const seen = collector();
      await connection.exchange(GET, seen.handler);
      expect(seen.text()).toBe('ok');
    });
  });

  describe('when the answer is chunked (as servers often send errors)', () => {
    it.each([
      ['whole', ['HTTP/1.1 503 Slow Down\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n']],
      ['split everywhere', ['HTTP/1.1 503 Slow Down\r\ntransfer-encoding: chunked\r\n\r\n5', '\r', '\nhel', 'lo\r', '\n6;ext=1\r\n wor', 'ld\r\n0\r\n', 'x-trailer: 1\r\n', '\r\n']],
    ])('decodes it %s', async (_name, pieces) => {
      server.script = () => pieces;
      const seen = collector();
      const connection = connect();
      const exchange = await connection.exchange(GET, seen.handler);
      expect(seen.text()).toBe('hello world');
      expect(exchange).toMatchObject({ received: 11, announced: 11 });
      expect(connection.idle).toBe(true);
    });

    it('refuses a malformed chunk size and closes the connection', async () => {
      server.script = () => ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'];
      const connection = connect();
      await expect(connection.exchange(GET, collector().handler)).rejects.toThrow(/malformed chunk size/);
      expect(connection.closed).toBe(true);
    });

    it('reports a chunked body cut off by the server as broken (announced -1)', async () => {
      server.script = (socket) => {
        setTimeout(() => socket.destroy(), 30);
        return ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel'];
      };
      await expect(connect().exchange(GET, collector().handler)).resolves.toMatchObject({ received: 3, announced: -1 });
    });
  });

  describe('when the answer is not what HTTP/1.1 allows here', () => {
    it('refuses one delimited by the close of the connection, delivering nothing', async () => {
      server.script = () => ['HTTP/1.1 200 OK\r\n\r\nuntil the end'];
      const seen = collector();
      await expect(connect().exchange(GET, seen.handler)).rejects.toBeInstanceOf(UnframedResponseError);
      expect(seen.body).toEqual([]);
    });

    it.each([
      ['more bytes than announced', ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokAY'], /more than the 2 bytes/],
      ['a malformed status line', ['HTTP/2 200\r\n\r\n'], /malformed status line/],
      ['a malformed header line', ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'], /malformed header line/],
      ['a malformed Content-Length', ['HTTP/1.1 200 OK\r\ncontent-length: 12abc\r\n\r\n'], /malformed Content-Length/],
      ['a head that never ends', ['HTTP/1.1 200 OK\r\n', `x-pad: ${'a'.repeat(70 * 1024)}`], /longer than 65536 bytes/],
    ])('fails on %s and closes the connection', async (_name, pieces, message) => {
      server.script = () => pieces;
      const connection = connect();
      await expect(connection.exchange(GET, collector().handler)).rejects.toThrow(message);
      expect(connection.closed).toBe(true);
    });

    it('closes the connection when the server sends bytes nobody asked for', async () => {
      server.script = (socket) => {
        setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'), 20);
        return ['HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'];
      };
      const connection = connect();
      await connection.exchange(GET, collector().handler);
      await sleep(60);
      expect(connection.closed).toBe(true);
    });
  });

  describe('when the connection breaks', () => {
    it('resolves with what arrived when it closes in the middle of a body', async () => {
      server.script = (socket) => {
        setTimeout(() => socket.destroy(), 30);
        return ['HTTP/1.1 206 Partial Content\r\ncontent-length: 10\r\n\r\nabc'];
      };
      const seen = collector();
      await expect(connect().exchange(GET, seen.handler)).resolves.toMatchObject({ received: 3, announced: 10 });
      expect(seen.text()).toBe('abc');
    });

    it('rejects as a reset when it closes before the head', async () => {
      server.script = () => 'close';
      await expect(connect().exchange(GET, collector().handler)).rejects.toMatchObject({ code: 'ECONNRESET' });
    });

    it('rejects as refused when nobody listens', async () => {
      await server.stop();
      await expect(connect().exchange(GET, collector().handler)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      server = new ScriptedServer();
      port = await server.start();
    });

    it('rejects with AbortError and closes the connection when the signal aborts', async () => {
      server.script = () => 'hang';
      const controller = new AbortController();
      const connection = connect();
      const exchange = connection.exchange(GET, collector().handler, controller.signal);
      setTimeout(() => controller.abort(), 20);
      await expect(exchange).rejects.toMatchObject({ name: 'AbortError' });
      expect(connection.closed).toBe(true);
    });
  });

  describe('when the handler refuses the answer', () => {
    it('rejects with its error and closes the connection', async () => {
      server.script = () => ['HTTP/1.1 206 Partial Content\r\ncontent-length: 5\r\netag: "new"\r\n\r\nhello'];
      const connection = connect();
      const refusing = {
        onHead: () => {
          throw new Error('ETag changed');
        },
        onBody: () => undefined,
      };
      await expect(connection.exchange(GET, refusing)).rejects.toThrow('ETag changed');
      expect(connection.closed).toBe(true);
    });
  });
});

describe('HttpConnectionPool', () => {

  describe('when more requests run than it may open connections', () => {
    it('opens at most maxSockets and serves the rest as connections come free', async () => {
      server.script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n', 'ok'];
      const pool = new HttpConnectionPool({ host: '127.0.0.1', port, secure: false, maxSockets: 2 });
      const results = await Promise.all(Array.from({ length: 8 }, () => pool.exchange(GET, collector().handler)));
      expect(results.every((r) => r.received === 2)).toBe(true);
      expect(server.connections).toBe(2);
      expect(pool.size).toBe(2);
      pool.close();
    });
  });

  describe('when the server has closed an idle connection', () => {
    it('sends the request again on a new connection, once', async () => {
      let answered = 0;
      server.script = (socket) => {
        answered++;
        // The first answer, then the server drops that connection while it is idle.
        if (answered === 1) setTimeout(() => socket.destroy(), 10);
        return ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'];
      };
      const pool = new HttpConnectionPool({ host: '127.0.0.1', port, secure: false, maxSockets: 1 });
      await pool.exchange(GET, collector().handler);
      await sleep(40);
      const seen = collector();
      await pool.exchange(GET, seen.handler);
      expect(seen.text()).toBe('ok');
      expect(server.connections).toBe(2);
      pool.close();
    });

    it('does not hide a reset of a new connection', async () => {
      server.script = () => 'close';
      const pool = new HttpConnectionPool({ host: '127.0.0.1', port, secure: false, maxSockets: 1 });
      await expect(pool.exchange(GET, collector().handler)).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('when an idle connection is older than maxIdleMs', () => {
    it('closes it and opens a new one instead of reusing it', async () => {
      server.script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'];
      let now = 1_000;
      const pool = new HttpConnectionPool({ host: '127.0.0.1', port, secure: false, maxSockets: 1, maxIdleMs: 100, now: () => now });
      await pool.exchange(GET, collector().handler);
      now += 50;
      await pool.exchange(GET, collector().handler);
      expect(server.connections).toBe(1);
      now += 101;
      await pool.exchange(GET, collector().handler);
      expect(server.connections).toBe(2);
      expect(pool.size).toBe(1);
      pool.close();
      expect(pool.size).toBe(0);
    });
  });

  describe('when a request waiting for a connection is aborted', () => {
    it('rejects it and leaves the pool usable', async () => {
      server.script = (_socket, request) => (request.includes('/slow') ? ['HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n', 'slow'] : ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok']);
      const pool = new HttpConnectionPool({ host: '127.0.0.1', port, secure: false, maxSockets: 1 });
      const slow = pool.exchange('GET /slow HTTP/1.1\r\nhost: t\r\n\r\n', collector().handler);
      const controller = new AbortController();
      const waiting = pool.exchange(GET, collector().handler, controller.signal);
      controller.abort();
      await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
      await expect(slow).resolves.toMatchObject({ received: 4 });
      await expect(pool.exchange(GET, collector().handler)).resolves.toMatchObject({ received: 2 });
      pool.close();
    });
  });
});
