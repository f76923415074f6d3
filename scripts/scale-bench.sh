#!/usr/bin/env bash
# Beyond memory (issue 21): shale-bench against RocksDB's db_bench on more data than the page
# cache holds, over a long mixed run, on YCSB's mixes, on two threads and on long scans. Both
# engines get the same flags; rounds alternate (in each round every scenario runs RocksDB,
# then Shale), and one table gives each step's median over the rounds, its spread (min-max)
# and the ratio shale/rocksdb.
#
# usage: scripts/scale-bench.sh [-r ROUNDS] [-s SCALE] [-t SECONDS] [-m MIB] [-w MBPS]
#                               [-o LIST] [-b SHALE_BENCH] [-d DIR] [-- EXTRA_FLAGS...]
#   -r ROUNDS   rounds (default 3; medians of them)
#   -s SCALE    divides every --num, and the op counts derived from it, by SCALE (default 1:
#               full size); e.g. -s 100 -r 1 -t 5 checks the script in 1-2 minutes
#   -t SECONDS  --duration of the sustained scenario (default 600)
#   -m MIB      the io scenario's memory limit (default 1024)
#   -w MBPS     MiB/s the writer of io's readwhilewriting may write, both engines
#               (--benchmark_write_rate_limit; default 2, as RocksDB's tools/benchmark.sh;
#               0: full speed). The step reports the reader: beside writers of different
#               speeds it would mostly say how much compaction each writer caused.
#   -o LIST     the scenarios to run, comma-separated (default io,sustained,ycsb,threads,scans)
#   -b PATH     shale-bench (default build/tools/shale-bench, then build-release/tools/...)
#   -d DIR      where the temporary DB directories go (default $TMPDIR or /tmp)
#   EXTRA_FLAGS go to every run of both engines and win over the script's.
#
# Every run has --key_size=16 --value_size=100 --bloom_bits=10 --write_buffer_size=67108864
# --threads=1 and is a process of its own: a step after a load reopens the DB with
# --use_existing_db=1. N is the scenario's key count divided by SCALE.
#   io         N = 50M, --compression_type=zstd --cache_size=268435456 (256 MiB block cache).
#              Runs in a cgroup v1 memory cgroup limited to -m MIB, which this script makes
#              (/sys/fs/cgroup/memory/shale-scale-bench.PID) and removes at exit; the limit
#              covers the process's own memory (block cache, memtables) as well as the page
#              cache. Without root or cgroup v1 it says so and runs unlimited ("no memory
#              limit" in the table). Steps: fillrandom; then readrandom, seekrandom and
#              readwhilewriting (its writer paced by -w) with --reads=N/10. "disk B/get":
#              the bytes the readrandom process read from disk (read_bytes of /proc/PID/io,
#              the DB open included) over its gets.
#   sustained  Right after io, on io's DB (without io: its own fillrandom of 50M keys, same
#              flags), no memory limit: readwhilewriting --duration=SECONDS --histogram=1
#              --statistics=1, one reader thread and db_bench's writer overwriting random
#              keys at full speed. "write op/s": the keys written (the engine's
#              *.number.keys.written ticker) over the step's seconds; the get percentiles
#              come from the reader's histogram; "stall s" is the *.stall.micros ticker, the
#              time writes were slowed or stopped (both engines print both tickers).
#   ycsb       N = 10M, --compression_type=none --cache_size=67108864. fillseq loads every
#              record once; then, each a process with --use_existing_db=1 --reads=N/10, the
#              db_bench workloads below on both engines, then shale-bench's own ycsba..ycsbf
#              (Shale only: db_bench 7.8.3 has no YCSB).
#   threads    N = 10M, the ycsb flags: fillrandom --threads=1, readrandom --threads=1 and
#              --threads=2 on that DB, fillrandom --threads=2 on a fresh one, each run doing
#              the same total work (--writes=N/2, --reads=N/20 per thread at two threads,
#              --reads=N/10 at one); "x (2/1)" is each round's 2-thread op/s over its
#              1-thread op/s. Then fillrandom --sync=1 --threads=2 --writes=N/1000 (per
#              thread) on a fresh DB.
#   scans      N = 10M, the ycsb flags: fillrandom, then readseq (every key) and seekrandom
#              --seek_nexts=100 --reads=N/100.
#
# YCSB workloads and the db_bench 7.8.3 benchmark with the closest mix, which both engines
# run. YCSB's keys are Zipfian (D: the newest), db_bench's are uniform:
#   A  50% read, 50% update       readrandomwriterandom --readwritepercent=50
#   B  95% read, 5% update        readrandomwriterandom --readwritepercent=95
#   C  100% read                  readrandom
#   D  95% read newest, 5% insert n/a: no db_bench benchmark reads the newest keys while it
#                                 inserts new ones
#   E  95% scan, 5% insert        mixgraph --mix_get_ratio=0 --mix_put_ratio=0.05
#      (scans of 1..100)          --mix_seek_ratio=0.95 --mix_max_scan_len=100 --value_theta=100
#                                 --value_k=0 --value_sigma=0 (100-byte values; its puts
#                                 overwrite, and its scan lengths are Pareto modulo 100)
#   F  50% read, 50% read-modify-write   updaterandom (100% read-modify-write)
#
# Needs RocksDB's db_bench (Debian: apt-get install -y rocksdb-tools; built with assertions),
# and root for the memory limit. Full size needs ~10 GB free under DIR and hours; only one
# engine's DB exists at a time.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"

