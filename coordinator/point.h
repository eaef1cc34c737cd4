/* One test point of coord run (coordinator/point.c): its agents and
 * their addresses, its VMs, clocks, prepare, start, results and samples,
 * and its row in results.db.  Private to coord run (coordinator/runctx.h);
 * one thread. */
#pragma once

#include "results.h"
#include "runctx.h"

/* Run plan point pp as the run's idx-th point, its rep-th run (from 0).
 * The point's outcome into *ret_status (a failed point is stored with its
 * cause, and said); returns 0, or a negative error that ends the run (an
 * agent silent, the store failing, the user interrupting), logged. */
int iov__point_run(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                   enum iov_point_status *ret_status);

/* One run of a point as a trial of a rate search (coordinator/search.c):
 * the point as the plan says, with these in place of its rate, duration
 * and warm-up, stored with point.trial = trial. */
struct iov_point_trial {
  unsigned trial;    /* n >= 1: the n-th trial of the search */
  uint64_t rate_pps; /* per flow; overrides the plan's rate */
  uint64_t duration_ns, warmup_ns;
  /* Out: the trial's point row, and why it failed ("" when it did not). */
  int64_t db_point;
  char error[768];
};
/* As iov__point_run(), for one trial t. */
int iov__point_run_trial(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                         struct iov_point_trial *t, enum iov_point_status *ret_status);
/* Store a point row for repetition rep of pp that failed before it ran
 * (a search that found nothing), with reason as its error; said with
 * iov_err.  0, or a negative error (the store failed), logged. */
int iov__point_store_failed(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                            const char *reason);
