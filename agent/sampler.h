/* One test point on the agent: its engine run, the sample timer that cuts
 * the window into intervals aligned to the start instant, and the final
 * sample and Result.  Runs on the agent's loop thread only; the engine's
 * flow threads reach it through a uv_async_t.  Sends through transport.h;
 * calls nothing of the session. */
#pragma once

#include "engine.h"
#include "transport.h"

enum iov_point_state {
  IOV_PS_PREPARED, /* sockets ready, waiting for Start */
  IOV_PS_RUNNING,  /* flows running, samples going out */
  IOV_PS_FINISHED, /* Result sent */
  _IOV_PS_MAX,
  _IOV_PS_INVALID = -22,
};

/* Owned by sampler.c; the session reads id and state. */
struct iov_agent_point {
  uint64_t id;
  enum iov_role role;
  enum iov_point_state state;
  char *workload;
  bool has_latency;
  struct iov_engine_run *run;
  unsigned eng_flags;       /* IOV_ENG_F_* of the workload */
  uint64_t start_at_ns;     /* the flows start here (warm-up first) */
  uint64_t window_start_ns; /* the measured window: start + warm-up */
  uint64_t start_mono_ns;   /* start_at_ns as CLOCK_MONOTONIC, converted at receipt: the timers' base */
  uint64_t interval_ns;
  uint64_t duration_ns; /* of the measured window */
  uint64_t warmup_ns;
  bool baseline_taken;           /* counters at the window's start are in 'base' */
  struct iov_flow_stats *base;   /* per flow: counters when the window opened */
  struct iov_tcp_info *tcp_base; /* per flow: TCP_INFO when the window opened */
  struct iov_tcp_info *tcp_prev; /* per flow: at the last sample */
  struct iov_tcp_info *tcp_sum;  /* per flow: segs_out/segs_in summed over the samples sent */
  /* The machine's CPU time and NIC interrupts at the last sample (or the
   * window's start): each sample carries the change since. */
  struct iov_cpustat_core *cpu_prev, *cpu_cur;
  size_t n_cpu_prev, cpu_cap;
  struct iov_irqstat_snap *irq_prev, *irq_cur;
  uint32_t n_samples;      /* samples the window is cut into */
  uint32_t seq;            /* samples sent so far */
  uint64_t last_sample_ns; /* end of the previous sample (CLOCK_REALTIME) */
  bool engine_done;
  bool final_pending;          /* window over, waiting for the flows to end */
  struct iov_flow_stats *prev; /* per flow: counters at the last sample */
  struct iov_flow_stats *scratch;
  uv_timer_t sample_timer;
  uv_timer_t grace_timer;
  uv_async_t done_async;
  int open_handles;
  struct iov_agent *agent;
};

/* Create a point for cfg (engine run allocated, not prepared).  Caller
 * owns *ret; free with iov__point_free(). */
int iov__point_new(struct iov_agent *a, uint64_t id, const struct iov_engine_config *cfg,
                   const struct iov_engine_ops *ops, const Iovbench__Workload *w,
                   struct iov_agent_point **ret);
/* Start the flows at start_at_ns and the sample timer.  When the point
 * completes on its own (window over, a flow failed), it sends its last
 * sample and Result, clears a->point and frees itself. */
int iov__point_start(struct iov_agent_point *p, uint64_t start_at_ns);
/* Stop the flows now, send the last sample and the Result (with 'error'
 * when not NULL).  The point is FINISHED afterwards. */
void iov__point_finish(struct iov_agent_point *p, const char *error);
/* Stop the flows and release everything (memory freed once the libuv
 * handles are closed). */
void iov__point_free(struct iov_agent_point *p);