all=io,sustained,ycsb,threads,scans
rounds=3 scale=1 duration=600 limit_mib=1024 write_mibps=2 only=$all shale="" base=${TMPDIR:-/tmp}
while [[ $# -gt 0 ]]; do
  case $1 in
    -r) rounds=$2; shift 2 ;;
    -s) scale=$2; shift 2 ;;
    -t) duration=$2; shift 2 ;;
    -m) limit_mib=$2; shift 2 ;;
    -w) write_mibps=$2; shift 2 ;;
    -o) only=$2; shift 2 ;;
    -b) shale=$2; shift 2 ;;
    -d) base=$2; shift 2 ;;
    -h|--help) bench_help "$0"; exit 0 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (flags for the benches go after --)" >&2; exit 2 ;;
  esac
done
bench_posint r "$rounds"; bench_posint s "$scale"; bench_posint t "$duration"; bench_posint m "$limit_mib"
[[ $write_mibps =~ ^(0|[1-9][0-9]*)$ ]] || { echo "-w needs a whole number of MiB/s" >&2; exit 2; }
IFS=, read -ra picked <<<"$only"
for s in "${picked[@]}"; do
  [[ ,$all, == *,$s,* ]] || { echo "-o: unknown scenario '$s' (of $all)" >&2; exit 2; }
done
has() { [[ ,$only, == *,$1,* ]]; }
extra=("$@")
bench_find_tools "$root"

# n / d, at least 1: a small SCALE must not turn a count into 0, which both tools read as
# "the default".
per() { local v=$(($1 / $2)); echo $((v > 0 ? v : 1)); }
io_num=$(per 50000000 "$scale") io_reads=$(per 50000000 $((scale * 10)))
mem_num=$(per 10000000 "$scale") mem_ops=$(per 10000000 $((scale * 10)))
common=(--key_size=16 --value_size=100 --bloom_bits=10 --write_buffer_size=67108864 --threads=1)
ioflags=("${common[@]}" --compression_type=zstd --cache_size=268435456)
memflags=("${common[@]}" --compression_type=none --cache_size=67108864)
mixe=(--mix_get_ratio=0 --mix_put_ratio=0.05 --mix_seek_ratio=0.95 --mix_max_scan_len=100
      --value_theta=100 --value_k=0 --value_sigma=0)

mkdir -p "$base"
work=$(mktemp -d "$base/shale-scale.XXXXXX")
out=$(mktemp -d)
cg="" cgnote="" child=""

