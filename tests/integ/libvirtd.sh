# shellcheck shell=bash
# A private libvirtd for integration tests (sourced, bash, after lib.sh).
#
#   libvirtd_start     start it; sets LV_NS, LV_DIR, LV_PID, LV_URI (exported)
#                      and LV_START_SECS (how long it took to answer)
#   libvirtd_stop      stop it and everything it started (also deferred)
#   lv_virsh ARGS...   virsh on LV_URI, bounded by a timeout
#   lv_qemu_pids       PIDs of the qemu processes the daemon runs now
#
# Debian 12 (libvirt 9.0) ships the monolithic libvirtd only (no
# virtqemud).  Packages: libvirt-daemon-system (it also creates the
# libvirt-qemu user, without which the qemu driver refuses to load even
# with user = "root" in qemu.conf) and libvirt-clients; its postinst
# starts nothing where PID 1 is not systemd.
#
# The daemon runs as root in system mode, in its own network namespace
# (LV_NS, from setup_ns: bridges and taps it makes stay there, the tests
# put their own agents in it too) and its own mount namespace, where
# /run is a private tmpfs and /etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt are bind
# mounts of folders under LV_DIR (in TMP): nothing of the host's libvirt
# is read or written, and the socket, pid files and logs can be read from
# outside as files under LV_DIR:
#
#   LV_DIR/etc        libvirtd.conf, qemu.conf (ours; see below)
#   LV_DIR/run        /run/libvirt: libvirt-sock, qemu/<dom>.pid
#   LV_DIR/log        libvirtd.log, qemu/<dom>.log (stdio_handler=file)
#
# Config: no authentication on a root-only socket (no polkit, no D-Bus),
# no TLS/TCP listener, no cgroups, no per-domain mount namespaces, no
# security driver, qemu as root (our files live in a 0700 TMP), stdio to
# files (no virtlogd), no lock manager.  Nothing needs a system service.
#
# Start-up: about 8 s on 2 vCPUs, nearly all of it libvirt probing the
# capabilities of the two qemu-system binaries under TCG.  With
# IOV_LIBVIRT_CACHE=DIR the probe results are copied in from DIR before the
# start (and saved there after the first start): then under 1 s.  libvirt
# re-probes by itself when qemu or libvirt changed.
#
# Stopping (libvirtd_stop, also run by lib.sh's cleanup through defer):
# destroy the domains through the daemon, then SIGTERM the daemon by PID
# (bounded wait, then SIGKILL), then SIGKILL any qemu it left, found by
# PID (its pid files, and every process in its mount namespace: qemu
# inherits the daemon's namespace with namespaces=[]).  The folder goes
# with TMP; the netns with lib.sh's cleanup.

LV_NS='' LV_DIR='' LV_PID='' LV_URI=''
LIBVIRTD=${LIBVIRTD:-$(command -v libvirtd || echo /usr/sbin/libvirtd)}

lv_virsh() { timeout 30 virsh -q -c "$LV_URI" "$@"; }

# lv_mntns PID: the mount namespace of PID ('' if gone).
lv_mntns() { readlink "/proc/$1/ns/mnt" 2>/dev/null; }

# PIDs in the daemon's mount namespace other than the daemon (qemu).
# LV_MNTNS is taken at start, so this works after the daemon is gone.
lv_ns_pids() {
  local p
  [ -n "${LV_MNTNS:-}" ] || return 0
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" != "$LV_PID" ] || continue
    [ "$(lv_mntns "$p")" = "$LV_MNTNS" ] && echo "$p"
  done
  return 0
}

# lv_qemu_pids: qemu processes of the daemon, by its pid files
# (run/qemu/<domain>.pid; driver.pid there is the daemon's own).
lv_qemu_pids() {
  local f p
  for f in "$LV_DIR"/run/qemu/*.pid; do
    [ -e "$f" ] || continue
    [ "${f##*/}" != driver.pid ] || continue
    p=$(cat "$f" 2>/dev/null) || continue
    [ -n "$p" ] && [ "$p" != "$LV_PID" ] && kill -0 "$p" 2>/dev/null && echo "$p"
  done
  return 0
}

# lv_write_conf DIR: our libvirtd.conf and qemu.conf into DIR (also used
# inside the nested-guest server, tests/integ/sriov_nested.sh).
lv_write_conf() {
  cat >"$1/libvirtd.conf" <<'EOF'
# iovbench test daemon: root-only socket, no polkit, no TCP/TLS.
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
log_level = 3
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  cat >"$1/qemu.conf" <<'EOF'
# iovbench test daemon: no system services, no cgroups, files owned by root.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
  # No autostarted networks or domains.
  rm -rf "$1/qemu/networks/autostart" "$1/qemu/autostart" 2>/dev/null || true
}

_lv_write_config() {
  cp -a /etc/libvirt/. "$LV_DIR/etc/" 2>/dev/null || true
  lv_write_conf "$LV_DIR/etc"
}

# lv_template FILE MACHINE MIB CONSOLE: a domain template for TCG guests
# of the test image (the host agent adds kernel, NIC and SMBIOS), serial
# console appended to the file CONSOLE.
lv_template() {
  cat >"$1" <<XML
<domain type='qemu'>
  <name>template</name>
  <memory unit='MiB'>$3</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='$2'>hvm</type></os>
  <features><acpi/></features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <serial type='file'><source path='$4' append='on'/><target port='0'/></serial>
  </devices>
</domain>
XML
}

