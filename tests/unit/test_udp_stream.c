/* Unit tests for udp_stream's frames, batches, GSO/GRO and packet pacing
 * (engines/udp_stream.c, udp_dgram.c, udp_pace.c), over real sockets on
 * loopback: the 18-byte header of a 64-byte IPv4 frame as it is on the
 * wire, exact accounting at that size, IMIX sizes in proportion, batched
 * sending into a tiny receive buffer, rate_pps pacing, a GSO/GRO round
 * trip, a kernel without GSO or GRO (a seccomp filter in a forked child
 * makes the option fail as such a kernel does) and a frame IPv6 cannot
 * carry.  The wire format is read here byte by byte, independently of
 * the engine's codec.
 *
 * Checks against the wall clock allow for the time this process's threads
 * waited for a CPU (run-queue delay from /proc/self/task/<tid>/schedstat),
 * printed with the result: the host is shared. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "err.h"
#include "frame.h"
#include "timeutil.h"
#include "udp_dgram.h"
#include "udp_pace.h"
#include "wire.h"
#include "engine_settings.h"
#include "seccomp_deny.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

extern const struct iov_engine_ops iov_engine_udp_stream;
#define ENG (&iov_engine_udp_stream)

#define MSEC IOV_NSEC_PER_MSEC
#define SEC IOV_NSEC_PER_SEC
#define START_LEAD (50 * MSEC)
#define HANG_BOUND (15 * SEC)
#define HDR 18
#define MAGIC 0x4942u

static const uint8_t test_token[IOV_ENGINE_TOKEN_LEN] = "udp-stream-token";

/* ---- helpers ---- */

/* Run-queue delay of this process's threads since the last reset: the
 * most any one thread waited (threads are sampled while they live). */
#define NOISE_TASKS 32
static struct {
  int tid[NOISE_TASKS];
  uint64_t first[NOISE_TASKS], last[NOISE_TASKS];
  unsigned n;
} noise_tasks;

static void noise_sample(void) {
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
    if (!f) continue;
    int k = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    if (k != 2) continue;
    unsigned i = 0;
    while (i < noise_tasks.n && noise_tasks.tid[i] != tid) i++;
    if (i == noise_tasks.n) {
      if (noise_tasks.n == NOISE_TASKS) continue;
      noise_tasks.n++;
      noise_tasks.tid[i] = tid;
      noise_tasks.first[i] = wait;
    }
    noise_tasks.last[i] = wait;
  }
  closedir(d);
}

static void noise_reset(void) {
  memset(&noise_tasks, 0, sizeof(noise_tasks));
  noise_sample();
}

static uint64_t noise_max(void) {
  uint64_t m = 0;
  noise_sample();
  for (unsigned i = 0; i < noise_tasks.n; i++)
    if (noise_tasks.last[i] - noise_tasks.first[i] > m) m = noise_tasks.last[i] - noise_tasks.first[i];
  return m;
}

static struct iov_engine_config base_cfg(enum iov_role role, uint64_t duration, const char *addr) {
  struct iov_engine_config c = {
    .token = test_token,
    .role = role,
    .flows = 1,
    .msg_size = 64,
    .response_size = 1,
    .duration_ns = duration,
    .bind_address = addr,
  };
  if (role == IOV_ROLE_SENDER) c.peer_address = addr;
  return c;
}

/* udp_stream's option struct with these settings ("name", value pairs,
 * NULL-terminated), the others at their defaults.  Storage: one of a few
 * static buffers, so that a receiver's and a sender's can differ. */
static const void *opts(const char *name, ...) {
  static _Alignas(uint64_t) unsigned char bufs[4][IOV_ENGINE_MAX_OPTS_SIZE];
  static unsigned next;
  unsigned char *b = bufs[next++ % 4];
  va_list ap;
  iov_engine_opts_default(ENG, b);
  va_start(ap, name);
  for (const char *n = name; n; n = va_arg(ap, const char *))
    assert_int_equal(iov_engine_opt_set(ENG, b, n, va_arg(ap, uint64_t)), 0);
  va_end(ap);
  char err[256] = "";
  if (iov_engine_opts_check(ENG, b, err, sizeof(err)) < 0) fail_msg("%s", err);
  return b;
}

struct pair {
  struct iov_engine_run *rx, *tx;
  uint16_t port;
  uint64_t start_real, start_mono;
};

static void start_at(struct pair *p) {
  p->start_real = iov_now_real() + START_LEAD;
  p->start_mono = iov_now_mono() + START_LEAD;
}