# The memory cgroup holds only the benchmark processes this script starts in it; any still
# there at exit (the script was interrupted) are ended, by pid, so that it can be removed.
cgroup_remove() {
  [[ -n $cg && -d $cg ]] || return 0
  local pid i
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$cg/tasks"
  for ((i = 0; i < 50; i++)); do
    rmdir "$cg" 2>/dev/null && { echo "removed the memory cgroup $cg" >&2; return 0; }
    sleep 0.1
  done
  echo "could not remove the memory cgroup $cg" >&2
}
# An interrupted run: its engine (the wrapper shell's child) and the wrapper are ended by pid.
stop_child() {
  [[ -n $child ]] || return 0
  pkill -TERM -P "$child" 2>/dev/null || true
  kill "$child" 2>/dev/null || true
  wait "$child" 2>/dev/null || true
}
cleanup() { stop_child; cgroup_remove; rm -rf "$out" "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cgroup_setup() {
  local dir=/sys/fs/cgroup/memory/shale-scale-bench.$$
  if [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]] && mkdir "$dir" 2>/dev/null &&
    echo $((limit_mib << 20)) 2>/dev/null >"$dir/memory.limit_in_bytes"; then
    cg=$dir
    echo "io: memory limit $limit_mib MiB in $cg" >&2
  else
    [[ -d $dir ]] && rmdir "$dir"
    cgnote="no memory limit"
    echo "io: cannot make a cgroup v1 memory cgroup under /sys/fs/cgroup/memory (needs root" \
      "and cgroup v1); the io scenario runs without a memory limit" >&2
  fi
}

# Runs "$@" as a child of a shell that first joins cgroup $1 (none if empty), and prints the
# bytes the child read from disk: a reaped child's I/O counts are added to its parent's, so
# the shell's own read_bytes before and after are the child's, whatever it mapped or forked.
# shellcheck disable=SC2016 # expanded by that shell
wrap='cg=$1; shift
if [ -n "$cg" ]; then echo $$ >"$cg/tasks" || exit 97; fi
rb() { while read -r k v; do [ "$k" = read_bytes: ] && echo "$v"; done </proc/$$/io; }
b=$(rb 2>/dev/null); "$@"; rc=$?; a=$(rb 2>/dev/null)
if [ -n "$b" ] && [ -n "$a" ]; then echo "scale-bench: read_bytes $((a - b))"; fi
exit $rc'

# After a failed run (its status in $?): the end of its log, and exit.
ran_badly() {
  local rc=$?
  echo "$3 failed in $1 $2 (exit status $rc), see:" >&2
  tr '\r' '\n' <"$out/$1.$2.$3.$4" | tail -5 >&2
  if [[ -n $5 ]] && ((rc == 137)); then
    echo "killed in the memory cgroup: most likely by its limit (-m $limit_mib MiB)" \
      "($(grep -s "^oom_kill " "$5/memory.oom_control" || echo "oom_kill: unknown"))" >&2
  fi
  exit 1
}

# run SCENARIO STEP ENGINE ROUND CGROUP FLAGS...: one process on ENGINE's DB, its output
# kept as $out/SCENARIO.STEP.ENGINE.ROUND for the table.
run() {
  local log=$out/$1.$2.$3.$4 bin=$shale t0=$SECONDS
  [[ $3 == rocksdb ]] && bin=db_bench
  # In the background, so that a signal to the script ends the run at once (bash runs traps
  # only once a foreground child ends).
  sh -c "$wrap" scale-bench "$5" "$bin" "${@:6}" "${extra[@]}" --db="$work/$3" >"$log" 2>&1 &
  child=$!
  wait "$child" || ran_badly "$@"
  child=""
  echo "round $4/$rounds: $1 $2 $3 $((SECONDS - t0))s" >&2
}

