#!/usr/bin/env bash
# test_install.sh — installing to a prefix works as README says (issue 15): the docs are all
# there, the man pages name the prefix's doc directory, the installed examples build with
# make and run without LD_LIBRARY_PATH, and make stops at once, saying why, when pkg-config
# cannot find Shale.
# usage: test_install.sh CMAKE BUILD_DIR SOURCE_DIR
set -u
cmake=${1:?usage: test_install.sh CMAKE BUILD_DIR SOURCE_DIR} build=${2:?} src=${3:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# No Shale for pkg-config: one clear line, before any compiler runs.
if make -C "$src/examples" PKG_CONFIG=false >"$tmp/nopc.out" 2>&1; then
  fail "make without pkg-config finding Shale succeeded"
fi
grep -q 'cannot find shale.pc: .*PKG_CONFIG_PATH' "$tmp/nopc.out" || fail "no clear message: $(cat "$tmp/nopc.out")"
grep -q 'shale.h' "$tmp/nopc.out" && fail "make ran the compiler: $(cat "$tmp/nopc.out")"

prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.out" 2>&1 || fail "install: $(tail -3 "$tmp/install.out")"
docdir=$prefix/share/doc/shale
for f in README.md reliability.md performance.md tuning.md DESIGN.md; do
  [[ -f $docdir/$f ]] || fail "$f is not installed in $docdir"
done
for m in shale-bench shale-ldb; do
  page=$prefix/share/man/man1/$m.1
  [[ -f $page ]] || { fail "$m.1 is not installed"; continue; }
  grep -q "^\.IR $docdir )" "$page" || fail "$m.1 does not name $docdir"
  grep -q '/usr/share/doc/shale\|@SHALE_DOCDIR@' "$page" && fail "$m.1 names another doc dir"
done
pcdir=$(dirname "$(find "$prefix" -name shale.pc | head -1)")
cp -r "$docdir/examples" "$tmp/ex"
ls "$tmp/ex" | grep -q '^shale-example' && fail "built example programs were installed"
PKG_CONFIG_PATH=$pcdir make -s -C "$tmp/ex" >"$tmp/make.out" 2>&1 || fail "examples: $(tail -3 "$tmp/make.out")"
# No LD_LIBRARY_PATH: the RPATH the Makefile sets finds the installed libshale.so.0.
if [[ -x $tmp/ex/shale-example ]]; then
  env -u LD_LIBRARY_PATH "$tmp/ex/shale-example" "$tmp/db" >"$tmp/hello.out" 2>&1 ||
    fail "hello does not run: $(cat "$tmp/hello.out")"
fi
# libshale-leveldb, when built: its header and .pc are installed, and the LevelDB example
# builds with pkg-config shale-leveldb alone and runs without LD_LIBRARY_PATH (the library
# finds libshale.so.0 beside it).
ldbpc=$(find "$prefix" -name shale-leveldb.pc | head -1)
if [[ -n $ldbpc ]]; then
  [[ -f $prefix/include/shale/leveldb/c.h ]] || fail "shale/leveldb/c.h is not installed"
  ldbflags=$(PKG_CONFIG_PATH=$(dirname "$ldbpc") pkg-config --cflags --libs shale-leveldb) ||
    fail "pkg-config shale-leveldb failed"
  ldblib=$(PKG_CONFIG_PATH=$(dirname "$ldbpc") pkg-config --variable=libdir shale-leveldb)
  # shellcheck disable=SC2086 # the flags are words
  if cc -std=c11 -o "$tmp/ldb-example" "$tmp/ex/leveldb_compat/leveldb_compat.c" $ldbflags \
    -Wl,-rpath,"$ldblib" >"$tmp/ldb.out" 2>&1; then
    env -u LD_LIBRARY_PATH "$tmp/ldb-example" "$tmp/ldb-db" >"$tmp/ldb.out" 2>&1 ||
      fail "the LevelDB example does not run: $(cat "$tmp/ldb.out")"
    grep -q '^apple = red$' "$tmp/ldb.out" || fail "the LevelDB example said: $(cat "$tmp/ldb.out")"
  else
    fail "the LevelDB example does not build: $(tail -3 "$tmp/ldb.out")"
  fi
fi
((failures == 0)) && echo "test_install: ok"
exit $((failures > 0))
