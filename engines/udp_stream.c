/* udp_stream: paced UDP from sender to receiver, netperf UDP_STREAM and
 * iperf3 -u style, with batched system calls so that it can offer and
 * count small frames near the kernel's limit.  The sender sends datagrams
 * at the flow's rate until the window ends, then a few FIN datagrams; the
 * receiver counts the data datagrams and measures loss, reordering,
 * duplicates and RFC 3550 interarrival jitter.
 *
 * Format: every datagram starts with the 18-byte header of udp_dgram.h
 * (magic 0x4942, version 1 and the FIN flag, the flow's index, a 48-bit
 * sequence number, the send time), so a 64-byte IPv4 frame (18 bytes of
 * UDP payload) carries it whole and is measured exactly.  The rest of the
 * datagram is payload, never read.  The receiver ignores (does not count)
 * a datagram that is shorter than the header, carries another magic,
 * version or unknown flags, or another flow's index; and every datagram
 * that does not come from the address and port that said hello with the
 * point's token (handshake.c; counted in stats.ignored).
 *
 * Sizes: with frame_size = 0, every datagram is msg_size bytes of UDP
 * payload (at least 18: .min_msg_size; flow_run fails with -EINVAL
 * below it).  With a frame size, the payload of each datagram is what
 * an Ethernet frame of that size carries over the socket's address
 * family (lib/frame.h: frame - 14 - 4 FCS - 20 IPv4 or 40 IPv6 - 8 UDP;
 * the family from getsockname), and msg_size is not used; a mix (imix)
 * interleaves its sizes over a cycle of sum(weights) datagrams (datagram
 * n has size iov_frame_nth(v, n)), on both sides alike.  A frame the
 * family cannot carry with the header (64 over IPv6) fails the prepare
 * (flow_prepare) with -EINVAL and the reason, before any traffic.  That
 * is the sender's part, which knows the family on the wire; a receiver
 * only sizes its buffers, for IPv4's payloads, the largest (its socket
 * may be an IPv6 one that IPv4 senders reach too).
 *
 * Pacing: an absolute schedule (udp_pace.h): datagram n is due at
 * start + n * interval, the interval 1 / rate_pps when the config sets a
 * packet rate (a search trial does), else payload bits / rate_bps with
 * the mean payload of a mix (rate_bps counts UDP payload, as msg_size
 * does).  Each system call sends the datagrams already due, up to
 * `batch`; the sender sleeps (clock_nanosleep, absolute) until pace_spin
 * before the next due time and busy-waits the rest.  The catch-up bound
 * of udp_pace.h keeps a stall from turning into a long line-rate burst.
 * No rate (or a rate above 2^53 bit/s) sends back to back, `batch`
 * datagrams per call.
 *
 * Batching: sendmmsg with `batch` datagrams, each its own header in an
 * iovec followed by the flow's shared payload buffer (none for an 18-byte
 * datagram), so every datagram keeps its own sequence number; their send
 * time is the instant the batch was built (one clock read per call).  The
 * receiver takes up to `batch` per recvmmsg (MSG_WAITFORONE: it blocks
 * for the first only; with datagrams so large that batch buffers would
 * pass 2 MiB, fewer) and stamps their arrival with the instant the call
 * returned, as one datagram per call did: a datagram queued behind others
 * shares their arrival, which is what a reader of the socket sees.  The
 * default batch (16) was chosen by tests/bench/pps.
 *
 * GSO and GRO (settings gso, gro; both off by default): gso = yes sets
 * UDP_SEGMENT on the sender's socket to the datagram size, and each
 * sendmsg carries up to min(batch, 64, 65507 / size) datagrams in one
 * buffer, which the kernel (or the NIC) cuts into datagrams; gso needs
 * one datagram size, so a frame mix with gso is refused in the prepare
 * (the equal-size runs of a smooth interleave are one or two datagrams
 * long: GSO would gain nothing).  gro = yes sets UDP_GRO on the
 * receiver's socket: a read may return several datagrams of one sender
 * coalesced, with their size in a UDP_GRO control message; they are cut
 * at that size and each is accounted on its own, exactly as if read
 * alone.  A kernel that refuses either option fails the prepare with
 * "gso: this kernel has no UDP GSO (UDP_SEGMENT: <error>); set gso = no"
 * (or gro's): no silent fallback to what the plan did not ask for.
 *
 * Receive queues: each flow has its own socket on its own port (run.c),
 * so the flows' 4-tuples differ and the NIC's RSS spreads them over its
 * queues; each flow's thread is pinned by `cpus`.  SO_REUSEPORT would add
 * nothing to that and would break the binding of one flow to one socket:
 * a reuseport group hashes every datagram to any socket of the group, so
 * a flow's data would land on sockets that did not answer its hello
 * (handshake.c) and be ignored there.  So there is none.
 *
 * Send errors: EAGAIN/EWOULDBLOCK (send buffer full for a whole
 * SO_SNDTIMEO), ENOBUFS (a full device queue) and ECONNREFUSED (the ICMP
 * port unreachable from an earlier datagram, when the receiver is not
 * there yet or any more) mean that these datagrams did not leave: they are
 * sent again with the same sequence numbers, and only datagrams that left
 * are counted (sendmmsg says how many did).  Any other error ends the
 * flow.
 *
 * After the window the sender sends a FIN datagram (header only, the FIN
 * flag, the number of data datagrams sent) and repeats it, after waits
 * that double from 1 ms, until the receiver answers with a FIN+ACK (to
 * the hello'd sender only) or its socket is gone (ICMP port unreachable),
 * for at most 1 s: a receiver whose buffer was full, or whose thread did
 * not run, when the first FIN came still gets a later one.  The usual
 * cost is one round trip after the window.  With the FIN's count the
 * receiver also counts the datagrams lost at the tail: with a FIN
 * received, for every flow, sent == received + lost exactly (barring
 * duplicates and datagrams reordered behind the FIN's batch).
 *
 * The receiver's counters (udp_dgram.c says how each is counted) are
 * published after each receive call, so that per-interval differences
 * mean something: messages and bytes (unique data datagrams and their
 * UDP payload), lost, out_of_order, duplicates, jitter_ns.  It ends on a
 * FIN (after the rest of that batch), on a stop, or UDP_RX_LINGER_NS
 * after the nominal window end when no FIN came (all of them lost), with
 * 0.  It ignores the end_mono_ns it is given: the runner's 30 s grace is
 * meant for TCP.
 *
 * The search settings (search, search_min, ...) are read by coord, which
 * runs the search (coordinator/search.c) as a series of points with
 * rate_pps set; the engine ignores them. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine.h"
#include "err.h"
#include "frame.h"
#include "ndr.h"
#include "timeutil.h"
#include "udp_dgram.h"
#include "udp_pace.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define PACE_MAX_RATE (UINT64_C(1) << 53) /* 9 Pbit/s: above it, back to back */
#define UDP_RX_LINGER_NS (2 * IOV_NSEC_PER_SEC)
#define UDP_MAX_PAYLOAD 65507    /* an IPv4 datagram's most */
#define GSO_MAX_SEGS 64          /* UDP_MAX_SEGMENTS of older kernels */
#define GRO_BUF 65536            /* a coalesced read: up to 64 KiB */
#define GRO_MAX_BUFS 16          /* GRO reads per call (1 MiB of buffers) */
#define RX_MAX_BUFFER (2u << 20) /* receive buffers of one flow, at most */
#define BATCH_MAX 1024

