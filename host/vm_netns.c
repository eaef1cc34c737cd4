/* Guests without a hypervisor (see vm.h): each "VM" of a test point is a
 * network namespace holding one SR-IOV VF, with a guest agent running in
 * it.  This is how a host whose CPU cannot run VMs (or a test bed that
 * emulates the NIC itself under software emulation, where a nested guest
 * would take minutes to boot) still measures the VF data path end to
 * end: VF to VF through the NIC's embedded switch, and VF out of the
 * port.  The traffic goes through the VF's own queues and driver (igbvf,
 * iavf, mlx5_core...) in the host's kernel instead of a guest's.
 *
 * Creating guest i:
 *   1. find the VF's netdev by its PCI address (sysfs), after re-binding
 *      its driver so that it picks up the MAC the PF gave it (the VF
 *      driver reads its MAC when it probes; igb says "reload the VF
 *      driver" otherwise);
 *   2. ip netns add NAME; move the netdev in; lo and the netdev up; the
 *      spec's address (spec->net) on it;
 *   3. start the guest agent in it (ip netns exec, so it also sees its own
 *      /sys/class/net) with --host, --vm-id NAME and --data.
 * The namespace is named like a domain, iovb-<run>-<host>-vmNN.  Removing
 * it (after its guest agent, and anything else running in it, is gone)
 * returns the VF to the host's namespace.
 *
 * Only hostdev NICs (path sriov): a virtio NIC needs a real VM. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "iproute.h"
#include "log.h"
#include "macro.h"
#include "spawn.h"
#include "timeutil.h"
#include "vm.h"

#define NETNS_DIR "/run/netns"
#define PROBE_WAIT_MS 5000 /* for a VF's netdev to appear after probing */

struct held {
  char *name;
  char *netdev; /* as it was named when moved in */
  pid_t agent;
};

struct iov_vm_host {
  char *sysfs_root;
  char *guest_agent;
  bool reuse;
  struct held *held;
  size_t n_held, cap_held;
};

static void sleep_ms(unsigned ms) {
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * IOV_NSEC_PER_MSEC };
  nanosleep(&ts, NULL);
}

/* The (first) netdev of PCI function 'pci', into name; 0 or -ENOENT. */
static int pci_netdev(const struct iov_vm_host *h, const char *pci, char *name, size_t len) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/net", h->sysfs_root, pci);
  DIR *d = opendir(path);
  if (!d) return -ENOENT;
  struct dirent *e;
  int r = -ENOENT;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && strlen(e->d_name) < len) {
      memcpy(name, e->d_name, strlen(e->d_name) + 1);
      r = 0;
      break;
    }
  closedir(d);
  return r;
}

/* Unbind the VF's driver (if any) and let the kernel probe it again, then
 * wait for its netdev. */
static int rebind(const struct iov_vm_host *h, const char *pci, char *netdev, size_t len, char *err,
                  size_t errlen) {
  char path[PATH_MAX], drv[PATH_MAX] = "";
  snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", h->sysfs_root, pci);
  if (access(path, F_OK) < 0)
    return iov_errf(-ENODEV, err, errlen, "no PCI device %s in %s", pci, h->sysfs_root);
  snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", h->sysfs_root, pci);
  ssize_t k = readlink(path, drv, sizeof(drv) - 1);
  if (k > 0) {
    drv[k] = 0;
    snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver/unbind", h->sysfs_root, pci);
    int r = iov_write_attr(path, pci);
    if (r < 0) return iov_errf(r, err, errlen, "cannot unbind VF %s from its driver: %s", pci, strerror(-r));
  }
  snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", h->sysfs_root);
  int r = iov_write_attr(path, pci);
  if (r < 0 && r != -ENODEV)
    return iov_errf(r, err, errlen, "cannot probe a driver for VF %s: %s", pci, strerror(-r));
  for (unsigned waited = 0; waited <= PROBE_WAIT_MS; waited += 50) {
    if (pci_netdev(h, pci, netdev, len) == 0) return 0;
    sleep_ms(50);
  }
  const char *base = strrchr(drv, '/');
  return iov_errf(-ENODEV, err, errlen,
                  "VF %s has no network interface %u ms after probing (driver %s): is its VF driver loaded "
                  "(igbvf, iavf, ixgbevf, mlx5_core ...)?",
                  pci, PROBE_WAIT_MS, k > 0 ? (base ? base + 1 : drv) : "none");
}

