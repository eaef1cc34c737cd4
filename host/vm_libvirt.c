/* The VM lifecycle through libvirt (see vm.h).
 *
 * A handle holds one connection and the domains it created, with the XML
 * each was made from (to tell, with reuse_vms, whether a domain can serve
 * the next test point unchanged) and its overlay volume.
 *
 * libvirt reports errors through a thread-local "last error" and, unless
 * told otherwise, also prints them to stderr.  We install a silent
 * handler (process-wide, once) and copy libvirt's message into our own
 * one-line reasons instead. */
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "macro.h"
#include "vm.h"

#define CREATE_MAX 4096 /* guests in one create call */
#define NETS_MAX 64     /* net.count accepted from libvirt */
#define OVERLAY_SUFFIX ".qcow2"

struct held {
  char *name;
  char *xml;                                /* the domain XML it was made from */
  char *base, *pool, *volume, *volume_path; /* its overlay and that one's base, NULL if none */
  virDomainPtr dom;
};

struct iov_vm_host {
  virConnectPtr conn;
  char *uri;
  char *xml_dir;
  bool persistent;
  bool reuse;
  struct held *held;
  size_t n_held, cap_held;
};

static void quiet_error(void *opaque, virErrorPtr e) {
  (void)opaque;
  (void)e;
}

static int init_result;

static void once_init(void) {
  init_result = virInitialize() < 0 ? -EIO : 0;
  virSetErrorFunc(NULL, quiet_error);
}

/* libvirt's last error of this thread as one line (schema errors come
 * in several), never NULL. */
static const char *lv_text(void) {
  static _Thread_local char buf[1024];
  const char *m = virGetLastErrorMessage();
  if (!m || !*m) return "unknown libvirt error";
  size_t o = 0;
  for (const char *p = m; *p && o + 3 < sizeof(buf); p++) {
    if (*p == '\n') {
      while (o > 0 && buf[o - 1] == ' ') o--;
      if (p[1] && o > 0) {
        buf[o++] = ';';
        buf[o++] = ' ';
      }
    } else {
      buf[o++] = *p == '\t' ? ' ' : *p;
    }
  }
  buf[o] = 0;
  return buf;
}

static int lv_code(void) {
  virErrorPtr e = virGetLastError();
  return e ? e->code : VIR_ERR_OK;
}

/* Our code for libvirt's last error. */
static int lv_errno(void) {
  switch (lv_code()) {
  case VIR_ERR_NO_DOMAIN:
  case VIR_ERR_NO_STORAGE_POOL:
  case VIR_ERR_NO_STORAGE_VOL: return -ENOENT;
  case VIR_ERR_NO_MEMORY: return -ENOMEM;
  case VIR_ERR_XML_ERROR:
  case VIR_ERR_XML_DETAIL:
  case VIR_ERR_CONFIG_UNSUPPORTED:
  case VIR_ERR_INVALID_ARG: return -EINVAL;
  default: return -EIO;
  }
}

static char *strdup_or_null(const char *s, bool *oom) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *oom = true;
  return d;
}

/* The dump without the guest's secret key: the value of every
 * iovbench.key= OEM string is replaced.  The key is written nowhere but
 * the domain handed to libvirt (whose own copies are root's, 0600). */
static char *redact_secret(const char *xml) {
  static const char tag[] = "iovbench.key=", mark[] = "(secret key, not written here)";
  size_t n = 0;
  for (const char *p = strstr(xml, tag); p; p = strstr(p + 1, tag)) n++;
  char *out = malloc(strlen(xml) + n * sizeof(mark) + 1), *o = out;
  if (!out) return NULL;
  const char *p = xml, *k;
  while ((k = strstr(p, tag))) {
    size_t pre = (size_t)(k - p) + sizeof(tag) - 1;
    memcpy(o, p, pre);
    o += pre;
    memcpy(o, mark, sizeof(mark) - 1);
    o += sizeof(mark) - 1;
    k += sizeof(tag) - 1;
    p = k + strcspn(k, "<\"'\n"); /* the value ends with its element */
  }
  strcpy(o, p);
  return out;
}

static void dump_xml(struct iov_vm_host *h, const char *name, const char *suffix, const char *xml) {
  /* Best effort: a debugging aid must not fail a run. */
  if (!h->xml_dir) return;
  char path[4096];
  int fd = -1;
  char *text = redact_secret(xml);
  if (!text) return; /* never the unredacted text */
  /* A later domain of the same name (the next test point's) goes beside
   * the earlier one, as NAME.2.xml, NAME.3.xml, ... */
  for (unsigned n = 1; fd < 0 && n < 1000; n++) {
    int k = n == 1 ? snprintf(path, sizeof(path), "%s/%s%s", h->xml_dir, name, suffix)
                   : snprintf(path, sizeof(path), "%s/%s.%u%s", h->xml_dir, name, n, suffix);
    if (k < 0 || k >= (int)sizeof(path)) break;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd >= 0) {
    (void)iov_write_all(fd, text, strlen(text));
    close(fd);
  }
  free(text);
}

