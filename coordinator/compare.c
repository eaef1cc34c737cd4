/* coord compare RUN_A RUN_B: the test points of a baseline run (A) and a
 * candidate run (B) side by side, matched by their parameters; for each
 * metric the means over the repetitions, the change, and whether the
 * difference is real (Welch's t-test).  The exit status gates a CI job:
 * 1 when the gating metric of some point got significantly worse by more
 * than the threshold.  See docs/architecture.md, "Comparing runs". */
#include "compare.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "coord.h"
#include "err.h"
#include "log.h"
#include "macro.h"
#include "report.h"
#include "results.h"
#include "stats.h"

/* Exit statuses. */
enum {
  EXIT_SAME = 0,
  EXIT_REGRESSION = 1,
  EXIT_USAGE = 2,
  EXIT_UNREADABLE = 3, /* a run cannot be read, or the runs have no point in common */
};

/* ---- The matching key ---------------------------------------------- */

int iov_compare_point_key(const char *test, const char *params_json, const char *topology, uint64_t vms,
                          char **ret_key) {
  static const char *const control[] = { IOV_COMPARE_CONTROL_KEYS };
  json_t *j = params_json ? json_loads(params_json, JSON_REJECT_DUPLICATES, NULL) : NULL;
  char name[64];
  char *key;
  int r = -ENOMEM;

  if (!json_is_object(j)) {
    json_decref(j);
    j = json_object();
    if (!j) return -ENOMEM;
  }
  for (size_t i = 0; i < ELEMENTSOF(control); i++) {
    json_object_del(j, control[i]);
    snprintf(name, sizeof(name), "%s_ns", control[i]);
    json_object_del(j, name);
  }
  json_object_del(j, "index");
  json_object_del(j, "sweep");
  if (!topology || !*topology) topology = "host-host";
  /* 'auto' is what the run chose by topology (enum iov_path): the same
   * point as one that names that path. */
  const char *path = json_string_value(json_object_get(j, "path"));
  bool host_host = strcmp(topology, "host-host") == 0;
  if (path && strcmp(path, "auto") == 0 &&
      json_object_set_new(j, "path", json_string(host_host ? "native" : "existing")) < 0)
    goto out;
  if (json_object_set_new(j, "test", test ? json_string(test) : json_null()) < 0 ||
      json_object_set_new(j, "topology", json_string(topology)) < 0 ||
      json_object_set_new(j, "vms", json_integer(vms ? (json_int_t)vms : 1)) < 0)
    goto out;
  key = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  if (key) {
    *ret_key = key;
    r = 0;
  }
out:
  json_decref(j);
  return r;
}

/* ---- Metrics --------------------------------------------------------- */

enum metric {
  M_THROUGHPUT,
  M_LATENCY,
  M_P99,
  M_CPU_TX,
  M_CPU_RX,
  _M_MAX,
};

/* Names on the command line (--metric cpu is both CPU rows) and in JSON. */
static const char *const metric_name[_M_MAX] = {
  [M_THROUGHPUT] = "throughput", [M_LATENCY] = "latency", [M_P99] = "p99",
  [M_CPU_TX] = "cpu_tx",         [M_CPU_RX] = "cpu_rx",
};

static bool higher_is_better(enum metric m) { return m == M_THROUGHPUT; }

static const char *metric_unit(enum metric m, bool rr) {
  switch (m) {
  case M_THROUGHPUT: return rr ? "trans/s" : "Gbit/s";
  case M_LATENCY:
  case M_P99: return "us";
  case M_CPU_TX:
  case M_CPU_RX: return rr ? "us/trans" : "us/KiB";
  default: return "";
  }
}

/* The label of the table's metric column. */
static const char *metric_label(enum metric m, bool rr) {
  switch (m) {
  case M_THROUGHPUT: return rr ? "trans/s" : "Gbit/s";
  case M_LATENCY: return "lat mean µs";
  case M_P99: return "lat p99 µs";
  case M_CPU_TX: return rr ? "SD tx µs/tr" : "SD tx µs/KiB";
  case M_CPU_RX: return rr ? "SD rx µs/tr" : "SD rx µs/KiB";
  default: return "";
  }
}

/* One repetition's value of a metric; NaN when it has none (not ok, no
 * window, no latency, no CPU samples). */
static double metric_value(const struct iov_point_summary *p, enum metric m, bool rr) {
  if (!p->status || strcmp(p->status, "ok") != 0) return NAN;
  bool lat = p->has_latency && p->lat_count > 0;
  switch (m) {
  case M_THROUGHPUT: return p->window_s > 0 ? (rr ? p->tps : p->gbps) : NAN;
  case M_LATENCY: return lat ? p->lat_mean_us : NAN;
  case M_P99: return lat ? p->lat_p99_us : NAN;
  case M_CPU_TX: return rr ? p->sd_tx_us_per_trans : p->sd_tx_us_per_kb;
  case M_CPU_RX: return rr ? p->sd_rx_us_per_trans : p->sd_rx_us_per_kb;
  default: return NAN;
  }
}

