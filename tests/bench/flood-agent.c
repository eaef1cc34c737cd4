/* iovbench-flood-agent: a fake host agent that measures nothing and
 * floods coord with samples, for benchmarking how fast coord takes them
 * in and stores them (tests/bench/ingest).
 *
 * It speaks the real protocol (lib/wire.h) on a real ZeroMQ ROUTER socket,
 * like agent/session.c: Hello, ClockProbe, Heartbeat, Prepare, Start and
 * Stop.  On Start it sleeps until the start instant and then sends every
 * SampleBatch of the point back to back, followed by the Result, waiting
 * for room whenever coord's queue is full, so that no sample is dropped.
 * When Stop arrives (coord sends it after it has processed both sides'
 * Results) it prints one line on stderr:
 *
 *   flood-agent NAME: sent S samples (B batches) from T0; stop after X.XXX s
 *
 * where T0 is the start instant (CLOCK_REALTIME, ns since the epoch) and
 * X the time from T0 to the Stop's arrival.
 *
 * With --key-dir it runs CURVE as a host agent does (its key pair made
 * there at first start, coordinators/ let in by the same ZAP handler,
 * the key endpoint answering its public key), so that coord decrypts
 * what it ingests as it does in a real run; without, it is plaintext and
 * its key endpoint says so.
 *
 * Single-threaded: a blocking zmq_poll() loop, with SIGINT and SIGTERM
 * read from a signalfd (ZeroMQ's and the key endpoint's threads aside).
 * Every wait is bounded by --idle-timeout. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "macro.h"
#include "parse.h"
#include "timeutil.h"
#include "wire.h"

/* Buckets of the latency histogram sent with each flow sample (--latency). */
#define FLOOD_HIST_BUCKETS 20
/* How many CPUs a --cpus sample covers besides the total (-1): 0..N-1. */
#define FLOOD_CPUS 2
/* Receivers report listening on FLOOD_PORT_BASE + flow. */
#define FLOOD_PORT_BASE 40000
/* Throughput the fake flows claim, all flows together. */
#define FLOOD_BYTES_PER_SEC (1250000000ULL) /* 10 Gbit/s */
/* Round trip the fake request/response flows claim. */
#define FLOOD_RTT_NS (25000ULL)

struct flood_config {
  const char *listen;
  const char *name;
  const char *ready_file;
  const char *key_dir; /* NULL: plaintext */
  bool latency;
  bool cpus;
  uint64_t idle_timeout_ns;
  /* Attack tests (tests/integ/attack_counters.sh): absurd numbers in some
   * batches; an Error with this text for points 1..4 at every heartbeat. */
  bool absurd;
  const char *error_text;
};

/* The one test point the agent holds, from Prepare to Stop. */
struct flood_point {
  uint64_t id;
  Iovbench__Role role;
  unsigned flows;
  uint64_t msg_size;
  uint64_t duration_ns;
  uint64_t interval_ns;
  uint64_t warmup_ns;
  bool rr;
  bool started;
  uint64_t start_at_ns; /* T0, the agent's CLOCK_REALTIME */
  uint64_t batches;     /* SampleBatch messages sent */
  uint64_t samples;     /* FlowSamples in them */
  uint64_t waits;       /* times a send found coord's queue full */
  uint64_t send_ns;     /* from T0 to the Result's send */
  /* Per flow totals, for the Result. */
  uint64_t *bytes;
  uint64_t *messages;
  uint64_t *transactions;
};

struct flood {
  const struct flood_config *cfg;
  zsock_t *sock;
  zcert_t *cert;                   /* with --key-dir */
  struct iov_zap *zap;             /* with --key-dir */
  struct iov_keyserver *keyserver; /* the key endpoint, if the transport has one */
  zframe_t *coord_id;              /* routing id of the coordinator that said Hello */
  uint64_t msg_id;
  uint64_t session_id;
  int signal_fd;
  bool stopping;
  struct flood_point *point;
  struct iov_wire_stats stats;
  char *workloads[16];
  Iovbench__Inventory inventory;
  char hostname[256];
  /* The latency histogram every flow sample carries: the same buckets
   * each time (coord's cost depends on their number, not their values). */
  uint32_t hist_index[FLOOD_HIST_BUCKETS];
  uint64_t hist_count[FLOOD_HIST_BUCKETS];
  uint64_t hist_result_count[FLOOD_HIST_BUCKETS];
  Iovbench__Histogram hist;
  Iovbench__Histogram hist_result;
};

