/* Unit tests for engines/udp_stream.c and engines/udp_rr.c, driven through
 * the runner API (run.c) over 127.0.0.1 in one process: delivered rate,
 * pacing accuracy, loss accounting against the sender's count, the wire
 * format (crafted datagrams: duplicates, reordering, jitter, a late
 * response), RR timeouts and the deadlines of both sides.
 *
 * The host these run on is shared and can be very busy: a thread may wait
 * for a CPU for tens of milliseconds, the whole machine may pause for
 * seconds.  Every check against the wall clock is therefore widened by the
 * time the process's threads could not run (struct noise: run-queue delay
 * from /proc/self/task/<tid>/schedstat, plus the host's steal, irq and
 * softirq time from /proc/stat), which is printed with the result.  On an
 * idle host that allowance is a few milliseconds and the checks are as
 * tight as written; exact accounting (sent == received + lost, histogram
 * counts) never depends on it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "err.h"
#include "timeutil.h"
#include "wire.h"
#include "engine_settings.h"

extern const struct iov_engine_ops iov_engine_udp_stream;
extern const struct iov_engine_ops iov_engine_udp_rr;

#define MSEC IOV_NSEC_PER_MSEC
#define SEC IOV_NSEC_PER_SEC
#define START_LEAD (50 * MSEC)
#define HDR 18 /* udp_stream's header (engines/udp_dgram.h), and its layout: */
#define MAGIC 0x4942u
#define UDP_LINGER (2 * SEC) /* udp_stream receiver without a FIN */
#define NOISE_TASKS 32

/* How long this process's threads were runnable but had no CPU, and how
 * much CPU time the host lost to the hypervisor and to interrupts, since
 * noise_begin().  Threads are found by sampling /proc/self/task (at each
 * poll of wait_done()), so a thread's last few milliseconds before it
 * exits may go unseen. */
struct noise {
  struct {
    int tid;
    uint64_t first, last;
  } t[NOISE_TASKS];
  unsigned n;
  uint64_t host0;
};

/* CPU time of the whole host, summed over its CPUs, that no thread of
 * ours could have had: stolen by the hypervisor, or spent in interrupt
 * and softirq handlers (which run on whatever thread was there). */
static uint64_t host_lost_ns(void) {
  unsigned long long v[8] = { 0 };
  FILE *f = fopen("/proc/stat", "re");
  if (!f) return 0;
  int k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                 &v[6], &v[7]);
  fclose(f);
  return k == 8 ? (v[5] + v[6] + v[7]) * (SEC / (uint64_t)sysconf(_SC_CLK_TCK)) : 0;
}

static void noise_sample(struct noise *z) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  if (!d) return;
  while ((e = readdir(d))) {
    char path[64];
    unsigned long long run, wait;
    int tid;
    if (sscanf(e->d_name, "%d", &tid) != 1) continue;
    snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
    FILE *f = fopen(path, "re");
    if (!f) continue; /* it just ended */
    int k = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    if (k != 2) continue;
    unsigned i = 0;
    while (i < z->n && z->t[i].tid != tid) i++;
    if (i == z->n) {
      if (z->n == NOISE_TASKS) continue;
      z->n++;
      z->t[i].tid = tid;
      z->t[i].first = wait;
    }
    z->t[i].last = wait;
  }
  closedir(d);
}

static void noise_begin(struct noise *z) {
  memset(z, 0, sizeof(*z));
  z->host0 = host_lost_ns();
  noise_sample(z);
}

/* The noise summed over the threads: the allowance for a wall-clock
 * bound that involves several threads (a flow's, and this one's, which
 * sees it done). */
static uint64_t noise_ns(struct noise *z) {
  uint64_t sum = host_lost_ns() - z->host0;
  noise_sample(z);
  for (unsigned i = 0; i < z->n; i++) sum += z->t[i].last - z->t[i].first;
  return sum;
}

/* The noise of the most delayed thread: the allowance for what one
 * thread (the sender) could do. */
static uint64_t noise_max_ns(struct noise *z) {
  uint64_t max = 0;
  noise_sample(z);
  for (unsigned i = 0; i < z->n; i++)
    if (z->t[i].last - z->t[i].first > max) max = z->t[i].last - z->t[i].first;
  return max + host_lost_ns() - z->host0;
}

struct pair {
  struct iov_engine_run *rx, *tx;
  uint16_t port;       /* the receiver's */
  uint64_t start_real; /* CLOCK_REALTIME start instant */
  uint64_t start_mono; /* the same instant on CLOCK_MONOTONIC */
};

/* The point's data-path token (any 16 bytes will do for a test). */
static const uint8_t test_token[IOV_ENGINE_TOKEN_LEN] = "udp-engine-token";

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

static struct iov_engine_config base_cfg(enum iov_role role, uint64_t msg, uint64_t duration) {
  struct iov_engine_config c = {
    .token = test_token,
    .role = role,
    .flows = 1,
    .msg_size = msg,
    .response_size = msg,
    .duration_ns = duration,
    .bind_address = "127.0.0.1",
  };
  if (role == IOV_ROLE_SENDER) c.peer_address = "127.0.0.1";
  return c;
}

static void start_at(struct pair *p) {
  uint64_t real = iov_now_real(), mono = iov_now_mono();
  p->start_real = real + START_LEAD;
  p->start_mono = mono + START_LEAD;
}