/* ---- open / close ----------------------------------------------------- */

static void held_done(struct held *d) {
  if (d->dom) virDomainFree(d->dom);
  free(d->name);
  free(d->xml);
  free(d->base);
  free(d->pool);
  free(d->volume);
  free(d->volume_path);
  memset(d, 0, sizeof(*d));
}

static struct iov_vm_host *lv_close(struct iov_vm_host *h) {
  if (!h) return NULL;
  for (size_t i = 0; i < h->n_held; i++) held_done(&h->held[i]);
  free(h->held);
  if (h->conn) virConnectClose(h->conn);
  free(h->uri);
  free(h->xml_dir);
  free(h);
  return NULL;
}

static int lv_open(const struct iov_vm_config *cfg, struct iov_vm_host **ret, char *err, size_t errlen) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, once_init);
  if (init_result < 0)
    return iov_errf(init_result, err, errlen, "libvirt failed to initialise: %s", lv_text());
  if (!cfg || !ret) return iov_errf(-EINVAL, err, errlen, "no VM configuration");

  struct iov_vm_host *h = calloc(1, sizeof(*h));
  if (!h) return -ENOMEM;
  bool oom = false;
  h->uri = strdup_or_null(cfg->uri ? cfg->uri : IOV_VM_DEFAULT_URI, &oom);
  h->xml_dir = strdup_or_null(cfg->xml_dir, &oom);
  h->persistent = cfg->persistent;
  h->reuse = cfg->reuse_vms;
  if (oom) {
    lv_close(h);
    return -ENOMEM;
  }
  h->conn = virConnectOpen(h->uri);
  if (!h->conn) {
    int r =
        iov_errf(-ECONNREFUSED, err, errlen,
                 "cannot connect to libvirt at '%s': %s (is libvirtd or virtqemud running, and may this user "
                 "use it?)",
                 h->uri, lv_text());
    lv_close(h);
    return r;
  }
  (void)virConnSetErrorFunc(h->conn, NULL, quiet_error);
  *ret = h;
  return 0;
}

/* ---- destroying ------------------------------------------------------- */

/* Stop (if running) and undefine (if persistent) one domain.  A domain
 * that is already gone is no error. */
static int kill_domain(virDomainPtr dom, const char *name, char *err, size_t errlen) {
  int active = virDomainIsActive(dom);
  if (active < 0 && lv_code() == VIR_ERR_NO_DOMAIN) return 0;
  if (active < 0) return iov_errf(lv_errno(), err, errlen, "cannot query domain '%s': %s", name, lv_text());
  if (active && virDomainDestroy(dom) < 0 && lv_code() != VIR_ERR_NO_DOMAIN &&
      lv_code() != VIR_ERR_OPERATION_INVALID)
    return iov_errf(lv_errno(), err, errlen, "cannot stop domain '%s': %s", name, lv_text());
  int persistent = virDomainIsPersistent(dom);
  if (persistent < 0 && lv_code() == VIR_ERR_NO_DOMAIN) return 0; /* transient: gone with destroy */
  if (persistent < 0)
    return iov_errf(lv_errno(), err, errlen, "cannot query domain '%s': %s", name, lv_text());
  if (!persistent) return 0;
  /* Drivers accept different subsets of these flags (the test driver
   * refuses NVRAM and CHECKPOINTS); try from the most thorough down. */
  static const unsigned tries[] = {
    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM |
        VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    0,
  };
  for (size_t i = 0; i < ELEMENTSOF(tries); i++) {
    if (virDomainUndefineFlags(dom, tries[i]) == 0) return 0;
    if (lv_code() == VIR_ERR_NO_DOMAIN) return 0;
    if (lv_code() != VIR_ERR_INVALID_ARG && lv_code() != VIR_ERR_NO_SUPPORT) break;
  }
  return iov_errf(lv_errno(), err, errlen, "cannot undefine domain '%s': %s", name, lv_text());
}

/* Delete pool/volume; a missing volume is no error. */
static int delete_volume(struct iov_vm_host *h, const char *pool, const char *volume, char *err,
                         size_t errlen) {
  virStoragePoolPtr p = virStoragePoolLookupByName(h->conn, pool);
  if (!p) {
    if (lv_code() == VIR_ERR_NO_STORAGE_POOL) return 0;
    return iov_errf(lv_errno(), err, errlen, "cannot find pool '%s' to delete overlay '%s': %s", pool, volume,
                    lv_text());
  }
  int r = 0;
  virStorageVolPtr v = virStorageVolLookupByName(p, volume);
  if (!v) {
    if (lv_code() != VIR_ERR_NO_STORAGE_VOL)
      r = iov_errf(lv_errno(), err, errlen, "cannot find overlay '%s' in pool '%s': %s", volume, pool,
                   lv_text());
  } else {
    if (virStorageVolDelete(v, 0) < 0 && lv_code() != VIR_ERR_NO_STORAGE_VOL)
      r = iov_errf(lv_errno(), err, errlen, "cannot delete overlay '%s' in pool '%s': %s", volume, pool,
                   lv_text());
    virStorageVolFree(v);
  }
  virStoragePoolFree(p);
  return r;
}

