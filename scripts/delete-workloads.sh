#!/usr/bin/env bash
# Delete-heavy workloads, shale-bench against RocksDB's db_bench on the same flags where
# db_bench has the workload, and Shale-only ones where it does not. Rounds alternate (each
# round runs every workload once, RocksDB before Shale), and one table gives each step's
# median ops/sec over the rounds, its spread (min-max) and a ratio.
#
# usage: scripts/delete-workloads.sh [-r ROUNDS] [-q] [-s READS] [-S SEED] [-b SHALE_BENCH]
#                                    [-d DIR] [-- EXTRA_FLAGS...]
#   -r ROUNDS  rounds (default 3; medians of them)
#   -q         quick mode for testing: --num=100000, queues of 2000, 20000 and 100000
#   -s READS   --reads of the seekrandom steps (default 1000; see "Seeks after deleteseq")
#   -S SEED    --seed of every run (default 1), so deleteruns and fillsurvivors agree
#   -b PATH    shale-bench (default build/tools/shale-bench, then build-release/tools/...)
#   -d DIR     where the temporary DB directories go (default $TMPDIR or /tmp)
#   EXTRA_FLAGS go to every run of both engines and win over the script's.
#
# Workloads (--num=1000000 --key_size=16 --value_size=100 --compression_type=none, plus the
# flags of scripts/compare-rocksdb.sh: --bloom_bits=10 --cache_size=64M
# --write_buffer_size=64M --threads=1):
#   delete        fillseq,seekrandom,deleteseq,seekrandom            --seek_nexts=10, the first
#                                                                    half deleted, both engines
#   delete+flush  fillseq,seekrandom,deleteseq,flush,seekrandom      the same, tombstones flushed
#   queue N       queue at --num 20000, 200000, 1000000              Shale only
#   deleteruns    fillseq,deleteruns,readseq,readreverse             Shale only
#   survivors     fillsurvivors,readseq,readreverse                  Shale only, same --seed
#   survtable     fillsurvivors,flush,waitforcompaction,readseq,...  the same survivors read
#                                                                    from a table, as after a
#                                                                    reopen (the WAL replayed
#                                                                    and flushed)
# A step that an engine does not have (probed with a tiny run first) is shown as n/a for that
# engine, and that engine's workload is not run.
#
# Seeks after deleteseq: the first half of the keys is deleted (the workload of issue 14), so
# a seek that lands in it steps, in RocksDB, over the tombstones from its target to the middle
# of the keyspace: num/4 on average, about 25 ms per seek at 1,000,000 keys. The --reads of a
# plain db_bench seekrandom would take an hour per run, so the seekrandom steps use -s READS
# (both engines, before and after the deletes alike); the table's notes give the time that
# RocksDB's 100000 would have taken.
#
# Needs RocksDB's db_bench (Debian: apt-get install -y rocksdb-tools; built with assertions).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"

rounds=3 quick=0 reads=1000 seed=1 shale="" base=${TMPDIR:-/tmp}
while [[ $# -gt 0 ]]; do
  case $1 in
    -r) rounds=$2; shift 2 ;;
    -q) quick=1; shift ;;
    -s) reads=$2; shift 2 ;;
    -S) seed=$2; shift 2 ;;
    -b) shale=$2; shift 2 ;;
    -d) base=$2; shift 2 ;;
    -h|--help) bench_help "$0"; exit 0 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (flags for the benches go after --)" >&2; exit 2 ;;
  esac
done
bench_posint r "$rounds"; bench_posint s "$reads"; bench_posint S "$seed"
extra=("$@")
if ((quick)); then num=100000 queues=(2000 20000 100000); else num=1000000 queues=(20000 200000 1000000); fi

bench_find_tools "$root"

common=(--key_size=16 --value_size=100 --compression_type=none --bloom_bits=10
        --cache_size=67108864 --write_buffer_size=67108864 --threads=1 --seed="$seed")
mkdir -p "$base"
work=$(mktemp -d "$base/shale-delete.XXXXXX")
out=$(mktemp -d)
trap 'rm -rf "$out" "$work"' EXIT
: >"$out/na"

bin_of() { [[ $1 == rocksdb ]] && echo db_bench || echo "$shale"; }

# Does engine $1 accept benchmark $2? A run of 10 keys on a scratch DB says.
declare -A has=()
probe() {
  local key=$1:$2
  if [[ -z ${has[$key]:-} ]]; then
    rm -rf "$work/probe"; mkdir -p "$work/probe"
    if "$(bin_of "$1")" "${common[@]}" --num=10 --reads=10 --benchmarks="$2" \
         --db="$work/probe/db" >"$work/probe.log" 2>&1; then has[$key]=1; else has[$key]=0; fi
  fi
  [[ ${has[$key]} == 1 ]]
}

