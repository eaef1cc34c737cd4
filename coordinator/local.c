#include "local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "iproute.h"
#include "log.h"
#include "spawn.h"
#include "timeutil.h"

#define MAX_LOCAL 64
/* A host's guests live in 198.19.(4i).0/22 (i: the host's index among the
 * local hosts): the host's bridge is .1, guest k gets offset
 * GUEST_ADDR_BASE + k, up to the last address before the broadcast. */
#define GUEST_ADDR_BASE 10
#define MAX_GUESTS_NETNS (1022 - GUEST_ADDR_BASE)
#define GUEST_PORT 7701
/* Guest namespaces configured at once (each by its own ip process). */
#define GUEST_SETUP_PARALLEL 4
#define AGENT_START_TIMEOUT_NS (15ULL * IOV_NSEC_PER_SEC)
/* Guests register after their host agent is up; on two CPUs each takes
 * about 10 ms (256: 2.5 s, 1000: 10 s), so this is generous. */
#define GUEST_START_TIMEOUT_NS (20ULL * IOV_NSEC_PER_SEC)
#define GUEST_START_PER_GUEST_NS (100ULL * IOV_NSEC_PER_MSEC)
#define AGENT_STOP_TIMEOUT_NS (5ULL * IOV_NSEC_PER_SEC)
#define POLL_NS (10 * IOV_NSEC_PER_MSEC)

struct local_guest {
  char id[16];   /* vm-id: "vm01" */
  char *netns;   /* NULL in loopback mode and before it is ours */
  char addr[20]; /* data-plane address */
  pid_t pid;
  bool ready;
};

struct local_host {
  char *name;  /* the plan's; not owned */
  char *netns; /* NULL in loopback mode */
  pid_t pid;
  bool ready;
  unsigned n_guests;
  struct local_guest *guests;
};

struct iov_local {
  enum iov_local_mode mode;
  char tmpdir[64];
  char prefix[32]; /* namespace name prefix, unique per coord process */
  size_t n;
  struct local_host hosts[MAX_LOCAL];
  size_t n_guests; /* over all hosts */
  char *bridge_ns;
  char describe[256];
};

enum iov_local_mode iov_local_mode_from_string(const char *s) {
  if (!s || strcmp(s, "auto") == 0) return IOV_LOCAL_AUTO;
  if (strcmp(s, "netns") == 0) return IOV_LOCAL_NETNS;
  if (strcmp(s, "loopback") == 0) return IOV_LOCAL_LOOPBACK;
  return _IOV_LOCAL_MODE_INVALID;
}

const char *iov_local_describe(const struct iov_local *l) { return l ? l->describe : ""; }

static bool is_executable(const char *p) { return access(p, X_OK) == 0; }

/* $env_var, else 'name' beside our own binary, else on PATH. */
static int find_binary(const char *name, const char *env_var, char **ret) {
  char self[PATH_MAX], cand[PATH_MAX + 64];
  const char *env = getenv(env_var);
  ssize_t n;

  if (env && *env) {
    if (!is_executable(env)) return -ENOENT;
    *ret = strdup(env);
    return *ret ? 0 : -ENOMEM;
  }
  /* Installed or built side by side with coord. */
  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = 0;
      snprintf(cand, sizeof(cand), "%s/%s", self, name);
      if (is_executable(cand)) {
        *ret = strdup(cand);
        return *ret ? 0 : -ENOMEM;
      }
    }
  }
  const char *path = getenv("PATH");
  while (path && *path) {
    size_t len = strcspn(path, ":");
    snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, path, name);
    if (len && is_executable(cand)) {
      *ret = strdup(cand);
      return *ret ? 0 : -ENOMEM;
    }
    path += len + (path[len] == ':');
  }
  return -ENOENT;
}

int iov_local_agent_path(char **ret) { return find_binary("iovbench-agent", "IOVBENCH_AGENT", ret); }

int iov_local_guest_agent_path(char **ret) {
  return find_binary("iovbench-guest-agent", "IOVBENCH_GUEST_AGENT", ret);
}

/* coord blocks SIGINT, SIGTERM and SIGHUP and reads them from a signalfd
 * later; one pending now means the user wants us to stop. */
static bool interrupted(void) {
  sigset_t p;
  if (sigpending(&p) < 0) return false;
  return sigismember(&p, SIGINT) == 1 || sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGHUP) == 1;
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = { .tv_sec = ns / IOV_NSEC_PER_SEC, .tv_nsec = ns % IOV_NSEC_PER_SEC };
  nanosleep(&ts, NULL);
}

