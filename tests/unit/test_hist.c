/* Unit tests for lib/hist.c: bucket layout, percentile accuracy against
 * exact order statistics, merge/delta/set_bucket, and a concurrent
 * writer with a snapshotting reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

#define LAST (IOV_HIST_BUCKETS - 1)
#define BIT(n) (UINT64_C(1) << (n))

/* xorshift64*: a fixed seed makes every run see the same values. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(2685821657736338717);
}

/* Uniform in (0, 1], so log() never sees 0. */
static double rng_unit(uint64_t *s) { return ((double)(rng_next(s) >> 11) + 1.0) / 9007199254740992.0; }

static struct iov_hist *hist_new(void) {
  struct iov_hist *h = malloc(sizeof(*h));
  assert_non_null(h);
  iov_hist_init(h);
  return h;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static uint64_t bucket_sum(const struct iov_hist *h) {
  uint64_t s = 0;
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) s += h->buckets[i];
  return s;
}

static void check_value(uint64_t v) {
  unsigned i = iov_hist_index(v);
  assert_true(i < IOV_HIST_BUCKETS);
  assert_true(iov_hist_bucket_low(i) <= v);
  assert_true(v <= iov_hist_bucket_high(i));
}

static void test_layout(void **state) {
  uint64_t seed = 0x1234567;
  (void)state;

  assert_int_equal(IOV_HIST_BUCKETS, 256 + 32 * 128);

  /* Exhaustive over the exact range and well into the log range, which
   * also proves the index never decreases as v grows. */
  for (uint64_t v = 0, prev = 0; v <= BIT(20); v++) {
    unsigned i = iov_hist_index(v);
    check_value(v);
    if (v < IOV_HIST_SUB_COUNT) assert_int_equal(i, v);
    assert_true(i == prev || i == prev + 1 || v == 0);
    prev = i;
  }
  /* Edges of every power of two, past the overflow threshold. */
  for (unsigned k = 1; k < 64; k++) {
    check_value(BIT(k) - 1);
    check_value(BIT(k));
    check_value(BIT(k) + 1);
  }
  check_value(UINT64_MAX);
  /* Log-spaced random values up to 2^45. */
  for (int n = 0; n < 1000000; n++) {
    unsigned bits = (unsigned)(rng_next(&seed) % 46);
    check_value(bits ? rng_next(&seed) >> (64 - bits) : 0);
  }

  assert_int_equal(iov_hist_bucket_low(0), 0);
  assert_true(iov_hist_bucket_high(LAST) == UINT64_MAX);
  assert_true(iov_hist_bucket_low(LAST) == BIT(40) - BIT(32));
  assert_int_equal(iov_hist_index(BIT(40) - 1), LAST);
  assert_int_equal(iov_hist_index(BIT(40)), LAST);
  assert_int_equal(iov_hist_index(UINT64_MAX), LAST);
  assert_int_equal(iov_hist_index(BIT(40) - BIT(32) - 1), LAST - 1);
  assert_true(iov_hist_bucket_low(IOV_HIST_BUCKETS) == UINT64_MAX);
  assert_true(iov_hist_bucket_high(IOV_HIST_BUCKETS) == UINT64_MAX);

  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) {
    uint64_t low = iov_hist_bucket_low(i), high = iov_hist_bucket_high(i);
    assert_int_equal(iov_hist_index(low), i);
    assert_int_equal(iov_hist_index(high), i);
    if (i < LAST) assert_true(high + 1 == iov_hist_bucket_low(i + 1));
    if (i < IOV_HIST_SUB_COUNT)
      assert_true(low == high);
    else if (i < LAST)
      assert_true((double)(high - low + 1) / (double)low <= IOV_HIST_REL_ERROR);
  }
}

/* The rank of percentile permille/10 among n values, in integers, so the
 * reference does not share the float rounding of the code under test. */
static uint64_t exact_rank(unsigned permille, uint64_t n) {
  uint64_t r = (permille * n + 999) / 1000;
  return r < 1 ? 1 : r;
}

