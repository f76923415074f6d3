#!/usr/bin/env bash
# test_bench.sh — end-to-end test of shale-bench: every benchmark runs at a small --num and
# prints a result line that compare-rocksdb.sh's awk parses; --use_existing_db reuses a DB;
# bad flags fail with one line; the queue and delete-run benchmarks leave the DB they claim
# to; a DB another process holds, or a directory that is not a DB, is never destroyed.
# A benchmark the engine cannot run yet (SHALE_NOTSUP) is
# reported as a NOTE and does not fail the test.
# usage: test_bench.sh PATH/TO/shale-bench
set -u
bench=${1:?usage: test_bench.sh PATH/TO/shale-bench}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_bench.XXXXXX")
holder=
trap '[[ -n $holder ]] && kill "$holder" 2>/dev/null; rm -rf "$tmp"' EXIT
num=2000 failures=0 notes=0
common=(--num=$num --seed=42 --db="$tmp/db" --delete_persist_seconds=1)

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The awk test compare-rocksdb.sh applies: prints ops/sec of benchmark $1's result line.
ops_per_sec() { awk -v b="$1" '$1 == b && $2 == ":" && $4 == "micros/op" && $6 == "ops/sec" { print $5 }'; }

# run NAME FLAGS...: runs shale-bench, keeps stdout in $tmp/NAME.out, fails on a non-zero exit.
run() {
  local name=$1; shift
  if ! timeout 300 "$bench" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    fail "$name: exit status non-zero: $(tail -1 "$tmp/$name.err")"
    return 1
  fi
}

# check_result NAME [FILE]: a parsable result line of NAME in FILE (default $tmp/NAME.out),
# or a NOTSUP note (counted, not a failure).
check_result() {
  local name=$1 out=${2:-$tmp/$1.out} ops
  if grep -Eq "^$name +: skipped, .*SHALE_NOTSUP" "$out"; then
    echo "NOTE: $name: $(grep -E "^$name +: skipped" "$out" | sed 's/^[^:]*: //')"
    notes=$((notes + 1))
    return 1
  fi
  ops=$(ops_per_sec "$name" <"$out" | tail -1)
  if [[ ! $ops =~ ^[0-9]+$ ]]; then fail "$name: no parsable result line"; return 1; fi
  echo "ok   $name: $ops ops/sec"
}

timed=(fillseq fillrandom overwrite fillsync fill100K fillbatch readseq readreverse readrandom
  readmissing seekrandom deleteseq deleterandom readwhilewriting readrandomwriterandom
  updaterandom compact readafterdelete scanafterdelete deletepersist queue deleteruns fillsurvivors)
for b in "${timed[@]}"; do
  # Reads, deletes and overwrites need data: each runs after a fillseq on a fresh DB.
  list=$b
  [[ $b == fill* ]] || list=fillseq,$b
  run "$b" "${common[@]}" --benchmarks="$list" && check_result "$b"
done

# db_bench's repetition syntax, multi-get reads and the small single-call benchmarks (issue 15).
if run rep "${common[@]}" --benchmarks='fillseq,readrandom[X3],multireadrandom,readtocache,memstats' --batch_size=16; then
  [[ $(grep -c '^readrandom .*micros/op.*(2000 of 2000 found)' "$tmp/rep.out") == 3 ]] || fail "readrandom[X3]: not 3 runs"
  grep -q '^readrandom \[AVG    3 runs\] : [0-9]* (± [0-9]*) ops/sec; *[0-9.]* (± [0-9.]*) MB/sec$' "$tmp/rep.out" || fail "readrandom[X3]: no final AVG line"
  grep -q '^readrandom \[MEDIAN 3 runs\] : [0-9]* ops/sec; *[0-9.]* MB/sec$' "$tmp/rep.out" || fail "readrandom[X3]: no MEDIAN line"
  grep -q '^multireadrandom .*micros/op.*(2000 of 2000 found)' "$tmp/rep.out" || fail "multireadrandom: $(grep multiread "$tmp/rep.out")"
  check_result readtocache "$tmp/rep.out"
  grep -Eq '^shale\.memtable-bytes: [1-9][0-9]*$' "$tmp/rep.out" || fail "memstats: no memtable bytes"
