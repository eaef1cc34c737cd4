#include "timeutil.h"

#include <errno.h>

int iov_sleep_until_real(uint64_t ns) {
  struct timespec ts = iov_ns_ts(ns);
  int r;
  do r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
  while (r == EINTR);
  return -r;
}
