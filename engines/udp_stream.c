/* udp_stream: paced UDP from sender to receiver, netperf UDP_STREAM and
 * iperf3 -u style.  The sender sends msg_size datagrams at cfg->rate_bps
 * until the window ends, then a few FIN datagrams; the receiver counts the
 * data datagrams and measures loss, reordering, duplicates and RFC 3550
 * interarrival jitter.
 *
 * Every datagram starts with a 24-byte header, in network byte order
 * (written byte by byte, never by casting the buffer to a struct):
 *
 *   offset 0   u64  sequence number: 0, 1, 2, ... for data datagrams;
 *                   in a FIN, the number of data datagrams sent
 *   offset 8   u64  send time, the sender's CLOCK_MONOTONIC in ns (only
 *                   differences between datagrams are used, so the two
 *                   hosts' clocks need not agree)
 *   offset 16  u32  flags: bit 0 = FIN (the sender is done)
 *   offset 20  u32  magic 0x494f5531 ("IOU1"): the format and its version
 *
 * so msg_size must be at least UDP_HDR_SIZE (24) bytes: flow_run returns
 * -EINVAL otherwise, on both sides.  The rest of the datagram is payload.
 * Datagrams that are shorter than the header or carry another magic are
 * ignored by the receiver (not counted).  So is every datagram that does
 * not come from the address and port that said hello with the point's
 * token (handshake.c; counted in stats.ignored).
 *
 * Pacing: datagram n is due at start + n * interval, interval = msg_size
 * * 8 / rate_bps seconds, kept exactly as an integer quotient plus a
 * Bresenham remainder, so the schedule never drifts.  When the next send is
 * more than PACE_SPIN_NS ahead, the sender sleeps with clock_nanosleep
 * (TIMER_ABSTIME) to PACE_SPIN_NS before it, then spins on the clock for the
 * rest (this also absorbs the kernel's default 50 us timer slack).  When the
 * sender is behind, it sends at once; but the schedule may owe at most
 * max(PACE_CATCHUP_MSGS datagrams, PACE_CATCHUP_NS): later than that (the
 * thread was descheduled, or the host cannot sustain the rate), the missed
 * slots are given up and the schedule restarts from now, so a stall is
 * never followed by a line-rate burst longer than that bound.  rate_bps = 0
 * (or above 2^62) sends back to back.
 *
 * Send errors: EAGAIN/EWOULDBLOCK (send buffer full for a whole
 * SO_SNDTIMEO), ENOBUFS (a full device queue) and ECONNREFUSED (the ICMP
 * port unreachable from an earlier datagram, when the receiver is not there
 * yet or any more) mean that this datagram did not leave: it is retried
 * with the same sequence number, and only datagrams that left are counted.
 * Any other error ends the flow.
 *
 * After the window the sender sends UDP_FIN_COUNT FIN datagrams spread over
 * 7.5 ms (a receiver whose buffer was full at the first still gets a
 * later one), so the sender's flow ends about 7.5 ms after the window.  A
 * FIN carries the number of data datagrams sent, so the receiver also counts
 * the datagrams lost at the tail: with a FIN received, for every flow,
 * sent == received + lost exactly (barring duplicates and datagrams
 * reordered behind the FIN).
 *
 * The receiver (counters published as each datagram arrives, so that
 * per-interval differences mean something):
 *   messages, bytes  unique data datagrams and their bytes (duplicates and
 *                    FINs are not counted);
 *   lost             (highest sequence + 1) - unique datagrams, never
 *                    negative; it falls again when a late datagram fills a
 *                    gap.  On a FIN, the highest is taken from the FIN;
 *   out_of_order     datagrams with a sequence below the highest seen;
 *   duplicates       datagrams seen before, within the last RX_WINDOW
 *                    sequence numbers (a bitmap; an older datagram cannot
 *                    be checked and counts as a late unique one);
 *   jitter_ns        RFC 3550 6.4.1: J += (|D| - J) / 16 over consecutive
 *                    non-duplicate data datagrams in arrival order, D the
 *                    change of (arrival - send time).
 * It ends on the first FIN, on a stop, or UDP_RX_LINGER_NS after the
 * nominal window end when no FIN came (all of them lost), with 0.  It
 * ignores the end_mono_ns it is given: the runner's 30 s grace is meant
 * for TCP. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "engine.h"
#include "timeutil.h"

#define UDP_HDR_SIZE 24
#define UDP_MAGIC 0x494f5531u
#define UDP_FLAG_FIN 1u

#define PACE_SPIN_NS (50 * IOV_NSEC_PER_USEC)
#define PACE_CATCHUP_MSGS 16
#define PACE_CATCHUP_NS (2 * IOV_NSEC_PER_MSEC)
#define PACE_MAX_RATE (UINT64_C(1) << 62)
/* Sleeps are cut into slices so that a stop is seen within one. */
#define SLEEP_SLICE_NS (50 * IOV_NSEC_PER_MSEC)

