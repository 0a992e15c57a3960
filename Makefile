# The two commands of the README: `make demo` and `make test`. Everything else is a step of
# those, runnable on its own.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

.PHONY: demo test deps build asan-test unit-test integration-test k8s-test fuzz bench format format-check lint clean

demo: deps build
	scripts/demo $(if $(SECURE),--secure)

# Every check CI runs: the fast checks first, so a formatting slip fails in seconds; the
# sanitizer build and the fuzzers, which need builds of their own, last.
test: deps format-check build unit-test integration-test lint k8s-test asan-test fuzz

deps:
	scripts/setup-deps

build:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKROND_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

unit-test: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j $(JOBS)

integration-test: build
	ctest --test-dir $(BUILD) -L integration --output-on-failure

asan-test:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKROND_SANITIZE=ON \
	  -DKROND_BENCH=OFF >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) -L unit --output-on-failure -j $(JOBS)

fuzz:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DKROND_FUZZ=ON -DBUILD_TESTING=OFF -DKROND_BENCH=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	scripts/bench

lint:
	scripts/lint

k8s-test: build
	cd tests/k8s && PATH="$$PATH:/usr/local/go/bin" KROND_BIN=$(abspath $(BUILD))/krond go test ./...
	cd tools/pin-images && PATH="$$PATH:/usr/local/go/bin" go test ./...

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
