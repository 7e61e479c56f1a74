# syntax=docker/dockerfile:1
# The sidecar image: `datamount-sidecar run` (injected into pods by the webhook),
# `datamount-sidecar report` (the node reporter DaemonSet) and `datamount-sidecar mount`.
# Build context: the repo root.
#   docker build -f manifests/images/sidecar.Dockerfile -t ghcr.io/datamount/sidecar:0.1.0 .
# Bookworm pinned: Debian's `libfuse2` (which fuse-native loads as libfuse.so.2) was renamed
# libfuse2t64 in later releases.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
# A C toolchain for fuse-native's binding, built from its source with our patch (the prebuild
# leaks an event-loop handle per FUSE thread; native/build-fuse-native.sh), and for the disk
# tier's AES-GCM module (native/block-crypto.c). The official Node images ship Node's headers,
# so node-gyp downloads nothing.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ make python3 patch \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY native native
RUN native/build-fuse-native.sh && native/build-block-crypto.sh && rm -rf .cache native

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# The whole tree (minus the .dockerignore list), so the build sees what `make build` sees.
COPY . .
RUN npx tsc -p tsconfig.build.json

FROM ${NODE_IMAGE}
# libfuse2: the library fuse-native binds to; fuse3: fusermount, for unmounting.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libfuse2 fuse3 \
 && rm -rf /var/lib/apt/lists/*
# glibc keeps freed 1 MiB buffers in per-thread arenas; with the libuv pool's threads that held
# ~0.5 GiB beyond the block cache in a 1 GiB warm scan, so two arenas only. Allocations up to
# 2 MiB stay in them, though: libfuse mallocs a 1 MiB buffer for every read request, and as a
# fresh mapping each (a 256 KiB threshold) its page faults cost a cold read ~10 % of its speed
# (docs/sidecar.md, "Memory beyond the caches").
ENV NODE_ENV=production MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=2097152
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json ./
COPY bin bin
RUN ln -s /app/bin/datamount-sidecar /usr/local/bin/datamount-sidecar \
 && node -e "process.exit(require('./dist/sidecar/fuse-mount-point.js').reusesThreadState ? 0 : 1)"
# Root on purpose: the in-pod sidecar mounts FUSE with Bidirectional propagation, which needs a
# privileged container; the reporter runs as root without capabilities (see the DaemonSet).
ENTRYPOINT ["datamount-sidecar"]
