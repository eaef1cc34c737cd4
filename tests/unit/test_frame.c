/* Unit tests for lib/frame.c: the UDP payload of every standard frame size
 * over IPv4 and IPv6, the plan's frame syntax both ways and its errors,
 * and the proportions a mix (IMIX) is sent in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "frame.h"
#include "macro.h"

static void test_payload(void **state) {
  /* frame - 14 Ethernet - 4 FCS - 20 IPv4 / 40 IPv6 - 8 UDP. */
  static const struct {
    unsigned frame;
    int v4, v6;
  } cases[] = {
    { 64, 18, -ERANGE }, { 128, 82, 62 },      { 256, 210, 190 },    { 512, 466, 446 },
    { 1024, 978, 958 },  { 1280, 1234, 1214 }, { 1518, 1472, 1452 }, { 9216, 9170, 9150 },
  };
  (void)state;
  for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
    assert_int_equal(iov_frame_payload(cases[i].frame, AF_INET), cases[i].v4);
    assert_int_equal(iov_frame_payload(cases[i].frame, AF_INET6), cases[i].v6);
  }
  /* The 18-byte datagram header fits the smallest IPv4 frame exactly;
   * IPv6 needs 84 bytes for it, and 78 is its smallest frame at all. */
  assert_int_equal(iov_frame_min(AF_INET, 18), 64);
  assert_int_equal(iov_frame_min(AF_INET6, 18), 84);
  assert_int_equal(iov_frame_payload(84, AF_INET6), 18);
  assert_int_equal(iov_frame_payload(83, AF_INET6), 17);
  assert_int_equal(iov_frame_min(AF_INET6, 0), 66);
  assert_int_equal(iov_frame_payload(66, AF_INET6), 0);
  assert_int_equal(iov_frame_payload(65, AF_INET6), -ERANGE);
  assert_int_equal(iov_frame_min(AF_INET, 1472), 1518);
  /* Outside 64..9216, or an unknown family. */
  assert_int_equal(iov_frame_payload(63, AF_INET), -ERANGE);
  assert_int_equal(iov_frame_payload(9217, AF_INET), -ERANGE);
  assert_int_equal(iov_frame_payload(0, AF_INET), -ERANGE);
  assert_int_equal(iov_frame_payload(64, AF_UNIX), -EAFNOSUPPORT);
  assert_int_equal(iov_frame_min(AF_UNIX, 18), 0);
}

static void round_trip(const char *text, uint64_t want, const char *want_text) {
  char err[256] = "", buf[64];
  uint64_t v = 1, back = 2;

  if (iov_frame_parse(text, &v, err, sizeof(err)) != 0) fail_msg("'%s': %s", text, err);
  assert_true(v == want);
  assert_string_equal(iov_frame_format(v, buf, sizeof(buf)), want_text);
  assert_int_equal(iov_frame_parse(buf, &back, err, sizeof(err)), 0);
  assert_true(back == v);
  assert_true(iov_frame_valid(v));
}

