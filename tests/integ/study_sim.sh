#!/usr/bin/env bash
# The study plans (plans/latency.plan, bandwidth.plan, cpu.plan and
# study.plan), as small twins run on this machine alone.
#
# Topology: coord's two local hosts a and b, each in its own network
# namespace, joined by a veth pair (198.18.0.1 and .2); as many simulated
# VMs as the twin needs behind each (a namespace, a veth to a bridge in
# its host's namespace, and a guest agent that registers with its host's
# agent):
#
#   [vm01..vmNN]--vbr0--[a] 198.18.0.1 ==veth== 198.18.0.2 [b]--vbr0--[vm01..]
#
# tests/integ/plan_twin.py makes each twin: the native tests run a -> b;
# the SR-IOV tests run on the simulated VMs (--path-as sriov=existing:
# coord refuses path sriov on local hosts, whose VMs are namespaces); the
# virtio tests are left out (on this machine they would be the SR-IOV
# tests again).  Each point lasts 1 s and runs once, each sweep keeps its
# first value (study.plan's packet-rate tests search at 64-byte frames
# only), and no point uses more than 4 VMs; study.plan keeps its scaling
# sweeps up to that.
#
# Checks, for each twin: coord's exit status, every point stored and ok,
# and the JSON report (coord report --json) holding exactly the twin's
# tests, each with all its points, on paths native and existing.
#
# Exit 4 (skip) when not root (the VMs and hosts are namespaces).  About
# 1.5 minutes on 2 vCPUs.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 python3

T0=$SECONDS
TWIN_OPTS=(--host a=local --host b=local
  --map native:a=a --map native:b=b --map sriov:a=a --map sriov:b=b
  --only-path native --only-path sriov --path-as sriov=existing --max-guests 4
  --set duration=1s --set warmup=0s --set sample_interval=500ms --set timeout=20s
  --set repeat=1 --set confidence=off --set search_min=1m
  --first msg_size --first flows --first rate --first frame_size)

for plan in latency bandwidth cpu study; do
  twin=$TMP/$plan-sim.plan
  python3 "$SRC/tests/integ/plan_twin.py" "$SRC/plans/$plan.plan" "$twin" "${TWIN_OPTS[@]}" \
    2>"$TMP/twin-$plan.err" || fail "plan_twin.py $plan: $(cat "$TMP/twin-$plan.err")"
  "$COORD" validate "$twin" >"$TMP/validate-$plan.txt" 2>&1 ||
    fail "the twin of $plan.plan does not validate: $(cat "$TMP/validate-$plan.txt")"
  n_points=$(grep -cE '^ +[0-9]+ ' "$TMP/validate-$plan.txt")
  [ "$n_points" -gt 0 ] || fail "$plan: no points in the twin's matrix: $(cat "$TMP/validate-$plan.txt")"
  # The twin's tests, in order: "NAME PATH" per section.
  awk '/^\[/ { if (s != "") print s, p; s = substr($0, 2, length($0) - 2); p = "native"
               if (s == "hosts" || s == "global") s = "" }
       s != "" && $1 == "path" { p = $3 }
       END { if (s != "") print s, p }' "$twin" >"$TMP/tests-$plan.txt"
  grep -q ' native$' "$TMP/tests-$plan.txt" || fail "$plan: the twin has no native test: $(cat "$twin")"
  grep -q ' existing$' "$TMP/tests-$plan.txt" || fail "$plan: the twin has no test on VMs: $(cat "$twin")"

  t1=$SECONDS
  timeout -k 10 300 "$COORD" run "$twin" --local netns --quiet --results "$TMP/results" \
    >"$TMP/out-$plan.txt" 2>"$TMP/err-$plan.txt"
  rc=$?
  log "$plan: $n_points points in $((SECONDS - t1)) s"
  if [ "$rc" -ne 0 ]; then
    cat "$TMP/out-$plan.txt" >&2
    tail -20 "$TMP/err-$plan.txt" >&2
    fail "$plan: coord exit status $rc"
  fi
  run=$(ls -d "$TMP"/results/*-"$plan"-sim | head -1)
  db=$run/results.db
  [ -f "$db" ] || fail "$plan: no results.db"
  # (Measurements: a rate search's trials are point rows too, trial >= 1.)
  expect_eq "$plan: points stored" "$(sql "$db" "SELECT count(*) FROM point WHERE trial = 0")" "$n_points"
  bad=$(sql "$db" "SELECT idx || ' ' || test || ' ' || status || ' ' || COALESCE(error, '') FROM point
                   WHERE status != 'ok' AND trial = 0")
  [ -z "$bad" ] || fail "$plan: points not ok: $bad"

  "$COORD" report --json "$run" >"$TMP/report-$plan.json" || fail "$plan: coord report --json failed"
  python3 - "$TMP/report-$plan.json" "$TMP/tests-$plan.txt" "$TMP/validate-$plan.txt" "$plan" <<'PY' ||
import collections, json, re, sys

report, tests_file, validate_file, plan = sys.argv[1:]
d = json.load(open(report))
want = [line.split() for line in open(tests_file) if line.strip()]
# Points per test, from coord validate's matrix (column 2 is the test).
per_test = collections.Counter(
    line.split()[1] for line in open(validate_file) if re.match(r"^ +[0-9]+ ", line)
)
got = collections.OrderedDict()
for p in d["points"]:
    got.setdefault(p["test"], []).append(p)
assert list(got) == [name for name, _ in want], (plan, "tests in the report", list(got), want)
for name, path in want:
    pts = got[name]
    assert len(pts) == per_test[name], (plan, name, len(pts), per_test[name])
    for p in pts:
        assert p["status"] == "ok", (plan, name, p["status"])
        assert p["path"] == path, (plan, name, p["path"], path)
        rr = p["workload"].endswith("_rr")
        assert (p["tps"] if rr else p["gbps"]) > 0, (plan, name, p["sweep"], "moved nothing")
print(plan, {name: len(pts) for name, pts in got.items()})
PY
    fail "$plan: the JSON report does not hold the twin's tests"
done

# Nothing left behind: namespaces and agents are coord's to remove.
left=$(ip netns list | grep -c "^iovb[0-9]" || true)
expect_eq "namespaces left by coord" "$left" 0
check_logs "$TMP"/err-*.txt "$TMP"/results/*/logs/*.log
log "ok after $((SECONDS - T0)) s"
