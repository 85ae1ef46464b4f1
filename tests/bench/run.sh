#!/usr/bin/env bash
# `make bench`: the side-by-side benchmark (tests/bench/bench.py) with enough file descriptors for the
# idle-connection measurement. Arguments pass through, e.g. --seconds 5 --rounds 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n 16384
mkdir -p build/bench
exec python3 tests/bench/bench.py --output build/bench/results.md "$@"
