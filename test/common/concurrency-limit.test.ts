import { ConcurrencyLimit } from '../../common/concurrency-limit';

/** A call that runs until `finish` is called. */
function gated(): { promise: Promise<void>; finish(): void } {
  let finish!: () => void;
  const promise = new Promise<void>((resolve) => (finish = resolve));
  return { promise, finish };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('ConcurrencyLimit', () => {
  describe('when more calls come than it allows at once', () => {
    it('runs at most max of them, the others first come first served as places free up', async () => {
      const limit = new ConcurrencyLimit(2);
      const gates = Array.from({ length: 5 }, () => gated());
      const started: number[] = [];
      let running = 0;
      let most = 0;
      const calls = gates.map((gate, i) =>
        limit.run(async () => {
          started.push(i);
          running++;
          most = Math.max(most, running);
          await gate.promise;
          running--;
          return i;
        }),
      );
      await nextTurn();
      expect(started).toEqual([0, 1]);
      expect(limit.pending).toBe(5);
      gates[1]?.finish();
      await nextTurn();
      expect(started).toEqual([0, 1, 2]);
      for (const gate of gates) gate.finish();
      expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4]);
      expect(most).toBe(2);
      expect(limit.pending).toBe(0);
    });
  });

  describe('when a call fails', () => {
    it('passes the failure on and frees its place', async () => {
      const limit = new ConcurrencyLimit(1);
      await expect(limit.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      await expect(limit.run(() => Promise.resolve('next'))).resolves.toBe('next');
    });
  });

  describe('when asked to wait until idle', () => {
    it('resolves at once when nothing runs, else after the last call settles', async () => {
      const limit = new ConcurrencyLimit(1);
      await limit.idle();
      const gate = gated();
      const call = limit.run(() => gate.promise);
      let idle = false;
      const waiting = limit.idle().then(() => (idle = true));
      await nextTurn();
      expect(idle).toBe(false);
      gate.finish();
      await call;
      await waiting;
      expect(idle).toBe(true);
    });
  });

  it.each([[0], [1.5], [-1]])('refuses a limit of %p', (max) => {
    expect(() => new ConcurrencyLimit(max)).toThrow(/positive integer/);
  });
});