/* The sender's FINs: the first at once, each next one when no ACK came
 * within a wait that doubles from FIN_WAIT_FIRST_NS; none after
 * FIN_WAIT_MAX_NS in all. */
#define FIN_WAIT_FIRST_NS (1 * IOV_NSEC_PER_MSEC)
#define FIN_WAIT_MAX_NS (1 * IOV_NSEC_PER_SEC)
#define FIN_ACK_COPIES 2

/* The settings of udp_stream (its ops' .options). */
struct udp_stream_opts {
  struct iov_sock_opts sock;
  uint64_t frame_size; /* lib/frame.h value; 0 = msg_size */
  uint64_t batch;      /* datagrams per system call */
  uint64_t gso;        /* bool */
  uint64_t gro;        /* bool */
  uint64_t pace_spin;  /* ns */
  /* The search's, read by coord only (coordinator/search.c). */
  uint64_t search;           /* IOV_SEARCH_* bits */
  uint64_t search_min;       /* bit/s on the wire, all flows */
  uint64_t search_max;       /* bit/s on the wire, all flows; 0 = line rate */
  uint64_t search_precision; /* ppb */
  uint64_t pdr_loss;         /* ppb */
  uint64_t search_trial;     /* ns */
  uint64_t search_trials;
};

static const struct udp_stream_opts *opts_of(const struct iov_flow *f) { return iov_flow_opts(f); }

/* What each datagram of the flow carries: the payload of datagram n is
 * size[n % cycle]. */
struct shape {
  int family;
  unsigned cycle;
  size_t max;           /* largest payload */
  uint64_t cycle_bytes; /* payload of one cycle */
  uint16_t size[IOV_FRAME_CYCLE_MAX];
};

static const char *family_name(int family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }

/* The flow's datagram sizes from its settings and its socket's family.
 * A sender's family is its connected socket's.  A receiver only sizes
 * its buffers, for the largest payloads (IPv4's): its socket may be an
 * IPv6 one that takes IPv4 senders too, and refusing a frame is the
 * sender's part, which knows the family on the wire.  -EINVAL with the
 * reason when a frame cannot carry the header over the family (or
 * msg_size is out of range). */
static int shape_get(const struct iov_flow *f, struct shape *s, char *err, size_t errlen) {
  const struct udp_stream_opts *o = opts_of(f);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);

  if (f->cfg->role == IOV_ROLE_RECEIVER)
    ss.ss_family = AF_INET;
  else if (getsockname(f->fd, (struct sockaddr *)&ss, &len) < 0)
    return -errno;
  s->family = ss.ss_family;
  if (o->frame_size == 0) {
    if (f->cfg->msg_size < IOV_UDP_HDR_SIZE || f->cfg->msg_size > UDP_MAX_PAYLOAD)
      return iov_errf(-EINVAL, err, errlen, "msg_size %llu: udp_stream needs %d to %d bytes",
                      (unsigned long long)f->cfg->msg_size, IOV_UDP_HDR_SIZE, UDP_MAX_PAYLOAD);
    s->cycle = 1;
    s->size[0] = (uint16_t)f->cfg->msg_size;
  } else {
    uint16_t frames[IOV_FRAME_CYCLE_MAX];
    char fb[64];
    s->cycle = iov_frame_table(o->frame_size, frames);
    if (s->cycle == 0)
      return iov_errf(-EINVAL, err, errlen, "frame_size %s is not a frame size",
                      iov_frame_format(o->frame_size, fb, sizeof(fb)));
    for (unsigned i = 0; i < s->cycle; i++) {
      int p = iov_frame_payload(frames[i], s->family);
      if (p < IOV_UDP_HDR_SIZE) {
        const char *fam = family_name(s->family);
        unsigned over = iov_frame_overhead(s->family);
        return iov_errf(
            -EINVAL, err, errlen,
            "frame_size %u cannot carry udp_stream's %d-byte header over %s: the Ethernet, %s and "
            "UDP headers and the FCS take %u bytes of it; the smallest %s frame that can is %u",
            frames[i], IOV_UDP_HDR_SIZE, fam, fam, over, fam, iov_frame_min(s->family, IOV_UDP_HDR_SIZE));
      }
      s->size[i] = (uint16_t)p;
    }
  }
  s->max = 0;
  s->cycle_bytes = 0;
  for (unsigned i = 0; i < s->cycle; i++) {
    if (s->size[i] > s->max) s->max = s->size[i];
    s->cycle_bytes += s->size[i];
  }
  return 0;
}

/* Segments per GSO send: at most batch, 64, and 64 KiB of payload. */
static unsigned gso_segs(const struct shape *s, unsigned batch) {
  unsigned n = batch < GSO_MAX_SEGS ? batch : GSO_MAX_SEGS;
  size_t fit = UDP_MAX_PAYLOAD / s->max;
  if (fit < n) n = (unsigned)fit;
  return n ? n : 1;
}

/* On the prepared socket: the frame fits the family, and the kernel takes
 * the GSO/GRO the settings ask for. */
static int stream_flow_prepare(struct iov_flow *f, char *err, size_t errlen) {
  const struct udp_stream_opts *o = opts_of(f);
  struct shape s = { 0 };
  int k = 0;

  if (o->frame_size == 0 && f->cfg->msg_size < IOV_UDP_HDR_SIZE) return 0; /* flow_run says -EINVAL */
  k = shape_get(f, &s, err, errlen);
  if (k < 0) return k;
  if (f->cfg->role == IOV_ROLE_SENDER && o->gso) {
    if (s.cycle > 1)
      return iov_errf(-EINVAL, err, errlen,
                      "gso: a frame mix has no runs of equal-size datagrams to segment; set gso = no or "
                      "one frame_size");
    int seg = (int)s.size[0];
    if (setsockopt(f->fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) < 0) {
      k = -errno;
      return iov_errf(k, err, errlen, "gso: this kernel has no UDP GSO (UDP_SEGMENT: %s); set gso = no",
                      iov_strerror(k));
    }
  }
  if (f->cfg->role == IOV_ROLE_RECEIVER && o->gro) {
    int one = 1;
    if (setsockopt(f->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
      k = -errno;
      return iov_errf(k, err, errlen, "gro: this kernel has no UDP GRO (UDP_GRO: %s); set gro = no",
                      iov_strerror(k));
    }
  }
  return 0;
}

static bool send_retryable(int e) {
  return e == EINTR || e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ECONNREFUSED;
}

/* Whether the receiver answered our FIN for 'sent': reads what waits on
 * the (connected) socket without blocking.  1: an ACK came, or the
 * receiver's socket is gone (ECONNREFUSED: it ended, so it has its
 * count or never will); 0: not yet. */
static int fin_acked(struct iov_flow *f, uint64_t sent) {
  uint8_t buf[64];
  for (unsigned i = 0; i < 64; i++) {
    ssize_t n = recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) return errno == ECONNREFUSED ? 1 : 0;
    struct iov_udp_hdr h;
    if (iov__udp_hdr_get(buf, (size_t)n, &h) && (h.flags & IOV_UDP_FLAG_ACK) &&
        (h.flags & IOV_UDP_FLAG_FIN) && h.flow == (f->idx & 0xffu) && h.seq == (sent & IOV_UDP_SEQ_MAX))
      return 1;
  }
  return 0;
}

