#!/usr/bin/env bash
# Side-by-side throughput of shale-bench and RocksDB's db_bench on the same flags, in one run.
# Rounds alternate (R S R S ...) so drift on a shared machine hits both alike; the table shows
# each benchmark's median ops/sec over the rounds and the ratio shale/rocksdb (> 1: shale faster).
#
# usage: scripts/compare-rocksdb.sh [-r ROUNDS] [-b SHALE_BENCH] [-d DIR] [-- DB_BENCH_FLAGS...]
#   -r ROUNDS  rounds of each engine, alternating (default 3)
#   -b PATH    shale-bench to run (default: build/tools/shale-bench, then
#              build-release/tools/shale-bench under the repo root, then shale-bench on PATH)
#   -d DIR     where the temporary DB directories go (default $TMPDIR or /tmp); only a
#              directory this script creates inside it is written to and removed
#   e.g. scripts/compare-rocksdb.sh -r 3 -- --benchmarks=fillrandom,readrandom --num=1000000
# With no flags after --, it runs the eight standard workloads that doc/performance.md quotes
# at --num=1000000 (see $standard below). A flag after -- wins over the script's own.
# A benchmark named twice in --benchmarks is reported as name, name#2, ...
#
# Needs RocksDB's db_bench (Debian: apt-get install -y rocksdb-tools). Debian's RocksDB is
# built with assertions enabled; quote ratios against it as such.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"

# The eight standard workloads, as doc/performance.md quotes them. scripts/bench.sh's list is
# not reused: it has readafterdelete, a shale-bench benchmark that db_bench lacks (db_bench
# exits 1 with "unknown benchmark 'readafterdelete'"), and leaves out readmissing, which the
# quoted tables include. The other seven are the same in both.
standard=fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,deleterandom

rounds=3 shale="" base=${TMPDIR:-/tmp}
while [[ $# -gt 0 ]]; do
  case $1 in
    -r) rounds=$2; shift 2 ;;
    -b) shale=$2; shift 2 ;;
    -d) base=$2; shift 2 ;;
    -h|--help) bench_help "$0"; exit 0 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (flags for the benches go after --)" >&2; exit 2 ;;
  esac
done
bench_posint r "$rounds"
[[ $# -gt 0 ]] || set -- --benchmarks="$standard" --num=1000000
bench_find_tools "$root"

common=(--key_size=16 --value_size=100 --compression_type=none --bloom_bits=10
        --cache_size=67108864 --write_buffer_size=67108864 --threads=1)
mkdir -p "$base"
work=$(mktemp -d "$base/shale-compare.XXXXXX")
out=$(mktemp -d)
trap 'rm -rf "$out" "$work"' EXIT
run() { # engine round bench-flags...
  local eng=$1 log=$out/$1.$2 bin
  shift 2
  [[ $eng == rocksdb ]] && bin=db_bench || bin=$shale
  rm -rf "$work/db"
  "$bin" "${common[@]}" "$@" --db="$work/db" >"$log" 2>&1 || { echo "$eng failed, see:"; tail -5 "$log"; exit 1; }
}
echo "shale-bench: $shale; db_bench: $(command -v db_bench); flags: ${common[*]} $*" >&2
for ((i = 1; i <= rounds; i++)); do
  run rocksdb "$i" "$@"; run shale "$i" "$@"
  echo "round $i of $rounds done" >&2
done
# "name : X micros/op Y ops/sec ..." is db_bench's result line; shale-bench prints the same.
# Both print progress with \r, so the logs are split on \r as well as \n.
awk -v RS='[\r\n]' "$bench_awk_med"'
  FNR == 1 { split(FILENAME, p, "/"); split(p[length(p)], q, "."); eng = q[1]; delete seen }
  $2 == ":" && $4 == "micros/op" {
    b = $1; if (++seen[b] > 1) b = b "#" seen[b]
    v[eng, b] = v[eng, b] " " $5; if (!(b in order)) order[b] = ++n }
  END {
    printf "%-16s %14s %14s %8s\n", "benchmark", "rocksdb op/s", "shale op/s", "ratio"
    for (b in order) idx[order[b]] = b
    for (i = 1; i <= n; i++) { b = idx[i]; r = med(v["rocksdb", b]); s = med(v["shale", b])
      printf "%-16s %14d %14d %8.2f\n", b, r, s, (r > 0 ? s / r : 0) }
  }' "$out"/rocksdb.* "$out"/shale.*
