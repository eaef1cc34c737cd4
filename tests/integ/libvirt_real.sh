#!/usr/bin/env bash
# path = virtio with real VMs: a private libvirtd (tests/integ/libvirtd.sh:
# own network and mount namespace, nothing of the host's libvirt touched)
# runs TCG domains (--vm-type qemu) that iovbench-agent creates from a
# coord plan, booting the test guest of scripts/build-guest-image.sh
# (Debian kernel + busybox initramfs with iovbench-guest-agent) on a
# bridge 198.18.0.1/24 in the daemon's namespace.
#
# 1. many-to-one, vms = 1: one VM.  Its guest agent registers with host
#    agent 'a', sends TCP to host agent 'b' over virtio-net and the bridge;
#    the point is ok, the sender is the VM, the VM is gone afterwards.
# 2. vm-vm-same, vms = 1: two VMs, each given its own address by the host
#    agent (--vm-net: iovbench.net/iovbench.data in its SMBIOS OEM
#    strings).  Both register; TCP runs VM to VM over the bridge; the
#    daemon really ran both domains (virsh list, qemu processes named after
#    them), and coord's teardown leaves no domain and no qemu behind.
#
# Exit 4 (skip) when not root, or libvirtd, qemu or the guest image
# (kernel download on first use) are unavailable.  Takes about 45-55 s on
# 2 vCPUs, mostly TCG boots and point 2's boot timeout (25 s).  Kept
# between runs, as caches: the kernel .debs (scripts/build-guest-image.sh)
# and libvirt's probe of qemu (IOV_LIBVIRT_CACHE, default
# /var/cache/iovbench/libvirt; IOV_LIBVIRT_CACHE= to probe afresh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/libvirtd.sh"
require_root
require_cmd ip sqlite3 virsh unshare timeout qemu-system-x86_64

GUEST_BIN=$BUILD/bin/iovbench-guest-agent
[ -x "$GUEST_BIN" ] || fail "no $GUEST_BIN"
[ -x "$SRC/scripts/build-guest-image.sh" ] || skip "no scripts/build-guest-image.sh"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

T0=$SECONDS
export IOV_LIBVIRT_CACHE=${IOV_LIBVIRT_CACHE-/var/cache/iovbench/libvirt}
# The guest: kernel and initramfs (the .debs are cached by the script).
timeout 900 "$SRC/scripts/build-guest-image.sh" --out "$TMP/guest" --agent "$GUEST_BIN" >"$TMP/image.log" 2>&1 ||
  skip "cannot build the guest image: $(tail -n 3 "$TMP/image.log")"
log "guest image ready after $((SECONDS - T0)) s"

libvirtd_start 60
log "libvirtd answering after $LV_START_SECS s ($LV_URI)"

BR=iovbr0
ip -n "$LV_NS" link add "$BR" type bridge || fail "cannot create bridge $BR"
ip -n "$LV_NS" addr add 198.18.0.1/24 dev "$BR"
ip -n "$LV_NS" link set "$BR" up

# The machine: TCG, small, the serial console appended to one file (both
# VMs of point 2 write to it; for reading after a failure).
lv_template "$TMP/template.xml" pc 384 "$TMP/console.log"
mkdir -p "$TMP/xml"

# start_agent_a NAME CMDLINE: the VM host agent in the daemon's netns.
start_agent_a() {
  rm -f "$TMP/a.ready"
  start_bg "$LV_NS" "$TMP/agent-$1.log" "$AGENT" --listen "ipc://$TMP/a.sock" \
    --guest-listen tcp://198.18.0.1:7701 --name a --ready-file "$TMP/a.ready" \
    --libvirt "$LV_URI" --vm-type qemu --virtio-bridge "$BR" --vm-template "$TMP/template.xml" \
    --vm-kernel "$TMP/guest/vmlinuz" --vm-initrd "$TMP/guest/initrd.img" --vm-cmdline "$2" \
    --vm-guest-endpoint tcp://198.18.0.1:7701 --vm-boot-timeout "$3" --vm-xml-dir "$TMP/xml" \
    --vm-pid-dir "$LV_DIR/run/qemu" "${@:4}"
  AGENT_A=$LAST_PID
  wait_for 15 test -e "$TMP/a.ready" || fail "agent a not ready: $(cat "$TMP/agent-$1.log")"
}
start_bg "$LV_NS" "$TMP/agent-b.log" "$AGENT" --listen "ipc://$TMP/b.sock" --guest-listen none --name b \
  --ready-file "$TMP/b.ready"
