#!/usr/bin/env bash
# packages: the three .deb packages, built with cpack from a build tree of
# its own, checked with dpkg-deb, installed for real with apt into a fresh
# Debian 12 root (mmdebstrap, chroot), and the installed agent started as
# its systemd unit starts it (this machine runs no systemd: the test is
# the supervisor).  coord from the build then runs a 1 s tcp_rr point
# between it and a second agent from the build, CURVE on.
#
# Topology:
#
#   ns T (the test side)                      ns A, chroot ROOT
#   coord (build), agent b (build)            iovbench-agent from the package,
#   198.18.7.1/24  <========= veth =========> 198.18.7.2/24, its options
#                                             from ROOT/etc/iovbench/agent.env
#
# Needs root, cmake, cpack, dpkg-deb, mmdebstrap and the Debian mirror
# (skipped, saying which, without them).
source "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ss sqlite3 cmake cpack dpkg-deb dpkg-buildflags readelf mmdebstrap chroot nsenter python3
[ "${IOV_SANITIZE:-0}" = 0 ] ||
  skip "a sanitizer build: the packages are built from source without sanitizers, and the plain build's run checks them"

VERSION=$("$COORD" --version | awk '{print $NF}')
PKGBUILD=$TMP/build
ROOT=$TMP/root

# 1. Build and package, in a tree of our own (never IOV_BUILDDIR).
t0=$SECONDS
# As the README says to: scripts/package.sh, with dpkg-buildflags.
IOV_BUILD_DIR=$PKGBUILD "$SRC/scripts/package.sh" >"$TMP/build.log" 2>&1 ||
  { tail -50 "$TMP/build.log" >&2; fail "scripts/package.sh failed"; }
log "built and packaged in $((SECONDS - t0)) s"
# Compiled with Debian's hardening flags: relro (LDFLAGS), the stack
# protector and _FORTIFY_SOURCE's checked calls (CFLAGS, CPPFLAGS).
for b in coord iovbench-agent iovbench-guest-agent; do
  readelf -lW "$PKGBUILD/bin/$b" | grep -q GNU_RELRO || fail "$b: not linked with -z relro (dpkg-buildflags' LDFLAGS)"
  syms=$(readelf --dyn-syms -W "$PKGBUILD/bin/$b")
  grep -q '__stack_chk_fail' <<<"$syms" || fail "$b: no stack protector (dpkg-buildflags' CFLAGS)"
  grep -qE '__[a-z]+_chk' <<<"$(grep -v __stack_chk <<<"$syms")" || fail "$b: no _FORTIFY_SOURCE checks (dpkg-buildflags' CPPFLAGS)"
done

deb() { ls "$PKGBUILD/$1_${VERSION}-"*.deb 2>/dev/null | head -1; }
DEB_COORD=$(deb iovbench-coord)
DEB_AGENT=$(deb iovbench-agent)
DEB_GUEST=$(deb iovbench-guest-agent)
for d in "$DEB_COORD" "$DEB_AGENT" "$DEB_GUEST"; do [ -n "$d" ] || fail "cpack made no package of version $VERSION: $(ls "$PKGBUILD"/*.deb)"; done
[ "$(ls "$PKGBUILD"/*.deb | wc -l)" -eq 3 ] || fail "cpack made other packages than the three: $(ls "$PKGBUILD"/*.deb)"

# 2. What each package holds and depends on.
field() { dpkg-deb -f "$1" "$2"; }
# has DEB PATH...: each PATH is in DEB.  lacks DEB REGEX: no path matches.
has() {
  local d=$1 p
  shift
  dpkg-deb --contents "$d" | awk '{print $6}' | sed 's#^\.##' >"$TMP/contents"
  for p in "$@"; do grep -qx "$p" "$TMP/contents" || fail "$(basename "$d") does not hold $p"; done
}
lacks() {
  dpkg-deb --contents "$1" | awk '{print $6}' | grep -E "$2" && fail "$(basename "$1") holds files matching $2"
  return 0
}
# depends DEB FIELD PACKAGE...: each PACKAGE is named in FIELD (Depends, Recommends).
depends() {
  local d=$1 f=$2 p
  shift 2
  for p in "$@"; do
    field "$d" "$f" | tr ',' '\n' | awk '{print $1}' | grep -qx "$p" ||
      fail "$(basename "$d"): $f does not name $p: '$(field "$d" "$f")'"
  done
}
for d in "$DEB_COORD" "$DEB_AGENT" "$DEB_GUEST"; do
  expect_eq "$(basename "$d") version" "$(field "$d" Version)" "$VERSION-1"
  [ -n "$(field "$d" Maintainer)" ] || fail "$(basename "$d") has no maintainer"
  [ "$(field "$d" Description | wc -l)" -ge 2 ] || fail "$(basename "$d") has no long description"
  lacks "$d" '/(test_|fuzz_)[^/]*$|flood-agent'
  has "$d" /usr/share/doc/"$(field "$d" Package)"/copyright
