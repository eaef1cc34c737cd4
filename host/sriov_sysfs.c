/* NIC and SR-IOV discovery from sysfs and libpci (sriov.h).
 *
 * Why the PCI functions are listed here and not by pci_scan_bus(): libpci
 * 3.9 calls its error handler, which its API declares noreturn (the
 * default one exits), when <sysfs.path>/devices cannot be opened or holds
 * a name that is not a PCI address, and when a function lacks the vendor,
 * device, class, irq or resource file it treats as mandatory.  A damaged
 * tree must not end the agent, so this file lists the functions itself and
 * reads the kernel's files with checked parsers, and gives libpci only
 * what cannot fail that way: config-space reads of one function
 * (pci_get_dev, pci_read_*, pci_find_cap, which fills PCI_FILL_CAPS and
 * PCI_FILL_EXT_CAPS through pci_fill_info) and name lookups. */
#include "sriov.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pci/pci.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "parse.h"
#include "wire.h"

/* What one discovery reports must pass the wire's checks. */
_Static_assert(IOV_SRIOV_MAX_NICS <= IOV_WIRE_MAX_NICS, "NIC limit above the wire's");
_Static_assert(IOV_SRIOV_MAX_VFS <= IOV_WIRE_MAX_VFS, "VF limit above the wire's");
_Static_assert(IOV_SRIOV_MAX_NETDEVS <= IOV_WIRE_MAX_NETDEVS, "netdev limit above the wire's");
_Static_assert(IOV_SRIOV_MAX_WARNINGS <= IOV_WIRE_MAX_WARNINGS, "warning limit above the wire's");

#define ATTR_MAX 256       /* bytes of one sysfs attribute we accept */
#define NETDEV_NAME_MAX 15 /* IFNAMSIZ - 1 */

struct scan {
  const char *root;
  struct pci_access *pacc; /* NULL until the first config-space read */
  bool pacc_failed;
  struct iov_nic_list *list;
  struct iov_nic *cur; /* libpci warnings go to this NIC (else to the list) */
  bool oom;
};

/* libpci's message handlers take no context pointer. */
static _Thread_local struct scan *tls_scan;

/* ---- warnings ------------------------------------------------------ */

static void vwarn_into(struct scan *s, char ***v, size_t *n, const char *fmt, va_list ap) {
  char *msg = NULL;

  if (*n >= IOV_SRIOV_MAX_WARNINGS) return;
  if (*n == IOV_SRIOV_MAX_WARNINGS - 1)
    msg = strdup("more warnings left out");
  else if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  if (!msg) {
    s->oom = true;
    return;
  }
  /* libpci may say the same thing once per config read. */
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*v)[i], msg) == 0) {
      free(msg);
      return;
    }
  char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
  if (!nv) {
    free(msg);
    s->oom = true;
    return;
  }
  *v = nv;
  nv[(*n)++] = msg;
}

_printf_(3, 4) static void nic_warn(struct scan *s, struct iov_nic *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (n)
    vwarn_into(s, &n->warnings, &n->n_warnings, fmt, ap);
  else
    vwarn_into(s, &s->list->warnings, &s->list->n_warnings, fmt, ap);
  va_end(ap);
}

static void pci_on_warning(char *fmt, ...) {
  struct scan *s = tls_scan;
  char buf[512];
  va_list ap;

  if (!s) return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  nic_warn(s, s->cur, "libpci: %s", buf);
}

/* libpci calls this for what it cannot go on from, and its API says the
 * handler does not return.  The calls above avoid every such path (see the
 * top of the file); what is left is libpci running out of memory or a
 * malformed pci.ids of the system, and neither can be recovered from. */
_noreturn_ static void pci_on_error(char *fmt, ...) {
  va_list ap;
  fputs("iovbench: libpci: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

static void pci_on_debug(char *fmt, ...) { (void)fmt; }

/* ---- reading sysfs ------------------------------------------------- */

static int join(char *buf, size_t size, const char *dir, const char *name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Read one attribute file into buf (NUL-terminated, one trailing newline
 * dropped).  Returns its length, or -errno (-ENOENT absent, -EFBIG longer
 * than buf, -EINVAL not a regular file or holding a NUL). */
static int read_attr(const char *dir, const char *name, char *buf, size_t size) {
  char path[PATH_MAX];
  struct stat st;
  ssize_t n;
  int r, fd;

  r = join(path, sizeof(path), dir, name);
  if (r < 0) return r;
  /* O_NONBLOCK: a FIFO planted in a tree must not hang us. */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -errno;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    close(fd);
    return r;
  }
  n = read(fd, buf, size);
  r = n < 0 ? -errno : 0;
  close(fd);
  if (r < 0) return r;
  if ((size_t)n >= size) return -EFBIG;
  buf[n] = 0;
  if (strlen(buf) != (size_t)n) return -EINVAL;
  if (n > 0 && buf[n - 1] == '\n') buf[--n] = 0;
  return (int)n;
}

/* The last path component of a symlink's target.  -ENOENT: no link. */
static int read_link_base(const char *dir, const char *name, char *buf, size_t size) {
  char path[PATH_MAX], target[PATH_MAX];
  ssize_t n;
  int r;

  r = join(path, sizeof(path), dir, name);
  if (r < 0) return r;
  n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) return -errno;
  target[n] = 0;
  while (n > 1 && target[n - 1] == '/') target[--n] = 0;
  const char *base = strrchr(target, '/');
  base = base ? base + 1 : target;
  if (!*base) return -EINVAL;
  if (strlen(base) >= size) return -ENAMETOOLONG;
  strcpy(buf, base);
  return 0;
}

/* "0x8086" as the kernel prints ids and classes.  -EINVAL, -ERANGE. */
static int parse_hex(const char *s, uint64_t max, uint64_t *ret) {
  uint64_t v = 0;
  size_t i;

  if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2]) return -EINVAL;
  for (i = 2; s[i]; i++) {
    if (!iov_is_hex(s[i]) || i >= 2 + 16) return -EINVAL;
    v = v << 4 | (unsigned)iov_hex_value(s[i]);
  }
  if (v > max) return -ERANGE;
  *ret = v;
  return 0;
}

