/* udp_stream's pacer (udp_pace.c): an absolute schedule of datagrams,
 * taken a batch at a time.  Internal to engines/.
 *
 * Datagram n is due at t0 + (n - n0) * num / den ns (num / den is the
 * interval, kept as an exact fraction, so the schedule never drifts; the
 * arithmetic is 128-bit).  A batch takes the datagrams already due, up to
 * its size.  When the sender is behind by more than the catch-up bound
 * (max(IOV_UDP_PACE_CATCHUP_MSGS, batch) intervals, at least
 * IOV_UDP_PACE_CATCHUP_NS: the thread was descheduled, or the host cannot
 * sustain the rate), the missed slots are given up and the schedule
 * restarts from now (t0 = now, n0 = n), so a stall is never followed by a
 * burst longer than that bound. */
#pragma once

#include <stdint.h>

#include "engine.h"

#define IOV_UDP_PACE_CATCHUP_MSGS 16
/* 10 ms: a sender on a shared or virtual CPU is often descheduled for a
 * few milliseconds (another tenant, vCPU preemption, an emulated guest's
 * timers); giving up those slots left it 1-3 % short of its rate, which a
 * rate search rightly counts as loss, so searches found the host's
 * scheduling, not the path.  Within 10 ms the slots are repaid. */
#define IOV_UDP_PACE_CATCHUP_NS (10 * IOV_NSEC_PER_MSEC)

struct iov_udp_pace {
  uint64_t t0;       /* CLOCK_MONOTONIC due time of datagram n0 */
  uint64_t n0;       /* where the schedule (re)started */
  uint64_t num, den; /* the interval: num / den ns (den != 0) */
  uint64_t max_late; /* the catch-up bound, ns */
  uint64_t spin;     /* busy-wait the last 'spin' ns before a due time */
  uint64_t restarts; /* times the schedule gave up missed slots */
};

/* A schedule whose datagram n0 is due at 'now', one every num / den ns
 * (num, den > 0), taken 'batch' at a time, busy-waiting the last 'spin' ns
 * before a due time (0: sleep to it). */
void iov__udp_pace_init(struct iov_udp_pace *p, uint64_t num, uint64_t den, unsigned batch, uint64_t spin,
                        uint64_t now, uint64_t n0);
/* The due time of datagram n (>= n0). */
uint64_t iov__udp_pace_due(const struct iov_udp_pace *p, uint64_t n);
/* How many datagrams from n on are due at 'now', at most max (0 when n
 * is not due yet).  A sender later than the catch-up bound restarts the
 * schedule at n first (then 1 is due). */
unsigned iov__udp_pace_take(struct iov_udp_pace *p, uint64_t n, uint64_t now, unsigned max);
/* Wait until datagram n is due: 0 with *ret_now (at or after it), 1 when
 * end_mono comes first (having slept to it), -ECANCELED on a stop. */
int iov__udp_pace_wait(struct iov_flow *f, const struct iov_udp_pace *p, uint64_t n, uint64_t end_mono,
                       uint64_t *ret_now);
