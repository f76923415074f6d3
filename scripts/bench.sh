#!/usr/bin/env bash
# Builds Shale (optimized) and runs a short shale-bench workload on a temporary DB.
# Extra arguments go to shale-bench, e.g. scripts/bench.sh --num=5000000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSHALE_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target shale-bench
db=$(mktemp -d "${TMPDIR:-/tmp}/shale-bench.XXXXXX")
trap 'rm -rf "$db"' EXIT
build-release/tools/shale-bench --db="$db/db" \
  --benchmarks=fillseq,fillrandom,overwrite,readrandom,readseq,seekrandom,deleterandom,readafterdelete \
  --num=1000000 --key_size=16 --value_size=100 "$@"
