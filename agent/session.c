/* The agent's side of the protocol (session.h): one (state, event)
 * function, step(), over the connection state and the one test point the
 * agent holds, with a catch-all that answers INVALID_STATE.  The message
 * handlers below it act on one message in a state step() chose; only
 * step() changes the state.  Samples and results are produced by
 * sampler.c. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "frame.h"
#include "log.h"
#include "parse.h"
#include "text.h"
#include "timeutil.h"

const char *iov_conn_state_to_string(enum iov_conn_state s) {
  static const char *const names[_IOV_CONN_MAX] = {
    [IOV_CONN_IDLE] = "idle",           [IOV_CONN_REGISTERING] = "registering",
    [IOV_CONN_CONNECTED] = "connected", [IOV_CONN_REREGISTERING] = "reregistering",
    [IOV_CONN_CLOSED] = "closed",       [IOV_CONN_SILENCED] = "silenced",
  };
  return s >= 0 && s < _IOV_CONN_MAX ? names[s] : NULL;
}

/* What happens to a session.  The messages are sorted into events by
 * on_message(), which knows who sent them; the timers, the transport and
 * the dead-man check give the rest. */
enum session_event {
  EV_HEARD,       /* host: a message from our coordinator (before it is handled) */
  EV_HELLO,       /* a Hello, from coord or from a new coordinator */
  EV_REQUEST,     /* any other message from our coordinator */
  EV_GOODBYE,     /* Stop for point 0 from our coordinator: the run is over */
  EV_FOR_GUEST,   /* host: a message from our coordinator routed to a guest */
  EV_STRANGER,    /* a message (not Hello) from a peer that is not our coordinator */
  EV_HOST_ACK,    /* guest: the host agent answered our registration or heartbeat */
  EV_HOST_ERROR,  /* guest: the host agent sent an Error */
  EV_HOST_STOP,   /* guest: the host agent's own Stop (its coordinator went silent) */
  EV_HOST_OTHER,  /* guest: anything else from the host agent itself */
  EV_TICK,        /* the timer (host: dead-man check; guest: heartbeat) */
  EV_SEND_CLOSED, /* host: a send found coord's connection closed */
  EV_SILENT,      /* the dead-man switch: coord (host) or the host agent (guest) went silent */
};

/* The event's details. */
struct event {
  const iov_envelope *in; /* the message, for message events */
  zframe_t *from;         /* host: its sender's routing id */
  uint64_t rx_real;       /* when it came off the socket (CLOCK_REALTIME) */
  const char *why;        /* EV_SILENT: what was heard last */
};

static void step(struct iov_agent *a, enum session_event ev, const struct event *e);

static bool registered(const struct iov_agent *a) {
  return a->conn == IOV_CONN_IDLE || a->conn == IOV_CONN_CONNECTED;
}

