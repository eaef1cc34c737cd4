/* The agent's event loop (agent.h).  A host agent binds a ROUTER socket
 * for coordinators (its host part, through the hooks, one for guests); a
 * guest agent connects a DEALER to its host agent's guest endpoint and
 * registers there.  Both watched by libuv through lib/zuv.c, with a timer
 * (the host's dead-man check, the guest's heartbeat) and SIGINT/SIGTERM
 * for shutdown.  What happens on the socket and the timer is the
 * session's (session.h). */
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "err.h"
#include "inventory.h"
#include "log.h"
#include "parse.h"
#include "timeutil.h"

/* How often a host agent checks that its coordinator still speaks: a
 * fraction of the shortest heartbeat a plan may set (100 ms). */
#define DEADMAN_CHECK_MS 50

static void on_timer(uv_timer_t *t) { iov__session_tick(t->data); }

void iov_agent_stop(struct iov_agent *a, const char *why) {
  if (a->stopping) return;
  a->stopping = true;
  iov__session_stop(a, why);
  if (a->vm && a->vm_state) a->vm->done(a, TAKE_PTR(a->vm_state));
  if (a->host && a->host_state) a->host->stop(a, a->host_state);
  uv_close((uv_handle_t *)(a->kind == IOV_AGENT_GUEST ? &a->heartbeat_timer : &a->deadman_timer), NULL);
  iov_zuv_close(&a->zuv, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct iov_agent *a = h->data;
  iov_notice("got signal %d, shutting down", signum);
  iov_agent_stop(a, "agent shutting down");
}

/* Which /proc/interrupts lines belong to this machine's NICs: every
 * non-loopback interface by name, and, for virtio-net, the virtio device
 * its queues are named after. */
static void open_irqstat(struct iov_agent *a) {
  const char *pat[IOV_IRQSTAT_MAX_PATTERNS];
  char *owned[IOV_IRQSTAT_MAX_PATTERNS];
  size_t n = 0, n_owned = 0;

  for (size_t i = 0; i < a->inventory->n_interfaces && n + 2 <= IOV_IRQSTAT_MAX_PATTERNS; i++) {
    const Iovbench__Interface *it = a->inventory->interfaces[i];
    char path[512], target[512];
    if (it->loopback || !it->name || !*it->name) continue;
    pat[n++] = it->name;
    snprintf(path, sizeof(path), "/sys/class/net/%s/device", it->name);
    ssize_t k = readlink(path, target, sizeof(target) - 1);
    if (k > 0) {
      target[k] = 0;
      const char *base = strrchr(target, '/');
      base = base ? base + 1 : target;
      if (strncmp(base, "virtio", 6) == 0 && (owned[n_owned] = strdup(base))) pat[n++] = owned[n_owned++];
    }
  }
  if (n > 0) {
    int r = iov_irqstat_open(NULL, pat, n, &a->irqstat);
    if (r < 0) iov_log_full_errno(IOV_LOG_NOTICE, r, "NIC interrupts will not be sampled: %m");
  }
  for (size_t i = 0; i < n_owned; i++) free(owned[i]);
}

static int guest_connect(struct iov_agent *a, const struct iov_agent_config *cfg) {
  a->sock = zsock_new(ZMQ_DEALER);
  if (!a->sock) return iov_log_errno(-ENOMEM, "Failed to create the control socket");
  iov_wire_sock_setup(a->sock);
  iov_wire_sock_harden(a->sock);
  /* A host agent that is down or refuses us: one attempt a second
   * (backing off to one every 5 s while it cannot be reached), not
   * ZeroMQ's ten. */
  zsock_set_reconnect_ivl(a->sock, 1000);
  zsock_set_reconnect_ivl_max(a->sock, 5000);
  if (cfg->host_key) {
    if (iov_key_text_ok(cfg->host_key) && cfg->secret_key) a->cert = iov_cert_from_secret(cfg->secret_key);
    if (!a->cert) {
      zsock_destroy(&a->sock);
      return iov_log_errno(-EINVAL, "The host key or this guest's secret key is not a CURVE key (40 Z85 "
                                    "characters); the host agent hands both over with the VM's settings");
    }
    iov_curve_client(a->sock, a->cert, cfg->host_key);
    iov_info("CURVE towards the host agent (its key %.8s..., ours %.8s...)", cfg->host_key,
             zcert_public_txt(a->cert));
  }
  int mr = iov_zmon_start(a->sock, "host", false, 0, &a->mon_ctl);
  if (mr < 0) iov_log_full_errno(IOV_LOG_WARNING, mr, "No monitor on the link to the host agent: %m");
  if (zsock_connect(a->sock, "%s", cfg->connect) < 0) {
    int r = -errno;
    iov_zmon_stop(&a->mon_ctl);
    iov_log_errno(r ? r : -EINVAL, "Cannot connect to the host agent at '%s': %m (check --host)",
                  cfg->connect);
    zsock_destroy(&a->sock);
    zcert_destroy(&a->cert);
    return r ? r : -EINVAL;
  }
  return 0;
}

/* How many certificates (files not ending in _secret) dir holds. */
static unsigned count_certs(const char *dir) {
  DIR *d = opendir(dir);
  unsigned n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (e->d_name[0] != '.' && !(l > 7 && strcmp(e->d_name + l - 7, "_secret") == 0)) n++;
  }
  if (d) closedir(d);
  return n;
}

