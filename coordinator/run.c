/* coord run: connect to the plan's agents, run every test point in turn
 * (prepare receiver, prepare sender, start both at one instant, collect
 * samples and results), store everything and print the table.
 *
 * Every wait has a deadline.  A point whose agents report an error is
 * stored as failed and the run goes on; an agent that falls silent ends
 * the run (its name in the message), since every later point would wait
 * for it too.  What was measured before is committed already. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clocksync.h"
#include "coord.h"
#include "engine.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "parse.h"
#include "peer.h"
#include "plan.h"
#include "report.h"
#include "results.h"
#include "timeutil.h"

/* Time between Start and the start instant: enough for the message to
 * reach every agent and for their threads to be waiting. */
#define START_LEAD_NS (250ULL * IOV_NSEC_PER_MSEC)
/* Clock probes per agent before each point; the minimum-delay one counts. */
#define CLOCK_PROBES 8
/* Agents wait this long after the window for their flows (agent/sampler.c). */
#define AGENT_FINISH_GRACE_NS (10ULL * IOV_NSEC_PER_SEC)

enum { SIDE_SENDER, SIDE_RECEIVER, N_SIDES };
static const char *const side_name[N_SIDES] = { "sender", "receiver" };

struct run_ctx {
  const struct iov_run_config *cfg;
  struct iov_plan *plan;
  struct iov_local *local;
  struct iov_db *db;
  int64_t db_run;
  char *dir;
  struct iov_peer **peers;
  size_t n_peers;
  int signal_fd;
  bool interrupted;
  unsigned failed_points;
};

struct point_run {
  const struct iov_plan_point *pp;
  uint64_t id; /* on the wire: the point's row id */
  int64_t db_point;
  struct iov_peer *peer[N_SIDES];
  int64_t *flow_id[N_SIDES];
  bool ready[N_SIDES];
  bool result[N_SIDES];
  uint32_t last_seq[N_SIDES];
  uint32_t samples[N_SIDES];
  uint32_t ports[IOV_ENGINE_MAX_FLOWS];
  size_t n_ports;
  struct iov_clock_estimate clk[N_SIDES]; /* agent - coord, before the point */
  uint64_t started[N_SIDES];              /* first flow began, coord time */
  char error[768];
  int fatal; /* 0, or the error that ends the run */
};

static void point_fail(struct point_run *pr, const char *fmt, ...) _printf_(2, 3);
static void point_fail(struct point_run *pr, const char *fmt, ...) {
  if (pr->error[0]) return; /* the first cause is the one that matters */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pr->error, sizeof(pr->error), fmt, ap);
  va_end(ap);
}

static struct iov_peer *peer_by_name(struct run_ctx *c, const char *name) {
  for (size_t i = 0; i < c->n_peers; i++)
    if (strcmp(c->peers[i]->name, name) == 0) return c->peers[i];
  return NULL;
}

static uint64_t mono_deadline(uint64_t timeout_ns) { return iov_now_mono() + timeout_ns; }

/* ---- connecting ------------------------------------------------------ */

static int connect_all(struct run_ctx *c, const char *run_id, uint64_t timeout_ns) {
  size_t answered = 0;
  int r;

  c->peers = calloc(c->plan->n_hosts, sizeof(*c->peers));
  if (!c->peers) return -ENOMEM;
  for (size_t i = 0; i < c->plan->n_hosts; i++) {
    const struct iov_plan_host *h = &c->plan->hosts[i];
    r = iov_peer_new(h->name, h->endpoint, h->data_addr, &c->peers[i]);
    if (r < 0)
      return iov_log_errno(r, "Cannot connect to agent '%s' at %s: %m (plan line %u)", h->name, h->endpoint,
                           h->line);
    c->n_peers++;
    Iovbench__Hello hello = IOVBENCH__HELLO__INIT;
    hello.kind = IOVBENCH__PEER_KIND__PEER_COORD;
    hello.identity = h->name;
    hello.run_id = (char *)run_id;
    hello.version = IOV_VERSION;
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_HELLO;
    e.hello = &hello;
    int64_t k = iov_peer_send(c->peers[i], &e);
    if (k < 0)
      return iov_log_errno((int)k, "Cannot send hello to agent '%s' at %s: %m", h->name, h->endpoint);
  }

  uint64_t deadline = mono_deadline(timeout_ns);
  while (answered < c->n_peers) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    r = iov_peers_recv(c->peers, c->n_peers, c->signal_fd, deadline, &p, &e);
    if (r == -IOV_E_INTERRUPTED) {
      c->interrupted = true;
      return r;
    }
    if (r == -IOV_E_TIMEOUT) {
      char t[32];
      for (size_t i = 0; i < c->n_peers; i++)
        if (!c->peers[i]->welcome)
          iov_err(
              "agent '%s' at %s did not answer within %s: is iovbench-agent running there, listening on that "
              "endpoint, and reachable from here? (plan line %u)",
              c->peers[i]->name, c->peers[i]->endpoint, iov_format_duration(t, sizeof(t), timeout_ns),
              c->plan->hosts[i].line);
      return -IOV_E_TIMEOUT;
    }
    if (r < 0) return iov_log_errno(r, "Failed waiting for agents: %m");
    if (e->body_case == IOVBENCH__ENVELOPE__BODY_WELCOME && !p->welcome) {
      p->session_id = e->session_id;
      p->welcome = e;
      answered++;
      iov_info("agent '%s' is %s (%s)", p->name, e->welcome->identity ? e->welcome->identity : "?",
               p->endpoint);
      continue;
    }
    if (e->body_case == IOVBENCH__ENVELOPE__BODY_ERROR) {
      r = iov_log_errno(-IOV_E_PEER, "agent '%s' at %s refused the run: %s", p->name, p->endpoint,
                        e->error->message);
      iov_wire_free(e);
      return r;
    }
    iov_wire_free(e);
  }
  return 0;
}