static void set_state(struct iov_agent *a, enum iov_conn_state s) {
  if (a->conn != s)
    iov_debug(IOV_DBG_PROTO, "session: %s -> %s", iov_conn_state_to_string(a->conn),
              iov_conn_state_to_string(s));
  a->conn = s;
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

void iov__session_point_abort(struct iov_agent *a, const char *reason) {
  struct iov_agent_point *pt = TAKE_PTR(a->point);
  if (!pt) return;
  iov_notice("point %" PRIu64 " aborted: %s", pt->id, reason);
  if (pt->state == IOV_PS_RUNNING) iov__point_finish(pt, reason);
  iov__point_free(pt);
}

/* ---- guests: registration with the host agent ---------------------- */

static void send_register(struct iov_agent *a) {
  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  w.kind = IOVBENCH__PEER_KIND__PEER_GUEST_AGENT;
  w.identity = (char *)a->identity;
  w.inventory = a->inventory;
  w.data_address = (char *)(a->data_address ? a->data_address : "");
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  iov__agent_send_upstream(a, &e);
  a->register_msg_id = a->msg_id;
}

static void send_upstream_heartbeat(struct iov_agent *a) {
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = iov_now_real();
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  iov__agent_send_upstream(a, &e);
}

/* ---- the coordinator's messages ------------------------------------ */

static void on_hello(struct iov_agent *a, zframe_t *from, const iov_envelope *in) {
  const Iovbench__Hello *h = in->hello;

  if (from && a->coord_id && !zframe_eq(a->coord_id, from) && a->point && a->point->state == IOV_PS_RUNNING) {
    iov__agent_send_error(a, from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                          "agent '%s' is busy with run %s of another coordinator", a->identity,
                          a->coord_run ? a->coord_run : "?");
    return;
  }
  if (a->point) iov__session_point_abort(a, "a new coordinator said hello");
  zframe_destroy(&a->coord_id);
  a->coord_id = from ? zframe_dup(from) : NULL;
  /* A guest that is not registered (any more) keeps trying meanwhile. */
  set_state(a, a->kind == IOV_AGENT_GUEST && !registered(a) ? IOV_CONN_REREGISTERING : IOV_CONN_CONNECTED);
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
  if (a->host && a->host->fill_welcome) a->host->fill_welcome(a, a->host_state, &w, &names);
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  (void)iov__agent_send(a, &e, in->msg_id);
  free(names);
}

/* The largest request a point sends: msg_size, or with a frame_size
 * setting (udp_stream) the largest frame's UDP payload over IPv4, the
 * family whose headers leave the most. */
static uint64_t datagram_size(const struct iov_engine_ops *ops, const void *eopts,
                              const Iovbench__Workload *w) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  uint64_t frame = 0, max = 0;
  if (!iov_engine_opt_get(ops, eopts, "frame_size", &frame) || !frame) return w->msg_size;
  size_t np = iov_frame_parts(frame, parts);
  for (size_t i = 0; i < np; i++) {
    int k = iov_frame_payload(parts[i].size, AF_INET);
    if (k > 0 && (uint64_t)k > max) max = (uint64_t)k;
  }
  return max ? max : w->msg_size;
}

/* Whether the workload is beyond one of the agent's caps; which, in why.
 * msg: the point's largest request (datagram_size()). */
static bool over_cap(const struct iov_agent_caps *c, const Iovbench__Workload *w, uint64_t msg, char *why,
                     size_t n) {
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
  uint64_t size = msg > w->response_size ? msg : w->response_size;
  if (c->max_msg_size && size > c->max_msg_size) {
    snprintf(why, n,
             "its messages are %" PRIu64 " bytes, over this agent's cap of %" PRIu64 " (--max-msg-size)",
             size, c->max_msg_size);
    return true;
  }
  /* A packet rate (a search's trial) counts as its payload bits, at the
   * largest datagram. */
  uint64_t rate = w->rate_bps;
  if (w->rate_pps) rate = msg && w->rate_pps > UINT64_MAX / 8 / msg ? UINT64_MAX : w->rate_pps * msg * 8;
  if (c->max_rate_bps && strcmp(w->name, "udp_stream") == 0 && (!rate || rate > c->max_rate_bps)) {
    if (rate)
      snprintf(why, n,
               "udp_stream at %" PRIu64 " bit/s per flow is over this agent's cap of %" PRIu64
               " bit/s (--max-rate)",
               rate, c->max_rate_bps);
    else
      snprintf(why, n,
               "an unpaced udp_stream (rate 0) is over this agent's cap of %" PRIu64
               " bit/s per flow (--max-rate); give the test a rate",
               c->max_rate_bps);
    return true;
  }
  return false;
}

/* What a Prepare asks of the engine, as the engine's config: the one
 * place the wire's workload becomes an engine setting.  cfg points into
 * p's strings and into peer_ports (IOV_ENGINE_MAX_FLOWS) and cpus
 * (IOV_WIRE_MAX_CPUS), which the caller keeps while cfg is used. */
