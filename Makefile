# agentops. Every build and test uses -tags sqlite_fts5: without it SQLite
# has no FTS5 and the server refuses to start.
GO        ?= go
TAGS      := sqlite_fts5
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/agentops

.PHONY: build run test test-short lint bench clean deps

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