done
expect_eq "coord package name" "$(field "$DEB_COORD" Package)" iovbench-coord
expect_eq "agent package name" "$(field "$DEB_AGENT" Package)" iovbench-agent
expect_eq "guest agent package name" "$(field "$DEB_GUEST" Package)" iovbench-guest-agent

has "$DEB_COORD" /usr/bin/coord /usr/share/iovbench/plans/quickstart.plan /usr/share/iovbench/plans/scaling.plan \
  /usr/share/doc/iovbench/README.md /usr/share/doc/iovbench/architecture.md
for p in "$SRC"/plans/*.plan; do has "$DEB_COORD" "/usr/share/iovbench/plans/$(basename "$p")"; done
lacks "$DEB_COORD" '/usr/bin/iovbench|^\./etc/'
depends "$DEB_COORD" Depends libc6 libzmq5 libczmq4 libsqlite3-0
depends "$DEB_COORD" Recommends gnuplot-nox

has "$DEB_AGENT" /usr/bin/iovbench-agent /etc/iovbench/agent.env /usr/lib/systemd/system/iovbench-agent.service \
  /usr/share/iovbench/scripts/build-guest-image.sh /usr/share/iovbench/guest-agent/init.sh
lacks "$DEB_AGENT" '/usr/bin/(coord|iovbench-guest-agent)$'
depends "$DEB_AGENT" Depends iproute2 libc6 libzmq5 libczmq4 libvirt0 libpci3 libmnl0
depends "$DEB_AGENT" Recommends libvirt-daemon-system qemu-system-x86

has "$DEB_GUEST" /usr/bin/iovbench-guest-agent /etc/iovbench/guest.conf \
  /usr/lib/systemd/system/iovbench-guest-agent.service
lacks "$DEB_GUEST" '/usr/bin/(coord|iovbench-agent)$'
depends "$DEB_GUEST" Depends iproute2 libc6 libzmq5 libczmq4
# The guest agent links no libvirt, libpci or libmnl (docs/architecture.md).
field "$DEB_GUEST" Depends | grep -qE 'libvirt|libpci|libmnl|libsqlite' &&
  fail "the guest agent depends on host-only libraries: $(field "$DEB_GUEST" Depends)"

# Conffiles and maintainer scripts.
ctl=$TMP/control
for c in agent:"$DEB_AGENT":/etc/iovbench/agent.env guest:"$DEB_GUEST":/etc/iovbench/guest.conf; do
  IFS=: read -r name d conf <<<"$c"
  rm -rf "$ctl" && dpkg-deb -e "$d" "$ctl" || fail "dpkg-deb -e $d"
  expect_eq "$name conffiles" "$(cat "$ctl/conffiles")" "$conf"
  for s in postinst prerm postrm; do [ -x "$ctl/$s" ] || fail "$(basename "$d") has no executable $s"; done
  grep -qE '^\s*(systemctl|deb-systemd-invoke|deb-systemd-helper|invoke-rc\.d)\s+(enable|start|restart)' \
    "$ctl/postinst" &&
    fail "$(basename "$d")'s postinst enables or starts a service"
done

# Man pages, when this machine has help2man (scripts/setup.sh installs it).
if command -v help2man >/dev/null; then
  has "$DEB_COORD" /usr/share/man/man1/coord.1.gz
  has "$DEB_AGENT" /usr/share/man/man1/iovbench-agent.1.gz
  has "$DEB_GUEST" /usr/share/man/man1/iovbench-guest-agent.1.gz
  zcat "$PKGBUILD/man/iovbench-agent.1.gz" | grep -q '^\.SS "Authentication' ||
    fail "iovbench-agent.1 lacks the Authentication section"
  zcat "$PKGBUILD/man/coord.1.gz" | grep -q '^\.SS "coord run"' || fail "coord.1 lacks 'coord run'"
else
  log "no help2man here: man pages not checked"
fi

# The units, as systemd would read them (paths to our binaries, since
# verify checks that ExecStart exists).
mkdir -p "$TMP/units"
dpkg-deb -x "$DEB_AGENT" "$TMP/x" && dpkg-deb -x "$DEB_GUEST" "$TMP/x" || fail "dpkg-deb -x"
for u in iovbench-agent iovbench-guest-agent; do
  sed "s#/usr/bin/#$PKGBUILD/bin/#" "$TMP/x/usr/lib/systemd/system/$u.service" >"$TMP/units/$u.service"
done
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --man=no "$TMP/units/iovbench-agent.service" "$TMP/units/iovbench-guest-agent.service" \
    >"$TMP/verify.log" 2>&1 || { cat "$TMP/verify.log" >&2; fail "systemd-analyze verify"; }
  log "units verified; exposure: $(systemd-analyze security --offline=true "$TMP/units/iovbench-agent.service" 2>&1 |
    sed -n 's/.*Overall exposure level for \(.*\)$/\1/p'), $(systemd-analyze security --offline=true \
    "$TMP/units/iovbench-guest-agent.service" 2>&1 | sed -n 's/.*Overall exposure level for \(.*\)$/\1/p')"
else
  log "no systemd-analyze here: units not verified"
fi

# 3. A Debian 12 root, from the mirror this machine's apt uses.
mirror=$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/{print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/dists/bookworm/Release", timeout=20)' \
  "$mirror" 2>/dev/null || skip "the Debian mirror $mirror is unreachable: no root to install the packages into"
# Cleanup (run in reverse): unmount, then remove the root, never crossing
# into a file system still mounted there.
defer "[ -d '$ROOT' ] && { grep -q ' $ROOT/' /proc/mounts && { log 'kept $TMP: $ROOT is still mounted'; IOV_KEEP_TMP=1; } || rm -rf --one-file-system '$ROOT'; }"
defer "umount -l '$ROOT/sys' 2>/dev/null; umount -l '$ROOT/proc' 2>/dev/null"
t0=$SECONDS
# The root is Debian's alone (none of ours is in it yet): when its download
# stalls or fails, the packages cannot be tried here, which is a skip with
# the reason, not a failure of theirs.  A healthy mirror makes it in about
# 40 s; 300 s is the bound.
rc=0
timeout 300 mmdebstrap --variant=minbase --skip=cleanup/apt/lists bookworm "$ROOT" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" >"$TMP/mmdebstrap.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
  tail -20 "$TMP/mmdebstrap.log" >&2
  if [ "$rc" -eq 124 ] ||
    grep -qE 'apt-get update .*failed|Failed to fetch|Could not (resolve|connect)|Temporary failure' "$TMP/mmdebstrap.log"; then
    skip "the Debian mirror $mirror answered, but downloading a Debian 12 root from it $([ "$rc" -eq 124 ] && echo "stalled past 300 s" || echo failed): no root to install the packages into"
  fi
  fail "mmdebstrap failed (exit $rc; the mirror answered)"
fi
log "Debian 12 root in $((SECONDS - t0)) s"

# 4. Install the three packages with apt: it takes their dependencies
# from the mirror.
cp "$DEB_COORD" "$DEB_AGENT" "$DEB_GUEST" "$ROOT/tmp/"
t0=$SECONDS
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "/tmp/$(basename "$DEB_AGENT")" "/tmp/$(basename "$DEB_GUEST")" "/tmp/$(basename "$DEB_COORD")" \
  >"$TMP/apt.log" 2>&1 || { tail -30 "$TMP/apt.log" >&2; fail "apt-get install of the packages failed"; }
log "installed in $((SECONDS - t0)) s"
for p in iovbench-coord iovbench-agent iovbench-guest-agent; do
  expect_eq "$p status" "$(chroot "$ROOT" dpkg-query -W -f '${Status} ${Version}' "$p")" "install ok installed $VERSION-1"
done
grep -q "iovbench-agent: no coordinator is allowed yet" "$TMP/apt.log" || fail "the agent's postinst did not say how to allow a coordinator"
for d in /etc/iovbench/coordinators /etc/iovbench/guests; do
  expect_eq "mode of $d" "$(stat -c %a "$ROOT$d" 2>/dev/null)" 755
done
ls "$ROOT"/etc/systemd/system/*/iovbench-* 2>/dev/null && fail "installing enabled a service"
expect_eq "installed agent's version" "$(chroot "$ROOT" /usr/bin/iovbench-agent --version | awk '{print $NF}')" "$VERSION"
expect_eq "installed coord's version" "$(chroot "$ROOT" /usr/bin/coord --version | awk '{print $NF}')" "$VERSION"
chroot "$ROOT" /usr/bin/iovbench-guest-agent --help >/dev/null || fail "the installed guest agent does not run"