/* End every process in namespace 'name' (ip netns pids), then remove it. */
static int remove_netns(const char *name, char *err, size_t errlen) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
  if (access(path, F_OK) < 0) return 0;
  struct stat ns;
  if (stat(path, &ns) == 0) {
    /* What still runs in it (a guest agent of a crashed host agent). */
    for (int round = 0; round < 2; round++) {
      DIR *d = opendir("/proc");
      struct dirent *e;
      while (d && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid()) continue;
        char p[64];
        struct stat st;
        snprintf(p, sizeof(p), "/proc/%ld/ns/net", pid);
        if (stat(p, &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev)
          kill((pid_t)pid, round ? SIGKILL : SIGTERM);
      }
      if (d) closedir(d);
      if (!round) sleep_ms(200);
    }
  }
  return IOV_IP(NULL, err, errlen, "netns", "del", (char *)name);
}

static void held_done(struct held *d) {
  if (d->agent > 0) (void)iov_spawn_stop(d->agent, 3000);
  free(d->name);
  free(d->netdev);
  memset(d, 0, sizeof(*d));
}

static int destroy_held(struct iov_vm_host *h, size_t i, char *err, size_t errlen) {
  struct held *d = &h->held[i];
  if (d->agent > 0) (void)iov_spawn_stop(d->agent, 3000);
  d->agent = 0;
  /* The VF back into our namespace now, down, before the namespace goes:
   * else the kernel returns it later, from the namespace's asynchronous
   * cleanup, and the next point's re-bind or VF count change races with
   * that (and waits on it when a reference lingers). */
  if (d->netdev && iov_netns_exists(d->name)) {
    char pid[24];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    (void)IOV_IP(NULL, NULL, 0, "-n", d->name, "link", "set", "dev", d->netdev, "down");
    if (IOV_IP(NULL, NULL, 0, "-n", d->name, "link", "set", "dev", d->netdev, "netns", pid) < 0)
      iov_debug(IOV_DBG_NET, "could not move %s out of %s before removing it", d->netdev, d->name);
  }
  int r = remove_netns(d->name, err, errlen);
  held_done(d);
  memmove(&h->held[i], &h->held[i + 1], (h->n_held - i - 1) * sizeof(*h->held));
  h->n_held--;
  return r;
}

static struct iov_vm_host *nn_close(struct iov_vm_host *h) {
  if (!h) return NULL;
  /* Like libvirt's domains, the namespaces outlive the handle; the
   * agents are our children and get SIGTERM with us anyway. */
  for (size_t i = 0; i < h->n_held; i++) {
    h->held[i].agent = 0;
    held_done(&h->held[i]);
  }
  free(h->held);
  free(h->sysfs_root);
  free(h->guest_agent);
  free(h);
  return NULL;
}

static int nn_open(const struct iov_vm_config *cfg, struct iov_vm_host **ret, char *err, size_t errlen) {
  if (!cfg || !ret) return iov_errf(-EINVAL, err, errlen, "no VM configuration");
  if (!cfg->guest_agent) return iov_errf(-EINVAL, err, errlen, "no guest agent binary given");
  if (access(cfg->guest_agent, X_OK) < 0)
    return iov_errf(-errno, err, errlen, "cannot run the guest agent %s: %s", cfg->guest_agent,
                    strerror(errno));
  struct iov_vm_host *h = calloc(1, sizeof(*h));
  if (!h) return -ENOMEM;
  h->sysfs_root = strdup(cfg->sysfs_root ? cfg->sysfs_root : "/sys");
  h->guest_agent = strdup(cfg->guest_agent);
  h->reuse = cfg->reuse_vms;
  if (!h->sysfs_root || !h->guest_agent) {
    nn_close(h);
    return -ENOMEM;
  }
  char why[512] = "";
  if (IOV_IP(NULL, why, sizeof(why), "netns", "list") < 0) {
    nn_close(h);
    return iov_errf(-ENOEXEC, err, errlen, "iproute2's ip cannot list network namespaces: %s", why);
  }
  *ret = h;
  return 0;
}

