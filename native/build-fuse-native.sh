#!/bin/sh
# Builds fuse-native's binding from the npm package's own source with
# native/fuse-native.patch applied, and puts it where fuse-native loads it first
# (node_modules/fuse-native/build/Release/fuse.node, ahead of the bundled prebuild).
#
# Why (docs/sidecar.md, "Our build of fuse-native"):
# - fuse-native gives every new libfuse worker thread an event-loop handle it never frees, and
#   libfuse 2 keeps starting and ending threads under load, so the sidecar's event loop grew
#   slower with every burst of reads. The patch runs a fixed pool of FUSE threads per mount that
#   hand requests to the event loop through one queue, in arrival order.
# - libfuse 2 predates FUSE_MAX_PAGES, so the kernel split every read into 128 KiB requests; the
#   patch adds it to the INIT reply (1 MiB requests) and keeps malloc to a few arenas.
#
# Needs a C compiler, make and python3 (node-gyp), and Node's headers: those next to the node
# binary when present (Debian's and the official images ship them), else node-gyp downloads them.
# The libfuse headers and library come with the fuse-shared-library package, as for the prebuild.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
package="$root/node_modules/fuse-native"
work="$root/.cache/fuse-native-build"

[ -f "$package/fuse-native.c" ] || { echo "build-fuse-native: $package is missing; run npm ci first" >&2; exit 1; }

what=build-fuse-native
. "$root/native/node-gyp-env.sh"

rm -rf "$work"
mkdir -p "$work"
cp "$package/fuse-native.c" "$package/binding.gyp" "$work/"
patch --quiet -p1 -d "$work" < "$root/native/fuse-native.patch"
# binding.gyp finds napi-macros and fuse-shared-library with require(), from the build folder.
ln -s "$root/node_modules" "$work/node_modules"
gyp_rebuild "$work"
mkdir -p "$package/build/Release"
cp "$work/build/Release/fuse.node" "$package/build/Release/fuse.node"
node -e "if (require('node-gyp-build')(process.argv[1]).datamount_reuses_thread_state !== 1) { console.error('build-fuse-native: fuse-native still loads a binding without the patch'); process.exit(1); }" "$package"
echo "build-fuse-native: $package/build/Release/fuse.node (patched: native/fuse-native.patch)"
