#!/usr/bin/env bash
# coord validate: a good plan prints its matrix; a broken one points at
# file, line and key and exits non-zero.
source "$(dirname "$0")/lib.sh"

"$COORD" validate "$SRC/plans/quickstart.plan" >"$TMP/out" 2>&1 || fail "quickstart.plan does not validate: $(cat "$TMP/out")"
grep -q "2 test points" "$TMP/out" || fail "validate does not count the points: $(cat "$TMP/out")"

# The matrix stays aligned whatever the names: a test name as long as a
# plan allows (63), far longer than the column used to be, leaves every
# row's cells where the heading's are.
long=a_test_name_of_63_characters_far_longer_than_its_old_16_cols_xy
printf '[hosts]\na = local\nb = local\n\n[%s]\nworkload = tcp_stream\nmsg_size = 64k\n\n[short]\nworkload = tcp_rr\nmsg_size = 1\n\n[x]\nworkload = udp_stream\nmsg_size = 1k\n' \
  "$long" >"$TMP/long.plan"
"$COORD" validate "$TMP/long.plan" >"$TMP/out" 2>&1 || fail "a plan with a long test name does not validate: $(cat "$TMP/out")"
grep -q "$long" "$TMP/out" || fail "the long test name is not shown whole: $(cat "$TMP/out")"
python3 - "$TMP/out" <<'PY' || fail "the matrix is not aligned (above): $(cat "$TMP/out")"
import sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
head = next(i for i, l in enumerate(lines) if l.lstrip().startswith("#  test"))
rows = [l for l in lines[head + 1:] if l.strip()][:3]
assert len(rows) == 3, rows
# Where each heading's column starts (left-aligned) or ends (right-aligned).
h = lines[head]
starts = {k: h.index(k) for k in ("test", "workload", "sender", "receiver", "topology")}
ends = {k: h.index(k) + len(k) for k in ("vms", "flows", "msg", "resp", "duration", "interval")}
for r in rows:
    for k, s in starts.items():
        assert r[s] != " " and r[s - 1] == " ", f"{k} does not start at column {s}: {r!r}"
    for k, e in ends.items():
        assert r[e - 1] != " " and (e == len(r) or r[e] == " "), f"{k} does not end at column {e}: {r!r}"
    assert r.index("host-host") == starts["topology"], r
PY

printf '[hosts]\na = local\nb = local\n\n[t]\nworkload = tcp_stream\nmsg_size = 64q\n' >"$TMP/bad.plan"
"$COORD" validate "$TMP/bad.plan" >"$TMP/out" 2>&1 && fail "a broken plan validated"
grep -q "bad.plan:7: key 'msg_size'" "$TMP/out" || fail "error does not point at line 7, key msg_size: $(cat "$TMP/out")"

# And run refuses it before anything starts.
"$COORD" run "$TMP/bad.plan" --results "$TMP/r" >"$TMP/out" 2>&1 && fail "run accepted a broken plan"
[ ! -d "$TMP/r" ] || fail "run created a results directory for a broken plan"
for c in "" run validate report; do
  "$COORD" $c --help >/dev/null || fail "coord $c --help failed"
done
"$AGENT" --help >/dev/null || fail "agent --help failed"

