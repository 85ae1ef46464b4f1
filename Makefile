# Thin front over CMake presets. `make demo` and `make test` are the README's quick start: both install
# what is missing first (Debian packages via apt-get when root; otherwise they print the command).
SHELL := /bin/bash
JOBS ?= $(shell nproc)

# Build and test dependencies, all Debian 12 packages.
BUILD_PACKAGES := g++ cmake make pkg-config libboost-dev prometheus-cpp-dev libfmt-dev libyaml-cpp-dev \
  zlib1g-dev libssl-dev libnghttp2-dev libgtest-dev libgmock-dev librabbitmq-dev nlohmann-json3-dev
TEST_PACKAGES := curl python3 clang libclang-rt-14-dev prometheus python3-prometheus-client protobuf-compiler nodejs \
  python3-yaml wrk chromium tmux nghttp2-client python3-h2
# The real servers of the monitoring stack's tests (tests/stack/), each started by the test on free ports.
STACK_PACKAGES := prometheus-alertmanager rabbitmq-server postgresql prometheus-postgres-exporter \
  prometheus-node-exporter redis-server prometheus-redis-exporter docker-compose
BENCH_PACKAGES := wrk nginx-light haproxy util-linux procps
DEMO_SECONDS ?= 0

.PHONY: all deps deps-test deps-bench build demo test test-release test-asan test-tsan test-fuzz fuzz bench clean

all: build

deps:
	@tests/support/install_deps.sh $(BUILD_PACKAGES)

deps-test: deps
	@tests/support/install_deps.sh $(TEST_PACKAGES) $(STACK_PACKAGES)
	@# The OTLP decoder of the tracing tests: the OpenTelemetry project's JS package, pinned by the lock file.
	@# Debian's npm package only where node came without npm (NodeSource's nodejs bundles it and conflicts).
	@command -v npm >/dev/null || tests/support/install_deps.sh npm
	@cd tests/tools/otlp-decoder && [ -d node_modules/@opentelemetry/otlp-transformer ] || npm ci --no-audit --no-fund --loglevel=error
	@# The stack's static checks: @grafana/schema, TypeScript, Prometheus's PromQL grammar, kubernetes-models.
	@cd tests/tools/stack-validate && [ -d node_modules/kubernetes-models ] || npm ci --no-audit --no-fund --loglevel=error
	@# The dashboard's browser test drives Debian's chromium through playwright-core (no browser download).
	@cd tests/tools/browser && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error

deps-bench: deps
	@tests/support/install_deps.sh $(BENCH_PACKAGES)

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

# The main job: the demo shop API, apimeter in front, traffic with user ids, errors and slow requests, and
# the live view. Builds only the two binaries it runs, not the test suites.
DEMO_PACKAGES := curl python3
demo: deps
	@tests/support/install_deps.sh $(DEMO_PACKAGES)
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target apimeter demo_upstream
	@DEMO_SECONDS=$(DEMO_SECONDS) tests/support/demo.sh

# Every test: release build, ASan+UBSan build, TSan build, fuzz corpus replay and a short fuzz run.
test: deps-test test-release test-asan test-tsan test-fuzz

test-release: deps-test
	@echo "== test-release started $$(date -u +%T)"
	cmake --preset release
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j 2

test-asan: deps-test
	@echo "== test-asan started $$(date -u +%T)"
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --preset asan -j 2

test-tsan: deps-test
	@echo "== test-tsan started $$(date -u +%T)"
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --preset tsan -j 2

# libFuzzer builds (clang): each target replays its corpus, then fuzzes for FUZZ_SECONDS.
FUZZ_SECONDS ?= 20
test-fuzz: deps-test
	@echo "== test-fuzz started $$(date -u +%T)"
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS)
	@for t in request_head response_head chunked_body trace_context stats_document http2_request_head; do \
	  echo "fuzz $$t: $(FUZZ_SECONDS)s"; \
	  work=$$(mktemp -d); \
	  build/fuzz/tests/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    $$work tests/fuzz/corpus/$$t 2>&1 | tail -n 1 || exit 1; \
	  rm -rf $$work; \
	done

bench: build deps-bench
	tests/bench/run.sh $(BENCH_ARGS)

clean:
	rm -rf build
