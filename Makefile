# agentops. Every build and test uses -tags sqlite_fts5: without it SQLite
# has no FTS5 and the server refuses to start.
GO        ?= go
TAGS      := sqlite_fts5
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/agentops

.PHONY: build run test test-short lint bench clean deps package package-test dev dev-logs dev-down dev-reset dev-migrate dev-seed dev-test

build:
	$(GO) build -tags $(TAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

run: build
	./$(BIN) serve

deps:
	@./scripts/ensure-deps.sh

# One throwaway Postgres for the whole run (internal/testutil/testenv), shared by
# every package that needs it; both dialects are always tested, and the
# race detector is on (most packages have concurrency).
test: deps
	$(GO) vet -tags $(TAGS) ./...
	$(GO) run -tags $(TAGS) ./internal/testutil/testenv -- \
		$(GO) test -tags $(TAGS) -race -count=1 -timeout 30m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet -tags $(TAGS) ./...

bench: deps
	$(GO) run -tags $(TAGS) ./internal/testutil/testenv -- \
		$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin

# Release artifacts in dist/: linux tarballs (amd64; arm64 with Debian's
# cross compiler), .deb and .rpm (nfpm, pinned in packaging/tools), and
# SHA256SUMS. docs/deploy.md says more.
package:
	./scripts/package.sh

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