static int create_one(struct iov_vm_host *h, const struct iov_vm_spec *s, const char *name, char *err,
                      size_t errlen) {
  if (s->n_nics != 1 || s->nics[0].type != IOV_VM_NIC_HOSTDEV || !s->nics[0].pci)
    return iov_errf(-EINVAL, err, errlen,
                    "guest '%s': guests in network namespaces take exactly one VF (path sriov); a virtio NIC "
                    "needs a real VM (--vm-backend libvirt)",
                    name);
  if (iov_netns_exists(name))
    return iov_errf(-EEXIST, err, errlen,
                    "network namespace '%s' already exists (a leftover of a crashed run? the agent removes "
                    "its own at start; ip netns del %s)",
                    name, name);
  char netdev[IF_NAMESIZE];
  int r = rebind(h, s->nics[0].pci, netdev, sizeof(netdev), err, errlen);
  if (r < 0) return r;
  struct held d = { .name = strdup(name), .netdev = strdup(netdev) };
  if (!d.name || !d.netdev) {
    held_done(&d);
    return -ENOMEM;
  }
  char *nm = d.name;
  r = IOV_IP(NULL, err, errlen, "netns", "add", nm);
  if (r >= 0) r = IOV_IP(NULL, err, errlen, "link", "set", "dev", netdev, "netns", nm);
  if (r >= 0) r = IOV_IP(NULL, err, errlen, "-n", nm, "link", "set", "lo", "up");
  if (r >= 0 && s->net) r = IOV_IP(NULL, err, errlen, "-n", nm, "addr", "add", (char *)s->net, "dev", netdev);
  if (r >= 0) r = IOV_IP(NULL, err, errlen, "-n", nm, "link", "set", netdev, "up");
  if (r >= 0) {
    char *argv[16];
    int a = 0;
    argv[a++] = "ip";
    argv[a++] = "netns";
    argv[a++] = "exec";
    argv[a++] = nm;
    argv[a++] = h->guest_agent;
    argv[a++] = "--host";
    argv[a++] = (char *)s->guest_endpoint;
    argv[a++] = "--vm-id";
    argv[a++] = (char *)(s->vm_id ? s->vm_id : name);
    if (s->data) {
      argv[a++] = "--data";
      argv[a++] = (char *)s->data;
    }
    /* The secret key through the environment: argv is world-readable. */
    char env[64] = "", *envp[] = { env, NULL };
    if (s->host_key && s->guest_key) {
      argv[a++] = "--host-key";
      argv[a++] = (char *)s->host_key;
      snprintf(env, sizeof(env), "IOVBENCH_GUEST_KEY=%s", s->guest_key);
    }
    argv[a] = NULL;
    pid_t pid = iov_spawn(argv, &(struct iov_spawn_opts){ .out_fd = IOV_SPAWN_INHERIT,
                                                          .search_path = true,
                                                          .die_with_parent = true,
                                                          .env = env[0] ? envp : NULL });
    explicit_bzero(env, sizeof(env));
    if (pid < 0)
      r = iov_errf(pid, err, errlen, "cannot start the guest agent in '%s': %s", name, strerror(-pid));
    else
      d.agent = pid;
  }
  if (r >= 0 && h->n_held == h->cap_held) {
    size_t cap = h->cap_held ? 2 * h->cap_held : 8;
    struct held *n = realloc(h->held, cap * sizeof(*n));
    if (!n)
      r = -ENOMEM;
    else {
      h->held = n;
      h->cap_held = cap;
    }
  }
  if (r < 0) {
    if (d.agent > 0) (void)iov_spawn_stop(d.agent, 3000);
    d.agent = 0;
    (void)remove_netns(name, NULL, 0);
    held_done(&d);
    return r;
  }
  h->held[h->n_held++] = d;
  return 0;
}

static ssize_t held_find(const struct iov_vm_host *h, const char *name) {
  for (size_t i = 0; i < h->n_held; i++)
    if (strcmp(h->held[i].name, name) == 0) return (ssize_t)i;
  return -1;
}

static int nn_destroy(struct iov_vm_host *h, const char *name, char *err, size_t errlen) {
  ssize_t i = h ? held_find(h, name) : -1;
  if (i < 0) return iov_errf(-ENOENT, err, errlen, "no guest '%s' here", name ? name : "(null)");
  return destroy_held(h, (size_t)i, err, errlen);
}

static int nn_destroy_all(struct iov_vm_host *h, char *err, size_t errlen) {
  int first = 0;
  while (h && h->n_held) {
    int r = destroy_held(h, h->n_held - 1, first ? NULL : err, first ? 0 : errlen);
    if (r < 0 && !first) first = r;
  }
  return first;
}

static int nn_point_done(struct iov_vm_host *h, char *err, size_t errlen) {
  return h && h->reuse ? 0 : nn_destroy_all(h, err, errlen);
}

static int nn_create(struct iov_vm_host *h, const struct iov_vm_spec *specs, size_t n, size_t *ret_reused,
                     char *err, size_t errlen) {
  if (!h || (n && !specs)) return iov_errf(-EINVAL, err, errlen, "no handle or specs");
  /* A namespace holds a VF the next point may give to another guest:
   * nothing is carried over (the caller keeps guests it can reuse as they
   * are without calling here). */
  int r = nn_destroy_all(h, err, errlen);
  if (r < 0) return r;
  for (size_t i = 0; i < n; i++) {
    char name[IOV_VM_NAME_MAX + 1];
    r = iov_vm_name(&specs[i], name, sizeof(name), err, errlen);
    if (r >= 0) r = create_one(h, &specs[i], name, err, errlen);
    if (r < 0) {
      (void)nn_destroy_all(h, NULL, 0);
      return r;
    }
  }
  if (ret_reused) *ret_reused = 0;
  return 0;
}

