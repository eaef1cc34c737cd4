/* The host agent's event loop: one ROUTER socket bound for coordinators,
 * watched by libuv through lib/zuv.c, and SIGINT/SIGTERM for shutdown. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "inventory.h"
#include "log.h"
#include "sampler.h"

static void on_signal(uv_signal_t *h, int signum) {
  struct iov_agent *a = h->data;
  iov_notice("got signal %d, shutting down", signum);
  a->stopping = true;
  iov__agent_point_abort(a, "agent shutting down");
  iov_zuv_close(&a->zuv, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
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

static int write_ready_file(const char *path, const char *endpoint) {
  char tmp[4096];
  FILE *f;
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  f = fopen(tmp, "we");
  if (!f) return -errno;
  fprintf(f, "%s\n", endpoint);
  if (fclose(f) != 0) return -errno;
  /* rename: readers never see a half-written file. */
  if (rename(tmp, path) < 0) return -errno;
  return 0;
}

int iov_agent_run(const struct iov_agent_config *cfg) {
  struct iov_agent a;
  const char *bad_engine = NULL;
  int r;

  memset(&a, 0, sizeof(a));
  if (iov_engine_registry_check(&bad_engine) < 0)
    return iov_log_errno(-EINVAL, "engine '%s' failed its registry check (ABI or callbacks)", bad_engine);

  /* We handle signals through libuv, not czmq's global handler. */
  zsys_handler_set(NULL);
  a.sock = zsock_new(ZMQ_ROUTER);
  if (!a.sock) return iov_log_errno(-ENOMEM, "Failed to create the control socket");
  iov_wire_sock_setup(a.sock);
  zsock_set_router_mandatory(a.sock, 1);
  if (zsock_bind(a.sock, "%s", cfg->listen) < 0) {
    r = -errno;
    iov_log_errno(r,
                  "Failed to bind control endpoint '%s': %m (another agent there? choose one with --listen)",
                  cfg->listen);
    zsock_destroy(&a.sock);
    return r;
  }
  const char *endpoint = zsock_endpoint(a.sock);
  r = iov_inventory_collect(iov_engine_names(), &a.inventory);
  if (r < 0) {
    iov_log_errno(r, "Failed to read the machine's inventory: %m");
    zsock_destroy(&a.sock);
    return r;
  }
  a.identity = cfg->identity ? cfg->identity : a.inventory->hostname;
  r = iov_cpustat_open(NULL, &a.cpustat);
  if (r < 0) iov_log_full_errno(IOV_LOG_WARNING, r, "CPU use will not be sampled (/proc/stat): %m");
  open_irqstat(&a);
  iov_log_set_prefix(a.identity);

  uv_loop_init(&a.loop);
  r = iov_zuv_init(&a.loop, &a.zuv, a.sock, iov__agent_on_message);
  if (r < 0) {
    iov_log_errno(r, "Failed to watch the control socket: %s", uv_strerror(r));
    goto out;
  }
  uv_signal_init(&a.loop, &a.sigint);
  uv_signal_init(&a.loop, &a.sigterm);
  a.sigint.data = a.sigterm.data = &a;
  uv_signal_start(&a.sigint, on_signal, SIGINT);
  uv_signal_start(&a.sigterm, on_signal, SIGTERM);

  iov_info("listening on %s (%zu interfaces, %u CPUs)", endpoint ? endpoint : cfg->listen,
           a.inventory->n_interfaces, a.inventory->cpus_online);
  if (cfg->ready_file) {
    r = write_ready_file(cfg->ready_file, endpoint ? endpoint : cfg->listen);
    if (r < 0) {
      iov_log_errno(r, "Failed to write '%s': %m", cfg->ready_file);
      on_signal(&a.sigterm, SIGTERM);
    }
  }
  uv_run(&a.loop, UV_RUN_DEFAULT);
  r = 0;
out:
  if (uv_loop_close(&a.loop) != 0) {
    iov_warn("event loop closed with handles still open");
    r = r < 0 ? r : -EBUSY;
  }
  zframe_destroy(&a.coord_id);
  free(a.coord_run);
  iov_inventory_free(a.inventory);
  iov_cpustat_free(a.cpustat);
  iov_irqstat_free(a.irqstat);
  zsock_destroy(&a.sock);
  return r;
}
