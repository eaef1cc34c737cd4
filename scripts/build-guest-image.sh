#!/usr/bin/env bash
# Build a minimal test guest for iovbench: the Debian 12 kernel (the version
# linux-image-amd64 points at) and a busybox initramfs whose /init
# (guest-agent/init.sh) configures the NIC and runs iovbench-guest-agent.
#
#   scripts/build-guest-image.sh [--out DIR] [--agent PATH] [--host-agent PATH] [--cache DIR]
#
# Output: DIR/vmlinuz, DIR/initrd.img (gzip'ed newc cpio) and DIR/kernel-version;
# DIR defaults to build/guest-image, PATH to build/bin/iovbench-guest-agent.
# --host-agent adds iovbench-agent and iproute2's ip (with their libraries),
# so that the same image can also play a server: booted with
# iovbench.role=host its /init runs the host agent instead, with the options
# in iovbench.agent= (commas for spaces), e.g. on a NIC that has SR-IOV.
# Boot it with e.g.
#   qemu-system-x86_64 -accel tcg -m 512 -nographic -nodefaults -serial stdio \
#     -kernel DIR/vmlinuz -initrd DIR/initrd.img \
#     -append "console=ttyS0 iovbench.host=tcp://198.18.0.1:7701 iovbench.net=198.18.0.2/24"
#
# The .deb files are downloaded with apt-get download into the cache
# (default /var/cache/iovbench/guest-image if writable, else
# ~/.cache/iovbench/guest-image) and reused on later runs; delete the cache
# to pick up a newer kernel.  Root is needed only to apt-get install
# busybox-static when it is missing.  Every network step is time-bounded.
# See docs/guest-images.md.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/build/guest-image
agent=$src/build/bin/iovbench-guest-agent
host_agent=
cache=
# The modules /init loads; their dependencies are added by modprobe.
MODULES=(virtio_pci virtio_net igb igbvf dmi-sysfs)
# Loaded only by servers that run the host's userland (iovbench.hostroot).
EXTRA_MODULES=(9pnet_virtio 9p overlay vfio-pci vfio_iommu_type1 8021q)
APT_TIMEOUT=${IOV_APT_TIMEOUT:-600}

die() { echo "build-guest-image: error: $*" >&2; exit 1; }
note() { echo "build-guest-image: $*" >&2; }

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --agent) [ $# -ge 2 ] || die "--agent needs a path"; agent=$2; shift 2 ;;
    --agent=*) agent=${1#*=}; shift ;;
    --host-agent) [ $# -ge 2 ] || die "--host-agent needs a path"; host_agent=$2; shift 2 ;;
    --host-agent=*) host_agent=${1#*=}; shift ;;
    --cache) [ $# -ge 2 ] || die "--cache needs a directory"; cache=$2; shift 2 ;;
    --cache=*) cache=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done

if [ -z "$cache" ]; then
  if mkdir -p /var/cache/iovbench/guest-image 2>/dev/null && [ -w /var/cache/iovbench/guest-image ]; then
    cache=/var/cache/iovbench/guest-image
  else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/iovbench/guest-image
  fi
fi

# ---- tools --------------------------------------------------------------
for c in apt-get apt-cache dpkg-deb cpio gzip depmod modprobe ldd find; do
  command -v "$c" >/dev/null || die "needs '$c' (Debian: apt-get install apt dpkg cpio gzip kmod libc-bin findutils)"
done
[ -x "$agent" ] || die "no guest agent binary at $agent (build it first: scripts/build.sh, or give --agent PATH)"
if [ -n "$host_agent" ]; then
  [ -x "$host_agent" ] || die "no host agent binary at $host_agent"
  iproute=$(readlink -f "$(command -v ip 2>/dev/null || echo /sbin/ip)")
  "$iproute" -V 2>/dev/null | grep -q iproute2 || die "--host-agent needs iproute2's ip (apt-get install iproute2)"
fi
[ -f "$src/guest-agent/init.sh" ] || die "missing $src/guest-agent/init.sh"

busybox=/usr/bin/busybox # from busybox-static: the initramfs has no libc for a dynamic one
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "busybox-static is not installed and installing it needs root: apt-get install busybox-static"
  note "installing busybox-static"
  DEBIAN_FRONTEND=noninteractive timeout "$APT_TIMEOUT" apt-get install -y --no-install-recommends busybox-static >&2 ||
    die "apt-get install busybox-static failed (no network or apt lists? try apt-get update)"
fi
[ -x "$busybox" ] || die "busybox-static is installed but $busybox is missing"

