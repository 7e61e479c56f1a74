/**
 * Keeps the HTTPS server's certificate current without a restart: when the PEM files change,
 * the new pair is read, checked (a key that does not match the certificate is refused and the
 * old pair kept) and swapped in with `server.setSecureContext`, which affects new TLS
 * handshakes only — open connections keep going.
 *
 * The kubelet updates a Secret volume atomically: it writes a new timestamped directory and
 * renames the `..data` symlink over the old one, so the files themselves are never written in
 * place and a watch on the files would miss the change. The reloader therefore watches the
 * *directories*, debounces the burst of events one update makes (and the moment in between
 * where only one of the two files may be new), and also re-reads on a slow timer in case a
 * file-system event is lost (fs.watch makes no delivery promise on every file system).
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { describeError } from './errors';

export interface TlsPair {
  key: Buffer;
  cert: Buffer;
}

export interface TlsReloaderOptions {
  certPath: string;
  keyPath: string;
  /** Install a new pair, e.g. `(pair) => server.setSecureContext(pair)`. */
  apply: (pair: TlsPair) => void;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;
  onReload?: (result: 'ok' | 'failed') => void;
  /** Wait this long after the last event before reading (one kubelet update is several events). */
  debounceMs?: number;
  /** Re-read this often regardless of events. */
  pollMs?: number;
}

/** Read and check a pair; throws with the reason when the files do not make a usable context. */
export async function readTlsPair(certPath: string, keyPath: string): Promise<TlsPair> {
  // Both read before either failure is reported, so the message names every unreadable file
  // (and always the same one first), not whichever read happened to fail first.
  const [certRead, keyRead] = await Promise.allSettled([readFile(certPath), readFile(keyPath)]);
  const failures = [certRead, keyRead].flatMap((read) => (read.status === 'rejected' ? [describeError(read.reason)] : []));
  if (certRead.status === 'rejected' || keyRead.status === 'rejected') throw new Error(failures.join('; '));
  const cert = certRead.value;
  const key = keyRead.value;
  // Throws when the PEM is malformed or the key does not belong to the certificate.
  createSecureContext({ cert, key });
  return { cert, key };
}

export class TlsReloader {
  private readonly watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private current: TlsPair | undefined;
  private reloading: Promise<boolean> | undefined;

  constructor(private readonly options: TlsReloaderOptions) {}

  /** Read the initial pair (throws if it is unusable: the server cannot start without it). */
  async load(): Promise<TlsPair> {
    this.current = await readTlsPair(this.options.certPath, this.options.keyPath);
    return this.current;
  }

  start(): void {
    for (const dir of new Set([dirname(this.options.certPath), dirname(this.options.keyPath)])) {
      try {
        const watcher = watch(dir, () => this.schedule());
        watcher.on('error', (err) => this.options.log?.('warn', 'certificate directory watch failed; relying on polling', { dir, err: describeError(err) }));
        watcher.unref();
        this.watchers.push(watcher);
      } catch (err) {
        this.options.log?.('warn', 'cannot watch the certificate directory; relying on polling', { dir, err: describeError(err) });
      }
    }
    this.poll = setInterval(() => void this.reloadNow(), this.options.pollMs ?? 60_000);
    this.poll.unref();
  }

  stop(): void {
    for (const watcher of this.watchers.splice(0)) watcher.close();
    if (this.debounce) clearTimeout(this.debounce);
    if (this.poll) clearInterval(this.poll);
    this.debounce = undefined;
    this.poll = undefined;
  }

  /** Re-read now; resolves true when a new pair was installed. */
  reloadNow(): Promise<boolean> {
    this.reloading ??= this.reload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reloadNow(), this.options.debounceMs ?? 200);
    this.debounce.unref();
  }

  private async reload(): Promise<boolean> {
    let pair: TlsPair;
    try {
      pair = await readTlsPair(this.options.certPath, this.options.keyPath);
    } catch (err) {
      // Mid-update or a broken Secret: keep serving the pair we have.
      this.options.log?.('warn', 'new TLS files are not usable yet; keeping the current certificate', { err: describeError(err) });
      this.options.onReload?.('failed');
      return false;
    }
    if (this.current && pair.cert.equals(this.current.cert) && pair.key.equals(this.current.key)) return false;
    try {
      this.options.apply(pair);
    } catch (err) {
      this.options.log?.('error', 'installing the new TLS certificate failed; keeping the current one', { err: describeError(err) });
      this.options.onReload?.('failed');
      return false;
    }
    this.current = pair;
    this.options.log?.('info', 'TLS certificate reloaded', { cert: this.options.certPath });
    this.options.onReload?.('ok');
    return true;
  }
}
