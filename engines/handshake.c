/* The hello on the sockets (issue 14): the sender's side in the prepare,
 * the receiver's in its flow threads, and the filter every UDP receiver
 * applies to what it receives.  The messages themselves are hello.c's;
 * docs/protocol.md describes the exchange.
 *
 * Sender, per flow, in iov_engine_run_prepare() (so before the Ready,
 * long before the start instant): TCP sends the hello as the connection's
 * first bytes and reads the 40-byte answer; tcp_crr does the same on one
 * connection of its own, closed after; UDP sends the hello from the very
 * socket (5-tuple) it will stream from, again after 100, 200, 400, ... ms
 * without an answer, at most IOV_HELLO_MAX_SENDS times.  All within
 * connect_timeout_ns.  Without a correct answer the flow sent nothing but
 * its hellos, and the prepare fails naming the receiver.
 *
 * Receiver: its flow threads run from the prepare on and take the hello
 * before the start.  TCP: a connection whose first 40 bytes are not a
 * hello made with the token (within HELLO_RX_NS), or that comes from
 * another address than the expected sender's, is closed unanswered and
 * counted in stats.ignored; the flow takes the next one.  UDP: the first
 * hello with the token binds the flow to its source's address and port;
 * from then on only that 5-tuple's datagrams are data, and everything
 * else is counted in stats.ignored and never answered. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "engine.h"
#include "timeutil.h"

/* How long a receiver waits for the hello on a connection it accepted. */
#define HELLO_RX_NS (1 * IOV_NSEC_PER_SEC)
/* The first UDP retry; each next one waits twice as long. */
#define HELLO_RETRY_NS (100 * IOV_NSEC_PER_MSEC)
/* Receivers look at the start flag this often before the start. */
#define GO_POLL_MS 5

static void count_ignored(struct iov_flow *f) { IOV_FLOW_SET(f, ignored, f->stats.ignored + 1); }

static void io_timeouts(int fd) {
  struct timeval tv = { .tv_sec = 0, .tv_usec = 200 * 1000 };
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The IP address of sa, as 16 bytes (IPv4 as IPv4-mapped IPv6). */
static bool ip_of(const struct sockaddr_storage *sa, uint8_t out[16]) {
  if (sa->ss_family == AF_INET) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return true;
  }
  if (sa->ss_family == AF_INET6) {
    memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    return true;
  }
  return false;
}

static uint16_t port_of(const struct sockaddr_storage *sa) {
  return ntohs(sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                         : ((const struct sockaddr_in *)sa)->sin_port);
}

static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  uint8_t x[16], y[16];
  return ip_of(a, x) && ip_of(b, y) && memcmp(x, y, 16) == 0 && port_of(a) == port_of(b);
}

bool iov__flow_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  uint8_t x[16], y[16];
  return ip_of(a, x) && ip_of(b, y) && memcmp(x, y, 16) == 0;
}

/* A receiver's check of where a hello comes from: the expected sender's
 * address, when the Prepare named one. */
static bool from_expected(const struct iov_flow *f, const struct sockaddr_storage *from) {
  const char *want = f->cfg->peer_address;
  struct sockaddr_storage w = { 0 };
  uint8_t x[16], y[16];

  if (f->cfg->role != IOV_ROLE_RECEIVER || !want || !*want) return true;
  if (inet_pton(AF_INET, want, &((struct sockaddr_in *)&w)->sin_addr) == 1)
    w.ss_family = AF_INET;
  else if (inet_pton(AF_INET6, want, &((struct sockaddr_in6 *)&w)->sin6_addr) == 1)
    w.ss_family = AF_INET6;
  else
    return false;
  return ip_of(&w, x) && ip_of(from, y) && memcmp(x, y, 16) == 0;
}

/* ---- sender ------------------------------------------------------------ */

static void peer_text(const struct iov_flow *f, char *buf, size_t n) {
  const char *a = f->cfg->peer_address ? f->cfg->peer_address : "?";
  snprintf(buf, n, strchr(a, ':') ? "[%s]:%u" : "%s:%u", a, port_of(&f->peer));
}