/* Tell the receiver that 'sent' data datagrams went out, until it says it
 * heard (ACK) or FIN_WAIT_MAX_NS have passed: a receiver whose buffer was
 * full, or whose thread did not run, at the first FIN gets a later one.
 * Send errors are ignored: the receiver also ends on its own, later. */
static int send_fins(struct iov_flow *f, uint64_t sent) {
  uint8_t hdr[IOV_UDP_HDR_SIZE];
  const uint64_t t0 = iov_now_mono();
  uint64_t wait = FIN_WAIT_FIRST_NS;

  for (;;) {
    if (iov_flow_should_stop(f)) return -ECANCELED;
    iov__udp_hdr_put(hdr, sent, iov_now_mono(), f->idx, IOV_UDP_FLAG_FIN);
    (void)send(f->fd, hdr, sizeof(hdr), MSG_NOSIGNAL);
    uint64_t now = iov_now_mono();
    if (now - t0 >= FIN_WAIT_MAX_NS) return 0;
    uint64_t until = now + wait;
    if (until > t0 + FIN_WAIT_MAX_NS) until = t0 + FIN_WAIT_MAX_NS;
    while ((now = iov_now_mono()) < until) {
      struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
      uint64_t ms = (until - now + IOV_NSEC_PER_MSEC - 1) / IOV_NSEC_PER_MSEC;
      int k = poll(&pfd, 1, ms > 50 ? 50 : (int)ms); /* slices: a stop is seen */
      if (iov_flow_should_stop(f)) return -ECANCELED;
      if (k > 0 && fin_acked(f, sent)) return 0;
    }
    wait *= 2;
  }
}

/* The sender's buffers, allocated once before the loop. */
struct tx {
  struct mmsghdr *msgs; /* batch; GSO: one */
  struct iovec *iov;    /* two per datagram; GSO: one */
  uint8_t *hdrs;        /* batch headers; GSO: segs whole datagrams */
  uint8_t *payload;     /* the shared payload (after the header) */
};

static void tx_free(struct tx *t) {
  free(t->msgs);
  free(t->iov);
  free(t->hdrs);
  free(t->payload);
}

static int tx_alloc(struct tx *t, const struct shape *s, unsigned batch, bool gso) {
  memset(t, 0, sizeof(*t));
  if (gso) {
    size_t n = (size_t)gso_segs(s, batch) * s->max;
    t->msgs = calloc(1, sizeof(*t->msgs));
    t->iov = calloc(1, sizeof(*t->iov));
    t->hdrs = malloc(n);
    if (!t->msgs || !t->iov || !t->hdrs) goto oom;
    memset(t->hdrs, 'i', n); /* a recognisable, non-zero payload */
    t->iov[0].iov_base = t->hdrs;
    t->msgs[0].msg_hdr.msg_iov = t->iov;
    t->msgs[0].msg_hdr.msg_iovlen = 1;
    return 0;
  }
  t->msgs = calloc(batch, sizeof(*t->msgs));
  t->iov = calloc(2 * (size_t)batch, sizeof(*t->iov));
  t->hdrs = malloc((size_t)batch * IOV_UDP_HDR_SIZE);
  t->payload = malloc(s->max - IOV_UDP_HDR_SIZE + 1);
  if (!t->msgs || !t->iov || !t->hdrs || !t->payload) goto oom;
  memset(t->payload, 'i', s->max - IOV_UDP_HDR_SIZE + 1);
  for (unsigned i = 0; i < batch; i++) {
    t->iov[2 * i].iov_base = t->hdrs + (size_t)i * IOV_UDP_HDR_SIZE;
    t->iov[2 * i].iov_len = IOV_UDP_HDR_SIZE;
    t->iov[2 * i + 1].iov_base = t->payload;
    t->msgs[i].msg_hdr.msg_iov = &t->iov[2 * i];
  }
  return 0;
oom:
  tx_free(t);
  return -ENOMEM;
}

