/* The host agent's VMs for coord: VmSetup starts COUNT guests on a path
 * (a VF of the host's PF passed through, or virtio on the host's bridge)
 * through libvirt, waits until each guest agent has registered with the
 * relay, and answers VmReady with their names; VmTeardown takes them down
 * (unless kept for the next point) and restores the VFs.  At start-up it
 * removes what a crashed run left: our domains and the VF settings it
 * recorded.  The machine's facts are the agent's settings, here. */
#pragma once

#include <stdbool.h>

#include "agent.h"

struct iov_vm_settings {
  /* "libvirt" (NULL) or "netns": guests as network namespaces, each with
   * a VF and a guest agent, on hosts that cannot run VMs (vm_netns.c). */
  const char *backend;
  const char *libvirt_uri;   /* NULL: no VMs (the hooks are not installed) unless backend is netns */
  const char *guest_agent;   /* the guest agent binary (netns backend, test hook) */
  const char *virt_type;     /* <domain type>: "kvm", or "qemu" on hosts without KVM; NULL = template's */
  const char *template_path; /* domain XML template; NULL = built in */
  const char *image, *pool;  /* base qcow2 for per-guest overlays */
  const char *kernel, *initrd, *cmdline; /* direct kernel boot */
  const char *sriov_pf;                  /* path sriov: the PF (netdev or PCI address) */
  const char *virtio_bridge;             /* path virtio: the bridge */
  const char *guest_endpoint;            /* the relay as the VMs reach it, e.g. tcp://192.168.122.1:7701 */
  /* The first VM's data address and prefix, e.g. 198.18.0.10/24: VM i
   * gets ADDRESS + i, handed over as iovbench.data and iovbench.net
   * (IPv4).  NULL: the VMs find their own (DHCP, or a fixed image). */
  const char *vm_net;
  const char *sysfs_root;   /* NULL: /sys */
  const char *vf_state_dir; /* NULL: the default */
  unsigned boot_timeout_s;  /* per VM; 0 = 60 */
  bool persistent;          /* define domains rather than create transient ones */
  const char *xml_dir;      /* also write each domain XML here (debugging, tests) */
  const char *pid_dir;      /* where libvirt keeps the qemu pid files; NULL = /run/libvirt/qemu */
  /* Test hook: libvirt's test driver starts no VMs, so for each domain
   * created, start a guest agent here as the VM would, with its
   * settings.  Never for real hosts. */
  bool simulate_guests;
};

extern const struct iov_agent_vm_hooks iov_vm_hooks;