fi
# fillseqdeterministic: one table per level L1..L6, every key once, all of them readable.
if run det "${common[@]}" --benchmarks=fillseqdeterministic,readrandom,readseq; then
  grep -q '^fillseqdeterministic : .*2000 operations;.*(files per level: L1=1 L2=1 L3=1 L4=1 L5=1 L6=1)$' \
    "$tmp/det.out" || fail "fillseqdeterministic: $(grep fillseqdet "$tmp/det.out")"
  grep -q '^readrandom .*(2000 of 2000 found)' "$tmp/det.out" || fail "fillseqdeterministic: keys missing"
  grep -q '^readseq .* 2000 operations;' "$tmp/det.out" || fail "fillseqdeterministic: readseq count"
  ls -d "$tmp"/*.fillseqdeterministic.* >/dev/null 2>&1 && fail "fillseqdeterministic: its table directory is left"
fi
"$bench" "${common[@]}" --benchmarks='readrandom[X0]' >/dev/null 2>&1 && fail "readrandom[X0] accepted"

# Found counts: fillseq writes every key once.
grep -q "^readrandom .*(2000 of 2000 found)" "$tmp/readrandom.out" || fail "readrandom: not all keys found"
grep -q "^readmissing .*(0 of 2000 found)" "$tmp/readmissing.out" || fail "readmissing: found a key"
found=$(sed -n 's/^readafterdelete .*(\([0-9]*\) of 2000 found).*/\1/p' "$tmp/readafterdelete.out")
[[ -z $found ]] || ((found > 600 && found < 1400)) || fail "readafterdelete: $found of 2000 found, expected about half"

# Maintenance and property dumps: no result line, but they must run cleanly.
for b in flush waitforcompaction stats levelstats sstables; do
  run "$b" "${common[@]}" --benchmarks=fillseq,$b && echo "ok   $b"
done
grep -q "waitforcompaction(.*): finished" "$tmp/waitforcompaction.out" || fail "waitforcompaction: no finished line"

# --use_existing_db: a second process reads what the first one wrote; fills are skipped.
run fill1 --num=$num --db="$tmp/reuse" --benchmarks=fillseq
run reuse --num=$num --db="$tmp/reuse" --use_existing_db=1 --benchmarks=fillrandom,readrandom
grep -q "^readrandom .*(2000 of 2000 found)" "$tmp/reuse.out" || fail "use_existing_db: readrandom did not find every key"
grep -q "^fillrandom *: skipped (--use_existing_db is true)" "$tmp/reuse.out" || fail "use_existing_db: fillrandom not skipped"

# --statistics=1: the tickers as db_bench prints RocksDB's, counted from this open.
run stats --num=$num --db="$tmp/stats" --benchmarks=fillseq,readrandom --statistics=1
grep -q "^shale.number.keys.written COUNT : $num$" "$tmp/stats.out" || fail "statistics: no keys.written line of $num"
grep -q "^shale.number.keys.read COUNT : $num$" "$tmp/stats.out" || fail "statistics: no keys.read line of $num"
[[ $(grep -Ec '^shale\.[a-z.]+ COUNT : [0-9]+$' "$tmp/stats.out") -ge 20 ]] || fail "statistics: fewer than 20 ticker lines"

# Threads, batches, histograms, range tombstones, the CSV report, RocksDB-only flags.
run threads --num=$num --db="$tmp/thr" --threads=2 --batch_size=10 --histogram=1 \
  --writes_per_range_tombstone=100 --benchmarks=fillrandom,readwhilewriting,readrandomwriterandom \
  --cache_type=lru_cache --mmap_read --level0_file_num_compaction_trigger=8 \
  && for b in fillrandom readwhilewriting readrandomwriterandom; do check_result "$b" "$tmp/threads.out"; done
