# Tailor's developer entry points. CI (.ci/run) calls the same targets.

GO ?= go
TOOL = $(GO) tool -modfile=hack/tools/go.mod

.PHONY: all test test-short controlplane generate verify-generated lint fuzz bench cross

## bench: Tailor's core against Karpenter's scheduler on the same pods (minutes; see bench/README.md).
bench:
	cd bench && $(GO) run ./cmd/compare -runs resources:1000,resources:5000,resources:10000,mixed:1000,mixed:5000

all: lint test

## test: every test, including the integration tests against the embedded cluster
## and the differential test of the core against kube-scheduler's plugins.
test: controlplane
	$(GO) test -timeout 30m ./...
	cd embedded/controlplane && $(GO) test -timeout 30m ./...

## test-short: unit tests only (no cluster, no kube-scheduler oracle).
test-short:
	$(GO) test -short ./...

## controlplane: build the embedded control plane (about 11 minutes the first time).
controlplane:
	$(GO) run ./hack/build-controlplane

## generate: regenerate deepcopy functions and CRDs from api/.
generate:
	$(GO) generate ./...

## verify-generated: fail when generated files are stale.
verify-generated: generate
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make generate' and commit the result" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api config)" || { echo "generate created untracked files:" >&2; git status --porcelain -- api config >&2; exit 1; }

## lint: gofmt, go vet and staticcheck.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:" >&2; gofmt -l $$(git ls-files '*.go') >&2; exit 1; }
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	cd embedded/controlplane && $(GO) vet ./... && $(GO) tool -modfile=../../hack/tools/go.mod staticcheck ./...
	cd bench && $(GO) vet ./... && $(GO) tool -modfile=../hack/tools/go.mod staticcheck ./...

## cross: build the binaries for the platforms users run them on (the
## embedded cluster itself runs on Linux only and says so elsewhere).
CROSS_PLATFORMS ?= darwin/arm64 linux/arm64 darwin/amd64 linux/amd64
cross:
	@for p in $(CROSS_PLATFORMS); do \
		echo "build ./cmd/tailor ./cmd/tailor-controller for $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/tailor ./cmd/tailor-controller || exit 1; \
	done

## fuzz: run each fuzz target for a while.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzIntersect -fuzztime 30s ./core/requirements/