static void pair_start(struct pair *p, const struct iov_engine_config *rxc, struct iov_engine_config *txc) {
  uint16_t ports[1];
  char err[256];
  memset(p, 0, sizeof(*p));
  assert_int_equal(iov_engine_run_new(ENG, rxc, &p->rx), 0);
  if (iov_engine_run_prepare(p->rx, ports, err, sizeof(err)) < 0) fail_msg("receiver: %s", err);
  p->port = ports[0];
  txc->peer_ports = ports;
  assert_int_equal(iov_engine_run_new(ENG, txc, &p->tx), 0);
  if (iov_engine_run_prepare(p->tx, NULL, err, sizeof(err)) < 0) fail_msg("sender: %s", err);
  start_at(p);
  assert_int_equal(iov_engine_run_start(p->rx, p->start_real, NULL, NULL), 0);
  assert_int_equal(iov_engine_run_start(p->tx, p->start_real, NULL, NULL), 0);
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = iov_ns_ts(ns);
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static bool wait_done(struct iov_engine_run *r, uint64_t timeout) {
  uint64_t until = iov_now_mono() + timeout;
  while (!iov_engine_run_done(r)) {
    if (iov_now_mono() >= until) return false;
    noise_sample();
    sleep_ns(5 * MSEC);
  }
  return true;
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

/* The wire format, read independently of the engine. */
struct wire_hdr {
  unsigned magic, version, flags, flow;
  uint64_t seq, t_send;
};

static bool wire_parse(const uint8_t *b, size_t n, struct wire_hdr *h) {
  if (n < HDR) return false;
  h->magic = (unsigned)b[0] << 8 | b[1];
  h->version = b[2] >> 4;
  h->flags = b[2] & 0xf;
  h->flow = b[3];
  h->seq = 0;
  for (int i = 4; i < 10; i++) h->seq = h->seq << 8 | b[i];
  h->t_send = 0;
  for (int i = 10; i < 18; i++) h->t_send = h->t_send << 8 | b[i];
  return true;
}

static void wire_put(uint8_t *b, unsigned magic, unsigned version, unsigned flags, unsigned flow,
                     uint64_t seq, uint64_t t) {
  b[0] = (uint8_t)(magic >> 8);
  b[1] = (uint8_t)magic;
  b[2] = (uint8_t)(version << 4 | flags);
  b[3] = (uint8_t)flow;
  for (int i = 9; i >= 4; i--, seq >>= 8) b[i] = (uint8_t)seq;
  for (int i = 17; i >= 10; i--, t >>= 8) b[i] = (uint8_t)t;
}

/* A test socket in the receiver's place, on its own thread: it answers
 * the sender's hello as a receiver would, then reads every datagram until
 * a FIN (or 'listen_ns'), checking the format and recording sizes.  With
 * 'gro' it reads with UDP_GRO and notes coalesced reads. */
struct fake_rx {
  int fd;
  bool gro;
  uint64_t frame; /* the sender's frame_size: each datagram's size is checked */
  int family;
  unsigned hellos, bad, wrong_size;
  uint64_t data, fin_count, next_seq, gaps;
  bool fin;
  uint64_t by_size[3]; /* the counts of the imix's three payload sizes */
  unsigned sizes[3];
  uint64_t coalesced, max_seg; /* GRO reads holding several datagrams */
};

static void fake_one(struct fake_rx *x, const uint8_t *b, size_t n) {
  struct wire_hdr h;
  if (!wire_parse(b, n, &h) || h.magic != MAGIC || h.version != 1 || h.flow != 0) {
    x->bad++;
    return;
  }
  if (h.flags & 1) {
    x->fin = true;
    x->fin_count = h.seq;
    return;
  }
  if (h.seq != x->next_seq) x->gaps++;
  x->next_seq = h.seq + 1;
  x->data++;
  if (x->frame) {
    int want = iov_frame_payload(iov_frame_nth(x->frame, h.seq), x->family);
    if ((int)n != want) x->wrong_size++;
  }
  for (int i = 0; i < 3; i++)
    if (x->sizes[i] == n) x->by_size[i]++;
}

static void *fake_receiver(void *arg) {
  struct fake_rx *x = arg;
  uint64_t until = iov_now_mono() + 10 * SEC;
  static uint8_t b[65536];
  while (!x->fin && iov_now_mono() < until) {
    struct pollfd p = { .fd = x->fd, .events = POLLIN };
    struct sockaddr_storage from;
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = b, .iov_len = sizeof(b) };
    struct msghdr m = { .msg_name = &from,
                        .msg_namelen = sizeof(from),
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl,
                        .msg_controllen = sizeof(ctl) };
    uint8_t ans[IOV_HELLO_LEN];
    if (poll(&p, 1, 20) <= 0) continue;
    ssize_t n = recvmsg(x->fd, &m, MSG_DONTWAIT);
    if (n <= 0) continue;
    if (iov_hello_is(b, (size_t)n)) {
      x->hellos++;
      if (iov_hello_answer(test_token, b, (size_t)n, ans))
        assert_int_equal(sendto(x->fd, ans, sizeof(ans), 0, (struct sockaddr *)&from, m.msg_namelen),
                         (ssize_t)sizeof(ans));
      continue;
    }
    size_t seg = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int v;
        memcpy(&v, CMSG_DATA(c), sizeof(v));
        seg = (size_t)v;
      }
    if (seg && (size_t)n > seg) {
      x->coalesced++;
      if (seg > x->max_seg) x->max_seg = seg;
      for (size_t off = 0; off < (size_t)n; off += seg)
        fake_one(x, b + off, (size_t)n - off < seg ? (size_t)n - off : seg);
    } else
      fake_one(x, b, (size_t)n);
  }
  return NULL;
}

