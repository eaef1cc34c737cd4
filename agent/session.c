/* The agent's side of the protocol: a (state, message) switch over the
 * one test point the agent holds, with a catch-all that answers
 * INVALID_STATE.  Samples and results are produced by sampler.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "agent.h"
#include "err.h"
#include "log.h"
#include "parse.h"
#include "sampler.h"
#include "timeutil.h"

static void coord_lost(struct iov_agent *a, const char *why);

int iov__agent_send(struct iov_agent *a, iov_envelope *e, uint64_t reply_to) {
  int r;
  if (!a->coord_connected) return -ENOTCONN;
  /* A guest names itself; its host agent checks that against its table. */
  e->route = a->route;
  e->msg_id = ++a->msg_id;
  e->reply_to = reply_to;
  e->session_id = a->session_id;
  r = iov_wire_send(a->sock, a->coord_id, e);
  iov_zuv_kick(&a->zuv);
  if (r == -EHOSTUNREACH && a->kind == IOV_AGENT_HOST) {
    /* Its connection is closed: coord died (a finished run says goodbye
     * first).  The same as its silence, only sooner. */
    iov_debug(IOV_DBG_PROTO, "%s not sent: the coordinator's connection is closed", iov_wire_body_name(e));
    /* Acted on from the dead-man timer: our caller may be in the middle
     * of the point that coord_lost() would free. */
    a->coord_gone = true;
  } else if (r < 0)
    iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s to the coordinator: %m", iov_wire_body_name(e));
  return r;
}

static void send_to(struct iov_agent *a, zframe_t *to, iov_envelope *e, uint64_t reply_to) {
  e->route = a->route;
  e->msg_id = ++a->msg_id;
  e->reply_to = reply_to;
  e->session_id = a->session_id;
  int r = iov_wire_send(a->sock, to, e);
  iov_zuv_kick(&a->zuv);
  if (r < 0) iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s: %m", iov_wire_body_name(e));
}

void iov__agent_send_error(struct iov_agent *a, zframe_t *to, uint64_t reply_to, Iovbench__ErrorCode code,
                           uint64_t point_id, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* It may quote what a peer sent, or be cut in the middle of a character:
   * coord would refuse it whole. */
  iov_utf8_sanitize(msg);

  iov_warn("%s", msg);
  Iovbench__Error err = IOVBENCH__ERROR__INIT;
  err.code = code;
  err.point_id = point_id;
  err.message = msg;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_ERROR;
  e.error = &err;
  send_to(a, to ? to : a->coord_id, &e, reply_to);
}

static void on_hello(struct iov_agent *a, zframe_t *from, const iov_envelope *in) {
  const Iovbench__Hello *h = in->hello;

  if (from && a->coord_id && !zframe_eq(a->coord_id, from) && a->point && a->point->state == IOV_PS_RUNNING) {
    iov__agent_send_error(a, from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                          "agent '%s' is busy with run %s of another coordinator", a->identity,
                          a->coord_run ? a->coord_run : "?");
    return;
  }
  if (a->point) iov__agent_point_abort(a, "a new coordinator said hello");
  zframe_destroy(&a->coord_id);
  a->coord_id = from ? zframe_dup(from) : NULL;
  a->coord_connected = true;
  a->coord_gone = false;
  a->coord_silenced = false;
  a->coord_heartbeat_ns = h->heartbeat_ns;
  a->coord_heard_mono = iov_now_mono();
  free(a->coord_run);
  a->coord_run = strdup(h->run_id ? h->run_id : "");
  a->session_id = ((uint64_t)random() << 32) ^ (uint64_t)random() ^ iov_now_real();
  iov_info("coordinator connected (run %s, it calls us '%s')", a->coord_run ? a->coord_run : "?",
           h->identity ? h->identity : "");

  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  char **names = NULL;
  w.kind = a->kind == IOV_AGENT_GUEST ? IOVBENCH__PEER_KIND__PEER_GUEST_AGENT
                                      : IOVBENCH__PEER_KIND__PEER_HOST_AGENT;
  w.identity = (char *)a->identity;
  w.inventory = a->inventory;
  w.data_address = (char *)(a->data_address ? a->data_address : "");
  if (a->guest_sock) iov__relay_fill_welcome(a, &w, &names);
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  (void)iov__agent_send(a, &e, in->msg_id);
  free(names);
}