/* Exited 0? */
static int wait_child(pid_t pid) {
  int status, r = iov_spawn_wait(pid, &status);
  if (r < 0) return r;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ip with its command line and output in the log (lib/iproute.h). */
#define IP(...) IOV_IP(&(struct iov_ip_opts){ .log_fd = log_fd }, NULL, 0, __VA_ARGS__)

static bool netns_possible(void) {
  if (geteuid() != 0) return false;
  return IOV_IP(NULL, NULL, 0, "-V") == 0;
}

/* Start 'ip [-force] [-n NS] -batch FILE' for the commands in 'text'
 * (one ip process for all of them; forking ip per command is what makes
 * hundreds of namespaces slow).  FILE is 'name' in our temporary
 * directory; the commands are copied into the log.  *ret goes to
 * iov_ip_wait(). */
static int start_batch(const struct iov_local *l, int log_fd, const char *ns, bool force, const char *name,
                       const char *text, struct iov_ip_proc *ret) {
  char path[PATH_MAX];

  snprintf(path, sizeof(path), "%s/%s", l->tmpdir, name);
  return iov_ip_batch_start(&(struct iov_ip_opts){ .netns = ns, .force = force, .log_fd = log_fd }, path,
                            text, ret, NULL, 0);
}

static int run_batch(const struct iov_local *l, int log_fd, const char *ns, bool force, const char *text) {
  struct iov_ip_proc p;
  int r = start_batch(l, log_fd, ns, force, "ip.batch", text, &p);
  return r < 0 ? r : iov_ip_wait(&p, NULL, 0);
}

/* Collects text for a batch; one failed write makes text_done() fail. */
struct text {
  char *buf;
  size_t len;
  FILE *f;
};

static int text_init(struct text *t) {
  *t = (struct text){ 0 };
  t->f = open_memstream(&t->buf, &t->len);
  return t->f ? 0 : -ENOMEM;
}

/* Returns the text (caller frees) or NULL on OOM. */
static char *text_done(struct text *t) {
  bool bad = ferror(t->f);
  if (fclose(t->f) != 0) bad = true;
  if (bad) {
    free(t->buf);
    return NULL;
  }
  return t->buf;
}

/* Write 'value' to a /proc/sys file as seen from inside namespace 'ns'
 * (net sysctls belong to the opener's namespace). */
static int ns_write_sysctl(int log_fd, const char *ns, const char *path, const char *value) {
  if (log_fd >= 0) dprintf(log_fd, "+ echo %s > %s (in %s)\n", value, path, ns);
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "/run/netns/%s", ns);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) _exit(1);
    if (iov_write_attr(path, value) < 0) _exit(1);
    _exit(0);
  }
  return wait_child(pid);
}

static void fabric_addr(size_t i, char *buf, size_t n) { snprintf(buf, n, "198.18.0.%zu", i + 1); }

static void guest_gateway(size_t i, char *buf, size_t n) { snprintf(buf, n, "198.19.%zu.1", 4 * i); }

/* Fixed MAC addresses (locally administered, "io"), so that the
 * neighbour entries between a host and its guests can be permanent: the
 * kernel's ARP table is shared by all namespaces, and its limit
 * (gc_thresh3, 1024 by default) counts only dynamic entries; with learned
 * entries a few hundred guests would fill it. */
static void guest_mac(size_t i, unsigned k, char *buf, size_t n) {
  snprintf(buf, n, "02:69:6f:%02x:%02x:%02x", (unsigned)(i & 0xff), (k >> 8) & 0xff, k & 0xff);
}

static void bridge_mac(size_t i, char *buf, size_t n) {
  snprintf(buf, n, "02:69:6f:%02x:ff:ff", (unsigned)(i & 0xff));
}

static void guest_addr(size_t i, unsigned k, char *buf, size_t n) {
  unsigned off = GUEST_ADDR_BASE + k;
  snprintf(buf, n, "198.19.%zu.%u", 4 * i + off / 256, off % 256);
}

static int setup_netns(struct iov_local *l, int log_fd) {
  char addr[64], dev[32], peer[32];
  int r;

  for (size_t i = 0; i < l->n; i++) {
    char *ns;
    if (asprintf(&ns, "%s-%s", l->prefix, l->hosts[i].name) < 0) return -ENOMEM;
    r = IP("netns", "add", ns);
    if (r < 0) {
      free(ns);
      return r;
    }
    l->hosts[i].netns = ns;
    r = IP("-n", ns, "link", "set", "lo", "up");
    if (r < 0) return r;
  }
  if (l->n == 2) {
    /* Two hosts: one veth pair, 198.18.0.1/30 <-> 198.18.0.2/30. */
    r = IP("link", "add", "iovb0", "netns", l->hosts[0].netns, "type", "veth", "peer", "name", "iovb1",
           "netns", l->hosts[1].netns);
    if (r < 0) return r;
    for (size_t i = 0; i < 2; i++) {
      snprintf(dev, sizeof(dev), "iovb%zu", i);
      snprintf(addr, sizeof(addr), "198.18.0.%zu/30", i + 1);
      if ((r = IP("-n", l->hosts[i].netns, "addr", "add", addr, "dev", dev)) < 0) return r;
      if ((r = IP("-n", l->hosts[i].netns, "link", "set", dev, "up")) < 0) return r;
    }
    return 0;
  }
  if (l->n < 2) return 0;
  /* More: a bridge in its own namespace, a veth from each host to it. */
  if (asprintf(&l->bridge_ns, "%s-sw", l->prefix) < 0) return -ENOMEM;
  if ((r = IP("netns", "add", l->bridge_ns)) < 0) {
    free(l->bridge_ns);
    l->bridge_ns = NULL;
    return r;
  }
  if ((r = IP("-n", l->bridge_ns, "link", "add", "br0", "type", "bridge")) < 0) return r;
  if ((r = IP("-n", l->bridge_ns, "link", "set", "br0", "up")) < 0) return r;
  for (size_t i = 0; i < l->n; i++) {
    snprintf(peer, sizeof(peer), "p%zu", i);
    if ((r = IP("link", "add", "iovb0", "netns", l->hosts[i].netns, "type", "veth", "peer", "name", peer,
                "netns", l->bridge_ns)) < 0)
      return r;
    if ((r = IP("-n", l->bridge_ns, "link", "set", peer, "master", "br0", "up")) < 0) return r;
    snprintf(addr, sizeof(addr), "198.18.0.%zu/24", i + 1);
    if ((r = IP("-n", l->hosts[i].netns, "addr", "add", addr, "dev", "iovb0")) < 0) return r;
    if ((r = IP("-n", l->hosts[i].netns, "link", "set", "iovb0", "up")) < 0) return r;
  }
  return 0;
}

