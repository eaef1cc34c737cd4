/* The one logger.  Only daemons and the CLI log above debug; lib/ and
 * engines/ return codes and log at debug level at most. */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "macro.h"

enum iov_log_level {
  IOV_LOG_ERR = 3,
  IOV_LOG_WARNING = 4,
  IOV_LOG_NOTICE = 5,
  IOV_LOG_INFO = 6,
  IOV_LOG_DEBUG = 7,
};

/* Debug categories, enabled with --debug=proto,net,... */
enum {
  IOV_DBG_PROTO = 1u << 0,
  IOV_DBG_NET = 1u << 1,
  IOV_DBG_ENGINE = 1u << 2,
  IOV_DBG_PLAN = 1u << 3,
  IOV_DBG_DB = 1u << 4,
  IOV_DBG_SRIOV = 1u << 5,
  IOV_DBG_VM = 1u << 6,
};

void iov_log_set_level(int level);
int iov_log_get_level(void);
void iov_log_set_prefix(const char *prefix); /* e.g. "agent a"; copied */
/* Called before each line is written (coord ends a progress line drawn in
 * place); NULL = none.  Not for use from several threads at once. */
void iov_log_set_before(void (*fn)(void *), void *arg);
/* Parse "proto,net" into a mask; returns -EINVAL on an unknown name. */
int iov_log_parse_debug(const char *spec, unsigned *ret_mask);
void iov_log_set_debug(unsigned mask);
bool iov_log_debug_enabled(unsigned category);

/* Log a line; returns -abs(error) so that callers can
 *   return iov_log_errno(r, "Failed to open '%s': %m", p);
 * %m expands to iov_strerror(error).  Thread-safe (one write(2) a line). */
int iov_log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define iov_log(level, ...) ((void)iov_log_internal(level, 0, __FILE__, __LINE__, __VA_ARGS__))
#define iov_log_errno(error, ...) iov_log_internal(IOV_LOG_ERR, (error), __FILE__, __LINE__, __VA_ARGS__)
#define iov_log_full_errno(level, error, ...) \
  iov_log_internal(level, (error), __FILE__, __LINE__, __VA_ARGS__)
#define iov_err(...) iov_log(IOV_LOG_ERR, __VA_ARGS__)
#define iov_warn(...) iov_log(IOV_LOG_WARNING, __VA_ARGS__)
#define iov_notice(...) iov_log(IOV_LOG_NOTICE, __VA_ARGS__)
#define iov_info(...) iov_log(IOV_LOG_INFO, __VA_ARGS__)
#define iov_debug(cat, ...)                                              \
  do {                                                                   \
    if (iov_log_debug_enabled(cat)) iov_log(IOV_LOG_DEBUG, __VA_ARGS__); \
  } while (0)
