#!/usr/bin/env bash
# The shipped packaging/etc/agent.env, read as the unit reads it, with the
# build's agent (integ_packages does the same with the installed package,
# but needs a Debian mirror and minutes): as shipped the agent refuses to
# start and names IOVBENCH_LISTEN; with an address set, every shipped
# option and cap parses and the agent comes up; a coordinator's point over
# a shipped cap is refused naming it (tests/unit/test_vm_caps.c covers the
# VM caps with libvirt).
source "$(dirname "$0")/lib.sh"
require_cmd python3

env_file=$SRC/packaging/etc/agent.env
unit=$SRC/packaging/systemd/iovbench-agent.service.in
exec_start=$(sed -n 's/^ExecStart=@IOV_BINDIR@\/iovbench-agent //p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart in $unit"
# ExecStart's words as systemd makes them from the file's variables:
# "${VAR}" is one argument (empty when VAR is), $VAR is split into words.
cat >"$TMP/argv.py" <<'PY'
import os, re, shlex, sys
for w in shlex.split(sys.argv[1]):
    m = re.fullmatch(r"\$([A-Za-z_]\w*)", w)
    if m:
        for x in os.environ.get(m.group(1), "").split():
            print(x)
        continue
    print(re.sub(r"\$\{([A-Za-z_]\w*)\}", lambda m: os.environ.get(m.group(1), ""), w))
PY
unit_args() { # [VAR=VALUE...]: the agent's arguments, the file's variables then these
  env -i PATH="$PATH" bash -c 'set -a; . "$1"; py=$2 e=$3; shift 3; for kv in "$@"; do export "$kv"; done; exec python3 "$py" "$e"' \
    - "$env_file" "$TMP/argv.py" "$exec_start" "$@"
}

# As shipped: no address, a clear refusal, exit 2 (the unit does not
# restart on it).
mapfile -t args < <(unit_args)
[ "${args[0]}" = --listen ] && [ -z "${args[1]}" ] || fail "ExecStart does not pass an empty --listen: ${args[*]}"
for cap in --max-duration --max-flows --max-rate --max-msg-size --max-vms --max-vcpus --max-memory; do
  printf '%s\n' "${args[@]}" | grep -qx -- "$cap" || fail "the shipped agent.env has no $cap"
done
printf '%s\n' "${args[@]}" | grep -qx -- --guest-listen || fail "the shipped agent.env opens a guest endpoint"
"$AGENT" "${args[@]}" >"$TMP/shipped.log" 2>&1
rc=$?
cat "$TMP/shipped.log" >&2
expect_eq "exit status as shipped" "$rc" 2
grep -q "set IOVBENCH_LISTEN in /etc/iovbench/agent.env" "$TMP/shipped.log" || fail "the refusal does not name IOVBENCH_LISTEN"
grep -qx 'RestartPreventExitStatus=2' "$unit" || fail "the unit restarts an agent that refused its settings"

# The address set as a user would: the shipped options all parse and the
# agents come up (private ipc paths; CURVE with the test's keys).
PIDS=()
for n in a b; do
  mapfile -t args < <(unit_args IOVBENCH_LISTEN="ipc://$TMP/$n.sock")
  start_bg - "$TMP/agent-$n.log" "$AGENT" "${args[@]}" --name "$n" --ready-file "$TMP/$n.ready"
  PIDS+=("$LAST_PID")
done
on_fail "echo '--- agents:'; cat '$TMP'/agent-*.log"
for n in a b; do
  wait_for 10 test -e "$TMP/$n.ready" || fail "agent $n with the shipped options did not come up"
done

# A point over the shipped --max-flows (64) is refused, naming the cap.
cat >"$TMP/over.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 127.0.0.1
b = ipc://$TMP/b.sock
b.data = 127.0.0.1

[global]
sender = a
receiver = b
duration = 1s
timeout = 5s

[over]
workload = tcp_stream
flows = 65
PLAN
"$COORD" run "$TMP/over.plan" --results "$TMP/results" --quiet >"$TMP/out.txt" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "coord ran a point over the shipped --max-flows"
grep -q "65 flows, over this agent's cap of 64 (--max-flows)" "$TMP/out.txt" ||
  { cat "$TMP/out.txt" >&2; fail "the point over --max-flows was not refused naming the cap"; }
for p in "${PIDS[@]}"; do stop_bg "$p"; done
check_logs "$TMP"/agent-*.log
log "ok: refused as shipped, up with an address, caps in force"
exit 0