/* The commands that configure one guest's namespace. */
static char *guest_batch(size_t i, const struct local_guest *g) {
  char gw[16], mac[24];
  char *s;
  guest_gateway(i, gw, sizeof(gw));
  bridge_mac(i, mac, sizeof(mac));
  if (asprintf(&s,
               "link set lo up\n"
               "addr add %s/22 dev eth0\n"
               "link set eth0 addrgenmode none up\n"
               "route add default via %s\n"
               "neigh add %s lladdr %s dev eth0 nud permanent\n",
               g->addr, gw, gw, mac) < 0)
    return NULL;
  return s;
}

struct setup_slot {
  struct iov_ip_proc ip; /* ip.pid 0: free */
  const char *ns;
};

static int reap_slot(struct setup_slot *s, int log_fd) {
  char err[512];
  int r = iov_ip_wait(&s->ip, err, sizeof(err));
  if (r < 0 && log_fd >= 0) dprintf(log_fd, "configuring %s failed: %s\n", s->ns, err);
  return r;
}

/* Configure every guest namespace: one ip process each (ip -batch cannot
 * switch namespaces), a few at a time, reaped in the order started. */
static int setup_guest_namespaces(struct iov_local *l, int log_fd) {
  struct setup_slot slot[GUEST_SETUP_PARALLEL] = { 0 };
  size_t started = 0;
  int r = 0;

  for (size_t i = 0; i < l->n && r == 0; i++)
    for (unsigned k = 0; k < l->hosts[i].n_guests && r == 0; k++) {
      struct local_guest *g = &l->hosts[i].guests[k];
      size_t s = started++ % GUEST_SETUP_PARALLEL;
      char file[32];
      if (slot[s].ip.pid && (r = reap_slot(&slot[s], log_fd)) < 0) break;
      if (interrupted()) {
        r = -IOV_E_INTERRUPTED;
        break;
      }
      _cleanup_free_ char *text = guest_batch(i, g);
      if (!text) {
        r = -ENOMEM;
        break;
      }
      snprintf(file, sizeof(file), "guest%zu.batch", s);
      slot[s].ns = g->netns;
      r = start_batch(l, log_fd, g->netns, false, file, text, &slot[s].ip);
      if (r < 0) break;
    }
  for (size_t s = 0; s < GUEST_SETUP_PARALLEL; s++)
    if (slot[s].ip.pid) {
      int q = reap_slot(&slot[s], log_fd);
      if (r == 0) r = q;
    }
  return r;
}

/* Guests: a namespace each, a veth pair from it ('eth0') to its host's
 * namespace ('vmNN' there), enslaved to the host's bridge vbr0; the host
 * forwards, and routes other hosts' guest networks via their fabric
 * address. */
