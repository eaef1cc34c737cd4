/* udp_rr: UDP request/response, netperf UDP_RR style.  The client sends a
 * msg_size request and waits for a response_size response; each round trip
 * is one transaction, timed into the flow's latency histogram.  Up to
 * 'burst' transactions are outstanding at once (netperf's burst).
 *
 * Transaction ids.  The client numbers its transactions 0, 1, 2, ... (a
 * 64-bit counter) and writes the id into the first min(msg_size, 8) bytes
 * of the request, least significant byte first, so that every prefix of
 * the request carries the low-order bytes of the id.  The server answers
 * each request with the first response_size bytes of its buffer, which
 * begins with the request: the response echoes the request's first
 * min(msg_size, response_size) bytes.  The client therefore matches on
 * W = min(msg_size, response_size, 8) bytes, that is, on the id modulo
 * 2^(8W); a 1-byte request or response gives W = 1 and works.  Nothing else
 * is in the datagrams, so there is no minimum size beyond the runner's 1.
 *
 * The rule that keeps a truncated id unambiguous:
 *   - two outstanding transactions never share a truncated id (an id that
 *     would is skipped), so burst may be at most 2^(8W) / 2 (-EINVAL
 *     otherwise: 128 for W = 1);
 *   - a transaction unanswered after 'rr_timeout' is counted lost
 *     (stats.lost), and its slot is freed; a response that comes after
 *     that, or that matches nothing outstanding, is discarded, so nothing
 *     is counted twice;
 *   - for W <= 2 (ids wrap after 256 or 65536 transactions, which a fast
 *     loopback does in milliseconds), a truncated id whose transaction was
 *     lost is not reused for RR_QUARANTINE_MULT * rr_timeout, so a late
 *     response to it is rejected by its timing.  Only a response later than
 *     that quarantine (400 ms with the default 100 ms timeout) could be
 *     taken for a newer transaction with the same truncated id.  For W >= 3
 *     a wrap needs 16.7 million transactions within one response's delay,
 *     and no quarantine is kept.
 *
 * The client's socket wakes up every rr_timeout / 8 (at least 1 ms, at
 * most the runner's 200 ms; it sets its own SO_RCVTIMEO), so a lost
 * transaction is noticed at most that late and the client ends at most that
 * long after the window.  Transactions still outstanding when the window
 * ends are neither completed nor lost.
 *
 * Send errors EAGAIN/EWOULDBLOCK, ENOBUFS and ECONNREFUSED (the ICMP port
 * unreachable from an earlier request, when the server is gone) mean the
 * datagram did not leave; the client tries again after the next wake-up.
 * ECONNREFUSED on receive is ignored the same way: the transactions
 * outstanding time out and are counted lost.  Other errors end the flow.
 *
 * The server answers only its client: the address and port that said
 * hello with the point's token (handshake.c), and only requests of exactly
 * msg_size bytes; any other datagram is counted in stats.ignored and not
 * answered, so the server can be neither a reflector nor an amplifier for
 * anyone else.  It echoes on its bound, unconnected socket, and counts request + response bytes, 2 messages and 1
 * transaction for each response sent.  A response that cannot be sent
 * (EAGAIN, ENOBUFS, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH) is dropped: the
 * client counts that transaction lost.  UDP has no EOF: the server ends
 * RR_SERVER_LINGER_NS after the nominal window end (at most one 200 ms
 * socket wake-up later), or on a stop, with 0; it ignores the end_mono_ns it
 * is given (the runner's 30 s grace is meant for TCP).  The client sends no
 * end marker, as none could be told apart from a 1-byte request.
 *
 * Under a rate cap (cfg->rr_rate_bps, the agent's --max-rate) the client
 * begins a transaction at most every max(msg_size, response_size) x 8 /
 * cap seconds (pace.c), and the server answers at most that often (with
 * the client's burst + 1 as slack for the network's jitter; a request over
 * the cap is not answered and counts in stats.ignored).
 *
 * The hot loop (tests/bench/rr-limit holds it against a bare blocking
 * ping-pong): one clock read per transaction on each side.  The client's
 * stamp of a response's arrival is also the 'now' of the next turn (the
 * window's end, the timeouts, the next request's send stamp); only the
 * further requests of a burst read the clock again.  The server reads the
 * clock once per request (the cap, the linger's end, the flow's last
 * answer), and writes the flow's end (t_end_ns) once, when it returns. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "engine.h"
#include "timeutil.h"

#define RR_ID_MAX_BYTES 8
#define RR_QUARANTINE_MULT 4
/* Ids tried for one new transaction before waiting for a wake-up. */
#define RR_ID_TRIES 256
#define RR_SERVER_LINGER_NS (2 * IOV_NSEC_PER_SEC)
#define RR_WAKEUP_MIN_NS IOV_NSEC_PER_MSEC
#define RR_WAKEUP_MAX_NS (200 * IOV_NSEC_PER_MSEC)

