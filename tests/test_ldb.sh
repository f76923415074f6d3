#!/usr/bin/env bash
# test_ldb.sh — end-to-end test of shale-ldb: builds a DB with shale-bench and shale-ldb put,
# checks every command's output, that the read-only commands agree with the engine and work
# on a locked DB, that checkconsistency finds a flipped bit, a missing file and an orphan, that
# repair recovers a DB without MANIFEST/CURRENT and one with a truncated table, checks the
# commands RocksDB's ldb and sst_dump have (issue 15), and fuzzes sst_dump, identify,
# recompress, dump_wal and manifest_dump with mutated files (no run may crash).
# usage: test_ldb.sh PATH/TO/shale-ldb PATH/TO/shale-bench
# env: SHALE_FUZZ_SECONDS (default 30) bounds the fuzz loop.
set -u
ldb=${1:?usage: test_ldb.sh PATH/TO/shale-ldb PATH/TO/shale-bench}
bench=${2:?usage: test_ldb.sh PATH/TO/shale-ldb PATH/TO/shale-bench}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_ldb.XXXXXX")
[[ -n ${KEEP_TMP:-} ]] || trap 'rm -rf "$tmp"' EXIT
db=$tmp/db failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
# run NAME ARGS...: shale-ldb with stdout in $tmp/NAME.out, stderr in $tmp/NAME.err; sets rc.
run() {
  local name=$1; shift
  timeout 120 "$ldb" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
}
expect_ok() { # expect_ok NAME ARGS...
  run "$@"
  if ((rc != 0)); then fail "$1: exit $rc: $(head -3 "$tmp/$1.err")"; return 1; fi
}
has() { # has NAME REGEX [what]
  grep -Eq -- "$2" "$tmp/$1.out" || fail "$1: no line matching '$2' ${3:-}"
}

# ---- a DB: random fills and deletes (binary keys), then known text keys ----
"$bench" --benchmarks=fillrandom,deleterandom --num=3000 --seed=7 --write_buffer_size=65536 \
  --db="$db" >"$tmp/bench.out" 2>&1 || fail "shale-bench could not build the DB"
# Right after the bench its last flushes are L0 files of tombstones over L1 data (the engine
# compacts them away at its next open: tombstones reaching the last level are dropped).
cp -r "$db" "$tmp/benchdb" # its WAL holds many records: for the damaged-WAL repair below
expect_ok tomb --db="$db" tombstones
has tomb '^L0 [0-9]{6}\.sst point=[1-9][0-9]* range=[0-9]+ oldest_age=[0-9.]+s tomb_seq=[0-9]+\.\.[0-9]+$'
has tomb '^   shadowed=[1-9][0-9]* est_freed_bytes=[1-9][0-9]* pinned_by=L[0-6]:[0-9]{6}\.sst'
# The bench's last deletes are still in its WAL: counted apart from the tables' (issue 15).
has tomb '^wal [0-9]{6}\.log size=[0-9]+ live point_deletes=[1-9][0-9]* range_deletes=0$'
has tomb '^total wals=1 point_deletes=[1-9][0-9]* range_deletes=0 # '
has tomb '^total files=[1-9][0-9]* point=[1-9][0-9]* range=[0-9]+ '
tombtable=$(awk '$1 == "L0" {print $2; exit}' "$tmp/tomb.out")
[[ -n $tombtable ]] && cp "$db/$tombtable" "$tmp/tomb.sst"
expect_ok tombprops sst_dump "$tmp/tomb.sst" --show_properties
has tombprops '^dirty\.point_tombstones: [1-9][0-9]*$'
has tombprops '^dirty\.oldest_tomb_us: [1-9][0-9]*$'
has tombprops '^dirty\.blocks_with_tombstones: [1-9][0-9]*$'
# Known text keys. Every command opens the DB: tombstones are checked while still in the WAL.
w=(--db="$db" --auto_compaction=false)
expect_ok put1 "${w[@]}" put alpha one
expect_ok bput "${w[@]}" batchput beta two x2 inrange "sp ace" "v al"
expect_ok flush1 "${w[@]}" flush
expect_ok del1 "${w[@]}" delete beta
expect_ok dumpd --db="$db" dump --include_deleted
has dumpd '^beta [0-9]+ DEL deleted ""$'
has dumpd '^beta [0-9]+ PUT shadowed two$'
expect_ok idumpd --db="$db" idump
has idumpd '^[0-9]{6}\.log beta [0-9]+ DEL ""$'
has idumpd '^[0-9]{6}\.sst beta [0-9]+ PUT two$'
expect_ok dr1 "${w[@]}" deleterange x1 x5
expect_ok dumpr --db="$db" dump --include_deleted
has dumpr '^x2 [0-9]+ PUT covered inrange$'
has dumpr '^x1 [0-9]+ RANGE_DEL range x5$'
expect_ok idumpr --db="$db" idump
has idumpr '^[0-9]{6}\.log x1 [0-9]+ RANGE_DEL x5$'
expect_ok walr --db="$db" dump_wal
has walr '^[0-9]+ RANGE_DEL x1 x5$'
expect_ok flush2 "${w[@]}" flush
expect_ok put5 "${w[@]}" put walkey walval
expect_ok hput "${w[@]}" --hex put 0x00FF 0xABCD
[[ $(cat "$tmp/put1.out") == OK ]] || fail "put: did not print OK"

# ---- read-only commands ----
expect_ok dump --db="$db" dump
has dump '^alpha [0-9]+ PUT live one$'
has dump '^sp\\x20ace [0-9]+ PUT live v\\x20al$'
expect_ok tomb2 --db="$db" tombstones
has tomb2 '^total files=[0-9]+ point=[0-9]+ range=[0-9]+ shadowed=[0-9]+ est_freed_bytes=[0-9]+$'
grep -q '^beta ' "$tmp/dump.out" && fail "dump shows a deleted key"
expect_ok idump --db="$db" idump
has idump '^[0-9]{6}\.(sst|log) walkey [0-9]+ PUT walval$'
has idump '^[0-9]{6}\.log \\x00\\xFF [0-9]+ PUT \\xAB\\xCD$'
expect_ok idumpm --db="$db" idump --max_keys=5
[[ $(grep -vc RANGE_DEL "$tmp/idumpm.out") -eq 5 ]] || fail "idump --max_keys=5"
expect_ok approx --db="$db" approxsize
[[ $(cat "$tmp/approx.out") =~ ^[1-9][0-9]*$ ]] || fail "approxsize: $(cat "$tmp/approx.out")"
expect_ok approx0 --db="$db" approxsize --from=zz1 --to=zz2
[[ $(cat "$tmp/approx0.out") == 0 ]] || fail "approxsize of an empty range: $(cat "$tmp/approx0.out")"
expect_ok lsm --db="$db" lsm
has lsm '^level=0 files=[0-9]+ bytes=[0-9]+ entries='
has lsm '^  L[0-6] [0-9]{6}\.sst size=[0-9]+ entries=[0-9]+ point_tombstones=[0-9]+ range_tombstones=[0-9]+$'
has lsm '^     oldest_tomb_age=.* seq=[0-9]+\.\.[0-9]+ \[[#x.]{30}\]$'
has lsm '^     smallest=.*@[0-9]+:[A-Z_]+ largest=.*@[0-9]+:[A-Z_]+$'
# The WAL holds `delete beta` and `deleterange x1 x5` (flushed since) and puts: its deletes
# are counted, labelled, apart from the tables'.
has lsm '^wal [0-9]{6}\.log size=[0-9]+ live point_deletes=[0-9]+ range_deletes=[0-9]+$'
has lsm '^total wals=[1-9][0-9]* point_deletes=[0-9]+ range_deletes=[0-9]+ # in live WALs'
# Every delete of a small bench is still in its WAL (one memtable): all of them are counted.
"$bench" --benchmarks=fillseq,deleteseq --num=100 --db="$tmp/waldel" >/dev/null 2>&1 ||
  fail "shale-bench could not build the WAL-only DB"
