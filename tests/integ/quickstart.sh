#!/usr/bin/env bash
# The embedded default: `coord run plans/quickstart.plan` with no servers,
# in both local modes; coord starts and removes its agents and namespaces.
source "$(dirname "$0")/lib.sh"
require_cmd sqlite3

modes=(loopback)
[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && modes+=(netns)
for mode in "${modes[@]}"; do
  out=$TMP/$mode
  mkdir -p "$out"
  (cd "$SRC" && TMPDIR=$TMP "$COORD" run plans/quickstart.plan --local="$mode" --results "$out") >"$out/stdout" 2>"$out/stderr"
  rc=$?
  cat "$out/stderr" >&2
  expect_eq "$mode: exit status" "$rc" 0
  run=$(ls -d "$out"/*-quickstart | head -1)
  db=$run/results.db
  expect_eq "$mode: ok points" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 2
  # 3 s at 500 ms: 6 samples in every flow.
  expect_eq "$mode: flows without 6 samples" \
    "$(sql "$db" "SELECT count(*) FROM flow f WHERE (SELECT count(*) FROM sample s WHERE s.flow_id = f.id) != 6")" 0
  grep -q 'tcp_stream\|stream' "$out/stdout" || fail "$mode: no table printed"
  [ -s "$run/logs/agent-a.log" ] || fail "$mode: agent log missing"
  check_logs "$run"/logs/agent-*.log
  # Nothing left behind: no namespace, no agent of ours.
  if [ "$mode" = netns ]; then
    leftover=$(ip netns list | grep -c '^iovb[0-9]' || true)
    expect_eq "$mode: namespaces left behind" "$leftover" 0
  fi
  # (Only ours: other tests may run agents at the same time.)
  pgrep -f "iovbench-agent --listen ipc://$TMP/" >/dev/null && fail "$mode: agents left running"
done
# Interrupted half-way (SIGTERM, as Ctrl-C would be): coord stops, removes
# its agents and namespaces, and keeps what it measured.
mode=${modes[-1]}
out=$TMP/interrupted
mkdir -p "$out"
(cd "$SRC" && TMPDIR=$TMP exec "$COORD" run plans/quickstart.plan --local="$mode" --results "$out") >"$out/stdout" 2>"$out/stderr" &
cpid=$!
wait_for 30 grep -q '\[1/2\]' "$out/stderr" || fail "interrupt: coord never started a point"
kill -TERM "$cpid"
wait "$cpid"
rc=$?
cat "$out/stderr" >&2
expect_eq "interrupt: exit status" "$rc" 130
run=$(ls -d "$out"/*-quickstart | head -1)
expect_eq "interrupt: run status" "$(sql "$run/results.db" "SELECT status FROM run")" interrupted
if [ "$mode" = netns ]; then
  expect_eq "interrupt: namespaces left behind" "$(ip netns list | grep -c '^iovb[0-9]' || true)" 0
fi
pgrep -f "iovbench-agent --listen ipc://$TMP/" >/dev/null && fail "interrupt: agents left running"
log "PASS (${modes[*]}, interrupted)"