static void held_remove(struct iov_vm_host *h, size_t i) {
  held_done(&h->held[i]);
  memmove(&h->held[i], &h->held[i + 1], (h->n_held - i - 1) * sizeof(h->held[0]));
  h->n_held--;
}

static ssize_t held_find(struct iov_vm_host *h, const char *name) {
  for (size_t i = 0; i < h->n_held; i++)
    if (strcmp(h->held[i].name, name) == 0) return (ssize_t)i;
  return -1;
}

/* Destroy held[i] with its overlay and forget it, even when part of that
 * fails (a half-destroyed domain is for cleanup to find). */
static int destroy_held(struct iov_vm_host *h, size_t i, char *err, size_t errlen) {
  struct held *d = &h->held[i];
  int r = kill_domain(d->dom, d->name, err, errlen);
  if (d->volume) {
    int k = delete_volume(h, d->pool, d->volume, r < 0 ? NULL : err, r < 0 ? 0 : errlen);
    if (r == 0) r = k;
  }
  held_remove(h, i);
  return r;
}

static int lv_destroy(struct iov_vm_host *h, const char *name, char *err, size_t errlen) {
  if (!h || !name) return iov_errf(-EINVAL, err, errlen, "no handle or name");
  ssize_t i = held_find(h, name);
  if (i < 0) return iov_errf(-ENOENT, err, errlen, "domain '%s' is not one this agent created", name);
  return destroy_held(h, (size_t)i, err, errlen);
}

static int lv_destroy_all(struct iov_vm_host *h, char *err, size_t errlen) {
  if (!h) return iov_errf(-EINVAL, err, errlen, "no handle");
  int r = 0;
  /* Newest first, the reverse of creation. */
  while (h->n_held > 0) {
    int k = destroy_held(h, h->n_held - 1, r < 0 ? NULL : err, r < 0 ? 0 : errlen);
    if (r == 0) r = k;
  }
  return r;
}

static int lv_point_done(struct iov_vm_host *h, char *err, size_t errlen) {
  if (!h) return iov_errf(-EINVAL, err, errlen, "no handle");
  return h->reuse ? 0 : lv_destroy_all(h, err, errlen);
}

/* ---- creating --------------------------------------------------------- */

/* Create the overlay of spec as pool/<name>.qcow2; returns its path. */
static int make_overlay(struct iov_vm_host *h, const struct iov_vm_spec *s, const char *name,
                        char **ret_volume, char **ret_path, char *err, size_t errlen) {
  const char *pool_name = s->pool ? s->pool : IOV_VM_DEFAULT_POOL;
  char volume[IOV_VM_NAME_MAX + sizeof(OVERLAY_SUFFIX)];
  snprintf(volume, sizeof(volume), "%s" OVERLAY_SUFFIX, name);

  uint64_t capacity = s->overlay_size;
  if (capacity == 0) {
    virStorageVolPtr base = virStorageVolLookupByPath(h->conn, s->base_image);
    if (!base)
      return iov_errf(
          -ENOENT, err, errlen,
          "%s: base image '%s' is not a volume of any libvirt storage pool (%s): put it in a pool's "
          "directory and refresh the pool (virsh pool-refresh POOL), or give the overlay size",
          name, s->base_image, lv_text());
    virStorageVolInfo info;
    int k = virStorageVolGetInfo(base, &info);
    virStorageVolFree(base);
    if (k < 0)
      return iov_errf(lv_errno(), err, errlen, "%s: cannot read the size of base image '%s': %s", name,
                      s->base_image, lv_text());
    capacity = info.capacity;
  }

  virStoragePoolPtr pool = virStoragePoolLookupByName(h->conn, pool_name);
  if (!pool)
    return iov_errf(-ENOENT, err, errlen,
                    "%s: no storage pool '%s' for the overlay: %s (virsh pool-list --all)", name, pool_name,
                    lv_text());
  int r = 0;
  _cleanup_free_ char *xml = NULL;
  virStorageVolPtr vol = NULL;
  char *path = NULL;
  int active = virStoragePoolIsActive(pool);
  if (active < 0) {
    r = iov_errf(lv_errno(), err, errlen, "%s: cannot query storage pool '%s': %s", name, pool_name,
                 lv_text());
    goto out;
  }
  if (!active) {
    r = iov_errf(-ENOENT, err, errlen, "%s: storage pool '%s' is not active: virsh pool-start %s", name,
                 pool_name, pool_name);
    goto out;
  }
  vol = virStorageVolLookupByName(pool, volume);
  if (vol) {
    r = iov_errf(-EEXIST, err, errlen,
                 "%s: overlay volume '%s' already exists in pool '%s' (a leftover of a crashed run? cleanup "
                 "removes ours)",
                 name, volume, pool_name);
    goto out;
  }
  r = iov_vm_overlay_xml(volume, capacity, s->base_image, s->base_format, &xml, err, errlen);
  if (r < 0) goto out;
  dump_xml(h, name, ".vol.xml", xml);
  vol = virStorageVolCreateXML(pool, xml, 0);
  if (!vol) {
    r = iov_errf(lv_errno(), err, errlen, "%s: libvirt refused to create overlay '%s' in pool '%s': %s", name,
                 volume, pool_name, lv_text());
    goto out;
  }
  path = virStorageVolGetPath(vol);
  if (!path) {
    r = iov_errf(lv_errno(), err, errlen, "%s: no path for overlay '%s': %s", name, volume, lv_text());
    (void)virStorageVolDelete(vol, 0);
    goto out;
  }
  *ret_volume = strdup(volume);
  if (!*ret_volume) {
    (void)virStorageVolDelete(vol, 0);
    free(path);
    r = -ENOMEM;
    goto out;
  }
  *ret_path = path;
out:
  if (vol) virStorageVolFree(vol);
  virStoragePoolFree(pool);
  return r;
}

