# Shared helpers for iovbench integration tests (sourced, bash).
#
# - Exit codes: 0 pass, 1 fail, 4 skip (not root, or a tool is missing).
# - Namespaces get a random suffix and are recorded for cleanup; cleanup
#   runs on every exit (trap), also when a test fails half-way.
# - Addresses only from 198.18.0.0/15, only inside our own namespaces.
# - Waiting is polling with a deadline, never a bare sleep.

set -u

KSFT_SKIP=4
BUILD=${IOV_BUILDDIR:?IOV_BUILDDIR must point at the build tree}
SRC=${IOV_SRCDIR:?IOV_SRCDIR must point at the source tree}
COORD=$BUILD/bin/coord
AGENT=$BUILD/bin/iovbench-agent

_NS_LIST=()
_PID_LIST=()
_DEFER=()
TMP=$(mktemp -d /tmp/iovb-test.XXXXXX)

# CURVE on, as on real servers: coord and the agents a test starts both
# read their keys from IOVBENCH_KEY_DIR.  coord's pair is made with
# 'coord keygen' and let in (coordinators/); the agents' pair is made here
# too, so that agents starting at once do not race to make it.
export IOVBENCH_KEY_DIR=$TMP/keys
if [ -x "$COORD" ]; then
  "$COORD" keygen --key-dir "$TMP/keys" >/dev/null &&
    "$COORD" keygen --key-dir "$TMP/keys/.agent" >/dev/null &&
    mkdir -p "$TMP/keys/coordinators" "$TMP/keys/guests" &&
    cp "$TMP/keys/coord.key" "$TMP/keys/coordinators/coord.key" &&
    cp "$TMP/keys/.agent/coord.key" "$TMP/keys/agent.key" &&
    cp "$TMP/keys/.agent/coord.key_secret" "$TMP/keys/agent.key_secret" ||
    { echo "lib.sh: cannot make the test keys" >&2; exit 1; }
fi
# key_of FILE: the Z85 key in a zcert file (public-key, or secret-key in
# a *_secret file).
# guest_opts NAME: options for a guest agent a test starts by hand (not
# through a host agent): its own key pair, let in at the host agents
# (KEYDIR/guests/), and the host agents' public key.
guest_opts() {
  "$COORD" keygen --key-dir "$TMP/keys/.guest-$1" >/dev/null || return 1
  cp "$TMP/keys/.guest-$1/coord.key" "$TMP/keys/guests/$1.key"
  echo "--host-key $(key_of "$TMP/keys/agent.key") --key-file $TMP/keys/.guest-$1/coord.key_secret"
}
key_of() { sed -n 's/^ *\(public\|secret\)-key = "\(.*\)"$/\2/p' "$1" | tail -n 1; }

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
_ON_FAIL=()
# on_fail CMD: run CMD (e.g. print a daemon's log) when the test fails.
on_fail() { _ON_FAIL+=("$*"); }
fail() {
  log "FAIL: $*"
  local c
  for c in "${_ON_FAIL[@]}"; do eval "$c" >&2 || true; done
  exit 1
}
skip() { log "SKIP: $*"; exit $KSFT_SKIP; }

require_root() { [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"; }
require_cmd() { for c in "$@"; do command -v "$c" >/dev/null || skip "needs $c"; done; }

defer() { _DEFER+=("$*"); }

cleanup() {
  local i
  for ((i = ${#_DEFER[@]} - 1; i >= 0; i--)); do eval "${_DEFER[i]}" || true; done
  for p in "${_PID_LIST[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${_PID_LIST[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  for ns in "${_NS_LIST[@]}"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  if [ "${IOV_KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# setup_ns VAR...: create namespaces named iovt-VAR-XXXXXX, store names in VAR.
setup_ns() {
  local v name
  for v in "$@"; do
    name="iovt-$v-$(mktemp -u XXXXXX)"
    ip netns add "$name" || fail "cannot create namespace $name"
    _NS_LIST+=("$name")
    ip -n "$name" link set lo up
    printf -v "$v" '%s' "$name"
  done
}

# start_bg NS LOGFILE CMD...: run CMD in namespace NS (or here if NS is -) in the background.
start_bg() {
  local ns=$1 logf=$2
  shift 2
  if [ "$ns" = - ]; then "$@" >"$logf" 2>&1 &
  else ip netns exec "$ns" "$@" >"$logf" 2>&1 & fi
  _PID_LIST+=($!)
  LAST_PID=$!
}

# wait_for SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local secs=$1
  shift
  local end=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
}

# tcp_listening NS ADDR:PORT
tcp_listening() { ip netns exec "$1" ss -Hltn "src $2" 2>/dev/null | grep -q .; }

# sql DB QUERY: one value
sql() { sqlite3 -batch -noheader "$1" "$2"; }

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# stop_bg PID: SIGTERM and wait (bounded) for a process we started.
stop_bg() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
}

# check_logs FILE...: fail if a sanitizer reported anything in them.
check_logs() {
  local f
  for f in "$@"; do
    if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$f"; then
      cat "$f" >&2
      fail "sanitizer report in $f"
    fi
  done
}

# free_port: a loopback TCP port nobody listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
