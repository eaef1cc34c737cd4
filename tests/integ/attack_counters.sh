#!/usr/bin/env bash
# Attack: numbers and text from agents (issue 14, "numbers bounded").  Fake
# agents speaking the real protocol (iovbench-flood-agent) send what a
# compromised agent could:
#   - a and b (the point's agents, --absurd): a sample batch with a
#     sequence number near 2^32, one with byte, message and transaction
#     counters near 2^63 (which SQLite's SUM() cannot add: report, plot and
#     compare of the whole run used to fail), one with a CPU time near 2^64;
#   - c (in the plan, in no point, --error-text): at every heartbeat, an
#     Error about points 1..4 whose text carries terminal escapes.
# The run must store nothing absurd (each bad batch refused whole, with a
# warning naming the agent), the points must be ok (c's Errors logged, not
# failing them; the refused batches are gaps), nothing coord prints may
# carry an escape, and report, plot and compare of the run must work.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3
FLOOD=$BUILD/bin/iovbench-flood-agent
[ -x "$FLOOD" ] || skip "no $FLOOD"

pa=$(free_port)
pb=$(free_port)
pc=$(free_port)
esc=$(printf '\033')
text="${esc}[2J${esc}[31mowned${esc}[0m${esc}]0;title$(printf '\007') and more"
for n in a b c; do
  port=pa
  [ $n = b ] && port=pb
  [ $n = c ] && port=pc
  opts=(--absurd --cpus)
  [ $n = c ] && opts=(--error-text "$text")
  start_bg - "$TMP/flood-$n.log" "$FLOOD" --listen "tcp://127.0.0.1:${!port}" --name "$n" --key-dir "$TMP/keys" \
    --ready-file "$TMP/$n.ready" --idle-timeout 60s "${opts[@]}"
  wait_for 30 test -e "$TMP/$n.ready" || fail "flood agent $n did not start: $(cat "$TMP/flood-$n.log")"
done
on_fail 'cat "$TMP"/flood-*.log "$TMP"/run.err'

cat >"$TMP/absurd.plan" <<PLAN
[hosts]
a = tcp://127.0.0.1:$pa
a.data = 127.0.0.1
b = tcp://127.0.0.1:$pb
b.data = 127.0.0.1
c = tcp://127.0.0.1:$pc
c.data = 127.0.0.1

[global]
sender = a
receiver = b
duration = 2s
sample_interval = 250ms
heartbeat = 100ms
timeout = 10s

[stream]
workload = tcp_stream
flows = 2
PLAN

timeout 120 "$COORD" run "$TMP/absurd.plan" --results "$TMP/results" >"$TMP/run.out" 2>"$TMP/run.err"
rc=$?
expect_eq "coord exit status (every point ok)" "$rc" 0
run=$(ls -d "$TMP"/results/*-absurd)
db=$run/results.db
expect_eq "points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 1

# Each kind of absurd batch refused, naming the agent and the number.
for n in a b; do
  grep -q "'$n' sent sample batch 4294967294 with sequence number 4294967294, more than this point can produce.*refused, nothing of it stored" "$TMP/run.err" ||
    fail "no refusal of $n's sequence number"
  grep -q "'$n' sent sample batch 4 with bytes 9223372036854775800, more than this point can produce" "$TMP/run.err" ||
    fail "no refusal of $n's byte counter"
  grep -q "'$n' sent sample batch 5 with CPU time (ns) 18446744073709551614, more than" "$TMP/run.err" ||
    fail "no refusal of $n's CPU time"
done
# Nothing absurd stored: every counter in range, no negative one.
cap=4611686018427387903
expect_eq "absurd samples stored" "$(sql "$db" "SELECT count(*) FROM sample WHERE bytes < 0 OR bytes > $cap
  OR messages < 0 OR messages > $cap OR transactions < 0 OR transactions > $cap OR seq > 100")" 0
expect_eq "absurd CPU samples stored" "$(sql "$db" "SELECT count(*) FROM cpu_sample WHERE user_ns < 0 OR user_ns > $cap")" 0
expect_eq "batches 2 and 4 stored" "$(sql "$db" "SELECT count(*) FROM sample WHERE seq IN (2, 4)")" 0
[ "$(sql "$db" "SELECT count(*) FROM sample")" -gt 0 ] || fail "the sane batches were not stored"
# c's Errors: said, with the escapes replaced, and the point not failed.
grep -q "agent 'c' (not part of test point 1) reported: ?\[2J?\[31mowned?\[0m?\]0;title? and more; ignored" "$TMP/run.err" ||
  fail "c's Error was not reported stripped"
if grep -q "$esc" "$TMP/run.out" "$TMP/run.err"; then fail "coord printed an escape character"; fi
if grep -q "$(printf '\007')" "$TMP/run.out" "$TMP/run.err"; then fail "coord printed a BEL"; fi

# The whole run still reads back: report, plot, compare.
"$COORD" report "$run" >"$TMP/report.out" 2>&1 || fail "coord report failed: $(cat "$TMP/report.out")"
"$COORD" report "$run" --json >"$TMP/report.json" 2>&1 || fail "coord report --json failed: $(cat "$TMP/report.json")"
if command -v gnuplot >/dev/null; then
  "$COORD" plot "$run" >"$TMP/plot.out" 2>&1 || fail "coord plot failed: $(cat "$TMP/plot.out")"
fi
"$COORD" compare "$run" "$run" >"$TMP/compare.out" 2>&1 || fail "coord compare failed: $(cat "$TMP/compare.out")"
if grep -q "$esc" "$TMP/report.out" "$TMP/compare.out"; then fail "report or compare printed an escape character"; fi
check_logs "$TMP"/*.log
log "absurd sequence numbers and counters refused and not stored; an Error from outside the point ignored and printed stripped; report, plot and compare work"
