/* Unit tests for lib/parse.c: the checked number parsers and formatters,
 * and the hex and MAC address validators. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "parse.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

typedef int (*parse_fn)(const char *s, uint64_t *ret);

struct good {
  const char *text;
  uint64_t value;
};

struct bad {
  const char *text;
  int error;
};

/* Each good case parses to its value; each bad case fails with its error
 * and leaves *ret alone. */
static void check_good(parse_fn fn, const struct good *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t v = SENTINEL;
    int r = fn(cases[i].text, &v);
    if (r != 0 || v != cases[i].value)
      fail_msg("'%s': r=%d value=%llu, expected %llu", cases[i].text, r, (unsigned long long)v,
               (unsigned long long)cases[i].value);
  }
}

static void check_bad(parse_fn fn, const struct bad *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t v = SENTINEL;
    int r = fn(cases[i].text, &v);
    if (r != cases[i].error || v != SENTINEL)
      fail_msg("'%s': r=%d value=%llu, expected error %d and no value", cases[i].text, r,
               (unsigned long long)v, cases[i].error);
  }
}

/* Blanks, signs and empty strings are rejected by every parser. */
static const struct bad common_bad[] = {
  { "", -EINVAL },    { " 1", -EINVAL }, { "1 ", -EINVAL },   { "\t1", -EINVAL },
  { "1\n", -EINVAL }, { "+1", -EINVAL }, { "-1", -EINVAL },   { "- 1", -EINVAL },
  { "1 2", -EINVAL }, { "x", -EINVAL },  { "0x10", -EINVAL }, { "1e3", -EINVAL },
  { ".5", -EINVAL },  { "1.", -EINVAL }, { "1..5", -EINVAL }, { "1,5", -EINVAL },
};

static void test_u64(void **state) {
  static const struct good good[] = {
    { "0", 0 },
    { "1", 1 },
    { "007", 7 },
    { "4294967296", 4294967296ULL },
    { "18446744073709551615", UINT64_MAX },
  };
  static const struct bad bad[] = {
    { "18446744073709551616", -ERANGE },
    { "99999999999999999999999", -ERANGE },
    { "99999999999999999999999x", -EINVAL },
    { "1.5", -EINVAL },
    { "1k", -EINVAL },
  };
  uint64_t v = SENTINEL;

  (void)state;
  check_good(iov_parse_u64, good, ELEMENTSOF(good));
  check_bad(iov_parse_u64, bad, ELEMENTSOF(bad));
  check_bad(iov_parse_u64, common_bad, ELEMENTSOF(common_bad));
  assert_int_equal(iov_parse_u64(NULL, &v), -EINVAL);
  assert_true(v == SENTINEL);
}

static void test_size(void **state) {
  static const struct good good[] = {
    { "0", 0 },
    { "64", 64 },
    { "64b", 64 },
    { "64k", 65536 },
    { "64K", 65536 },
    { "64kb", 65536 },
    { "64KB", 65536 },
    { "64KiB", 65536 },
    { "64kib", 65536 },
    { "1m", 1ULL << 20 },
    { "1M", 1ULL << 20 },
    { "1MiB", 1ULL << 20 },
    { "16m", 16ULL << 20 },
    { "1g", 1ULL << 30 },
    { "1GB", 1ULL << 30 },
    { "1t", 1ULL << 40 },
    { "1.5k", 1536 },
    { "0.5k", 512 },
    { "1.25m", 1310720 },
    { "2.000k", 2048 },
    { "16777215t", 16777215ULL << 40 },
    { "18446744073709551615", UINT64_MAX },
  };
  static const struct bad bad[] = {
    { "64q", -EINVAL },
    { "k", -EINVAL },
    { "64 k", -EINVAL },
    { "64kk", -EINVAL },
    { "64ki", -EINVAL },
    { "1.5", -EINVAL },     /* not a whole number of bytes */
    { "0.0001k", -EINVAL }, /* 0.1024 bytes */
    { "64s", -EINVAL },
    { "16777216t", -ERANGE }, /* 2^64 */
    { "17179869184g", -ERANGE },
    { "18446744073709551616", -ERANGE },
    { "99999999999999999999k", -ERANGE },
    { "99999999999999999999q", -EINVAL },
  };

  (void)state;
  check_good(iov_parse_size, good, ELEMENTSOF(good));
  check_bad(iov_parse_size, bad, ELEMENTSOF(bad));
  check_bad(iov_parse_size, common_bad, ELEMENTSOF(common_bad));
}

#define NS 1ULL
#define US 1000ULL
#define MS 1000000ULL
#define S 1000000000ULL

