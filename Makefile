# Everyday commands; CI runs .ci/run, which calls the same test command.
.PHONY: run demo test lint bench

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