expect_ok lsmw --db="$tmp/waldel" lsm
has lsmw '^total wals=1 point_deletes=100 range_deletes=0 # in live WALs'
expect_ok tombw --db="$tmp/waldel" tombstones
has tombw '^total files=0 point=0 '
has tombw '^total wals=1 point_deletes=100 range_deletes=0 # '
for c in lsm tomb tomb2; do
  long=$(awk 'length > 100' "$tmp/$c.out" | head -1)
  [[ -z $long ]] || fail "$c: a line longer than 100 characters: $long"
done
expect_ok md --db="$db" manifest_dump --verbose
has md '^edit=0 end_offset=[0-9]+ format_version=1'
has md '^edit=[0-9]+ add level=[0-6] file=[0-9]{6} size=[0-9]+ '
has md '^current level='
has md '^# edits=[0-9]+ log_number='
expect_ok mdj --db="$db" manifest_dump --json
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/mdj.out" || fail "manifest_dump --json: not JSON lines"
fi
has mdj '^\{"edit":0,'
expect_ok wal --db="$db" dump_wal --print_value
has wal '^# wal=.*\.log log_number=[0-9]+$'
has wal '^batch seq=[0-9]+ count=1 bytes=[0-9]+ end_offset=[0-9]+$'
has wal '^[0-9]+ PUT \\x00\\xFF \\xAB\\xCD$'
expect_ok walh --db="$db" --hex dump_wal --print_value
has walh '^[0-9]+ PUT 0x00FF 0xABCD$'
expect_ok cc --db="$db" checkconsistency
has cc '0 problem\(s\)$'
table=$(awk '$1 ~ /^L[0-6]$/ {print $2; exit}' "$tmp/lsm.out")
[[ -n $table ]] || fail "lsm lists no table"
for c in check scan verify raw; do
  expect_ok "sst_$c" sst_dump "$db/$table" --command=$c --show_properties
  has "sst_$c" '^dirty\.point_tombstones: [0-9]+$'
  has "sst_$c" '^dirty\.min_tomb_seq: [0-9]+$'
  has "sst_$c" '^dirty\.oldest_tomb_us: [0-9]+$'
  has "sst_$c" '^data_blocks: [1-9]'
done
has sst_check 'OK entries=[0-9]+'
has sst_verify 'properties verified'
has sst_raw '^footer offset=[0-9]+ version=4 checksum=[0-9a-f]{8} magic=ok$'
has sst_raw '^  fixed=64 deleted_key_filter=0$' # format 4 writes no deleted-key filter
has sst_raw '^block data\[0\] offset=0 size=[0-9]+ type=(raw|zstd) checksum='
expect_ok sstdir sst_dump "$db"
[[ $(grep -c ': OK entries=' "$tmp/sstdir.out") -ge 1 ]] || fail "sst_dump DIR"
ok "read-only commands"

# ---- RocksDB ldb and sst_dump commands (issue 15) ----
tables=$(awk '$1 ~ /^L[0-6]$/ {print $2}' "$tmp/lsm.out" | sort)
expect_ok llfm --db="$db" list_live_files_metadata
[[ $(awk '{print $1}' "$tmp/llfm.out" | sort) == "$tables" ]] || fail "list_live_files_metadata lists other tables than lsm"
has llfm '^[0-9]{6}\.sst level=[0-6] size=[0-9]+ raw_bytes=[0-9]+ entries=[0-9]+ point_tombstones=[0-9]+ range_tombstones=[0-9]+ seq=[0-9]+\.\.[0-9]+ tomb_seq=[0-9]+\.\.[0-9]+ oldest_tomb_us=[0-9]+ newest_tomb_us=[0-9]+ smallest=.*@[0-9]+:[A-Z_]+ largest=.*@[0-9]+:[A-Z_]+$'
expect_ok fcd --db="$db" file_checksum_dump
[[ $(awk '{print $1}' "$tmp/fcd.out" | sort) == "$tables" ]] || fail "file_checksum_dump lists other tables than lsm"
has fcd "^$table level=[0-6] size=$(stat -c %s "$db/$table") XXH3_64=[0-9a-f]{16}\$"
cp -r "$db" "$tmp/fcdflip"
printf '\x5a' | dd of="$tmp/fcdflip/$table" bs=1 seek=3 conv=notrunc status=none
expect_ok fcd2 --db="$tmp/fcdflip" file_checksum_dump
[[ $(grep -c . "$tmp/fcd2.out") == $(grep -c . "$tmp/fcd.out") && $(grep "^$table" "$tmp/fcd.out") != $(grep "^$table" "$tmp/fcd2.out") ]] || fail "file_checksum_dump: a changed byte keeps the checksum"
diff <(grep -v "^$table" "$tmp/fcd.out") <(grep -v "^$table" "$tmp/fcd2.out") >/dev/null || fail "file_checksum_dump: untouched tables changed checksum"
rm "$tmp/fcdflip/$table"
run fcd3 --db="$tmp/fcdflip" file_checksum_dump
((rc == 1)) && grep -q "cannot open .*$table" "$tmp/fcd3.err" || fail "file_checksum_dump of a missing table: rc=$rc"
expect_ok gp --db="$db" get_property shale.sequence
expect_ok gp2 --db="$db" stats --property=shale.sequence
cmp -s "$tmp/gp.out" "$tmp/gp2.out" && [[ $(cat "$tmp/gp.out") =~ ^[1-9][0-9]*$ ]] || fail "get_property shale.sequence: $(cat "$tmp/gp.out")"
run gp3 --db="$db" get_property no.such.property
((rc == 1)) && grep -q "unknown property" "$tmp/gp3.err" || fail "get_property of an unknown name: rc=$rc"
run gp4 --db="$db" get_property
((rc == 2)) || fail "get_property without a name: rc=$rc"
expect_ok dlf --db="$db" dump_live_files --print_value
for t in $tables; do
  grep -q "^# table level=[0-6] $db/$t\$" "$tmp/dlf.out" || fail "dump_live_files: no section for $t"
