import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../webhook/config';
import { MemoryCatalog } from '../../webhook/catalog';
import { buildServer, type WebhookServer } from '../../webhook/server';
import { TlsReloader } from '../../webhook/tls-reloader';
import { makeServingCert, makeTestCa, type ServingCert, WEBHOOK_DNS_NAMES, WEBHOOK_SERVER_NAME } from './test-ca';

/**
 * Lays files out as the kubelet does for a Secret volume: the real files in a timestamped
 * directory, `..data` a symlink to it, and `tls.crt`/`tls.key` symlinks through `..data`.
 * An update writes a new directory and renames a fresh symlink over `..data`.
 */
class SecretVolume {
  private generation = 0;
  constructor(readonly dir: string) {}

  async write(files: Record<string, string>): Promise<void> {
    this.generation += 1;
    const data = `..2026_11_29_06_00_0${this.generation}.000000001`;
    await mkdir(join(this.dir, data));
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.dir, data, name), content);
    await symlink(data, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.generation === 1) {
      for (const name of Object.keys(files)) await symlink(join('..data', name), join(this.dir, name));
    }
  }
}

describe('TlsReloader', () => {
  const ca = makeTestCa();
  const first = makeServingCert(ca, WEBHOOK_DNS_NAMES);
  const second = makeServingCert(ca, WEBHOOK_DNS_NAMES);
  const stranger = makeServingCert(ca, WEBHOOK_DNS_NAMES);
  let dir: string;
  let volume: SecretVolume;
  let server: WebhookServer;
  let reloader: TlsReloader;
  let port: number;
  const results: string[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'datamount-tls-'));
    volume = new SecretVolume(dir);
    await volume.write({ 'tls.crt': first.certPem, 'tls.key': first.keyPem });
    reloader = new TlsReloader({
      certPath: join(dir, 'tls.crt'),
      keyPath: join(dir, 'tls.key'),
      apply: (pair) => (server.server as unknown as { setSecureContext(o: object): void }).setSecureContext(pair),
      onReload: (result) => results.push(result),
      debounceMs: 50,
      pollMs: 60_000,
    });
    const pair = await reloader.load();
    const catalog = new MemoryCatalog();
    catalog.markSynced();
    server = buildServer({ config: loadConfig({}), catalog, https: pair });
    await server.listen({ port: 0, host: '127.0.0.1' });
    port = (server.server.address() as AddressInfo).port;
    reloader.start();
    results.length = 0;
  });

  const afterEachCleanups: (() => void)[] = [];
  afterEach(async () => {
    for (const cleanup of afterEachCleanups.splice(0)) cleanup();
    reloader.stop();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  function servedSerial(agent: https.Agent | false = false): Promise<{ serial: string; socket: TLSSocket }> {
    return new Promise((resolve, reject) => {
      let socket: TLSSocket | undefined;
      const req = https.request({ host: '127.0.0.1', port, servername: WEBHOOK_SERVER_NAME, ca: ca.certPem, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (!socket) return reject(new Error('no socket'));
          resolve({ serial: socket.getPeerCertificate().serialNumber.toLowerCase(), socket });
        });
      });
      req.on('socket', (s) => {
        socket = s as TLSSocket;
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function waitForSerial(cert: ServingCert): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if ((await servedSerial()).serial.replace(/^0+/, '') === cert.serial.replace(/^0+/, '')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server never presented certificate ${cert.serial}`);
  }

  describe('when the kubelet swaps the Secret volume\'s ..data symlink', () => {
    it('serves the new certificate on new connections', async () => {
      await waitForSerial(first);
      await volume.write({ 'tls.crt': second.certPem, 'tls.key': second.keyPem });
      await waitForSerial(second);
      expect(results).toContain('ok');
    });

    it('keeps an open keep-alive connection working across the swap', async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      afterEachCleanups.push(() => agent.destroy());
      const before = await servedSerial(agent);
      await volume.write({ 'tls.crt': second.certPem, 'tls.key': second.keyPem });
      await waitForSerial(second);
      const after = await servedSerial(agent);
      expect(after.socket).toBe(before.socket);
      expect(after.serial).toBe(before.serial);
    });
  });

  describe('when the new files do not belong together', () => {
    it('keeps serving the current certificate and reports the failure', async () => {
      await volume.write({ 'tls.crt': second.certPem, 'tls.key': stranger.keyPem });
      expect(await reloader.reloadNow()).toBe(false);
      expect(results).toContain('failed');
      expect((await servedSerial()).serial.replace(/^0+/, '')).toBe(first.serial.replace(/^0+/, ''));
    });
  });
});
