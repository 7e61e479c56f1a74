/**
 * One line of progress that rewrites itself on a terminal (`\r`), and prints at most one line
 * every few seconds when the output is a file or a pipe (CI logs stay short).
 */
export class ProgressLine {
  /** Starts now: the first line waits one interval, so quick steps print only their result. */
  private lastPrint = Date.now();
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout, private readonly pipeIntervalMs = 3000) {}

  update(text: string): void {
    const now = Date.now();
    if (this.out.isTTY) {
      if (now - this.lastPrint < 100) return;
      this.out.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else {
      if (now - this.lastPrint < this.pipeIntervalMs) return;
      this.out.write(`${text}\n`);
    }
    this.lastPrint = now;
  }

  /** Replaces the progress line with a final one. */
  done(text: string): void {
    if (this.out.isTTY && this.shown) this.out.write('\r\x1b[2K');
    this.out.write(`${text}\n`);
    this.shown = false;
    this.lastPrint = Date.now();
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
}

export function rate(bytes: number, seconds: number): string {
  return seconds > 0 ? `${(bytes / 1e6 / seconds).toFixed(0)} MB/s` : '-';
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}