static const unsigned permilles[] = { 1, 10, 100, 250, 500, 750, 900, 990, 999, 1000 };

/* Record vals, then check every percentile against the exact order
 * statistic.  The bound checked is half of IOV_HIST_REL_ERROR, which is
 * what a bucket midpoint guarantees (see hist.h). */
static void check_percentiles(uint64_t *vals, size_t n) {
  struct iov_hist *h = hist_new();
  long double sum = 0;

  for (size_t k = 0; k < n; k++) {
    iov_hist_record(h, vals[k]);
    sum += vals[k];
  }
  qsort(vals, n, sizeof(*vals), cmp_u64);

  assert_int_equal(h->count, n);
  assert_true(h->min == vals[0]);
  assert_true(h->max == vals[n - 1]);
  assert_true(iov_hist_percentile(h, 0) == vals[0]);
  assert_true(iov_hist_percentile(h, -5) == vals[0]);
  assert_true(iov_hist_percentile(h, 100.5) == vals[n - 1]);
  assert_true(fabs(iov_hist_mean(h) - (double)(sum / n)) <= 1e-9 * (double)(sum / n));

  for (size_t k = 0; k < sizeof(permilles) / sizeof(permilles[0]); k++) {
    unsigned pm = permilles[k];
    uint64_t exact = vals[exact_rank(pm, n) - 1];
    uint64_t got = iov_hist_percentile(h, pm / 10.0);
    double err = fabs((double)got - (double)exact) / (double)exact;
    if (err > IOV_HIST_REL_ERROR / 2)
      fail_msg("p%.1f: got %llu, exact %llu, error %g", pm / 10.0, (unsigned long long)got,
               (unsigned long long)exact, err);
    /* Values in the exact buckets come back exactly. */
    if (exact < IOV_HIST_SUB_COUNT) assert_true(got == exact);
  }
  free(h);
}

static void test_percentile_uniform(void **state) {
  size_t n = 100000;
  uint64_t *vals = malloc(n * sizeof(*vals));
  (void)state;

  assert_non_null(vals);
  for (size_t k = 0; k < n; k++) vals[k] = n - k; /* 100000..1, so the sort is exercised */
  check_percentiles(vals, n);
  free(vals);
}

static void test_percentile_exponential(void **state) {
  size_t n = 200000;
  uint64_t seed = 42, *vals = malloc(n * sizeof(*vals));
  (void)state;

  assert_non_null(vals);
  /* Mean 20 us: the bulk is in the log range, the low tail in the exact
   * buckets. */
  for (size_t k = 0; k < n; k++) vals[k] = (uint64_t)(-20000.0 * log(rng_unit(&seed)));
  check_percentiles(vals, n);
  free(vals);
}

static void test_percentile_lognormal(void **state) {
  size_t n = 200000;
  uint64_t seed = 7, *vals = malloc(n * sizeof(*vals));
  (void)state;

  assert_non_null(vals);
  /* Median 50 us, sigma 2: spans about 100 ns to 1 s. */
  for (size_t k = 0; k < n; k++) {
    double r = sqrt(-2.0 * log(rng_unit(&seed)));
    double z = r * cos(2 * 3.14159265358979323846 * rng_unit(&seed));
    vals[k] = (uint64_t)exp(log(50000.0) + 2.0 * z);
  }
  check_percentiles(vals, n);
  free(vals);
}

/* In the exact range the rank arithmetic shows: a rank off by one gives
 * a different value. */
