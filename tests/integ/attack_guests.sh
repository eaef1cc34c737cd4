#!/usr/bin/env bash
# shellcheck disable=SC2154 # PID_<name>: set by start_host and start_guest (printf -v)
# Guests attacking a host agent's relay, with the real binaries (issue 14,
# items 3, 9 and 10).  CURVE on, as on real servers; loopback TCP, so that
# every refusal names the peer's address.
#
#   1. name theft: a second guest agent, with a key of its own from the
#      host's guests/, registers under a name another key holds: refused,
#      logged with its address and key; the first guest keeps the name and
#      runs the point (its samples are stored, nothing reaches the thief);
#   2. one key, more names than --guest-names-per-key: the second refused;
#   3. a predicted VM name: guest agents holding keys from guests/ take the
#      names the next VM will have (iovb-RUN-HOST-vm01, RUN being the
#      results directory's time stamp and plan name) before coord asks the
#      host for it; the host agent (libvirt's test driver, its simulated
#      guest) drops the impostor, the VM's own guest registers with the
#      key made for it and runs the point; the impostor runs nothing;
#   4. a plaintext guest, a guest with the wrong host key and a guest whose
#      host is not there: within seconds each guest says why it is not
#      registered, and the host logs the failed handshakes with the
#      peer's address;
#   5. connections beyond --max-connections are shut down and logged, and
#      connections that never finish a handshake are dropped after 10 s.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3 python3 ss
GUEST=$BUILD/bin/iovbench-guest-agent

# start_host NAME PORT [OPTIONS...]: host agent NAME on PORT (control) and
# PORT + 1 (guests).
start_host() {
  local name=$1 port=$2
  shift 2
  start_bg - "$TMP/agent-$name.log" "$AGENT" --listen "tcp://127.0.0.1:$port" \
    --guest-listen "tcp://127.0.0.1:$((port + 1))" --key-listen "tcp://127.0.0.1:$((port + 2))" \
    --name "$name" --ready-file "$TMP/$name.ready" "$@"
  printf -v "PID_$name" '%s' "$LAST_PID"
  wait_for 30 test -e "$TMP/$name.ready" || fail "agent $name did not start: $(cat "$TMP/agent-$name.log")"
}

# start_guest LOG NAME PORT [OPTIONS...]: a guest agent by hand.
start_guest() {
  local logf=$1 name=$2 port=$3
  shift 3
  start_bg - "$TMP/$logf.log" "$GUEST" --host "tcp://127.0.0.1:$port" --vm-id "$name" --data 127.0.0.1 \
    --ready-file "$TMP/$logf.ready" "$@"
  printf -v "PID_$logf" '%s' "$LAST_PID"
}

pa=$(free_port)
pb=$(free_port)
start_host a "$pa" --vouch-guest vm01=127.0.0.1
start_host b "$pb" --guest-listen none

# ---- 1. a guest takes another's name --------------------------------------
# shellcheck disable=SC2046
start_guest legit vm01 $((pa + 1)) $(guest_opts legit)
wait_for 15 test -e "$TMP/legit.ready" || fail "theft: the legitimate guest did not register: $(cat "$TMP/legit.log")"
# shellcheck disable=SC2046
start_guest thief vm01 $((pa + 1)) $(guest_opts thief)
thief_key=$(key_of "$TMP/keys/guests/thief.key")
wait_for 10 grep -qF "refused a guest registration from 127.0.0.1 with key $thief_key: host agent 'a' already has a guest 'vm01' registered with another key" \
  "$TMP/agent-a.log" || fail "theft: the host did not refuse and log the thief: $(cat "$TMP/agent-a.log")"
wait_for 10 grep -q "refused us: host agent 'a' already has a guest 'vm01' registered with another key" "$TMP/thief.log" ||
  fail "theft: the thief was not told why: $(cat "$TMP/thief.log")"
