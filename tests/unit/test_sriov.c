/* NIC and SR-IOV discovery (host/sriov.h) on the sysfs trees of
 * tests/fixtures/sysfs/ (README.md there says where each comes from):
 * the igb/82576 tree recorded in a QEMU 10 guest, a hand-made
 * ConnectX-5/ConnectX-3 host, and a damaged copy of the igb tree.  Also
 * trees made on the spot for what git cannot hold (a FIFO) or what would
 * be silly to commit (dozens of bad links), the wire round trip of the
 * inventory, its JSON and its table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sriov.h"
#include "wire.h"

static char fixture_root[PATH_MAX];

/* The source root: $IOV_SRCDIR (ctest sets it), else from __FILE__. */
static void find_fixtures(void) {
  const char *src = getenv("IOV_SRCDIR");

  if (src && *src) {
    snprintf(fixture_root, sizeof(fixture_root), "%s/tests/fixtures/sysfs", src);
  } else {
    const char *f = __FILE__, *t = strstr(f, "tests/unit/");
    int len = t ? (int)(t - f) : 0;
    snprintf(fixture_root, sizeof(fixture_root), "%.*stests/fixtures/sysfs", len, f);
  }
}

static struct iov_nic_list *discover_case(const char *name) {
  char root[PATH_MAX];
  struct iov_nic_list *l = NULL;
  int r = snprintf(root, sizeof(root), "%s/%s", fixture_root, name);
  assert_true(r > 0 && (size_t)r < sizeof(root));
  assert_int_equal(iov_sriov_discover(root, &l), 0);
  assert_non_null(l);
  return l;
}

static const struct iov_nic *must_find(const struct iov_nic_list *l, const char *addr) {
  const struct iov_nic *n = iov_nic_list_find(l, addr);
  if (!n) fail_msg("no NIC %s in the list", addr);
  return n;
}

static size_t count_top(const struct iov_nic_list *l) {
  size_t n = 0;
  for (size_t i = 0; i < l->n_nics; i++) n += iov_nic_list_is_top(l, &l->nics[i]);
  return n;
}

/* Whether one of the NIC's (or, n == NULL, the list's) warnings holds s. */
static bool warned(const struct iov_nic_list *l, const struct iov_nic *n, const char *s) {
  char **v = n ? n->warnings : l->warnings;
  size_t k = n ? n->n_warnings : l->n_warnings;
  for (size_t i = 0; i < k; i++)
    if (strstr(v[i], s)) return true;
  return false;
}

#define assert_warned(l, n, s)                                               \
  do {                                                                       \
    if (!warned((l), (n), (s))) fail_msg("no warning containing '%s'", (s)); \
  } while (0)

static void check_vf(const struct iov_nic_vf *vf, unsigned index, const char *addr, const char *driver,
                     const char *netdev, int iommu) {
  assert_int_equal(vf->index, index);
  assert_string_equal(vf->pci_addr, addr);
  assert_true(vf->present);
  if (driver)
    assert_string_equal(vf->driver, driver);
  else
    assert_null(vf->driver);
  if (netdev)
    assert_string_equal(vf->netdev, netdev);
  else
    assert_null(vf->netdev);
  assert_int_equal(vf->iommu_group, iommu);
}

/* ---- the recorded igb tree ----------------------------------------- */

