/* Exact-length socket I/O for engine hot loops.  Sockets carry a short
 * SO_RCVTIMEO/SO_SNDTIMEO (run.c), so a blocked call wakes up regularly and
 * the loop sees stop requests and deadlines without signals. */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine.h"
#include "timeutil.h"

ssize_t iov_flow_fd_io(struct iov_flow *f, int fd, bool wr, void *buf, size_t n, uint64_t end_mono_ns) {
  size_t done = 0;
  while (done < n) {
    ssize_t k =
        wr ? send(fd, (char *)buf + done, n - done, MSG_NOSIGNAL) : recv(fd, (char *)buf + done, n - done, 0);
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
  return iov_flow_fd_io(f, f->fd, true, (void *)buf, n, end_mono_ns);
}

ssize_t iov_flow_read_all(struct iov_flow *f, void *buf, size_t n, uint64_t end_mono_ns) {
  return iov_flow_fd_io(f, f->fd, false, buf, n, end_mono_ns);
}

int iov_flow_bulk_write(struct iov_flow *f, uint64_t until_mono_ns) {
  const size_t msg = f->cfg->msg_size;
  size_t off = 0; /* bytes of the current message already sent */

  for (;;) {
    /* One clock read per send: through the vDSO, cheap beside a syscall. */
    if (iov_now_mono() >= until_mono_ns) return 0;
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

int iov_flow_bulk_read(struct iov_flow *f, uint64_t until_mono_ns) {
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
    if (k == 0) return 0; /* the writer's FIN: the flow is complete */
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (iov_now_mono() >= until_mono_ns) return -ETIMEDOUT;
  }
}

int iov_sock_opts_apply(const struct iov_engine_config *cfg, int fd) {
  const struct iov_sock_opts *o = cfg->opts;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int tos;

  if (!o || !o->tos) return 0;
  tos = (int)o->tos;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
  if (ss.ss_family == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos)) < 0) return -errno;
    /* The same for IPv4 through an IPv6 socket (mapped addresses). */
    (void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
    return 0;
  }
  return setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) < 0 ? -errno : 0;
}

int iov_rr_sockopts_apply(const struct iov_engine_config *cfg, int fd) {
  const struct iov_rr_opts *o = cfg->opts;
  int r = iov_sock_opts_apply(cfg, fd), v;

  if (r < 0 || !o || !o->busy_poll) return r;
  v = (int)o->busy_poll;
  return setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v)) < 0 ? -errno : 0;
}
