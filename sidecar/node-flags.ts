/**
 * V8 options the sidecar's Node runs with, wherever it is started: the `datamount-sidecar` shim's
 * `#!` line (and so the image's ENTRYPOINT), the pod runner's image stand-in, the benchmark.
 * V8 takes them only on the command line (not in NODE_OPTIONS, not at run time), so each of
 * those places passes this list; test/sidecar/node-flags.test.ts holds them to it.
 *
 * `--initial-old-space-size`: the sidecar's own heap is small (~15 MB live), and V8 sizes the
 * next full collection's trigger from what survived the last one — a few MB further. Every
 * read that waits for the network promotes a little (its promise, its FUSE request's buffer
 * object), so a cold sequential read of 1 GiB ran ~90 full collections, and the collector's
 * threads took about a quarter of the sidecar's CPU (BENCHMARKS.md, "Why datamount falls
 * short"). A floor of 64 MB for the old generation lets garbage accumulate to that before a
 * collection: ~30 per GiB instead, for ~50 MB more heap at most. Dead block buffers no longer
 * wait for those collections: the memory tier's evicted blocks are reused (block-recycler.ts).
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