static void test_percentile_rank(void **state) {
  struct iov_hist *h = hist_new();
  (void)state;

  /* 1000 values: 0,0,0,0,1,1,1,1,...,249 (999 of them), then 255. */
  for (unsigned k = 0; k < 999; k++) iov_hist_record(h, k / 4);
  iov_hist_record(h, 255);
  assert_int_equal(iov_hist_percentile(h, 99.9), 249);
  assert_int_equal(iov_hist_percentile(h, 99.95), 255);
  assert_int_equal(iov_hist_percentile(h, 100), 255);
  assert_int_equal(iov_hist_percentile(h, 50), 124); /* rank 500 */
  assert_int_equal(iov_hist_percentile(h, 0.1), 0);  /* rank 1 */
  assert_int_equal(iov_hist_percentile(h, 0.5), 1);  /* rank 5 */
  assert_int_equal(iov_hist_percentile(h, 1e-9), 0);
  free(h);

  /* 1..100: p is the value. */
  h = hist_new();
  for (unsigned v = 1; v <= 100; v++) iov_hist_record(h, v);
  for (unsigned p = 1; p <= 100; p++) assert_int_equal(iov_hist_percentile(h, p), p);
  assert_int_equal(iov_hist_percentile(h, 33.3), 34);
  free(h);
}

static void test_empty(void **state) {
  struct iov_hist *h = hist_new();
  (void)state;

  assert_int_equal(h->count, 0);
  assert_true(h->min == UINT64_MAX);
  assert_int_equal(h->max, 0);
  assert_int_equal(iov_hist_percentile(h, 50), 0);
  assert_int_equal(iov_hist_percentile(h, 0), 0);
  assert_int_equal(iov_hist_percentile(h, 100), 0);
  assert_int_equal(iov_hist_percentile(h, 200), 0);
  assert_true(iov_hist_mean(h) == 0.0);
  free(h);
}

static void test_overflow(void **state) {
  struct iov_hist *h = hist_new();
  (void)state;

  iov_hist_record(h, 5);
  iov_hist_record(h, BIT(40) - 1); /* last bucket, not an overflow */
  iov_hist_record(h, BIT(40));
  iov_hist_record(h, BIT(45));
  iov_hist_record(h, UINT64_MAX);
  assert_int_equal(h->count, 5);
  assert_int_equal(h->overflow, 3);
  assert_int_equal(h->buckets[LAST], 4);
  assert_int_equal(bucket_sum(h), 5);
  assert_true(h->sum == UINT64_MAX); /* saturated */
  assert_true(h->max == UINT64_MAX);
  assert_int_equal(h->min, 5);
  assert_int_equal(iov_hist_percentile(h, 20), 5);
  /* Rank 2 is the in-range value of the last bucket: its midpoint. */
  assert_true(iov_hist_percentile(h, 40) == BIT(40) - BIT(31) - 1);
  /* Ranks 3..5 are overflow values: reported as max. */
  assert_true(iov_hist_percentile(h, 60) == UINT64_MAX);
  assert_true(iov_hist_percentile(h, 100) == UINT64_MAX);
  free(h);
}

static void record_set(struct iov_hist *h, uint64_t seed, size_t n) {
  for (size_t k = 0; k < n; k++) iov_hist_record(h, rng_next(&seed) >> (rng_next(&seed) % 64));
}

static void test_merge(void **state) {
  struct iov_hist *a = hist_new(), *b = hist_new(), *all = hist_new(), *e = hist_new();
  (void)state;

  record_set(a, 1, 50000);
  record_set(b, 2, 70000);
  record_set(all, 1, 50000);
  record_set(all, 2, 70000);
  assert_true(a->overflow > 0 && a->sum == UINT64_MAX);
  iov_hist_merge(a, b);
  assert_memory_equal(a, all, sizeof(*a));

  /* An empty histogram is the identity, either way round. */
  iov_hist_merge(a, e);
  assert_memory_equal(a, all, sizeof(*a));
  iov_hist_merge(e, all);
  assert_memory_equal(e, all, sizeof(*e));

  /* Without saturation the sum is the exact total. */
  iov_hist_init(a);
  iov_hist_init(b);
  iov_hist_record(a, 10);
  iov_hist_record(a, 1000);
  iov_hist_record(b, 3);
  iov_hist_merge(a, b);
  assert_int_equal(a->sum, 1013);
  assert_int_equal(a->min, 3);
  assert_int_equal(a->max, 1000);
  assert_int_equal(a->count, 3);
  free(a);
  free(b);
  free(all);
  free(e);
}

