# shellcheck shell=bash
# Servers with an emulated SR-IOV NIC, for integration tests (sourced, bash,
# after lib.sh and libvirtd.sh).
#
#   srv_start N [MEM_MIB]  start N "servers": TCG guests (q35, 1 vCPU) of a
#                          private libvirtd, each with one emulated Intel
#                          82576 (qemu's igb: SR-IOV, 7 VFs) on bridge
#                          SRV_BR 198.18.0.1/24 in the daemon's netns.
#                          Each boots the test image built with
#                          --host-agent and runs iovbench-agent as host
#                          agent sK (K = 1..N) on its PF eth0 198.18.0.(1+K),
#                          with --vm-backend netns: its "VMs" are network
#                          namespaces, each with a VF and a guest agent,
#                          addresses 198.18.0.(10K+i)/24.
#                          Waits until every agent listens.
#   srv_console K          the console log of server K (the agent's log)
#   srv_endpoint K         tcp://198.18.0.(1+K):7700
#   srv_check_clean WHAT [HOSTS]
#                          after a run: a short host-host run (s1 -> s2, plus
#                          the [hosts] lines HOSTS) finds no guest
#                          registered anywhere and no VF on either PF
#                          (their inventories); fails naming WHAT
#
# The servers' agents run --plaintext (the image holds no keys), so the
# tests run coord with --plaintext, which still speaks CURVE to every
# agent that offers a key (the host agents on this machine).
#
# Needs qemu >= 8.0 for igb (Debian 12: qemu-system-x86 from
# bookworm-backports, scripts/setup.sh installs it); skips otherwise.
# Also sets SRV_IMAGE (the image folder) and GUEST_BIN.

SRV_BR=iovbr0
SRV_N=0

srv_endpoint() { echo "tcp://198.18.0.$((1 + $1)):7700"; }
srv_console() { echo "$TMP/console-s$1.log"; }

_srv_has_igb() { timeout 30 qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"'; }

# srv_image: build the image once per test (kernel debs are cached).
srv_image() {
  GUEST_BIN=$BUILD/bin/iovbench-guest-agent
  [ -x "$GUEST_BIN" ] || fail "no $GUEST_BIN"
  SRV_IMAGE=$TMP/image
  local t0=$SECONDS
  timeout 900 "$SRC/scripts/build-guest-image.sh" --out "$SRV_IMAGE" --agent "$GUEST_BIN" \
    --host-agent "$AGENT" >"$TMP/image.log" 2>&1 ||
    skip "cannot build the guest image: $(tail -n 3 "$TMP/image.log")"
  log "image with host agent ready after $((SECONDS - t0)) s ($(du -h "$SRV_IMAGE/initrd.img" | cut -f1) initrd)"
}

# _srv_listening K: the agent of server K answers on its port (from the
# daemon's netns, where the bridge is).
_srv_listening() {
  ip netns exec "$LV_NS" timeout 2 bash -c "exec 3<>/dev/tcp/198.18.0.$((1 + $1))/7700" 2>/dev/null
}

srv_start() {
  local n=$1 mem=${2:-512} k cmd
  require_cmd qemu-system-x86_64 virsh
  _srv_has_igb || skip "qemu-system-x86_64 $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') has no igb device (SR-IOV emulation needs qemu >= 8.0: scripts/setup.sh installs it from bookworm-backports)"
  srv_image
  [ -n "$LV_PID" ] || libvirtd_start 60
  if ! ip -n "$LV_NS" link show "$SRV_BR" >/dev/null 2>&1; then
    ip -n "$LV_NS" link add "$SRV_BR" type bridge || fail "cannot create bridge $SRV_BR"
    ip -n "$LV_NS" addr add 198.18.0.1/24 dev "$SRV_BR"
    ip -n "$LV_NS" link set "$SRV_BR" up
  fi
  for k in $(seq "$n"); do
    cmd="console=ttyS0 iovbench.role=host iovbench.net=198.18.0.$((1 + k))/24"
    cmd="$cmd iovbench.agent=--name,s$k,--listen,tcp://*:7700,--guest-listen,tcp://*:7701,--plaintext"
    cmd="$cmd,--vm-backend,netns,--sriov-pf,eth0,--vm-guest-endpoint,tcp://198.18.0.$((1 + k)):7701"
    cmd="$cmd,--vm-net,198.18.0.$((10 * k))/24,--vm-boot-timeout,30"
    cat >"$TMP/srv-s$k.xml" <<XML
<domain type='qemu'>
  <name>iovbtest-s$k</name>
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$SRV_IMAGE/vmlinuz</kernel>
    <initrd>$SRV_IMAGE/initrd.img</initrd>
    <cmdline>$cmd</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <interface type='bridge'>
      <source bridge='$SRV_BR'/>
      <mac address='52:54:00:69:6f:0$k'/>
      <model type='igb'/>
    </interface>
    <serial type='file'><source path='$(srv_console "$k")'/><target port='0'/></serial>
  </devices>
</domain>
XML
    lv_virsh create "$TMP/srv-s$k.xml" >"$TMP/srv-s$k.create" 2>&1 ||
      fail "libvirt did not start server s$k: $(cat "$TMP/srv-s$k.create")"
  done
  SRV_N=$n
  on_fail _srv_dump_consoles
  local t0=$SECONDS
  for k in $(seq "$n"); do
    wait_for 120 _srv_listening "$k" ||
      fail "server s$k's agent not listening after 120 s: $(tail -n 30 "$(srv_console "$k")")"
  done
  log "$n server(s) with emulated SR-IOV up, agents listening after $((SECONDS - t0)) s"
}

# On failure: the end of each server's console (its host agent's log).
_srv_dump_consoles() {
  local k
  for k in $(seq "$SRV_N"); do
    echo "--- last lines of server s$k's console ($(srv_console "$k")):"
    tail -n 60 "$(srv_console "$k")" 2>/dev/null
  done
}

srv_check_clean() {
  local what=$1 extra=${2:-} dir
  cat >"$TMP/clean.plan" <<PLAN
[hosts]
s1 = $(srv_endpoint 1)
s1.data = 198.18.0.2
s2 = $(srv_endpoint 2)
s2.data = 198.18.0.3
$extra

[clean]
sender = s1
receiver = s2
workload = tcp_rr
duration = 1s
timeout = 30s
PLAN
  rm -rf "$TMP/clean"
  ip netns exec "$LV_NS" timeout 120 "$COORD" run "$TMP/clean.plan" --plaintext --results "$TMP/clean" >"$TMP/clean.log" 2>&1 ||
    fail "$what: the run after it failed: $(cat "$TMP/clean.log")"
  dir=$(ls -d "$TMP"/clean/*-clean | head -1)
  expect_eq "$what: guests registered after it" \
    "$(sql "$dir/results.db" "SELECT count(*) FROM agent WHERE kind = 'guest'")" 0
  python3 - "$dir" <<'PY' || fail "$what: VFs left on a PF after it"
import json, os, sys
for h in ("s1", "s2"):
    inv = json.load(open(os.path.join(sys.argv[1], "inventory", h + ".json")))
    pfs = [n for n in inv["nics"] if n.get("sriov")]
    assert pfs and all(n["sriov_numvfs"] == 0 and not n["vfs"] for n in pfs), (h, pfs)
PY
}