/* A receiver and a sender of one engine, prepared and started together. */
static void pair_start(struct pair *p, const struct iov_engine_ops *ops, const struct iov_engine_config *rxc,
                       struct iov_engine_config *txc) {
  uint16_t ports[1];

  memset(p, 0, sizeof(*p));
  assert_int_equal(iov_engine_run_new(ops, rxc, &p->rx), 0);
  assert_int_equal(iov_engine_run_prepare(p->rx, ports, NULL, 0), 0);
  p->port = ports[0];
  txc->peer_ports = ports; /* copied by run_new */
  assert_int_equal(iov_engine_run_new(ops, txc, &p->tx), 0);
  assert_int_equal(iov_engine_run_prepare(p->tx, NULL, NULL, 0), 0);
  start_at(p);
  assert_int_equal(iov_engine_run_start(p->rx, p->start_real, NULL, NULL), 0);
  assert_int_equal(iov_engine_run_start(p->tx, p->start_real, NULL, NULL), 0);
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = iov_ns_ts(ns);
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Poll until the run is done, for at most 'timeout' ns; snapshots flow 0
 * at every poll, as the sampler would (so TSan sees concurrent readers).
 * Returns whether it finished, and the CLOCK_MONOTONIC time it was seen
 * done through *ret_done_mono.  Samples the noise meter z (if not NULL). */
static bool wait_done(struct iov_engine_run *r, uint64_t timeout, uint64_t *ret_done_mono, struct noise *z) {
  uint64_t until = iov_now_mono() + timeout;
  static struct iov_flow_stats s; /* 35 KB: not on the stack */
  for (;;) {
    if (iov_engine_run_done(r)) {
      if (ret_done_mono) *ret_done_mono = iov_now_mono();
      return true;
    }
    if (iov_now_mono() >= until) return false;
    iov_engine_run_snapshot(r, 0, &s);
    if (z) noise_sample(z);
    sleep_ns(5 * MSEC);
  }
}

static struct iov_flow_stats *snap(struct iov_engine_run *r) {
  struct iov_flow_stats *s = malloc(sizeof(*s));
  assert_non_null(s);
  iov_engine_run_snapshot(r, 0, s);
  return s;
}

static void pair_free(struct pair *p) {
  p->tx = iov_engine_run_free(p->tx);
  p->rx = iov_engine_run_free(p->rx);
}

/* Generous bounds on waiting for a run: only there so that a hang fails
 * the test instead of blocking it (a paused machine can take seconds). */
#define HANG_BOUND (15 * SEC)

/* A rate in bytes over the nominal window 'dur', against the requested
 * 'rate' (bit/s): never above it (the pacer's schedule cannot run ahead,
 * so at most 'tol' of it for rounding), and below it by at most 'tol', once
 * the time the threads could not run ('noise') is allowed for: the pacer
 * gives up the slots of a stall longer than its catch-up bound. */
static void check_rate(const char *what, uint64_t bytes, uint64_t rate, uint64_t dur, double tol,
                       uint64_t noise) {
  double want = (double)rate / 8 * (double)dur / 1e9;
  double usable = noise < dur ? (double)(dur - noise) / (double)dur : 0;
  printf("# %s: %.3f Mbit/s for %.3f requested, %.2f %% off (noise allowance %.1f ms)\n", what,
         (double)bytes * 8 / ((double)dur / 1e9) / 1e6, (double)rate / 1e6,
         ((double)bytes - want) * 100 / want, (double)noise / 1e6);
  assert_true((double)bytes <= want * (1 + tol));
  assert_true((double)bytes >= want * usable * (1 - tol));
}

/* Offered 50 Mbit/s in 1200-byte datagrams for 2 s: 10417 datagrams.  The
 * receiver asks for 4 MB of socket buffer (as much as rmem_max allows;
 * 4 MB holds a few hundred milliseconds of this stream) so that a stall of
 * the receiver does not turn into loss.  Checks:
 *   - the sender's own rate within 1 % of the requested one (pacing);
 *   - delivered (received bytes over the nominal window) within 2 % of
 *     the offered rate, loss at most 0.5 % (unless the receiver was kept
 *     from running for longer than its buffer lasts);
 *   - the receiver saw a FIN (it ended right after the window, not 2 s
 *     later), so sent == received + lost exactly;
 *   - no duplicates, jitter measured and below 10 ms. */
static void test_stream_rate(void **state) {
  (void)state;
  const uint64_t rate = 50000000, dur = 2 * SEC, msg = 1200;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, msg, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, msg, dur);
  struct pair p;
  struct noise z;
  uint64_t rx_done;

  rxc.recv_buffer = 4 * 1024 * 1024;
  txc.rate_bps = rate;
  noise_begin(&z);
  pair_start(&p, &iov_engine_udp_stream, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, &z));
  assert_true(wait_done(p.rx, HANG_BOUND, &rx_done, &z));
  uint64_t noise = noise_ns(&z), noise1 = noise_max_ns(&z);
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);

  printf("# udp_stream 50 Mbit/s: sent %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64 ", ooo %" PRIu64
         ", jitter %" PRIu64 " ns\n",
         tx->messages, rx->messages, rx->lost, rx->out_of_order, rx->jitter_ns);
  assert_int_equal(tx->error, 0);
  assert_int_equal(rx->error, 0);
  check_rate("sent", tx->bytes, rate, dur, 0.01, noise1);
  check_rate("delivered", rx->bytes, rate, dur, 0.02, noise1);
  assert_true(rx->bytes <= tx->bytes);
  assert_true(rx_done < p.start_mono + dur + 500 * MSEC + noise); /* on the FIN */
  assert_int_equal(tx->messages, rx->messages + rx->lost);
  if (noise1 < 100 * MSEC) assert_true(rx->lost * 200 <= tx->messages);
  assert_int_equal(rx->duplicates, 0);
  assert_int_equal(rx->bytes, rx->messages * msg);
  assert_int_equal(tx->bytes, tx->messages * msg);
  assert_true(rx->jitter_ns > 0 && rx->jitter_ns < 10 * MSEC + noise);
  assert_int_equal(tx->transactions, 0);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* Pacing at a higher rate, where the interval (40 us) is below the pacer's
 * sleep threshold and every datagram is spun for: 100 Mbit/s in 500-byte
 * datagrams for 1 s; the sender's rate over the window within 1 % of the
 * request.  Its flow ends when the receiver answered its FIN, soon after
 * the window. */
