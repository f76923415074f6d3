#!/usr/bin/env bash
# The fields a lock of shale_db guards sit in a struct of their own (engine/db_impl.h: the
# member under_mu for mu, ...), reached only through an inline accessor whose SH_REQUIRES
# clang's thread-safety analysis checks at every call. Code that named the member directly
# would skip that check, so this fails listing every line outside db_impl.h that names one,
# and every line inside it other than the member's declaration and an accessor's return
# whose signature requires the member's lock (under_X needs SH_REQUIRES(db->X)).
# Plain grep and awk over clang-formatted code, so it runs in a second.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

impl=engine/db_impl.h
members=$(sed -nE 's/^  [a-z_]+_state (under_[a-z_]+);.*/\1/p' "$impl")
if [ -z "$members" ]; then
  echo "check-lock-groups: no lock group (a *_state under_X; member) in $impl" >&2
  exit 1
fi
files=$(git ls-files '*.c' '*.h' 2>/dev/null ||
  find . -name '*.[ch]' -not -path './build*' | sed 's|^\./||')

fail=0
for m in $members; do
  lock=${m#under_}
  # Accessors: the statement from `static inline` to `return &db->under_X;` must require X.
  bad_accessor=$(awk -v m="$m" -v lock="$lock" '
    /^static inline/ { sig = "" }
    { sig = sig $0 }
    index($0, "return &db->" m ";") {
      if (!index(sig, "SH_REQUIRES(db->" lock ")")) print FILENAME ":" FNR ": " $0
    }' "$impl")
  if [ -n "$bad_accessor" ]; then
    echo "$bad_accessor" >&2
    echo "  ^ returns $m without SH_REQUIRES(db->$lock)" >&2
    fail=1
  fi
  # shellcheck disable=SC2086
  stray=$(grep -nw -- "$m" $files |
    grep -vE "^$impl:[0-9]+:(  [a-z_]+_state $m;|.*return &db->$m;)" || true)
  if [ -n "$stray" ]; then
    echo "$stray" >&2
    echo "  ^ names $m outside its accessor: reach it through the accessor in $impl" >&2
    fail=1
  fi
done
[ "$fail" = 0 ] && echo "check-lock-groups: $(echo $members) reached only through their accessors"
exit "$fail"
