#!/usr/bin/env bash
# The fields a lock guards sit in a struct of their own, a member named under_<lock> next to
# the lock (engine/db_impl.h: under_mu for shale_db's mu, ...), reached only through inline
# accessors whose SH_REQUIRES clang's thread-safety analysis checks at every call. Code that
# named the member directly would skip that check, so this fails listing every line that
# names an under_* member other than its declaration and an accessor's return.
# An accessor is a `static inline` function that carries SH_REQUIRES. One that hands out
# the group's address (`return &p->under_X;`: writes go through it) must require p->X. One
# that returns a field's value (`return p->under_X.field;`) may require another lock that
# keeps the field still (shale_db's current view: written under both mu and view_mu, read
# under either).
# Plain grep and awk over clang-formatted code, so it runs in a second.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

files=$(git ls-files '*.c' '*.h' 2>/dev/null ||
  find . -name '*.[ch]' -not -path './build*' | sed 's|^\./||')
decl='  [a-z_]+ under_[a-z_]+;' # a member's declaration, at a struct's indent
# shellcheck disable=SC2086
members=$(grep -hoE "^$decl" $files | sed -E 's/.* (under_[a-z_]+);/\1/' | sort -u || true)
if [ -z "$members" ]; then
  echo "check-lock-groups: no lock group (a member named under_<lock>) found" >&2
  exit 1
fi

fail=0
# Accessors: the text from `static inline` to the return that names a member.
# shellcheck disable=SC2086
bad_accessor=$(awk '
  FNR == 1 || /^[A-Za-z]/ { sig = "" } # each top-level statement starts a new text
  { sig = sig $0 }
  match($0, /return &[a-zA-Z_]+->under_[a-z_]+;/) {
    s = substr($0, RSTART + 8, RLENGTH - 9)           # p->under_X
    p = s; sub(/->.*/, "", p); x = s; sub(/.*->under_/, "", x)
    if (sig !~ /^static inline/ || (!index(sig, "SH_REQUIRES(" p "->" x) &&
                                    !index(sig, ", " p "->" x)))
      print FILENAME ":" FNR ": " $0 "  (needs SH_REQUIRES(" p "->" x "))"
  }
  /return [a-zA-Z_]+->under_[a-z_]+\./ {
    if (sig !~ /^static inline/ || !index(sig, "SH_REQUIRES("))
      print FILENAME ":" FNR ": " $0 "  (needs SH_REQUIRES)"
  }' $files)
if [ -n "$bad_accessor" ]; then
  echo "$bad_accessor" >&2
  echo "  ^ an accessor of a lock group without the lock it needs" >&2
  fail=1
fi
# shellcheck disable=SC2086
stray=$(grep -nwE "$(echo $members | tr ' ' '|')" $files |
  grep -vE "^[^:]+:[0-9]+:($decl|.*return &[a-zA-Z_]+->under_[a-z_]+;|.*return [a-zA-Z_]+->under_[a-z_]+\.[a-z_]+;)" ||
  true)
if [ -n "$stray" ]; then
  echo "$stray" >&2
  echo "  ^ names a lock group outside its accessors: reach it through them" >&2
  fail=1
fi
[ "$fail" = 0 ] &&
  echo "check-lock-groups: $(echo $members) reached only through their accessors"
exit "$fail"