/* Whether the workload is beyond one of the agent's caps; which, in why. */
static bool over_cap(const struct iov_agent_caps *c, const Iovbench__Workload *w, char *why, size_t n) {
  char a[32], b[32];
  uint64_t d = w->warmup_ns + w->duration_ns;
  if (c->max_duration_ns && d > c->max_duration_ns) {
    snprintf(why, n, "it lasts %s (warm-up and window), over this agent's cap of %s (--max-duration)",
             iov_format_duration(a, sizeof(a), d), iov_format_duration(b, sizeof(b), c->max_duration_ns));
    return true;
  }
  if (c->max_flows && w->flows > c->max_flows) {
    snprintf(why, n, "it has %u flows, over this agent's cap of %" PRIu64 " (--max-flows)", w->flows,
             c->max_flows);
    return true;
  }
  uint64_t size = w->msg_size > w->response_size ? w->msg_size : w->response_size;
  if (c->max_msg_size && size > c->max_msg_size) {
    snprintf(why, n,
             "its messages are %" PRIu64 " bytes, over this agent's cap of %" PRIu64 " (--max-msg-size)",
             size, c->max_msg_size);
    return true;
  }
  if (c->max_rate_bps && strcmp(w->name, "udp_stream") == 0 &&
      (!w->rate_bps || w->rate_bps > c->max_rate_bps)) {
    if (w->rate_bps)
      snprintf(why, n,
               "udp_stream at %" PRIu64 " bit/s per flow is over this agent's cap of %" PRIu64
               " bit/s (--max-rate)",
               w->rate_bps, c->max_rate_bps);
    else
      snprintf(why, n,
               "an unpaced udp_stream (rate 0) is over this agent's cap of %" PRIu64
               " bit/s per flow (--max-rate); give the test a rate",
               c->max_rate_bps);
    return true;
  }
  return false;
}

