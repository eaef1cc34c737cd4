#include "timeutil.h"

#include <errno.h>

#include <stdlib.h>

int64_t iov_test_clock_shift_ns;

int iov_parse_test_clock_shift(const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  /* Within a day either way: enough for any test, far from overflow. */
  if (errno || end == s || *end || v > 86400LL * 1000000000LL || v < -86400LL * 1000000000LL) return -EINVAL;
  iov_test_clock_shift_ns = v;
  return 0;
}

int iov_sleep_until_real(uint64_t ns) {
  /* The instant is in this process's (possibly shifted) clock. */
  struct timespec ts = iov_ns_ts(ns - (uint64_t)iov_test_clock_shift_ns);
  int r;
  do r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
  while (r == EINTR);
  return -r;
}
