/* Log-linear latency histogram, HDR style: values (nanoseconds) below
 * 2^IOV_HIST_SUB_BITS land in exact buckets; above, every power of two is
 * split into 2^(IOV_HIST_SUB_BITS-1) equal buckets, so a bucket's width is
 * at most 2^-(IOV_HIST_SUB_BITS-1) of its lower bound.  Values at or above
 * 2^IOV_HIST_MAX_BITS land in the last bucket (counted in 'overflow').
 *
 * Histograms are mergeable (bucket-wise sums), which is what lets agents
 * ship per-interval histograms and coord add them across flows and VMs.
 *
 * Concurrency: exactly one thread may call iov_hist_record() on a given
 * histogram; any other thread may take iov_hist_snapshot() of it at any
 * time (relaxed atomic loads, so a snapshot may miss the record in flight
 * but never sees a torn counter). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define IOV_HIST_SUB_BITS 8
#define IOV_HIST_MAX_BITS 40 /* 2^40 ns = 18.3 minutes */
#define IOV_HIST_SUB_COUNT (1u << IOV_HIST_SUB_BITS)
#define IOV_HIST_HALF_COUNT (1u << (IOV_HIST_SUB_BITS - 1))
#define IOV_HIST_BUCKETS (IOV_HIST_SUB_COUNT + (IOV_HIST_MAX_BITS - IOV_HIST_SUB_BITS) * IOV_HIST_HALF_COUNT)

/* Upper bound of the relative error of a percentile read from the
 * histogram, against the exact percentile of the recorded values.  It is
 * the largest (high - low + 1) / low of any bucket above the exact range;
 * since a percentile is its bucket's midpoint, the error is in fact at
 * most half of this.  It holds for values below 2^IOV_HIST_MAX_BITS; a
 * percentile that falls on an overflow value is reported as max. */
#define IOV_HIST_REL_ERROR (1.0 / (double)IOV_HIST_HALF_COUNT)

struct iov_hist {
  uint64_t count;
  uint64_t sum; /* saturating */
  uint64_t min; /* UINT64_MAX when empty */
  uint64_t max;
  uint64_t overflow; /* values >= 2^IOV_HIST_MAX_BITS */
  uint64_t buckets[IOV_HIST_BUCKETS];
};

/* A histogram's totals without its buckets. */
struct iov_hist_summary {
  uint64_t count, min, max, sum, overflow;
};

void iov_hist_init(struct iov_hist *h);
/* Bucket index of a value; always < IOV_HIST_BUCKETS. */
unsigned iov_hist_index(uint64_t v);
/* Smallest and largest value that map to bucket i (inclusive).  The
 * last bucket's high is UINT64_MAX, since overflow values map there.
 * Both return UINT64_MAX for i >= IOV_HIST_BUCKETS. */
uint64_t iov_hist_bucket_low(unsigned i);
uint64_t iov_hist_bucket_high(unsigned i);
/* The largest value below 2^IOV_HIST_MAX_BITS in bucket i: what min/max
 * are widened to (the last bucket's real bound is UINT64_MAX). */
uint64_t iov_hist_bucket_top(unsigned i);
/* Hot path: single writer, no locks, no allocation. */
void iov_hist_record(struct iov_hist *h, uint64_t v);
/* Copy src into dst with relaxed atomic loads (see above). */
void iov_hist_snapshot(struct iov_hist *dst, const struct iov_hist *src);
/* dst += src.  min/max/count/sum/overflow merged too.  Plain accesses:
 * neither may be recorded into meanwhile (merge a snapshot). */
void iov_hist_merge(struct iov_hist *dst, const struct iov_hist *src);
/* ret = now - before, for two snapshots of one cumulative histogram taken
 * in that order; min and max of the interval are bucket bounds (the exact
 * extremes of an interval are not tracked), tightened by now's min and
 * max, and exact when 'before' is empty.  Returns -EINVAL if 'before' is
 * not a prefix of 'now' (some bucket, count, overflow or unsaturated sum
 * went down); ret is written only on success and may alias either. */
int iov_hist_delta(struct iov_hist *ret, const struct iov_hist *now, const struct iov_hist *before);
/* Value at percentile p (0 < p <= 100): the midpoint of the bucket that
 * holds the ceil(p/100*count)-th smallest value, clamped to [min, max].
 * p <= 0 gives min and p > 100 gives max.  Returns 0 for an empty
 * histogram. */
uint64_t iov_hist_percentile(const struct iov_hist *h, double p);
double iov_hist_mean(const struct iov_hist *h);
/* Set bucket i to count directly (used when decoding from the wire or the
 * database).  Returns -EINVAL if i is out of range. Also updates count by
 * the difference, and widens min/max to the bucket's bounds if they do
 * not reach into a non-empty bucket, so percentile clamping stays valid;
 * sum and overflow are left for the caller to set. */
int iov_hist_set_bucket(struct iov_hist *h, unsigned i, uint64_t count);
