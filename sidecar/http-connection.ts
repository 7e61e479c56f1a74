/**
 * One keep-alive HTTP/1.1 connection (plain or TLS) that sends a request and parses its answer
 * itself, reading the socket into one buffer it owns (`onread`) and handing body bytes straight
 * to the caller, who copies them where they belong (a block buffer).
 *
 * Why not node:http: for a GiB of ranged GETs, node:http allocates a fresh 64 KiB buffer for
 * every socket read and runs llhttp and a stream event per chunk; in profiles of a cold
 * sequential read that was a tenth of the sidecar's main thread, plus a GiB of short-lived
 * external memory for V8 to collect. Here a GiB costs no allocation at all, and one copy.
 *
 * Deliberately small: one request at a time (no pipelining); the answer is framed by
 * Content-Length (as S3 frames its data) or chunked (as servers often send errors). One
 * delimited by the connection's close is refused with `UnframedResponseError` (nothing of it
 * delivered), for the caller to ask again by node:http. Anything unexpected (bytes before a
 * request, more bytes than announced, a head over 64 KiB, a malformed status line or chunk
 * size) closes the connection with an error.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface ConnectionTarget {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** TLS server name (SNI and certificate check); default: `host`. */
  readonly servername?: string;
  /** More TLS options (`ca`, `rejectUnauthorized`, ...), as an https.Agent of the client has them. */
  readonly tls?: tls.ConnectionOptions;
}

export interface ResponseHead {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
}

export interface ResponseHandler {
  /** The status line and headers arrived. Throw to refuse the body: the connection is closed. */
  onHead(head: ResponseHead): void;
  /** Body bytes `data[start, end)`, in order. `data` is reused: copy what you keep. May throw. */
  onBody(data: Buffer, start: number, end: number): void;
  /**
   * Optional: where the socket should read the next body bytes itself — a region of at most
   * `max` bytes (e.g. the rest of a block buffer), or undefined for the connection's buffer.
   * Bytes read there are reported by `onBodyWritten` instead of `onBody`: no copy at all.
   */
  bodyRegion?(max: number): Buffer | undefined;
  /** `length` body bytes were read into the start of the region `bodyRegion` returned last. */
  onBodyWritten?(length: number): void;
}

export interface Exchange {
  readonly head: ResponseHead;
  /** Body bytes delivered; fewer than announced when the connection closed early. */
  readonly received: number;
  /** Content-Length; for a chunked answer, what it turned out to hold (or -1 if it broke off). */
  readonly announced: number;
}

/** The answer is delimited by the connection's close; nothing of its body was delivered. */
export class UnframedResponseError extends Error {}

/** Socket read buffer per connection: 64 connections cost 4 MiB. */
const READ_BUFFER_BYTES = 64 * 1024;
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
/** A chunk-size line (hex size, maybe extensions) or a trailer line is never longer than this. */
const MAX_LINE_BYTES = 4096;

/** Where a chunked body's parser is: a size line, chunk data, the CRLF after it, trailer lines. */
type ChunkState = 'size' | 'data' | 'data-end' | 'trailer';

interface Active {
  readonly handler: ResponseHandler;
  resolve(exchange: Exchange): void;
  reject(error: Error): void;
  head: ResponseHead | undefined;
  headBytes: Buffer[];
  headLength: number;
  announced: number;
  received: number;
  keepAlive: boolean;
  /** Chunked bodies: the parser's state, the current chunk's bytes left, the line being read. */
  chunked: { state: ChunkState; left: number; line: string } | undefined;
}

export class HttpConnection {
  private readonly socket: net.Socket;
  private active: Active | undefined;
  private closedBy: Error | undefined;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /** The handler's region the socket reads into next, if it gave one. */
  private region: Buffer | undefined;
  /** Requests sent on this connection, finished or not. */
  requests = 0;