static int store_agents(struct run_ctx *c) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/inventory", c->dir);
  if (mkdir(path, 0755) < 0 && errno != EEXIST) return iov_log_errno(-errno, "Cannot create %s: %m", path);
  for (size_t i = 0; i < c->n_peers; i++) {
    struct iov_peer *p = c->peers[i];
    json_t *j = iov_json_inventory(p->name, p->endpoint, p->welcome->welcome);
    char *s = iov_json_dumps(j);
    int r = s ? 0 : -ENOMEM;
    if (r == 0)
      r = iov_db_agent_add(c->db, c->db_run, p->name, p->endpoint, p->welcome->welcome->identity, s,
                           &p->db_agent);
    if (r == 0) {
      snprintf(path, sizeof(path), "%s/inventory/%s.json", c->dir, p->name);
      r = iov_json_dump_file(j, path);
      if (r < 0) iov_log_errno(r, "Cannot write %s: %m", path);
    } else
      iov_log_errno(r, "Cannot store the inventory of agent '%s': %s", p->name, iov_db_errmsg(c->db));
    free(s);
    json_decref(j);
    if (r < 0) return r;
  }
  return 0;
}

/* ---- one test point -------------------------------------------------- */

static int send_prepare(struct point_run *pr, int side) {
  const struct iov_point_params *pp = &pr->pp->p;
  uint32_t ports[IOV_ENGINE_MAX_FLOWS];
  uint16_t cpus16[IOV_MAX_CPUS];
  uint32_t cpus[IOV_MAX_CPUS];
  size_t n_cpus = 0;
  /* The plan parser checked the list already. */
  if (iov_parse_cpus(pp->cpus, cpus16, IOV_MAX_CPUS, &n_cpus) < 0) n_cpus = 0;
  for (size_t i = 0; i < n_cpus; i++) cpus[i] = cpus16[i];
  Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
  w.name = pp->workload;
  w.flows = (uint32_t)pp->flows;
  w.msg_size = pp->msg_size;
  w.response_size = pp->response_size;
  w.duration_ns = pp->duration;
  w.sample_interval_ns = pp->sample_interval;
  w.warmup_ns = pp->warmup;
  w.burst = (uint32_t)pp->burst;
  w.rate_bps = pp->rate;
  w.send_buffer = pp->send_buffer;
  w.recv_buffer = pp->recv_buffer;
  w.nodelay = pp->nodelay != 0;
  w.interface = strcmp(pp->interface, "none") == 0 ? "" : pp->interface;
  w.cpus = cpus;
  w.n_cpus = n_cpus;
  w.rr_timeout_ns = pp->rr_timeout;
  w.bind_address = pr->peer[side]->data_addr ? pr->peer[side]->data_addr : "";
  if (side == SIDE_SENDER) {
    w.peer_address = pr->peer[SIDE_RECEIVER]->data_addr;
    for (size_t i = 0; i < pr->n_ports; i++) ports[i] = pr->ports[i];
    w.peer_ports = ports;
    w.n_peer_ports = pr->n_ports;
  }
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.point_id = pr->id;
  p.role = side == SIDE_SENDER ? IOVBENCH__ROLE__ROLE_SENDER : IOVBENCH__ROLE__ROLE_RECEIVER;
  p.workload = &w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  int64_t k = iov_peer_send(pr->peer[side], &e);
  return k < 0 ? (int)k : 0;
}

static void send_stop(struct iov_peer *p, uint64_t point_id, const char *reason) {
  Iovbench__Stop s = IOVBENCH__STOP__INIT;
  s.point_id = point_id;
  s.reason = (char *)reason;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_STOP;
  e.stop = &s;
  (void)iov_peer_send(p, &e);
}

