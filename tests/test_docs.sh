#!/usr/bin/env bash
# test_docs.sh — `cmake --build BUILD --target docs` gives every function shale.h exports a
# documented entry on the header's page, and Doxygen finds no broken link or markup in the
# pages it reads (issue 15). Registered only where Doxygen is installed; CI does not need it.
# usage: test_docs.sh CMAKE BUILD_DIR HEADER
set -u
cmake=${1:?usage: test_docs.sh CMAKE BUILD_DIR HEADER} build=${2:?} header=${3:?}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$cmake" --build "$build" --target docs >/dev/null 2>&1 || { echo "FAIL: the docs target failed"; exit 1; }
page=$build/docs/html/shale_8h.html
[[ -f $page ]] || { echo "FAIL: no page for shale.h (no @file block?)"; exit 1; }
# Every exported function: its declaration line names it right after SHALE_EXPORT <type>.
funcs=$(tr '\n' ' ' <"$header" | grep -o 'SHALE_EXPORT [^;(]*(' | grep -o 'shale_[a-z_0-9]*' | sort -u)
n=0
for f in $funcs; do
  n=$((n + 1))
  grep -q "class=\"memname\">SHALE_EXPORT [^<]*\\b$f </td>" "$page" || fail "no documented entry for $f"
done
((n >= 40)) || fail "only $n exported functions found in $header"
log=$build/docs/warnings.log
if grep -E 'unable to resolve|expecting command|not documented:|parameters? of .* (is|are) not documented' "$log"; then
  fail "Doxygen warnings above"
fi
((failures == 0)) && echo "test_docs: $n functions documented"
exit $((failures > 0))