static void test_igb_recorded(void **state) {
  (void)state;
  struct iov_nic_list *l = discover_case("igb-82576-qemu");

  /* 12 PCI functions, of which 4 are network class: virtio-net, the
   * 82576 PF and its 2 VFs. */
  assert_int_equal(l->n_nics, 4);
  assert_int_equal(count_top(l), 2);
  assert_int_equal(l->n_warnings, 0);
  assert_null(iov_nic_list_find(l, "0000:00:1f.2"));        /* SATA */
  assert_null(iov_nic_list_find(l, "0000:10:00.0"));        /* root port */
  assert_string_equal(l->nics[0].pci_addr, "0000:01:00.0"); /* sorted */

  const struct iov_nic *v = must_find(l, "0000:01:00.0");
  assert_int_equal(v->vendor_id, 0x1af4);
  assert_int_equal(v->device_id, 0x1041);
  assert_int_equal(v->class_code, 0x020000);
  assert_string_equal(v->driver, "virtio-pci");
  assert_int_equal(v->n_netdevs, 1); /* virtio0/net/eth0 */
  assert_string_equal(v->netdevs[0].name, "eth0");
  assert_string_equal(v->netdevs[0].mac, "52:54:00:00:00:03");
  assert_int_equal(v->netdevs[0].speed, -1); /* virtio says -1 */
  assert_int_equal(v->netdevs[0].ifindex, 2);
  assert_string_equal(v->netdevs[0].operstate, "up");
  assert_int_equal(v->numa_node, -1);
  assert_int_equal(v->iommu_group, 5);
  assert_false(v->sriov);
  assert_int_equal(v->n_vfs, 0);
  assert_string_equal(v->physfn, "");
  assert_int_equal(v->n_warnings, 0);

  const struct iov_nic *pf = must_find(l, "0000:11:00.0");
  assert_true(pf->ids_known);
  assert_int_equal(pf->vendor_id, 0x8086);
  assert_int_equal(pf->device_id, 0x10c9);
  assert_string_equal(pf->driver, "igb");
  assert_int_equal(pf->n_netdevs, 1);
  assert_string_equal(pf->netdevs[0].name, "eth1");
  assert_string_equal(pf->netdevs[0].mac, "52:54:00:00:00:02");
  assert_int_equal(pf->netdevs[0].speed, 1000);
  assert_int_equal(pf->numa_node, 1); /* behind the NUMA-node-1 expander bridge */
  assert_int_equal(pf->iommu_group, 7);
  assert_true(pf->sriov);
  assert_int_equal(pf->totalvfs, 7); /* igb caps the 82576's 8 at 7 */
  assert_int_equal(pf->numvfs, 2);
  assert_int_equal(pf->n_vfs, 2);
  check_vf(&pf->vfs[0], 0, "0000:11:10.0", "igbvf", "eth2", 8);
  check_vf(&pf->vfs[1], 1, "0000:11:10.2", "vfio-pci", NULL, 9);
  assert_int_equal(pf->n_warnings, 0);

  const struct iov_nic *vf = must_find(l, "0000:11:10.2");
  assert_string_equal(vf->physfn, "0000:11:00.0");
  assert_int_equal(vf->device_id, 0x10ca); /* from sysfs: its config space reads 0xffff */
  assert_int_equal(vf->numa_node, 1);
  assert_int_equal(vf->n_netdevs, 0);
  assert_false(vf->sriov);
  assert_false(iov_nic_list_is_top(l, vf));
  assert_ptr_equal(iov_nic_list_find_pf(l, "0000:11:10.2"), pf);
  vf = must_find(l, "0000:11:10.0");
  assert_string_equal(vf->netdevs[0].name, "eth2");
  assert_int_equal(vf->iommu_group, 8);
  iov_nic_list_free(l);
}

/* ---- the hand-made Mellanox tree ----------------------------------- */

static void test_mlx5_handmade(void **state) {
  (void)state;
  struct iov_nic_list *l = discover_case("mlx5-cx5-handmade");

  assert_int_equal(l->n_nics, 7); /* mlx4, 2 mlx5 PFs, 4 VFs */
  assert_int_equal(count_top(l), 3);
  assert_int_equal(l->n_warnings, 0);
  for (size_t i = 0; i < l->n_nics; i++) assert_int_equal(l->nics[i].n_warnings, 0);

  const struct iov_nic *cx3 = must_find(l, "0000:3b:00.0");
  assert_string_equal(cx3->driver, "mlx4_core");
  assert_int_equal(cx3->n_netdevs, 2); /* both ports on one function */
  assert_string_equal(cx3->netdevs[0].name, "ens2");
  assert_int_equal(cx3->netdevs[0].speed, 40000);
  assert_string_equal(cx3->netdevs[1].name, "ens2d1");
  assert_int_equal(cx3->netdevs[1].speed, -1);
  assert_string_equal(cx3->netdevs[1].operstate, "down");
  assert_int_equal(cx3->numa_node, 0);
  assert_int_equal(cx3->iommu_group, 40);
  assert_false(cx3->sriov);

  const struct iov_nic *pf0 = must_find(l, "0000:af:00.0");
  assert_int_equal(pf0->vendor_id, 0x15b3);
  assert_int_equal(pf0->device_id, 0x1017);
  assert_string_equal(pf0->driver, "mlx5_core");
  assert_string_equal(pf0->netdevs[0].name, "ens1f0np0");
  assert_int_equal(pf0->netdevs[0].speed, 25000);
  assert_int_equal(pf0->numa_node, 1);
  assert_int_equal(pf0->iommu_group, 94);
  assert_true(pf0->sriov);
  assert_int_equal(pf0->totalvfs, 8);
  assert_int_equal(pf0->numvfs, 4);
  assert_int_equal(pf0->n_vfs, 4);
  for (unsigned i = 0; i < 4; i++) {
    char addr[16], nd[16];
    snprintf(addr, sizeof(addr), "0000:af:00.%u", 2 + i);
    snprintf(nd, sizeof(nd), "ens1f0v%u", i);
    check_vf(&pf0->vfs[i], i, addr, "mlx5_core", nd, (int)(96 + i));
    const struct iov_nic *vf = must_find(l, addr);
    assert_int_equal(vf->device_id, 0x1018);
    assert_string_equal(vf->physfn, "0000:af:00.0");
    assert_int_equal(vf->numa_node, 1);
    assert_false(iov_nic_list_is_top(l, vf));
  }

  const struct iov_nic *pf1 = must_find(l, "0000:af:00.1");
  assert_true(pf1->sriov);
  assert_int_equal(pf1->totalvfs, 8);
  assert_int_equal(pf1->numvfs, 0);
  assert_int_equal(pf1->n_vfs, 0);
  assert_int_equal(pf1->netdevs[0].speed, -1);
  iov_nic_list_free(l);
}

