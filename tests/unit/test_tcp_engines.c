/* Unit tests for the TCP engines (engines/tcp_*.c) through the runner API
 * (engines/run.c), over 127.0.0.1 in one process: a receiver run and a
 * sender run, started at one instant, waited for through the done
 * callback (bounded), then compared flow by flow.
 *
 * Both ends of every connection live in this process, so a test can find
 * a flow's sockets among its own fds (by the receiver's port) and read
 * them back with getsockopt: the direction data moved (TCP_INFO byte
 * counters) and the socket options, without the runner exposing anything
 * for tests.  CPU pinning is observed by a test-only engine below. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "err.h"
#include "timeutil.h"
#include "wire.h"
#include "engine_settings.h"

extern const struct iov_engine_ops iov_engine_tcp_stream;
extern const struct iov_engine_ops iov_engine_tcp_rr;
extern const struct iov_engine_ops iov_engine_tcp_maerts;
extern const struct iov_engine_ops iov_engine_tcp_bidir;
extern const struct iov_engine_ops iov_engine_tcp_crr;

#define MS IOV_NSEC_PER_MSEC
#define SEC IOV_NSEC_PER_SEC
/* Flows begin this long after start(), as coord's start instant does. */
#define START_DELAY_NS (50 * MS)
/* Bound on any wait for runs to end, beyond their nominal duration. */
#define DONE_SLACK_NS (10 * SEC)
#define NO_SUCH_IF "iovnosuch0"

/* ---- helpers ---- */

/* Counts done callbacks; a condition variable on CLOCK_MONOTONIC, so the
 * wait is bounded without sleeping. */
struct waiter {
  pthread_mutex_t m;
  pthread_cond_t c;
  int n;
};

static void waiter_init(struct waiter *w) {
  pthread_condattr_t a;
  assert_int_equal(pthread_mutex_init(&w->m, NULL), 0);
  assert_int_equal(pthread_condattr_init(&a), 0);
  assert_int_equal(pthread_condattr_setclock(&a, CLOCK_MONOTONIC), 0);
  assert_int_equal(pthread_cond_init(&w->c, &a), 0);
  pthread_condattr_destroy(&a);
  w->n = 0;
}

static void waiter_done(struct waiter *w) {
  pthread_cond_destroy(&w->c);
  pthread_mutex_destroy(&w->m);
}

static void on_done(void *userdata) {
  struct waiter *w = userdata;
  pthread_mutex_lock(&w->m);
  w->n++;
  pthread_cond_broadcast(&w->c);
  pthread_mutex_unlock(&w->m);
}

/* Wait until n callbacks have fired or timeout_ns passes; returns the count. */
static int waiter_wait(struct waiter *w, int n, uint64_t timeout_ns) {
  struct timespec until = iov_ns_ts(iov_now_mono() + timeout_ns);
  int got;
  pthread_mutex_lock(&w->m);
  while (w->n < n && pthread_cond_timedwait(&w->c, &w->m, &until) == 0)
    ;
  got = w->n;
  pthread_mutex_unlock(&w->m);
  return got;
}

/* A receiver and a sender of one engine, connected over loopback. */
struct pair {
  const struct iov_engine_ops *ops;
  struct iov_engine_run *rx, *tx;
  uint16_t ports[IOV_ENGINE_MAX_FLOWS];
  /* Bulk engines: each flow's socket at the receiver and the sender,
   * found while connected (a closed TCP socket has no ports left). */
  int rfd[IOV_ENGINE_MAX_FLOWS], sfd[IOV_ENGINE_MAX_FLOWS];
  unsigned flows;
  uint64_t duration_ns;
  struct waiter w;
};

/* The point's data-path token (any 16 bytes will do for a test). */
static const uint8_t test_token[IOV_ENGINE_TOKEN_LEN] = "tcp-engine-token";

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

static struct iov_engine_config cfg_default(unsigned flows, uint64_t duration_ns) {
  struct iov_engine_config c = {
    .token = test_token,
    .flows = flows,
    .msg_size = 16 * 1024,
    .response_size = 1,
    .duration_ns = duration_ns,
    .connect_timeout_ns = 2 * SEC,
  };
  return c;
}

/* Receiver on 127.0.0.1, then the sender to its ports (from sender_bind,
 * NULL = any); both prepared, so the sender's hello was answered.  'c'
 * supplies everything but role, addresses and ports. */
static void pair_setup_from(struct pair *p, const struct iov_engine_ops *ops,
                            const struct iov_engine_config *c, const char *sender_bind) {
  struct iov_engine_config rc = *c, sc = *c;

  memset(p, 0, sizeof(*p));
  p->ops = ops;
  p->flows = c->flows;
  p->duration_ns = c->duration_ns;
  waiter_init(&p->w);
  rc.role = IOV_ROLE_RECEIVER;
  rc.bind_address = "127.0.0.1";
  assert_int_equal(iov_engine_run_new(ops, &rc, &p->rx), 0);
  assert_int_equal(iov_engine_run_prepare(p->rx, p->ports, NULL, 0), 0);
  sc.role = IOV_ROLE_SENDER;
  sc.bind_address = sender_bind;
  sc.peer_address = "127.0.0.1";
  sc.peer_ports = p->ports;
  assert_int_equal(iov_engine_run_new(ops, &sc, &p->tx), 0);
  assert_int_equal(iov_engine_run_prepare(p->tx, NULL, NULL, 0), 0);
}