wait_for 15 test -e "$TMP/b.ready" || fail "agent b not ready: $(cat "$TMP/agent-b.log")"

# ours_running: names of running domains of this run (iovb-*-a-vmNN).
ours_running() { lv_virsh list --name 2>/dev/null | grep -E '^iovb-.*-a-vm[0-9]+$' | sort; }
# qemu_of NAME: PID of the qemu process running domain NAME ('' if none).
qemu_of() {
  local p
  for p in $(lv_qemu_pids); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "-name guest=$1," && { echo "$p"; return 0; }
  done
  return 1
}
# n_running N: exactly N of our domains are running.
n_running() { [ "$(ours_running | wc -l)" -eq "$1" ]; }
# nothing_left: no domain at all (running or defined) and no qemu.
nothing_left() {
  ! lv_virsh list --all --name 2>/dev/null | grep -q . && [ -z "$(lv_qemu_pids)" ] && [ -z "$(lv_ns_pids)" ]
}

# what_is_left: for failure messages.
what_is_left() {
  local p
  echo "domains: $(lv_virsh list --all --name | tr '\n' ' ')"
  for p in $(lv_qemu_pids) $(lv_ns_pids); do
    echo "pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
  done
  find "$LV_DIR/run" -name '*.pid' -exec grep -H . {} + 2>/dev/null
}

# run_plan NAME N: run plan NAME in the background, check that N domains
# come up, each run by a qemu process of the daemon; leaves coord's
# status in RC.
run_plan() {
  local plan=$1 n=$2 d p
  start_bg - "$TMP/coord-$plan.log" timeout 300 "$COORD" run "$TMP/$plan.plan" --results "$TMP/results"
  local coord=$LAST_PID
  wait_for 60 n_running "$n" || fail "$plan: $n domains not running after 60 s: $(ours_running | tr '\n' ' ')
$(tail -n 20 "$TMP/coord-$plan.log" "$TMP"/agent-a*.log)"
  DOMS=$(ours_running)
  for d in $DOMS; do
    p=$(qemu_of "$d") || fail "$plan: no qemu process of the daemon runs $d"
    [ "$(readlink "/proc/$p/ns/net")" = "$(readlink "/proc/$LV_PID/ns/net")" ] || fail "$plan: qemu $p not in $LV_NS"
    log "$plan: $d runs as qemu pid $p"
  done
  wait "$coord"
  RC=$?
  cat "$TMP/coord-$plan.log" >&2
}

# ---- 1. one VM, real guest agent, real traffic ----------------------------
# The host agent hands the VM its address (--vm-net), and so vouches for it.
start_agent_a one "console=ttyS0" 90 --vm-net 198.18.0.2/24
cat >"$TMP/one.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 198.18.0.1
b = ipc://$TMP/b.sock
b.data = 198.18.0.1