/* ---- the damaged tree ---------------------------------------------- */

static void test_damaged(void **state) {
  (void)state;
  struct iov_nic_list *l = discover_case("damaged");

  /* The same 4 functions as the igb tree, plus a VF whose PF is gone. */
  assert_int_equal(l->n_nics, 5);
  assert_int_equal(count_top(l), 3);
  assert_warned(l, NULL, "not-a-pci-address: not a PCI address");
  assert_warned(l, NULL, "0000:00:1f.2: cannot tell whether it is a NIC");
  assert_int_equal(l->n_warnings, 2);

  /* Ids from config space when the sysfs files are gone. */
  const struct iov_nic *v = must_find(l, "0000:01:00.0");
  assert_true(v->ids_known);
  assert_int_equal(v->vendor_id, 0x1af4);
  assert_int_equal(v->device_id, 0x1041);
  assert_warned(l, v, "vendor/device unreadable");
  assert_int_equal(v->numa_node, -1);
  assert_warned(l, v, "numa_node unreadable: not a valid number");
  assert_string_equal(v->netdevs[0].name, "eth0"); /* the rest is intact */
  assert_int_equal(v->iommu_group, 5);

  const struct iov_nic *pf = must_find(l, "0000:11:00.0");
  assert_string_equal(pf->driver, "igb");
  assert_int_equal(pf->numa_node, -1);
  assert_warned(l, pf, "numa_node unreadable: too long");
  assert_null(pf->netdevs[0].mac);
  assert_warned(l, pf, "eth1: address unreadable");
  assert_int_equal(pf->netdevs[0].speed, -1);
  assert_warned(l, pf, "eth1: speed unreadable");
  assert_true(pf->sriov);
  assert_int_equal(pf->totalvfs, 8); /* the capability's TotalVFs, not igb's 7 */
  assert_warned(l, pf, "no sriov_totalvfs");
  assert_int_equal(pf->numvfs, -1);
  assert_warned(l, pf, "sriov_numvfs unreadable");
  assert_int_equal(pf->n_vfs, 3);
  check_vf(&pf->vfs[0], 0, "0000:11:10.0", "igbvf", "eth2", 8);
  assert_int_equal(pf->vfs[1].iommu_group, -1);
  assert_string_equal(pf->vfs[1].driver, "vfio-pci");
  assert_warned(l, pf, "vf 1 (0000:11:10.2): iommu_group link unreadable");
  assert_false(pf->vfs[2].present);
  assert_string_equal(pf->vfs[2].pci_addr, "0000:11:10.4");
  assert_null(pf->vfs[2].driver);
  assert_warned(l, pf, "virtfn2 -> 0000:11:10.4: no such device");
  assert_warned(l, pf, "virtfnX");
  /* The VF's own warnings moved to its PF, which shows it. */
  assert_int_equal(must_find(l, "0000:11:10.2")->n_warnings, 0);

  const struct iov_nic *orphan = must_find(l, "0000:00:05.0");
  assert_true(iov_nic_list_is_top(l, orphan));
  assert_string_equal(orphan->physfn, "0000:00:04.0");
  assert_warned(l, orphan, "physfn -> 0000:00:04.0: no such device");
  assert_string_equal(orphan->netdevs[0].name, "eth9");
  assert_false(orphan->sriov);
  iov_nic_list_free(l);
}

