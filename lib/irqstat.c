/* Interrupts per NIC queue from /proc/interrupts (see irqstat.h).
 *
 * The file is read whole with pread() from offset 0, which makes the
 * kernel generate it afresh.  It is a seq_file with one record per IRQ, so
 * it arrives in page-sized pieces, all into one buffer owned by the
 * snapshot.  Lines can be very long (eleven bytes per CPU column), so
 * nothing is copied into fixed-size buffers: parsing works in place with
 * explicit ends, cutting tokens with NUL bytes.  The action names are
 * found from the end of a line, so the counts of lines that no pattern
 * selects are never parsed. */
#include "irqstat.h"

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
#include "timeutil.h"

#define INITIAL_BUF 16384

struct pattern {
  char *text;
  size_t len;
};

struct iov_irqstat {
  int fd;
  size_t n_patterns;
  struct pattern *patterns;
};

struct iov_irqstat_snap {
  struct iov_irqstat_view view;
  bool valid; /* holds a successful read */
  char *buf;
  size_t buf_size;
  unsigned *cpus;
  size_t cpus_cap;
  struct iov_irqstat_queue *queues;
  size_t queues_cap;
  uint64_t *counts; /* n_queues * n_cpus, queue after queue */
  size_t counts_cap;
};

static bool is_sep(char c) { return c == '-' || c == '@' || c == ':'; }
static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Make room for want elements of size sz in the array p of *cap, at
 * least doubling.  Returns the array, which may have moved, or NULL (with
 * p untouched) on OOM. */
static void *reserve(void *p, size_t *cap, size_t want, size_t sz) {
  size_t n;
  void *q;

  if (want <= *cap) return p;
  n = *cap ? *cap : 16;
  while (n < want) {
    if (n > SIZE_MAX / 2) return NULL;
    n *= 2;
  }
  if (n > SIZE_MAX / sz) return NULL;
  q = realloc(p, n * sz);
  if (!q) return NULL;
  *cap = n;
  return q;
}

int iov_irqstat_open(const char *proc_root, const char *const *patterns, size_t n_patterns,
                     struct iov_irqstat **ret) {
  struct iov_irqstat *s;
  char path[PATH_MAX];
  int n, r;

  if (!ret || !patterns || n_patterns == 0) return -EINVAL;
  if (n_patterns > IOV_IRQSTAT_MAX_PATTERNS) return -E2BIG;
  for (size_t i = 0; i < n_patterns; i++) {
    const char *p = patterns[i];
    size_t len;
    bool word = false;

    if (!p) return -EINVAL;
    len = strnlen(p, IOV_IRQSTAT_MAX_PATTERN_LEN + 1);
    if (len == 0) return -EINVAL;
    if (len > IOV_IRQSTAT_MAX_PATTERN_LEN) return -E2BIG;
    for (size_t k = 0; k < len; k++) {
      if (is_blank(p[k]) || p[k] == ',' || p[k] == '\n') return -EINVAL;
      if (!is_sep(p[k])) word = true;
    }
    if (!word) return -EINVAL;
  }

  if (!proc_root) proc_root = "/proc";
  n = snprintf(path, sizeof(path), "%s/interrupts", proc_root);
  if (n < 0 || (size_t)n >= sizeof(path)) return -ENAMETOOLONG;

  s = calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->fd = -1;
  s->patterns = calloc(n_patterns, sizeof(*s->patterns));
  if (!s->patterns) {
    r = -ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < n_patterns; i++) {
    s->patterns[i].text = strdup(patterns[i]);
    if (!s->patterns[i].text) {
      r = -ENOMEM;
      goto fail;
    }
    s->patterns[i].len = strlen(patterns[i]);
    s->n_patterns++;
  }
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    r = -errno;
    goto fail;
  }
  *ret = s;
  return 0;

fail:
  iov_irqstat_free(s);
  return r;
}

struct iov_irqstat *iov_irqstat_free(struct iov_irqstat *s) {
  if (!s) return NULL;
  if (s->fd >= 0) close(s->fd);
  for (size_t i = 0; s->patterns && i < s->n_patterns; i++) free(s->patterns[i].text);
  free(s->patterns);
  free(s);
  return NULL;
}