[virtio_one]
sender = a
receiver = b
workload = tcp_stream
topology = many-to-one
path = virtio
vms = 1
duration = 2s
sample_interval = 500ms
timeout = 60s
PLAN
T2=$SECONDS
run_plan one 1
log "point 1 took $((SECONDS - T2)) s"
[ "$RC" -eq 0 ] || fail "coord exit status $RC (console: $(tail -n 20 "$TMP/console.log" 2>/dev/null))"
grep -q "started 1 virtio VMs" "$TMP/agent-one.log" || fail "agent a did not start a virtio VM"
grep -q "VMs up, their guest agents registered" "$TMP/agent-one.log" || fail "the guest agent did not register"
db=$(ls -d "$TMP"/results/*-one | head -1)/results.db
expect_eq "points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 1
expect_eq "sender" "$(sql "$db" "SELECT a.name FROM flow f JOIN agent a ON a.id = f.agent_id WHERE f.role = 'sender'")" \
  "a/$DOMS"
bytes=$(sql "$db" "SELECT coalesce(sum(r.bytes), 0) FROM result r JOIN flow f ON f.id = r.flow_id WHERE f.role = 'receiver'")
[ "${bytes:-0}" -gt 0 ] || fail "no bytes measured"
log "point 1: $bytes bytes over virtio"
grep -q "type=.bridge." "$TMP/xml/$DOMS.xml" || fail "$DOMS has no bridge interface"
grep -q "$BR" "$TMP/xml/$DOMS.xml" || fail "$DOMS not on $BR"
wait_for 30 nothing_left || fail "left after point 1: $(what_is_left)"
stop_bg "$AGENT_A"

# ---- 2. two VMs (vm-vm-same), an address each from the host agent --------
start_agent_a two "console=ttyS0" 90 --vm-net 198.18.0.20/24
cat >"$TMP/two.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.data = 198.18.0.1

[global]
sender = a
topology = vm-vm-same
path = virtio
vms = 1
duration = 2s
sample_interval = 500ms
timeout = 60s
reuse_vms = yes

[virtio_pair]
workload = tcp_stream

[virtio_pair_rr]
workload = tcp_rr
msg_size = 1
response_size = 1

[virtio_pair_udp_rr]
workload = udp_rr
msg_size = 64
response_size = 64
PLAN
T3=$SECONDS
: >"$TMP/console.log"
run_plan two 2
log "point 2 took $((SECONDS - T3)) s"
expect_eq "coord exit status (point 2)" "$RC" 0
grep -q "started 2 virtio VMs" "$TMP/agent-two.log" || fail "agent a did not start 2 virtio VMs"
grep -q "2 virtio VMs up, their guest agents registered" "$TMP/agent-two.log" || fail "the guests did not register"
db2=$(ls -d "$TMP"/results/*-two | head -1)/results.db
expect_eq "points ok (stream, tcp_rr, udp_rr between the two VMs)" "$(sql "$db2" "SELECT count(*) FROM point WHERE status = 'ok'")" 3
# The same two VMs served all three points (reuse_vms).
expect_eq "VM start-ups" "$(grep -c "started 2 virtio VMs" "$TMP/agent-two.log")" 1
# The traffic went through each VM's virtio NIC: its own queues'
# interrupt counters (sampled by the guest agent) moved in the stream point.
bad=$(sql "$db2" "SELECT a.name FROM agent a WHERE a.kind = 'guest' AND a.name LIKE '%-two-%' AND
  (SELECT COALESCE(sum(i.count), 0) FROM irq_sample i JOIN point p ON p.id = i.point_id
   WHERE i.agent_id = a.id AND p.test = 'virtio_pair' AND i.name GLOB 'virtio*-[io][nu]*') = 0")
[ -z "$bad" ] || fail "no virtio queue interrupts counted in: $bad"
# What each VM cost the host, from its real qemu process's threads: vCPU
# time under TCG for every interval but the first of each point.
bad=$(sql "$db2" "SELECT count(*) FROM vm_cpu_sample WHERE vcpu_ns = 0 OR total_ns < vcpu_ns")
expect_eq "host CPU samples without vCPU time" "$bad" 0
[ "$(sql "$db2" "SELECT count(*) FROM vm_cpu_sample")" -ge 6 ] || fail "too few host CPU samples of the VMs"
"$COORD" report --json "$(dirname "$db2")" >"$TMP/report2.json" || fail "coord report --json failed"
python3 - "$TMP/report2.json" <<'PY' || fail "no per-VM host CPU in the report"
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["points"]:
    assert len(p["vm_cpu"]) == 2, (p["test"], p["vm_cpu"])
    for v in p["vm_cpu"]:
        assert v["host_vcpu_ns"] > 0 and v["host_ns"] >= v["host_vcpu_ns"], v
PY
bytes2=$(sql "$db2" "SELECT sum(r.bytes) FROM result r JOIN flow f ON f.id = r.flow_id WHERE f.role = 'receiver'")
[ "${bytes2:-0}" -gt 0 ] || fail "no bytes between the two VMs"
grep -q "iovbench.net=198.18.0.21/24" "$TMP"/xml/*vm02*.xml || fail "VM 2 was not handed 198.18.0.21/24"
wait_for 30 nothing_left || fail "left after point 2: $(what_is_left)"
stop_bg "$AGENT_A"
check_logs "$TMP"/agent-*.log "$TMP"/coord-*.log
log "ok after $((SECONDS - T0)) s"