struct rr_slot {
  uint64_t id; /* the full id; the wire carries id & mask */
  uint64_t t0; /* CLOCK_MONOTONIC before the send */
  bool busy;
};

/* Client state, allocated once before the loop. */
struct rr_client {
  uint64_t mask;   /* 2^(8W) - 1 */
  size_t id_bytes; /* written into the request: min(msg_size, 8) */
  uint64_t timeout;
  uint64_t quarantine;
  uint64_t next_id;
  uint64_t lost;
  uint32_t burst;
  uint32_t pending;
  struct iov_rr_pace pace;
  uint64_t *lost_at; /* W <= 2: when each truncated id was last lost, 0 = never */
  struct rr_slot slot[];
};

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

static bool id_usable(const struct rr_client *c, uint64_t id, uint64_t now) {
  uint64_t v = id & c->mask;
  if (c->lost_at && c->lost_at[v] && now - c->lost_at[v] < c->quarantine) return false;
  for (uint32_t i = 0; i < c->burst; i++)
    if (c->slot[i].busy && (c->slot[i].id & c->mask) == v) return false;
  return true;
}

static void slot_lost(struct iov_flow *f, struct rr_client *c, struct rr_slot *s, uint64_t now) {
  s->busy = false;
  c->pending--;
  c->lost++;
  if (c->lost_at) c->lost_at[s->id & c->mask] = now;
  IOV_FLOW_SET(f, lost, c->lost);
}

static void expire(struct iov_flow *f, struct rr_client *c, uint64_t now) {
  for (uint32_t i = 0; i < c->burst && c->pending; i++)
    if (c->slot[i].busy && now - c->slot[i].t0 >= c->timeout) slot_lost(f, c, &c->slot[i], now);
}

static bool io_retryable(int e) {
  return e == EINTR || e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ECONNREFUSED;
}

/* Send requests until 'burst' are outstanding.  Returns 0 (possibly having
 * sent none, when the socket or the ids are not available) or -errno. */
static int fill(struct iov_flow *f, struct rr_client *c, uint64_t now) {
  const size_t req = f->cfg->msg_size;
  uint8_t *buf = f->buf;
  bool first = true; /* the first send is stamped 'now', the caller's clock read */

  while (c->pending < c->burst) {
    uint64_t id = c->next_id;
    unsigned tries = 0;
    while (!id_usable(c, id, now)) {
      if (++tries == RR_ID_TRIES) return 0;
      id++;
    }
    if (!iov_rr_pace_take(&c->pace, now)) return 0; /* the cap: not yet */
    struct rr_slot *s = c->slot;
    while (s->busy) s++; /* pending < burst: there is a free one */
    for (size_t i = 0; i < c->id_bytes; i++) buf[i] = (uint8_t)(id >> (8 * i));
    uint64_t t0 = first ? now : iov_now_mono();
    first = false;
    ssize_t n = send(f->fd, buf, req, MSG_NOSIGNAL);
    if (n < 0) {
      if (io_retryable(errno)) return 0;
      return iov_flow_should_stop(f) ? -ECANCELED : -errno;
    }
    *s = (struct rr_slot){ .id = id, .t0 = t0, .busy = true };
    c->pending++;
    c->next_id = id + 1;
  }
  return 0;
}

