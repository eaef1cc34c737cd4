#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

static int log_level = IOV_LOG_INFO;
static unsigned debug_mask;
static char log_prefix[64];

static void (*before_hook)(void *);
static void *before_arg;

void iov_log_set_before(void (*fn)(void *), void *arg) {
  before_hook = fn;
  before_arg = arg;
}

void iov_log_set_level(int level) { log_level = level; }
int iov_log_get_level(void) { return log_level; }
void iov_log_set_debug(unsigned mask) {
  debug_mask = mask;
  if (mask && log_level < IOV_LOG_DEBUG) log_level = IOV_LOG_DEBUG;
}
bool iov_log_debug_enabled(unsigned category) { return (debug_mask & category) != 0; }

void iov_log_set_prefix(const char *prefix) {
  snprintf(log_prefix, sizeof(log_prefix), "%s", prefix ? prefix : "");
}

static const struct {
  const char *name;
  unsigned bit;
} debug_names[] = {
  { "proto", IOV_DBG_PROTO }, { "net", IOV_DBG_NET }, { "engine", IOV_DBG_ENGINE },
  { "plan", IOV_DBG_PLAN },   { "db", IOV_DBG_DB },   { "sriov", IOV_DBG_SRIOV },
  { "vm", IOV_DBG_VM },
};

int iov_log_parse_debug(const char *spec, unsigned *ret_mask) {
  unsigned mask = 0;
  const char *p = spec;

  if (!spec || !*spec || strcmp(spec, "all") == 0) {
    *ret_mask = ~0u;
    return 0;
  }
  while (*p) {
    size_t n = strcspn(p, ",");
    bool found = false;
    for (size_t i = 0; i < ELEMENTSOF(debug_names); i++)
      if (strlen(debug_names[i].name) == n && strncmp(p, debug_names[i].name, n) == 0) {
        mask |= debug_names[i].bit;
        found = true;
      }
    if (!found) return -EINVAL;
    p += n;
    if (*p == ',') p++;
  }
  *ret_mask = mask;
  return 0;
}

static const char *level_name(int level) {
  switch (level) {
  case IOV_LOG_ERR: return "error";
  case IOV_LOG_WARNING: return "warning";
  case IOV_LOG_NOTICE: return "notice";
  case IOV_LOG_INFO: return "info";
  default: return "debug";
  }
}

int iov_log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
  char msg[2048], fmt2[1024];
  int ret = error < 0 ? error : -error;
  size_t o = 0;

  if (level > log_level) return ret;

  /* Expand %m to iov_strerror(error) ourselves: glibc's %m would print
   * errno, which may have nothing to do with 'error'. */
  for (const char *f = fmt; *f && o + 1 < sizeof(fmt2); f++) {
    if (f[0] == '%' && f[1] == 'm') {
      const char *s = iov_strerror(error ? error : errno);
      for (; *s && o + 1 < sizeof(fmt2); s++) {
        if (*s == '%' && o + 2 < sizeof(fmt2)) fmt2[o++] = '%';
        fmt2[o++] = *s;
      }
      f++;
      continue;
    }
    fmt2[o++] = *f;
  }
  fmt2[o] = 0;

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  int n = snprintf(msg, sizeof(msg), "%02d:%02d:%02d.%03ld %s%s%s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, log_prefix, log_prefix[0] ? " " : "", level_name(level));
  if (n < 0) n = 0;
  va_list ap;
  va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  int m = vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt2, ap);
#pragma GCC diagnostic pop
  va_end(ap);
  size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
  if (len > sizeof(msg) - 2) len = sizeof(msg) - 2;
  if (level == IOV_LOG_DEBUG) {
    int k = snprintf(msg + len, sizeof(msg) - len, " (%s:%d)", file, line);
    if (k > 0) len += (size_t)k;
    if (len > sizeof(msg) - 2) len = sizeof(msg) - 2;
  }
  msg[len++] = '\n';
  if (before_hook) before_hook(before_arg);
  ssize_t w = write(STDERR_FILENO, msg, len);
  (void)w;
  return ret;
}
