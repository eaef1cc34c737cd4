/* tcp_rr: TCP request/response, netperf TCP_RR style.  The client sends a
 * msg_size request and waits for a response_size response; each round trip
 * is one transaction, timed into the flow's latency histogram.
 *
 * Burst (netperf's -b): the client keeps burst transactions
 * outstanding.  It sends 'burst' requests up front, then one more for each
 * response.  Responses come back in order on the one connection, so a ring
 * of the requests' start times gives each transaction its own latency.
 * When the window ends the client starts no more requests and drains the
 * outstanding responses (at most RR_DRAIN_NS): every transaction it counts
 * has its latency recorded, and the server counts the same transactions.
 * Responses not back by then are counted in stats.lost.
 *
 * The client never blocks in send while responses are waiting: requests
 * go out with MSG_DONTWAIT, and a full send buffer makes it wait for
 * either direction.  Otherwise large messages with a burst could fill
 * both directions' buffers and leave client and server each blocked in
 * send.
 *
 * Under a rate cap (cfg->rr_rate_bps, the agent's --max-rate), the client
 * begins a request at most every max(msg_size, response_size) x 8 / cap
 * seconds (pace.c), reading responses while it waits for its turn; the
 * server answers at most that often too (its answer waits).
 *
 * The hot loop (tests/bench/rr-limit holds it against a bare blocking
 * ping-pong): with burst 1 and no cap a transaction is one send and one
 * blocking recv, as in the bare loop, and one clock read: the instant a
 * response completes is both its receive stamp and the send stamp of the
 * next request (they are tens of nanoseconds apart: the histogram
 * record).  The clock is read again after a send only when another
 * request may follow at once (burst > 1, or paced), so that each request
 * of a burst has its own stamp.  A stop needs no poll per round trip: it
 * shuts the socket down, which ends the blocking recv, and an idle socket
 * wakes up every 200 ms (its SO_RCVTIMEO). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "engine.h"
#include "timeutil.h"

/* Drain of the outstanding responses after the window. */
#define RR_DRAIN_NS (2ULL * IOV_NSEC_PER_SEC)
/* Wake-up of a wait for either direction (sockets carry a 200 ms timeout
 * for the blocking calls). */
#define RR_POLL_MS 200

/* One step of the client's receive side: up to the rest of the current
 * response.  'wait' = block (up to the socket's timeout).  Returns bytes
 * read, 0 if none were ready, or -errno (-EPIPE: the server closed). */
static ssize_t rr_recv(struct iov_flow *f, size_t want, bool wait) {
  ssize_t k = recv(f->fd, f->buf, want, wait ? 0 : MSG_DONTWAIT);
  if (k > 0) return k;
  if (k == 0) return -EPIPE;
  if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  return -errno;
}

/* The settings of tcp_rr (its ops' .options). */
struct tcp_rr_opts {
  struct iov_rr_opts rr; /* first: burst, busy_poll, tos */
};

static const struct iov_engine_opt tcp_rr_options[] = {
  IOV_ENGINE_RR_OPTS(struct tcp_rr_opts),
  { 0 },
};

static const struct tcp_rr_opts *opts_of(const struct iov_flow *f) { return iov_flow_opts(f); }

