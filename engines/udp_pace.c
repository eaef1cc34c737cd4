/* udp_stream's pacer: see udp_pace.h. */
#include <errno.h>
#include <time.h>

#include "timeutil.h"
#include "udp_pace.h"

__extension__ typedef unsigned __int128 u128;

void iov__udp_pace_init(struct iov_udp_pace *p, uint64_t num, uint64_t den, unsigned batch, uint64_t spin,
                        uint64_t now, uint64_t n0) {
  u128 late = (u128)(batch > IOV_UDP_PACE_CATCHUP_MSGS ? batch : IOV_UDP_PACE_CATCHUP_MSGS) * num / den;
  p->t0 = now;
  p->n0 = n0;
  p->num = num;
  p->den = den;
  p->max_late = late > IOV_UDP_PACE_CATCHUP_NS ? (late > UINT64_MAX / 4 ? UINT64_MAX / 4 : (uint64_t)late)
                                               : IOV_UDP_PACE_CATCHUP_NS;
  p->spin = spin;
  p->restarts = 0;
}

uint64_t iov__udp_pace_due(const struct iov_udp_pace *p, uint64_t n) {
  u128 off = (u128)(n - p->n0) * p->num / p->den;
  return off > UINT64_MAX - p->t0 ? UINT64_MAX : p->t0 + (uint64_t)off;
}

unsigned iov__udp_pace_take(struct iov_udp_pace *p, uint64_t n, uint64_t now, unsigned max) {
  uint64_t due = iov__udp_pace_due(p, n);
  if (now < due) return 0;
  if (now - due > p->max_late) {
    /* Too far behind to catch up without a burst: give up the missed
     * slots and restart the schedule from now. */
    p->t0 = now;
    p->n0 = n;
    p->restarts++;
    return max ? 1 : 0;
  }
  /* Datagram n0 + k is due when floor(k * num / den) <= x, that is when
   * k < (x + 1) * den / num: ceil((x + 1) * den / num) of them are. */
  u128 x = now - p->t0;
  u128 total = ((x + 1) * p->den + p->num - 1) / p->num;
  u128 done = n - p->n0;
  u128 ready = total > done ? total - done : 0;
  return ready > max ? max : (unsigned)ready;
}

int iov__udp_pace_wait(struct iov_flow *f, const struct iov_udp_pace *p, uint64_t n, uint64_t end_mono,
                       uint64_t *ret_now) {
  uint64_t due = iov__udp_pace_due(p, n), now = iov_now_mono();
  if (now >= due) {
    *ret_now = now;
    return 0;
  }
  if (due >= end_mono) {
    int k = iov_flow_sleep_until(f, end_mono);
    return k < 0 ? k : 1;
  }
  if (due - now > p->spin) {
    int k = iov_flow_sleep_until(f, due - p->spin);
    if (k < 0) return k;
  }
  while ((now = iov_now_mono()) < due)
    ;
  *ret_now = now;
  return 0;
}