static int held_reserve(struct iov_vm_host *h, size_t more) {
  if (h->n_held + more <= h->cap_held) return 0;
  size_t cap = h->cap_held ? h->cap_held : 8;
  while (cap < h->n_held + more) cap *= 2;
  struct held *n = realloc(h->held, cap * sizeof(*n));
  if (!n) return -ENOMEM;
  h->held = n;
  h->cap_held = cap;
  return 0;
}

/* Create one guest and append it to held. */
static int create_one(struct iov_vm_host *h, const struct iov_vm_spec *s, const char *name, char *err,
                      size_t errlen) {
  virDomainPtr existing = virDomainLookupByName(h->conn, name);
  if (existing) {
    virDomainFree(existing);
    return iov_errf(
        -EEXIST, err, errlen,
        "domain '%s' already exists (a leftover of a crashed run? cleanup removes ours; a domain of "
        "someone else's with this name must be renamed)",
        name);
  }
  if (lv_code() != VIR_ERR_NO_DOMAIN)
    return iov_errf(lv_errno(), err, errlen, "cannot look up domain '%s': %s", name, lv_text());

  struct held d = { 0 };
  int r = 0;
  bool oom = false;
  d.name = strdup_or_null(name, &oom);
  if (s->base_image) {
    d.base = strdup_or_null(s->base_image, &oom);
    d.pool = strdup_or_null(s->pool ? s->pool : IOV_VM_DEFAULT_POOL, &oom);
    if (!oom) r = make_overlay(h, s, name, &d.volume, &d.volume_path, err, errlen);
  }
  if (oom) r = -ENOMEM;
  if (r < 0) goto fail;
  r = iov_vm_domain_xml(s, d.volume_path, &d.xml, err, errlen);
  if (r < 0) goto fail;
  dump_xml(h, name, ".xml", d.xml);
  if (h->persistent) {
    d.dom = virDomainDefineXMLFlags(h->conn, d.xml, VIR_DOMAIN_DEFINE_VALIDATE);
    if (!d.dom) {
      r = iov_errf(lv_errno(), err, errlen, "libvirt refused to define domain '%s': %s", name, lv_text());
      goto fail;
    }
    if (virDomainCreate(d.dom) < 0) {
      r = iov_errf(lv_errno(), err, errlen, "libvirt failed to start domain '%s': %s", name, lv_text());
      (void)kill_domain(d.dom, name, NULL, 0);
      goto fail;
    }
  } else {
    d.dom = virDomainCreateXML(h->conn, d.xml, VIR_DOMAIN_START_VALIDATE);
    if (!d.dom) {
      r = iov_errf(lv_errno(), err, errlen, "libvirt refused to create domain '%s': %s", name, lv_text());
      goto fail;
    }
  }
  r = held_reserve(h, 1);
  if (r < 0) {
    (void)kill_domain(d.dom, name, NULL, 0);
    goto fail;
  }
  h->held[h->n_held++] = d;
  return 0;
fail:
  if (d.volume) (void)delete_volume(h, d.pool, d.volume, NULL, 0);
  held_done(&d);
  return r;
}

