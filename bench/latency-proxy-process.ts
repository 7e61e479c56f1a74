/**
 * The latency proxy in a child process of its own, so that pacing timers never wait behind the
 * harness (or a FUSE server) on one event loop. The parent talks to it over the IPC channel:
 * `start` → `ready`, `stats` → `stats`; the child exits when the channel closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { startLatencyProxy, type LatencyProxy, type LatencyProxyOptions, type ProxyStats } from './latency-proxy';

type ToChild = { type: 'start'; options: LatencyProxyOptions } | { type: 'stats'; reset: boolean };
type FromChild = { type: 'ready'; url: string } | { type: 'stats'; stats: ProxyStats } | { type: 'failed'; message: string };

/** The proxy seen from the parent: same surface as {@link LatencyProxy}, stats asynchronous. */
export interface LatencyProxyProcess {
  url: string;
  pid: number;
  stats(reset?: boolean): Promise<ProxyStats>;
  close(): Promise<void>;
}

function nextMessage(child: ChildProcess, type: FromChild['type'] | 'failed'): Promise<FromChild> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromChild): void => {
      if (message.type !== type && message.type !== 'failed') return;
      cleanup();
      if (message.type === 'failed') reject(new Error(`latency proxy: ${message.message}`));
      else resolve(message);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`latency proxy process exited (code ${code})`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Forks the compiled proxy (this file, as JavaScript) and waits until it listens. */
export async function spawnLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxyProcess> {
  const script = __filename.replace(/\.ts$/, '.js');
  const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const ready = nextMessage(child, 'ready');
  child.send({ type: 'start', options } satisfies ToChild);
  const message = await ready;
  if (message.type !== 'ready') throw new Error('latency proxy: unexpected answer');
  return {
    url: message.url,
    pid: child.pid ?? -1,
    async stats(reset = false) {
      const answer = nextMessage(child, 'stats');
      child.send({ type: 'stats', reset } satisfies ToChild);
      const reply = await answer;
      if (reply.type !== 'stats') throw new Error('latency proxy: unexpected answer');
      return reply.stats;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function serveAsChild(): void {
  let proxy: LatencyProxy | undefined;
  const reply = (message: FromChild): void => {
    process.send?.(message);
  };
  process.on('message', (message: ToChild) => {
    if (message.type === 'start') {
      startLatencyProxy(message.options).then(
        (started) => {
          proxy = started;
          reply({ type: 'ready', url: started.url });
        },
        (error: Error) => reply({ type: 'failed', message: error.message }),
      );
    } else if (message.type === 'stats' && proxy) {
      reply({ type: 'stats', stats: proxy.stats(message.reset) });
    }
  });
  process.on('disconnect', () => {
    void proxy?.close().finally(() => process.exit(0));
    if (!proxy) process.exit(0);
  });
}

if (require.main === module) serveAsChild();
