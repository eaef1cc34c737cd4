#!/usr/bin/env bash
# coord validate: a good plan prints its matrix; a broken one points at
# file, line and key and exits non-zero.
source "$(dirname "$0")/lib.sh"

"$COORD" validate "$SRC/plans/quickstart.plan" >"$TMP/out" 2>&1 || fail "quickstart.plan does not validate: $(cat "$TMP/out")"
grep -q "2 test points" "$TMP/out" || fail "validate does not count the points: $(cat "$TMP/out")"

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

# Twins (tests/integ/plan_twin.py): the study plans shrunk to a test bed
# where SR-IOV (s1, s2) and virtio (v1, v2) live on different agents and
# at most 2 VMs run at once.  Each twin must validate, keep both paths,
# and start no more than 2 VMs in any point.
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
  --set vm_memory=384m --first msg_size)

# twin_sections FILE: "NAME PATH SENDER" for every test section of a twin.
twin_sections() {
  awk '/^\[/ { if (s != "") print s, p, snd; s = substr($0, 2, length($0) - 2); p = "-"; snd = "-"
                if (s == "hosts" || s == "global") s = "" }
       s != "" && $1 == "path" { p = $3 }
       s != "" && $1 == "sender" { snd = $3 }
       END { if (s != "") print s, p, snd }' "$1"
}

for plan in inter-vm scaling; do
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