io_steps() { # engine round
  local at=(--use_existing_db=1 --num="$io_num" --reads="$io_reads")
  rm -rf "${work:?}/$1"
  run io fillrandom "$1" "$2" "$cg" "${ioflags[@]}" --benchmarks=fillrandom --num="$io_num"
  for s in readrandom seekrandom; do
    run io "$s" "$1" "$2" "$cg" "${ioflags[@]}" "${at[@]}" --benchmarks="$s"
  done
  run io readwhilewriting "$1" "$2" "$cg" "${ioflags[@]}" "${at[@]}" --benchmarks=readwhilewriting \
    --benchmark_write_rate_limit=$((write_mibps << 20))
}

sustained_steps() { # engine round
  if ! has io; then
    rm -rf "${work:?}/$1"
    run sustained load "$1" "$2" "" "${ioflags[@]}" --benchmarks=fillrandom --num="$io_num"
  fi
  run sustained rww "$1" "$2" "" "${ioflags[@]}" --use_existing_db=1 --num="$io_num" \
    --benchmarks=readwhilewriting --duration="$duration" --histogram=1 --statistics=1
}

ycsb_steps() { # engine round
  local at=(--use_existing_db=1 --num="$mem_num" --reads="$mem_ops") w
  rm -rf "${work:?}/$1"
  run ycsb load "$1" "$2" "" "${memflags[@]}" --benchmarks=fillseq --num="$mem_num"
  run ycsb mapA "$1" "$2" "" "${memflags[@]}" "${at[@]}" --benchmarks=readrandomwriterandom \
    --readwritepercent=50
  run ycsb mapB "$1" "$2" "" "${memflags[@]}" "${at[@]}" --benchmarks=readrandomwriterandom \
    --readwritepercent=95
  run ycsb mapC "$1" "$2" "" "${memflags[@]}" "${at[@]}" --benchmarks=readrandom
  run ycsb mapE "$1" "$2" "" "${memflags[@]}" "${at[@]}" --benchmarks=mixgraph "${mixe[@]}"
  run ycsb mapF "$1" "$2" "" "${memflags[@]}" "${at[@]}" --benchmarks=updaterandom
  [[ $1 == shale ]] || return 0
  for w in a b c d e f; do
    run ycsb "$w" shale "$2" "" "${memflags[@]}" "${at[@]}" --benchmarks="ycsb$w"
  done
}

threads_steps() { # engine round
  local n=--num=$mem_num
  rm -rf "${work:?}/$1"
  run threads fill1 "$1" "$2" "" "${memflags[@]}" "$n" --benchmarks=fillrandom
  run threads read1 "$1" "$2" "" "${memflags[@]}" "$n" --use_existing_db=1 \
    --benchmarks=readrandom --reads="$mem_ops"
  run threads read2 "$1" "$2" "" "${memflags[@]}" "$n" --use_existing_db=1 \
    --benchmarks=readrandom --reads="$(per "$mem_ops" 2)" --threads=2
  rm -rf "${work:?}/$1"
  run threads fill2 "$1" "$2" "" "${memflags[@]}" "$n" --benchmarks=fillrandom \
    --writes="$(per "$mem_num" 2)" --threads=2
  rm -rf "${work:?}/$1"
  run threads sync2 "$1" "$2" "" "${memflags[@]}" "$n" --benchmarks=fillrandom \
    --writes="$(per "$mem_num" 1000)" --threads=2 --sync=1
}

scans_steps() { # engine round
  local n=--num=$mem_num
  rm -rf "${work:?}/$1"
  run scans load "$1" "$2" "" "${memflags[@]}" "$n" --benchmarks=fillrandom
  run scans readseq "$1" "$2" "" "${memflags[@]}" "$n" --use_existing_db=1 --benchmarks=readseq
  run scans seek100 "$1" "$2" "" "${memflags[@]}" "$n" --use_existing_db=1 \
    --benchmarks=seekrandom --seek_nexts=100 --reads="$(per "$mem_num" 100)"
}

