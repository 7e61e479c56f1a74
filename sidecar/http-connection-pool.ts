/**
 * Keep-alive connections to one server (http-connection.ts), at most `maxSockets` at once: a
 * request takes an idle connection or opens one, or waits for one to come free.
 *
 * A server may close an idle connection at any moment (S3 does after some seconds); a request
 * that finds its reused connection gone before any answer is sent again once on a new
 * connection, as node:http's agents leave to their callers — here, to keep such a close from
 * counting as a failed attempt. A connection idle longer than `maxIdleMs` is not reused at all:
 * a middlebox may have dropped it without telling either end, and a request sent on it would
 * wait for its attempt's deadline instead of failing at once.
 */
import { HttpConnection, isClosure, type ConnectionTarget, type Exchange, type ResponseHandler } from './http-connection';

export interface ConnectionPoolOptions extends ConnectionTarget {
  readonly maxSockets: number;
  /** Idle connections older than this are closed, not reused (default 15 s; S3 closes them after ~20 s). */
  readonly maxIdleMs?: number;
  /** Clock (tests). */
  readonly now?: () => number;
}

const DEFAULT_MAX_IDLE_MS = 15_000;

export class HttpConnectionPool {
  /** Idle connections, the most recently used last, with when they became idle. */
  private readonly idle: Array<{ connection: HttpConnection; since: number }> = [];
  private open = 0;
  private readonly waiting: Array<(connection: HttpConnection | undefined) => void> = [];

  constructor(private readonly options: ConnectionPoolOptions) {}

  /** Connections open now (idle or busy; tests). */
  get size(): number {
    return this.open;
  }

  async exchange(requestHead: (() => string) | string, handler: ResponseHandler, signal?: AbortSignal): Promise<Exchange> {
    const head = (): string => (typeof requestHead === 'string' ? requestHead : requestHead());
    const connection = await this.acquire(signal);
    const reused = connection.requests > 0;
    try {
      return await connection.exchange(head(), handler, signal);
    } catch (error) {
      if (!reused || !isClosure(error as Error) || signal?.aborted) throw error;
    } finally {
      this.release(connection);
    }
    const fresh = await this.acquire(signal, true);
    try {
      return await fresh.exchange(head(), handler, signal);
    } finally {
      this.release(fresh);
    }
  }

  /** Close every idle connection (busy ones close when their request ends). */
  close(): void {
    const idle = this.idle.splice(0);
    for (const { connection } of idle) connection.destroy();
    this.open -= idle.length;
  }

  private acquire(signal: AbortSignal | undefined, fresh = false): Promise<HttpConnection> {
    const oldest = this.clock() - (this.options.maxIdleMs ?? DEFAULT_MAX_IDLE_MS);
    while (!fresh && this.idle.length > 0) {
      const { connection, since } = this.idle.pop() as { connection: HttpConnection; since: number };
      if (connection.idle && since >= oldest) return Promise.resolve(connection);
      connection.destroy();
      this.open--;
    }
    if (this.open < this.options.maxSockets) return Promise.resolve(this.connect());
    return new Promise<HttpConnection>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiting.indexOf(take);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(Object.assign(new Error('request aborted while waiting for a connection'), { name: 'AbortError' }));
      };
      const take = (connection: HttpConnection | undefined): void => {
        signal?.removeEventListener('abort', onAbort);
        if (connection && !fresh) {
          resolve(connection);
          return;
        }
        if (connection) {
          connection.destroy();
          this.open--;
        }
        resolve(this.connect());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(take);
    });
  }

  private clock(): number {
    return (this.options.now ?? Date.now)();
  }

  private connect(): HttpConnection {
    this.open++;
    return new HttpConnection(this.options);
  }

  /** Back to the idle list, or to the next waiter; a closed connection frees its slot. */
  private release(connection: HttpConnection): void {
    const next = this.waiting.shift();
    if (connection.idle) {
      if (next) next(connection);
      else this.idle.push({ connection, since: this.clock() });
      return;
    }
    connection.destroy();
    this.open--;
    if (next) next(undefined);
  }
}
