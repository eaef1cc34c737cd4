/* Latency percentiles of a known request/response delay.  The tcp_rr and
 * udp_rr clients run through the runner against a server in this test
 * that holds every response for a known time: 1 ms for even
 * transactions, 4 ms for odd ones.  So the true round trip of each
 * transaction is that delay plus the loopback's own cost, and the
 * recorded histogram must place p25 in the 1 ms group and p75 in the 4 ms
 * group: never below the delay (a timer that started late would show
 * that), and above it by no more than the histogram's documented error
 * plus the scheduling slack of a shared 2-core machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "timeutil.h"

extern const struct iov_engine_ops iov_engine_tcp_rr;
extern const struct iov_engine_ops iov_engine_udp_rr;

#define MS IOV_NSEC_PER_MSEC
#define DELAY_SHORT (1 * MS)
#define DELAY_LONG (4 * MS)
/* Beyond the delay: loopback, wake-ups and the histogram's bucket. */
#define SLACK (2 * MS)

struct server {
  int fd; /* listening (TCP) or bound (UDP) */
  bool udp;
  uint16_t port;
  volatile int stop;
  pthread_t thread;
  uint64_t served;
};

static void hold(uint64_t n) {
  struct timespec ts = iov_ns_ts(n % 2 ? DELAY_LONG : DELAY_SHORT);
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {}
}

static const uint8_t test_token[IOV_ENGINE_TOKEN_LEN] = "rr-latency-token";

/* The client says hello before anything (handshake.c): answer it as an
 * iovbench receiver would, on the same connection or to the same source. */
static bool answer_hello(int fd, bool udp) {
  uint8_t hello[IOV_HELLO_LEN + 1], ans[IOV_HELLO_LEN];
  struct sockaddr_storage from;
  socklen_t flen = sizeof(from);
  struct pollfd p = { .fd = fd, .events = POLLIN };
  size_t got = 0;
  while (got < IOV_HELLO_LEN) {
    if (poll(&p, 1, 5000) <= 0) return false;
    ssize_t n = recvfrom(fd, hello + got, udp ? sizeof(hello) : IOV_HELLO_LEN - got, 0,
                         (struct sockaddr *)&from, &flen);
    if (n <= 0) return false;
    got += (size_t)n;
  }
  if (!iov_hello_answer(test_token, hello, got, ans)) return false;
  return sendto(fd, ans, sizeof(ans), MSG_NOSIGNAL, udp ? (struct sockaddr *)&from : NULL, udp ? flen : 0) ==
         (ssize_t)sizeof(ans);
}

static void *serve(void *arg) {
  struct server *s = arg;
  char buf[64];
  int fd = s->fd;

  if (!s->udp) {
    struct pollfd p = { .fd = s->fd, .events = POLLIN };
    if (poll(&p, 1, 5000) <= 0) return NULL;
    fd = accept(s->fd, NULL, NULL);
    if (fd < 0) return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (!answer_hello(fd, s->udp)) {
    if (!s->udp) close(fd);
    return NULL;
  }
  struct timeval tv = { .tv_usec = 100000 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  while (!s->stop) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(fd, buf, 1, 0, (struct sockaddr *)&from, &flen);
    if (n == 0) break;
    if (n < 0) continue;
    hold(s->served);
    /* The response echoes the request byte (udp_rr matches on it). */
    if (s->udp)
      sendto(fd, buf, 1, 0, (struct sockaddr *)&from, flen);
    else if (send(fd, buf, 1, MSG_NOSIGNAL) != 1)
      break;
    s->served++;
  }
  if (!s->udp) close(fd);
  return NULL;
}

static void server_start(struct server *s, bool udp) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof(a);
  memset(s, 0, sizeof(*s));
  s->udp = udp;
  s->fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  assert_true(s->fd >= 0);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  if (!udp) assert_int_equal(listen(s->fd, 1), 0);
  assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  close(s->fd);
}

/* Set the engine setting 'name' of c (the others as c has them, else at
 * their defaults) in storage that outlives the run's creation; an engine
 * without that setting is left as it is (false). */
