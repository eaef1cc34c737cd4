/* Per-core CPU time from /proc/stat (see cpustat.h).
 *
 * The file is kept open and read with pread() at offset 0 each time, which
 * makes the kernel generate it afresh.  /proc/stat is a single seq_file
 * record, so one read() into a buffer that is large enough returns all of
 * it.  Reading stops as soon as the cpu lines are complete: the "intr"
 * line that follows can be hundreds of kilobytes on large machines and is
 * of no use here.  The lines are then parsed in place, cutting tokens with
 * NUL bytes, through the checked iov_parse_u64(). */
#include "cpustat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "parse.h"

/* The fields of a cpu line, in file order. */
enum {
  F_USER,
  F_NICE,
  F_SYSTEM,
  F_IDLE,
  F_IOWAIT,
  F_IRQ,
  F_SOFTIRQ,
  F_STEAL,
  F_GUEST,
  F_GUEST_NICE,
  F_MAX,
};

/* Linux 2.4 had only user, nice, system and idle; everything after them
 * came later and reads as 0 when absent. */
#define MIN_FIELDS 4

#define INITIAL_BUF 4096

struct iov_cpustat {
  int fd;
  char *buf;
  size_t buf_size; /* allocated bytes, one more than we read */
  uint64_t hz;     /* USER_HZ */
  uint64_t mult;   /* ns per tick when hz divides 10^9, else 0 */
  size_t count;    /* entries found by the last read */
};

static uint64_t ticks_to_ns(const struct iov_cpustat *s, uint64_t ticks) {
  /* Modulo 2^64 on purpose: see struct iov_cpustat_core. */
  if (s->mult) return ticks * s->mult;
  return (ticks / s->hz) * IOV_NSEC_PER_SEC + (ticks % s->hz) * IOV_NSEC_PER_SEC / s->hz;
}

/* Does the data at p (avail bytes, maybe more to come) start a cpu line?
 * 1 yes, 0 no, -1 not known until more is read. */
static int starts_cpu_line(const char *p, size_t avail) {
  static const char cpu[] = "cpu";
  size_t k = avail < 3 ? avail : 3;

  if (memcmp(p, cpu, k) != 0) return 0;
  return k == 3 ? 1 : -1;
}

static int grow(struct iov_cpustat *s) {
  size_t max = (size_t)IOV_CPUSTAT_MAX_FILE + 1, n;
  char *b;

  if (s->buf_size >= max) return -EFBIG;
  n = s->buf_size ? s->buf_size * 2 : INITIAL_BUF;
  if (n > max) n = max;
  b = realloc(s->buf, n);
  if (!b) return -ENOMEM;
  s->buf = b;
  s->buf_size = n;
  return 0;
}

/* Read from offset 0 until the cpu lines are complete (the first line that
 * is not a cpu line has begun) or the file ends.  Returns the number of
 * bytes read; buf is NUL-terminated after them. */