/* Send k datagrams from seq on (sizes from the shape, cycle index ci of
 * seq), stamped 'now'.  The number that left (> 0), or -errno. */
static int tx_batch(struct iov_flow *f, struct tx *t, const struct shape *s, bool gso, uint64_t seq,
                    unsigned ci, unsigned k, uint64_t now, uint64_t *ret_bytes) {
  uint64_t bytes = 0;
  if (gso) {
    size_t seg = s->max;
    for (unsigned i = 0; i < k; i++) iov__udp_hdr_put(t->hdrs + i * seg, seq + i, now, f->idx, 0);
    t->iov[0].iov_len = k * seg;
    ssize_t n = sendmsg(f->fd, &t->msgs[0].msg_hdr, MSG_NOSIGNAL);
    if (n < 0) return -errno;
    *ret_bytes = (uint64_t)n;
    return (int)((size_t)n / seg);
  }
  for (unsigned i = 0; i < k; i++) {
    size_t size = s->size[ci];
    if (++ci == s->cycle) ci = 0;
    iov__udp_hdr_put(t->iov[2 * i].iov_base, seq + i, now, f->idx, 0);
    t->iov[2 * i + 1].iov_len = size - IOV_UDP_HDR_SIZE;
    t->msgs[i].msg_hdr.msg_iovlen = size > IOV_UDP_HDR_SIZE ? 2 : 1;
  }
  int n = sendmmsg(f->fd, t->msgs, k, MSG_NOSIGNAL);
  if (n < 0) return -errno;
  for (int i = 0; i < n; i++) bytes += t->msgs[i].msg_len;
  *ret_bytes = bytes;
  return n;
}

static int stream_send(struct iov_flow *f, uint64_t end) {
  const struct udp_stream_opts *o = opts_of(f);
  const struct iov_engine_config *cfg = f->cfg;
  const bool gso = o->gso != 0;
  struct shape *s = malloc(sizeof(*s));
  struct iov_udp_pace p = { 0 };
  struct tx t = { 0 };
  uint64_t seq = 0, now = iov_now_mono();
  unsigned ci = 0, batch = (unsigned)o->batch;
  bool paced = false;
  int r;

  if (!s) return -ENOMEM;
  r = shape_get(f, s, NULL, 0);
  if (r < 0) goto out;
  if (gso && s->cycle > 1) {
    r = -EINVAL; /* refused in the prepare */
    goto out;
  }
  if (gso) batch = gso_segs(s, batch);
  r = tx_alloc(&t, s, batch, gso);
  if (r < 0) goto out;
  if (cfg->rate_pps) {
    iov__udp_pace_init(&p, IOV_NSEC_PER_SEC, cfg->rate_pps, batch, o->pace_spin, now, 0);
    paced = true;
  } else if (cfg->rate_bps && cfg->rate_bps <= PACE_MAX_RATE) {
    /* interval = cycle_bytes * 8 / (cycle * rate_bps) s, exactly: the
     * numerator is below 381 * 65507 * 8e9 < 2^58, the denominator below
     * 381 * 2^53 < 2^62. */
    iov__udp_pace_init(&p, s->cycle_bytes * 8 * IOV_NSEC_PER_SEC, cfg->rate_bps * s->cycle, batch,
                       o->pace_spin, now, 0);
    paced = true;
  }
  for (;;) {
    unsigned k = batch;
    if (iov_flow_should_stop(f)) {
      r = -ECANCELED;
      goto out;
    }
    if (paced) {
      r = iov__udp_pace_wait(f, &p, seq, end, &now);
      if (r < 0) goto out;
      if (r > 0) break;
      k = iov__udp_pace_take(&p, seq, now, batch);
      if (k == 0) continue;
    } else
      now = iov_now_mono();
    if (now >= end) break;
    uint64_t bytes = 0;
    int n = tx_batch(f, &t, s, gso, seq, ci, k, now, &bytes);
    if (n > 0) {
      seq += (unsigned)n;
      ci = (unsigned)((ci + (unsigned)n) % s->cycle);
      iov_flow_add(f, bytes, (uint64_t)n, 0);
      continue;
    }
    if (n == 0 || send_retryable(-n)) continue;   /* the same datagrams again */
    r = iov_flow_should_stop(f) ? -ECANCELED : n; /* EPIPE after the stop's shutdown */
    goto out;
  }
  r = send_fins(f, seq);
out:
  tx_free(&t);
  free(s);
  return r;
}

/* The receiver's buffers and state, allocated once before the loop. */
struct rxb {
  struct iov_udp_rx acct;
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_storage *from;
  uint8_t *bufs;
  uint8_t *ctl; /* GRO: a control buffer per read */
  size_t buf_size, ctl_size;
  unsigned n;
};

