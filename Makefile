# Everyday commands; CI runs .ci/run, which calls the same test command.
.PHONY: run demo test lint bench load fuzz

run:
	go run .

test:
	go test -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	go vet ./...

# Queue benchmarks on both backends (real redis-server on loopback).
bench:
	go test -run '^$$' -bench . -benchtime 2s ./store/...

# Whole-process burst load (issue 10 targets 1, 4, 6): each server in its
# own process on a private redis-server or the embedded store; see
# BenchmarkBurstLoad in burst_load_test.go for the STOREBRIDGE_BURST_* knobs.
load:
	go test -run '^$$' -bench BurstLoad -benchtime 1x -timeout 60m .

# Every fuzz test, FUZZTIME each; .ci/fuzz finds them with go test -list.
# make fuzz FUZZTIME=10m, or FUZZTIME=30s .ci/fuzz ./adapters/shopify.
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz
