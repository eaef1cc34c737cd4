#!/usr/bin/env bash
# path = sriov, virtio from a plan, end to end without the hardware:
# coord asks host agent 'a' for VMs; 'a' allocates VFs of a PF (the sysfs
# tree recorded from QEMU's igb, copied so that sriov_numvfs can be
# written, with the PF's netdev a veth in a: rtnetlink reads it for real),
# creates the domains through libvirt's test driver (every domain XML
# checked with virt-xml-validate), and, since the test driver boots
# nothing, starts a guest agent per domain as the VM would
# (--test-simulate-guests).  The guests register, traffic runs VM -> b,
# the VMs go down and the VF count is restored.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 virt-xml-validate

GUEST_BIN=$BUILD/bin/iovbench-guest-agent
[ -x "$GUEST_BIN" ] || fail "no $GUEST_BIN"
PF=0000:11:00.0
cp -a "$SRC/tests/fixtures/sysfs/igb-82576-qemu" "$TMP/sys"
numvfs=$(find "$TMP/sys" -path "*/$PF/sriov_numvfs" | head -1)
[ -n "$numvfs" ] || fail "no sriov_numvfs for $PF in the recorded tree"
echo 1 >"$numvfs" # start from one VF: the point needs two
netdev=$(ls "$(dirname "$numvfs")/net")
setup_ns A
# The PF's netdev, for rtnetlink to read (the recorded tree names it).
ip -n "$A" link add "$netdev" type veth peer name "${netdev}p" || fail "cannot create $netdev in $A"
mkdir -p "$TMP/xml" "$TMP/vfstate"
: >"$TMP/vmlinuz" # the test driver boots nothing; the XML needs a kernel

start_bg "$A" "$TMP/agent-a.log" "$AGENT" --listen "ipc://$TMP/a.sock" --guest-listen "ipc://$TMP/a-guests.sock" \
  --name a --ready-file "$TMP/a.ready" --libvirt test:///default --sriov-pf "$PF" --virtio-bridge br-test \
  --vm-guest-endpoint "ipc://$TMP/a-guests.sock" --sysfs-root "$TMP/sys" --vf-state-dir "$TMP/vfstate" \
  --vm-xml-dir "$TMP/xml" --vm-kernel "$TMP/vmlinuz" --test-simulate-guests
start_bg "$A" "$TMP/agent-b.log" "$AGENT" --listen "ipc://$TMP/b.sock" --guest-listen none --name b \
  --ready-file "$TMP/b.ready"
wait_for 15 test -e "$TMP/a.ready" || fail "agent a not ready: $(cat "$TMP/agent-a.log")"
wait_for 15 test -e "$TMP/b.ready" || fail "agent b not ready: $(cat "$TMP/agent-b.log")"

cat >"$TMP/paths.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 127.0.0.1
b = ipc://$TMP/b.sock
b.data = 127.0.0.1

[global]
sender = a
receiver = b
workload = tcp_stream
duration = 1s
sample_interval = 500ms
timeout = 10s
vms = 2

[sriov]
topology = many-to-one
path = sriov

[virtio]
topology = many-to-one
path = virtio

[virtio_pairs]
topology = vm-vm-same
path = virtio
vms = 1
PLAN