static int store_samples(struct run_ctx *c, struct point_run *pr, int side, const Iovbench__SampleBatch *b) {
  struct iov_hist *h = NULL;
  int r = 0;

  if (b->seq <= pr->last_seq[side]) {
    iov_warn("point %u: %s '%s' sent sample %u again (after %u); dropped", pr->pp->index + 1, side_name[side],
             pr->peer[side]->name, b->seq, pr->last_seq[side]);
    return 0;
  }
  if (b->seq != pr->last_seq[side] + 1)
    iov_warn("point %u: %s '%s' sample %u arrived after %u: %u sample(s) missing", pr->pp->index + 1,
             side_name[side], pr->peer[side]->name, b->seq, pr->last_seq[side],
             b->seq > pr->last_seq[side] ? b->seq - pr->last_seq[side] - 1 : 0);
  pr->last_seq[side] = b->seq;
  pr->samples[side]++;
  for (size_t i = 0; i < b->n_flows && r == 0; i++) {
    const Iovbench__FlowSample *fs = b->flows[i];
    if (fs->flow >= pr->pp->p.flows) {
      iov_warn("agent '%s' sent a sample for flow %u of a %" PRIu64 "-flow point; dropped",
               pr->peer[side]->name, fs->flow, pr->pp->p.flows);
      continue;
    }
    /* Stored in coord's time domain, so samples of all agents line up. */
    struct iov_db_sample s = {
      .seq = b->seq,
      .t_start_ns = iov_clock_to_coord(b->t_start_ns, pr->clk[side].offset_ns),
      .t_end_ns = iov_clock_to_coord(b->t_end_ns, pr->clk[side].offset_ns),
      .bytes = fs->bytes,
      .messages = fs->messages,
      .transactions = fs->transactions,
      .lost = fs->lost,
      .out_of_order = fs->out_of_order,
      .duplicates = fs->duplicates,
      .jitter_ns = fs->jitter_ns,
      .retransmits = fs->retransmits,
      .rtt_us = fs->rtt_us,
      .snd_cwnd = fs->snd_cwnd,
    };
    if (fs->latency) {
      if (!h && !(h = malloc(sizeof(*h)))) return -ENOMEM;
      if (iov_wire_hist_from_pb(fs->latency, h) == 0) s.hist = h;
    }
    r = iov_db_sample_add(c->db, pr->flow_id[side][fs->flow], &s);
  }
  free(h);
  /* The machine's CPU and NIC interrupts in the same interval. */
  for (size_t i = 0; i < b->n_cpus && r == 0; i++) {
    const Iovbench__CpuSample *cs = b->cpus[i];
    struct iov_db_cpu dc = {
      .cpu = cs->cpu,
      .user_ns = cs->user_ns,
      .nice_ns = cs->nice_ns,
      .system_ns = cs->system_ns,
      .idle_ns = cs->idle_ns,
      .iowait_ns = cs->iowait_ns,
      .irq_ns = cs->irq_ns,
      .softirq_ns = cs->softirq_ns,
      .steal_ns = cs->steal_ns,
      .guest_ns = cs->guest_ns,
    };
    r = iov_db_cpu_sample_add(c->db, pr->db_point, pr->peer[side]->db_agent, b->seq, &dc);
  }
  for (size_t i = 0; i < b->n_irqs && r == 0; i++)
    r = iov_db_irq_sample_add(c->db, pr->db_point, pr->peer[side]->db_agent, b->seq, b->irqs[i]->name,
                              b->irqs[i]->count);
  return r;
}

static int store_result(struct run_ctx *c, struct point_run *pr, int side, const Iovbench__Result *res) {
  struct iov_hist *h = NULL;
  int r = 0;

  for (size_t i = 0; i < res->n_flows && r == 0; i++) {
    const Iovbench__FlowResult *fr = res->flows[i];
    if (fr->flow >= pr->pp->p.flows) continue;
    struct iov_db_result s = {
      .bytes = fr->bytes,
      .messages = fr->messages,
      .transactions = fr->transactions,
      .t_start_ns = iov_clock_to_coord(fr->t_start_ns, pr->clk[side].offset_ns),
      .t_end_ns = iov_clock_to_coord(fr->t_end_ns, pr->clk[side].offset_ns),
      .samples = res->samples,
      .error = fr->error,
      .error_text = fr->error_text && *fr->error_text ? fr->error_text : NULL,
      .lost = fr->lost,
      .out_of_order = fr->out_of_order,
      .duplicates = fr->duplicates,
      .jitter_ns = fr->jitter_ns,
      .retransmits = fr->retransmits,
      .incomplete = !fr->complete,
    };
    if (fr->latency) {
      if (!h && !(h = malloc(sizeof(*h)))) return -ENOMEM;
      if (iov_wire_hist_from_pb(fr->latency, h) == 0) s.hist = h;
    }
    if (fr->error || s.error_text)
      point_fail(pr, "%s '%s' flow %u: %s", side_name[side], pr->peer[side]->name, fr->flow,
                 s.error_text ? s.error_text : iov_strerror(fr->error));
    r = iov_db_result_add(c->db, pr->flow_id[side][fr->flow], &s);
  }
  free(h);
  if (r == 0 && side == SIDE_SENDER)
    r = iov_db_point_set_window(
        c->db, pr->db_point, iov_clock_to_coord(res->window_start_ns, pr->clk[side].offset_ns),
        iov_clock_to_coord(res->window_end_ns, pr->clk[side].offset_ns), pr->pp->p.warmup);
  pr->started[side] = iov_clock_to_coord(res->started_ns, pr->clk[side].offset_ns);
  if (res->samples != pr->samples[side])
    point_fail(pr, "%s '%s' sent %u samples but %u arrived", side_name[side], pr->peer[side]->name,
               res->samples, pr->samples[side]);
  return r;
}