static int setup_guests_netns(struct iov_local *l, int log_fd) {
  struct text t;
  char *text;
  int r;

  if (l->n_guests == 0) return 0;
  /* Names first, and none in use: then every namespace of ours that
   * exists later was made by us, whichever step failed. */
  for (size_t i = 0; i < l->n; i++)
    for (unsigned k = 0; k < l->hosts[i].n_guests; k++) {
      struct local_guest *g = &l->hosts[i].guests[k];
      char *ns;
      if (asprintf(&ns, "%s-%s-%s", l->prefix, l->hosts[i].name, g->id) < 0) return -ENOMEM;
      if (iov_netns_exists(ns)) {
        if (log_fd >= 0)
          dprintf(log_fd,
                  "network namespace %s exists already (left over by a killed coord? remove it with "
                  "'ip netns del %s')\n",
                  ns, ns);
        free(ns);
        return -EEXIST;
      }
      g->netns = ns;
    }

  /* All namespaces and veth pairs in one ip process. */
  if ((r = text_init(&t)) < 0) return r;
  for (size_t i = 0; i < l->n; i++)
    for (unsigned k = 0; k < l->hosts[i].n_guests; k++)
      fprintf(t.f, "netns add %s\n", l->hosts[i].guests[k].netns);
  for (size_t i = 0; i < l->n; i++)
    for (unsigned k = 0; k < l->hosts[i].n_guests; k++) {
      struct local_guest *g = &l->hosts[i].guests[k];
      char mac[24];
      guest_mac(i, k + 1, mac, sizeof(mac));
      fprintf(t.f, "link add %s netns %s type veth peer name eth0 address %s netns %s\n", g->id,
              l->hosts[i].netns, mac, g->netns);
    }
  if (!(text = text_done(&t))) return -ENOMEM;
  r = run_batch(l, log_fd, NULL, false, text);
  free(text);
  if (r < 0) return r;

  /* Each host: its bridge, its ports, routes to the others' guests. */
  for (size_t i = 0; i < l->n; i++) {
    struct local_host *h = &l->hosts[i];
    char addr[32], mac[24];
    bool any = false;
    if ((r = text_init(&t)) < 0) return r;
    if (h->n_guests > 0) {
      guest_gateway(i, addr, sizeof(addr));
      bridge_mac(i, mac, sizeof(mac));
      /* The bridge's own MAC, or it would take the lowest of its ports'.
       * No IPv6 link-local addresses on the bridge, its ports and the
       * guests' eth0: their router solicitations, DAD and MLD would be
       * flooded to every port, N * N packets at start-up. */
      fprintf(t.f,
              "link add vbr0 address %s type bridge\n"
              "link set vbr0 addrgenmode none\n"
              "addr add %s/22 dev vbr0\n"
              "link set vbr0 up\n",
              mac, addr);
      for (unsigned k = 0; k < h->n_guests; k++) {
        guest_mac(i, k + 1, mac, sizeof(mac));
        fprintf(
            t.f,
            "link set %s addrgenmode none master vbr0 up\nneigh add %s lladdr %s dev vbr0 nud permanent\n",
            h->guests[k].id, h->guests[k].addr, mac);
      }
      any = true;
    }
    for (size_t j = 0; j < l->n && l->n > 1; j++)
      if (j != i && l->hosts[j].n_guests > 0) {
        fabric_addr(j, addr, sizeof(addr));
        fprintf(t.f, "route add 198.19.%zu.0/22 via %s\n", 4 * j, addr);
        any = true;
      }
    if (!(text = text_done(&t))) return -ENOMEM;
    r = any ? run_batch(l, log_fd, h->netns, false, text) : 0;
    free(text);
    if (r < 0) return r;
    if (h->n_guests > 0 && (r = ns_write_sysctl(log_fd, h->netns, "/proc/sys/net/ipv4/ip_forward", "1")) < 0)
      return r;
  }
  return setup_guest_namespaces(l, log_fd);
}

/* Start 'argv' with its output in log_path, inside namespace 'netns' when
 * not NULL; it gets SIGTERM when we die.  Returns its pid or -errno. */
static pid_t spawn(const char *netns, const char *log_path, char *const argv[]) {
  int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) return -errno;
  pid_t pid =
      iov_spawn(argv, &(struct iov_spawn_opts){ .netns = netns, .out_fd = logfd, .die_with_parent = true });
  close(logfd);
  return pid;
}

static void guest_endpoint(const struct iov_local *l, size_t i, char *buf, size_t n) {
  if (l->mode == IOV_LOCAL_NETNS) {
    char gw[16];
    guest_gateway(i, gw, sizeof(gw));
    snprintf(buf, n, "tcp://%s:%d", gw, GUEST_PORT);
  } else
    snprintf(buf, n, "ipc://%s/%s-guests.sock", l->tmpdir, l->hosts[i].name);
}

static int start_hosts(struct iov_local *l, struct iov_plan *plan, const char *agent, const char *log_dir) {
  for (size_t i = 0; i < l->n; i++) {
    struct local_host *lh = &l->hosts[i];
    struct iov_plan_host *h = NULL;
    char endpoint[PATH_MAX], guests[PATH_MAX], ready[PATH_MAX], log_path[PATH_MAX];
    for (size_t j = 0; j < plan->n_hosts; j++)
      if (plan->hosts[j].name == lh->name) h = &plan->hosts[j];
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/%s.sock", l->tmpdir, h->name);
    if (lh->n_guests > 0)
      guest_endpoint(l, i, guests, sizeof(guests));
    else
      snprintf(guests, sizeof(guests), "none");
    snprintf(ready, sizeof(ready), "%s/%s.ready", l->tmpdir, h->name);
    snprintf(log_path, sizeof(log_path), "%s/agent-%s.log", log_dir, h->name);
    /* Plaintext: its sockets are ours alone (a private directory, or
     * namespaces coord made). */
    char *argv[] = { (char *)agent,  "--listen", endpoint, "--guest-listen", guests,
                     "--ready-file", ready,      "--name", h->name,          "--plaintext",
                     "--key-listen", "none",     NULL };
    pid_t pid = spawn(lh->netns, log_path, argv);
    if (pid < 0) return iov_log_errno(pid, "Cannot start the agent for local host '%s': %m", h->name);
    lh->pid = pid;
    free(h->endpoint);
    h->endpoint = strdup(endpoint);
    free(h->data_addr);
    if (l->mode == IOV_LOCAL_NETNS && l->n > 1) {
      char addr[32];
      fabric_addr(i, addr, sizeof(addr));
      h->data_addr = strdup(addr);
    } else
      h->data_addr = strdup("127.0.0.1");
    if (!h->endpoint || !h->data_addr) return -ENOMEM;
    /* coord hands each simulated VM its data address (--data): coord
     * vouches for it, as a host agent does for the VMs it starts. */
    for (unsigned k = 0; k < lh->n_guests; k++)
      if (iov_plan_host_guest_data_add(h, lh->guests[k].id, lh->guests[k].addr) < 0) return -ENOMEM;
  }
  return 0;
}

