/* See stats.h.  The t distribution through the regularised incomplete
 * beta function (continued fraction, as in the standard numerical
 * texts), its inverse by bisection: plenty for confidence levels and
 * p-values printed to a few digits. */
#include "stats.h"

#include <math.h>

/* Continued fraction for the incomplete beta function (Lentz). */
static double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300;
  double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 300; m++) {
    int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-14) break;
  }
  return h;
}

/* I_x(a, b). */
static double beta_inc(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return exp(lbt) * beta_cf(a, b, x) / a;
  return 1.0 - exp(lbt) * beta_cf(b, a, 1.0 - x) / b;
}

double iov_student_t_cdf(double t, double df) {
  if (isnan(t) || !(df > 0)) return NAN;
  if (isinf(t)) return t > 0 ? 1.0 : 0.0;
  double x = df / (df + t * t);
  double tail = 0.5 * beta_inc(df / 2.0, 0.5, x); /* P(T > |t|) */
  return t > 0 ? 1.0 - tail : tail;
}

double iov_student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1) || !(df > 0)) return NAN;
  if (p == 0.5) return 0;
  double lo = -1.0, hi = 1.0;
  while (iov_student_t_cdf(lo, df) > p && lo > -1e12) lo *= 2;
  while (iov_student_t_cdf(hi, df) < p && hi < 1e12) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * (1 + fabs(lo)); i++) {
    double mid = 0.5 * (lo + hi);
    if (iov_student_t_cdf(mid, df) < p)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

void iov_stat_compute(const double *x, size_t n, double level, struct iov_stat *out) {
  unsigned k = 0;
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(x[i])) {
      sum += x[i];
      k++;
    }
  *out =
      (struct iov_stat){ .n = k, .mean = NAN, .sd = NAN, .half = NAN, .lo = NAN, .hi = NAN, .level = level };
  if (k == 0) return;
  out->mean = sum / k;
  if (k < 2) return;
  double ss = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(x[i])) ss += (x[i] - out->mean) * (x[i] - out->mean);
  out->sd = sqrt(ss / (k - 1));
  if (level > 0 && level < 1) {
    double t = iov_student_t_quantile(0.5 + level / 2.0, k - 1);
    out->half = t * out->sd / sqrt((double)k);
    out->lo = out->mean - out->half;
    out->hi = out->mean + out->half;
  }
}

double iov_welch_p(const struct iov_stat *a, const struct iov_stat *b, double *ret_t, double *ret_df) {
  if (ret_t) *ret_t = NAN;
  if (ret_df) *ret_df = NAN;
  if (!a || !b || a->n < 2 || b->n < 2) return NAN;
  double va = a->sd * a->sd / a->n, vb = b->sd * b->sd / b->n;
  if (!(va + vb > 0)) return NAN;
  double t = (a->mean - b->mean) / sqrt(va + vb);
  double df = (va + vb) * (va + vb) / (va * va / (a->n - 1) + vb * vb / (b->n - 1));
  if (ret_t) *ret_t = t;
  if (ret_df) *ret_df = df;
  return 2.0 * iov_student_t_cdf(-fabs(t), df);
}