static void pair_setup(struct pair *p, const struct iov_engine_ops *ops, const struct iov_engine_config *c) {
  pair_setup_from(p, ops, c, NULL);
}

static int find_flow_sock(uint16_t port, bool receiver_end);

static void pair_start(struct pair *p) {
  uint64_t at = iov_now_real() + START_DELAY_NS;
  assert_int_equal(iov_engine_run_start(p->rx, at, on_done, &p->w), 0);
  assert_int_equal(iov_engine_run_start(p->tx, at, on_done, &p->w), 0);
}

/* pair_start() for an engine with one connection per flow: also find the
 * flow sockets.  The sender's exist after prepare; the receiver's once
 * its flow thread has accepted, which it does before the start instant. */
static void pair_start_tracked(struct pair *p) {
  for (unsigned i = 0; i < p->flows; i++) {
    p->sfd[i] = find_flow_sock(p->ports[i], false);
    assert_true(p->sfd[i] >= 0);
  }
  pair_start(p);
  for (unsigned i = 0; i < p->flows; i++) {
    uint64_t until = iov_now_mono() + 2 * SEC;
    while ((p->rfd[i] = find_flow_sock(p->ports[i], true)) < 0 && iov_now_mono() < until) sched_yield();
    assert_true(p->rfd[i] >= 0);
  }
}

/* Both runs end by themselves, each calling back exactly once. */
static void pair_wait(struct pair *p) {
  assert_int_equal(waiter_wait(&p->w, 2, START_DELAY_NS + p->duration_ns + DONE_SLACK_NS), 2);
  assert_true(iov_engine_run_done(p->rx));
  assert_true(iov_engine_run_done(p->tx));
}

static void pair_free(struct pair *p) {
  iov_engine_run_stop(p->tx);
  iov_engine_run_stop(p->rx);
  assert_int_equal(p->w.n, 2); /* no callback after the first */
  assert_null(iov_engine_run_free(p->tx));
  assert_null(iov_engine_run_free(p->rx));
  waiter_done(&p->w);
}

/* Snapshots are large (the histogram): on the heap. */
static struct iov_flow_stats *snap(const struct iov_engine_run *r, unsigned i) {
  struct iov_flow_stats *s = malloc(sizeof(*s));
  assert_non_null(s);
  iov_engine_run_snapshot(r, i, s);
  return s;
}

static uint16_t sock_port(int fd, bool peer) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int k = peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len);
  if (k < 0 || a.sin_family != AF_INET) return 0;
  return ntohs(a.sin_port);
}

/* A connected TCP socket of this process: the receiver's end of the flow
 * whose port is 'port' (local side) or the sender's end (peer side).
 * Returns the fd (still owned by the runner) or -1. */
static int find_flow_sock(uint16_t port, bool receiver_end) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int found = -1;

  assert_non_null(d);
  while (found < 0 && (e = readdir(d))) {
    int fd = atoi(e->d_name), type = 0;
    socklen_t tl = sizeof(type);
    if (fd <= 2 || fd == dirfd(d)) continue;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) continue;
    if (sock_port(fd, true) == 0) continue; /* listening, or not connected */
    if (sock_port(fd, !receiver_end) == port) found = fd;
  }
  closedir(d);
  return found;
}

static struct tcp_info sock_tcp_info(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof(ti);
  memset(&ti, 0, sizeof(ti));
  assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
  assert_true(len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received));
  return ti;
}

/* Flow i of a finished pair: no errors, the same bytes on both ends, more
 * than none, and the bytes went the given way on the wire (the reading
 * end's socket received them all; the writing end's socket received at
 * most the reader's FIN, which takes one sequence number).  Before them,
 * the hello went to the receiver and its answer back: IOV_HELLO_LEN bytes
 * more on each end, never counted as the flow's. */
static uint64_t check_bulk_flow(struct pair *p, unsigned i, bool to_receiver) {
  struct iov_flow_stats *rs = snap(p->rx, i), *ss = snap(p->tx, i);
  int rfd = p->rfd[i], sfd = p->sfd[i];
  uint64_t bytes = ss->bytes;

  assert_int_equal(rs->error, 0);
  assert_int_equal(ss->error, 0);
  assert_true(rs->t_end_ns >= rs->t_start_ns && rs->t_start_ns > 0);
  assert_true(ss->t_end_ns >= ss->t_start_ns && ss->t_start_ns > 0);
  assert_true(bytes > 0);
  assert_int_equal(rs->bytes, ss->bytes);
  assert_int_equal(rs->messages, ss->messages);
  struct tcp_info reader = sock_tcp_info(to_receiver ? rfd : sfd);
  struct tcp_info writer = sock_tcp_info(to_receiver ? sfd : rfd);
  assert_true(reader.tcpi_bytes_received >= bytes + IOV_HELLO_LEN);
  assert_true(reader.tcpi_bytes_received <= bytes + IOV_HELLO_LEN + 1);
  assert_true(writer.tcpi_bytes_received >= IOV_HELLO_LEN);
  assert_true(writer.tcpi_bytes_received <= IOV_HELLO_LEN + 1);
  free(rs);
  free(ss);
  return bytes;
}