static int start_guests(struct iov_local *l, const char *guest_agent, const char *log_dir) {
  for (size_t i = 0; i < l->n; i++) {
    struct local_host *h = &l->hosts[i];
    char endpoint[PATH_MAX], ready[PATH_MAX], log_path[PATH_MAX];
    guest_endpoint(l, i, endpoint, sizeof(endpoint));
    for (unsigned k = 0; k < h->n_guests; k++) {
      struct local_guest *g = &h->guests[k];
      if (interrupted()) return -IOV_E_INTERRUPTED;
      snprintf(ready, sizeof(ready), "%s/%s-%s.ready", l->tmpdir, h->name, g->id);
      snprintf(log_path, sizeof(log_path), "%s/guest-%s-%s.log", log_dir, h->name, g->id);
      char *argv[] = { (char *)guest_agent, "--host", endpoint, "--vm-id", g->id, "--data", g->addr,
                       "--ready-file",      ready,    NULL };
      pid_t pid = spawn(g->netns, log_path, argv);
      if (pid < 0)
        return iov_log_errno(pid, "Cannot start simulated VM '%s' of local host '%s': %m", g->id, h->name);
      g->pid = pid;
    }
  }
  return 0;
}

/* Has the child *pid exited?  Then *pid becomes 0 and *ret_status is set. */
static bool reaped(pid_t *pid, int *ret_status) {
  int status = 0;
  if (*pid <= 0) return false;
  pid_t w = waitpid(*pid, &status, WNOHANG);
  if (w == *pid || (w < 0 && errno == ECHILD)) {
    *pid = 0;
    *ret_status = status;
    return true;
  }
  return false;
}

static bool ready_file(const struct iov_local *l, const char *host, const char *guest) {
  char p[PATH_MAX];
  if (guest)
    snprintf(p, sizeof(p), "%s/%s-%s.ready", l->tmpdir, host, guest);
  else
    snprintf(p, sizeof(p), "%s/%s.ready", l->tmpdir, host);
  return access(p, F_OK) == 0;
}

static int host_died(struct local_host *h, int status, const char *when, const char *log_dir) {
  return iov_log_errno(-ECHILD,
                       "The agent for local host '%s' exited with status %d %s (see %s/agent-%s.log)",
                       h->name, iov_spawn_exit_code(status), when, log_dir, h->name);
}

/* Wait until every host agent has bound its sockets (it writes its ready
 * file), or has died. */
static int wait_hosts(struct iov_local *l, const char *log_dir) {
  uint64_t deadline = iov_now_mono() + AGENT_START_TIMEOUT_NS;
  for (;;) {
    size_t waiting = 0;
    int status;
    for (size_t i = 0; i < l->n; i++) {
      struct local_host *h = &l->hosts[i];
      if (h->ready) continue;
      if (ready_file(l, h->name, NULL)) {
        h->ready = true;
        continue;
      }
      if (reaped(&h->pid, &status))
        return interrupted() ? -IOV_E_INTERRUPTED : host_died(h, status, "before it was ready", log_dir);
      waiting++;
    }
    if (waiting == 0) return 0;
    if (interrupted()) return -IOV_E_INTERRUPTED;
    if (iov_now_mono() > deadline)
      for (size_t i = 0; i < l->n; i++)
        if (!l->hosts[i].ready)
          return iov_log_errno(-IOV_E_TIMEOUT,
                               "The agent for local host '%s' was not ready within %llu s (see "
                               "%s/agent-%s.log)",
                               l->hosts[i].name, AGENT_START_TIMEOUT_NS / IOV_NSEC_PER_SEC, log_dir,
                               l->hosts[i].name);
    sleep_ns(POLL_NS);
  }
}

/* Wait until every guest agent has registered with its host agent (it
 * writes its ready file then), or a guest or host agent has died. */
