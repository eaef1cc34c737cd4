#!/usr/bin/env bash
# Attack: a plaintext downgrade (issue 14, "no downgrade").  Someone takes
# over an agent's endpoint with an agent that runs without authentication
# (iovbench-agent --plaintext), hoping coord takes the plaintext answer and
# hands it (and through it, the run) its commands.  coord knows the real
# agent's key, learnt on first contact (known_agents) or pinned in the plan
# (NAME.key): the plaintext answer must be refused, with --plaintext and
# with NAME.plaintext = yes too, and the impostor must be asked to run
# nothing.  Plaintext stays possible where coord knows no key, per host
# (NAME.plaintext = yes) or per run (--plaintext): the control case.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3

pa=$(free_port)
pb=$(free_port)
start_agent() { # NAME PORT LOG [OPTIONS...]
  local name=$1 port=$2 logf=$3
  shift 3
  rm -f "$TMP/$name.ready"
  start_bg - "$logf" "$AGENT" --listen "tcp://127.0.0.1:$port" --guest-listen none --name "$name" \
    --ready-file "$TMP/$name.ready" "$@"
  wait_for 30 test -e "$TMP/$name.ready" || fail "agent $name did not start: $(cat "$logf")"
}
plan() { # NAME [EXTRA HOST LINES]
  cat >"$TMP/$1.plan" <<PLAN
[hosts]
a = tcp://127.0.0.1:$pa
a.data = 127.0.0.1
b = tcp://127.0.0.1:$pb
b.data = 127.0.0.1
${2:-}

[global]
workload = tcp_rr
duration = 1s
sample_interval = 250ms
timeout = 5s

[one]
PLAN
}
# refused NAME WHY [COORD OPTIONS]: coord refuses the run (exit 3), says WHY.
refused() {
  local name=$1 why=$2
  shift 2
  timeout 60 "$COORD" run "$TMP/$name.plan" --results "$TMP/results" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  expect_eq "$name: coord exit status" $? 3
  grep -q "$why" "$TMP/$name.err" || fail "$name: coord did not say why ('$why'): $(cat "$TMP/$name.err")"
  log "$name: refused: $(grep -o "agent 'b' at .*" "$TMP/$name.err" | head -1 | cut -c1-160)..."
}

start_agent a "$pa" "$TMP/agent-a.log"
PID_a=$LAST_PID
start_agent b "$pb" "$TMP/agent-b.log"
PID_b=$LAST_PID
# First contact: coord learns both keys (known_agents), and the run works.
plan first
timeout 60 "$COORD" run "$TMP/first.plan" --results "$TMP/results" >"$TMP/first.out" 2>"$TMP/first.err"
expect_eq "first: coord exit status" $? 0
grep -q "127.0.0.1:$pb" "$TMP/keys/known_agents" || fail "first: coord did not remember b's key"
key_b=$(key_of "$TMP/keys/agent.key")
stop_bg "$PID_b"

# The impostor: plaintext, on b's endpoint.
start_agent b "$pb" "$TMP/impostor.log" --plaintext
PID_imp=$LAST_PID
why_known="agent 'b' at tcp://127.0.0.1:$pb answers without authentication (plaintext), but .*known_agents line [0-9]* knows its key .*a downgrade"
plan known
refused known "$why_known"
plan known_flag
refused known_flag "$why_known" --plaintext
plan known_plan "b.plaintext = yes"
refused known_plan "$why_known" --plaintext
# A pinned key, and a key directory that knows nothing (a fresh coord).
mkdir -p "$TMP/fresh"
cp "$TMP/keys/coord.key" "$TMP/keys/coord.key_secret" "$TMP/fresh/"
plan pinned "b.key = $key_b"
refused pinned "agent 'b' at tcp://127.0.0.1:$pb answers without authentication (plaintext), but the plan pins its key.*a downgrade" \
  --plaintext --key-dir "$TMP/fresh"
# A pin and plaintext = yes together: the plan itself is refused.
plan both "b.key = $key_b
b.plaintext = yes"
"$COORD" validate "$TMP/both.plan" >"$TMP/both.out" 2>&1 && fail "both: a plan with b.key and b.plaintext = yes validated"
grep -q "b.plaintext.*pins a key" "$TMP/both.out" || fail "both: the plan error does not say why: $(cat "$TMP/both.out")"
# The impostor was never asked to run anything; no refused run stored a point.
grep -qi "prepare\|point 1" "$TMP/impostor.log" && fail "the impostor was asked to run something: $(cat "$TMP/impostor.log")"
for d in "$TMP"/results/*-known* "$TMP"/results/*-pinned; do
  [ -f "$d/results.db" ] || continue
  expect_eq "points stored by the refused run $d" "$(sql "$d/results.db" "SELECT count(*) FROM point")" 0
done

# Control: where coord knows no key, plaintext is a choice per host ...
plan unknown
refused unknown "agent 'b' at tcp://127.0.0.1:$pb runs without authentication.*b.plaintext = yes" --key-dir "$TMP/fresh"
plan unknown_plan "b.plaintext = yes"
timeout 60 "$COORD" run "$TMP/unknown_plan.plan" --key-dir "$TMP/fresh" --results "$TMP/results" \
  >"$TMP/unknown_plan.out" 2>"$TMP/unknown_plan.err"
expect_eq "unknown_plan: coord exit status" $? 0
grep -q "agent 'b' at tcp://127.0.0.1:$pb: plaintext, as it asks (plan: plaintext = yes)" "$TMP/unknown_plan.err" ||
  fail "unknown_plan: coord did not say it uses b in plaintext: $(cat "$TMP/unknown_plan.err")"
# ... or per run.
timeout 60 "$COORD" run "$TMP/unknown.plan" --plaintext --key-dir "$TMP/fresh" --results "$TMP/results" \
  >"$TMP/unknown_flag.out" 2>"$TMP/unknown_flag.err"
expect_eq "unknown_flag: coord exit status" $? 0
stop_bg "$PID_imp"
stop_bg "$PID_a"
check_logs "$TMP"/*.log
log "a plaintext answer from an agent whose key coord knows or pins was refused, with --plaintext and b.plaintext too"