  constructor(target: ConnectionTarget) {
    const onread: net.OnReadOpts = {
      // Asked for again after every read: the next read goes where `nextBuffer` says.
      buffer: () => this.nextBuffer(),
      callback: (length, data) => {
        this.onData(data as Buffer, length);
        return true;
      },
    };
    // tls.connect takes `onread` as net.connect does (Node 20), though @types/node lacks it there.
    const secure: tls.ConnectionOptions & { onread: net.OnReadOpts } = { ...target.tls, host: target.host, port: target.port, servername: target.servername ?? target.host, onread };
    this.socket = target.secure ? tls.connect(secure) : net.connect({ host: target.host, port: target.port, onread });
    this.socket.setNoDelay(true);
    this.socket.on('error', (error) => this.close(error));
    this.socket.on('end', () => this.close(Object.assign(new Error('connection closed by the server'), { code: 'ECONNRESET' })));
    this.socket.on('close', () => this.close(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
  }

  /** Whether another request may be sent (no request running, socket open). */
  get idle(): boolean {
    return this.active === undefined && this.closedBy === undefined;
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /**
   * Send `requestHead` (the request line and headers, ending in an empty line) and parse the
   * answer into `handler`. Resolves when the body is complete or the connection closed in the
   * middle of it (`received < announced`); rejects when no whole head arrived, on a protocol
   * error, when the handler throws, or when `signal` aborts (the connection is then closed). A
   * rejection that `isClosure` means the connection went away before the answer's head.
   */
  exchange(requestHead: string, handler: ResponseHandler, signal?: AbortSignal): Promise<Exchange> {
    if (!this.idle) return Promise.reject(new Error('connection busy or closed'));
    this.requests++;
    return new Promise<Exchange>((resolve, reject) => {
      const onAbort = (): void => this.close(Object.assign(new Error('request aborted'), { name: 'AbortError' }));
      const settle = (): void => signal?.removeEventListener('abort', onAbort);
      this.active = {
        handler,
        resolve: (exchange) => {
          settle();
          resolve(exchange);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
        head: undefined,
        headBytes: [],
        headLength: 0,
        announced: 0,
        received: 0,
        keepAlive: true,
        chunked: undefined,
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.write(requestHead, 'latin1');
    });
  }

  destroy(): void {
    this.close(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
  }

  /** The handler's region for the next body bytes of a Content-Length answer, else our buffer. */
  private nextBuffer(): Buffer {
    this.region = undefined;
    const active = this.active;
    if (active?.head && !active.chunked && active.handler.bodyRegion) {
      const left = active.announced - active.received;
      const region = left > 0 ? active.handler.bodyRegion(left) : undefined;
      if (region && region.length > 0 && region.length <= left) this.region = region;
    }
    return this.region ?? this.buffer;
  }

  private onData(data: Buffer, length: number): void {
    const active = this.active;
    if (!active) {
      this.close(new Error('the server sent bytes nobody asked for'));
      return;
    }
    if (data === this.region) {
      try {
        active.received += length;
        active.handler.onBodyWritten?.(length);
        if (active.received === active.announced) this.complete(active);
      } catch (error) {
        this.close(error as Error);
      }
      return;
    }
    try {
      let at = 0;
      if (!active.head) {
        at = this.readHead(active, data, length);
        if (!active.head) return;
      }
      if (active.chunked) {
        this.readChunked(active, active.chunked, data, at, length);
        return;
      }
      if (at < length) {
        const end = Math.min(length, at + active.announced - active.received);
        this.deliver(active, data, at, end);
        if (end < length) throw new Error(`the server sent more than the ${active.announced} bytes it announced`);
      }
      if (active.received === active.announced) this.complete(active);
    } catch (error) {
      this.close(error as Error);
    }
  }

  private deliver(active: Active, data: Buffer, start: number, end: number): void {
    if (end <= start) return;
    active.handler.onBody(data, start, end);
    active.received += end - start;
  }

  /** Decode `data[at, length)` of a chunked body (RFC 9112 §7.1), delivering chunk data. */
  private readChunked(active: Active, chunk: { state: ChunkState; left: number; line: string }, data: Buffer, at: number, length: number): void {
    while (at < length) {
      if (chunk.state === 'data') {
        const end = Math.min(length, at + chunk.left);
        this.deliver(active, data, at, end);
        chunk.left -= end - at;
        at = end;
        if (chunk.left === 0) chunk.state = 'data-end';
        continue;
      }
      // A line: the size line, the empty line after a chunk's data, or a trailer line.
      const newline = data.indexOf(10, at);
      const stop = newline < 0 || newline >= length ? length : newline + 1;
      chunk.line += data.toString('latin1', at, stop);
      at = stop;
      if (chunk.line.length > MAX_LINE_BYTES) throw new Error('chunked body: line too long');
      if (!chunk.line.endsWith('\r\n')) continue;
      const line = chunk.line.slice(0, -2);
      chunk.line = '';
      if (chunk.state === 'data-end') {
        if (line !== '') throw new Error('chunked body: chunk data longer than its size');
        chunk.state = 'size';
      } else if (chunk.state === 'size') {
        const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
        if (!size) throw new Error(`chunked body: malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
        chunk.left = parseInt(size[1] as string, 16);
        chunk.state = chunk.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        if (at < length) throw new Error('the server sent bytes after its chunked body');
        active.announced = active.received;
        this.complete(active);
        return;
      }
    }
  }

  /** Collect head bytes; once the empty line is there, parse the head. Returns where the body starts. */
  private readHead(active: Active, data: Buffer, length: number): number {
    const previous = active.headLength;
    active.headBytes.push(Buffer.from(data.subarray(0, length)));
    active.headLength += length;
    const joined = active.headBytes.length === 1 ? (active.headBytes[0] as Buffer) : Buffer.concat(active.headBytes);
    active.headBytes = [joined];
    const end = joined.indexOf(HEAD_END, Math.max(0, previous - 3));
    if (end < 0) {
      if (active.headLength > MAX_HEAD_BYTES) throw new Error(`response head longer than ${MAX_HEAD_BYTES} bytes`);
      return length;
    }
    active.head = parseHead(joined.toString('latin1', 0, end));
    const declared = active.head.headers.get('content-length');
    const coding = active.head.headers.get('transfer-encoding')?.toLowerCase();
    const bodiless = active.head.status === 204 || active.head.status === 304;
    if (bodiless) active.announced = 0;
    else if (coding !== undefined) {
      if (coding.trim() !== 'chunked') throw new Error(`unsupported Transfer-Encoding ${JSON.stringify(coding)}`);
      active.chunked = { state: 'size', left: 0, line: '' };
      active.announced = -1;
    } else if (declared === undefined) throw new UnframedResponseError(`answer without a Content-Length or chunked coding (HTTP ${active.head.status})`);
    else if (!/^\d+$/.test(declared)) throw new Error(`malformed Content-Length ${JSON.stringify(declared)}`);
    else active.announced = Number(declared);
    const connection = active.head.headers.get('connection')?.toLowerCase() ?? '';
    active.keepAlive = !connection.split(',').some((token) => token.trim() === 'close');
    active.handler.onHead(active.head);
    // The body starts right after the empty line, in this chunk or the next.
    return end + HEAD_END.length - previous;
  }

  private complete(active: Active): void {
    this.active = undefined;
    if (!active.keepAlive) this.destroy();
    active.resolve({ head: active.head as ResponseHead, received: active.received, announced: active.announced });
  }

  private close(reason: Error): void {
    if (!this.closedBy) {
      this.closedBy = reason;
      this.socket.destroy();
    }
    const active = this.active;
    if (!active) return;
    this.active = undefined;
    // Closed in the middle of a body: what arrived stands, the caller sees it is short.
    if (active.head && reason.name !== 'AbortError' && !(reason instanceof UnframedResponseError) && isClosure(reason)) {
      active.resolve({ head: active.head, received: active.received, announced: active.announced });
      return;
    }
    active.reject(reason);
  }
}

/** The connection went away under a request (not a protocol error, an abort or a refusal). */
export function isClosure(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === 'ECONNRESET' || (error as NodeJS.ErrnoException).code === 'EPIPE';
}

/** "HTTP/1.1 206 Partial Content" and its header lines. */
function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!statusLine) throw new Error(`malformed status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
  }
  // HTTP/1.0 closes after each answer unless it says otherwise.
  if (statusLine[1] === '0' && headers.get('connection')?.toLowerCase() !== 'keep-alive') headers.set('connection', 'close');
  return { status: Number(statusLine[2]), headers };
}