has io && cgroup_setup
start=$SECONDS
echo "shale-bench: $shale; db_bench: $(command -v db_bench); DBs in $work" >&2
for ((i = 1; i <= rounds; i++)); do
  for eng in rocksdb shale; do
    has io && io_steps "$eng" "$i"
    has sustained && sustained_steps "$eng" "$i"
    rm -rf "${work:?}/$eng"
  done
  for s in ycsb threads scans; do
    has "$s" || continue
    for eng in rocksdb shale; do "${s}_steps" "$eng" "$i"; rm -rf "${work:?}/$eng"; done
  done
done

# The table's rows, in order: scenario|step|metric|label|note. A row whose steps did not run
# is left out, unless its scenario ran and its note says why the step cannot (n/a);
# "scale:A/B" is step A's op/s over step B's, round by round.
rows="io|fillrandom|ops|fillrandom|
io|readrandom|ops|readrandom|
io|readrandom|diskB|readrandom|lower is better
io|seekrandom|ops|seekrandom|
io|readwhilewriting|ops|readwhilewriting|reads, beside a writer paced to ${write_mibps} MiB/s (0: full speed)
sustained|load|ops|fillrandom (load)|
sustained|rww|ops|readwhilewriting|reads, ${duration} s
sustained|rww|wops|readwhilewriting|the writer, at full speed
sustained|rww|p99|readwhilewriting|get latency, lower is better
sustained|rww|p999|readwhilewriting|get latency, lower is better
sustained|rww|p9999|readwhilewriting|get latency, lower is better
sustained|rww|stall|readwhilewriting|time writes were slowed or stopped
ycsb|load|ops|load: fillseq|
ycsb|a|ops|A: ycsba|Shale only (db_bench has no YCSB)
ycsb|mapA|ops|A: readrandomwriterandom 50%|uniform keys
ycsb|b|ops|B: ycsbb|Shale only
ycsb|mapB|ops|B: readrandomwriterandom 95%|uniform keys
ycsb|c|ops|C: ycsbc|Shale only
ycsb|mapC|ops|C: readrandom|uniform keys
ycsb|d|ops|D: ycsbd|Shale only
ycsb|mapD|ops|D: -|n/a: db_bench has no read-newest/insert mix
ycsb|e|ops|E: ycsbe|Shale only
ycsb|mapE|ops|E: mixgraph 95% seek 5% put|scans Pareto mod 100, puts overwrite
ycsb|f|ops|F: ycsbf|Shale only
ycsb|mapF|ops|F: updaterandom|100% read-modify-write
threads|fill1|ops|fillrandom 1 thread|
threads|fill2|ops|fillrandom 2 threads|same total writes
threads|fill2|scale:fill2/fill1|fillrandom 2 vs 1|2-thread over 1-thread op/s
threads|read1|ops|readrandom 1 thread|
threads|read2|ops|readrandom 2 threads|same total reads
threads|read2|scale:read2/read1|readrandom 2 vs 1|2-thread over 1-thread op/s
threads|sync2|ops|fillrandom sync 2 threads|--sync=1
scans|load|ops|fillrandom (load)|
scans|readseq|ops|readseq|
scans|seek100|ops|seekrandom nexts=100|"

echo
echo "Scale benchmarks, $rounds round(s), medians (min-max over the rounds); -s $scale: io and" \
  "sustained --num=$io_num (--reads=$io_reads), ycsb, threads and scans --num=$mem_num" \
  "(--reads=$mem_ops); sustained --duration=$duration.${extra[*]:+ Extra flags: ${extra[*]}.}"