done
has dlf '^# wal=.*\.log log_number=[0-9]+$'
has dlf '^# manifest=.*MANIFEST-[0-9]+$'
expect_ok dlft sst_dump "$db/$table" --command=scan
awk -v t="$db/$table" '/^# / {on = ($0 ~ "^# table level=[0-6] " t "$"); next} on' "$tmp/dlf.out" | cmp -s - "$tmp/dlft.out" || fail "dump_live_files: $table differs from sst_dump --command=scan"
# The bench's range tombstones, in its tables: as idump shows them, with the level first.
"$bench" --benchmarks=fillrandom --num=2000 --seed=5 --write_buffer_size=65536 \
  --writes_per_range_tombstone=500 --range_tombstone_width=10 --db="$tmp/rd" >/dev/null 2>&1 ||
  fail "shale-bench could not build a DB with range tombstones"
expect_ok lfrd --db="$tmp/rd" list_file_range_deletes
has lfrd '^L[0-6] [0-9]{6}\.sst [^ ]+ [0-9]+ RANGE_DEL [^ ]+$'
expect_ok lfrdi --db="$tmp/rd" idump
cmp -s <(cut -d' ' -f2- "$tmp/lfrd.out" | sort) <(grep -E '^[0-9]{6}\.sst [^ ]+ [0-9]+ RANGE_DEL ' "$tmp/lfrdi.out" | sort) ||
  fail "list_file_range_deletes differs from the tables' RANGE_DEL lines of idump"
expect_ok lfrd2 --db="$tmp/rd" list_file_range_deletes --from='\xFF'
[[ ! -s $tmp/lfrd2.out ]] || fail "list_file_range_deletes --from past the range: $(cat "$tmp/lfrd2.out")"
# query: a script drives it through a pipe; a bad line is an ERROR line and the rest still runs.
cp -r "$db" "$tmp/qdb"
q=$tmp/query.in
printf 'get alpha\nget nokey\nput qkey qval\n# a comment\n\nget qkey\nbogus\nput onlykey\nscan qkey qkez\ndelete qkey\nget qkey\nscan alpha alphb 5\nquit\nput after quit\n' >"$q"
run query --db="$tmp/qdb" query <"$q"
cat >"$tmp/query.want" <<'WANT'
alpha ==> one
nokey NOT_FOUND
OK
qkey ==> qval
ERROR unknown command 'bogus' (help lists them)
ERROR usage: put KEY VALUE
qkey ==> qval
# 1 key(s)
OK
qkey NOT_FOUND
alpha ==> one
# 1 key(s)
WANT
((rc == 1)) && cmp -s "$tmp/query.out" "$tmp/query.want" || fail "query: rc=$rc $(diff "$tmp/query.want" "$tmp/query.out")"
run query2 --db="$tmp/qdb" get after
((rc == 1)) || fail "query went on after quit"
printf 'put \\x00\\x01 \\xFF\nget \\x00\\x01\n' | timeout 60 "$ldb" --db="$tmp/qdb" query >"$tmp/query3.out" 2>&1
[[ $(tail -1 "$tmp/query3.out") == '\x00\x01 ==> \xFF' ]] || fail "query with escaped bytes: $(cat "$tmp/query3.out")"
printf 'get 0x0001\n' | timeout 60 "$ldb" --db="$tmp/qdb" --hex query >"$tmp/query4.out" 2>&1
[[ $(cat "$tmp/query4.out") == '0x0001 ==> 0xFF' ]] || fail "query --hex: $(cat "$tmp/query4.out")"
# load: dump -> load -> dump gives the same keys, kinds, states and values (a new DB numbers
# its own sequences, so SEQ differs), in text and in hex, --include_deleted lines skipped.
expect_ok ld0 --db="$db" dump
expect_ok ld1 --db="$tmp/loaded" load "$tmp/ld0.out" --create_if_missing
has ld1 "^OK loaded=$(grep -c . "$tmp/ld0.out") skipped=0\$"
expect_ok ld2 --db="$tmp/loaded" dump
cmp -s <(cut -d' ' -f1,3- "$tmp/ld0.out") <(cut -d' ' -f1,3- "$tmp/ld2.out") || fail "dump -> load -> dump differs: $(diff "$tmp/ld0.out" "$tmp/ld2.out" | head -5)"
expect_ok ld3 --db="$db" --hex dump --include_deleted
timeout 60 "$ldb" --db="$tmp/loadedh" --hex load --create_if_missing <"$tmp/ld3.out" >"$tmp/ld4.out" 2>&1 || fail "load --hex from stdin: $(cat "$tmp/ld4.out")"
notlive=$(awk '$3 != "PUT" || $4 != "live"' "$tmp/ld3.out" | wc -l)
grep -Eq "^OK loaded=[0-9]+ skipped=$notlive\$" "$tmp/ld4.out" || fail "load: --include_deleted lines not skipped: $(cat "$tmp/ld4.out")"
expect_ok ld5 --db="$tmp/loadedh" dump
cmp -s "$tmp/ld2.out" "$tmp/ld5.out" || fail "load of a hex dump differs from the text one"
printf 'k1 5 PUT live v1\nk2 PUT live v2\n' >"$tmp/bad.dump"
run ld6 --db="$tmp/loaded" load "$tmp/bad.dump"
((rc == 1)) && grep -q "line 2: expected KEY SEQ KIND STATE VALUE" "$tmp/ld6.err" || fail "load of a malformed line: rc=$rc $(cat "$tmp/ld6.err")"
run ld7 --db="$tmp/loaded" get k1
((rc == 1)) || fail "load wrote the batch holding a malformed line"
run ld8 --db="$tmp/noload" load "$tmp/ld0.out"
((rc == 1)) && [[ ! -e $tmp/noload ]] || fail "load into a missing DB without --create_if_missing: rc=$rc"
# identify and recompress: what a file is, and what each compression would make of it. The
# sst_dump checks below use the table with the most entries.
big=$(sed -n 's/^\([0-9]*\.sst\) .* entries=\([0-9]*\) .*/\2 \1/p' "$tmp/llfm.out" | sort -n | tail -1 | cut -d' ' -f2)
expect_ok bigcheck sst_dump "$db/$big" --show_properties
expect_ok idf identify "$db/$big"
has idf "^$db/$big: Shale SSTable format_version=4 size=[0-9]+ entries=[0-9]+ compression=(zstd|none)\$"
run idf2 identify "$db/CURRENT"
((rc == 1)) && grep -q "not a Shale SSTable" "$tmp/idf2.out" || fail "identify CURRENT: rc=$rc $(cat "$tmp/idf2.out")"
head -c 200 "$db/$big" >"$tmp/cut.sst"
run idf3 identify "$tmp/cut.sst"
((rc == 1)) && grep -q "not a Shale SSTable" "$tmp/idf3.out" || fail "identify a cut table: rc=$rc"
cp "$db/$big" "$tmp/foot.sst"
printf '\x5a' | dd of="$tmp/foot.sst" bs=1 seek=$(($(stat -c %s "$tmp/foot.sst") - 20)) conv=notrunc status=none
run idf4 identify "$tmp/foot.sst"
((rc == 1)) && grep -q "damaged Shale SSTable" "$tmp/idf4.out" || fail "identify a damaged footer: rc=$rc $(cat "$tmp/idf4.out")"
expect_ok idfd --db="$db" identify
[[ $(grep -c ': Shale SSTable' "$tmp/idfd.out") -ge 1 ]] || fail "identify --db"
sum=$(md5sum <"$db/$big")
expect_ok rec recompress "$db/$big"
[[ $(md5sum <"$db/$big") == "$sum" ]] || fail "recompress changed the file"
has rec "^# $db/$big: size=[0-9]+ data_blocks=[1-9][0-9]* raw_data_bytes=[0-9]+ data_bytes=[0-9]+ \\(now (zstd|none)\\)\$"
has rec '^compression=none data_bytes=[0-9]+ est_file_size=[0-9]+ ratio=1\.00$'
for lv in 1 3 9 19; do has rec "^compression=zstd level=$lv data_bytes=[0-9]+ est_file_size=[0-9]+ ratio=[0-9.]+\$"; done
# The engine wrote it with zstd level 3 and no dictionary: recompressing so gives its bytes.
now=$(sed -n 's/.* data_bytes=\([0-9]*\) (now zstd)$/\1/p' "$tmp/rec.out")
if [[ -n $now ]] && grep -q '^zstd_dictionary_bytes: 0$' "$tmp/bigcheck.out"; then
  has rec "^compression=zstd level=3 data_bytes=$now est_file_size=$(stat -c %s "$db/$big") "