/* ---- One run ---------------------------------------------------------- */

/* A plan point of a run: its repetitions (rows of rep->points). */
struct group {
  unsigned point_no;
  const struct iov_point_summary *first;
  const size_t *reps; /* rep->points indexes, in the order they ran (iov_report_groups()) */
  size_t n_reps;
  unsigned n_ok;
  bool rr;
  char *key;                 /* owned */
  const struct group *match; /* in the other run */
};

struct side {
  const char *arg; /* as given */
  char *path;      /* the results.db; owned */
  struct iov_db *db;
  struct iov_report *rep;
  struct iov_point_group *pg; /* iov_report_groups(); owned */
  size_t n_pg;
  struct group *groups; /* by point_no; owned */
  size_t n_groups;
  struct group **by_key; /* sorted by key; owned */
};

static void side_done(struct side *s) {
  for (size_t i = 0; i < s->n_groups; i++) free(s->groups[i].key);
  free(s->groups);
  free(s->by_key);
  iov_report_groups_free(s->pg, s->n_pg);
  iov_report_free(s->rep);
  iov_db_close(s->db);
  free(s->path);
}

static int cmp_group_key(const void *x, const void *y) {
  const struct group *a = *(struct group *const *)x, *b = *(struct group *const *)y;
  int c = strcmp(a->key, b->key);
  if (c) return c;
  return a->point_no < b->point_no ? -1 : a->point_no > b->point_no;
}

/* Append suffix to a key (owned). */
static int key_append(char **key, const char *sep, const char *suffix) {
  size_t n = strlen(*key) + strlen(sep) + strlen(suffix) + 1;
  char *k = malloc(n);
  if (!k) return -ENOMEM;
  snprintf(k, n, "%s%s%s", *key, sep, suffix);
  free(*key);
  *key = k;
  return 0;
}

/* Keys are unique within a run: points whose stored parameters are equal
 * (a plan key that params_json does not record was swept) are told apart
 * by their sweep label, and if that is equal too, by their order. */
static int keys_make_unique(struct side *s) {
  for (int pass = 0; pass < 2; pass++) {
    qsort(s->by_key, s->n_groups, sizeof(*s->by_key), cmp_group_key);
    for (size_t i = 0; i < s->n_groups;) {
      size_t j = i + 1;
      while (j < s->n_groups && strcmp(s->by_key[i]->key, s->by_key[j]->key) == 0) j++;
      if (j - i > 1)
        for (size_t k = i; k < j; k++) {
          char nth[32];
          snprintf(nth, sizeof(nth), "%zu", k - i);
          const char *sweep = s->by_key[k]->first->sweep ? s->by_key[k]->first->sweep : "";
          if (key_append(&s->by_key[k]->key, pass == 0 ? "\n" : "\n#", pass == 0 ? sweep : nth) < 0)
            return -ENOMEM;
        }
      i = j;
    }
  }
  qsort(s->by_key, s->n_groups, sizeof(*s->by_key), cmp_group_key);
  return 0;
}

/* The report's groups of repetitions, each with its key. */
static int side_groups(struct side *s) {
  struct iov_report *rep = s->rep;
  int r = iov_report_groups(rep, &s->pg, &s->n_pg);
  if (r < 0) return r;
  s->groups = calloc(s->n_pg ? s->n_pg : 1, sizeof(*s->groups));
  if (!s->groups) return -ENOMEM;
  for (size_t i = 0; i < s->n_pg && r == 0; i++) {
    struct group *g = &s->groups[s->n_groups++];
    g->point_no = s->pg[i].point_no;
    g->reps = s->pg[i].members;
    g->n_reps = s->pg[i].n_members;
    g->n_ok = s->pg[i].ok;
    g->first = &rep->points[g->reps[0]];
    for (size_t k = 0; k < g->n_reps; k++) {
      const struct iov_point_summary *p = &rep->points[g->reps[k]];
      if (p->transactions > 0 || p->has_latency) g->rr = true;
    }
    r = iov_compare_point_key(g->first->test, g->first->params_json, g->first->topology, g->first->vms,
                              &g->key);
  }
  if (r < 0) return r;

  s->by_key = calloc(s->n_groups ? s->n_groups : 1, sizeof(*s->by_key));
  if (!s->by_key) return -ENOMEM;
  for (size_t i = 0; i < s->n_groups; i++) s->by_key[i] = &s->groups[i];
  return keys_make_unique(s);
}

