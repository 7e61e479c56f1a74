/**
 * A tiny HTTP client for the server tests. fastify's `app.inject` cannot be used under jest
 * here: it loads light-my-request, which requires the ESM-only `cookie@2` — fine for Node's own
 * `require`, a SyntaxError in jest's module loader. So the tests listen on a loopback port
 * and make real requests, which exercises the real HTTP stack as a bonus.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { WebhookServer } from '../../webhook/server';

export interface Reply {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

export async function listenLocally(app: WebhookServer): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

export function send(base: string, method: string, path: string, body?: string, contentType = 'application/json'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const headers: http.OutgoingHttpHeaders = body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) };
    const req = http.request({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: text, json: <T,>() => JSON.parse(text) as T });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * An HTTPS request to a loopback port, verifying the server against `ca` under `servername`, as the
 * API server calls the webhook: on a connection of its own, or on `agent`'s (keep-alive) ones.
 */
export function sendHttps(
  target: { port: number; ca: string; servername: string; agent?: https.Agent }, method: string, path: string, body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: target.port, method, path, servername: target.servername, ca: target.ca, agent: target.agent ?? false,
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
