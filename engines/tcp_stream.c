/* tcp_stream: bulk TCP from sender to receiver, netperf TCP_STREAM style.
 * The sender writes msg_size messages until the window ends; the receiver
 * reads until the sender's FIN and counts every byte. */
#include <errno.h>
#include <sys/socket.h>

#include "engine.h"
#include "timeutil.h"

static int stream_send(struct iov_flow *f, uint64_t end_mono_ns) {
  const size_t msg = f->cfg->msg_size;
  size_t off = 0; /* bytes of the current message already sent */

  for (;;) {
    /* One clock read per send: through the vDSO, cheap beside a syscall. */
    if (iov_now_mono() >= end_mono_ns) return 0;
    ssize_t k = send(f->fd, (char *)f->buf + off, msg - off, MSG_NOSIGNAL);
    if (k > 0) {
      off += (size_t)k;
      unsigned full = 0;
      if (off == msg) {
        off = 0;
        full = 1;
      }
      iov_flow_add(f, (uint64_t)k, full, 0);
      continue;
    }
    if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (iov_flow_should_stop(f)) return -ECANCELED;
      continue;
    }
    return k == 0 ? -EPIPE : -errno;
  }
}

static int stream_recv(struct iov_flow *f, uint64_t end_mono_ns) {
  const uint64_t msg = f->cfg->msg_size;
  uint64_t partial = 0;

  for (;;) {
    ssize_t k = recv(f->fd, f->buf, f->buf_size, 0);
    if (k > 0) {
      partial += (uint64_t)k;
      uint64_t full = partial / msg;
      partial -= full * msg;
      iov_flow_add(f, (uint64_t)k, full, 0);
      continue;
    }
    if (k == 0) return 0; /* the sender's FIN: the flow is complete */
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (iov_now_mono() >= end_mono_ns) return -ETIMEDOUT;
  }
}

static int stream_run(struct iov_flow *f, uint64_t end_mono_ns) {
  return f->cfg->role == IOV_ROLE_SENDER ? stream_send(f, end_mono_ns) : stream_recv(f, end_mono_ns);
}

const struct iov_engine_ops iov_engine_tcp_stream = {
  .name = "tcp_stream",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_NEEDS_PEER,
  .help = "bulk TCP, sender to receiver (msg_size per write)",
  .flow_run = stream_run,
};