/* ---- trees made on the spot ---------------------------------------- */

#define ROOT_MAX 512 /* the scratch trees' roots: short, so paths fit */

static void put(const char *root, const char *rel, const char *text) {
  char path[PATH_MAX], dir[PATH_MAX + 32];
  assert_true(strlen(root) + strlen(rel) + 2 < sizeof(path));
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  snprintf(dir, sizeof(dir), "mkdir -p \"$(dirname '%s')\"", path);
  assert_int_equal(system(dir), 0);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void rm_tree(const char *root) {
  char cmd[ROOT_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

static void make_tmp(char root[ROOT_MAX]) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || strlen(tmp) > ROOT_MAX - 32) tmp = "/tmp";
  snprintf(root, ROOT_MAX, "%s/iov-sriov-XXXXXX", tmp);
  assert_non_null(mkdtemp(root));
}

static void test_no_pci_tree(void **state) {
  (void)state;
  char root[ROOT_MAX];
  struct iov_nic_list *l = NULL;

  make_tmp(root);
  assert_int_equal(iov_sriov_discover(root, &l), 0); /* nothing there */
  assert_int_equal(l->n_nics, 0);
  assert_int_equal(l->n_warnings, 0);
  l = iov_nic_list_free(l);
  put(root, "bus/pci/devices/.keep", ""); /* a PCI tree with no device */
  assert_int_equal(iov_sriov_discover(root, &l), 0);
  assert_int_equal(l->n_nics, 0);
  l = iov_nic_list_free(l);
  rm_tree(root);

  char big[IOV_SRIOV_MAX_ROOT + 2];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  struct iov_nic_list sentinel;
  l = &sentinel; /* written only on success */
  assert_int_equal(iov_sriov_discover(big, &l), -ENAMETOOLONG);
  assert_ptr_equal(l, &sentinel);
  assert_null(iov_nic_list_free(NULL));
}

/* A FIFO where a number should be must not block the agent, and dozens
 * of bad links give a bounded number of warnings. */
static void test_fifo_and_warning_cap(void **state) {
  (void)state;
  char root[ROOT_MAX], path[PATH_MAX];
  struct iov_nic_list *l = NULL;

  make_tmp(root);
  put(root, "bus/pci/devices/0000:00:01.0/class", "0x020000\n");
  put(root, "bus/pci/devices/0000:00:01.0/vendor", "0x8086\n");
  put(root, "bus/pci/devices/0000:00:01.0/device", "0x10c9\n");
  put(root, "bus/pci/devices/0000:00:01.0/sriov_totalvfs", "7\n");
  put(root, "bus/pci/devices/0000:00:01.0/sriov_numvfs", "0\n");
  snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:01.0/numa_node", root);
  assert_int_equal(mkfifo(path, 0600), 0);
  for (int i = 0; i < 3 * IOV_SRIOV_MAX_WARNINGS; i++) {
    snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:01.0/virtfn%d", root, i);
    assert_int_equal(symlink("../not-an-address", path), 0);
  }
  assert_int_equal(iov_sriov_discover(root, &l), 0);
  assert_int_equal(l->n_nics, 1);
  const struct iov_nic *n = &l->nics[0];
  assert_int_equal(n->numa_node, -1);
  assert_warned(l, n, "numa_node unreadable: not a plain text file");
  assert_int_equal(n->n_vfs, 0);
  assert_int_equal(n->n_warnings, IOV_SRIOV_MAX_WARNINGS);
  assert_string_equal(n->warnings[IOV_SRIOV_MAX_WARNINGS - 1], "more warnings left out");
  assert_int_equal(n->totalvfs, 7);
  assert_null(n->driver); /* none bound */
  assert_int_equal(n->iommu_group, -1);
  iov_nic_list_free(l);
  rm_tree(root);
}

/* VFs come in VF-number order (virtfn2 before virtfn10), whatever the
 * order of the directory. */
static void test_vf_order(void **state) {
  (void)state;
  static const unsigned idx[] = { 10, 2, 1, 0 };
  char root[ROOT_MAX], path[PATH_MAX], target[64];
  struct iov_nic_list *l = NULL;

  make_tmp(root);
  put(root, "bus/pci/devices/0000:00:01.0/class", "0x020000\n");
  put(root, "bus/pci/devices/0000:00:01.0/vendor", "0x8086\n");
  put(root, "bus/pci/devices/0000:00:01.0/device", "0x10c9\n");
  put(root, "bus/pci/devices/0000:00:01.0/sriov_totalvfs", "16\n");
  put(root, "bus/pci/devices/0000:00:01.0/sriov_numvfs", "4\n");
  for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
    snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:01.0/virtfn%u", root, idx[i]);
    snprintf(target, sizeof(target), "../0000:00:%02x.%u", 2 + idx[i] / 8, idx[i] % 8);
    assert_int_equal(symlink(target, path), 0);
  }
  assert_int_equal(iov_sriov_discover(root, &l), 0);
  assert_int_equal(l->n_nics, 1);
  const struct iov_nic *n = &l->nics[0];
  assert_int_equal(n->n_vfs, 4);
  assert_int_equal(n->vfs[0].index, 0);
  assert_int_equal(n->vfs[1].index, 1);
  assert_int_equal(n->vfs[2].index, 2);
  assert_int_equal(n->vfs[3].index, 10);
  assert_string_equal(n->vfs[3].pci_addr, "0000:00:03.2");
  assert_false(n->vfs[3].present); /* the targets are not there */
  assert_int_equal(n->numvfs, 4);  /* as many links as VFs: no mismatch */
  assert_false(warned(l, n, "sriov_numvfs says"));
  iov_nic_list_free(l);
  rm_tree(root);
}