/* Open and load one run.  Logs why it failed; returns 0 or < 0. */
static int side_load(struct side *s) {
  struct stat sb;
  char err[512];
  int r;

  if (stat(s->arg, &sb) < 0)
    return iov_log_errno(-errno, "Cannot read run '%s': %m (give a run directory or its results.db)", s->arg);
  if (S_ISDIR(sb.st_mode)) {
    size_t n = strlen(s->arg) + sizeof("/results.db");
    s->path = malloc(n);
    if (s->path) snprintf(s->path, n, "%s/results.db", s->arg);
  } else
    s->path = strdup(s->arg);
  if (!s->path) return iov_log_errno(-ENOMEM, "Cannot read run '%s': %m", s->arg);

  r = iov_db_open_readonly(s->path, &s->db, err, sizeof(err));
  if (r < 0)
    return iov_log_errno(r,
                         "Cannot open results database '%s': %s (is '%s' a run directory or a results.db?)",
                         s->path, err, s->arg);
  r = iov_report_load(s->db, &s->rep, err, sizeof(err));
  if (r == -ENOENT) return iov_log_errno(r, "Results database '%s' holds no run", s->path);
  if (r < 0)
    return iov_log_errno(r, "Cannot read the run from '%s': %s (is it an iovbench results.db?)", s->path,
                         err);
  r = side_groups(s);
  if (r < 0) return iov_log_errno(r, "Cannot read the points' parameters from '%s': %m", s->path);
  return 0;
}

static const struct group *side_find(const struct side *s, const char *key) {
  size_t lo = 0, hi = s->n_groups;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->by_key[mid]->key, key);
    if (c == 0) return s->by_key[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* ---- Comparing one metric ------------------------------------------- */

enum verdict {
  V_SAME,
  V_BETTER,
  V_WORSE,
  V_REGRESSION,
  V_UNTESTED,
};
static const char *const verdict_name[] = {
  [V_SAME] = "same",         [V_BETTER] = "better",
  [V_WORSE] = "worse",       [V_REGRESSION] = "worse (regression)",
  [V_UNTESTED] = "untested",
};

struct cfg {
  enum metric gate; /* M_CPU_TX stands for both CPU rows */
  bool gate_cpu;
  double threshold; /* percent */
  double alpha;
  bool all, json, quiet;
};

struct row {
  enum metric m;
  bool gating;
  struct iov_stat a, b;
  double change;     /* percent; > 0 better, < 0 worse; NaN without both means */
  double raw_change; /* (B - A) / A in percent */
  double p;          /* NaN: not tested */
  enum verdict v;
  char note[48]; /* why untested */
};

static void stat_of(const struct group *g, const struct iov_report *rep, enum metric m, bool rr, double level,
                    struct iov_stat *ret) {
  double *x = calloc(g->n_reps ? g->n_reps : 1, sizeof(*x));
  if (!x) {
    iov_stat_compute(NULL, 0, level, ret);
    return;
  }
  for (size_t i = 0; i < g->n_reps; i++) x[i] = metric_value(&rep->points[g->reps[i]], m, rr);
  iov_stat_compute(x, g->n_reps, level, ret);
  free(x);
}

/* Compare one metric of a matched point.  false when neither run has
 * that metric for the point (latency of a stream). */
static bool row_compute(const struct cfg *cfg, const struct side *A, const struct side *B,
                        const struct group *ga, const struct group *gb, enum metric m, struct row *ret) {
  bool rr = ga->rr || gb->rr;
  double level = 1.0 - cfg->alpha;
  struct row w = { .m = m, .change = NAN, .raw_change = NAN, .p = NAN, .v = V_UNTESTED };

  w.gating = m == cfg->gate || (cfg->gate_cpu && (m == M_CPU_TX || m == M_CPU_RX));
  stat_of(ga, A->rep, m, rr, level, &w.a);
  stat_of(gb, B->rep, m, rr, level, &w.b);
  if (w.a.n == 0 && w.b.n == 0) return false;

  if (w.a.n > 0 && w.b.n > 0) {
    double d = w.b.mean - w.a.mean;
    if (w.a.mean != 0)
      w.raw_change = d / fabs(w.a.mean) * 100.0;
    else
      w.raw_change = d == 0 ? 0.0 : d > 0 ? INFINITY : -INFINITY;
    w.change = higher_is_better(m) || w.raw_change == 0 ? w.raw_change : -w.raw_change;
  }

  if (w.a.n == 0 || w.b.n == 0)
    snprintf(w.note, sizeof(w.note), "no ok run in %s", w.a.n == 0 ? (w.b.n == 0 ? "A or B" : "A") : "B");
  else if (w.a.n < 2 || w.b.n < 2)
    snprintf(w.note, sizeof(w.note), "1 run%s",
             w.a.n < 2 && w.b.n < 2 ? " each"
             : w.a.n < 2            ? " in A"
                                    : " in B");
  else {
    w.p = iov_welch_p(&w.a, &w.b, NULL, NULL);
    /* Both sides without spread: every repetition gave the same value, so
     * equal means are the same and different ones a certain difference. */
    if (isnan(w.p)) w.p = w.a.mean == w.b.mean ? 1.0 : 0.0;
    if (!(w.p < cfg->alpha) || w.change == 0)
      w.v = V_SAME;
    else if (w.change > 0)
      w.v = V_BETTER;
    else
      w.v = -w.change > cfg->threshold ? V_REGRESSION : V_WORSE;
  }
  /* Only the gating metric can be a regression: the others say worse. */
  if (w.v == V_REGRESSION && !w.gating) w.v = V_WORSE;
  *ret = w;
  return true;
}

/* ---- Text output --------------------------------------------------- */

/* Characters (UTF-8 code points) of s. */
static int text_width(const char *s) {
  int n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) n++;
  return n;
}

