/* The saved state of a PF (see vf.h, "Save and restore"): the state
 * file written before the first change, atomically, and the restore
 * from it at the end of a run or at the next start after a crash.  The
 * state files are the only thing the VF module writes outside sysfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_ether.h>

#include "fileio.h"
#include "log.h"
#include "parse.h"
#include "vf.h"
#include "vf_internal.h"

#define STATE_VERSION 1
#define STATE_SUFFIX ".state"
#define TMP_PREFIX ".tmp-"

/* ---------------------------------------------------------------- */
/* State files                                                       */

struct state {
  char rel[PATH_MAX];
  char netdev[IF_NAMESIZE];
  unsigned numvfs;
  struct iov_vf_settings *vfs; /* numvfs entries; .set 0 = nothing recorded */
};

static void state_done(struct state *s) {
  free(s->vfs);
  s->vfs = NULL;
}

static int state_path(struct iov_vf *v, const char *id, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s/%s" STATE_SUFFIX, v->state_dir, id);
  return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static void append_settings(FILE *f, unsigned i, const struct iov_vf_settings *s) {
  char mac[18];

  if (s->set & IOV_VF_SET_MAC) fprintf(f, "vf.%u.mac=%s\n", i, iov_format_mac(mac, s->mac));
  if (s->set & IOV_VF_SET_VLAN)
    fprintf(f, "vf.%u.vlan=%u\nvf.%u.qos=%u\nvf.%u.vlan_proto=0x%04x\n", i, s->vlan, i, s->qos, i,
            iov__vf_vlan_proto(s));
  if (s->set & IOV_VF_SET_SPOOFCHK) fprintf(f, "vf.%u.spoofchk=%d\n", i, s->spoofchk);
  if (s->set & IOV_VF_SET_TRUST) fprintf(f, "vf.%u.trust=%d\n", i, s->trust);
  if (s->set & IOV_VF_SET_RATE)
    fprintf(f, "vf.%u.min_tx_rate=%u\nvf.%u.max_tx_rate=%u\n", i, s->min_tx_rate, i, s->max_tx_rate);
}

int iov__vf_save(struct iov_vf *v, const struct iov__vf_pf *pf, char *err, size_t errlen) {
  char path[PATH_MAX];
  struct iov_vf_link l = { 0 };
  struct stat st;
  char *text = NULL;
  size_t text_len = 0;
  unsigned num;
  FILE *f;
  int r;

  if (state_path(v, pf->id, path, sizeof(path)) < 0)
    return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s: state file", pf->id);
  if (lstat(path, &st) == 0) return 0;
  if (errno != ENOENT) return iov__vf_fail(-errno, err, errlen, "%s: cannot check %s", pf->id, path);

  r = iov__vf_counts(pf, &num, NULL, err, errlen);
  if (r < 0) return r;
  if (num > 0 && pf->netdev[0]) {
    r = iov__vf_get_link(v, pf->netdev, &l);
    if (r < 0)
      return iov__vf_fail(r, err, errlen, "%s: cannot read the settings of its %u VFs from %s to save them",
                          pf->id, num, pf->netdev);
  }

  f = open_memstream(&text, &text_len);
  if (!f) return iov__vf_fail(-ENOMEM, err, errlen, "%s: state", pf->id);
  fprintf(f, "# iovbench VF state of %s, recorded before iovbench changed it.\n", pf->id);
  fprintf(f, "# iovbench-agent puts it back (at start-up, after a crash) and then removes this file.\n");
  fprintf(f, "version=%d\ndevice=%s\nnetdev=%s\nnumvfs=%u\n", STATE_VERSION, pf->rel, pf->netdev, num);
  for (size_t i = 0; i < l.n_vfs; i++)
    if (l.vfs[i].vf < num) append_settings(f, l.vfs[i].vf, &l.vfs[i].s);
  iov_vf_link_done(&l);
  if (fclose(f) != 0 || !text) {
    free(text);
    return iov__vf_fail(-ENOMEM, err, errlen, "%s: state", pf->id);
  }

  r = iov_mkdir_p(v->state_dir, 0700);
  if (r < 0) {
    free(text);
    return iov__vf_fail(r, err, errlen, "cannot create the state directory %s", v->state_dir);
  }
  r = iov_write_file_atomic(path, TMP_PREFIX, text);
  free(text);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot write %s", pf->id, path);
  iov_debug(IOV_DBG_SRIOV, "vf: %s: state saved to %s (%u VFs)", pf->id, path, num);
  return 1;
}

int iov_vf_save(struct iov_vf *v, const char *pf, char *err, size_t errlen) {
  struct iov__vf_pf p;
  int r;

  if (!v) return -EINVAL;
  r = iov__vf_resolve_pf(v, pf, &p, err, errlen);
  if (r < 0) return r;
  return iov__vf_save(v, &p, err, errlen);
}

static bool valid_rel(const char *rel) {
  const char *p = rel;

  if (!*rel || *rel == '/' || strlen(rel) >= PATH_MAX) return false;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return false;
    p += n;
    if (*p == '/') p++;
  }
  for (p = rel; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
  return true;
}

static int parse_u32_max(const char *s, uint64_t max, uint32_t *ret) {
  uint64_t u;
  if (iov_parse_u64(s, &u) < 0 || u > max) return -EBADMSG;
  *ret = (uint32_t)u;
  return 0;
}

static int parse_vf_key(struct state *st, const char *key, const char *val) {
  const char *dot;
  uint64_t idx;
  uint32_t u;
  char num[16];
  struct iov_vf_settings *s;

  /* key is "vf.N.name" */
  key += 3;
  dot = strchr(key, '.');
  if (!dot || dot == key || (size_t)(dot - key) >= sizeof(num)) return -EBADMSG;
  memcpy(num, key, (size_t)(dot - key));
  num[dot - key] = 0;
  if (iov_parse_u64(num, &idx) < 0 || idx >= st->numvfs || !st->vfs) return -EBADMSG;
  s = &st->vfs[idx];
  key = dot + 1;
  if (!strcmp(key, "mac")) {
    if (iov_parse_mac(val, s->mac) < 0) return -EBADMSG;
    s->set |= IOV_VF_SET_MAC;
  } else if (!strcmp(key, "vlan")) {
    if (parse_u32_max(val, 4095, &u) < 0) return -EBADMSG;
    s->vlan = (uint16_t)u;
    s->set |= IOV_VF_SET_VLAN;
  } else if (!strcmp(key, "qos")) {
    if (parse_u32_max(val, 7, &u) < 0) return -EBADMSG;
    s->qos = (uint8_t)u;
  } else if (!strcmp(key, "vlan_proto")) {
    if (!strcmp(val, "0x8100"))
      s->vlan_proto = ETH_P_8021Q;
    else if (!strcmp(val, "0x88a8"))
      s->vlan_proto = ETH_P_8021AD;
    else
      return -EBADMSG;
  } else if (!strcmp(key, "spoofchk") || !strcmp(key, "trust")) {
    bool sp = key[0] == 's';
    if (parse_u32_max(val, 1, &u) < 0) return -EBADMSG;
    if (sp)
      s->spoofchk = u;
    else
      s->trust = u;
    s->set |= sp ? IOV_VF_SET_SPOOFCHK : IOV_VF_SET_TRUST;
  } else if (!strcmp(key, "min_tx_rate")) {
    if (parse_u32_max(val, UINT32_MAX, &s->min_tx_rate) < 0) return -EBADMSG;
    s->set |= IOV_VF_SET_RATE;
  } else if (!strcmp(key, "max_tx_rate")) {
    if (parse_u32_max(val, UINT32_MAX, &s->max_tx_rate) < 0) return -EBADMSG;
    s->set |= IOV_VF_SET_RATE;
  } else {
    return -EBADMSG;
  }
  return 0;
}

/* Parse a state file's text in place.  *reterr_line gets the line of the
 * first error. */
static int parse_state(char *text, struct state *ret, unsigned *reterr_line) {
  struct state st = { 0 };
  bool have_version = false, have_device = false, have_num = false;
  unsigned line = 0;
  char *p = text;
  int r = 0;

  while (*p) {
    char *nl = strchr(p, '\n'), *eq, *key, *val;
    line++;
    if (!nl) {
      r = -EBADMSG; /* a truncated file ends without its newline */
      break;
    }
    *nl = 0;
    key = p;
    p = nl + 1;
    if (key[0] == '#' || key[0] == 0) continue;
    eq = strchr(key, '=');
    if (!eq) {
      r = -EBADMSG;
      break;
    }
    *eq = 0;
    val = eq + 1;
    if (!strcmp(key, "version")) {
      uint32_t ver;
      if (parse_u32_max(val, UINT32_MAX, &ver) < 0 || ver != STATE_VERSION || have_version) {
        r = -EBADMSG;
        break;
      }
      have_version = true;
    } else if (!have_version) {
      r = -EBADMSG;
      break;
    } else if (!strcmp(key, "device")) {
      if (!valid_rel(val) || have_device) {
        r = -EBADMSG;
        break;
      }
      snprintf(st.rel, sizeof(st.rel), "%s", val);
      have_device = true;
    } else if (!strcmp(key, "netdev")) {
      if (strlen(val) >= sizeof(st.netdev)) {
        r = -EBADMSG;
        break;
      }
      snprintf(st.netdev, sizeof(st.netdev), "%s", val);
    } else if (!strcmp(key, "numvfs")) {
      uint64_t u;
      if (have_num || iov_parse_u64(val, &u) < 0 || u > IOV_VF_MAX_VFS) {
        r = -EBADMSG;
        break;
      }
      st.numvfs = (unsigned)u;
      have_num = true;
      if (u) {
        st.vfs = calloc(u, sizeof(*st.vfs));
        if (!st.vfs) {
          r = -ENOMEM;
          break;
        }
      }
    } else if (!strncmp(key, "vf.", 3)) {
      r = parse_vf_key(&st, key, val);
      if (r < 0) break;
    } else {
      r = -EBADMSG;
      break;
    }
  }
  if (r == 0 && (!have_version || !have_device || !have_num)) r = -EBADMSG;
  if (r < 0) {
    state_done(&st);
    *reterr_line = line;
    return r;
  }
  *ret = st;
  return 0;
}

static int read_state(const char *path, struct state *ret, char *err, size_t errlen) {
  struct stat sb;
  char *text;
  ssize_t n;
  size_t got = 0;
  unsigned line = 0;
  int fd, r;

  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) return iov__vf_fail(-errno, err, errlen, "cannot open %s", path);
  if (fstat(fd, &sb) < 0) {
    r = -errno;
    close(fd);
    return iov__vf_fail(r, err, errlen, "cannot stat %s", path);
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return iov__vf_fail(-EBADMSG, err, errlen, "%s is not a regular file", path);
  }
  if (sb.st_size > IOV_VF_MAX_STATE_FILE) {
    close(fd);
    return iov__vf_fail(-EFBIG, err, errlen, "%s is larger than %u bytes", path, IOV_VF_MAX_STATE_FILE);
  }
  text = malloc((size_t)sb.st_size + 1);
  if (!text) {
    close(fd);
    return iov__vf_fail(-ENOMEM, err, errlen, "%s", path);
  }
  while (got < (size_t)sb.st_size) {
    n = read(fd, text + got, (size_t)sb.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  text[got] = 0;
  if (memchr(text, 0, got)) {
    free(text);
    return iov__vf_fail(-EBADMSG, err, errlen, "%s: a NUL byte in a text file", path);
  }
  r = parse_state(text, ret, &line);
  free(text);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s:%u: malformed state file", path, line);
  return 0;
}

/* The recorded settings that differ from what the kernel reports now. */
static unsigned differing(const struct iov_vf_settings *want, const struct iov_vf_settings *now) {
  unsigned d = 0, both = want->set & now->set;

  d |= want->set & ~now->set;
  if ((both & IOV_VF_SET_MAC) && memcmp(want->mac, now->mac, 6)) d |= IOV_VF_SET_MAC;
  if ((both & IOV_VF_SET_VLAN) && (want->vlan != now->vlan || want->qos != now->qos ||
                                   iov__vf_vlan_proto(want) != iov__vf_vlan_proto(now)))
    d |= IOV_VF_SET_VLAN;
  if ((both & IOV_VF_SET_SPOOFCHK) && want->spoofchk != now->spoofchk) d |= IOV_VF_SET_SPOOFCHK;
  if ((both & IOV_VF_SET_TRUST) && want->trust != now->trust) d |= IOV_VF_SET_TRUST;
  if ((both & IOV_VF_SET_RATE) &&
      (want->min_tx_rate != now->min_tx_rate || want->max_tx_rate != now->max_tx_rate))
    d |= IOV_VF_SET_RATE;
  return d;
}

static int restore_state(struct iov_vf *v, const struct state *st, char *err, size_t errlen) {
  struct iov_vf_link l = { 0 };
  struct iov__vf_pf p;
  unsigned cur;
  bool any = false;
  int r;

  r = iov__vf_resolve_rel(v, st->rel, &p, err, errlen);
  if (r < 0) return r;
  r = iov__vf_counts(&p, &cur, NULL, err, errlen);
  if (r < 0) return r;
  r = iov__vf_change_count(&p, cur, st->numvfs, err, errlen);
  if (r < 0) return r;

  for (unsigned i = 0; i < st->numvfs; i++) any |= st->vfs[i].set != 0;
  if (!any) return 0;
  if (!p.netdev[0])
    return iov__vf_fail(-EOPNOTSUPP, err, errlen, "%s: the PF has no netdev to restore VF settings through",
                        p.id);
  r = iov__vf_get_link(v, p.netdev, &l);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot read link %s", p.id, p.netdev);
  for (unsigned i = 0; i < st->numvfs && r == 0; i++) {
    struct iov_vf_settings want = st->vfs[i], none = { 0 };
    const struct iov_vf_settings *now = &none;

    for (size_t k = 0; k < l.n_vfs; k++)
      if (l.vfs[k].vf == i) now = &l.vfs[k].s;
    want.set = differing(&st->vfs[i], now);
    if (want.set) r = iov__vf_apply(v, &p, l.ifindex, i, &want, NULL, err, errlen);
  }
  iov_vf_link_done(&l);
  return r;
}

/* Restore from one state file and remove it. */
static int restore_file(struct iov_vf *v, const char *path, char *err, size_t errlen) {
  struct state st = { 0 };
  int r;

  r = read_state(path, &st, err, errlen);
  if (r < 0) return r;
  r = restore_state(v, &st, err, errlen);
  state_done(&st);
  if (r < 0) return r;
  if (unlink(path) < 0) return iov__vf_fail(-errno, err, errlen, "restored, but cannot remove %s", path);
  (void)iov_fsync_dir(v->state_dir);
  iov_debug(IOV_DBG_SRIOV, "vf: restored from %s", path);
  return 1;
}

int iov_vf_restore_pf(struct iov_vf *v, const char *pf, char *err, size_t errlen) {
  char path[PATH_MAX];
  struct iov__vf_pf p;
  int r;

  if (!v) return -EINVAL;
  r = iov__vf_resolve_pf(v, pf, &p, err, errlen);
  if (r < 0) return r;
  if (state_path(v, p.id, path, sizeof(path)) < 0)
    return iov__vf_fail(-ENAMETOOLONG, err, errlen, "%s: state file", p.id);
  if (access(path, F_OK) < 0)
    return errno == ENOENT ? 0 : iov__vf_fail(-errno, err, errlen, "cannot check %s", path);
  return restore_file(v, path, err, errlen);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int iov_vf_restore(struct iov_vf *v, char *err, size_t errlen) {
  DIR *d;
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int r = 0, first = 0, restored = 0;

  if (!v) return -EINVAL;
  d = opendir(v->state_dir);
  if (!d)
    return errno == ENOENT
               ? 0
               : iov__vf_fail(-errno, err, errlen, "cannot open the state directory %s", v->state_dir);
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name), sl = strlen(STATE_SUFFIX);
    char p[PATH_MAX];

    if (!strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
      /* A save that never reached its rename: nothing was changed after
       * it, so there is nothing to restore. */
      if (iov__vf_path_join(p, sizeof(p), v->state_dir, e->d_name) == 0) (void)unlink(p);
      continue;
    }
    if (e->d_name[0] == '.' || len <= sl || strcmp(e->d_name + len - sl, STATE_SUFFIX)) continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 8;
      char **nn = nc > 65536 ? NULL : realloc(names, nc * sizeof(*names));
      if (!nn) {
        r = -ENOMEM;
        break;
      }
      names = nn;
      cap = nc;
    }
    names[n] = strdup(e->d_name);
    if (!names[n]) {
      r = -ENOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  if (r == 0 && n) qsort(names, n, sizeof(*names), cmp_str);
  for (size_t i = 0; i < n && r == 0; i++) {
    char p[PATH_MAX];
    int k;

    /* A PF that fails does not stop the others; err keeps the first. */
    char *e1 = first ? NULL : err;
    size_t e1len = first ? 0 : errlen;

    if (iov__vf_path_join(p, sizeof(p), v->state_dir, names[i]) < 0)
      k = iov__vf_fail(-ENAMETOOLONG, e1, e1len, "%s", names[i]);
    else
      k = restore_file(v, p, e1, e1len);
    if (k > 0) restored++;
    if (k < 0 && first == 0) first = k;
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (r < 0) return iov__vf_fail(r, err, errlen, "cannot list %s", v->state_dir);
  if (first < 0) return first;
  return restored;
}
