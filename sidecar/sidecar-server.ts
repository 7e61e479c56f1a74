/**
 * The in-pod HTTP endpoints on `DATAMOUNT_SIDECAR_PORT` (docs/contract.md): `/readyz` for the
 * startupProbe (200 once every dataset is mounted, 503 naming the pending ones before),
 * `/healthz` (the process answers), `/metrics` (Prometheus text). Nothing here can reveal a
 * credential: the bodies are dataset names and metrics only.
 */
import * as http from 'node:http';
import type { SidecarMetrics } from './metrics';

export interface ProbeState {
  /** Dataset names not mounted yet (empty = ready). */
  pending(): string[];
  /** Set when mounting failed for good: readiness reports it. */
  failure(): string | undefined;
}

export function createSidecarServer(state: ProbeState, metrics: SidecarMetrics): http.Server {
  return http.createServer((request, response) => {
    const url = (request.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'method not allowed\n');
    switch (url) {
      case '/healthz':
        return send(200, 'ok\n');
      case '/readyz': {
        const failure = state.failure();
        if (failure) return send(503, `failed: ${failure}\n`);
        const pending = state.pending();
        return pending.length === 0 ? send(200, 'ready\n') : send(503, `pending: ${pending.join(', ')}\n`);
      }
      case '/metrics':
        return send(200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
      default:
        return send(404, 'not found\n');
    }
  });
}