shopt -s nullglob
logs=("$out"/*.*.*.*)
# "name : X micros/op Y ops/sec Z seconds N operations; ..." is the result line of both
# tools; each process runs one benchmark, so a log has one. Both print progress with \r, so
# the logs are split on \r as well as \n.
awk -v RS='[\r\n]' -v rows="$rows" -v rounds="$rounds" -v cgnote="$cgnote" -v only=",$only," \
  "$bench_awk_med"'
  function add(m, v) { val[scen, step, eng, m] = val[scen, step, eng, m] " " v }
  function flush() {
    if (scen == "") return
    if (ops != "") { add("ops", ops); opsr[scen, step, eng, rnd] = ops }
    if (rb != "" && gets > 0) add("diskB", rb / gets)
    if (kw != "" && secs > 0) add("wops", kw / secs)
    if ("P99:" in pc) { add("p99", pc["P99:"]); add("p999", pc["P99.9:"]); add("p9999", pc["P99.99:"]) }
    if (stall != "") add("stall", stall / 1e6)
  }
  FNR == 1 {
    flush(); n = split(FILENAME, p, "/"); split(p[n], q, ".")
    scen = q[1]; step = q[2]; eng = q[3]; rnd = q[4]
    ops = secs = gets = rb = kw = stall = ""; inread = 0; delete pc
  }
  $2 == ":" && $4 == "micros/op" { ops = $5; secs = $7; gets = $9 }
  $1 == "scale-bench:" && $2 == "read_bytes" { rb = $3 }
  $1 ~ /^(rocksdb|shale)\.number\.keys\.written$/ && $2 == "COUNT" { kw = $4 }
  $1 ~ /^(rocksdb|shale)\.stall\.micros$/ && $2 == "COUNT" { stall = $4 }
  /^Microseconds per / { inread = $3 == "read:" }
  inread && $1 == "Percentiles:" { for (i = 2; i < NF; i += 2) pc[$i] = $(i + 1); inread = 0 }
  # The values of one engine on a row, one per round: a metric of the step, or a ratio of
  # two steps round by round.
  function values(s, st, e, m,   a, r, l) {
    if (m !~ /^scale:/) return val[s, st, e, m]
    split(substr(m, 7), a, "/"); l = ""
    for (r = 1; r <= rounds; r++)
      if ((s, a[1], e, r) in opsr && opsr[s, a[2], e, r] > 0) l = l " " opsr[s, a[1], e, r] / opsr[s, a[2], e, r]
    return l }
  function f(x) { return x >= 100 ? sprintf("%d", x + 0.5) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x) }
  function cell(l) { if (l == "") { m = 0; return "n/a" }; m = med(l); return sprintf("%s (%s-%s)", f(m), f(lo), f(hi)) }
  BEGIN {
    unit["ops"] = "op/s"; unit["diskB"] = "B/get"; unit["wops"] = "write op/s"; unit["p99"] = "P99 us"
    unit["p999"] = "P99.9 us"; unit["p9999"] = "P99.99 us"; unit["stall"] = "stall s"
    fmt = "%-10s %-28s %-10s %-26s %-26s %6s  %s\n"
  }
  END {
    flush()
    printf fmt, "scenario", "step", "metric", "shale (min-max)", "rocksdb (min-max)", "ratio", "note"
    nr = split(rows, row, "\n")
    for (k = 1; k <= nr; k++) {
      split(row[k], w, "|"); sv = values(w[1], w[2], "shale", w[3]); rv = values(w[1], w[2], "rocksdb", w[3])
      if (sv == "" && rv == "" && (w[5] !~ /^n\/a/ || index(only, "," w[1] ",") == 0)) continue
      sc = cell(sv); sm = m; rc = cell(rv); rm = m
      note = w[5]; if (w[1] == "io" && cgnote != "") note = cgnote (note != "" ? "; " note : "")
      printf fmt, w[1], w[4], (w[3] ~ /^scale:/ ? "x (2/1)" : unit[w[3]]), sc, rc, \
        (sm > 0 && rm > 0 ? sprintf(sm / rm >= 0.1 ? "%.2f" : "%.2g", sm / rm) : "-"), note
    }
    print ""
    print "ratio: shale/rocksdb of the medians (> 1: Shale higher; for latency, B/get and stall lower"
    print "is better). n/a: the engine does not run that step. B/get: bytes the process read from"
    print "disk (DB open included) per get. x (2/1): each round'"'"'s 2-thread op/s over its 1-thread op/s."
  }' "${logs[@]}"
echo "total $((SECONDS - start))s"