/* iovb-<run>-<host>-vmNN, with the filters; NN digits. */
static bool name_ours(const char *name, const char *run, const char *host) {
  size_t n = strlen(name), pl = strlen(IOV_VM_NAME_PREFIX);
  if (n <= pl || strncmp(name, IOV_VM_NAME_PREFIX, pl) != 0) return false;
  const char *p = name + n;
  while (p > name && p[-1] >= '0' && p[-1] <= '9') p--;
  if (p == name + n || p - name < (ptrdiff_t)(pl + 3) || strncmp(p - 3, "-vm", 3) != 0) return false;
  const char *mid_end = p - 3; /* end of "<run>-<host>" */
  if (host) {
    size_t hl = strlen(host);
    if ((size_t)(mid_end - (name + pl)) < hl + 1 || strncmp(mid_end - hl, host, hl) != 0 ||
        mid_end[-(ptrdiff_t)hl - 1] != '-')
      return false;
  }
  if (run) {
    size_t rl = strlen(run);
    if ((size_t)(mid_end - (name + pl)) < rl + 1 || strncmp(name + pl, run, rl) != 0 || name[pl + rl] != '-')
      return false;
  }
  return true;
}

static int cmp_info(const void *a, const void *b) {
  return strcmp(((const struct iov_vm_info *)a)->name, ((const struct iov_vm_info *)b)->name);
}

static int nn_list_ours(struct iov_vm_host *h, const char *run, const char *host, struct iov_vm_info **ret,
                        size_t *ret_n, char *err, size_t errlen) {
  if (!h || !ret || !ret_n) return iov_errf(-EINVAL, err, errlen, "no handle");
  size_t k = 0, cap = 8;
  struct iov_vm_info *out = calloc(cap, sizeof(*out));
  if (!out) return -ENOMEM;
  DIR *d = opendir(NETNS_DIR);
  struct dirent *e;
  int r = 0;
  while (d && r == 0 && (e = readdir(d))) {
    if (!name_ours(e->d_name, run, host)) continue;
    if (k == cap) {
      struct iov_vm_info *n = realloc(out, 2 * cap * sizeof(*out));
      if (!n) {
        r = -ENOMEM;
        break;
      }
      memset(n + cap, 0, cap * sizeof(*n));
      out = n;
      cap *= 2;
    }
    out[k].name = strdup(e->d_name);
    if (!out[k].name) r = -ENOMEM;
    out[k].active = true;
    k++;
  }
  if (d) closedir(d);
  if (r < 0) {
    iov_vm_info_free_array(out, k);
    return r;
  }
  qsort(out, k, sizeof(*out), cmp_info);
  *ret = out;
  *ret_n = k;
  return 0;
}

static int nn_cleanup(struct iov_vm_host *h, const char *run, const char *host, const char *pool,
                      size_t *ret_removed, char *err, size_t errlen) {
  (void)pool;
  struct iov_vm_info *l = NULL;
  size_t n = 0, removed = 0;
  int r = nn_list_ours(h, run, host, &l, &n, err, errlen), first = 0;
  if (r < 0) return r;
  for (size_t i = 0; i < n; i++) {
    if (held_find(h, l[i].name) >= 0) {
      r = nn_destroy(h, l[i].name, first ? NULL : err, first ? 0 : errlen);
    } else
      r = remove_netns(l[i].name, first ? NULL : err, first ? 0 : errlen);
    if (r < 0 && !first) first = r;
    if (r >= 0) removed++;
  }
  iov_vm_info_free_array(l, n);
  if (ret_removed) *ret_removed = removed;
  return first;
}

static int nn_stats(struct iov_vm_host *h, struct iov_vm_stats **ret, size_t *ret_n, char *err,
                    size_t errlen) {
  (void)h;
  (void)err;
  (void)errlen;
  *ret = NULL;
  *ret_n = 0;
  return 0;
}

static pid_t nn_guest_pid(struct iov_vm_host *h, const char *name) {
  ssize_t i = h ? held_find(h, name) : -1;
  return i < 0 ? 0 : h->held[i].agent;
}

const struct iov_vm_ops iov_vm_ops_netns = {
  .name = "netns",
  .caps = 0, /* no hypervisor; the VF's MAC comes through the PF */
  .open = nn_open,
  .close = nn_close,
  .create = nn_create,
  .destroy = nn_destroy,
  .destroy_all = nn_destroy_all,
  .point_done = nn_point_done,
  .list_ours = nn_list_ours,
  .cleanup = nn_cleanup,
  .stats = nn_stats,
  .guest_pid = nn_guest_pid,
};