/* Bind a fake receiver's socket on addr ("127.0.0.1"); its port. */
static uint16_t fake_bind(struct fake_rx *x, bool gro) {
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof(sin);
  int big = 8 << 20, one = 1;
  x->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(x->fd >= 0);
  (void)setsockopt(x->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  (void)setsockopt(x->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  if (gro) assert_int_equal(setsockopt(x->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)), 0);
  x->gro = gro;
  x->family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(x->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(getsockname(x->fd, (struct sockaddr *)&sin, &len), 0);
  return ntohs(sin.sin_port);
}

/* A real sender of config txc to a fake receiver, to the end. */
static struct iov_flow_stats *send_to_fake(struct fake_rx *x, struct iov_engine_config *txc) {
  struct iov_engine_run *r;
  uint16_t port = fake_bind(x, x->gro);
  pthread_t th;
  char err[256];
  struct pair p;

  txc->peer_ports = &port;
  assert_int_equal(iov_engine_run_new(ENG, txc, &r), 0);
  assert_int_equal(pthread_create(&th, NULL, fake_receiver, x), 0);
  if (iov_engine_run_prepare(r, NULL, err, sizeof(err)) < 0) fail_msg("sender: %s", err);
  start_at(&p);
  assert_int_equal(iov_engine_run_start(r, p.start_real, NULL, NULL), 0);
  assert_true(wait_done(r, HANG_BOUND));
  pthread_join(th, NULL);
  struct iov_flow_stats *s = snap(r);
  iov_engine_run_free(r);
  close(x->fd);
  return s;
}

/* ---- the header codec and the pacer, alone ---- */

static void test_dgram_codec(void **state) {
  (void)state;
  uint8_t b[HDR + 2];
  struct iov_udp_hdr h;
  struct wire_hdr w;

  iov__udp_hdr_put(b, UINT64_C(0x123456789abc), UINT64_C(0x0102030405060708), 7, IOV_UDP_FLAG_FIN);
  const uint8_t want[HDR] = {
    0x49, 0x42, 0x11, 7, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 1, 2, 3, 4, 5, 6, 7, 8
  };
  assert_memory_equal(b, want, HDR);
  assert_true(iov__udp_hdr_get(b, HDR, &h));
  assert_int_equal(h.seq, UINT64_C(0x123456789abc));
  assert_int_equal(h.t_send, UINT64_C(0x0102030405060708));
  assert_int_equal(h.flow, 7);
  assert_int_equal(h.flags, IOV_UDP_FLAG_FIN);
  assert_true(wire_parse(b, HDR, &w) && w.magic == MAGIC && w.version == 1);
  /* Sequence numbers are 48 bits; the flow byte is the index mod 256. */
  iov__udp_hdr_put(b, (UINT64_C(1) << 48) + 5, 0, 256 + 3, 0);
  assert_true(iov__udp_hdr_get(b, HDR, &h));
  assert_int_equal(h.seq, 5);
  assert_int_equal(h.flow, 3);
  /* Refused: short, another magic, another version, an unknown flag. */
  assert_false(iov__udp_hdr_get(b, HDR - 1, &h));
  wire_put(b, 0x4943, 1, 0, 0, 1, 0);
  assert_false(iov__udp_hdr_get(b, HDR, &h));
  wire_put(b, MAGIC, 2, 0, 0, 1, 0);
  assert_false(iov__udp_hdr_get(b, HDR, &h));
  wire_put(b, MAGIC, 1, 4, 0, 1, 0);
  assert_false(iov__udp_hdr_get(b, HDR, &h));
  /* The receiver's answer to a FIN: FIN+ACK. */
  wire_put(b, MAGIC, 1, 3, 0, 1, 0);
  assert_true(iov__udp_hdr_get(b, HDR, &h));
  assert_int_equal(h.flags, IOV_UDP_FLAG_FIN | IOV_UDP_FLAG_ACK);
  wire_put(b, MAGIC, 1, 0, 0, 1, 0);
  assert_true(iov__udp_hdr_get(b, HDR + 2, &h)); /* payload after it */
}

/* The schedule: one datagram every 1/3 s (an interval that is no whole
 * number of ns), taken in batches; due times exact, counts exact, never
 * ahead; a late sender restarts the schedule instead of bursting. */
static void test_pace_schedule(void **state) {
  (void)state;
  struct iov_udp_pace p;
  const uint64_t t0 = 1000 * SEC;

  iov__udp_pace_init(&p, SEC, 3, 4, 0, t0, 0);
  assert_int_equal(iov__udp_pace_due(&p, 0), t0);
  assert_int_equal(iov__udp_pace_due(&p, 1), t0 + 333333333);
  assert_int_equal(iov__udp_pace_due(&p, 3), t0 + SEC);
  assert_int_equal(iov__udp_pace_due(&p, 3000000), t0 + 1000000 * SEC); /* no drift */
  assert_int_equal(iov__udp_pace_take(&p, 0, t0 - 1, 4), 0);
  assert_int_equal(iov__udp_pace_take(&p, 0, t0, 4), 1);
  assert_int_equal(iov__udp_pace_take(&p, 1, t0 + 333333332, 4), 0);
  assert_int_equal(iov__udp_pace_take(&p, 1, t0 + 333333333, 4), 1);
  /* At t0 + 1 s, datagrams 0..3 are due: from 1 on, three; at most 2. */
  assert_int_equal(iov__udp_pace_take(&p, 1, t0 + SEC, 4), 3);
  assert_int_equal(iov__udp_pace_take(&p, 1, t0 + SEC, 2), 2);
  /* The catch-up bound here: max(16, batch 4) intervals = 5.33 s; at
   * 5 s late, every missed slot is still sent (in batches). */
  assert_int_equal(p.max_late, 5333333333);
  assert_int_equal(iov__udp_pace_take(&p, 4, iov__udp_pace_due(&p, 4) + 5 * SEC, 4), 4);
  assert_int_equal(p.restarts, 0);
  /* Later than that: the schedule restarts at the sender's datagram. */
  uint64_t late = iov__udp_pace_due(&p, 4) + 6 * SEC;
  assert_int_equal(iov__udp_pace_take(&p, 4, late, 4), 1);
  assert_int_equal(p.restarts, 1);
  assert_int_equal(iov__udp_pace_due(&p, 4), late);
  assert_int_equal(iov__udp_pace_due(&p, 7), late + SEC);
  /* A short interval: the bound is at least 10 ms. */
  iov__udp_pace_init(&p, SEC, 1000000, 32, 0, t0, 10);
  assert_int_equal(p.max_late, 10 * MSEC);
  assert_int_equal(iov__udp_pace_take(&p, 10, t0 + 1999 * IOV_NSEC_PER_USEC, 5000), 2000);
  assert_int_equal(iov__udp_pace_take(&p, 10, t0 + 1999 * IOV_NSEC_PER_USEC, 1024), 1024);
}

/* ---- real sockets ---- */

/* frame_size 64 over IPv4: 18-byte datagrams on the wire, each a header
 * of version 1 for flow 0 with consecutive sequence numbers, and a FIN
 * carrying the number sent. */
static void test_frame64_wire(void **state) {
  (void)state;
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 300 * MSEC, "127.0.0.1");
  struct fake_rx x = { .frame = 64, .sizes = { 18, 0, 0 } };
  txc.opts = opts("frame_size", (uint64_t)64, NULL);
  txc.rate_pps = 20000;
  struct iov_flow_stats *s = send_to_fake(&x, &txc);
  printf("# frame 64: sent %" PRIu64 ", the receiver read %" PRIu64 " of 18 bytes, %" PRIu64
         " gaps, FIN %s (%" PRIu64 ")\n",
         s->messages, x.by_size[0], x.gaps, x.fin ? "yes" : "no", x.fin_count);
  assert_int_equal(s->error, 0);
  assert_true(s->messages > 1000);
  assert_int_equal(s->bytes, s->messages * 18);
  assert_int_equal(x.bad, 0);
  assert_int_equal(x.wrong_size, 0);
  assert_int_equal(x.by_size[0], x.data);
  assert_true(x.fin);
  assert_int_equal(x.fin_count, s->messages);
  assert_true(x.data <= s->messages && x.data * 10 >= s->messages * 9); /* 8 MB of buffer: next to no loss */
  free(s);
}

/* imix: every datagram has the payload of frame iov_frame_nth(imix, seq)
 * (18, 524 or 1472 bytes over IPv4), and the sizes come in 7:4:1 within
 * 1 % (exactly, but for the last, partial cycle). */
static void test_imix_wire(void **state) {
  (void)state;
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 500 * MSEC, "127.0.0.1");
  struct fake_rx x = { .frame = IOV_FRAME_IMIX, .sizes = { 18, 524, 1472 } };
  txc.opts = opts("frame_size", IOV_FRAME_IMIX, NULL);
  txc.rate_pps = 20000;
  struct iov_flow_stats *s = send_to_fake(&x, &txc);
  double n = (double)(x.by_size[0] + x.by_size[1] + x.by_size[2]);
  printf("# imix: %" PRIu64 " datagrams read: %" PRIu64 " / %" PRIu64 " / %" PRIu64
         " of 18 / 524 / 1472 bytes (%.2f / %.2f / %.2f of 12)\n",
         (uint64_t)n, x.by_size[0], x.by_size[1], x.by_size[2], x.by_size[0] * 12 / n, x.by_size[1] * 12 / n,
         x.by_size[2] * 12 / n);
  assert_int_equal(s->error, 0);
  assert_int_equal(x.bad, 0);
  assert_int_equal(x.wrong_size, 0);
  assert_true(n > 1000);
  for (int i = 0; i < 3; i++) {
    double share = (double)x.by_size[i] / n, want = (i == 0 ? 7.0 : i == 1 ? 4.0 : 1.0) / 12;
    assert_true(share > want * 0.99 && share < want * 1.01);
  }
  /* The sender's bytes are its datagrams' payloads. */
  assert_true(s->bytes > s->messages * 18 && s->bytes < s->messages * 1472);
  free(s);
}