static void test_stream_pacing(void **state) {
  (void)state;
  const uint64_t rate = 100000000, dur = 1 * SEC, msg = 500;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, msg, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, msg, dur);
  struct pair p;
  struct noise z;

  rxc.recv_buffer = 4 * 1024 * 1024;
  txc.rate_bps = rate;
  noise_begin(&z);
  pair_start(&p, &iov_engine_udp_stream, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, &z));
  assert_true(wait_done(p.rx, HANG_BOUND, NULL, &z));
  uint64_t noise = noise_ns(&z), noise1 = noise_max_ns(&z);
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);

  assert_int_equal(tx->error, 0);
  assert_int_equal(rx->error, 0);
  check_rate("paced", tx->bytes, rate, dur, 0.01, noise1);
  printf("# sender flow: %.1f ms longer than the window\n",
         ((double)(tx->t_end_ns - tx->t_start_ns) - (double)dur) / 1e6);
  assert_true(tx->t_end_ns >= p.start_real + dur);
  assert_true(tx->t_end_ns <= p.start_real + dur + 50 * MSEC + noise);
  assert_int_equal(tx->messages, rx->messages + rx->lost);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* A receiver that cannot keep up: 4 KB of socket buffer, unpaced sender
 * for 1 s.  Loss must show, and (the FIN carries the sender's count) add
 * up exactly with what arrived: the sender repeats its FIN until the
 * receiver answers it, so one gets through the full buffer. */
static void test_stream_loss(void **state) {
  (void)state;
  const uint64_t dur = 1 * SEC, msg = 1200;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, msg, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, msg, dur);
  struct pair p;
  uint64_t rx_done;

  rxc.recv_buffer = 4096;
  pair_start(&p, &iov_engine_udp_stream, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, NULL));
  assert_true(wait_done(p.rx, HANG_BOUND, &rx_done, NULL));
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);

  assert_int_equal(tx->error, 0);
  assert_int_equal(rx->error, 0);
  bool fin = rx_done < p.start_mono + dur + UDP_LINGER;
  printf("# udp_stream unpaced into 4 KB: sent %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64
         ", ooo %" PRIu64 "%s\n",
         tx->messages, rx->messages, rx->lost, rx->out_of_order, fin ? "" : " (no FIN)");
  assert_true(rx->messages > 0);
  assert_true(rx->lost > 0);
  assert_true(fin);
  assert_int_equal(rx->messages + rx->lost, tx->messages);
  assert_int_equal(rx->duplicates, 0);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* msg_size below the 18-byte header: both sides fail with -EINVAL at once. */
static void test_stream_short_msg(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, HDR - 1, 1 * SEC);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, HDR - 1, 1 * SEC);
  struct pair p;

  pair_start(&p, &iov_engine_udp_stream, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, NULL));
  assert_true(wait_done(p.rx, HANG_BOUND, NULL, NULL));
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);
  assert_int_equal(tx->error, -EINVAL);
  assert_int_equal(rx->error, -EINVAL);
  assert_int_equal(tx->messages, 0);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* The documented wire format, written independently of the engine. */
static void put_be(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static void send_hdr(int fd, uint64_t seq, uint64_t t_send, uint32_t flags, uint32_t magic, size_t len) {
  uint8_t b[64];
  memset(b, 'x', sizeof(b));
  put_be(b, magic, 2);
  b[2] = (uint8_t)(1u << 4 | flags); /* version 1 */
  b[3] = 0;                          /* flow 0 */
  put_be(b + 4, seq, 6);
  put_be(b + 10, t_send, 8);
  assert_int_equal(send(fd, b, len, 0), (ssize_t)len);
}

/* Say hello with the token on fd (connected to a receiver), as a sender
 * would; true if the receiver answered it correctly. */
static bool say_hello(int fd, const uint8_t *token) {
  uint8_t nonce[16], hello[IOV_HELLO_LEN], ans[64];
  struct pollfd p = { .fd = fd, .events = POLLIN };
  assert_int_equal(iov_hello_make(token, nonce, hello), 0);
  assert_int_equal(send(fd, hello, sizeof(hello), 0), (ssize_t)sizeof(hello));
  if (poll(&p, 1, 2000) <= 0) return false;
  ssize_t n = recv(fd, ans, sizeof(ans), MSG_DONTWAIT);
  return n == IOV_HELLO_LEN && iov_hello_answer_ok(token, nonce, ans, (size_t)n);
}

/* A lone receiver (or RR server) and a test socket connected to it, which
 * said hello with the token. */
static struct iov_engine_run *lone_receiver(const struct iov_engine_ops *ops,
                                            const struct iov_engine_config *rxc, int *ret_fd,
                                            struct pair *p) {
  struct iov_engine_run *r;
  struct sockaddr_in sin = { .sin_family = AF_INET };
  struct timeval tv = { .tv_sec = 2, .tv_usec = 0 };
  uint16_t port;

  assert_int_equal(iov_engine_run_new(ops, rxc, &r), 0);
  assert_int_equal(iov_engine_run_prepare(r, &port, NULL, 0), 0);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  assert_true(say_hello(fd, test_token));
  memset(p, 0, sizeof(*p));
  p->port = port;
  start_at(p);
  assert_int_equal(iov_engine_run_start(r, p->start_real, NULL, NULL), 0);
  *ret_fd = fd;
  return r;
}

/* Duplicates, reordering, a gap, garbage, and a FIN with the sender's
 * count: 0 1 2 2(dup) 5 3 4 6 [short] [bad magic] FIN(9) -> 7 unique,
 * 1 duplicate, 2 out of order, lost 9 - 7 = 2 (7 and 8, the tail).  The
 * datagrams wait in the socket until the receiver starts. */
static void test_stream_accounting(void **state) {
  (void)state;
  const uint64_t order[] = { 0, 1, 2, 2, 5, 3, 4, 6 };
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, 200 * MSEC);
  struct pair p;
  int fd;
  struct iov_engine_run *r = lone_receiver(&iov_engine_udp_stream, &rxc, &fd, &p);

  for (size_t i = 0; i < ELEMENTSOF(order); i++) send_hdr(fd, order[i], order[i] * MSEC, 0, MAGIC, 64);
  send_hdr(fd, 100, 0, 0, MAGIC, HDR - 1);  /* too short: ignored */
  send_hdr(fd, 100, 0, 0, 0x1234u, 64);     /* not ours: ignored */
  send_hdr(fd, 9, 9 * MSEC, 1, MAGIC, HDR); /* FIN: 9 were sent */
  assert_true(wait_done(r, HANG_BOUND, NULL, NULL));
  struct iov_flow_stats *s = snap(r);
  assert_int_equal(s->error, 0);
  assert_int_equal(s->messages, 7);
  assert_int_equal(s->bytes, 7 * 64);
  assert_int_equal(s->duplicates, 1);
  assert_int_equal(s->out_of_order, 2);
  assert_int_equal(s->lost, 2);
  free(s);
  close(fd);
  iov_engine_run_free(r);
}