struct iov_irqstat_snap *iov_irqstat_snap_new(void) {
  return calloc(1, sizeof(struct iov_irqstat_snap));
}

struct iov_irqstat_snap *iov_irqstat_snap_free(struct iov_irqstat_snap *snap) {
  if (!snap) return NULL;
  free(snap->buf);
  free(snap->cpus);
  free(snap->queues);
  free(snap->counts);
  free(snap);
  return NULL;
}

const struct iov_irqstat_view *iov_irqstat_snap_view(const struct iov_irqstat_snap *snap) {
  static const struct iov_irqstat_view empty;
  return snap ? &snap->view : &empty;
}

/* Read the whole file; buf is NUL-terminated after the returned length. */
static ssize_t read_file(int fd, struct iov_irqstat_snap *snap) {
  const size_t max = (size_t)IOV_IRQSTAT_MAX_FILE + 1;
  size_t len = 0;

  for (;;) {
    ssize_t k;

    if (len + 1 >= snap->buf_size) {
      size_t n = snap->buf_size ? snap->buf_size * 2 : INITIAL_BUF;
      char *b;

      if (snap->buf_size >= max) {
        /* Full at the limit: fine only if the file ends here. */
        char probe;
        k = pread(fd, &probe, 1, (off_t)len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        if (k == 0) break;
        return -EFBIG;
      }
      if (n > max) n = max;
      b = realloc(snap->buf, n);
      if (!b) return -ENOMEM;
      snap->buf = b;
      snap->buf_size = n;
    }
    k = pread(fd, snap->buf + len, snap->buf_size - 1 - len, (off_t)len);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (k == 0) break;
    len += (size_t)k;
  }
  snap->buf[len] = 0;
  return (ssize_t)len;
}

/* The header: blanks and "CPUn" columns, NUL-terminated. */
static int parse_header(struct iov_irqstat_snap *snap, char *p) {
  size_t n = 0;

  for (;;) {
    unsigned *cpus;
    char *tok;
    uint64_t id;

    while (is_blank(*p)) p++;
    if (!*p) break;
    tok = p;
    while (*p && !is_blank(*p)) p++;
    if (*p) *p++ = 0;
    if (strncmp(tok, "CPU", 3) != 0 || iov_parse_u64(tok + 3, &id) < 0) return -EBADMSG;
    if (id >= IOV_IRQSTAT_MAX_CPUS || n >= IOV_IRQSTAT_MAX_CPUS) return -E2BIG;
    if (n > 0 && id <= snap->cpus[n - 1]) return -EBADMSG;
    cpus = reserve(snap->cpus, &snap->cpus_cap, n + 1, sizeof(*cpus));
    if (!cpus) return -ENOMEM;
    snap->cpus = cpus;
    snap->cpus[n++] = (unsigned)id;
  }
  if (n == 0) return -EBADMSG;
  snap->view.n_cpus = n;
  return 0;
}

/* Does pattern occur in name[0..len) as a whole word (see irqstat.h)? */
static bool word_match(const char *name, size_t len, const struct pattern *pat) {
  const char *t = pat->text;
  size_t plen = pat->len;

  for (size_t i = 0; i + plen <= len; i++) {
    if (name[i] != t[0] || memcmp(name + i, t, plen) != 0) continue;
    if (i > 0 && !is_sep(name[i - 1]) && !is_sep(t[0])) continue;
    if (i + plen < len && !is_sep(name[i + plen]) && !is_sep(t[plen - 1])) continue;
    return true;
  }
  return false;
}

/* Find the action name in [a, end) that a pattern selects: NUL-terminate
 * it and return it, or return NULL. */
static char *match_action(const struct iov_irqstat *s, char *a, char *end) {
  while (a < end) {
    char *e = a;

    /* Action names are joined by ", ". */
    while (e < end && !(e[0] == ',' && e + 1 < end && e[1] == ' ')) e++;
    for (size_t i = 0; i < s->n_patterns; i++) {
      if (word_match(a, (size_t)(e - a), &s->patterns[i])) {
        *e = 0;
        return a;
      }
    }
    if (e == end) break;
    a = e + 2;
  }
  return NULL;
}

/* One line, NUL-terminated at end.  Returns 0 (selected or not) or a
 * negative errno for failures that end the read (only -ENOMEM). */
static int parse_line(const struct iov_irqstat *s, struct iov_irqstat_snap *snap, char *p, char *end,
                      bool has_newline) {
  struct iov_irqstat_view *v = &snap->view;
  struct iov_irqstat_queue *queues;
  char *colon, *a, *r, *name;
  uint64_t irq, total = 0, *counts;
  int rr;

  while (p < end && is_blank(*p)) p++;
  if (p == end) return 0; /* a blank line */
  colon = p;
  while (colon < end && *colon != ':' && !is_blank(*colon)) colon++;
  if (colon == end || *colon != ':' || colon == p) {
    v->n_skipped++;
    return 0;
  }
  *colon = 0;
  rr = iov_parse_u64(p, &irq);
  if (rr == -EINVAL) return 0; /* NMI, LOC, ERR...: not a device */
  if (rr < 0 || irq > UINT_MAX || !has_newline) {
    v->n_skipped++;
    return 0;
  }

  /* The action list follows the last run of two blanks. */
  r = end;
  while (r > colon + 1 && is_blank(r[-1])) r--;
  a = r;
  while (a > colon + 2 && !(a[-1] == ' ' && a[-2] == ' ')) a--;
  if (a <= colon + 2 || a == r) return 0; /* no action: nothing to match */
  *r = 0;
  name = match_action(s, a, r);
  if (!name) return 0;

  queues = reserve(snap->queues, &snap->queues_cap, v->n_queues + 1, sizeof(*queues));
  if (!queues) return -ENOMEM;
  snap->queues = queues;
  counts = reserve(snap->counts, &snap->counts_cap, (v->n_queues + 1) * v->n_cpus, sizeof(*counts));
  if (!counts) return -ENOMEM;
  snap->counts = counts;
  counts += v->n_queues * v->n_cpus;

  /* Exactly one count per column, all before the action list; whatever
   * lies between the last count and the action list is chip and hwirq. */
  p = colon + 1;
  for (size_t k = 0; k < v->n_cpus; k++) {
    char *tok;

    while (p < a && is_blank(*p)) p++;
    tok = p;
    while (p < a && !is_blank(*p)) p++;
    /* The two blanks before the action stop every token before a. */
    if (tok == p || p >= a) {
      v->n_skipped++;
      return 0;
    }
    *p++ = 0;
    if (iov_parse_u64(tok, &counts[k]) < 0) {
      v->n_skipped++;
      return 0;
    }
    total += counts[k];
  }

  snap->queues[v->n_queues++] = (struct iov_irqstat_queue){
    .irq = (unsigned)irq,
    .name = name,
    .total = total,
  };
  return 0;
}

static void snap_reset(struct iov_irqstat_snap *snap) {
  snap->valid = false;
  snap->view = (struct iov_irqstat_view){ 0 };
}

int iov_irqstat_read(struct iov_irqstat *s, struct iov_irqstat_snap *snap) {
  struct iov_irqstat_view *v;
  ssize_t len;
  char *p, *end, *nl;
  int r;

  if (!s || !snap) return -EINVAL;
  snap_reset(snap);
  v = &snap->view;

  len = read_file(s->fd, snap);
  if (len < 0) return (int)len;
  v->time_ns = iov_now_mono();
  p = snap->buf;
  end = snap->buf + len;
  /* /proc never holds a NUL byte; one would cut a line short unseen. */
  if (memchr(p, 0, (size_t)len)) {
    r = -EBADMSG;
    goto fail;
  }

  nl = memchr(p, '\n', (size_t)(end - p));
  if (!nl) {
    r = -EBADMSG;
    goto fail;
  }
  *nl = 0;
  r = parse_header(snap, p);
  if (r < 0) goto fail;

  for (p = nl + 1; p < end; p = nl + 1) {
    bool has_newline;

    nl = memchr(p, '\n', (size_t)(end - p));
    has_newline = nl != NULL;
    if (!nl) nl = end; /* buf[len] is already NUL */
    *nl = 0;
    r = parse_line(s, snap, p, nl, has_newline);
    if (r < 0) goto fail;
  }

  /* The arrays may have moved while growing: point into them now. */
  for (size_t i = 0; i < v->n_queues; i++) snap->queues[i].per_cpu = snap->counts + i * v->n_cpus;
  v->cpus = snap->cpus;
  v->queues = v->n_queues ? snap->queues : NULL;
  snap->valid = true;
  return (int)v->n_queues;

fail:
  snap_reset(snap);
  return r;
}

/* Interrupts between two readings of one 32-bit kernel counter (see
 * irqstat.h): growth, a wrap past 2^32, or a reset. */
static uint64_t count_diff(uint64_t a, uint64_t b) {
  uint64_t wrapped;

  if (b >= a) return b - a;
  if (a > UINT32_MAX) return b;
  wrapped = ((uint64_t)UINT32_MAX + 1) - a + b;
  return wrapped <= (1ULL << 31) ? wrapped : b;
}

static uint64_t queue_diff(const struct iov_irqstat_view *pv, const struct iov_irqstat_queue *pq,
                           const struct iov_irqstat_view *cv, const struct iov_irqstat_queue *cq,
                           bool same_columns) {
  uint64_t sum = 0;
  size_t i = 0, j = 0;

  if (same_columns) {
    for (size_t k = 0; k < cv->n_cpus; k++) sum += count_diff(pq->per_cpu[k], cq->per_cpu[k]);
    return sum;
  }
  /* Columns are in ascending CPU order: a merge join. */
  while (i < pv->n_cpus && j < cv->n_cpus) {
    if (pv->cpus[i] < cv->cpus[j]) {
      i++;
    } else if (pv->cpus[i] > cv->cpus[j]) {
      j++;
    } else {
      sum += count_diff(pq->per_cpu[i], cq->per_cpu[j]);
      i++;
      j++;
    }
  }
  return sum;
}

int iov_irqstat_delta(const struct iov_irqstat_snap *prev, const struct iov_irqstat_snap *cur,
                      struct iov_irqstat_rate *ret, size_t n_ret) {
  const struct iov_irqstat_view *pv, *cv;
  double secs;
  bool same_columns;
  size_t hint = 0, n = 0;

  if (!prev || !cur || !ret || !prev->valid || !cur->valid) return -EINVAL;
  pv = &prev->view;
  cv = &cur->view;
  if (cv->time_ns < pv->time_ns) return -EINVAL;
  if (n_ret < cv->n_queues) return -ENOBUFS;
  if (cv->n_queues > INT_MAX) return -E2BIG;

  secs = (double)(cv->time_ns - pv->time_ns) / (double)IOV_NSEC_PER_SEC;
  same_columns = pv->n_cpus == cv->n_cpus && memcmp(pv->cpus, cv->cpus, cv->n_cpus * sizeof(*cv->cpus)) == 0;

  for (size_t j = 0; j < cv->n_queues; j++) {
    const struct iov_irqstat_queue *cq = &cv->queues[j], *pq = NULL;

    /* Both lists are usually in the same order: search from just after
     * the last match, wrapping around, so that is one step a queue. */
    for (size_t k = 0; k < pv->n_queues; k++) {
      const struct iov_irqstat_queue *q = &pv->queues[(hint + k) % pv->n_queues];
      if (q->irq == cq->irq && strcmp(q->name, cq->name) == 0) {
        pq = q;
        hint = (hint + k + 1) % pv->n_queues;
        break;
      }
    }
    if (!pq) continue;

    ret[n].irq = cq->irq;
    ret[n].name = cq->name;
    ret[n].count = queue_diff(pv, pq, cv, cq, same_columns);
    ret[n].per_sec = secs > 0 ? (double)ret[n].count / secs : 0;
    n++;
  }
  return (int)n;
}
