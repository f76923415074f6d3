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
# under either), and may reach the group through a member (`return db->vset.under_db_mu.f;`).
# A group another object's lock guards is named under_<owner>_<lock> (version_set's and
# file_meta's under_db_mu: the DB's mu), and its accessor takes that owner and requires
# SH_REQUIRES(<owner>-><lock>) (db_file_held(db, f)). version_set.c's functions get no DB to
# name its mu on: its static vs_held() alone may hand out the group unchecked; their REQUIRES
# comments say which lock, and their engine-side callers' SH_REQUIRES prove it.
# Plain grep and awk over clang-formatted code, so it runs in a second.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

files=$(git ls-files '*.c' '*.h' 2>/dev/null ||
  find . -name '*.[ch]' -not -path './build*' | sed 's|^\./||')
decl='  [a-z_]+ under_[a-z_]+;' # a member's declaration, at a struct's indent
value_ret='return [a-zA-Z_]+->([a-z_]+\.)*under_[a-z_]+\.[a-z_]+;' # a field's value
unchecked='engine/version_set.c:static inline vset_db_mu_state \*vs_held\(version_set \*vs\)'
# shellcheck disable=SC2086
members=$(grep -hoE "^$decl" $files | sed -E 's/.* (under_[a-z_]+);/\1/' | sort -u || true)
if [ -z "$members" ]; then
  echo "check-lock-groups: no lock group (a member named under_<lock>) found" >&2
  exit 1
fi

fail=0
# Accessors: the text from `static inline` to the return that names a member.
# shellcheck disable=SC2086
bad_accessor=$(awk -v value_ret="$value_ret" -v unchecked="$unchecked" '
  FNR == 1 || /^[A-Za-z]/ { sig = "" } # each top-level statement starts a new text
  { sig = sig $0 }
  match($0, /return &[a-zA-Z_]+->under_[a-z_]+;/) {
    s = substr($0, RSTART + 8, RLENGTH - 9)           # p->under_X
    p = s; sub(/->.*/, "", p); x = s; sub(/.*->under_/, "", x)
    o = x; sub(/_.*/, "", o); l = x; sub(/^[a-z]+_/, "", l) # under_<owner>_<lock>
    ok = index(sig, "SH_REQUIRES(" p "->" x) || index(sig, ", " p "->" x) ||
         (o != x && (index(sig, "SH_REQUIRES(" o "->" l) || index(sig, ", " o "->" l)))
    if (sig !~ /^static inline/ || (!ok && (FILENAME ":" sig) !~ "^" unchecked))
      print FILENAME ":" FNR ": " $0 "  (needs SH_REQUIRES(" p "->" x "))"
  }
  $0 ~ value_ret {
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
  grep -vE "^[^:]+:[0-9]+:($decl|.*return &[a-zA-Z_]+->under_[a-z_]+;|.*$value_ret)" ||
  true)
if [ -n "$stray" ]; then
  echo "$stray" >&2
  echo "  ^ names a lock group outside its accessors: reach it through them" >&2
  fail=1
fi
[ "$fail" = 0 ] &&
  echo "check-lock-groups: $(echo $members) reached only through their accessors"
exit "$fail"
