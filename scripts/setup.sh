#!/usr/bin/env bash
# Install what iovbench needs to build, run and test on Debian 12.
#   scripts/setup.sh [--tests]
# --tests (scripts/test.sh) also makes sure qemu can emulate an SR-IOV NIC.
# Safe to run twice: it installs only what is missing.  Needs root for
# apt-get (run as root, or it uses sudo when that is available).
set -euo pipefail

# The build dependencies are listed in build-deps.txt, which the container
# images (docker/) install too; the rest is for running and testing.
deps=$(dirname "${BASH_SOURCE[0]}")/build-deps.txt
[ -r "$deps" ] || { echo "setup: $deps is missing" >&2; exit 1; }
mapfile -t packages < <(sed 's/#.*//' "$deps" | tr -s ' \t' '\n' | sed '/^$/d')
# help2man: the man pages, made at build time when it is there (optional).
packages+=(
  help2man
  libcmocka-dev libvirt-clients pciutils
  sqlite3 iproute2 procps python3 clang-format bc gnuplot-nox
  qemu-system-x86 busybox-static cpio kmod libvirt-daemon-system
  valgrind clang libclang-rt-dev mmdebstrap
)

# qemu_has_igb: the installed qemu emulates an SR-IOV NIC (igb, qemu >= 8.0).
qemu_has_igb() {
  command -v qemu-system-x86_64 >/dev/null &&
    timeout 60 qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"'
}

# The SR-IOV tests need qemu's igb, which Debian 12's qemu 7.2 lacks:
# install qemu from bookworm-backports, from the same mirror this
# machine's apt already uses.  The backports source stays (apt pins
# backports low, so nothing else is upgraded from it; qemu gets its
# backports updates).  IOV_NO_BACKPORTS=1 skips this; the SR-IOV tests
# then report themselves skipped.
backports_qemu() {
  local uri list=/etc/apt/sources.list.d/iovbench-backports.sources
  qemu_has_igb && return 0
  if [ "${IOV_NO_BACKPORTS:-0}" = 1 ]; then
    echo "setup: qemu has no igb (SR-IOV) device; IOV_NO_BACKPORTS=1, so the SR-IOV tests will be skipped"
    return 0
  fi
  uri=$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/{print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  if [ -z "$uri" ]; then
    echo "setup: warning: no bookworm source in /etc/apt to derive bookworm-backports from; the SR-IOV tests" \
      "need qemu >= 8.0 (qemu-system-x86 from bookworm-backports) and will be skipped" >&2
    return 0
  fi
  if [ ! -e "$list" ]; then
    echo "setup: adding bookworm-backports ($uri) for qemu with SR-IOV emulation: $list"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$uri" \
      /usr/share/keyrings/debian-archive-keyring.gpg | $SUDO tee "$list" >/dev/null
  fi
  timeout 600 $SUDO apt-get update -qq -o Acquire::http::Timeout=30 || {
    echo "setup: warning: apt-get update failed; qemu stays without igb, the SR-IOV tests will be skipped" >&2
    return 0
  }
  DEBIAN_FRONTEND=noninteractive timeout 900 $SUDO apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports qemu-system-x86 >/dev/null || {
    echo "setup: warning: installing qemu-system-x86 from bookworm-backports failed; the SR-IOV tests will be" \
      "skipped" >&2
    return 0
  }
  qemu_has_igb && echo "setup: qemu $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') with igb installed"
}

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages are installed"
else
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run this script as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi
# Only the tests run guests with an emulated SR-IOV NIC.
if [ "${1:-}" = --tests ] && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then backports_qemu; fi
