#!/usr/bin/env bash
# Every workload engine from a plan, over a veth pair between two
# namespaces, landing in results.db with its metrics; and UDP loss
# counted right when a token-bucket qdisc on the link drops what the
# offered rate exceeds.
#
#   ns A  agent a  198.18.2.1/30  <== veth ==>  198.18.2.2/30  agent b  ns B
#   coord in the root namespace talks to both over ipc:// sockets.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip tc sqlite3

setup_ns A B
ip link add v0 netns "$A" type veth peer name v1 netns "$B"
ip -n "$A" addr add 198.18.2.1/30 dev v0 && ip -n "$A" link set v0 up
ip -n "$B" addr add 198.18.2.2/30 dev v1 && ip -n "$B" link set v1 up

start_bg "$A" "$TMP/agent-a.log" "$AGENT" --listen=ipc://$TMP/a.sock --name a
PID_A=$LAST_PID
start_bg "$B" "$TMP/agent-b.log" "$AGENT" --listen=ipc://$TMP/b.sock --name b
PID_B=$LAST_PID
wait_for 10 test -S "$TMP/a.sock" || fail "agent a did not start: $(cat "$TMP/agent-a.log")"
wait_for 10 test -S "$TMP/b.sock" || fail "agent b did not start: $(cat "$TMP/agent-b.log")"

cat >"$TMP/engines.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 198.18.2.1
b = ipc://$TMP/b.sock
b.data = 198.18.2.2

[global]
duration = 1s
warmup = 500ms
sample_interval = 250ms
timeout = 5s

# No warm-up in the stream, RR and UDP tests: with one, each agent takes its
# baseline when its own timer fires at the window's start, a few ms apart
# on a loaded machine, so the two sides' counts would differ by what moved
# in between; without one, both count from zero and must agree.
[streams]
workload = tcp_stream, tcp_maerts
msg_size = 16k
warmup = 0

[bidir]
workload = tcp_bidir
flows = 2
warmup = 0

[rr]
workload = tcp_rr, tcp_crr, udp_rr
msg_size = 1
burst = 1
warmup = 0

[rr_burst]
workload = tcp_rr
burst = 4
nodelay = yes
warmup = 0

[udp]
workload = udp_stream
msg_size = 1200
rate = 20m
warmup = 0

[pinned]
workload = tcp_stream
cpus = 0
send_buffer = 256k
recv_buffer = 256k
PLAN