/* RFC 3550 jitter: 17 datagrams in order whose send times are 1 ms apart
 * but which arrive (queued) microseconds apart, so |D| is just under 1 ms
 * each time and J = 1 ms * (1 - (15/16)^16) = 0.644 ms at most.  A stall
 * of the receiver between two reads only lowers one |D|, so J stays above
 * 0.5 ms unless the stall is long (allowed for).  The send times are far
 * from this host's clock: only differences may count. */
static void test_stream_jitter(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, 200 * MSEC);
  struct pair p;
  struct noise z;
  int fd;

  noise_begin(&z);
  struct iov_engine_run *r = lone_receiver(&iov_engine_udp_stream, &rxc, &fd, &p);
  for (uint64_t i = 0; i < 17; i++) send_hdr(fd, i, UINT64_C(0xfff0000000000000) + i * MSEC, 0, MAGIC, 64);
  send_hdr(fd, 17, 0, 1, MAGIC, HDR);
  assert_true(wait_done(r, HANG_BOUND, NULL, &z));
  uint64_t noise = noise_ns(&z);
  struct iov_flow_stats *s = snap(r);
  printf("# jitter %" PRIu64 " ns (noise allowance %.1f ms)\n", s->jitter_ns, (double)noise / 1e6);
  assert_int_equal(s->messages, 17);
  assert_int_equal(s->lost, 0);
  assert_int_equal(s->out_of_order, 0);
  assert_true(s->jitter_ns <= 645000);
  if (noise < 5 * MSEC) assert_true(s->jitter_ns > 500000);
  free(s);
  close(fd);
  iov_engine_run_free(r);
}

/* No sender and so no FIN: the receiver ends 2 s after its window (plus at
 * most one 200 ms socket wake-up), without an error. */
static void test_stream_linger(void **state) {
  (void)state;
  const uint64_t dur = 100 * MSEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, dur);
  struct pair p;
  struct noise z;
  int fd;
  uint64_t done;

  noise_begin(&z);
  struct iov_engine_run *r = lone_receiver(&iov_engine_udp_stream, &rxc, &fd, &p);
  assert_true(wait_done(r, HANG_BOUND, &done, &z));
  uint64_t noise = noise_ns(&z);
  struct iov_flow_stats *s = snap(r);
  printf("# linger: ended %.1f ms after the window (noise allowance %.1f ms)\n",
         (double)(done - p.start_mono - dur) / 1e6, (double)noise / 1e6);
  assert_int_equal(s->error, 0);
  assert_true(done >= p.start_mono + dur + UDP_LINGER);
  assert_true(done <= p.start_mono + dur + UDP_LINGER + 250 * MSEC + noise);
  free(s);
  close(fd);
  iov_engine_run_free(r);
}

static void check_rr_client(const struct iov_flow_stats *s, uint64_t req, uint64_t resp) {
  assert_int_equal(s->error, 0);
  assert_true(s->transactions > 0);
  assert_int_equal(s->hist.count, s->transactions);
  assert_int_equal(s->messages, 2 * s->transactions);
  assert_int_equal(s->bytes, (req + resp) * s->transactions);
}

/* ---- engine settings: plan -> wire -> engine ---- */

static int sock_int(int fd, int level, int opt) {
  int v = -1;
  socklen_t len = sizeof(v);
  assert_int_equal(getsockopt(fd, level, opt, &v, &len), 0);
  return v;
}

/* A UDP socket of this process: the receiver's, bound to 'port', or the
 * sender's, connected to it.  The fd (the runner's) or -1. */
static int find_udp_sock(uint16_t port, bool receiver_end) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int found = -1;

  assert_non_null(d);
  while (found < 0 && (e = readdir(d))) {
    int fd = atoi(e->d_name), type = 0;
    socklen_t tl = sizeof(type);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    if (fd <= 2 || fd == dirfd(d)) continue;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM) continue;
    int k = receiver_end ? getsockname(fd, (struct sockaddr *)&a, &len)
                         : getpeername(fd, (struct sockaddr *)&a, &len);
    if (k == 0 && a.sin_family == AF_INET && ntohs(a.sin_port) == port) found = fd;
  }
  closedir(d);
  return found;
}

/* busy_poll (udp_rr): from the plan through the wire to SO_BUSY_POLL on
 * the client's and the server's socket. */
static void test_rr_busy_poll(void **state) {
  (void)state;
  const uint64_t dur = 300 * MSEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 64, dur);
  struct pair p;

  rxc.opts = txc.opts = opts_through_wire(&iov_engine_udp_rr, "busy_poll = 40\nrr_timeout = 500ms\n");
  pair_start(&p, &iov_engine_udp_rr, &rxc, &txc);
  int rfd = find_udp_sock(p.port, true), sfd = find_udp_sock(p.port, false);
  assert_true(rfd >= 0 && sfd >= 0);
  assert_int_equal(sock_int(rfd, SOL_SOCKET, SO_BUSY_POLL), 40);
  assert_int_equal(sock_int(sfd, SOL_SOCKET, SO_BUSY_POLL), 40);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, NULL));
  iov_engine_run_stop(p.rx);
  struct iov_flow_stats *tx = snap(p.tx);
  assert_true(tx->transactions > 0);
  free(tx);
  pair_free(&p);
  plan_refused(&iov_engine_udp_rr, "busy_poll = 1000001\n",
               "inline.plan:6: key 'busy_poll': '1000001' is out of range");
}

/* tos (every engine): from the plan through the wire to IP_TOS on the
 * sender's and the receiver's socket, for udp_stream and udp_rr; the
 * plan refuses 300 naming file, line and key. */