/* A lone receiver (frame_size 64) and a test socket that said hello. */
static struct iov_engine_run *lone_receiver(const struct iov_engine_config *rxc, int *ret_fd) {
  struct iov_engine_run *r;
  struct sockaddr_in sin = { .sin_family = AF_INET };
  uint8_t nonce[16], hello[IOV_HELLO_LEN], ans[64];
  uint16_t port;
  struct pair p;

  assert_int_equal(iov_engine_run_new(ENG, rxc, &r), 0);
  assert_int_equal(iov_engine_run_prepare(r, &port, NULL, 0), 0);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(iov_hello_make(test_token, nonce, hello), 0);
  assert_int_equal(send(fd, hello, sizeof(hello), 0), (ssize_t)sizeof(hello));
  struct pollfd pf = { .fd = fd, .events = POLLIN };
  assert_true(poll(&pf, 1, 2000) == 1);
  ssize_t n = recv(fd, ans, sizeof(ans), 0);
  assert_true(n == IOV_HELLO_LEN && iov_hello_answer_ok(test_token, nonce, ans, (size_t)n));
  start_at(&p);
  assert_int_equal(iov_engine_run_start(r, p.start_real, NULL, NULL), 0);
  *ret_fd = fd;
  return r;
}

static void send_wire(int fd, unsigned magic, unsigned version, unsigned flags, unsigned flow, uint64_t seq,
                      uint64_t t, size_t len) {
  uint8_t b[64];
  memset(b, 'x', sizeof(b));
  wire_put(b, magic, version, flags, flow, seq, t);
  assert_int_equal(send(fd, b, len, 0), (ssize_t)len);
}

