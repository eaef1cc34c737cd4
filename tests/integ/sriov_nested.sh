#!/usr/bin/env bash
# A VF passed through into a real nested guest by libvirt (label "long":
# not in CI's default set; run with ctest -L long, about 5-8 minutes).
#
# The server s1 is a TCG guest (q35, an emulated Intel IOMMU, qemu's igb:
# SR-IOV) of a private libvirtd.  It boots the test image, mounts this
# machine's root read-only over virtio-9p under a tmpfs overlay
# (iovbench.hostroot, guest-agent/init.sh) and runs a generated script
# there: its own libvirtd, and iovbench-agent with --libvirt and
# --sriov-pf eth0, as on a real server.  coord asks for path sriov; the
# host agent creates a VF, gives it the plan's VLAN through the PF, and
# starts a nested TCG guest with <interface type='hostdev'> on it: libvirt
# binds the VF to vfio-pci and qemu passes it through.  The nested guest
# (the same image, igbvf) registers over the VF and sends TCP to the PF's
# VLAN interface eth0.100 through the NIC's embedded switch: only a VF
# whose port VLAN is really 100 reaches it (this machine's kernel has no
# 802.1Q, so the VLAN cannot end outside the server).
#
# Checks: the point is ok, bytes arrived, the guest's NIC is an igbvf with
# the MAC the host agent chose and the address on VLAN 100, its queue
# interrupts moved, and the server disabled its VFs afterwards.  Numbers
# from a guest two levels deep under TCG mean nothing (its clock runs
# slow); only the path is tested.
#
# Exit 4 (skip) when not root, or libvirtd, qemu >= 8.0 or the image are
# unavailable.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/libvirtd.sh"
source "$(dirname "$0")/sriov_testbed.sh"
require_root
require_cmd ip sqlite3 virsh unshare timeout python3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
_srv_has_igb || skip "qemu has no igb device (SR-IOV emulation needs qemu >= 8.0: scripts/setup.sh)"

T0=$SECONDS
export IOV_LIBVIRT_CACHE=${IOV_LIBVIRT_CACHE-/var/cache/iovbench/libvirt}
srv_image
libvirtd_start 60
ip -n "$LV_NS" link add "$SRV_BR" type bridge || fail "cannot create bridge $SRV_BR"
ip -n "$LV_NS" addr add 198.18.0.1/24 dev "$SRV_BR"
ip -n "$LV_NS" link set "$SRV_BR" up

# What the server runs, from this machine's root, in its chroot.
mkdir -p "$TMP/nested"
lv_template "$TMP/nested/inner.xml" q35 256 /run/inner-console.log
cat >"$TMP/nested/server.sh" <<SH
#!/bin/bash
# Runs inside server s1 (sriov_nested.sh).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt
source $SRC/tests/integ/libvirtd.sh
lv_write_conf /etc/libvirt
echo "nested-server: starting libvirtd"
$LIBVIRTD --config /etc/libvirt/libvirtd.conf &
for i in \$(seq 600); do virsh -q -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.5; done
echo "nested-server: libvirtd answers after \$SECONDS s"
# VLAN 100 ends on the PF: the guests' VF carries it as its port VLAN.
ip link add link eth0 name eth0.100 type vlan id 100 && ip addr add 198.18.1.2/24 dev eth0.100 &&
  ip link set eth0.100 up || echo "nested-server: error: no VLAN interface eth0.100"
: >/run/inner-console.log
tail -F /run/inner-console.log 2>/dev/null | sed -u 's/^/inner: /' &
exec $AGENT --name s1 --listen 'tcp://*:7700' --guest-listen 'tcp://*:7701' \\
  --libvirt qemu:///system --vm-type qemu --sriov-pf eth0 --vm-template $TMP/nested/inner.xml \\
  --vm-kernel $SRV_IMAGE/vmlinuz --vm-initrd $SRV_IMAGE/initrd.img --vm-cmdline console=ttyS0 \\
  --vm-guest-endpoint tcp://198.18.1.2:7701 --vm-net 198.18.1.10/24 --vm-boot-timeout 900 \\
  --vm-xml-dir /run --key-dir $TMP/keys
SH
chmod 755 "$TMP/nested/server.sh"
chmod 755 "$TMP"

