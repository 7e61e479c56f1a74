/**
 * A read worker: a child process that performs one {@link ReadJob} against a mounted directory
 * (or, for the ceiling, straight against S3) and prints a {@link ReadOutcome} as JSON. Every
 * byte read is checked against the data set's marks; a mismatch fails the job.
 *
 * Usage: `node dist/bench/read-worker.js '<job JSON>'`. Parallel readers are async file reads
 * from one process, so the harness sets UV_THREADPOOL_SIZE above the reader count.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { benchS3Client } from './bench-s3-client';
import { checkBigRange, checkSmallFile, MiB } from './bench-dataset';
import type { ReadJob, ReadOutcome } from './read-job';
import { seededRandom, shuffled } from '../common/seeded-random';

class WrongBytes extends Error {}

function must(problem: string | undefined): void {
  if (problem) throw new WrongBytes(problem);
}

const seconds = (since: number): number => (performance.now() - since) / 1000;

function randomOffsets(bytes: number, reads: number, readBytes: number, seed: number): number[] {
  const random = seededRandom(seed);
  const slots = Math.floor((bytes - readBytes) / 4096);
  return Array.from({ length: reads }, () => Math.floor(random() * (slots + 1)) * 4096);
}

async function readAt(handle: fs.FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

async function sequential(job: Extract<ReadJob, { kind: 'sequential' }>): Promise<ReadOutcome> {
  const started = performance.now();
  const handle = await fs.open(job.file, 'r');
  const buffer = Buffer.alloc(MiB);
  let offset = 0;
  try {
    for (;;) {
      const got = await readAt(handle, buffer, offset);
      if (got === 0) break;
      must(checkBigRange(buffer.subarray(0, got), offset));
      offset += got;
    }
  } finally {
    await handle.close();
  }
  if (offset !== job.bytes) throw new WrongBytes(`read ${offset} bytes, the object has ${job.bytes}`);
  return { seconds: seconds(started), bytes: offset, files: 1 };
}

async function random(job: Extract<ReadJob, { kind: 'random' }>): Promise<ReadOutcome> {
  const started = performance.now();
  const handle = await fs.open(job.file, 'r');
  const buffer = Buffer.alloc(job.readBytes);
  let total = 0;
  try {
    for (const offset of randomOffsets(job.bytes, job.reads, job.readBytes, job.seed)) {
      const got = await readAt(handle, buffer, offset);
      if (got !== job.readBytes) throw new WrongBytes(`short read at ${offset}: ${got} bytes`);
      must(checkBigRange(buffer, offset));
      total += got;
    }
  } finally {
    await handle.close();
  }
  return { seconds: seconds(started), bytes: total, files: 1 };
}

/** Walks a tree the way a data loader's dataset class does at start: directory by directory. */
async function walk(root: string): Promise<string[]> {
  const files: string[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.shift() as string;
    const entries = await fs.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else files.push(full);
    }
  }
  return files;
}

async function readAll(files: readonly string[], readers: number, check: (body: Buffer, file: string) => void): Promise<number> {
  let next = 0;
  let bytes = 0;
  const reader = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next] as string;
      next += 1;
      const body = await fs.readFile(file);
      check(body, file);
      bytes += body.length;
    }
  };
  await Promise.all(Array.from({ length: readers }, reader));
  return bytes;
}

async function manyFiles(job: Extract<ReadJob, { kind: 'files' }>): Promise<ReadOutcome> {
  const started = performance.now();
  const files = await walk(job.root);
  const listSeconds = seconds(started);
  const check = (body: Buffer, file: string): void => {
    must(checkSmallFile(body, `${job.keyPrefix}${path.relative(job.root, file)}`, job.fileBytes));
  };
  const epochSeconds: number[] = [];
  let bytes = 0;
  for (let epoch = 0; epoch < job.epochs; epoch += 1) {
    const epochStarted = performance.now();
    bytes += await readAll(job.shuffle ? shuffled(files, epoch + 1) : files, job.readers, check);
    epochSeconds.push(seconds(epochStarted));
  }
  return { seconds: seconds(started), bytes, files: files.length * job.epochs, epochSeconds, listSeconds };
}

