/* lib/stats.c against published values: t quantiles from the usual
 * tables, and Welch's test on a worked example computed by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "stats.h"

static void near(double got, double want, double tol) {
  if (!(fabs(got - want) <= tol)) fail_msg("got %.6f, want %.6f (+- %g)", got, want, tol);
}

static void test_t_quantiles(void **state) {
  (void)state;
  /* Two-sided 95 % and 99 %: t(0.975) and t(0.995). */
  near(iov_student_t_quantile(0.975, 1), 12.706, 1e-3);
  near(iov_student_t_quantile(0.975, 2), 4.303, 1e-3);
  near(iov_student_t_quantile(0.975, 9), 2.262, 1e-3);
  near(iov_student_t_quantile(0.995, 2), 9.925, 1e-3);
  near(iov_student_t_quantile(0.995, 4), 4.604, 1e-3);
  near(iov_student_t_quantile(0.995, 29), 2.756, 1e-3);
  near(iov_student_t_quantile(0.995, 1e6), 2.576, 1e-3);
  near(iov_student_t_quantile(0.025, 9), -2.262, 1e-3);
  near(iov_student_t_quantile(0.5, 3), 0, 1e-12);
  near(iov_student_t_cdf(2.262, 9), 0.975, 1e-4);
  assert_true(isnan(iov_student_t_quantile(1.0, 3)));
  assert_true(isnan(iov_student_t_quantile(0.9, 0)));
}

static void test_stat(void **state) {
  (void)state;
  double x[] = { 10, 12, NAN, 11, 13, INFINITY, 14 };
  struct iov_stat s;
  iov_stat_compute(x, 7, 0.95, &s);
  assert_int_equal(s.n, 5);
  near(s.mean, 12, 1e-12);
  near(s.sd, sqrt(2.5), 1e-12);
  near(s.half, 2.776445 * sqrt(2.5) / sqrt(5), 1e-5);
  near(s.lo, 12 - s.half, 1e-12);
  iov_stat_compute(x, 1, 0.95, &s);
  assert_int_equal(s.n, 1);
  near(s.mean, 10, 0);
  assert_true(isnan(s.sd) && isnan(s.half));
  iov_stat_compute(x, 0, 0.95, &s);
  assert_true(isnan(s.mean));
}

static void test_welch(void **state) {
  (void)state;
  /* a: 20.1 20.3 19.9 20.2 (mean 20.125, sd 0.1708); b: 18.9 19.4 19.1
   * (mean 19.133, sd 0.2517).  t = 5.884, df = 3.353 (by hand), and the
   * two-sided p = 0.00712 (the t density integrated numerically). */
  double a[] = { 20.1, 20.3, 19.9, 20.2 }, b[] = { 18.9, 19.4, 19.1 };
  struct iov_stat sa, sb;
  double t, df;
  iov_stat_compute(a, 4, 0.95, &sa);
  iov_stat_compute(b, 3, 0.95, &sb);
  double p = iov_welch_p(&sa, &sb, &t, &df);
  near(t, 5.8842, 1e-3);
  near(df, 3.3535, 1e-3);
  near(p, 0.00712, 5e-5);
  /* The same sets: no difference. */
  near(iov_welch_p(&sa, &sa, &t, NULL), 1.0, 1e-12);
  /* Too few values: no verdict. */
  iov_stat_compute(b, 1, 0.95, &sb);
  assert_true(isnan(iov_welch_p(&sa, &sb, NULL, NULL)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_t_quantiles),
    cmocka_unit_test(test_stat),
    cmocka_unit_test(test_welch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