static void rxb_free(struct rxb *b) {
  if (!b) return;
  free(b->msgs);
  free(b->iov);
  free(b->from);
  free(b->bufs);
  free(b->ctl);
  free(b);
}

static struct rxb *rxb_new(const struct shape *s, unsigned batch, bool gro) {
  struct rxb *b = calloc(1, sizeof(*b));
  if (!b) return NULL;
  /* A hello is read whole into a buffer (iov_flow_udp_admit). */
  b->buf_size = gro ? GRO_BUF : (s->max > IOV_HELLO_LEN ? s->max : IOV_HELLO_LEN);
  b->n = gro ? (batch < GRO_MAX_BUFS ? batch : GRO_MAX_BUFS) : batch;
  /* Large datagrams: fewer per call, not more than RX_MAX_BUFFER bytes. */
  if (b->n > RX_MAX_BUFFER / b->buf_size)
    b->n = RX_MAX_BUFFER / b->buf_size ? RX_MAX_BUFFER / b->buf_size : 1;
  b->ctl_size = gro ? CMSG_SPACE(sizeof(int)) : 0;
  b->msgs = calloc(b->n, sizeof(*b->msgs));
  b->iov = calloc(b->n, sizeof(*b->iov));
  b->from = calloc(b->n, sizeof(*b->from));
  b->bufs = malloc(b->n * b->buf_size);
  b->ctl = gro ? calloc(b->n, b->ctl_size) : NULL;
  if (!b->msgs || !b->iov || !b->from || !b->bufs || (gro && !b->ctl)) {
    rxb_free(b);
    return NULL;
  }
  for (unsigned i = 0; i < b->n; i++) {
    b->iov[i].iov_base = b->bufs + i * b->buf_size;
    b->iov[i].iov_len = b->buf_size;
    b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
    b->msgs[i].msg_hdr.msg_iovlen = 1;
    b->msgs[i].msg_hdr.msg_name = &b->from[i];
    b->msgs[i].msg_hdr.msg_namelen = sizeof(b->from[i]);
    if (gro) {
      b->msgs[i].msg_hdr.msg_control = b->ctl + i * b->ctl_size;
      b->msgs[i].msg_hdr.msg_controllen = b->ctl_size;
    }
  }
  return b;
}

/* The segment size of a GRO read (its UDP_GRO control message), or 0
 * when it holds one datagram. */
static size_t gro_size(struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof(v));
      return v > 0 ? (size_t)v : 0;
    }
  return 0;
}

/* What one receive call brought, summed for publication. */
struct rx_tally {
  uint64_t bytes, msgs;
  bool fin, any;
  uint64_t fin_count;
};

/* Account one datagram of n bytes (n may exceed what the buffer holds:
 * MSG_TRUNC; only the header is read). */
static void rx_one(struct iov_flow *f, struct iov_udp_rx *x, const uint8_t *p, size_t n, uint64_t now,
                   struct rx_tally *t) {
  struct iov_udp_hdr h;
  if (!iov__udp_hdr_get(p, n, &h) || h.flow != (f->idx & 0xffu)) return; /* not ours: ignored */
  if (h.flags & IOV_UDP_FLAG_ACK) return; /* a receiver's answer: never ours to count */
  t->any = true;
  if (h.flags & IOV_UDP_FLAG_FIN) {
    /* The FIN tells how many were sent: the tail's losses count too. */
    if (!t->fin || h.seq > t->fin_count) t->fin_count = h.seq;
    t->fin = true;
    return;
  }
  if (iov__udp_rx_data(x, h.seq, now, h.t_send)) {
    t->bytes += n;
    t->msgs++;
  }
}

/* Answer a FIN: the sender stops repeating it.  Only to the flow's
 * hello'd peer, the one source whose datagrams were counted. */
static void fin_ack(struct iov_flow *f, uint64_t count) {
  uint8_t hdr[IOV_UDP_HDR_SIZE];
  if (!f->hello_peer_len) return;
  iov__udp_hdr_put(hdr, count, iov_now_mono(), f->idx, IOV_UDP_FLAG_FIN | IOV_UDP_FLAG_ACK);
  for (unsigned i = 0; i < FIN_ACK_COPIES; i++)
    (void)sendto(f->fd, hdr, sizeof(hdr), MSG_DONTWAIT | MSG_NOSIGNAL,
                 (const struct sockaddr *)&f->hello_peer, f->hello_peer_len);
}

