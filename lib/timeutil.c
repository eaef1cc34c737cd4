#include "timeutil.h"

#include <errno.h>

#include <stdlib.h>

int64_t iov_test_clock_shift_ns;
int64_t iov_test_clock_step_ns;
uint64_t iov_test_clock_step_at_mono;

/* Within a day either way: enough for any test, far from overflow. */
#define DAY_NS (86400LL * 1000000000LL)

static int parse_ns(const char *s, char **end, long long *ret) {
  errno = 0;
  long long v = strtoll(s, end, 10);
  if (errno || *end == s || v > DAY_NS || v < -DAY_NS) return -EINVAL;
  *ret = v;
  return 0;
}

int iov_parse_test_clock_shift(const char *s) {
  char *end;
  long long v;
  if (parse_ns(s, &end, &v) < 0 || *end) return -EINVAL;
  iov_test_clock_shift_ns = v;
  return 0;
}

int iov_parse_test_clock_step(const char *s) {
  char *end;
  long long v;
  errno = 0;
  double after = strtod(s, &end);
  if (errno || end == s || *end != ':' || !(after >= 0 && after <= 86400)) return -EINVAL;
  if (parse_ns(end + 1, &end, &v) < 0 || *end || v == 0) return -EINVAL;
  iov_test_clock_step_at_mono = iov_now_mono() + (uint64_t)(after * 1e9);
  iov_test_clock_step_ns = v;
  return 0;
}

uint64_t iov_real_to_mono(uint64_t real_ns) {
  uint64_t now_real = iov_now_real(), now_mono = iov_now_mono();
  if (real_ns >= now_real) return now_mono + (real_ns - now_real);
  return now_real - real_ns < now_mono ? now_mono - (now_real - real_ns) : 0;
}

int iov_sleep_until_mono(uint64_t mono_ns) {
  struct timespec ts = iov_ns_ts(mono_ns);
  int r;
  do r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
  while (r == EINTR);
  return -r;
}

int iov_sleep_until_real(uint64_t ns) { return iov_sleep_until_mono(iov_real_to_mono(ns)); }
