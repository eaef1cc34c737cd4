/* Clock offsets between coord and an agent, from NTP-style four-timestamp
 * probes: coord sends at t1, the agent receives at t2 and replies at t3,
 * coord receives at t4 (t1, t4 coord's CLOCK_REALTIME; t2, t3 the
 * agent's).  For one probe
 *
 *   offset = ((t2 - t1) + (t3 - t4)) / 2      agent clock - coord clock
 *   delay  = (t4 - t1) - (t3 - t2)           time on the wire, both ways
 *
 * and the true offset lies within offset +- delay / 2 whatever the
 * asymmetry of the path.  Of several probes the one with the smallest
 * delay has the tightest bound and the least queueing in it: the
 * minimum-delay filter NTP's clock filter is built on. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct iov_clock_probe {
  uint64_t t1_ns, t2_ns, t3_ns, t4_ns;
};

struct iov_clock_estimate {
  int64_t offset_ns; /* agent - coord: agent time = coord time + offset */
  uint64_t error_ns; /* |true offset - offset_ns| <= error_ns */
  uint64_t delay_ns; /* round trip of the chosen probe, less the agent's time */
  unsigned probes;   /* valid probes considered */
};

/* The minimum-delay estimate over n probes.  A probe whose timestamps
 * cannot be real (t4 < t1, t3 < t2, or the agent's time exceeding the
 * round trip) is skipped.  Returns 0, or -EINVAL when no probe is valid. */
int iov_clock_estimate(const struct iov_clock_probe *p, size_t n, struct iov_clock_estimate *ret);

/* Agent time to coord time and back, for an estimate's offset.  Modulo
 * 2^64 (unsigned), so that any time or offset an agent makes us see
 * wraps instead of overflowing a signed integer; what comes out is held
 * to the point's span by its caller (coordinator/ingest.c). */
static inline uint64_t iov_clock_to_coord(uint64_t agent_ns, int64_t offset_ns) {
  return agent_ns ? agent_ns - (uint64_t)offset_ns : 0;
}
static inline uint64_t iov_clock_to_agent(uint64_t coord_ns, int64_t offset_ns) {
  return coord_ns + (uint64_t)offset_ns;
}
