/* Clocks.  CLOCK_MONOTONIC for intervals inside one process,
 * CLOCK_REALTIME for instants exchanged between machines. */
#pragma once

#include <stdint.h>
#include <time.h>

static inline uint64_t iov_ts_ns(const struct timespec *ts) {
  return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static inline uint64_t iov_now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return iov_ts_ns(&ts);
}

/* A test hook: every iov_now_real() and iov_sleep_until_real() of this
 * process sees CLOCK_REALTIME shifted by this much, as if the machine's
 * clock were off.  Set once at start-up (agents' --test-clock-shift),
 * never by coord; 0 otherwise. */
extern int64_t iov_test_clock_shift_ns;
/* Parse a signed nanosecond count into iov_test_clock_shift_ns.  0 or
 * -EINVAL. */
int iov_parse_test_clock_shift(const char *s);

static inline uint64_t iov_now_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return iov_ts_ns(&ts) + (uint64_t)iov_test_clock_shift_ns;
}

static inline struct timespec iov_ns_ts(uint64_t ns) {
  struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) };
  return ts;
}

/* Sleep until an absolute CLOCK_REALTIME instant (restarts on EINTR). */
int iov_sleep_until_real(uint64_t ns);
