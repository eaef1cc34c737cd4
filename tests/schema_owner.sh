#!/usr/bin/env bash
# The results module alone knows the schema (issue 15): in coordinator/,
# only results.c includes sqlite3.h, calls SQLite or holds SQL text;
# report, plot, compare and the rest read through results.h.  A second
# file that speaks SQL would have to learn every schema version again.
set -u
src=${IOV_SRCDIR:?IOV_SRCDIR must point at the source tree}
cd "$src/coordinator" || exit 1
fail=0
for f in *.c *.h; do
  [ "$f" = results.c ] && continue
  if grep -nE '#[[:space:]]*include[[:space:]]*[<"]sqlite3\.h[>"]|\bsqlite3_?[a-z_]*[[:space:]]*[(*]|\bstruct sqlite3\b' "$f"; then
    echo "schema_owner.sh: FAIL: $f uses SQLite: only results.c may (read through results.h)" >&2
    fail=1
  fi
  if grep -nE '"[^"]*\b(SELECT [^"]*FROM|INSERT (OR [A-Z]+ )?INTO|CREATE (TABLE|INDEX|VIEW)|DELETE FROM|UPDATE [a-z_]+ SET|PRAGMA [a-z_]+)\b' "$f"; then
    echo "schema_owner.sh: FAIL: $f holds SQL text: only results.c may" >&2
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "schema_owner.sh: PASS: only results.c speaks SQL in coordinator/"
exit $fail