fi
cp "$db/$big" "$tmp/flip.sst"
printf '\xff' | dd of="$tmp/flip.sst" bs=1 seek=$(($(stat -c %s "$tmp/flip.sst") / 4)) conv=notrunc status=none
run rec2 recompress "$tmp/flip.sst"
((rc == 1)) && grep -q "flip.sst: " "$tmp/rec2.err" || fail "recompress of a damaged table: rc=$rc $(cat "$tmp/rec2.err")"
# sst_dump's --output_hex, --read_num and --count_only.
expect_ok sxh sst_dump "$db/$big" --command=scan --output_hex --read_num=3
[[ $(grep -vc RANGE_DEL "$tmp/sxh.out") == 3 ]] || fail "sst_dump --read_num=3: $(cat "$tmp/sxh.out")"
grep -v RANGE_DEL "$tmp/sxh.out" | grep -Eqv '^0x[0-9A-F]* [0-9]+ [A-Z_]+ 0x[0-9A-F]*$' && fail "sst_dump --output_hex: $(cat "$tmp/sxh.out")"
expect_ok sxc sst_dump "$db/$big" --command=scan --count_only
n=$(sed -n 's/.*OK entries=\([0-9]*\) .*/\1/p' "$tmp/bigcheck.out")
has sxc "^$db/$big: count=$n range_tombstones=[0-9]+\$"
expect_ok sxc2 sst_dump "$db/$big" --command=scan --count_only --read_num=2
has sxc2 "^$db/$big: count=2 "
# Every command is in --help, the doc and the man page.
src=$(cd "$(dirname "$0")/.." && pwd)
run help --help
for c in $(awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}' "$tmp/help.out"); do
  grep -q "\`$c\b" "$src/doc/shale-ldb.md" || fail "doc/shale-ldb.md does not document $c"
  grep -q "^\.B[I]* $c\b" "$src/man/shale-ldb.1.in" || fail "the man page does not document $c"
  run chelp "$c" --help
  ((rc == 0)) || fail "$c --help: rc=$rc"
done
ok "ldb and sst_dump commands from RocksDB"

# ---- engine commands ----
expect_ok get1 --db="$db" get alpha && [[ $(cat "$tmp/get1.out") == one ]] || fail "get alpha: $(cat "$tmp/get1.out")"
run get2 --db="$db" get beta
((rc == 1)) && grep -q "not found" "$tmp/get2.err" || fail "get of a deleted key: rc=$rc"
run get3 --db="$db" get x2
((rc == 1)) || fail "get of a range-deleted key: rc=$rc"
expect_ok get4 --db="$db" get "sp ace" && [[ $(cat "$tmp/get4.out") == 'v\x20al' ]] || fail "get: space not escaped: $(cat "$tmp/get4.out")"
expect_ok hget --db="$db" --hex get 0x00FF && [[ $(cat "$tmp/hget.out") == 0xABCD ]] || fail "hex get: $(cat "$tmp/hget.out")"
expect_ok scan --db="$db" scan
# A key as scan prints it (\xHH escapes) reads back with get and --from.
esc=$(grep -m1 '^\\x00' "$tmp/scan.out")
if [[ -n $esc ]]; then
  expect_ok escget --db="$db" get "${esc%% ==> *}" && [[ $(cat "$tmp/escget.out") == "${esc#* ==> }" ]] || fail "get of an escaped key: $(cat "$tmp/escget.err")"
  expect_ok escscan --db="$db" scan --from="${esc%% ==> *}" --max_keys=1 && [[ $(cat "$tmp/escscan.out") == "$esc" ]] || fail "scan --from an escaped key: $(cat "$tmp/escscan.out")"
else
  fail "scan printed no escaped key"