static void test_delta(void **state) {
  struct iov_hist *h = hist_new(), *mid = hist_new(), *before = hist_new(), *now = hist_new();
  struct iov_hist *d = hist_new(), *sentinel = hist_new();
  uint64_t seed = 99;
  (void)state;

  for (int k = 0; k < 30000; k++) iov_hist_record(h, rng_next(&seed) >> 40);
  iov_hist_snapshot(before, h);
  /* The interval: values from 1000 to about 3 ms. */
  for (int k = 0; k < 20000; k++) {
    uint64_t v = 1000 + (rng_next(&seed) >> 42);
    iov_hist_record(h, v);
    iov_hist_record(mid, v);
  }
  iov_hist_snapshot(now, h);

  assert_int_equal(iov_hist_delta(d, now, before), 0);
  assert_memory_equal(d->buckets, mid->buckets, sizeof(d->buckets));
  assert_int_equal(d->count, mid->count);
  assert_int_equal(d->sum, mid->sum);
  assert_int_equal(d->overflow, 0);
  /* Extremes are bucket bounds: in the right bucket, on the safe side. */
  assert_true(d->min <= mid->min && iov_hist_index(d->min) == iov_hist_index(mid->min));
  assert_true(d->max >= mid->max && iov_hist_index(d->max) == iov_hist_index(mid->max));
  for (size_t k = 0; k < sizeof(permilles) / sizeof(permilles[0]); k++)
    assert_int_equal(iov_hist_index(iov_hist_percentile(d, permilles[k] / 10.0)),
                     iov_hist_index(iov_hist_percentile(mid, permilles[k] / 10.0)));

  /* Against an empty 'before' the delta is 'now', extremes included. */
  iov_hist_init(before);
  assert_int_equal(iov_hist_delta(d, now, before), 0);
  assert_memory_equal(d, now, sizeof(*d));

  /* When the interval holds the cumulative extremes, they are exact. */
  iov_hist_init(h);
  iov_hist_record(h, 100001);
  iov_hist_snapshot(before, h);
  iov_hist_record(h, 100000);
  iov_hist_record(h, 1000000);
  iov_hist_snapshot(now, h);
  assert_int_equal(iov_hist_delta(d, now, before), 0);
  assert_int_equal(d->min, 100000);
  assert_int_equal(d->max, 1000000);
  /* An overflow in the interval: max comes from 'now', not the bucket. */
  iov_hist_snapshot(before, h);
  iov_hist_record(h, BIT(41));
  iov_hist_record(h, 3);
  iov_hist_snapshot(now, h);
  assert_int_equal(iov_hist_delta(d, now, before), 0);
  assert_int_equal(d->overflow, 1);
  assert_int_equal(d->count, 2);
  assert_int_equal(d->sum, BIT(41) + 3);
  assert_int_equal(d->min, 3);
  assert_true(d->max == BIT(41));
  assert_true(iov_hist_percentile(d, 100) == BIT(41));
  assert_int_equal(iov_hist_percentile(d, 50), 3);

  /* Nothing in between: an empty interval. */
  assert_int_equal(iov_hist_delta(d, now, now), 0);
  assert_int_equal(d->count, 0);
  assert_int_equal(bucket_sum(d), 0);
  assert_int_equal(iov_hist_percentile(d, 50), 0);

  /* Not a prefix: one bucket of 'before' above 'now'.  ret untouched. */
  iov_hist_snapshot(before, now);
  /* Same total, one value moved down: not a prefix. */
  before->buckets[iov_hist_index(now->max)]--;
  before->buckets[iov_hist_index(now->min)]++;
  memset(d, 0xa5, sizeof(*d));
  memset(sentinel, 0xa5, sizeof(*sentinel));
  assert_int_equal(iov_hist_delta(d, now, before), -EINVAL);
  assert_memory_equal(d, sentinel, sizeof(*d));
  /* Nor when the order of the snapshots is swapped. */
  iov_hist_snapshot(before, h);
  record_set(h, 5, 10);
  iov_hist_snapshot(now, h);
  assert_int_equal(iov_hist_delta(d, before, now), -EINVAL);
  /* Count going down alone is caught too. */
  iov_hist_snapshot(before, now);
  before->count++;
  assert_int_equal(iov_hist_delta(d, now, before), -EINVAL);
  /* And so is a sum going down, unless it saturated (then unknown). */
  iov_hist_snapshot(before, now);
  before->sum++;
  assert_int_equal(iov_hist_delta(d, now, before), -EINVAL);
  now->sum = UINT64_MAX;
  assert_int_equal(iov_hist_delta(d, now, before), 0);
  assert_true(d->sum == UINT64_MAX);

  /* ret may alias 'now'. */
  iov_hist_snapshot(before, h);
  iov_hist_record(h, 123456);
  iov_hist_snapshot(now, h);
  assert_int_equal(iov_hist_delta(now, now, before), 0);
  assert_int_equal(now->count, 1);
  assert_int_equal(now->buckets[iov_hist_index(123456)], 1);
  assert_int_equal(iov_hist_index(iov_hist_percentile(now, 50)), iov_hist_index(123456));

  free(h);
  free(mid);
  free(before);
  free(now);
  free(d);
  free(sentinel);
}