/* ---- bulk engines ---- */

static void test_stream(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(2, 1 * SEC);
  struct pair p;
  pair_setup(&p, &iov_engine_tcp_stream, &c);
  pair_start_tracked(&p);
  pair_wait(&p);
  for (unsigned i = 0; i < p.flows; i++) check_bulk_flow(&p, i, true);
  pair_free(&p);
}

static void test_maerts(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(2, 1 * SEC);
  struct pair p;
  pair_setup(&p, &iov_engine_tcp_maerts, &c);
  pair_start_tracked(&p);
  pair_wait(&p);
  for (unsigned i = 0; i < p.flows; i++) check_bulk_flow(&p, i, false);
  pair_free(&p);
}

static void test_bidir(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(4, 1 * SEC);
  uint64_t dir_bytes[2] = { 0, 0 };
  struct pair p;
  pair_setup(&p, &iov_engine_tcp_bidir, &c);
  pair_start_tracked(&p);
  pair_wait(&p);
  /* Even flows sender -> receiver, odd flows receiver -> sender. */
  for (unsigned i = 0; i < p.flows; i++) dir_bytes[i % 2] += check_bulk_flow(&p, i, i % 2 == 0);
  assert_true(dir_bytes[0] > 0);
  assert_true(dir_bytes[1] > 0);
  pair_free(&p);
}

static void test_bidir_flow_count(void **state) {
  (void)state;
  static const uint16_t ports[3] = { 9, 9, 9 };
  struct iov_engine_run *r = NULL;
  for (unsigned flows = 1; flows <= 3; flows += 2) {
    struct iov_engine_config c = cfg_default(flows, 1 * SEC);
    c.role = IOV_ROLE_RECEIVER;
    assert_int_equal(iov_engine_run_new(&iov_engine_tcp_bidir, &c, &r), -EINVAL);
    c.role = IOV_ROLE_SENDER;
    c.peer_address = "127.0.0.1";
    c.peer_ports = ports;
    assert_int_equal(iov_engine_run_new(&iov_engine_tcp_bidir, &c, &r), -EINVAL);
  }
  struct iov_engine_config c = cfg_default(2, 1 * SEC);
  c.role = IOV_ROLE_RECEIVER;
  assert_int_equal(iov_engine_run_new(&iov_engine_tcp_bidir, &c, &r), 0);
  assert_null(iov_engine_run_free(r));
}

/* ---- request/response engines ---- */

/* Every counted transaction has its latency; both ends count the same
 * transactions and bytes; nothing lost on loopback. */
static uint64_t check_rr_flow(struct pair *p, unsigned i) {
  struct iov_flow_stats *rs = snap(p->rx, i), *ss = snap(p->tx, i);
  uint64_t t = ss->transactions;

  assert_int_equal(ss->error, 0);
  assert_int_equal(rs->error, 0);
  assert_true(t > 0);
  assert_int_equal(ss->hist.count, t);
  assert_true(ss->hist.min > 0);
  assert_int_equal(ss->lost, 0);
  assert_int_equal(rs->transactions, t);
  assert_int_equal(rs->bytes, ss->bytes);
  assert_int_equal(ss->messages, 2 * t);
  free(rs);
  free(ss);
  return t;
}

static void run_rr(uint32_t burst, uint64_t req, uint64_t resp, uint64_t bufs, unsigned flows) {
  struct iov_engine_config c = cfg_default(flows, 1 * SEC);
  struct pair p;
  c.msg_size = req;
  c.response_size = resp;
  assert_true(set_opt(&c, &iov_engine_tcp_rr, "burst", burst));
  c.send_buffer = bufs;
  c.recv_buffer = bufs;
  c.nodelay = true;
  pair_setup(&p, &iov_engine_tcp_rr, &c);
  pair_start(&p);
  pair_wait(&p);
  for (unsigned i = 0; i < flows; i++) check_rr_flow(&p, i);
  pair_free(&p);
}

static void test_rr_burst1(void **state) {
  (void)state;
  run_rr(1, 64, 128, 0, 2);
}

static void test_rr_burst8(void **state) {
  (void)state;
  run_rr(8, 64, 128, 0, 2);
}

/* Four 1 MiB transactions in flight through 64 KiB buffers: more than the
 * buffers of both directions hold, so a client that blocked in send while
 * responses wait would deadlock with the server (and count nothing). */
static void test_rr_burst_large(void **state) {
  (void)state;
  run_rr(4, 1024 * 1024, 1024 * 1024, 64 * 1024, 1);
}

static void test_rr_burst_limit(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(1, 1 * SEC);
  struct iov_engine_run *r = NULL;
  c.role = IOV_ROLE_RECEIVER;
  assert_true(set_opt(&c, &iov_engine_tcp_rr, "burst", IOV_ENGINE_MAX_BURST + 1));
  assert_int_equal(iov_engine_run_new(&iov_engine_tcp_rr, &c, &r), -EINVAL);
  assert_true(set_opt(&c, &iov_engine_tcp_rr, "burst", IOV_ENGINE_MAX_BURST));
  assert_int_equal(iov_engine_run_new(&iov_engine_tcp_rr, &c, &r), 0);
  assert_null(iov_engine_run_free(r));
}