static void on_prepare(struct iov_agent *a, const iov_envelope *in) {
  const Iovbench__Prepare *p = in->prepare;
  const Iovbench__Workload *w = p->workload;
  const struct iov_engine_ops *ops = iov_engine_find(w->name);
  uint16_t ports[IOV_ENGINE_MAX_FLOWS];
  uint16_t peer_ports[IOV_ENGINE_MAX_FLOWS];
  int r;

  if (a->point) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, p->point_id,
                          "agent '%s' still holds test point %" PRIu64 "; send Stop first", a->identity,
                          a->point->id);
    return;
  }
  if (!ops) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_UNSUPPORTED, p->point_id,
                          "agent '%s' has no workload '%s'", a->identity, w->name);
    return;
  }
  char over[256];
  if (over_cap(&a->caps, w, over, sizeof(over))) {
    iov_warn("refused test point %" PRIu64 ": %s", p->point_id, over);
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_LIMIT, p->point_id,
                          "agent '%s': the point is beyond its caps: %s", a->identity, over);
    return;
  }
  /* Traffic only to the run's own agents, as they reported themselves. */
  if (p->role == IOVBENCH__ROLE__ROLE_SENDER &&
      !iov_wire_addr_listed(w->peer_address, w->run_addresses, w->n_run_addresses)) {
    char some[160] = "none";
    for (size_t i = 0, o = 0; i < w->n_run_addresses && i < 4 && o < sizeof(some); i++)
      o += (size_t)snprintf(some + o, sizeof(some) - o, "%s%s%s", i ? ", " : "", w->run_addresses[i],
                            i == 3 && w->n_run_addresses > 4 ? ", ..." : "");
    iov_warn("refused test point %" PRIu64 ": %s is not an address of an agent of this run", p->point_id,
             w->peer_address);
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_LIMIT, p->point_id,
                          "agent '%s' refuses to send to %s: not an address of any agent of this run (they "
                          "have %s)",
                          a->identity, w->peer_address, some);
    return;
  }
  /* The data-path hello needs the point's token: a coordinator that sends
   * none predates it, and its receivers could not prove they are there. */
  if (w->token.len != IOV_ENGINE_TOKEN_LEN) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_VERSION, p->point_id,
                          "agent '%s' refuses test point %" PRIu64
                          ": its Prepare carries a %zu-byte data-path "
                          "token, not %d (a coordinator older than this agent?): upgrade the coordinator",
                          a->identity, p->point_id, w->token.len, IOV_ENGINE_TOKEN_LEN);
    return;
  }
  uint16_t cpus[IOV_WIRE_MAX_CPUS];
  for (size_t i = 0; i < w->n_peer_ports && i < IOV_ENGINE_MAX_FLOWS; i++)
    peer_ports[i] = (uint16_t)w->peer_ports[i];
  for (size_t i = 0; i < w->n_cpus; i++) cpus[i] = (uint16_t)w->cpus[i];
  struct iov_engine_config cfg = {
    .role = p->role == IOVBENCH__ROLE__ROLE_SENDER ? IOV_ROLE_SENDER : IOV_ROLE_RECEIVER,
    .flows = w->flows,
    .msg_size = w->msg_size,
    .response_size = w->response_size ? w->response_size : 1,
    /* The flows run through the warm-up and the window; the sampler
     * measures only the window. */
    .duration_ns = w->warmup_ns + w->duration_ns,
    .bind_address = w->bind_address,
    .peer_address = w->peer_address,
    .peer_ports = peer_ports,
    .send_buffer = w->send_buffer,
    .recv_buffer = w->recv_buffer,
    .nodelay = w->nodelay,
    .burst = w->burst ? w->burst : 1,
    .rate_bps = w->rate_bps,
    .interface = w->interface,
    .cpus = cpus,
    .n_cpus = (uint32_t)w->n_cpus,
    .rr_timeout_ns = w->rr_timeout_ns,
    .token = w->token.data,
    /* RR has no rate of its own, and burst x size per round trip has no
     * bound up front: under --max-rate its flows are paced to the cap
     * (client and server alike), not refused. */
    .rr_rate_bps = (ops->flags & IOV_ENG_F_RR) ? a->caps.max_rate_bps : 0,
  };
  struct iov_agent_point *pt = NULL;
  r = iov__point_new(a, p->point_id, &cfg, ops, w, &pt);
  if (r < 0) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, p->point_id,
                          "agent '%s': cannot set up %s %s: %s", a->identity, w->name,
                          iov_role_to_string(cfg.role), iov_strerror(r));
    return;
  }
  r = iov_engine_run_prepare(pt->run, ports);
  if (r < 0) {
    if (cfg.role == IOV_ROLE_SENDER && *iov_engine_run_error(pt->run))
      iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, p->point_id,
                            "agent '%s': %s sender: %s", a->identity, w->name, iov_engine_run_error(pt->run));
    else if (cfg.role == IOV_ROLE_SENDER)
      iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, p->point_id,
                            "agent '%s': %s sender cannot connect to %s (from %s): %s", a->identity, w->name,
                            w->peer_address, *w->bind_address ? w->bind_address : "any address",
                            iov_strerror(r));
    else
      iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, p->point_id,
                            "agent '%s': %s receiver cannot listen on %s: %s", a->identity, w->name,
                            *w->bind_address ? w->bind_address : "any address", iov_strerror(r));
    iov__point_free(pt);
    return;
  }
  a->point = pt;

  uint32_t ready_ports[IOV_ENGINE_MAX_FLOWS];
  Iovbench__Ready ready = IOVBENCH__READY__INIT;
  ready.point_id = p->point_id;
  if (cfg.role == IOV_ROLE_RECEIVER) {
    for (unsigned i = 0; i < cfg.flows; i++) ready_ports[i] = ports[i];
    ready.ports = ready_ports;
    ready.n_ports = cfg.flows;
  }
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_READY;
  e.ready = &ready;
  (void)iov__agent_send(a, &e, in->msg_id);
  iov_debug(IOV_DBG_PROTO, "point %" PRIu64 ": prepared %s %s, %u flows", p->point_id, w->name,
            iov_role_to_string(cfg.role), cfg.flows);
}

static void on_start(struct iov_agent *a, const iov_envelope *in) {
  struct iov_agent_point *pt = a->point;
  int r;

  if (!pt || pt->id != in->start->point_id || pt->state != IOV_PS_PREPARED) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, in->start->point_id,
                          "agent '%s': start for test point %" PRIu64 " that is not prepared", a->identity,
                          in->start->point_id);
    return;
  }
  r = iov__point_start(pt, in->start->start_at_ns);
  if (r < 0) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, pt->id,
                          "agent '%s': cannot start the flows: %s", a->identity, iov_strerror(r));
    iov__point_free(TAKE_PTR(a->point));
  }
}

