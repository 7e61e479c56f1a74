import { execFileSync } from 'node:child_process';
import { attributeTail, monotonicMs, ServedLog, type SentRequests, type ServedRequests } from '../../bench/webhook-tail';

/** One request as both sides saw it: connection, its index there, due/sent/done (generator) and start/end (server). */
interface Seen {
  port: number;
  index: number;
  due: number;
  sent: number;
  start: number;
  end: number;
  done: number;
  /** The replica that answered (0 when left out). */
  server?: number;
}

function views(requests: Seen[]): { sent: SentRequests; served: ServedRequests } {
  return {
    sent: {
      ports: requests.map((r) => r.port), indexes: requests.map((r) => r.index), dueMs: requests.map((r) => r.due),
      sentMs: requests.map((r) => r.sent), doneMs: requests.map((r) => r.done),
    },
    served: {
      ports: requests.map((r) => r.port), indexes: requests.map((r) => r.index), endMs: requests.map((r) => r.end),
      insideMs: requests.map((r) => r.end - r.start), servers: requests.map((r) => r.server ?? 0),
    },
  };
}

/** `count` requests every `interval` ms, alternating two connections, each answered 0.1 ms after it was sent in 0.2 ms. */
function steady(count: number, interval = 1): Seen[] {
  return Array.from({ length: count }, (_, i) => {
    const due = i * interval;
    return { port: 1000 + (i % 2), index: Math.floor(i / 2), due, sent: due + 0.05, start: due + 0.1, end: due + 0.3, done: due + 0.35 };
  });
}

/** `request` taken up by the server at `start`, inside it for `insideMs`, its answer back 0.05 ms after. */
function takenUp(request: Seen, start: number, insideMs = 0.2): Seen {
  request.start = start;
  request.end = start + insideMs;
  request.done = request.end + 0.05;
  return request;
}

describe('attributeTail', () => {
  describe('when one request of a hundred waited for the server, busy with the one before', () => {
    const requests = steady(100);
    // Request 49 held the server for 5 ms; request 50 was sent on time and taken up after it.
    const held = requests[49] as Seen;
    takenUp(held, held.start, 5);
    takenUp(requests[50] as Seen, held.end);
    const report = attributeTail([views(requests)], 0.02);

    it('finds both in the slowest 2 %, the one behind sent while the server was busy', () => {
      expect(report.matched).toBe(100);
      expect(report.slowest).toBe(2);
      expect(report.sentWhileBusy).toBeCloseTo(0.5);
    });

    it('names the largest part of each: inside the server for the one, before the server for the other', () => {
      expect(report.largestPart['inside the server']).toBeCloseTo(0.5);
      expect(report.largestPart['before the server']).toBeCloseTo(0.5);
      expect(report.largestPart['send lag']).toBe(0);
    });

    it('gives the time inside the server over every request', () => {
      expect(report.insideP50Ms).toBeCloseTo(0.2);
      expect(report.insideP99Ms).toBeCloseTo(0.2);
    });
  });

  describe('when the generator sent a request late', () => {
    const requests = steady(100);
    const late = requests[10] as Seen;
    late.sent = late.due + 4;
    takenUp(late, late.sent + 0.05);

    it('blames the send lag, with the server idle when it was sent', () => {
      const report = attributeTail([views(requests)], 0.01);
      expect(report.largestPart['send lag']).toBe(1);
      expect(report.sentWhileBusy).toBe(0);
    });
  });

  describe('when the server is two replicas', () => {
    // Request 49 held replica 1 for 5 ms. Request 50 went to replica 0 (its connection's), sent
    // while replica 1 was busy, and waited 1.5 ms for something else; request 51, on replica 1's
    // connection, waited for 49.
    const requests = steady(100).map((r) => ({ ...r, server: r.port - 1000 }));
    const held = requests[49] as Seen;
    takenUp(held, held.start, 5);
    const other = requests[50] as Seen;
    takenUp(other, other.sent + 1.5);
    takenUp(requests[51] as Seen, held.end);
    const report = attributeTail([views(requests)], 0.03);

    it('counts a request as sent while busy only when its own replica was busy', () => {
      expect(report.slowest).toBe(3);
      // 51 (its replica held by 49), not 50: replica 0 was idle when 50 was sent, however long 50 then waited.
      expect(report.sentWhileBusy).toBeCloseTo(1 / 3);
    });
  });

  describe('when the server answered requests the generator does not report (its warm-up)', () => {
    it('matches by connection and index and leaves the others out', () => {
      const requests = steady(20);
      const { sent, served } = views(requests);
      const warmUp = views([{ port: 1000, index: 99, due: -10, sent: -10, start: -9, end: -8, done: -8 }]).served;
      const report = attributeTail([{ sent, served: { ports: [...warmUp.ports, ...served.ports], indexes: [...warmUp.indexes, ...served.indexes], endMs: [...warmUp.endMs, ...served.endMs], insideMs: [...warmUp.insideMs, ...served.insideMs], servers: [...warmUp.servers, ...served.servers] } }]);
      expect(report.matched).toBe(20);
    });
  });

  describe('when a later round uses the same ports again', () => {
    it('matches each round on its own', () => {
      const first = steady(10);
      const second = steady(10).map((r) => ({ ...r, due: r.due + 100, sent: r.sent + 100, start: r.start + 100, end: r.end + 100, done: r.done + 100 }));
      const report = attributeTail([views(first), views(second)]);
      expect(report.matched).toBe(20);
      expect(report.insideP99Ms).toBeCloseTo(0.2);
    });
  });

  describe('when nothing matches', () => {
    it('reports no requests rather than failing', () => {
      const report = attributeTail([]);
      expect(report).toMatchObject({ matched: 0, slowest: 0, sentWhileBusy: 0 });
      expect(report.insideP99Ms).toBeNaN();
    });
  });
});

describe('ServedLog', () => {
  it('numbers answers per connection from the first, and goes on numbering after clear()', () => {
    const log = new ServedLog(1);
    log.record(1000, 0.2);
    log.record(1001, 0.3);
    log.record(1000, 0.4);
    expect(log.snapshot()).toMatchObject({ ports: [1000, 1001, 1000], indexes: [0, 0, 1], insideMs: [0.2, 0.3, 0.4], servers: [1, 1, 1] });
    log.clear();
    log.record(1000, 0.5);
    expect(log.snapshot()).toMatchObject({ ports: [1000], indexes: [2], insideMs: [0.5] });
  });
});

describe('monotonicMs', () => {
  it('reads a clock that another process reads alike (the generator and the server compare times)', () => {
    const before = monotonicMs();
    const child = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(Number(process.hrtime.bigint()) / 1e6))'], { encoding: 'utf8' }));
    const after = monotonicMs();
    expect(child).toBeGreaterThanOrEqual(before);
    expect(child).toBeLessThanOrEqual(after);
  });
});
