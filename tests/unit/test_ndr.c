/* lib/ndr.c against simulated devices: a policer that forwards at most R
 * bit/s (loss 0 below R, (r - R) / r above, as a tbf qdisc), and one with
 * a buffer that lets short trials pass above what a full-length trial
 * can sustain.  The NDR must land within the precision of the true one,
 * the PDR at or above it, the search within its budget; a full trial that
 * fails moves the bound; feeding the first k trials of a search into a
 * new one and asking for the next gives the (k+1)-th trial. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ndr.h"

#define NS 1000000000ULL

/* A device: forwards rate_bps, and a buffer of buffer_bits absorbs the
 * excess of a trial before it starts to drop. */
struct device {
  double rate_bps, buffer_bits;
};

static double device_loss(const struct device *d, const struct iov_search_trial *t) {
  double secs = (double)t->duration_ns / 1e9;
  double excess = (t->wire_bps - d->rate_bps) * secs - d->buffer_bits;
  if (excess <= 0) return 0;
  return excess / (t->wire_bps * secs);
}

static struct iov_search_params params(void) {
  return (struct iov_search_params){ .what = IOV_SEARCH_NDR | IOV_SEARCH_PDR,
                                     .min_bps = 0,
                                     .max_bps = 10e9,
                                     .precision = 0.01,
                                     .pdr_loss = 0.005,
                                     .trial_ns = 1 * NS,
                                     .final_ns = 10 * NS,
                                     .max_trials = 30 };
}

/* Run a search against d to its end; its trials into log (at most max). */
static unsigned run(const struct iov_search_params *p, const struct device *d, struct iov_search_result *res,
                    struct iov_search_trial *log, size_t max) {
  struct iov_search *s = NULL;
  struct iov_search_trial t;
  unsigned n = 0;
  assert_int_equal(iov_search_new(p, &s, NULL, 0), 0);
  while (iov_search_next(s, &t) == 1) {
    assert_int_equal(t.seq, n + 1);
    assert_true(t.wire_bps > 0 && t.wire_bps <= p->max_bps);
    assert_int_equal(t.duration_ns, t.full ? p->final_ns : p->trial_ns);
    if (log && n < max) log[n] = t;
    n++;
    assert_true(n <= p->max_trials);
    assert_int_equal(iov_search_feed(s, &t, device_loss(d, &t)), 0);
  }
  iov_search_result(s, res);
  assert_true(res->done);
  assert_int_equal(res->trials, n);
  iov_search_free(s);
  return n;
}

static void within(double got, double lo, double hi) {
  if (!(got >= lo && got <= hi)) fail_msg("got %.6g, want %.6g..%.6g", got, lo, hi);
}

static void test_policer(void **state) {
  (void)state;
  struct iov_search_params p = params();
  const double R[] = { 3.3e9, 0.5e9, 9.2e9, 47e6 };
  for (size_t i = 0; i < sizeof(R) / sizeof(R[0]); i++) {
    struct device d = { .rate_bps = R[i] };
    struct iov_search_result res;
    struct iov_search_trial log[64];
    unsigned n = run(&p, &d, &res, log, 64);
    const struct iov_search_goal_result *ndr = &res.goal[IOV_SEARCH_GOAL_NDR],
                                        *pdr = &res.goal[IOV_SEARCH_GOAL_PDR];
    assert_int_equal(ndr->end, IOV_SEARCH_CONVERGED);
    assert_int_equal(pdr->end, IOV_SEARCH_CONVERGED);
    within(ndr->wire_bps, R[i] * (1 - p.precision), R[i]);
    assert_true(ndr->loss == 0);
    /* The PDR device rate: loss (r - R) / r <= pdr_loss. */
    double pdr_true = R[i] / (1 - p.pdr_loss);
    within(pdr->wire_bps, ndr->wire_bps, pdr_true);
    within(pdr->wire_bps, pdr_true * (1 - p.precision), pdr_true);
    assert_true(pdr->loss <= p.pdr_loss);
    /* The answers are full-length passing trials. */
    assert_true(ndr->trial >= 1 && ndr->trial <= n && log[ndr->trial - 1].full);
    assert_true(log[ndr->trial - 1].wire_bps == ndr->wire_bps);
    assert_true(pdr->trial >= 1 && pdr->trial <= n && log[pdr->trial - 1].full);
    assert_true(n <= p.max_trials);
    /* What got through the first trial guides the next: a policer is
     * found in a handful of trials, not a whole binary search. */
    assert_true(n <= 8);
    /* Short trials first: the first is the top, short. */
    assert_true(log[0].wire_bps == p.max_bps && !log[0].full);
    uint64_t ns = 0;
    for (unsigned k = 0; k < n; k++) ns += log[k].duration_ns;
    assert_int_equal(res.measured_ns, ns);
  }
}

