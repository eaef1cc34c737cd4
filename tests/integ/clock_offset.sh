#!/usr/bin/env bash
# Clock offsets through the relay: a host agent whose clock is 3.5 s
# ahead and, behind it, a guest 2.25 s behind and a guest on time.  coord
# must measure each offset within the bound it states, start all agents
# at one instant (skew far below the offsets), and store every sample in
# its own time domain.  Also: a guest that leaves is noticed, and a second
# guest with a taken name is refused.
#
# Runs over loopback and ipc:// (no root needed); the clocks are shifted
# with the agents' --test-clock-shift hook, so the true offsets are known.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3 python3
GUEST=$BUILD/bin/iovbench-guest-agent

SHIFT_A=3500000000
SHIFT_G1=-2250000000
start_bg - "$TMP/agent-a.log" "$AGENT" --listen "ipc://$TMP/a.sock" --guest-listen "ipc://$TMP/a-guests.sock" \
  --name a --ready-file "$TMP/a.ready" --test-clock-shift=$SHIFT_A
start_bg - "$TMP/agent-b.log" "$AGENT" --listen "ipc://$TMP/b.sock" --guest-listen none --name b \
  --ready-file "$TMP/b.ready"
# shellcheck disable=SC2046
start_bg - "$TMP/g1.log" "$GUEST" --host "ipc://$TMP/a-guests.sock" --vm-id g1 --data 127.0.0.1 $(guest_opts g1) \
  --ready-file "$TMP/g1.ready" --test-clock-shift=$SHIFT_G1
# shellcheck disable=SC2046
start_bg - "$TMP/g2.log" "$GUEST" --host "ipc://$TMP/a-guests.sock" --vm-id g2 --data 127.0.0.1 $(guest_opts g2) \
  --ready-file "$TMP/g2.ready"
G2_PID=$LAST_PID
for f in a b g1 g2; do
  wait_for 15 test -e "$TMP/$f.ready" || fail "$f not ready: $(cat "$TMP"/*.log)"
done

# A second guest calling itself g1 is refused and says so.
# shellcheck disable=SC2046
start_bg - "$TMP/dup.log" "$GUEST" --host "ipc://$TMP/a-guests.sock" --vm-id g1 --data 127.0.0.1 $(guest_opts dup)
DUP_PID=$LAST_PID
wait_for 10 grep -q "refused us: .*already has a guest 'g1'" "$TMP/dup.log" ||
  fail "duplicate guest name not refused: $(cat "$TMP/dup.log")"
stop_bg "$DUP_PID"

cat >"$TMP/clock.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 127.0.0.1
; guests started by hand: the plan vouches for their data addresses
a.guest_data = g1=127.0.0.1, g2=127.0.0.1
b = ipc://$TMP/b.sock
b.data = 127.0.0.1

[global]
workload = tcp_stream
duration = 1s
sample_interval = 250ms
timeout = 5s

[hosts_only]

[vms_to_b]
topology = many-to-one
vms = 2
PLAN

"$COORD" run "$TMP/clock.plan" --results "$TMP/results" >"$TMP/out.txt" 2>"$TMP/err.txt"
rc=$?
cat "$TMP/out.txt" "$TMP/err.txt" >&2
expect_eq "coord exit status" "$rc" 0
db=$(ls -d "$TMP"/results/*-clock | head -1)/results.db
[ -f "$db" ] || fail "no results.db"

expect_eq "guests stored under host a" \
  "$(sql "$db" "SELECT group_concat(g.name, ' ') FROM agent g JOIN agent h ON h.id = g.host_id WHERE g.kind = 'guest' AND h.name = 'a' ORDER BY g.name")" \
  "a/g1 a/g2"

# Each agent's measured offset is its shift, within the stated error bound.
check_offset() { # POINT_IDX AGENT WANT_NS
  local row off err
  row=$(sql "$db" "SELECT pa.clock_offset_ns, pa.clock_error_ns FROM point_agent pa JOIN agent a ON a.id = pa.agent_id JOIN point p ON p.id = pa.point_id WHERE p.idx = $1 AND a.name = '$2'")
  [ -n "$row" ] || fail "no clock estimate for $2 in point $1"
  off=${row%%|*}
  err=${row##*|}
  python3 -c "import sys; off, err, want = $off, $err, $3; sys.exit(0 if abs(off - want) <= err and err < 50e6 else 1)" ||
    fail "agent $2 point $1: offset $off +- $err ns, true offset $3 ns"
  log "agent $2: offset $off ns +- $err ns (true $3)"
}
check_offset 0 a $SHIFT_A
check_offset 0 b 0
check_offset 1 a/g1 $SHIFT_G1
check_offset 1 a/g2 0
check_offset 1 b 0

# One instant for all: without the correction the starts would spread
# over 5.75 s; with it, well under 50 ms even on a loaded 2-CPU machine.
for idx in 0 1; do
  skew=$(sql "$db" "SELECT start_skew_ns FROM point WHERE idx = $idx")
  [ -n "$skew" ] && [ "$skew" -lt 50000000 ] || fail "point $idx: start skew $skew ns"
done
# Samples are in coord's time: every interval lies within the point's
# window (give or take the last sample's wait for the flows).
bad=$(sql "$db" "SELECT count(*) FROM sample s JOIN flow f ON f.id = s.flow_id JOIN point p ON p.id = f.point_id WHERE s.t_start_ns < p.start_ns - 100000000 OR s.t_end_ns > p.window_end_ns + 1000000000")
expect_eq "samples outside their point's window (coord time)" "$bad" 0
expect_eq "links of the many-to-one point" "$(sql "$db" "SELECT count(DISTINCT f.link) FROM flow f JOIN point p ON p.id = f.point_id WHERE p.idx = 1")" 2
grep -q "^per VM" "$TMP/out.txt" || fail "no per-VM section in the report"

# A guest that stops is dropped by its host (and coord is told).
stop_bg "$G2_PID"
# It says goodbye: the host drops it at once, not after the 10 s timeout.
wait_for 5 grep -q "guest 'g2' left" "$TMP/agent-a.log" || fail "host a did not notice g2 leaving: $(tail -3 "$TMP/agent-a.log")"
check_logs "$TMP"/*.log "$TMP/err.txt"
log "ok"