"$COORD" run "$TMP/engines.plan" --results "$TMP/results" >"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out" "$TMP/err" >&2
expect_eq "coord exit status" "$rc" 0
db=$(ls -d "$TMP"/results/*-engines)/results.db
expect_eq "points" "$(sql "$db" "SELECT count(*) FROM point")" 9
expect_eq "failed points" "$(sql "$db" "SELECT count(*) FROM point WHERE status != 'ok'")" 0
# 1 s window at 250 ms: 4 samples per flow, the warm-up not among them.
expect_eq "flows without 4 samples" \
  "$(sql "$db" "SELECT count(*) FROM flow f WHERE (SELECT count(*) FROM sample s WHERE s.flow_id = f.id) != 4")" 0
# The window opens after the warm-up (500 ms, or none) and lasts 1 s.
bad=$(sql "$db" "SELECT count(*) FROM point WHERE abs((window_start_ns - start_ns) - warmup_ns) > 50000000
                 OR abs((window_end_ns - window_start_ns) - 1000000000) > 1000000")
expect_eq "points whose window is not [start+warmup, +1s]" "$bad" 0
expect_eq "points with a warm-up" "$(sql "$db" "SELECT count(*) FROM point WHERE warmup_ns = 500000000")" 1
expect_eq "incomplete flows" "$(sql "$db" "SELECT count(*) FROM result WHERE complete = 0")" 0
# TCP streams: bytes sent == bytes received for every flow pair.
bad=$(sql "$db" "SELECT count(*) FROM flow s JOIN flow r ON r.point_id = s.point_id AND r.idx = s.idx
                 AND s.role = 'sender' AND r.role = 'receiver' JOIN point p ON p.id = s.point_id
                 JOIN result rs ON rs.flow_id = s.id JOIN result rr ON rr.flow_id = r.id
                 WHERE p.workload IN ('tcp_stream', 'tcp_maerts', 'tcp_bidir') AND p.warmup_ns = 0
                   AND (rs.bytes != rr.bytes OR rs.bytes = 0)")
expect_eq "TCP stream flows where sent != received" "$bad" 0
# TCP request/response: client and server count the same transactions,
# but for those in flight (at most the burst, 4) when the window closed.
bad=$(sql "$db" "SELECT count(*) FROM flow s JOIN flow r ON r.point_id = s.point_id AND r.idx = s.idx
                 AND s.role = 'sender' AND r.role = 'receiver' JOIN point p ON p.id = s.point_id
                 JOIN result rs ON rs.flow_id = s.id JOIN result rr ON rr.flow_id = r.id
                 WHERE p.workload IN ('tcp_rr', 'tcp_crr')
                   AND (rs.transactions = 0 OR abs(rr.transactions - rs.transactions) > 4)")
expect_eq "TCP RR flows whose client and server counts disagree" "$bad" 0
# Request/response engines: the histogram counts every transaction.
bad=$(sql "$db" "SELECT count(*) FROM flow f JOIN result r ON r.flow_id = f.id JOIN point p ON p.id = f.point_id
                 JOIN histogram_summary h ON h.flow_id = f.id AND h.seq = 0
                 WHERE f.role = 'sender' AND h.count != r.transactions")
expect_eq "RR flows whose histogram != transactions" "$bad" 0
expect_eq "RR sender flows with a histogram" "$(sql "$db" "SELECT count(*) FROM histogram_summary WHERE seq = 0")" 4
# udp_stream at 20 Mbit/s, which the link carries: the receiver gets
# what was sent (within 2 %), and the sender offered the rate asked.  The
# sender's pacing is checked within 5 % here, where other tests may share
# the CPUs and a starved pacer skips slots rather than burst; the unit
# test holds it to 1 % with an allowance measured from CPU starvation.
read -r sent_mbps recv_mbps <<<"$(sql "$db" "SELECT
  (SELECT printf('%.4f', sum(r.bytes) * 8.0 / 1e6 / ((max(r.t_end_ns) - min(r.t_start_ns)) / 1e9)) FROM result r
     JOIN flow f ON f.id = r.flow_id JOIN point p ON p.id = f.point_id WHERE p.workload = 'udp_stream' AND f.role = 'sender'),
  (SELECT printf('%.4f', sum(r.bytes) * 8.0 / 1e6) FROM result r
     JOIN flow f ON f.id = r.flow_id JOIN point p ON p.id = f.point_id WHERE p.workload = 'udp_stream' AND f.role = 'receiver')" | tr '|' ' ')"
read -r sent_b recv_b <<<"$(sql "$db" "SELECT
  (SELECT sum(r.bytes) FROM result r JOIN flow f ON f.id = r.flow_id JOIN point p ON p.id = f.point_id
     WHERE p.workload = 'udp_stream' AND f.role = 'sender'),
  (SELECT sum(r.bytes) FROM result r JOIN flow f ON f.id = r.flow_id JOIN point p ON p.id = f.point_id
     WHERE p.workload = 'udp_stream' AND f.role = 'receiver')" | tr '|' ' ')"
log "udp_stream at 20 Mbit/s: sent $sent_mbps Mbit/s, delivered $recv_b of $sent_b bytes"
awk -v r="$sent_mbps" 'BEGIN { exit !(r > 19.0 && r < 20.4) }' || fail "udp_stream sent $sent_mbps Mbit/s, asked 20"
awk -v s="$sent_b" -v r="$recv_b" 'BEGIN { exit !(s > 0 && r >= 0.98 * s && r <= s) }' ||
  fail "udp_stream delivered $recv_b of $sent_b bytes (want within 2 %)"
# CPU samples for both machines in every interval.
expect_eq "points without CPU samples of both agents" \
  "$(sql "$db" "SELECT count(*) FROM point p WHERE (SELECT count(DISTINCT agent_id) FROM cpu_sample c
                WHERE c.point_id = p.id AND c.cpu = -1) != 2")" 0
"$COORD" report "$(dirname "$db")" --json >"$TMP/report.json" || fail "report --json failed"
# The JSON report's time series: one bin per sample interval, summing to
# the point's totals, and Jain's fairness index in (0, 1] for every point.
python3 - "$TMP/report.json" <<'PY' || fail "report intervals or fairness wrong"
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["points"]:
    iv = p["intervals"]
    assert len(iv) == 4, (p["test"], len(iv))
    rr = p["latency_us"] is not None
    total = sum(b["transactions"] if rr else b["bytes"] for b in iv)
    want = p["transactions"] if rr else p["rx_bytes"]
    assert total == want, (p["test"], total, want)
    assert 0 < p["fairness"] <= 1.0 + 1e-9, (p["test"], p["fairness"])
    for b in iv:
        assert 0 < b["fairness"] <= 1.0 + 1e-9 and b["flows"] >= 1, (p["test"], b)
bidir = [p for p in d["points"] if p["workload"] == "tcp_bidir"][0]
assert bidir["intervals"][0]["flows"] == 2
PY

# Loss: a 10 Mbit/s token bucket on a's side, 40 Mbit/s offered: about
# three quarters dropped, every datagram either received or counted lost.
tc -n "$A" qdisc add dev v0 root tbf rate 10mbit burst 16kb latency 20ms
cat >"$TMP/loss.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 198.18.2.1
b = ipc://$TMP/b.sock
b.data = 198.18.2.2

[loss]
workload = udp_stream
msg_size = 1000
rate = 40m
duration = 2s
sample_interval = 500ms
PLAN
"$COORD" run "$TMP/loss.plan" --results "$TMP/results" >"$TMP/out2" 2>"$TMP/err2"
rc=$?
cat "$TMP/out2" "$TMP/err2" >&2
expect_eq "loss run exit status" "$rc" 0
db=$(ls -d "$TMP"/results/*-loss)/results.db
read -r sent recv lost <<<"$(sql "$db" "SELECT (SELECT r.messages FROM result r JOIN flow f ON f.id = r.flow_id WHERE f.role = 'sender'),
                                 (SELECT r.messages FROM result r JOIN flow f ON f.id = r.flow_id WHERE f.role = 'receiver'),
                                 (SELECT r.lost FROM result r JOIN flow f ON f.id = r.flow_id WHERE f.role = 'receiver')" | tr '|' ' ')"
log "udp through a 10 Mbit/s bucket: sent $sent received $recv lost $lost"
[ "$lost" -gt 0 ] || fail "no loss counted behind a 10 Mbit/s bucket at 40 Mbit/s"
# Every datagram the sender counted is either received or lost (the FIN
# datagrams that end the flow are not data and not counted).
expect_eq "received + lost" "$((recv + lost))" "$sent"
awk -v s="$sent" -v l="$lost" 'BEGIN { f = l / s; exit !(f > 0.6 && f < 0.85) }' ||
  fail "lost $lost of $sent: not about 3/4"

stop_bg "$PID_A"
stop_bg "$PID_B"
check_logs "$TMP/agent-a.log" "$TMP/agent-b.log"
log "PASS"