/* A decimal integer, possibly negative, within [min, max]. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *ret) {
  bool neg = s[0] == '-';
  uint64_t u;
  int r = iov_parse_u64(neg ? s + 1 : s, &u);
  if (r < 0) return r;
  if (u > (uint64_t)INT64_MAX) return -ERANGE;
  int64_t v = neg ? -(int64_t)u : (int64_t)u;
  if (v < min || v > max) return -ERANGE;
  *ret = v;
  return 0;
}

/* Like read_attr, for a hex number: -EBADMSG when it is not one. */
static int read_hex_attr(const char *dir, const char *name, uint64_t max, uint64_t *ret) {
  char buf[ATTR_MAX];
  int r = read_attr(dir, name, buf, sizeof(buf));
  if (r < 0) return r;
  return parse_hex(buf, max, ret) < 0 ? -EBADMSG : 0;
}

/* Like read_attr, for a decimal number: -EBADMSG when it is not one. */
static int read_int_attr(const char *dir, const char *name, int64_t min, int64_t max, int64_t *ret) {
  char buf[ATTR_MAX];
  int r = read_attr(dir, name, buf, sizeof(buf));
  if (r < 0) return r;
  r = parse_int(buf, min, max, ret);
  return r < 0 ? -EBADMSG : 0;
}

/* What a failed read says, for a warning. */
static const char *why(int r) {
  switch (r) {
  case -EBADMSG: return "not a valid number";
  case -EINVAL: return "not a plain text file";
  case -EFBIG: return "too long";
  case -ERANGE: return "out of range";
  default: return strerror(-r);
  }
}

/* "0000:01:00.0": the kernel's form, and only that (lower-case hex,
 * 4+ digit domain, 2-digit bus and device, 1-digit function). */
static bool parse_bdf(const char *s, unsigned *dom, unsigned *bus, unsigned *dev, unsigned *fn) {
  char canon[IOV_PCI_ADDR_MAX + 8];
  unsigned a, b, c, d;
  int end = 0;

  if (strlen(s) >= IOV_PCI_ADDR_MAX) return false;
  if (sscanf(s, "%8x:%2x:%2x.%1x%n", &a, &b, &c, &d, &end) != 4 || s[end]) return false;
  if (a > 0x7fffffff || c > 0x1f || d > 7) return false;
  snprintf(canon, sizeof(canon), "%04x:%02x:%02x.%x", a, b, c, d);
  if (strcmp(canon, s) != 0) return false;
  *dom = a, *bus = b, *dev = c, *fn = d;
  return true;
}

static bool bdf_ok(const char *s) {
  unsigned a, b, c, d;
  return parse_bdf(s, &a, &b, &c, &d);
}

/* Names of drivers, interfaces, operstates: printable, no blanks. */
static bool word_ok(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] >= 0x7f) return false;
  return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Entries of dir (not "." or ".."), sorted, at most max.  Caller frees
 * each and the array.  -ENOENT and friends when dir cannot be opened. */
static int list_dir(const char *dir, size_t max, char ***ret, size_t *ret_n, bool *ret_truncated) {
  DIR *d = opendir(dir);
  char **v = NULL;
  size_t n = 0;
  struct dirent *e;

  *ret_truncated = false;
  if (!d) return -errno;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n >= max) {
      *ret_truncated = true;
      break;
    }
    char **nv = realloc(v, (n + 1) * sizeof(*nv));
    if (!nv) goto oom;
    v = nv;
    if (!(v[n] = strdup(e->d_name))) goto oom;
    n++;
  }
  closedir(d);
  if (n) qsort(v, n, sizeof(*v), cmp_str);
  *ret = v;
  *ret_n = n;
  return 0;
oom:
  closedir(d);
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
  return -ENOMEM;
}

