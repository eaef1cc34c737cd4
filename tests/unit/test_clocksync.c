/* Clock offset estimation: known offsets and delays, asymmetric paths,
 * the minimum-delay filter, and probes that cannot be real. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "clocksync.h"

/* A probe over a path with the given one-way delays, with the agent's
 * clock 'offset' ahead of coord's and 'held' ns between receive and reply. */
static struct iov_clock_probe probe(uint64_t t1, int64_t offset, uint64_t out, uint64_t held, uint64_t back) {
  struct iov_clock_probe p;
  p.t1_ns = t1;
  p.t2_ns = (uint64_t)((int64_t)(t1 + out) + offset);
  p.t3_ns = p.t2_ns + held;
  p.t4_ns = t1 + out + held + back;
  return p;
}

static void test_symmetric_exact(void **state) {
  (void)state;
  const int64_t offsets[] = { 0, 1, -1, 123456789, -987654321012LL, 3600LL * 1000000000LL };
  for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
    struct iov_clock_probe p = probe(1795631223000000000ULL, offsets[i], 50000, 7000, 50000);
    struct iov_clock_estimate e;
    assert_int_equal(iov_clock_estimate(&p, 1, &e), 0);
    assert_true(e.offset_ns == offsets[i]);
    assert_int_equal(e.delay_ns, 100000);
    assert_int_equal(e.error_ns, 50000);
    assert_int_equal(e.probes, 1);
  }
}

/* However lopsided the path, the truth is within the error bound. */
static void test_asymmetric_within_bound(void **state) {
  (void)state;
  unsigned seed = 7;
  for (int i = 0; i < 10000; i++) {
    int64_t offset = (int64_t)(rand_r(&seed) % 2000000000) - 1000000000;
    uint64_t out = 1000 + (uint64_t)(rand_r(&seed) % 900000),
             back = 1000 + (uint64_t)(rand_r(&seed) % 900000);
    struct iov_clock_probe p = probe(1795631223000000000ULL + (uint64_t)i, offset, out, 3000, back);
    struct iov_clock_estimate e;
    assert_int_equal(iov_clock_estimate(&p, 1, &e), 0);
    int64_t err = e.offset_ns - offset;
    assert_true((uint64_t)llabs(err) <= e.error_ns);
    assert_int_equal(e.delay_ns, out + back);
  }
}

/* Queueing on some probes: the minimum-delay one is chosen. */
static void test_min_delay_filter(void **state) {
  (void)state;
  const int64_t offset = 250000;
  struct iov_clock_probe p[8];
  for (int i = 0; i < 8; i++) {
    /* Every probe but #5 waited in a queue one way. */
    uint64_t queued = i == 5 ? 0 : 400000 + (uint64_t)i * 10000;
    p[i] = probe(1000000000ULL + (uint64_t)i * 1000000, offset, 20000 + queued, 1000, 20000);
  }
  struct iov_clock_estimate e;
  assert_int_equal(iov_clock_estimate(p, 8, &e), 0);
  assert_true(e.offset_ns == offset);
  assert_int_equal(e.delay_ns, 40000);
  assert_int_equal(e.error_ns, 20000);
  assert_int_equal(e.probes, 8);
}

static void test_impossible_probes(void **state) {
  (void)state;
  struct iov_clock_probe p[3] = {
    { .t1_ns = 100, .t2_ns = 50, .t3_ns = 60, .t4_ns = 90 },   /* t4 < t1 */
    { .t1_ns = 100, .t2_ns = 70, .t3_ns = 60, .t4_ns = 200 },  /* t3 < t2 */
    { .t1_ns = 100, .t2_ns = 10, .t3_ns = 500, .t4_ns = 200 }, /* held > rtt */
  };
  struct iov_clock_estimate e = { 0 };
  assert_int_equal(iov_clock_estimate(p, 3, &e), -EINVAL);
  assert_int_equal(iov_clock_estimate(p, 0, &e), -EINVAL);
  /* One good probe among them is enough. */
  struct iov_clock_probe q[4] = { p[0], p[1], p[2], probe(1000, -5, 10, 1, 10) };
  assert_int_equal(iov_clock_estimate(q, 4, &e), 0);
  assert_true(e.offset_ns == -5);
  assert_int_equal(e.probes, 1);
}

static void test_conversions(void **state) {
  (void)state;
  assert_int_equal(iov_clock_to_coord(iov_clock_to_agent(1795631223000000000ULL, -12345), -12345),
                   1795631223000000000ULL);
  assert_int_equal(iov_clock_to_coord(1000, 300), 700);
  assert_int_equal(iov_clock_to_agent(1000, -300), 700);
  assert_int_equal(iov_clock_to_coord(0, 300), 0); /* "never" stays never */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_symmetric_exact),  cmocka_unit_test(test_asymmetric_within_bound),
    cmocka_unit_test(test_min_delay_filter), cmocka_unit_test(test_impossible_probes),
    cmocka_unit_test(test_conversions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