if [[ -f $tmp/threads.out ]]; then
  grep -q "^Microseconds per write:" "$tmp/threads.out" || grep -q "SHALE_NOTSUP" "$tmp/threads.out" \
    || fail "histogram: no 'Microseconds per write' block"
  grep -q "^Percentiles: P50: " "$tmp/threads.out" || grep -q "SHALE_NOTSUP" "$tmp/threads.out" \
    || fail "histogram: no Percentiles line"
  grep -q "^Ignored flags (RocksDB only): --cache_type=lru_cache --mmap_read=true" "$tmp/threads.out" \
    || fail "header: ignored flags not listed"
fi
# --benchmark_write_rate_limit paces the writers: 3000 writes of 116 bytes at 1,160,000 B/s
# cannot finish in less than 0.3 s (a lower bound only, which no machine's load can break).
if run pace --num=3000 --db="$tmp/pace" --benchmarks=fillrandom --benchmark_write_rate_limit=1160000 \
  && check_result fillrandom "$tmp/pace.out"; then
  awk '$1 == "fillrandom" && $8 == "seconds" { exit !($7 >= 0.29) }' "$tmp/pace.out" \
    || fail "benchmark_write_rate_limit: $(grep ^fillrandom "$tmp/pace.out")"
fi
run report --num=$num --db="$tmp/rep" --benchmarks=fillrandom --duration=2 \
  --report_interval_seconds=1 --report_file="$tmp/report.csv"
[[ $(head -1 "$tmp/report.csv" 2>/dev/null) == secs_elapsed,interval_qps ]] || fail "report_file: bad header"
grep -Eq '^[0-9]+,[0-9]+$' "$tmp/report.csv" 2>/dev/null || fail "report_file: no data rows"

# compare-rocksdb.sh runs the tool with 2>&1 and extra positional arguments (ignored, as
# db_bench ignores them): the "\r" progress lines must not swallow a result line.
if timeout 300 "$bench" shale 1 --num=5000 --db="$tmp/mixed" --benchmarks=fillseq,readrandom \
  >"$tmp/mixed.out" 2>&1; then
  for b in fillseq readrandom; do check_result "$b" "$tmp/mixed.out" >/dev/null || fail "$b: result line lost in 2>&1 output"; done
else
  fail "positional arguments: exit status non-zero"
fi

# ---- YCSB A-F and mixgraph (issue 21) ----
# field NAME KEY FILE: the number after "KEY:" in NAME's result line.
field() { sed -n "s/^$1 .*[( ]$2:\([0-9]*\).*/\1/p" "$3" | tail -1; }
# within X LO HI WHAT: fails unless LO <= X <= HI.
within() { [[ $1 =~ ^[0-9]+$ ]] && (($2 <= $1 && $1 <= $3)) || fail "$4: $1 not in [$2, $3]"; }
ycsb=(--num=$num --reads=1000 --seed=42 --db="$tmp/ycsb")
for w in a b c d e f; do
  b=ycsb$w out=$tmp/ycsb$w.out
  run "$b" "${ycsb[@]}" --benchmarks=$b && check_result "$b" || continue
  grep -q "^${b}_load .* $num operations;" "$out" || fail "$b: no load of $num records"
  reads=$(field $b reads "$out") writes=$(field $b writes "$out") scans=$(field $b scans "$out")
  found=$(field $b found "$out")
  case $w in # 1000 ops: the expected share +- about 5 standard deviations
    a) within "$reads" 400 600 "$b reads"; within "$writes" 400 600 "$b updates" ;;
    b) within "$reads" 920 980 "$b reads"; within "$writes" 20 80 "$b updates" ;;
    c) within "$reads" 1000 1000 "$b reads"; within "$writes" 0 0 "$b writes" ;;
    d) within "$reads" 920 980 "$b reads"; within "$writes" 20 80 "$b inserts" ;;
    e) within "$scans" 920 980 "$b scans"; within "$writes" 20 80 "$b inserts" ;;
    f) within "$reads" 1000 1000 "$b reads"; within "$writes" 400 600 "$b read-modify-writes" ;;
  esac
  # Every record is loaded and nothing deletes: each read and each scan's seek finds its key.
  [[ $found == $((reads + scans)) ]] || fail "$b: found $found of $((reads + scans))"