static void test_set_bucket(void **state) {
  struct iov_hist *h = hist_new(), *d = hist_new();
  uint64_t seed = 3;
  unsigned i = iov_hist_index(300000);
  (void)state;

  for (int k = 0; k < 50000; k++) iov_hist_record(h, 100 + (rng_next(&seed) >> 40));

  /* Decode the buckets alone: same counts, same percentile buckets. */
  for (unsigned b = 0; b < IOV_HIST_BUCKETS; b++)
    if (h->buckets[b]) assert_int_equal(iov_hist_set_bucket(d, b, h->buckets[b]), 0);
  assert_int_equal(d->count, h->count);
  assert_memory_equal(d->buckets, h->buckets, sizeof(d->buckets));
  assert_true(d->min <= h->min && d->max >= h->max);
  for (size_t k = 0; k < sizeof(permilles) / sizeof(permilles[0]); k++)
    assert_int_equal(iov_hist_index(iov_hist_percentile(d, permilles[k] / 10.0)),
                     iov_hist_index(iov_hist_percentile(h, permilles[k] / 10.0)));
  /* Then the scalars: a full round trip. */
  d->sum = h->sum;
  d->min = h->min;
  d->max = h->max;
  d->overflow = h->overflow;
  assert_memory_equal(d, h, sizeof(*d));

  /* Setting a bucket lower or higher moves count by the difference. */
  assert_int_equal(iov_hist_set_bucket(d, i, d->buckets[i] + 10), 0);
  assert_int_equal(d->count, h->count + 10);
  assert_int_equal(iov_hist_set_bucket(d, i, 0), 0);
  assert_int_equal(d->count, h->count + 10 - h->buckets[i] - 10);
  assert_int_equal(iov_hist_set_bucket(d, IOV_HIST_BUCKETS, 1), -EINVAL);
  assert_int_equal(iov_hist_set_bucket(d, UINT32_MAX, 1), -EINVAL);
  assert_int_equal(d->count, h->count - h->buckets[i]);

  /* On an empty histogram min and max widen to the bucket's bounds. */
  iov_hist_init(d);
  assert_int_equal(iov_hist_set_bucket(d, i, 7), 0);
  assert_int_equal(d->count, 7);
  assert_int_equal(d->min, iov_hist_bucket_low(i));
  assert_int_equal(d->max, iov_hist_bucket_high(i));
  assert_int_equal(iov_hist_index(iov_hist_percentile(d, 50)), i);
  /* A second bucket further out widens max only. */
  assert_int_equal(iov_hist_set_bucket(d, i + 500, 1), 0);
  assert_int_equal(d->min, iov_hist_bucket_low(i));
  assert_int_equal(d->max, iov_hist_bucket_high(i + 500));
  assert_int_equal(iov_hist_index(iov_hist_percentile(d, 100)), i + 500);
  /* The last bucket widens max to its in-range bound, not UINT64_MAX. */
  assert_int_equal(iov_hist_set_bucket(d, LAST, 1), 0);
  assert_true(d->max == BIT(40) - 1);
  /* A min or max set first and lying inside the bucket is kept. */
  iov_hist_init(d);
  d->min = iov_hist_bucket_low(i) + 1;
  d->max = iov_hist_bucket_high(i) - 1;
  assert_int_equal(iov_hist_set_bucket(d, i, 2), 0);
  assert_int_equal(d->min, iov_hist_bucket_low(i) + 1);
  assert_int_equal(d->max, iov_hist_bucket_high(i) - 1);

  free(h);
  free(d);
}