/* ---- the wire, JSON and the table ---------------------------------- */

static int roundtrip(Iovbench__Inventory *inv, iov_envelope **ret) {
  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  zframe_t *f = NULL;
  char why[256];
  w.kind = IOVBENCH__PEER_KIND__PEER_HOST_AGENT;
  w.identity = "a";
  w.inventory = inv;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  assert_int_equal(iov_wire_encode(&e, &f), 0);
  int r = iov_wire_decode(zframe_data(f), zframe_size(f), ret, NULL, why, sizeof(why));
  zframe_destroy(&f);
  return r;
}

static void test_to_pb_and_wire(void **state) {
  (void)state;
  struct iov_nic_list *l = discover_case("igb-82576-qemu");
  Iovbench__Inventory inv = IOVBENCH__INVENTORY__INIT;
  iov_envelope *out = NULL;

  assert_int_equal(iov_nic_list_to_pb(l, &inv), 0);
  assert_int_equal(inv.n_nics, 2); /* the VFs are inside their PF */
  assert_int_equal(roundtrip(&inv, &out), 0);
  const Iovbench__Inventory *got = out->welcome->inventory;
  assert_int_equal(got->n_nics, 2);
  const Iovbench__PciNic *pf = got->nics[1];
  assert_string_equal(pf->pci_address, "0000:11:00.0");
  assert_int_equal(pf->vendor_id, 0x8086);
  assert_string_equal(pf->driver, "igb");
  assert_int_equal(pf->numa_node, 1);
  assert_int_equal(pf->iommu_group, 7);
  assert_true(pf->sriov);
  assert_int_equal(pf->sriov_totalvfs, 7);
  assert_int_equal(pf->sriov_numvfs, 2);
  assert_int_equal(pf->n_netdevs, 1);
  assert_string_equal(pf->netdevs[0]->name, "eth1");
  assert_int_equal(pf->netdevs[0]->speed_mbps, 1000);
  assert_int_equal(pf->n_vfs, 2);
  assert_string_equal(pf->vfs[1]->pci_address, "0000:11:10.2");
  assert_string_equal(pf->vfs[1]->driver, "vfio-pci");
  assert_string_equal(pf->vfs[1]->netdev, "");
  assert_int_equal(pf->vfs[1]->iommu_group, 9);
  assert_int_equal(got->nics[0]->numa_node, -1);
  assert_int_equal(got->nics[0]->netdevs[0]->speed_mbps, 0); /* unknown */
  iov_wire_free(out);

  /* The decoder checks what it got. */
  inv.nics[1]->numa_node = -2;
  assert_int_equal(roundtrip(&inv, &out), -EBADMSG);
  inv.nics[1]->numa_node = 1;
  char *addr = inv.nics[1]->vfs[0]->pci_address;
  inv.nics[1]->vfs[0]->pci_address = (char *)"not an address but long";
  assert_int_equal(roundtrip(&inv, &out), -EBADMSG);
  inv.nics[1]->vfs[0]->pci_address = addr;
  inv.nics[1]->sriov_numvfs = 70000;
  assert_int_equal(roundtrip(&inv, &out), -EBADMSG);
  iov_nic_pb_free(&inv);
  assert_int_equal(inv.n_nics, 0);

  /* The damaged tree goes out with its warnings. */
  iov_nic_list_free(l);
  l = discover_case("damaged");
  assert_int_equal(iov_nic_list_to_pb(l, &inv), 0);
  assert_int_equal(roundtrip(&inv, &out), 0);
  bool seen = false;
  for (size_t i = 0; i < out->welcome->inventory->n_nics; i++)
    seen = seen || out->welcome->inventory->nics[i]->n_warnings > 3;
  assert_true(seen);
  iov_wire_free(out);
  iov_nic_pb_free(&inv);
  iov_nic_list_free(l);
}

