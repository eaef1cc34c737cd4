/* The VF count of a PF (see vf.h): finding the PF in sysfs by netdev, PCI
 * address or netdevsim id, and reading and writing sriov_numvfs.  All
 * paths hang off the handle's sysfs root, so tests use a scratch tree. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "parse.h"
#include "vf.h"
#include "vf_internal.h"

/* ---------------------------------------------------------------- */
/* Sysfs                                                             */

int iov__vf_path_join(char *buf, size_t n, const char *a, const char *b) {
  int r = snprintf(buf, n, "%s/%s", a, b);
  return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static bool valid_name(const char *s, size_t max) {
  size_t n = s ? strlen(s) : 0;

  if (n == 0 || n >= max || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) return false;
  return true;
}

/* The first netdev under <dev>/net, in name order. */
static int find_netdev(const char *dev, char *ret, size_t n) {
  char p[PATH_MAX];
  DIR *d;
  struct dirent *e;

  ret[0] = 0;
  if (iov__vf_path_join(p, sizeof(p), dev, "net") < 0) return -ENAMETOOLONG;
  d = opendir(p);
  if (!d) return errno == ENOENT ? 0 : -errno;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !valid_name(e->d_name, IF_NAMESIZE)) continue;
    /* valid_name() bounded it to IF_NAMESIZE - 1 characters. */
    size_t len = strnlen(e->d_name, IF_NAMESIZE);
    if (len >= n) continue;
    if (!ret[0] || strcmp(e->d_name, ret) < 0) memcpy(ret, e->d_name, len + 1);
  }
  closedir(d);
  return 0;
}

/* Fill pf from a candidate path of its device directory. */
static int pf_from_path(struct iov_vf *v, const char *candidate, struct iov__vf_pf *ret) {
  char root[PATH_MAX], dev[PATH_MAX];
  const char *base;
  size_t rl;

  if (!realpath(v->sysfs_root, root)) return -errno;
  if (!realpath(candidate, dev)) return -errno;
  rl = strlen(root);
  if (strncmp(dev, root, rl) != 0 || dev[rl] != '/' || !dev[rl + 1]) return -ENODEV;
  base = strrchr(dev, '/') + 1;
  if (!valid_name(base, sizeof(ret->id))) return -ENODEV;
  snprintf(ret->id, sizeof(ret->id), "%s", base);
  snprintf(ret->dev, sizeof(ret->dev), "%s", dev);
  snprintf(ret->rel, sizeof(ret->rel), "%s", dev + rl + 1);
  return 0;
}

int iov__vf_resolve_pf(struct iov_vf *v, const char *spec, struct iov__vf_pf *ret, char *err, size_t errlen) {
  char p[PATH_MAX];
  int r;

  memset(ret, 0, sizeof(*ret));
  if (!valid_name(spec, NAME_MAX + 1))
    return iov__vf_fail(-EINVAL, err, errlen, "'%s' is not a PF name", spec ? spec : "(null)");
  if (!strchr(spec, ':') && strlen(spec) < IF_NAMESIZE) {
    int k = snprintf(p, sizeof(p), "%s/class/net/%s/device", v->sysfs_root, spec);
    if (k < 0 || (size_t)k >= sizeof(p)) return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s", spec);
    r = pf_from_path(v, p, ret);
    if (r == 0) {
      snprintf(ret->netdev, sizeof(ret->netdev), "%s", spec);
      return 0;
    }
    if (r != -ENOENT && r != -ENOTDIR) return iov__vf_fail(r, err, errlen, "%s: cannot resolve %s", spec, p);
  }
  {
    int k = snprintf(p, sizeof(p), "%s/bus/%s/devices/%s", v->sysfs_root,
                     strchr(spec, ':') ? "pci" : "netdevsim", spec);
    if (k < 0 || (size_t)k >= sizeof(p)) return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s", spec);
  }
  r = pf_from_path(v, p, ret);
  if (r == -ENOENT || r == -ENOTDIR)
    return iov__vf_fail(-ENODEV, err, errlen, "%s: no such PF under %s", spec, v->sysfs_root);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot resolve %s", spec, p);
  r = find_netdev(ret->dev, ret->netdev, sizeof(ret->netdev));
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot list its netdevs", spec);
  return 0;
}

/* From a state file's device= (relative to the root). */
int iov__vf_resolve_rel(struct iov_vf *v, const char *rel, struct iov__vf_pf *ret, char *err, size_t errlen) {
  char p[PATH_MAX];
  int r;

  memset(ret, 0, sizeof(*ret));
  if (iov__vf_path_join(p, sizeof(p), v->sysfs_root, rel) < 0)
    return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s", rel);
  r = pf_from_path(v, p, ret);
  if (r == -ENOENT || r == -ENOTDIR) return iov__vf_fail(-ENODEV, err, errlen, "%s: the PF is gone", p);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot resolve", p);
  r = find_netdev(ret->dev, ret->netdev, sizeof(ret->netdev));
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot list its netdevs", ret->id);
  return 0;
}

static int read_uint(const char *path, unsigned *ret) {
  char buf[32];
  ssize_t n;
  uint64_t u;
  int fd;

  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  do n = read(fd, buf, sizeof(buf) - 1);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int r = -errno;
    close(fd);
    return r;
  }
  close(fd);
  buf[n] = 0;
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
  if (iov_parse_u64(buf, &u) < 0) return -EBADMSG;
  if (u > IOV_VF_MAX_VFS) return -E2BIG;
  *ret = (unsigned)u;
  return 0;
}

