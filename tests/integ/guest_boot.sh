#!/usr/bin/env bash
# A real guest: boot the test image (scripts/build-guest-image.sh: Debian 12
# kernel, busybox initramfs, iovbench-guest-agent as part of /init) under
# QEMU TCG with a virtio NIC on a tap in a namespace, and check that
#   1. the guest agent registers with host agent 'a' over TCP on the tap,
#      with its settings from the kernel command line (iovbench.host,
#      vm_id, data; iovbench.net for /init);
#   2. coord runs a many-to-one point with that guest as the sender and host
#      agent 'b' (same namespace, 198.18.0.1) as the receiver, and the
#      bytes arrive.
# The guest agent retries its host agent forever, so the guest never stops
# by itself here: qemu is killed by PID on exit, and the namespace deleted.
# Skips (exit 4) when not root, without qemu-system-x86_64, or when the
# image cannot be built because apt cannot download the kernel (no
# network).  The image's .debs are cached in /var/cache/iovbench/guest-image
# (the build script's default); the image itself is built in $TMP.
# IOV_GUEST_TIMEOUT (default 90) bounds the wait for the registration.
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip sqlite3 qemu-system-x86_64 timeout

GUEST_BIN=$BUILD/bin/iovbench-guest-agent
[ -x "$GUEST_BIN" ] || fail "no $GUEST_BIN"
[ -e /dev/net/tun ] || skip "no /dev/net/tun"
REG_TIMEOUT=${IOV_GUEST_TIMEOUT:-90}
t0=$SECONDS

# ---- image --------------------------------------------------------------
if ! "$SRC/scripts/build-guest-image.sh" --out "$TMP/image" --agent "$GUEST_BIN" >"$TMP/build.log" 2>&1; then
  cat "$TMP/build.log" >&2
  if grep -qE 'apt-get (download|install) .*failed|needs root' "$TMP/build.log"; then
    skip "cannot build the guest image (no network for apt?): $(grep error: "$TMP/build.log" | tail -1)"
  fi
  fail "scripts/build-guest-image.sh failed"
fi
log "image built in $((SECONDS - t0)) s: $(tail -1 "$TMP/build.log")"

# ---- network: a namespace with a tap, two host agents --------------------
setup_ns H
TAP=iovtap0
ip -n "$H" tuntap add dev "$TAP" mode tap || fail "cannot create tap $TAP in $H"
ip -n "$H" addr add 198.18.0.1/24 dev "$TAP"
ip -n "$H" link set "$TAP" up

start_bg "$H" "$TMP/agent-a.log" "$AGENT" --listen "ipc://$TMP/a.sock" --guest-listen tcp://198.18.0.1:7701 \
  --name a --ready-file "$TMP/a.ready"
start_bg "$H" "$TMP/agent-b.log" "$AGENT" --listen "ipc://$TMP/b.sock" --guest-listen none --name b \
  --ready-file "$TMP/b.ready"
wait_for 15 test -e "$TMP/a.ready" || fail "agent a not ready: $(cat "$TMP/agent-a.log")"
wait_for 15 test -e "$TMP/b.ready" || fail "agent b not ready: $(cat "$TMP/agent-b.log")"

# ---- the guest ----------------------------------------------------------
# timeout bounds qemu even if the cleanup never runs; the cleanup kills it
# by PID (and everything left in the namespace before deleting it).
# CURVE to the relay, set up by hand as a user would for a guest that its
# host agent did not start: a key pair of its own, let in at the host
# (KEYDIR/guests/), and the host agent's public key.
guest_opts vm01 >/dev/null || fail "cannot make the guest's key"
GKEYS="iovbench.host_key=$(key_of "$TMP/keys/agent.key") iovbench.key=$(key_of "$TMP/keys/.guest-vm01/coord.key_secret")"

t_boot=$SECONDS
start_bg "$H" "$TMP/qemu.log" timeout -s KILL 600 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
  -nodefaults -serial "file:$TMP/console.log" \
  -netdev tap,id=n0,ifname="$TAP",script=no,downscript=no \
  -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02 \
  -kernel "$TMP/image/vmlinuz" -initrd "$TMP/image/initrd.img" \
  -append "console=ttyS0 quiet iovbench.host=tcp://198.18.0.1:7701 iovbench.vm_id=vm01 iovbench.data=198.18.0.2 iovbench.net=198.18.0.2/24 $GKEYS"
QEMU_PID=$LAST_PID
PASSED=0 # read by the deferred command
defer "[ \$PASSED = 1 ] || { log 'guest console:'; sed 's/^/  console: /' '$TMP/console.log' >&2; }"

registered() { grep -q "guest 'vm01' registered" "$TMP/agent-a.log"; }
until registered; do
  kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu exited before the guest registered: $(cat "$TMP/qemu.log")"
  [ $((SECONDS - t_boot)) -lt "$REG_TIMEOUT" ] || fail "guest vm01 did not register within $REG_TIMEOUT s: $(cat "$TMP/agent-a.log")"
  sleep 0.2
done
log "guest vm01 registered $((SECONDS - t_boot)) s after qemu started"
grep -q "eth0 52:54:00:00:00:02 = 198.18.0.2/24" "$TMP/console.log" || fail "/init did not configure eth0 as asked"
grep -q "vm id 'vm01' (from cmdline)" "$TMP/console.log" || fail "the guest agent did not take its vm id from the command line"

# ---- traffic: guest -> host agent b ------------------------------------
cat >"$TMP/guest.plan" <<PLAN
[hosts]
a = ipc://$TMP/a.sock
a.guests = 1
# A guest started by hand: the plan vouches for the address it was given.
a.guest_data = vm01=198.18.0.2
b = ipc://$TMP/b.sock
b.data = 198.18.0.1

[global]
sender = a
receiver = b
duration = 2s
sample_interval = 500ms
timeout = 30s

[guest_stream]
workload = tcp_stream
topology = many-to-one
vms = 1
PLAN
t_run=$SECONDS
timeout 120 "$COORD" run "$TMP/guest.plan" --results "$TMP/results" >"$TMP/out.txt" 2>"$TMP/err.txt"
rc=$?
cat "$TMP/out.txt" "$TMP/err.txt" >&2
expect_eq "coord exit status" "$rc" 0
db=$(ls -d "$TMP"/results/*-guest | head -1)/results.db
[ -f "$db" ] || fail "no results.db under $TMP/results"
expect_eq "points ok" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 1
sender=$(sql "$db" "SELECT DISTINCT a.name FROM flow f JOIN agent a ON a.id = f.agent_id WHERE f.role = 'sender'")
expect_eq "sender" "$sender" "a/vm01"
sent=$(sql "$db" "SELECT coalesce(sum(s.bytes), 0) FROM sample s JOIN flow f ON f.id = s.flow_id WHERE f.role = 'sender'")
recv=$(sql "$db" "SELECT coalesce(sum(s.bytes), 0) FROM sample s JOIN flow f ON f.id = s.flow_id WHERE f.role = 'receiver'")
[ "$recv" -gt 1000000 ] || fail "the receiver got only $recv bytes from the guest"
[ "$sent" -ge "$recv" ] || fail "the receiver counted more bytes ($recv) than the guest sent ($sent)"
log "coord run with the guest as sender took $((SECONDS - t_run)) s"

check_logs "$TMP/agent-a.log" "$TMP/agent-b.log"
# shellcheck disable=SC2034 # read by the deferred command
PASSED=1
log "PASS in $((SECONDS - t0)) s ($recv bytes from the guest)"