/* Take one message and apply it to the point.  Messages of other points
 * (late ones from an aborted point) are dropped. */
static int handle(struct run_ctx *c, struct point_run *pr, struct iov_peer *p, const iov_envelope *e) {
  int side = p == pr->peer[SIDE_SENDER] ? SIDE_SENDER : p == pr->peer[SIDE_RECEIVER] ? SIDE_RECEIVER : -1;
  uint64_t pid = 0;
  int r = 0;

  switch (e->body_case) {
  case IOVBENCH__ENVELOPE__BODY_READY: pid = e->ready->point_id; break;
  case IOVBENCH__ENVELOPE__BODY_SAMPLES: pid = e->samples->point_id; break;
  case IOVBENCH__ENVELOPE__BODY_RESULT: pid = e->result->point_id; break;
  case IOVBENCH__ENVELOPE__BODY_ERROR: pid = e->error->point_id; break;
  default: return 0;
  }
  if (e->body_case == IOVBENCH__ENVELOPE__BODY_ERROR && (pid == pr->id || pid == 0)) {
    point_fail(pr, "agent '%s': %s", p->name, e->error->message);
    return 0;
  }
  if (side < 0 || pid != pr->id) {
    iov_debug(IOV_DBG_PROTO, "dropped %s for point %" PRIu64 " from '%s'", iov_wire_body_name(e), pid,
              p->name);
    return 0;
  }
  switch (e->body_case) {
  case IOVBENCH__ENVELOPE__BODY_READY:
    pr->ready[side] = true;
    if (side == SIDE_RECEIVER) {
      if (e->ready->n_ports != pr->pp->p.flows) {
        point_fail(pr, "receiver '%s' listens on %zu ports for %" PRIu64 " flows", p->name, e->ready->n_ports,
                   pr->pp->p.flows);
        break;
      }
      for (size_t i = 0; i < e->ready->n_ports; i++) pr->ports[i] = e->ready->ports[i];
      pr->n_ports = e->ready->n_ports;
    }
    break;
  case IOVBENCH__ENVELOPE__BODY_SAMPLES: r = store_samples(c, pr, side, e->samples); break;
  case IOVBENCH__ENVELOPE__BODY_RESULT:
    if (pr->result[side]) break;
    pr->result[side] = true;
    r = store_result(c, pr, side, e->result);
    break;
  default: break;
  }
  if (r < 0) {
    point_fail(pr, "cannot store results: %s", iov_db_errmsg(c->db));
    pr->fatal = r;
  }
  return r;
}

/* Receive until done(pr) holds, an error is recorded, or the deadline. */
static int wait_until(struct run_ctx *c, struct point_run *pr, bool (*done)(const struct point_run *),
                      uint64_t deadline) {
  struct iov_peer *both[N_SIDES] = { pr->peer[SIDE_SENDER], pr->peer[SIDE_RECEIVER] };
  while (!done(pr) && !pr->error[0]) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    int r = iov_peers_recv(both, N_SIDES, c->signal_fd, deadline, &p, &e);
    if (r == -IOV_E_INTERRUPTED) {
      c->interrupted = true;
      point_fail(pr, "interrupted by the user");
      return r;
    }
    if (r < 0) return r;
    r = handle(c, pr, p, e);
    iov_wire_free(e);
    if (r < 0) return r;
  }
  return 0;
}

static bool receiver_ready(const struct point_run *pr) { return pr->ready[SIDE_RECEIVER]; }
static bool sender_ready(const struct point_run *pr) { return pr->ready[SIDE_SENDER]; }
static bool results_in(const struct point_run *pr) {
  return pr->result[SIDE_SENDER] && pr->result[SIDE_RECEIVER];
}

static void timed_out(struct point_run *pr, const char *step, int side, uint64_t timeout_ns) {
  char t[32];
  iov_format_duration(t, sizeof(t), timeout_ns);
  point_fail(pr, "agent '%s' (%s) did not answer %s within %s", pr->peer[side]->name, side_name[side], step,
             t);
  pr->fatal = -IOV_E_TIMEOUT;
}

/* Estimate one agent's clock offset with CLOCK_PROBES probes, one at a
 * time (a probe queued behind another would only add delay). */
