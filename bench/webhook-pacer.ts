/**
 * The open loop's clock: a worker thread that sleeps until the next request is due and then
 * tells the load generator how many requests are due by now.
 *
 * Why a thread: at 2,000 requests/s a request is due every 0.5 ms, finer than Node's timers (1 ms,
 * and often 1–2 ms late), so the generator used to poll with `setImmediate`, which held one of
 * the machine's two cores at 100 % and took it from the server being measured; a 1 ms timer sent
 * each millisecond's requests in one burst. `Atomics.wait` with a timeout is a futex sleep: the
 * thread wakes within tens of microseconds of the due moment and uses no CPU while it waits.
 * Each wake-up is one message to the generator's event loop, which sends every request due by
 * then, each timed from its own due moment (the generator's job, not this clock's).
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';

interface PacerData {
  /** `process.hrtime.bigint()` of the first request's due moment, as decimal text. */
  startNs: string;
  intervalNs: number;
  count: number;
}

/** The clock of one run; request i is due `i * intervalMs` after `startedMs` (performance.now()). */
export interface PacedRun {
  startedMs: number;
  intervalMs: number;
}

export interface Pacer {
  /**
   * Starts the clock for `count` requests at `rate` per second; `onDue(n)` is called (on this
   * thread's event loop) each time the number of requests due so far grows to n.
   */
  start(rate: number, count: number, onDue: (due: number) => void): PacedRun;
  stop(): Promise<void>;
}

/** Above this many ms to wait, sleep in slices, so a stopped generator is not held for long. */
const MAX_SLEEP_MS = 50;

/** Starts the clock's thread; resolves once it runs, so its start-up is not part of a measured run. */
export async function createPacer(): Promise<Pacer> {
  const worker = new Worker(__filename, { workerData: { pacer: true } });
  await new Promise<void>((resolve, reject) => {
    worker.once('online', resolve);
    worker.once('error', reject);
  });
  return {
    start(rate, count, onDue) {
      worker.on('message', (due: number) => onDue(due));
      const intervalNs = 1e9 / rate;
      // Both clocks read at one moment: the worker counts in hrtime, the generator in performance.now().
      const startedMs = performance.now();
      const data: PacerData = { startNs: process.hrtime.bigint().toString(), intervalNs, count };
      worker.postMessage(data);
      return { startedMs, intervalMs: intervalNs / 1e6 };
    },
    stop: async () => { await worker.terminate(); },
  };
}

/** The worker's loop: synchronous, it only sleeps and posts. */
function runPacer(port: NonNullable<typeof parentPort>): void {
  port.once('message', ({ startNs, intervalNs, count }: PacerData) => {
    const start = BigInt(startNs);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    let posted = 0;
    while (posted < count) {
      const elapsedNs = Number(process.hrtime.bigint() - start);
      const due = Math.min(count, Math.floor(elapsedNs / intervalNs) + 1);
      if (due > posted) {
        port.postMessage(due);
        posted = due;
        continue;
      }
      Atomics.wait(sleeper, 0, 0, Math.min(MAX_SLEEP_MS, (posted * intervalNs - elapsedNs) / 1e6));
    }
  });
}

if (parentPort && (workerData as { pacer?: boolean } | undefined)?.pacer) runPacer(parentPort);