# 5. Start the installed agent as its unit does: ExecStartPre and
# ExecStart from the installed unit, the environment from its
# EnvironmentFile and nothing else (env -i), in a namespace of its own
# with /proc, and /sys of that namespace.
setup_ns A T
ip link add veth0 netns "$T" type veth peer name veth0 netns "$A"
ip -n "$T" addr add 198.18.7.1/24 dev veth0 && ip -n "$T" link set veth0 up
ip -n "$A" addr add 198.18.7.2/24 dev veth0 && ip -n "$A" link set veth0 up
mount -t proc proc "$ROOT/proc" || fail "cannot mount /proc in the root"
nsenter --net="/run/netns/$A" mount -t sysfs sysfs "$ROOT/sys" || fail "cannot mount /sys in the root"

unit=$ROOT/usr/lib/systemd/system/iovbench-agent.service
envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")
expect_eq "unit's EnvironmentFile" "$envfile" /etc/iovbench/agent.env
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart in the installed unit"
# The variables of the environment file (systemd's quoting is the shell's
# here), then ExecStart's words as systemd makes them: "${VAR}" is one
# argument (empty when VAR is), $VAR is split into words.
mapfile -t envv < <(env -i bash -c "set -a; . '$ROOT$envfile'; env" | grep -v -E '^(PWD|SHLVL|_)=')
unit_argv() {
  env -i "${envv[@]}" python3 -c '
import os, re, shlex, sys
for w in shlex.split(sys.argv[1]):
    m = re.fullmatch(r"\$([A-Za-z_]\w*)", w)
    if m:
        for x in os.environ.get(m.group(1), "").split(): print(x)
        continue
    print(re.sub(r"\$\{([A-Za-z_]\w*)\}", lambda m: os.environ.get(m.group(1), ""), w))
' "$exec_start"
}
# The unit's file descriptor limit, as systemd would set it.
nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")
[ -n "$nofile" ] && [ "$nofile" -ge 65536 ] || fail "the unit does not raise LimitNOFILE (got '$nofile')"
# systemd sets it with CAP_SYS_RESOURCE; a test without that capability
# (a container) cannot go past its own hard limit, and says so.
if ! prlimit --nofile="$nofile:$nofile" true 2>/dev/null; then
  log "this test may not raise its file limit to $nofile (hard limit $(ulimit -Hn)): the agent gets $(ulimit -Hn)"
  nofile=$(ulimit -Hn)