static int sync_clock(struct run_ctx *c, struct point_run *pr, int side) {
  struct iov_peer *peer = pr->peer[side];
  struct iov_clock_probe probes[CLOCK_PROBES];
  size_t n = 0;
  uint64_t deadline = mono_deadline(pr->pp->p.timeout);

  for (int i = 0; i < CLOCK_PROBES; i++) {
    Iovbench__ClockProbe cp = IOVBENCH__CLOCK_PROBE__INIT;
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE;
    e.clock_probe = &cp;
    cp.t1_ns = iov_now_real();
    int64_t k = iov_peer_send(peer, &e);
    if (k < 0) return (int)k;
    for (;;) {
      struct iov_peer *p = NULL;
      iov_envelope *in = NULL;
      int r = iov_peers_recv(&peer, 1, c->signal_fd, deadline, &p, &in);
      uint64_t t4 = iov_now_real();
      if (r == -IOV_E_INTERRUPTED) {
        c->interrupted = true;
        point_fail(pr, "interrupted by the user");
        return r;
      }
      if (r < 0) return r;
      bool ours = in->body_case == IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY && in->clock_reply->t1_ns == cp.t1_ns;
      if (ours)
        probes[n++] = (struct iov_clock_probe){
          .t1_ns = cp.t1_ns, .t2_ns = in->clock_reply->t2_ns, .t3_ns = in->clock_reply->t3_ns, .t4_ns = t4
        };
      else
        (void)handle(c, pr, p, in); /* an older point's straggler, or an error */
      iov_wire_free(in);
      if (ours) break;
      if (pr->error[0]) return -IOV_E_PEER;
    }
  }
  return iov_clock_estimate(probes, n, &pr->clk[side]);
}

