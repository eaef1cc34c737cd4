#!/usr/bin/env bash
# path = sriov end to end on emulated SR-IOV hardware.  Two "servers" s1
# and s2 are TCG guests with qemu's igb (Intel 82576, SR-IOV), started by a
# private libvirtd on one bridge (tests/integ/sriov_testbed.sh).  In each,
# iovbench-agent runs as the host agent on the PF with --vm-backend netns:
# for a test point it creates the VFs, gives each a MAC (and the plan's VF
# settings) through the PF, re-binds igbvf, moves each VF into a network
# namespace and starts a guest agent there, which registers through the
# relay over the VF.  coord, in the daemon's netns, runs:
#
#   vf_pair*    vm-vm-same on s1: VF to VF through the NIC's embedded
#               switch (tcp_stream, tcp_rr, udp_rr; the same 2 VFs reused)
#   vf_wire     many-to-one: 2 VFs of s1 out of the port to s2's PF
#   vf_cross    vm-vm-cross: a VF of s1 to a VF of s2 over the wire
#   vf_rate     vf_rate = 50 Mbit/s on s1's VFs: igb accepts the limit but
#               does not enforce it; coord says so instead of reporting the
#               link as limited
#
# and checks that every point is ok, that the guests' data went through the
# VFs' own queues (igbvf's interrupt counters moved in each guest) and the
# guests' NICs carry the MACs the host agent gave, that per-VM CPU is
# stored, and that after the run s1 and s2 have no VF and no guest left.
#
# Exit 4 (skip) when not root, or libvirtd, qemu >= 8.0 (igb) or the image
# are unavailable.  About 90 s on 2 vCPUs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/libvirtd.sh"
source "$(dirname "$0")/sriov_testbed.sh"
require_root
require_cmd ip sqlite3 virsh unshare timeout python3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

T0=$SECONDS
export IOV_LIBVIRT_CACHE=${IOV_LIBVIRT_CACHE-/var/cache/iovbench/libvirt}
srv_start 2

cat >"$TMP/sriov.plan" <<PLAN
[hosts]
s1 = $(srv_endpoint 1)
s1.data = 198.18.0.2
s2 = $(srv_endpoint 2)
s2.data = 198.18.0.3

[global]
path = sriov
duration = 2s
sample_interval = 500ms
timeout = 60s
reuse_vms = yes
sender = s1

[vf_pair]
topology = vm-vm-same
vms = 1
workload = tcp_stream

[vf_pair_rr]
topology = vm-vm-same
vms = 1
workload = tcp_rr
msg_size = 1
response_size = 1

[vf_pair_udp_rr]
topology = vm-vm-same
vms = 1
workload = udp_rr
msg_size = 64
response_size = 64

[vf_wire]
topology = many-to-one
receiver = s2
vms = 2
workload = tcp_stream

[vf_cross]
topology = vm-vm-cross
receiver = s2
vms = 1
workload = tcp_stream

[vf_rate]
topology = many-to-one
receiver = s2
vms = 1
vf_rate = 50M
workload = tcp_stream
PLAN
T1=$SECONDS
ip netns exec "$LV_NS" timeout 400 "$COORD" run "$TMP/sriov.plan" --plaintext --results "$TMP/results" \
  >"$TMP/coord.log" 2>&1
RC=$?
cat "$TMP/coord.log" >&2
log "plan took $((SECONDS - T1)) s"
[ "$RC" -eq 0 ] || fail "coord exit status $RC; s1: $(tail -n 40 "$(srv_console 1)")"
dir=$(ls -d "$TMP"/results/*-sriov | head -1)
db=$dir/results.db
expect_eq "points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 6

# The guests are the namespaces the host agents made, named like VMs.
guests=$(sql "$db" "SELECT count(*) FROM agent WHERE kind = 'guest'")
[ "$guests" -ge 3 ] || fail "only $guests guest agents registered (s1: vm01, vm02; s2: vm01)"
# Each guest's NIC is a VF with the MAC its host agent gave it through the
# PF (02, the last three bytes of the PF's MAC, the VF number + 1).
python3 - "$dir" <<'PY' || fail "a guest's NIC is not the VF its host agent set up"
import glob, json, os, sys
found = 0
for f in glob.glob(os.path.join(sys.argv[1], "inventory", "s[12]", "*.json")):
    inv = json.load(open(f))
    nics = [i for i in inv.get("interfaces", []) if not i.get("loopback")]
    assert len(nics) == 1, (f, nics)
    host = os.path.basename(os.path.dirname(f))
    assert nics[0]["driver"] == "igbvf", (f, nics[0])
    assert nics[0]["mac"].startswith("02:69:6f:0%s:00:" % host[1]), (f, nics[0])
    found += 1
assert found >= 3, found
PY

# The traffic went through the VFs' own queues: igbvf's rx/tx interrupt
# counters, sampled in each guest, moved in every point that guest ran.
bad=$(sql "$db" "SELECT p.test || ':' || a.name FROM point_agent pa JOIN point p ON p.id = pa.point_id
  JOIN agent a ON a.id = pa.agent_id WHERE a.kind = 'guest' AND
  (SELECT COALESCE(sum(i.count), 0) FROM irq_sample i WHERE i.agent_id = a.id AND i.point_id = p.id
   AND (i.name GLOB '*-rx-*' OR i.name GLOB '*-tx-*')) = 0")
[ -z "$bad" ] || fail "no VF queue interrupts counted for: $bad"
n_irq=$(sql "$db" "SELECT count(DISTINCT i.name) FROM irq_sample i JOIN agent a ON a.id = i.agent_id
  WHERE a.kind = 'guest'")
log "VF queue interrupt lines seen in the guests: $n_irq"

# Data went where each topology says.
for t in vf_pair vf_wire vf_cross; do
  bytes=$(sql "$db" "SELECT COALESCE(sum(r.bytes), 0) FROM result r JOIN flow f ON f.id = r.flow_id
    JOIN point p ON p.id = f.point_id WHERE p.test = '$t' AND f.role = 'receiver'")
  [ "${bytes:-0}" -gt 0 ] || fail "$t: no bytes received"
  log "$t: $bytes bytes"
done
expect_eq "vf_wire receiver" "$(sql "$db" "SELECT DISTINCT a.name FROM flow f JOIN agent a ON a.id = f.agent_id
  JOIN point p ON p.id = f.point_id WHERE p.test = 'vf_wire' AND f.role = 'receiver'")" s2
# Per-VM CPU: the guest's own, and its cost to the host (the guest agent's
# process: there is no hypervisor).
[ "$(sql "$db" "SELECT count(*) FROM vm_cpu_sample")" -gt 0 ] || fail "no per-VM host CPU samples"
# The unenforced limit is reported, with the rate measured.
grep -q "vf_rate.*not enforced" "$TMP/coord.log" || fail "coord did not say that igb ignored vf_rate"

# Nothing left: no VF on either PF, no guest registered.
srv_check_clean "the SR-IOV plan"
for k in 1 2; do
  if grep -E "WARN|ERROR|error:" "$(srv_console "$k")" | grep -v "module .* not loaded" >"$TMP/warn-$k"; then
    cat "$TMP/warn-$k" >&2
    fail "server s$k's agent logged warnings or errors"
  fi
done
check_logs "$TMP/coord.log" "$(srv_console 1)" "$(srv_console 2)"
log "ok after $((SECONDS - T0)) s"
