#!/usr/bin/env bash
# Builds Shale with warnings as errors and runs the whole test suite twice: once with the
# io_uring writer and once with the pwrite fallback forced (SHALE_IO=pwrite).
# usage: scripts/test.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build=${1:-build}
shift || true
cmake -S . -B "$build" -DSHALE_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
jobs=$(nproc)
echo "== tests, io_uring writer =="
ctest --test-dir "$build" --output-on-failure -j"$jobs"
echo "== tests, pwrite fallback (SHALE_IO=pwrite) =="
# The metamorphic test's own option sets already run the pwrite writer.
SHALE_IO=pwrite ctest --test-dir "$build" --output-on-failure -j"$jobs" -E '^metamorphic$'
