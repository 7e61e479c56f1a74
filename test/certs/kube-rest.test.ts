import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeApiError, KubeRest, inClusterKubeRest } from '../../certs/kube-rest';
import { issueTlsBundle, type TlsBundle } from '../../certs/tls-bundle';

interface Seen {
  method?: string;
  url?: string;
  authorization?: string;
  contentType?: string;
  body?: string;
}

interface FakeApiServer {
  readonly port: number;
  readonly seen: Seen;
  close(): Promise<void>;
}

/** An HTTPS server standing in for the API server: answers every request with `reply` and remembers the last request. */
async function startApiServer(bundle: TlsBundle, reply: { status: number; body: unknown }): Promise<FakeApiServer> {
  const seen: Seen = {};
  const server = https.createServer({ cert: bundle.certPem, key: bundle.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      Object.assign(seen, {
        method: req.method, url: req.url, authorization: req.headers.authorization,
        contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const FORBIDDEN = {
  kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403,
  message: 'secrets "x" is forbidden: User "system:serviceaccount:datamount-system:datamount-certs" cannot get resource',
};

describe('KubeRest', () => {
  let apiCert: TlsBundle;
  let strangerCert: TlsBundle;

  beforeAll(async () => {
    // A Service named `localhost` gives the certificate the SAN `localhost`, which the client dials.
    [apiCert, strangerCert] = await Promise.all([
      issueTlsBundle({ service: { name: 'localhost', namespace: 'default' }, now: new Date() }),
      issueTlsBundle({ service: { name: 'localhost', namespace: 'default' }, now: new Date() }),
    ]);
  });

  describe('when the API server answers 2xx', () => {
    let api: FakeApiServer;
    beforeEach(async () => {
      api = await startApiServer(apiCert, { status: 200, body: { kind: 'MutatingWebhookConfiguration' } });
    });
    afterEach(() => api.close());

    it('sends the bearer token and the JSON-patch body, and returns the parsed answer', async () => {
      const kube = new KubeRest({ baseUrl: `https://localhost:${api.port}`, token: 'sa-token', ca: apiCert.caPem });
      const answer = await kube.jsonPatch('/apis/x/v1/things/a', [{ op: 'add', path: '/a', value: 1 }]);
      expect(answer).toEqual({ kind: 'MutatingWebhookConfiguration' });
      expect(api.seen).toEqual({
        method: 'PATCH', url: '/apis/x/v1/things/a', authorization: 'Bearer sa-token',
        contentType: 'application/json-patch+json', body: '[{"op":"add","path":"/a","value":1}]',
      });
    });

    it('refuses an API server whose certificate another CA signed', async () => {
      const kube = new KubeRest({ baseUrl: `https://localhost:${api.port}`, token: 'sa-token', ca: strangerCert.caPem });
      await expect(kube.get('/api/v1/namespaces')).rejects.toThrow(/unable to verify the first certificate/);
      expect(api.seen.method).toBeUndefined();
    });
  });

  describe('when the API server answers with a Status', () => {
    it('throws a KubeApiError carrying the status code and reason', async () => {
      const api = await startApiServer(apiCert, { status: 403, body: FORBIDDEN });
      try {
        const kube = new KubeRest({ baseUrl: `https://localhost:${api.port}`, ca: apiCert.caPem });
        const error = await kube.create('/api/v1/namespaces/ns/secrets', { kind: 'Secret' }).catch((err: unknown) => err);
        expect(error).toBeInstanceOf(KubeApiError);
        expect(error).toMatchObject({ status: 403, reason: 'Forbidden', method: 'POST', path: '/api/v1/namespaces/ns/secrets' });
        expect((error as Error).message).toBe(`POST /api/v1/namespaces/ns/secrets: 403 Forbidden: ${FORBIDDEN.message}`);
      } finally {
        await api.close();
      }
    });
  });
});

describe('inClusterKubeRest', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'datamount-sa-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  describe('when the pod environment is missing', () => {
    it('says how to run outside a cluster', async () => {
      await expect(inClusterKubeRest({}, dir)).rejects.toThrow(
        'not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (use --server URL)',
      );
    });
  });

  describe('when the ServiceAccount volume is mounted', () => {
    it('uses its token and CA', async () => {
      const bundle = await issueTlsBundle({ service: { name: 'localhost', namespace: 'default' }, now: new Date() });
      await writeFile(path.join(dir, 'token'), 'projected-token\n');
      await writeFile(path.join(dir, 'ca.crt'), bundle.caPem);
      const api = await startApiServer(bundle, { status: 200, body: {} });
      try {
        const kube = await inClusterKubeRest({ host: 'localhost', port: String(api.port) }, dir);
        await kube.get('/version');
        expect(api.seen.authorization).toBe('Bearer projected-token');
      } finally {
        await api.close();
      }
    });
  });
});