static int lv_create(struct iov_vm_host *h, const struct iov_vm_spec *specs, size_t n, size_t *ret_reused,
                     char *err, size_t errlen) {
  if (!h || (n && !specs)) return iov_errf(-EINVAL, err, errlen, "no handle or specs");
  if (n > CREATE_MAX)
    return iov_errf(-EINVAL, err, errlen, "%zu guests at once is over the limit of %d", n, CREATE_MAX);

  _cleanup_free_ char(*names)[IOV_VM_NAME_MAX + 1] = calloc(n ? n : 1, sizeof(*names));
  _cleanup_free_ bool *keep = calloc(h->n_held ? h->n_held : 1, sizeof(bool)); /* held, reused */
  _cleanup_free_ bool *reused = calloc(n ? n : 1, sizeof(bool)); /* specs, served by a held one */
  if (!names || !keep || !reused) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    int r = iov_vm_name(&specs[i], names[i], sizeof(names[i]), err, errlen);
    if (r < 0) return r;
    for (size_t j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0)
        return iov_errf(-EINVAL, err, errlen, "guests %zu and %zu are both '%s'", j, i, names[i]);
  }

  /* Which held domains serve this point as they are. */
  for (size_t i = 0; i < n; i++) {
    ssize_t k = held_find(h, names[i]);
    if (k < 0) continue;
    if (!h->reuse)
      return iov_errf(-EEXIST, err, errlen,
                      "domain '%s' is still running from the previous test point: end it first", names[i]);
    /* The overlay's base is not in the domain XML: compare it apart. */
    const struct held *d = &h->held[k];
    const char *pool = specs[i].pool ? specs[i].pool : IOV_VM_DEFAULT_POOL;
    bool same_boot = specs[i].base_image
                         ? d->base && strcmp(d->base, specs[i].base_image) == 0 && strcmp(d->pool, pool) == 0
                         : !d->base;
    if (!same_boot) continue;
    _cleanup_free_ char *xml = NULL;
    int r = iov_vm_domain_xml(&specs[i], d->volume_path, &xml, err, errlen);
    if (r < 0) return r;
    if (strcmp(xml, d->xml) == 0 && virDomainIsActive(d->dom) == 1) {
      keep[k] = true;
      reused[i] = true;
    }
  }
  /* With reuse_vms, what is held but not reused goes now. */
  int r = 0;
  for (size_t k = h->n_held; k-- > 0;) {
    if (keep[k]) continue;
    r = destroy_held(h, k, err, errlen);
    if (r < 0) return r;
  }

  size_t first_new = h->n_held, n_reused = 0;
  for (size_t i = 0; i < n; i++) {
    if (reused[i]) {
      n_reused++;
      continue;
    }
    r = create_one(h, &specs[i], names[i], err, errlen);
    if (r < 0) break;
  }
  if (r < 0) {
    /* All or none: take back what this call created. */
    while (h->n_held > first_new) (void)destroy_held(h, h->n_held - 1, NULL, 0);
    return r;
  }
  if (ret_reused) *ret_reused = n_reused;
  return 0;
}

/* ---- finding ours ----------------------------------------------------- */

static int cmp_info(const void *a, const void *b) {
  return strcmp(((const struct iov_vm_info *)a)->name, ((const struct iov_vm_info *)b)->name);
}

/* Is dom ours (name prefix, metadata, and the name the metadata implies),
 * and does it match run/host?  1 and *ret filled, 0 not, < 0 error. */
static int dom_ours(virDomainPtr dom, const char *run, const char *host, struct iov_vm_info *ret) {
  const char *name = virDomainGetName(dom);
  if (!name || strncmp(name, IOV_VM_NAME_PREFIX, strlen(IOV_VM_NAME_PREFIX)) != 0) return 0;
  char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, IOV_VM_XMLNS, 0);
  if (!meta)
    return lv_code() == VIR_ERR_NO_DOMAIN_METADATA || lv_code() == VIR_ERR_NO_DOMAIN ? 0 : lv_errno();
  struct iov_vm_info i = { 0 };
  int r = iov__vm_metadata_parse(meta, &i);
  free(meta);
  if (r == -ENOMEM) return r;
  if (r < 0) return 0;
  struct iov_vm_spec s = { .run = i.run, .host = i.host, .index = i.index };
  char expect[IOV_VM_NAME_MAX + 1];
  char vol[IOV_VM_NAME_MAX + sizeof(OVERLAY_SUFFIX)];
  snprintf(vol, sizeof(vol), "%s" OVERLAY_SUFFIX, name);
  bool ok = iov_vm_name(&s, expect, sizeof(expect), NULL, 0) == 0 && strcmp(expect, name) == 0 &&
            (!run || strcmp(run, i.run) == 0) && (!host || strcmp(host, i.host) == 0);
  /* A volume we did not name after the domain is not ours to delete. */
  if (ok && i.volume && strcmp(i.volume, vol) != 0) {
    free(i.volume);
    free(i.pool);
    i.volume = i.pool = NULL;
  }
  if (!ok) {
    iov_vm_info_done(&i);
    return 0;
  }
  i.name = strdup(name);
  if (!i.name) {
    iov_vm_info_done(&i);
    return -ENOMEM;
  }
  i.active = virDomainIsActive(dom) == 1;
  i.persistent = virDomainIsPersistent(dom) == 1;
  *ret = i;
  return 1;
}

