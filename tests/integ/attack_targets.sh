#!/usr/bin/env bash
# Attack: a guest lies about its data address, to aim another agent's
# traffic at a machine outside the run (issue 14, "targets coord can vouch
# for").  With the real binaries, as an attacker would:
#
#   ns sw: bridge br0, 198.18.0.0/24 (control, and the guests' data)
#     ns c  198.18.0.3   coord
#     ns a  198.18.0.1   host agent a      ns ga 198.18.0.11  guest ga of a
#     ns b  198.18.0.2   host agent b      ns gb 198.18.0.12  guest gb of b
#   ns v  198.18.0.9 (the victim), on a veth of its own from ga: whatever
#         ga sends to 198.18.0.9 crosses it, and nothing else does.
#
# gb is compromised: it has the victim's address on its loopback (so its
# guest agent can bind it) with ARP replies for it off (so traffic for it
# goes to the victim, not to gb), and claims it as its data address
# (--data 198.18.0.9).  The plan vouches for gb's real address only
# (b.guest_data).  A vm-vm-cross udp_stream from ga to gb must fail before
# any traffic, saying which guest claimed what and what was vouched, and
# the victim's interface must count no packet.  A second run where nobody
# vouches for anything fails the same way.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 ss
GUEST=$BUILD/bin/iovbench-guest-agent