static void test_parse_format(void **state) {
  (void)state;
  round_trip("64", 64, "64");
  round_trip("9216", 9216, "9216");
  round_trip("1518", 1518, "1518");
  round_trip("0", 0, "0");
  round_trip("imix", IOV_FRAME_IMIX, "imix");
  round_trip("IMIX", IOV_FRAME_IMIX, "imix");
  /* The standard mix written out is the standard mix. */
  round_trip("64:7 570:4 1518:1", IOV_FRAME_IMIX, "imix");
  round_trip("  64:7\t570:4   1518:1 ", IOV_FRAME_IMIX, "imix");
  round_trip("128:3 9216:1", IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 128, 3) | IOV_FRAME_PART(1, 9216, 1),
             "128:3 9216:1");
  round_trip("1518:127", IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 1518, 127), "1518:127");
  round_trip("64:1 65:127 9216:2",
             IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 64, 1) | IOV_FRAME_PART(1, 65, 127) |
                 IOV_FRAME_PART(2, 9216, 2),
             "64:1 65:127 9216:2");

  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  assert_int_equal(iov_frame_parts(IOV_FRAME_IMIX, parts), 3);
  assert_int_equal(parts[0].size, 64);
  assert_int_equal(parts[0].weight, 7);
  assert_int_equal(parts[1].size, 570);
  assert_int_equal(parts[1].weight, 4);
  assert_int_equal(parts[2].size, 1518);
  assert_int_equal(parts[2].weight, 1);
  assert_int_equal(iov_frame_parts(512, parts), 1);
  assert_int_equal(parts[0].size, 512);
  assert_int_equal(parts[0].weight, 1);
  assert_int_equal(iov_frame_parts(0, parts), 0);
  assert_int_equal(iov_frame_cycle(IOV_FRAME_IMIX), 12);
  assert_int_equal(iov_frame_cycle(512), 1);
  assert_int_equal(iov_frame_cycle(0), 0);

  /* Values no parse makes (from the wire, say) are not valid. */
  assert_false(iov_frame_valid(63));
  assert_false(iov_frame_valid(9217));
  assert_false(iov_frame_valid(IOV_FRAME_MIX_BIT));                            /* no part */
  assert_false(iov_frame_valid(IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 64, 0))); /* weight 0 */
  assert_false(iov_frame_valid(IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 10, 1))); /* size */
  assert_false(iov_frame_valid(IOV_FRAME_MIX_BIT | IOV_FRAME_PART(1, 64, 1))); /* gap */
  assert_int_equal(iov_frame_nth(9217, 0), 0);
  char buf[64];
  uint64_t v;
  assert_true(iov_frame_parse(iov_frame_format(9217, buf, sizeof(buf)), &v, NULL, 0) < 0);
}

static void test_parse_errors(void **state) {
  static const struct {
    const char *text;
    int r;
    const char *msg;
  } bad[] = {
    { "63", -ERANGE, "frame size 63 is out of range; use 64..9216" },
    { "9217", -ERANGE, "frame size 9217 is out of range; use 64..9216" },
    { "imix2", -EINVAL, "'imix2' is not a frame size: use 64..9216, imix or a mix such as" },
    { "", -EINVAL, "empty frame size" },
    { "64:1 128:1 256:1 512:1", -EINVAL, "part '512:1' of the frame mix is one too many: a mix has 1 to 3" },
    { "64:7 570:0", -ERANGE, "part '570:0' of the frame mix: weight 0 is out of range; use 1..127" },
    { "64:128", -ERANGE, "part '64:128' of the frame mix: weight 128 is out of range; use 1..127" },
    { "63:1 570:4", -ERANGE, "part '63:1' of the frame mix: size 63 is out of range; use 64..9216" },
    { "64:7 9217:1", -ERANGE, "part '9217:1' of the frame mix: size 9217 is out of range; use 64..9216" },
    { "64:7 570", -EINVAL, "part '570' of the frame mix is not SIZE:WEIGHT" },
    { "64:x", -EINVAL, "part '64:x' of the frame mix is not SIZE:WEIGHT" },
    { "64:1 64:2", -EINVAL, "part '64:2' of the frame mix: size 64 is given twice" },
    { "-64", -EINVAL, "is not a frame size" },
    { "64k", -EINVAL, "is not a frame size" },
  };
  (void)state;
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    char err[256] = "";
    uint64_t v = 12345;
    int r = iov_frame_parse(bad[i].text, &v, err, sizeof(err));
    if (r != bad[i].r || !strstr(err, bad[i].msg) || v != 12345)
      fail_msg("'%s': got %d '%s', want %d '%s'", bad[i].text, r, err, bad[i].r, bad[i].msg);
  }
  assert_int_equal(iov_frame_parse(NULL, &(uint64_t){ 0 }, NULL, 0), -EINVAL);
}

/* The sizes a flow sends are exactly the mix's proportions over every
 * cycle-aligned window, within 1 % over a million datagrams, and spread:
 * never more than two of one kind in a row for IMIX. */
