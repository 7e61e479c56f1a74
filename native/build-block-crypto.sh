#!/bin/sh
# Builds native/block-crypto.c (AES-256-GCM between caller-owned buffers, for the disk tier's
# workers; the file says why) into node_modules/.datamount/block_crypto.node, where
# sidecar/block-file-pool.ts looks for it. Without it the workers use node:crypto: the same file
# format, about twice the CPU per block.
#
# Needs what native/build-fuse-native.sh needs: a C compiler, make, python3 (node-gyp) and Node's
# headers (those next to the node binary when present, else node-gyp downloads them). It links
# against Node's own OpenSSL, which the node binary exports.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/.cache/block-crypto-build"
target="$root/node_modules/.datamount"

[ -d "$root/node_modules" ] || { echo "build-block-crypto: $root/node_modules is missing; run npm ci first" >&2; exit 1; }

what=build-block-crypto
. "$root/native/node-gyp-env.sh"

rm -rf "$work"
mkdir -p "$work"
cp "$root/native/block-crypto.c" "$work/"
cat > "$work/binding.gyp" <<'GYP'
{ "targets": [ { "target_name": "block_crypto", "sources": [ "block-crypto.c" ], "cflags": [ "-O2", "-Wall", "-Wextra" ] } ] }
GYP
gyp_rebuild "$work"
mkdir -p "$target"
cp "$work/build/Release/block_crypto.node" "$target/block_crypto.node"
node -e "const m = require(process.argv[1]); if (typeof m.seal !== 'function' || typeof m.open !== 'function') { console.error('build-block-crypto: the module has no seal/open'); process.exit(1); }" "$target/block_crypto.node"
echo "build-block-crypto: $target/block_crypto.node"