static ssize_t read_cpu_lines(struct iov_cpustat *s) {
  size_t len = 0, scan = 0;
  bool done = false;

  while (!done) {
    ssize_t k;

    if (len + 1 >= s->buf_size) {
      int r = grow(s);
      if (r == -EFBIG) {
        /* Full at the limit: fine only if the file ends here. */
        char probe;
        k = pread(s->fd, &probe, 1, (off_t)len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        if (k == 0) break;
      }
      if (r < 0) return r;
    }
    k = pread(s->fd, s->buf + len, s->buf_size - 1 - len, (off_t)len);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (k == 0) break;
    len += (size_t)k;

    /* Advance over complete cpu lines; scan is the start of the first
     * line that is not known to be one. */
    while (scan < len) {
      int c = starts_cpu_line(s->buf + scan, len - scan);
      const char *nl;

      if (c == 0) {
        done = true;
        break;
      }
      if (c < 0) break;
      nl = memchr(s->buf + scan, '\n', len - scan);
      if (!nl) break;
      scan = (size_t)(nl - s->buf) + 1;
    }
  }
  s->buf[len] = 0;
  return (ssize_t)len;
}

static char *next_token(char **p) {
  char *q = *p, *tok;

  while (*q == ' ' || *q == '\t') q++;
  if (!*q) {
    *p = q;
    return NULL;
  }
  tok = q;
  while (*q && *q != ' ' && *q != '\t') q++;
  if (*q) *q++ = 0;
  *p = q;
  return tok;
}

/* Parse one NUL-terminated cpu line in place. */
static int parse_cpu_line(const struct iov_cpustat *s, char *line, struct iov_cpustat_core *ret) {
  uint64_t v[F_MAX] = { 0 };
  char *p = line, *tok;
  size_t n = 0;

  tok = next_token(&p);
  if (!tok || strncmp(tok, "cpu", 3) != 0) return -EBADMSG;
  if (tok[3] == 0) {
    ret->cpu = -1;
  } else {
    uint64_t id;
    if (iov_parse_u64(tok + 3, &id) < 0) return -EBADMSG;
    if (id >= IOV_CPUSTAT_MAX_CPUS) return -E2BIG;
    ret->cpu = (int)id;
  }
  /* Fields past F_MAX come from a newer kernel; they are not ours to
   * judge, so they are not parsed. */
  while (n < F_MAX && (tok = next_token(&p))) {
    if (iov_parse_u64(tok, &v[n]) < 0) return -EBADMSG;
    n++;
  }
  if (n < MIN_FIELDS) return -EBADMSG;

  ret->user_ns = ticks_to_ns(s, v[F_USER]);
  ret->nice_ns = ticks_to_ns(s, v[F_NICE]);
  ret->system_ns = ticks_to_ns(s, v[F_SYSTEM]);
  ret->idle_ns = ticks_to_ns(s, v[F_IDLE]);
  ret->iowait_ns = ticks_to_ns(s, v[F_IOWAIT]);
  ret->irq_ns = ticks_to_ns(s, v[F_IRQ]);
  ret->softirq_ns = ticks_to_ns(s, v[F_SOFTIRQ]);
  ret->steal_ns = ticks_to_ns(s, v[F_STEAL]);
  ret->guest_ns = ticks_to_ns(s, v[F_GUEST]);
  ret->guest_nice_ns = ticks_to_ns(s, v[F_GUEST_NICE]);
  return 0;
}

int iov_cpustat_read(struct iov_cpustat *s, struct iov_cpustat_core *cores, size_t n_cores) {
  ssize_t len;
  char *p, *end;
  size_t n = 0;
  int last = -1;

  if (!s) return -EINVAL;
  len = read_cpu_lines(s);
  if (len < 0) return (int)len;

  p = s->buf;
  end = s->buf + len;
  while (p < end && starts_cpu_line(p, (size_t)(end - p)) == 1) {
    struct iov_cpustat_core c;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    int r;

    /* A cpu line without its newline is a truncated file. */
    if (!nl) return -EBADMSG;
    *nl = 0;
    /* /proc never contains NUL bytes; one would hide the rest of a line. */
    if (strlen(p) != (size_t)(nl - p)) return -EBADMSG;
    r = parse_cpu_line(s, p, &c);
    if (r < 0) return r;
    if (n == 0 ? c.cpu != -1 : c.cpu <= last) return -EBADMSG;
    if (n >= (size_t)IOV_CPUSTAT_MAX_CPUS + 1) return -E2BIG;
    last = c.cpu;
    if (n < n_cores) cores[n] = c;
    n++;
    p = nl + 1;
  }
  /* The file ended inside the word "cpu": truncated, too. */
  if (n == 0 || (p < end && starts_cpu_line(p, (size_t)(end - p)) < 0)) return -EBADMSG;
  s->count = n;
  if (n > n_cores) return -ENOBUFS;
  return (int)n;
}

size_t iov_cpustat_count(const struct iov_cpustat *s) { return s ? s->count : 0; }

int iov_cpustat_open(const char *proc_root, struct iov_cpustat **ret) {
  struct iov_cpustat *s;
  char path[PATH_MAX];
  long hz, ncpu;
  int n, r;

  if (!ret) return -EINVAL;
  if (!proc_root) proc_root = "/proc";
  n = snprintf(path, sizeof(path), "%s/stat", proc_root);
  if (n < 0 || (size_t)n >= sizeof(path)) return -ENAMETOOLONG;

  hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) return -EOPNOTSUPP;

  s = calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->fd = -1;
  s->hz = (uint64_t)hz;
  s->mult = IOV_NSEC_PER_SEC % s->hz == 0 ? IOV_NSEC_PER_SEC / s->hz : 0;
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    r = -errno;
    goto fail;
  }

  /* About 100 bytes a cpu line: size the buffer for this machine once, so
   * that the first read of the live file is already a single read(). */
  ncpu = sysconf(_SC_NPROCESSORS_CONF);
  if (ncpu > 0 && ncpu <= IOV_CPUSTAT_MAX_CPUS) {
    s->buf_size = (size_t)(ncpu + 1) * 128 + INITIAL_BUF;
    s->buf = malloc(s->buf_size);
    if (!s->buf) {
      r = -ENOMEM;
      goto fail;
    }
  }

  r = iov_cpustat_read(s, NULL, 0);
  if (r < 0 && r != -ENOBUFS) goto fail;
  *ret = s;
  return 0;

