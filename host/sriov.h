/* NIC and SR-IOV inventory: every network-class PCI function (class
 * 0x02xxxx) of a machine, read from sysfs with libpci's help.
 *
 * What comes from where:
 *   - the PCI functions: the entries of <root>/bus/pci/devices;
 *   - vendor, device and class: the kernel's sysfs files (a VF's config
 *     space reads 0xffff there, the kernel fills in the real ids); when
 *     those files are missing or garbled, libpci reads the config space
 *     instead;
 *   - vendor and device names: libpci's ids database (pci.ids or udev's
 *     hwdb), when the machine has one; never required;
 *   - driver, iommu group: basenames of the driver and iommu_group links;
 *   - NUMA node: numa_node (absent on kernels without NUMA: -1);
 *   - netdevs: net/NAME (and virtioN/net/NAME for virtio-net), with
 *     address, speed, ifindex and operstate;
 *   - SR-IOV: sriov_totalvfs, sriov_numvfs and the virtfnN links of a PF
 *     (when sriov_totalvfs is missing, the SR-IOV capability in config
 *     space as libpci reads it); the physfn link of a VF.
 *
 * The sysfs root is a parameter (house rule 32): "/sys" on a machine, a
 * recorded tree (tests/fixtures/sysfs/<case>/) in tests.  libpci is pointed
 * at the same tree through its "sysfs.path" parameter.
 *
 * Damaged or partial trees (missing files, garbage numbers, dangling
 * links) are not errors: the NIC is reported with what could be read, and
 * each thing that could not be read adds a warning to it (or to the list,
 * when it concerns no particular NIC).  A root without a PCI tree gives an
 * empty list.  Nothing here logs; callers print or log the warnings.
 *
 * Threading: iov_sriov_discover() may run in any thread; the lists it
 * returns are plain data. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iovbench.pb-c.h"

/* Hard limits on what one discovery reads, whatever sysfs holds. */
#define IOV_SRIOV_MAX_FUNCS 65536 /* PCI functions looked at */
#define IOV_SRIOV_MAX_NICS 4096   /* network functions reported */
#define IOV_SRIOV_MAX_VFS 1024    /* VFs per PF (virtfnN, N below this) */
#define IOV_SRIOV_MAX_NETDEVS 16  /* netdevs per PCI function */
#define IOV_SRIOV_MAX_WARNINGS 32 /* per NIC, and for the list */
#define IOV_SRIOV_MAX_ROOT 900    /* bytes in the root path (libpci's paths stop at 1024) */
#define IOV_PCI_ADDR_MAX 16       /* "0000:01:00.0" and a 5-digit domain, with its NUL */

struct iov_netdev {
  char *name;      /* "eth0" */
  char *mac;       /* NULL when unreadable */
  int64_t speed;   /* Mbit/s; -1 unknown (link down, unreadable, or sysfs -1) */
  int ifindex;     /* 0 unknown */
  char *operstate; /* NULL unknown */
};

/* A VF as its PF's virtfnN link shows it. */
struct iov_nic_vf {
  unsigned index;                  /* N of virtfnN */
  char pci_addr[IOV_PCI_ADDR_MAX]; /* target of the link */
  bool present;                    /* false: the link dangles (no such device) */
  char *driver;                    /* NULL = unbound */
  char *netdev;                    /* first netdev, NULL = none */
  int iommu_group;                 /* -1 = none */
  /* The VF's settings as the PF reports them (MAC, VLAN, spoof check,
   * trust, rates) come from rtnetlink (vf.h), not from sysfs; they are
   * not part of this inventory yet (the proto reserves their fields). */
};

struct iov_nic {
  char pci_addr[IOV_PCI_ADDR_MAX];
  uint16_t vendor_id, device_id;
  uint32_t class_code; /* 24 bits */
  bool ids_known;      /* false: neither sysfs nor config space gave them */
  char *vendor_name;   /* NULL when the ids database does not know it */
  char *device_name;
  char *driver; /* NULL = no driver bound */
  struct iov_netdev *netdevs;
  size_t n_netdevs;
  int numa_node;   /* -1 = none or unknown */
  int iommu_group; /* -1 = none */
  /* SR-IOV PF: sriov is true, totalvfs/numvfs are -1 when unreadable. */
  bool sriov;
  int totalvfs, numvfs;
  struct iov_nic_vf *vfs; /* sorted by index */
  size_t n_vfs;
  /* VF: its PF's address ("" when this is no VF, or the link is gone). */
  char physfn[IOV_PCI_ADDR_MAX];
  char **warnings;
  size_t n_warnings;
};

struct iov_nic_list {
  struct iov_nic *nics; /* sorted by PCI address; VFs included */
  size_t n_nics;
  char **warnings; /* about no particular NIC */
  size_t n_warnings;
};

/* Discover the network PCI functions under the sysfs mounted at 'root'
 * (NULL means "/sys").  Caller owns *ret; free with iov_nic_list_free().
 * Returns 0 (also for a damaged tree, with warnings, and for a root with
 * no PCI tree: an empty list), -ENAMETOOLONG (root longer than
 * IOV_SRIOV_MAX_ROOT), -ENOMEM, or -errno when <root>/bus/pci/devices
 * exists but cannot be read.  *ret is written only on success. */
int iov_sriov_discover(const char *root, struct iov_nic_list **ret);

/* Accepts NULL; returns NULL. */
struct iov_nic_list *iov_nic_list_free(struct iov_nic_list *l);

/* The PF (an SR-IOV NIC in the list) whose vfs include this VF address,
 * or NULL. */
const struct iov_nic *iov_nic_list_find_pf(const struct iov_nic_list *l, const char *vf_addr);
/* The NIC with this PCI address, or NULL. */
const struct iov_nic *iov_nic_list_find(const struct iov_nic_list *l, const char *pci_addr);

/* Whether a NIC is shown on its own: every NIC except a VF that is listed
 * under a PF of the same list.  The wire, the JSON and the table show
 * each PCI function once. */
bool iov_nic_list_is_top(const struct iov_nic_list *l, const struct iov_nic *n);

/* Append the list's top-level NICs (see above) to inv->nics, as malloc'd
 * messages (free each with protobuf_c_message_free_unpacked(m, NULL), as
 * iov_nic_pb_free() does).  List-level warnings are not carried.  Returns
 * 0 or -ENOMEM (inv is left with what was added). */
int iov_nic_list_to_pb(const struct iov_nic_list *l, Iovbench__Inventory *inv);
/* Free and clear inv->nics. */
void iov_nic_pb_free(Iovbench__Inventory *inv);

/* {"nics": [...], "warnings": [...]}, with the keys coord writes into
 * inventory/NAME.json.  Caller owns the reference; NULL on OOM. */
json_t *iov_nic_list_to_json(const struct iov_nic_list *l);

/* Print the table of `iovbench-agent inventory`: one line per NIC
 * (address, driver, netdev, MAC, speed, NUMA, IOMMU group, VFs
 * current/total), then an indented line per VF.  Returns 0 or -EIO. */
int iov_nic_list_print(const struct iov_nic_list *l, FILE *f);