/* What lib/auth.c's threads say (refused peers, failed handshakes). */
static void auth_log(const char *line) { iov_warn("%s", line); }

/* A host agent's CURVE server side: our key pair (made at first start),
 * the ZAP handler for coordinators and guests, the control socket set
 * up as CURVE server.  Before the bind. */
static int host_auth_setup(struct iov_agent *a, const struct iov_agent_config *cfg) {
  char dir[PATH_MAX], coords[PATH_MAX + 16], guests[PATH_MAX + 16], err[512];
  bool created = false;
  int r;
  if (cfg->key_dir)
    snprintf(dir, sizeof(dir), "%s", cfg->key_dir);
  else if ((r = iov_key_dir_default(true, dir, sizeof(dir))) < 0)
    return iov_log_errno(r, "No key directory: give --key-dir");
  r = iov_key_load(dir, "agent", true, &a->cert, &created, err, sizeof(err));
  if (r < 0) return iov_log_errno(r, "Cannot load this agent's key: %s", err);
  if (r > 0) iov_warn("%s", err);
  if (created) iov_notice("made this agent's key pair: %s/agent.key (public), agent.key_secret", dir);
  snprintf(coords, sizeof(coords), "%s/coordinators", dir);
  snprintf(guests, sizeof(guests), "%s/guests", dir);
  r = iov_zap_start(coords, guests, &a->zap);
  if (r < 0) return iov_log_errno(r, "Cannot start the authentication handler: %m");
  iov_curve_server(a->sock, a->cert, IOV_AUTH_DOMAIN_CONTROL);
  unsigned n = count_certs(coords);
  iov_info("CURVE on: public key %s; %u coordinator key(s) allowed in %s", zcert_public_txt(a->cert), n,
           coords);
  if (n == 0)
    iov_warn("no coordinator can connect yet: %s holds no key. Copy a coordinator's coord.key there ('coord "
             "keygen' makes one; it is read again when the directory changes), or run with --plaintext on a "
             "trusted network",
             coords);
  return 0;
}

/* The NICs add_nics put into the inventory (lib/inventory.c does not
 * know them). */
static void free_nics(Iovbench__Inventory *inv) {
  if (!inv) return;
  for (size_t i = 0; i < inv->n_nics; i++) protobuf_c_message_free_unpacked(&inv->nics[i]->base, NULL);
  free(inv->nics);
  inv->nics = NULL;
  inv->n_nics = 0;
}

/* Everything but the loop's handles (closed by then), and a itself. */
static void release(struct iov_agent *a) {
  zframe_destroy(&a->coord_id);
  free(a->coord_run);
  if (a->host && a->host->free) a->host->free(a, TAKE_PTR(a->host_state));
  /* A guest's goodbye may still be queued: give it a moment to leave. */
  if (a->kind == IOV_AGENT_GUEST && a->sock) zsock_set_linger(a->sock, 200);
  free_nics(a->inventory);
  iov_inventory_free(a->inventory);
  iov_cpustat_free(a->cpustat);
  iov_irqstat_free(a->irqstat);
}

/* Before the loop existed: only the sockets and keys to release. */
static void release_early(struct iov_agent *a) {
  iov_zmon_stop(&a->mon_ctl);
  zsock_destroy(&a->sock);
  iov_zap_stop(&a->zap);
  zcert_destroy(&a->cert);
  free(a);
}

/* Run the loop until its handles are closed and close it: 0, or -EBUSY
 * when handles are still open (a bug, logged). */
static int loop_finish(struct iov_agent *a) {
  uv_run(&a->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&a->loop) != 0) {
    iov_warn("event loop closed with handles still open");
    return -EBUSY;
  }
  return 0;
}

