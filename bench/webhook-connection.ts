/**
 * One keep-alive HTTPS connection of the webhook bench's load generator: it sends one fixed
 * HTTP/1.1 request at a time and reads the answer, the way the API server calls a webhook (TLS
 * verified against the CA, server name set, the connection reused).
 *
 * Like the API server's webhook client (k8s.io/apiserver/pkg/util/webhook, client.go): HTTP/1.1
 * only — it sets `NextProtos = ["http/1.1"]` so that concurrent reviews open several connections
 * and spread over the webhook's replicas (kubernetes#75791; fixed that way in 1.16) — so this
 * offers ALPN `http/1.1` and never HTTP/2; the request carries the headers Go's client sends
 * (User-Agent, Accept, Accept-Encoding, Content-Type, Content-Length). (Go offers AES-128-GCM
 * first among the TLS 1.3 suites; a Node server still settles on AES-256-GCM, measured, so the
 * generator's own OpenSSL order gets the same suite and is left as it is.)
 *
 * Written on `tls.connect` rather than `https.request` for the generator's own cost: Node's HTTP
 * client spent ~250 µs of CPU per request here (request and response objects, header
 * validation, the agent), as much as the server it was measuring; on a 2-core machine that took
 * a core from the server (docs/webhook.md, "Performance"). Here the request's bytes are built
 * once and each answer is parsed only as far as its status and Content-Length.
 */
import tls from 'node:tls';

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n/i;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3}) /;

export interface ConnectionTarget {
  port: number;
  path: string;
  body: string;
  caPem: string;
  serverName: string;
}

/** The request's bytes, built once: a POST of `body` as JSON to `path`, with the API server's headers. */
export function requestBytes(target: ConnectionTarget): Buffer {
  const body = Buffer.from(target.body);
  const head = `POST ${target.path} HTTP/1.1\r\nHost: ${target.serverName}:${target.port}\r\n`
    + 'User-Agent: kube-apiserver-admission\r\nContent-Length: ' + body.length + '\r\n'
    + 'Accept: application/json, */*\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n';
  return Buffer.concat([Buffer.from(head), body]);
}

/** Why a request failed, for the generator's error count (a bench run with errors is not a result). */
export type Outcome = 'ok' | `status ${number}` | 'connection lost' | 'malformed response';

export class ReviewConnection {
  private socket: tls.TLSSocket | undefined;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes of the answer being read (head and body), once its head is complete. */
  private expected = -1;
  private status = 0;
  private waiting: ((outcome: Outcome) => void) | undefined;
  /** Requests this connection has sent so far (the n-th request on a connection is the server's n-th answer on it). */
  sentCount = 0;

  constructor(private readonly target: ConnectionTarget, private readonly request: Buffer) {}

  /** Sends the request and resolves with how its answer came back; never rejects. */
  send(): Promise<Outcome> {
    if (this.waiting) throw new Error('ReviewConnection.send: a request is already in flight');
    this.sentCount += 1;
    return new Promise((resolve) => {
      this.waiting = resolve;
      (this.socket ?? this.connect()).write(this.request);
    });
  }

  /** The local port of the open socket (0 before the first request): the server sees it as the remote port. */
  get localPort(): number {
    return this.socket?.localPort ?? 0;
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }

  private connect(): tls.TLSSocket {
    const socket = tls.connect({
      host: '127.0.0.1', port: this.target.port, ca: this.target.caPem, servername: this.target.serverName,
      ALPNProtocols: ['http/1.1'],
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    const lost = (): void => {
      // A socket this connection already let go of (close()) has nothing in flight.
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.finish('connection lost');
    };
    socket.on('error', lost);
    socket.on('close', lost);
    this.socket = socket;
    return socket;
  }

  private read(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.expected < 0) {
      const data = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
      const end = data.indexOf(HEADER_END);
      if (end < 0) return;
      const head = data.toString('latin1', 0, end + 2);
      const status = STATUS_LINE.exec(head);
      const length = CONTENT_LENGTH.exec(head);
      if (!status || !length) {
        this.finish('malformed response');
        this.close();
        return;
      }
      this.status = Number(status[1]);
      this.expected = end + HEADER_END.length + Number(length[1]);
    }
    if (this.buffered < this.expected) return;
    // One request at a time on a connection, so an answer never runs into the next one.
    const malformed = this.buffered > this.expected;
    this.finish(malformed ? 'malformed response' : this.status === 200 ? 'ok' : `status ${this.status}`);
    if (malformed) this.close();
  }

  private finish(outcome: Outcome): void {
    this.chunks = [];
    this.buffered = 0;
    this.expected = -1;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(outcome);
  }
}
