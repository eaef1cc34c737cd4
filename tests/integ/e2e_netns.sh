#!/usr/bin/env bash
# End to end over real network namespaces: two agents, coord in a third
# namespace, a tcp_stream and a tcp_rr point; checks results.db.
#
# Topology (control and data networks kept apart, like real servers):
#
#        ns c (coord) 198.18.0.3/24
#              |  ctl
#        ns sw: bridge br0 ------------------+
#              |  ctl                        |  ctl
#        ns a 198.18.0.1/24           ns b 198.18.0.2/24
#        agent a                      agent b
#          data 198.18.1.1/30 <=veth=> data 198.18.1.2/30
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 ss

setup_ns A B C SW
ip -n "$SW" link add br0 type bridge && ip -n "$SW" link set br0 up
i=1
for ns in "$A" "$B" "$C"; do
  ip link add ctl netns "$ns" type veth peer name "p$i" netns "$SW"
  ip -n "$SW" link set "p$i" master br0 up
  ip -n "$ns" addr add "198.18.0.$i/24" dev ctl
  ip -n "$ns" link set ctl up
  i=$((i + 1))
done
ip link add data netns "$A" type veth peer name data netns "$B"
ip -n "$A" addr add 198.18.1.1/30 dev data && ip -n "$A" link set data up
ip -n "$B" addr add 198.18.1.2/30 dev data && ip -n "$B" link set data up

start_bg "$A" "$TMP/agent-a.log" "$AGENT" --listen tcp://198.18.0.1:7700 --name a
PID_A=$LAST_PID
start_bg "$B" "$TMP/agent-b.log" "$AGENT" --listen tcp://198.18.0.2:7700 --name b
PID_B=$LAST_PID
wait_for 10 tcp_listening "$A" 198.18.0.1:7700 || fail "agent a not listening: $(cat "$TMP/agent-a.log")"
wait_for 10 tcp_listening "$B" 198.18.0.2:7700 || fail "agent b not listening: $(cat "$TMP/agent-b.log")"

cat >"$TMP/e2e.plan" <<'PLAN'
[hosts]
a = tcp://198.18.0.1:7700
a.data = 198.18.1.1
b = tcp://198.18.0.2:7700
b.data = 198.18.1.2

[global]
sender = a
receiver = b
duration = 2s
sample_interval = 250ms
timeout = 5s

[stream]
workload = tcp_stream
msg_size = 16k
flows = 2

[rr]
workload = tcp_rr
msg_size = 1, 100
response_size = 1
PLAN

