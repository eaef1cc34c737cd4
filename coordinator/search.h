/* coord run: a udp_stream point whose `search` setting asks for the NDR,
 * the PDR or both is run as a rate search (lib/ndr.h): every trial a run
 * of the point of its own (coordinator/point.c) with the offered rate and
 * the trial's duration, stored with point.trial = n and a trial row; at
 * the end the last full-length passing trial becomes the point's
 * measurement (trial 0) and the answers go into the search table.  A
 * search interrupted is resumed from its stored trials.  Private to coord
 * run; one thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "plan.h"
#include "results.h"

struct run_ctx;

/* Set-up and tear-down of one trial beyond its warm-up and window (the
 * clocks, Prepare, the start lead): what coord validate counts per trial. */
#define IOV_SEARCH_SETUP_NS (500ULL * 1000000ULL)
/* The warm-up of a short trial: the point's, at most this. */
#define IOV_SEARCH_SHORT_WARMUP_NS (250ULL * 1000000ULL)

/* What a search of point p asks for (IOV_SEARCH_NDR | IOV_SEARCH_PDR), 0
 * when it is no search. */
unsigned iov__search_what(const struct iov_point_params *p);

/* The time one search of p takes, set-up included: *ret_typical for a
 * search that needs about log2(1 / precision) short trials and one full
 * trial per goal, *ret_worst for one that spends its whole trial budget
 * (every trial short, but one full trial per goal).  0 for both when p
 * is no search. */
void iov__search_time(const struct iov_point_params *p, uint64_t *ret_typical, uint64_t *ret_worst);

/* Run repetition rep of plan point pp as a search.  Each trial takes the
 * run's next point index (*next_idx, advanced).  Its outcome into
 * *ret_status: ok when some full-length trial passed (that one is the
 * point's measurement now), failed when none did (a failed point is
 * stored, saying why).  Returns 0, or a negative error that ends the run
 * (an agent lost, the store failing, the user interrupting), logged; an
 * interrupted trial stays stored as a failed trial, and the search
 * resumes from the trials before it. */
int iov__search_point(struct run_ctx *c, const struct iov_plan_point *pp, unsigned *next_idx, unsigned rep,
                      enum iov_point_status *ret_status);