/* A connection per transaction, as fast as loopback goes for 2 s: tens
 * of thousands of connections, more than the ephemeral ports if closes
 * left TIME_WAIT behind (EADDRNOTAVAIL).  The sender binds to
 * bind_address, which must not pin it to one port range either. */
static void test_crr(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(2, 2 * SEC);
  struct pair p;
  c.msg_size = 64;
  c.response_size = 256;
  c.nodelay = true;
  pair_setup_from(&p, &iov_engine_tcp_crr, &c, "127.0.0.1");
  pair_start(&p);
  pair_wait(&p);
  for (unsigned i = 0; i < p.flows; i++) check_rr_flow(&p, i);
  pair_free(&p);
}

/* ---- socket options ---- */

static int sock_int(int fd, int level, int opt) {
  int v = -1;
  socklen_t len = sizeof(v);
  assert_int_equal(getsockopt(fd, level, opt, &v, &len), 0);
  return v;
}

static void sock_device(int fd, char *ret, size_t size) {
  socklen_t len = (socklen_t)size;
  memset(ret, 0, size);
  assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ret, &len), 0);
}

/* Buffer sizes the kernel accepts as asked (at most [wr]mem_max); it
 * reports them doubled (for its bookkeeping overhead). */
#define SNDBUF (48 * 1024)
#define RCVBUF (80 * 1024)

