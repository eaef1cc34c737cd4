/* Fuzz target: SR-IOV and NIC discovery from sysfs (host/sriov_sysfs.c),
 * with libpci reading the config space files.
 *
 * At start-up the three recorded trees of tests/fixtures/sysfs (igb on
 * qemu, a handmade ConnectX-5, a damaged one) are copied into a scratch
 * directory, and every regular file and symlink in them (but .keep) is
 * numbered (sorted by path), the bus/pci/devices links too.  An input is:
 *   [tree byte] then records [slot byte][length, 2 bytes LE][bytes]
 * Each record rewrites entry slot % n of the chosen tree: a file gets the
 * bytes as its content (no bytes: the file is removed), a link is pointed
 * at the target of link bytes[0] % n_links of the same tree (no bytes:
 * removed, 0xff: left dangling).  Targets are only ever the tree's own,
 * so nothing outside the scratch copy is reached.  Then
 * iov_sriov_discover() runs on the tree, and the tree is put back.
 *
 * What discovery reports must pass the wire's checks (sriov_sysfs.c says
 * so with static asserts on the limits): the NICs go into an Inventory,
 * into a Welcome, through iov_wire_encode() and iov_wire_decode().  The
 * JSON and the table of `iovbench-agent inventory` are made too. */
#include <errno.h>

#include "fuzz.h"
#include "sriov.h"
#include "wire.h"

#define MAX_ENTRIES 1024

struct entry {
  char *path;
  bool link;
  char *orig; /* content or link target */
  size_t orig_len;
  bool touched;
};

struct tree {
  char root[PATH_MAX];
  struct entry e[MAX_ENTRIES];
  size_t n;
  size_t links[MAX_ENTRIES]; /* indexes of the links */
  size_t n_links;
};

static const char *const fixtures[] = { "igb-82576-qemu", "mlx5-cx5-handmade", "damaged" };
static struct tree trees[ELEMENTSOF(fixtures)];
static char scratch[PATH_MAX];
static FILE *devnull;

static void cleanup(void) {
  if (scratch[0]) iov_fuzz_remove_tree(scratch);
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static int read_whole(const char *path, char **ret, size_t *ret_len) {
  char buf[65536];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0) return -errno;
  n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n < 0) return -errno;
  *ret = malloc((size_t)n + 1);
  if (!*ret) return -ENOMEM;
  memcpy(*ret, buf, (size_t)n);
  *ret_len = (size_t)n;
  return 0;
}

static void collect(struct tree *t, const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  if (!d) return;
  while ((de = readdir(d)) && t->n < MAX_ENTRIES) {
    char p[PATH_MAX];
    struct stat st;
    if (de->d_name[0] == '.') continue;
    iov_fuzz_path(p, sizeof(p), "%s/%s", dir, de->d_name);
    if (lstat(p, &st) < 0) continue;
    if (S_ISDIR(st.st_mode)) {
      collect(t, p);
      continue;
    }
    struct entry *e = &t->e[t->n];
    e->path = strdup(p);
    if (!e->path) abort();
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t k = readlink(p, target, sizeof(target) - 1);
      if (k < 0) continue;
      e->link = true;
      e->orig = strndup(target, (size_t)k);
      e->orig_len = (size_t)k;
      if (!e->orig) abort();
    } else if (read_whole(p, &e->orig, &e->orig_len) < 0)
      abort();
    t->n++;
  }
  closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  iov_fuzz_quiet();
  devnull = fopen("/dev/null", "we");
  if (!devnull || iov_fuzz_scratch_dir("sysfs", scratch) < 0) abort();
  atexit(cleanup);
  for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
    struct tree *t = &trees[i];
    char src[PATH_MAX];
    iov_fuzz_path(src, sizeof(src), "%s/tests/fixtures/sysfs/%s", iov_fuzz_srcdir(), fixtures[i]);
    iov_fuzz_path(t->root, sizeof(t->root), "%s/%s", scratch, fixtures[i]);
    if (iov_fuzz_copy_tree(src, t->root) < 0) {
      fprintf(stderr, "fuzz_sysfs: cannot copy %s (set IOV_SRCDIR)\n", src);
      abort();
    }
    collect(t, t->root);
    qsort(t->e, t->n, sizeof(t->e[0]), cmp_entry);
    for (size_t k = 0; k < t->n; k++)
      if (t->e[k].link) t->links[t->n_links++] = k;
    if (!t->n || !t->n_links) abort();
  }
  return 0;
}