static int stream_recv(struct iov_flow *f) {
  const struct udp_stream_opts *o = opts_of(f);
  const uint64_t deadline = f->window_end_mono + UDP_RX_LINGER_NS;
  struct shape *s = malloc(sizeof(*s));
  struct rxb *b = NULL;
  uint64_t last_mono = 0;
  bool gro = o->gro != 0;
  int r;

  if (!s) return -ENOMEM;
  r = shape_get(f, s, NULL, 0);
  if (r < 0) goto out;
  b = rxb_new(s, (unsigned)o->batch, gro);
  if (!b) {
    r = -ENOMEM;
    goto out;
  }
  struct iov_udp_rx *x = &b->acct;
  for (;;) {
    if (iov_flow_should_stop(f)) {
      r = -ECANCELED;
      break;
    }
    /* MSG_TRUNC: each datagram's real length, should it exceed the buffer. */
    int got = recvmmsg(f->fd, b->msgs, b->n, MSG_WAITFORONE | MSG_TRUNC, NULL);
    uint64_t now = iov_now_mono();
    if (got < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) {
        r = iov_flow_should_stop(f) ? -ECANCELED : -errno;
        break;
      }
      got = 0;
    }
    struct rx_tally t = { 0 };
    for (int i = 0; i < got; i++) {
      struct msghdr *m = &b->msgs[i].msg_hdr;
      const uint8_t *p = b->iov[i].iov_base;
      size_t n = b->msgs[i].msg_len, seg = gro ? gro_size(m) : 0;
      if (n > 0 && iov_flow_udp_admit(f, p, n, &b->from[i], m->msg_namelen)) {
        if (seg && n > seg && n <= b->buf_size)
          for (size_t off = 0; off < n; off += seg)
            rx_one(f, x, p + off, n - off < seg ? n - off : seg, now, &t);
        else
          rx_one(f, x, p, n, now, &t);
      }
      /* A hello (answered), a stranger's datagram (ignored, counted), or
       * n == 0 after a stop's shutdown (seen at the top of the loop). */
      m->msg_namelen = sizeof(b->from[i]);
      if (gro) m->msg_controllen = b->ctl_size;
    }
    if (t.any) {
      /* The flow ran until the last datagram came, not until the linger
       * after the window expired: a lost FIN must not stretch it. */
      last_mono = now;
      if (t.msgs) {
        iov_flow_add(f, t.bytes, t.msgs, 0);
        IOV_FLOW_SET(f, out_of_order, x->out_of_order);
        IOV_FLOW_SET(f, jitter_ns, iov__udp_rx_jitter(x));
      }
      IOV_FLOW_SET(f, duplicates, x->duplicates);
      if (t.fin) {
        IOV_FLOW_SET(f, lost, iov__udp_rx_lost(x, iov__udp_rx_expected(x, t.fin_count)));
        fin_ack(f, t.fin_count);
        break;
      }
      IOV_FLOW_SET(f, lost, iov__udp_rx_lost(x, iov__udp_rx_next(x)));
    }
    if (now >= deadline) break; /* no FIN came: they were lost */
  }
out:
  rxb_free(b);
  free(s);
  if (last_mono) IOV_FLOW_SET(f, t_end_ns, iov_flow_stamp_at(f, last_mono));
  return r;
}

static int stream_run(struct iov_flow *f, uint64_t end_mono_ns) {
  const struct udp_stream_opts *o = opts_of(f);
  if (o->frame_size == 0 && f->cfg->msg_size < IOV_UDP_HDR_SIZE) return -EINVAL;
  if (o->batch < 1 || o->batch > BATCH_MAX) return -EINVAL;
  return f->cfg->role == IOV_ROLE_SENDER ? stream_send(f, end_mono_ns) : stream_recv(f);
}

#define PPB_PER_PCT (UINT64_C(10000000)) /* parts per billion in one per cent */
#define SEARCH_RATE_MAX (UINT64_C(1) << 53)

