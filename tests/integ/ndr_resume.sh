#!/usr/bin/env bash
# An NDR/PDR search interrupted by Ctrl-C goes on where it stopped with
# coord run --resume.
#
#   ns A: agent a, data 198.18.1.1/30 ==veth (tbf 10 Mbit/s on A's end)== ns B: agent b, 198.18.1.2/30
#   coord here, agents over ipc:// (they outlive the first coord)
#
# The tbf qdisc gives the search a bottleneck (826 frames/s of 1518
# bytes), so it needs several trials.  coord gets SIGINT (what Ctrl-C sends) once a few trials are
# stored (polled in results.db); then coord run --resume RUN finishes it.
# Asserts: the interrupted run says so (exit 130, run status
# 'interrupted'); the resumed one ends ok; the trials stored before the
# interruption are still there, unchanged (same rows, same rates and
# counts: nothing was run again from scratch); the numbering goes on
# (1..n without gap or repeat); the search ended within its budget with
# its ndr and pdr rows, and the point has its trial-0 measurement.
#
# Exit 4 (skip) when not root or tc, sqlite3 is missing.  About a minute.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip tc sqlite3

TRIALS=30
setup_ns A B
ip link add data netns "$A" type veth peer name data netns "$B" || fail "cannot create the veth pair"
ip -n "$A" addr add 198.18.1.1/30 dev data && ip -n "$A" link set data up
ip -n "$B" addr add 198.18.1.2/30 dev data && ip -n "$B" link set data up
tc -n "$A" qdisc add dev data root tbf rate 10mbit burst 6000 limit 32768 ||
  skip "cannot add a tbf qdisc (sch_tbf missing?)"

start_bg "$A" "$TMP/agent-a.log" "$AGENT" --listen "ipc://$TMP/a.sock" --guest-listen none --name a \
  --ready-file "$TMP/a.ready"
start_bg "$B" "$TMP/agent-b.log" "$AGENT" --listen "ipc://$TMP/b.sock" --guest-listen none --name b \
  --ready-file "$TMP/b.ready"
wait_for 15 test -e "$TMP/a.ready" || fail "agent a not ready: $(cat "$TMP/agent-a.log")"
wait_for 15 test -e "$TMP/b.ready" || fail "agent b not ready: $(cat "$TMP/agent-b.log")"
on_fail 'tail -n 20 "$TMP/agent-a.log" "$TMP/agent-b.log"'

cat >"$TMP/resume.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 198.18.1.1
b = ipc://$TMP/b.sock
b.data = 198.18.1.2

[global]
sender = a
receiver = b
duration = 1s
sample_interval = 500ms
timeout = 10s

[ndr]
workload = udp_stream
frame_size = 1518
search = ndr,pdr
search_min = 1m
search_max = 100m
search_precision = 1%
search_trial = 500ms
search_trials = $TRIALS
send_buffer = 2m
PLAN

# 1. Interrupted after 3 stored trials.
mkdir -p "$TMP/results"
"$COORD" run "$TMP/resume.plan" --results "$TMP/results" >"$TMP/out1.txt" 2>"$TMP/err1.txt" &
cpid=$!
_PID_LIST+=("$cpid") # cleanup ends it if the test fails before it does
run=
stored() {
  run=$(ls -d "$TMP"/results/*-resume 2>/dev/null | head -1)
  [ -n "$run" ] && [ -f "$run/results.db" ] &&
    [ "$(sqlite3 -batch -noheader "file:$run/results.db?mode=ro" "SELECT count(*) FROM trial" 2>/dev/null || echo 0)" -ge 3 ]
}
if ! wait_for 120 stored; then
  kill "$cpid" 2>/dev/null
  wait "$cpid"
  cat "$TMP/err1.txt" >&2
  fail "no 3 trials stored within 120 s"
fi
kill -INT "$cpid"
wait "$cpid"
rc=$?
tail -n 20 "$TMP/err1.txt" >&2
expect_eq "interrupted coord's exit status" "$rc" 130
db=$run/results.db
expect_eq "run status after the interruption" "$(sql "$db" "SELECT status FROM run")" interrupted
n1=$(sql "$db" "SELECT count(*) FROM trial")
[ "$n1" -ge 3 ] || fail "only $n1 trials stored before the interruption"
expect_eq "searches ended before the interruption" "$(sql "$db" "SELECT count(*) FROM search WHERE point_id != 0")" 0
# The rows as they were: trial number, its point row, offered rate and counts.
q="SELECT seq, point_id, full, printf('%.3f', offered_wire_bps), duration_ns, sent, received, lost FROM trial ORDER BY seq"
sql "$db" "$q" >"$TMP/trials-before.txt"
log "interrupted after $n1 trials"

# 2. Resumed: the search goes on from trial n1 + 1.
timeout -k 10 300 "$COORD" run --resume "$run" >"$TMP/out2.txt" 2>"$TMP/err2.txt"
rc=$?
cat "$TMP/out2.txt" >&2
tail -n 30 "$TMP/err2.txt" >&2
expect_eq "resumed coord's exit status" "$rc" 0
expect_eq "run status after the resume" "$(sql "$db" "SELECT status FROM run")" ok
n2=$(sql "$db" "SELECT count(*) FROM trial")
log "resumed: $n2 trials in all"
[ "$n2" -gt "$n1" ] || fail "the resumed run stored no new trial ($n1 before, $n2 after)"
[ "$n2" -le "$TRIALS" ] || fail "$n2 trials, beyond the budget of $TRIALS"
# What was stored before is still there, row for row (not run again).
sql "$db" "$q" | head -n "$n1" >"$TMP/trials-after.txt"
cmp -s "$TMP/trials-before.txt" "$TMP/trials-after.txt" ||
  fail "the first $n1 trials changed: $(diff "$TMP/trials-before.txt" "$TMP/trials-after.txt")"
# Numbered on: 1..n2, each once.
expect_eq "trial numbers" "$(sql "$db" "SELECT count(DISTINCT seq) || ' ' || min(seq) || ' ' || max(seq) FROM trial")" "$n2 1 $n2"
# No trial ran twice: one ok point row per trial number, each trial row
# on its own point.
bad=$(sql "$db" "SELECT trial FROM point WHERE trial >= 1 AND status = 'ok' GROUP BY trial HAVING count(*) > 1")
[ -z "$bad" ] || fail "trials run twice: $bad"
expect_eq "distinct points of the trials" "$(sql "$db" "SELECT count(DISTINCT point_id) FROM trial")" "$n2"
# The search ended: both goals, within the budget, a trial-0 measurement.
expect_eq "search rows" "$(sql "$db" "SELECT group_concat(kind, ',') FROM (SELECT kind FROM search ORDER BY kind)")" "ndr,pdr"
bad=$(sql "$db" "SELECT kind FROM search WHERE trials > $TRIALS OR trials != $n2 OR rate_pps <= 0")
[ -z "$bad" ] || fail "searches with a trial count other than the $n2 stored, or no rate: $bad"
expect_eq "measurement (trial 0) rows" "$(sql "$db" "SELECT count(*) FROM point WHERE trial = 0 AND status = 'ok'")" 1
"$COORD" report "$run" >"$TMP/report.txt" 2>&1 || fail "coord report failed: $(cat "$TMP/report.txt")"
grep -qi 'ndr' "$TMP/report.txt" || fail "the report has no NDR: $(cat "$TMP/report.txt")"
check_logs "$TMP/agent-a.log" "$TMP/agent-b.log" "$TMP/err1.txt" "$TMP/err2.txt"
log "PASS ($n1 trials, then $((n2 - n1)) more)"
