#!/usr/bin/env bash
# Faults in the middle of a run, each asserting what survived in
# results.db and that no traffic generator is left running:
#
#   1. kill -9 an agent mid-point, start it again: the point fails naming
#      the lost agent, the other agent's samples are kept, the next point
#      waits for it and runs with it;
#   2. the coordinator freezes (SIGSTOP) mid-point: both agents stop their
#      traffic within two heartbeats (dead-man switch);
#   3. garbage on the agent's control, guest and key ports, and a burst
#      of half-open connections, during a point: the point is unaffected;
#   caps: an agent started with caps refuses the points beyond them, each
#      with an error naming the cap, and runs the others;
#   keys: a coordinator whose key the agents do not allow, an impostor on
#      a known agent's endpoint, a plaintext agent, a guest with a key not
#      let in: each refused, logged with the peer's address, nothing run;
#      and a receiver address that no agent of the run has;
#   4. kill -9 coord mid-run, then coord run --resume: the points stored
#      before stay as they are, the one in flight and the rest run;
#   5. (root) the agent's link goes down mid-point: it is lost, the point
#      fails with the cause, and once the link is back the next point runs.
#
# Loopback TCP for 1-4 (no root); network namespaces for 5.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3 timeout ss python3

# data_conns PID PORT...: established TCP connections of PID other than to
# or from the control ports given.
data_conns() {
  local pid=$1 pat
  shift
  pat=$(printf ':%s\\b|' "$@")
  ss -Htnp state established 2>/dev/null | grep "pid=$pid," | grep -Evc "${pat%|}" || true
}

# no_data_conns PID PORT: PID has no data connection (control ports PORT
# and PORT + 1 aside); for wait_for, which must re-evaluate it.
no_data_conns() { [ "$(data_conns "$1" "$2" "$(($2 + 1))")" -le 0 ]; }

# agent_state PID: what became of an agent that did not start: its state
# and where it waits, or how it ended.
agent_state() {
  if [ -d "/proc/$1" ]; then
    grep State "/proc/$1/status"
    for t in /proc/"$1"/task/*; do echo "thread ${t##*/}: $(cat "$t/wchan" 2>/dev/null)"; done
  else
    wait "$1"
    echo "it exited with status $? (128 + N: killed by signal N)"
  fi
}

start_agent() { # NAME PORT [NS]: sets PID_<NAME>
  start_bg "${3:--}" "$TMP/agent-$1.log" "$AGENT" --listen "tcp://${4:-127.0.0.1}:$2" --guest-listen "tcp://${4:-127.0.0.1}:$(($2 + 1))" \
    --name "$1" --ready-file "$TMP/$1.ready"
  printf -v "PID_$1" '%s' "$LAST_PID"
  wait_for 30 test -e "$TMP/$1.ready" || fail "agent $1 did not start within 30 s: $(cat "$TMP/agent-$1.log"; agent_state "$LAST_PID")"
  rm -f "$TMP/$1.ready"
}

plan() { # NAME ADDR_A PORT_A ADDR_B PORT_B
  cat >"$TMP/$1.plan" <<PLAN
[hosts]
a = tcp://$2:$3
a.data = $2
b = tcp://$4:$5
b.data = $4

[global]
sample_interval = 250ms
timeout = 15s
heartbeat = 500ms

[before]
workload = tcp_rr
duration = 1s

[during]
workload = tcp_stream
duration = 8s

[after]
workload = tcp_rr
duration = 1s
PLAN
}

# two_agents NAME: agents a and b on fresh loopback ports (pa, pb), and
# plan NAME for them.
two_agents() {
  pa=$(free_port)
  pb=$(free_port)
  start_agent a "$pa"
  start_agent b "$pb"
  plan "$1" 127.0.0.1 "$pa" 127.0.0.1 "$pb"
}

# run_coord NAME: coord in the background on plan NAME (CPID).
run_coord() {
  start_bg "${2:--}" "$TMP/$1.err" timeout 120 "$COORD" run "$TMP/$1.plan" --results "$TMP/results"
  CPID=$LAST_PID
  wait_for 30 grep -q '\[2/3\]' "$TMP/$1.err" || fail "$1: coord never reached the second point: $(cat "$TMP/$1.err")"
}

# mid_point PID_B: b's data connection is up, and a second of samples in.
mid_point() {
  b_conns() { [ "$(data_conns "$1" "$2" "$(($2 + 1))")" -ge 1 ]; }
  wait_for 20 b_conns "$@" || fail "agent b never accepted the data connection"
  sleep 1
}