/* Exact accounting at 18 bytes: 0 1 2 2(dup) 5 3 4 6, then datagrams the
 * receiver must ignore (short, another flow's, another version, an
 * unknown flag, another magic, a FIN+ACK that must not end it), then FIN(9): 7 unique of 18 bytes, 1
 * duplicate, 2 out of order, 2 lost (7 and 8, the tail). */
static void test_frame64_accounting(void **state) {
  (void)state;
  const uint64_t order[] = { 0, 1, 2, 2, 5, 3, 4, 6 };
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 200 * MSEC, "127.0.0.1");
  int fd;
  rxc.opts = opts("frame_size", (uint64_t)64, NULL);
  struct iov_engine_run *r = lone_receiver(&rxc, &fd);

  for (size_t i = 0; i < ELEMENTSOF(order); i++)
    send_wire(fd, MAGIC, 1, 0, 0, order[i], order[i] * MSEC, HDR);
  send_wire(fd, MAGIC, 1, 0, 0, 100, 0, HDR - 1);  /* short */
  send_wire(fd, MAGIC, 1, 0, 1, 100, 0, HDR);      /* flow 1's */
  send_wire(fd, MAGIC, 2, 0, 0, 100, 0, HDR);      /* version 2 */
  send_wire(fd, MAGIC, 1, 4, 0, 100, 0, HDR);      /* a flag version 1 has not */
  send_wire(fd, 0x1234, 1, 0, 0, 100, 0, HDR);     /* not ours */
  send_wire(fd, MAGIC, 1, 3, 0, 100, 0, HDR);      /* FIN+ACK: a receiver's, never counted */
  send_wire(fd, MAGIC, 1, 1, 0, 9, 9 * MSEC, HDR); /* FIN: 9 were sent */
  assert_true(wait_done(r, HANG_BOUND));
  struct iov_flow_stats *s = snap(r);
  assert_int_equal(s->error, 0);
  assert_int_equal(s->messages, 7);
  assert_int_equal(s->bytes, 7 * HDR);
  assert_int_equal(s->duplicates, 1);
  assert_int_equal(s->out_of_order, 2);
  assert_int_equal(s->lost, 2);
  free(s);
  close(fd);
  iov_engine_run_free(r);
}

/* Run a pair to the end; whether the receiver ended on a FIN (before its
 * 2 s linger). */
static bool pair_run(struct pair *p, const struct iov_engine_config *rxc, struct iov_engine_config *txc,
                     struct iov_flow_stats **ret_tx, struct iov_flow_stats **ret_rx) {
  pair_start(p, rxc, txc);
  assert_true(wait_done(p->tx, HANG_BOUND));
  assert_true(wait_done(p->rx, HANG_BOUND));
  uint64_t done = iov_now_mono();
  *ret_tx = snap(p->tx);
  *ret_rx = snap(p->rx);
  return done < p->start_mono + txc->duration_ns + 2 * SEC;
}

/* Batches of 64 unpaced 18-byte datagrams into a 4 KB receive buffer: loss
 * shows, and received + lost is exactly what was sent. */
static void test_batch_tiny_rcvbuf(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 1 * SEC, "127.0.0.1");
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 1 * SEC, "127.0.0.1");
  struct iov_flow_stats *tx, *rx;
  struct pair p;

  rxc.recv_buffer = 4096;
  rxc.opts = txc.opts = opts("frame_size", (uint64_t)64, "batch", (uint64_t)64, NULL);
  bool fin = pair_run(&p, &rxc, &txc, &tx, &rx);
  printf("# batch 64 into 4 KB: sent %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64 ", ooo %" PRIu64
         "%s\n",
         tx->messages, rx->messages, rx->lost, rx->out_of_order, fin ? "" : " (no FIN)");
  assert_int_equal(tx->error, 0);
  assert_int_equal(rx->error, 0);
  assert_true(rx->messages > 0);
  assert_true(rx->lost > 0);
  /* The sender repeats its FIN until the receiver answers it: the FIN
   * gets through the full buffer, and the count is exact. */
  assert_true(fin);
  assert_int_equal(rx->messages + rx->lost, tx->messages);
  assert_int_equal(rx->duplicates, 0);
  assert_int_equal(tx->bytes, tx->messages * 18);
  assert_int_equal(rx->bytes, rx->messages * 18);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* rate_pps: 20000 datagrams/s for 1 s (batch 32; rate_bps, set too, is
 * overridden): the sender's count within 3 % below the schedule, once
 * the time its thread could not run is allowed for, and never above it. */