static int run_point(struct run_ctx *c, const struct iov_plan_point *pp, enum iov_point_status *ret_status) {
  struct point_run pr = { .pp = pp };
  json_t *pj = iov_json_point_params(pp);
  char *params = iov_json_dumps(pj);
  int r;

  json_decref(pj);
  if (!params) return -ENOMEM;
  struct iov_db_point dp = {
    .idx = pp->index,
    .test = pp->test,
    .sweep = pp->sweep,
    .workload = pp->p.workload,
    .params_json = params,
    .duration_ns = pp->p.duration,
    .sample_interval_ns = pp->p.sample_interval,
  };
  r = iov_db_point_begin(c->db, c->db_run, &dp, &pr.db_point);
  free(params);
  if (r < 0) return iov_log_errno(r, "Cannot store test point %u: %s", pp->index + 1, iov_db_errmsg(c->db));
  pr.id = (uint64_t)pr.db_point;
  pr.peer[SIDE_SENDER] = peer_by_name(c, pp->p.sender);
  pr.peer[SIDE_RECEIVER] = peer_by_name(c, pp->p.receiver);
  for (int s = 0; s < N_SIDES; s++) {
    pr.flow_id[s] = calloc(pp->p.flows, sizeof(int64_t));
    if (!pr.flow_id[s]) {
      point_fail(&pr, "out of memory");
      pr.fatal = -ENOMEM;
      goto finish;
    }
    for (unsigned i = 0; i < pp->p.flows; i++) {
      r = iov_db_flow_add(c->db, pr.db_point, pr.peer[s]->db_agent, side_name[s], i, &pr.flow_id[s][i]);
      if (r < 0) {
        point_fail(&pr, "cannot store flows: %s", iov_db_errmsg(c->db));
        pr.fatal = r;
        goto finish;
      }
    }
  }
  if (!pr.peer[SIDE_RECEIVER]->data_addr) {
    point_fail(&pr, "host '%s' has no data address: add '%s.data = ADDRESS' to [hosts]", pp->p.receiver,
               pp->p.receiver);
    goto finish;
  }

  /* Each agent's clock against ours, so that one start instant means the
   * same moment everywhere and samples line up in coord's time. */
  for (int s = 0; s < N_SIDES; s++) {
    r = sync_clock(c, &pr, s);
    if (r == -IOV_E_TIMEOUT)
      timed_out(&pr, "clock probes", s, pp->p.timeout);
    else if (r < 0 && !pr.error[0])
      point_fail(&pr, "cannot estimate the clock offset of agent '%s': %s", pr.peer[s]->name,
                 iov_strerror(r));
    if (pr.error[0]) goto finish;
    iov_debug(IOV_DBG_PROTO, "agent '%s': clock offset %" PRId64 " ns +- %" PRIu64 " ns (%u probes)",
              pr.peer[s]->name, pr.clk[s].offset_ns, pr.clk[s].error_ns, pr.clk[s].probes);
  }

  /* Receiver first: the sender needs its ports. */
  r = send_prepare(&pr, SIDE_RECEIVER);
  if (r < 0) {
    point_fail(&pr, "cannot send to agent '%s': %s", pr.peer[SIDE_RECEIVER]->name, iov_strerror(r));
    goto finish;
  }
  r = wait_until(c, &pr, receiver_ready, mono_deadline(pp->p.timeout));
  if (r == -IOV_E_TIMEOUT) timed_out(&pr, "prepare", SIDE_RECEIVER, pp->p.timeout);
  if (r < 0 || pr.error[0]) goto finish;

  r = send_prepare(&pr, SIDE_SENDER);
  if (r < 0) {
    point_fail(&pr, "cannot send to agent '%s': %s", pr.peer[SIDE_SENDER]->name, iov_strerror(r));
    goto finish;
  }
  r = wait_until(c, &pr, sender_ready, mono_deadline(pp->p.timeout));
  if (r == -IOV_E_TIMEOUT) timed_out(&pr, "prepare", SIDE_SENDER, pp->p.timeout);
  if (r < 0 || pr.error[0]) goto finish;

  /* One start instant for both. */
  uint64_t start_at = iov_now_real() + START_LEAD_NS;
  for (int s = 0; s < N_SIDES; s++) {
    Iovbench__Start st = IOVBENCH__START__INIT;
    st.point_id = pr.id;
    /* The one instant, in each agent's own clock. */
    st.start_at_ns = iov_clock_to_agent(start_at, pr.clk[s].offset_ns);
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_START;
    e.start = &st;
    (void)iov_peer_send(pr.peer[s], &e);
  }
  (void)iov_db_point_set_start(c->db, pr.db_point, start_at);
  uint64_t wait = START_LEAD_NS + pp->p.warmup + pp->p.duration + AGENT_FINISH_GRACE_NS + pp->p.timeout;
  r = wait_until(c, &pr, results_in, mono_deadline(wait));
  if (r == -IOV_E_TIMEOUT) {
    int side = pr.result[SIDE_SENDER] ? SIDE_RECEIVER : SIDE_SENDER;
    char t[32];
    point_fail(&pr,
               "agent '%s' (%s) sent no result within %s of the window's end (%u of %" PRIu64
               " samples arrived)",
               pr.peer[side]->name, side_name[side],
               iov_format_duration(t, sizeof(t), AGENT_FINISH_GRACE_NS + pp->p.timeout), pr.samples[side],
               (pp->p.duration + pp->p.sample_interval - 1) / pp->p.sample_interval);
    pr.fatal = -IOV_E_TIMEOUT;
  }
  /* An error from one side: collect what the other measured, briefly. */
  if (pr.error[0] && !pr.fatal && !c->interrupted && (pr.ready[SIDE_SENDER] || pr.ready[SIDE_RECEIVER])) {
    for (int s = 0; s < N_SIDES; s++)
      if (!pr.result[s]) send_stop(pr.peer[s], pr.id, "the other side of the point failed");
    char keep[sizeof(pr.error)];
    memcpy(keep, pr.error, sizeof(keep));
    pr.error[0] = 0;
    (void)wait_until(c, &pr, results_in, mono_deadline(2 * IOV_NSEC_PER_SEC));
    memcpy(pr.error, keep, sizeof(keep));
  }

finish:
  /* Each agent's clock and actual start; the achieved start skew. */
  for (int s = 0; s < N_SIDES && !pr.fatal; s++)
    if (pr.clk[s].probes) {
      struct iov_db_clock dc = { .offset_ns = pr.clk[s].offset_ns,
                                 .error_ns = pr.clk[s].error_ns,
                                 .delay_ns = pr.clk[s].delay_ns,
                                 .probes = pr.clk[s].probes,
                                 .started_ns = pr.started[s] };
      if (iov_db_point_agent_add(c->db, pr.db_point, pr.peer[s]->db_agent, side_name[s], &dc) < 0)
        pr.fatal = -IOV_E_DB;
    }
  if (pr.started[SIDE_SENDER] && pr.started[SIDE_RECEIVER] && !pr.fatal) {
    uint64_t a = pr.started[SIDE_SENDER], b = pr.started[SIDE_RECEIVER];
    if (iov_db_point_set_skew(c->db, pr.db_point, a > b ? a - b : b - a) < 0) pr.fatal = -IOV_E_DB;
  }
  /* Release both agents whatever happened; Stop of a finished point is a
   * no-op for them. */
  for (int s = 0; s < N_SIDES; s++)
    if (pr.peer[s]) send_stop(pr.peer[s], pr.id, pr.error[0] ? pr.error : "point complete");
  *ret_status = pr.error[0] ? IOV_POINT_FAILED : IOV_POINT_OK;
  r = iov_db_point_end(c->db, pr.db_point, *ret_status, pr.error[0] ? pr.error : NULL);
  if (r < 0) {
    iov_log_errno(r, "Cannot commit test point %u: %s", pp->index + 1, iov_db_errmsg(c->db));
    if (!pr.fatal) pr.fatal = r;
  }
  if (pr.error[0])
    iov_err("test point %u (%s%s%s) failed: %s", pp->index + 1, pp->test, *pp->sweep ? " " : "", pp->sweep,
            pr.error);
  r = pr.fatal ? pr.fatal : c->interrupted ? -IOV_E_INTERRUPTED : 0;
  for (int s = 0; s < N_SIDES; s++) free(pr.flow_id[s]);
  return r;
}