static void on_stop(struct iov_agent *a, const iov_envelope *in) {
  if (in->stop->point_id == 0) {
    /* The coordinator's goodbye: the run is over, its silence from now
     * on is no reason for alarm. */
    iov__agent_point_abort(a, in->stop->reason && *in->stop->reason ? in->stop->reason : "the run is over");
    a->coord_connected = false;
    iov_info("the coordinator left (%s)",
             in->stop->reason && *in->stop->reason ? in->stop->reason : "goodbye");
    return;
  }
  /* Stop for a point we do not hold (already finished) is not an error:
   * coord sends it to release whatever is left. */
  if (a->point && a->point->id == in->stop->point_id)
    iov__agent_point_abort(a, in->stop->reason && *in->stop->reason ? in->stop->reason
                                                                    : "stopped by coordinator");
}

static void on_heartbeat(struct iov_agent *a, const iov_envelope *in) {
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = iov_now_real();
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  (void)iov__agent_send(a, &e, in->msg_id);
}

/* A clock probe: t2 is when the message came off the socket, t3 now,
 * just before the reply goes out. */
static void on_clock_probe(struct iov_agent *a, const iov_envelope *in, uint64_t t2) {
  Iovbench__ClockReply cr = IOVBENCH__CLOCK_REPLY__INIT;
  cr.t1_ns = in->clock_probe->t1_ns;
  cr.t2_ns = t2;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY;
  e.clock_reply = &cr;
  cr.t3_ns = iov_now_real();
  (void)iov__agent_send(a, &e, in->msg_id);
}

void iov__agent_deadman_check(struct iov_agent *a) {
  if (a->coord_gone) {
    a->coord_gone = false;
    coord_lost(a, "its connection closed");
    return;
  }
  /* Our own stall is not the coordinator's silence: while this loop was
   * blocked (creating VFs takes seconds on a slow machine, and a 1-CPU
   * guest may not even run the socket's I/O thread meanwhile), what coord
   * sent could not be read.  That time does not count. */
  uint64_t now = iov_now_mono();
  uint64_t gap = a->deadman_tick_mono ? now - a->deadman_tick_mono : 0;
  a->deadman_tick_mono = now;
  if (gap > IOV_DEADMAN_STALL_NS && a->coord_heard_mono) {
    a->coord_heard_mono = a->coord_heard_mono + gap < now ? a->coord_heard_mono + gap : now;
    iov_debug(IOV_DBG_PROTO, "the loop stalled for %.1f s: not counted as the coordinator's silence",
              (double)gap / 1e9);
  }
  if (!a->coord_connected || !a->coord_heartbeat_ns) return;
  uint64_t quiet = now - a->coord_heard_mono;
  if (quiet < 2 * a->coord_heartbeat_ns) return;
  /* After a long blocking step (creating VFs and VMs) timers run before
   * the socket is read: what is waiting there is coord's, read it first. */
  if (zsock_events(a->sock) & ZMQ_POLLIN) {
    iov_zuv_kick(&a->zuv);
    return;
  }
  char why[64];
  snprintf(why, sizeof(why), "nothing for %.1f s, two heartbeats", (double)quiet / 1e9);
  coord_lost(a, why);
}

static void coord_lost(struct iov_agent *a, const char *why) {
  if (!a->coord_connected) return;
  iov_warn(
      "the coordinator of run %s went silent (%s): stopping all traffic and taking down what the run set "
      "up",
      a->coord_run ? a->coord_run : "?", why);
  a->coord_connected = false;
  a->coord_silenced = true;
  iov__agent_point_abort(a, "the coordinator went silent");
  if (a->guest_sock) iov__relay_stop_guests(a, "the coordinator went silent");
  if (a->vm && a->vm_state && a->vm->coord_lost) a->vm->coord_lost(a, a->vm_state);
}

void iov__agent_point_abort(struct iov_agent *a, const char *reason) {
  struct iov_agent_point *pt = TAKE_PTR(a->point);
  if (!pt) return;
  iov_notice("point %" PRIu64 " aborted: %s", pt->id, reason);
  if (pt->state == IOV_PS_RUNNING) iov__point_finish(pt, reason);
  iov__point_free(pt);
}