/* Devices whose loss above R is not a policer's: one that loses a tenth
 * of the excess (what got through overstates what it forwards), one that
 * forwards less the more it is offered (R^2 / r: livelock).  The answers
 * still land within precision of the true ones, within the budget. */
static void test_other_curves(void **state) {
  (void)state;
  struct iov_search_params p = params();
  const double R = 3.3e9;
  for (int dev = 0; dev < 2; dev++) {
    struct iov_search *s = NULL;
    struct iov_search_trial t;
    assert_int_equal(iov_search_new(&p, &s, NULL, 0), 0);
    while (iov_search_next(s, &t) == 1) {
      double r = t.wire_bps, loss = r <= R ? 0 : dev == 0 ? 0.1 * (r - R) / r : 1 - R * R / (r * r);
      assert_int_equal(iov_search_feed(s, &t, loss), 0);
    }
    struct iov_search_result res;
    iov_search_result(s, &res);
    iov_search_free(s);
    /* loss <= pdr_loss: r <= R / (1 - 10 pdr_loss), or R / sqrt(1 - pdr_loss). */
    double pdr_true = dev == 0 ? R / (1 - 10 * p.pdr_loss) : R / sqrt(1 - p.pdr_loss);
    assert_int_equal(res.goal[IOV_SEARCH_GOAL_NDR].end, IOV_SEARCH_CONVERGED);
    assert_int_equal(res.goal[IOV_SEARCH_GOAL_PDR].end, IOV_SEARCH_CONVERGED);
    within(res.goal[IOV_SEARCH_GOAL_NDR].wire_bps, R * (1 - p.precision), R);
    within(res.goal[IOV_SEARCH_GOAL_PDR].wire_bps, pdr_true * (1 - p.precision), pdr_true);
    assert_true(res.trials <= p.max_trials);
  }
}

/* A buffer lets 1 s trials pass 20 % above the 10 s limit: the full trial
 * at the short answer fails, that rate becomes the upper bound, and the
 * search goes on at full length to the true 10 s NDR. */
static void test_full_trial_fails(void **state) {
  (void)state;
  struct iov_search_params p = params();
  struct device d = { .rate_bps = 2e9, .buffer_bits = 0.4e9 }; /* short: 2.4e9, full: 2.04e9 */
  struct iov_search_result res;
  struct iov_search_trial log[64];
  unsigned n = run(&p, &d, &res, log, 64);
  const struct iov_search_goal_result *ndr = &res.goal[IOV_SEARCH_GOAL_NDR];
  double full_ndr = d.rate_bps + d.buffer_bits / 10;
  assert_int_equal(ndr->end, IOV_SEARCH_CONVERGED);
  within(ndr->wire_bps, full_ndr * (1 - p.precision), full_ndr);
  bool full_failed = false;
  for (unsigned k = 0; k < n; k++) {
    if (log[k].full && device_loss(&d, &log[k]) > 0) {
      full_failed = true;
      /* Every trial after it for the NDR is full-length or an upper
       * bound check: none passes short above the failed rate. */
      within(ndr->wire_bps, 0, log[k].wire_bps);
    }
  }
  assert_true(full_failed);
  assert_true(n <= p.max_trials);
  assert_true(res.goal[IOV_SEARCH_GOAL_PDR].wire_bps >= ndr->wire_bps);
}

