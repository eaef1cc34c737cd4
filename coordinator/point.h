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