int iov__vf_counts(const struct iov__vf_pf *pf, unsigned *ret_num, unsigned *ret_total, char *err,
                   size_t errlen) {
  char p[PATH_MAX];
  unsigned num, total = IOV_VF_MAX_VFS;
  int r;

  if (iov__vf_path_join(p, sizeof(p), pf->dev, "sriov_numvfs") < 0)
    return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s", pf->id);
  r = read_uint(p, &num);
  if (r == -ENOENT)
    return iov__vf_fail(-EOPNOTSUPP, err, errlen, "%s: no sriov_numvfs, not an SR-IOV PF", pf->id);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot read %s", pf->id, p);
  if (iov__vf_path_join(p, sizeof(p), pf->dev, "sriov_totalvfs") < 0)
    return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s", pf->id);
  r = read_uint(p, &total);
  if (r == -E2BIG)
    total = IOV_VF_MAX_VFS; /* the hardware can do more than we allow */
  else if (r < 0)
    return iov__vf_fail(r, err, errlen, "%s: cannot read %s", pf->id, p);
  if (ret_num) *ret_num = num;
  if (ret_total) *ret_total = total;
  return 0;
}

/* Write n to sriov_numvfs; errors get their meaning for this file. */
static int write_numvfs(const struct iov__vf_pf *pf, unsigned n, unsigned from, char *err, size_t errlen) {
  char p[PATH_MAX], txt[16];
  int r;

  if (iov__vf_path_join(p, sizeof(p), pf->dev, "sriov_numvfs") < 0)
    return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s", pf->id);
  snprintf(txt, sizeof(txt), "%u\n", n);
  r = iov_write_attr(p, txt);
  if (r == 0) {
    iov_debug(IOV_DBG_SRIOV, "vf: %s: sriov_numvfs %u -> %u", pf->id, from, n);
    return 0;
  }
  switch (-r) {
  case EBUSY:
    return iov__vf_fail(-EBUSY, err, errlen,
                        "%s: cannot change from %u to %u VFs (write %u to sriov_numvfs): %s", pf->id, from, n,
                        n, n == 0 ? "VFs still in use (assigned to a VM?)" : "VFs already enabled");
  case ENOENT:
  case ENOSYS:
    return iov__vf_fail(
        -EOPNOTSUPP, err, errlen,
        "%s: cannot write %u to sriov_numvfs: no driver bound, or the driver cannot configure SR-IOV", pf->id,
        n);
  case ERANGE:
    return iov__vf_fail(-ERANGE, err, errlen, "%s: cannot write %u to sriov_numvfs: more than sriov_totalvfs",
                        pf->id, n);
  case EPERM:
  case EACCES:
    return iov__vf_fail(r, err, errlen,
                        "%s: cannot write %u to sriov_numvfs (root needed; or VFs assigned to a VM)", pf->id,
                        n);
  default:
    return iov__vf_fail(r, err, errlen, "%s: cannot write %u to sriov_numvfs (%u VFs before)", pf->id, n,
                        from);
  }
}

/* Change the count from cur to n, through 0 when both are non-zero. */
int iov__vf_change_count(const struct iov__vf_pf *pf, unsigned cur, unsigned n, char *err, size_t errlen) {
  int r;

  if (cur == n) return 0;
  if (cur != 0) {
    r = write_numvfs(pf, 0, cur, err, errlen);
    if (r < 0) return r;
  }
  if (n != 0) {
    r = write_numvfs(pf, n, 0, err, errlen);
    /* Leave the PF as we found it, as far as the count goes; the message
     * keeps the first failure. */
    if (r < 0 && cur != 0 && write_numvfs(pf, cur, 0, NULL, 0) < 0 && err && errlen) {
      size_t used = strnlen(err, errlen);
      if (used < errlen) snprintf(err + used, errlen - used, "; putting the old count back failed too");
    }
    if (r < 0) return r;
  }
  return 0;
}

int iov_vf_set_count(struct iov_vf *v, const char *pf, unsigned n, char *err, size_t errlen) {
  struct iov__vf_pf p;
  unsigned cur, total;
  int r;

  if (!v) return -EINVAL;
  r = iov__vf_resolve_pf(v, pf, &p, err, errlen);
  if (r < 0) return r;
  r = iov__vf_counts(&p, &cur, &total, err, errlen);
  if (r < 0) return r;
  if (n > total)
    return iov__vf_fail(-ERANGE, err, errlen, "%s: %u VFs asked for, sriov_totalvfs is %u", p.id, n, total);
  if (cur == n) return 0;
  r = iov__vf_save(v, &p, err, errlen);
  if (r < 0) return r;
  return iov__vf_change_count(&p, cur, n, err, errlen);
}

int iov_vf_get_count(struct iov_vf *v, const char *pf, unsigned *ret_numvfs, unsigned *ret_totalvfs,
                     char *err, size_t errlen) {
  struct iov__vf_pf p;
  int r;

  if (!v) return -EINVAL;
  r = iov__vf_resolve_pf(v, pf, &p, err, errlen);
  if (r < 0) return r;
  return iov__vf_counts(&p, ret_numvfs, ret_totalvfs, err, errlen);
}
