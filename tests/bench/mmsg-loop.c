/* iovbench-mmsg-loop: the bare sendmmsg/recvmmsg loop, the packet-rate
 * reference of tests/bench/pps.  No engine, no header beyond a sequence
 * number, no pacing, no statistics: what the kernel gives a program that
 * does nothing but move datagrams.
 *
 *   iovbench-mmsg-loop recv --addr A --port P [--flows N] [--cpus LIST]
 *                           [--batch B] [--size S] [--timeout DUR]
 *   iovbench-mmsg-loop send --addr A --port P [--flows N] [--cpus LIST]
 *                           [--batch B] [--size S] --duration DUR
 *
 * One thread and one UDP socket per flow; flow i uses port P + i and runs
 * on CPU LIST[i % n] (LIST as in plans: "0", "0+1", "0-3"; none = not
 * pinned).  The sender sends S-byte datagrams (default 18: a 64-byte IPv4
 * Ethernet frame) B at a time with sendmmsg until DUR has passed, the
 * first 8 bytes (or fewer) of each carrying its sequence number; a send
 * that finds the queue full (ENOBUFS, EAGAIN, ECONNREFUSED) is retried.
 * The receiver reads B at a time with recvmmsg and counts; it ends 500 ms
 * after the last datagram (the sender is done), or at DUR of --timeout
 * (default 60 s) in all.
 *
 * Each side prints one line on stdout, all flows together:
 *
 *   recv flows 1 packets 12345678 seconds 4.998 pps 2470123
 *
 * where seconds runs from the first datagram's arrival to the last's (send:
 * from start to end), over every flow, and pps = packets / seconds. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "parse.h"
#include "timeutil.h"

#define LOOP_FLOWS_MAX 64
#define LOOP_BATCH_MAX 1024
#define LOOP_SIZE_MAX 65507
#define LOOP_IDLE_NS (500ULL * 1000 * 1000)

struct loop_flow {
  pthread_t thread;
  int index;
  int cpu; /* -1: not pinned */
  struct sockaddr_in addr;
  uint64_t packets;
  uint64_t first_ns, last_ns; /* recv: first and last arrival; send: start, end */
  int error;                  /* errno that ended the flow, 0 if none */
};

static bool arg_send;
static unsigned arg_batch = 32, arg_size = 18;
static uint64_t arg_duration_ns, arg_timeout_ns = 60ULL * 1000 * 1000 * 1000;

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* One batch of messages over one buffer per message. */
struct loop_batch {
  struct mmsghdr msgs[LOOP_BATCH_MAX];
  struct iovec iov[LOOP_BATCH_MAX];
  unsigned char *bufs;
};

static int batch_init(struct loop_batch *b, size_t bufsize) {
  b->bufs = calloc(arg_batch, bufsize);
  if (!b->bufs) return -ENOMEM;
  memset(b->msgs, 0, sizeof(b->msgs));
  for (unsigned i = 0; i < arg_batch; i++) {
    b->iov[i].iov_base = b->bufs + (size_t)i * bufsize;
    b->iov[i].iov_len = bufsize;
    b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
    b->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return 0;
}

static void *send_flow(void *arg) {
  struct loop_flow *f = arg;
  struct loop_batch *b = calloc(1, sizeof(*b));
  int fd = -1;
  pin(f->cpu);
  if (!b || batch_init(b, arg_size) < 0) {
    f->error = ENOMEM;
    goto out;
  }
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&f->addr, sizeof(f->addr)) < 0) {
    f->error = errno;
    goto out;
  }
  uint64_t seq = 0, start = iov_now_mono(), now = start, end = start + arg_duration_ns;
  size_t seqlen = arg_size < 8 ? arg_size : 8;
  while (now < end) {
    for (unsigned i = 0; i < arg_batch; i++) {
      unsigned char *p = b->iov[i].iov_base;
      uint64_t s = seq + i;
      for (size_t k = 0; k < seqlen; k++) p[k] = (unsigned char)(s >> (8 * (7 - k)));
    }
    int n = sendmmsg(fd, b->msgs, arg_batch, 0);
    now = iov_now_mono();
    if (n < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED || errno == EINTR) continue;
      f->error = errno;
      break;
    }
    seq += (unsigned)n;
  }
  f->packets = seq;
  f->first_ns = start;
  f->last_ns = now;
out:
  if (fd >= 0) close(fd);
  if (b) free(b->bufs);
  free(b);
  return NULL;
}

static void *recv_flow(void *arg) {
  struct loop_flow *f = arg;
  struct loop_batch *b = calloc(1, sizeof(*b));
  int fd = -1, one = 1;
  pin(f->cpu);
  if (!b || batch_init(b, LOOP_SIZE_MAX) < 0) {
    f->error = ENOMEM;
    goto out;
  }
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct timeval tv = { .tv_sec = 0, .tv_usec = 100 * 1000 };
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
      bind(fd, (struct sockaddr *)&f->addr, sizeof(f->addr)) < 0) {
    f->error = errno;
    goto out;
  }
  uint64_t start = iov_now_mono();
  for (;;) {
    int n = recvmmsg(fd, b->msgs, arg_batch, MSG_WAITFORONE, NULL);
    uint64_t now = iov_now_mono();
    if (n > 0) {
      if (!f->packets) f->first_ns = now;
      f->packets += (unsigned)n;
      f->last_ns = now;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      f->error = errno;
      break;
    }
    if (f->packets && now - f->last_ns > LOOP_IDLE_NS) break;
    if (now - start > arg_timeout_ns) break;
  }