cat >"$TMP/srv.xml" <<XML
<domain type='qemu'>
  <name>iovbtest-nested-s1</name>
  <memory unit='MiB'>2048</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$SRV_IMAGE/vmlinuz</kernel>
    <initrd>$SRV_IMAGE/initrd.img</initrd>
    <cmdline>console=ttyS0 intel_iommu=on iovbench.role=host iovbench.net=198.18.0.2/24 iovbench.hostroot=hostroot iovbench.run=$TMP/nested/server.sh</cmdline>
  </os>
  <features><acpi/><ioapic driver='qemu'/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <interface type='bridge'>
      <source bridge='$SRV_BR'/>
      <mac address='52:54:00:69:6f:01'/>
      <model type='igb'/>
    </interface>
    <filesystem type='mount' accessmode='passthrough' multidevs='remap'>
      <source dir='/'/>
      <target dir='hostroot'/>
      <readonly/>
    </filesystem>
    <iommu model='intel'/>
    <serial type='file'><source path='$TMP/console-s1.log'/><target port='0'/></serial>
  </devices>
</domain>
XML
lv_virsh create "$TMP/srv.xml" >"$TMP/srv.create" 2>&1 || fail "libvirt did not start the server: $(cat "$TMP/srv.create")"
wait_for 300 _srv_listening 1 || fail "server s1's agent not listening after 300 s: $(tail -n 40 "$TMP/console-s1.log")"
log "server s1 (libvirtd and host agent inside) up after $((SECONDS - T0)) s"

cat >"$TMP/nested.plan" <<PLAN
[hosts]
s1 = $(srv_endpoint 1)
s1.data = 198.18.1.2

[vf_passthrough]
sender = s1
receiver = s1
path = sriov
topology = many-to-one
vms = 1
vf_vlan = 100
workload = tcp_stream
msg_size = 16k
duration = 5s
sample_interval = 1s
timeout = 900s
PLAN
t1=$SECONDS
ip netns exec "$LV_NS" timeout 1500 "$COORD" run "$TMP/nested.plan" --results "$TMP/results" >"$TMP/coord.log" 2>&1
rc=$?
cat "$TMP/coord.log" >&2
log "the point took $((SECONDS - t1)) s"
[ "$rc" -eq 0 ] || fail "coord exit status $rc: $(tail -n 60 "$TMP/console-s1.log")"
dir=$(ls -d "$TMP"/results/*-nested | head -1)
db=$dir/results.db
expect_eq "points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 1
bytes=$(sql "$db" "SELECT COALESCE(sum(r.bytes), 0) FROM result r JOIN flow f ON f.id = r.flow_id WHERE f.role = 'receiver'")
[ "${bytes:-0}" -gt 0 ] || fail "no bytes arrived at s1's eth0.100"
log "$bytes bytes from the nested guest through its VF, on VLAN 100 to the PF"
python3 - "$dir" <<'PY' || fail "the nested guest's NIC is not the VF"
import glob, json, os, sys
fs = glob.glob(os.path.join(sys.argv[1], "inventory", "s1", "*.json"))
assert len(fs) == 1, fs
inv = json.load(open(fs[0]))
nics = [i for i in inv["interfaces"] if not i["loopback"]]
assert len(nics) == 1 and nics[0]["driver"] == "igbvf", nics
assert nics[0]["mac"].startswith("02:69:6f:01:00:"), nics
assert "198.18.1.10/24" in nics[0]["addresses"], nics
PY
irqs=$(sql "$db" "SELECT COALESCE(sum(i.count), 0) FROM irq_sample i JOIN agent a ON a.id = i.agent_id
  WHERE a.kind = 'guest' AND (i.name GLOB '*-rx-*' OR i.name GLOB '*-tx-*')")
[ "${irqs:-0}" -gt 0 ] || fail "no VF queue interrupts in the nested guest"
# The teardown inside the server: the domain went and the VFs were put back.
wait_for 60 grep -q "IOV Disabled" "$TMP/console-s1.log" ||
  fail "the server did not disable its VFs after the run: $(tail -n 30 "$TMP/console-s1.log")"
check_logs "$TMP/coord.log" "$TMP/console-s1.log"
log "ok after $((SECONDS - T0)) s"
