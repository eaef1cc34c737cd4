#!/usr/bin/env bash
# An agent that falls silent in the middle of a point (SIGSTOP) is lost
# within three heartbeats: that point fails naming it, what the other agent
# sent is kept, and the run goes on.  The next point waits for it; once it
# runs again (SIGCONT) it answers coord's hello and is used again.  Two
# agents on loopback TCP, no root.
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
timeout = 10s
heartbeat = 500ms

[first]
workload = tcp_rr

[second]
workload = tcp_stream
duration = 6s

[third]
workload = tcp_rr
PLAN

timeout 90 "$COORD" run "$TMP/silent.plan" --results "$TMP/results" >"$TMP/out" 2>"$TMP/err" &
CPID=$!
wait_for 30 grep -q '\[2/3\]' "$TMP/err" || fail "coord never reached the second point"
# Mid-point: once b has accepted the data connection (its second TCP
# socket beside the control one), the flows run.
b_conns() { [ "$(ss -Htnp state established 2>/dev/null | grep -c "pid=$PID_B,")" -ge 2 ]; }
wait_for 20 b_conns || fail "agent b never accepted the data connection"
sleep 1 # a few samples of the point
kill -STOP "$PID_B"
defer kill -CONT "$PID_B"
start=$SECONDS
wait_for 10 grep -q "agent 'b' (.*) is lost" "$TMP/err" || fail "coord did not declare b lost"
took=$((SECONDS - start))
# Three heartbeats of 500 ms, plus one tick of slack.
[ $took -le 3 ] || fail "took $took s to declare b lost"
# The sender's traffic stopped with the point (no generator left running).
a_data() { ss -Htnp state established 2>/dev/null | grep "pid=$PID_A," | grep -vc ":$pa\b" || true; }
a_has_no_data() { [ "$(a_data)" -le 0 ]; }
wait_for 5 a_has_no_data || fail "agent a still has data connections: $(ss -Htnp | grep "pid=$PID_A,")"
kill -CONT "$PID_B"
wait "$CPID"
rc=$?
cat "$TMP/err" >&2
[ $rc -ne 124 ] || fail "coord hung"
expect_eq "exit status (a point failed)" "$rc" 1
grep -q "agent 'b' is back" "$TMP/err" || fail "coord did not take b back"

db=$(ls -d "$TMP"/results/*-silent)/results.db
expect_eq "first point" "$(sql "$db" "SELECT status FROM point WHERE test = 'first'")" ok
expect_eq "second point" "$(sql "$db" "SELECT status FROM point WHERE test = 'second'")" failed
sql "$db" "SELECT error FROM point WHERE test = 'second'" | grep -q "agent 'b' was lost" ||
  fail "stored error does not say b was lost: $(sql "$db" "SELECT error FROM point WHERE test = 'second'")"
# What a sent before b fell silent is kept.
kept=$(sql "$db" "SELECT count(*) FROM sample s JOIN flow f ON f.id = s.flow_id JOIN point p ON p.id = f.point_id
                  JOIN agent g ON g.id = f.agent_id WHERE p.test = 'second' AND g.name = 'a'")
[ "$kept" -ge 2 ] || fail "only $kept samples of a kept from the failed point"
expect_eq "third point (b back)" "$(sql "$db" "SELECT status FROM point WHERE test = 'third'")" ok
expect_eq "run status" "$(sql "$db" "SELECT status FROM run")" partial
log "PASS (b declared lost after ${took}s, $kept samples of a kept)"
