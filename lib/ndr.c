/* The NDR/PDR rate search (lib/ndr.h): a binary search on the offered
 * rate, short trials first and a full-length trial at each answer.  The
 * state of each goal is updated from each trial fed, and the trials are
 * kept, so that a contradiction (a rate that fails below one that passed:
 * noise, or a short trial too optimistic) can take the lower bound back
 * to the best pass still below the new upper bound. */
#include "ndr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int iov_search_what_parse(const char *text, uint64_t *ret, char *err, size_t errlen) {
  static const char accepted[] = "none, ndr, pdr or ndr,pdr";
  uint64_t v = 0;
  bool none = false;
  size_t words = 0;
  const char *s = text ? text : "";

  for (;;) {
    s += strspn(s, " \t");
    size_t n = strcspn(s, ", \t");
    if (n == 0)
      return iov_errf(-EINVAL, err, errlen, "'%s' is not a search: use %s", text ? text : "", accepted);
    words++;
    if (n == 3 && strncmp(s, "ndr", 3) == 0)
      v |= IOV_SEARCH_NDR;
    else if (n == 3 && strncmp(s, "pdr", 3) == 0)
      v |= IOV_SEARCH_PDR;
    else if (n == 4 && strncmp(s, "none", 4) == 0)
      none = true;
    else
      return iov_errf(-EINVAL, err, errlen, "'%s' is not a search: use %s", text, accepted);
    s += n;
    s += strspn(s, " \t");
    if (*s == '\0') break;
    if (*s != ',') return iov_errf(-EINVAL, err, errlen, "'%s' is not a search: use %s", text, accepted);
    s++;
  }
  if (none && (v || words > 1))
    return iov_errf(-EINVAL, err, errlen, "'%s': none goes alone; use %s", text, accepted);
  *ret = v;
  return 0;
}

const char *iov_search_what_format(uint64_t v, char *buf, size_t n) {
  static const char *const names[] = { "none", "ndr", "pdr", "ndr,pdr" };
  if (v < 4)
    snprintf(buf, n, "%s", names[v]);
  else
    snprintf(buf, n, "%llu", (unsigned long long)v);
  return buf;
}

const char *iov_search_goal_to_string(enum iov_search_goal g) {
  return g == IOV_SEARCH_GOAL_NDR ? "ndr" : g == IOV_SEARCH_GOAL_PDR ? "pdr" : "?";
}

const char *iov_search_end_to_string(enum iov_search_end e) {
  switch (e) {
  case IOV_SEARCH_RUNNING: return "running";
  case IOV_SEARCH_CONVERGED: return "converged";
  case IOV_SEARCH_BUDGET: return "trial budget exhausted";
  case IOV_SEARCH_MIN_LOSES: return "even search_min loses";
  }
  return "?";
}

struct fed {
  struct iov_search_trial t;
  double loss;
};

struct goal {
  bool wanted;
  enum iov_search_end end;
  bool full_mode;      /* a full trial failed: only full passes count */
  unsigned full_fails; /* full trials that failed it */
  bool lo_valid, lo_full, hi_valid;
  double lo, hi;
  unsigned lo_seq;
  double lo_loss;
  /* How the interval last moved, for the next guess: the loss of the
   * failure that set hi (after_fail: that was the last move), and the
   * passes in a row that raised lo since. */
  double hi_loss;
  bool after_fail;
  unsigned streak, fails; /* passes that raised lo, failures that lowered hi, in a row */
};

struct iov_search {
  struct iov_search_params p;
  double min; /* the floor actually used */
  bool all_full;
  struct goal g[_IOV_SEARCH_GOAL_MAX];
  struct fed *fed; /* [p.max_trials] */
  unsigned n;
  uint64_t measured_ns;
};