static void test_tos(void **state) {
  (void)state;
  const struct iov_engine_ops *ops[] = { &iov_engine_udp_stream, &iov_engine_udp_rr };
  for (size_t k = 0; k < ELEMENTSOF(ops); k++) {
    struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, 200 * MSEC);
    struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 64, 200 * MSEC);
    struct pair p;
    rxc.opts = txc.opts = opts_through_wire(ops[k], "tos = 184\n");
    pair_start(&p, ops[k], &rxc, &txc);
    int rfd = find_udp_sock(p.port, true), sfd = find_udp_sock(p.port, false);
    assert_true(rfd >= 0 && sfd >= 0);
    assert_int_equal(sock_int(rfd, IPPROTO_IP, IP_TOS), 184);
    assert_int_equal(sock_int(sfd, IPPROTO_IP, IP_TOS), 184);
    assert_true(wait_done(p.tx, HANG_BOUND, NULL, NULL));
    iov_engine_run_stop(p.rx);
    pair_free(&p);
    plan_refused(ops[k], "tos = 300\n", "inline.plan:6: key 'tos': '300' is out of range; use 0..255");
  }
}

/* One outstanding transaction, 1-byte requests (the id wraps every 256),
 * 100-byte responses, 0.5 s.  The server is stopped once the client is done
 * (its own end is tested below).  The timeout is 500 ms, so that only a
 * stall of the host that long (allowed for) could pass for a loss. */
static void test_rr_basic(void **state) {
  (void)state;
  const uint64_t dur = 500 * MSEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 1, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 1, dur);
  struct pair p;
  struct noise z;
  uint64_t done;

  rxc.response_size = txc.response_size = 100;
  assert_true(set_opt(&txc, &iov_engine_udp_rr, "rr_timeout", 500 * MSEC));
  noise_begin(&z);
  pair_start(&p, &iov_engine_udp_rr, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, &done, &z));
  uint64_t noise = noise_ns(&z);
  iov_engine_run_stop(p.rx);
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);
  printf("# udp_rr 1/100 bytes: %" PRIu64 " transactions, lost %" PRIu64 ", p50 %" PRIu64
         " ns, ended %.1f ms after the window (noise allowance %.1f ms)\n",
         tx->transactions, tx->lost, iov_hist_percentile(&tx->hist, 50),
         ((double)done - (double)(p.start_mono + dur)) / 1e6, (double)noise / 1e6);
  check_rr_client(tx, 1, 100);
  assert_true(done <= p.start_mono + dur + 100 * MSEC + noise);
  if (noise < 500 * MSEC) assert_int_equal(tx->lost, 0);
  assert_int_equal(rx->error, 0);
  /* The server answered every completed transaction (and perhaps the
   * one left outstanding at the end). */
  assert_true(rx->transactions >= tx->transactions && rx->transactions <= tx->transactions + 1 + tx->lost);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* Four outstanding transactions with 64-byte requests and responses; the
 * server is left to end on its own: 2 s after the window, within ~2.5 s. */
static void test_rr_burst(void **state) {
  (void)state;
  const uint64_t dur = 500 * MSEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 64, dur);
  struct pair p;
  struct noise z;
  uint64_t tx_done, rx_done;

  assert_true(set_opt(&txc, &iov_engine_udp_rr, "burst", 4));
  assert_true(set_opt(&txc, &iov_engine_udp_rr, "rr_timeout", 500 * MSEC));
  noise_begin(&z);
  pair_start(&p, &iov_engine_udp_rr, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, &tx_done, &z));
  assert_true(wait_done(p.rx, HANG_BOUND, &rx_done, &z));
  uint64_t noise = noise_ns(&z);
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);
  printf("# udp_rr burst 4: %" PRIu64 " transactions, lost %" PRIu64
         "; server ended %.1f ms after the window (noise allowance %.1f ms)\n",
         tx->transactions, tx->lost, ((double)rx_done - (double)(p.start_mono + dur)) / 1e6,
         (double)noise / 1e6);
  check_rr_client(tx, 64, 64);
  assert_true(tx_done <= p.start_mono + dur + 100 * MSEC + noise);
  assert_true(rx_done >= p.start_mono + dur + 2 * SEC);
  assert_true(rx_done <= p.start_mono + dur + 2500 * MSEC + noise);
  if (noise < 500 * MSEC) assert_int_equal(tx->lost, 0);
  assert_int_equal(rx->error, 0);
  assert_true(rx->transactions >= tx->transactions && rx->transactions <= tx->transactions + 4 + tx->lost);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* The server goes away half-way (stopped, then its socket closed, so the
 * client also sees ICMP port unreachable): the client counts lost
 * transactions (burst 2, 100 ms timeout: about 12 in 0.6 s) and still
 * ends by its deadline.  The whole test is bounded by the wall clock. */
static void test_rr_server_gone(void **state) {
  (void)state;
  const uint64_t dur = 1200 * MSEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 32, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 32, dur);
  struct pair p;
  struct noise z;
  uint64_t done, t_begin = iov_now_mono();

  assert_true(set_opt(&txc, &iov_engine_udp_rr, "burst", 2));
  noise_begin(&z);
  pair_start(&p, &iov_engine_udp_rr, &rxc, &txc);
  sleep_ns(START_LEAD + dur / 2);
  struct iov_flow_stats *mid = snap(p.tx);
  p.rx = iov_engine_run_free(p.rx);
  uint64_t gone = iov_now_mono();
  assert_true(wait_done(p.tx, HANG_BOUND, &done, &z));
  uint64_t noise = noise_ns(&z);
  struct iov_flow_stats *tx = snap(p.tx);
  printf("# udp_rr server gone: %" PRIu64 " transactions (%" PRIu64 " at half-way), lost %" PRIu64
         ", ended %.1f ms after the window (noise allowance %.1f ms)\n",
         tx->transactions, mid->transactions, tx->lost, ((double)done - (double)(p.start_mono + dur)) / 1e6,
         (double)noise / 1e6);
  check_rr_client(tx, 32, 32);
  assert_true(mid->transactions > 0);
  assert_true(done <= p.start_mono + dur + 100 * MSEC + noise);
  /* Two lost per 100 ms at most, from the two outstanding when it went. */
  assert_true(tx->lost <= 2 + 2 * ((done - gone) / (100 * MSEC)));
  if (noise < 100 * MSEC) assert_true(tx->lost >= 6);
  assert_true(tx->lost >= 2);
  assert_true(tx->transactions <= mid->transactions + 1000); /* only until it went */
  assert_true(iov_now_mono() - t_begin < 3 * SEC + noise);
  free(mid);
  free(tx);
  pair_free(&p);
}

