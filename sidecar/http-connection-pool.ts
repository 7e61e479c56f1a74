/**
 * Keep-alive connections to one server (http-connection.ts), at most `maxSockets` at once: a
 * request takes an idle connection or opens one, or waits for one to come free.
 *
 * A server may close an idle connection at any moment (S3 does after some seconds); a request
 * that finds its reused connection gone before any answer is sent again once on a new
 * connection, as node:http's agents leave to their callers — here, to keep such a close from
 * counting as a failed attempt.
 */
import { HttpConnection, isClosure, type ConnectionTarget, type Exchange, type ResponseHandler } from './http-connection';

export interface ConnectionPoolOptions extends ConnectionTarget {
  readonly maxSockets: number;
}

export class HttpConnectionPool {
  private readonly idle: HttpConnection[] = [];
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
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  private acquire(signal: AbortSignal | undefined, fresh = false): Promise<HttpConnection> {
    while (!fresh && this.idle.length > 0) {
      const connection = this.idle.pop() as HttpConnection;
      if (connection.idle) return Promise.resolve(connection);
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

  private connect(): HttpConnection {
    this.open++;
    return new HttpConnection(this.options);
  }

  /** Back to the idle list, or to the next waiter; a closed connection frees its slot. */
  private release(connection: HttpConnection): void {
    const next = this.waiting.shift();
    if (connection.idle) {
      if (next) next(connection);
      else this.idle.push(connection);
      return;
    }
    connection.destroy();
    this.open--;
    if (next) next(undefined);
  }
}