static int wait_guests(struct iov_local *l, const char *log_dir) {
  uint64_t timeout = GUEST_START_TIMEOUT_NS + l->n_guests * GUEST_START_PER_GUEST_NS;
  uint64_t deadline = iov_now_mono() + timeout;
  for (;;) {
    size_t waiting = 0;
    int status;
    for (size_t i = 0; i < l->n; i++) {
      struct local_host *h = &l->hosts[i];
      for (unsigned k = 0; k < h->n_guests; k++) {
        struct local_guest *g = &h->guests[k];
        if (g->ready) continue;
        if (ready_file(l, h->name, g->id)) {
          g->ready = true;
          continue;
        }
        if (reaped(&g->pid, &status)) {
          if (interrupted()) return -IOV_E_INTERRUPTED;
          return iov_log_errno(-ECHILD,
                               "Simulated VM '%s' of local host '%s' exited with status %d before it "
                               "registered (see %s/guest-%s-%s.log)",
                               g->id, h->name, iov_spawn_exit_code(status), log_dir, h->name, g->id);
        }
        waiting++;
      }
      if (h->n_guests > 0 && reaped(&h->pid, &status))
        return interrupted() ? -IOV_E_INTERRUPTED
                             : host_died(h, status, "while its simulated VMs were starting", log_dir);
    }
    if (waiting == 0) return 0;
    if (interrupted()) return -IOV_E_INTERRUPTED;
    if (iov_now_mono() > deadline)
      for (size_t i = 0; i < l->n; i++) {
        struct local_host *h = &l->hosts[i];
        unsigned late = 0, first = 0;
        for (unsigned k = h->n_guests; k-- > 0;)
          if (!h->guests[k].ready) late++, first = k;
        if (late)
          return iov_log_errno(-IOV_E_TIMEOUT,
                               "%u of the %u simulated VMs of local host '%s' did not register within "
                               "%llu s, '%s' among them (see %s/guest-%s-%s.log and %s/agent-%s.log)",
                               late, h->n_guests, h->name, (unsigned long long)(timeout / IOV_NSEC_PER_SEC),
                               h->guests[first].id, log_dir, h->name, h->guests[first].id, log_dir, h->name);
      }
    sleep_ns(POLL_NS);
  }
}

static void describe(struct iov_local *l) {
  char vms[96] = "";
  unsigned with = 0, same = 0;
  bool equal = true;
  for (size_t i = 0; i < l->n; i++)
    if (l->hosts[i].n_guests) {
      if (with++ && l->hosts[i].n_guests != same) equal = false;
      same = l->hosts[i].n_guests;
    }
  if (l->n_guests == 0)
    ;
  else if (with == 1 && l->n == 1)
    snprintf(vms, sizeof(vms), " with %zu simulated VM%s", l->n_guests, l->n_guests == 1 ? "" : "s");
  else if (equal && with == l->n)
    snprintf(vms, sizeof(vms), " with %u simulated VM%s each", same, same == 1 ? "" : "s");
  else
    snprintf(vms, sizeof(vms), " with %zu simulated VM%s on %u of them", l->n_guests,
             l->n_guests == 1 ? "" : "s", with);
  const char *where;
  if (l->mode != IOV_LOCAL_NETNS)
    where = "over loopback";
  else if (l->n_guests == 0)
    where =
        l->n == 2 ? "in two network namespaces joined by a veth pair" : "in network namespaces on a bridge";
  else if (l->n == 1)
    where = "in network namespaces, the VMs on the host's bridge vbr0 (198.19.0.0/22)";
  else
    where = l->n == 2
                ? "in network namespaces (hosts joined by a veth pair; each host's VMs on its bridge vbr0, "
                  "198.19.4i.0/22 for the i-th host)"
                : "in network namespaces (hosts on a bridge; each host's VMs on its bridge vbr0, "
                  "198.19.4i.0/22 for the i-th host)";
  snprintf(l->describe, sizeof(l->describe), "%zu local agent%s%s, %s", l->n, l->n == 1 ? "" : "s", vms,
           where);
}

