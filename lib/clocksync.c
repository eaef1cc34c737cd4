#include "clocksync.h"

#include <errno.h>

int iov_clock_estimate(const struct iov_clock_probe *p, size_t n, struct iov_clock_estimate *ret) {
  const struct iov_clock_probe *best = NULL;
  uint64_t best_delay = 0;
  unsigned valid = 0;

  for (size_t i = 0; i < n; i++) {
    const struct iov_clock_probe *q = &p[i];
    if (q->t4_ns < q->t1_ns || q->t3_ns < q->t2_ns) continue;
    uint64_t rtt = q->t4_ns - q->t1_ns, held = q->t3_ns - q->t2_ns;
    if (held > rtt) continue;
    uint64_t delay = rtt - held;
    valid++;
    if (!best || delay < best_delay) {
      best = q;
      best_delay = delay;
    }
  }
  if (!best) return -EINVAL;
  /* Differences first, in signed 64 bits: the clocks may be years apart
   * but never 292 years. */
  int64_t a = (int64_t)(best->t2_ns - best->t1_ns), b = (int64_t)(best->t3_ns - best->t4_ns);
  ret->offset_ns = a / 2 + b / 2 + (a % 2 + b % 2) / 2;
  ret->delay_ns = best_delay;
  ret->error_ns = (best_delay + 1) / 2;
  ret->probes = valid;
  return 0;
}