int iov_search_new(const struct iov_search_params *p, struct iov_search **ret, char *err, size_t errlen) {
  if (!p->what || p->what > (IOV_SEARCH_NDR | IOV_SEARCH_PDR))
    return iov_errf(-EINVAL, err, errlen, "search: nothing to search for (ndr, pdr or both)");
  if (!isfinite(p->max_bps) || p->max_bps <= 0)
    return iov_errf(-EINVAL, err, errlen, "search: the highest rate must be above 0");
  if (!isfinite(p->min_bps) || p->min_bps < 0 || p->min_bps > p->max_bps)
    return iov_errf(-EINVAL, err, errlen, "search: search_min (%.6g bit/s) is above search_max (%.6g bit/s)",
                    p->min_bps, p->max_bps);
  if (!isfinite(p->precision) || p->precision <= 0 || p->precision > 0.5)
    return iov_errf(-EINVAL, err, errlen, "search: search_precision must be above 0 and at most 50%%");
  if (!isfinite(p->pdr_loss) || p->pdr_loss < 0 || p->pdr_loss >= 1)
    return iov_errf(-EINVAL, err, errlen, "search: pdr_loss must be at least 0 and below 100%%");
  if (!p->trial_ns || !p->final_ns)
    return iov_errf(-EINVAL, err, errlen, "search: trial durations must be above 0");
  if (p->max_trials < IOV_SEARCH_TRIALS_MIN || p->max_trials > IOV_SEARCH_TRIALS_MAX)
    return iov_errf(-EINVAL, err, errlen, "search: search_trials must be %d..%d", IOV_SEARCH_TRIALS_MIN,
                    IOV_SEARCH_TRIALS_MAX);
  struct iov_search *s = calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->fed = calloc(p->max_trials, sizeof(*s->fed));
  if (!s->fed) {
    free(s);
    return -ENOMEM;
  }
  s->p = *p;
  s->min = p->min_bps > 0 ? p->min_bps : p->max_bps * IOV_SEARCH_MIN_FRACTION;
  s->all_full = p->trial_ns >= p->final_ns;
  s->g[IOV_SEARCH_GOAL_NDR].wanted = p->what & IOV_SEARCH_NDR;
  s->g[IOV_SEARCH_GOAL_PDR].wanted = p->what & IOV_SEARCH_PDR;
  *ret = s;
  return 0;
}

struct iov_search *iov_search_free(struct iov_search *s) {
  if (s) free(s->fed);
  free(s);
  return NULL;
}

double iov_search_loss(uint64_t sent, uint64_t received, uint64_t lost, double intended) {
  uint64_t missing = sent > received ? sent - received : 0;
  if (lost > missing) missing = lost;
  /* received + lost, without overflow: both are bounded counters, but
   * they come from results.db. */
  uint64_t counted = received + lost < received ? UINT64_MAX : received + lost;
  uint64_t base = sent > counted ? sent : counted;
  if (base == 0) return 1;
  double f = (double)missing / (double)base;
  if (isfinite(intended) && intended > 0 && (double)sent < intended * (1 - IOV_SEARCH_UNSENT_MAX)) {
    double delivered = (double)(received < sent ? received : sent);
    double g = 1 - delivered / intended;
    if (g > f) f = g;
  }
  return f > 1 ? 1 : f < 0 ? 0 : f;
}

static bool passes(const struct iov_search *s, enum iov_search_goal g, double loss) {
  return g == IOV_SEARCH_GOAL_NDR ? loss <= 0 : loss <= s->p.pdr_loss;
}

/* The lower bound again after the upper one fell to or below it: the
 * highest pass still below hi (full ones only in full mode). */
static void lo_again(const struct iov_search *s, enum iov_search_goal gi, struct goal *g) {
  g->lo_valid = false;
  for (unsigned i = 0; i < s->n; i++) {
    const struct fed *f = &s->fed[i];
    if (!passes(s, gi, f->loss) || (g->full_mode && !f->t.full) || f->t.wire_bps >= g->hi) continue;
    if (!g->lo_valid || f->t.wire_bps > g->lo || (f->t.wire_bps == g->lo && f->t.full && !g->lo_full)) {
      g->lo_valid = true;
      g->lo = f->t.wire_bps;
      g->lo_full = f->t.full;
      g->lo_seq = f->t.seq;
      g->lo_loss = f->loss;
    }
  }
}