/* s padded to width characters (left or right aligned); cut in the
 * middle with ".." when longer. */
static void put_cell(FILE *f, const char *s, int width, bool right) {
  int w = text_width(s);
  if (w > width && width > 4 && (size_t)w == strlen(s)) {
    int head = (width - 2) / 2, tail = width - 2 - head;
    fprintf(f, "%.*s..%s", head, s, s + strlen(s) - tail);
    return;
  }
  if (right) fprintf(f, "%*s", width > w ? width - w : 0, "");
  fputs(s, f);
  if (!right) fprintf(f, "%*s", width > w ? width - w : 0, "");
}

/* Decimals for a value of this size: about four significant digits. */
static int decimals(double v) {
  v = fabs(v);
  return v >= 1000 ? 0 : v >= 100 ? 1 : v >= 10 ? 2 : 3;
}

static void fmt_stat(char *buf, size_t n, const struct iov_stat *s) {
  if (s->n == 0)
    snprintf(buf, n, "- (0)");
  else if (isnan(s->half))
    snprintf(buf, n, "%.*f (%u)", decimals(s->mean), s->mean, s->n);
  else
    snprintf(buf, n, "%.*f ± %.*f (%u)", decimals(s->mean), s->mean, decimals(s->mean), s->half, s->n);
}

static void print_row(FILE *f, unsigned no, const struct group *ga, const struct row *w, bool rr) {
  char a[64], b[64], ch[32], p[16], v[64];

  fmt_stat(a, sizeof(a), &w->a);
  fmt_stat(b, sizeof(b), &w->b);
  if (isnan(w->change))
    snprintf(ch, sizeof(ch), "-");
  else
    snprintf(ch, sizeof(ch), "%+.1f", w->change);
  if (isnan(w->p))
    snprintf(p, sizeof(p), "-");
  else if (w->p < 0.001)
    snprintf(p, sizeof(p), "<0.001");
  else
    snprintf(p, sizeof(p), "%.3f", w->p);
  if (w->v == V_UNTESTED)
    snprintf(v, sizeof(v), "untested (%s)", w->note);
  else
    snprintf(v, sizeof(v), "%s", verdict_name[w->v]);

  fprintf(f, "%3u ", no);
  put_cell(f, ga->first->test ? ga->first->test : "", 14, false);
  fputc(' ', f);
  put_cell(f, ga->first->sweep ? ga->first->sweep : "", 20, false);
  fputc(' ', f);
  put_cell(f, metric_label(w->m, rr), 12, false);
  fputc(' ', f);
  put_cell(f, a, 22, true);
  fputc(' ', f);
  put_cell(f, b, 22, true);
  fputc(' ', f);
  put_cell(f, ch, 8, true);
  fputc(' ', f);
  put_cell(f, p, 7, true);
  fprintf(f, "  %s\n", v);
}

static void print_header(FILE *f) {
  fprintf(f, "%3s ", "#");
  put_cell(f, "test", 14, false);
  fputc(' ', f);
  put_cell(f, "sweep", 20, false);
  fputc(' ', f);
  put_cell(f, "metric", 12, false);
  fputc(' ', f);
  put_cell(f, "A mean ± half (runs)", 22, true);
  fputc(' ', f);
  put_cell(f, "B mean ± half (runs)", 22, true);
  fputc(' ', f);
  put_cell(f, "change%", 8, true);
  fputc(' ', f);
  put_cell(f, "p", 7, true);
  fprintf(f, "  verdict\n");
}

