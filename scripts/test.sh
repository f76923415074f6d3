#!/usr/bin/env bash
# Builds Shale with warnings as errors and runs the whole test suite twice: once with the
# io_uring writer and mapped reads, once on plain system calls: the pwrite writer, pread and
# write(2) for the WAL (SHALE_IO=pwrite SHALE_MMAP=0, which the tests turn into the options
# io_mode and use_mmap: the library reads no environment variable).
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
echo "== tests, plain system calls (SHALE_IO=pwrite SHALE_MMAP=0) =="
# The metamorphic test's own option sets already run the pwrite writer.
SHALE_IO=pwrite SHALE_MMAP=0 ctest --test-dir "$build" --output-on-failure -j"$jobs" -E '^metamorphic$'
