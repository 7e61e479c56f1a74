# syntax=docker/dockerfile:1
# The webhook image: `datamount-webhook` (entrypoint) and `datamount-certs` (run by the
# certificate Job and CronJob with `command: [datamount-certs]`). Build context: the repo root.
#   docker build -f manifests/images/webhook.Dockerfile -t ghcr.io/datamount/webhook:0.1.0 .
# Bookworm pinned: the sidecar needs Debian's libfuse2, which later releases renamed.
ARG NODE_IMAGE=node:20-bookworm-slim

# Production dependencies only. --ignore-scripts: nothing here is compiled at install time;
# fuse-native ships a linux-x64 prebuild that is loaded at run time (only by the sidecar).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# TypeScript → dist/ with the dev dependencies (tsc), which stay in this stage.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# The whole tree (minus the .dockerignore list), so the build sees what `make build` sees.
COPY . .
RUN npx tsc -p tsconfig.build.json

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json ./
COPY bin bin
RUN ln -s /app/bin/datamount-webhook /usr/local/bin/datamount-webhook \
 && ln -s /app/bin/datamount-certs /usr/local/bin/datamount-certs
# A numeric non-root user, so the kubelet can check runAsNonRoot without a passwd lookup;
# it matches runAsUser in manifests/base/webhook-deployment.yaml and manifests/base/certs-jobs.yaml.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["datamount-webhook"]