static void print_run_line(FILE *f, const char *label, const struct side *s) {
  fprintf(f, "%s %s  run %s, %zu points, %zu repetitions\n", label, s->path,
          s->rep->uuid ? s->rep->uuid : "?", s->n_groups, s->rep->n_points);
}

static void print_only(FILE *f, const char *which, const struct side *s) {
  bool any = false;
  for (size_t i = 0; i < s->n_groups; i++) {
    const struct group *g = &s->groups[i];
    if (g->match) continue;
    if (!any) fprintf(f, "\nonly in %s (not compared):\n", which);
    any = true;
    const char *sweep = g->first->sweep ? g->first->sweep : "";
    fprintf(f, "%3u %s%s%s\n", g->point_no + 1, g->first->test ? g->first->test : "", *sweep ? " " : "",
            sweep);
  }
}

/* ---- JSON output --------------------------------------------------- */

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jstr(const char *s) {
  json_t *v = s ? json_string(s) : NULL; /* NULL also for bad UTF-8 */
  return v ? v : json_null();
}

static json_t *jstat(const struct iov_stat *s) {
  return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "n", (json_int_t)s->n, "mean", jnum(s->mean), "sd",
                   jnum(s->sd), "half", jnum(s->half), "lo", jnum(s->lo), "hi", jnum(s->hi));
}

static json_t *jrow(const struct row *w, bool rr) {
  return json_pack("{s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:s, s:o}", "metric", metric_name[w->m],
                   "unit", metric_unit(w->m, rr), "gating", w->gating, "higher_is_better",
                   higher_is_better(w->m), "a", jstat(&w->a), "b", jstat(&w->b), "change_pct",
                   jnum(w->change), "raw_change_pct", jnum(w->raw_change), "p", jnum(w->p), "verdict",
                   verdict_name[w->v], "note", w->v == V_UNTESTED ? jstr(w->note) : json_null());
}

static json_t *jrun(const struct side *s) {
  return json_pack("{s:o, s:o, s:o, s:I, s:I}", "arg", jstr(s->arg), "path", jstr(s->path), "run",
                   jstr(s->rep->uuid), "points", (json_int_t)s->n_groups, "repetitions",
                   (json_int_t)s->rep->n_points);
}

static json_t *jpoint(const struct group *g) {
  return json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:I}", "point_no", (json_int_t)g->point_no, "test",
                   jstr(g->first->test), "sweep", jstr(g->first->sweep), "workload", jstr(g->first->workload),
                   "topology", jstr(g->first->topology), "runs", (json_int_t)g->n_reps, "ok",
                   (json_int_t)g->n_ok);
}

/* ---- The command ------------------------------------------------------ */

static void help(void) {
  printf("Usage: coord compare RUN_A RUN_B [OPTIONS]\n"
         "\n"
         "Compare the test points of two stored runs: A is the baseline, B the\n"
         "candidate.  Each RUN is a run directory or its results.db.  Points are\n"
         "matched by test name and parameters (how often and how long a point was\n"
         "run does not count: repeat, repeat_max, confidence, on_error, heartbeat,\n"
         "timeout, sample_interval); points only in one run are listed, not compared.\n"
         "\n"
         "For each point and metric: the mean over the repetitions that ended ok,\n"
         "with the half-width of its (1 - alpha) confidence interval and the number\n"
         "of runs; the change of B against A in percent, signed so that + is better\n"
         "and - is worse (for latency and CPU, lower is better); Welch's t-test p.\n"
         "Verdicts: same (p >= alpha), better, worse, worse (regression) (the gating\n"
         "metric worse by more than the threshold, p < alpha), untested (fewer than\n"
         "2 ok runs on a side: no test is made).\n"
         "\n"
         "Points with a rate search (plan 'search'): their NDR and PDR in Mpps, the\n"
         "mean over their repetitions, of A and B and the ratio B / A (above 1 is\n"
         "better), after the table and as \"searches\" in --json; they do not gate.\n"
         "\n"
         "  -m, --metric=M      the metric that gates: throughput (default; Gbit/s,\n"
         "                      or trans/s for request/response), latency (mean),\n"
         "                      p99, cpu (service demand of sender and receiver)\n"
         "  -t, --threshold=PCT a regression is worse by more than PCT percent\n"
         "                      (default 5)\n"
         "      --alpha=P       significance level of the test (default 0.05)\n"
         "  -a, --all           every metric of each point, not only the gating one\n"
         "      --json          a JSON document instead of the table (every metric)\n"
         "  -q, --quiet         only the table\n"
         "      --debug[=CATS]  debug log\n"
         "\n"
         "Exit status: 0 no regression, 1 a regression in some point (for CI),\n"
         "2 usage, 3 a run cannot be read, or the runs have no point in common.\n"
         "\n"
         "Example:  coord compare results/base results/new --threshold 3 || exit 1\n");
}

