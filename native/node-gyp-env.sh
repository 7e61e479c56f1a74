# Sourced by native/build-*.sh: `gyp_rebuild DIR` builds the binding.gyp in DIR with npm's own
# node-gyp, against Node's headers next to the node binary when they are there (else node-gyp
# downloads them). `what` names the calling script in errors.
gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || { echo "$what: npm's node-gyp not found at $gyp" >&2; exit 1; }

headers="$(dirname "$(dirname "$(command -v node)")")"
nodedir=""
[ -f "$headers/include/node/node_api.h" ] && nodedir="--nodedir=$headers"

gyp_rebuild() {
  (cd "$1" && node "$gyp" rebuild --loglevel=warn $nodedir >/dev/null)
}