static void test_mix_proportions(void **state) {
  const uint64_t n = 1000000;
  uint64_t count[3] = { 0 };
  uint64_t window[3] = { 0 };
  uint16_t table[IOV_FRAME_CYCLE_MAX];
  unsigned cycle = iov_frame_table(IOV_FRAME_IMIX, table), run = 0, prev = 0, longest = 0;

  (void)state;
  assert_int_equal(cycle, 12);
  for (uint64_t i = 0; i < n; i++) {
    unsigned s = iov_frame_nth(IOV_FRAME_IMIX, i);
    int k = s == 64 ? 0 : s == 570 ? 1 : s == 1518 ? 2 : -1;
    assert_true(k >= 0);
    assert_int_equal(s, table[i % cycle]);
    count[k]++;
    window[k]++;
    run = s == prev ? run + 1 : 1;
    prev = s;
    if (s != 64 && run > longest) longest = run;
    if ((i + 1) % cycle == 0) {
      assert_int_equal(window[0], 7);
      assert_int_equal(window[1], 4);
      assert_int_equal(window[2], 1);
      window[0] = window[1] = window[2] = 0;
    }
  }
  assert_true(fabs((double)count[0] / n - 7.0 / 12) < 0.01 * 7.0 / 12);
  assert_true(fabs((double)count[1] / n - 4.0 / 12) < 0.01 * 4.0 / 12);
  assert_true(fabs((double)count[2] / n - 1.0 / 12) < 0.01 * 1.0 / 12);
  assert_int_equal(longest, 1); /* the larger frames never come back to back */

  /* Any window of one cycle, aligned or not, holds the exact proportions,
   * for the longest cycle too. */
  uint64_t big = IOV_FRAME_MIX_BIT | IOV_FRAME_PART(0, 64, 127) | IOV_FRAME_PART(1, 1000, 127) |
                 IOV_FRAME_PART(2, 9216, 127);
  cycle = iov_frame_table(big, table);
  assert_int_equal(cycle, IOV_FRAME_CYCLE_MAX);
  for (uint64_t start = 0; start < 2 * cycle; start += 37) {
    unsigned c[3] = { 0 };
    for (uint64_t i = start; i < start + cycle; i++) {
      unsigned s = iov_frame_nth(big, i);
      c[s == 64 ? 0 : s == 1000 ? 1 : 2]++;
    }
    assert_int_equal(c[0], 127);
    assert_int_equal(c[1], 127);
    assert_int_equal(c[2], 127);
  }
  /* A single size is every datagram. */
  for (uint64_t i = 0; i < 100; i++) assert_int_equal(iov_frame_nth(1518, i), 1518);
  assert_int_equal(iov_frame_nth(0, 5), 0);
}

static void test_mean(void **state) {
  (void)state;
  assert_true(fabs(iov_frame_mean(IOV_FRAME_IMIX) - (64.0 * 7 + 570.0 * 4 + 1518) / 12) < 1e-9);
  assert_true(fabs(iov_frame_mean(IOV_FRAME_IMIX) - 353.8333333) < 1e-6);
  assert_true(iov_frame_mean(512) == 512);
  assert_true(iov_frame_mean(0) == 0);
  assert_true(fabs(iov_frame_mean_payload(IOV_FRAME_IMIX, AF_INET) - (18.0 * 7 + 524.0 * 4 + 1472) / 12) <
              1e-9);
  assert_true(iov_frame_mean_payload(1518, AF_INET6) == 1452);
  /* IPv6 cannot carry IMIX's 64-byte part. */
  assert_true(isnan(iov_frame_mean_payload(IOV_FRAME_IMIX, AF_INET6)));
  assert_true(isnan(iov_frame_mean_payload(0, AF_INET)));
  /* Bits on the wire per frame: preamble, SFD and inter-frame gap. */
  assert_int_equal((64 + IOV_FRAME_L1_OVERHEAD) * 8, 672);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_payload),      cmocka_unit_test(test_parse_format),
    cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_mix_proportions),
    cmocka_unit_test(test_mean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