static void test_rate_pps(void **state) {
  (void)state;
  const uint64_t pps = 20000, dur = 1 * SEC;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, dur, "127.0.0.1");
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, dur, "127.0.0.1");
  struct iov_flow_stats *tx, *rx;
  struct pair p;

  rxc.recv_buffer = 4 << 20;
  rxc.opts = txc.opts = opts("frame_size", (uint64_t)64, NULL);
  txc.rate_pps = pps;
  txc.rate_bps = 1000000000;
  noise_reset();
  bool fin = pair_run(&p, &rxc, &txc, &tx, &rx);
  uint64_t noise = noise_max();
  double want = (double)pps * (double)dur / 1e9;
  double usable = noise < dur ? (double)(dur - noise) / (double)dur : 0;
  printf("# rate_pps %" PRIu64 ": sent %" PRIu64 " in 1 s (%.2f %% off), received %" PRIu64 ", lost %" PRIu64
         " (noise allowance %.1f ms)\n",
         pps, tx->messages, ((double)tx->messages - want) * 100 / want, rx->messages, rx->lost,
         (double)noise / 1e6);
  assert_int_equal(tx->error, 0);
  assert_true((double)tx->messages <= want + 1);
  assert_true((double)tx->messages >= want * usable * 0.97);
  if (fin) assert_int_equal(rx->messages + rx->lost, tx->messages);
  free(tx);
  free(rx);
  pair_free(&p);
}

/* GSO on the sender and GRO on the receiver, on loopback (which keeps a
 * GSO datagram whole for a GRO socket): 18-byte datagrams paced at 200000
 * per second for 0.5 s in segments of up to 32; every datagram accounted
 * on its own (18 bytes each, received + lost == sent, no duplicates).
 * Then GSO alone, into a test socket that reads with UDP_GRO: the
 * datagrams arrive coalesced with an 18-byte segment size, so GSO was
 * used, and each is whole and in order. */
static void test_gso_gro(void **state) {
  (void)state;
  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 500 * MSEC, "127.0.0.1");
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 500 * MSEC, "127.0.0.1");
  struct iov_flow_stats *tx, *rx;
  struct pair p;

  rxc.recv_buffer = 8 << 20;
  rxc.opts = opts("frame_size", (uint64_t)64, "gro", (uint64_t)1, NULL);
  txc.opts = opts("frame_size", (uint64_t)64, "gso", (uint64_t)1, NULL);
  txc.rate_pps = 200000;
  bool fin = pair_run(&p, &rxc, &txc, &tx, &rx);
  printf("# gso + gro: sent %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64 ", ooo %" PRIu64 "%s\n",
         tx->messages, rx->messages, rx->lost, rx->out_of_order, fin ? "" : " (no FIN)");
  assert_int_equal(tx->error, 0);
  assert_int_equal(rx->error, 0);
  assert_true(tx->messages > 1000);
  assert_true(fin);
  assert_int_equal(rx->messages + rx->lost, tx->messages);
  assert_int_equal(rx->duplicates, 0);
  assert_int_equal(tx->bytes, tx->messages * 18);
  assert_int_equal(rx->bytes, rx->messages * 18);
  free(tx);
  free(rx);
  pair_free(&p);

  /* msg_size (no frame) with both: 1000-byte datagrams. */
  rxc.opts = opts("gro", (uint64_t)1, NULL);
  txc.opts = opts("gso", (uint64_t)1, NULL);
  rxc.msg_size = txc.msg_size = 1000;
  txc.rate_pps = 20000;
  fin = pair_run(&p, &rxc, &txc, &tx, &rx);
  printf("# gso + gro, 1000 bytes: sent %" PRIu64 ", received %" PRIu64 ", lost %" PRIu64 "\n", tx->messages,
         rx->messages, rx->lost);
  assert_true(fin);
  assert_int_equal(rx->messages + rx->lost, tx->messages);
  assert_int_equal(rx->bytes, rx->messages * 1000);
  free(tx);
  free(rx);
  pair_free(&p);

  struct iov_engine_config tx2 = base_cfg(IOV_ROLE_SENDER, 300 * MSEC, "127.0.0.1");
  struct fake_rx x = { .frame = 64, .sizes = { 18, 0, 0 }, .gro = true };
  tx2.opts = opts("frame_size", (uint64_t)64, "gso", (uint64_t)1, NULL); /* unpaced: full segments */
  struct iov_flow_stats *s = send_to_fake(&x, &tx2);
  printf("# gso into a GRO socket: sent %" PRIu64 ", read %" PRIu64 " in %" PRIu64
         " coalesced reads of %" PRIu64 "-byte segments, %" PRIu64 " gaps\n",
         s->messages, x.data, x.coalesced, x.max_seg, x.gaps);
  assert_int_equal(s->error, 0);
  assert_true(x.coalesced > 0);
  assert_int_equal(x.max_seg, 18);
  assert_int_equal(x.bad, 0);
  assert_int_equal(x.wrong_size, 0);
  assert_int_equal(x.fin_count, s->messages);
  free(s);
}

