# datamount — every task a developer or CI runs. `make demo` and `make test` are the two that matter.
SHELL := /bin/bash
NODE_MODULES := node_modules/.package-lock.json
JEST := node_modules/.bin/jest

.PHONY: all install deps native build lint typecheck test test-unit demo bench certs images deploy undeploy clean

all: build

# System packages the FUSE sidecar needs (libfuse2 for fuse-native, fuse3 for fusermount), a C
# toolchain for building fuse-native's binding and the block crypto module, and OpenSSL's
# headers for the webhook bench's load generator (`native`).
deps:
	@if ! ldconfig -p | grep -q 'libfuse.so.2' || ! command -v fusermount3 >/dev/null || ! [ -f /usr/include/openssl/ssl.h ] \
	    || ! command -v cc >/dev/null || ! command -v make >/dev/null || ! command -v patch >/dev/null || ! command -v python3 >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfuse2 fuse3 build-essential python3 patch libssl-dev; fi

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# fuse-native's binding, built from its source with our patch (native/build-fuse-native.sh says why).
FUSE_NATIVE := node_modules/fuse-native/build/Release/fuse.node
$(FUSE_NATIVE): native/fuse-native.patch native/build-fuse-native.sh native/node-gyp-env.sh $(NODE_MODULES)
	native/build-fuse-native.sh

# AES-256-GCM for the disk tier's workers, between caller-owned buffers (native/block-crypto.c says why).
BLOCK_CRYPTO := node_modules/.datamount/block_crypto.node
$(BLOCK_CRYPTO): native/block-crypto.c native/build-block-crypto.sh native/node-gyp-env.sh $(NODE_MODULES)
	native/build-block-crypto.sh

# The webhook bench's load generator (native/webhook-load.c says why it is in C), and its test's.
WEBHOOK_LOAD := node_modules/.datamount/webhook-load
$(WEBHOOK_LOAD): native/webhook-load.c $(NODE_MODULES)
	@mkdir -p $(dir $@)
	cc -O2 -Wall -Wextra -o $@ native/webhook-load.c -lssl -lcrypto

native: $(FUSE_NATIVE) $(BLOCK_CRYPTO) $(WEBHOOK_LOAD)

install: deps $(NODE_MODULES) $(FUSE_NATIVE) $(BLOCK_CRYPTO) $(WEBHOOK_LOAD)

build: $(NODE_MODULES)
	npx tsc -p tsconfig.build.json

lint: $(NODE_MODULES)
	npx eslint .

typecheck: $(NODE_MODULES)
	npx tsc -p tsconfig.json --noEmit

# Lint, type-check, build (integration tests spawn the compiled binaries), then every jest suite.
# --experimental-vm-modules: jest needs it for the dynamic import() of the ESM-only
# @kubernetes/client-node in webhook/kube-client.ts (test/webhook/catalog-kube.test.ts).
test: install lint typecheck build
	NODE_OPTIONS=--experimental-vm-modules $(JEST) --maxWorkers=2

test-unit: build
	NODE_OPTIONS=--experimental-vm-modules $(JEST) --maxWorkers=2 --testPathIgnorePatterns integration e2e faults

demo: install build
	node dist/demo/main.js

bench: install build
	node dist/bench/main.js

IMAGE_REGISTRY ?= ghcr.io/datamount
IMAGE_TAG ?= 0.1.0

# A CA and serving certificate for running the webhook outside the cluster (files + Secret YAML).
certs: build
	node dist/certs/main.js generate --out .cache/certs --secret-yaml .cache/certs/secret.yaml

images:
	DOCKER_BUILDKIT=1 docker build -f manifests/images/webhook.Dockerfile -t $(IMAGE_REGISTRY)/webhook:$(IMAGE_TAG) .
	DOCKER_BUILDKIT=1 docker build -f manifests/images/sidecar.Dockerfile -t $(IMAGE_REGISTRY)/sidecar:$(IMAGE_TAG) .

deploy:
	kubectl apply -k manifests/
	kubectl -n datamount-system wait --for=condition=complete job/datamount-certs --timeout=180s
	kubectl -n datamount-system rollout status deployment/datamount-webhook --timeout=180s

undeploy:
	kubectl delete mutatingwebhookconfiguration datamount-webhook --ignore-not-found
	kubectl delete -k manifests/ --ignore-not-found

clean:
	rm -rf dist coverage .cache
