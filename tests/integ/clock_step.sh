#!/usr/bin/env bash
# A clock step mid-point (NTP, a VM resumed): agent a's clock jumps 30 s
# ahead and agent b's 30 s back while they run a point.  The point must
# still have every sample, each on its own interval, within the point's
# window in coord's time, and end on time: the agents' timers and the
# flows' start wait run on CLOCK_MONOTONIC, CLOCK_REALTIME only stamps.
# Before that fix, the agent stepped ahead sent its remaining samples in
# one burst, stamped 30 s late, and the one stepped back held them for
# 30 s, past coord's deadline (the point failed).
#
# The steps are the agents' --test-clock-step hook: it steps the clock as
# the agent process reads it (every iov_now_real()), AFTER seconds after
# the agent started.  Stepping the kernel's clock would step it for
# everything on this shared machine, so the in-process hook is the honest
# choice; the agents read the realtime clock through that function only.
#
# Topology: ns A (agent a, coord) 198.18.9.1/24 <= veth => ns B (agent b)
# 198.18.9.2/24.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 ss python3

STEP=30000000000 # 30 s
AFTER=4          # seconds after the agents start: mid-point (checked below)
DURATION_S=8
INTERVAL_MS=500
WANT_SAMPLES=$((DURATION_S * 1000 / INTERVAL_MS))

setup_ns A B
ip link add veth0 netns "$A" type veth peer name veth0 netns "$B"
ip -n "$A" addr add 198.18.9.1/24 dev veth0 && ip -n "$A" link set veth0 up
ip -n "$B" addr add 198.18.9.2/24 dev veth0 && ip -n "$B" link set veth0 up

# step_case WORKLOAD [PLAN LINE]: fresh agents, stepped mid-point, one
# point of WORKLOAD.  UDP too: its receivers stamp their flow's end
# themselves (at the last datagram), which must be on the point's
# timeline like every other stamp, or the step marks the flow incomplete.
step_case() {
  t_agents=$(date +%s%N)
  start_bg "$A" "$TMP/$1-agent-a.log" "$AGENT" --listen tcp://198.18.9.1:7700 --guest-listen none --name a \
    --test-clock-step="$AFTER:$STEP"
  PID_A=$LAST_PID
  start_bg "$B" "$TMP/$1-agent-b.log" "$AGENT" --listen tcp://198.18.9.2:7700 --guest-listen none --name b \
    --test-clock-step="$AFTER:-$STEP"
  PID_B=$LAST_PID
  on_fail "echo '--- agent a:'; cat '$TMP/$1-agent-a.log'; echo '--- agent b:'; cat '$TMP/$1-agent-b.log'"
  wait_for 10 tcp_listening "$A" 198.18.9.1:7700 || fail "agent a not listening"
  wait_for 10 tcp_listening "$B" 198.18.9.2:7700 || fail "agent b not listening"

  cat >"$TMP/$1-step.plan" <<PLAN
[hosts]
a = tcp://198.18.9.1:7700
a.data = 198.18.9.1
b = tcp://198.18.9.2:7700
b.data = 198.18.9.2

[global]
sender = a
receiver = b
duration = ${DURATION_S}s
sample_interval = ${INTERVAL_MS}ms
timeout = 5s

[$1]
workload = $1
${2:-}
PLAN

  t0=$SECONDS
  ip netns exec "$A" "$COORD" run "$TMP/$1-step.plan" --results "$TMP/$1-results" --quiet >"$TMP/$1-out.txt" 2>"$TMP/$1-err.txt"
  rc=$?
  took=$((SECONDS - t0))
  cat "$TMP/$1-out.txt" "$TMP/$1-err.txt" >&2
  expect_eq "coord exit status" "$rc" 0
  db=$(ls -d "$TMP/$1-results"/*-step | head -1)/results.db
  [ -f "$db" ] || fail "no results.db"
  expect_eq "points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 1

  # The step fell inside the point's window (coord's clock, which did not
  # step, is the test's).
  read -r ws we <<<"$(sql "$db" "SELECT window_start_ns, window_end_ns FROM point" | tr '|' ' ')"
  t_step=$((t_agents + AFTER * 1000000000))
  [ "$ws" -lt "$t_step" ] && [ "$t_step" -lt "$we" ] ||
    fail "the step ($t_step) was not inside the window $ws..$we: change AFTER"
  log "$1: step $(((t_step - ws) / 1000000)) ms into the ${DURATION_S} s window"

  # Every sample arrived, from both agents, none stored as a gap.
  for ag in a b; do
    n=$(sql "$db" "SELECT count(*) FROM sample s JOIN flow f ON f.id = s.flow_id JOIN agent g ON g.id = f.agent_id WHERE g.name = '$ag'")
    expect_eq "samples from agent $ag (${DURATION_S} s / ${INTERVAL_MS} ms)" "$n" "$WANT_SAMPLES"
  done
  expect_eq "gaps" "$(sql "$db" "SELECT count(*) FROM sample_gap")" 0
  expect_eq "flows not complete" "$(sql "$db" "SELECT count(*) FROM result WHERE complete = 0")" 0

  # On time: every sample lies within the window in coord's time (give or
  # take the last one's wait for the flows), and each covers its interval,
  # not a burst of near-empty ones.
  bad=$(sql "$db" "SELECT count(*) FROM sample s JOIN flow f ON f.id = s.flow_id JOIN point p ON p.id = f.point_id WHERE s.t_start_ns < p.window_start_ns - 100000000 OR s.t_end_ns > p.window_end_ns + 1000000000")
  expect_eq "samples outside the window (coord time)" "$bad" 0
  short=$(sql "$db" "SELECT group_concat(g.name || '#' || s.seq || ':' || ((s.t_end_ns - s.t_start_ns) / 1000000) || 'ms', ' ') FROM sample s JOIN flow f ON f.id = s.flow_id JOIN agent g ON g.id = f.agent_id WHERE s.seq < $WANT_SAMPLES AND abs((s.t_end_ns - s.t_start_ns) - ${INTERVAL_MS}000000) > ${INTERVAL_MS}000000 / 4")
  [ -z "$short" ] || fail "samples not on their interval: $short"
  # The whole run: connect, probe, the window and the Result, far from the
  # 30 s a step could add.
  [ "$took" -le $((DURATION_S + 8)) ] || fail "coord took $took s for a ${DURATION_S} s point"
  log "$1: all $WANT_SAMPLES samples of both agents on time, every flow complete; coord took $took s"

  stop_bg "$PID_A"
  stop_bg "$PID_B"
  check_logs "$TMP/$1-agent-a.log" "$TMP/$1-agent-b.log" "$TMP/$1-err.txt"
}

step_case tcp_stream
step_case udp_stream "rate = 100M"
exit 0
