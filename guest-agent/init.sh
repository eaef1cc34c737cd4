#!/bin/sh
# /init of the iovbench test guest (busybox sh; built into the initramfs by
# scripts/build-guest-image.sh).  It
#   1. mounts proc, sys, devtmpfs, tmpfs on /tmp and /run;
#   2. loads virtio_pci, virtio_net, igb, igbvf and dmi-sysfs (modprobe, from
#      the modules.dep in the image; a missing one is logged and skipped);
#   3. brings lo up and configures the first non-loopback NIC from
#        iovbench.net=ADDR/PREFIX   (and optionally iovbench.gw=ADDR)
#      read from the kernel command line or, failing that, from the SMBIOS
#      OEM strings (type 11, /sys/firmware/dmi/entries/11-*/raw): the same
#      two sources, with the same key names, the guest agent reads
#      iovbench.host, iovbench.vm_id and iovbench.data from.  The kernel
#      command line wins here, as it does for the agent;
#   4. runs iovbench-guest-agent without options (it reads its own settings
#      from SMBIOS and the command line) with its log on the console, and
#      powers the VM off (poweroff -f) when the agent exits, so that a QEMU
#      started with -no-reboot exits too.
# With iovbench.role=host (an image built with --host-agent) it runs
# iovbench-agent instead, with the options in iovbench.agent= (commas for
# spaces: iovbench.agent=--name,s1,--sriov-pf,eth0): the image then plays a
# server, for instance one with an emulated SR-IOV NIC.
# Extra kernel command line keys: iovbench.debug=CATS passes --debug=CATS to
# the agent; iovbench.shell=1 starts a shell on the console instead of
# powering off when the agent exits (for debugging by hand).
#
# busybox ash runs its own applets ahead of $PATH, so "ip" here is always
# busybox's; it is called as "busybox ip" to make that explicit.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
exec </dev/console >/dev/console 2>&1

say() { echo "iovbench-init: $*"; }
up=$(cut -d' ' -f1 /proc/uptime)
say "userspace up at ${up}s, kernel $(uname -r)"

for m in virtio_pci virtio_net igb igbvf dmi-sysfs; do
  modprobe "$m" 2>/dev/null || say "module $m not loaded"
done
hostname "$(cat /etc/hostname 2>/dev/null || echo iovbench-guest)"

# cmdline_get KEY: value of iovbench.KEY=VALUE on the kernel command line.
cmdline_get() {
  set -f
  # shellcheck disable=SC2013
  for tok in $(cat /proc/cmdline); do
    case $tok in
      "iovbench.$1="*) set +f; echo "${tok#*=}" | tr -d '"'; return 0 ;;
    esac
  done
  set +f
  return 1
}

# smbios_get KEY: value of the OEM string iovbench.KEY=VALUE (type 11).  A
# type-11 entry's raw file is the formatted area (length in byte 1: 5
# bytes), then NUL-terminated strings, then one more NUL.
smbios_get() {
  for raw in /sys/firmware/dmi/entries/11-*/raw; do
    [ -r "$raw" ] || continue
    len=$(od -An -tu1 -j1 -N1 "$raw" | tr -d ' ')
    [ -n "$len" ] || continue
    v=$(tail -c +$((len + 1)) "$raw" | tr '\000' '\n' | sed -n "s/^iovbench\\.$1=//p" | tail -n 1)
    [ -n "$v" ] && { echo "$v"; return 0; }
  done
  return 1
}

setting() { cmdline_get "$1" || smbios_get "$1"; }

busybox ip link set lo up

nic=
for d in /sys/class/net/*; do
  n=${d##*/}
  [ "$n" = lo ] && continue
  [ -e "$d/device" ] || continue # physical (PCI) NICs only
  nic=$n
  break
done

net=$(setting net)
gw=$(setting gw)
if [ -z "$nic" ]; then
  say "no network interface found"
elif [ -z "$net" ]; then
  say "no iovbench.net=ADDR/PREFIX on the kernel command line or in SMBIOS; $nic left unconfigured"
  busybox ip link set "$nic" up
else
  busybox ip link set "$nic" up
  busybox ip addr add "$net" dev "$nic" || say "cannot set $net on $nic"
  if [ -n "$gw" ]; then
    busybox ip route add default via "$gw" dev "$nic" || say "cannot add default route via $gw"
  fi
  say "$nic $(cat "/sys/class/net/$nic/address") = $net${gw:+ gw $gw}"
fi

# iovbench.hostroot=TAG (tests only): run the host's own userland instead.
# The guest mounts the virtio-9p share TAG (the host's /, read-only) under
# a tmpfs overlay, and runs iovbench.run=SCRIPT there in a chroot, its
# output on the console; then it powers off.  This is how a test gives a
# server guest libvirtd and qemu (a nested guest) without an image of its
# own.
root9p=$(cmdline_get hostroot) || root9p=
if [ -n "$root9p" ]; then
  for m in 9pnet_virtio 9p overlay vfio-pci vfio_iommu_type1 8021q; do
    modprobe "$m" 2>/dev/null || say "module $m not loaded"
  done
  mkdir -p /mnt/lower /mnt/upper /mnt/root
  if mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose "$root9p" /mnt/lower &&
    mount -t tmpfs tmpfs /mnt/upper && mkdir -p /mnt/upper/u /mnt/upper/w &&
    mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/upper/u,workdir=/mnt/upper/w /mnt/root; then
    # The host's /tmp stays visible (the script and its files live there);
    # what the guest writes goes to the overlay's tmpfs.
    for d in proc sys dev dev/pts; do
      mkdir -p "/mnt/root/$d"
      mount --bind "/$d" "/mnt/root/$d"
    done
    mount -t tmpfs tmpfs /mnt/root/run
    [ -d /sys/fs/cgroup ] && mount -t cgroup2 none /mnt/root/sys/fs/cgroup 2>/dev/null
    run=$(cmdline_get run)
    say "host root $root9p mounted; running $run"
    chroot /mnt/root /bin/sh -c "exec $run" </dev/null
    say "$run exited with status $?"
  else
    say "cannot mount the host's root ($root9p) with an overlay"
  fi
  sync
  poweroff -f
fi

args=
dbg=$(cmdline_get debug) && args="--debug=$dbg"
prog=iovbench-guest-agent
if [ "$(setting role)" = host ]; then
  prog=iovbench-agent
  [ -x /usr/bin/$prog ] || say "iovbench.role=host, but this image has no $prog (build it with --host-agent)"
  args="$args $(setting agent | tr ',' ' ')"
fi
say "starting $prog $args"
# shellcheck disable=SC2086
/usr/bin/$prog $args </dev/null
rc=$?
say "$prog exited with status $rc"
if [ "$(cmdline_get shell)" = 1 ]; then
  say "iovbench.shell=1: starting a shell; poweroff -f to stop"
  setsid sh -c 'exec sh </dev/console >/dev/console 2>&1'
fi
say "powering off"
sync
poweroff -f
