#!/usr/bin/env bash
# Attacks on the data path (issue 14, items 2 and 10), with the real coord
# and agents in network namespaces:
#
#  1. Reflection: while a udp_rr point runs (64-byte requests, 1024-byte
#     responses: a 16x amplifier if it answered anyone), a third host V
#     on the data network, the victim, sends well-formed requests to the
#     server's port.  Not one datagram reaches V (its own socket and its
#     UDP/ICMP counters), and the point succeeds.
#  2. --max-rate on RR: the agents run with --max-rate 800k; a udp_rr and
#     a tcp_rr point of 100-byte messages are paced to 1000
#     transactions/s at most (on a veth, unpaced, they do tens of
#     thousands).
#  3. No receiver: on b, every UDP datagram for its data address is
#     diverted (iptables REDIRECT) to a plain socket that never answers,
#     as if the receiver's port were another program's.  The udp_stream
#     point fails with the token error naming the receiver, and the plain
#     socket got the bounded hellos and not one data datagram.
#
#        ns c (coord) 198.18.0.3/24 --- bridge br0 (ns sw) --- ctl of a, b
#        data: bridge br1 (ns sw): a 198.18.1.1, b 198.18.1.2, v 198.18.1.3
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 ss python3 iptables

setup_ns A B C V SW
ip -n "$SW" link add br0 type bridge && ip -n "$SW" link set br0 up
ip -n "$SW" link add br1 type bridge && ip -n "$SW" link set br1 up
i=1
for ns in "$A" "$B" "$C"; do
  ip link add ctl netns "$ns" type veth peer name "p$i" netns "$SW"
  ip -n "$SW" link set "p$i" master br0 up
  ip -n "$ns" addr add "198.18.0.$i/24" dev ctl
  ip -n "$ns" link set ctl up
  i=$((i + 1))
done
i=1
for ns in "$A" "$B" "$V"; do
  ip link add data netns "$ns" type veth peer name "d$i" netns "$SW"
  ip -n "$SW" link set "d$i" master br1 up
  ip -n "$ns" addr add "198.18.1.$i/24" dev data
  ip -n "$ns" link set data up
  ip -n "$ns" link set lo up
  i=$((i + 1))
done

start_bg "$A" "$TMP/agent-a.log" "$AGENT" --listen tcp://198.18.0.1:7700 --name a --max-rate 800k
PID_A=$LAST_PID
start_bg "$B" "$TMP/agent-b.log" "$AGENT" --listen tcp://198.18.0.2:7700 --name b --max-rate 800k
PID_B=$LAST_PID
wait_for 10 tcp_listening "$A" 198.18.0.1:7700 || fail "agent a not listening: $(cat "$TMP/agent-a.log")"
wait_for 10 tcp_listening "$B" 198.18.0.2:7700 || fail "agent b not listening: $(cat "$TMP/agent-b.log")"

hosts='[hosts]
a = tcp://198.18.0.1:7700
a.data = 198.18.1.1
b = tcp://198.18.0.2:7700
b.data = 198.18.1.2
'
cat >"$TMP/rr.plan" <<PLAN
$hosts
[global]
sender = a
receiver = b
sample_interval = 500ms
timeout = 10s

[spoof]
workload = udp_rr
msg_size = 64
response_size = 1024
duration = 5s

[capped]
workload = udp_rr, tcp_rr
msg_size = 100
response_size = 100
burst = 4
duration = 2s
PLAN

# The victim's UDP and ICMP counters (its namespace's /proc/net/snmp).
snmp() {
  ip netns exec "$V" awk '$1 == "Udp:" && $2 ~ /^[0-9]/ { u = $2 + $3 } $1 == "Icmp:" && $2 ~ /^[0-9]/ { i = $2 }
                          END { print u + 0, i + 0 }' /proc/net/snmp
}
# The port of b's udp_rr server: a UDP socket on b's data address.
rr_port() { ip netns exec "$B" ss -Huan 'src 198.18.1.2' | awk '{ n = split($4, a, ":"); print a[n]; exit }'; }
has_rr_port() { [ -n "$(rr_port)" ]; }

# ---- 1 and 2 ----
ip netns exec "$C" "$COORD" run "$TMP/rr.plan" --results "$TMP/results" >"$TMP/out.txt" 2>"$TMP/err.txt" &
COORD_PID=$!
defer "kill $COORD_PID 2>/dev/null"
wait_for 20 has_rr_port || fail "b's udp_rr server never appeared: $(cat "$TMP/err.txt")"
port=$(rr_port)
before=$(snmp)
log "udp_rr server at 198.18.1.2:$port; the victim 198.18.1.3 sends it 200 requests"
back=$(ip netns exec "$V" python3 - "$port" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.3", 0))
s.settimeout(0.05)
got = 0
for i in range(200):
    s.sendto(bytes([i]) * 64, ("198.18.1.2", int(sys.argv[1])))
    time.sleep(0.002)
end = time.time() + 1.5
while time.time() < end:
    try:
        s.recv(4096)
        got += 1
    except socket.timeout:
        pass
print(got)
PY
)
after=$(snmp)
wait "$COORD_PID"
rc=$?
cat "$TMP/out.txt" "$TMP/err.txt" >&2
expect_eq "coord exit status" "$rc" 0
log "victim: $back datagrams came back; UDP/ICMP counters $before -> $after"
expect_eq "datagrams back at the victim" "$back" 0
# Udp InDatagrams + NoPorts, Icmp InMsgs: nothing arrived at all.
expect_eq "victim's UDP and ICMP counters" "$after" "$before"