fail:
  iov_cpustat_free(s);
  return r;
}

struct iov_cpustat *iov_cpustat_free(struct iov_cpustat *s) {
  if (!s) return NULL;
  if (s->fd >= 0) close(s->fd);
  free(s->buf);
  free(s);
  return NULL;
}

/* b - a for counters that may wrap (modulo 2^64) and may step back a
 * little: a difference that looks negative counts as nothing. */
static uint64_t diff(uint64_t a, uint64_t b) {
  uint64_t d = b - a;
  return d > (uint64_t)INT64_MAX ? 0 : d;
}

static void load_between(const struct iov_cpustat_core *a, const struct iov_cpustat_core *b,
                         struct iov_cpustat_load *ret) {
  uint64_t steal = diff(a->steal_ns, b->steal_ns);
  uint64_t iowait = diff(a->iowait_ns, b->iowait_ns);

  /* guest and guest_nice are inside user and nice already. */
  ret->cpu = b->cpu;
  ret->busy_ns = diff(a->user_ns, b->user_ns) + diff(a->nice_ns, b->nice_ns) +
                 diff(a->system_ns, b->system_ns) + diff(a->irq_ns, b->irq_ns) +
                 diff(a->softirq_ns, b->softirq_ns) + steal;
  ret->idle_ns = diff(a->idle_ns, b->idle_ns) + iowait;
  ret->iowait_ns = iowait;
  ret->steal_ns = steal;
}

static bool snapshot_valid(const struct iov_cpustat_core *c, size_t n) {
  if (!c || n == 0 || n > (size_t)IOV_CPUSTAT_MAX_CPUS + 1 || c[0].cpu != -1) return false;
  for (size_t i = 1; i < n; i++)
    if (c[i].cpu < 0 || (i > 1 && c[i].cpu <= c[i - 1].cpu)) return false;
  return true;
}

int iov_cpustat_delta(const struct iov_cpustat_core *prev, size_t n_prev, const struct iov_cpustat_core *cur,
                      size_t n_cur, struct iov_cpustat_load *ret, size_t n_ret) {
  struct iov_cpustat_load *agg;
  size_t i = 1, j = 1, n = 1;

  if (!snapshot_valid(prev, n_prev) || !snapshot_valid(cur, n_cur) || !ret) return -EINVAL;
  if (n_ret < n_cur) return -ENOBUFS;

  agg = &ret[0];
  *agg = (struct iov_cpustat_load){ .cpu = -1 };
  /* Both lists are in ascending core order: a merge join. */
  while (i < n_prev && j < n_cur) {
    if (prev[i].cpu < cur[j].cpu) {
      i++;
    } else if (prev[i].cpu > cur[j].cpu) {
      j++;
    } else {
      struct iov_cpustat_load *l = &ret[n++];

      load_between(&prev[i], &cur[j], l);
      agg->busy_ns += l->busy_ns;
      agg->idle_ns += l->idle_ns;
      agg->iowait_ns += l->iowait_ns;
      agg->steal_ns += l->steal_ns;
      i++;
      j++;
    }
  }
  if (n == 1) load_between(&prev[0], &cur[0], agg);
  return (int)n;
}