/* An uninterrupted search, and for every k a new one fed its first k
 * trials: the next trial is the same, and so is the end. */
static void test_resume(void **state) {
  (void)state;
  struct iov_search_params p = params();
  struct device d = { .rate_bps = 2e9, .buffer_bits = 0.4e9 };
  struct iov_search_result whole;
  struct iov_search_trial log[64];
  unsigned n = run(&p, &d, &whole, log, 64);
  assert_true(n > 3);
  for (unsigned k = 0; k <= n; k++) {
    struct iov_search *s = NULL;
    struct iov_search_trial t;
    assert_int_equal(iov_search_new(&p, &s, NULL, 0), 0);
    for (unsigned j = 0; j < k; j++)
      assert_int_equal(iov_search_feed(s, &log[j], device_loss(&d, &log[j])), 0);
    if (k == n) {
      assert_int_equal(iov_search_next(s, &t), 0);
      struct iov_search_result res;
      iov_search_result(s, &res);
      assert_int_equal(res.trials, whole.trials);
      assert_int_equal(res.measured_ns, whole.measured_ns);
      for (int g = 0; g < _IOV_SEARCH_GOAL_MAX; g++) {
        assert_int_equal(res.goal[g].end, whole.goal[g].end);
        assert_true(res.goal[g].wire_bps == whole.goal[g].wire_bps);
        assert_int_equal(res.goal[g].trial, whole.goal[g].trial);
      }
    } else {
      assert_int_equal(iov_search_next(s, &t), 1);
      assert_int_equal(t.seq, log[k].seq);
      assert_true(t.wire_bps == log[k].wire_bps);
      assert_int_equal(t.duration_ns, log[k].duration_ns);
      assert_int_equal(t.full, log[k].full);
      /* Asking again without feeding gives the same. */
      struct iov_search_trial t2;
      assert_int_equal(iov_search_next(s, &t2), 1);
      assert_int_equal(t2.seq, t.seq);
      assert_true(t2.wire_bps == t.wire_bps && t2.duration_ns == t.duration_ns && t2.full == t.full);
    }
    iov_search_free(s);
  }
}

static void test_max_passes(void **state) {
  (void)state;
  struct iov_search_params p = params();
  struct device d = { .rate_bps = 40e9 };
  struct iov_search_result res;
  struct iov_search_trial log[8];
  unsigned n = run(&p, &d, &res, log, 8);
  /* A short trial at the top, then its full-length confirmation. */
  assert_int_equal(n, 2);
  assert_true(!log[0].full && log[1].full);
  for (int g = 0; g < _IOV_SEARCH_GOAL_MAX; g++) {
    assert_int_equal(res.goal[g].end, IOV_SEARCH_CONVERGED);
    assert_true(res.goal[g].wire_bps == p.max_bps);
    assert_int_equal(res.goal[g].trial, 2);
  }
  /* Short trials as long as the full ones: every trial is full. */
  p.trial_ns = p.final_ns;
  n = run(&p, &d, &res, log, 8);
  assert_int_equal(n, 1);
  assert_true(log[0].full);
  assert_int_equal(res.goal[IOV_SEARCH_GOAL_NDR].end, IOV_SEARCH_CONVERGED);
}