static void free_strv(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* ---- libpci -------------------------------------------------------- */

static struct pci_access *scan_pacc(struct scan *s) {
  char path[PATH_MAX];

  if (s->pacc || s->pacc_failed) return s->pacc;
  s->pacc_failed = true;
  if (join(path, sizeof(path), s->root, "bus/pci") < 0) return NULL;
  struct pci_access *a = pci_alloc();
  if (!a) return NULL;
  a->error = pci_on_error;
  a->warning = pci_on_warning;
  a->debug = pci_on_debug;
  /* Exactly the sysfs method on exactly this tree: no probing of other
   * methods (which would read the real machine's config space). */
  a->method = PCI_ACCESS_SYS_BUS_PCI;
  if (pci_set_param(a, "sysfs.path", path) < 0) {
    pci_cleanup(a);
    return NULL;
  }
  /* libpci 3.9 leaks a struct udev at every name lookup when the udev
   * hwdb is missing (names-hwdb.c); pci.ids gives the names then. */
  if (access("/etc/udev/hwdb.bin", R_OK) < 0 && access("/usr/lib/udev/hwdb.bin", R_OK) < 0)
    (void)pci_set_param(a, "hwdb.disable", "1");
  pci_init(a);
  s->pacc = a;
  s->pacc_failed = false;
  return a;
}

/* A libpci device for config-space reads of one function, or NULL when
 * its config file cannot be read (then libpci is not asked at all). */
static struct pci_dev *config_dev(struct scan *s, const char *dir, unsigned dom, unsigned bus, unsigned dev,
                                  unsigned fn, int *reterr) {
  char path[PATH_MAX];
  struct pci_access *a;

  *reterr = join(path, sizeof(path), dir, "config");
  if (*reterr < 0) return NULL;
  if (access(path, R_OK) < 0) {
    *reterr = -errno;
    return NULL;
  }
  a = scan_pacc(s);
  if (!a) {
    *reterr = -ENOMEM;
    return NULL;
  }
  return pci_get_dev(a, (int)dom, (int)bus, (int)dev, (int)fn);
}

static char *lookup_name(struct scan *s, int flags, unsigned vendor, unsigned device) {
  char buf[256];
  struct pci_access *a = scan_pacc(s);
  if (!a) return NULL;
  const char *name = (flags & PCI_LOOKUP_DEVICE)
                         ? pci_lookup_name(a, buf, sizeof(buf), flags | PCI_LOOKUP_NO_NUMBERS, vendor, device)
                         : pci_lookup_name(a, buf, sizeof(buf), flags | PCI_LOOKUP_NO_NUMBERS, vendor);
  if (!name) return NULL;
  char *r = strdup(name);
  if (!r) s->oom = true;
  return r;
}

/* ---- one function -------------------------------------------------- */

static void read_driver(struct scan *s, struct iov_nic *n, const char *dir, char **ret) {
  char buf[NAME_MAX + 1];
  int r = read_link_base(dir, "driver", buf, sizeof(buf));

  *ret = NULL;
  if (r == -ENOENT) return;
  if (r < 0 || !word_ok(buf, 64)) {
    nic_warn(s, n, "driver link unreadable: %s", r < 0 ? why(r) : "odd name");
    return;
  }
  if (!(*ret = strdup(buf))) s->oom = true;
}

static void read_iommu_group(struct scan *s, struct iov_nic *n, const char *dir, int *ret) {
  char buf[NAME_MAX + 1];
  int64_t v;
  int r = read_link_base(dir, "iommu_group", buf, sizeof(buf));

  *ret = -1;
  if (r == -ENOENT) return;
  if (r < 0 || parse_int(buf, 0, INT32_MAX, &v) < 0) {
    nic_warn(s, n, "iommu_group link unreadable: %s", r < 0 ? why(r) : "not a group number");
    return;
  }
  *ret = (int)v;
}

static void read_netdev(struct scan *s, struct iov_nic *n, const char *ndir, struct iov_netdev *nd) {
  char buf[ATTR_MAX];
  int64_t v;
  int r;

  nd->speed = -1;
  r = read_attr(ndir, "address", buf, sizeof(buf));
  if (r >= 0 && iov_hwaddr_ok(buf)) {
    if (!(nd->mac = strdup(buf))) s->oom = true;
  } else
    nic_warn(s, n, "%s: address unreadable: %s", nd->name, r < 0 ? why(r) : "not a hardware address");
  /* The kernel refuses to read the speed of a link that is down
   * (EINVAL), and says -1 when the driver does not know it. */
  r = read_int_attr(ndir, "speed", INT64_MIN, INT64_MAX, &v);
  if (r == 0)
    nd->speed = v > 0 && v <= 10000000 ? v : -1;
  else if (r != -EINVAL && r != -ENOENT)
    nic_warn(s, n, "%s: speed unreadable: %s", nd->name, why(r));
  r = read_int_attr(ndir, "ifindex", 1, INT32_MAX, &v);
  if (r == 0)
    nd->ifindex = (int)v;
  else
    nic_warn(s, n, "%s: ifindex unreadable: %s", nd->name, why(r));
  r = read_attr(ndir, "operstate", buf, sizeof(buf));
  if (r >= 0 && word_ok(buf, 16)) {
    if (!(nd->operstate = strdup(buf))) s->oom = true;
  } else if (r != -ENOENT)
    nic_warn(s, n, "%s: operstate unreadable: %s", nd->name, r < 0 ? why(r) : "odd text");
}

/* The netdevs of a function: net/NAME, or for virtio-net virtioN/net/NAME. */
static void read_netdevs(struct scan *s, struct iov_nic *n, const char *dir) {
  char **subs = NULL, **names = NULL;
  size_t n_subs = 0, n_names = 0;
  char path[PATH_MAX], ndir[PATH_MAX];
  bool trunc;

  if (list_dir(dir, IOV_SRIOV_MAX_FUNCS, &subs, &n_subs, &trunc) < 0) return;
  for (size_t i = 0; i < n_subs; i++) {
    if (strcmp(subs[i], "net") == 0)
      snprintf(path, sizeof(path), "%s/net", dir);
    else if (strncmp(subs[i], "virtio", 6) == 0)
      snprintf(path, sizeof(path), "%s/%s/net", dir, subs[i]);
    else
      continue;
    int r = list_dir(path, IOV_SRIOV_MAX_NETDEVS, &names, &n_names, &trunc);
    if (r == -ENOMEM) s->oom = true;
    if (r < 0) continue;
    if (trunc) nic_warn(s, n, "more than %d netdevs; the rest left out", IOV_SRIOV_MAX_NETDEVS);
    for (size_t k = 0; k < n_names && n->n_netdevs < IOV_SRIOV_MAX_NETDEVS; k++) {
      if (!word_ok(names[k], NETDEV_NAME_MAX)) {
        nic_warn(s, n, "odd netdev name in %s", subs[i]);
        continue;
      }
      struct iov_netdev *v = realloc(n->netdevs, (n->n_netdevs + 1) * sizeof(*v));
      if (!v) {
        s->oom = true;
        break;
      }
      n->netdevs = v;
      struct iov_netdev *nd = &v[n->n_netdevs];
      memset(nd, 0, sizeof(*nd));
      if (!(nd->name = strdup(names[k]))) {
        s->oom = true;
        break;
      }
      n->n_netdevs++;
      if (join(ndir, sizeof(ndir), path, names[k]) == 0) read_netdev(s, n, ndir, nd);
    }
    free_strv(names, n_names);
    names = NULL;
    n_names = 0;
  }
  free_strv(subs, n_subs);
}

static int cmp_vf(const void *a, const void *b) {
  const struct iov_nic_vf *x = a, *y = b;
  return x->index < y->index ? -1 : x->index > y->index;
}

static void read_vfs(struct scan *s, struct iov_nic *n, const char *dir) {
  char **ents = NULL;
  size_t n_ents = 0;
  char vdir[PATH_MAX], buf[NAME_MAX + 1];
  bool trunc;
  int r;

  r = list_dir(dir, IOV_SRIOV_MAX_FUNCS, &ents, &n_ents, &trunc);
  if (r < 0) {
    if (r == -ENOMEM) s->oom = true;
    return;
  }
  for (size_t i = 0; i < n_ents; i++) {
    uint64_t idx;
    if (strncmp(ents[i], "virtfn", 6) != 0) continue;
    if (iov_parse_u64(ents[i] + 6, &idx) < 0 || idx >= IOV_SRIOV_MAX_VFS) {
      nic_warn(s, n, "%s: not a VF link this agent reads (VF numbers stop at %d)", ents[i],
               IOV_SRIOV_MAX_VFS - 1);
      continue;
    }
    r = read_link_base(dir, ents[i], buf, sizeof(buf));
    if (r < 0 || !bdf_ok(buf)) {
      nic_warn(s, n, "%s: link unreadable: %s", ents[i], r < 0 ? why(r) : "not a PCI address");
      continue;
    }
    struct iov_nic_vf *v = realloc(n->vfs, (n->n_vfs + 1) * sizeof(*v));
    if (!v) {
      s->oom = true;
      break;
    }
    n->vfs = v;
    struct iov_nic_vf *vf = &v[n->n_vfs++];
    memset(vf, 0, sizeof(*vf));
    vf->index = (unsigned)idx;
    vf->iommu_group = -1;
    strcpy(vf->pci_addr, buf);
    if (join(vdir, sizeof(vdir), dir, ents[i]) < 0) continue;
    struct stat st;
    if (stat(vdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
      nic_warn(s, n, "%s -> %s: no such device (dangling link)", ents[i], vf->pci_addr);
      continue;
    }
    vf->present = true;
    /* What cannot be read here is said by the VF's own entry in the list
     * (moved to this PF when the list is complete), so it is not said
     * twice: these warnings go to a scratch NIC.  Of the netdevs, the
     * first, which is what a VF has. */
    struct iov_nic tmp = { 0 };
    read_driver(s, &tmp, vdir, &vf->driver);
    read_iommu_group(s, &tmp, vdir, &vf->iommu_group);
    read_netdevs(s, &tmp, vdir);
    if (tmp.n_netdevs) vf->netdev = TAKE_PTR(tmp.netdevs[0].name);
    for (size_t k = 0; k < tmp.n_netdevs; k++) {
      free(tmp.netdevs[k].name);
      free(tmp.netdevs[k].mac);
      free(tmp.netdevs[k].operstate);
    }
    free(tmp.netdevs);
    free_strv(tmp.warnings, tmp.n_warnings);
  }
  free_strv(ents, n_ents);
  if (n->n_vfs) qsort(n->vfs, n->n_vfs, sizeof(*n->vfs), cmp_vf);
}

static void read_sriov(struct scan *s, struct iov_nic *n, const char *dir, struct pci_dev *pd) {
  int64_t v;
  int r;

  n->totalvfs = n->numvfs = -1;
  r = read_int_attr(dir, "sriov_totalvfs", 0, 65535, &v);
  if (r == 0) {
    n->sriov = true;
    n->totalvfs = (int)v;
  } else if (r != -ENOENT) {
    n->sriov = true;
    nic_warn(s, n, "sriov_totalvfs unreadable: %s", why(r));
  } else if (pd) {
    /* No sysfs SR-IOV files: a kernel without CONFIG_PCI_IOV, or a damaged
     * tree.  The capability in config space still says what the device
     * can do. */
    struct pci_cap *cap = pci_find_cap(pd, PCI_EXT_CAP_ID_SRIOV, PCI_CAP_EXTENDED);
    if (cap) {
      n->sriov = true;
      n->totalvfs = pci_read_word(pd, (int)cap->addr + PCI_IOV_TOTALVF);
      nic_warn(s, n, "no sriov_totalvfs; the SR-IOV capability in config space says %d VFs", n->totalvfs);
    }
  }
  r = read_int_attr(dir, "sriov_numvfs", 0, 65535, &v);
  if (r == 0) {
    if (!n->sriov) nic_warn(s, n, "sriov_numvfs without sriov_totalvfs");
    n->sriov = true;
    n->numvfs = (int)v;
  } else if (r != -ENOENT || n->sriov) {
    n->sriov = true;
    nic_warn(s, n, "sriov_numvfs unreadable: %s", why(r));
  }
  read_vfs(s, n, dir);
  if (n->n_vfs && !n->sriov) {
    nic_warn(s, n, "virtfn links without sriov_totalvfs");
    n->sriov = true;
  }
  if (n->numvfs >= 0 && (size_t)n->numvfs != n->n_vfs)
    nic_warn(s, n, "sriov_numvfs says %d VFs but there are %zu virtfn links", n->numvfs, n->n_vfs);
  if (n->numvfs >= 0 && n->totalvfs >= 0 && n->numvfs > n->totalvfs)
    nic_warn(s, n, "sriov_numvfs (%d) above sriov_totalvfs (%d)", n->numvfs, n->totalvfs);
}

static struct iov_nic *add_nic(struct scan *s) {
  struct iov_nic_list *l = s->list;
  struct iov_nic *v = realloc(l->nics, (l->n_nics + 1) * sizeof(*v));
  if (!v) {
    s->oom = true;
    return NULL;
  }
  l->nics = v;
  struct iov_nic *n = &v[l->n_nics++];
  memset(n, 0, sizeof(*n));
  n->numa_node = n->iommu_group = n->totalvfs = n->numvfs = -1;
  return n;
}

static void scan_function(struct scan *s, const char *addr, unsigned dom, unsigned bus, unsigned dev,
                          unsigned fn) {
  char dir[PATH_MAX], buf[NAME_MAX + 1];
  uint64_t cls = 0, vendor = 0, device = 0;
  struct pci_dev *pd = NULL;
  int r_cls, r_ids = 0, r_cfg = 0;
  int64_t v;
  int r;

  if (snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s", s->root, addr) >= (int)sizeof(dir)) return;
  s->cur = NULL;
  /* The kernel's view first: a VF's own config space has no ids. */
  r_cls = read_hex_attr(dir, "class", 0xffffff, &cls);
  if (r_cls < 0) {
    pd = config_dev(s, dir, dom, bus, dev, fn, &r_cfg);
    if (!pd || pci_read_word(pd, PCI_VENDOR_ID) == 0xffff) {
      nic_warn(s, NULL, "%s: cannot tell whether it is a NIC (class: %s; config space: %s)", addr, why(r_cls),
               pd ? "reads all ones" : why(r_cfg));
      goto out;
    }
    cls = (uint64_t)pci_read_word(pd, PCI_CLASS_DEVICE) << 8 | pci_read_byte(pd, PCI_CLASS_PROG);
  }
  if ((cls >> 16) != PCI_BASE_CLASS_NETWORK) goto out;
  if (s->list->n_nics >= IOV_SRIOV_MAX_NICS) {
    if (s->list->n_nics == IOV_SRIOV_MAX_NICS)
      nic_warn(s, NULL, "more than %d NICs; the rest left out", IOV_SRIOV_MAX_NICS);
    goto out;
  }
  struct iov_nic *n = add_nic(s);
  if (!n) goto out;
  s->cur = n;
  snprintf(n->pci_addr, sizeof(n->pci_addr), "%s", addr);
  n->class_code = (uint32_t)cls;
  if (r_cls < 0) nic_warn(s, n, "class unreadable (%s); read from config space", why(r_cls));

  if ((r_ids = read_hex_attr(dir, "vendor", 0xffff, &vendor)) == 0 &&
      (r_ids = read_hex_attr(dir, "device", 0xffff, &device)) == 0)
    n->ids_known = true;
  else {
    if (!pd) pd = config_dev(s, dir, dom, bus, dev, fn, &r_cfg);
    if (pd && pci_read_word(pd, PCI_VENDOR_ID) != 0xffff) {
      vendor = pci_read_word(pd, PCI_VENDOR_ID);
      device = pci_read_word(pd, PCI_DEVICE_ID);
      n->ids_known = true;
      nic_warn(s, n, "vendor/device unreadable (%s); read from config space", why(r_ids));
    } else
      nic_warn(s, n, "vendor/device unreadable (%s; config space: %s)", why(r_ids),
               pd ? "reads all ones" : why(r_cfg));
  }
  if (n->ids_known) {
    n->vendor_id = (uint16_t)vendor;
    n->device_id = (uint16_t)device;
    n->vendor_name = lookup_name(s, PCI_LOOKUP_VENDOR, n->vendor_id, 0);
    n->device_name = lookup_name(s, PCI_LOOKUP_DEVICE, n->vendor_id, n->device_id);
  }

  read_driver(s, n, dir, &n->driver);
  read_iommu_group(s, n, dir, &n->iommu_group);
  /* No numa_node file: a kernel without NUMA. */
  r = read_int_attr(dir, "numa_node", -1, 65535, &v);
  if (r == 0)
    n->numa_node = (int)v;
  else if (r != -ENOENT)
    nic_warn(s, n, "numa_node unreadable: %s", why(r));
  read_netdevs(s, n, dir);

  r = read_link_base(dir, "physfn", buf, sizeof(buf));
  if (r == 0 && bdf_ok(buf)) {
    char pdir[PATH_MAX];
    struct stat st;
    strcpy(n->physfn, buf);
    if (join(pdir, sizeof(pdir), dir, "physfn") == 0 && stat(pdir, &st) < 0)
      nic_warn(s, n, "physfn -> %s: no such device (dangling link)", buf);
  } else if (r != -ENOENT)
    nic_warn(s, n, "physfn link unreadable: %s", r < 0 ? why(r) : "not a PCI address");

  if (!n->physfn[0]) {
    if (!pd && !r_cfg) pd = config_dev(s, dir, dom, bus, dev, fn, &r_cfg);
    read_sriov(s, n, dir, pd);
  }
out:
  s->cur = NULL;
  if (pd) pci_free_dev(pd);
}

static int cmp_nic(const void *a, const void *b) {
  const struct iov_nic *x = a, *y = b;
  unsigned xa[4] = { 0 }, ya[4] = { 0 };
  parse_bdf(x->pci_addr, &xa[0], &xa[1], &xa[2], &xa[3]);
  parse_bdf(y->pci_addr, &ya[0], &ya[1], &ya[2], &ya[3]);
  for (int i = 0; i < 4; i++)
    if (xa[i] != ya[i]) return xa[i] < ya[i] ? -1 : 1;
  return 0;
}

/* A VF listed under its PF is not shown on its own (iov_nic_list_is_top),
 * so what could not be read about it is said by the PF. */
static void move_vf_warnings(struct scan *s) {
  struct iov_nic_list *l = s->list;

  for (size_t i = 0; i < l->n_nics; i++) {
    struct iov_nic *vf = &l->nics[i];
    if (!vf->physfn[0] || !vf->n_warnings) continue;
    struct iov_nic *pf = (struct iov_nic *)iov_nic_list_find_pf(l, vf->pci_addr);
    if (!pf) continue;
    unsigned idx = 0;
    for (size_t k = 0; k < pf->n_vfs; k++)
      if (strcmp(pf->vfs[k].pci_addr, vf->pci_addr) == 0) idx = pf->vfs[k].index;
    for (size_t k = 0; k < vf->n_warnings; k++)
      nic_warn(s, pf, "vf %u (%s): %s", idx, vf->pci_addr, vf->warnings[k]);
    free_strv(vf->warnings, vf->n_warnings);
    vf->warnings = NULL;
    vf->n_warnings = 0;
  }
}

int iov_sriov_discover(const char *root, struct iov_nic_list **ret) {
  struct scan s = { .root = root ? root : "/sys" };
  char dir[PATH_MAX];
  char **ents = NULL;
  size_t n_ents = 0;
  bool trunc;
  int r;

  if (strlen(s.root) > IOV_SRIOV_MAX_ROOT) return -ENAMETOOLONG;
  s.list = calloc(1, sizeof(*s.list));
  if (!s.list) return -ENOMEM;
  snprintf(dir, sizeof(dir), "%s/bus/pci/devices", s.root);
  r = list_dir(dir, IOV_SRIOV_MAX_FUNCS, &ents, &n_ents, &trunc);
  if (r == -ENOENT || r == -ENOTDIR) {
    *ret = s.list; /* no PCI bus here: nothing to report */
    return 0;
  }
  if (r < 0) {
    iov_nic_list_free(s.list);
    return r;
  }
  tls_scan = &s;
  if (trunc) nic_warn(&s, NULL, "more than %d PCI functions; the rest left out", IOV_SRIOV_MAX_FUNCS);
  for (size_t i = 0; i < n_ents && !s.oom; i++) {
    unsigned dom, bus, dev, fn;
    if (!parse_bdf(ents[i], &dom, &bus, &dev, &fn)) {
      nic_warn(&s, NULL, "bus/pci/devices/%s: not a PCI address; ignored", ents[i]);
      continue;
    }
    scan_function(&s, ents[i], dom, bus, dev, fn);
  }
  tls_scan = NULL;
  free_strv(ents, n_ents);
  if (s.pacc) pci_cleanup(s.pacc);
  if (s.oom) {
    iov_nic_list_free(s.list);
    return -ENOMEM;
  }
  if (s.list->n_nics) qsort(s.list->nics, s.list->n_nics, sizeof(*s.list->nics), cmp_nic);
  move_vf_warnings(&s);
  if (s.oom) {
    iov_nic_list_free(s.list);
    return -ENOMEM;
  }
  *ret = s.list;
  return 0;
}

static void nic_done(struct iov_nic *n) {
  free(n->vendor_name);
  free(n->device_name);
  free(n->driver);
  for (size_t i = 0; i < n->n_netdevs; i++) {
    free(n->netdevs[i].name);
    free(n->netdevs[i].mac);
    free(n->netdevs[i].operstate);
  }
  free(n->netdevs);
  for (size_t i = 0; i < n->n_vfs; i++) {
    free(n->vfs[i].driver);
    free(n->vfs[i].netdev);
  }
  free(n->vfs);
  free_strv(n->warnings, n->n_warnings);
}

struct iov_nic_list *iov_nic_list_free(struct iov_nic_list *l) {
  if (!l) return NULL;
  for (size_t i = 0; i < l->n_nics; i++) nic_done(&l->nics[i]);
  free(l->nics);
  free_strv(l->warnings, l->n_warnings);
  free(l);
  return NULL;
}

const struct iov_nic *iov_nic_list_find(const struct iov_nic_list *l, const char *pci_addr) {
  for (size_t i = 0; l && i < l->n_nics; i++)
    if (strcmp(l->nics[i].pci_addr, pci_addr) == 0) return &l->nics[i];
  return NULL;
}

const struct iov_nic *iov_nic_list_find_pf(const struct iov_nic_list *l, const char *vf_addr) {
  for (size_t i = 0; l && i < l->n_nics; i++)
    for (size_t k = 0; k < l->nics[i].n_vfs; k++)
      if (strcmp(l->nics[i].vfs[k].pci_addr, vf_addr) == 0) return &l->nics[i];
  return NULL;
}

bool iov_nic_list_is_top(const struct iov_nic_list *l, const struct iov_nic *n) {
  return !n->physfn[0] || !iov_nic_list_find_pf(l, n->pci_addr);
}

/* ---- the wire ------------------------------------------------------ */

/* A malloc'd copy, or the shared empty string for NULL/"". */
static int pb_str(char **dst, const char *src) {
  if (!src || !*src) {
    *dst = (char *)protobuf_c_empty_string;
    return 0;
  }
  *dst = strdup(src);
  return *dst ? 0 : -ENOMEM;
}

static Iovbench__PciNic *nic_to_pb(const struct iov_nic *n) {
  Iovbench__PciNic *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  iovbench__pci_nic__init(m);
  if (pb_str(&m->pci_address, n->pci_addr) < 0 || pb_str(&m->vendor_name, n->vendor_name) < 0 ||
      pb_str(&m->device_name, n->device_name) < 0 || pb_str(&m->driver, n->driver) < 0 ||
      pb_str(&m->physfn, n->physfn) < 0)
    goto oom;
  m->vendor_id = n->vendor_id;
  m->device_id = n->device_id;
  m->class_code = n->class_code;
  m->numa_node = n->numa_node;
  m->iommu_group = n->iommu_group;
  m->sriov = n->sriov;
  m->sriov_totalvfs = n->totalvfs;
  m->sriov_numvfs = n->numvfs;
  if (n->n_netdevs && !(m->netdevs = calloc(n->n_netdevs, sizeof(*m->netdevs)))) goto oom;
  for (size_t i = 0; i < n->n_netdevs; i++) {
    const struct iov_netdev *d = &n->netdevs[i];
    Iovbench__NetDev *nd = calloc(1, sizeof(*nd));
    if (!nd) goto oom;
    iovbench__net_dev__init(nd);
    m->netdevs[m->n_netdevs++] = nd;
    if (pb_str(&nd->name, d->name) < 0 || pb_str(&nd->mac, d->mac) < 0 ||
        pb_str(&nd->operstate, d->operstate) < 0)
      goto oom;
    nd->speed_mbps = d->speed > 0 ? (uint64_t)d->speed : 0;
    nd->ifindex = d->ifindex > 0 ? (uint32_t)d->ifindex : 0;
  }
  if (n->n_vfs && !(m->vfs = calloc(n->n_vfs, sizeof(*m->vfs)))) goto oom;
  for (size_t i = 0; i < n->n_vfs; i++) {
    const struct iov_nic_vf *f = &n->vfs[i];
    Iovbench__PciVf *vf = calloc(1, sizeof(*vf));
    if (!vf) goto oom;
    iovbench__pci_vf__init(vf);
    m->vfs[m->n_vfs++] = vf;
    if (pb_str(&vf->pci_address, f->pci_addr) < 0 || pb_str(&vf->driver, f->driver) < 0 ||
        pb_str(&vf->netdev, f->netdev) < 0)
      goto oom;
    vf->index = f->index;
    vf->iommu_group = f->iommu_group;
  }
  if (n->n_warnings && !(m->warnings = calloc(n->n_warnings, sizeof(*m->warnings)))) goto oom;
  for (size_t i = 0; i < n->n_warnings; i++) {
    if (!(m->warnings[i] = strdup(n->warnings[i]))) goto oom;
    m->n_warnings++;
  }
  return m;
oom:
  protobuf_c_message_free_unpacked(&m->base, NULL);
  return NULL;
}

int iov_nic_list_to_pb(const struct iov_nic_list *l, Iovbench__Inventory *inv) {
  for (size_t i = 0; i < l->n_nics; i++) {
    if (!iov_nic_list_is_top(l, &l->nics[i])) continue;
    Iovbench__PciNic **v = realloc(inv->nics, (inv->n_nics + 1) * sizeof(*v));
    if (!v) return -ENOMEM;
    inv->nics = v;
    if (!(v[inv->n_nics] = nic_to_pb(&l->nics[i]))) return -ENOMEM;
    inv->n_nics++;
  }
  return 0;
}

void iov_nic_pb_free(Iovbench__Inventory *inv) {
  for (size_t i = 0; i < inv->n_nics; i++) protobuf_c_message_free_unpacked(&inv->nics[i]->base, NULL);
  free(inv->nics);
  inv->nics = NULL;
  inv->n_nics = 0;
}

/* ---- JSON ---------------------------------------------------------- */

/* Unknowns are null: -1 numbers, NULL strings. */
static json_t *j_int(int64_t v) { return v < 0 ? json_null() : json_integer(v); }
static json_t *j_str(const char *s) { return s && *s ? json_string(s) : json_null(); }

static json_t *nic_to_json(const struct iov_nic *n) {
  json_t *netdevs = json_array(), *vfs = json_array(), *warnings = json_array();
  json_t *j = NULL;

  if (!netdevs || !vfs || !warnings) goto out;
  for (size_t i = 0; i < n->n_netdevs; i++) {
    const struct iov_netdev *d = &n->netdevs[i];
    if (json_array_append_new(netdevs, json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", d->name, "mac",
                                                 j_str(d->mac), "speed_mbps", j_int(d->speed), "ifindex",
                                                 j_int(d->ifindex > 0 ? d->ifindex : -1), "operstate",
                                                 j_str(d->operstate))) < 0)
      goto out;
  }
  for (size_t i = 0; i < n->n_vfs; i++) {
    const struct iov_nic_vf *f = &n->vfs[i];
    if (json_array_append_new(vfs, json_pack("{s:i, s:s, s:o, s:o, s:o}", "index", (int)f->index,
                                             "pci_address", f->pci_addr, "driver", j_str(f->driver), "netdev",
                                             j_str(f->netdev), "iommu_group", j_int(f->iommu_group))) < 0)
      goto out;
  }
  for (size_t i = 0; i < n->n_warnings; i++)
    if (json_array_append_new(warnings, json_string(n->warnings[i])) < 0) goto out;
  j = json_pack(
      "{s:s, s:o, s:o, s:i, s:o, s:o, s:o, s:O, s:o, s:o, s:b, s:o, s:o, s:O, s:o, s:O}", "pci_address",
      n->pci_addr, "vendor_id", n->ids_known ? json_integer(n->vendor_id) : json_null(), "device_id",
      n->ids_known ? json_integer(n->device_id) : json_null(), "class_code", (int)n->class_code,
      "vendor_name", j_str(n->vendor_name), "device_name", j_str(n->device_name), "driver", j_str(n->driver),
      "netdevs", netdevs, "numa_node", j_int(n->numa_node), "iommu_group", j_int(n->iommu_group), "sriov",
      n->sriov, "sriov_totalvfs", j_int(n->sriov ? n->totalvfs : -1), "sriov_numvfs",
      j_int(n->sriov ? n->numvfs : -1), "vfs", vfs, "physfn", j_str(n->physfn), "warnings", warnings);
out:
  json_decref(netdevs);
  json_decref(vfs);
  json_decref(warnings);
  return j;
}

json_t *iov_nic_list_to_json(const struct iov_nic_list *l) {
  json_t *nics = json_array(), *warnings = json_array(), *j = NULL;

  if (!nics || !warnings) goto out;
  for (size_t i = 0; i < l->n_nics; i++) {
    if (!iov_nic_list_is_top(l, &l->nics[i])) continue;
    if (json_array_append_new(nics, nic_to_json(&l->nics[i])) < 0) goto out;
  }
  for (size_t i = 0; i < l->n_warnings; i++)
    if (json_array_append_new(warnings, json_string(l->warnings[i])) < 0) goto out;
  j = json_pack("{s:O, s:O}", "nics", nics, "warnings", warnings);
out:
  json_decref(nics);
  json_decref(warnings);
  return j;
}

/* ---- the table ----------------------------------------------------- */

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

static const char *fmt_int(char *buf, size_t n, int64_t v) {
  if (v < 0) return "-";
  snprintf(buf, n, "%lld", (long long)v);
  return buf;
}

int iov_nic_list_print(const struct iov_nic_list *l, FILE *f) {
  char sp[24], nu[24], io[24], tv[24], nv[24], vfs[64];

  fprintf(f, "%-13s %-10s %-10s %-17s %6s %4s %5s %7s\n", "ADDRESS", "DRIVER", "NETDEV", "MAC", "SPEED",
          "NUMA", "IOMMU", "VFS");
  for (size_t i = 0; i < l->n_nics; i++) {
    const struct iov_nic *n = &l->nics[i];
    if (!iov_nic_list_is_top(l, n)) continue;
    const struct iov_netdev *d = n->n_netdevs ? &n->netdevs[0] : NULL;
    if (n->sriov)
      snprintf(vfs, sizeof(vfs), "%s/%s", n->numvfs < 0 ? "?" : fmt_int(nv, sizeof(nv), n->numvfs),
               n->totalvfs < 0 ? "?" : fmt_int(tv, sizeof(tv), n->totalvfs));
    else
      snprintf(vfs, sizeof(vfs), "%s", n->physfn[0] ? "(vf)" : "-");
    fprintf(f, "%-13s %-10s %-10s %-17s %6s %4s %5s %7s\n", n->pci_addr, or_dash(n->driver),
            or_dash(d ? d->name : NULL), or_dash(d ? d->mac : NULL),
            fmt_int(sp, sizeof(sp), d ? d->speed : -1), fmt_int(nu, sizeof(nu), n->numa_node),
            fmt_int(io, sizeof(io), n->iommu_group), vfs);
    for (size_t k = 1; k < n->n_netdevs; k++) {
      d = &n->netdevs[k];
      fprintf(f, "%-13s %-10s %-10s %-17s %6s\n", "", "", d->name, or_dash(d->mac),
              fmt_int(sp, sizeof(sp), d->speed));
    }
    for (size_t k = 0; k < n->n_vfs; k++) {
      const struct iov_nic_vf *v = &n->vfs[k];
      fprintf(f, "  vf %-4u %-13s %-10s %-10s iommu %s%s\n", v->index, v->pci_addr, or_dash(v->driver),
              or_dash(v->netdev), fmt_int(io, sizeof(io), v->iommu_group), v->present ? "" : "  (missing)");
    }
  }
  return ferror(f) ? -EIO : 0;
}