static int fail(const struct iov_flow *f, int err, char *why, size_t n, const char *detail) {
  char where[80];
  peer_text(f, where, sizeof(where));
  snprintf(why, n, "receiver at %s did not answer the point's token: nothing sent (%s)", where, detail);
  return err;
}

static int hello_stream(struct iov_flow *f, int fd, uint64_t until, char *why, size_t n) {
  uint8_t nonce[16], hello[IOV_HELLO_LEN], ans[IOV_HELLO_LEN];
  int k = iov_hello_make(f->cfg->token, nonce, hello);
  if (k < 0) return k;
  ssize_t m = iov_flow_fd_io(f, fd, true, hello, sizeof(hello), until);
  if (m == -ECANCELED) return -ECANCELED;
  if (m < 0) return fail(f, (int)m, why, n, "the hello could not be sent");
  m = iov_flow_fd_io(f, fd, false, ans, sizeof(ans), until);
  if (m == -ECANCELED) return -ECANCELED;
  if (m == -ETIMEDOUT) return fail(f, -ETIMEDOUT, why, n, "no answer in time");
  if (m <= 0) return fail(f, m == 0 ? -ECONNRESET : (int)m, why, n, "it closed the connection");
  if (!iov_hello_answer_ok(f->cfg->token, nonce, ans, sizeof(ans)))
    return fail(f, -EPROTO, why, n, "a wrong answer");
  return 0;
}

static int hello_dgram(struct iov_flow *f, uint64_t until, char *why, size_t n) {
  uint8_t nonce[16], hello[IOV_HELLO_LEN], ans[IOV_HELLO_LEN + 1];
  uint64_t next = iov_now_mono(), gap = HELLO_RETRY_NS;
  unsigned sent = 0;
  char detail[96];
  int k = iov_hello_make(f->cfg->token, nonce, hello);
  if (k < 0) return k;

  for (;;) {
    uint64_t now = iov_now_mono();
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (now >= until) break;
    if (sent < IOV_HELLO_MAX_SENDS && now >= next) {
      if (send(f->fd, hello, sizeof(hello), MSG_NOSIGNAL) < 0 && errno == ECONNREFUSED)
        return fail(f, -ECONNREFUSED, why, n, "its port is unreachable");
      sent++; /* or not: a full buffer is one more reason to wait */
      next = now + gap;
      gap *= 2;
    }
    uint64_t wake = sent < IOV_HELLO_MAX_SENDS && next < until ? next : until;
    struct pollfd p = { .fd = f->fd, .events = POLLIN };
    int ms = (int)((wake > now ? wake - now : 0) / IOV_NSEC_PER_MSEC) + 1;
    if (ms > 200) ms = 200;
    k = poll(&p, 1, ms);
    if (k < 0 && errno != EINTR) return -errno;
    if (k <= 0) continue;
    ssize_t m = recv(f->fd, ans, sizeof(ans), MSG_DONTWAIT | MSG_TRUNC);
    if (m < 0 && errno == ECONNREFUSED) return fail(f, -ECONNREFUSED, why, n, "its port is unreachable");
    /* Anything but the answer (the connected socket gets datagrams from
     * the receiver's address and port only) is dropped. */
    if (m == IOV_HELLO_LEN && iov_hello_answer_ok(f->cfg->token, nonce, ans, IOV_HELLO_LEN)) return 0;
  }
  snprintf(detail, sizeof(detail), "no answer in %.1f s to %u hellos",
           (double)f->cfg->connect_timeout_ns / 1e9, sent);
  return fail(f, -ETIMEDOUT, why, n, detail);
}

int iov__hello_sender(struct iov_flow *f, unsigned flags, char *why, size_t n) {
  /* An engine that needs no peer (a test's probe) sends to none. */
  if (!(flags & IOV_ENG_F_NEEDS_PEER)) return 0;
  uint64_t until = iov_now_mono() + f->cfg->connect_timeout_ns;
  if (flags & IOV_ENG_F_UDP) return hello_dgram(f, until, why, n);
  if (!(flags & IOV_ENG_F_CONN_PER_TRANS)) return hello_stream(f, f->fd, until, why, n);
  /* tcp_crr: its own connection, closed after the answer. */
  int fd = iov_flow_connect(f, until);
  if (fd < 0) return fd;
  int k = hello_stream(f, fd, until, why, n);
  close(fd);
  return k;
}