done
# Two threads with histograms, then a second process on the DB they leave: no load.
run ycsbold "${ycsb[@]}" --benchmarks=ycsbd --threads=2 --histogram=1
if [[ -f $tmp/ycsbold.out ]]; then
  run ycsbold2 "${ycsb[@]}" --benchmarks=ycsbc --use_existing_db=1 && check_result ycsbc "$tmp/ycsbold2.out"
  grep -q "^ycsbc_load" "$tmp/ycsbold2.out" && fail "ycsbc: loaded a --use_existing_db DB"
  [[ $(field ycsbc found "$tmp/ycsbold2.out") == 1000 ]] || fail "ycsbc on an existing DB: not every read found"
  check_result ycsbd "$tmp/ycsbold.out"
  [[ $(field ycsbd reads "$tmp/ycsbold.out") -gt 1800 ]] || fail "ycsbd --threads=2: not 2 x 1000 ops"
  grep -q "^Microseconds per read:" "$tmp/ycsbold.out" || fail "ycsb --histogram=1: no read histogram"
fi
# mixgraph: db_bench's message; Gets, Puts and Seek add up to --reads, in the given ratio;
# the key-range model draws keys of [0, --num) only, which fillseq wrote: every get and seek hits.
mixout=$tmp/mixgraph.out
run mixgraph "${common[@]}" --reads=2000 --benchmarks=fillseq,mixgraph --mix_get_ratio=0.8 \
  --mix_put_ratio=0.15 --mix_seek_ratio=0.05 --key_dist_a=0.002312 --key_dist_b=0.3467 \
  --keyrange_num=30 --keyrange_dist_a=14.18 --keyrange_dist_b=-2.917 --keyrange_dist_c=0.0164 \
  --keyrange_dist_d=-0.08082 --sine_a=1000 && check_result mixgraph
if [[ -f $mixout ]]; then
  msg=$(sed -n 's/^mixgraph .*( Gets:\([0-9]*\) Puts:\([0-9]*\) Seek:\([0-9]*\) of \([0-9]*\) in [0-9]* found)$/\1 \2 \3 \4/p' "$mixout")
  read -r gets puts seeks found <<<"$msg"
  if [[ -z $msg ]]; then
    fail "mixgraph: no '( Gets:. Puts:. Seek:. of . in . found)' message"
  else
    [[ $((gets + puts + seeks)) == 2000 ]] || fail "mixgraph: $gets + $puts + $seeks ops, not 2000"
    within "$gets" 1500 1700 "mixgraph gets"; within "$puts" 220 380 "mixgraph puts"
    within "$seeks" 50 150 "mixgraph seeks"
    [[ $found == $((gets + seeks)) ]] || fail "mixgraph: $found of $((gets + seeks)) gets and seeks found"
  fi
  grep -q "^Ignored flags (RocksDB only): --sine_a=1000$" "$mixout" || fail "mixgraph: --sine_a not listed as ignored"
fi
# A key-range model that gives no range an access is refused, not divided by.
"$bench" "${common[@]}" --use_existing_db --benchmarks=mixgraph --key_dist_a=1 --key_dist_b=1 \
  --keyrange_dist_a=1e-30 >/dev/null 2>"$tmp/mixbad.err" && fail "mixgraph: a key-range model without accesses ran"
grep -q "give no key range an access" "$tmp/mixbad.err" || fail "mixgraph: no message for a key-range model without accesses"
# The default mix is all gets: on fillseq's keys every one is found.
run mixget "${common[@]}" --reads=500 --benchmarks=fillseq,mixgraph \
  && grep -q "^mixgraph .*( Gets:500 Puts:0 Seek:0 of 500 in 500 found)$" "$tmp/mixget.out" \
  || fail "mixgraph default: $(grep '^mixgraph' "$tmp/mixget.out")"