# libvirtd_start [SECONDS]: start the daemon, wait until it answers.
libvirtd_start() {
  local secs=${1:-30} t0=$SECONDS d
  [ -x "$LIBVIRTD" ] || skip "no libvirtd (apt-get install libvirt-daemon-system)"
  command -v virsh >/dev/null || skip "no virsh (apt-get install libvirt-clients)"
  command -v unshare >/dev/null || skip "needs unshare"
  # The qemu driver is a loadable module of libvirtd.
  compgen -G '/usr/lib*/libvirt/connection-driver/libvirt_driver_qemu.so' >/dev/null ||
    compgen -G '/usr/lib*/*/libvirt/connection-driver/libvirt_driver_qemu.so' >/dev/null || skip "no libvirt qemu driver (apt-get install libvirt-daemon-driver-qemu)"
  getent passwd libvirt-qemu >/dev/null || skip "no user libvirt-qemu: the qemu driver needs it (apt-get install libvirt-daemon-system)"
  setup_ns LV_NS
  LV_DIR=$TMP/libvirt
  for d in etc run lib cache log; do mkdir -p "$LV_DIR/$d" || fail "cannot create $LV_DIR/$d"; done
  _lv_write_config
  if [ -n "${IOV_LIBVIRT_CACHE:-}" ] && [ -d "$IOV_LIBVIRT_CACHE/qemu" ]; then
    cp -a "$IOV_LIBVIRT_CACHE/." "$LV_DIR/cache/" || true
  fi
  LV_URI="qemu:///system?socket=$LV_DIR/run/libvirt-sock"
  # ip netns exec and unshare exec, and so does sh: $! is libvirtd itself.
  # shellcheck disable=SC2016
  ip netns exec "$LV_NS" unshare -m --propagation private sh -ec '
    d=$1; shift
    mount -t tmpfs -o mode=0755 iovb-run /run
    mkdir -p /run/libvirt
    mount --bind "$d/run" /run/libvirt
    mount --bind "$d/etc" /etc/libvirt
    mkdir -p /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
    mount --bind "$d/lib" /var/lib/libvirt
    mount --bind "$d/cache" /var/cache/libvirt
    mount --bind "$d/log" /var/log/libvirt
    exec "$@"' lv "$LV_DIR" "$LIBVIRTD" --config /etc/libvirt/libvirtd.conf \
    >"$LV_DIR/libvirtd.out" 2>&1 &
  LV_PID=$!
  defer libvirtd_stop
  # The pid is ours once the exec chain has reached libvirtd.
  wait_for 10 lv_is_libvirtd || fail "libvirtd did not start: $(cat "$LV_DIR/libvirtd.out")"
  LV_MNTNS=$(lv_mntns "$LV_PID")
  lv_answers_or_died
  # Never mistake the host's namespace for the daemon's (lv_ns_pids kills).
  if [ -z "$LV_MNTNS" ] || [ "$LV_MNTNS" = "$(lv_mntns $$)" ] || [ "$LV_MNTNS" = "$(lv_mntns 1)" ]; then
    LV_MNTNS=''
    fail "libvirtd ($LV_PID) is not in a mount namespace of its own: $(cat "$LV_DIR/libvirtd.out")"
  fi
  wait_for "$secs" lv_answers ||
    fail "libvirtd not answering on $LV_URI after ${secs}s: $(tail -n 5 "$LV_DIR/libvirtd.out" "$LV_DIR/log/libvirtd.log" 2>&1)"
  LV_START_SECS=$((SECONDS - t0))
  # Keep the probed QEMU capabilities for the next start (libvirt checks
  # them against the qemu binaries and its own version itself).
  if [ -n "${IOV_LIBVIRT_CACHE:-}" ] && [ ! -d "$IOV_LIBVIRT_CACHE/qemu" ]; then
    if mkdir -p "$IOV_LIBVIRT_CACHE"; then cp -a "$LV_DIR/cache/." "$IOV_LIBVIRT_CACHE/" || true; fi
  fi
  export LV_URI LV_START_SECS
}

lv_is_libvirtd() {
  lv_answers_or_died
  [ "$(cat "/proc/$LV_PID/comm" 2>/dev/null)" = libvirtd ]
}

lv_answers_or_died() {
  kill -0 "$LV_PID" 2>/dev/null ||
    fail "libvirtd exited: $(tail -n 3 "$LV_DIR/libvirtd.out" "$LV_DIR/log/libvirtd.log" 2>&1)"
}

lv_answers() {
  lv_answers_or_died
  [ -S "$LV_DIR/run/libvirt-sock" ] && timeout 5 virsh -q -c "$LV_URI" version >/dev/null 2>&1
}

# libvirtd_stop: idempotent, bounded (about 20 s at worst).
libvirtd_stop() {
  local dom p
  [ -n "$LV_PID" ] || return 0
  if kill -0 "$LV_PID" 2>/dev/null; then
    for dom in $(timeout 10 virsh -q -c "$LV_URI" list --name 2>/dev/null); do
      timeout 10 virsh -q -c "$LV_URI" destroy "$dom" >/dev/null 2>&1 || true
    done
    kill "$LV_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$LV_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$LV_PID" 2>/dev/null || true
  fi
  for p in $(lv_qemu_pids) $(lv_ns_pids); do kill -9 "$p" 2>/dev/null || true; done
  for p in $(lv_qemu_pids) $(lv_ns_pids); do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  LV_PID=''
}
