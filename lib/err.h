/* Error convention: functions return int, >= 0 on success and -errno on
 * failure.  Project codes sit above 4096 and iov_strerror() knows both. */
#pragma once

enum {
  IOV_E_BASE = 4096,
  IOV_E_TIMEOUT = IOV_E_BASE + 1,     /* a peer did not answer in time */
  IOV_E_PROTO = IOV_E_BASE + 2,       /* a peer sent something we cannot use */
  IOV_E_PLAN = IOV_E_BASE + 3,        /* the plan is invalid */
  IOV_E_PEER = IOV_E_BASE + 4,        /* a peer reported an error */
  IOV_E_INTERRUPTED = IOV_E_BASE + 5, /* the user asked us to stop */
  IOV_E_DB = IOV_E_BASE + 6,          /* the results database failed */
  IOV_E_MAX,
};

/* Text for a negative (or positive) error code.  Never NULL; the string
 * is static or thread-local. */
const char *iov_strerror(int error);

/* Write a one-line reason (printf-style) into err, when err and errlen
 * allow, and return r: the idiom of every function that reports why it
 * failed through a caller's buffer. */
int iov_errf(int r, char *err, unsigned long errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