static int lv_list_ours(struct iov_vm_host *h, const char *run, const char *host, struct iov_vm_info **ret,
                        size_t *ret_n, char *err, size_t errlen) {
  if (!h || !ret || !ret_n) return iov_errf(-EINVAL, err, errlen, "no handle");
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains(h->conn, &doms, 0);
  if (n < 0) return iov_errf(lv_errno(), err, errlen, "cannot list domains: %s", lv_text());
  struct iov_vm_info *out = calloc((size_t)n + 1, sizeof(*out));
  size_t k = 0;
  int r = out ? 0 : -ENOMEM;
  for (int i = 0; i < n; i++) {
    if (r == 0) {
      int o = dom_ours(doms[i], run, host, &out[k]);
      if (o < 0)
        r = iov_errf(o, err, errlen, "cannot read the metadata of domain '%s': %s", virDomainGetName(doms[i]),
                     lv_text());
      else if (o > 0)
        k++;
    }
    virDomainFree(doms[i]);
  }
  free(doms);
  if (r < 0) {
    iov_vm_info_free_array(out, k);
    return r;
  }
  qsort(out, k, sizeof(*out), cmp_info);
  *ret = out;
  *ret_n = k;
  return 0;
}

/* iovb-<run>-<host>-vmNN.qcow2 with the filters applied; NN digits only. */
static bool orphan_name_ours(const char *vol, const char *run, const char *host) {
  size_t n = strlen(vol), pl = strlen(IOV_VM_NAME_PREFIX), sl = strlen(OVERLAY_SUFFIX);
  if (n <= pl + sl || strncmp(vol, IOV_VM_NAME_PREFIX, pl) != 0 || strcmp(vol + n - sl, OVERLAY_SUFFIX) != 0)
    return false;
  const char *end = vol + n - sl, *p = end;
  while (p > vol && p[-1] >= '0' && p[-1] <= '9') p--;
  if (end - p < 2 || p - vol < (ptrdiff_t)(pl + 3) || strncmp(p - 3, "-vm", 3) != 0) return false;
  const char *mid = p - 3; /* end of "<run>-<host>" */
  if (host) {
    size_t hl = strlen(host);
    if ((size_t)(mid - vol) < pl + hl + 2 || strncmp(mid - hl, host, hl) != 0 ||
        mid[-(ptrdiff_t)hl - 1] != '-')
      return false;
    mid -= hl + 1; /* end of "<run>" */
    if (run) return (size_t)(mid - vol) == pl + strlen(run) && strncmp(vol + pl, run, strlen(run)) == 0;
  }
  if (run) {
    size_t rl = strlen(run);
    return strncmp(vol + pl, run, rl) == 0 && vol[pl + rl] == '-';
  }
  return true;
}

static int cleanup_orphans(struct iov_vm_host *h, const char *run, const char *host, const char *pool_name,
                           size_t *removed, char *err, size_t errlen) {
  virStoragePoolPtr pool = virStoragePoolLookupByName(h->conn, pool_name);
  if (!pool)
    return iov_errf(lv_errno(), err, errlen, "cannot find storage pool '%s': %s", pool_name, lv_text());
  virStorageVolPtr *vols = NULL;
  int n = virStoragePoolListAllVolumes(pool, &vols, 0);
  int r = 0;
  if (n < 0)
    r = iov_errf(lv_errno(), err, errlen, "cannot list volumes of pool '%s': %s", pool_name, lv_text());
  for (int i = 0; i < n; i++) {
    const char *vn = virStorageVolGetName(vols[i]);
    if (vn && orphan_name_ours(vn, run, host)) {
      char dom[IOV_VM_NAME_MAX + 1];
      size_t dl = strlen(vn) - strlen(OVERLAY_SUFFIX);
      virDomainPtr d = NULL;
      if (dl <= IOV_VM_NAME_MAX) {
        memcpy(dom, vn, dl);
        dom[dl] = 0;
        d = virDomainLookupByName(h->conn, dom);
      }
      if (d) {
        virDomainFree(d); /* its domain exists: not an orphan */
      } else if (dl <= IOV_VM_NAME_MAX && lv_code() == VIR_ERR_NO_DOMAIN) {
        if (virStorageVolDelete(vols[i], 0) == 0)
          (*removed)++;
        else if (r == 0)
          r = iov_errf(lv_errno(), err, errlen, "cannot delete orphaned overlay '%s' in pool '%s': %s", vn,
                       pool_name, lv_text());
      }
    }
    virStorageVolFree(vols[i]);
  }
  free(vols);
  virStoragePoolFree(pool);
  return r;
}

