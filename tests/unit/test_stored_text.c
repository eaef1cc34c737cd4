/* Text from a stored run as coord prints it (coordinator/report.c:
 * iov_text_clean, iov_text_cell) and as the CSV export writes it
 * (coordinator/study.c): a results directory may come from anyone, so
 * no byte sequence in it may reach a terminal, a spreadsheet or a
 * column as anything but text. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"

static void clean_is(const char *in, size_t max, const char *want) {
  char *got = iov_text_clean(in, max);
  assert_non_null(got);
  if (strcmp(got, want) != 0)
    fail_msg("iov_text_clean('%s', %zu): got '%s', want '%s'", in ? in : "(NULL)", max, got, want);
  free(got);
}

static void test_printable_kept(void **state) {
  (void)state;
  clean_is("bandwidth msg_size=64k", 100, "bandwidth msg_size=64k");
  clean_is("größe µs €", 100, "größe µs €");
  clean_is("\xf0\x9f\x98\x80 4 bytes", 100, "\xf0\x9f\x98\x80 4 bytes");
  clean_is(NULL, 10, "");
  clean_is("", 10, "");
}

static void test_controls_replaced(void **state) {
  (void)state;
  clean_is("a\nb\rc\td", 100, "a?b?c?d");
  clean_is("\x1b[31mred\x1b[0m", 100, "?[31mred?[0m");
  clean_is("bel\x07 del\x7f", 100, "bel? del?");
  /* C1 controls (U+0080..U+009F, CSI is U+009B) as UTF-8. */
  clean_is("\xc2\x9b"
           "2J \xc2\x85",
           100, "?2J ?");
  /* Bidirectional overrides and isolates ("Trojan source"). */
  clean_is("a\xe2\x80\xae"
           "b\xe2\x81\xa6"
           "c",
           100, "a?b?c");
}

static void test_invalid_utf8_replaced(void **state) {
  (void)state;
  clean_is("A\xff\x80Z", 100, "A??Z");       /* not a lead byte, a lone continuation */
  clean_is("A\xe2\x82Z", 100, "A??Z");       /* cut short */
  clean_is("A\xe2\x82", 100, "A??");         /* cut short by the end */
  clean_is("\xc0\xaf", 100, "??");           /* overlong '/' */
  clean_is("\xed\xa0\x80", 100, "???");      /* a surrogate */
  clean_is("\xf4\x90\x80\x80", 100, "????"); /* above U+10FFFF */
}

static void test_cut(void **state) {
  (void)state;
  clean_is("abcdef", 6, "abcdef");
  clean_is("abcdefg", 6, "abc...");
  clean_is("ééééééé", 6, "ééé...");
  clean_is("abcdefg", 1, "a..."); /* at least 4: one character and "..." */
  /* 1 MB in, max code points out. */
  size_t n = 1u << 20;
  char *big = malloc(n + 1);
  assert_non_null(big);
  memset(big, 'A', n);
  big[n] = '\0';
  char *c = iov_text_clean(big, 8192);
  assert_non_null(c);
  assert_int_equal(strlen(c), 8192);
  assert_string_equal(c + 8189, "...");
  free(c);
  free(big);
}

static char *cell(const char *s, size_t width, bool right) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  iov_text_cell(f, s, width, right);
  fclose(f);
  return buf;
}

static void test_cell_by_character(void **state) {
  (void)state;
  char *c = cell("ab", 5, false);
  assert_string_equal(c, "ab   ");
  free(c);
  c = cell("ab", 5, true);
  assert_string_equal(c, "   ab");
  free(c);
  /* Non-ASCII: padded and cut by character, never inside one. */
  c = cell("éé", 4, false);
  assert_string_equal(c, "éé  ");
  free(c);
  c = cell("aéééééééé", 8, false);
  assert_string_equal(c, "aéé..ééé");
  free(c);
  c = cell("x\x1by", 3, false);
  assert_string_equal(c, "x?y");
  free(c);
}

/* The CSV export of a report with hostile names: RFC 4180, formulas
 * defused, numbers left alone. */
static void test_csv(void **state) {
  (void)state;
  struct iov_point_summary p[2] = { 0 };
  struct iov_report r = { .uuid = "=cmd|' /C calc'!A0", .points = p, .n_points = 2 };
  p[0] = (struct iov_point_summary){ .test = "+1+1",
                                     .sweep = "-2",
                                     .workload = "@SUM(A1)",
                                     .path = "a,b",
                                     .topology = "say \"hi\"",
                                     .status = "ok",
                                     .error = NULL,
                                     .loss_pct = NAN };
  p[1] = (struct iov_point_summary){ .test = "-1.5e3",
                                     .sweep = "\tx",
                                     .workload = "tcp_stream",
                                     .path = "native",
                                     .topology = "host-host",
                                     .status = "failed",
                                     .error = "-x",
                                     .loss_pct = NAN };
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(iov_report_print_csv(&r, f), 0);
  fclose(f);
  char *row1 = strchr(buf, '\n') + 1, *row2 = strchr(row1, '\n') + 1;
  /* Formulas quoted and prefixed with ', a plain number kept. */
  static const char want1[] =
      "\"'=cmd|' /C calc'!A0\",1,1,1,\"'+1+1\",-2,\"'@SUM(A1)\",\"a,b\",\"say \"\"hi\"\"\",";
  static const char want2[] = "\"'=cmd|' /C calc'!A0\",1,1,1,-1.5e3,\"'\tx\",tcp_stream,native,host-host,";
  if (strncmp(row1, want1, strlen(want1)) != 0) fail_msg("row 1: %s\nwant:  %s", row1, want1);
  if (strncmp(row2, want2, strlen(want2)) != 0) fail_msg("row 2: %s\nwant:  %s", row2, want2);
  char *err = strstr(row2, ",\"'-x\"\n");
  if (!err) fail_msg("row 2's error is not defused: %s", row2);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_printable_kept),        cmocka_unit_test(test_controls_replaced),
    cmocka_unit_test(test_invalid_utf8_replaced), cmocka_unit_test(test_cut),
    cmocka_unit_test(test_cell_by_character),     cmocka_unit_test(test_csv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
