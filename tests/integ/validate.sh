#!/usr/bin/env bash
# coord validate: a good plan prints its matrix; a broken one points at
# file, line and key and exits non-zero.
source "$(dirname "$0")/lib.sh"

"$COORD" validate "$SRC/plans/quickstart.plan" >"$TMP/out" 2>&1 || fail "quickstart.plan does not validate: $(cat "$TMP/out")"
grep -q "2 test points" "$TMP/out" || fail "validate does not count the points: $(cat "$TMP/out")"

printf '[hosts]\na = local\nb = local\n\n[t]\nworkload = tcp_stream\nmsg_size = 64q\n' >"$TMP/bad.plan"
"$COORD" validate "$TMP/bad.plan" >"$TMP/out" 2>&1 && fail "a broken plan validated"
grep -q "bad.plan:7: key 'msg_size'" "$TMP/out" || fail "error does not point at line 7, key msg_size: $(cat "$TMP/out")"

# And run refuses it before anything starts.
"$COORD" run "$TMP/bad.plan" --results "$TMP/r" >"$TMP/out" 2>&1 && fail "run accepted a broken plan"
[ ! -d "$TMP/r" ] || fail "run created a results directory for a broken plan"
for c in "" run validate report; do
  "$COORD" $c --help >/dev/null || fail "coord $c --help failed"
done
"$AGENT" --help >/dev/null || fail "agent --help failed"
log PASS
