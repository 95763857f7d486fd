# logpipe build, test and run targets. `make help` lists them.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build test lint fmt vet e2e bench run clean help

all: lint test build

build: ## build bin/logpipe and bin/logpipectl
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/logpipe ./cmd/logpipe
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/logpipectl ./cmd/logpipectl

test: ## unit and integration tests with the race detector
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

lint: fmt vet ## gofmt check and go vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

e2e: build ## end-to-end suite on real etcd, Kafka and OpenSearch (see test/e2e)
	$(GO) test -tags e2e -count=1 -v -timeout 40m ./test/e2e/...

bench: build ## the benchmark harness (report in bench-results/, figures in docs/benchmarks.md), then the Go micro-benchmarks
	$(GO) run ./cmd/logpipe-bench --logpipe bin/logpipe --logpipectl bin/logpipectl --out bench-results --timeout 11m --opensearch-prepare test/e2e/stack/prepare.sh
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./agent/... ./transfer/... ./search/... ./api/... ./internal/...

run: build ## run the whole pipeline in one process
	./bin/logpipe dev --apply specs/

clean:
	rm -rf bin .logpipe bench-results

help:
	@grep -E '^[a-z0-9]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'