static void test_min_loses(void **state) {
  (void)state;
  struct iov_search_params p = params();
  p.min_bps = 1e9;
  struct device d = { .rate_bps = 0.2e9 };
  struct iov_search_result res;
  unsigned n = run(&p, &d, &res, NULL, 0);
  for (int g = 0; g < _IOV_SEARCH_GOAL_MAX; g++) {
    assert_int_equal(res.goal[g].end, IOV_SEARCH_MIN_LOSES);
    assert_true(res.goal[g].wire_bps == 0);
    assert_int_equal(res.goal[g].trial, 0);
  }
  assert_true(n <= p.max_trials);
  assert_string_equal(iov_search_end_to_string(IOV_SEARCH_MIN_LOSES), "even search_min loses");
}

static void test_budget(void **state) {
  (void)state;
  struct iov_search_params p = params();
  p.max_trials = 3;
  p.what = IOV_SEARCH_NDR;
  struct device d = { .rate_bps = 3.3e9 };
  struct iov_search_result res;
  unsigned n = run(&p, &d, &res, NULL, 0);
  assert_int_equal(n, 3);
  assert_int_equal(res.goal[IOV_SEARCH_GOAL_NDR].end, IOV_SEARCH_BUDGET);
  assert_false(res.goal[IOV_SEARCH_GOAL_PDR].wanted);
  /* Only short trials ran: no answer. */
  assert_true(res.goal[IOV_SEARCH_GOAL_NDR].wire_bps == 0);
  /* Feeding past the budget is refused. */
  struct iov_search *s = NULL;
  assert_int_equal(iov_search_new(&p, &s, NULL, 0), 0);
  struct iov_search_trial t;
  for (unsigned k = 0; k < 3; k++) {
    assert_int_equal(iov_search_next(s, &t), 1);
    assert_int_equal(iov_search_feed(s, &t, 0.5), 0);
  }
  t.seq = 4;
  assert_int_equal(iov_search_feed(s, &t, 0), -ENOSPC);
  iov_search_free(s);
}

/* Only the PDR: the answer a policer lets through with pdr_loss. */
static void test_pdr_only(void **state) {
  (void)state;
  struct iov_search_params p = params();
  p.what = IOV_SEARCH_PDR;
  p.pdr_loss = 0.1;
  struct device d = { .rate_bps = 1e9 };
  struct iov_search_result res;
  run(&p, &d, &res, NULL, 0);
  assert_false(res.goal[IOV_SEARCH_GOAL_NDR].wanted);
  double want = 1e9 / 0.9;
  within(res.goal[IOV_SEARCH_GOAL_PDR].wire_bps, want * (1 - p.precision), want);
}

static void test_feed_checks(void **state) {
  (void)state;
  struct iov_search_params p = params();
  struct iov_search *s = NULL;
  char err[200] = "";
  struct iov_search_trial t = { .seq = 1, .wire_bps = 1e9, .duration_ns = NS, .full = false };
  assert_int_equal(iov_search_new(&p, &s, err, sizeof(err)), 0);
  struct iov_search_trial bad = t;
  bad.seq = 2;
  assert_int_equal(iov_search_feed(s, &bad, 0), -EINVAL);
  bad = t;
  bad.wire_bps = NAN;
  assert_int_equal(iov_search_feed(s, &bad, 0), -EINVAL);
  bad.wire_bps = -1;
  assert_int_equal(iov_search_feed(s, &bad, 0), -EINVAL);
  assert_int_equal(iov_search_feed(s, &t, NAN), -EINVAL);
  assert_int_equal(iov_search_feed(s, &t, 1.5), -EINVAL);
  assert_int_equal(iov_search_feed(s, &t, 0), 0);
  iov_search_free(s);

  p.max_bps = 0;
  assert_int_equal(iov_search_new(&p, &s, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "highest rate"));
  p = params();
  p.min_bps = 20e9;
  assert_int_equal(iov_search_new(&p, &s, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "search_min"));
  p = params();
  p.precision = 0;
  assert_int_equal(iov_search_new(&p, &s, err, sizeof(err)), -EINVAL);
  p = params();
  p.max_trials = 1;
  assert_int_equal(iov_search_new(&p, &s, err, sizeof(err)), -EINVAL);
  p = params();
  p.what = 0;
  assert_int_equal(iov_search_new(&p, &s, err, sizeof(err)), -EINVAL);
}

