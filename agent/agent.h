/* iovbench-agent: the host agent.  agent.c owns the event loop, the
 * control socket and signals; session.c is the protocol state machine and
 * the test point it runs; sampler.c turns engine counters into messages. */
#pragma once

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cpustat.h"
#include "engine.h"
#include "irqstat.h"
#include "wire.h"
#include "zuv.h"

struct iov_agent_config {
  const char *listen;     /* ZeroMQ endpoint to bind */
  const char *identity;   /* name reported in Welcome; NULL = hostname */
  const char *ready_file; /* written with the bound endpoint once listening */
};

enum iov_point_state {
  IOV_PS_PREPARED, /* sockets ready, waiting for Start */
  IOV_PS_RUNNING,  /* flows running, samples going out */
  IOV_PS_FINISHED, /* Result sent */
  _IOV_PS_MAX,
  _IOV_PS_INVALID = -22,
};

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
  uint64_t interval_ns;
  uint64_t duration_ns; /* of the measured window */
  uint64_t warmup_ns;
  bool baseline_taken;         /* counters at the window's start are in 'base' */
  struct iov_flow_stats *base; /* per flow: counters when the window opened */
  uint64_t *retrans_base;      /* per flow: TCP retransmits when the window opened */
  uint64_t *retrans_prev;      /* per flow: at the last sample */
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

struct iov_agent {
  uv_loop_t loop;
  zsock_t *sock; /* ROUTER, bound */
  struct iov_zuv zuv;
  uv_signal_t sigint, sigterm;
  zframe_t *coord_id; /* routing id of the coordinator we serve */
  char *coord_run;
  uint64_t session_id;
  uint64_t msg_id;
  struct iov_wire_stats wire_stats;
  Iovbench__Inventory *inventory;
  struct iov_cpustat *cpustat; /* NULL when /proc/stat cannot be read */
  struct iov_irqstat *irqstat; /* NULL when no NIC is known */
  const char *identity;
  struct iov_agent_point *point; /* at most one at a time */
  bool stopping;
  int exit_code;
};

int iov_agent_run(const struct iov_agent_config *cfg);

/* session.c */
int iov__agent_on_message(struct iov_zuv *z);
void iov__agent_point_abort(struct iov_agent *a, const char *reason);
int iov__agent_send(struct iov_agent *a, iov_envelope *e, uint64_t reply_to);
void iov__agent_send_error(struct iov_agent *a, zframe_t *to, uint64_t reply_to, Iovbench__ErrorCode code,
                           uint64_t point_id, const char *fmt, ...) _printf_(6, 7);