# ---- kernel package -----------------------------------------------------
mkdir -p "$cache/debs" || die "cannot create cache directory $cache"
# One build at a time per cache (parallel tests share it).
if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock -w 900 9 || die "another build-guest-image.sh holds $cache/.lock for more than 900 s"
fi
apt_dl() { # apt_dl PKG: download PKG's .deb into $cache/debs (bounded)
  (cd "$cache/debs" && timeout "$APT_TIMEOUT" apt-get download -o Acquire::http::Timeout=30 \
    -o Acquire::Retries=1 "$1" >&2) ||
    die "apt-get download $1 failed (no network, or no apt lists: run apt-get update as root)"
}
meta=$(ls "$cache"/debs/linux-image-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$meta" ]; then
  note "downloading linux-image-amd64 into $cache/debs"
  apt_dl linux-image-amd64
  meta=$(ls "$cache"/debs/linux-image-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$meta" ] || die "apt-get download linux-image-amd64 produced no .deb"
fi
# Depends: linux-image-6.1.0-NN-amd64 (= ...)
kpkg=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | grep -o 'linux-image-[0-9][^ ]*-amd64' | head -1)
[ -n "$kpkg" ] || die "cannot find the kernel package in the Depends of $meta"
kver=${kpkg#linux-image-}
kdeb=$(ls "$cache"/debs/"${kpkg}"_*.deb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$kdeb" ]; then
  note "downloading $kpkg (about 70 MB) into $cache/debs"
  apt_dl "$kpkg"
  kdeb=$(ls "$cache"/debs/"${kpkg}"_*.deb 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$kdeb" ] || die "apt-get download $kpkg produced no .deb"
fi

kdir=$cache/kernel-$kver
if [ ! -e "$kdir/.complete" ]; then
  note "extracting $(basename "$kdeb")"
  rm -rf "$kdir" "$kdir.tmp"
  mkdir -p "$kdir.tmp"
  dpkg-deb -x "$kdeb" "$kdir.tmp" || die "cannot extract $kdeb"
  depmod -b "$kdir.tmp" "$kver" || die "depmod -b failed on $kdir.tmp"
  mv "$kdir.tmp" "$kdir"
  touch "$kdir/.complete"
fi
[ -f "$kdir/boot/vmlinuz-$kver" ] || die "no boot/vmlinuz-$kver in $kdeb"

# ---- initramfs tree -----------------------------------------------------
mkdir -p "$out" || die "cannot create $out"
stage=$(mktemp -d "${TMPDIR:-/tmp}/iovb-guest-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,lib64,"lib/modules/$kver"}

# Modules and their dependencies, as modprobe resolves them.
mods=()
for m in "${MODULES[@]}" ${host_agent:+"${EXTRA_MODULES[@]}"}; do
  deps=$(modprobe -d "$kdir" -S "$kver" --show-depends "$m" 2>&1) || die "module $m: $deps"
  while read -r kind path _; do
    [ "$kind" = insmod ] && mods+=("$path")
  done <<<"$deps"
done
for p in $(printf '%s\n' "${mods[@]}" | sort -u); do
  rel=${p#"$kdir"}
  mkdir -p "$root/$(dirname "$rel")"
  cp "$p" "$root/$rel"
done
cp "$kdir/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$root" "$kver" || die "depmod -b failed on the initramfs tree"

# busybox with its applets as links (the shell's own applets win anyway).
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list-full); do
  [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done

# add_binary SRC DEST: SRC as DEST in the image, with every library ldd
# lists for it, and the loader.
add_binary() {
  local line lib ldd_out
  cp -L "$1" "$root/$2"
  chmod 755 "$root/$2"
  ldd_out=$(ldd "$1") || die "ldd $1 failed"
  while read -r line; do
    case $line in
      *"not found"*) die "ldd: a library of $1 is missing: $line" ;;
      *"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
      /*) lib=${line%% (*} ;;
      *) continue ;;
    esac
    [ -e "$root/$lib" ] && continue
    mkdir -p "$root/$(dirname "$lib")"
    cp -L "$lib" "$root/$lib"
  done <<<"$ldd_out"
}
add_binary "$agent" /usr/bin/iovbench-guest-agent
if [ -n "$host_agent" ]; then
  # iproute2's ip goes where busybox's would be found first.
  rm -f "$root/usr/sbin/ip" "$root/sbin/ip" "$root/bin/ip"
  add_binary "$iproute" /usr/sbin/ip
  ln -s /usr/sbin/ip "$root/sbin/ip"
  add_binary "$host_agent" /usr/bin/iovbench-agent
fi

cp "$src/guest-agent/init.sh" "$root/init"
chmod 755 "$root/init"
echo iovbench-guest >"$root/etc/hostname"
printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
echo "$kver" >"$root/etc/iovbench-kernel-version"

# ---- outputs (atomically replaced) -------------------------------------
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 >"$out/initrd.img.tmp" ||
  die "cannot write $out/initrd.img"
mv "$out/initrd.img.tmp" "$out/initrd.img"
cp "$kdir/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$kver" >"$out/kernel-version"
note "kernel $kver: $out/vmlinuz ($(du -h "$out/vmlinuz" | cut -f1)), $out/initrd.img ($(du -h "$out/initrd.img" | cut -f1)), $(printf '%s\n' "${mods[@]}" | sort -u | grep -c .) kernel modules"