/* A response arrived at t1 carrying truncated id v. */
static void complete(struct iov_flow *f, struct rr_client *c, uint64_t v, uint64_t t1) {
  for (uint32_t i = 0; i < c->burst; i++) {
    struct rr_slot *s = &c->slot[i];
    if (!s->busy || (s->id & c->mask) != v) continue;
    if (t1 - s->t0 >= c->timeout) {
      slot_lost(f, c, s, t1); /* too late: lost, as if it never came */
      return;
    }
    s->busy = false;
    c->pending--;
    iov_hist_record(&f->stats.hist, t1 - s->t0);
    iov_flow_add(f, f->cfg->msg_size + f->cfg->response_size, 2, 1);
    return;
  }
  /* Nothing outstanding has this id: a late answer to a lost one. */
}

/* The settings of udp_rr (its ops' .options). */
struct udp_rr_opts {
  struct iov_rr_opts rr; /* first: burst, busy_poll, tos */
  uint64_t rr_timeout;   /* ns */
};

static const struct iov_engine_opt udp_rr_options[] = {
  IOV_ENGINE_RR_OPTS(struct udp_rr_opts),
  { .name = "rr_timeout",
    .type = IOV_OPT_DURATION,
    .def = 100 * IOV_NSEC_PER_MSEC,
    .min = IOV_NSEC_PER_MSEC,
    .max = 60 * IOV_NSEC_PER_SEC,
    .sweepable = true,
    .offset = offsetof(struct udp_rr_opts, rr_timeout),
    .help = "A transaction unanswered this long counts as lost." },
  { 0 },
};

static const struct udp_rr_opts *opts_of(const struct iov_flow *f) { return iov_flow_opts(f); }

static int rr_client(struct iov_flow *f, uint64_t end_mono_ns) {
  const struct iov_engine_config *cfg = f->cfg;
  const struct udp_rr_opts *o = opts_of(f);
  const size_t w = min_size(min_size(cfg->msg_size, cfg->response_size), RR_ID_MAX_BYTES);
  const uint64_t mask = w == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * w)) - 1;
  const uint8_t *buf = f->buf;
  uint64_t wake = o->rr_timeout / 8;
  struct rr_client *c;
  int r = 0;

  if (o->rr.burst < 1 || o->rr.burst > IOV_ENGINE_MAX_BURST || o->rr_timeout == 0) return -EINVAL;
  if (w < 8 && o->rr.burst > (UINT64_C(1) << (8 * w)) / 2) return -EINVAL;
  c = calloc(1, sizeof(*c) + o->rr.burst * sizeof(struct rr_slot));
  if (!c) return -ENOMEM;
  if (w <= 2) {
    c->lost_at = calloc((size_t)mask + 1, sizeof(uint64_t));
    if (!c->lost_at) {
      free(c);
      return -ENOMEM;
    }
  }
  c->mask = mask;
  c->id_bytes = min_size(cfg->msg_size, RR_ID_MAX_BYTES);
  c->timeout = o->rr_timeout;
  c->quarantine =
      o->rr_timeout > UINT64_MAX / RR_QUARANTINE_MULT ? UINT64_MAX : RR_QUARANTINE_MULT * o->rr_timeout;
  c->burst = (uint32_t)o->rr.burst;
  iov_rr_pace_init(&c->pace, cfg, 1);

  /* Wake up often enough to see timeouts and the window's end on time,
   * and, when paced, the next transaction's turn. */
  if (c->pace.interval && c->pace.interval < wake) wake = c->pace.interval;
  if (wake < RR_WAKEUP_MIN_NS) wake = RR_WAKEUP_MIN_NS;
  if (wake > RR_WAKEUP_MAX_NS) wake = RR_WAKEUP_MAX_NS;
  struct timeval tv = { .tv_sec = 0, .tv_usec = (suseconds_t)(wake / IOV_NSEC_PER_USEC) };
  if (setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
    r = -errno;
    goto out;
  }

  uint64_t now = iov_now_mono(); /* the last clock read: after each wait */
  for (;;) {
    if (iov_flow_should_stop(f)) {
      r = -ECANCELED;
      break;
    }
    if (now >= end_mono_ns) break; /* what is still outstanding is left */
    expire(f, c, now);
    r = fill(f, c, now);
    if (r < 0) break;
    int rflags = MSG_TRUNC;
    if (c->pace.interval && c->pending < c->burst) {
      /* Paced, with a transaction to begin at its turn: wait for a
       * response only until then (poll's timer is finer than the
       * socket's timeout). */
      uint64_t due = c->pace.next > now ? c->pace.next - now : 0;
      struct pollfd p = { .fd = f->fd, .events = POLLIN };
      int ms = (int)((due + IOV_NSEC_PER_MSEC - 1) / IOV_NSEC_PER_MSEC);
      int pk = poll(&p, 1, ms);
      now = iov_now_mono();
      if (pk <= 0) continue;
      rflags |= MSG_DONTWAIT;
    }
    ssize_t n = recv(f->fd, f->buf, f->buf_size, rflags);
    now = iov_now_mono(); /* the response's arrival, and the next turn's clock */
    if (n < 0) {
      if (io_retryable(errno)) continue;
      r = iov_flow_should_stop(f) ? -ECANCELED : -errno;
      break;
    }
    if ((size_t)n < w) continue; /* too short to carry the id (or n == 0 after a stop) */
    uint64_t v = 0;
    for (size_t i = 0; i < w; i++) v |= (uint64_t)buf[i] << (8 * i);
    complete(f, c, v, now);
  }
