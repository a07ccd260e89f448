# agentops. Every build and test uses -tags sqlite_fts5: without it SQLite
# has no FTS5 and the server refuses to start.
GO        ?= go
TAGS      := sqlite_fts5
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/agentops

.PHONY: bench-compare build run test test-go test-short readme-test lint bench clean deps web web-check web-e2e web-screenshots web-bench package package-test image packaging-check dev dev-logs dev-down dev-reset dev-migrate dev-seed dev-test

build:
	$(GO) build -tags $(TAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

run: build
	./$(BIN) serve

deps:
	@./scripts/ensure-deps.sh

# One throwaway Postgres for the whole run (internal/testutil/testenv), shared by
# every package that needs it; both dialects are always tested, and the
# race detector is on (most packages have concurrency).
test: test-go web-e2e

test-go: deps
	$(GO) vet -tags $(TAGS) ./...
	$(GO) run -tags $(TAGS) ./internal/testutil/testenv -- \
		$(GO) test -tags $(TAGS) -race -count=1 -timeout 30m ./...
	./scripts/readme-test.sh

# The README's shell blocks, run in order against a fresh server.
readme-test: deps
	./scripts/readme-test.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet -tags $(TAGS) ./...

bench: deps
	$(GO) run -tags $(TAGS) ./internal/testutil/testenv -- \
		$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...

# agentops side by side with PocketBase (REST writes and reads, idle RSS)
# and Centrifugo (WebSocket fan-out), built once into a cache outside the
# clone; prints markdown tables with the ratios. BENCH_ARGS passes flags
# (e.g. BENCH_ARGS='-scenarios fanout -rounds 5').
bench-compare: build
	@peers=$$(./scripts/bench-peers.sh) && \
	$(GO) run -tags $(TAGS) ./internal/bench/compare -agentops $(BIN) \
		-pocketbase $$peers/pocketbase-0.36.8 -centrifugo $$peers/centrifugo-6.9.1 $(BENCH_ARGS)

# The web client (web/): built by Vite and committed in web/dist, which the
# binary embeds, so Go alone builds a working UI. npm's cache stays outside
# the clone.
NPM_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/agentops/npm
NPM       := npm --prefix web --cache $(NPM_CACHE) --no-audit --no-fund

web:
	@./scripts/ensure-deps.sh web
	$(NPM) ci
	$(NPM) run build

# CI: a clean install and build must reproduce the committed tree exactly.
web-check: web
	@git add -N web/dist && git diff --exit-code --stat -- web/dist || \
		(echo "web/dist differs from a clean build: run make web and commit web/dist"; exit 1)

# End-to-end tests in Debian's Chromium against a real agentops serve.
web-e2e: build
	@./scripts/ensure-deps.sh web
	@test -d web/node_modules || $(NPM) ci
	$(NPM) test
	AGENTOPS_BIN=$(CURDIR)/$(BIN) $(NPM) run e2e

web-screenshots: build
	AGENTOPS_BIN=$(CURDIR)/$(BIN) node web/e2e/screenshots.mjs

# The figures in docs/benchmarks.md (transcript load, JS heap after streaming).
web-bench: build
	AGENTOPS_BIN=$(CURDIR)/$(BIN) node web/e2e/bench.mjs

clean:
	rm -rf bin

# Release artifacts in dist/: linux tarballs (amd64; arm64 with Debian's
# cross compiler), .deb and .rpm (nfpm, pinned in packaging/tools), and
# SHA256SUMS. docs/deploy.md says more.
package:
	./scripts/package.sh

# The container image from the binary built here, on a Debian base made
# with mmdebstrap (no registry needed), then checked (scripts/image.sh;
# root, podman, mmdebstrap). docs/deploy.md, "Container image".
image:
	./scripts/image.sh

# compose.yml (compose-go) and the Helm chart (helm lint and template, the
# manifests decoded strictly into k8s.io/api types): packaging/check, a Go
# module of its own.
packaging-check:
	cd packaging/check && $(GO) vet . && $(GO) run . -root ../..

# CI only: installs the .deb on this machine, checks it, removes and purges it.
package-test:
	./scripts/package-test.sh

# The full local stack: agentops on a local Postgres and Redis (Debian's
# binaries), state in .dev/. `make dev` returns once it is ready.
dev: build
	./scripts/dev.sh up
dev-logs:
	./scripts/dev.sh logs
dev-down:
	./scripts/dev.sh down
dev-reset:
	./scripts/dev.sh reset
dev-migrate: build
	./scripts/dev.sh migrate
dev-seed:
	./scripts/dev.sh seed

# make dev, dev-seed, dev-down on a free port, then dev-reset.
dev-test: build
	./scripts/dev-test.sh