/* A socket of the test in the receiver's place, on its own thread while
 * the sender prepares: it counts what reaches it (hellos, anything else)
 * for 'listen_ns' or, with 'answer', until it answered one hello as an
 * iovbench receiver would.  'echo': it sends every datagram back as it
 * came (a UDP echo service). */
struct fake_rx {
  int fd;
  bool answer, echo;
  uint64_t listen_ns;
  unsigned hellos, others;
};

static void *fake_receiver(void *arg) {
  struct fake_rx *x = arg;
  uint64_t until = iov_now_mono() + (x->listen_ns ? x->listen_ns : 5 * SEC);
  while (iov_now_mono() < until) {
    struct pollfd p = { .fd = x->fd, .events = POLLIN };
    struct sockaddr_storage from;
    socklen_t flen = sizeof(from);
    uint8_t b[2048], ans[IOV_HELLO_LEN];
    if (poll(&p, 1, 20) <= 0) continue;
    ssize_t n = recvfrom(x->fd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
    if (n < 0) continue;
    if (iov_hello_is(b, (size_t)n))
      x->hellos++;
    else
      x->others++;
    if (x->echo) (void)sendto(x->fd, b, (size_t)n, 0, (struct sockaddr *)&from, flen);
    if (x->answer && iov_hello_answer(test_token, b, (size_t)n, ans)) {
      assert_int_equal(sendto(x->fd, ans, sizeof(ans), 0, (struct sockaddr *)&from, flen),
                       (ssize_t)sizeof(ans));
      break;
    }
  }
  return NULL;
}

/* A fake server (this thread) that answers every request at once, except
 * the 4th (id 3), which it answers 250 ms late, past the client's 100 ms
 * timeout, while it goes on answering the others.  1-byte requests: the id
 * wraps every 256 transactions, so the client must keep the truncated id 3
 * in quarantine (4 x 100 ms from the loss) and not send it again before;
 * it counts one loss and discards the late answer. */
static void test_rr_late_response(void **state) {
  (void)state;
  const uint64_t dur = 800 * MSEC;
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 1, dur);
  struct iov_engine_run *r;
  struct sockaddr_in sin = { .sin_family = AF_INET };
  struct sockaddr_storage late_to;
  socklen_t len = sizeof(sin), late_len = 0;
  struct timeval tv = { .tv_sec = 0, .tv_usec = 20000 };
  struct pair p;
  struct noise z;
  uint64_t requests = 0, late_at = 0, reuse_at = 0;
  uint16_t port;

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  port = ntohs(sin.sin_port);
  txc.peer_ports = &port;
  txc.response_size = 8;
  assert_true(set_opt(&txc, &iov_engine_udp_rr, "rr_timeout", 100 * MSEC));
  assert_int_equal(iov_engine_run_new(&iov_engine_udp_rr, &txc, &r), 0);
  struct fake_rx fr = { .fd = fd, .answer = true };
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, fake_receiver, &fr), 0);
  assert_int_equal(iov_engine_run_prepare(r, NULL, NULL, 0), 0);
  pthread_join(th, NULL);
  assert_int_equal(fr.hellos, 1);
  noise_begin(&z);
  memset(&p, 0, sizeof(p));
  start_at(&p);
  assert_int_equal(iov_engine_run_start(r, p.start_real, NULL, NULL), 0);

  while (!iov_engine_run_done(r) && iov_now_mono() < p.start_mono + HANG_BOUND) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof(from);
    uint8_t b[16] = { 0 };
    ssize_t n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &flen);
    uint64_t now = iov_now_mono();
    if (late_len && now >= late_at + 250 * MSEC) {
      uint8_t three[8] = { 3 };
      assert_int_equal(sendto(fd, three, 8, 0, (struct sockaddr *)&late_to, late_len), 8);
      late_len = 0;
    }
    if (n < 0) continue;
    assert_int_equal(n, 1);
    if (requests++ == 3) {
      assert_int_equal(b[0], 3);
      late_to = from;
      late_len = flen;
      late_at = now;
      continue;
    }
    if (b[0] == 3 && late_at && !reuse_at) reuse_at = now;
    (void)sendto(fd, b, 8, 0, (struct sockaddr *)&from, flen);
  }
  assert_true(iov_engine_run_done(r));
  uint64_t noise = noise_ns(&z);
  struct iov_flow_stats *s = snap(r);
  printf("# udp_rr late answer: %" PRIu64 " requests, %" PRIu64 " transactions, lost %" PRIu64
         ", id 3 again after %.1f ms (noise allowance %.1f ms)\n",
         requests, s->transactions, s->lost, reuse_at ? (double)(reuse_at - late_at) / 1e6 : -1.0,
         (double)noise / 1e6);
  assert_int_equal(late_len, 0); /* the late answer went out */
  check_rr_client(s, 1, 8);
  assert_true(requests > 260); /* the id wrapped */
  assert_true(s->lost >= 1);
  if (noise < 100 * MSEC) assert_int_equal(s->lost, 1);
  /* Quarantine: 100 ms to the loss, then 400 ms (this thread may have
   * seen request 3 late, by at most the noise); id 3 is used again after
   * that, well before the window ends. */
  if (reuse_at) assert_true(reuse_at + noise >= late_at + 500 * MSEC);
  if (noise < 100 * MSEC) assert_true(reuse_at != 0);
  /* All answered except the late one, those lost to noise, and perhaps
   * the last, abandoned at the window's end. */
  assert_true(s->transactions + s->lost <= requests);
  assert_true(s->transactions + s->lost + 1 >= requests);
  free(s);
  close(fd);
  iov_engine_run_free(r);
}

/* The server echoes the first response_size bytes of each request to its
 * sender (here a request longer than the response). */
static void test_rr_server_echo(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 16, 300 * MSEC);
  struct pair p;
  int fd;
  uint8_t req[16], resp[64];

  rxc.response_size = 5;
  struct iov_engine_run *r = lone_receiver(&iov_engine_udp_rr, &rxc, &fd, &p);
  for (unsigned i = 0; i < sizeof(req); i++) req[i] = (uint8_t)(0xa0 + i);
  assert_int_equal(send(fd, req, sizeof(req), 0), (ssize_t)sizeof(req));
  assert_int_equal(recv(fd, resp, sizeof(resp), 0), 5);
  assert_memory_equal(resp, req, 5);
  iov_engine_run_stop(r);
  struct iov_flow_stats *s = snap(r);
  assert_int_equal(s->error, 0);
  assert_int_equal(s->transactions, 1);
  assert_int_equal(s->bytes, 16 + 5);
  free(s);
  close(fd);
  iov_engine_run_free(r);
}

