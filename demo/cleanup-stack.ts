/**
 * Things to undo, newest first, run exactly once — at the end, on an error, or on Ctrl-C /
 * SIGTERM. Each step is awaited; one failing step does not skip the others.
 */
export class CleanupStack {
  private readonly steps: Array<{ what: string; run: () => Promise<void> }> = [];
  private running?: Promise<string[]>;

  push(what: string, run: () => Promise<void>): void {
    this.steps.push({ what, run });
  }

  /** Runs every step; resolves with the failures (`what: message`). */
  runAll(): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (err) {
          failures.push(`${step.what}: ${(err as Error).message}`);
        }
      }
      return failures;
    })();
    return this.running;
  }
}