static const struct iov_engine_opt udp_stream_options[] = {
  IOV_ENGINE_SOCK_OPTS(struct udp_stream_opts),
  { .name = "frame_size",
    .type = IOV_OPT_CUSTOM,
    .unit = "bytes",
    .def = 0,
    .min = 0,
    .max = UINT64_MAX,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, frame_size),
    .parse = iov_frame_parse,
    .format = iov_frame_format,
    .help = "Ethernet frame size, 64 to 9216 (destination MAC to FCS): each datagram carries what such a "
            "frame holds over the socket's family (frame - 46 bytes over IPv4, - 66 over IPv6), in place "
            "of msg_size.  'imix' is 64, 570 and 1518 at 7:4:1; a custom mix is 'SIZE:WEIGHT ...' (up to "
            "3 parts, weights 1..127), interleaved.  0 = msg_size." },
  { .name = "batch",
    .type = IOV_OPT_UINT,
    .def = 16, /* chosen by tests/bench/pps */
    .min = 1,
    .max = BATCH_MAX,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, batch),
    .help = "Datagrams per system call (sendmmsg/recvmmsg; with gso, segments per send, at most 64): "
            "fewer calls per datagram at high packet rates.  Paced senders send only the datagrams "
            "already due." },
  { .name = "gso",
    .type = IOV_OPT_BOOL,
    .def = 0,
    .min = 0,
    .max = 1,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, gso),
    .help = "UDP GSO on the sender (UDP_SEGMENT): up to batch datagrams of one size per send, cut by "
            "the kernel or the NIC.  Needs one frame size (no mix); a kernel without it fails the point." },
  { .name = "gro",
    .type = IOV_OPT_BOOL,
    .def = 0,
    .min = 0,
    .max = 1,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, gro),
    .help = "UDP GRO on the receiver (UDP_GRO): coalesced reads, each datagram still accounted on its "
            "own.  A kernel without it fails the point." },
  { .name = "pace_spin",
    .type = IOV_OPT_DURATION,
    .def = 50 * IOV_NSEC_PER_USEC,
    .min = 0,
    .max = 10 * IOV_NSEC_PER_MSEC,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, pace_spin),
    .help = "A paced sender busy-waits this long before each due time instead of sleeping (sleeps wake "
            "late by tens of microseconds); 0 always sleeps." },
  { .name = "search",
    .type = IOV_OPT_CUSTOM,
    .def = IOV_SEARCH_NONE,
    .min = 0,
    .max = IOV_SEARCH_NDR | IOV_SEARCH_PDR,
    .sweepable = false,
    .offset = offsetof(struct udp_stream_opts, search),
    .parse = iov_search_what_parse,
    .format = iov_search_what_format,
    .help = "Search the offered rate for the highest with no loss (ndr, RFC 2544 throughput) and/or with "
            "at most pdr_loss lost (pdr): none, ndr, pdr or ndr,pdr.  coord runs the trials; the point's "
            "rate is ignored." },
  { .name = "search_min",
    .type = IOV_OPT_RATE,
    .def = 0,
    .min = 0,
    .max = SEARCH_RATE_MAX,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, search_min),
    .help = "The search's lowest offered rate, bits/s on the wire (frames + 20 bytes each), all flows "
            "together; 0 = a thousandth of search_max." },
  { .name = "search_max",
    .type = IOV_OPT_RATE,
    .def = 0,
    .min = 0,
    .max = SEARCH_RATE_MAX,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, search_max),
    .help = "The search's highest offered rate, bits/s on the wire, all flows together; 0 = the line "
            "rate (line_rate, else the NIC's speed)." },
  { .name = "search_precision",
    .type = IOV_OPT_PERCENT,
    .def = 1 * PPB_PER_PCT,
    .min = PPB_PER_PCT / 100,
    .max = 50 * PPB_PER_PCT,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, search_precision),
    .help = "The search ends when the interval between the highest passing and the lowest failing rate "
            "is narrower than this share of the upper one." },
  { .name = "pdr_loss",
    .type = IOV_OPT_PERCENT,
    .def = PPB_PER_PCT / 2,
    .min = 0,
    .max = 50 * PPB_PER_PCT,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, pdr_loss),
    .help = "The loss a trial may have and still pass the PDR (partial drop rate)." },
  { .name = "search_trial",
    .type = IOV_OPT_DURATION,
    .def = IOV_NSEC_PER_SEC,
    .min = 100 * IOV_NSEC_PER_MSEC,
    .max = 3600 * IOV_NSEC_PER_SEC,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, search_trial),
    .help = "The length of the search's short trials; the answer gets a trial of the point's duration." },
  { .name = "search_trials",
    .type = IOV_OPT_UINT,
    .def = 30,
    .min = IOV_SEARCH_TRIALS_MIN,
    .max = IOV_SEARCH_TRIALS_MAX,
    .sweepable = true,
    .offset = offsetof(struct udp_stream_opts, search_trials),
    .help = "The most trials one search runs; a search that needs more ends unconverged." },
  { 0 },
};

const struct iov_engine_ops iov_engine_udp_stream = {
  .name = "udp_stream",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_UDP | IOV_ENG_F_NEEDS_PEER,
  .help = "paced UDP, sender to receiver (msg_size >= 18 per datagram or frame_size, rate_bps per flow, "
          "batched sendmmsg/recvmmsg, optional GSO/GRO); loss, reordering, duplicates, jitter",
  .flow_run = stream_run,
  .flow_prepare = stream_flow_prepare,
  .options = udp_stream_options,
  .option_struct_size = sizeof(struct udp_stream_opts),
  .min_msg_size = IOV_UDP_HDR_SIZE,
  .sockopts = iov_sock_opts_apply,
};
