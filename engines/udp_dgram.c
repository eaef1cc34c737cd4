/* udp_stream's datagram header and the receiver's accounting (the format
 * is in udp_dgram.h).
 *
 * The receiver's counters, per flow:
 *   unique        data datagrams counted once (duplicates are not);
 *   lost          expected - unique, never negative: expected is
 *                 (highest sequence + 1), or the FIN's count once a FIN
 *                 came; it falls again when a late datagram fills a gap;
 *   out_of_order  datagrams with a sequence below the highest seen;
 *   duplicates    datagrams seen before, within the last IOV_UDP_RX_WINDOW
 *                 sequence numbers (a bitmap; an older datagram cannot be
 *                 checked and counts as a late unique one);
 *   jitter        RFC 3550 6.4.1: J += (|D| - J) / 16 over consecutive
 *                 non-duplicate data datagrams in arrival order, D the
 *                 change of (arrival - send time). */
#include "udp_dgram.h"

void iov__udp_hdr_put(uint8_t *p, uint64_t seq, uint64_t t_send, unsigned flow, unsigned flags) {
  p[0] = (uint8_t)(IOV_UDP_MAGIC >> 8);
  p[1] = (uint8_t)IOV_UDP_MAGIC;
  p[2] = (uint8_t)(IOV_UDP_VERSION << 4 | (flags & 0x0f));
  p[3] = (uint8_t)flow;
  for (int i = 9; i >= 4; i--, seq >>= 8) p[i] = (uint8_t)seq;
  for (int i = 17; i >= 10; i--, t_send >>= 8) p[i] = (uint8_t)t_send;
}

bool iov__udp_hdr_get(const uint8_t *p, size_t n, struct iov_udp_hdr *ret) {
  if (n < IOV_UDP_HDR_SIZE) return false;
  if (((unsigned)p[0] << 8 | p[1]) != IOV_UDP_MAGIC) return false;
  if (p[2] >> 4 != IOV_UDP_VERSION) return false;
  if (p[2] & 0x0f & ~(IOV_UDP_FLAG_FIN | IOV_UDP_FLAG_ACK))
    return false; /* a flag this version does not know */
  uint64_t seq = 0, t = 0;
  for (int i = 4; i < 10; i++) seq = seq << 8 | p[i];
  for (int i = 10; i < 18; i++) t = t << 8 | p[i];
  ret->seq = seq;
  ret->t_send = t;
  ret->flow = p[3];
  ret->flags = p[2] & 0x0f;
  return true;
}

static bool rx_test_set(struct iov_udp_rx *x, uint64_t s) {
  uint64_t bit = UINT64_C(1) << (s % 64), *w = &x->seen[(s % IOV_UDP_RX_WINDOW) / 64];
  bool was = *w & bit;
  *w |= bit;
  return was;
}

static void rx_clear(struct iov_udp_rx *x, uint64_t s) {
  x->seen[(s % IOV_UDP_RX_WINDOW) / 64] &= ~(UINT64_C(1) << (s % 64));
}

uint64_t iov__udp_rx_lost(const struct iov_udp_rx *x, uint64_t expected) {
  return expected > x->unique ? expected - x->unique : 0;
}

uint64_t iov__udp_rx_expected(const struct iov_udp_rx *x, uint64_t fin_count) {
  uint64_t next = iov__udp_rx_next(x);
  return next > fin_count ? next : fin_count;
}

/* The sequence bookkeeping; false for a duplicate. */
static bool rx_seq(struct iov_udp_rx *x, uint64_t s) {
  if (!x->any) {
    x->any = true;
    x->highest = s;
  } else if (s > x->highest) {
    /* Forget the sequence numbers that leave the window: at most the
     * window's worth of clearing, whatever the gap. */
    if (s - x->highest >= IOV_UDP_RX_WINDOW)
      for (unsigned i = 0; i < IOV_UDP_RX_WINDOW / 64; i++) x->seen[i] = 0;
    else
      for (uint64_t k = x->highest + 1; k < s; k++) rx_clear(x, k);
    rx_clear(x, s);
    x->highest = s;
  } else if (x->highest - s >= IOV_UDP_RX_WINDOW) {
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

static void rx_jitter(struct iov_udp_rx *x, uint64_t arrival, uint64_t t_send) {
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

bool iov__udp_rx_data(struct iov_udp_rx *x, uint64_t s, uint64_t arrival, uint64_t t_send) {
  if (!rx_seq(x, s)) return false;
  rx_jitter(x, arrival, t_send);
  return true;
}
