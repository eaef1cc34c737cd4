/* Log-linear latency histogram; see hist.h for the bucket layout, the
 * error bound and the single-writer contract. */
#include "hist.h"

#include <errno.h>
#include <float.h>
#include <string.h>

#define LAST_BUCKET (IOV_HIST_BUCKETS - 1)
#define OVERFLOW_MIN (UINT64_C(1) << IOV_HIST_MAX_BITS)

/* Relaxed atomics: the writer is alone, so plain read-modify-write
 * sequences built from relaxed loads and stores are enough, and they cost
 * no more than ordinary moves.  They only exist so that a concurrent
 * snapshot never reads a torn counter and the program has no data race. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

static uint64_t sat_add(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  return s < a ? UINT64_MAX : s;
}

void iov_hist_init(struct iov_hist *h) {
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

unsigned iov_hist_index(uint64_t v) {
  unsigned msb, shift;

  if (__builtin_expect(v >= OVERFLOW_MIN, 0)) return LAST_BUCKET;
  /* OR-ing in HALF_COUNT makes every v below SUB_COUNT look like it has
   * its top bit at SUB_BITS-1, so shift is 0 and the index is v itself;
   * above that each doubling of v adds one to shift and HALF_COUNT to the
   * index, and (v >> shift) runs over [HALF_COUNT, SUB_COUNT). */
  msb = 63u - (unsigned)__builtin_clzll(v | IOV_HIST_HALF_COUNT);
  shift = msb - (IOV_HIST_SUB_BITS - 1);
  return shift * IOV_HIST_HALF_COUNT + (unsigned)(v >> shift);
}

/* Inverse of iov_hist_index for the bucket's lower bound and its width. */
static uint64_t bucket_low_width(unsigned i, uint64_t *ret_width) {
  unsigned shift;

  if (i < IOV_HIST_SUB_COUNT) {
    *ret_width = 1;
    return i;
  }
  shift = i / IOV_HIST_HALF_COUNT - 1;
  *ret_width = UINT64_C(1) << shift;
  return (uint64_t)(i - shift * IOV_HIST_HALF_COUNT) << shift;
}

/* Largest value below 2^MAX_BITS in bucket i: the bound used for
 * midpoints and for min/max widening, so that the last bucket, which also
 * catches every overflow value, does not report a bound of UINT64_MAX. */
static uint64_t bucket_high_nominal(unsigned i) {
  uint64_t width, low = bucket_low_width(i, &width);
  return low + width - 1;
}

uint64_t iov_hist_bucket_low(unsigned i) {
  uint64_t width;

  if (i >= IOV_HIST_BUCKETS) return UINT64_MAX;
  return bucket_low_width(i, &width);
}

uint64_t iov_hist_bucket_top(unsigned i) {
  return i < IOV_HIST_BUCKETS ? bucket_high_nominal(i) : UINT64_MAX;
}

uint64_t iov_hist_bucket_high(unsigned i) {
  if (i >= LAST_BUCKET) return UINT64_MAX;
  return bucket_high_nominal(i);
}

void iov_hist_record(struct iov_hist *h, uint64_t v) {
  unsigned i = iov_hist_index(v);

  /* count is written last and iov_hist_snapshot() reads it first, so on
   * ordinary hardware a snapshot's buckets hold at least 'count' values.
   * Nothing relies on that: readers cope with a record in flight. */
  STORE(&h->buckets[i], LOAD(&h->buckets[i]) + 1);
  STORE(&h->sum, sat_add(LOAD(&h->sum), v));
  if (v < LOAD(&h->min)) STORE(&h->min, v);
  if (v > LOAD(&h->max)) STORE(&h->max, v);
  if (__builtin_expect(v >= OVERFLOW_MIN, 0)) STORE(&h->overflow, LOAD(&h->overflow) + 1);
  STORE(&h->count, LOAD(&h->count) + 1);
}

void iov_hist_snapshot(struct iov_hist *dst, const struct iov_hist *src) {
  dst->count = LOAD(&src->count);
  dst->sum = LOAD(&src->sum);
  dst->min = LOAD(&src->min);
  dst->max = LOAD(&src->max);
  dst->overflow = LOAD(&src->overflow);
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) dst->buckets[i] = LOAD(&src->buckets[i]);
}

void iov_hist_merge(struct iov_hist *dst, const struct iov_hist *src) {
  /* An empty src has min UINT64_MAX and max 0, so it leaves both alone. */
  dst->count += src->count;
  dst->sum = sat_add(dst->sum, src->sum);
  if (src->min < dst->min) dst->min = src->min;
  if (src->max > dst->max) dst->max = src->max;
  dst->overflow += src->overflow;
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) dst->buckets[i] += src->buckets[i];
}