# check_db NAME WHAT: before ok, during failed with WHAT, a's samples kept,
# after ok.
check_db() {
  local db kept err
  db=$(ls -d "$TMP"/results/*-"$1")/results.db
  expect_eq "$1: before" "$(sql "$db" "SELECT status FROM point WHERE test = 'before'")" ok
  expect_eq "$1: during" "$(sql "$db" "SELECT status FROM point WHERE test = 'during'")" failed
  err=$(sql "$db" "SELECT error FROM point WHERE test = 'during'")
  echo "$err" | grep -q "$2" || fail "$1: the stored error '$err' does not say '$2'"
  kept=$(sql "$db" "SELECT count(*) FROM sample s JOIN flow f ON f.id = s.flow_id JOIN point p ON p.id = f.point_id
                    JOIN agent g ON g.id = f.agent_id WHERE p.test = 'during' AND g.name = 'a'")
  [ "$kept" -ge 2 ] || fail "$1: only $kept samples of a kept from the failed point"
  expect_eq "$1: after" "$(sql "$db" "SELECT status FROM point WHERE test = 'after'")" ok
  log "$1: '$err'; $kept samples of a kept; the next point ran"
}

# ---- 1. kill -9 an agent mid-point, then start it again -------------------
two_agents kill
run_coord kill
mid_point "$PID_b" "$pb"
kill -9 "$PID_b"
wait_for 5 grep -q "agent 'b' (.*) is lost" "$TMP/kill.err" || fail "kill: coord did not declare b lost"
wait_for 5 no_data_conns "$PID_a" "$pa" || fail "kill: a still sends: $(ss -Htnp | grep "pid=$PID_a,")"
start_agent b "$pb"
wait "$CPID"
expect_eq "kill: coord exit status" $? 1
check_db kill "agent 'b' was lost"
stop_bg "$PID_a"
stop_bg "$PID_b"

# ---- 2. the coordinator freezes: the agents stop on their own -------------
two_agents freeze
run_coord freeze
mid_point "$PID_b" "$pb"
COORD_PID=$(pgrep -P "$CPID" -x coord) || fail "freeze: no coord process under $CPID"
kill -STOP "$COORD_PID"
t0=$SECONDS
wait_for 5 grep -q "went silent" "$TMP/agent-a.log" || fail "freeze: agent a did not notice"
wait_for 5 grep -q "went silent" "$TMP/agent-b.log" || fail "freeze: agent b did not notice"
wait_for 3 no_data_conns "$PID_a" "$pa" || fail "freeze: a still sends"
took=$((SECONDS - t0))
# Two heartbeats of 500 ms, plus the check's own period and slack.
[ $took -le 2 ] || fail "freeze: the agents took $took s to stop"
log "freeze: both agents stopped their traffic within ${took} s of coord's last word"
kill -9 "$COORD_PID" 2>/dev/null
wait "$CPID" 2>/dev/null
stop_bg "$PID_a"
stop_bg "$PID_b"

# ---- 3. garbage and half-open connections during a point ------------------
two_agents garbage
sed -i 's/^duration = 8s$/duration = 4s/' "$TMP/garbage.plan"
run_coord garbage
mid_point "$PID_b" "$pb"
python3 - "$pb" <<'PY' || fail "garbage: could not connect to b"
import os, socket, sys, time
port = int(sys.argv[1])
held = []
for p in (port, port + 1, port + 2):  # control, guest and key endpoints
    for i in range(20):  # random bytes, then close
        s = socket.create_connection(("127.0.0.1", p), timeout=2)
        s.sendall(os.urandom(64 + 97 * i))
        s.close()
    for i in range(50):  # half-open: connect, say nothing, keep it
        held.append(socket.create_connection(("127.0.0.1", p), timeout=2))
    # A ZMTP greeting with a huge frame length, then garbage.
    s = socket.create_connection(("127.0.0.1", p), timeout=2)
    s.sendall(b"\xff" + b"\x00" * 7 + b"\x01\x7f" + b"\x03\x00" + b"NULL" + b"\x00" * 48 + b"\x02" + b"\xff" * 16)
    s.close()
time.sleep(1)
for s in held:
    s.close()
PY
wait "$CPID"
expect_eq "garbage: coord exit status" $? 0
db=$(ls -d "$TMP"/results/*-garbage)/results.db
expect_eq "garbage: points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 3
grep -qE "dropped|malformed|garbage" "$TMP/agent-b.log" || log "garbage: (b logged nothing about the garbage)"
kill -0 "$PID_b" || fail "garbage: agent b died"
log "garbage: 60 garbage connections and 150 half-open ones on 3 ports during the point; all points ok"
stop_bg "$PID_a"
stop_bg "$PID_b"

# ---- caps: an agent asked beyond what it agrees to run -------------------
pa=$(free_port)
pb=$(free_port)
start_agent a "$pa"
start_bg - "$TMP/agent-b.log" "$AGENT" --listen "tcp://127.0.0.1:$pb" --guest-listen none --name b \
  --ready-file "$TMP/b.ready" --max-duration 3s --max-flows 2 --max-msg-size 16k --max-rate 100m
PID_b=$LAST_PID
wait_for 30 test -e "$TMP/b.ready" || fail "caps: agent b did not start: $(cat "$TMP/agent-b.log")"
cat >"$TMP/caps.plan" <<PLAN
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

[within]
workload = tcp_rr
msg_size = 1

[too_long]
workload = tcp_stream
duration = 5s

[too_wide]
workload = tcp_stream
flows = 4

[too_big]
workload = tcp_stream
msg_size = 64k

[unpaced]
workload = udp_stream

[paced]
workload = udp_stream
rate = 10m
PLAN
timeout 120 "$COORD" run "$TMP/caps.plan" --results "$TMP/results" >"$TMP/caps.out" 2>"$TMP/caps.err"
expect_eq "caps: coord exit status" $? 1
db=$(ls -d "$TMP"/results/*-caps)/results.db
for t in within paced; do
  expect_eq "caps: $t" "$(sql "$db" "SELECT status FROM point WHERE test = '$t'")" ok
done
for t in too_long:--max-duration too_wide:--max-flows too_big:--max-msg-size unpaced:--max-rate; do
  err=$(sql "$db" "SELECT error FROM point WHERE test = '${t%%:*}'")
  echo "$err" | grep -q "^agent 'b': the point is beyond its caps: .*(${t#*:})" || fail "caps: ${t%%:*}: '$err' does not name ${t#*:}"
  # Refused before anything ran: no sample of that point.
  expect_eq "caps: samples of ${t%%:*}" "$(sql "$db" "SELECT count(*) FROM sample s JOIN flow f ON f.id = s.flow_id
    JOIN point p ON p.id = f.point_id WHERE p.test = '${t%%:*}'")" 0
done
grep -q "refused test point" "$TMP/agent-b.log" || fail "caps: b did not log its refusals"
log "caps: four points beyond b's caps refused, each naming its cap; the others ran"
stop_bg "$PID_a"
stop_bg "$PID_b"

# ---- keys: wrong CURVE keys, impostors, plaintext -------------------------
two_agents keys
sed -i 's/^duration = 8s$/duration = 1s/' "$TMP/keys.plan"
# (a) A coordinator with a key pair of its own that no agent lets in.
"$COORD" keygen --key-dir "$TMP/other-coord" >/dev/null || fail "keys: keygen failed"
cp "$TMP/keys/known_agents" "$TMP/other-coord/" 2>/dev/null || true
other=$(key_of "$TMP/other-coord/coord.key")
sed 's/^timeout = 15s$/timeout = 3s/' "$TMP/keys.plan" >"$TMP/keys-a.plan"
timeout 60 "$COORD" run "$TMP/keys-a.plan" --key-dir "$TMP/other-coord" --results "$TMP/results" \
  >"$TMP/keys-a.out" 2>"$TMP/keys-a.err"
expect_eq "keys: unknown coordinator: coord exit status" $? 3
grep -q "agent 'a' at tcp://127.0.0.1:$pa did not answer within 3s.*CURVE.*coordinators/" "$TMP/keys-a.err" ||
  fail "keys: coord did not say why: $(cat "$TMP/keys-a.err")"
for n in a b; do
  grep -qF "refused a coordinator at 127.0.0.1 with key $other" "$TMP/agent-$n.log" ||
    fail "keys: agent $n did not log the refused coordinator with its address and key: $(cat "$TMP/agent-$n.log")"
done
grep -q "prepare\|point 1" "$TMP/agent-a.log" && fail "keys: agent a ran something for the refused coordinator"
expect_eq "keys: points of the refused run" "$(sql "$(ls -d "$TMP"/results/*-keys-a)/results.db" "SELECT count(*) FROM point")" 0
# The right coordinator is let in (and learns the agents' keys).
timeout 60 "$COORD" run "$TMP/keys.plan" --results "$TMP/results" >"$TMP/keys.out" 2>"$TMP/keys.err"
expect_eq "keys: the allowed coordinator: coord exit status" $? 0
grep -q "agent 'b' at tcp://127.0.0.1:$pb: first contact; trusting its key" "$TMP/keys.err" ||
  fail "keys: coord did not say it trusts b's key: $(cat "$TMP/keys.err")"
# A receiver address that b does not have (the plan names it, so coord
# takes it): b cannot listen there, and the point fails before anything is
# sent (the agents would refuse too: unit_agent_target).
sed "s/^b.data = 127.0.0.1$/b.data = 198.18.99.99/" "$TMP/keys.plan" >"$TMP/foreign.plan"
timeout 60 "$COORD" run "$TMP/foreign.plan" --results "$TMP/results" >"$TMP/foreign.out" 2>"$TMP/foreign.err"
expect_eq "keys: foreign target: coord exit status" $? 1
db=$(ls -d "$TMP"/results/*-foreign)/results.db
err=$(sql "$db" "SELECT error FROM point WHERE test = 'before'")
echo "$err" | grep -q "agent 'b': .*198.18.99.99" || fail "keys: foreign target: '$err'"
expect_eq "keys: foreign target: samples" "$(sql "$db" "SELECT count(*) FROM sample")" 0
grep -q "cannot connect" "$TMP/agent-a.log" && fail "keys: agent a tried to reach the foreign address"
# (b) An impostor on b's endpoint, with a key of its own.
stop_bg "$PID_b"
mkdir -p "$TMP/impostor/coordinators"
cp "$TMP/keys/coord.key" "$TMP/impostor/coordinators/"
start_bg - "$TMP/agent-imp.log" "$AGENT" --listen "tcp://127.0.0.1:$pb" --guest-listen none --name b \
  --key-dir "$TMP/impostor" --ready-file "$TMP/imp.ready"
PID_imp=$LAST_PID
wait_for 30 test -e "$TMP/imp.ready" || fail "keys: the impostor did not start: $(cat "$TMP/agent-imp.log")"
timeout 60 "$COORD" run "$TMP/keys.plan" --results "$TMP/results" >"$TMP/keys-b.out" 2>"$TMP/keys-b.err"
expect_eq "keys: impostor: coord exit status" $? 3
grep -q "agent 'b' at tcp://127.0.0.1:$pb offers the key .*known_agents line [0-9]* knows it by .*someone else" \
  "$TMP/keys-b.err" || fail "keys: the impostor was not refused: $(cat "$TMP/keys-b.err")"
grep -q "prepare\|point 1" "$TMP/agent-imp.log" && fail "keys: the impostor was asked to run something"
stop_bg "$PID_imp"
# (c) A plaintext agent on b's endpoint, whose key coord knows: a
# downgrade, refused even with --plaintext (attack_downgrade tries more).
start_bg - "$TMP/agent-pt.log" "$AGENT" --listen "tcp://127.0.0.1:$pb" --guest-listen none --name b \
  --plaintext --ready-file "$TMP/pt.ready"
PID_pt=$LAST_PID
wait_for 30 test -e "$TMP/pt.ready" || fail "keys: the plaintext agent did not start: $(cat "$TMP/agent-pt.log")"
timeout 60 "$COORD" run "$TMP/keys.plan" --results "$TMP/results" >"$TMP/keys-c.out" 2>"$TMP/keys-c.err"
expect_eq "keys: plaintext agent: coord exit status" $? 3
grep -q "agent 'b' at tcp://127.0.0.1:$pb answers without authentication (plaintext), but .*known_agents line [0-9]* knows its key.*a downgrade" \
  "$TMP/keys-c.err" || fail "keys: the plaintext agent was not refused: $(cat "$TMP/keys-c.err")"
timeout 60 "$COORD" run "$TMP/keys.plan" --plaintext --results "$TMP/results" >"$TMP/keys-d.out" 2>"$TMP/keys-d.err"
expect_eq "keys: plaintext agent with --plaintext: coord exit status" $? 3
grep -q "a downgrade" "$TMP/keys-d.err" || fail "keys: the downgrade was let in with --plaintext: $(cat "$TMP/keys-d.err")"
stop_bg "$PID_pt"
# (d) A guest whose key the host does not let in never registers.
"$COORD" keygen --key-dir "$TMP/rogue" >/dev/null
start_bg - "$TMP/rogue.log" "$BUILD/bin/iovbench-guest-agent" --host "tcp://127.0.0.1:$((pa + 1))" --vm-id rogue \
  --host-key "$(key_of "$TMP/keys/agent.key")" --key-file "$TMP/rogue/coord.key_secret" --ready-file "$TMP/rogue.ready"
PID_rogue=$LAST_PID
wait_for 10 grep -qF "refused a guest agent at 127.0.0.1 with key $(key_of "$TMP/rogue/coord.key")" "$TMP/agent-a.log" ||
  fail "keys: agent a did not log the refused guest: $(cat "$TMP/agent-a.log")"
sleep 1
[ ! -e "$TMP/rogue.ready" ] || fail "keys: the rogue guest registered"
grep -q "guest 'rogue' registered" "$TMP/agent-a.log" && fail "keys: agent a registered the rogue guest"
stop_bg "$PID_rogue"
log "keys: an unknown coordinator, an impostor agent, a plaintext agent and a rogue guest were refused and logged"
stop_bg "$PID_a"

# ---- 4. kill -9 coord mid-run, then coord run --resume --------------------
two_agents resume
run_coord resume
mid_point "$PID_b" "$pb"
COORD_PID=$(pgrep -P "$CPID" -x coord) || fail "resume: no coord process under $CPID"
kill -9 "$COORD_PID"
wait "$CPID" 2>/dev/null
wait_for 5 no_data_conns "$PID_a" "$pa" || fail "resume: a still sends after coord died: $(ss -Htnp | grep "pid=$PID_a,")"
rundir=$(ls -d "$TMP"/results/*-resume)
db=$rundir/results.db
expect_eq "resume: points stored after the crash" "$(sql "$db" "SELECT group_concat(test) FROM point")" before
first_start=$(sql "$db" "SELECT start_ns FROM point WHERE test = 'before'")
timeout 120 "$COORD" run --resume "$rundir" >"$TMP/resume2.out" 2>"$TMP/resume2.err"
rc=$?
cat "$TMP/resume2.err" >&2
expect_eq "resume: coord exit status" "$rc" 0
grep -q "1 of 3 test points are stored, 2 to run" "$TMP/resume2.err" || fail "resume: coord did not say what it resumes"
expect_eq "resume: points" "$(sql "$db" "SELECT group_concat(test || '=' || status) FROM (SELECT * FROM point ORDER BY idx)")" \
  "before=ok,during=ok,after=ok"
expect_eq "resume: the stored point was not run again" "$(sql "$db" "SELECT start_ns FROM point WHERE test = 'before'")" "$first_start"
expect_eq "resume: run status" "$(sql "$db" "SELECT status FROM run")" ok
expect_eq "resume: runs in the database" "$(sql "$db" "SELECT count(*) FROM run")" 1
log "resume: coord killed in point 2; --resume ran points 2 and 3 into the same results.db"
stop_bg "$PID_a"
stop_bg "$PID_b"

# ---- 5. the link goes down mid-point (root) -------------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  log "link: skipped (needs root for network namespaces)"
  log "PASS (1-4)"
  exit 0
fi
setup_ns NA NB
ip link add iovf-a netns "$NA" type veth peer name iovf-b netns "$NB" || fail "cannot create the veth pair"
ip -n "$NA" addr add 198.18.7.1/24 dev iovf-a
ip -n "$NB" addr add 198.18.7.2/24 dev iovf-b
ip -n "$NA" link set iovf-a up
ip -n "$NB" link set iovf-b up
pa=7700
pb=7702
start_agent a $pa "$NA" 198.18.7.1
start_agent b $pb "$NB" 198.18.7.2
plan link 198.18.7.1 $pa 198.18.7.2 $pb
run_coord link "$NA"
# b's data connection: established, not on the agents' control ports.
b_data() { [ "$(ip netns exec "$NB" ss -Htn state established 2>/dev/null | grep -vc ":770[0-3]\b")" -ge 1 ]; }
wait_for 20 b_data || fail "link: agent b never accepted the data connection"
sleep 1
ip -n "$NB" link set iovf-b down
wait_for 5 grep -q "agent 'b' (.*) is lost" "$TMP/link.err" || fail "link: coord did not declare b lost"
ip -n "$NB" link set iovf-b up
wait "$CPID"
expect_eq "link: coord exit status" $? 1
check_db link "agent 'b' was lost"
a_gen=$(ip netns exec "$NA" ss -Htn state established 2>/dev/null | grep -vc ":770[0-3]\b" || true)
expect_eq "link: data connections left in a's namespace" "$a_gen" 0
log "PASS"