/* burst above what a 1-byte id can tell apart: -EINVAL. */
static void test_rr_burst_too_big(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 1, 200 * MSEC);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 1, 200 * MSEC);
  struct pair p;

  assert_true(set_opt(&txc, &iov_engine_udp_rr, "burst", 129));
  pair_start(&p, &iov_engine_udp_rr, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, NULL));
  iov_engine_run_stop(p.rx);
  struct iov_flow_stats *tx = snap(p.tx);
  assert_int_equal(tx->error, -EINVAL);
  free(tx);
  pair_free(&p);
}

/* ---- attacks (issue 14) ---- */

/* A UDP socket of the test bound to ip (port chosen), with a short
 * receive timeout. */
static int udp_on(const char *ip, uint16_t *ret_port) {
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof(sin);
  struct timeval tv = { .tv_sec = 0, .tv_usec = 300000 };
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  if (ret_port) *ret_port = ntohs(sin.sin_port);
  return fd;
}

/* Datagrams waiting on fd, taken off it. */
static unsigned drain(int fd) {
  uint8_t b[4096];
  unsigned n = 0;
  while (recv(fd, b, sizeof(b), MSG_DONTWAIT) >= 0) n++;
  return n;
}

/* A reflection attempt: while a udp_rr point runs (64-byte requests,
 * 1024-byte responses, a 16x amplifier if it answered anyone), a third
 * address (the victim, 127.0.0.3) sends well-formed requests to the
 * server's port, and a forged hello (a wrong token).  Not one datagram
 * comes back to the victim; the server counts them ignored; the point
 * itself succeeds. */
static void test_attack_rr_spoofed(void **state) {
  (void)state;
  const uint64_t dur = 600 * MSEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 64, dur);
  static const uint8_t wrong[IOV_ENGINE_TOKEN_LEN] = "not-the-token!!!";
  uint8_t req[64], nonce[16], hello[IOV_HELLO_LEN];
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  struct pair p;

  rxc.response_size = txc.response_size = 1024;
  rxc.peer_address = "127.0.0.1"; /* the expected sender, as coord names it */
  int victim = udp_on("127.0.0.3", NULL);
  pair_start(&p, &iov_engine_udp_rr, &rxc, &txc);
  sleep_ns(START_LEAD + 100 * MSEC); /* in the window */
  to.sin_port = htons(p.port);
  memset(req, 0, sizeof(req));
  for (unsigned i = 0; i < 50; i++) {
    req[0] = (uint8_t)i;
    assert_int_equal(sendto(victim, req, sizeof(req), 0, (struct sockaddr *)&to, sizeof(to)), 64);
  }
  assert_int_equal(iov_hello_make(wrong, nonce, hello), 0);
  assert_int_equal(sendto(victim, hello, sizeof(hello), 0, (struct sockaddr *)&to, sizeof(to)),
                   IOV_HELLO_LEN);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, NULL));
  sleep_ns(50 * MSEC);
  iov_engine_run_stop(p.rx);
  unsigned back = drain(victim);
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);
  printf("# spoofed udp_rr requests: 51 sent, %u came back, %" PRIu64
         " ignored by the server; the point: %" PRIu64 " transactions\n",
         back, rx->ignored, tx->transactions);
  assert_int_equal(back, 0);
  assert_int_equal(rx->ignored, 51);
  check_rr_client(tx, 64, 1024);
  assert_int_equal(rx->error, 0);
  free(tx);
  free(rx);
  close(victim);
  pair_free(&p);
}

/* The client that said hello, with requests of the wrong size: not
 * answered (no amplification by a short request); the right size is. */
static void test_attack_rr_wrong_size(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, 300 * MSEC);
  uint8_t req[128] = { 0 }, resp[512];
  struct timeval tv = { .tv_sec = 0, .tv_usec = 300000 };
  struct pair p;
  int fd;

  rxc.response_size = 256;
  struct iov_engine_run *r = lone_receiver(&iov_engine_udp_rr, &rxc, &fd, &p);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  assert_int_equal(send(fd, req, 1, 0), 1);
  assert_int_equal(send(fd, req, 63, 0), 63);
  assert_int_equal(send(fd, req, 65, 0), 65);
  assert_int_equal(recv(fd, resp, sizeof(resp), 0), -1); /* none answered */
  assert_int_equal(send(fd, req, 64, 0), 64);
  assert_int_equal(recv(fd, resp, sizeof(resp), 0), 256);
  iov_engine_run_stop(r);
  struct iov_flow_stats *s = snap(r);
  assert_int_equal(s->transactions, 1);
  assert_int_equal(s->ignored, 3);
  free(s);
  close(fd);
  iov_engine_run_free(r);
}

/* A sender aimed at a UDP port where no iovbench receiver listens (a
 * plain socket of the test, which reads and never answers; then one that
 * echoes everything, as a UDP echo service would): the prepare fails with
 * the token error, within the connect timeout, and nothing but the
 * bounded hellos reached the socket, even for an unpaced stream. */