static void update(struct iov_search *s, enum iov_search_goal gi, const struct fed *f) {
  struct goal *g = &s->g[gi];
  double r = f->t.wire_bps;
  if (!g->wanted || g->end != IOV_SEARCH_RUNNING) return;
  if (passes(s, gi, f->loss)) {
    if (g->full_mode && !f->t.full) return;
    if (g->hi_valid && r >= g->hi) return; /* the failure below it stands */
    if (!g->lo_valid || r > g->lo || (r == g->lo && f->t.full && !g->lo_full)) {
      if (!g->lo_valid || r > g->lo) {
        g->streak++;
        g->fails = 0;
        g->after_fail = false;
      }
      g->lo_valid = true;
      g->lo = r;
      g->lo_full = f->t.full;
      g->lo_seq = f->t.seq;
      g->lo_loss = f->loss;
    }
    return;
  }
  if (f->t.full) {
    g->full_mode = true;
    g->full_fails++;
  }
  if (!g->hi_valid || r < g->hi) {
    g->hi_valid = true;
    g->hi = r;
    g->hi_loss = f->loss;
    g->after_fail = true;
    g->streak = 0;
    g->fails++;
  }
  if (g->lo_valid && (g->lo >= g->hi || (g->full_mode && !g->lo_full))) lo_again(s, gi, g);
}

/* After a failure at hi, what got through there is about what the
 * device forwards: just below it is the NDR's guess, that over
 * (1 - pdr_loss) the PDR's.  0: no such guess. */
static double fail_guess(const struct iov_search *s, enum iov_search_goal gi, const struct goal *g) {
  if (!g->after_fail || g->hi_loss >= 1) return 0;
  double guess = g->hi * (1 - g->hi_loss);
  if (gi == IOV_SEARCH_GOAL_PDR) guess /= 1 - s->p.pdr_loss;
  return guess * (1 - s->p.precision / 2);
}

/* The next rate inside (lo, hi), hi failed: a guess from how the
 * interval last moved, else its middle (RFC 2544's binary search).  After
 * a failure, fail_guess(); after passes, a step up from lo, doubled with
 * each pass in a row (MLRsearch's external search), so that an answer
 * just above lo is bracketed in one trial.  A guess at or beyond the
 * middle gives way to the middle (but for the first failure's). */
static double next_rate(const struct iov_search *s, enum iov_search_goal gi, const struct goal *g,
                        double lo) {
  double mid = lo + (g->hi - lo) / 2, guess = fail_guess(s, gi, g);
  /* The first failure's guess may lie above the middle (a device that
   * lost a little at hi); after two failures in a row the guesses proved
   * optimistic, and the middle caps them. */
  if (guess > lo && guess < g->hi && (guess < mid || g->fails <= 1)) return guess;
  guess = 0;
  if (g->lo_valid && g->streak > 0) {
    unsigned k = g->streak - 1 < 30 ? g->streak - 1 : 30;
    guess = lo * (1 + s->p.precision * (double)(1u << k));
  }
  return guess > lo && guess < mid ? guess : mid;
}

/* What goal g needs next: a trial (1, into *t) or nothing (0: it ended,
 * with *ret_end). */