/* ---- the run --------------------------------------------------------- */

static int make_run_dir(const char *parent, const char *plan_path, char **ret) {
  char stamp[32], stem[64], *dir = NULL;
  time_t now = time(NULL);
  struct tm tm;
  const char *base = strrchr(plan_path, '/');

  base = base ? base + 1 : plan_path;
  snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(base, "."), base);
  localtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  if (mkdir(parent, 0755) < 0 && errno != EEXIST) return -errno;
  for (int n = 1; n < 100; n++) {
    free(dir);
    if ((n == 1 ? asprintf(&dir, "%s/%s-%s", parent, stamp, stem)
                : asprintf(&dir, "%s/%s-%s-%d", parent, stamp, stem, n)) < 0)
      return -ENOMEM;
    if (mkdir(dir, 0755) == 0) {
      *ret = dir;
      return 0;
    }
    if (errno != EEXIST) {
      int r = -errno;
      free(dir);
      return r;
    }
  }
  free(dir);
  return -EEXIST;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  if (!f) return -errno;
  fputs(text, f);
  return fclose(f) == 0 ? 0 : -errno;
}

static int open_signal_fd(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  return signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
}

int iov_coord_run(const struct iov_run_config *cfg) {
  struct run_ctx c = { .cfg = cfg, .signal_fd = -1 };
  struct iov_plan_error perr = { 0 };
  char path[4096], buf[512];
  int r;

  r = iov_plan_load(cfg->plan_path, iov_engine_names(), &c.plan, &perr);
  if (r < 0) {
    fprintf(stderr, "coord: %s\n", iov_plan_error_format(&perr, buf, sizeof(buf)));
    iov_plan_error_done(&perr);
    return r;
  }
  c.signal_fd = open_signal_fd();
  if (c.signal_fd < 0) iov_warn("cannot watch signals: %s; Ctrl-C will not clean up", strerror(errno));

  r = make_run_dir(cfg->results_dir, cfg->plan_path, &c.dir);
  if (r < 0) {
    iov_log_errno(r, "Cannot create a run directory under '%s': %m (choose another with --results)",
                  cfg->results_dir);
    goto out;
  }
  const char *run_id = strrchr(c.dir, '/') ? strrchr(c.dir, '/') + 1 : c.dir;
  snprintf(path, sizeof(path), "%s/plan.plan", c.dir);
  if ((r = write_file(path, c.plan->text)) < 0) {
    iov_log_errno(r, "Cannot write %s: %m", path);
    goto out;
  }
  snprintf(path, sizeof(path), "%s/logs", c.dir);
  if (mkdir(path, 0755) < 0) {
    r = iov_log_errno(-errno, "Cannot create %s: %m", path);
    goto out;
  }
  snprintf(path, sizeof(path), "%s/results.db", c.dir);
  {
    _cleanup_free_ char *why = NULL;
    r = iov_db_open_full(path, false, &c.db, &why);
    if (r < 0) {
      iov_log_errno(r, "Cannot create the results database %s: %s", path, why ? why : iov_strerror(r));
      goto out;
    }
  }
  r = iov_db_run_begin(c.db, run_id, cfg->plan_path, c.plan->text, iov_now_real(), &c.db_run);
  if (r < 0) {
    iov_log_errno(r, "Cannot store the run: %s", iov_db_errmsg(c.db));
    goto out;
  }
  if (!cfg->quiet)
    fprintf(stderr, "coord: run %s: %zu test points, results in %s\n", run_id, c.plan->n_points, c.dir);

  snprintf(path, sizeof(path), "%s/logs", c.dir);
  r = iov_local_start(c.plan, cfg->local_mode, path, &c.local);
  if (r < 0) goto out;
  if (*iov_local_describe(c.local) && !cfg->quiet)
    fprintf(stderr, "coord: %s\n", iov_local_describe(c.local));

  uint64_t connect_timeout = cfg->connect_timeout_ns ? cfg->connect_timeout_ns : c.plan->points[0].p.timeout;
  r = connect_all(&c, run_id, connect_timeout);
  if (r < 0) goto out;
  r = store_agents(&c);
  if (r < 0) goto out;

  for (size_t i = 0; i < c.plan->n_points; i++) {
    const struct iov_plan_point *pp = &c.plan->points[i];
    enum iov_point_status st = IOV_POINT_FAILED;
    char d[32];
    if (!cfg->quiet)
      fprintf(stderr, "coord: [%zu/%zu] %s%s%s: %s %s -> %s, %s\n", i + 1, c.plan->n_points, pp->test,
              *pp->sweep ? " " : "", pp->sweep, pp->p.workload, pp->p.sender, pp->p.receiver,
              iov_format_duration(d, sizeof(d), pp->p.duration));
    r = run_point(&c, pp, &st);
    if (st != IOV_POINT_OK) c.failed_points++;
    if (r < 0) goto out;
  }
  r = 0;

out:
  /* Tell the agents we are done before they are stopped or we vanish. */
  for (size_t i = 0; i < c.n_peers; i++) c.peers[i] = iov_peer_free(c.peers[i]);
  free(c.peers);
  c.local = iov_local_stop(c.local);
  if (c.db && c.db_run) {
    const char *status = c.interrupted     ? "interrupted"
                         : r < 0           ? "failed"
                         : c.failed_points ? "partial"
                                           : "ok";
    (void)iov_db_run_end(c.db, c.db_run, status, r < 0 ? iov_strerror(r) : NULL, iov_now_real());
  }
  if (c.db) {
    struct iov_report *rep = NULL;
    if (iov_report_load(c.db, &rep) == 0 && rep->n_points > 0) {
      iov_report_print_table(rep, stdout);
      fflush(stdout);
    }
    iov_report_free(rep);
  }
  c.db = iov_db_close(c.db);
  if (c.dir && !cfg->quiet) fprintf(stderr, "coord: results in %s\n", c.dir);
  if (c.interrupted) {
    fprintf(stderr, "coord: interrupted; what was measured so far is kept in %s\n",
            c.dir ? c.dir : "(nothing)");
    r = -IOV_E_INTERRUPTED;
  }
  free(c.dir);
  iov_plan_free(c.plan);
  if (c.signal_fd >= 0) close(c.signal_fd);
  if (r < 0) return r;
  return c.failed_points ? 1 : 0;
}