/* Directly on a socket, as tcp_crr's per-transaction sockets get them. */
static void test_sockopts_direct(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(1, 1 * SEC);
  char dev[IFNAMSIZ];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  c.send_buffer = SNDBUF;
  c.recv_buffer = RCVBUF;
  c.nodelay = true;
  c.interface = "lo";
  assert_int_equal(iov_engine_sockopts(&c, 0, fd), 0);
  assert_int_equal(sock_int(fd, SOL_SOCKET, SO_SNDBUF), 2 * SNDBUF);
  assert_int_equal(sock_int(fd, SOL_SOCKET, SO_RCVBUF), 2 * RCVBUF);
  assert_int_equal(sock_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
  sock_device(fd, dev, sizeof(dev));
  assert_string_equal(dev, "lo");
  close(fd);

  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  c.interface = NO_SUCH_IF;
  assert_int_equal(iov_engine_sockopts(&c, 0, fd), -ENODEV);
  close(fd);

  /* UDP sockets have no TCP_NODELAY: skipped, not an error. */
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  c.interface = NULL;
  assert_int_equal(iov_engine_sockopts(&c, IOV_ENG_F_UDP, fd), 0);
  assert_int_equal(sock_int(fd, SOL_SOCKET, SO_SNDBUF), 2 * SNDBUF);
  close(fd);
}

/* On the flow sockets of a real run, both ends (the receiver's accepted
 * socket inherits from its listening socket), with SO_BINDTODEVICE "lo". */
static void test_sockopts_flow(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(2, 300 * MS);
  char dev[IFNAMSIZ];
  struct pair p;
  c.send_buffer = SNDBUF;
  c.recv_buffer = RCVBUF;
  c.nodelay = true;
  c.interface = "lo";
  pair_setup(&p, &iov_engine_tcp_stream, &c);
  pair_start_tracked(&p);
  pair_wait(&p);
  for (unsigned i = 0; i < p.flows; i++) {
    check_bulk_flow(&p, i, true);
    for (int end = 0; end < 2; end++) {
      int fd = end ? p.rfd[i] : p.sfd[i];
      assert_int_equal(sock_int(fd, SOL_SOCKET, SO_SNDBUF), 2 * SNDBUF);
      assert_int_equal(sock_int(fd, SOL_SOCKET, SO_RCVBUF), 2 * RCVBUF);
      assert_int_equal(sock_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
      sock_device(fd, dev, sizeof(dev));
      assert_string_equal(dev, "lo");
    }
  }
  pair_free(&p);
}

/* ---- engine settings: plan -> wire -> engine ---- */

/* busy_poll (tcp_rr): from the plan through the wire to SO_BUSY_POLL on
 * both ends of each flow; 0 leaves the socket's default; the plan takes
 * 0..1000000 us. */
static void test_busy_poll(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(2, 300 * MS);
  struct pair p;
  uint64_t v = 0;
  c.msg_size = 64;
  c.response_size = 64;
  c.opts = opts_through_wire(&iov_engine_tcp_rr, "busy_poll = 50\n");
  assert_true(iov_engine_opt_get(&iov_engine_tcp_rr, c.opts, "busy_poll", &v));
  assert_int_equal(v, 50);
  pair_setup(&p, &iov_engine_tcp_rr, &c);
  pair_start_tracked(&p);
  pair_wait(&p);
  for (unsigned i = 0; i < p.flows; i++) {
    check_rr_flow(&p, i);
    assert_int_equal(sock_int(p.sfd[i], SOL_SOCKET, SO_BUSY_POLL), 50);
    assert_int_equal(sock_int(p.rfd[i], SOL_SOCKET, SO_BUSY_POLL), 50);
  }
  pair_free(&p);

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int dflt = sock_int(fd, SOL_SOCKET, SO_BUSY_POLL);
  close(fd);
  c.opts = opts_through_wire(&iov_engine_tcp_rr, "");
  pair_setup(&p, &iov_engine_tcp_rr, &c);
  pair_start_tracked(&p);
  pair_wait(&p);
  assert_int_equal(sock_int(p.sfd[0], SOL_SOCKET, SO_BUSY_POLL), dflt);
  pair_free(&p);

  plan_refused(&iov_engine_tcp_rr, "busy_poll = 2000000\n",
               "inline.plan:6: key 'busy_poll': '2000000' is out of range; use 0..1000000");
  plan_refused(&iov_engine_tcp_stream, "busy_poll = 50\n",
               "inline.plan:6: key 'busy_poll': test 't' runs no workload");
}

/* tos (every engine): from the plan through the wire to IP_TOS on both
 * ends of each flow (tcp_crr: its listening socket, whose connections
 * inherit it); the plan takes 0..255 and refuses more, naming the line. */
static void test_tos(void **state) {
  (void)state;
  static const struct {
    const struct iov_engine_ops *ops;
    unsigned flows;
  } runs[] = { { &iov_engine_tcp_stream, 1 },
               { &iov_engine_tcp_maerts, 1 },
               { &iov_engine_tcp_bidir, 2 },
               { &iov_engine_tcp_rr, 1 } };
  struct pair p;
  uint64_t v = 0;

  for (size_t k = 0; k < ELEMENTSOF(runs); k++) {
    struct iov_engine_config c = cfg_default(runs[k].flows, 300 * MS);
    c.response_size = 64;
    c.opts = opts_through_wire(runs[k].ops, "tos = 184\n"); /* DSCP 46 */
    pair_setup(&p, runs[k].ops, &c);
    pair_start_tracked(&p);
    pair_wait(&p);
    for (unsigned i = 0; i < p.flows; i++) {
      if (sock_int(p.sfd[i], IPPROTO_IP, IP_TOS) != 184 || sock_int(p.rfd[i], IPPROTO_IP, IP_TOS) != 184)
        fail_msg("%s flow %u: tos %d and %d", runs[k].ops->name, i, sock_int(p.sfd[i], IPPROTO_IP, IP_TOS),
                 sock_int(p.rfd[i], IPPROTO_IP, IP_TOS));
    }
    pair_free(&p);
  }

  struct iov_engine_config c = cfg_default(1, 300 * MS);
  c.response_size = 64;
  c.opts = opts_through_wire(&iov_engine_tcp_crr, "tos = 184\n");
  pair_setup(&p, &iov_engine_tcp_crr, &c);
  int lfd = -1;
  for (int fd = 3; fd < 1024 && lfd < 0; fd++) {
    int type = 0, acc = 0;
    socklen_t tl = sizeof(type), al = sizeof(acc);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 && acc &&
        sock_port(fd, false) == p.ports[0])
      lfd = fd;
  }
  assert_true(lfd >= 0);
  assert_int_equal(sock_int(lfd, IPPROTO_IP, IP_TOS), 184);
  pair_start(&p);
  pair_wait(&p);
  pair_free(&p);

  /* The plan: 46 is a TOS like any other; 300 is none. */
  assert_true(iov_engine_opt_get(&iov_engine_tcp_stream,
                                 opts_through_wire(&iov_engine_tcp_stream, "tos = 46\n"), "tos", &v));
  assert_int_equal(v, 46);
  plan_refused(&iov_engine_tcp_stream, "tos = 300\n",
               "inline.plan:6: key 'tos': '300' is out of range; use 0..255");
  plan_refused(&iov_engine_tcp_crr, "tos = 300\n", "inline.plan:6: key 'tos'");
}

/* Without the options the sockets keep the system's defaults. */
static void test_sockopts_default(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(1, 200 * MS);
  char dev[IFNAMSIZ];
  struct pair p;
  pair_setup(&p, &iov_engine_tcp_stream, &c);
  int fd = find_flow_sock(p.ports[0], false); /* the sender's, connected in prepare */
  assert_true(fd >= 0);
  assert_int_equal(sock_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  assert_true(sock_int(fd, SOL_SOCKET, SO_SNDBUF) != 2 * SNDBUF);
  sock_device(fd, dev, sizeof(dev));
  assert_string_equal(dev, "");
  pair_start_tracked(&p);
  pair_wait(&p);
  check_bulk_flow(&p, 0, true);
  pair_free(&p);
}

/* A missing interface fails prepare, on either side and for an engine
 * that opens its sockets per transaction too. */
static void test_interface_missing(void **state) {
  (void)state;
  const struct iov_engine_ops *const ops[] = { &iov_engine_tcp_stream, &iov_engine_tcp_crr };
  for (size_t k = 0; k < ELEMENTSOF(ops); k++) {
    struct iov_engine_config c = cfg_default(1, 1 * SEC);
    struct iov_engine_run *rx = NULL, *tx = NULL;
    uint16_t ports[1];
    c.response_size = 64;

    c.role = IOV_ROLE_RECEIVER;
    c.bind_address = "127.0.0.1";
    c.interface = NO_SUCH_IF;
    assert_int_equal(iov_engine_run_new(ops[k], &c, &rx), 0);
    assert_int_equal(iov_engine_run_prepare(rx, ports, NULL, 0), -ENODEV);
    assert_null(iov_engine_run_free(rx));

    c.interface = NULL;
    assert_int_equal(iov_engine_run_new(ops[k], &c, &rx), 0);
    assert_int_equal(iov_engine_run_prepare(rx, ports, NULL, 0), 0);
    c.role = IOV_ROLE_SENDER;
    c.bind_address = NULL;
    c.peer_address = "127.0.0.1";
    c.peer_ports = ports;
    c.interface = NO_SUCH_IF;
    assert_int_equal(iov_engine_run_new(ops[k], &c, &tx), 0);
    assert_int_equal(iov_engine_run_prepare(tx, NULL, NULL, 0), -ENODEV);
    assert_null(iov_engine_run_free(tx));
    assert_null(iov_engine_run_free(rx));
  }
}

/* ---- CPU pinning ---- */

/* Test-only engine: records the CPU its flow thread runs on in
 * stats.messages and checks, yielding now and then, that it stays there;
 * stats.transactions counts the checks.  Its sender connects nowhere
 * (IOV_ENG_F_CONN_PER_TRANS), so it needs no receiver. */
static int cpu_probe_run(struct iov_flow *f, uint64_t end_mono_ns) {
  int first = sched_getcpu();
  uint64_t n = 0;
  if (first < 0) return -errno;
  IOV_FLOW_SET(f, messages, (uint64_t)first);
  do {
    if (sched_getcpu() != first) return -EXDEV;
    IOV_FLOW_SET(f, transactions, ++n);
    sched_yield();
  } while (iov_now_mono() < end_mono_ns && !iov_flow_should_stop(f));
  return 0;
}

static const struct iov_engine_ops cpu_probe = {
  .name = "cpu_probe",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_CONN_PER_TRANS,
  .flow_run = cpu_probe_run,
};

/* Run the probe on 'flows' flows pinned to cpus[]; stats into ret[]. */
static void run_probe(const uint16_t *cpus, uint32_t n_cpus, unsigned flows, struct iov_flow_stats **ret) {
  static const uint16_t ports[IOV_ENGINE_MAX_FLOWS] = { 9 };
  struct iov_engine_config c = cfg_default(flows, 100 * MS);
  struct iov_engine_run *r = NULL;
  struct waiter w;

  waiter_init(&w);
  c.role = IOV_ROLE_SENDER;
  c.peer_address = "127.0.0.1";
  c.peer_ports = ports;
  c.cpus = cpus;
  c.n_cpus = n_cpus;
  assert_int_equal(iov_engine_run_new(&cpu_probe, &c, &r), 0);
  assert_int_equal(iov_engine_run_prepare(r, NULL, NULL, 0), 0);
  assert_int_equal(iov_engine_run_start(r, iov_now_real() + START_DELAY_NS, on_done, &w), 0);
  assert_int_equal(waiter_wait(&w, 1, START_DELAY_NS + c.duration_ns + DONE_SLACK_NS), 1);
  for (unsigned i = 0; i < flows; i++) ret[i] = snap(r, i);
  assert_null(iov_engine_run_free(r));
  waiter_done(&w);
}

static void test_cpu_pinning(void **state) {
  (void)state;
  cpu_set_t allowed;
  uint16_t cpus[2];
  uint32_t n = 0;
  struct iov_flow_stats *s[3];

  assert_int_equal(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
    if (CPU_ISSET(cpu, &allowed)) cpus[n++] = (uint16_t)cpu;
  assert_true(n >= 1); /* normally cpus = {0}, or {1, 0} below */

  /* One CPU for every flow. */
  run_probe(cpus, 1, 2, s);
  for (unsigned i = 0; i < 2; i++) {
    assert_int_equal(s[i]->error, 0);
    assert_true(s[i]->transactions > 0);
    assert_int_equal(s[i]->messages, cpus[0]);
    free(s[i]);
  }
  if (n < 2) return;
  /* Flow i on cpus[i % n]: reversed order, so it cannot pass by luck. */
  uint16_t rev[2] = { cpus[1], cpus[0] };
  run_probe(rev, 2, 3, s);
  for (unsigned i = 0; i < 3; i++) {
    assert_int_equal(s[i]->error, 0);
    assert_true(s[i]->transactions > 0);
    assert_int_equal(s[i]->messages, rev[i % 2]);
    free(s[i]);
  }
}

/* A CPU that does not exist ends the flow with an error before its loop;
 * it does not run unpinned. */
static void test_cpu_missing(void **state) {
  (void)state;
  static const uint16_t cpus[1] = { 4095 };
  struct iov_flow_stats *s[2];
  run_probe(cpus, 1, 2, s);
  for (unsigned i = 0; i < 2; i++) {
    assert_true(s[i]->error < 0);
    assert_int_equal(s[i]->transactions, 0);
    assert_true(s[i]->t_end_ns > 0);
    free(s[i]);
  }
}

/* ---- stop ---- */

static uint64_t moved(const struct pair *p) {
  uint64_t sum = 0;
  for (unsigned i = 0; i < p->flows; i++) {
    struct iov_flow_stats *a = snap(p->rx, i), *b = snap(p->tx, i);
    sum += a->bytes + b->bytes;
    free(a);
    free(b);
  }
  return sum;
}

/* A 30 s run of each engine, stopped once data moves: both stops return
 * (threads joined) well within a second or two, every flow has ended,
 * and each run's callback fired once. */
static void stop_engine(const struct iov_engine_ops *ops, uint32_t burst, bool receiver_first) {
  struct iov_engine_config c = cfg_default(2, 30 * SEC);
  struct pair p;
  uint64_t until, t0, t1;

  c.response_size = 64;
  (void)set_opt(&c, ops, "burst", burst); /* RR engines only */
  pair_setup(&p, ops, &c);
  pair_start(&p);
  until = iov_now_mono() + 5 * SEC;
  while (moved(&p) == 0 && iov_now_mono() < until) {
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 10 * MS };
    nanosleep(&ts, NULL);
  }
  assert_true(moved(&p) > 0);

  t0 = iov_now_mono();
  iov_engine_run_stop(receiver_first ? p.rx : p.tx);
  iov_engine_run_stop(receiver_first ? p.tx : p.rx);
  t1 = iov_now_mono();
  if (t1 - t0 >= 2 * SEC)
    fail_msg("%s burst %u: stop took %.3f s", ops->name, burst, (double)(t1 - t0) / 1e9);
  assert_true(iov_engine_run_done(p.rx));
  assert_true(iov_engine_run_done(p.tx));
  assert_int_equal(waiter_wait(&p.w, 2, 0), 2);
  for (unsigned i = 0; i < p.flows; i++) {
    struct iov_flow_stats *a = snap(p.rx, i), *b = snap(p.tx, i);
    assert_true(a->t_end_ns > 0);
    assert_true(b->t_end_ns > 0);
    /* The side stopped first ends on the request, not with an error. */
    if ((receiver_first ? a : b)->error != 0)
      fail_msg("%s burst %u, %s stopped first: flow %u error %d", ops->name, burst,
               receiver_first ? "receiver" : "sender", i, (receiver_first ? a : b)->error);
    free(a);
    free(b);
  }
  pair_free(&p);
}

static void test_stop(void **state) {
  (void)state;
  stop_engine(&iov_engine_tcp_stream, 1, false);
  stop_engine(&iov_engine_tcp_stream, 1, true);
  stop_engine(&iov_engine_tcp_maerts, 1, false);
  stop_engine(&iov_engine_tcp_maerts, 1, true);
  stop_engine(&iov_engine_tcp_bidir, 1, true);
  stop_engine(&iov_engine_tcp_rr, 1, false);
  stop_engine(&iov_engine_tcp_rr, 8, true);
  stop_engine(&iov_engine_tcp_crr, 1, false);
  stop_engine(&iov_engine_tcp_crr, 1, true);
}

/* ---- attacks (issue 14) ---- */

/* A plain TCP listener of the test on 127.0.0.1 (port chosen), which
 * never answers anything. */
static int tcp_listener(uint16_t *ret_port) {
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof(sin);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(listen(fd, 16), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  *ret_port = ntohs(sin.sin_port);
  return fd;
}

/* Every byte the connections waiting on a listener carried, up to their
 * close (the sender is gone by then). */
static uint64_t bytes_received(int lfd, unsigned *ret_conns) {
  uint64_t total = 0;
  *ret_conns = 0;
  for (;;) {
    struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* the listener does not block */
    if (c < 0) return total;
    (*ret_conns)++;
    assert_int_equal(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    char b[65536];
    ssize_t n;
    while ((n = recv(c, b, sizeof(b), 0)) > 0) total += (uint64_t)n;
    close(c);
  }
}

/* A sender of every TCP engine aimed at a port where no iovbench receiver
 * listens (a plain listener that accepts and never answers): its prepare
 * fails within the connect timeout with the token error, and what reached
 * the port is the hello's 40 bytes, on one connection per flow. */
static void test_attack_no_receiver(void **state) {
  (void)state;
  const struct iov_engine_ops *ops[] = { &iov_engine_tcp_stream, &iov_engine_tcp_maerts, &iov_engine_tcp_rr,
                                         &iov_engine_tcp_crr };
  for (unsigned k = 0; k < ELEMENTSOF(ops); k++) {
    struct iov_engine_config c = cfg_default(1, 1 * SEC);
    struct iov_engine_run *r;
    uint16_t port;
    unsigned conns;
    char want[64];
    int lfd = tcp_listener(&port);

    c.role = IOV_ROLE_SENDER;
    c.peer_address = "127.0.0.1";
    c.peer_ports = &port;
    c.connect_timeout_ns = 500 * MS;
    assert_int_equal(iov_engine_run_new(ops[k], &c, &r), 0);
    uint64_t t0 = iov_now_mono();
    char why[256];
    assert_int_equal(iov_engine_run_prepare(r, NULL, why, sizeof(why)), -ETIMEDOUT);
    uint64_t took = iov_now_mono() - t0;
    snprintf(want, sizeof(want), "receiver at 127.0.0.1:%u did not answer the point's token", port);
    assert_non_null(strstr(why, want));
    assert_null(iov_engine_run_free(r)); /* closes the connection */
    uint64_t bytes = bytes_received(lfd, &conns);
    printf("# %s to a silent listener: failed after %.2f s, %" PRIu64 " bytes on %u connection(s): %s\n",
           ops[k]->name, (double)took / 1e9, bytes, conns, want);
    assert_true(took < 2 * SEC); /* 500 ms, and a wake-up of 200 ms (more under valgrind) */
    assert_int_equal(conns, 1);
    assert_int_equal(bytes, IOV_HELLO_LEN);
    close(lfd);
  }
}

/* Strangers connect to a tcp_maerts receiver (which writes to whoever it
 * takes) before its sender: one sends 40 bytes that are not the hello,
 * one a hello made with another point's token.  Neither gets a byte; the
 * receiver counts both as ignored and serves its sender. */
static void test_attack_stranger(void **state) {
  (void)state;
  static const uint8_t other[IOV_ENGINE_TOKEN_LEN] = "another-points!!";
  struct iov_engine_config c = cfg_default(1, 300 * MS);
  struct iov_engine_config rc = c;
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  struct timeval tv = { .tv_sec = 3, .tv_usec = 0 };
  uint8_t junk[IOV_HELLO_LEN], nonce[16], b[4096];
  struct pair p;
  int s[2];

  memset(&p, 0, sizeof(p));
  p.ops = &iov_engine_tcp_maerts;
  p.flows = 1;
  p.duration_ns = c.duration_ns;
  waiter_init(&p.w);
  rc.role = IOV_ROLE_RECEIVER;
  rc.bind_address = "127.0.0.1";
  assert_int_equal(iov_engine_run_new(p.ops, &rc, &p.rx), 0);
  assert_int_equal(iov_engine_run_prepare(p.rx, p.ports, NULL, 0), 0);
  sin.sin_port = htons(p.ports[0]);
  memset(junk, 'j', sizeof(junk));
  for (int i = 0; i < 2; i++) {
    s[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s[i] >= 0);
    assert_int_equal(setsockopt(s[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(connect(s[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
    if (i == 1) assert_int_equal(iov_hello_make(other, nonce, junk), 0);
    assert_int_equal(send(s[i], junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
  }
  struct iov_engine_config sc = c;
  sc.role = IOV_ROLE_SENDER;
  sc.peer_address = "127.0.0.1";
  sc.peer_ports = p.ports;
  assert_int_equal(iov_engine_run_new(p.ops, &sc, &p.tx), 0);
  assert_int_equal(iov_engine_run_prepare(p.tx, NULL, NULL, 0), 0);
  pair_start(&p);
  pair_wait(&p);
  for (int i = 0; i < 2; i++) {
    ssize_t n = recv(s[i], b, sizeof(b), 0);
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET)); /* closed, no byte */
    close(s[i]);
  }
  struct iov_flow_stats *rs = snap(p.rx, 0), *ss = snap(p.tx, 0);
  printf("# tcp_maerts receiver: strangers ignored %" PRIu64 ", its sender got %" PRIu64 " bytes\n",
         rs->ignored, ss->bytes);
  assert_int_equal(rs->ignored, 2);
  assert_int_equal(rs->error, 0);
  assert_int_equal(ss->error, 0);
  assert_true(ss->bytes > 0);
  assert_int_equal(rs->bytes, ss->bytes);
  free(rs);
  free(ss);
  pair_free(&p);
}

/* --max-rate on tcp_rr: 1000-byte requests, 100-byte responses, a cap of
 * 400 kbit/s: 50 transactions/s at most, however fast loopback is. */
static void test_rr_rate_cap(void **state) {
  (void)state;
  struct iov_engine_config c = cfg_default(1, 1 * SEC);
  struct pair p;
  c.msg_size = 1000;
  c.response_size = 100;
  assert_true(set_opt(&c, &iov_engine_tcp_rr, "burst", 4));
  c.nodelay = true;
  c.rr_rate_bps = 1000 * 8 * 50;
  pair_setup(&p, &iov_engine_tcp_rr, &c);
  pair_start(&p);
  pair_wait(&p);
  struct iov_flow_stats *ss = snap(p.tx, 0);
  printf("# tcp_rr under a 400 kbit/s cap: %" PRIu64 " transactions in 1 s (at most 50)\n", ss->transactions);
  assert_int_equal(ss->error, 0);
  assert_true(ss->transactions <= 51);
  assert_true(ss->transactions >= 25);
  free(ss);
  pair_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_stream),
    cmocka_unit_test(test_maerts),
    cmocka_unit_test(test_bidir),
    cmocka_unit_test(test_bidir_flow_count),
    cmocka_unit_test(test_rr_burst1),
    cmocka_unit_test(test_rr_burst8),
    cmocka_unit_test(test_rr_burst_large),
    cmocka_unit_test(test_rr_burst_limit),
    cmocka_unit_test(test_crr),
    cmocka_unit_test(test_sockopts_direct),
    cmocka_unit_test(test_sockopts_flow),
    cmocka_unit_test(test_busy_poll),
    cmocka_unit_test(test_tos),
    cmocka_unit_test(test_sockopts_default),
    cmocka_unit_test(test_interface_missing),
    cmocka_unit_test(test_cpu_pinning),
    cmocka_unit_test(test_cpu_missing),
    cmocka_unit_test(test_stop),
    cmocka_unit_test(test_attack_no_receiver),
    cmocka_unit_test(test_attack_stranger),
    cmocka_unit_test(test_rr_rate_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
