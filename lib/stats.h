/* Statistics over repeated measurements: mean, standard deviation and
 * the confidence interval of the mean (Student's t), and Welch's t-test
 * between two sets of repeats.  Used by repeat/confidence in coord run,
 * by the reports and figures (error bars) and by coord compare. */
#pragma once

#include <stddef.h>

struct iov_stat {
  unsigned n;  /* values that were numbers (NaN and infinities are skipped) */
  double mean; /* NaN when n == 0 */
  double sd;   /* sample standard deviation (n - 1); NaN when n < 2 */
  double half; /* half-width of the confidence interval of the mean; NaN when n < 2 */
  double lo, hi;
  double level; /* the confidence level it was computed at, e.g. 0.99 */
};

/* Summarise x[0..n) at confidence level (0 < level < 1). */
void iov_stat_compute(const double *x, size_t n, double level, struct iov_stat *out);

/* Student's t distribution with df degrees of freedom (df > 0, not
 * necessarily whole): the CDF, and its inverse for 0 < p < 1. */
double iov_student_t_cdf(double t, double df);
double iov_student_t_quantile(double p, double df);

/* Welch's t-test of the difference of two means: the two-sided p-value,
 * or NaN when either side has fewer than two values or both have no
 * spread.  t and df (Welch-Satterthwaite) go to *ret_t and *ret_df when
 * not NULL. */
double iov_welch_p(const struct iov_stat *a, const struct iov_stat *b, double *ret_t, double *ret_df);