/* ---- validate and report --------------------------------------------- */

int iov_coord_validate(const char *plan_path, bool quiet) {
  struct iov_plan *plan = NULL;
  struct iov_plan_error perr = { 0 };
  char buf[512], d[32], s1[32], s2[32], iv[32];
  int r = iov_plan_load(plan_path, iov_engine_names(), &plan, &perr);

  if (r < 0) {
    fprintf(stderr, "coord: %s\n", iov_plan_error_format(&perr, buf, sizeof(buf)));
    iov_plan_error_done(&perr);
    return r;
  }
  if (!quiet) {
    uint64_t total = 0;
    printf("%s: %zu hosts, %zu test points\n", plan_path, plan->n_hosts, plan->n_points);
    for (size_t i = 0; i < plan->n_hosts; i++)
      printf("  host %-12s %s%s%s\n", plan->hosts[i].name, plan->hosts[i].endpoint,
             plan->hosts[i].data_addr ? "  data " : "",
             plan->hosts[i].data_addr ? plan->hosts[i].data_addr : "");
    printf("\n%4s  %-16s %-12s %-10s %-10s %5s %8s %8s %8s %8s  %s\n", "#", "test", "workload", "sender",
           "receiver", "flows", "msg", "resp", "duration", "interval", "sweep");
    for (size_t i = 0; i < plan->n_points; i++) {
      const struct iov_plan_point *p = &plan->points[i];
      printf("%4zu  %-16s %-12s %-10s %-10s %5" PRIu64 " %8s %8s %8s %8s  %s\n", i + 1, p->test,
             p->p.workload, p->p.sender, p->p.receiver, p->p.flows,
             iov_format_size(s1, sizeof(s1), p->p.msg_size),
             iov_format_size(s2, sizeof(s2), p->p.response_size),
             iov_format_duration(d, sizeof(d), p->p.duration),
             iov_format_duration(iv, sizeof(iv), p->p.sample_interval), p->sweep);
      total += p->p.duration;
    }
    printf("\nmeasuring time: %s (plus set-up per point)\n", iov_format_duration(d, sizeof(d), total));
  }
  iov_plan_free(plan);
  return 0;
}

int iov_coord_report(const char *run, bool json) {
  char path[4096];
  struct stat st;
  struct iov_db *db = NULL;
  struct iov_report *rep = NULL;
  int r;

  if (stat(run, &st) < 0) return iov_log_errno(-errno, "Cannot open run '%s': %m", run);
  if (S_ISDIR(st.st_mode))
    snprintf(path, sizeof(path), "%s/results.db", run);
  else
    snprintf(path, sizeof(path), "%s", run);
  _cleanup_free_ char *why = NULL;
  r = iov_db_open_full(path, true, &db, &why);
  if (r < 0)
    return iov_log_errno(r, "Cannot open results database '%s': %s (is '%s' a run directory?)", path,
                         why ? why : iov_strerror(r), run);
  r = iov_report_load(db, &rep);
  if (r < 0)
    iov_log_errno(r, "Cannot read the run from '%s': %s", path, iov_db_errmsg(db));
  else if (json)
    r = iov_report_print_json(rep, stdout);
  else
    iov_report_print_table(rep, stdout);
  iov_report_free(rep);
  iov_db_close(db);
  return r;
}