static struct flood_point *point_free(struct flood_point *p) {
  if (!p) return NULL;
  free(p->bytes);
  free(p->messages);
  free(p->transactions);
  free(p);
  return NULL;
}

/* A small deterministic generator, so that flows and intervals differ a
 * little (a database that only ever sees one value is no test). */
static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/* Poll the socket for 'events' and the signal fd, at most until the
 * monotonic deadline.  Returns > 0 when the socket is ready, 0 on
 * timeout, -ECANCELED on SIGINT/SIGTERM, or -errno. */
static int wait_socket(struct flood *f, short events, uint64_t deadline) {
  for (;;) {
    uint64_t now = iov_now_mono();
    if (now >= deadline) return 0;
    zmq_pollitem_t it[2] = {
      { .socket = zsock_resolve(f->sock), .events = events },
      { .fd = f->signal_fd, .events = ZMQ_POLLIN },
    };
    long ms = (long)((deadline - now + IOV_NSEC_PER_MSEC - 1) / IOV_NSEC_PER_MSEC);
    int k = zmq_poll(it, 2, ms);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (it[1].revents & ZMQ_POLLIN) {
      struct signalfd_siginfo si;
      if (read(f->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        iov_notice("got signal %u, exiting", si.ssi_signo);
      f->stopping = true;
      return -ECANCELED;
    }
    if (it[0].revents & events) return 1;
  }
}

/* Send e to the coordinator.  A full queue (-EAGAIN, the socket is
 * ROUTER_MANDATORY) is waited out for up to the idle timeout: a flood
 * agent never drops a message. */
static int send_msg(struct flood *f, iov_envelope *e, uint64_t reply_to) {
  uint64_t deadline = 0;
  int r;

  if (!f->coord_id) return -ENOTCONN;
  e->msg_id = ++f->msg_id;
  e->reply_to = reply_to;
  e->session_id = f->session_id;
  for (;;) {
    r = iov_wire_send(f->sock, f->coord_id, e);
    if (r != -EAGAIN) break;
    if (f->point) f->point->waits++;
    if (!deadline) deadline = iov_now_mono() + f->cfg->idle_timeout_ns;
    r = wait_socket(f, ZMQ_POLLOUT, deadline);
    if (r == 0) r = -ETIMEDOUT;
    if (r < 0) break;
  }
  if (r < 0 && r != -ECANCELED)
    iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s to the coordinator: %m", iov_wire_body_name(e));
  return r;
}

static void send_error(struct flood *f, zframe_t *to, uint64_t reply_to, Iovbench__ErrorCode code,
                       uint64_t point_id, const char *fmt, ...) _printf_(6, 7);
static void send_error(struct flood *f, zframe_t *to, uint64_t reply_to, Iovbench__ErrorCode code,
                       uint64_t point_id, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  iov_warn("%s", msg);

  Iovbench__Error err = IOVBENCH__ERROR__INIT;
  err.code = code;
  err.point_id = point_id;
  err.message = msg;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_ERROR;
  e.error = &err;
  e.msg_id = ++f->msg_id;
  e.reply_to = reply_to;
  e.session_id = f->session_id;
  /* Best effort, like the real agent: an error reply is never waited for. */
  (void)iov_wire_send(f->sock, to ? to : f->coord_id, &e);
}

static void on_hello(struct flood *f, zframe_t *from, const iov_envelope *in) {
  const Iovbench__Hello *h = in->hello;

  f->point = point_free(f->point);
  zframe_destroy(&f->coord_id);
  f->coord_id = zframe_dup(from);
  if (!f->coord_id) {
    iov_err("out of memory taking the coordinator's routing id");
    return;
  }
  f->session_id = mix(iov_now_real() ^ ((uint64_t)getpid() << 32));
  iov_info("coordinator connected (run %s, it calls us '%s')", h->run_id ? h->run_id : "?",
           h->identity ? h->identity : "");

  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  w.kind = IOVBENCH__PEER_KIND__PEER_HOST_AGENT;
  w.identity = (char *)f->cfg->name;
  w.inventory = &f->inventory;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  (void)send_msg(f, &e, in->msg_id);
}

static void on_prepare(struct flood *f, const iov_envelope *in) {
  const Iovbench__Prepare *p = in->prepare;
  const Iovbench__Workload *w = p->workload; /* validated by iov_wire_decode */
  const struct iov_engine_ops *ops = iov_engine_find(w->name);
  uint32_t ports[IOV_WIRE_MAX_FLOWS];

  if (f->point) {
    send_error(f, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, p->point_id,
               "flood-agent '%s' still holds test point %" PRIu64 "; send Stop first", f->cfg->name,
               f->point->id);
    return;
  }
  if (!ops) {
    send_error(f, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_UNSUPPORTED, p->point_id,
               "flood-agent '%s' has no workload '%s'", f->cfg->name, w->name);
    return;
  }
  struct flood_point *pt = calloc(1, sizeof(*pt));
  if (pt) {
    pt->bytes = calloc(w->flows, sizeof(uint64_t));
    pt->messages = calloc(w->flows, sizeof(uint64_t));
    pt->transactions = calloc(w->flows, sizeof(uint64_t));
  }
  if (!pt || !pt->bytes || !pt->messages || !pt->transactions) {
    point_free(pt);
    send_error(f, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, p->point_id,
               "flood-agent '%s': out of memory", f->cfg->name);
    return;
  }
  pt->id = p->point_id;
  pt->role = p->role;
  pt->flows = w->flows;
  pt->msg_size = w->msg_size;
  pt->duration_ns = w->duration_ns;
  pt->interval_ns = w->sample_interval_ns;
  pt->warmup_ns = w->warmup_ns;
  pt->rr = (ops->flags & IOV_ENG_F_RR) != 0;
  f->point = pt;

  Iovbench__Ready ready = IOVBENCH__READY__INIT;
  ready.point_id = p->point_id;
  if (p->role == IOVBENCH__ROLE__ROLE_RECEIVER) {
    for (unsigned i = 0; i < pt->flows; i++) ports[i] = FLOOD_PORT_BASE + i;
    ready.ports = ports;
    ready.n_ports = pt->flows;
  }
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_READY;
  e.ready = &ready;
  (void)send_msg(f, &e, in->msg_id);
}

/* The fake counters of flow i in interval k, added to the flow's totals. */
static void fill_flow_sample(struct flood *f, struct flood_point *pt, unsigned i, uint64_t k, uint64_t len_ns,
                             Iovbench__FlowSample *fs) {
  uint64_t noise = mix(pt->id * 1000003 + k * 257 + i);
  uint64_t bytes = (uint64_t)((double)FLOOD_BYTES_PER_SEC / pt->flows * (double)len_ns / 1e9);

  bytes = bytes - bytes / 20 + (bytes ? noise % (bytes / 10 + 1) : 0); /* +-5 % */
  iovbench__flow_sample__init(fs);
  fs->flow = i;
  if (pt->rr) {
    fs->transactions = len_ns / FLOOD_RTT_NS + noise % 7;
    fs->messages = fs->transactions;
    fs->bytes = fs->transactions * pt->msg_size;
  } else {
    fs->bytes = bytes;
    fs->messages = pt->msg_size ? (bytes + pt->msg_size - 1) / pt->msg_size : 0;
  }
  if (pt->role == IOVBENCH__ROLE__ROLE_SENDER) {
    fs->rtt_us = (uint32_t)(FLOOD_RTT_NS / 1000 + noise % 13);
    fs->snd_cwnd = (uint32_t)(10 + noise % 90);
    fs->retransmits = noise % 1000 == 0;
  }
  if (f->cfg->latency) fs->latency = &f->hist;
  /* --absurd: batch 4 claims counters near 2^63 (not in the totals). */
  if (f->cfg->absurd && k == 3) {
    fs->bytes = INT64_MAX - 7;
    fs->messages = (uint64_t)INT64_MAX + 9;
    fs->transactions = UINT64_MAX;
    return;
  }
  pt->bytes[i] += fs->bytes;
  pt->messages[i] += fs->messages;
  pt->transactions[i] += fs->transactions;
}

static void fill_cpu_samples(uint64_t len_ns, uint64_t k, Iovbench__CpuSample *cs) {
  for (int c = 0; c <= FLOOD_CPUS; c++) {
    /* cs[0] is the total (-1), then one per CPU. */
    uint64_t n = c == 0 ? FLOOD_CPUS : 1;
    uint64_t busy = len_ns * n / 4 + mix(k * 31 + (uint64_t)c) % (len_ns / 100 + 1);
    iovbench__cpu_sample__init(&cs[c]);
    cs[c].cpu = c - 1;
    cs[c].user_ns = busy / 2;
    cs[c].system_ns = busy / 3;
    cs[c].softirq_ns = busy - busy / 2 - busy / 3;
    cs[c].idle_ns = len_ns * n > busy ? len_ns * n - busy : 0;
  }
}

/* Everything after the window: one FlowResult per flow, complete. */
static int send_result(struct flood *f, struct flood_point *pt, uint64_t window_start, uint64_t window_end) {
  Iovbench__FlowResult *fr = calloc(pt->flows, sizeof(*fr));
  Iovbench__FlowResult **frp = calloc(pt->flows, sizeof(*frp));
  int r;

  if (!fr || !frp) {
    r = -ENOMEM;
    goto out;
  }
  for (unsigned i = 0; i < pt->flows; i++) {
    iovbench__flow_result__init(&fr[i]);
    fr[i].flow = i;
    fr[i].bytes = pt->bytes[i];
    fr[i].messages = pt->messages[i];
    fr[i].transactions = pt->transactions[i];
    fr[i].t_start_ns = window_start;
    fr[i].t_end_ns = window_end;
    fr[i].complete = true;
    if (f->cfg->latency) fr[i].latency = &f->hist_result;
    frp[i] = &fr[i];
  }
  /* Every sample carried the same histogram: the window's is n times it. */
  for (unsigned j = 0; j < FLOOD_HIST_BUCKETS; j++) f->hist_result_count[j] = f->hist_count[j] * pt->batches;
  f->hist_result.sum_ns = f->hist.sum_ns * pt->batches;
  Iovbench__Result res = IOVBENCH__RESULT__INIT;
  res.point_id = pt->id;
  res.role = pt->role;
  res.samples = (uint32_t)pt->batches;
  res.flows = frp;
  res.n_flows = pt->flows;
  res.window_start_ns = window_start;
  res.window_end_ns = window_end;
  res.started_ns = pt->start_at_ns;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_RESULT;
  e.result = &res;
  r = send_msg(f, &e, 0);
out:
  free(frp);
  free(fr);
  return r;
}

/* Send every SampleBatch of the point back to back, then the Result. */
static int flood_point(struct flood *f, struct flood_point *pt) {
  uint64_t window_start = pt->start_at_ns + pt->warmup_ns;
  uint64_t window_end = window_start + pt->duration_ns;
  uint64_t n = (pt->duration_ns + pt->interval_ns - 1) / pt->interval_ns;
  Iovbench__FlowSample *fs = calloc(pt->flows, sizeof(*fs));
  Iovbench__FlowSample **fsp = calloc(pt->flows, sizeof(*fsp));
  Iovbench__CpuSample cs[FLOOD_CPUS + 1];
  Iovbench__CpuSample *csp[FLOOD_CPUS + 1];
  int r = 0;

  if (!fs || !fsp) {
    r = -ENOMEM;
    goto out;
  }
  for (unsigned i = 0; i < pt->flows; i++) fsp[i] = &fs[i];
  for (int c = 0; c <= FLOOD_CPUS; c++) csp[c] = &cs[c];
  for (uint64_t k = 0; k < n && r >= 0; k++) {
    uint64_t t0 = window_start + k * pt->interval_ns;
    uint64_t t1 = t0 + pt->interval_ns < window_end ? t0 + pt->interval_ns : window_end;
    for (unsigned i = 0; i < pt->flows; i++) fill_flow_sample(f, pt, i, k, t1 - t0, &fs[i]);
    Iovbench__SampleBatch b = IOVBENCH__SAMPLE_BATCH__INIT;
    b.point_id = pt->id;
    b.seq = (uint32_t)(k + 1);
    /* --absurd: batch 2 claims a sequence number no point reaches. */
    if (f->cfg->absurd && k == 1) b.seq = UINT32_MAX - 1;
    b.t_start_ns = t0;
    b.t_end_ns = t1;
    b.flows = fsp;
    b.n_flows = pt->flows;
    if (f->cfg->cpus) {
      fill_cpu_samples(t1 - t0, k, cs);
      if (f->cfg->absurd && k == 4) cs[0].user_ns = UINT64_MAX - 1;
      b.cpus = csp;
      b.n_cpus = FLOOD_CPUS + 1;
    }
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_SAMPLES;
    e.samples = &b;
    r = send_msg(f, &e, 0);
    if (r < 0) break;
    pt->batches++;
    pt->samples += pt->flows;
  }
  if (r >= 0) r = send_result(f, pt, window_start, window_end);
  pt->send_ns = iov_now_real() - pt->start_at_ns;
out:
  free(fsp);
  free(fs);
  return r;
}

static void on_start(struct flood *f, const iov_envelope *in) {
  struct flood_point *pt = f->point;
  uint64_t at = in->start->start_at_ns, now = iov_now_real();

  if (!pt || pt->id != in->start->point_id || pt->started) {
    send_error(f, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, in->start->point_id,
               "flood-agent '%s': start for test point %" PRIu64 " that is not prepared", f->cfg->name,
               in->start->point_id);
    return;
  }
  /* The instant comes from the network: never sleep past our own bound. */
  if (at > now + f->cfg->idle_timeout_ns) {
    send_error(f, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_LIMIT, pt->id,
               "flood-agent '%s': start instant %.3f s away", f->cfg->name, (double)(at - now) / 1e9);
    return;
  }
  pt->started = true;
  pt->start_at_ns = at;
  struct timespec ts = iov_ns_ts(at);
  while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR) continue;
  int r = flood_point(f, pt);
  if (r < 0 && r != -ECANCELED)
    iov_log_full_errno(IOV_LOG_WARNING, r, "point %" PRIu64 ": flood ended after %" PRIu64 " batches: %m",
                       pt->id, pt->batches);
}

static void on_stop(struct flood *f, const iov_envelope *in) {
  struct flood_point *pt = f->point;
  uint64_t now = iov_now_real();

  /* Stop for a point we do not hold is not an error (see agent/session.c). */
  if (!pt || pt->id != in->stop->point_id) return;
  if (pt->started) {
    /* The figures are the bench's output, not a log line: plain stderr. */
    fprintf(stderr,
            "flood-agent %s: sent %" PRIu64 " samples (%" PRIu64 " batches) from %" PRIu64
            "; stop after %.3f s\n",
            f->cfg->name, pt->samples, pt->batches, pt->start_at_ns,
            (double)(now > pt->start_at_ns ? now - pt->start_at_ns : 0) / 1e9);
    fprintf(stderr,
            "flood-agent %s: point %" PRIu64 ": %u flows, all sent %.3f s after T0, %" PRIu64
            " waits for a full queue\n",
            f->cfg->name, pt->id, pt->flows, (double)pt->send_ns / 1e9, pt->waits);
  }
  f->point = point_free(f->point);
}

static void on_heartbeat(struct flood *f, const iov_envelope *in) {
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = iov_now_real();
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  (void)send_msg(f, &e, in->msg_id);
  if (!f->cfg->error_text) return;
  /* --error-text: an Error about points 1..4, whichever runs now. */
  for (uint64_t id = 1; id <= 4; id++) {
    Iovbench__Error er = IOVBENCH__ERROR__INIT;
    er.point_id = id;
    er.message = (char *)f->cfg->error_text;
    iov_envelope x = IOVBENCH__ENVELOPE__INIT;
    x.body_case = IOVBENCH__ENVELOPE__BODY_ERROR;
    x.error = &er;
    (void)send_msg(f, &x, 0);
  }
}

static void on_clock_probe(struct flood *f, const iov_envelope *in, uint64_t t2) {
  Iovbench__ClockReply cr = IOVBENCH__CLOCK_REPLY__INIT;
  cr.t1_ns = in->clock_probe->t1_ns;
  cr.t2_ns = t2;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY;
  e.clock_reply = &cr;
  cr.t3_ns = iov_now_real();
  (void)send_msg(f, &e, in->msg_id);
}

/* Take one message off the socket and answer it.  Returns -EAGAIN when
 * nothing is queued. */
static int on_message(struct flood *f) {
  zframe_t *from = NULL;
  iov_envelope *in = NULL;
  char why[256];
  int r;

  r = iov_wire_recv(f->sock, &from, &in, &f->stats, why, sizeof(why));
  if (r == -EAGAIN) return r;
  if (r < 0) {
    iov_warn("dropped a message (%s)", why);
    if (from && r == -EPROTONOSUPPORT)
      send_error(f, from, 0, IOVBENCH__ERROR_CODE__ERR_VERSION, 0, "flood-agent '%s': %s", f->cfg->name, why);
    zframe_destroy(&from);
    return 0;
  }
  uint64_t t2 = iov_now_real();
  bool from_coord = f->coord_id && zframe_eq(f->coord_id, from);

  if (in->body_case == IOVBENCH__ENVELOPE__BODY_HELLO)
    on_hello(f, from, in);
  else if (!from_coord)
    send_error(f, from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
               "flood-agent '%s': %s before hello", f->cfg->name, iov_wire_body_name(in));
  else
    switch (in->body_case) {
    case IOVBENCH__ENVELOPE__BODY_PREPARE: on_prepare(f, in); break;
    case IOVBENCH__ENVELOPE__BODY_START: on_start(f, in); break;
    case IOVBENCH__ENVELOPE__BODY_STOP: on_stop(f, in); break;
    case IOVBENCH__ENVELOPE__BODY_HEARTBEAT: on_heartbeat(f, in); break;
    case IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE: on_clock_probe(f, in, t2); break;
    default:
      send_error(f, from, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, 0,
                 "flood-agent '%s': unexpected %s", f->cfg->name, iov_wire_body_name(in));
      break;
    }
  iov_wire_free(in);
  zframe_destroy(&from);
  return 0;
}

/* A plausible histogram: FLOOD_HIST_BUCKETS buckets from 20 us up, a bell
 * of counts; the Result's is the same times the number of samples. */
static void make_hist(struct flood *f) {
  uint64_t v[FLOOD_HIST_BUCKETS], sum = 0;

  for (unsigned j = 0; j < FLOOD_HIST_BUCKETS; j++) {
    unsigned d = j < FLOOD_HIST_BUCKETS / 2 ? j : FLOOD_HIST_BUCKETS - 1 - j;
    v[j] = 20000 + (uint64_t)j * 1500;
    f->hist_index[j] = iov_hist_index(v[j]);
    f->hist_count[j] = 1 + (uint64_t)d * d * 3;
    sum += f->hist_count[j] * v[j];
  }
  iovbench__histogram__init(&f->hist);
  f->hist.index = f->hist_index;
  f->hist.n_index = FLOOD_HIST_BUCKETS;
  f->hist.count = f->hist_count;
  f->hist.n_count = FLOOD_HIST_BUCKETS;
  f->hist.min_ns = v[0];
  f->hist.max_ns = v[FLOOD_HIST_BUCKETS - 1];
  f->hist.sum_ns = sum;
  f->hist_result = f->hist;
  f->hist_result.count = f->hist_result_count;
}

static int write_ready_file(const char *path, const char *endpoint) {
  char *tmp = NULL;
  FILE *fp;
  int r = 0;

  if (asprintf(&tmp, "%s.tmp", path) < 0) return -ENOMEM;
  fp = fopen(tmp, "we");
  if (!fp) {
    r = -errno;
    goto out;
  }
  fprintf(fp, "%s\n", endpoint);
  if (fclose(fp) != 0) r = -errno;
  /* rename: readers never see a half-written file. */
  if (r == 0 && rename(tmp, path) < 0) r = -errno;
out:
  free(tmp);
  return r;
}

/* CURVE server as a host agent (agent/agent.c): our key pair in the key
 * directory, made at first start, and coordinators/ let in by the ZAP
 * handler.  Before the bind. */
static int flood_auth_setup(struct flood *f) {
  char coords[PATH_MAX], err[512];
  bool created = false;
  int r = iov_key_load(f->cfg->key_dir, "agent", true, &f->cert, &created, err, sizeof(err));
  if (r < 0) return iov_log_errno(r, "Cannot load this agent's key: %s", err);
  if (r > 0) iov_warn("%s", err);
  if ((size_t)snprintf(coords, sizeof(coords), "%s/coordinators", f->cfg->key_dir) >= sizeof(coords))
    return iov_log_errno(-ENAMETOOLONG, "--key-dir '%s' is too long", f->cfg->key_dir);
  r = iov_zap_start(coords, NULL, &f->zap);
  if (r < 0) return iov_log_errno(r, "Cannot start the authentication handler: %m");
  iov_curve_server(f->sock, f->cert, IOV_AUTH_DOMAIN_CONTROL);
  iov_info("CURVE on: public key %s; coordinators let in from %s", zcert_public_txt(f->cert), coords);
  return 0;
}

static int flood_run(const struct flood_config *cfg) {
  struct flood f = { .cfg = cfg, .signal_fd = -1 };
  const char *const *names = iov_engine_names();
  sigset_t mask;
  int r;

  /* SIGINT and SIGTERM through a signalfd polled with the socket.  Blocked
   * before ZeroMQ starts its threads, so they inherit the mask. */
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) return iov_log_errno(-errno, "Failed to block signals: %m");
  f.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (f.signal_fd < 0) return iov_log_errno(-errno, "Failed to create a signalfd: %m");

  iovbench__inventory__init(&f.inventory);
  if (gethostname(f.hostname, sizeof(f.hostname) - 1) < 0) snprintf(f.hostname, sizeof(f.hostname), "flood");
  f.inventory.hostname = f.hostname;
  f.inventory.kernel = "flood";
  f.inventory.cpus_online = FLOOD_CPUS;
  f.inventory.agent_version = IOV_VERSION " (flood-agent)";
  for (size_t i = 0; names[i] && i < ELEMENTSOF(f.workloads); i++) {
    f.workloads[i] = (char *)names[i];
    f.inventory.n_workloads = i + 1;
  }
  f.inventory.workloads = f.workloads;
  make_hist(&f);

  zsys_handler_set(NULL); /* our signalfd, not czmq's handler */
  f.sock = zsock_new(ZMQ_ROUTER);
  if (!f.sock) {
    r = iov_log_errno(-ENOMEM, "Failed to create the control socket");
    goto out;
  }
  iov_wire_sock_setup(f.sock);
  /* EAGAIN on a full queue instead of a silent drop. */
  zsock_set_router_mandatory(f.sock, 1);
  if (cfg->key_dir && (r = flood_auth_setup(&f)) < 0) goto out;
  if (zsock_bind(f.sock, "%s", cfg->listen) < 0) {
    r = iov_log_errno(errno ? -errno : -EINVAL, "Failed to bind '%s': %m", cfg->listen);
    goto out;
  }
  char key_ep[PATH_MAX], err[512];
  if (iov_key_endpoint_for(cfg->listen, key_ep, sizeof(key_ep)) == 0 &&
      (r = iov_keyserver_start(key_ep, f.cert ? zcert_public_txt(f.cert) : NULL, &f.keyserver, err,
                               sizeof(err))) < 0) {
    iov_log_errno(r, "%s", err);
    goto out;
  }
  const char *endpoint = zsock_endpoint(f.sock) ? zsock_endpoint(f.sock) : cfg->listen;
  iov_info("listening on %s", endpoint);
  if (cfg->ready_file && (r = write_ready_file(cfg->ready_file, endpoint)) < 0) {
    iov_log_errno(r, "Failed to write '%s': %m", cfg->ready_file);
    goto out;
  }

  uint64_t last_rx = iov_now_mono();
  for (;;) {
    while (!f.stopping && (r = on_message(&f)) == 0) last_rx = iov_now_mono();
    if (f.stopping) break;
    r = wait_socket(&f, ZMQ_POLLIN, last_rx + cfg->idle_timeout_ns);
    if (r == -ECANCELED) break;
    if (r < 0) {
      iov_log_errno(r, "Failed to poll: %m");
      goto out;
    }
    if (r == 0) {
      char d[32];
      r = iov_log_errno(-IOV_E_TIMEOUT, "nothing received for %s; exiting",
                        iov_format_duration(d, sizeof(d), cfg->idle_timeout_ns));
      goto out;
    }
  }
  r = 0;
out:
  f.point = point_free(f.point);
  zframe_destroy(&f.coord_id);
  iov_keyserver_stop(&f.keyserver);
  zsock_destroy(&f.sock);
  iov_zap_stop(&f.zap);
  zcert_destroy(&f.cert);
  if (f.signal_fd >= 0) close(f.signal_fd);
  return r;
}