static void test_json(void **state) {
  (void)state;
  struct iov_nic_list *l = discover_case("igb-82576-qemu");
  json_t *j = iov_nic_list_to_json(l);

  assert_non_null(j);
  json_t *nics = json_object_get(j, "nics");
  assert_int_equal(json_array_size(nics), 2);
  json_t *virtio = json_array_get(nics, 0), *pf = json_array_get(nics, 1);
  assert_true(json_is_null(json_object_get(virtio, "numa_node")));
  assert_true(json_is_null(json_object_get(virtio, "sriov_totalvfs")));
  assert_string_equal(json_string_value(json_object_get(pf, "pci_address")), "0000:11:00.0");
  assert_int_equal(json_integer_value(json_object_get(pf, "numa_node")), 1);
  assert_int_equal(json_integer_value(json_object_get(pf, "sriov_totalvfs")), 7);
  json_t *vfs = json_object_get(pf, "vfs");
  assert_int_equal(json_array_size(vfs), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(vfs, 0), "netdev")), "eth2");
  assert_true(json_is_null(json_object_get(json_array_get(vfs, 1), "netdev")));
  assert_int_equal(json_array_size(json_object_get(j, "warnings")), 0);
  json_decref(j);
  iov_nic_list_free(l);
}

static void test_table(void **state) {
  (void)state;
  struct iov_nic_list *l = discover_case("mlx5-cx5-handmade");
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  assert_non_null(f);
  assert_int_equal(iov_nic_list_print(l, f), 0);
  fclose(f);
  /* A header, 3 NICs, the CX-3's second netdev, 4 VF lines. */
  size_t lines = 0, vf_lines = 0;
  for (char *p = buf; *p; p++) lines += *p == '\n';
  for (char *p = buf; (p = strstr(p, "\n  vf ")); p++) vf_lines++;
  assert_int_equal(lines, 1 + 3 + 1 + 4);
  assert_int_equal(vf_lines, 4);
  assert_non_null(
      strstr(buf, "0000:af:00.0  mlx5_core  ens1f0np0  b8:59:9f:c2:3a:10  25000    1    94     4/8\n"));
  assert_non_null(strstr(buf, "  vf 3    0000:af:00.5  mlx5_core  ens1f0v3   iommu 99\n"));
  assert_null(strstr(buf, "\n0000:af:00.2")); /* a VF is not a row of its own */
  free(buf);
  iov_nic_list_free(l);
}

/* The machine's own /sys: whatever it holds, discovery succeeds. */
static void test_this_machine(void **state) {
  (void)state;
  struct iov_nic_list *l = NULL;
  assert_int_equal(iov_sriov_discover(NULL, &l), 0);
  assert_non_null(l);
  iov_nic_list_free(l);
}

int main(void) {
  find_fixtures();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_igb_recorded),
    cmocka_unit_test(test_mlx5_handmade),
    cmocka_unit_test(test_damaged),
    cmocka_unit_test(test_no_pci_tree),
    cmocka_unit_test(test_fifo_and_warning_cap),
    cmocka_unit_test(test_vf_order),
    cmocka_unit_test(test_to_pb_and_wire),
    cmocka_unit_test(test_json),
    cmocka_unit_test(test_table),
    cmocka_unit_test(test_this_machine),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