static void test_duration(void **state) {
  static const struct good good[] = {
    { "0", 0 },
    { "1", S },
    { "10", 10 * S },
    { "1.5", 1500 * MS },
    { "1ns", 1 },
    { "1us", US },
    { "1ms", MS },
    { "1s", S },
    { "1m", 60 * S },
    { "1h", 3600 * S },
    { "100ms", 100 * MS },
    { "24h", 24 * 3600 * S },
    { "1.5s", 1500 * MS },
    { "0.1us", 100 * NS },
    { "0.25ms", 250 * US },
    { "1.5m", 90 * S },
    { "0.5h", 1800 * S },
    { "1.500000000000000000000s", 1500 * MS }, /* trailing zeros carry nothing */
    { "1.000000001s", S + 1 },
    { "5124095h", 5124095ULL * 3600 * S },
    { "18446744073.709551615s", UINT64_MAX },
    { "18446744073709551615ns", UINT64_MAX },
  };
  static const struct bad bad[] = {
    { "1S", -EINVAL }, /* units are case-sensitive: m is minutes */
    { "1MS", -EINVAL },
    { "1sec", -EINVAL },
    { "1min", -EINVAL },
    { "1d", -EINVAL },
    { "s", -EINVAL },
    { "1 s", -EINVAL },
    { "0.5ns", -EINVAL }, /* below a nanosecond */
    { "1.0000000001s", -EINVAL },
    { "1.1234567890123456789s", -EINVAL },
    { "5124096h", -ERANGE },
    { "18446744073.709551616s", -ERANGE },
    { "18446744074s", -ERANGE },
    { "18446744073709551616ns", -ERANGE },
    { "99999999999999999999999", -ERANGE },
  };

  (void)state;
  check_good(iov_parse_duration, good, ELEMENTSOF(good));
  check_bad(iov_parse_duration, bad, ELEMENTSOF(bad));
  check_bad(iov_parse_duration, common_bad, ELEMENTSOF(common_bad));
}

static void test_rate(void **state) {
  static const struct good good[] = {
    { "0", 0 },
    { "1000", 1000 },
    { "1000bit", 1000 },
    { "1000bps", 1000 },
    { "1k", 1000 },
    { "10g", 10000000000ULL },
    { "10G", 10000000000ULL },
    { "10gbit", 10000000000ULL },
    { "100Mbps", 100000000ULL },
    { "100mbit", 100000000ULL },
    { "1.5g", 1500000000ULL },
    { "2.5k", 2500 },
    { "1t", 1000000000000ULL },
    { "18446744073709551615", UINT64_MAX },
  };
  static const struct bad bad[] = {
    { "10gb", -EINVAL },         { "10GBps", -EINVAL },  { "10x", -EINVAL },
    { "0.5", -EINVAL },          { "1.0001k", -EINVAL }, { "18446744073709551616", -ERANGE },
    { "18446744074g", -ERANGE },
  };

  (void)state;
  check_good(iov_parse_rate, good, ELEMENTSOF(good));
  check_bad(iov_parse_rate, bad, ELEMENTSOF(bad));
  check_bad(iov_parse_rate, common_bad, ELEMENTSOF(common_bad));
}

static void test_bool(void **state) {
  static const char *const yes[] = { "1", "yes", "YES", "y", "true", "True", "t", "on", "ON" };
  static const char *const no[] = { "0", "no", "No", "n", "false", "FALSE", "f", "off", "Off" };
  static const char *const bad[] = { "", " yes", "yes ", "2", "-1", "yess", "of", "none", "nil" };

  (void)state;
  for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
    int v = -1;
    assert_int_equal(iov_parse_bool(yes[i], &v), 0);
    assert_int_equal(v, 1);
  }
  for (size_t i = 0; i < ELEMENTSOF(no); i++) {
    int v = -1;
    assert_int_equal(iov_parse_bool(no[i], &v), 0);
    assert_int_equal(v, 0);
  }
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    int v = 42;
    if (iov_parse_bool(bad[i], &v) != -EINVAL || v != 42) fail_msg("'%s' accepted", bad[i]);
  }
  {
    int v = 42;
    assert_int_equal(iov_parse_bool(NULL, &v), -EINVAL);
    assert_int_equal(v, 42);
  }
}

static void test_format_size(void **state) {
  static const struct good cases[] = {
    { "0", 0 },
    { "1", 1 },
    { "1500", 1500 },
    { "1536", 1536 },
    { "64k", 65536 },
    { "1m", 1 << 20 },
    { "16m", 16 << 20 },
    { "1g", 1ULL << 30 },
    { "1t", 1ULL << 40 },
    { "1025k", 1025ULL << 10 },
    { "18446744073709551615", UINT64_MAX },
  };
  char buf[32];

  (void)state;
  for (size_t i = 0; i < ELEMENTSOF(cases); i++)
    assert_string_equal(iov_format_size(buf, sizeof(buf), cases[i].value), cases[i].text);
  /* A short buffer truncates and stays terminated. */
  assert_string_equal(iov_format_size(buf, 3, 65536), "64");
}

static void test_format_duration(void **state) {
  static const struct good cases[] = {
    { "0s", 0 },
    { "1ns", 1 },
    { "999ns", 999 },
    { "1us", US },
    { "1.5us", 1500 },
    { "1.001us", 1001 },
    { "250ms", 250 * MS },
    { "1.5ms", 1500 * US },
    { "1s", S },
    { "10s", 10 * S },
    { "1.5s", 1500 * MS },
    { "1.000000001s", S + 1 },
    { "90s", 90 * S },
    { "61.5s", 61500 * MS },
    { "1m", 60 * S },
    { "90m", 90 * 60 * S },
    { "1h", 3600 * S },
    { "24h", 24 * 3600 * S },
    { "18446744073.709551615s", UINT64_MAX },
  };
  char buf[32];

  (void)state;
  for (size_t i = 0; i < ELEMENTSOF(cases); i++)
    assert_string_equal(iov_format_duration(buf, sizeof(buf), cases[i].value), cases[i].text);
}