ip netns exec "$C" "$COORD" run "$TMP/e2e.plan" --results "$TMP/results" >"$TMP/out.txt" 2>"$TMP/err.txt"
rc=$?
cat "$TMP/out.txt" "$TMP/err.txt" >&2
expect_eq "coord exit status" "$rc" 0
run=$(ls -d "$TMP"/results/*-e2e | head -1)
db=$run/results.db
[ -f "$db" ] || fail "no results.db in $run"
[ -f "$run/plan.plan" ] || fail "plan not stored with the run"
[ -f "$run/inventory/a.json" ] || fail "inventory of a not stored"
grep -q '198.18.1.1' "$run/inventory/a.json" || fail "inventory of a does not list its data address"

expect_eq "points" "$(sql "$db" "SELECT count(*) FROM point")" 3
expect_eq "failed points" "$(sql "$db" "SELECT count(*) FROM point WHERE status != 'ok'")" 0
expect_eq "run status" "$(sql "$db" "SELECT status FROM run")" ok

# Every flow has duration / interval samples (2 s / 250 ms = 8), numbered 1..8.
bad=$(sql "$db" "SELECT count(*) FROM flow f WHERE (SELECT count(*) FROM sample s WHERE s.flow_id = f.id) != 8
                 OR (SELECT max(seq) FROM sample s WHERE s.flow_id = f.id) != 8")
expect_eq "flows without exactly 8 samples" "$bad" 0
expect_eq "flows" "$(sql "$db" "SELECT count(*) FROM flow")" 8

# The samples add up to the result, flow by flow: nothing lost in between.
bad=$(sql "$db" "SELECT count(*) FROM flow f JOIN result r ON r.flow_id = f.id
                 WHERE r.bytes != (SELECT sum(bytes) FROM sample s WHERE s.flow_id = f.id)
                    OR r.transactions != (SELECT sum(transactions) FROM sample s WHERE s.flow_id = f.id)")
expect_eq "flows whose samples do not add up to the result" "$bad" 0

# TCP: every byte sent was received, flow by flow.
bad=$(sql "$db" "SELECT count(*) FROM flow s JOIN flow r ON r.point_id = s.point_id AND r.idx = s.idx
                 AND s.role = 'sender' AND r.role = 'receiver'
                 JOIN result rs ON rs.flow_id = s.id JOIN result rr ON rr.flow_id = r.id
                 WHERE rs.bytes != rr.bytes OR rs.bytes = 0")
expect_eq "flows where sent != received bytes" "$bad" 0

# Throughput agrees with bytes over time: the window each receiver flow
# ran is the 2 s asked for (within 10 %), and the samples tile it.
bad=$(sql "$db" "SELECT count(*) FROM flow f JOIN result r ON r.flow_id = f.id
                 WHERE f.role = 'receiver' AND abs((r.t_end_ns - r.t_start_ns) - 2000000000) > 200000000")
expect_eq "receiver flows whose window is not 2 s" "$bad" 0
bad=$(sql "$db" "SELECT count(*) FROM sample a JOIN sample b ON a.flow_id = b.flow_id AND b.seq = a.seq + 1
                 WHERE a.t_end_ns != b.t_start_ns")
expect_eq "samples that do not tile the window" "$bad" 0
gbps_db=$(sql "$db" "SELECT printf('%.2f', sum(r.bytes) * 8.0 / ((max(r.t_end_ns) - min(r.t_start_ns)) / 1e9) / 1e9)
                     FROM flow f JOIN result r ON r.flow_id = f.id JOIN point p ON p.id = f.point_id
                     WHERE p.test = 'stream' AND f.role = 'receiver'")
"$COORD" report "$run" --json >"$TMP/report.json" || fail "coord report --json failed"
gbps_rep=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f" % [p for p in d["points"] if p["test"]=="stream"][0]["gbps"])' "$TMP/report.json")
expect_eq "report Gbit/s vs bytes over time" "$gbps_rep" "$gbps_db"
awk -v g="$gbps_db" 'BEGIN { exit !(g > 0.05) }' || fail "stream throughput $gbps_db Gbit/s is implausibly low"

# RR: the latency histogram counts exactly the transactions counted.
bad=$(sql "$db" "SELECT count(*) FROM flow f JOIN result r ON r.flow_id = f.id JOIN point p ON p.id = f.point_id
                 JOIN histogram_summary h ON h.flow_id = f.id AND h.seq = 0
                 WHERE p.workload = 'tcp_rr' AND f.role = 'sender'
                   AND (h.count != r.transactions OR r.transactions = 0
                        OR h.count != (SELECT sum(count) FROM histogram b WHERE b.flow_id = f.id AND b.seq = 0))")
expect_eq "rr flows whose histogram count != transactions" "$bad" 0
expect_eq "rr sender flows with a histogram" \
  "$(sql "$db" "SELECT count(*) FROM histogram_summary h JOIN flow f ON f.id = h.flow_id JOIN point p ON p.id = f.point_id
                WHERE h.seq = 0 AND p.workload = 'tcp_rr' AND f.role = 'sender'")" 2

# Clocks: before each point coord probed both agents.  All namespaces
# share one kernel clock, so the true offset is 0 and every estimate must
# lie within its own error bound of it; the agents started together.
expect_eq "agents per point with a clock estimate" \
  "$(sql "$db" "SELECT count(*) FROM point_agent WHERE clock_probes = 8")" 6
bad=$(sql "$db" "SELECT count(*) FROM point_agent WHERE abs(clock_offset_ns) > clock_error_ns OR clock_error_ns = 0")
expect_eq "clock estimates whose bound excludes the true offset 0" "$bad" 0
bad=$(sql "$db" "SELECT count(*) FROM point WHERE start_skew_ns IS NULL OR start_skew_ns > 50000000")
expect_eq "points without a start skew under 50 ms" "$bad" 0
log "start skew: $(sql "$db" "SELECT group_concat(start_skew_ns / 1000, ' ') FROM point") us"

# The printed table has one row per point and names the tests.
grep -q 'stream' "$TMP/out.txt" || fail "table does not show the stream point"
[ "$(grep -c ' ok ' "$TMP/out.txt")" -eq 3 ] || fail "table does not show three ok points"
# The agents shut down cleanly and reported nothing to the sanitizers.
stop_bg "$PID_A"
stop_bg "$PID_B"
check_logs "$TMP/agent-a.log" "$TMP/agent-b.log"
log "PASS ($gbps_db Gbit/s stream)"