#define CONC_N 1000000

struct writer {
  struct iov_hist *h;
  int started; /* atomic */
  int done;    /* atomic */
};

static uint64_t conc_value(uint64_t *seed) { return rng_next(seed) >> (24 + rng_next(seed) % 40); }

static void *writer_main(void *arg) {
  struct writer *w = arg;
  uint64_t seed = 2024;

  __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
  for (int k = 0; k < CONC_N; k++) iov_hist_record(w->h, conc_value(&seed));
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void test_concurrent_snapshot(void **state) {
  struct iov_hist *h = hist_new(), *prev = hist_new(), *cur = hist_new(), *ref = hist_new();
  struct writer w = { .h = h };
  unsigned long snapshots = 0, in_flight = 0;
  uint64_t seed = 2024;
  pthread_t t;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
  while (!__atomic_load_n(&w.started, __ATOMIC_ACQUIRE))
    ;
  for (bool last = false; !last;) {
    uint64_t total;

    last = __atomic_load_n(&w.done, __ATOMIC_ACQUIRE);
    iov_hist_snapshot(cur, h);
    total = bucket_sum(cur);
    assert_true(total <= CONC_N);
    assert_true(cur->count <= CONC_N);
    assert_true(cur->count >= prev->count);
    assert_true(cur->overflow >= prev->overflow);
    for (unsigned b = 0; b < IOV_HIST_BUCKETS; b++)
      if (cur->buckets[b] < prev->buckets[b])
        fail_msg("bucket %u went from %llu to %llu", b, (unsigned long long)prev->buckets[b],
                 (unsigned long long)cur->buckets[b]);
    /* Whatever the interleaving, a snapshot must be usable. */
    assert_int_equal(iov_hist_delta(prev, cur, prev), 0);
    (void)iov_hist_percentile(cur, 99);
    if (total > 0 && total < CONC_N) in_flight++;
    snapshots++;
    memcpy(prev, cur, sizeof(*prev));
  }
  assert_int_equal(pthread_join(t, NULL), 0);
  print_message("%lu snapshots, %lu of them mid-run\n", snapshots, in_flight);

  /* After the join every record is visible, and equals a replay. */
  iov_hist_snapshot(cur, h);
  assert_int_equal(cur->count, CONC_N);
  assert_int_equal(bucket_sum(cur), CONC_N);
  for (int k = 0; k < CONC_N; k++) iov_hist_record(ref, conc_value(&seed));
  assert_memory_equal(cur, ref, sizeof(*cur));

  free(h);
  free(prev);
  free(cur);
  free(ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_layout),
    cmocka_unit_test(test_percentile_uniform),
    cmocka_unit_test(test_percentile_exponential),
    cmocka_unit_test(test_percentile_lognormal),
    cmocka_unit_test(test_percentile_rank),
    cmocka_unit_test(test_empty),
    cmocka_unit_test(test_overflow),
    cmocka_unit_test(test_merge),
    cmocka_unit_test(test_delta),
    cmocka_unit_test(test_set_bucket),
    cmocka_unit_test(test_concurrent_snapshot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