int iov_local_start(struct iov_plan *plan, enum iov_local_mode mode, const char *log_dir,
                    struct iov_local **ret) {
  struct iov_local *l = calloc(1, sizeof(*l));
  _cleanup_free_ char *agent = NULL, *guest_agent = NULL;
  char path[PATH_MAX];
  int r, log_fd = -1;

  if (!l) return -ENOMEM;
  *ret = l;
  snprintf(l->prefix, sizeof(l->prefix), "iovb%d", (int)getpid());
  for (size_t i = 0; i < plan->n_hosts; i++) {
    struct iov_plan_host *ph = &plan->hosts[i];
    if (!ph->local) continue;
    if (l->n == MAX_LOCAL) return iov_log_errno(-E2BIG, "At most %d local hosts", MAX_LOCAL);
    if (ph->guests > IOV_PLAN_MAX_GUESTS)
      return iov_log_errno(-E2BIG, "Local host '%s': at most %d simulated VMs", ph->name,
                           IOV_PLAN_MAX_GUESTS);
    struct local_host *h = &l->hosts[l->n++];
    h->name = ph->name;
    if (ph->guests == 0) continue;
    h->guests = calloc(ph->guests, sizeof(*h->guests));
    if (!h->guests) return -ENOMEM;
    h->n_guests = ph->guests;
    l->n_guests += ph->guests;
    /* vm01..vm16, vm001..vm100: names sort like the numbers. */
    int width = snprintf(NULL, 0, "%u", ph->guests);
    if (width < 2) width = 2;
    if (width > 4) width = 4; /* the plan allows 1024 guests a host */
    for (unsigned k = 0; k < h->n_guests; k++) {
      snprintf(h->guests[k].id, sizeof(h->guests[k].id), "vm%0*u", width, k + 1);
      snprintf(h->guests[k].addr, sizeof(h->guests[k].addr), "127.0.0.1");
    }
  }
  if (l->n == 0) return 0;

  r = iov_local_agent_path(&agent);
  if (r < 0)
    return iov_log_errno(r,
                         "Cannot find iovbench-agent to start local hosts (build it, put it beside coord or "
                         "on PATH, or set IOVBENCH_AGENT)");
  if (l->n_guests > 0 && (r = iov_local_guest_agent_path(&guest_agent)) < 0)
    return iov_log_errno(r, "Cannot find iovbench-guest-agent to start the simulated VMs of the local hosts "
                            "(build it, put it beside coord or on PATH, or set IOVBENCH_GUEST_AGENT)");
  const char *tmp = getenv("TMPDIR");
  /* ipc socket paths must stay short (sun_path): a long TMPDIR is ignored. */
  if (!tmp || *tmp != '/' || strlen(tmp) > 40) tmp = "/tmp";
  snprintf(l->tmpdir, sizeof(l->tmpdir), "%.40s/iovbench-XXXXXX", tmp);
  if (!mkdtemp(l->tmpdir)) {
    l->tmpdir[0] = 0;
    return iov_log_errno(-errno, "Cannot create a temporary directory: %m");
  }

  if (mode == IOV_LOCAL_AUTO) mode = netns_possible() ? IOV_LOCAL_NETNS : IOV_LOCAL_LOOPBACK;
  l->mode = mode;
  if (mode == IOV_LOCAL_NETNS) {
    for (size_t i = 0; i < l->n; i++)
      if (l->hosts[i].n_guests > MAX_GUESTS_NETNS)
        return iov_log_errno(-E2BIG,
                             "Local host '%s': at most %d simulated VMs in network namespaces (one /22 "
                             "each), not %u; use --local=loopback for more",
                             l->hosts[i].name, MAX_GUESTS_NETNS, l->hosts[i].n_guests);
    for (size_t i = 0; i < l->n; i++)
      for (unsigned k = 0; k < l->hosts[i].n_guests; k++)
        guest_addr(i, k + 1, l->hosts[i].guests[k].addr, sizeof(l->hosts[i].guests[k].addr));
    snprintf(path, sizeof(path), "%s/netns-setup.log", log_dir);
    log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uint64_t t0 = iov_now_mono();
    r = setup_netns(l, log_fd);
    if (r >= 0) r = setup_guests_netns(l, log_fd);
    if (log_fd >= 0) {
      dprintf(log_fd, "# %s after %.3f s\n", r < 0 ? "failed" : "done",
              (double)(iov_now_mono() - t0) / IOV_NSEC_PER_SEC);
      close(log_fd);
    }
    if (r < 0 && (r == -IOV_E_INTERRUPTED || interrupted())) {
      iov_notice("interrupted while setting up the network namespaces for the local hosts");
      return -IOV_E_INTERRUPTED;
    }
    if (r == -EEXIST)
      return iov_log_errno(r,
                           "Cannot set up network namespaces for the local hosts: one of our names is taken "
                           "(see %s)",
                           path);
    if (r < 0)
      return iov_log_errno(r,
                           "Cannot set up network namespaces for the local hosts (see %s; run as root "
                           "with iproute2, or use --local=loopback)",
                           path);
  }

  r = start_hosts(l, plan, agent, log_dir);
  if (r >= 0) r = wait_hosts(l, log_dir);
  if (r >= 0 && l->n_guests > 0) {
    uint64_t t0 = iov_now_mono();
    r = start_guests(l, guest_agent, log_dir);
    if (r >= 0) r = wait_guests(l, log_dir);
    if (r >= 0)
      iov_debug(IOV_DBG_NET, "%zu simulated VMs registered after %.3f s", l->n_guests,
                (double)(iov_now_mono() - t0) / IOV_NSEC_PER_SEC);
  }
  if (r == -IOV_E_INTERRUPTED) {
    iov_notice("interrupted while starting the local agents");
    return r;
  }
  if (r < 0) return r;
  describe(l);
  return 0;
}

/* SIGTERM to every agent we started, guests and hosts at once, then wait
 * for all of them together; SIGKILL whoever is left at the deadline. */
