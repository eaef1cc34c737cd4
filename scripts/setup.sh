#!/usr/bin/env bash
# Install what iovbench needs to build, run and test on Debian 12.
# Safe to run twice: it installs only what is missing.  Needs root for
# apt-get (run as root, or it uses sudo when that is available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libzmq3-dev libczmq-dev libprotobuf-c-dev protobuf-c-compiler
  libuv1-dev libinih-dev libsqlite3-dev libjansson-dev libcmocka-dev
  libpci-dev libmnl-dev libvirt-dev libvirt-clients libxml2-dev pciutils
  sqlite3 iproute2 procps python3 clang-format bc
  qemu-system-x86 busybox-static cpio kmod libvirt-daemon-system
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run this script as root to install them" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