/* ---- receiver ------------------------------------------------------------ */

int iov__hello_accept(struct iov_flow *f, uint64_t until_mono, bool until_go) {
  for (;;) {
    struct pollfd p = { .fd = f->listen_fd, .events = POLLIN };
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (until_go && iov__flow_go(f)) return -EAGAIN;
    if (!until_go && until_mono && iov_now_mono() >= until_mono) return -ETIMEDOUT;
    int k = poll(&p, 1, until_go ? GO_POLL_MS : 200);
    if (k < 0 && errno != EINTR) return -errno;
    if (k <= 0) continue;

    struct sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    int fd = accept4(f->listen_fd, (struct sockaddr *)&from, &from_len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (iov_flow_should_stop(f)) return -ECANCELED;
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      return -errno;
    }
    io_timeouts(fd);
    uint8_t buf[IOV_HELLO_LEN], ans[IOV_HELLO_LEN];
    uint64_t until = iov_now_mono() + HELLO_RX_NS;
    ssize_t m = from_expected(f, &from) ? iov_flow_fd_io(f, fd, false, buf, sizeof(buf), until) : 0;
    if (m == IOV_HELLO_LEN && iov_hello_answer(f->cfg->token, buf, sizeof(buf), ans) &&
        iov_flow_fd_io(f, fd, true, ans, sizeof(ans), until) == IOV_HELLO_LEN) {
      f->hello_peer = from;
      f->hello_peer_len = from_len;
      return fd;
    }
    close(fd);
    if (m == -ECANCELED) return -ECANCELED;
    count_ignored(f); /* not the token: closed unanswered */
  }
}

bool iov_flow_udp_admit(struct iov_flow *f, const void *buf, size_t n, const struct sockaddr_storage *from,
                        socklen_t from_len) {
  uint8_t ans[IOV_HELLO_LEN];
  bool bound = f->hello_peer_len != 0;

  if (bound && same_endpoint(from, &f->hello_peer)) {
    /* The sender's retry (its answer was lost): answer again. */
    if (iov_hello_is(buf, n) && iov_hello_answer(f->cfg->token, buf, n, ans)) {
      (void)sendto(f->fd, ans, sizeof(ans), MSG_NOSIGNAL | MSG_DONTWAIT, (const struct sockaddr *)from,
                   from_len);
      return false;
    }
    return true;
  }
  if (!bound && iov_hello_is(buf, n) && from_expected(f, from) &&
      iov_hello_answer(f->cfg->token, buf, n, ans)) {
    memcpy(&f->hello_peer, from, from_len);
    f->hello_peer_len = from_len;
    (void)sendto(f->fd, ans, sizeof(ans), MSG_NOSIGNAL | MSG_DONTWAIT, (const struct sockaddr *)from,
                 from_len);
    return false;
  }
  count_ignored(f);
  return false;
}

int iov__hello_udp_wait(struct iov_flow *f) {
  while (!iov__flow_go(f)) {
    struct pollfd p = { .fd = f->fd, .events = POLLIN };
    struct sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    uint8_t one;

    if (iov_flow_should_stop(f)) return -ECANCELED;
    int k = poll(&p, 1, GO_POLL_MS);
    if (k < 0 && errno != EINTR) return -errno;
    if (k <= 0) continue;
    ssize_t n = recvfrom(f->fd, f->buf, f->buf_size, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT,
                         (struct sockaddr *)&from, &from_len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED) continue;
      return -errno;
    }
    /* The buffer holds at least IOV_HELLO_LEN bytes (run.c), so a hello
     * is whole in it; iov_hello_is() reads nothing of a longer datagram. */
    if (f->hello_peer_len && same_endpoint(&from, &f->hello_peer) && !iov_hello_is(f->buf, (size_t)n)) {
      /* The sender's data, early (this agent saw the Start late): it
       * stays queued for the flow's loop. */
      (void)iov_sleep_until_mono(iov_now_mono() + IOV_NSEC_PER_MSEC);
      continue;
    }
    (void)recv(f->fd, &one, 1, MSG_DONTWAIT); /* take it off the queue */
    (void)iov_flow_udp_admit(f, f->buf, (size_t)n, &from, from_len);
  }
  return 0;
}
