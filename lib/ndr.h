/* The zero-loss rate search (NDR) and its partial-drop sibling (PDR): a
 * pure, deterministic state machine, with no I/O and no clock.  coord
 * (coordinator/search.c) runs the trials it asks for and feeds their
 * outcome back; tests feed it a simulated device.
 *
 * The search is RFC 2544 section 26.1's binary search on the offered
 * rate, done the way FD.io's MLRsearch does it: short trials first (the
 * search's trial_ns), then one full-length trial (the point's duration,
 * final_ns) at each answer.  When that full trial fails, its rate becomes
 * the upper bound and the search goes on with full-length trials only,
 * since short trials proved too optimistic there.  One trial informs both
 * goals: it passes the NDR when nothing was lost, the PDR when at most
 * pdr_loss of it was.
 *
 * Each goal has a lower bound (the highest rate that passed, in the
 * current mode: any trial, or only full ones once a full trial failed)
 * and an upper bound (the lowest rate that failed).  The next trial lies
 * in the first unfinished goal's interval: just below what got through
 * the last failed trial (a bottleneck forwards about that), or a step up
 * from the last pass that doubles with each pass in a row, or else the
 * middle, which also caps the guesses once two failures in a row proved
 * them optimistic.  When the interval is narrower than precision
 * (hi - lo <= precision * hi) the lower bound gets its full-length trial,
 * and a full pass there ends the goal.  Rates
 * are bits per second on the wire (frames plus preamble, SFD and
 * inter-frame gap), summed over the point's flows.
 *
 * The state is a function of the trials fed, in order, and nothing else:
 * feeding the stored trials of an interrupted search and asking for the
 * next gives the trial an uninterrupted search would have run.
 *
 * Not thread-safe per handle; handles are independent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a search looks for: a bit set (udp_stream's `search` setting). */
#define IOV_SEARCH_NONE 0u
#define IOV_SEARCH_NDR 1u
#define IOV_SEARCH_PDR 2u

/* The most trials one search may take (search_trials' bound). */
#define IOV_SEARCH_TRIALS_MIN 2
#define IOV_SEARCH_TRIALS_MAX 1000
/* search_min = 0: the floor is this fraction of search_max (a zero rate
 * would be unpaced, and a binary search towards 0 never ends). */
#define IOV_SEARCH_MIN_FRACTION 0.001

/* "none", "ndr", "pdr", "ndr,pdr" (or "pdr,ndr"; blanks allowed) -> 0, 1,
 * 2, 3.  0, or -EINVAL with the accepted values in err.  The callbacks of
 * udp_stream's custom setting `search`. */
int iov_search_what_parse(const char *text, uint64_t *ret, char *err, size_t errlen);
/* "none", "ndr", "pdr", "ndr,pdr"; another value prints as its number.
 * Returns buf. */
const char *iov_search_what_format(uint64_t v, char *buf, size_t n);

enum iov_search_goal {
  IOV_SEARCH_GOAL_NDR,
  IOV_SEARCH_GOAL_PDR,
  _IOV_SEARCH_GOAL_MAX,
};
/* "ndr", "pdr" (as results.db stores a search's kind). */
const char *iov_search_goal_to_string(enum iov_search_goal g);

struct iov_search_params {
  unsigned what;           /* IOV_SEARCH_NDR | IOV_SEARCH_PDR, not 0 */
  double min_bps, max_bps; /* wire bit/s; min 0: max * IOV_SEARCH_MIN_FRACTION */
  double precision;        /* relative width of the final interval, (0, 0.5] */
  double pdr_loss;         /* the loss a PDR trial may have, fraction [0, 1) */
  uint64_t trial_ns;       /* short trials (>= final_ns: every trial is full) */
  uint64_t final_ns;       /* full-length trials: the point's duration */
  unsigned max_trials;     /* IOV_SEARCH_TRIALS_MIN..IOV_SEARCH_TRIALS_MAX */
};

/* One trial: what to run (iov_search_next()) and, with its outcome, what
 * was run (iov_search_feed()). */
struct iov_search_trial {
  unsigned seq;         /* 1, 2, ...: the n-th trial of the search */
  double wire_bps;      /* offered, total */
  uint64_t duration_ns; /* trial_ns, or final_ns when full */
  bool full;
};

/* How a goal ended. */
enum iov_search_end {
  IOV_SEARCH_RUNNING,   /* not yet */
  IOV_SEARCH_CONVERGED, /* within precision, a full trial passed at the answer */
  IOV_SEARCH_BUDGET,    /* max_trials ran first */
  IOV_SEARCH_MIN_LOSES, /* even min_bps fails the goal */
};
/* "running", "converged", "trial budget exhausted", "even search_min loses". */
const char *iov_search_end_to_string(enum iov_search_end e);

struct iov_search_goal_result {
  bool wanted;
  enum iov_search_end end;
  /* The answer: the highest rate a full-length trial passed with the
   * interval narrow (converged), or the best full-length pass so far
   * (not converged); 0 when no full-length trial passed. */
  double wire_bps;
  double loss;           /* of that trial, fraction */
  unsigned trial;        /* its seq; 0: none */
  double lo_bps, hi_bps; /* the bounds when it ended (hi 0: none failed) */
};

struct iov_search_result {
  bool done; /* every wanted goal ended */
  struct iov_search_goal_result goal[_IOV_SEARCH_GOAL_MAX];
  unsigned trials;      /* fed */
  uint64_t measured_ns; /* their durations, summed */
};

struct iov_search;

/* A new search.  0 and *ret (caller owns; free with iov_search_free()),
 * -EINVAL with the bad parameter named in err, or -ENOMEM. */
int iov_search_new(const struct iov_search_params *p, struct iov_search **ret, char *err, size_t errlen);
struct iov_search *iov_search_free(struct iov_search *s);

/* The next trial to run into *ret and 1, or 0 when the search is done
 * (every wanted goal ended; see iov_search_result()).  Asking twice
 * without feeding gives the same trial. */
int iov_search_next(struct iov_search *s, struct iov_search_trial *ret);

/* A sender that sent less than this fraction short of what it was asked
 * to (its host could not keep up, or its socket held it back) did not
 * offer the trial's rate: what it did not send counts as lost. */
#define IOV_SEARCH_UNSENT_MAX 0.01

/* Fraction of a trial lost, from the senders' and receivers' totals:
 * max(lost, sent - received) over max(sent, received + lost); 1 when
 * nothing was sent or counted (a trial that measured nothing fails).
 * intended: the datagrams the trial's rate and window ask for (0:
 * unknown); when sent falls short of it by more than
 * IOV_SEARCH_UNSENT_MAX, the loss is taken against intended, the unsent
 * ones counted lost. */
double iov_search_loss(uint64_t sent, uint64_t received, uint64_t lost, double intended);

/* A trial ran: t as it ran (its seq must be the next, its rate and
 * duration finite and positive) and its loss fraction (0..1; see
 * iov_search_loss()).  Stored trials of an interrupted search are fed in
 * order the same way.  0; -EINVAL for a trial out of order or out of
 * range (untrusted: it may come from results.db); -ENOSPC past
 * max_trials. */
int iov_search_feed(struct iov_search *s, const struct iov_search_trial *t, double loss);

/* Where the search stands (or ended). */
void iov_search_result(const struct iov_search *s, struct iov_search_result *ret);
