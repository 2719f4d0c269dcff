# The README's two commands are `make dev` and `make test`; the rest serve them and CI.
SHELL := /bin/bash
TOOLS_DIR ?= $(or $(DUALHOOK_TOOLS_DIR),$(HOME)/.cache/dualhook/tools)
SQLC_VERSION := v1.31.1
GOLANGCI_VERSION := v2.15.0
SQLC := $(TOOLS_DIR)/sqlc-$(SQLC_VERSION)/sqlc
GOLANGCI := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_VERSION)/golangci-lint
export GOFLAGS := -buildvcs=false

.PHONY: dev test build lint fmt generate check-generated tools test-race bench-delivery bench-onboarding chaos-worker-kill fuzz

## dev: run API, worker, Temporal + Web UI, PostgreSQL and the Meta sandbox locally
dev: build
	./bin/dualhook dev

## test: unit and integration tests against real PostgreSQL and a real Temporal dev server
test:
	./scripts/test.sh

## test-race: the same with the race detector (slower)
test-race:
	GO_TEST_FLAGS=-race ./scripts/test.sh

## fuzz: run each API fuzz target for FUZZTIME (default 20s) against real services (docs/security.md)
FUZZTIME ?= 20s
FUZZ_TARGETS := FuzzRequestBodies FuzzQueryParameters FuzzPathParameters
fuzz:
	@for target in $(FUZZ_TARGETS); do \
	  TEST_PACKAGES=./api GO_TEST_FLAGS="-run ^$$ -fuzz ^$$target$$ -fuzztime $(FUZZTIME)" ./scripts/test.sh || exit 1; \
	done

## bench-delivery: event delivery throughput and latency (prints numbers; docs/events.md)
bench-delivery:
	TEST_PACKAGES=./internal/events GO_TEST_FLAGS="-run ^$$ -bench BenchmarkDelivery -benchtime 1x" ./scripts/test.sh

## bench-onboarding: session creation and callback latency (prints numbers; docs/onboarding.md)
bench-onboarding:
	TEST_PACKAGES=./e2e GO_TEST_FLAGS="-run ^$$ -bench . -benchtime 100x" ./scripts/test.sh

## chaos-worker-kill: SIGKILL the worker mid-onboarding, 5 runs; fails when an event is lost (docs/chaos.md)
chaos-worker-kill: build
	go run ./cmd/onboard-chaos -runs 5

build:
	go build -o bin/dualhook ./cmd/dualhook

## lint: formatting, go vet and golangci-lint
lint: $(GOLANGCI)
	@test -z "$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go'); exit 1; }
	go vet ./...
	$(GOLANGCI) run ./...

fmt:
	gofmt -w $$(git ls-files --cached --others --exclude-standard '*.go')

## generate: regenerate the sqlc query package from db/migrations and db/queries
generate: $(SQLC)
	$(SQLC) generate

## check-generated: fail when committed generated code is stale
check-generated: generate
	@git diff --exit-code -- db/dbq || { echo "db/dbq is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard db/dbq)" || { echo "db/dbq has uncommitted generated files"; exit 1; }

tools: $(SQLC) $(GOLANGCI)
	go run ./cmd/dualhook tools temporal-cli

# Pinned tools are built once from the Go module proxy into a cache outside the work tree.
$(SQLC):
	GOBIN=$(dir $@) go install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)

$(GOLANGCI):
	GOBIN=$(dir $@) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