# Every plan in plans/ validates, and says how long it measures.
for plan in "$SRC"/plans/*.plan; do
  "$COORD" validate "$plan" >"$TMP/out" 2>&1 || fail "$(basename "$plan") does not validate: $(cat "$TMP/out")"
  grep -q "^measuring time: " "$TMP/out" || fail "$(basename "$plan"): no measuring time: $(tail -3 "$TMP/out")"
done
# The study plans name the same two servers with the same addresses.
for plan in latency bandwidth cpu scaling study; do
  "$COORD" validate "$SRC/plans/$plan.plan" | sed -n '2,3p' >"$TMP/hosts-$plan"
  cmp -s "$TMP/hosts-latency" "$TMP/hosts-$plan" ||
    fail "plans/$plan.plan names other hosts than plans/latency.plan: $(cat "$TMP/hosts-$plan")"
done
"$COORD" validate "$SRC/plans/inter-vm.plan" | sed -n 2p >"$TMP/hosts-inter-vm"
head -1 "$TMP/hosts-latency" | cmp -s - "$TMP/hosts-inter-vm" ||
  fail "plans/inter-vm.plan names another host a than plans/latency.plan: $(cat "$TMP/hosts-inter-vm")"

# docs/plans.md is what scripts/gen-plan-docs.sh makes from this build's
# coord help-plan.
"$SRC/scripts/gen-plan-docs.sh" --check --coord "$COORD" >"$TMP/out" 2>&1 ||
  fail "docs/plans.md is out of date: run scripts/gen-plan-docs.sh (then commit docs/plans.md): $(cat "$TMP/out")"

# Twins (tests/integ/plan_twin.py): the study plans shrunk to a test bed
# where SR-IOV (s1, s2) and virtio (v1, v2) live on different agents and
# at most 2 VMs run at once, each point run once.  Each twin must
# validate, keep both paths, and start no more than 2 VMs in any point.
TWIN=$SRC/tests/integ/plan_twin.py
if ! command -v python3 >/dev/null; then
  log "no python3: plan_twin.py checks skipped"
  log PASS
  exit 0
fi
"$TWIN" --help >/dev/null || fail "plan_twin.py --help failed"
TWIN_OPTS=(--host "s1=tcp://198.18.0.2:7700,data=198.18.0.2" --host "s2=tcp://198.18.0.3:7700,data=198.18.0.3"
  --host "v1=ipc://$TMP/v1.sock,data=198.18.0.1" --host "v2=ipc://$TMP/v2.sock,data=198.18.0.1"
  --map native:a=s1 --map native:b=s2 --map sriov:a=s1 --map sriov:b=s2 --map virtio:a=v1 --map virtio:b=v2
  --max-guests 2 --set duration=1s --set warmup=0s --set sample_interval=500ms --set timeout=60s
  --set vm_memory=384m --set repeat=1 --set confidence=off --first msg_size)

# twin_sections FILE: "NAME PATH SENDER" for every test section of a twin.
twin_sections() {
  awk '/^\[/ { if (s != "") print s, p, snd; s = substr($0, 2, length($0) - 2); p = "-"; snd = "-"
                if (s == "hosts" || s == "global") s = "" }
       s != "" && $1 == "path" { p = $3 }
       s != "" && $1 == "sender" { snd = $3 }
       END { if (s != "") print s, p, snd }' "$1"
}

for plan in inter-vm scaling latency bandwidth cpu study; do
  twin=$TMP/$plan-twin.plan
  "$TWIN" "$SRC/plans/$plan.plan" "$twin" "${TWIN_OPTS[@]}" 2>"$TMP/out" ||
    fail "plan_twin.py $plan.plan failed: $(cat "$TMP/out")"
  "$COORD" validate "$twin" >"$TMP/out" 2>&1 || fail "the twin of $plan.plan does not validate: $(cat "$TMP/out")"
  twin_sections "$twin" >"$TMP/sections"
  grep -Eq '_sriov sriov s[12]$' "$TMP/sections" || fail "twin of $plan.plan has no sriov test on s1/s2: $(cat "$TMP/sections")"
  grep -Eq '_virtio virtio v[12]$' "$TMP/sections" || fail "twin of $plan.plan has no virtio test on v1/v2: $(cat "$TMP/sections")"
  bad=$(awk '($2 == "sriov" && $3 !~ /^s[12]$/) || ($2 == "virtio" && $3 !~ /^v[12]$/)' "$TMP/sections")
  [ -z "$bad" ] || fail "twin of $plan.plan sends on the wrong agent: $bad"
  if ! grep -q '^\[hosts\]' "$twin" || grep -Eq '^(a|b)(\.data)? =' "$twin"; then
    fail "twin of $plan.plan does not have exactly the --host hosts"
  fi
  # The matrix: column 6 is the topology, 7 the vms of each point.
  over=$(awk '$1 ~ /^[0-9]+$/ && NF >= 7 {
                n = $6 == "many-to-one" ? $7 : ($6 ~ /^vm-vm-/ ? 2 * $7 : 0)
                if (n > 2) print $2 " starts " n " VMs" }' "$TMP/out")
  [ -z "$over" ] || fail "twin of $plan.plan starts more than 2 VMs: $over"
  grep -Eq '^ +[0-9]+ ' "$TMP/out" || fail "no matrix in coord validate's output: $(cat "$TMP/out")"
  if grep -q 'more for confidence' "$TMP/out" || ! grep -q '^repeat = 1$' "$twin"; then
    fail "twin of $plan.plan does not run each point once: $(tail -1 "$TMP/out")"
  fi
done

# The twin on this machine alone (tests/integ/study_sim.sh): local hosts,
# the SR-IOV tests on their simulated VMs (path existing), no virtio.
LOCAL_OPTS=(--host a=local --host b=local --map native:a=a --map native:b=b --map sriov:a=a --map sriov:b=b
  --only-path native --only-path sriov --path-as sriov=existing --max-guests 4 --set duration=1s)
"$TWIN" "$SRC/plans/study.plan" "$TMP/study-local.plan" "${LOCAL_OPTS[@]}" 2>"$TMP/out" ||
  fail "plan_twin.py study.plan for local hosts failed: $(cat "$TMP/out")"
"$COORD" validate "$TMP/study-local.plan" >"$TMP/out" 2>&1 ||
  fail "the local twin of study.plan does not validate: $(cat "$TMP/out")"
twin_sections "$TMP/study-local.plan" >"$TMP/sections"
grep -q '^tcp_rr_sriov existing a$' "$TMP/sections" || fail "local twin: tcp_rr_sriov is not on path existing: $(cat "$TMP/sections")"
grep -q '^many_to_one_stream_sriov existing a$' "$TMP/sections" ||
  fail "local twin: the scaling sweep was not split and rewritten: $(cat "$TMP/sections")"
! grep -Eq 'virtio| sriov ' "$TMP/sections" || fail "local twin keeps a virtio or sriov test: $(cat "$TMP/sections")"
grep -q 'simulates 4 guests' "$TMP/out" || fail "local twin: expected 4 simulated VMs on a: $(head -3 "$TMP/out")"
for bad in native=existing sriov sriov=native sriov=bogus; do
  "$TWIN" "$SRC/plans/study.plan" "$TMP/bad-twin.plan" "${LOCAL_OPTS[@]}" --path-as "$bad" 2>"$TMP/out"
  expect_eq "plan_twin.py status with --path-as $bad" $? 2
  grep -q -- "--path-as '$bad'" "$TMP/out" || fail "--path-as $bad: error does not name it: $(cat "$TMP/out")"
done

# A bad --map, and a host with no mapping for its path: status 2.
for bad in sriov:a sriov:a=nohost bogus:a=s1 sriov:a=s1=s2; do
  "$TWIN" "$SRC/plans/scaling.plan" "$TMP/bad-twin.plan" "${TWIN_OPTS[@]}" --map "$bad" 2>"$TMP/out"
  expect_eq "plan_twin.py status with --map $bad" $? 2
  grep -q -- "--map '$bad'" "$TMP/out" || fail "--map $bad: error does not name it: $(cat "$TMP/out")"
done
"$TWIN" "$SRC/plans/scaling.plan" "$TMP/bad-twin.plan" --host s1=tcp://198.18.0.2:7700 --map native:a=s1 2>"$TMP/out"
expect_eq "plan_twin.py status with b unmapped" $? 2
grep -q "key 'receiver'" "$TMP/out" || fail "unmapped host: error does not name the key: $(cat "$TMP/out")"
[ ! -e "$TMP/bad-twin.plan" ] || fail "plan_twin.py wrote a twin despite an error"

# Every plan has a twin that validates.
for plan in "$SRC"/plans/*.plan; do
  twin=$TMP/all-$(basename "$plan")
  "$TWIN" "$plan" "$twin" "${TWIN_OPTS[@]}" 2>"$TMP/out" || fail "plan_twin.py $plan failed: $(cat "$TMP/out")"
  "$COORD" validate -q "$twin" >"$TMP/out" 2>&1 || fail "the twin of $plan does not validate: $(cat "$TMP/out")"
done
log PASS
