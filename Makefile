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

# The whole process under load, each server in its own process on a
# private redis-server or the embedded store: bursts (BenchmarkBurstLoad,
# STOREBRIDGE_BURST_* knobs) and a steady rate with its latency and Redis
# commands per message (BenchmarkEndToEndLoad, STOREBRIDGE_LOAD_* knobs).
load:
	go test -run '^$$' -bench 'BurstLoad|EndToEndLoad' -benchtime 1x -timeout 60m .

# Every fuzz test, FUZZTIME each; .ci/fuzz finds them with go test -list.
# make fuzz FUZZTIME=10m, or FUZZTIME=30s .ci/fuzz ./adapters/shopify.
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz
