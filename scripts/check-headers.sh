#!/usr/bin/env bash
# Each engine/X.h declares only functions that engine/X.c defines, so a reader finds a
# function's body from the header that names it. Fails listing every declaration whose
# definition sits in a .c of another name.
# Plain awk over clang-formatted code (no ctags: CI does not install it): comments are
# stripped, then top-level statements are read at brace depth 0. A statement ending in ';'
# with a '(' is a declaration; one ending in '{' is a definition. The name is the identifier
# before the first '(' (so function-pointer typedefs and macros are skipped).
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

# Prints "name" for each function declared (mode=decl) or defined non-static (mode=def).
functions() {
  awk -v mode="$1" '
    function flush(kind,   s, name) {
      s = stmt; stmt = ""
      if (s ~ /^[ \t]*(typedef|#|extern[ \t]+"C")/ || s !~ /\(/) return
      if (mode == "def" && s ~ /^[ \t]*static[ \t]/) return
      if (kind != mode) return
      sub(/\(.*/, "", s)
      if (!match(s, /[A-Za-z_][A-Za-z0-9_]*[ \t]*$/)) return
      name = substr(s, RSTART, RLENGTH); sub(/[ \t]+$/, "", name)
      if (s ~ /\*[ \t]*$/ && name == "") return
      print name
    }
    {
      line = $0
      # comments: /* */ possibly spanning lines, and //
      while (1) {
        if (incomment) {
          e = index(line, "*/"); if (!e) { line = ""; break }
          line = substr(line, e + 2); incomment = 0
        }
        b = index(line, "/*"); if (!b) break
        rest = substr(line, b + 2); e = index(rest, "*/")
        if (e) line = substr(line, 1, b - 1) " " substr(rest, e + 2)
        else { line = substr(line, 1, b - 1); incomment = 1 }
      }
      sub(/\/\/.*/, "", line)
      gsub(/"([^"\\]|\\.)*"/, "\"\"", line); gsub(/'"'"'([^'"'"'\\]|\\.)*'"'"'/, "0", line)
      # preprocessor lines, with their continuations
      if (cont || (depth == 0 && stmt ~ /^[ \t]*$/ && line ~ /^[ \t]*#/)) { cont = line ~ /\\$/; next }
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (depth == 0) {
          if (c == ";") { flush("decl"); continue }
          if (c == "{") {
            if (stmt ~ /\)[ \t]*$/ || stmt ~ /\)[ \t]*SHALE_[A-Z_]+(\([^)]*\))?[ \t]*$/) flush("def")
            else keep = stmt
            depth++; continue
          }
          stmt = stmt c
        } else if (c == "{") depth++
        else if (c == "}") { if (--depth == 0) { stmt = keep; keep = "" } }
      }
      stmt = stmt " "
    }' "$2"
}

defs=$(for c in engine/*.c; do functions def "$c" | sed "s|\$| $c|"; done)
fail=0
for h in engine/*.h; do
  base=$(basename "$h" .h)
  for name in $(functions decl "$h" | sort -u); do
    c=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$defs")
    for c in $c; do
      if [ "$(basename "$c" .c)" != "$base" ]; then
        echo "$h declares $name, defined in $c" >&2
        fail=1
      fi
    done
  done
done
[ "$fail" = 0 ] && echo "check-headers: every engine header declares only its own .c's functions"
exit "$fail"