static int lv_cleanup(struct iov_vm_host *h, const char *run, const char *host, const char *pool,
                      size_t *ret_removed, char *err, size_t errlen) {
  struct iov_vm_info *ours = NULL;
  size_t n = 0, removed = 0;
  int r = lv_list_ours(h, run, host, &ours, &n, err, errlen);
  if (r < 0) return r;
  for (size_t i = 0; i < n; i++) {
    ssize_t k = held_find(h, ours[i].name);
    int e;
    if (k >= 0) {
      e = destroy_held(h, (size_t)k, r < 0 ? NULL : err, r < 0 ? 0 : errlen);
    } else {
      virDomainPtr d = virDomainLookupByName(h->conn, ours[i].name);
      e = d ? kill_domain(d, ours[i].name, r < 0 ? NULL : err, r < 0 ? 0 : errlen) : 0;
      if (d) virDomainFree(d);
      if (e == 0 && ours[i].volume)
        e = delete_volume(h, ours[i].pool, ours[i].volume, r < 0 ? NULL : err, r < 0 ? 0 : errlen);
    }
    if (e == 0) removed++;
    if (r == 0) r = e;
  }
  iov_vm_info_free_array(ours, n);
  if (pool) {
    int e = cleanup_orphans(h, run, host, pool, &removed, r < 0 ? NULL : err, r < 0 ? 0 : errlen);
    if (r == 0) r = e;
  }
  if (r == 0 && ret_removed) *ret_removed = removed;
  return r;
}

/* ---- statistics ------------------------------------------------------- */

static bool param_u64(const virTypedParameter *p, uint64_t *v) {
  switch (p->type) {
  case VIR_TYPED_PARAM_ULLONG: *v = p->value.ul; return true;
  case VIR_TYPED_PARAM_UINT: *v = p->value.ui; return true;
  case VIR_TYPED_PARAM_LLONG:
    if (p->value.l < 0) return false;
    *v = (uint64_t)p->value.l;
    return true;
  case VIR_TYPED_PARAM_INT:
    if (p->value.i < 0) return false;
    *v = (uint64_t)p->value.i;
    return true;
  default: return false;
  }
}

static void stats_done(struct iov_vm_stats *s) {
  free(s->name);
  free(s->vcpu_time_ns);
  for (size_t i = 0; i < s->n_nets; i++) free(s->nets[i].name);
  free(s->nets);
  memset(s, 0, sizeof(*s));
}

struct iov_vm_stats *iov_vm_stats_free_array(struct iov_vm_stats *a, size_t n) {
  for (size_t i = 0; a && i < n; i++) stats_done(&a[i]);
  free(a);
  return NULL;
}

static void stats_unknown(struct iov_vm_stats *s) {
  s->state = -1;
  s->cpu_time_ns = s->cpu_user_ns = s->cpu_system_ns = s->balloon_kib = IOV_VM_UNKNOWN;
}

/* Size the per-vCPU and per-NIC arrays from vcpu.current and net.count,
 * then fill them; a field out of range is ignored. */