int iov_hist_delta(struct iov_hist *ret, const struct iov_hist *now, const struct iov_hist *before) {
  uint64_t count, sum, min, max, overflow;
  unsigned first = IOV_HIST_BUCKETS, last = 0;

  /* Validate everything before writing: ret may alias now or before, and
   * is left untouched on failure. */
  if (now->count < before->count || now->overflow < before->overflow) return -EINVAL;
  /* A saturated sum stays saturated: the interval's sum is unknown. */
  if (now->sum != UINT64_MAX && now->sum < before->sum) return -EINVAL;
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) {
    if (now->buckets[i] < before->buckets[i]) return -EINVAL;
    if (now->buckets[i] != before->buckets[i]) {
      if (first == IOV_HIST_BUCKETS) first = i;
      last = i;
    }
  }

  count = now->count - before->count;
  overflow = now->overflow - before->overflow;
  sum = now->sum == UINT64_MAX ? UINT64_MAX : now->sum - before->sum;
  if (first == IOV_HIST_BUCKETS) {
    min = UINT64_MAX;
    max = 0;
  } else {
    /* Bucket bounds, tightened by the cumulative extremes, which bound
     * every value of the interval too.  When the interval holds the
     * cumulative extreme (always, if 'before' is empty) the tightened
     * bound is that exact value. */
    min = iov_hist_bucket_low(first);
    if (now->min != UINT64_MAX && now->min > min) min = now->min;
    max = (last == LAST_BUCKET && overflow > 0) ? now->max : bucket_high_nominal(last);
    if (now->max < max) max = now->max;
  }

  ret->count = count;
  ret->sum = sum;
  ret->min = min;
  ret->max = max;
  ret->overflow = overflow;
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) ret->buckets[i] = now->buckets[i] - before->buckets[i];
  return 0;
}

/* ceil(p/100*count), at least 1 and at most count.  p/100*count carries a
 * few ulps of rounding error, so a product within that error of an integer
 * is taken to be that integer: 99.9/100*1000 must give rank 999, not the
 * 1000 that ceil(999.0000000000001) would. */
static uint64_t rank_of(double p, uint64_t count) {
  double r = p / 100.0 * (double)count;
  uint64_t n, nearest;
  double diff;

  if (!(r < (double)count)) return count;
  n = (uint64_t)r;
  nearest = (uint64_t)(r + 0.5);
  diff = r - (double)nearest;
  if (diff < 0) diff = -diff;
  if (diff <= r * 4 * DBL_EPSILON)
    n = nearest;
  else if ((double)n < r)
    n++;
  if (n < 1) n = 1;
  return n > count ? count : n;
}

uint64_t iov_hist_percentile(const struct iov_hist *h, double p) {
  uint64_t rank, seen = 0, low, mid;
  unsigned i;

  if (h->count == 0) return 0;
  if (!(p > 0)) return h->min;
  if (p > 100) return h->max;

  rank = rank_of(p, h->count);
  for (i = 0; i < IOV_HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) break;
  }
  /* A snapshot taken during a record may count a value its buckets do
   * not hold yet; the missing value is the newest, so answer with max. */
  if (i == IOV_HIST_BUCKETS) return h->max;
  /* Overflow values are the largest ones and all sit in the last bucket,
   * whose width says nothing about them; max is the best estimate. */
  if (i == LAST_BUCKET && h->count - rank < h->overflow) return h->max;

  low = iov_hist_bucket_low(i);
  mid = low + (bucket_high_nominal(i) - low) / 2;
  if (mid < h->min) mid = h->min;
  if (mid > h->max) mid = h->max;
  return mid;
}

double iov_hist_mean(const struct iov_hist *h) {
  if (h->count == 0) return 0.0;
  return (double)h->sum / (double)h->count;
}

int iov_hist_set_bucket(struct iov_hist *h, unsigned i, uint64_t count) {
  uint64_t low, high;

  if (i >= IOV_HIST_BUCKETS) return -EINVAL;
  /* Unsigned wrap-around makes this right whether the bucket grows or
   * shrinks. */
  h->count += count - h->buckets[i];
  h->buckets[i] = count;
  if (count == 0) return 0;
  /* Percentiles clamp to [min, max], so the range must reach into every
   * bucket in use, even if the caller sets min and max only afterwards or
   * never.  A min or max that already falls inside the bucket may be the
   * exact extreme decoded before the buckets, so it is kept. */
  low = iov_hist_bucket_low(i);
  high = bucket_high_nominal(i);
  if (h->min > high) h->min = low;
  if (h->max < low) h->max = high;
  return 0;
}
