/* VMs of a host agent: domain XML for the guests of a test point, and
 * their lifecycle behind an ops table (struct iov_vm_ops), implemented with
 * libvirt in vm_libvirt.c.
 *
 * Guest i of a test point becomes the domain
 *
 *     iovb-<run>-<host>-vmNN          (NN = the index, at least 2 digits)
 *
 * carrying in its <metadata> our own element
 *
 *     <iovbench:vm xmlns:iovbench="https://iovbench.invalid/xmlns/vm/1"
 *                  run="..." host="..." index="..." [pool="..." volume="..."]/>
 *
 * Both marks together make a domain "ours": cleanup of leftovers never
 * touches a domain that lacks either, so a user's domain that merely
 * happens to be called iovb-something is safe.
 *
 * The guest agent inside configures itself from SMBIOS OEM strings
 * (lib/guestconf.h): iovbench.host=, iovbench.vm_id=, iovbench.data=.
 *
 * Error reporting: functions that take (err, errlen) write a one-line
 * reason there on failure (iov_errf(), lib/err.h) (naming the template file, the domain, and
 * libvirt's own text where libvirt refused); errlen may be 0.  Nothing
 * here logs above debug level.  libvirt is told not to print errors to
 * stderr by itself. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IOV_VM_NAME_PREFIX "iovb-"
#define IOV_VM_XMLNS "https://iovbench.invalid/xmlns/vm/1"
#define IOV_VM_XMLNS_PREFIX "iovbench"
#define IOV_VM_DEFAULT_URI "qemu:///system"
#define IOV_VM_DEFAULT_POOL "default"
/* Domain names are also the guests' vm_id (iov_wire_name_ok: at most 64
 * characters), so run + host + index must fit. */
#define IOV_VM_NAME_MAX 64
#define IOV_VM_INDEX_MAX 9999
#define IOV_VM_NICS_MAX 8
#define IOV_VM_VCPUS_MAX 1024
#define IOV_VM_TEMPLATE_MAX (1024 * 1024) /* bytes of a template file */
/* A statistic libvirt did not give. */
#define IOV_VM_UNKNOWN UINT64_MAX

/* How a NIC reaches the guest: the sriov path passes a VF in
 * (<interface type='hostdev' managed='yes'>), the virtio path uses
 * virtio-net with vhost on a Linux bridge or on a macvtap device. */
enum iov_vm_nic_type {
  IOV_VM_NIC_HOSTDEV, /* "hostdev": a VF by PCI address */
  IOV_VM_NIC_BRIDGE,  /* "bridge":  virtio on a named bridge */
  IOV_VM_NIC_DIRECT,  /* "direct":  virtio on macvtap over a named device */
  _IOV_VM_NIC_MAX,
  _IOV_VM_NIC_INVALID = -EINVAL,
};
const char *iov_vm_nic_type_to_string(enum iov_vm_nic_type t);
enum iov_vm_nic_type iov_vm_nic_type_from_string(const char *s);

struct iov_vm_nic {
  enum iov_vm_nic_type type;
  /* hostdev: the VF's PCI address as sysfs spells it, DDDD:BB:SS.F (hex,
   * slot <= 1f, function <= 7).  Whether the device exists, or is given
   * twice, is for libvirt (or qemu, at start) to refuse. */
  const char *pci;
  /* bridge: the bridge's name; direct: the macvtap lower device. */
  const char *source;
  /* direct: macvtap mode, NULL = "bridge" (also vepa, private, passthrough). */
  const char *direct_mode;
  /* aa:bb:cc:dd:ee:ff, NULL = let libvirt choose. */
  const char *mac;
  /* 802.1Q tag 1..4094, 0 = none.  hostdev only (the VF tags in hardware). */
  unsigned vlan;
};

