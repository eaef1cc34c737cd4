/* What the agents of a point send, checked and stored: sample batches and
 * results, into results.db (coordinator/results.h).
 *
 * Every number an agent sends is checked against what the point could have
 * produced before any of it is stored: one absurd number in a batch or a
 * result and none of it is.  Functions take their inputs explicitly (no
 * run context), so that coordinator/point.c and the coord fuzzer
 * (tests/fuzz/fuzz_coord.c) run the same code.  Not thread-safe: one
 * point, one thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "progress.h"
#include "results.h"
#include "timeutil.h"
#include "wire.h"

/* Agents wait this long after the window for their flows
 * (agent/sampler.c): part of a point's span. */
#define IOV_AGENT_FINISH_GRACE_NS (10ULL * IOV_NSEC_PER_SEC)

/* One point, as ingest sees it.  The caller owns it and sets the first
 * block before the first call; ingest keeps the second. */
struct iov_ingest_point {
  struct iov_db *db;           /* where rows go; not owned */
  int64_t db_point;            /* the point's row */
  unsigned number;             /* the plan's point number, from 1, for messages */
  uint64_t span_ns;            /* iov_ingest_span_ns(): bounds its counters */
  uint64_t sample_interval_ns; /* 0: one second */
  struct iov_progress *pg;     /* live figures, or NULL; not owned */
  /* What an agent sent fails the point: reason, one line.  The point keeps
   * the first reason it gets (it is stored as data with the point).  NULL:
   * nobody is told. */
  void (*fail)(void *arg, const char *reason);
  void *fail_arg;
  /* Kept by ingest: the senders' measured window, coord time; 0 until a
   * sender's result gives it. */
  uint64_t win_start, win_end;
};

/* One agent of the point, as ingest sees it.  The caller owns it and sets
 * the first block before each call; ingest keeps the second (zero at the
 * start of the point). */
struct iov_ingest_agent {
  const char *name;       /* as coord names it (a guest as HOST/VM) */
  bool sender;            /* else a receiver */
  bool guest;             /* a guest: what its VM cost its host is stored */
  int64_t db_agent;       /* its agent row */
  unsigned flows;         /* its flows in the point */
  const int64_t *flow_id; /* [flows]: their rows; owned by the caller */
  int64_t offset_ns;      /* its clock minus coord's (lib/clocksync.h) */
  /* Kept by ingest: */
  uint32_t last_seq; /* the last batch taken */
  uint32_t samples;  /* batches taken */
  uint64_t started;  /* its first flow began, coord time (from its result) */
  uint64_t bytes;    /* bytes of all its flows (from its result) */
  uint64_t win_ns;   /* its measurement window (from its result) */
};

/* A point's span, what bounds its counters: warm-up, duration, the agents'
 * grace and one sample interval. */
uint64_t iov_ingest_span_ns(uint64_t warmup_ns, uint64_t duration_ns, uint64_t sample_interval_ns);

/* Whether every number of batch b is one the point could have produced:
 * 0, or -ERANGE with the first that is not in err ("bytes N, more than
 * this point can produce (at most M)"). */
int iov_ingest_batch_check(const struct iov_ingest_point *pt, const Iovbench__SampleBatch *b, char *err,
                           size_t errlen);
/* The same for a result. */
int iov_ingest_result_check(const struct iov_ingest_point *pt, const Iovbench__Result *res, char *err,
                            size_t errlen);

/* Take agent a's sample batch b: refused whole (with a warning) when a
 * number is out of bounds, dropped when it came before, stored otherwise
 * in coord's time domain, with a gap row for batches that never came.
 * Returns 0 (stored, or refused or dropped as said), or a negative error
 * when the store failed, with the reason in err. */
int iov_ingest_samples(struct iov_ingest_point *pt, struct iov_ingest_agent *a,
                       const Iovbench__SampleBatch *b, char *err, size_t errlen);
/* Take agent a's result: refused whole, and the point failed, when a
 * number is out of bounds; else stored, a flow's error failing the point,
 * and the samples that never came stored as a gap.  Returns 0, or a
 * negative error when the store failed, with the reason in err. */
int iov_ingest_result(struct iov_ingest_point *pt, struct iov_ingest_agent *a, const Iovbench__Result *res,
                      char *err, size_t errlen);

/* vf_rate (path sriov): warn when a VM (a guest sender among the n agents)
 * sent more than a quarter over the cap, the NIC having accepted the VF
 * rate limit without applying it. */
void iov_ingest_check_vf_rate(const struct iov_plan_point *pp, const struct iov_ingest_agent *const *agents,
                              size_t n);