/* gso with a frame mix: refused in the prepare, with the reason. */
static void test_gso_mix_refused(void **state) {
  (void)state;
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 300 * MSEC, "127.0.0.1");
  struct iov_engine_run *r;
  uint16_t port = 9; /* nothing is sent: refused before the hello */
  char err[256] = "";
  txc.peer_ports = &port;
  txc.opts = opts("frame_size", IOV_FRAME_IMIX, "gso", (uint64_t)1, NULL);
  assert_int_equal(iov_engine_run_new(ENG, &txc, &r), 0);
  assert_int_equal(iov_engine_run_prepare(r, NULL, err, sizeof(err)), -EINVAL);
  printf("# %s\n", err);
  assert_non_null(strstr(err, "gso: a frame mix"));
  assert_non_null(strstr(err, "set gso = no"));
  iov_engine_run_free(r);
}

/* In a forked child whose setsockopt(SOL_UDP, opt) fails with ENOPROTOOPT
 * (as on a kernel without the option): prepare a sender with gso (or a
 * receiver with gro); the child reports the prepare's result and reason
 * through a pipe.  Returns false when seccomp is not available here. */
static bool prepare_without(int opt, enum iov_role role, int *ret_r, char *err, size_t errlen) {
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  fflush(stdout);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char e[256] = "";
    int r = seccomp_deny_setsockopt(SOL_UDP, opt, ENOPROTOOPT);
    if (r == 0) {
      struct iov_engine_config c = base_cfg(role, 300 * MSEC, "127.0.0.1");
      struct iov_engine_run *run;
      uint16_t ports[1] = { 9 };
      c.peer_ports = ports;
      c.opts = opts(role == IOV_ROLE_SENDER ? "gso" : "gro", (uint64_t)1, "frame_size", (uint64_t)64, NULL);
      r = iov_engine_run_new(ENG, &c, &run);
      if (r == 0) {
        r = iov_engine_run_prepare(run, ports, e, sizeof(e));
        iov_engine_run_free(run);
      }
    } else
      snprintf(e, sizeof(e), "seccomp: %s", strerror(-r));
    ssize_t w = write(pfd[1], &r, sizeof(r));
    w += write(pfd[1], e, sizeof(e));
    _exit(w == (ssize_t)(sizeof(r) + sizeof(e)) ? 0 : 1);
  }
  close(pfd[1]);
  int r = 0, status = 0;
  char e[256] = "";
  assert_int_equal(read(pfd[0], &r, sizeof(r)), (ssize_t)sizeof(r));
  assert_int_equal(read(pfd[0], e, sizeof(e)), (ssize_t)sizeof(e));
  close(pfd[0]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  e[sizeof(e) - 1] = 0;
  snprintf(err, errlen, "%s", e);
  *ret_r = r;
  return strncmp(e, "seccomp: ", 9) != 0;
}

static void test_no_gso_kernel(void **state) {
  (void)state;
  char err[256];
  int r;
  if (!prepare_without(UDP_SEGMENT, IOV_ROLE_SENDER, &r, err, sizeof(err))) skip();
  printf("# sender without UDP GSO: %s\n", err);
  assert_int_equal(r, -ENOPROTOOPT);
  assert_string_equal(err,
                      "gso: this kernel has no UDP GSO (UDP_SEGMENT: Protocol not available); set gso = no");
  assert_true(prepare_without(UDP_GRO, IOV_ROLE_RECEIVER, &r, err, sizeof(err)));
  printf("# receiver without UDP GRO: %s\n", err);
  assert_int_equal(r, -ENOPROTOOPT);
  assert_string_equal(err, "gro: this kernel has no UDP GRO (UDP_GRO: Protocol not available); set gro = no");
}

/* IPv6: a 64-byte frame carries 64 - 66 < 18 bytes of UDP payload: the
 * sender's prepare refuses it naming the family and the smallest frame
 * that works (84), which then runs with 18-byte datagrams. */
static void test_ipv6_frames(void **state) {
  (void)state;
  int probe = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  bool v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
  if (probe >= 0) close(probe);
  if (!v6) skip(); /* no ::1 here */

  struct iov_engine_config rxc = base_cfg(IOV_ROLE_RECEIVER, 300 * MSEC, "::1");
  struct iov_engine_config txc = base_cfg(IOV_ROLE_SENDER, 300 * MSEC, "::1");
  struct iov_engine_run *rx, *tx;
  uint16_t port;
  char err[256] = "";
  rxc.opts = txc.opts = opts("frame_size", (uint64_t)64, NULL);
  assert_int_equal(iov_engine_run_new(ENG, &rxc, &rx), 0);
  assert_int_equal(iov_engine_run_prepare(rx, &port, err, sizeof(err)), 0); /* the receiver only sizes */
  txc.peer_ports = &port;
  assert_int_equal(iov_engine_run_new(ENG, &txc, &tx), 0);
  assert_int_equal(iov_engine_run_prepare(tx, NULL, err, sizeof(err)), -EINVAL);
  printf("# %s\n", err);
  assert_string_equal(
      err, "frame_size 64 cannot carry udp_stream's 18-byte header over IPv6: the Ethernet, IPv6 and "
           "UDP headers and the FCS take 66 bytes of it; the smallest IPv6 frame that can is 84");
  iov_engine_run_free(tx);
  iov_engine_run_free(rx);

  struct iov_flow_stats *ts, *rs;
  struct pair p;
  rxc.opts = txc.opts = opts("frame_size", (uint64_t)84, NULL);
  txc.rate_pps = 10000;
  bool fin = pair_run(&p, &rxc, &txc, &ts, &rs);
  assert_int_equal(ts->error, 0);
  assert_true(ts->messages > 100);
  assert_int_equal(ts->bytes, ts->messages * 18);
  assert_int_equal(rs->bytes, rs->messages * 18);
  if (fin) assert_int_equal(rs->messages + rs->lost, ts->messages);
  free(ts);
  free(rs);
  pair_free(&p);
}