static void test_attack_no_receiver(void **state) {
  (void)state;
  const struct iov_engine_ops *ops[] = { &iov_engine_udp_stream, &iov_engine_udp_rr };
  for (unsigned k = 0; k < 2 * ELEMENTSOF(ops); k++) {
    struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 1200, 1 * SEC);
    struct iov_engine_run *r;
    uint16_t port;
    char want[64];
    pthread_t th;

    struct fake_rx fr = { .fd = udp_on("127.0.0.1", &port), .listen_ns = 2 * SEC, .echo = k >= 2 };
    txc.peer_ports = &port;
    txc.connect_timeout_ns = 1600 * MSEC; /* hellos at 0, 0.1, 0.3, 0.7, 1.5 s */
    assert_int_equal(iov_engine_run_new(ops[k % 2], &txc, &r), 0);
    assert_int_equal(pthread_create(&th, NULL, fake_receiver, &fr), 0);
    uint64_t t0 = iov_now_mono();
    char why[256];
    assert_int_equal(iov_engine_run_prepare(r, NULL, why, sizeof(why)), -ETIMEDOUT);
    uint64_t took = iov_now_mono() - t0;
    snprintf(want, sizeof(want), "receiver at 127.0.0.1:%u did not answer", port);
    printf("# %s to a %s: %.2f s, %s\n", ops[k % 2]->name, fr.echo ? "UDP echo" : "silent socket",
           (double)took / 1e9, why);
    assert_non_null(strstr(why, want));
    assert_non_null(strstr(why, "the point's token: nothing sent"));
    assert_true(took >= 1600 * MSEC && took < 3 * SEC); /* the bound, not the hellos' count, ends it */
    iov_engine_run_free(r);
    pthread_join(th, NULL);
    printf("#   reached it: %u hellos, %u other datagrams\n", fr.hellos, fr.others);
    assert_int_equal(fr.others, 0);
    assert_true(fr.hellos >= 1 && fr.hellos <= 5);
    close(fr.fd);
  }
}

/* A receiver of another point (another token) does not answer: the sender
 * fails, the receiver counts the hello as ignored. */
static void test_attack_wrong_token(void **state) {
  (void)state;
  static const uint8_t other[IOV_ENGINE_TOKEN_LEN] = "another-points!!";
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, 1 * SEC);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 64, 1 * SEC);
  struct iov_engine_run *rx, *tx;
  uint16_t port;

  rxc.token = other;
  txc.connect_timeout_ns = 400 * MSEC;
  assert_int_equal(iov_engine_run_new(&iov_engine_udp_stream, &rxc, &rx), 0);
  assert_int_equal(iov_engine_run_prepare(rx, &port, NULL, 0), 0);
  txc.peer_ports = &port;
  assert_int_equal(iov_engine_run_new(&iov_engine_udp_stream, &txc, &tx), 0);
  assert_int_equal(iov_engine_run_prepare(tx, NULL, NULL, 0), -ETIMEDOUT);
  iov_engine_run_stop(rx);
  struct iov_flow_stats *s = snap(rx);
  assert_true(s->ignored >= 1);
  assert_int_equal(s->messages, 0);
  free(s);
  iov_engine_run_free(tx);
  iov_engine_run_free(rx);
}

/* A receiver that expects its sender at another address ignores a hello
 * with the right token from this one. */
static void test_attack_unexpected_sender(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 64, 1 * SEC);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 64, 1 * SEC);
  struct iov_engine_run *rx, *tx;
  uint16_t port;

  rxc.peer_address = "127.0.0.9";
  txc.connect_timeout_ns = 400 * MSEC;
  assert_int_equal(iov_engine_run_new(&iov_engine_udp_rr, &rxc, &rx), 0);
  assert_int_equal(iov_engine_run_prepare(rx, &port, NULL, 0), 0);
  txc.peer_ports = &port;
  assert_int_equal(iov_engine_run_new(&iov_engine_udp_rr, &txc, &tx), 0);
  assert_int_equal(iov_engine_run_prepare(tx, NULL, NULL, 0), -ETIMEDOUT);
  iov_engine_run_stop(rx);
  struct iov_flow_stats *s = snap(rx);
  assert_true(s->ignored >= 1);
  free(s);
  iov_engine_run_free(tx);
  iov_engine_run_free(rx);
}

/* --max-rate on RR: 100-byte requests and responses under a cap of
 * 160 kbit/s are 200 transactions/s at most, burst 4 or not; on loopback
 * unpaced this would be tens of thousands. */
static void test_rr_rate_cap(void **state) {
  (void)state;
  const uint64_t dur = 1 * SEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 100, dur);
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 100, dur);
  struct pair p;
  struct noise z;

  rxc.rr_rate_bps = txc.rr_rate_bps = 100 * 8 * 200;
  assert_true(set_opt(&rxc, &iov_engine_udp_rr, "burst", 4));
  assert_true(set_opt(&txc, &iov_engine_udp_rr, "burst", 4));
  assert_true(set_opt(&txc, &iov_engine_udp_rr, "rr_timeout", 500 * MSEC));
  noise_begin(&z);
  pair_start(&p, &iov_engine_udp_rr, &rxc, &txc);
  assert_true(wait_done(p.tx, HANG_BOUND, NULL, &z));
  iov_engine_run_stop(p.rx);
  uint64_t noise = noise_ns(&z);
  struct iov_flow_stats *tx = snap(p.tx), *rx = snap(p.rx);
  printf("# udp_rr under a 160 kbit/s cap: %" PRIu64
         " transactions in 1 s (at most 200), server ignored %" PRIu64 " (noise allowance %.1f ms)\n",
         tx->transactions, rx->ignored, (double)noise / 1e6);
  check_rr_client(tx, 100, 100);
  assert_true(tx->transactions <= 201);
  if (noise < 100 * MSEC) assert_true(tx->transactions >= 150);
  free(tx);
  free(rx);
  pair_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_stream_rate),
    cmocka_unit_test(test_stream_pacing),
    cmocka_unit_test(test_stream_loss),
    cmocka_unit_test(test_stream_short_msg),
    cmocka_unit_test(test_stream_accounting),
    cmocka_unit_test(test_stream_jitter),
    cmocka_unit_test(test_stream_linger),
    cmocka_unit_test(test_rr_basic),
    cmocka_unit_test(test_rr_busy_poll),
    cmocka_unit_test(test_tos),
    cmocka_unit_test(test_rr_burst),
    cmocka_unit_test(test_rr_server_gone),
    cmocka_unit_test(test_rr_late_response),
    cmocka_unit_test(test_rr_server_echo),
    cmocka_unit_test(test_rr_burst_too_big),
    cmocka_unit_test(test_attack_rr_spoofed),
    cmocka_unit_test(test_attack_rr_wrong_size),
    cmocka_unit_test(test_attack_no_receiver),
    cmocka_unit_test(test_attack_wrong_token),
    cmocka_unit_test(test_attack_unexpected_sender),
    cmocka_unit_test(test_rr_rate_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
