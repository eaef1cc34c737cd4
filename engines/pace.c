/* RR pacing under the agent's --max-rate (issue 14).  An RR flow's rate is
 * not known up front (burst x message size per round trip, unbounded as
 * the round trip shrinks), so an agent with a rate cap paces it instead of
 * refusing it: a transaction may begin only every interval =
 * max(msg_size, response_size) x 8 / rr_rate_bps seconds, so that neither
 * direction carries more than the cap.  A flow that fell behind (waiting
 * for responses) does not catch up with a burst: at most 'depth'
 * transactions begin back to back. */
#include <errno.h>

#include "engine.h"
#include "timeutil.h"

void iov_rr_pace_init(struct iov_rr_pace *p, const struct iov_engine_config *cfg, uint32_t depth) {
  uint64_t size = cfg->msg_size > cfg->response_size ? cfg->msg_size : cfg->response_size;
  p->next = 0;
  p->interval = 0;
  p->slack = 0;
  if (!cfg->rr_rate_bps) return;
  /* size <= 16 MiB: size * 8e9 < 2^57, no overflow; rounded up. */
  p->interval = (size * 8 * IOV_NSEC_PER_SEC + cfg->rr_rate_bps - 1) / cfg->rr_rate_bps;
  if (p->interval == 0) p->interval = 1;
  p->slack = (depth ? depth - 1 : 0) * p->interval;
}

bool iov_rr_pace_take(struct iov_rr_pace *p, uint64_t now) {
  if (!p->interval) return true;
  if (now < p->next) return false;
  /* Credit for a pause is at most 'slack': no catch-up burst beyond it. */
  if (p->next + p->slack < now) p->next = now - p->slack;
  p->next += p->interval;
  return true;
}

int iov_rr_pace_wait(struct iov_flow *f, struct iov_rr_pace *p) {
  if (!p->interval) return 0; /* no cap: no clock read per answer */
  while (!iov_rr_pace_take(p, iov_now_mono())) {
    int k = iov_flow_sleep_until(f, p->next);
    if (k < 0) return k;
  }
  return 0;
}