static void prepare_to_config(const struct iov_agent *a, const Iovbench__Prepare *p,
                              const struct iov_engine_ops *ops, uint16_t *peer_ports, uint16_t *cpus,
                              struct iov_engine_config *cfg) {
  const Iovbench__Workload *w = p->workload;
  for (size_t i = 0; i < w->n_peer_ports && i < IOV_ENGINE_MAX_FLOWS; i++)
    peer_ports[i] = (uint16_t)w->peer_ports[i];
  for (size_t i = 0; i < w->n_cpus; i++) cpus[i] = (uint16_t)w->cpus[i];
  *cfg = (struct iov_engine_config){
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
    .rate_bps = w->rate_bps,
    .rate_pps = w->rate_pps,
    .interface = w->interface,
    .cpus = cpus,
    .n_cpus = (uint32_t)w->n_cpus,
    .token = w->token.data,
    /* RR has no rate of its own, and burst x size per round trip has no
     * bound up front: under --max-rate its flows are paced to the cap
     * (client and server alike), not refused. */
    .rr_rate_bps = (ops->flags & IOV_ENG_F_RR) ? a->caps.max_rate_bps : 0,
  };
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
  /* The engine's own settings, checked against its table (key, type, range). */
  _Alignas(uint64_t) unsigned char eopts[IOV_ENGINE_MAX_OPTS_SIZE];
  char why[256];
  if (iov_wire_engine_settings(ops->options, ops->option_struct_size, w, eopts, why, sizeof(why)) < 0) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_UNSUPPORTED, p->point_id,
                          "agent '%s' refuses %s's settings: %s", a->identity, w->name, why);
    return;
  }
  char over[256];
  if (over_cap(&a->caps, w, datagram_size(ops, eopts, w), over, sizeof(over))) {
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
  struct iov_engine_config cfg;
  prepare_to_config(a, p, ops, peer_ports, cpus, &cfg);
  cfg.opts = eopts;
  struct iov_agent_point *pt = NULL;
  r = iov__point_new(a, p->point_id, &cfg, ops, w, &pt);
  if (r < 0) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, p->point_id,
                          "agent '%s': cannot set up %s %s: %s", a->identity, w->name,
                          iov_role_to_string(cfg.role), iov_strerror(r));
    return;
  }
  r = iov_engine_run_prepare(pt->run, ports, why, sizeof(why));
  if (r < 0) {
    if (why[0]) /* the engine's own reason (no answer to the token, a frame the family cannot carry, no GRO) */
      iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, p->point_id,
                            "agent '%s': %s %s: %s", a->identity, w->name, iov_role_to_string(cfg.role), why);
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
  /* Stop for a point we do not hold (already finished) is not an error:
   * coord sends it to release whatever is left. */
  if (a->point && a->point->id == in->stop->point_id)
    iov__session_point_abort(a, in->stop->reason && *in->stop->reason ? in->stop->reason
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

/* A request of our coordinator, in a state that has one. */
static void on_request(struct iov_agent *a, const struct event *e) {
  const iov_envelope *in = e->in;
  switch (in->body_case) {
  case IOVBENCH__ENVELOPE__BODY_PREPARE: on_prepare(a, in); break;
  case IOVBENCH__ENVELOPE__BODY_START: on_start(a, in); break;
  case IOVBENCH__ENVELOPE__BODY_STOP: on_stop(a, in); break;
  case IOVBENCH__ENVELOPE__BODY_HEARTBEAT: on_heartbeat(a, in); break;
  case IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE: on_clock_probe(a, in, e->rx_real); break;
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
    iov__agent_send_error(a, e->from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                          "agent '%s': unexpected %s", a->identity, iov_wire_body_name(in));
    break;
  }
}

/* The host's dead-man check, every DEADMAN_CHECK_MS: its own stalls do
 * not count; two heartbeats of coord's silence are EV_SILENT. */
static void deadman_check(struct iov_agent *a) {
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
  if (a->conn != IOV_CONN_CONNECTED || !a->coord_heartbeat_ns) return;
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
  step(a, EV_SILENT, &(struct event){ .why = why });
}

/* The coordinator is gone (silent, or its connection closed): stop all
 * traffic, here and in the guests, and take down what the run set up. */
static void coord_lost(struct iov_agent *a, const char *why) {
  iov_warn(
      "the coordinator of run %s went silent (%s): stopping all traffic and taking down what the run set "
      "up",
      a->coord_run ? a->coord_run : "?", why);
  set_state(a, IOV_CONN_SILENCED);
  iov__session_point_abort(a, "the coordinator went silent");
  if (a->host && a->host->stop_guests) a->host->stop_guests(a, a->host_state, "the coordinator went silent");
  if (a->vm && a->vm_state && a->vm->coord_lost) a->vm->coord_lost(a, a->vm_state);
}

/* The session: what event ev does in the current state.  The only place
 * a->conn changes. */
static void step(struct iov_agent *a, enum session_event ev, const struct event *e) {
  const enum iov_conn_state s = a->conn;
  const iov_envelope *in = e->in;

  switch (ev) {
  case EV_HEARD:
    a->coord_heard_mono = iov_now_mono();
    if (s == IOV_CONN_SILENCED) {
      /* The dead-man switch fired (what the run set up is gone), but the
       * coordinator speaks again: answer it, its point will fail. */
      set_state(a, IOV_CONN_CONNECTED);
      iov_notice("the coordinator of run %s speaks again", a->coord_run ? a->coord_run : "?");
      if (a->vm && a->vm_state && a->vm->coord_back) a->vm->coord_back(a, a->vm_state);
    }
    return;

  case EV_HELLO: on_hello(a, e->from, in); return;

  case EV_REQUEST: on_request(a, e); return;

  case EV_GOODBYE:
    /* The coordinator's goodbye: the run is over, its silence from now
     * on is no reason for alarm. */
    iov__session_point_abort(a, in->stop->reason && *in->stop->reason ? in->stop->reason : "the run is over");
    set_state(a, a->kind == IOV_AGENT_GUEST && !registered(a) ? IOV_CONN_REGISTERING : IOV_CONN_IDLE);
    iov_info("the coordinator left (%s)",
             in->stop->reason && *in->stop->reason ? in->stop->reason : "goodbye");
    return;

  case EV_FOR_GUEST:
    if (a->host && a->host->to_guest)
      a->host->to_guest(a, a->host_state, in);
    else
      iov__agent_send_error(a, e->from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                            "agent '%s' has no guests: %s for guest '%s' dropped", a->identity,
                            iov_wire_body_name(in), in->route);
    return;

  case EV_STRANGER:
    if (a->kind == IOV_AGENT_HOST && in->route && *in->route)
      iov__agent_send_error(a, e->from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                            "agent '%s': %s for guest '%s' before hello", a->identity, iov_wire_body_name(in),
                            in->route);
    else
      iov__agent_send_error(a, e->from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                            "agent '%s': %s before hello", a->identity, iov_wire_body_name(in));
    return;

  case EV_HOST_ACK:
    if (s == IOV_CONN_REGISTERING || s == IOV_CONN_REREGISTERING) {
      set_state(a, s == IOV_CONN_REGISTERING ? IOV_CONN_IDLE : IOV_CONN_CONNECTED);
      iov_info("registered with the host agent at %s as '%s'", a->upstream, a->identity);
      if (a->ready_file) {
        int r = iov__agent_write_ready_file(a->ready_file, a->upstream);
        if (r < 0) iov_log_errno(r, "Failed to write '%s': %m", a->ready_file);
      }
    }
    return;

  case EV_HOST_ERROR:
    if (!registered(a)) {
      /* Refused (a name clash, say), or it could not read our message:
       * say why, try again later. */
      iov_warn("the host agent at %s refused us: %s", a->upstream, in->error->message);
      return;
    }
    set_state(a, s == IOV_CONN_CONNECTED ? IOV_CONN_REREGISTERING : IOV_CONN_REGISTERING);
    if (in->reply_to && in->reply_to == a->register_msg_id) /* Refused: try again at the next heartbeat. */
      iov_warn("the host agent at %s refused us: %s", a->upstream, in->error->message);
    else {
      /* It restarted and forgot us. */
      iov_notice("the host agent at %s does not know us (%s); registering again", a->upstream,
                 in->error->message);
      send_register(a);
    }
    return;

  case EV_HOST_STOP:
    /* The host agent's own Stop: its coordinator went silent. */
    iov__session_point_abort(a, in->stop->reason && *in->stop->reason ? in->stop->reason
                                                                      : "stopped by the host agent");
    return;

  case EV_HOST_OTHER: iov_debug(IOV_DBG_PROTO, "host agent sent %s; ignored", iov_wire_body_name(in)); return;

  case EV_TICK:
    if (a->kind == IOV_AGENT_HOST) {
      if (s == IOV_CONN_CLOSED)
        coord_lost(a, "its connection closed");
      else
        deadman_check(a);
      return;
    }
    iov__agent_link_check(a, registered(a));
    if (!registered(a)) {
      send_register(a);
      return;
    }
    /* Dead-man switch: the host agent answers every heartbeat; two without
     * an answer and our traffic stops (nobody could stop it otherwise). */
    if (iov_now_mono() - a->coord_heard_mono > 2 * IOV_GUEST_HEARTBEAT_NS + IOV_GUEST_HEARTBEAT_NS / 2) {
      step(a, EV_SILENT, &(struct event){ .why = "the host agent" });
      return;
    }
    send_upstream_heartbeat(a);
    return;

  case EV_SEND_CLOSED:
    /* Acted on at the next tick: our caller may be in the middle of the
     * point that coord_lost() would free. */
    if (s == IOV_CONN_CONNECTED) set_state(a, IOV_CONN_CLOSED);
    return;

  case EV_SILENT:
    if (a->kind == IOV_AGENT_HOST) {
      if (s == IOV_CONN_CONNECTED || s == IOV_CONN_CLOSED) coord_lost(a, e->why);
      return;
    }
    if (a->point) iov_warn("the host agent at %s went silent: stopping our traffic", a->upstream);
    iov__session_point_abort(a, "the host agent went silent");
    set_state(a, s == IOV_CONN_CONNECTED ? IOV_CONN_REREGISTERING : IOV_CONN_REGISTERING);
    send_register(a);
    return;
  }
}

/* ---- entry points (session.h) -------------------------------------- */

static void on_send_closed(struct iov_agent *a) { step(a, EV_SEND_CLOSED, &(struct event){ 0 }); }

void iov__session_start(struct iov_agent *a) {
  a->on_send_closed = on_send_closed;
  if (a->kind == IOV_AGENT_HOST) {
    a->conn = IOV_CONN_IDLE;
    return;
  }
  a->conn = IOV_CONN_REGISTERING;
  a->coord_heard_mono = iov_now_mono();
  a->unregistered_since_mono = a->coord_heard_mono;
  send_register(a);
}

void iov__session_tick(struct iov_agent *a) { step(a, EV_TICK, &(struct event){ 0 }); }

void iov__session_stop(struct iov_agent *a, const char *why) {
  iov__session_point_abort(a, why);
  if (a->kind == IOV_AGENT_GUEST && registered(a)) {
    /* Say goodbye, so that the host (and coord) drop us now rather than
     * after the heartbeat timeout.  Best effort: linger is 0. */
    Iovbench__Stop st = IOVBENCH__STOP__INIT;
    st.reason = "guest agent shutting down";
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_STOP;
    e.stop = &st;
    iov__agent_send_upstream(a, &e);
  }
}

/* Which event a message is, from who sent it and the state. */
static enum session_event classify(struct iov_agent *a, const struct event *e) {
  const iov_envelope *in = e->in;
  if (a->kind == IOV_AGENT_GUEST && (!in->route || !*in->route)) {
    /* The host agent's own message: an answer to our registration or
     * heartbeat, or its Stop. */
    switch (in->body_case) {
    case IOVBENCH__ENVELOPE__BODY_HEARTBEAT: return EV_HOST_ACK;
    case IOVBENCH__ENVELOPE__BODY_ERROR: return EV_HOST_ERROR;
    case IOVBENCH__ENVELOPE__BODY_STOP: return EV_HOST_STOP;
    default: return EV_HOST_OTHER;
    }
  }
  bool from_coord = a->kind == IOV_AGENT_GUEST ? iov__conn_has_coord(a->conn)
                                               : a->coord_id && zframe_eq(a->coord_id, e->from);
  if (a->kind == IOV_AGENT_HOST && in->route && *in->route) return from_coord ? EV_FOR_GUEST : EV_STRANGER;
  if (in->body_case == IOVBENCH__ENVELOPE__BODY_HELLO) return EV_HELLO;
  if (!from_coord) return EV_STRANGER;
  if (in->body_case == IOVBENCH__ENVELOPE__BODY_STOP && in->stop->point_id == 0) return EV_GOODBYE;
  return EV_REQUEST;
}

int iov__session_on_message(struct iov_zuv *z) {
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
  struct event e = { .in = in, .from = from, .rx_real = iov_now_real() };
  iov_debug(IOV_DBG_PROTO, "<- %s #%" PRIu64, iov_wire_body_name(in), in->msg_id);

  if (a->kind == IOV_AGENT_GUEST) a->coord_heard_mono = iov_now_mono(); /* the host agent is alive */
  if (a->kind == IOV_AGENT_HOST && a->coord_id && zframe_eq(a->coord_id, from)) step(a, EV_HEARD, &e);
  step(a, classify(a, &e), &e);
  iov_wire_free(in);
  zframe_destroy(&from);
  return 0;
}
