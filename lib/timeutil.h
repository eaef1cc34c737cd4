/* Clocks.  CLOCK_MONOTONIC for every timer, wait and interval inside one
 * process; CLOCK_REALTIME only for instants exchanged between machines
 * (stamps, and the start instant coord hands out).  A realtime instant
 * to wait for is converted into a monotonic deadline once, when it is
 * received (iov_real_to_mono), so that a step of the machine's clock
 * (NTP, a VM resumed) neither fires timers early nor delays them. */
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

/* A test hook: every iov_now_real() of this process sees CLOCK_REALTIME
 * shifted by this much, as if the machine's clock were off.  Set once at
 * start-up (agents' --test-clock-shift), never by coord; 0 otherwise. */
extern int64_t iov_test_clock_shift_ns;
/* Parse a signed nanosecond count into iov_test_clock_shift_ns.  0 or
 * -EINVAL. */
int iov_parse_test_clock_shift(const char *s);

/* A test hook: a step of this process's CLOCK_REALTIME mid-run.  Every
 * iov_now_real() from iov_test_clock_step_at_mono (CLOCK_MONOTONIC) on
 * reads iov_test_clock_step_ns more, as after an NTP step or a resumed
 * VM.  Stepping the kernel's clock would step it for everything on the
 * machine (other tests, the build, the logs), so tests step this
 * process's view of it instead; the code under test reads the clock
 * through iov_now_real() only.  Set once at start-up (agents'
 * --test-clock-step), never by coord; 0 otherwise. */
extern int64_t iov_test_clock_step_ns;
extern uint64_t iov_test_clock_step_at_mono;
/* Parse AFTER_S:STEP_NS (seconds after now, may have a fraction; signed
 * nanoseconds) into the two above.  0 or -EINVAL. */
int iov_parse_test_clock_step(const char *s);

static inline uint64_t iov_now_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t off = iov_test_clock_shift_ns;
  if (iov_test_clock_step_ns && iov_now_mono() >= iov_test_clock_step_at_mono) off += iov_test_clock_step_ns;
  return iov_ts_ns(&ts) + (uint64_t)off;
}

static inline struct timespec iov_ns_ts(uint64_t ns) {
  struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) };
  return ts;
}

/* The CLOCK_MONOTONIC instant of a CLOCK_REALTIME one, as the clocks
 * stand now: now_mono + (real - now_real).  An instant in the past maps
 * to the past (never below 0).  Call it once, when the instant arrives,
 * and wait for the result. */
uint64_t iov_real_to_mono(uint64_t real_ns);

/* Sleep until an absolute CLOCK_MONOTONIC instant (restarts on EINTR). */
int iov_sleep_until_mono(uint64_t mono_ns);

/* Sleep until a CLOCK_REALTIME instant, converted into a monotonic
 * deadline at the call: a clock step during the sleep does not move it. */
int iov_sleep_until_real(uint64_t ns);