/* A number from the command line: the whole text, finite. */
static int parse_double(const char *s, bool percent, double *ret) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno != 0 || !isfinite(v)) return -EINVAL;
  if (percent && *end == '%') end++;
  if (*end) return -EINVAL;
  *ret = v;
  return 0;
}

static int parse_args(int argc, char **argv, struct cfg *cfg, const char **ret_a, const char **ret_b) {
  enum { OPT_ALPHA = 0x100, OPT_JSON, OPT_DEBUG };
  static const struct option opts[] = {
    { "metric", required_argument, NULL, 'm' },
    { "threshold", required_argument, NULL, 't' },
    { "alpha", required_argument, NULL, OPT_ALPHA },
    { "all", no_argument, NULL, 'a' },
    { "json", no_argument, NULL, OPT_JSON },
    { "quiet", no_argument, NULL, 'q' },
    { "debug", optional_argument, NULL, OPT_DEBUG },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  unsigned mask;

  optind = 1;
  while ((c = getopt_long(argc, argv, "m:t:aqh", opts, NULL)) != -1) switch (c) {
    case 'm':
      if (strcmp(optarg, "throughput") == 0)
        cfg->gate = M_THROUGHPUT;
      else if (strcmp(optarg, "latency") == 0)
        cfg->gate = M_LATENCY;
      else if (strcmp(optarg, "p99") == 0)
        cfg->gate = M_P99;
      else if (strcmp(optarg, "cpu") == 0) {
        cfg->gate = M_CPU_TX;
        cfg->gate_cpu = true;
      } else {
        iov_err("coord compare: --metric '%s': use throughput, latency, p99 or cpu.", optarg);
        return EXIT_USAGE;
      }
      break;
    case 't':
      if (parse_double(optarg, true, &cfg->threshold) < 0 || cfg->threshold < 0) {
        iov_err("coord compare: --threshold '%s': give a percentage >= 0, e.g. 5.", optarg);
        return EXIT_USAGE;
      }
      break;
    case OPT_ALPHA:
      if (parse_double(optarg, false, &cfg->alpha) < 0 || !(cfg->alpha > 0 && cfg->alpha < 1)) {
        iov_err("coord compare: --alpha '%s': give a probability between 0 and 1, e.g. 0.05.", optarg);
        return EXIT_USAGE;
      }
      break;
    case 'a': cfg->all = true; break;
    case OPT_JSON: cfg->json = true; break;
    case 'q': cfg->quiet = true; break;
    case OPT_DEBUG:
      if (iov_log_parse_debug(optarg ? optarg : "proto,net,engine,plan,db", &mask) < 0) {
        iov_err("coord compare: --debug '%s': unknown category.", optarg ? optarg : "");
        return EXIT_USAGE;
      }
      iov_log_set_debug(mask);
      iov_log_set_level(IOV_LOG_DEBUG);
      break;
    case 'h': help(); return -1;
    default: iov_err("Try 'coord compare --help'."); return EXIT_USAGE;
    }
  if (argc - optind != 2) {
    iov_err("coord compare: expected two runs, RUN_A (baseline) and RUN_B (candidate). "
            "Try 'coord compare --help'.");
    return EXIT_USAGE;
  }
  *ret_a = argv[optind];
  *ret_b = argv[optind + 1];
  return 0;
}

/* ---- Rate searches ----------------------------------------------------- */

/* The mean over a point's repetitions of its NDR (pdr false) or PDR, in
 * packets/s and in % of line; NaN without a stored search. */
static void search_mean(const struct side *s, unsigned point_no, bool pdr, double *ret_pps,
                        double *ret_line) {
  double pps = 0, line = 0;
  unsigned n = 0, nl = 0;
  for (size_t i = 0; i < s->rep->n_searches; i++) {
    const struct iov_search_summary *x = &s->rep->searches[i];
    if (x->point_no != point_no || x->pdr != pdr) continue;
    if (isfinite(x->rate_pps)) {
      pps += x->rate_pps;
      n++;
    }
    if (isfinite(x->line_pct)) {
      line += x->line_pct;
      nl++;
    }
  }
  *ret_pps = n ? pps / n : NAN;
  *ret_line = nl ? line / nl : NAN;
}

/* The matched points with a search on either side: NDR and PDR of A and
 * B in Mpps and their ratio B / A (higher is better).  Printed as a
 * table, or returned as a JSON array (NULL on OOM). */
static json_t *compare_searches(const struct side *A, const struct side *B, FILE *f, bool json) {
  json_t *arr = json ? json_array() : NULL;
  bool header = false;
  if (json && !arr) return NULL;
  for (size_t i = 0; i < A->n_groups; i++) {
    const struct group *ga = &A->groups[i], *gb = ga->match;
    if (!gb) continue;
    for (int k = 0; k < 2; k++) {
      double a, b, la, lb;
      search_mean(A, ga->point_no, k, &a, &la);
      search_mean(B, gb->point_no, k, &b, &lb);
      if (isnan(a) && isnan(b)) continue;
      double ratio = isfinite(a) && isfinite(b) && a > 0 ? b / a : NAN;
      if (json) {
        json_t *o = json_pack("{s:I, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "n",
                              (json_int_t)ga->point_no + 1, "test", jstr(ga->first->test), "sweep",
                              jstr(ga->first->sweep), "kind", k ? "pdr" : "ndr", "a_pps", jnum(a), "b_pps",
                              jnum(b), "a_line_pct", jnum(la), "b_line_pct", jnum(lb), "ratio", jnum(ratio));
        if (!o || json_array_append_new(arr, o) < 0) {
          json_decref(arr);
          return NULL;
        }
        continue;
      }
      if (!header) {
        fprintf(f, "\nNDR/PDR (rate searches), Mpps; ratio: B / A, above 1 is better\n");
        fprintf(f, "%4s  %-4s  ", "#", "");
        put_cell(f, "test", 16, false);
        fputs("  ", f);
        put_cell(f, "sweep", 28, false);
        fprintf(f, "  %10s  %10s  %8s\n", "A Mpps", "B Mpps", "ratio");
        header = true;
      }
      char ca[32], cb[32], cr[32];
      snprintf(ca, sizeof(ca), isfinite(a) ? "%.3f" : "-", a / 1e6);
      snprintf(cb, sizeof(cb), isfinite(b) ? "%.3f" : "-", b / 1e6);
      snprintf(cr, sizeof(cr), isfinite(ratio) ? "%.3f" : "-", ratio);
      fprintf(f, "%4u  %-4s  ", ga->point_no + 1, k ? "PDR" : "NDR");
      put_cell(f, ga->first->test, 16, false);
      fputs("  ", f);
      put_cell(f, ga->first->sweep, 28, false);
      fprintf(f, "  %10s  %10s  %8s\n", ca, cb, cr);
    }
  }
  return arr;
}

/* Compare every matched point; print the table or build the JSON.
 * Returns the exit status. */
static int compare(const struct cfg *cfg, struct side *A, struct side *B) {
  size_t matched = 0, only_b = 0, counts[V_UNTESTED + 1] = { 0 }, no_metric = 0;
  json_t *jpoints = cfg->json ? json_array() : NULL;
  bool regression = false;
  FILE *f = stdout;

  for (size_t i = 0; i < A->n_groups; i++) {
    struct group *g = &A->groups[i];
    const struct group *m = side_find(B, g->key);
    g->match = m;
    if (m) {
      ((struct group *)m)->match = g;
      matched++;
    }
  }
  for (size_t i = 0; i < B->n_groups; i++)
    if (!B->groups[i].match) only_b++;
  if (matched == 0) {
    iov_log_errno(-ENOENT,
                  "No test point in common between '%s' (%zu points) and '%s' (%zu points): "
                  "compare runs of the same plan, or plans with the same tests and parameters",
                  A->path, A->n_groups, B->path, B->n_groups);
    return EXIT_UNREADABLE;
  }
  if (cfg->json && !jpoints) goto oom;

  if (!cfg->json) {
    if (!cfg->quiet) {
      print_run_line(f, "A (baseline): ", A);
      print_run_line(f, "B (candidate):", B);
      fprintf(f,
              "gate: %s worse by more than %g%% with p < %g is a regression; ± is the %g%% confidence "
              "half-width of the mean; change + is better\n\n",
              cfg->gate_cpu ? "cpu" : metric_name[cfg->gate], cfg->threshold, cfg->alpha,
              (1.0 - cfg->alpha) * 100.0);
    }
    print_header(f);
  }

  for (size_t i = 0; i < A->n_groups; i++) {
    const struct group *ga = &A->groups[i], *gb = ga->match;
    json_t *jmetrics = NULL, *jp = NULL;
    bool point_regression = false, any = false;
    if (!gb) continue;
    if (cfg->json) {
      jmetrics = json_array();
      jp = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:s}", "n", (json_int_t)ga->point_no + 1, "test",
                     jstr(ga->first->test), "sweep", jstr(ga->first->sweep), "workload",
                     jstr(ga->first->workload), "a", jpoint(ga), "b", jpoint(gb), "match_key", ga->key);
      if (!jmetrics || !jp || json_array_append_new(jpoints, jp) < 0) {
        json_decref(jmetrics);
        goto oom;
      }
    }
    for (enum metric m = 0; m < _M_MAX; m++) {
      struct row w;
      if (!row_compute(cfg, A, B, ga, gb, m, &w)) continue;
      if (w.v == V_REGRESSION) point_regression = true;
      if (w.gating) {
        counts[w.v]++;
        any = true;
      }
      if (cfg->json) {
        if (json_array_append_new(jmetrics, jrow(&w, ga->rr || gb->rr)) < 0) {
          json_decref(jmetrics);
          goto oom;
        }
      } else if (w.gating || cfg->all)
        print_row(f, ga->point_no + 1, ga, &w, ga->rr || gb->rr);
    }
    if (!any) no_metric++;
    if (point_regression) regression = true;
    if (cfg->json && (json_object_set_new(jp, "metrics", jmetrics) < 0 ||
                      json_object_set_new(jp, "regression", json_boolean(point_regression)) < 0))
      goto oom;
  }

  if (cfg->json) {
    json_t *only[2] = { json_array(), json_array() };
    const struct side *sides[2] = { A, B };
    for (int k = 0; k < 2; k++)
      for (size_t i = 0; only[k] && i < sides[k]->n_groups; i++)
        if (!sides[k]->groups[i].match) json_array_append_new(only[k], jpoint(&sides[k]->groups[i]));
    json_t *doc = json_pack(
        "{s:o, s:o, s:s, s:f, s:f, s:f, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:b, s:i}", "a",
        jrun(A), "b", jrun(B), "metric", cfg->gate_cpu ? "cpu" : metric_name[cfg->gate], "threshold_pct",
        cfg->threshold, "alpha", cfg->alpha, "level", 1.0 - cfg->alpha, "points", jpoints, "only_a",
        only[0] ? only[0] : json_null(), "only_b", only[1] ? only[1] : json_null(), "counts", "matched",
        (json_int_t)matched, "same", (json_int_t)counts[V_SAME], "better", (json_int_t)counts[V_BETTER],
        "worse", (json_int_t)counts[V_WORSE], "regression", (json_int_t)counts[V_REGRESSION], "untested",
        (json_int_t)counts[V_UNTESTED], "regression", regression, "exit_status",
        regression ? EXIT_REGRESSION : EXIT_SAME);
    jpoints = NULL; /* the pack took it, or freed it on failure */
    if (!doc) goto oom;
    json_t *js = compare_searches(A, B, f, true);
    if (!js || json_object_set_new(doc, "searches", js) < 0) {
      json_decref(doc);
      goto oom;
    }
    int r = json_dumpf(doc, f, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(doc);
    if (r < 0 || fputc('\n', f) == EOF || fflush(f) != 0) {
      iov_log_errno(-EIO, "Cannot write the comparison to stdout: %m");
      return EXIT_UNREADABLE;
    }
  } else {
    if (!cfg->quiet) {
      compare_searches(A, B, f, false);
      print_only(f, "A", A);
      print_only(f, "B", B);
      fprintf(f, "\n%zu points compared", matched);
      if (A->n_groups > matched || only_b)
        fprintf(f, " (%zu only in A, %zu only in B)", A->n_groups - matched, only_b);
      fprintf(f, ": %zu same, %zu better, %zu worse, %zu worse (regression), %zu untested", counts[V_SAME],
              counts[V_BETTER], counts[V_WORSE], counts[V_REGRESSION], counts[V_UNTESTED]);
      if (no_metric)
        fprintf(f, "; %zu without %s (e.g. a stream has no latency)", no_metric,
                cfg->gate_cpu ? "cpu" : metric_name[cfg->gate]);
      fprintf(f, "\n%s\n", regression ? "REGRESSION" : "no regression");
    }
    if (fflush(f) != 0) {
      iov_log_errno(-EIO, "Cannot write the comparison to stdout: %m");
      return EXIT_UNREADABLE;
    }
  }
  return regression ? EXIT_REGRESSION : EXIT_SAME;
oom:
  json_decref(jpoints);
  iov_log_errno(-ENOMEM, "Cannot compare the runs: %m");
  return EXIT_UNREADABLE;
}

int iov_coord_compare(int argc, char **argv) {
  struct cfg cfg = { .gate = M_THROUGHPUT, .threshold = 5.0, .alpha = 0.05 };
  struct side A = { 0 }, B = { 0 };
  int r;

  r = parse_args(argc, argv, &cfg, &A.arg, &B.arg);
  if (r != 0) return r < 0 ? 0 : r;
  if (side_load(&A) < 0 || side_load(&B) < 0)
    r = EXIT_UNREADABLE;
  else
    r = compare(&cfg, &A, &B);
  side_done(&A);
  side_done(&B);
  return r;
}
