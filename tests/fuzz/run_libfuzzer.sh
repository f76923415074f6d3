#!/usr/bin/env bash
# Runs one libFuzzer target for SHALE_FUZZ_SECONDS (default 10) over a scratch copy of its
# seed corpus, so new inputs never land in the committed corpus. A crash leaves its input
# (crash-*, leak-*, timeout-*) in the kept scratch directory, printed on failure. Flags after
# the corpus go to libFuzzer (the target's own, from tests/fuzz/CMakeLists.txt).
# usage: run_libfuzzer.sh FUZZER CORPUS_DIR [FLAG...]
set -euo pipefail
bin=$(realpath "$1") seeds=$(realpath "$2")
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/shale-libfuzz.XXXXXX")
mkdir "$work/corpus"
cp "$seeds"/* "$work/corpus/" 2>/dev/null || true
cd "$work"
if "$bin" -max_total_time="${SHALE_FUZZ_SECONDS:-10}" -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 "$@" "$work/corpus" 2>"$work/log"; then
  grep -E "^stat::number_of_executed_units|^Done" "$work/log" || true
  echo "$(basename "$bin"): $(ls "$work/corpus" | wc -l) corpus inputs, no crash"
  rm -rf "$work"
else
  tail -50 "$work/log"
  echo "$(basename "$bin"): FAILED; inputs and log kept in $work"
  exit 1
fi