/* One guest.  All strings are borrowed for the duration of the call. */
struct iov_vm_spec {
  /* CURVE between the guest agent and the host agent's relay: the host
   * agent's public key and the guest's own secret key (Z85), handed to
   * the guest with its other settings; NULL = plaintext. */
  const char *host_key;
  const char *guest_key;
  const char *run;           /* [A-Za-z0-9._-]+, the run's id */
  const char *host;          /* [A-Za-z0-9._-]+, this host's name in the plan */
  unsigned index;            /* guest i of the test point, 0..IOV_VM_INDEX_MAX */
  const char *template_path; /* a domain XML file, NULL = the built-in template */
  const char *virt_type;     /* <domain type=...>, NULL = the template's ("kvm" built in) */

  uint64_t memory_mib; /* 0 = the template's <memory> */
  unsigned vcpus;      /* 0 = the template's <vcpu> */
  /* Host CPUs for the vCPUs.  n_cpus == vcpus pins vCPU j to cpus[j];
   * any other non-zero count pins every vCPU to the whole set.  0 = no
   * vcpupin. */
  const uint16_t *cpus;
  size_t n_cpus;
  /* Host CPUs for the emulator threads; 0 = the vCPUs' set (if any). */
  const uint16_t *emulator_cpus;
  size_t n_emulator_cpus;

  /* Boot, as the caller says; both may be given (kernel with its root on
   * the overlay), neither if the template boots by itself.
   *   base_image: a qcow2 overlay on it is created per guest, as the
   *     volume <name>.qcow2 of 'pool' (NULL = "default"), and becomes vda.
   *     The base must be a volume of some libvirt pool unless overlay_size
   *     is given; base_format NULL = "qcow2".
   *   kernel: direct kernel boot; initrd and cmdline optional. */
  const char *base_image;
  const char *base_format;
  const char *pool;
  uint64_t overlay_size; /* bytes, 0 = the base volume's capacity */
  const char *kernel;
  const char *initrd;
  const char *cmdline;

  const struct iov_vm_nic *nics;
  size_t n_nics; /* 0..IOV_VM_NICS_MAX; the native path has no VM at all */

  /* The guest agent's settings, as SMBIOS OEM strings.
   *   guest_endpoint: the host agent's guest endpoint (required), any form
   *     iov_guest_endpoint_normalize() takes ("198.18.0.1" means port 7701);
   *   vm_id: NULL = the domain name;
   *   data: the guest's data-plane address (IPv4/IPv6), NULL = none;
   *   net: ADDR/PREFIX for the guest image's /init to put on its NIC
   *     (iovbench.net, guest-agent/init.sh), NULL = none. */
  const char *guest_endpoint;
  const char *vm_id;
  const char *data;
  const char *net;
};

/* Domain XML generation (domxml.c).  No libvirt calls: pure functions of
 * their arguments and the template file.
 *
 * The template provides the machine (domain type, os type, features, cpu
 * model, clock, consoles, controllers, any extra device).  It must have a
 * <domain> root, <os><type>hvm</type>, <devices>, and <memory>/<vcpu>
 * unless the spec sets them.  It must not carry what clones cannot share:
 * an <interface> with a fixed <mac>, a <hostdev>, or a writable disk
 * (neither <readonly/>, <shareable/> nor <transient/>).
 * Its <name> and <uuid> are replaced (libvirt picks a fresh UUID), and so
 * are the parts the spec sets.
 *
 * iov_vm_name(): the domain name of spec into buf (at least
 * IOV_VM_NAME_MAX + 1 bytes).  0, or -EINVAL (bad run/host/index) or
 * -ENAMETOOLONG, with the reason in err.
 *
 * iov_vm_domain_xml(): the domain XML for spec.  overlay_path is the path
 * of the guest's overlay volume (required when spec->base_image is set,
 * ignored otherwise).  On success *ret_xml is a new string (caller owns;
 * free()).  Errors: -EINVAL (bad value, or a template lacking a part,
 * named in err with the template's path), -ENOENT/-EACCES/... (template
 * unreadable), -EFBIG (template over IOV_VM_TEMPLATE_MAX), -ENOMEM.
 *
 * iov_vm_overlay_xml(): the storage volume XML of a qcow2 overlay named
 * name, capacity bytes, on backing_path of backing_format (NULL = qcow2).
 * Same conventions. */
