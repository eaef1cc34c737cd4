/* tcp_crr: TCP connect/request/response, netperf TCP_CRR style.  Every
 * transaction is a new connection: the client (SENDER) connects to the
 * flow's port, sends a msg_size request, reads the response_size response
 * and closes; the server (RECEIVER) accepts, reads the request, writes the
 * response and closes.  The client times each transaction, from before
 * socket() to after close(), into the flow's histogram.
 *
 * Closing.  The client closes with SO_LINGER {1, 0}, that is with a RST,
 * once it has read the whole response (so nothing is lost).  Neither end
 * then keeps a TIME_WAIT socket: the client because it never sends a FIN,
 * the server because it never receives one (its FIN_WAIT socket dies on
 * the RST).  With plain closes, whichever end closes first keeps a
 * TIME_WAIT socket for 60 s, per transaction, at tens of thousands of
 * transactions a second; when that is the client, its ~28,000 ephemeral
 * ports run out within a second or two (EADDRNOTAVAIL) wherever
 * tcp_tw_reuse does not apply (its default covers loopback only).  The
 * price is a RST per transaction instead of a FIN exchange, as netperf's
 * TCP_CRR effectively risks too; it is part of what is measured.
 *
 * Ending.  A transaction begun before the window's end is finished (up to
 * CRR_GRACE_NS more), so client and server count the same transactions;
 * one not done by then is counted in stats.lost.  Then the client opens one
 * last connection and half-closes it without a request: the server reads
 * EOF where a request should start and ends.  A server that never sees it
 * (a client stopped or gone) ends CRR_SERVER_GRACE_NS after the window.
 *
 * Before all that, in the prepare, the client says hello with the point's
 * token on one connection of its own (handshake.c); the server then takes
 * connections from that host only.  Under a rate cap (cfg->rr_rate_bps,
 * the agent's --max-rate) the client begins a transaction at most every
 * max(msg_size, response_size) x 8 / cap seconds, and the server answers
 * at most that often (pace.c). */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "timeutil.h"

#define CRR_GRACE_NS (1ULL * IOV_NSEC_PER_SEC)
#define CRR_SERVER_GRACE_NS (2ULL * IOV_NSEC_PER_SEC)

/* Exactly n bytes of the flow's buffer on a per-transaction socket. */
static ssize_t crr_io(struct iov_flow *f, int fd, bool wr, size_t n, uint64_t until_mono_ns) {
  return iov_flow_fd_io(f, fd, wr, f->buf, n, until_mono_ns);
}

static void close_reset(int fd) {
  struct linger l = { .l_onoff = 1, .l_linger = 0 };
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

/* The end-of-flow mark: a connection with no request.  Waits for the
 * server's close, so the server has ended when the client does; errors
 * are ignored (the server then ends on its own deadline). */
static void crr_goodbye(struct iov_flow *f) {
  uint64_t until = iov_now_mono() + CRR_GRACE_NS;
  int fd = iov_flow_connect(f, until);
  if (fd < 0) return;
  if (shutdown(fd, SHUT_WR) == 0) (void)crr_io(f, fd, false, 1, until);
  close_reset(fd);
}

static int crr_client(struct iov_flow *f, uint64_t end_mono_ns) {
  const size_t req = f->cfg->msg_size, resp = f->cfg->response_size;
  const uint64_t until = end_mono_ns + CRR_GRACE_NS;
  struct iov_rr_pace pace;

  iov_rr_pace_init(&pace, f->cfg, 1);
  for (;;) {
    uint64_t t0 = iov_now_mono();
    ssize_t k;
    int fd;

    if (t0 >= end_mono_ns) break;
    /* The runner's stop cannot reach this thread's sockets: look. */
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (pace.interval) {
      if (iov_rr_pace_wait(f, &pace) < 0) return -ECANCELED;
      t0 = iov_now_mono();
      if (t0 >= end_mono_ns) break;
    }
    fd = iov_flow_connect(f, until);
    if (fd < 0) {
      if (fd == -ETIMEDOUT && iov_now_mono() >= until) goto lost;
      return fd;
    }
    k = crr_io(f, fd, true, req, until);
    if (k > 0) k = crr_io(f, fd, false, resp, until);
    close_reset(fd);
    if (k == -ETIMEDOUT) goto lost;
    if (k == 0) return -EPIPE; /* the server closed without answering */
    if (k < 0) return (int)k;
    iov_hist_record(&f->stats.hist, iov_now_mono() - t0);
    iov_flow_add(f, req + resp, 2, 1);
  }
  crr_goodbye(f);
  return 0;
lost:
  IOV_FLOW_SET(f, lost, f->stats.lost + 1);
  crr_goodbye(f);
  return 0;
}

static int crr_server(struct iov_flow *f) {
  const size_t req = f->cfg->msg_size, resp = f->cfg->response_size;
  const uint64_t until = f->window_end_mono + CRR_SERVER_GRACE_NS;
  struct iov_rr_pace pace;

  iov_rr_pace_init(&pace, f->cfg, 2);
  for (;;) {
    int fd = iov_flow_accept(f, until);
    ssize_t k;

    if (fd == -ETIMEDOUT) return 0; /* no end mark: the client is gone */
    if (fd < 0) return fd;
    k = crr_io(f, fd, false, req, until);
    if (k > 0 && iov_rr_pace_wait(f, &pace) < 0) k = -ECANCELED;
    if (k > 0) k = crr_io(f, fd, true, resp, until);
    /* The client reads the response before its RST, so a plain close
     * loses nothing; the server's FIN_WAIT socket dies on that RST. */
    close(fd);
    if (k > 0) {
      iov_flow_add(f, req + resp, 2, 1);
      continue;
    }
    if (k == 0) return 0;          /* the end mark */
    if (k == -ETIMEDOUT) return 0; /* past the grace: the client is gone */
    if (k == -ECANCELED) return (int)k;
    /* The client gave up on this transaction (its deadline, a reset):
     * its count does not have it either; go on with the next. */
    if (k == -ECONNRESET || k == -EPIPE) continue;
    return (int)k;
  }
}

static int crr_run(struct iov_flow *f, uint64_t end_mono_ns) {
  return f->cfg->role == IOV_ROLE_SENDER ? crr_client(f, end_mono_ns) : crr_server(f);
}

/* The settings of tcp_crr (its ops' .options). */
struct tcp_crr_opts {
  struct iov_sock_opts sock;
};

static const struct iov_engine_opt tcp_crr_options[] = {
  IOV_ENGINE_SOCK_OPTS(struct tcp_crr_opts),
  { 0 },
};

const struct iov_engine_ops iov_engine_tcp_crr = {
  .name = "tcp_crr",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_RR | IOV_ENG_F_NEEDS_PEER | IOV_ENG_F_CONN_PER_TRANS,
  .help = "TCP connect/request/response: a new connection per transaction "
          "(closed with a reset); latency histogram",
  .flow_run = crr_run,
  .options = tcp_crr_options,
  .option_struct_size = sizeof(struct tcp_crr_opts),
  .sockopts = iov_sock_opts_apply,
};