static int stats_fill(struct iov_vm_stats *s, const virDomainStatsRecord *rec) {
  uint64_t v;
  for (int j = 0; j < rec->nparams; j++) {
    const virTypedParameter *p = &rec->params[j];
    if (strcmp(p->field, "vcpu.current") == 0 && param_u64(p, &v) && v <= IOV_VM_VCPUS_MAX &&
        !s->vcpu_time_ns) {
      s->vcpu_time_ns = malloc((v ? v : 1) * sizeof(uint64_t));
      if (!s->vcpu_time_ns) return -ENOMEM;
      for (size_t i = 0; i < v; i++) s->vcpu_time_ns[i] = IOV_VM_UNKNOWN;
      s->n_vcpus = (size_t)v;
    } else if (strcmp(p->field, "net.count") == 0 && param_u64(p, &v) && v <= NETS_MAX && !s->nets) {
      s->nets = calloc(v ? v : 1, sizeof(*s->nets));
      if (!s->nets) return -ENOMEM;
      for (size_t i = 0; i < v; i++) {
        struct iov_vm_net_stats *ns = &s->nets[i];
        ns->rx_bytes = ns->rx_pkts = ns->rx_drop = IOV_VM_UNKNOWN;
        ns->tx_bytes = ns->tx_pkts = ns->tx_drop = IOV_VM_UNKNOWN;
      }
      s->n_nets = (size_t)v;
    }
  }
  for (int j = 0; j < rec->nparams; j++) {
    const virTypedParameter *p = &rec->params[j];
    const char *f = p->field;
    unsigned idx;
    int off = 0;
    if (strcmp(f, "state.state") == 0 && p->type == VIR_TYPED_PARAM_INT) {
      s->state = p->value.i;
    } else if (strcmp(f, "cpu.time") == 0) {
      if (!param_u64(p, &s->cpu_time_ns)) s->cpu_time_ns = IOV_VM_UNKNOWN;
    } else if (strcmp(f, "cpu.user") == 0) {
      if (!param_u64(p, &s->cpu_user_ns)) s->cpu_user_ns = IOV_VM_UNKNOWN;
    } else if (strcmp(f, "cpu.system") == 0) {
      if (!param_u64(p, &s->cpu_system_ns)) s->cpu_system_ns = IOV_VM_UNKNOWN;
    } else if (strcmp(f, "balloon.current") == 0) {
      if (!param_u64(p, &s->balloon_kib)) s->balloon_kib = IOV_VM_UNKNOWN;
    } else if (sscanf(f, "vcpu.%u.time%n", &idx, &off) == 1 && f[off] == 0) {
      if (idx < s->n_vcpus && param_u64(p, &v)) s->vcpu_time_ns[idx] = v;
    } else if (sscanf(f, "net.%u.%n", &idx, &off) == 1 && off > 0 && idx < s->n_nets) {
      struct iov_vm_net_stats *ns = &s->nets[idx];
      const char *k = f + off;
      if (strcmp(k, "name") == 0 && p->type == VIR_TYPED_PARAM_STRING && !ns->name) {
        ns->name = strdup(p->value.s ? p->value.s : "");
        if (!ns->name) return -ENOMEM;
      }
      uint64_t *dst = strcmp(k, "rx.bytes") == 0   ? &ns->rx_bytes
                      : strcmp(k, "rx.pkts") == 0  ? &ns->rx_pkts
                      : strcmp(k, "rx.drop") == 0  ? &ns->rx_drop
                      : strcmp(k, "tx.bytes") == 0 ? &ns->tx_bytes
                      : strcmp(k, "tx.pkts") == 0  ? &ns->tx_pkts
                      : strcmp(k, "tx.drop") == 0  ? &ns->tx_drop
                                                   : NULL;
      if (dst && param_u64(p, &v)) *dst = v;
    }
  }
  return 0;
}

#define STATS_WANTED                                                             \
  (VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_VCPU | \
   VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BALLOON)

static int lv_stats(struct iov_vm_host *h, struct iov_vm_stats **ret, size_t *ret_n, char *err,
                    size_t errlen) {
  if (!h || !ret || !ret_n) return iov_errf(-EINVAL, err, errlen, "no handle");
  size_t n = h->n_held;
  struct iov_vm_stats *out = calloc(n ? n : 1, sizeof(*out));
  virDomainPtr *doms = calloc(n + 1, sizeof(*doms));
  int r = 0;
  if (!out || !doms) {
    r = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    stats_unknown(&out[i]);
    out[i].name = strdup(h->held[i].name);
    if (!out[i].name) {
      r = -ENOMEM;
      goto out;
    }
    doms[i] = h->held[i].dom;
  }
  if (n == 0) goto out;
  virDomainStatsRecordPtr *recs = NULL;
  int k = virDomainListGetStats(doms, STATS_WANTED, &recs, 0);
  if (k < 0) {
    /* One domain that vanished (a transient guest that shut down) fails
     * the whole list; ask one by one, leaving the vanished unknown. */
    for (size_t i = 0; i < n && r == 0; i++) {
      virDomainPtr one[2] = { doms[i], NULL };
      virDomainStatsRecordPtr *rone = NULL;
      int m = virDomainListGetStats(one, STATS_WANTED, &rone, 0);
      if (m > 0) r = stats_fill(&out[i], rone[0]);
      if (m >= 0) virDomainStatsRecordListFree(rone);
    }
    goto out;
  }
  for (int j = 0; j < k && r == 0; j++) {
    const char *name = virDomainGetName(recs[j]->dom);
    for (size_t i = 0; name && i < n; i++)
      if (strcmp(out[i].name, name) == 0) {
        r = stats_fill(&out[i], recs[j]);
        break;
      }
  }
  virDomainStatsRecordListFree(recs);
out:
  free(doms);
  if (r < 0) {
    iov_vm_stats_free_array(out, n);
    return iov_errf(r, err, errlen, "out of memory reading domain statistics");
  }
  *ret = out;
  *ret_n = n;
  return 0;
}

const struct iov_vm_ops iov_vm_ops_libvirt = {
  .name = "libvirt",
  .caps = IOV_VM_CAP_SETS_VF_MAC | IOV_VM_CAP_HYPERVISOR,
  .open = lv_open,
  .close = lv_close,
  .create = lv_create,
  .destroy = lv_destroy,
  .destroy_all = lv_destroy_all,
  .point_done = lv_point_done,
  .list_ours = lv_list_ours,
  .cleanup = lv_cleanup,
  .stats = lv_stats,
};
