#!/usr/bin/env bash
# An agent that falls silent in the middle of a point (SIGSTOP) ends the
# run within the point's deadline, with an error naming it; the point
# before it stays stored, complete.  Two agents on loopback TCP, no root.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3 timeout ss

pa=$(free_port)
pb=$(free_port)
start_bg - "$TMP/agent-a.log" "$AGENT" --listen "tcp://127.0.0.1:$pa" --guest-listen none --name a
PID_A=$LAST_PID
start_bg - "$TMP/agent-b.log" "$AGENT" --listen "tcp://127.0.0.1:$pb" --guest-listen none --name b
PID_B=$LAST_PID
wait_for 10 grep -q listening "$TMP/agent-a.log" || fail "agent a did not start"
wait_for 10 grep -q listening "$TMP/agent-b.log" || fail "agent b did not start"

cat >"$TMP/silent.plan" <<PLAN
[hosts]
a = tcp://127.0.0.1:$pa
a.data = 127.0.0.1
b = tcp://127.0.0.1:$pb
b.data = 127.0.0.1

[global]
duration = 1s
sample_interval = 250ms
timeout = 2s

[first]
workload = tcp_rr

[second]
workload = tcp_stream
duration = 3s
PLAN

timeout 60 "$COORD" run "$TMP/silent.plan" --results "$TMP/results" >"$TMP/out" 2>"$TMP/err" &
CPID=$!
wait_for 30 grep -q '\[2/2\]' "$TMP/err" || fail "coord never reached the second point"
# Mid-point: once b has accepted the data connection (its second TCP
# socket beside the control one), the flows run.
b_conns() { [ "$(ss -Htnp state established 2>/dev/null | grep -c "pid=$PID_B,")" -ge 2 ]; }
wait_for 20 b_conns || fail "agent b never accepted the data connection"
kill -STOP "$PID_B"
defer kill -CONT "$PID_B"
start=$SECONDS
wait "$CPID"
rc=$?
took=$((SECONDS - start))
cat "$TMP/err" >&2
[ $rc -ne 124 ] || fail "coord hung"
expect_eq "exit status" "$rc" 3
grep -q "agent 'b' (receiver) sent no result" "$TMP/err" || fail "error does not name the silent agent b"
# Start lead + 3 s window + 10 s agent grace + 2 s timeout, plus slack.
[ $took -le 25 ] || fail "took $took s to give up"

db=$(ls -d "$TMP"/results/*-silent)/results.db
expect_eq "first point" "$(sql "$db" "SELECT status FROM point WHERE test = 'first'")" ok
expect_eq "first point samples" "$(sql "$db" "SELECT count(*) FROM sample s JOIN flow f ON f.id = s.flow_id
                                                JOIN point p ON p.id = f.point_id WHERE p.test = 'first'")" 8
expect_eq "second point" "$(sql "$db" "SELECT status FROM point WHERE test = 'second'")" failed
sql "$db" "SELECT error FROM point WHERE test = 'second'" | grep -q "agent 'b'" || fail "stored error does not name b"
expect_eq "run status" "$(sql "$db" "SELECT status FROM run")" failed
log "PASS (gave up after ${took}s)"