static void set_link(const char *path, const char *target) {
  (void)unlink(path);
  if (symlink(target, path) < 0) abort();
}

static void put_back(struct tree *t) {
  for (size_t k = 0; k < t->n; k++) {
    struct entry *e = &t->e[k];
    if (!e->touched) continue;
    e->touched = false;
    if (e->link)
      set_link(e->path, e->orig);
    else if (iov_fuzz_write_file(e->path, e->orig, e->orig_len) < 0)
      abort();
  }
}

static void check_list(const struct iov_nic_list *l) {
  Iovbench__Inventory inv = IOVBENCH__INVENTORY__INIT;
  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT, *back = NULL;
  zframe_t *f = NULL;
  char why[256];
  int r;

  IOV_FUZZ_CHECK(l->n_nics <= IOV_SRIOV_MAX_NICS && l->n_warnings <= IOV_SRIOV_MAX_WARNINGS, "%zu NICs",
                 l->n_nics);
  for (size_t i = 0; i < l->n_nics; i++) {
    const struct iov_nic *n = &l->nics[i];
    IOV_FUZZ_CHECK(n->n_vfs <= IOV_SRIOV_MAX_VFS && n->n_netdevs <= IOV_SRIOV_MAX_NETDEVS &&
                       n->n_warnings <= IOV_SRIOV_MAX_WARNINGS,
                   "NIC %s: %zu VFs, %zu netdevs, %zu warnings", n->pci_addr, n->n_vfs, n->n_netdevs,
                   n->n_warnings);
    IOV_FUZZ_CHECK(iov_nic_list_find(l, n->pci_addr), "NIC %s not found by address", n->pci_addr);
    for (size_t k = 0; k < n->n_vfs; k++) (void)iov_nic_list_find_pf(l, n->vfs[k].pci_addr);
    (void)iov_nic_list_is_top(l, n);
  }
  r = iov_nic_list_to_pb(l, &inv);
  IOV_FUZZ_CHECK(r == 0, "iov_nic_list_to_pb: %d", r);
  w.inventory = &inv;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  r = iov_wire_encode(&e, &f);
  IOV_FUZZ_CHECK(r == 0, "cannot encode the inventory: %d", r);
  r = iov_wire_decode(zframe_data(f), zframe_size(f), &back, NULL, why, sizeof(why));
  IOV_FUZZ_CHECK(r == 0, "the wire refuses what discovery found: %s", why);
  iov_wire_free(back);
  zframe_destroy(&f);
  iov_nic_pb_free(&inv);

  json_t *j = iov_nic_list_to_json(l);
  IOV_FUZZ_CHECK(j, "no JSON");
  char *s = json_dumps(j, 0);
  IOV_FUZZ_CHECK(s, "JSON does not dump");
  free(s);
  json_decref(j);
  (void)iov_nic_list_print(l, devnull);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct iov_fuzz_reader rd = { data, size };
  struct iov_nic_list *l = NULL;
  const uint8_t *bytes;
  size_t len;
  uint8_t slot;
  int r;

  if (!scratch[0]) LLVMFuzzerInitialize(NULL, NULL);
  if (size < 1) return 0;
  struct tree *t = &trees[data[0] % ELEMENTSOF(trees)];
  rd.p++;
  rd.left--;
  while (iov_fuzz_next(&rd, &slot, &bytes, &len)) {
    struct entry *e = &t->e[slot % t->n];
    e->touched = true;
    if (len == 0)
      (void)unlink(e->path);
    else if (!e->link) {
      if (iov_fuzz_write_file(e->path, bytes, len) < 0) abort();
    } else if (bytes[0] == 0xff)
      set_link(e->path, "no-such-device");
    else
      set_link(e->path, t->e[t->links[bytes[0] % t->n_links]].orig);
  }
  r = iov_sriov_discover(t->root, &l);
  iov_fuzz_note("discover %s: %d, %zu NICs, %zu warnings\n", t->root, r, l ? l->n_nics : 0,
                l ? l->n_warnings : 0);
  IOV_FUZZ_CHECK(r == 0 || r == -ENOMEM, "discovery failed: %d", r);
  if (r == 0) check_list(l);
  iov_nic_list_free(l);
  put_back(t);
  return 0;
}
