/* udp_stream's datagram (udp_dgram.c): the 18-byte header every datagram
 * starts with, and the receiver's accounting of what arrived (loss,
 * reordering, duplicates, RFC 3550 jitter).  Internal to engines/.
 *
 * The header, big-endian, written and read byte by byte (never by
 * casting a buffer to a struct), 18 bytes so that a 64-byte IPv4 frame
 * (18 bytes of UDP payload) carries it whole:
 *
 *   offset 0   u16  magic 0x4942 ("IB")
 *   offset 2   u8   version << 4 | flags; version 1; flags bit 0 = FIN
 *                   (the sender is done), bit 1 = ACK (with FIN: the
 *                   receiver's answer to a FIN, receiver to sender),
 *                   bits 2..3 zero
 *   offset 3   u8   flow: the flow's index (0..255), so that a datagram
 *                   that reached another flow's socket is not counted
 *   offset 4   u48  sequence number: 0, 1, 2, ... for data datagrams; in
 *                   a FIN, the number of data datagrams sent
 *   offset 10  u64  send time, the sender's CLOCK_MONOTONIC in ns (only
 *                   differences between datagrams are used, so the two
 *                   hosts' clocks need not agree)
 *
 * 2^48 sequence numbers last 326 days at 10 million datagrams a second:
 * they never wrap within a point. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IOV_UDP_HDR_SIZE 18
#define IOV_UDP_MAGIC 0x4942u
#define IOV_UDP_VERSION 1u
#define IOV_UDP_FLAG_FIN 1u
#define IOV_UDP_FLAG_ACK 2u
#define IOV_UDP_SEQ_MAX ((UINT64_C(1) << 48) - 1)
/* Sequence numbers the receiver remembers for duplicates. */
#define IOV_UDP_RX_WINDOW 4096

struct iov_udp_hdr {
  uint64_t seq;    /* < 2^48 */
  uint64_t t_send; /* ns */
  unsigned flow;   /* 0..255 */
  unsigned flags;  /* IOV_UDP_FLAG_* */
};

/* Write a header at p (IOV_UDP_HDR_SIZE bytes); seq is taken modulo
 * 2^48, flow modulo 256. */
void iov__udp_hdr_put(uint8_t *p, uint64_t seq, uint64_t t_send, unsigned flow, unsigned flags);
/* Read the header of a datagram of n bytes: false (and *ret untouched)
 * when it is shorter than the header, or carries another magic, version
 * or unknown flags. */
bool iov__udp_hdr_get(const uint8_t *p, size_t n, struct iov_udp_hdr *ret);

/* The receiver's accounting of one flow, zeroed before the first
 * datagram (calloc).  Single-threaded: the flow's own thread. */
struct iov_udp_rx {
  uint64_t seen[IOV_UDP_RX_WINDOW / 64]; /* bit s % window for s in (highest - window, highest] */
  uint64_t highest;
  uint64_t unique;
  uint64_t out_of_order;
  uint64_t duplicates;
  uint64_t jitter16; /* jitter in ns, times 16 (RFC 3550 A.8) */
  int64_t last_transit;
  bool any; /* a data datagram arrived: highest is valid */
  bool have_transit;
};

/* Account one data datagram of sequence s (< 2^48) that arrived at
 * 'arrival' (ns, the receiver's clock) and was sent at t_send (the
 * sender's): true if it is new (counted), false for a duplicate. */
bool iov__udp_rx_data(struct iov_udp_rx *x, uint64_t s, uint64_t arrival, uint64_t t_send);
/* Datagrams lost so far when 'expected' were sent (never negative):
 * expected - unique.  With no FIN yet, expected = highest + 1. */
uint64_t iov__udp_rx_lost(const struct iov_udp_rx *x, uint64_t expected);
/* The number of datagrams sent, from a FIN carrying 'count' (the larger
 * of it and highest + 1, so a hostile FIN cannot make loss negative). */
uint64_t iov__udp_rx_expected(const struct iov_udp_rx *x, uint64_t fin_count);
/* Highest + 1, or 0 before any data datagram. */
static inline uint64_t iov__udp_rx_next(const struct iov_udp_rx *x) { return x->any ? x->highest + 1 : 0; }
/* RFC 3550 interarrival jitter in ns. */
static inline uint64_t iov__udp_rx_jitter(const struct iov_udp_rx *x) { return x->jitter16 >> 4; }