fi
# dump read the files before the engine opened the DB: the same live keys and values.
awk '{print $1 " ==> " $5}' "$tmp/dump.out" | cmp -s - "$tmp/scan.out" || fail "dump and scan disagree"
has scan '^alpha ==> one$'
grep -q '^beta ' "$tmp/scan.out" && fail "scan shows a deleted key"
expect_ok scanr --db="$db" scan --from=alpha --to=walkez --max_keys=2
[[ $(wc -l <"$tmp/scanr.out") -eq 2 && $(head -1 "$tmp/scanr.out") == "alpha ==> one" ]] || fail "scan --from/--max_keys: $(cat "$tmp/scanr.out")"
expect_ok stats --db="$db" stats
has stats 'L0|Level'
run compact --db="$db" compact --from=a --to=b
if ((rc != 0)); then grep -q "SHALE_NOTSUP" "$tmp/compact.err" && echo "NOTE compact: $(cat "$tmp/compact.err")" || fail "compact: $(cat "$tmp/compact.err")"; fi
ok "engine commands"
# A checkpoint opens to the same keys and values; a taken directory is refused.
expect_ok ckpt --db="$db" checkpoint --dir="$tmp/ckpt"
has ckpt '^OK checkpoint .* at sequence [0-9]+$'
expect_ok ckscan --db="$tmp/ckpt" scan
expect_ok dbscan --db="$db" scan
cmp -s "$tmp/ckscan.out" "$tmp/dbscan.out" || fail "the checkpoint's scan differs from the DB's"
run ckpt2 --db="$db" checkpoint --dir="$tmp/ckpt"
((rc == 1)) && grep -q "not an empty directory" "$tmp/ckpt2.err" || fail "checkpoint over a DB: rc=$rc $(cat "$tmp/ckpt2.err")"
run ckpt3 --db="$db" checkpoint
((rc == 2)) || fail "checkpoint without --dir: rc=$rc"
expect_ok ckpt4 --db="$db" checkpoint --dir="$tmp/ckpt4" --flush
expect_ok ckscan4 --db="$tmp/ckpt4" scan
cmp -s "$tmp/ckscan4.out" "$tmp/dbscan.out" || fail "checkpoint --flush: scan differs"
ok "checkpoint"
# Backups: a full one, an incremental one that shares the tables, a restore that scans the
# same, a refused restore over a DB, a flipped bit found before anything is written.
bk=$tmp/backups
expect_ok bk1 --db="$db" backup --backup_dir="$bk" --flush
has bk1 '^OK backup 1 at sequence [0-9]+: [0-9]+ files, [0-9]+ bytes; [0-9]+ copied, [0-9]+ bytes$'
expect_ok bk2 --db="$db" backup --backup_dir="$bk"
has bk2 '^OK backup 2 at sequence [0-9]+: '
read -r files copied < <(sed -E 's/.*: ([0-9]+) files, .*; ([0-9]+) copied.*/\1 \2/' "$tmp/bk2.out")
((copied < files)) || fail "backup 2 copied every table again: $(cat "$tmp/bk2.out")"
expect_ok bklist list_backups --backup_dir="$bk"
[[ $(grep -Ec '^backup [12] sequence=[0-9]+ time=[0-9]+\.[0-9]{6} size=[0-9]+ files=[0-9]+$' "$tmp/bklist.out") -eq 2 ]] ||
  fail "list_backups: $(cat "$tmp/bklist.out")"