# ---- queues ----
# keys FILE N WHAT: readseq in FILE saw N keys (with none it reports 1 op, as db_bench).
keys() { grep -q "^readseq .* $2 operations;" "$1" || fail "$3: readseq did not see $2 keys"; }
tenths='micros/op by tenth of the'
run q "${common[@]}" --benchmarks=queue,readrandom && check_result queue "$tmp/q.out"
if [[ -f $tmp/q.out ]]; then
  grep -q "^queue_fill *: .* $num operations" "$tmp/q.out" || fail "queue: no fill of $num keys"
  grep -Eq "^queue: $tenths pops:( [0-9]+-[0-9]+%: [0-9.]+){10}$" "$tmp/q.out" || fail "queue: no line of ten tenths"
  grep -Eq "^queue: db dir [0-9.]+ MB \([0-9]+ bytes\) after $num pops$" "$tmp/q.out" || fail "queue: no db dir line"
  grep -q "^readrandom .*(0 of $num found)" "$tmp/q.out" || fail "queue: keys left after $num pops"
fi
# On an existing DB: no fill, --deletes pops, the rest of the keys stay.
run qfill "${common[@]}" --benchmarks=fillseq
run qold "${common[@]}" --use_existing_db --deletes=500 --benchmarks=queue,readseq
grep -q "^queue_fill" "$tmp/qold.out" && fail "queue: filled a --use_existing_db DB"
grep -q "^queue .* 500 operations" "$tmp/qold.out" || fail "queue: not 500 pops with --deletes=500"
keys "$tmp/qold.out" 1500 "queue --deletes=500"
# queuesteady: 2000 ops on a queue of 500 keys leave keys [1000, 1500).
run qs "${common[@]}" --queue_live=500 --benchmarks=queuesteady,readseq && check_result queuesteady "$tmp/qs.out"
if [[ -f $tmp/qs.out ]]; then
  grep -q "^queuesteady_fill *: .* 500 operations" "$tmp/qs.out" || fail "queuesteady: no fill of 500 keys"
  grep -Eq "^queuesteady: $tenths ops:( [0-9]+-[0-9]+%: [0-9.]+){10}$" "$tmp/qs.out" || fail "queuesteady: no line of ten tenths"
  grep -Eq "^queuesteady: db dir .* at the start, .* at the end; 1000 pushes, 1000 pops, 500 keys live$" "$tmp/qs.out" \
    || fail "queuesteady: no db dir line with 1000 pushes and pops"
  keys "$tmp/qs.out" 500 queuesteady
fi

# ---- deleteruns against fillsurvivors: the scans see the same keys ----
# scans FILE: "readseq-count readreverse-count" of FILE.
scans() {
  awk '($1 == "readseq" || $1 == "readreverse") && $2 == ":" {
    for (i = 2; i <= NF; i++) if ($i == "operations;") printf "%s ", $(i - 1) }' "$1"
}
dr=(--num=50000 --seed=42 --db="$tmp/runs")
run dr "${dr[@]}" --benchmarks=fillseq,deleteruns,readseq,readreverse --batch_size=7
run fs "${dr[@]}" --benchmarks=fillsurvivors,readseq,readreverse
survive=$(sed -n 's/^deleteruns .* \([0-9]*\) of 50000 survive.*/\1/p' "$tmp/dr.out")
if [[ -z $survive ]] || ((survive < 1000 || survive > 15000)); then
  fail "deleteruns: '$survive' of 50000 survive, expected about 10%"
else
  grep -q "^deleteruns .* $((50000 - survive)) operations; ($((50000 - survive)) keys deleted" "$tmp/dr.out" \
    || fail "deleteruns: did not delete $((50000 - survive)) keys"
  grep -q "^fillsurvivors .* $survive operations;" "$tmp/fs.out" || fail "fillsurvivors: did not write $survive keys"
  [[ $(scans "$tmp/dr.out") == "$survive $survive " ]] || fail "deleteruns: scans saw $(scans "$tmp/dr.out"), not $survive each way"
  [[ $(scans "$tmp/fs.out") == "$survive $survive " ]] || fail "fillsurvivors: scans saw $(scans "$tmp/fs.out"), not $survive each way"
  echo "ok   deleteruns/fillsurvivors: $survive of 50000 keys survive, both scans agree"
fi

# ---- a DB held by another process is never destroyed (issue 15) ----
# The second run would write 500 keys: a wipe shows as 500 keys instead of 2000.
before=$failures
run held "${common[@]}" --benchmarks=fillseq
"$bench" "${common[@]}" --use_existing_db --benchmarks=readrandom --reads=1000000000 --duration=120 \
  >"$tmp/holder.out" 2>&1 &