/* udp_stream's settings from a plan through the wire into its option
 * struct: a frame mix, batch, gso, and the search's keys (which coord
 * reads and the engine ignores); and what the plan refuses. */
static void test_settings_through_wire(void **state) {
  (void)state;
  const void *o = opts_through_wire(ENG, "frame_size = 64:3 1518:1\nbatch = 8\ngso = yes\ngro = yes\n"
                                         "pace_spin = 10us\nsearch = ndr,pdr\npdr_loss = 0.1%\n"
                                         "search_trials = 12\n");
  uint64_t v;
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  assert_true(iov_engine_opt_get(ENG, o, "frame_size", &v));
  assert_int_equal(iov_frame_parts(v, parts), 2);
  assert_int_equal(parts[0].size, 64);
  assert_int_equal(parts[0].weight, 3);
  assert_int_equal(parts[1].size, 1518);
  assert_true(iov_engine_opt_get(ENG, o, "batch", &v) && v == 8);
  assert_true(iov_engine_opt_get(ENG, o, "gso", &v) && v == 1);
  assert_true(iov_engine_opt_get(ENG, o, "gro", &v) && v == 1);
  assert_true(iov_engine_opt_get(ENG, o, "pace_spin", &v) && v == 10000);
  assert_true(iov_engine_opt_get(ENG, o, "search", &v) && v == 3);
  assert_true(iov_engine_opt_get(ENG, o, "pdr_loss", &v) && v == 1000000);
  assert_true(iov_engine_opt_get(ENG, o, "search_trials", &v) && v == 12);
  o = opts_through_wire(ENG, "frame_size = imix\n");
  assert_true(iov_engine_opt_get(ENG, o, "frame_size", &v) && v == IOV_FRAME_IMIX);
  uint64_t def;
  _Alignas(uint64_t) unsigned char d[IOV_ENGINE_MAX_OPTS_SIZE];
  iov_engine_opts_default(ENG, d);
  assert_true(iov_engine_opt_get(ENG, d, "batch", &def) && def >= 1); /* chosen by tests/bench/pps */
  assert_true(iov_engine_opt_get(ENG, o, "batch", &v) && v == def);
  plan_refused(ENG, "batch = 0\n", "inline.plan:6: key 'batch': '0' is out of range");
  plan_refused(ENG, "msg_size = 17\n", "18");
}

/* A Prepare's settings are a peer's bytes: a frame_size or search value
 * that no plan can write (a frame of 63 or 9217 bytes, a mix with a
 * 63-byte part or a zero weight, search = 7) is refused at decode, naming the key,
 * never handed to the engine. */
static void test_hostile_custom_settings(void **state) {
  (void)state;
  static const struct {
    const char *key;
    uint64_t v;
  } bad[] = {
    { "frame_size", 63 },
    { "frame_size", 9217 },
    { "frame_size",
      IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 63, 1) | IOV_FRAME_PART(1, 64, 1) }, /* a part of 63 */
    { "frame_size", IOV_FRAME_MIX_BIT | 64 },                                    /* a part of weight 0 */
    { "search", 7 },
  };
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
    Iovbench__EngineSetting es = IOVBENCH__ENGINE_SETTING__INIT, *ps = &es;
    _Alignas(uint64_t) unsigned char o[IOV_ENGINE_MAX_OPTS_SIZE];
    char why[256] = "";
    es.key = (char *)bad[i].key;
    es.value_case = IOVBENCH__ENGINE_SETTING__VALUE_U;
    es.u = bad[i].v;
    w.n_settings = 1;
    w.settings = &ps;
    int r = iov_wire_engine_settings(ENG->options, ENG->option_struct_size, &w, o, why, sizeof(why));
    printf("# %s = %#" PRIx64 ": %d (%s)\n", bad[i].key, bad[i].v, r, why);
    assert_true(r < 0);
    assert_non_null(strstr(why, bad[i].key));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dgram_codec),
    cmocka_unit_test(test_pace_schedule),
    cmocka_unit_test(test_frame64_wire),
    cmocka_unit_test(test_imix_wire),
    cmocka_unit_test(test_frame64_accounting),
    cmocka_unit_test(test_batch_tiny_rcvbuf),
    cmocka_unit_test(test_rate_pps),
    cmocka_unit_test(test_gso_gro),
    cmocka_unit_test(test_gso_mix_refused),
    cmocka_unit_test(test_no_gso_kernel),
    cmocka_unit_test(test_ipv6_frames),
    cmocka_unit_test(test_settings_through_wire),
    cmocka_unit_test(test_hostile_custom_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