int iov_vm_name(const struct iov_vm_spec *spec, char *buf, size_t len, char *err, size_t errlen);
int iov_vm_domain_xml(const struct iov_vm_spec *spec, const char *overlay_path, char **ret_xml, char *err,
                      size_t errlen);
int iov_vm_overlay_xml(const char *name, uint64_t capacity, const char *backing_path,
                       const char *backing_format, char **ret_xml, char *err, size_t errlen);

/* What our metadata element says about a domain. */
struct iov_vm_info {
  char *name;
  char *run, *host;
  unsigned index;
  char *pool, *volume; /* the overlay, NULL if none */
  bool active;
  bool persistent;
};
/* Parse the element virDomainGetMetadata() returns for IOV_VM_XMLNS into
 * *ret (all but name, active and persistent).  0 or -EINVAL (not ours or
 * malformed), -ENOMEM.  Internal to the vm module (used by vm_libvirt.c). */
int iov__vm_metadata_parse(const char *xml, struct iov_vm_info *ret);
/* Free the strings of one info and zero it. */
void iov_vm_info_done(struct iov_vm_info *i);
/* Free an array of n infos; accepts NULL; returns NULL. */
struct iov_vm_info *iov_vm_info_free_array(struct iov_vm_info *a, size_t n);

/* Per-domain statistics.  Every counter is IOV_VM_UNKNOWN where libvirt
 * did not report it (libvirt's test driver, for one, reports only the
 * state). */
struct iov_vm_net_stats {
  char *name; /* the host-side device (net.N.name), NULL if unknown */
  uint64_t rx_bytes, rx_pkts, rx_drop;
  uint64_t tx_bytes, tx_pkts, tx_drop;
};
struct iov_vm_stats {
  char *name;
  int state;            /* virDomainState, -1 if unknown */
  uint64_t cpu_time_ns; /* cpu.time: all of the domain's threads */
  uint64_t cpu_user_ns, cpu_system_ns;
  uint64_t balloon_kib;   /* balloon.current */
  size_t n_vcpus;         /* vcpu.current; 0 if unknown */
  uint64_t *vcpu_time_ns; /* n_vcpus entries (vcpu.N.time) */
  size_t n_nets;          /* net.count; 0 if unknown */
  struct iov_vm_net_stats *nets;
};
/* Free an array of n stats; accepts NULL; returns NULL. */
struct iov_vm_stats *iov_vm_stats_free_array(struct iov_vm_stats *a, size_t n);

struct iov_vm_config {
  const char *uri; /* NULL = IOV_VM_DEFAULT_URI; tests use test:///default */
  /* Define and start domains (true), or create transient ones (false),
   * which vanish when destroyed and leave no definition behind. */
  bool persistent;
  /* Keep the domains when a test point ends (point_done), and reuse at
   * the next create those whose generated XML is unchanged. */
  bool reuse_vms;
  /* If set, every domain and volume XML handed to libvirt is also written
   * to this directory as <name>.xml / <name>.vol.xml (debugging, tests). */
  const char *xml_dir;
  /* The netns backend: the sysfs to find VFs in (NULL = /sys) and the
   * guest agent binary it starts in each namespace. */
  const char *sysfs_root;
  const char *guest_agent;
};

/* One backend connection, with the domains it created ("held").  Opaque;
 * each backend defines it.  Not thread-safe: one thread uses a handle. */
struct iov_vm_host;