static int rr_client(struct iov_flow *f, uint64_t end_mono_ns) {
  const size_t req = f->cfg->msg_size, resp = f->cfg->response_size;
  const uint32_t burst = (uint32_t)opts_of(f)->rr.burst;
  const uint64_t drain_end = end_mono_ns + RR_DRAIN_NS;
  uint64_t started = 0, done = 0;    /* requests begun, responses complete */
  size_t send_off = 0, recv_off = 0; /* progress in the current ones */
  uint64_t *t_sent;
  struct iov_rr_pace pace;
  int r;

  iov_rr_pace_init(&pace, f->cfg, 1);
  if (burst > IOV_ENGINE_MAX_BURST) return -EINVAL;
  t_sent = malloc(burst * sizeof(*t_sent)); /* ring: request i at i % burst */
  if (!t_sent) return -ENOMEM;

  /* now: the latest clock read, refreshed where the loop waited or
   * received (see the hot loop above). */
  uint64_t now = iov_now_mono();
  for (;;) {
    bool closing = now >= end_mono_ns;
    /* A request already begun is always finished: the server waits for
     * all of it. */
    bool want_new = send_off == 0 && !closing && started - done < burst;
    bool can_send = send_off > 0 || (want_new && iov_rr_pace_take(&pace, now));
    ssize_t k;

    if (closing && started == done) {
      r = 0;
      break;
    }
    if (can_send) {
      k = send(f->fd, (const char *)f->buf + send_off, req - send_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        if (send_off == 0) t_sent[started++ % burst] = now;
        send_off += (size_t)k;
        if (send_off == req) send_off = 0;
        /* Burst 1 unpaced: what follows is the blocking recv. */
        if (burst > 1 || pace.interval) now = iov_now_mono();
        continue;
      }
      if (k == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
        r = k == 0 ? -EPIPE : -errno;
        break;
      }
      /* The send buffer is full: wait until it drains or a response
       * comes; read responses meanwhile. */
      struct pollfd p = { .fd = f->fd, .events = POLLOUT | (started > done ? POLLIN : 0) };
      int pk = poll(&p, 1, RR_POLL_MS);
      if (pk < 0 && errno != EINTR) {
        r = -errno;
        break;
      }
      now = iov_now_mono();
      k = pk > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) && started > done
              ? rr_recv(f, resp - recv_off, false)
              : 0;
    } else if (want_new) {
      /* Paced: not its turn yet.  Read responses until it is. */
      uint64_t wait = pace.next > now ? pace.next - now : 0;
      int ms = (int)(wait / IOV_NSEC_PER_MSEC) + 1;
      struct pollfd p = { .fd = f->fd, .events = POLLIN };
      int pk = poll(&p, 1, ms < RR_POLL_MS ? ms : RR_POLL_MS);
      if (pk < 0 && errno != EINTR) {
        r = -errno;
        break;
      }
      now = iov_now_mono();
      k = pk > 0 && started > done ? rr_recv(f, resp - recv_off, false) : 0;
    } else
      k = rr_recv(f, resp - recv_off, true); /* nothing to send: wait for a response */

    if (k < 0) {
      r = (int)k;
      break;
    }
    if (k == 0) {
      if (iov_flow_should_stop(f)) {
        r = -ECANCELED;
        break;
      }
      now = iov_now_mono();
      if (now >= drain_end) {
        /* The server did not answer in time: these never complete. */
        IOV_FLOW_SET(f, lost, f->stats.lost + (started - done));
        r = 0;
        break;
      }
      continue;
    }
    /* The receive stamp, and the next request's send stamp. */
    now = iov_now_mono();
    recv_off += (size_t)k;
    if (recv_off == resp) {
      recv_off = 0;
      iov_hist_record(&f->stats.hist, now - t_sent[done++ % burst]);
      iov_flow_add(f, req + resp, 2, 1);
    }
  }
  free(t_sent);
  return r;
}

static int rr_server(struct iov_flow *f, uint64_t end_mono_ns) {
  const size_t req = f->cfg->msg_size, resp = f->cfg->response_size;
  struct iov_rr_pace pace;

  iov_rr_pace_init(&pace, f->cfg, (uint32_t)opts_of(f)->rr.burst + 1);
  for (;;) {
    ssize_t k = iov_flow_read_all(f, f->buf, req, end_mono_ns);
    if (k == 0) return 0; /* the client closed between transactions */
    if (k > 0) k = iov_rr_pace_wait(f, &pace);
    if (k == 0) k = iov_flow_write_all(f, f->buf, resp, end_mono_ns);
    if (k < 0) return k == -EPIPE ? 0 : (int)k;
    iov_flow_add(f, req + resp, 2, 1);
  }
}

static int rr_run(struct iov_flow *f, uint64_t end_mono_ns) {
  return f->cfg->role == IOV_ROLE_SENDER ? rr_client(f, end_mono_ns) : rr_server(f, end_mono_ns);
}

const struct iov_engine_ops iov_engine_tcp_rr = {
  .name = "tcp_rr",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_RR | IOV_ENG_F_NEEDS_PEER,
  .help = "TCP request/response: msg_size request, response_size response; latency histogram",
  .flow_run = rr_run,
  .options = tcp_rr_options,
  .option_struct_size = sizeof(struct tcp_rr_opts),
  .sockopts = iov_rr_sockopts_apply,
};