int iov__agent_on_message(struct iov_zuv *z) {
  struct iov_agent *a = container_of(z, struct iov_agent, zuv);
  zframe_t *from = NULL;
  iov_envelope *in = NULL;
  char why[256];
  int r;

  r = iov_wire_recv(a->sock, a->kind == IOV_AGENT_GUEST ? NULL : &from, &in, &a->wire_stats, why,
                    sizeof(why));
  if (r == -EAGAIN) return -EAGAIN;
  if (r < 0) {
    iov_warn("dropped a message (%s); %" PRIu64 " dropped so far", why,
             a->wire_stats.malformed + a->wire_stats.oversized + a->wire_stats.bad_version +
                 a->wire_stats.unknown + a->wire_stats.bad_framing);
    if (from && r == -EPROTONOSUPPORT)
      iov__agent_send_error(a, from, 0, IOVBENCH__ERROR_CODE__ERR_VERSION, 0, "agent '%s': %s", a->identity,
                            why);
    zframe_destroy(&from);
    return 0;
  }
  uint64_t rx_real = iov_now_real();
  iov_debug(IOV_DBG_PROTO, "<- %s #%" PRIu64, iov_wire_body_name(in), in->msg_id);

  if (a->kind == IOV_AGENT_GUEST) a->coord_heard_mono = iov_now_mono(); /* the host agent is alive */
  if (a->kind == IOV_AGENT_GUEST && (!in->route || !*in->route)) {
    /* The host agent's own answer to our registration or heartbeat. */
    (void)iov__guest_on_upstream(a, in);
    iov_wire_free(in);
    return 0;
  }
  bool from_coord =
      a->kind == IOV_AGENT_GUEST ? a->coord_connected : a->coord_id && zframe_eq(a->coord_id, from);
  if (from_coord && a->kind == IOV_AGENT_HOST) {
    a->coord_heard_mono = iov_now_mono();
    if (a->coord_silenced && !a->coord_connected) {
      /* The dead-man switch fired (what the run set up is gone), but the
       * coordinator speaks again: answer it, its point will fail. */
      a->coord_silenced = false;
      a->coord_connected = true;
      iov_notice("the coordinator of run %s speaks again", a->coord_run ? a->coord_run : "?");
      if (a->vm && a->vm_state && a->vm->coord_back) a->vm->coord_back(a, a->vm_state);
    }
  }
  if (a->kind == IOV_AGENT_HOST && in->route && *in->route) {
    /* For one of our guests. */
    if (from_coord)
      iov__relay_to_guest(a, in);
    else
      iov__agent_send_error(a, from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                            "agent '%s': %s for guest '%s' before hello", a->identity, iov_wire_body_name(in),
                            in->route);
  } else if (in->body_case == IOVBENCH__ENVELOPE__BODY_HELLO)
    on_hello(a, from, in);
  else if (!from_coord)
    iov__agent_send_error(a, from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                          "agent '%s': %s before hello", a->identity, iov_wire_body_name(in));
  else
    switch (in->body_case) {
    case IOVBENCH__ENVELOPE__BODY_PREPARE: on_prepare(a, in); break;
    case IOVBENCH__ENVELOPE__BODY_START: on_start(a, in); break;
    case IOVBENCH__ENVELOPE__BODY_STOP: on_stop(a, in); break;
    case IOVBENCH__ENVELOPE__BODY_HEARTBEAT: on_heartbeat(a, in); break;
    case IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE: on_clock_probe(a, in, rx_real); break;
    case IOVBENCH__ENVELOPE__BODY_VM_SETUP:
    case IOVBENCH__ENVELOPE__BODY_VM_TEARDOWN:
      if (a->vm && a->vm_state)
        a->vm->on_message(a, a->vm_state, in);
      else if (in->body_case == IOVBENCH__ENVELOPE__BODY_VM_SETUP)
        iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_UNSUPPORTED,
                              in->vm_setup->point_id,
                              "agent '%s' starts no VMs: run it with --libvirt URI (and --sriov-pf or "
                              "--virtio-bridge) to give it VMs for path %s",
                              a->identity, in->vm_setup->path);
      break;
    default:
      iov__agent_send_error(a, from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                            "agent '%s': unexpected %s", a->identity, iov_wire_body_name(in));
      break;
    }
  iov_wire_free(in);
  zframe_destroy(&from);
  return 0;
}