static int host_socket(struct iov_agent *a, const struct iov_agent_config *cfg) {
  int r;
  iov_auth_set_log(auth_log);
  a->sock = zsock_new(ZMQ_ROUTER);
  if (!a->sock) return iov_log_errno(-ENOMEM, "Failed to create the control socket");
  iov_wire_sock_setup(a->sock);
  iov_wire_sock_harden(a->sock);
  zsock_set_router_mandatory(a->sock, 1);
  if (!cfg->plaintext && (r = host_auth_setup(a, cfg)) < 0) return r;
  r = iov_zmon_start(a->sock, "control", true, a->max_connections, &a->mon_ctl);
  if (r < 0)
    iov_log_full_errno(
        IOV_LOG_WARNING, r,
        "No monitor on the control endpoint (handshakes not logged, connections not limited): %m");
  if (cfg->plaintext)
    iov_warn("--plaintext: any coordinator that reaches %s can command this agent; use it only on a trusted "
             "network",
             cfg->listen);
  if (zsock_bind(a->sock, "%s", cfg->listen) < 0) {
    r = -errno;
    return iov_log_errno(
        r, "Failed to bind control endpoint '%s': %m (another agent there? choose one with --listen)",
        cfg->listen);
  }
  return 0;
}

int iov_agent_new(const struct iov_agent_config *cfg, struct iov_agent **ret) {
  char bad_engine[256];
  int r;

  if (iov_engine_registry_check(bad_engine, sizeof(bad_engine)) < 0)
    return iov_log_errno(-EINVAL, "the engines failed their registry check: %s", bad_engine);
  struct iov_agent *a = calloc(1, sizeof(*a));
  if (!a) return iov_log_errno(-ENOMEM, "Failed to start the agent: %m");
  a->kind = cfg->kind;
  a->caps = cfg->caps;
  a->data_address = cfg->data_address;
  a->ready_file = cfg->ready_file;
  a->upstream = cfg->connect;
  a->max_connections = cfg->max_connections ? cfg->max_connections : IOV_AGENT_MAX_CONNECTIONS;

  /* We handle signals through libuv, not czmq's global handler. */
  zsys_handler_set(NULL);
  r = a->kind == IOV_AGENT_GUEST ? guest_connect(a, cfg) : host_socket(a, cfg);
  if (r < 0) {
    release_early(a);
    return r;
  }
  const char *endpoint = a->kind == IOV_AGENT_HOST ? zsock_endpoint(a->sock) : cfg->connect;
  r = iov_inventory_collect(iov_engine_names(), &a->inventory);
  if (r < 0) {
    iov_log_errno(r, "Failed to read the machine's inventory: %m");
    release_early(a);
    return r;
  }
  if (a->kind == IOV_AGENT_HOST && cfg->add_nics) {
    r = cfg->add_nics(a->inventory, cfg->sysfs_root);
    if (r < 0)
      iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to list the PCI NICs; the inventory will lack some: %m");
  }
  a->identity = cfg->identity ? cfg->identity : a->inventory->hostname;
  a->vm = a->kind == IOV_AGENT_HOST ? cfg->vm : NULL;
  a->host = a->kind == IOV_AGENT_HOST ? cfg->host : NULL;
  /* A guest names itself on every message to coord; the host checks it. */
  a->route = a->kind == IOV_AGENT_GUEST ? (char *)a->identity : "";
  r = iov_cpustat_open(NULL, &a->cpustat);
  if (r < 0) iov_log_full_errno(IOV_LOG_WARNING, r, "CPU use will not be sampled (/proc/stat): %m");
  open_irqstat(a);
  iov_log_set_prefix(a->identity);

  uv_loop_init(&a->loop);
  r = iov_zuv_init(&a->loop, &a->zuv, a->sock, iov__session_on_message);
  if (r < 0) {
    iov_log_errno(r, "Failed to watch the control socket: %s", uv_strerror(r));
    goto fail;
  }
  if (a->host) {
    r = a->host->start(a, cfg->host_config, &a->host_state);
    if (r < 0) {
      iov_zuv_close(&a->zuv, NULL);
      goto fail;
    }
  }
  if (a->vm) {
    r = a->vm->init(a, cfg->vm_config, &a->vm_state);
    if (r < 0) {
      iov_log_errno(r, "Cannot set up VMs on this host: %m");
      a->vm = NULL;
      a->vm_state = NULL;
    }
  }
  uv_timer_t *timer = a->kind == IOV_AGENT_HOST ? &a->deadman_timer : &a->heartbeat_timer;
  uint64_t every_ms =
      a->kind == IOV_AGENT_HOST ? DEADMAN_CHECK_MS : IOV_GUEST_HEARTBEAT_NS / IOV_NSEC_PER_MSEC;
  uv_timer_init(&a->loop, timer);
  timer->data = a;
  iov__session_start(a);
  uv_timer_start(timer, on_timer, every_ms, every_ms);
  uv_signal_init(&a->loop, &a->sigint);
  uv_signal_init(&a->loop, &a->sigterm);
  a->sigint.data = a->sigterm.data = a;
  uv_signal_start(&a->sigint, on_signal, SIGINT);
  uv_signal_start(&a->sigterm, on_signal, SIGTERM);

  if (a->kind == IOV_AGENT_GUEST)
    iov_info("guest '%s' connecting to the host agent at %s (%zu interfaces, %u CPUs)", a->identity,
             cfg->connect, a->inventory->n_interfaces, a->inventory->cpus_online);
  else
    iov_info("listening on %s (%zu interfaces, %zu PCI NICs, %u CPUs)", endpoint ? endpoint : cfg->listen,
             a->inventory->n_interfaces, a->inventory->n_nics, a->inventory->cpus_online);
  if (cfg->ready_file && a->kind == IOV_AGENT_HOST) {
    r = iov__agent_write_ready_file(cfg->ready_file, endpoint ? endpoint : cfg->listen);
    if (r < 0) {
      iov_log_errno(r, "Failed to write '%s': %m", cfg->ready_file);
      on_signal(&a->sigterm, SIGTERM);
    }
  }
  *ret = a;
  return 0;
fail:
  (void)loop_finish(a);
  release(a);
  release_early(a);
  return r;
}

