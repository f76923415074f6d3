#!/usr/bin/env bash
# The fields a lock of shale_db guards sit in a struct of their own (engine/db_impl.h: the
# member under_mu for mu, ...), reached only through inline accessors whose SH_REQUIRES
# clang's thread-safety analysis checks at every call. Code that named the member directly
# would skip that check, so this fails listing every line outside db_impl.h that names one,
# and every line inside it other than the member's declaration and an accessor's return.
# An accessor must carry SH_REQUIRES; one that hands out the group's address (writes go
# through it) must require the member's own lock: under_X needs db->X in SH_REQUIRES. One
# that returns a field's value may require another lock that keeps the field still (the
# current view: written under both mu and view_mu, read under either).
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
  # Accessors: the statement from `static inline` to the return naming the member.
  bad_accessor=$(awk -v m="$m" -v lock="$lock" '
    /^static inline/ { sig = "" }
    { sig = sig $0 }
    index($0, "return &db->" m ";") && !index(sig, "SH_REQUIRES(db->" lock) &&
      !index(sig, ", db->" lock) { print FILENAME ":" FNR ": " $0 " (needs db->" lock ")" }
    index($0, "return db->" m ".") && !index(sig, "SH_REQUIRES(") {
      print FILENAME ":" FNR ": " $0 " (needs SH_REQUIRES)"
    }' "$impl")
  if [ -n "$bad_accessor" ]; then
    echo "$bad_accessor" >&2
    echo "  ^ an accessor of $m without the lock it needs" >&2
    fail=1
  fi
  # shellcheck disable=SC2086
  stray=$(grep -nw -- "$m" $files |
    grep -vE "^$impl:[0-9]+:(  [a-z_]+_state $m;|.*return &db->$m;|.*return db->$m\.[a-z_]+;)" ||
    true)
  if [ -n "$stray" ]; then
    echo "$stray" >&2
    echo "  ^ names $m outside its accessor: reach it through the accessor in $impl" >&2
    fail=1
  fi
done
[ "$fail" = 0 ] && echo "check-lock-groups: $(echo $members) reached only through their accessors"
exit "$fail"
