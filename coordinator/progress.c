/* See progress.h. */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "timeutil.h"

#define REDRAW_NS (250ULL * IOV_NSEC_PER_MSEC)
/* Set-up per run before any run finished: connecting, preparing, VMs. */
#define FIRST_GUESS_OVERHEAD_NS (2ULL * IOV_NSEC_PER_SEC)

static void fmt_hms(char *buf, size_t n, uint64_t ns) {
  uint64_t s = (ns + IOV_NSEC_PER_SEC / 2) / IOV_NSEC_PER_SEC;
  if (s >= 3600)
    snprintf(buf, n, "%llu:%02llu:%02llu", (unsigned long long)(s / 3600), (unsigned long long)(s / 60 % 60),
             (unsigned long long)(s % 60));
  else
    snprintf(buf, n, "%llu:%02llu", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
}

void iov_progress_init(struct iov_progress *pg, FILE *f, bool quiet, uint64_t measure_ns) {
  memset(pg, 0, sizeof(*pg));
  pg->f = f;
  pg->quiet = quiet;
  pg->tty = f && isatty(fileno(f));
  const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
  pg->color = pg->tty && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
  pg->t0 = iov_now_mono();
  pg->left_ns = measure_ns;
}

/* "elapsed 1:02, about 3:40 left" */
static void times(const struct iov_progress *pg, char *buf, size_t n) {
  char e[32], l[32];
  uint64_t now = iov_now_mono();
  uint64_t per_run = pg->runs_done ? pg->overhead_ns / pg->runs_done : FIRST_GUESS_OVERHEAD_NS;
  /* The point in flight: what is left of it. */
  uint64_t in_flight = 0;
  if (pg->point_t0) {
    uint64_t spent = now - pg->point_t0, whole = pg->point_measure_ns + per_run;
    in_flight = spent < whole ? whole - spent : 0;
  }
  /* Runs still to start, each with its set-up: roughly one per this many
   * ns of measuring time, the current point's length standing in. */
  uint64_t runs_left = pg->point_measure_ns ? pg->left_ns / pg->point_measure_ns : 0;
  uint64_t left = pg->left_ns + runs_left * per_run + in_flight;
  fmt_hms(e, sizeof(e), now - pg->t0);
  fmt_hms(l, sizeof(l), left);
  snprintf(buf, n, "elapsed %s, about %s left", e, l);
}

static void rate(const struct iov_progress *pg, char *buf, size_t n) {
  double secs = pg->win_end > pg->win_start ? (double)(pg->win_end - pg->win_start) / 1e9 : 0;
  if (secs <= 0)
    snprintf(buf, n, "-");
  else if (pg->rr)
    snprintf(buf, n, "%.0f trans/s", (double)pg->transactions / secs);
  else
    snprintf(buf, n, "%.3g Gbit/s", (double)pg->bytes * 8 / secs / 1e9);
}

static void draw(struct iov_progress *pg) {
  char t[96], r[32];
  times(pg, t, sizeof(t));
  rate(pg, r, sizeof(r));
  fprintf(pg->f, "\r\033[K%s  %s  (%s)", pg->head, r, t);
  fflush(pg->f);
  pg->drawn = true;
  pg->last_draw = iov_now_mono();
}

void iov_progress_point(struct iov_progress *pg, const char *head, uint64_t measure_ns, bool rr) {
  snprintf(pg->head, sizeof(pg->head), "%s", head);
  pg->point_t0 = iov_now_mono();
  pg->point_measure_ns = measure_ns;
  pg->left_ns = pg->left_ns > measure_ns ? pg->left_ns - measure_ns : 0;
  pg->bytes = pg->transactions = pg->win_start = pg->win_end = 0;
  pg->rr = rr;
  if (pg->quiet || !pg->f) return;
  if (pg->tty) {
    draw(pg);
    return;
  }
  char t[96];
  times(pg, t, sizeof(t));
  fprintf(pg->f, "coord: %s (%s)\n", head, t);
  fflush(pg->f);
}

void iov_progress_sample(struct iov_progress *pg, uint64_t bytes, uint64_t transactions, uint64_t t0,
                         uint64_t t1) {
  pg->bytes += bytes;
  pg->transactions += transactions;
  if (t0 && (!pg->win_start || t0 < pg->win_start)) pg->win_start = t0;
  if (t1 > pg->win_end) pg->win_end = t1;
  if (pg->quiet || !pg->tty || iov_now_mono() - pg->last_draw < REDRAW_NS) return;
  draw(pg);
}

void iov_progress_done(struct iov_progress *pg, bool ok) {
  uint64_t spent = pg->point_t0 ? iov_now_mono() - pg->point_t0 : 0;
  pg->runs_done++;
  pg->overhead_ns += spent > pg->point_measure_ns ? spent - pg->point_measure_ns : 0;
  pg->point_t0 = 0;
  if (pg->quiet || !pg->f || !pg->tty) return;
  char r[32];
  rate(pg, r, sizeof(r));
  const char *st = ok ? "ok" : "failed";
  if (pg->color)
    fprintf(pg->f, "\r\033[K%s  %s  \033[%sm%s\033[0m\n", pg->head, r, ok ? "32" : "31", st);
  else
    fprintf(pg->f, "\r\033[K%s  %s  %s\n", pg->head, r, st);
  fflush(pg->f);
  pg->drawn = false;
}

void iov_progress_break(struct iov_progress *pg) {
  if (pg->drawn && pg->tty && pg->f) {
    fputc('\n', pg->f);
    pg->drawn = false;
  }
}