out:
  free(c->lost_at);
  free(c);
  return r;
}

static bool send_droppable(int e) { return io_retryable(e) || e == EHOSTUNREACH || e == ENETUNREACH; }

/* The server's loop; *last is set to the CLOCK_MONOTONIC instant of each
 * answered request. */
static int rr_serve(struct iov_flow *f, uint64_t *last) {
  const uint64_t deadline = f->window_end_mono + RR_SERVER_LINGER_NS;
  const size_t resp = f->cfg->response_size;
  struct iov_rr_pace pace;

  iov_rr_pace_init(&pace, f->cfg, (uint32_t)opts_of(f)->rr.burst + 1);
  for (;;) {
    struct sockaddr_storage from;
    socklen_t from_len = sizeof(from);

    if (iov_flow_should_stop(f)) return -ECANCELED;
    ssize_t n = recvfrom(f->fd, f->buf, f->buf_size, MSG_TRUNC, (struct sockaddr *)&from, &from_len);
    if (n < 0 && !io_retryable(errno)) return iov_flow_should_stop(f) ? -ECANCELED : -errno;
    uint64_t now = iov_now_mono(); /* the one clock read per request */
    if (n > 0 && !iov_flow_udp_admit(f, f->buf, (size_t)n, &from, from_len))
      n = -1; /* a hello (answered) or not its client's (counted): no request */
    else if (n > 0 && ((size_t)n != f->cfg->msg_size || !iov_rr_pace_take(&pace, now))) {
      IOV_FLOW_SET(f, ignored, f->stats.ignored + 1); /* the wrong size, or over the cap: unanswered */
      n = -1;
    }
    if (n > 0) {
      *last = now; /* the flow ran until its last request, not through the linger */
      /* The buffer begins with the request, so the response echoes it. */
      ssize_t k = sendto(f->fd, f->buf, resp, MSG_NOSIGNAL, (struct sockaddr *)&from, from_len);
      if (k >= 0)
        iov_flow_add(f, (uint64_t)n + resp, 2, 1);
      else if (send_droppable(errno))
        iov_flow_add(f, (uint64_t)n, 1, 0);
      else
        return iov_flow_should_stop(f) ? -ECANCELED : -errno;
    }
    if (now >= deadline) return 0; /* UDP has no EOF */
  }
}

static int rr_server(struct iov_flow *f) {
  uint64_t last = 0;
  int r = rr_serve(f, &last);
  if (last) IOV_FLOW_SET(f, t_end_ns, iov_flow_stamp_at(f, last)); /* the last answer's */
  return r;
}

static int rr_run(struct iov_flow *f, uint64_t end_mono_ns) {
  return f->cfg->role == IOV_ROLE_SENDER ? rr_client(f, end_mono_ns) : rr_server(f);
}

const struct iov_engine_ops iov_engine_udp_rr = {
  .name = "udp_rr",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_UDP | IOV_ENG_F_RR | IOV_ENG_F_NEEDS_PEER,
  .help = "UDP request/response: msg_size request, response_size response, burst outstanding; "
          "latency histogram, rr_timeout per transaction",
  .flow_run = rr_run,
  .options = udp_rr_options,
  .option_struct_size = sizeof(struct udp_rr_opts),
  .sockopts = iov_rr_sockopts_apply,
};