uv_loop_t *iov_agent_loop(struct iov_agent *a) { return &a->loop; }

struct iov_agent *iov_agent_free(struct iov_agent *a) {
  if (!a) return NULL;
  iov_agent_stop(a, "agent shutting down");
  (void)loop_finish(a);
  release(a);
  release_early(a);
  return NULL;
}

int iov_agent_run(const struct iov_agent_config *cfg) {
  struct iov_agent *a = NULL;
  int r = iov_agent_new(cfg, &a);
  if (r < 0) return r;
  uv_run(&a->loop, UV_RUN_DEFAULT);
  r = loop_finish(a);
  release(a);
  release_early(a);
  return r;
}

const char iov_agent_caps_help[] =
    "Caps (work beyond them is refused, naming the cap; 0 or unset = none):\n"
    "      --max-duration=DUR  longest point (warm-up and window), e.g. 10m\n"
    "      --max-flows=N       most flows in a point\n"
    "      --max-rate=RATE     highest rate per flow, e.g. 1g: udp_stream's offered\n"
    "                          rate (an unpaced stream is over the cap); RR flows are\n"
    "                          paced to transactions/s x max(request, response) <= RATE\n"
    "      --max-msg-size=SIZE largest message, request or response, e.g. 64k\n"
    "      --max-vms=N         most VMs started for one point\n"
    "      --max-vcpus=N       most vCPUs of one VM\n"
    "      --max-memory=SIZE   most memory of one VM, e.g. 4g\n";

int iov_agent_parse_cap(const char *prog, const char *name, const char *value, struct iov_agent_caps *caps) {
  static const struct {
    const char *name;
    size_t off;
    int (*parse)(const char *, uint64_t *);
    const char *what;
  } t[] = {
    { "max-duration", offsetof(struct iov_agent_caps, max_duration_ns), iov_parse_duration,
      "a duration (10m)" },
    { "max-flows", offsetof(struct iov_agent_caps, max_flows), iov_parse_u64, "a number" },
    { "max-rate", offsetof(struct iov_agent_caps, max_rate_bps), iov_parse_rate, "a rate (1g)" },
    { "max-msg-size", offsetof(struct iov_agent_caps, max_msg_size), iov_parse_size, "a size (64k)" },
    { "max-vms", offsetof(struct iov_agent_caps, max_vms), iov_parse_u64, "a number" },
    { "max-vcpus", offsetof(struct iov_agent_caps, max_vcpus), iov_parse_u64, "a number" },
    { "max-memory", offsetof(struct iov_agent_caps, max_memory), iov_parse_size, "a size (4g)" },
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    if (strcmp(name, t[i].name) != 0) continue;
    if (t[i].parse(value, (uint64_t *)(void *)((char *)caps + t[i].off)) < 0) {
      fprintf(stderr, "%s: --%s takes %s, not '%s'\n", prog, name, t[i].what, value);
      return -EINVAL;
    }
    return 0;
  }
  return -ENOENT;
}
