#include "err.h"

#include <stdarg.h>
#include <stdio.h>

#include <stdio.h>
#include <string.h>

const char *iov_strerror(int error) {
  static _Thread_local char buf[128];
  int e = error < 0 ? -error : error;

  switch (e) {
  case IOV_E_TIMEOUT: return "Timed out waiting for a peer";
  case IOV_E_PROTO: return "Protocol error";
  case IOV_E_PLAN: return "Invalid plan";
  case IOV_E_PEER: return "Peer reported an error";
  case IOV_E_INTERRUPTED: return "Interrupted";
  case IOV_E_DB: return "Results database error";
  default: break;
  }
  if (e > IOV_E_BASE) {
    snprintf(buf, sizeof(buf), "Unknown iovbench error %d", e);
    return buf;
  }
  return strerror_r(e, buf, sizeof(buf));
}

int iov_errf(int r, char *err, unsigned long errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return r;
}
