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

static inline uint64_t iov_now_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return iov_ts_ns(&ts);
}

static inline struct timespec iov_ns_ts(uint64_t ns) {
  struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) };
  return ts;
}

/* Sleep until an absolute CLOCK_REALTIME instant (restarts on EINTR). */
int iov_sleep_until_real(uint64_t ns);