fi
while read -r pre; do
  eval "chroot '$ROOT' $pre" || fail "ExecStartPre $pre failed"
done < <(sed -n 's/^ExecStartPre=[-+@!]*//p' "$unit")
start_unit() { # LOG: the agent as the unit starts it, with agent.env as it is now
  mapfile -t envv < <(env -i bash -c "set -a; . '$ROOT$envfile'; env" | grep -v -E '^(PWD|SHLVL|_)=')
  mapfile -t argv < <(unit_argv)
  log "unit starts: ${argv[*]}"
  start_bg "$A" "$1" prlimit --nofile="$nofile:$nofile" chroot "$ROOT" env -i "${envv[@]}" \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin "${argv[@]}"
}

# As shipped, agent.env names no address: the agent refuses to start,
# naming the setting, with the exit status the unit does not restart on.
start_unit "$TMP/agent-shipped.log"
wait "$LAST_PID"
rc=$?
cat "$TMP/agent-shipped.log" >&2
expect_eq "exit status of the agent as shipped" "$rc" 2
grep -q "set IOVBENCH_LISTEN in /etc/iovbench/agent.env" "$TMP/agent-shipped.log" ||
  fail "the agent as shipped does not say which setting to give"
grep -qx 'RestartPreventExitStatus=2' "$unit" || fail "the unit restarts an agent that refused its settings"
ip netns exec "$A" ss -Hltn | grep -q . && fail "the agent as shipped listens: $(ip netns exec "$A" ss -Hltn)"