/* The VM lifecycle.  Every int-returning call returns >= 0 on success or a
 * negative errno (-EEXIST name clash, -ENOENT no such domain/pool/volume,
 * -EINVAL bad spec or template, -EIO libvirt refused, -ENOMEM) with the
 * reason in err.
 *
 * open:       connect (the config's strings are copied).  *ret: caller owns,
 *             release with close.
 * close:      disconnect and free; accepts NULL, returns NULL.  Does NOT
 *             destroy the held domains (a crashed agent leaves them
 *             behind just so): call destroy_all first.
 * create:     create n guests, in order, all or none: on failure the ones
 *             created by this call are destroyed again (with overlays).  A
 *             name already taken is an error (-EEXIST), except with
 *             reuse_vms, where a held domain whose XML is unchanged is kept
 *             as it is (counted in *ret_reused, may be NULL).  With
 *             reuse_vms, held domains not in specs, or changed, are
 *             destroyed first.
 * destroy:    destroy one held domain by name: stop it, undefine it if
 *             persistent, delete its overlay volume.
 * destroy_all: destroy every held domain; goes on past errors, returns the
 *             first.
 * point_done: the test point is over: destroy_all, unless reuse_vms.
 * list_ours:  every domain of the connection that is ours (name prefix and
 *             metadata), held or not, filtered by run and host (NULL = any).
 *             *ret (caller owns, iov_vm_info_free_array) sorted by name.
 * cleanup:    destroy what list_ours finds (leftovers of a crashed run),
 *             plus orphaned overlay volumes in 'pool' (NULL = none) named
 *             like ours with no domain.  *ret_removed (may be NULL): count of
 *             domains and volumes removed.  Goes on past errors.
 * stats:      statistics of the held domains, in creation order; *ret
 *             (caller owns, iov_vm_stats_free_array). */
/* What a backend can do, where backends differ (struct iov_vm_ops.caps):
 * callers ask these bits, never which backend it is. */
enum {
  /* Passing a VF in gives it the MAC and VLAN of its NIC spec (libvirt's
   * <interface type='hostdev'>).  Without it the caller sets the VF's MAC
   * through the PF (rtnetlink) before create. */
  IOV_VM_CAP_SETS_VF_MAC = 1u << 0,
  /* Real VMs through a hypervisor connection (config uri).  Without it
   * the guests are processes in network namespaces of this host, each
   * holding a VF: no hypervisor, no virtio NICs. */
  IOV_VM_CAP_HYPERVISOR = 1u << 1,
};

struct iov_vm_ops {
  const char *name;
  unsigned caps; /* IOV_VM_CAP_* */
  int (*open)(const struct iov_vm_config *cfg, struct iov_vm_host **ret, char *err, size_t errlen);
  struct iov_vm_host *(*close)(struct iov_vm_host *h);
  int (*create)(struct iov_vm_host *h, const struct iov_vm_spec *specs, size_t n, size_t *ret_reused,
                char *err, size_t errlen);
  int (*destroy)(struct iov_vm_host *h, const char *name, char *err, size_t errlen);
  int (*destroy_all)(struct iov_vm_host *h, char *err, size_t errlen);
  int (*point_done)(struct iov_vm_host *h, char *err, size_t errlen);
  int (*list_ours)(struct iov_vm_host *h, const char *run, const char *host, struct iov_vm_info **ret,
                   size_t *ret_n, char *err, size_t errlen);
  int (*cleanup)(struct iov_vm_host *h, const char *run, const char *host, const char *pool,
                 size_t *ret_removed, char *err, size_t errlen);
  int (*stats)(struct iov_vm_host *h, struct iov_vm_stats **ret, size_t *ret_n, char *err, size_t errlen);
  /* The process whose threads are the guest's cost to the host, 0 if
   * unknown; NULL: the backend has no such process of its own (libvirt:
   * the caller reads qemu's pid file). */
  pid_t (*guest_pid)(struct iov_vm_host *h, const char *name);
};

/* The libvirt backend (vm_libvirt.c). */
extern const struct iov_vm_ops iov_vm_ops_libvirt;
/* Guests as network namespaces holding a VF, no hypervisor (vm_netns.c). */
extern const struct iov_vm_ops iov_vm_ops_netns;