static void test_loss(void **state) {
  (void)state;
  assert_true(iov_search_loss(1000, 1000, 0, 0) == 0);
  assert_true(iov_search_loss(1000, 990, 10, 0) == 0.01);
  /* The tail's FIN lost: sent - received counts. */
  assert_true(iov_search_loss(1000, 990, 0, 0) == 0.01);
  /* Duplicates counted as received: no loss below 0. */
  assert_true(iov_search_loss(1000, 1002, 0, 0) == 0);
  assert_true(iov_search_loss(0, 0, 0, 0) == 1);
  assert_true(iov_search_loss(0, 0, 5, 0) == 1);
  assert_true(iov_search_loss(UINT64_MAX, UINT64_MAX, UINT64_MAX, 0) <= 1);
  /* A sender a little short of its schedule (start-up): no loss. */
  assert_true(iov_search_loss(995, 995, 0, 1000) == 0);
  /* One held back to a third of the rate did not offer it: the unsent
   * count as lost, though all it sent arrived. */
  double l = iov_search_loss(333, 333, 0, 1000);
  assert_true(l > 0.66 && l < 0.67);
  assert_true(iov_search_loss(0, 0, 0, 1000) == 1);
  /* More sent than intended (warm-up counted too): the plain loss. */
  assert_true(iov_search_loss(1500, 1485, 15, 1000) == 0.01);
}

static void test_what(void **state) {
  (void)state;
  uint64_t v = 99;
  char buf[32], err[200];
  assert_int_equal(iov_search_what_parse("none", &v, err, sizeof(err)), 0);
  assert_int_equal(v, IOV_SEARCH_NONE);
  assert_int_equal(iov_search_what_parse("ndr", &v, err, sizeof(err)), 0);
  assert_int_equal(v, IOV_SEARCH_NDR);
  assert_int_equal(iov_search_what_parse("pdr", &v, err, sizeof(err)), 0);
  assert_int_equal(v, IOV_SEARCH_PDR);
  assert_int_equal(iov_search_what_parse("ndr,pdr", &v, err, sizeof(err)), 0);
  assert_int_equal(v, 3);
  assert_int_equal(iov_search_what_parse(" pdr , ndr ", &v, err, sizeof(err)), 0);
  assert_int_equal(v, 3);
  const char *bad[] = { "", "ndr,", ",pdr", "ndr pdr", "nd", "none,ndr", "NDR", "ndr,,pdr" };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    if (iov_search_what_parse(bad[i], &v, err, sizeof(err)) != -EINVAL) fail_msg("'%s' was taken", bad[i]);
    assert_non_null(strstr(err, "ndr,pdr"));
  }
  assert_string_equal(iov_search_what_format(0, buf, sizeof(buf)), "none");
  assert_string_equal(iov_search_what_format(1, buf, sizeof(buf)), "ndr");
  assert_string_equal(iov_search_what_format(2, buf, sizeof(buf)), "pdr");
  assert_string_equal(iov_search_what_format(3, buf, sizeof(buf)), "ndr,pdr");
  for (uint64_t w = 0; w < 4; w++) {
    assert_int_equal(iov_search_what_parse(iov_search_what_format(w, buf, sizeof(buf)), &v, NULL, 0), 0);
    assert_int_equal(v, w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_policer),
    cmocka_unit_test(test_other_curves),
    cmocka_unit_test(test_full_trial_fails),
    cmocka_unit_test(test_resume),
    cmocka_unit_test(test_max_passes),
    cmocka_unit_test(test_min_loses),
    cmocka_unit_test(test_budget),
    cmocka_unit_test(test_pdr_only),
    cmocka_unit_test(test_feed_checks),
    cmocka_unit_test(test_loss),
    cmocka_unit_test(test_what),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
