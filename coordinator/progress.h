/* coord run's progress on stderr: which point of how many, with its
 * parameters, the time spent and an estimate of the time left, and while
 * a point runs its live aggregate rate.
 *
 * On a terminal the point's line is redrawn in place (at most four times
 * a second) and ends with its outcome, in colour unless NO_COLOR is set;
 * otherwise each point gets one plain line when it starts (logs, CI).
 * --quiet prints nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct iov_progress {
  FILE *f;
  bool quiet, tty, color;
  uint64_t t0;          /* CLOCK_MONOTONIC at the run's start */
  uint64_t left_ns;     /* measuring time (warm-up + window) still to run, all runs */
  unsigned runs_done;   /* runs of points finished */
  uint64_t overhead_ns; /* their wall time beyond warm-up + window, summed */
  /* The run of a point in flight. */
  char head[256];
  uint64_t point_t0, point_measure_ns, last_draw;
  uint64_t bytes, transactions, win_start, win_end; /* what its receivers and senders reported */
  bool rr;
  bool drawn;
};

/* Start; measure_ns is the warm-up + window of every run the plan will
 * make at least (repeats counted). */
void iov_progress_init(struct iov_progress *pg, FILE *f, bool quiet, uint64_t measure_ns);
/* A run of a point starts: "[k/N] test sweep: ..." in head. */
void iov_progress_point(struct iov_progress *pg, const char *head, uint64_t measure_ns, bool rr);
/* A sample batch of the point in flight: bytes (streams, from receivers)
 * or transactions (request/response, from senders), over [t0, t1] in
 * coord's time. */
void iov_progress_sample(struct iov_progress *pg, uint64_t bytes, uint64_t transactions, uint64_t t0,
                         uint64_t t1);
/* The run ended: "ok" or "failed". */
void iov_progress_done(struct iov_progress *pg, bool ok);
/* Anything else is about to be printed (a log line): end a line drawn in
 * place first. */
void iov_progress_break(struct iov_progress *pg);