[ ! -e "$TMP/thief.ready" ] || fail "theft: the thief registered"
cat >"$TMP/theft.plan" <<PLAN
[hosts]
a = tcp://127.0.0.1:$pa
a.data = 127.0.0.1
b = tcp://127.0.0.1:$pb
b.data = 127.0.0.1

[global]
workload = tcp_stream
duration = 1s
sample_interval = 250ms
timeout = 10s

[vm_to_b]
topology = many-to-one
vms = 1
PLAN
timeout 120 "$COORD" run "$TMP/theft.plan" --results "$TMP/results" >"$TMP/theft.out" 2>"$TMP/theft.err"
expect_eq "theft: coord exit status" $? 0
db=$(ls -d "$TMP"/results/*-theft)/results.db
expect_eq "theft: point status" "$(sql "$db" "SELECT status FROM point")" ok
grep -q "guest 'a/vm01' .*its host vouches for 127.0.0.1" "$TMP/theft.err" ||
  fail "theft: coord did not get the address host a vouches for (--vouch-guest): $(cat "$TMP/theft.err")"
expect_eq "theft: the sender is the legitimate vm01, with samples" \
  "$(sql "$db" "SELECT DISTINCT a.name FROM sample s JOIN flow f ON f.id = s.flow_id JOIN agent a ON a.id = f.agent_id WHERE a.kind = 'guest'")" "a/vm01"
grep -qi "registered with the host agent\|prepar\|point [0-9]" "$TMP/thief.log" && fail "theft: the thief took part: $(cat "$TMP/thief.log")"
grep -q "guest 'vm01' \(left\|dropped\|went silent\)" "$TMP/agent-a.log" && fail "theft: the legitimate guest lost its name"
stop_bg "$PID_thief"
log "theft: a second key under a held name was refused and logged; the holder kept it and ran the point"

# ---- 2. one key, more names than it may hold -------------------------------
# shellcheck disable=SC2046
opts=$(guest_opts greedy)
# shellcheck disable=SC2086
start_guest greedy1 x1 $((pa + 1)) $opts
wait_for 15 test -e "$TMP/greedy1.ready" || fail "names: the first name was not registered: $(cat "$TMP/greedy1.log")"
# shellcheck disable=SC2086
start_guest greedy2 x2 $((pa + 1)) $opts
greedy_key=$(key_of "$TMP/keys/guests/greedy.key")
wait_for 10 grep -qF "refused a guest registration from 127.0.0.1 with key $greedy_key: host agent 'a' refuses guest name 'x2': this key already holds 1 name(s)" \
  "$TMP/agent-a.log" || fail "names: the second name was not refused: $(cat "$TMP/agent-a.log")"
wait_for 10 grep -q "refused us: .*--guest-names-per-key" "$TMP/greedy2.log" || fail "names: greedy2 not told why"
[ ! -e "$TMP/greedy2.ready" ] || fail "names: a key holds two names"
stop_bg "$PID_greedy1"
stop_bg "$PID_greedy2"
log "names: a key from guests/ holding one name was refused a second"

# ---- 4. guests that cannot register say why; the host logs the peer ------
start_guest plain pt $((pa + 1))
start_guest wrongkey wk $((pa + 1)) --host-key "$(key_of "$TMP/keys/coord.key")" \
  --key-file "$TMP/keys/.guest-legit/coord.key_secret"
nobody=$(free_port)
start_guest nohost nh "$nobody"
t0=$SECONDS
wait_for 15 grep -q "not registered with the host agent at tcp://127.0.0.1:$((pa + 1)) after [0-9]* s: it speaks CURVE and this guest is plaintext" \
  "$TMP/plain.log" || fail "diag: the plaintext guest did not say why: $(cat "$TMP/plain.log")"
wait_for 5 grep -q "not registered .* after [0-9]* s: it closes the connection during the CURVE handshake: --host-key is not that host agent's agent.key" \
  "$TMP/wrongkey.log" || fail "diag: the wrong-key guest did not say why: $(cat "$TMP/wrongkey.log")"
wait_for 5 grep -q "not registered with the host agent at tcp://127.0.0.1:$nobody after [0-9]* s: it cannot be reached" \
  "$TMP/nohost.log" || fail "diag: the guest without a host did not say why: $(cat "$TMP/nohost.log")"
[ $((SECONDS - t0)) -le 12 ] || fail "diag: the guests took $((SECONDS - t0)) s to say why"
wait_for 10 grep -q "handshake failed on the guest endpoint tcp://127.0.0.1:$((pa + 1)) with .*: it speaks another security mechanism (a plaintext peer against this agent's CURVE" \
  "$TMP/agent-a.log" || fail "diag: the host did not log the plaintext guest: $(cat "$TMP/agent-a.log")"
wait_for 10 grep -q "handshake failed on the guest endpoint tcp://127.0.0.1:$((pa + 1)) with 127.0.0.1:[0-9]*: its CURVE handshake does not decrypt" \
  "$TMP/agent-a.log" || fail "diag: the host did not log the wrong-key guest with its address: $(cat "$TMP/agent-a.log")"
# The plaintext guest keeps trying (ZeroMQ alone would not after a
# protocol failure): a second failure is seen on the host, with its address.
plain_peer_logged() { grep -q "with 127.0.0.1:[0-9]*: it speaks another security mechanism" "$TMP/agent-a.log"; }
wait_for 15 plain_peer_logged ||
  fail "diag: no failed plaintext handshake logged with the peer's address: $(cat "$TMP/agent-a.log")"
# Rate-limited: a guest retrying with a wrong key does not fill the log.
sleep 3
n=$(grep -c "handshake failed" "$TMP/agent-a.log")
[ "$n" -le $((5 * (SECONDS - t0 + 2))) ] || fail "diag: $n handshake lines in $((SECONDS - t0)) s"
for g in plain wrongkey nohost; do [ ! -e "$TMP/$g.ready" ] || fail "diag: guest $g registered"; done
stop_bg "$PID_plain"
stop_bg "$PID_wrongkey"
stop_bg "$PID_nohost"
log "diag: plaintext, wrong-key and host-less guests said why; the host logged the handshakes with the peer"

# ---- 5. connections beyond the limit ---------------------------------------
pc=$(free_port)
start_host c "$pc" --max-connections 3
python3 - "$pc" <<'PY' >"$TMP/conns.out" || fail "limit: $(cat "$TMP/conns.out")"
import socket, sys, time
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
time.sleep(1)
closed = 0
for s in socks:
    s.settimeout(0.5)
    try:
        while True:
            b = s.recv(256)
            if not b:
                closed += 1
                break
    except socket.timeout:
        pass
print("closed at once:", closed)
if closed != 5:
    sys.exit(1)
# The ones let in never finish a handshake: dropped after the agent's
# handshake interval (10 s), not held forever.
t0 = time.monotonic()
for s in socks:
    s.settimeout(15)
    try:
        while s.recv(256):
            pass
    except ConnectionResetError:
        pass  # closed too
    except socket.timeout:
        print("a silent connection was still open after", round(time.monotonic() - t0, 1), "s")
        sys.exit(1)
print("silent connections dropped within", round(time.monotonic() - t0, 1), "s")
PY
grep -q "refused a connection from 127.0.0.1:[0-9]* to the control endpoint tcp://127.0.0.1:$pc: .* the limit is 3 (--max-connections)" \
  "$TMP/agent-c.log" || fail "limit: the refused connections were not logged: $(cat "$TMP/agent-c.log")"
stop_bg "$PID_c"
log "limit: 5 of 8 connections beyond --max-connections=3 were shut down and logged, the other 3 dropped after the handshake interval ($(tail -1 "$TMP/conns.out"))"

# ---- 3. a predicted VM name ------------------------------------------------
# libvirt's test driver starts no VM; the host agent starts the guest agent
# each VM would run (--test-simulate-guests), with the VM's own key.
"$AGENT" --help | grep -q -- --libvirt || skip "this agent is built without libvirt"
pv=$(free_port)
: >"$TMP/vmlinuz"
start_host v "$pv" --libvirt test:///default --virtio-bridge br-test \
  --vm-guest-endpoint "tcp://127.0.0.1:$((pv + 1))" --vm-kernel "$TMP/vmlinuz" --test-simulate-guests \
  --guest-names-per-key 1
cat >"$TMP/predict.plan" <<PLAN
[hosts]
v = tcp://127.0.0.1:$pv
v.data = 127.0.0.1
b = tcp://127.0.0.1:$pb
b.data = 127.0.0.1

[global]
sender = v
receiver = b
workload = tcp_stream
duration = 1s
sample_interval = 250ms
timeout = 10s

[virtio]
topology = many-to-one
path = virtio
vms = 1
PLAN
# The run's name is its start second and the plan's name: take the VM
# names of the next few seconds, each with a key of its own from guests/.
start=$(($(date +%s) + 3))
imps=()
for i in 0 1 2 3; do
  name="iovb-$(date -d "@$((start + i))" +%Y%m%d-%H%M%S)-predict-v-vm01"
  # shellcheck disable=SC2046
  start_guest "imp$i" "$name" $((pv + 1)) $(guest_opts "imp$i")
  imps+=("$LAST_PID")
done
for i in 0 1 2 3; do
  wait_for 15 test -e "$TMP/imp$i.ready" || fail "predict: impostor $i did not register: $(cat "$TMP/imp$i.log")"
done
while [ "$(date +%s)" -lt "$start" ]; do sleep 0.05; done
timeout 120 "$COORD" run "$TMP/predict.plan" --results "$TMP/results" >"$TMP/predict.out" 2>"$TMP/predict.err"
rc=$?
run=$(basename "$(ls -d "$TMP"/results/*-predict)")
vm="iovb-$run-v-vm01"
expect_eq "predict: coord exit status ($(cat "$TMP/predict.err"))" $rc 0
imp=$(grep -l "vm id '$vm'" "$TMP"/imp*.log) || fail "predict: no impostor held $vm (run $run started late?)"
imp=$(basename "$imp" .log)
imp_key=$(key_of "$TMP/keys/guests/$imp.key")
grep -qF "guest '$vm' was held by key $imp_key from 127.0.0.1, not the key made for that VM: dropped" "$TMP/agent-v.log" ||
  grep -qF "guest '$vm' from 127.0.0.1 holds the name of a VM this agent started, with key $imp_key" "$TMP/agent-v.log" ||
  fail "predict: the impostor was not dropped and logged: $(cat "$TMP/agent-v.log")"
db=$TMP/results/$run/results.db
expect_eq "predict: point status" "$(sql "$db" "SELECT status FROM point")" ok
expect_eq "predict: the sender is the VM's own guest" \
  "$(sql "$db" "SELECT DISTINCT a.name FROM sample s JOIN flow f ON f.id = s.flow_id JOIN agent a ON a.id = f.agent_id WHERE a.kind = 'guest'")" "v/$vm"
grep -qi "prepar\|point [0-9]" "$TMP/$imp.log" && fail "predict: the impostor took part: $(cat "$TMP/$imp.log")"
wait_for 10 grep -q "refused us: .*belongs to a VM of this host agent\|refused us: .*name of a VM this agent started" "$TMP/$imp.log" ||
  fail "predict: the impostor was not told: $(cat "$TMP/$imp.log")"
for p in "${imps[@]}"; do stop_bg "$p"; done
stop_bg "$PID_v"
log "predict: an impostor holding the next VM's name was dropped; the VM's own guest ran the point"

stop_bg "$PID_legit"
stop_bg "$PID_a"
stop_bg "$PID_b"
check_logs "$TMP"/*.log
log "PASS"
