/* Exact-length socket I/O for engine hot loops.  Sockets carry a short
 * SO_RCVTIMEO/SO_SNDTIMEO (run.c), so a blocked call wakes up regularly and
 * the loop sees stop requests and deadlines without signals. */
#include <errno.h>
#include <sys/socket.h>

#include "engine.h"
#include "timeutil.h"

static ssize_t io_all(struct iov_flow *f, bool wr, void *buf, size_t n, uint64_t end_mono_ns) {
  size_t done = 0;
  while (done < n) {
    ssize_t k = wr ? send(f->fd, (char *)buf + done, n - done, MSG_NOSIGNAL)
                   : recv(f->fd, (char *)buf + done, n - done, 0);
    if (k > 0) {
      done += (size_t)k;
      continue;
    }
    if (k == 0) return done == 0 ? 0 : -EPIPE;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (end_mono_ns && iov_now_mono() >= end_mono_ns) return -ETIMEDOUT;
  }
  return (ssize_t)n;
}

ssize_t iov_flow_write_all(struct iov_flow *f, const void *buf, size_t n, uint64_t end_mono_ns) {
  return io_all(f, true, (void *)buf, n, end_mono_ns);
}

ssize_t iov_flow_read_all(struct iov_flow *f, void *buf, size_t n, uint64_t end_mono_ns) {
  return io_all(f, false, buf, n, end_mono_ns);
}