db=$(ls -d "$TMP"/results/*/results.db | head -1)
expect_eq "failed points" "$(sql "$db" "SELECT count(*) FROM point WHERE status != 'ok'")" 0
spoof_tx=$(sql "$db" "SELECT sum(r.transactions) FROM point p JOIN flow f ON f.point_id = p.id
                      JOIN result r ON r.flow_id = f.id WHERE p.test = 'spoof' AND f.role = 'sender'")
[ "${spoof_tx:-0}" -gt 0 ] || fail "the udp_rr point under attack made no transactions"
# 2: 100-byte messages under 800 kbit/s: 1000 transactions/s, 2 s.
while IFS='|' read -r wl tx; do
  log "$wl under --max-rate 800k: $tx transactions in 2 s (at most 2000)"
  [ "$tx" -le 2010 ] || fail "$wl made $tx transactions in 2 s, over the cap's 2000"
  [ "$tx" -ge 500 ] || fail "$wl made only $tx transactions in 2 s under a cap of 1000/s"
done < <(sql "$db" "SELECT p.workload, sum(r.transactions) FROM point p JOIN flow f ON f.point_id = p.id
                    JOIN result r ON r.flow_id = f.id WHERE p.test = 'capped' AND f.role = 'sender'
                    GROUP BY p.id")
expect_eq "capped points" "$(sql "$db" "SELECT count(*) FROM point WHERE test = 'capped' AND status = 'ok'")" 2

# ---- 3 ----
cat >"$TMP/stream.plan" <<PLAN
$hosts
[global]
sender = a
receiver = b
sample_interval = 500ms
timeout = 15s

[blind]
workload = udp_stream
msg_size = 1200
rate = 500k
duration = 2s
PLAN
ip netns exec "$B" iptables -t nat -A PREROUTING -p udp -d 198.18.1.2 -j REDIRECT --to-ports 9999 ||
  skip "iptables cannot REDIRECT in a namespace here"
start_bg "$B" "$TMP/plain.log" python3 -u -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.2", 9999))
s.settimeout(0.2)
print("ready", flush=True)
hellos = other = 0
end = time.time() + 40
while time.time() < end:
    try:
        b = s.recv(65536)
    except socket.timeout:
        continue
    if len(b) == 40 and b[:4] == b"IOVH":
        hellos += 1
    else:
        other += 1
    print("hellos %d other %d" % (hellos, other), flush=True)
'
PID_PLAIN=$LAST_PID
wait_for 10 grep -q ready "$TMP/plain.log" || fail "the plain socket did not start"
ip netns exec "$C" "$COORD" run "$TMP/stream.plan" --results "$TMP/results2" >"$TMP/out2.txt" 2>"$TMP/err2.txt"
rc=$?
cat "$TMP/out2.txt" "$TMP/err2.txt" >&2
[ "$rc" -ne 0 ] || fail "coord reported success for a point whose receiver never answered"
db2=$(ls -d "$TMP"/results2/*/results.db | head -1)
err=$(sql "$db2" "SELECT error FROM point WHERE test = 'blind'")
log "point error: $err"
expect_eq "point status" "$(sql "$db2" "SELECT status FROM point WHERE test = 'blind'")" failed
case $err in
*"receiver at 198.18.1.2:"*"did not answer the point's token: nothing sent"*) ;;
*) fail "the point's error does not name the token: '$err'" ;;
esac
stop_bg "$PID_PLAIN"
last=$(tail -n 1 "$TMP/plain.log")
log "the plain socket in the receiver's place got: $last"
hellos=$(awk '/^hellos/ { h = $2 } END { print h + 0 }' "$TMP/plain.log")
other=$(awk '/^hellos/ { o = $4 } END { print o + 0 }' "$TMP/plain.log")
expect_eq "data datagrams at the plain socket" "$other" 0
[ "$hellos" -ge 1 ] && [ "$hellos" -le 6 ] || fail "$hellos hellos reached the plain socket (1..6 expected)"

stop_bg "$PID_A"
stop_bg "$PID_B"
check_logs "$TMP/agent-a.log" "$TMP/agent-b.log"
log "PASS (spoofed requests: 0 answered; RR paced under --max-rate; a blind sender sent $hellos hellos and no data)"
