/**
 * A real TLS handshake the way the API server makes it to a webhook: a server presenting
 * `tls.crt`/`tls.key`, a client trusting only the caBundle and checking the server name.
 */
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

export interface HandshakeResult {
  readonly authorized: boolean;
  /** The verification error, e.g. `ERR_TLS_CERT_ALTNAME_INVALID`, when not authorized. */
  readonly error?: string;
}

export async function handshake(
  server: { certPem: string; keyPem: string },
  client: { caPem: string; servername: string },
): Promise<HandshakeResult> {
  const listener = tls.createServer({ cert: server.certPem, key: server.keyPem }, (socket) => socket.end());
  listener.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: client.caPem, servername: client.servername }, () => {
        socket.destroy();
        resolve({ authorized: socket.authorized });
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve({ authorized: false, error: err.code ?? err.message }));
    });
  } finally {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  }
}