static void stop_agents(struct iov_local *l) {
  uint64_t deadline = iov_now_mono() + AGENT_STOP_TIMEOUT_NS;
  int status;

  for (size_t i = 0; i < l->n; i++) {
    for (unsigned k = 0; k < l->hosts[i].n_guests; k++)
      if (l->hosts[i].guests[k].pid > 0) kill(l->hosts[i].guests[k].pid, SIGTERM);
    if (l->hosts[i].pid > 0) kill(l->hosts[i].pid, SIGTERM);
  }
  for (;;) {
    size_t left = 0;
    for (size_t i = 0; i < l->n; i++) {
      for (unsigned k = 0; k < l->hosts[i].n_guests; k++)
        if (l->hosts[i].guests[k].pid > 0 && !reaped(&l->hosts[i].guests[k].pid, &status)) left++;
      if (l->hosts[i].pid > 0 && !reaped(&l->hosts[i].pid, &status)) left++;
    }
    if (left == 0) return;
    if (iov_now_mono() > deadline) break;
    sleep_ns(5 * IOV_NSEC_PER_MSEC);
  }
  for (size_t i = 0; i < l->n; i++) {
    struct local_host *h = &l->hosts[i];
    unsigned stuck = 0, first = 0;
    for (unsigned k = h->n_guests; k-- > 0;)
      if (h->guests[k].pid > 0) {
        kill(h->guests[k].pid, SIGKILL);
        stuck++, first = k;
      }
    if (stuck)
      iov_warn("%u simulated VM%s of local host '%s' ignored SIGTERM ('%s', pid %d%s); killing them", stuck,
               stuck == 1 ? "" : "s", h->name, h->guests[first].id, (int)h->guests[first].pid,
               stuck > 1 ? ", among others" : "");
    if (h->pid > 0) {
      iov_warn("agent for local host '%s' (pid %d) ignored SIGTERM; killing it", h->name, (int)h->pid);
      kill(h->pid, SIGKILL);
    }
  }
  for (size_t i = 0; i < l->n; i++) {
    for (unsigned k = 0; k < l->hosts[i].n_guests; k++)
      if (l->hosts[i].guests[k].pid > 0) (void)waitpid(l->hosts[i].guests[k].pid, &status, 0);
    if (l->hosts[i].pid > 0) (void)waitpid(l->hosts[i].pid, &status, 0);
  }
}

/* Delete our namespaces, guests before hosts before the switch, in one
 * ip process that goes on past failures. */
static void delete_namespaces(struct iov_local *l) {
  struct text t;
  char *text;
  bool any = false;
  int log_fd = -1;

  if (text_init(&t) == 0) {
    for (size_t i = 0; i < l->n; i++)
      for (unsigned k = 0; k < l->hosts[i].n_guests; k++)
        if (l->hosts[i].guests[k].netns && iov_netns_exists(l->hosts[i].guests[k].netns))
          fprintf(t.f, "netns del %s\n", l->hosts[i].guests[k].netns), any = true;
    for (size_t i = 0; i < l->n; i++)
      if (l->hosts[i].netns) fprintf(t.f, "netns del %s\n", l->hosts[i].netns), any = true;
    if (l->bridge_ns) fprintf(t.f, "netns del %s\n", l->bridge_ns), any = true;
    if ((text = text_done(&t))) {
      if (any && l->tmpdir[0]) (void)run_batch(l, -1, NULL, true, text);
      free(text);
    }
  }
  /* Whatever is left (no batch possible, or ip failed): one at a time. */
  for (size_t i = 0; i < l->n; i++) {
    for (unsigned k = 0; k < l->hosts[i].n_guests; k++) {
      char *ns = l->hosts[i].guests[k].netns;
      if (ns && iov_netns_exists(ns) && IP("netns", "del", ns) < 0)
        iov_warn("could not delete network namespace %s", ns);
    }
    if (l->hosts[i].netns && iov_netns_exists(l->hosts[i].netns) && IP("netns", "del", l->hosts[i].netns) < 0)
      iov_warn("could not delete network namespace %s", l->hosts[i].netns);
  }
  if (l->bridge_ns && iov_netns_exists(l->bridge_ns) && IP("netns", "del", l->bridge_ns) < 0)
    iov_warn("could not delete network namespace %s", l->bridge_ns);
}

static void remove_tmpdir(const char *dir) {
  DIR *d;
  struct dirent *de;
  char p[PATH_MAX];
  if (!dir[0] || !(d = opendir(dir))) return;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
      snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
      (void)unlink(p);
    }
  closedir(d);
  (void)rmdir(dir);
}

struct iov_local *iov_local_stop(struct iov_local *l) {
  if (!l) return NULL;
  stop_agents(l);
  delete_namespaces(l);
  remove_tmpdir(l->tmpdir);
  for (size_t i = 0; i < l->n; i++) {
    for (unsigned k = 0; k < l->hosts[i].n_guests; k++) free(l->hosts[i].guests[k].netns);
    free(l->hosts[i].guests);
    free(l->hosts[i].netns);
  }
  free(l->bridge_ns);
  free(l);
  return NULL;
}