static void help(void) {
  printf("Usage: iovbench-flood-agent --listen=ENDPOINT [OPTIONS]\n"
         "\n"
         "A fake iovbench host agent for benchmarking coord: it answers the real\n"
         "protocol but runs no workload.  On Start it sends every sample of the\n"
         "point at once (duration / sample_interval batches, one sample per flow\n"
         "each), then the Result, and on Stop it prints on stderr\n"
         "  flood-agent NAME: sent S samples (B batches) from T0; stop after X.XXX s\n"
         "(T0: the start instant, ns since the epoch).  See tests/bench/ingest.\n"
         "\n"
         "  -l, --listen=ENDPOINT      ZeroMQ endpoint to bind (tcp://127.0.0.1:PORT,\n"
         "                             ipc:///path), required\n"
         "  -n, --name=NAME            identity reported to coord (default: flood)\n"
         "      --latency              a %u-bucket latency histogram in every sample\n"
         "      --cpus                 CPU samples (total, 0, 1) in every batch\n"
         "      --idle-timeout=DUR     exit (status 1) when nothing arrives for DUR\n"
         "                             (default 120s)\n"
         "      --ready-file=PATH      write the bound endpoint to PATH once listening\n"
         "      --key-dir=DIR          CURVE as a host agent: DIR/agent.key (made at\n"
         "                             first start), coordinators let in from\n"
         "                             DIR/coordinators/ (default: plaintext)\n"
         "      --absurd               (attack tests) batch 2 with a sequence number\n"
         "                             near 2^32, batch 4 with counters near 2^63,\n"
         "                             batch 5 (with --cpus) with a CPU time near 2^64\n"
         "      --error-text=TEXT      (attack tests) at every heartbeat, an Error with\n"
         "                             TEXT about points 1..4\n"
         "  -q, --quiet                log warnings and errors only\n"
         "  -h, --help                 show this help\n"
         "\n"
         "Exits 0 on SIGINT or SIGTERM.\n",
         FLOOD_HIST_BUCKETS);
}