#define UDP_FIN_COUNT 5
#define UDP_RX_LINGER_NS (2 * IOV_NSEC_PER_SEC)
#define RX_WINDOW 4096 /* sequence numbers tracked for duplicates */

/* Delay before each FIN, after the previous one (0, 0.5, 1.5, 3.5, 7.5 ms). */
static const uint64_t fin_gap_ns[UDP_FIN_COUNT] = {
  0, 500 * IOV_NSEC_PER_USEC, 1 * IOV_NSEC_PER_MSEC, 2 * IOV_NSEC_PER_MSEC, 4 * IOV_NSEC_PER_MSEC,
};

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static uint32_t get_be32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = v << 8 | p[i];
  return v;
}

static void hdr_put(uint8_t *p, uint64_t seq, uint64_t t_send, uint32_t flags) {
  put_be64(p, seq);
  put_be64(p + 8, t_send);
  put_be32(p + 16, flags);
  put_be32(p + 20, UDP_MAGIC);
}

/* Sleep until 'until' (CLOCK_MONOTONIC), in slices so that a stop is seen.
 * Returns 0, or -ECANCELED on a stop. */
static int sleep_until(struct iov_flow *f, uint64_t until) {
  for (;;) {
    if (iov_flow_should_stop(f)) return -ECANCELED;
    uint64_t now = iov_now_mono();
    if (now >= until) return 0;
    struct timespec ts = iov_ns_ts(until - now > SLEEP_SLICE_NS ? now + SLEEP_SLICE_NS : until);
    (void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL); /* EINTR: loop */
  }
}

/* The absolute schedule: next = start + n * (step + rem / rate) ns. */
struct pacer {
  uint64_t next; /* CLOCK_MONOTONIC due time of the next datagram */
  uint64_t step; /* whole ns per datagram */
  uint64_t rem;  /* and rem / rate more */
  uint64_t rate; /* bits per second */
  uint64_t acc;  /* accumulated remainder, < rate */
  uint64_t max_late;
};

static void pacer_init(struct pacer *p, uint64_t msg_size, uint64_t rate_bps, uint64_t now) {
  /* msg_size <= 16 MiB, so msg_size * 8e9 < 2^57: no overflow. */
  uint64_t num = msg_size * 8 * IOV_NSEC_PER_SEC;
  p->next = now;
  p->rate = rate_bps;
  p->step = num / rate_bps;
  p->rem = num % rate_bps;
  p->acc = 0;
  p->max_late = p->step * PACE_CATCHUP_MSGS;
  if (p->max_late < PACE_CATCHUP_NS) p->max_late = PACE_CATCHUP_NS;
}

static void pacer_advance(struct pacer *p) {
  p->next += p->step;
  p->acc += p->rem; /* rem < rate <= 2^62: no overflow */
  if (p->acc >= p->rate) {
    p->acc -= p->rate;
    p->next++;
  }
}

/* Wait until the next datagram is due.  Returns 0 with *ret_now the clock
 * (at or after the due time), 1 when the window ends first (having slept
 * to its end), or -ECANCELED. */
static int pacer_wait(struct iov_flow *f, struct pacer *p, uint64_t end, uint64_t *ret_now) {
  uint64_t now = iov_now_mono();
  if (now >= p->next) {
    if (now - p->next > p->max_late) {
      /* Too far behind to catch up without a burst: give up the missed
       * slots and restart the schedule from now. */
      p->next = now;
      p->acc = 0;
    }
    *ret_now = now;
    return 0;
  }
  if (p->next >= end) {
    int k = sleep_until(f, end);
    return k < 0 ? k : 1;
  }
  if (p->next - now > PACE_SPIN_NS) {
    int k = sleep_until(f, p->next - PACE_SPIN_NS);
    if (k < 0) return k;
  }
  while ((now = iov_now_mono()) < p->next)
    ;
  *ret_now = now;
  return 0;
}