# run GROUP ENGINE ROUND bench-flags...: one process on a fresh DB, its output kept as
# $out/GROUP.ENGINE.ROUND; skipped (and noted once) if the engine lacks one of the steps.
run() {
  local group=$1 eng=$2 round=$3 log=$out/$1.$2.$3 a b s steps="" missing=() t0
  shift 3
  for a in "$@"; do [[ $a == --benchmarks=* ]] && steps=${a#--benchmarks=}; done
  IFS=, read -ra b <<<"$steps"
  for s in "${b[@]}"; do probe "$eng" "$s" || missing+=("$s"); done
  if ((${#missing[@]})); then
    ((round == 1)) && echo "$group $eng ${missing[*]}" >>"$out/na"
    return 0
  fi
  rm -rf "$work/db"; mkdir -p "$work"
  t0=$SECONDS
  "$(bin_of "$eng")" "${common[@]}" "$@" "${extra[@]}" --db="$work/db" >"$log" 2>&1 ||
    { echo "$eng failed in $group, see:" >&2; tail -5 "$log" >&2; exit 1; }
  echo "round $round/$rounds: $group $eng $((SECONDS - t0))s" >&2
}

dflags=(--num="$num" --deletes=$((num / 2)) --seek_nexts=10 --reads="$reads")
start=$SECONDS
echo "shale-bench: $shale; db_bench: $(command -v db_bench)" >&2
for ((i = 1; i <= rounds; i++)); do
  for eng in rocksdb shale; do
    run delete "$eng" "$i" --benchmarks=fillseq,seekrandom,deleteseq,seekrandom "${dflags[@]}"
  done
  for eng in rocksdb shale; do
    run delflush "$eng" "$i" --benchmarks=fillseq,seekrandom,deleteseq,flush,seekrandom "${dflags[@]}"
  done
  for q in "${queues[@]}"; do run "queue$q" shale "$i" --benchmarks=queue --num="$q"; done
  run deleteruns shale "$i" --benchmarks=fillseq,deleteruns,readseq,readreverse --num="$num"
  run survivors shale "$i" --benchmarks=fillsurvivors,readseq,readreverse --num="$num"
  run survtable shale "$i" --benchmarks=fillsurvivors,flush,waitforcompaction,readseq,readreverse \
    --num="$num"
done

echo
echo "Delete workloads: --num=$num --key_size=16 --value_size=100 --compression_type=none" \
     "--bloom_bits=10 --cache_size=67108864 --write_buffer_size=67108864 --threads=1" \
     "--seed=$seed${extra[*]:+ ${extra[*]}}; seekrandom: --seek_nexts=10 --reads=$reads." \
     "$rounds round(s), medians; spread is the min-max over the rounds."
shopt -s nullglob
logs=("$out"/*.*.*)
# "name : X micros/op Y ops/sec ..." is the result line of both tools; ops/sec is derived
# from micros/op (db_bench prints ops/sec as an integer, too coarse for ~10 op/s). Both print
# progress with \r, so the logs are split on \r as well as \n.
awk -v RS='[\r\n]' -v na_file="$out/na" -v queues="${queues[*]}" -v reads="$reads" "$bench_awk_med"'
  function fx(x) { return x >= 100 ? sprintf("%.0f", x) : sprintf("%.2g", x) }
  function f(x) { return x >= 100 ? sprintf("%d", x + 0.5) : sprintf("%.1f", x) }
  # cell(g, e, s): "ops/s (min-max)" of step s, and sets ops; "n/a" / "-" when absent
  function cell(g, e, s) {
    ops = 0
    if ((g, e, s) in us) { m = med(us[g, e, s]); ops = 1e6 / m; mu = m
      return sprintf("%9s (%s-%s)", f(ops), f(1e6 / hi), f(1e6 / lo)) }
    if ((g, e) in na) return "n/a: lacks " na[g, e]
    return (e == "rocksdb" && !((g, "rocksdb") in ran)) ? "-" : "missing"
  }
  function row(label, step, g, s, ratio, note,   rc, sc, ro, so) {
    rc = cell(g, "rocksdb", s); ro = ops; sc = cell(g, "shale", s); so = ops
    if (ratio == "" && ro > 0 && so > 0) ratio = sprintf("%.2f", so / ro)
    printf "%-14s %-19s %-30s %-30s %9s  %s\n", label, step, rc, sc, ratio, note }
  BEGIN {
    while ((getline line < na_file) > 0) { split(line, w, " "); na[w[1], w[2]] = line; sub(/^[^ ]+ [^ ]+ /, "", na[w[1], w[2]]) }
  }
  FNR == 1 { n = split(FILENAME, p, "/"); split(p[n], q, "."); g = q[1]; e = q[2]; delete seen; ran[g, e] = 1 }
  $2 == ":" && $4 == "micros/op" { s = $1; if (++seen[s] > 1) s = s "#" seen[s]; us[g, e, s] = us[g, e, s] " " $3 }
  $1 == "queue:" && $2 == "micros/op" && $3 == "by" { first[g] = first[g] " " $9; last[g] = last[g] " " $NF }
  END {
    printf "%-14s %-19s %-30s %-30s %9s  %s\n", "workload", "step", "rocksdb op/s (min-max)", "shale op/s (min-max)", "ratio", "note"
    for (k = 0; k < 2; k++) {
      g = k ? "delflush" : "delete"; label = k ? "delete+flush" : "delete"
      row(label, "fillseq", g, "fillseq")
      row(label, "seekrandom before", g, "seekrandom"); rb = us[g, "rocksdb", "seekrandom"]; sb = us[g, "shale", "seekrandom"]
      row(label, "deleteseq", g, "deleteseq")
      if (k) printf "%-14s %-19s %-30s %-30s %9s  %s\n", label, "flush", \
        ((g, "rocksdb") in ran ? "ran (prints no timing)" : cell(g, "rocksdb", "flush")), \
        ((g, "shale") in ran ? "ran (prints no timing)" : cell(g, "shale", "flush")), "", ""
      note = ""
      if ((g, "rocksdb", "seekrandom#2") in us && rb != "") {
        ra = med(us[g, "rocksdb", "seekrandom#2"]); note = "us/seek after/before: rocksdb x" fx(ra / med(rb))
        if ((g, "shale", "seekrandom#2") in us && sb != "")
          note = note ", shale x" fx(med(us[g, "shale", "seekrandom#2"]) / med(sb))
        note = note sprintf("; rocksdb at --reads=100000: ~%.0f s", ra * 100000 / 1e6) }
      row(label, "seekrandom after", g, "seekrandom#2", "", note)
    }
    nq = split(queues, qs, " ")
    for (k = 1; k <= nq; k++) {
      g = "queue" qs[k]; label = "queue " qs[k]
      row(label, "queue_fill", g, "queue_fill", "-")
      note = ""; ratio = "-"
      if ((g, "shale", "queue") in us) {
        note = sprintf("%.3f us/pop", med(us[g, "shale", "queue"]))
        if (first[g] != "") { a = med(first[g]); b = med(last[g]); ratio = sprintf("%.2f", b / a)
          note = note sprintf("; first tenth %.3f, last tenth %.3f us/pop (ratio: last/first)", a, b) } }
      row(label, "queue (pops)", g, "queue", ratio, note)
    }
    row("deleteruns", "fillseq", "deleteruns", "fillseq", "-")
    row("deleteruns", "deleteruns", "deleteruns", "deleteruns", "-")
    split("readseq readreverse", scans, " ")
    for (k = 1; k <= 2; k++) {
      ratio = "-"; note = ""
      if (("deleteruns", "shale", scans[k]) in us && ("survivors", "shale", scans[k]) in us) {
        a = med(us["deleteruns", "shale", scans[k]]); b = med(us["survivors", "shale", scans[k]])
        ratio = sprintf("%.2f", a / b)
        note = sprintf("scan cost vs survivors: %.3f / %.3f us per surviving key (ratio: deleteruns/survivors)", a, b)
        if (("survtable", "shale", scans[k]) in us) {
          c = med(us["survtable", "shale", scans[k]])
          note = note sprintf("; vs survivors in a table %.3f: x%.2f", c, a / c) } }
      row("deleteruns", scans[k], "deleteruns", scans[k], ratio, note)
    }
    row("survivors", "fillsurvivors", "survivors", "fillsurvivors", "-")
    row("survivors", "readseq", "survivors", "readseq", "-")
    row("survivors", "readreverse", "survivors", "readreverse", "-")
    row("survtable", "readseq", "survtable", "readseq", "-")
    row("survtable", "readreverse", "survtable", "readreverse", "-")
    print ""
    print "ratio: shale/rocksdb ops/sec of the medians (> 1: shale faster), except where the note says"
    print "otherwise. -: Shale-only workload (db_bench has no queue, deleteruns or fillsurvivors)."
    print "Neither tool prints a timing line for flush; the seekrandom after it is timed as usual."
  }' "${logs[@]}"
echo "total $((SECONDS - start))s"