expect_ok rs --db="$tmp/restored" restore --backup_dir="$bk"
has rs '^OK restore of the latest backup of '
expect_ok rsscan --db="$tmp/restored" scan
cmp -s "$tmp/rsscan.out" "$tmp/dbscan.out" || fail "the restored DB's scan differs from the DB's"
run rs2 --db="$tmp/restored" restore --backup_dir="$bk" --backup_id=1
((rc == 1)) && grep -q "SHALE_RESTORE_OVERWRITE" "$tmp/rs2.err" || fail "restore over a DB: rc=$rc $(cat "$tmp/rs2.err")"
expect_ok rs3 --db="$tmp/restored" restore --backup_dir="$bk" --backup_id=1 --overwrite
shared_table=$(ls "$bk"/shared/*.sst | head -1)
byte=$(od -An -tu1 -j100 -N1 "$shared_table" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 4)))" | dd of="$shared_table" bs=1 seek=100 conv=notrunc status=none
run rs4 --db="$tmp/restored4" restore --backup_dir="$bk"
((rc == 1)) && grep -q "$(basename "$shared_table")" "$tmp/rs4.err" && [[ ! -e $tmp/restored4 ]] ||
  fail "restore of a damaged backup: rc=$rc $(cat "$tmp/rs4.err")"
run rs5 --db="$tmp/restored5" restore
((rc == 2)) || fail "restore without --backup_dir: rc=$rc"
expect_ok bkpurge purge_backups --backup_dir="$bk" --keep=1
expect_ok bklist2 list_backups --backup_dir="$bk"
[[ $(wc -l <"$tmp/bklist2.out") -eq 1 ]] && has bklist2 '^backup 2 ' || fail "purge_backups --keep=1 left: $(cat "$tmp/bklist2.out")"
ok "backup, restore, list_backups, purge_backups"
# The WAL tail: the last put is in the live WAL; what a flush removed is too old.
expect_ok tailput --db="$db" put tailkey tailval
expect_ok tailseq --db="$db" stats --property=shale.sequence
tseq=$(cat "$tmp/tailseq.out")
expect_ok tail --db="$db" updates_since --seq="$tseq" --print_value
has tail "^batch seq=$tseq count=1\$"
has tail "^$tseq PUT tailkey tailval\$"
run tail2 --db="$db" updates_since --seq=1
((rc == 1)) && grep -q "older than the oldest WAL" "$tmp/tail2.err" || fail "updates_since too old: rc=$rc $(cat "$tmp/tail2.err")"
run tail3 --db="$db" updates_since
((rc == 2)) || fail "updates_since without --seq: rc=$rc"
ok "updates_since"
# The engine has flushed and compacted: look again, and leave a record in the WAL.
expect_ok put6 --db="$db" put walkey2 walval2
expect_ok lsm --db="$db" lsm
expect_ok idump --db="$db" idump
expect_ok dump --db="$db" dump
table=$(awk '$1 ~ /^L[0-6]$/ {print $2; exit}' "$tmp/lsm.out")

# ---- a DB held by another process: read-only commands still work, writes say "locked" ----
cp -r "$db" "$tmp/locked"
# A live DB's mapped WAL ends in the zeros reserved ahead of its writer: no warning for them.
livewal=$(ls "$tmp/locked" | grep '\.log$' | tail -1)
truncate -s +4M "$tmp/locked/$livewal"
if command -v flock >/dev/null; then
  flock "$tmp/locked/LOCK" sleep 20 &
  holder=$!
  sleep 0.5
  for c in lsm dump tombstones checkconsistency manifest_dump; do expect_ok "lk_$c" --db="$tmp/locked" $c; done
  run lk_put --db="$tmp/locked" put k v
  ((rc != 0)) && grep -q "locked" "$tmp/lk_put.err" || fail "put on a locked DB: rc=$rc $(cat "$tmp/lk_put.err")"
  expect_ok lk_get --db="$tmp/locked" get alpha && [[ $(cat "$tmp/lk_get.out") == one ]] || fail "get on a locked DB (direct read)"
  expect_ok lk_scan --db="$tmp/locked" scan
  awk '{print $1 " ==> " $5}' "$tmp/dump.out" | cmp -s - "$tmp/lk_scan.out" || fail "scan on a locked DB differs from the engine's"
  for c in get scan dump; do
    grep -q "warning" "$tmp/lk_$c.err" && fail "$c on a live DB warns: $(grep warning "$tmp/lk_$c.err")"
  done
  run lk_repair --db="$tmp/locked" repair
  ((rc != 0)) || fail "repair ran on a locked DB"
  kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
  ok "locked DB"
fi
# Read-only commands do not write: every file (LOCK and LOG included) is byte-identical
# afterwards and none appears or goes, though the WAL holds records and L0 is over the
# compaction trigger, which an engine open that writes would flush and compact.
snap() { (cd "$1" && find . -type f -exec md5sum {} + | sort); }
cp -r "$tmp/benchdb" "$tmp/rodb"
expect_ok roput --db="$tmp/rodb" --auto_compaction=false put rokey roval
before=$(snap "$tmp/rodb")
ro_cmds=(dump idump lsm manifest_dump dump_wal tombstones checkconsistency approxsize "get rokey" scan "checkpoint --dir=$tmp/rockpt" stats)
for c in "${ro_cmds[@]}"; do
  run ro --db="$tmp/rodb" $c
  [[ $(snap "$tmp/rodb") == "$before" ]] || { fail "read-only command '$c' changed the DB directory"; before=$(snap "$tmp/rodb"); }
done
[[ $(cat "$tmp/ro.out") == *L0* ]] || fail "stats on the read-only DB: $(cat "$tmp/ro.err")"
run ro --db="$tmp/rodb" get rokey
[[ $(cat "$tmp/ro.out") == roval ]] || fail "get reads the WAL when read-only: $(cat "$tmp/ro.err")"
expect_ok rockscan --db="$tmp/rockpt" get rokey && [[ $(cat "$tmp/rockscan.out") == roval ]] || fail "a checkpoint from a read-only open lacks the WAL's write"
ok "read-only commands leave every file byte-identical"
# A DB on a read-only file system (root ignores chmod, so a read-only bind mount stands in).
mkdir "$tmp/romnt"
if mount --bind "$tmp/rodb" "$tmp/romnt" 2>/dev/null; then
  if mount -o remount,ro,bind "$tmp/romnt" 2>/dev/null; then
    expect_ok romget --db="$tmp/romnt" get rokey && [[ $(cat "$tmp/romget.out") == roval ]] || fail "get on a read-only mount: $(cat "$tmp/romget.err")"
    expect_ok romscan --db="$tmp/romnt" scan
    expect_ok romscan2 --db="$tmp/rodb" scan
    cmp -s "$tmp/romscan.out" "$tmp/romscan2.out" || fail "scan on a read-only mount differs"
    # Tables cannot be linked across mounts (EXDEV): the checkpoint copies them.
    expect_ok romckpt --db="$tmp/romnt" checkpoint --dir="$tmp/romckpt"
    expect_ok romscan3 --db="$tmp/romckpt" scan
    cmp -s "$tmp/romscan3.out" "$tmp/romscan2.out" || fail "checkpoint from a read-only mount differs"
    ok "get, scan and checkpoint on a read-only mount"
  fi
  umount "$tmp/romnt"
else
  echo "NOTE read-only mount: cannot bind-mount here; skipped"
fi

# ---- help and bad input ----
run help --help; ((rc == 0)) && has help 'tombstones' || fail "--help"
run chelp --db="$db" sst_dump --help; ((rc == 0)) && has chelp 'command=check' || fail "sst_dump --help"
run bad1 --db="$db" nosuchcommand; ((rc == 2)) || fail "unknown command: rc=$rc"
run bad2 --db="$db" --nosuchflag lsm; ((rc == 2)) || fail "unknown flag: rc=$rc"
run bad3 --db="$tmp/nope" lsm; ((rc == 1)) && grep -q "cannot open DB directory" "$tmp/bad3.err" || fail "missing DB: $(cat "$tmp/bad3.err")"
run bad4 --db="$db" --hex get 0xZZ; ((rc == 2)) || fail "bad hex: rc=$rc"
run bad5 sst_dump "$db/CURRENT"; ((rc == 1)) && [[ -s $tmp/bad5.err ]] || fail "sst_dump of a non-table"
run bad6 dump_wal --walfile="$db/$table"; ((rc == 1)) && [[ -s $tmp/bad6.err ]] || fail "dump_wal of a table"
run bad7 manifest_dump --path="$db/$table"; ((rc == 1)) || fail "manifest_dump of a table"
ok "help and bad input"

# ---- checkconsistency finds damage ----
cp -r "$db" "$tmp/flip"
size=$(stat -c %s "$tmp/flip/$table")
printf '\xff' | dd of="$tmp/flip/$table" bs=1 seek=$((size / 4)) conv=notrunc status=none
run ccflip --db="$tmp/flip" checkconsistency
((rc == 1)) && grep -q "^ERROR L[0-6] $table: .*offset" "$tmp/ccflip.out" || fail "checkconsistency missed a flipped byte: $(grep ERROR "$tmp/ccflip.out")"
run sstflip sst_dump "$tmp/flip/$table" --command=verify
((rc == 1)) && grep -q "$table" "$tmp/sstflip.err" || fail "sst_dump verify missed a flipped byte"
cp -r "$db" "$tmp/miss"
rm "$tmp/miss/$table"
cp "$tmp/miss/$(ls "$tmp/miss" | grep '\.sst$' | head -1)" "$tmp/miss/999999.sst"
run ccmiss --db="$tmp/miss" checkconsistency
((rc == 1)) || fail "checkconsistency: rc=$rc with a missing table"
grep -q "^ERROR L[0-6] $table: missing" "$tmp/ccmiss.out" || fail "checkconsistency missed a missing table"
grep -q "^NOTE orphan 999999.sst" "$tmp/ccmiss.out" || fail "checkconsistency missed an orphan table"
# An orphan alone, as a crash leaves it, is a note: exit 0, no problem counted.
cp -r "$db" "$tmp/orphan"
cp "$tmp/orphan/$table" "$tmp/orphan/999999.sst"
run ccorphan --db="$tmp/orphan" checkconsistency
((rc == 0)) && grep -q "^NOTE orphan 999999.sst: .*next open removes it" "$tmp/ccorphan.out" && grep -q " 0 problem(s)$" "$tmp/ccorphan.out" || fail "checkconsistency: an orphan is not a note: rc=$rc $(grep orphan "$tmp/ccorphan.out")"
ok "checkconsistency"

# ---- a directory that is not a Shale DB is recognized and left untouched ----
# LevelDB's and RocksDB's layout: CURRENT naming a MANIFEST whose first record is a version
# edit (not Shale's file header), LOCK, an info LOG, a WAL and tables; and a directory of
# someone's files. snap lists every file, so a LOCK or LOG created would show.
fake_log() { printf '\x12\x34\x56\x78\x1c\x00\x01\x01\x1aleveldb.BytewiseComparator\x02\x00' >"$1"; }
mkdir "$tmp/rocks" "$tmp/plain"
echo MANIFEST-000005 >"$tmp/rocks/CURRENT"
fake_log "$tmp/rocks/MANIFEST-000005"
fake_log "$tmp/rocks/000004.log"
echo "2026/01/01-00:00:00.000000 RocksDB version: 8.0" >"$tmp/rocks/LOG"
head -c 3000 /dev/urandom >"$tmp/rocks/000006.ldb"
echo 1234-5678 >"$tmp/rocks/IDENTITY"
: >"$tmp/rocks/LOCK"
echo notes >"$tmp/plain/notes.txt"
head -c 3000 /dev/urandom >"$tmp/plain/data.bin"
for d in rocks plain; do
  before=$(snap "$tmp/$d")
  for c in repair scan "get k" dump lsm "put k v" "put k v --create_if_missing"; do
    run foreign --db="$tmp/$d" $c
    ((rc == 1)) && grep -q "is not a Shale DB" "$tmp/foreign.err" || fail "$d: '$c' on a foreign directory: rc=$rc $(head -2 "$tmp/foreign.err")"
    [[ $(snap "$tmp/$d") == "$before" && ! -e $tmp/$d/lost ]] || { fail "$d: '$c' changed a foreign directory"; before=$(snap "$tmp/$d"); }
  done
done
ok "foreign directories"

# A missing MANIFEST or a bad CURRENT: every way in says what to do.
cp -r "$db" "$tmp/nomf" && rm "$tmp/nomf"/MANIFEST-*
cp -r "$db" "$tmp/badcur" && echo garbage >"$tmp/badcur/CURRENT"
cp -r "$db" "$tmp/badcur2" && printf 'MANIFEST-000001' >"$tmp/badcur2/CURRENT"
for d in nomf badcur badcur2; do
  for c in lsm scan "put k v"; do
    run hint --db="$tmp/$d" $c
    ((rc == 1)) && grep -q "shale-ldb --db=DIR repair' rebuilds" "$tmp/hint.err" || fail "$d: '$c' does not suggest repair: rc=$rc $(cat "$tmp/hint.err")"
  done
done
ok "a missing MANIFEST or a bad CURRENT suggests repair"

# A table cut short under a scan: the error names the table, whichever table it is (a level's
# later tables open only when the scan reaches them).
"$bench" --benchmarks=fillrandom --num=20000 --seed=3 --write_buffer_size=65536 --db="$tmp/cut" >/dev/null 2>&1
for t in $(ls "$tmp/cut" | grep '\.sst$'); do
  rm -rf "$tmp/cut1" && cp -r "$tmp/cut" "$tmp/cut1"
  truncate -s $(($(stat -c %s "$tmp/cut1/$t") / 2)) "$tmp/cut1/$t"
  run cutscan --db="$tmp/cut1" scan
  ((rc == 1)) && grep -q "SHALE_CORRUPTION.*$t" "$tmp/cutscan.err" || fail "scan of a DB with $t cut short: rc=$rc $(cat "$tmp/cutscan.err")"
done
ok "a corruption met during a scan names its table"

# ---- repair ----
# newest KEY -> "SEQ KIND" per key from idump, skipping keys whose newest entry is in file $2.
newest() { awk -v skip="${2:-}" '$4 != "RANGE_DEL" && !seen[$2]++ && $1 != skip {print $2, $3, $4}' "$1" | sort; }
cp -r "$db" "$tmp/rep1"
rm "$tmp/rep1"/MANIFEST-* "$tmp/rep1/CURRENT"
expect_ok rep1 --db="$tmp/rep1" repair
has rep1 '^repair: [0-9]+ table\(s\) in L0'
expect_ok rep1dump --db="$tmp/rep1" dump
cmp -s "$tmp/rep1dump.out" "$tmp/dump.out" || fail "repair without MANIFEST: dump differs"
expect_ok rep1cc --db="$tmp/rep1" checkconsistency
expect_ok rep1scan --db="$tmp/rep1" scan
awk '{print $1 " ==> " $5}' "$tmp/dump.out" | cmp -s - "$tmp/rep1scan.out" || fail "repair without MANIFEST: the engine's scan differs"
cp -r "$db" "$tmp/rep2"
size=$(stat -c %s "$tmp/rep2/$table")
truncate -s $((size / 2)) "$tmp/rep2/$table"
expect_ok rep2 --db="$tmp/rep2" repair
[[ -f $tmp/rep2/lost/$table ]] || fail "repair: the truncated table is not in lost/"
has rep2 "^lost $table: "
expect_ok rep2idump --db="$tmp/rep2" idump
newest "$tmp/idump.out" "$table" >"$tmp/want"
newest "$tmp/rep2idump.out" >"$tmp/got"
# Every key whose newest version was outside the truncated table has that version back.
missing=$(comm -23 "$tmp/want" "$tmp/got" | wc -l)
((missing == 0)) || fail "repair with a truncated table lost $missing intact entries"
expect_ok rep2cc --db="$tmp/rep2" checkconsistency
expect_ok rep2get --db="$tmp/rep2" get walkey
# A table with a flipped bit in a data block is salvaged: the other blocks are kept.
cp -r "$tmp/flip" "$tmp/rep3"
expect_ok rep3 --db="$tmp/rep3" repair
has rep3 "^(salvaged|lost) $table"
expect_ok rep3cc --db="$tmp/rep3" checkconsistency
# A WAL damaged mid-file: checkconsistency reports it, repair rewrites its intact prefix.
benchwal=$(ls "$tmp/benchdb" | grep '\.log$' | tail -1)
printf '\xff\xff\xff' | dd of="$tmp/benchdb/$benchwal" bs=1 seek=200 conv=notrunc status=none
run ccwal --db="$tmp/benchdb" checkconsistency
((rc == 1)) && grep -q "^ERROR wal $benchwal: .*offset" "$tmp/ccwal.out" || fail "checkconsistency missed a damaged WAL"
expect_ok repwal --db="$tmp/benchdb" repair
has repwal "^wal $benchwal rewritten with its first [0-9]+ intact record"
[[ -f $tmp/benchdb/lost/$benchwal ]] || fail "repair: the damaged WAL is not in lost/"
expect_ok repwalcc --db="$tmp/benchdb" checkconsistency
expect_ok repwalget --db="$tmp/benchdb" scan --max_keys=1
# The summary counts every file moved to lost/, the old MANIFESTs included.
for r in rep2 rep3 repwal; do
  said=$(sed -n 's/.* \([0-9]*\) file(s) moved to lost\/.*/\1/p' "$tmp/$r.out")
  lines=$(grep -c '^lost ' "$tmp/$r.out")
  [[ $said == "$lines" ]] || fail "$r: summary says '$said' file(s) moved to lost/, $lines 'lost' line(s)"
done
ok "repair"

# ---- fuzz: mutated tables, WALs and MANIFESTs never crash the tool ----
seconds=${SHALE_FUZZ_SECONDS:-30}
wal=$(ls "$db" | grep '\.log$' | tail -1)
manifest=$(cat "$db/CURRENT")
mutate() { # mutate FILE: a few bit flips, a truncation, or random bytes
  local f=$1 size off n mode=$((RANDOM % 4))
  size=$(stat -c %s "$f")
  ((size > 0)) || return 0
  case $mode in
    0|1) for ((n = 0; n < 1 + RANDOM % 4; n++)); do
           off=$(((RANDOM * 32768 + RANDOM) % size))
           printf "\\x$(printf %02x $((RANDOM % 256)))" | dd of="$f" bs=1 seek=$off conv=notrunc status=none
         done ;;
    2) truncate -s $(((RANDOM * 32768 + RANDOM) % size)) "$f" ;;
    3) off=$(((RANDOM * 32768 + RANDOM) % size))
       head -c $((1 + RANDOM % 64)) /dev/urandom | dd of="$f" bs=1 seek=$off conv=notrunc status=none ;;
  esac
}
crash() { # crash NAME RC: exit codes >= 128 are signals (124: timeout)
  if (($2 >= 124)); then
    fail "fuzz: $1 exited $2 (kept in $tmp/crash.$iter)"
    cp -r "$tmp/fz" "$tmp/crash.$iter" 2>/dev/null
    trap - EXIT
  fi
}
iter=0 end=$((SECONDS + seconds))
while ((SECONDS < end)); do
  iter=$((iter + 1))
  rm -rf "$tmp/fz"
  cp -r "$db" "$tmp/fz"
  case $((iter % 3)) in
    0) mutate "$tmp/fz/$table"
       for c in check scan verify raw; do run fz sst_dump "$tmp/fz/$table" --command=$c --show_properties; crash "sst_dump --command=$c" $rc; done
       for c in identify recompress; do run fz $c "$tmp/fz/$table"; crash $c $rc; done ;;
    1) mutate "$tmp/fz/$wal"
       run fz dump_wal --walfile="$tmp/fz/$wal" --print_value; crash dump_wal $rc ;;
    2) mutate "$tmp/fz/$manifest"
       run fz manifest_dump --path="$tmp/fz/$manifest" --verbose; crash manifest_dump $rc
       run fz manifest_dump --path="$tmp/fz/$manifest" --json; crash "manifest_dump --json" $rc ;;
  esac
  for c in lsm dump tombstones checkconsistency list_live_files_metadata dump_live_files \
    list_file_range_deletes file_checksum_dump; do
    run fz --db="$tmp/fz" $c
    crash $c $rc
  done
  if ((iter % 10 == 0)); then run fz --db="$tmp/fz" repair; crash repair $rc; fi