static bool send_retryable(int e) {
  return e == EINTR || e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ECONNREFUSED;
}

/* Tell the receiver that 'sent' data datagrams went out.  Errors are
 * ignored: the receiver also ends on its own, later. */
static int send_fins(struct iov_flow *f, uint64_t sent) {
  uint8_t hdr[UDP_HDR_SIZE];
  uint64_t t = iov_now_mono();

  for (unsigned i = 0; i < UDP_FIN_COUNT; i++) {
    t += fin_gap_ns[i];
    int k = sleep_until(f, t);
    if (k < 0) return k;
    hdr_put(hdr, sent, iov_now_mono(), UDP_FLAG_FIN);
    (void)send(f->fd, hdr, sizeof(hdr), MSG_NOSIGNAL);
  }
  return 0;
}

static int stream_send(struct iov_flow *f, uint64_t end) {
  const size_t msg = f->cfg->msg_size;
  const bool paced = f->cfg->rate_bps > 0 && f->cfg->rate_bps <= PACE_MAX_RATE;
  uint8_t *buf = f->buf;
  uint64_t seq = 0, now = iov_now_mono();
  struct pacer p = { 0 };

  if (paced) pacer_init(&p, msg, f->cfg->rate_bps, now);
  for (;;) {
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (paced) {
      int k = pacer_wait(f, &p, end, &now);
      if (k < 0) return k;
      if (k > 0) break;
    } else
      now = iov_now_mono();
    if (now >= end) break;
    hdr_put(buf, seq, now, 0);
    ssize_t n = send(f->fd, buf, msg, MSG_NOSIGNAL);
    if (n >= 0) {
      seq++;
      iov_flow_add(f, (uint64_t)n, 1, 0);
      if (paced) pacer_advance(&p);
      continue;
    }
    if (send_retryable(errno)) continue;            /* the same datagram again */
    if (iov_flow_should_stop(f)) return -ECANCELED; /* EPIPE after the stop's shutdown */
    return -errno;
  }
  return send_fins(f, seq);
}

/* Receiver state, allocated once before the loop. */
struct rx {
  uint64_t seen[RX_WINDOW / 64]; /* bit (s % RX_WINDOW) for s in (highest - RX_WINDOW, highest] */
  uint64_t highest;
  uint64_t unique;
  uint64_t out_of_order;
  uint64_t duplicates;
  uint64_t jitter16; /* jitter in ns, times 16 (RFC 3550 A.8) */
  int64_t last_transit;
  bool any; /* a data datagram arrived: highest is valid */
  bool have_transit;
};

static bool rx_test_set(struct rx *x, uint64_t s) {
  uint64_t bit = UINT64_C(1) << (s % 64), *w = &x->seen[(s % RX_WINDOW) / 64];
  bool was = *w & bit;
  *w |= bit;
  return was;
}

static void rx_clear(struct rx *x, uint64_t s) {
  x->seen[(s % RX_WINDOW) / 64] &= ~(UINT64_C(1) << (s % 64));
}

static uint64_t rx_lost(const struct rx *x, uint64_t expected) {
  return expected > x->unique ? expected - x->unique : 0;
}

/* Account one data datagram.  Returns false for a duplicate. */
static bool rx_data(struct rx *x, uint64_t s) {
  if (!x->any) {
    x->any = true;
    x->highest = s;
  } else if (s > x->highest) {
    if (s - x->highest >= RX_WINDOW)
      for (unsigned i = 0; i < RX_WINDOW / 64; i++) x->seen[i] = 0;
    else
      for (uint64_t k = x->highest + 1; k < s; k++) rx_clear(x, k);
    rx_clear(x, s);
    x->highest = s;
  } else if (x->highest - s >= RX_WINDOW) {
    /* Older than the bitmap: cannot tell, counted as a late unique one. */
    x->out_of_order++;
    x->unique++;
    return true;
  } else if (s < x->highest) {
    if (rx_test_set(x, s)) {
      x->duplicates++;
      return false;
    }
    x->out_of_order++;
    x->unique++;
    return true;
  }
  if (rx_test_set(x, s)) {
    x->duplicates++;
    return false;
  }
  x->unique++;
  return true;
}