static int plan_goal(const struct iov_search *s, const struct goal *g, struct iov_search_trial *t,
                     enum iov_search_end *ret_end) {
  enum iov_search_goal gi = (enum iov_search_goal)(g - s->g);
  double max = s->p.max_bps, min = s->min, rate;
  bool full = g->full_mode;

  if (!g->hi_valid) {
    if (g->lo_valid && g->lo >= max) {
      if (g->lo_full) {
        *ret_end = IOV_SEARCH_CONVERGED;
        return 0;
      }
      rate = g->lo;
      full = true;
    } else
      rate = max; /* the top first: a device that takes it needs no search */
  } else if (g->hi <= min) {
    *ret_end = IOV_SEARCH_MIN_LOSES;
    return 0;
  } else {
    double lo = g->lo_valid ? g->lo : min;
    if (g->hi - lo <= s->p.precision * g->hi) {
      if (g->lo_valid && g->lo_full) {
        *ret_end = IOV_SEARCH_CONVERGED;
        return 0;
      }
      rate = lo;
      if (g->lo_valid) full = true; /* a short pass: confirm it at full length */
    } else if (!g->lo_valid && g->full_mode && !s->all_full) {
      /* A full trial failed where short ones passed: the answer is most
       * likely just below, so step down from there, twice as far after
       * each failure (MLRsearch), rather than halve towards the floor. */
      unsigned k = g->full_fails < 30 ? g->full_fails : 30;
      double guess = fail_guess(s, gi, g);
      rate = g->hi * (1 - s->p.precision * (double)(1u << k));
      /* What got through the failed trial says better, when it can. */
      if (guess > min && guess < g->hi) rate = guess;
      if (rate < min) rate = min;
      full = true;
    } else
      rate = next_rate(s, gi, g, lo);
  }
  full = full || s->all_full;
  *t = (struct iov_search_trial){
    .seq = s->n + 1, .wire_bps = rate, .duration_ns = full ? s->p.final_ns : s->p.trial_ns, .full = full
  };
  return 1;
}

/* End the goals that have nothing left to try, and every one still
 * running once the budget is spent. */
static void settle(struct iov_search *s) {
  for (int i = 0; i < _IOV_SEARCH_GOAL_MAX; i++) {
    struct goal *g = &s->g[i];
    struct iov_search_trial t;
    enum iov_search_end end = IOV_SEARCH_RUNNING;
    if (!g->wanted || g->end != IOV_SEARCH_RUNNING) continue;
    if (plan_goal(s, g, &t, &end) == 0)
      g->end = end;
    else if (s->n >= s->p.max_trials)
      g->end = IOV_SEARCH_BUDGET;
  }
}

int iov_search_next(struct iov_search *s, struct iov_search_trial *ret) {
  settle(s);
  for (int i = 0; i < _IOV_SEARCH_GOAL_MAX; i++) {
    const struct goal *g = &s->g[i];
    enum iov_search_end end;
    if (g->wanted && g->end == IOV_SEARCH_RUNNING && plan_goal(s, g, ret, &end) == 1) return 1;
  }
  return 0;
}

int iov_search_feed(struct iov_search *s, const struct iov_search_trial *t, double loss) {
  if (s->n >= s->p.max_trials) return -ENOSPC;
  if (t->seq != s->n + 1 || !isfinite(t->wire_bps) || t->wire_bps <= 0 || !t->duration_ns ||
      !isfinite(loss) || loss < 0 || loss > 1)
    return -EINVAL;
  struct fed *f = &s->fed[s->n++];
  *f = (struct fed){ .t = *t, .loss = loss };
  s->measured_ns += t->duration_ns;
  for (int i = 0; i < _IOV_SEARCH_GOAL_MAX; i++) update(s, (enum iov_search_goal)i, f);
  settle(s);
  return 0;
}

void iov_search_result(const struct iov_search *s, struct iov_search_result *ret) {
  *ret = (struct iov_search_result){ .done = true, .trials = s->n, .measured_ns = s->measured_ns };
  for (int i = 0; i < _IOV_SEARCH_GOAL_MAX; i++) {
    const struct goal *g = &s->g[i];
    struct iov_search_goal_result *o = &ret->goal[i];
    o->wanted = g->wanted;
    if (!g->wanted) continue;
    o->end = g->end;
    if (g->end == IOV_SEARCH_RUNNING) ret->done = false;
    if (g->lo_valid && g->lo_full && g->end != IOV_SEARCH_MIN_LOSES) {
      o->wire_bps = g->lo;
      o->loss = g->lo_loss;
      o->trial = g->lo_seq;
    }
    o->lo_bps = g->lo_valid ? g->lo : 0;
    o->hi_bps = g->hi_valid ? g->hi : 0;
  }
}
