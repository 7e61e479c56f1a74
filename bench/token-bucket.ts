/**
 * A token bucket measured in bytes: `bytesPerSecond` tokens flow in continuously, at most
 * `capacity` are kept. Taking more than there are leaves a debt, and the caller waits the time
 * the debt takes to refill. Debt instead of refusal keeps the average rate exact even though
 * timers fire late: lateness shows up as refilled tokens at the next take.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly bytesPerSecond: number,
    readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be > 0, got ${bytesPerSecond}`);
    if (!(capacity > 0)) throw new RangeError(`capacity must be > 0, got ${capacity}`);
    this.tokens = capacity;
    this.last = now();
  }

  /** Takes `bytes` tokens and returns how many milliseconds to wait before sending them. */
  take(bytes: number): number {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.bytesPerSecond) * 1000;
  }
}
