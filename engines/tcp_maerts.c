/* tcp_maerts: bulk TCP in the reverse direction, netperf TCP_MAERTS style
 * ("stream" backwards).  The connection is set up as for tcp_stream (the
 * SENDER role connects, the RECEIVER role listens), but the data flows
 * from the listening side to the connecting side:
 *   RECEIVER (listens): writes msg_size messages until its nominal window
 *     ends, half-closes (SHUT_WR), then waits for the reader's close, so
 *     it ends only once the reader has counted every byte;
 *   SENDER (connects): reads until the writer's FIN; the runner then
 *     half-closes its socket, which is the writer's cue to end.
 * Each side counts the bytes it moved, so both count the same bytes. */
#include <errno.h>
#include <sys/socket.h>

#include "engine.h"
#include "timeutil.h"

/* The writer: its deadline is the nominal window end, not end_mono_ns
 * (for a receiver that includes the runner's grace for a silent peer). */
static int maerts_write(struct iov_flow *f, uint64_t end_mono_ns) {
  int r = iov_flow_bulk_write(f, f->window_end_mono);
  if (r < 0) return r;

  /* The reader sees EOF after the last byte, and answers with its own
   * close once it has counted everything. */
  if (shutdown(f->fd, SHUT_WR) < 0) return -errno;
  for (;;) {
    ssize_t k = recv(f->fd, f->buf, f->buf_size, 0);
    if (k == 0) return 0;
    if (k > 0) continue; /* the reader sends nothing; ignore it if it does */
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (iov_now_mono() >= end_mono_ns) return -ETIMEDOUT;
  }
}

/* The reader: until the writer's FIN.  The runner gives a SENDER the
 * window end as its deadline, but the last bytes arrive after it, so a
 * silent writer is given the same grace a stream receiver gets. */
static int maerts_read(struct iov_flow *f, uint64_t end_mono_ns) {
  return iov_flow_bulk_read(f, end_mono_ns + IOV_ENGINE_DRAIN_GRACE_NS);
}

static int maerts_run(struct iov_flow *f, uint64_t end_mono_ns) {
  return f->cfg->role == IOV_ROLE_RECEIVER ? maerts_write(f, end_mono_ns) : maerts_read(f, end_mono_ns);
}

/* The settings of tcp_maerts (its ops' .options). */
struct tcp_maerts_opts {
  struct iov_sock_opts sock;
};

static const struct iov_engine_opt tcp_maerts_options[] = {
  IOV_ENGINE_SOCK_OPTS(struct tcp_maerts_opts),
  { 0 },
};

const struct iov_engine_ops iov_engine_tcp_maerts = {
  .name = "tcp_maerts",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_NEEDS_PEER,
  .help = "bulk TCP, receiver to sender: the listening side writes (msg_size per write)",
  .flow_run = maerts_run,
  .options = tcp_maerts_options,
  .option_struct_size = sizeof(struct tcp_maerts_opts),
  .sockopts = iov_sock_opts_apply,
};