static bool set_opt(struct iov_engine_config *c, const struct iov_engine_ops *ops, const char *name,
                    uint64_t v) {
  static _Alignas(uint64_t) unsigned char bufs[16][IOV_ENGINE_MAX_OPTS_SIZE];
  static unsigned next;
  if (!iov_engine_opt_get(ops, c->opts ? c->opts : bufs[0], name, NULL)) return false;
  unsigned char *b = bufs[1 + next++ % 15];
  if (c->opts)
    memcpy(b, c->opts, ops->option_struct_size);
  else
    iov_engine_opts_default(ops, b);
  assert_int_equal(iov_engine_opt_set(ops, b, name, v), 0);
  c->opts = b;
  return true;
}

static void check_known_delay(const struct iov_engine_ops *ops, bool udp) {
  struct server srv;
  struct iov_engine_run *run = NULL;
  struct iov_flow_stats *st = malloc(sizeof(*st));
  assert_non_null(st);

  server_start(&srv, udp);
  struct iov_engine_config cfg = {
    .role = IOV_ROLE_SENDER,
    .flows = 1,
    .msg_size = 1,
    .response_size = 1,
    .duration_ns = 1500 * MS,
    .peer_address = "127.0.0.1",
    .peer_ports = &srv.port,
    .nodelay = true,
    .token = test_token,
  };
  (void)set_opt(&cfg, ops, "rr_timeout", 200 * MS); /* udp_rr */
  assert_int_equal(iov_engine_run_new(ops, &cfg, &run), 0);
  assert_int_equal(iov_engine_run_prepare(run, NULL, NULL, 0), 0);
  assert_int_equal(iov_engine_run_start(run, iov_now_real() + 20 * MS, NULL, NULL), 0);
  uint64_t give_up = iov_now_mono() + 10 * IOV_NSEC_PER_SEC;
  while (!iov_engine_run_done(run) && iov_now_mono() < give_up) {
    struct timespec ts = { .tv_nsec = 20 * MS };
    nanosleep(&ts, NULL);
  }
  assert_true(iov_engine_run_done(run));
  iov_engine_run_stop(run);
  iov_engine_run_snapshot(run, 0, st);
  iov_engine_run_free(run);
  server_stop(&srv);

  /* At 1 and 4 ms a transaction, 1.5 s give a few hundred. */
  assert_int_equal(st->error, 0);
  assert_true(st->transactions >= 100);
  assert_int_equal(st->hist.count, st->transactions);
  uint64_t p25 = iov_hist_percentile(&st->hist, 25), p75 = iov_hist_percentile(&st->hist, 75);
  uint64_t lo = iov_hist_percentile(&st->hist, 1);
  print_message("%s: %" PRIu64 " transactions, p1 %.3f ms, p25 %.3f ms, p75 %.3f ms (lost %" PRIu64 ")\n",
                ops->name, st->transactions, lo / 1e6, p25 / 1e6, p75 / 1e6, st->lost);
  /* Never faster than the server's hold, less the histogram's error. */
  assert_true((double)lo >= DELAY_SHORT * (1.0 - IOV_HIST_REL_ERROR));
  assert_true((double)p25 >= DELAY_SHORT * (1.0 - IOV_HIST_REL_ERROR));
  assert_true(p25 <= DELAY_SHORT + SLACK);
  assert_true((double)p75 >= DELAY_LONG * (1.0 - IOV_HIST_REL_ERROR));
  assert_true(p75 <= DELAY_LONG + SLACK);
  /* The mean sits between the two groups, near their average. */
  double mean = iov_hist_mean(&st->hist);
  assert_true(mean >= (DELAY_SHORT + DELAY_LONG) / 2.0 * (1.0 - IOV_HIST_REL_ERROR));
  assert_true(mean <= (DELAY_SHORT + DELAY_LONG) / 2.0 + SLACK);
  free(st);
}

static void test_tcp_rr_known_delay(void **state) {
  (void)state;
  check_known_delay(&iov_engine_tcp_rr, false);
}

static void test_udp_rr_known_delay(void **state) {
  (void)state;
  check_known_delay(&iov_engine_udp_rr, true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tcp_rr_known_delay),
    cmocka_unit_test(test_udp_rr_known_delay),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
