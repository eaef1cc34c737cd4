/* Ethernet frame arithmetic: frame sizes, frame mixes (IMIX) and the UDP
 * payload a frame carries.
 *
 * A frame value is a uint64_t:
 *   0             unset (the point's msg_size rules);
 *   64..9216      one frame size in bytes (destination MAC to FCS);
 *   bit 63 set    a mix of 1 to IOV_FRAME_MIX_MAX parts, part i in bits
 *                 21*i..21*i+20: size in the low 14 bits, weight (1..127)
 *                 in the next 7; unused parts are all zero.
 *
 * A mix is sent in cycles of sum(weights) datagrams (at most 381), each
 * cycle interleaving the parts smoothly, so any window of one cycle holds
 * every part exactly in its proportion.
 *
 * Bits on the wire per frame: (frame + IOV_FRAME_L1_OVERHEAD) * 8.
 * Every function is pure and thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IOV_FRAME_MIN 64
#define IOV_FRAME_MAX 9216
#define IOV_FRAME_MIX_MAX 3
#define IOV_FRAME_WEIGHT_MAX 127
/* The longest cycle of a mix: IOV_FRAME_MIX_MAX * IOV_FRAME_WEIGHT_MAX. */
#define IOV_FRAME_CYCLE_MAX 381

/* Bytes around each frame: Ethernet header 14, FCS 4. */
#define IOV_FRAME_ETH_HDR 14
#define IOV_FRAME_FCS 4
#define IOV_FRAME_UDP_HDR 8
/* Preamble 7 + start frame delimiter 1 + inter-frame gap 12. */
#define IOV_FRAME_L1_OVERHEAD 20

#define IOV_FRAME_MIX_BIT (UINT64_C(1) << 63)
#define IOV_FRAME_PART_BITS 21
#define IOV_FRAME_PART(i, size, weight) \
  (((uint64_t)(size) | ((uint64_t)(weight) << 14)) << (IOV_FRAME_PART_BITS * (i)))
/* The simple IMIX: 64, 570 and 1518 bytes at 7:4:1. */
#define IOV_FRAME_IMIX \
  (IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 64, 7) | IOV_FRAME_PART(1, 570, 4) | IOV_FRAME_PART(2, 1518, 1))

struct iov_frame_part {
  unsigned size, weight;
};

/* "64" (64..9216), "imix", "0" (unset) or a custom mix of 1 to 3 parts
 * "SIZE:WEIGHT SIZE:WEIGHT ..." (blank-separated, sizes 64..9216, weights
 * 1..127).  0 and *ret set, or -EINVAL / -ERANGE with a reason naming the
 * bad part and the allowed range in err. */
int iov_frame_parse(const char *text, uint64_t *ret, char *err, size_t errlen);
/* The value as a plan writes it ("64", "imix", "64:7 570:4 1518:1", "0"
 * when unset); returns buf.  A value that is not valid prints as its
 * number in hex. */
const char *iov_frame_format(uint64_t v, char *buf, size_t n);
/* Whether v is 0, one valid size or a valid mix. */
bool iov_frame_valid(uint64_t v);
/* The parts of v into out (a single size is one part of weight 1); the
 * number of parts, 0 when v is unset or invalid. */
size_t iov_frame_parts(uint64_t v, struct iov_frame_part out[IOV_FRAME_MIX_MAX]);
/* Datagrams in one cycle of v: sum of the weights (1 for a single size,
 * 0 when unset or invalid). */
unsigned iov_frame_cycle(uint64_t v);
/* Frame size of datagram n (from 0) of a flow sending v: the size itself,
 * or a mix's smooth weighted interleave (deterministic, period
 * iov_frame_cycle(v)).  O(cycle); a sender's hot path takes a table from
 * iov_frame_table() instead.  0 when v is unset or invalid. */
unsigned iov_frame_nth(uint64_t v, uint64_t n);
/* The sizes of one cycle of v into out (at most IOV_FRAME_CYCLE_MAX):
 * out[n % cycle] is iov_frame_nth(v, n).  Returns the cycle, 0 when v is
 * unset or invalid. */
unsigned iov_frame_table(uint64_t v, uint16_t out[IOV_FRAME_CYCLE_MAX]);

/* The bytes a frame adds to its UDP payload: 14 Ethernet + 4 FCS + 20
 * IPv4 (or 40 IPv6) + 8 UDP; 0 for another family. */
unsigned iov_frame_overhead(int family);
/* UDP payload bytes of a frame: frame - 14 Ethernet - 4 FCS - 20 IPv4 (or
 * 40 IPv6) - 8 UDP.  -ERANGE when the frame is outside 64..9216 or too
 * small for the headers, -EAFNOSUPPORT when family is neither AF_INET nor
 * AF_INET6. */
int iov_frame_payload(unsigned frame, int family);
/* The smallest frame (at least 64) carrying payload_min bytes of UDP
 * payload over family; 0 for an unknown family. */
unsigned iov_frame_min(int family, unsigned payload_min);
/* Mean frame size of v (weighted over a cycle); 0 when unset/invalid. */
double iov_frame_mean(uint64_t v);
/* Mean UDP payload of v over family; NAN when a part cannot be carried
 * (or v is unset/invalid). */
double iov_frame_mean_payload(uint64_t v, int family);