/** `ls -lR`, the real command: what a user types, with its stat of every entry. */
async function list(job: Extract<ReadJob, { kind: 'list' }>): Promise<ReadOutcome> {
  const started = performance.now();
  const child = spawn('ls', ['-lR', job.root], { stdio: ['ignore', 'pipe', 'inherit'] });
  let entries = 0;
  let tail = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    const lines = (tail + text).split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) if (/^[-d]/.test(line)) entries += 1;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`ls -lR exited with ${code}`);
  return { seconds: seconds(started), bytes: 0, files: 0, entries };
}

async function* listKeys(client: S3Client, bucket: string, prefix: string): AsyncGenerator<{ key: string; size: number }> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const item of page.Contents ?? []) yield { key: item.Key ?? '', size: item.Size ?? 0 };
    token = page.NextContinuationToken;
  } while (token);
}

async function getBody(client: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> {
  const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return Buffer.from(await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function directSequential(job: Extract<ReadJob, { kind: 'direct-sequential' }>): Promise<ReadOutcome> {
  const client = benchS3Client(job.endpoint, job.concurrency);
  const started = performance.now();
  const parts = Math.ceil(job.bytes / job.partBytes);
  let next = 0;
  let bytes = 0;
  const fetcher = async (): Promise<void> => {
    while (next < parts) {
      const part = next;
      next += 1;
      const start = part * job.partBytes;
      const end = Math.min(job.bytes, start + job.partBytes) - 1;
      const body = await getBody(client, job.bucket, job.key, `bytes=${start}-${end}`);
      must(checkBigRange(body, start));
      bytes += body.length;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, fetcher));
  client.destroy();
  return { seconds: seconds(started), bytes, files: 1 };
}

async function directRandom(job: Extract<ReadJob, { kind: 'direct-random' }>): Promise<ReadOutcome> {
  const client = benchS3Client(job.endpoint, 4);
  const started = performance.now();
  let bytes = 0;
  for (const offset of randomOffsets(job.bytes, job.reads, job.readBytes, job.seed)) {
    const body = await getBody(client, job.bucket, job.key, `bytes=${offset}-${offset + job.readBytes - 1}`);
    must(checkBigRange(body, offset));
    bytes += body.length;
  }
  client.destroy();
  return { seconds: seconds(started), bytes, files: 1 };
}

async function directFiles(job: Extract<ReadJob, { kind: 'direct-files' }>): Promise<ReadOutcome> {
  const client = benchS3Client(job.endpoint, job.readers);
  const started = performance.now();
  const keys: string[] = [];
  for await (const item of listKeys(client, job.bucket, job.keyPrefix)) if (!item.key.endsWith('/')) keys.push(item.key);
  const listSeconds = seconds(started);
  let next = 0;
  let bytes = 0;
  const reader = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next] as string;
      next += 1;
      const body = await getBody(client, job.bucket, key);
      must(checkSmallFile(body, key, job.fileBytes));
      bytes += body.length;
    }
  };
  await Promise.all(Array.from({ length: job.readers }, reader));
  client.destroy();
  return { seconds: seconds(started), bytes, files: keys.length, listSeconds };
}

async function directList(job: Extract<ReadJob, { kind: 'direct-list' }>): Promise<ReadOutcome> {
  const client = benchS3Client(job.endpoint, 2);
  const started = performance.now();
  let entries = 0;
  for await (const item of listKeys(client, job.bucket, job.keyPrefix)) if (!item.key.endsWith('/')) entries += 1;
  client.destroy();
  return { seconds: seconds(started), bytes: 0, files: 0, entries };
}

export async function runReadJob(job: ReadJob): Promise<ReadOutcome> {
  switch (job.kind) {
    case 'sequential': return sequential(job);
    case 'random': return random(job);
    case 'files': return manyFiles(job);
    case 'list': return list(job);
    case 'direct-sequential': return directSequential(job);
    case 'direct-random': return directRandom(job);
    case 'direct-files': return directFiles(job);
    case 'direct-list': return directList(job);
  }
}

if (require.main === module) {
  const before = process.cpuUsage();
  runReadJob(JSON.parse(process.argv[2] ?? '{}') as ReadJob).then(
    (outcome) => {
      const used = process.cpuUsage(before);
      process.stdout.write(`${JSON.stringify({ ...outcome, readerCpuSeconds: (used.user + used.system) / 1e6 })}\n`);
    },
    (error: Error) => {
      process.stderr.write(`read worker: ${error instanceof WrongBytes ? 'WRONG BYTES: ' : ''}${error.message}\n`);
      process.exitCode = 1;
    },
  );
}