done
echo "ok   fuzz: $iter mutated DBs in ${seconds}s"
# Random bytes as query commands and as a dump to load: errors, never a crash.
for ((iter = 1; iter <= 5; iter++)); do
  head -c 3000 /dev/urandom >"$tmp/rand.in"
  run fz --db="$tmp/qdb" query <"$tmp/rand.in"; crash query $rc
  run fz --db="$tmp/qdb" load "$tmp/rand.in"; crash load $rc
done
echo "ok   fuzz: random query and load input"

# External tables: write_extern_sst from text lines and from another DB's dump, then
# ingest_extern_sst; unsorted input is refused and leaves no file.
x=(--db="$tmp/xdb" --create_if_missing)
expect_ok xput "${x[@]}" put m old
printf 'b0 v0\n# a comment\n\nb1 ==> v1\nm new\n' >"$tmp/x.txt"
expect_ok xw write_extern_sst "$tmp/x.sst" "$tmp/x.txt"
has xw '^OK .*x\.sst puts=3 deletes=0 range_deletes=0 skipped=0 size=[0-9]+$'
expect_ok xraw sst_dump "$tmp/x.sst" --command=raw
has xraw '^global_seq offset=[0-9]+ seq=0$'
has xraw '^footer offset=[0-9]+ version=5 checksum=[0-9a-f]{8} magic=ok$'
expect_ok xi "${x[@]}" ingest_extern_sst "$tmp/x.sst" --move
has xi '^OK ingested 1 file\(s\) at sequence 2$'
[[ -e $tmp/x.sst ]] && fail "ingest_extern_sst --move left its file"
expect_ok xscan --db="$tmp/xdb" scan
[[ $(cat "$tmp/xscan.out") == $'b0 ==> v0\nb1 ==> v1\nm ==> new' ]] || fail "scan after ingest: $(cat "$tmp/xscan.out")"
expect_ok xcc --db="$tmp/xdb" checkconsistency
# A dump with deletes and range deletes carries them into another DB. Its lines are written
# out here as dump --include_deleted prints them: made by deletes in a live DB, they would
# be gone whenever a compaction got to the tombstones between two commands.
printf 'b1 4 PUT live v1\nm 6 DEL deleted ""\nb0 5 RANGE_DEL range b1\n' >"$tmp/xdump.out"
expect_ok xw2 write_extern_sst "$tmp/x2.sst" <"$tmp/xdump.out"
has xw2 'puts=1 deletes=1 range_deletes=1 '
expect_ok xput2 --db="$tmp/xdb2" --create_if_missing batchput b0 stale m stale zz keep
expect_ok xi2 --db="$tmp/xdb2" ingest_extern_sst "$tmp/x2.sst"
[[ -e $tmp/x2.sst ]] || fail "ingest_extern_sst without --move removed its file"
expect_ok xscan2 --db="$tmp/xdb2" scan
[[ $(cat "$tmp/xscan2.out") == $'b1 ==> v1\nzz ==> keep' ]] || fail "scan after ingesting a dump: $(cat "$tmp/xscan2.out")"
printf 'b v\na v\n' | "$ldb" write_extern_sst "$tmp/bad.sst" >"$tmp/xbad.out" 2>"$tmp/xbad.err"
rc=$?
((rc == 1)) && grep -q "strictly increasing" "$tmp/xbad.err" || fail "unsorted input: rc=$rc $(cat "$tmp/xbad.err")"
[[ -e $tmp/bad.sst ]] && fail "unsorted input left a file"
printf 'a v\n' | "$ldb" write_extern_sst "$tmp/ok.sst" >/dev/null 2>&1
cp "$tmp/ok.sst" "$tmp/ok2.sst" # overlaps ok.sst: refused, nothing ingested
run xov "${x[@]}" ingest_extern_sst "$tmp/ok.sst" "$tmp/ok2.sst"
((rc == 1)) && grep -q "overlap" "$tmp/xov.err" || fail "overlapping files: rc=$rc $(cat "$tmp/xov.err")"
run xnone "${x[@]}" ingest_extern_sst
((rc == 2)) || fail "ingest_extern_sst without a file: rc=$rc"
ok "write_extern_sst, ingest_extern_sst"

# The empty key: "" as text, 0x in hex, through put, get, scan and delete.
e=(--db="$tmp/empty" --create_if_missing)
expect_ok eput "${e[@]}" put '""' empty
expect_ok ehput "${e[@]}" --key_hex put 0x61 va
expect_ok eget "${e[@]}" get '""' && [[ $(cat "$tmp/eget.out") == empty ]] || fail "get \"\": $(cat "$tmp/eget.out")"
expect_ok ehget "${e[@]}" --key_hex get 0x && [[ $(cat "$tmp/ehget.out") == empty ]] || fail "get 0x: $(cat "$tmp/ehget.out")"
expect_ok escan "${e[@]}" scan && [[ $(head -1 "$tmp/escan.out") == '"" ==> empty' ]] || fail "scan: the empty key is not first: $(cat "$tmp/escan.out")"
expect_ok edel "${e[@]}" delete '""'
run eget2 "${e[@]}" get '""'
((rc == 1)) || fail "get of the deleted empty key: rc=$rc"

echo "test_ldb: $failures failure(s)"
[[ $failures -eq 0 ]]