out:
  if (fd >= 0) close(fd);
  if (b) free(b->bufs);
  free(b);
  return NULL;
}

static int usage(FILE *out, int rc) {
  fprintf(out,
          "usage: iovbench-mmsg-loop send|recv --addr IPV4 --port PORT [--flows N] [--cpus LIST]\n"
          "       [--batch 1..%d] [--size 1..%d] [--duration DUR (send)] [--timeout DUR (recv)]\n",
          LOOP_BATCH_MAX, LOOP_SIZE_MAX);
  return rc;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
    { "addr", required_argument, NULL, 'a' },     { "port", required_argument, NULL, 'p' },
    { "flows", required_argument, NULL, 'f' },    { "cpus", required_argument, NULL, 'c' },
    { "batch", required_argument, NULL, 'b' },    { "size", required_argument, NULL, 's' },
    { "duration", required_argument, NULL, 'd' }, { "timeout", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
  };
  static struct loop_flow flows[LOOP_FLOWS_MAX];
  uint16_t cpus[LOOP_FLOWS_MAX];
  size_t n_cpus = 0;
  uint64_t v, port = 0, n_flows = 1;
  struct in_addr addr = { 0 };
  bool have_addr = false;
  int c;

  if (argc < 2) return usage(stderr, 2);
  if (strcmp(argv[1], "send") == 0)
    arg_send = true;
  else if (strcmp(argv[1], "recv") != 0)
    return usage(stderr, 2);
  optind = 2;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'a':
      if (inet_pton(AF_INET, optarg, &addr) != 1) return usage(stderr, 2);
      have_addr = true;
      break;
    case 'p':
      if (iov_parse_u64(optarg, &port) < 0 || port < 1 || port > 65535) return usage(stderr, 2);
      break;
    case 'f':
      if (iov_parse_u64(optarg, &n_flows) < 0 || n_flows < 1 || n_flows > LOOP_FLOWS_MAX)
        return usage(stderr, 2);
      break;
    case 'c':
      if (iov_parse_cpus(optarg, cpus, LOOP_FLOWS_MAX, &n_cpus) < 0) return usage(stderr, 2);
      break;
    case 'b':
      if (iov_parse_u64(optarg, &v) < 0 || v < 1 || v > LOOP_BATCH_MAX) return usage(stderr, 2);
      arg_batch = (unsigned)v;
      break;
    case 's':
      if (iov_parse_size(optarg, &v) < 0 || v < 1 || v > LOOP_SIZE_MAX) return usage(stderr, 2);
      arg_size = (unsigned)v;
      break;
    case 'd':
      if (iov_parse_duration(optarg, &arg_duration_ns) < 0) return usage(stderr, 2);
      break;
    case 't':
      if (iov_parse_duration(optarg, &arg_timeout_ns) < 0) return usage(stderr, 2);
      break;
    case 'h': return usage(stdout, 0);
    default: return usage(stderr, 2);
    }
  }
  if (optind != argc || !have_addr || !port || port + n_flows - 1 > 65535 || (arg_send && !arg_duration_ns))
    return usage(stderr, 2);

  for (unsigned i = 0; i < n_flows; i++) {
    struct loop_flow *f = &flows[i];
    f->index = (int)i;
    f->cpu = n_cpus ? cpus[i % n_cpus] : -1;
    f->addr.sin_family = AF_INET;
    f->addr.sin_addr = addr;
    f->addr.sin_port = htons((uint16_t)(port + i));
    int r = pthread_create(&f->thread, NULL, arg_send ? send_flow : recv_flow, f);
    if (r) {
      fprintf(stderr, "iovbench-mmsg-loop: cannot start flow %u: %s\n", i, strerror(r));
      return 1;
    }
  }
  uint64_t packets = 0, first = UINT64_MAX, last = 0;
  int rc = 0;
  for (unsigned i = 0; i < n_flows; i++) {
    struct loop_flow *f = &flows[i];
    pthread_join(f->thread, NULL);
    if (f->error) {
      fprintf(stderr, "iovbench-mmsg-loop: flow %u (port %u): %s\n", i, ntohs(f->addr.sin_port),
              strerror(f->error));
      rc = 1;
    }
    if (!f->packets) continue;
    packets += f->packets;
    if (f->first_ns < first) first = f->first_ns;
    if (f->last_ns > last) last = f->last_ns;
  }
  double secs = packets && last > first ? (double)(last - first) / 1e9 : 0;
  printf("%s flows %" PRIu64 " packets %" PRIu64 " seconds %.3f pps %.0f\n", arg_send ? "send" : "recv",
         n_flows, packets, secs, secs > 0 ? (double)packets / secs : 0.0);
  return rc;
}