holder=$!
for _ in $(seq 100); do grep -q "^DB path:" "$tmp/holder.out" && break; sleep 0.1; done
if "$bench" "${common[@]}" --num=500 --benchmarks=fillseq >"$tmp/wipe.out" 2>"$tmp/wipe.err"; then
  fail "a second shale-bench destroyed a DB another process holds"
else
  grep -q "^IO error: While lock file: $tmp/db/LOCK: Resource temporarily unavailable$" "$tmp/wipe.err" \
    || fail "held DB: no lock error: $(cat "$tmp/wipe.err")"
  grep -q "stop that process or pick another --db" "$tmp/wipe.err" || fail "held DB: the error does not say what to do"
fi
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; holder=
run afterheld "${common[@]}" --use_existing_db --benchmarks=readseq && keys "$tmp/afterheld.out" $num "held DB"
# A directory that is not a Shale DB is left alone; a DB's foreign files outlive it.
mkdir "$tmp/notadb" && echo precious >"$tmp/notadb/notes.txt" && : >"$tmp/notadb/LOG"
if "$bench" --db="$tmp/notadb" --num=10 --benchmarks=fillseq >/dev/null 2>"$tmp/notadb.err"; then
  fail "shale-bench ran in a directory that is not a Shale DB"
fi
grep -q "is not a Shale DB" "$tmp/notadb.err" || fail "not a DB: no message: $(cat "$tmp/notadb.err")"
[[ -f $tmp/notadb/notes.txt && -f $tmp/notadb/LOG ]] || fail "not a DB: files were removed"
echo precious >"$tmp/db/notes.txt" && : >"$tmp/db/LOGO.png" && : >"$tmp/db/backup.log"
run refill "${common[@]}" --benchmarks=fillseq
[[ -f $tmp/db/notes.txt && -f $tmp/db/LOGO.png && -f $tmp/db/backup.log ]] || fail "destroy removed files that are not Shale's"
((failures == before)) && echo "ok   destroy: held DB, foreign directory and foreign files left alone"

# Bad command lines: exactly one line on stderr, non-zero exit, nothing run.
bad() {
  local err
  if err=$("$bench" --db="$tmp/bad" "$@" 2>&1 >/dev/null); then fail "accepted: $*"; return; fi
  [[ $(wc -l <<<"$err") -eq 1 && -n $err ]] || fail "not one line for '$*': $err"
  [[ $err == *"$expect"* ]] || fail "'$*' gave '$err', expected it to mention '$expect'"
}
expect=no_such_flag bad --no_such_flag=1
expect=abc bad --num=abc
expect=value_size bad --value_size=-5
expect=bogus bad --compression_type=bogus
# db_bench's codecs run, mapped to zstd with a note; sstables lists the tables.
for c in snappy lz4 zlib kSnappyCompression; do
  if ! "$bench" --db="$tmp/codec" --num=2000 --benchmarks=fillseq,flush,sstables --compression_type=$c >"$tmp/codec.out" 2>"$tmp/codec.err"; then
    fail "--compression_type=$c: $(cat "$tmp/codec.err")"
  fi
  grep -q "maps to zstd" "$tmp/codec.err" || fail "--compression_type=$c: no note"
done
grep -q -- '--- level 0 --- [1-9]' "$tmp/codec.out" && grep -q '^ [0-9]\{6\}\.sst size=' "$tmp/codec.out" || fail "sstables: $(cat "$tmp/codec.out")"
grep -q "not available" "$tmp/codec.out" "$tmp/codec.err" && fail "sstables: property not available"
expect=bogus bad --benchmarks=fillseq,bogus
expect=histogram bad --histogram=maybe
expect=threads bad --threads=0
expect=queue_live bad --queue_live=-1
expect=mix_get_ratio bad --mix_get_ratio=-1
expect=mix_get_ratio bad --mix_get_ratio=0
expect=mix_max_scan_len bad --mix_max_scan_len=0
"$bench" --help >/dev/null || fail "--help exits non-zero"

echo "test_bench: $failures failure(s), $notes benchmark(s) not supported by the engine yet"
[[ $failures -eq 0 ]]
