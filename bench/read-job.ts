/**
 * What a read worker is asked to do and what it answers: the contract between the harness and
 * the child processes that read a mount (a process must never read the FUSE mount it serves,
 * and the harness's own timers must not slow the reader down).
 */
export type ReadJob =
  | { kind: 'sequential'; file: string; bytes: number }
  | { kind: 'random'; file: string; bytes: number; reads: number; readBytes: number; seed: number }
  | { kind: 'files'; root: string; keyPrefix: string; fileBytes: number; readers: number; epochs: number; shuffle: boolean }
  | { kind: 'list'; root: string }
  | { kind: 'direct-sequential'; endpoint: string; bucket: string; key: string; bytes: number; partBytes: number; concurrency: number }
  | { kind: 'direct-random'; endpoint: string; bucket: string; key: string; bytes: number; reads: number; readBytes: number; seed: number }
  | { kind: 'direct-files'; endpoint: string; bucket: string; keyPrefix: string; fileBytes: number; readers: number }
  | { kind: 'direct-list'; endpoint: string; bucket: string; keyPrefix: string };

export interface ReadOutcome {
  /** Wall time of the whole job (all epochs, listing included). */
  seconds: number;
  bytes: number;
  files: number;
  /** Per-epoch seconds for multi-epoch jobs. */
  epochSeconds?: number[];
  /** Time spent walking/listing before reading, part of `seconds`. */
  listSeconds?: number;
  /** Directory entries seen by a listing job. */
  entries?: number;
  /** CPU the reader process itself used for the job (user + system), in seconds. */
  readerCpuSeconds?: number;
}
