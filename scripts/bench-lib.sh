# bench-lib.sh — what the scripts comparing shale-bench with RocksDB's db_bench share
# (compare-rocksdb.sh, delete-workloads.sh, scale-bench.sh). Sourced, not run: it defines
# functions and one awk fragment, and runs nothing.
# shellcheck shell=bash

# bench_help SCRIPT: prints the script's header comment (its usage), without the #! line.
bench_help() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"; }

# bench_posint OPTION VALUE: exits 2 unless VALUE is a positive integer.
bench_posint() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "-$1 needs a positive integer" >&2; exit 2; }
}

# bench_find_tools ROOT: sets $shale, if the caller left it empty, to the first executable
# of ROOT/build/tools/shale-bench, ROOT/build-release/tools/shale-bench and shale-bench on
# PATH, and checks db_bench is on PATH; exits 2 with how to get whichever is missing.
bench_find_tools() {
  local c
  if [[ -z $shale ]]; then
    for c in "$1/build/tools/shale-bench" "$1/build-release/tools/shale-bench" \
      "$(command -v shale-bench || true)"; do
      [[ -n $c && -x $c ]] && { shale=$c; break; }
    done
  fi
  [[ -n $shale && -x $shale ]] || {
    echo "shale-bench not found: build it (cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&" \
      "cmake --build build --target shale-bench) or pass -b PATH" >&2
    exit 2
  }
  command -v db_bench >/dev/null || { echo "db_bench not found: apt-get install -y rocksdb-tools" >&2; exit 2; }
}

# awk: med(s) is the median of the numbers in the space-separated list s (0 for none) and
# sets lo and hi to its smallest and largest, the spread the tables print.
# shellcheck disable=SC2034 # used by the scripts that source this file
bench_awk_med='
  function med(s,   a, k, i, j, t) {
    k = split(s, a, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
      if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    lo = a[1]; hi = a[k]
    return k ? (k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2) : 0 }'