/* What lib/auth.c's threads say (refused peers, failed handshakes). */
static void auth_log(const char *line) { iov_warn("%s", line); }

int main(int argc, char **argv) {
  enum { OPT_LATENCY = 1000, OPT_CPUS, OPT_IDLE, OPT_READY, OPT_KEY_DIR, OPT_ABSURD, OPT_ERROR_TEXT };
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "name", required_argument, NULL, 'n' },
    { "latency", no_argument, NULL, OPT_LATENCY },
    { "cpus", no_argument, NULL, OPT_CPUS },
    { "idle-timeout", required_argument, NULL, OPT_IDLE },
    { "ready-file", required_argument, NULL, OPT_READY },
    { "key-dir", required_argument, NULL, OPT_KEY_DIR },
    { "absurd", no_argument, NULL, OPT_ABSURD },
    { "error-text", required_argument, NULL, OPT_ERROR_TEXT },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { 0, 0, 0, 0 },
  };
  struct flood_config cfg = { .name = "flood", .idle_timeout_ns = 120 * IOV_NSEC_PER_SEC };
  char prefix[128];
  int c;

  while ((c = getopt_long(argc, argv, "l:n:qh", opts, NULL)) != -1) switch (c) {
    case 'l': cfg.listen = optarg; break;
    case 'n': cfg.name = optarg; break;
    case OPT_LATENCY: cfg.latency = true; break;
    case OPT_CPUS: cfg.cpus = true; break;
    case OPT_IDLE:
      if (iov_parse_duration(optarg, &cfg.idle_timeout_ns) < 0 || cfg.idle_timeout_ns < IOV_NSEC_PER_SEC) {
        fprintf(stderr, "iovbench-flood-agent: bad --idle-timeout '%s' (a duration of 1s or more)\n", optarg);
        return 2;
      }
      break;
    case OPT_READY: cfg.ready_file = optarg; break;
    case OPT_KEY_DIR: cfg.key_dir = optarg; break;
    case OPT_ABSURD: cfg.absurd = true; break;
    case OPT_ERROR_TEXT: cfg.error_text = optarg; break;
    case 'q': iov_log_set_level(IOV_LOG_WARNING); break;
    case 'h': help(); return 0;
    default: fprintf(stderr, "Try 'iovbench-flood-agent --help'.\n"); return 2;
    }
  if (optind < argc || !cfg.listen || !*cfg.name) {
    fprintf(stderr, "iovbench-flood-agent: %s. Try 'iovbench-flood-agent --help'.\n",
            optind < argc ? "unexpected argument"
            : !cfg.listen ? "--listen is required"
                          : "empty --name");
    return 2;
  }
  snprintf(prefix, sizeof(prefix), "flood-agent %s", cfg.name);
  iov_log_set_prefix(prefix);
  iov_auth_set_log(auth_log);
  return flood_run(&cfg) < 0 ? 1 : 0;
}
