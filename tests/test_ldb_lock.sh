#!/usr/bin/env bash
# test_ldb_lock.sh — every shale-ldb command against a DB another process holds open (issue 15).
# ldb_hold keeps the DB open, first for writing (the LOCK), then read-only (no lock). Against
# the writer each command must either work without changing any file of the DB (every file
# byte-identical, none added or removed) or refuse, exit non-zero, with a message saying the
# DB (or its LOCK) is locked; every read command must work. Against the read-only holder
# every read command works, leaving every file byte-identical, and a write works too. None
# may lose data. Then every read command on the idle DB leaves every file byte-identical too.
# usage: test_ldb_lock.sh PATH/TO/shale-ldb PATH/TO/shale-bench PATH/TO/ldb_hold
set -u
export LC_ALL=C # sort as scan orders keys: by bytes
ldb=${1:?usage: test_ldb_lock.sh shale-ldb shale-bench ldb_hold}
bench=${2:?usage: test_ldb_lock.sh shale-ldb shale-bench ldb_hold}
hold=${3:?usage: test_ldb_lock.sh shale-ldb shale-bench ldb_hold}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_ldb_lock.XXXXXX")
holder=
cleanup() {
  [[ -n $holder ]] && { exec 3>&-; wait "$holder"; }
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT
db=$tmp/db failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
# Every path (directories too) and every file's checksum.
snap() { (cd "$1" && find . | sort && find . -type f -exec md5sum {} + | sort); }
# run NAME ARGS... (stdin from $tmp/stdin): stdout in $tmp/NAME.out, stderr in $tmp/NAME.err.
run() {
  local name=$1; shift
  timeout 60 "$ldb" "$@" <"$tmp/stdin" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
}

# start_holder [--read_only]: ldb_hold opens $db and keeps it until fd 3 closes.
start_holder() {
  mkfifo "$tmp/hold.in"
  "$hold" "$db" "$@" <"$tmp/hold.in" >"$tmp/hold.out" 2>"$tmp/hold.err" &
  holder=$!
  exec 3>"$tmp/hold.in"
  rm "$tmp/hold.in"
  for _ in $(seq 100); do [[ -s $tmp/hold.out ]] && break; sleep 0.1; done
  [[ $(cat "$tmp/hold.out") == held ]] || fail "ldb_hold did not open the DB: $(cat "$tmp/hold.err")"
  # The open's own writes (replayed WALs flushed, a new WAL and MANIFEST) end before it
  # returns; wait until the directory is still, in case background work follows.
  local a b
  a=$(snap "$db")
  for _ in $(seq 20); do sleep 0.2; b=$(snap "$db"); [[ $a == "$b" ]] && break; a=$b; done
}
stop_holder() {
  exec 3>&-
  wait "$holder" || fail "ldb_hold: exit $?: $(cat "$tmp/hold.err")"
  holder=
}

# ---- a DB with tables, tombstones, a range delete and records in its WAL ----
"$bench" --benchmarks=fillrandom,deleterandom --num=3000 --seed=7 --write_buffer_size=65536 \
  --db="$db" >"$tmp/bench.out" 2>&1 || fail "shale-bench could not build the DB"
: >"$tmp/stdin"
w=(--db="$db" --auto_compaction=false)
run p1 "${w[@]}" put alpha one
run p2 "${w[@]}" deleterange x1 x5
run p3 "${w[@]}" flush
run p4 "${w[@]}" batchput beta two gamma three
((rc == 0)) || fail "could not prepare the DB: $(cat "$tmp/p4.err")"
table=$(ls "$db" | grep '\.sst$' | head -1)
wal=$(ls "$db" | grep '\.log$' | tail -1)
run scan0 --db="$db" scan
cp "$tmp/scan0.out" "$tmp/keys.before"

# Every command, with arguments that make it do its work. Those marked "w" write (or need the
# engine's exclusive open); "r" read. The input of query and load is in $tmp/cmd.stdin.
printf 'get alpha\nput qk qv\nscan\n' >"$tmp/query.stdin"
printf 'loadkey 1 PUT live loadval\n' >"$tmp/load.stdin"
cmds=(
  "r|get alpha" "r|scan" "r|scan --from=a --to=z --max_keys=3"
  "w|put k v" "w|batchput k v k2 v2" "w|delete alpha" "w|deleterange a b"
  "r|dump" "r|dump --include_deleted" "r|idump" "r|approxsize"
  "w|compact" "w|flush" "r|stats" "r|stats --property=shale.sequence"
  "r|checkpoint --dir=$tmp/ck.N" "w|checkpoint --dir=$tmp/ckf.N --flush"
  "r|updates_since --seq=NEXT" "r|lsm" "r|manifest_dump --verbose" "r|manifest_dump --json"
  "r|dump_wal --print_value" "r|sst_dump"
  "r|sst_dump --command=scan" "r|sst_dump --command=verify --show_properties"
  "r|sst_dump --command=raw" "r|checkconsistency" "r|tombstones" "w|repair"
  "r|get_property shale.sstables" "r|list_live_files_metadata" "r|dump_live_files --print_value"
  "r|list_file_range_deletes" "r|file_checksum_dump" "w|query" "w|load" "r|identify"
  "r|recompress" "r|sst_dump --command=scan --count_only"
  "r|sst_dump --command=scan --output_hex --read_num=5"
)

# check_all MODE: runs every command against $db, checking the directory after each.
# updates_since asks from the next sequence: a walk that works on any DB not held for writing.
check_all() {
  local mode=$1 n=0 entry kind c name before
  before=$(snap "$db")
  for entry in "${cmds[@]}"; do
    kind=${entry%%|*} c=${entry#*|} n=$((n + 1))
    c=${c//.N/.$mode.$n} c=${c//NEXT/$next_seq}
    name=${c%% *}
    cp "$tmp/$name.stdin" "$tmp/stdin" 2>/dev/null || : >"$tmp/stdin"
    run "$mode.$n" --db="$db" $c
    if [[ $(snap "$db") != "$before" ]]; then
      fail "$mode: '$c' (exit $rc) changed the DB directory: $(diff <(echo "$before") <(snap "$db") | head -5)"
      before=$(snap "$db")
    fi
    # The holder's mapped WAL ends in zeros reserved ahead of its writer: not damage.
    grep -q "warning" "$tmp/$mode.$n.err" && fail "$mode: '$c' warns: $(grep warning "$tmp/$mode.$n.err")"
    if ((rc == 0)); then
      [[ $mode == idle || $kind == r ]] || fail "$mode: '$c' wrote to a DB another process holds"
    elif ((rc >= 124)); then
      fail "$mode: '$c' crashed or hung: exit $rc"
    elif [[ $mode == idle ]]; then
      fail "idle: '$c' failed: exit $rc: $(head -2 "$tmp/$mode.$n.err")"
    elif ! grep -Eq "$db(/LOCK)? is locked" "$tmp/$mode.$n.err"; then
      fail "$mode: '$c' refused (exit $rc) without naming the LOCK: $(head -2 "$tmp/$mode.$n.err")"
    elif [[ $kind == r ]]; then # a read-only open takes no lock: no holder stops it
      fail "$mode: '$c' should have worked: $(head -2 "$tmp/$mode.$n.err")"
    fi
  done
}

next_seq() {
  run seq --db="$db" stats --property=shale.sequence
  next_seq=$(($(cat "$tmp/seq.out") + 1))
}
next_seq
start_holder
check_all held
# The holder's write is in its WAL only: the read-only open replays it.
run heldget --db="$db" get heldkey
[[ $rc == 0 && $(cat "$tmp/heldget.out") == heldval ]] || fail "get of a key only the holder's WAL has: rc=$rc $(cat "$tmp/heldget.err")"
stop_holder
ok "every command against a DB held open for writing"
run scan1 --db="$db" scan
echo "heldkey ==> heldval" | sort -m - "$tmp/keys.before" | cmp -s - "$tmp/scan1.out" || fail "the DB lost or gained keys while held: $(diff "$tmp/keys.before" "$tmp/scan1.out" | head -5)"
cp "$tmp/scan1.out" "$tmp/keys.before"
# The read commands: against the read-only holder and the idle DB.
reads=()
for entry in "${cmds[@]}"; do [[ ${entry%%|*} == r ]] && reads+=("$entry"); done
cmds=("${reads[@]}")
next_seq
start_holder --read_only
check_all shared
: >"$tmp/stdin"
run sharedput --db="$db" put sharedkey sharedval # the holder takes no lock: a writer opens
((rc == 0)) || fail "put beside a read-only holder: exit $rc: $(head -2 "$tmp/sharedput.err")"
stop_holder
ok "every read command, and a write, against a DB held open read-only"
run scan2 --db="$db" scan
echo "sharedkey ==> sharedval" | sort -m - "$tmp/keys.before" | cmp -s - "$tmp/scan2.out" || fail "the DB lost or gained keys while held read-only: $(diff "$tmp/keys.before" "$tmp/scan2.out" | head -5)"

# ---- idle: every read command leaves every file byte-identical ----
next_seq
check_all idle
ok "every read command on an idle DB leaves every file byte-identical"

echo "test_ldb_lock: $failures failure(s)"
[[ $failures -eq 0 ]]
