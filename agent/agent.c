/* The agent's event loop.  A host agent binds a ROUTER socket for
 * coordinators (and relay.c one for guests); a guest agent connects a
 * DEALER to its host agent's guest endpoint and registers there.  Both
 * watched by libuv through lib/zuv.c, with SIGINT/SIGTERM for shutdown. */
#include "agent.h"

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
#include "sampler.h"
#include "timeutil.h"

static void send_upstream(struct iov_agent *a, iov_envelope *e);

static void on_signal(uv_signal_t *h, int signum) {
  struct iov_agent *a = h->data;
  iov_notice("got signal %d, shutting down", signum);
  a->stopping = true;
  iov__agent_point_abort(a, "agent shutting down");
  if (a->vm && a->vm_state) a->vm->done(a, TAKE_PTR(a->vm_state));
  iov__relay_stop(a);
  if (a->kind == IOV_AGENT_GUEST) {
    /* Say goodbye, so that the host (and coord) drop us now rather than
     * after the heartbeat timeout.  Best effort: linger is 0. */
    if (a->registered) {
      Iovbench__Stop st = IOVBENCH__STOP__INIT;
      st.reason = "guest agent shutting down";
      iov_envelope e = IOVBENCH__ENVELOPE__INIT;
      e.body_case = IOVBENCH__ENVELOPE__BODY_STOP;
      e.stop = &st;
      send_upstream(a, &e);
    }
    uv_close((uv_handle_t *)&a->heartbeat_timer, NULL);
  } else
    uv_close((uv_handle_t *)&a->deadman_timer, NULL);
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

int iov__agent_write_ready_file(const char *path, const char *endpoint) {
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

/* ---- guests: registration with the host agent ---------------------- */

/* To the host agent itself: no route. */
static void send_upstream(struct iov_agent *a, iov_envelope *e) {
  e->msg_id = ++a->msg_id;
  e->route = "";
  int r = iov_wire_send(a->sock, NULL, e);
  iov_zuv_kick(&a->zuv);
  if (r < 0 && r != -EAGAIN)
    iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s to the host agent: %m", iov_wire_body_name(e));
}

static void send_register(struct iov_agent *a) {
  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  w.kind = IOVBENCH__PEER_KIND__PEER_GUEST_AGENT;
  w.identity = (char *)a->identity;
  w.inventory = a->inventory;
  w.data_address = (char *)(a->data_address ? a->data_address : "");
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  send_upstream(a, &e);
  a->register_msg_id = a->msg_id;
}

/* How often a host agent checks that its coordinator still speaks: a
 * fraction of the shortest heartbeat a plan may set (100 ms). */
#define DEADMAN_CHECK_MS 50

static void on_deadman_timer(uv_timer_t *t) { iov__agent_deadman_check(t->data); }

/* A guest not registered after this long says why it may be, and again
 * at most this often while it keeps trying. */
#define UNREGISTERED_HINT_AFTER_NS (5ULL * IOV_NSEC_PER_SEC)
#define UNREGISTERED_HINT_EVERY_NS (30ULL * IOV_NSEC_PER_SEC)

/* Why the host agent has not taken us yet, from what the socket monitor
 * saw of our connection attempts (a plaintext peer fails in the ZMTP
 * greeting, before the host's ZAP handler could log a word). */
static void unregistered_hint(struct iov_agent *a) {
  uint64_t now = iov_now_mono();
  if (a->registered) {
    a->unregistered_since_mono = a->unregistered_hint_mono = 0;
    a->unregistered_hint_why = 0;
    return;
  }
  if (!a->unregistered_since_mono) a->unregistered_since_mono = now;
  if (now - a->unregistered_since_mono < UNREGISTERED_HINT_AFTER_NS) return;
  struct iov_zmon_state m;
  iov_zmon_get(a->mon_ctl, &m);
  bool curve = a->cert != NULL;
  char buf[256];
  const char *why;
  if (m.failed_protocol && m.last_protocol_error == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
    why = curve ? "it does not speak CURVE (a host agent run with --plaintext?): run this guest without "
                  "--host-key, or the host agent without --plaintext"
                : "it speaks CURVE and this guest is plaintext (started without the host's key): give "
                  "--host-key (the host agent's agent.key) and --key-file (a key whose public half is in the "
                  "host agent's KEYDIR/guests/)";
  else if (m.failed_auth)
    why = "it refused this guest's key: copy the public key into the host agent's KEYDIR/guests/ (a VM's own "
          "key is let in only while the host agent holds that VM)";
  else if (m.failed_protocol) {
    snprintf(buf, sizeof(buf),
             "the handshake failed with ZMTP protocol error 0x%x (is %s an iovbench host "
             "agent's guest endpoint?)",
             m.last_protocol_error, a->upstream);
    why = buf;
  } else if (curve && m.connected && !m.handshakes_ok)
    why =
        "it closes the connection during the CURVE handshake: --host-key is not that host agent's agent.key "
        "(or it is not an iovbench host agent)";
  else if (!m.connected) {
    snprintf(buf, sizeof(buf),
             "it cannot be reached (%llu connection attempts failed): is the host agent running, is --host "
             "right, does a firewall let the port through?",
             (unsigned long long)m.retried);
    why = buf;
  } else if (m.handshakes_ok)
    why = "connected, but it has not accepted the registration (its refusal, if any, is logged above)";
  else
    why = "connected, but no handshake has completed yet";
  /* Said again at once when the cause is clearer than last time (the
   * monitor's event of a failed handshake may come after the first
   * hint), else at most every UNREGISTERED_HINT_EVERY_NS. */
  uint32_t h = 2166136261u; /* FNV-1a of the reason */
  for (const char *q = why; *q; q++) h = (h ^ (unsigned char)*q) * 16777619u;
  if (a->unregistered_hint_mono && h == a->unregistered_hint_why &&
      now - a->unregistered_hint_mono < UNREGISTERED_HINT_EVERY_NS)
    return;
  a->unregistered_hint_mono = now;
  a->unregistered_hint_why = h;
  iov_warn("not registered with the host agent at %s after %llu s: %s; still trying", a->upstream,
           (unsigned long long)((now - a->unregistered_since_mono) / IOV_NSEC_PER_SEC), why);
}

/* ZeroMQ gives up on a connection whose handshake failed on a protocol
 * or authentication error (it retries only when the connection itself
 * failed): connect again, so that the guest keeps trying (a host agent
 * restarted with the right settings, a key copied into its guests/). */
static void reconnect_after_handshake_failure(struct iov_agent *a) {
  struct iov_zmon_state m;
  iov_zmon_get(a->mon_ctl, &m);
  uint64_t failures = m.failed_protocol + m.failed_auth;
  if (failures == a->handshake_failures_seen) return;
  a->handshake_failures_seen = failures;
  (void)zsock_disconnect(a->sock, "%s", a->upstream);
  if (zsock_connect(a->sock, "%s", a->upstream) < 0)
    iov_log_full_errno(IOV_LOG_WARNING, -errno, "Cannot connect to the host agent at %s again: %m",
                       a->upstream);
}

static void on_heartbeat_timer(uv_timer_t *t) {
  struct iov_agent *a = t->data;
  if (!a->registered) {
    unregistered_hint(a);
    reconnect_after_handshake_failure(a);
    send_register(a);
    return;
  }
  unregistered_hint(a);
  /* Dead-man switch: the host agent answers every heartbeat; two without
   * an answer and our traffic stops (nobody could stop it otherwise). */
  if (iov_now_mono() - a->coord_heard_mono > 2 * IOV_GUEST_HEARTBEAT_NS + IOV_GUEST_HEARTBEAT_NS / 2) {
    if (a->point) iov_warn("the host agent at %s went silent: stopping our traffic", a->upstream);
    iov__agent_point_abort(a, "the host agent went silent");
    a->registered = false;
    send_register(a);
    return;
  }
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = iov_now_real();
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  send_upstream(a, &e);
}

int iov__guest_on_upstream(struct iov_agent *a, const iov_envelope *in) {
  switch (in->body_case) {
  case IOVBENCH__ENVELOPE__BODY_HEARTBEAT:
    if (!a->registered) {
      a->registered = true;
      iov_info("registered with the host agent at %s as '%s'", a->upstream, a->identity);
      if (a->ready_file) {
        int r = iov__agent_write_ready_file(a->ready_file, a->upstream);
        if (r < 0) iov_log_errno(r, "Failed to write '%s': %m", a->ready_file);
      }
    }
    return 0;
  case IOVBENCH__ENVELOPE__BODY_ERROR:
    if (in->reply_to && in->reply_to == a->register_msg_id) {
      /* Refused (a name clash, say): say why, try again later. */
      iov_warn("the host agent at %s refused us: %s", a->upstream, in->error->message);
      a->registered = false;
    } else if (!a->registered) {
      /* Not an answer to a registration: it could not read our message. */
      iov_warn("the host agent at %s refused us: %s", a->upstream, in->error->message);
    } else if (a->registered) {
      /* It restarted and forgot us. */
      iov_notice("the host agent at %s does not know us (%s); registering again", a->upstream,
                 in->error->message);
      a->registered = false;
      send_register(a);
    }
    return 0;
  case IOVBENCH__ENVELOPE__BODY_STOP:
    /* The host agent's own Stop: its coordinator went silent. */
    iov__agent_point_abort(a, in->stop->reason && *in->stop->reason ? in->stop->reason
                                                                    : "stopped by the host agent");
    return 0;
  default: iov_debug(IOV_DBG_PROTO, "host agent sent %s; ignored", iov_wire_body_name(in)); return 0;
  }
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

static int host_keyserver_start(struct iov_agent *a, const struct iov_agent_config *cfg) {
  char ep[PATH_MAX], err[512];
  if (cfg->key_listen && strcmp(cfg->key_listen, "none") == 0) return 0;
  if (cfg->key_listen)
    snprintf(ep, sizeof(ep), "%s", cfg->key_listen);
  else if (iov_key_endpoint_for(cfg->listen, ep, sizeof(ep)) < 0) {
    iov_info("no key endpoint for %s; coordinators must know this agent's key (NAME.key in their plans)",
             cfg->listen);
    return 0;
  }
  int r =
      iov_keyserver_start(ep, a->cert ? zcert_public_txt(a->cert) : NULL, &a->keyserver, err, sizeof(err));
  if (r < 0) return iov_log_errno(r, "%s", err);
  iov_info("key endpoint %s", ep);
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

int iov_agent_run(const struct iov_agent_config *cfg) {
  struct iov_agent a;
  const char *bad_engine = NULL;
  int r;

  memset(&a, 0, sizeof(a));
  a.kind = cfg->kind;
  a.caps = cfg->caps;
  a.data_address = cfg->data_address;
  a.ready_file = cfg->ready_file;
  a.upstream = cfg->connect;
  a.guest_names_per_key = cfg->guest_names_per_key ? cfg->guest_names_per_key : IOV_GUEST_NAMES_PER_KEY;
  a.max_connections = cfg->max_connections ? cfg->max_connections : IOV_AGENT_MAX_CONNECTIONS;
  a.vouch_names = cfg->vouch_names;
  a.vouch_addrs = cfg->vouch_addrs;
  a.n_vouch = cfg->n_vouch;
  if (iov_engine_registry_check(&bad_engine) < 0)
    return iov_log_errno(-EINVAL, "engine '%s' failed its registry check (ABI or callbacks)", bad_engine);

  /* We handle signals through libuv, not czmq's global handler. */
  zsys_handler_set(NULL);
  if (a.kind == IOV_AGENT_GUEST) {
    r = guest_connect(&a, cfg);
    if (r < 0) return r;
    goto connected;
  }
  a.sock = zsock_new(ZMQ_ROUTER);
  if (!a.sock) return iov_log_errno(-ENOMEM, "Failed to create the control socket");
  iov_wire_sock_setup(a.sock);
  iov_wire_sock_harden(a.sock);
  zsock_set_router_mandatory(a.sock, 1);
  if (!cfg->plaintext && (r = host_auth_setup(&a, cfg)) < 0) goto fail_early;
  r = iov_zmon_start(a.sock, "control", true, a.max_connections, &a.mon_ctl);
  if (r < 0)
    iov_log_full_errno(
        IOV_LOG_WARNING, r,
        "No monitor on the control endpoint (handshakes not logged, connections not limited): %m");
  if (cfg->plaintext)
    iov_warn("--plaintext: any coordinator that reaches %s can command this agent; use it only on a trusted "
             "network",
             cfg->listen);
  if (zsock_bind(a.sock, "%s", cfg->listen) < 0) {
    r = -errno;
    iov_log_errno(r,
                  "Failed to bind control endpoint '%s': %m (another agent there? choose one with --listen)",
                  cfg->listen);
    goto fail_early;
  }
  if ((r = host_keyserver_start(&a, cfg)) < 0) goto fail_early;
connected:;
  const char *endpoint = a.kind == IOV_AGENT_HOST ? zsock_endpoint(a.sock) : cfg->connect;
  r = iov_inventory_collect(iov_engine_names(), &a.inventory);
  if (r < 0) {
    iov_log_errno(r, "Failed to read the machine's inventory: %m");
    goto fail_early;
  }
  if (a.kind == IOV_AGENT_HOST && cfg->add_nics) {
    r = cfg->add_nics(a.inventory, cfg->sysfs_root);
    if (r < 0)
      iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to list the PCI NICs; the inventory will lack some: %m");
  }
  a.identity = cfg->identity ? cfg->identity : a.inventory->hostname;
  a.vm = a.kind == IOV_AGENT_HOST ? cfg->vm : NULL;
  /* A guest names itself on every message to coord; the host checks it. */
  a.route = a.kind == IOV_AGENT_GUEST ? (char *)a.identity : "";
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
  if (a.kind == IOV_AGENT_HOST && cfg->guest_listen) {
    r = iov__relay_start(&a, cfg->guest_listen);
    if (r < 0) {
      iov_log_errno(r,
                    "Failed to bind the guest endpoint '%s': %m (choose another with --guest-listen, or "
                    "--guest-listen=none)",
                    cfg->guest_listen);
      iov_zuv_close(&a.zuv, NULL);
      uv_run(&a.loop, UV_RUN_DEFAULT);
      goto out;
    }
  }
  if (a.vm) {
    r = a.vm->init(&a, cfg->vm_config, &a.vm_state);
    if (r < 0) {
      iov_log_errno(r, "Cannot set up VMs on this host: %m");
      a.vm = NULL;
      a.vm_state = NULL;
    }
  }
  if (a.kind == IOV_AGENT_HOST) {
    uv_timer_init(&a.loop, &a.deadman_timer);
    a.deadman_timer.data = &a;
    uv_timer_start(&a.deadman_timer, on_deadman_timer, DEADMAN_CHECK_MS, DEADMAN_CHECK_MS);
  }
  if (a.kind == IOV_AGENT_GUEST) {
    uv_timer_init(&a.loop, &a.heartbeat_timer);
    a.heartbeat_timer.data = &a;
    a.coord_heard_mono = iov_now_mono();
    a.unregistered_since_mono = a.coord_heard_mono;
    send_register(&a);
    uv_timer_start(&a.heartbeat_timer, on_heartbeat_timer, IOV_GUEST_HEARTBEAT_NS / IOV_NSEC_PER_MSEC,
                   IOV_GUEST_HEARTBEAT_NS / IOV_NSEC_PER_MSEC);
  }
  uv_signal_init(&a.loop, &a.sigint);
  uv_signal_init(&a.loop, &a.sigterm);
  a.sigint.data = a.sigterm.data = &a;
  uv_signal_start(&a.sigint, on_signal, SIGINT);
  uv_signal_start(&a.sigterm, on_signal, SIGTERM);

  if (a.kind == IOV_AGENT_GUEST)
    iov_info("guest '%s' connecting to the host agent at %s (%zu interfaces, %u CPUs)", a.identity,
             cfg->connect, a.inventory->n_interfaces, a.inventory->cpus_online);
  else
    iov_info("listening on %s (%zu interfaces, %zu PCI NICs, %u CPUs)", endpoint ? endpoint : cfg->listen,
             a.inventory->n_interfaces, a.inventory->n_nics, a.inventory->cpus_online);
  if (cfg->ready_file && a.kind == IOV_AGENT_HOST) {
    r = iov__agent_write_ready_file(cfg->ready_file, endpoint ? endpoint : cfg->listen);
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
  iov__relay_free(&a);
  iov_zmon_stop(&a.mon_guest);
  zsock_destroy(&a.guest_sock);
  /* A guest's goodbye may still be queued: give it a moment to leave. */
  if (a.kind == IOV_AGENT_GUEST && a.sock) zsock_set_linger(a.sock, 200);
  free_nics(a.inventory);
  iov_inventory_free(a.inventory);
  iov_cpustat_free(a.cpustat);
  iov_irqstat_free(a.irqstat);
fail_early: /* before the loop existed: only the sockets and keys to release */
  iov_zmon_stop(&a.mon_ctl);
  zsock_destroy(&a.sock);
  iov_keyserver_stop(&a.keyserver);
  iov_zap_stop(&a.zap);
  zcert_destroy(&a.cert);
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