static void rx_jitter(struct rx *x, uint64_t arrival, uint64_t t_send) {
  /* Transit time modulo 2^64: only differences count, and the sender's
   * clock may be far from ours. */
  int64_t transit = (int64_t)(arrival - t_send);
  if (x->have_transit) {
    int64_t d = transit - x->last_transit;
    uint64_t ad = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    x->jitter16 += ad - ((x->jitter16 + 8) >> 4);
  }
  x->last_transit = transit;
  x->have_transit = true;
}

static int stream_recv(struct iov_flow *f) {
  const uint64_t deadline = f->window_end_mono + UDP_RX_LINGER_NS;
  const uint8_t *buf = f->buf;
  struct rx *x = calloc(1, sizeof(*x));
  uint64_t last_real = 0;
  int r = 0;

  if (!x) return -ENOMEM;
  for (;;) {
    if (iov_flow_should_stop(f)) {
      r = -ECANCELED;
      break;
    }
    /* MSG_TRUNC: the datagram's real length, should it exceed the buffer. */
    struct sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(f->fd, f->buf, f->buf_size, MSG_TRUNC, (struct sockaddr *)&from, &from_len);
    uint64_t now = iov_now_mono();
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) {
        r = iov_flow_should_stop(f) ? -ECANCELED : -errno;
        break;
      }
    } else if (n > 0 && !iov_flow_udp_admit(f, buf, (size_t)n, &from, from_len)) {
      /* A hello (answered) or a stranger's datagram (ignored, counted). */
    } else if ((size_t)n >= UDP_HDR_SIZE && get_be32(buf + 20) == UDP_MAGIC) {
      uint64_t seq = get_be64(buf);
      /* The flow ran until the last datagram came, not until the linger
       * after the window expired: a lost FIN must not stretch it. */
      last_real = iov_flow_stamp(f);
      if (get_be32(buf + 16) & UDP_FLAG_FIN) {
        /* The FIN tells how many were sent: the tail's losses count too. */
        uint64_t expected = x->any && x->highest + 1 > seq ? x->highest + 1 : seq;
        IOV_FLOW_SET(f, lost, rx_lost(x, expected));
        break;
      }
      if (rx_data(x, seq)) {
        rx_jitter(x, now, get_be64(buf + 8));
        iov_flow_add(f, (uint64_t)n, 1, 0);
        IOV_FLOW_SET(f, lost, rx_lost(x, x->highest + 1));
        IOV_FLOW_SET(f, out_of_order, x->out_of_order);
        IOV_FLOW_SET(f, jitter_ns, x->jitter16 >> 4);
      } else
        IOV_FLOW_SET(f, duplicates, x->duplicates);
    }
    /* Anything else (n == 0 after a stop's shutdown, foreign datagrams) is
     * ignored; the stop is seen at the top of the loop. */
    if (now >= deadline) break; /* no FIN came: they were lost */
  }
  free(x);
  if (last_real) IOV_FLOW_SET(f, t_end_ns, last_real);
  return r;
}

static int stream_run(struct iov_flow *f, uint64_t end_mono_ns) {
  if (f->cfg->msg_size < UDP_HDR_SIZE) return -EINVAL;
  return f->cfg->role == IOV_ROLE_SENDER ? stream_send(f, end_mono_ns) : stream_recv(f);
}

/* The settings of udp_stream (its ops' .options). */
struct udp_stream_opts {
  struct iov_sock_opts sock;
};

static const struct iov_engine_opt udp_stream_options[] = {
  IOV_ENGINE_SOCK_OPTS(struct udp_stream_opts),
  { 0 },
};

const struct iov_engine_ops iov_engine_udp_stream = {
  .name = "udp_stream",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_UDP | IOV_ENG_F_NEEDS_PEER,
  .help = "paced UDP, sender to receiver (msg_size >= 24 per datagram, rate_bps per flow); "
          "loss, reordering, duplicates, jitter",
  .flow_run = stream_run,
  .options = udp_stream_options,
  .option_struct_size = sizeof(struct udp_stream_opts),
  .sockopts = iov_sock_opts_apply,
};