# The user names the management address, as agent.env says; the rest of
# the file (the caps) stays as shipped.
sed -i 's|^IOVBENCH_LISTEN=.*|IOVBENCH_LISTEN=tcp://198.18.7.2:7700|' "$ROOT$envfile"
start_unit "$TMP/agent-pkg.log"
PID_PKG=$LAST_PID
defer "stop_bg $PID_PKG"
on_fail "echo '--- installed agent:'; cat '$TMP/agent-pkg.log'"
port_listening() { ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q .; }
wait_for 15 port_listening "$A" 7700 || fail "the installed agent does not listen on 7700"
# On the management address only: control and key endpoint, no guest
# endpoint (--guest-listen none as shipped).
listening=$(ip netns exec "$A" ss -Hltn | awk '{print $4}' | sort | tr '\n' ' ')
expect_eq "the installed agent's listening sockets" "$listening" "198.18.7.2:7700 198.18.7.2:7702 "
# ip netns exec, prlimit, chroot and env each exec the next: the pid is the agent's.
expect_eq "the started process" "$(cat "/proc/$PID_PKG/comm")" iovbench-agent
expect_eq "the installed agent's open files limit" "$(awk '/^Max open files/{print $4}' "/proc/$PID_PKG/limits")" "$nofile"
[ -f "$ROOT/etc/iovbench/agent.key" ] || fail "the installed agent made no key pair in /etc/iovbench"
expect_eq "mode of agent.key_secret" "$(stat -c %a "$ROOT/etc/iovbench/agent.key_secret")" 600

# coord's public key (lib.sh made the pair with 'coord keygen') is let in
# the way the postinst says; the other agent is the build's.
cp "$TMP/keys/coord.key" "$ROOT/etc/iovbench/coordinators/test.key"
start_bg "$T" "$TMP/agent-b.log" "$AGENT" --listen tcp://198.18.7.1:7700 --guest-listen none --name b
PID_B=$LAST_PID
on_fail "echo '--- agent b:'; cat '$TMP/agent-b.log'"
wait_for 10 tcp_listening "$T" 198.18.7.1:7700 || fail "agent b not listening"

cat >"$TMP/pkg.plan" <<'PLAN'
[hosts]
a = tcp://198.18.7.2:7700
a.data = 198.18.7.2
b = tcp://198.18.7.1:7700
b.data = 198.18.7.1

[global]
sender = a
receiver = b
duration = 1s
sample_interval = 250ms
timeout = 10s

[rr]
workload = tcp_rr
msg_size = 64
PLAN
ip netns exec "$T" "$COORD" run "$TMP/pkg.plan" --results "$TMP/results" --quiet >"$TMP/out.txt" 2>"$TMP/err.txt"
rc=$?
cat "$TMP/out.txt" "$TMP/err.txt" >&2
expect_eq "coord exit status" "$rc" 0
db=$(ls -d "$TMP"/results/*-pkg | head -1)/results.db
[ -f "$db" ] || fail "no results.db"
expect_eq "ok points" "$(sql "$db" "SELECT count(*) FROM point WHERE status = 'ok'")" 1
tr=$(sql "$db" "SELECT sum(r.transactions) FROM flow f JOIN result r ON r.flow_id = f.id WHERE f.role = 'sender'")
[ "${tr:-0}" -gt 0 ] || fail "no transactions between the installed agent and agent b"
log "installed agent a <-> agent b: $tr transactions in 1 s"

# The shipped caps are in force: a point over one is refused, naming it.
sed -e 's/^msg_size = 64$/msg_size = 64\nflows = 65/' "$TMP/pkg.plan" >"$TMP/over.plan"
ip netns exec "$T" "$COORD" run "$TMP/over.plan" --results "$TMP/results-over" --quiet >"$TMP/over.txt" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "coord ran a point over the shipped --max-flows (exit 0)"
grep -q "65 flows, over this agent's cap of 64 (--max-flows)" "$TMP/over.txt" ||
  { cat "$TMP/over.txt" >&2; fail "the point over the shipped --max-flows was not refused naming the cap"; }
# CURVE was on: coord learnt the installed agent's key, the one it made.
grep -qF -- "$(key_of "$ROOT/etc/iovbench/agent.key")" "$TMP/keys/known_agents" ||
  fail "coord's known_agents lacks the installed agent's key"

stop_bg "$PID_PKG"
kill -0 "$PID_PKG" 2>/dev/null && fail "the installed agent did not stop on SIGTERM"
stop_bg "$PID_B"
check_logs "$TMP/agent-b.log" "$TMP/agent-pkg.log"
exit 0