/* Deterministic xorshift so failures reproduce. */
static uint64_t next_random(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* parse(format(v)) == v for sizes and durations across the whole range. */
static void test_round_trip(void **state) {
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  char buf[32];

  (void)state;
  for (unsigned shift = 0; shift < 64; shift++) {
    uint64_t vals[] = { 1ULL << shift, (1ULL << shift) - 1, (1ULL << shift) + 1, (1ULL << shift) * 3 };
    for (size_t i = 0; i < ELEMENTSOF(vals); i++) {
      uint64_t v = SENTINEL;
      assert_int_equal(iov_parse_size(iov_format_size(buf, sizeof(buf), vals[i]), &v), 0);
      assert_true(v == vals[i]);
      assert_int_equal(iov_parse_duration(iov_format_duration(buf, sizeof(buf), vals[i]), &v), 0);
      assert_true(v == vals[i]);
    }
  }
  for (unsigned i = 0; i < 100000; i++) {
    /* Mix magnitudes: random values are mostly huge otherwise. */
    uint64_t r = next_random(&x), v = SENTINEL;
    uint64_t val = r >> (next_random(&x) % 64);
    if (i % 3 == 0) val = (val % 100000) * MS; /* round milliseconds */
    if (i % 3 == 1) val = (val % 100000) * 1024;
    assert_int_equal(iov_parse_size(iov_format_size(buf, sizeof(buf), val), &v), 0);
    if (v != val) fail_msg("size %llu -> '%s' -> %llu", (unsigned long long)val, buf, (unsigned long long)v);
    assert_int_equal(iov_parse_duration(iov_format_duration(buf, sizeof(buf), val), &v), 0);
    if (v != val)
      fail_msg("duration %llu -> '%s' -> %llu", (unsigned long long)val, buf, (unsigned long long)v);
  }
}

static void test_hex_mac(void **state) {
  uint8_t m[6] = { 0 };
  char txt[18];

  (void)state;
  assert_true(iov_is_hex('0') && iov_is_hex('9') && iov_is_hex('a') && iov_is_hex('F'));
  assert_false(iov_is_hex('g') || iov_is_hex(':') || iov_is_hex(0) || iov_is_hex('G'));
  assert_int_equal(iov_hex_value('7'), 7);
  assert_int_equal(iov_hex_value('b'), 11);
  assert_int_equal(iov_hex_value('C'), 12);
  assert_int_equal(iov_hex_value('x'), -1);

  /* Ethernet MACs: six pairs, either case; formatted in lower case. */
  assert_int_equal(iov_parse_mac("02:aB:00:ff:10:01", m), 0);
  assert_string_equal(iov_format_mac(txt, m), "02:ab:00:ff:10:01");
  assert_true(iov_mac_ok("52:54:00:12:34:56"));
  const char *bad[] = {
    "02:ab:00:ff:10", "02:ab:00:ff:10:0g", "02-ab-00-ff-10-01", "02:ab:00:ff:10:011", "", "2:ab:00:ff:10:011"
  };
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    if (iov_mac_ok(bad[i])) fail_msg("'%s' taken for a MAC", bad[i]);
    assert_int_equal(iov_parse_mac(bad[i], m), -EINVAL);
  }
  assert_false(iov_mac_ok(NULL));
  assert_int_equal(iov_parse_mac(NULL, m), -EINVAL);
  assert_string_equal(iov_format_mac(txt, m), "02:ab:00:ff:10:01"); /* untouched on error */

  /* Link-layer addresses as sysfs prints them: 1..32 bytes. */
  assert_true(iov_hwaddr_ok("52:54:00:12:34:56"));
  assert_true(iov_hwaddr_ok("00"));
  assert_true(iov_hwaddr_ok("80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de")); /* InfiniBand */
  assert_false(iov_hwaddr_ok(NULL));
  assert_false(iov_hwaddr_ok(""));
  assert_false(iov_hwaddr_ok("0"));
  assert_false(iov_hwaddr_ok("52:54:00:12:34:5"));
  assert_false(iov_hwaddr_ok("52-54-00-12-34-56"));
  char big[3 * 33];
  for (int i = 0; i < 33; i++) memcpy(big + 3 * i, "0a:", 3);
  big[3 * 33 - 1] = 0;
  assert_false(iov_hwaddr_ok(big)); /* 33 bytes */
  big[3 * 32 - 1] = 0;
  assert_true(iov_hwaddr_ok(big)); /* 32 */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_u64),
    cmocka_unit_test(test_size),
    cmocka_unit_test(test_duration),
    cmocka_unit_test(test_rate),
    cmocka_unit_test(test_bool),
    cmocka_unit_test(test_format_size),
    cmocka_unit_test(test_format_duration),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_hex_mac),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