"$COORD" run "$TMP/paths.plan" --results "$TMP/results" >"$TMP/out.txt" 2>"$TMP/err.txt"
rc=$?
cat "$TMP/out.txt" "$TMP/err.txt" >&2
expect_eq "coord exit status" "$rc" 0
db=$(ls -d "$TMP"/results/*-paths | head -1)/results.db
expect_eq "points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 3
# The senders are the VMs agent a started: named iovb-RUN-a-vmNN.
bad=$(sql "$db" "SELECT a.name FROM flow f JOIN agent a ON a.id = f.agent_id WHERE f.role = 'sender' AND a.name NOT GLOB 'a/iovb-*-a-vm0[12]'")
[ -z "$bad" ] || fail "senders that are not the started VMs: $bad"
expect_eq "links of the sriov point" "$(sql "$db" "SELECT count(DISTINCT f.link) FROM flow f JOIN point p ON p.id = f.point_id WHERE p.test = 'sriov'")" 2

# What each VM cost its host (here the simulated guest's process stands
# for qemu): measured for every interval but the first, as the relay
# passed the guest's batches on.
expect_eq "host CPU samples of the sriov VMs (seq 2)" \
  "$(sql "$db" "SELECT count(*) FROM vm_cpu_sample v JOIN point p ON p.id = v.point_id WHERE p.test = 'sriov' AND v.seq = 2 AND v.total_ns > 0 AND v.interval_ns > 0")" 2
expect_eq "host CPU samples for a first interval" "$(sql "$db" "SELECT count(*) FROM vm_cpu_sample WHERE seq = 1")" 0
"$COORD" report --json "$(dirname "$db")" >"$TMP/report.json" || fail "coord report --json failed"
python3 - "$TMP/report.json" <<'PY' || fail "no per-VM service demand in the JSON report"
import json, sys
d = json.load(open(sys.argv[1]))
p = [p for p in d["points"] if p["test"] == "sriov"][0]
assert len(p["vm_cpu"]) == 2, p["vm_cpu"]
for v in p["vm_cpu"]:
    assert v["role"] == "sender" and v["host_ns"] > 0 and v["bytes"] > 0, v
    assert abs(v["total_us_per_kb"] - v["guest_us_per_kb"] - v["host_us_per_kb"]) < 1e-6 * v["total_us_per_kb"], v
PY
grep -q "started 2 sriov VMs" "$TMP/agent-a.log" || fail "agent a did not start sriov VMs: $(cat "$TMP/agent-a.log")"
grep -q "started 2 virtio VMs" "$TMP/agent-a.log" || fail "agent a did not start virtio VMs"
# Every domain XML handed to libvirt is valid, and the sriov ones pass a
# VF of the PF through, the virtio ones join the bridge.
n=0
for x in "$TMP"/xml/*.xml; do
  case $x in *.vol.xml) continue ;; esac
  virt-xml-validate "$x" domain >/dev/null 2>"$TMP/validate.err" || fail "$x is not a valid domain: $(cat "$TMP/validate.err")"
  n=$((n + 1))
done
[ "$n" -ge 6 ] || fail "expected at least 6 domain XMLs, found $n"
grep -l "type=.hostdev." "$TMP"/xml/*.xml | xargs grep -l "slot=.0x10." >/dev/null || fail "no hostdev interface with a VF of $PF"
grep -l "type=.bridge." "$TMP"/xml/*.xml | xargs grep -l "br-test" >/dev/null || fail "no virtio interface on br-test"
grep -l "iovbench.host=" "$TMP"/xml/*.xml >/dev/null || fail "no SMBIOS OEM strings for the guest agent"

# The VF count is back to what it was, and nothing is left to restore.
expect_eq "sriov_numvfs after the run" "$(cat "$numvfs")" 1
expect_eq "VF state files left" "$(find "$TMP/vfstate" -type f | wc -l)" 0
# The simulated guests are gone with their VMs.
sims_gone() { ! pgrep -f "[i]ovbench-guest-agent --host ipc://$TMP/a-guests.sock" >/dev/null; }
wait_for 10 sims_gone ||
  fail "simulated guests left running"

# A host agent without VMs says so, naming the fix.
cat >"$TMP/novm.plan" <<PLAN
[hosts]
a = ipc://$TMP/b.sock
a.data = 127.0.0.1
b = ipc://$TMP/a.sock
b.data = 127.0.0.1
[t]
workload = tcp_stream
duration = 1s
topology = many-to-one
path = virtio
timeout = 5s
PLAN
"$COORD" run "$TMP/novm.plan" --results "$TMP/results" >"$TMP/out2.txt" 2>&1
expect_eq "coord exit status without VMs" "$?" 1
grep -q "starts no VMs: run it with --libvirt" "$TMP/out2.txt" || fail "no clear error: $(cat "$TMP/out2.txt")"
# VF settings from the plan go through rtnetlink to the PF; this PF (a
# veth standing in) has no VFs in the kernel, which refuses, and the
# point fails naming the VF and the setting.  The VF count is restored.
cat >"$TMP/vlan.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 127.0.0.1
b = ipc://$TMP/b.sock
b.data = 127.0.0.1
[t]
workload = tcp_stream
duration = 1s
topology = many-to-one
path = sriov
vf_vlan = 100
timeout = 10s
PLAN
"$COORD" run "$TMP/vlan.plan" --results "$TMP/results" >"$TMP/out3.txt" 2>&1
expect_eq "coord exit status with a refused VF setting" "$?" 1
grep -q "cannot start 1 sriov VMs: VF 0: .*vlan" "$TMP/out3.txt" || fail "no clear VF error: $(grep -i fail "$TMP/out3.txt")"
expect_eq "sriov_numvfs after the refused setting" "$(cat "$numvfs")" 1
check_logs "$TMP"/agent-*.log "$TMP/err.txt"
log "ok"