setup_ns A B C GA GB SW V
ip -n "$SW" link add br0 type bridge && ip -n "$SW" link set br0 up
i=0
for pair in "$A:1" "$B:2" "$C:3" "$GA:11" "$GB:12"; do
  ns=${pair%%:*} addr=${pair##*:}
  i=$((i + 1))
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip link add eth0 netns "$ns" type veth peer name "p$i" netns "$SW"
  ip -n "$SW" link set "p$i" master br0 up
  ip -n "$ns" addr add "198.18.0.$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
done
# The victim, behind its own veth from ga.
ip netns exec "$V" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip netns exec "$GA" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip link add vic netns "$GA" type veth peer name eth0 netns "$V"
ip -n "$V" addr add 198.18.0.9/32 dev eth0 && ip -n "$V" link set eth0 up
ip -n "$V" route add 198.18.0.11/32 dev eth0
ip -n "$GA" link set vic up && ip -n "$GA" route add 198.18.0.9/32 dev vic
# No ARP on that link (static neighbours): its counters count only what is
# sent to the victim, not the neighbour tables' own probes.
ip -n "$GA" link set vic arp off && ip -n "$V" link set eth0 arp off
ip -n "$GA" neigh replace 198.18.0.9 dev vic lladdr "$(ip netns exec "$V" cat /sys/class/net/eth0/address)" nud permanent
ip -n "$V" neigh replace 198.18.0.11 dev eth0 lladdr "$(ip netns exec "$GA" cat /sys/class/net/vic/address)" nud permanent
# The liar: the victim's address on its loopback, no ARP answer for it.
ip -n "$GB" addr add 198.18.0.9/32 dev lo
ip netns exec "$GB" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth0.arp_ignore=1

rx_of_victim() { ip netns exec "$V" cat /sys/class/net/eth0/statistics/rx_packets; }
tx_toward_victim() { ip netns exec "$GA" cat /sys/class/net/vic/statistics/tx_packets; }

# The counters see traffic to the victim when there is some: one datagram.
before=$(rx_of_victim)
ip netns exec "$GA" bash -c 'echo probe >/dev/udp/198.18.0.9/9' || fail "setup: ga cannot send to the victim"
victim_counted() { [ "$(rx_of_victim)" -gt "$before" ]; }
wait_for 5 victim_counted || fail "setup: the victim's rx_packets did not count a datagram"

start_bg "$A" "$TMP/agent-a.log" "$AGENT" --listen tcp://198.18.0.1:7700 --guest-listen tcp://198.18.0.1:7701 --name a
start_bg "$B" "$TMP/agent-b.log" "$AGENT" --listen tcp://198.18.0.2:7700 --guest-listen tcp://198.18.0.2:7701 --name b
wait_for 10 tcp_listening "$A" 198.18.0.1:7701 || fail "agent a not listening: $(cat "$TMP/agent-a.log")"
wait_for 10 tcp_listening "$B" 198.18.0.2:7701 || fail "agent b not listening: $(cat "$TMP/agent-b.log")"
# shellcheck disable=SC2046
start_bg "$GA" "$TMP/ga.log" "$GUEST" --host tcp://198.18.0.1:7701 --vm-id ga --data 198.18.0.11 $(guest_opts ga) \
  --ready-file "$TMP/ga.ready"
# shellcheck disable=SC2046
start_bg "$GB" "$TMP/gb.log" "$GUEST" --host tcp://198.18.0.2:7701 --vm-id gb --data 198.18.0.9 $(guest_opts gb) \
  --ready-file "$TMP/gb.ready"
wait_for 20 test -e "$TMP/ga.ready" || fail "guest ga did not register: $(cat "$TMP/ga.log")"
wait_for 20 test -e "$TMP/gb.ready" || fail "guest gb did not register: $(cat "$TMP/gb.log")"
on_fail 'cat "$TMP"/*.log'

plan() { # NAME GUEST_DATA_LINES
  cat >"$TMP/$1.plan" <<PLAN
[hosts]
a = tcp://198.18.0.1:7700
a.data = 198.18.0.1
b = tcp://198.18.0.2:7700
b.data = 198.18.0.2
$2

[global]
sender = a
receiver = b
topology = vm-vm-cross
path = existing
timeout = 10s
duration = 2s
sample_interval = 500ms

[aim]
workload = udp_stream
rate = 100m
PLAN
}
run_attack() { # NAME WANT_VOUCHED
  local rx0 tx0 db err
  rx0=$(rx_of_victim) tx0=$(tx_toward_victim)
  ip netns exec "$C" timeout 60 "$COORD" run "$TMP/$1.plan" --results "$TMP/results" >"$TMP/$1.out" 2>"$TMP/$1.err"
  expect_eq "$1: coord exit status" $? 1
  db=$(ls -d "$TMP"/results/*-"$1")/results.db
  expect_eq "$1: point status" "$(sql "$db" "SELECT status FROM point")" failed
  err=$(sql "$db" "SELECT error FROM point")
  echo "$err" | grep -q "guest 'b/gb' claims data address 198.18.0.9, which nobody vouches for ($2)" ||
    fail "$1: the refusal does not name the guest, its claim and what was vouched: '$err'"
  grep -q "guest 'b/gb' claims data address 198.18.0.9" "$TMP/$1.err" || fail "$1: coord did not print the refusal"
  expect_eq "$1: samples" "$(sql "$db" "SELECT count(*) FROM sample")" 0
  grep -q "prepare\|point 1" "$TMP/ga.log" && fail "$1: guest ga was asked to run something"
  expect_eq "$1: packets that reached the victim" "$(($(rx_of_victim) - rx0))" 0
  expect_eq "$1: packets ga sent toward the victim" "$(($(tx_toward_victim) - tx0))" 0
  log "$1: refused: $err"
}

# The plan vouches for gb's real address: its claim matches no voucher.
plan planned "a.guest_data = ga=198.18.0.11
b.guest_data = gb=198.18.0.12"
run_attack planned "its host agent 'b' vouches for [^,]*, the plan for 198.18.0.12"
# Nobody vouches for gb at all.
plan unvouched "a.guest_data = ga=198.18.0.11"
run_attack unvouched "its host agent 'b' vouches for [^,]*, the plan for none"
# IOV_ATTACK_SHOW=1: what the lie does when someone vouches for it (the
# plan names the victim's address as gb's): traffic at the victim.  This
# is what coord did with any guest's claim before it checked them.
if [ "${IOV_ATTACK_SHOW:-0}" = 1 ]; then
  plan shown "a.guest_data = ga=198.18.0.11
b.guest_data = gb=198.18.0.9"
  rx0=$(rx_of_victim)
  ip netns exec "$C" timeout 60 "$COORD" run "$TMP/shown.plan" --results "$TMP/results" >/dev/null 2>&1
  log "shown: with the lie vouched for, the victim got $(($(rx_of_victim) - rx0)) packets"
fi
check_logs "$TMP"/*.log
log "a guest lying about its data address was refused before any traffic; the victim got nothing"
