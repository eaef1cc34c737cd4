#!/usr/bin/env bash
# A plan naming an agent that does not answer ends, within its timeout,
# with an error that names the agent; nothing hangs.  Needs no root: the
# endpoint is a closed loopback port.
source "$(dirname "$0")/lib.sh"
require_cmd timeout

port=$(free_port)
cat >"$TMP/dead.plan" <<PLAN
[hosts]
ghost = tcp://127.0.0.1:$port
ghost.data = 127.0.0.1
other = tcp://127.0.0.1:$port
other.data = 127.0.0.1

[global]
timeout = 2s

[t]
workload = tcp_stream
duration = 1s
PLAN
start=$SECONDS
timeout 30 "$COORD" run "$TMP/dead.plan" --results "$TMP/results" >"$TMP/out" 2>"$TMP/err"
rc=$?
took=$((SECONDS - start))
cat "$TMP/err" >&2
[ $rc -ne 124 ] || fail "coord hung (killed after 30 s)"
expect_eq "exit status" "$rc" 3
grep -q "agent 'ghost' at tcp://127.0.0.1:$port did not answer within 2s" "$TMP/err" || fail "error does not name agent 'ghost'"
grep -q "agent 'other' at tcp://127.0.0.1:$port did not answer within 2s" "$TMP/err" || fail "error does not name agent 'other' too"
[ $took -le 8 ] || fail "took $took s for a 2 s timeout"
log "PASS (gave up after ${took}s)"
