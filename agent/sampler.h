/* One test point on the agent: its engine run, the sample timer that cuts
 * the window into intervals aligned to the start instant, and the final
 * sample and Result.  Runs on the agent's loop thread only; the engine's
 * flow threads reach it through a uv_async_t. */
#pragma once

#include "agent.h"

/* Create a point for cfg (engine run allocated, not prepared).  Caller
 * owns *ret; free with iov__point_free(). */
int iov__point_new(struct iov_agent *a, uint64_t id, const struct iov_engine_config *cfg,
                   const struct iov_engine_ops *ops, const Iovbench__Workload *w,
                   struct iov_agent_point **ret);
/* Start the flows at start_at_ns and the sample timer. */
int iov__point_start(struct iov_agent_point *p, uint64_t start_at_ns);
/* Stop the flows now, send the last sample and the Result (with 'error'
 * when not NULL).  The point is FINISHED afterwards. */
void iov__point_finish(struct iov_agent_point *p, const char *error);
/* Stop the flows and release everything (memory freed once the libuv
 * handles are closed). */
void iov__point_free(struct iov_agent_point *p);
