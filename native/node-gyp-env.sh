# Sourced by native/build-*.sh: sets `gyp` (npm's own node-gyp) and `nodedir` (the node-gyp
# option that points at Node's headers next to the node binary, when they are there; else empty,
# and node-gyp downloads them). `what` names the calling script in errors.
gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || { echo "$what: npm's node-gyp not found at $gyp" >&2; exit 1; }

headers="$(dirname "$(dirname "$(command -v node)")")"
nodedir=""
[ -f "$headers/include/node/node_api.h" ] && nodedir="--nodedir=$headers"
