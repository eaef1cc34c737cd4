/* coord plot RUN: the figures of a stored run, drawn by gnuplot as PNG
 * and SVG, and RUN/index.html showing them with the run's plan and
 * inventory.
 *
 * Everything comes from the reports of coordinator/report.h: the
 * repetitions of a plan point as iov_report_groups() gathers them, whose
 * ok ones are aggregated here with lib/stats.h, and error bars are the
 * confidence interval of the mean (95 %, or the level the plan's
 * 'confidence' asked for that point).
 *
 * Every figure is a data file (NAME.dat: plain columns, one block per
 * series, '?' for a missing value) and a gnuplot script (NAME.gp) kept
 * next to its images, so that a user can edit the script and draw it
 * again: cd FIGURES && gnuplot NAME.gp.  gnuplot runs under timeout(1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "err.h"
#include "log.h"
#include "macro.h"
#include "report.h"
#include "results.h"
#include "spawn.h"
#include "stats.h"

#define PLOT_TIMEOUT_S "60"
/* Plan text and inventories larger than this are left out of index.html. */
#define PLOT_HTML_FILE_MAX (16u << 20)

struct plot_opts {
  const char *run;
  const char *out; /* NULL: RUN/figures */
  bool png, svg, quiet;
};

/* One plan point: its ok repetitions. */
struct group {
  unsigned point_no;
  const struct iov_point_summary **reps; /* in the order they ran; owned */
  size_t n;
  const struct iov_point_summary *p; /* reps[0], for what repetitions share */
  const char *path;                  /* the I/O path, 'auto' resolved as the plan does */
  double msg_size;                   /* bytes; NaN if the point's parameters lack it */
  double level;                      /* confidence level of its error bars */
  bool rr;                           /* request/response: trans/s and latency, not Gbit/s */
};

struct drawn {
  char *name, *title; /* owned */
};

struct plot_ctx {
  struct plot_opts o;
  const struct iov_report *rep;
  char *run_dir, *out_dir; /* owned */
  struct group *groups;    /* owned, by point_no */
  size_t n_groups;
  double *scratch; /* room for the repetitions of any group */
  struct drawn *drawn;
  size_t n_drawn;
  char **skipped; /* "what: why", owned */
  size_t n_skipped;
  bool failed; /* a figure could not be drawn */
};

typedef double (*metric_fn)(const struct iov_point_summary *);

/* ---- small helpers ---------------------------------------------------- */

static char *xasprintf(const char *fmt, ...) _printf_(1, 2);
static char *xasprintf(const char *fmt, ...) {
  va_list ap;
  char *s;
  va_start(ap, fmt);
  int r = vasprintf(&s, fmt, ap);
  va_end(ap);
  return r < 0 ? NULL : s;
}

static bool is_host_host(const struct iov_point_summary *p) {
  return !p->topology || strcmp(p->topology, "host-host") == 0;
}

/* The report gives the path as it resolved; runs from before paths were
 * stored have none: what auto resolves to. */
static const char *resolved_path(const struct iov_point_summary *p) {
  return p->path ? p->path : is_host_host(p) ? "native" : "existing";
}

static const char *topology_of(const struct iov_point_summary *p) {
  return p->topology ? p->topology : "host-host";
}

/* 1024 -> "1k", as plans write sizes. */
static void format_size(double v, char *buf, size_t len) {
  static const char units[] = "kMG";
  unsigned u = 0;
  while (v >= 1024 && fmod(v, 1024) == 0 && u < 3) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%.0f", v);
  else
    snprintf(buf, len, "%.0f%c", v, units[u - 1]);
}

static bool find_program(const char *name) {
  const char *path = getenv("PATH");
  if (!path) path = "/usr/bin:/bin";
  _cleanup_free_ char *copy = strdup(path);
  if (!copy) return false;
  for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s/%s", d, name);
    if (access(full, X_OK) == 0) return true;
  }
  return false;
}

/* A results directory may come from anyone, with symbolic links where
 * coord writes (index.html -> ~/.bashrc) or reads (plan.plan ->
 * ~/.ssh/id_rsa, shown in index.html).  coord never writes through one:
 * a link where a file of its own goes is removed first (the file
 * replaces the link, not its target), and files are created with
 * O_NOFOLLOW. */
static FILE *create_file(const char *path) {
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && unlink(path) < 0) return NULL;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f && fd >= 0) close(fd);
  return f;
}

/* File stems from stored names (workloads) stay this short. */
#define PLOT_NAME_MAX 80
/* Titles and labels in a figure: longer ones end "...". */
#define PLOT_TEXT_MAX 240
/* What fits across the image above the plot. */
#define PLOT_TITLE_MAX 150

static bool name_char(char c) {
  return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

/* A file stem from a figure's name, which holds stored names (a
 * workload): letters, digits, '_', '-' and '.', at most PLOT_NAME_MAX
 * bytes, never "." or "..", so that the file stays in the figures
 * directory.  A name that had to change gets the FNV-1a hash of what it
 * was, so that two names never give one file.  Caller frees. */
static char *file_stem(const char *name) {
  size_t n = strlen(name), keep = n < PLOT_NAME_MAX ? n : PLOT_NAME_MAX;
  bool changed = n != keep || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || n == 0;
  uint32_t h = 2166136261u;
  char *s = malloc(keep + 16);
  if (!s) return NULL;
  for (size_t i = 0; i < n; i++) {
    h = (h ^ (unsigned char)name[i]) * 16777619u;
    if (i < keep) {
      s[i] = name_char(name[i]) ? name[i] : '_';
      changed |= s[i] != name[i];
    }
  }
  s[keep] = '\0';
  if (changed) snprintf(s + keep, 16, "-%08x", h);
  return s;
}

/* Text from the run (names, the uuid) as a gnuplot single-quoted string:
 * gnuplot substitutes neither `command` nor @macro inside one, and ' is
 * written ''.  Control characters are gone already (iov_text_clean()), so
 * no line break ends the command. */
static void gp_quote_max(FILE *f, const char *raw, size_t max) {
  _cleanup_free_ char *s = iov_text_clean(raw, max);
  fputc('\'', f);
  for (const char *c = s ? s : ""; *c; c++) {
    if (*c == '\'') fputc('\'', f);
    fputc(*c, f);
  }
  fputc('\'', f);
}

static void gp_quote(FILE *f, const char *raw) { gp_quote_max(f, raw, PLOT_TEXT_MAX); }

static void note_skip(struct plot_ctx *ctx, const char *fmt, ...) _printf_(2, 3);
static void note_skip(struct plot_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  char **n = s ? realloc(ctx->skipped, (ctx->n_skipped + 1) * sizeof(*n)) : NULL;
  if (!n) {
    free(s);
    return;
  }
  ctx->skipped = n;
  ctx->skipped[ctx->n_skipped++] = s;
}

/* ---- metrics of one repetition ---------------------------------------- */

static double m_gbps(const struct iov_point_summary *p) { return p->window_s > 0 ? p->gbps : NAN; }
/* Packets (UDP datagrams received, else TCP segments sent) in Mpps. */
static double m_mpps(const struct iov_point_summary *p) {
  return (isfinite(p->pps_rx) ? p->pps_rx : p->segs_ps) / 1e6;
}
static double m_line_pct(const struct iov_point_summary *p) { return p->line_pct; }
static double m_tps(const struct iov_point_summary *p) { return p->window_s > 0 ? p->tps : NAN; }
static double m_lat_mean(const struct iov_point_summary *p) { return p->lat_count ? p->lat_mean_us : NAN; }
static double m_lat_p99(const struct iov_point_summary *p) { return p->lat_count ? p->lat_p99_us : NAN; }
static double m_sd_tx_kb(const struct iov_point_summary *p) { return p->sd_tx_us_per_kb; }
static double m_sd_rx_kb(const struct iov_point_summary *p) { return p->sd_rx_us_per_kb; }
static double m_sd_tx_trans(const struct iov_point_summary *p) { return p->sd_tx_us_per_trans; }
static double m_sd_rx_trans(const struct iov_point_summary *p) { return p->sd_rx_us_per_trans; }
/* Trans/s for request/response (transactions or latency, as the report
 * decides), else Gbit/s. */
static double m_throughput(const struct iov_point_summary *p) {
  return p->has_latency || p->transactions > 0 ? m_tps(p) : m_gbps(p);
}
static double m_link_mean(const struct iov_point_summary *p) { return p->n_links ? p->link_mean : NAN; }
static double m_link_min(const struct iov_point_summary *p) { return p->n_links ? p->link_min : NAN; }
static double m_link_max(const struct iov_point_summary *p) { return p->n_links ? p->link_max : NAN; }
static double m_link_fairness(const struct iov_point_summary *p) { return p->link_fairness; }

/* The mean over a point's VMs of one service demand field. */
static double vm_mean(const struct iov_point_summary *p, size_t off) {
  double sum = 0;
  unsigned k = 0;
  for (size_t i = 0; i < p->n_vm_cpu; i++) {
    double v = *(const double *)(const void *)((const char *)&p->vm_cpu[i] + off);
    if (isfinite(v)) {
      sum += v;
      k++;
    }
  }
  return k ? sum / k : NAN;
}
#define VM_METRIC(field)                                           \
  static double m_vm_##field(const struct iov_point_summary *p) {  \
    return vm_mean(p, offsetof(struct iov_vm_cpu_summary, field)); \
  }
VM_METRIC(guest_us_per_kb)
VM_METRIC(host_us_per_kb)
VM_METRIC(total_us_per_kb)
VM_METRIC(guest_us_per_trans)
VM_METRIC(host_us_per_trans)
VM_METRIC(total_us_per_trans)

/* ---- repetitions: statistics over a group ----------------------------- */

static struct iov_stat group_stat(const struct plot_ctx *ctx, const struct group *g, metric_fn get) {
  struct iov_stat st;
  for (size_t i = 0; i < g->n; i++) ctx->scratch[i] = get(g->reps[i]);
  iov_stat_compute(ctx->scratch, g->n, g->level, &st);
  return st;
}

/* The smallest (sign 1) or largest (sign -1) value over the repetitions. */
static double group_extreme(const struct group *g, metric_fn get, int sign) {
  double best = NAN;
  for (size_t i = 0; i < g->n; i++) {
    double v = get(g->reps[i]);
    if (isfinite(v) && (!isfinite(best) || sign * v < sign * best)) best = v;
  }
  return best;
}

/* ---- loading ------------------------------------------------------------ */

/* Each plan point with an ok repetition, from iov_report_groups(): its
 * ok repetitions, in the order they ran. */
static int build_groups(struct plot_ctx *ctx) {
  const struct iov_report *rep = ctx->rep;
  struct iov_point_group *pg = NULL;
  size_t n_pg = 0;
  int r = iov_report_groups(rep, &pg, &n_pg);
  if (r < 0) return r;
  ctx->groups = calloc(n_pg + 1, sizeof(*ctx->groups));
  ctx->scratch = calloc(rep->n_points + 1, sizeof(*ctx->scratch));
  r = ctx->groups && ctx->scratch ? 0 : -ENOMEM;
  for (size_t i = 0; r == 0 && i < n_pg; i++) {
    if (!pg[i].ok) continue;
    struct group *g = &ctx->groups[ctx->n_groups++];
    g->reps = malloc(pg[i].ok * sizeof(*g->reps));
    if (!g->reps) {
      r = -ENOMEM;
      break;
    }
    for (size_t k = 0; k < pg[i].n_members; k++) {
      const struct iov_point_summary *p = &rep->points[pg[i].members[k]];
      if (p->status && strcmp(p->status, "ok") == 0) g->reps[g->n++] = p;
    }
    g->p = pg[i].first;
    g->point_no = pg[i].point_no;
    g->path = resolved_path(g->p);
    g->msg_size = g->p->msg_size ? (double)g->p->msg_size : NAN;
    g->level = pg[i].level;
    g->rr = g->p->has_latency || g->p->transactions > 0; /* as m_throughput() */
  }
  iov_report_groups_free(pg, n_pg);
  return r;
}

/* ---- one figure: data file, script, gnuplot ---------------------------- */

struct fig {
  struct plot_ctx *ctx;
  char *name, *title; /* owned */
  FILE *dat;          /* NAME.dat */
  FILE *setup;        /* memstream: the figure's own settings */
  char *setup_buf;
  size_t setup_len;
  FILE *plot; /* memstream: the plot clauses */
  char *plot_buf;
  size_t plot_len;
  unsigned blocks, clauses;
  bool any_y; /* some value to draw: gnuplot fails on a plot without one */
};

static void fig_done(struct fig *f) {
  if (f->dat) fclose(f->dat);
  if (f->setup) fclose(f->setup);
  if (f->plot) fclose(f->plot);
  free(f->setup_buf);
  free(f->plot_buf);
  free(f->name);
  free(f->title);
  *f = (struct fig){ 0 };
}

static char *out_file(const struct plot_ctx *ctx, const char *name, const char *ext) {
  return xasprintf("%s/%s.%s", ctx->out_dir, name, ext);
}

/* Start figure NAME (a file stem) titled "RUN: WHAT", with axis labels. */
static int fig_open(struct fig *f, struct plot_ctx *ctx, const char *name, const char *what,
                    const char *xlabel, const char *ylabel) {
  *f = (struct fig){ .ctx = ctx };
  _cleanup_free_ char *title = xasprintf("%s: %s", ctx->rep->uuid ? ctx->rep->uuid : "run", what);
  f->name = file_stem(name);
  f->title = title ? iov_text_clean(title, PLOT_TEXT_MAX) : NULL;
  if (!f->name || !f->title) return -ENOMEM;
  _cleanup_free_ char *dat = out_file(ctx, f->name, "dat");
  if (!dat) return -ENOMEM;
  /* gnuplot writes the images: no link of the run's stands there. */
  static const char *const images[] = { "png", "svg" };
  for (size_t i = 0; i < ELEMENTSOF(images); i++) {
    _cleanup_free_ char *img = out_file(ctx, f->name, images[i]);
    struct stat st;
    if (img && lstat(img, &st) == 0 && S_ISLNK(st.st_mode) && unlink(img) < 0)
      return iov_log_errno(-errno,
                           "Cannot remove the symbolic link '%s' (coord plot writes no file through "
                           "one): %m",
                           img);
  }
  f->dat = create_file(dat);
  if (!f->dat) return iov_log_errno(-errno, "Cannot write '%s': %m", dat);
  f->setup = open_memstream(&f->setup_buf, &f->setup_len);
  f->plot = open_memstream(&f->plot_buf, &f->plot_len);
  if (!f->setup || !f->plot) return -ENOMEM;
  fprintf(
      f->dat,
      "# iovbench figure %s: %s\n# '?' = no value (gnuplot: set datafile missing \"?\"); NaN = no error bar"
      " (one repetition)\n",
      f->name, f->title);
  fputs("set xlabel ", f->setup);
  gp_quote(f->setup, xlabel);
  fputs("\nset ylabel ", f->setup);
  gp_quote(f->setup, ylabel);
  fputc('\n', f->setup);
  return 0;
}

static void fig_set(struct fig *f, const char *fmt, ...) _printf_(2, 3);
static void fig_set(struct fig *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f->setup, fmt, ap);
  va_end(ap);
  fputc('\n', f->setup);
}

/* Text from the run in a comment of the data file: one line. */
static void fig_comment(struct fig *f, const char *s) { iov_text_put(f->dat, s, PLOT_TEXT_MAX); }

/* Start the next data block (gnuplot's 'index'): a comment naming it and
 * its columns.  Returns its index. */
static unsigned fig_block(struct fig *f, const char *label, const char *columns) {
  fputs(f->blocks ? "\n\n# " : "\n# ", f->dat);
  fig_comment(f, label);
  fprintf(f->dat, "\n# %s\n", columns);
  return f->blocks++;
}

static void fig_num(struct fig *f, double v) {
  if (isfinite(v))
    fprintf(f->dat, " %.9g", v);
  else
    fputs(" ?", f->dat);
}

/* A value the figure draws on its y axis. */
static void fig_y(struct fig *f, double v) {
  f->any_y |= isfinite(v);
  fig_num(f, v);
}

/* The spread of a mean (CI half-width, sd): NaN when it has none (one
 * repetition), which gnuplot reads as a number, so the point is drawn
 * without an error bar; a '?' would drop the point. */
static void fig_spread(struct fig *f, double v) {
  if (isfinite(v))
    fprintf(f->dat, " %.9g", v);
  else
    fputs(" NaN", f->dat);
}

/* A quoted label column (xtic): data, not script (gnuplot evaluates
 * nothing in it), on one line and with no double quote inside. */
static void fig_label(struct fig *f, const char *raw) {
  _cleanup_free_ char *s = iov_text_clean(raw, PLOT_TEXT_MAX);
  fputc('"', f->dat);
  for (const char *c = s ? s : ""; *c; c++) fputc(*c == '"' ? '\'' : *c, f->dat);
  fputc('"', f->dat);
}

/* One plot clause on data block BLOCK: "using ... with ... title ...". */
static void fig_plot(struct fig *f, unsigned block, const char *title, const char *fmt, ...) _printf_(4, 5);
static void fig_plot(struct fig *f, unsigned block, const char *title, const char *fmt, ...) {
  va_list ap;
  fprintf(f->plot, "%s'%s.dat' index %u ", f->clauses ? ", \\\n     " : "", f->name, block);
  va_start(ap, fmt);
  vfprintf(f->plot, fmt, ap);
  va_end(ap);
  fputs(" title ", f->plot);
  gp_quote(f->plot, title);
  f->clauses++;
}

static void write_terminal(FILE *s, const char *name, const char *fmt) {
  if (strcmp(fmt, "png") == 0)
    fputs("if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
          "  set terminal pngcairo size 1100,650 noenhanced font \"sans,10\"\n"
          "} else {\n"
          "  set terminal png size 1100,650 noenhanced\n"
          "}\n",
          s);
  else
    fputs("set terminal svg size 1100,650 noenhanced font \"sans,11\" background \"#ffffff\"\n", s);
  fprintf(s, "set output '%s.%s'\n", name, fmt);
}

static int fig_write_script(struct fig *f, const char *path) {
  const struct plot_opts *o = &f->ctx->o;
  FILE *s = create_file(path);
  if (!s) return iov_log_errno(-errno, "Cannot write '%s': %m", path);
  fprintf(s, "# iovbench figure %s (coord plot), data in %s.dat.\n", f->name, f->name);
  fputs("# Edit and draw again: cd ", s);
  iov_text_put(s, f->ctx->out_dir, PATH_MAX);
  fprintf(s, " && gnuplot %s.gp\n", f->name);
  fputs("set encoding utf8\nset datafile missing \"?\"\nset title ", s);
  gp_quote_max(s, f->title, PLOT_TITLE_MAX); /* the image's width; index.html has it whole */
  fputs("\nset key outside right top vertical box\nset grid\nset border 3\nset tics nomirror\n", s);
  fwrite(f->setup_buf, 1, f->setup_len, s);
  const char *fmts[2] = { o->png ? "png" : NULL, o->svg ? "svg" : NULL };
  bool first = true;
  for (size_t i = 0; i < 2; i++) {
    if (!fmts[i]) continue;
    write_terminal(s, f->name, fmts[i]);
    if (first)
      fprintf(s, "plot %s\n", f->plot_buf);
    else
      fputs("replot\n", s);
    first = false;
  }
  fputs("unset output\n", s);
  bool bad = ferror(s);
  if (fclose(s) != 0 || bad) return iov_log_errno(-EIO, "Cannot write '%s': %m", path);
  return 0;
}

/* gnuplot's first error line in its output (else the first line). */
static void first_error_line(FILE *log, char *buf, size_t len) {
  char line[1024];
  snprintf(buf, len, "no message");
  bool have = false;
  rewind(log);
  while (fgets(line, sizeof(line), log)) {
    line[strcspn(line, "\n")] = '\0';
    if (strspn(line, " \t^") == strlen(line)) continue;
    bool is_error = strstr(line, " line ") && !strstr(line, "warning:");
    if (!have || is_error) {
      _cleanup_free_ char *clean = iov_text_clean(line, 300);
      snprintf(buf, len, "%s", clean ? clean : "?");
    }
    have = true;
    if (is_error) return;
  }
}

/* gnuplot's warnings go to stderr: they tell of a series it could not draw. */
static void pass_warnings(FILE *log, const char *script) {
  char line[1024];
  rewind(log);
  while (fgets(line, sizeof(line), log))
    if (strstr(line, "warning:")) {
      line[strcspn(line, "\n")] = '\0';
      _cleanup_free_ char *clean = iov_text_clean(line, 300);
      iov_warn("coord plot: gnuplot on %s: %s", script, clean ? clean : "?");
    }
}

static int run_gnuplot(struct plot_ctx *ctx, const char *script) {
  _cleanup_free_ char *cd = NULL;
  size_t n = strlen(ctx->out_dir);
  cd = malloc(2 * n + 8);
  if (!cd) return -ENOMEM;
  /* A gnuplot single-quoted string: ' is written ''. */
  char *w = stpcpy(cd, "cd '");
  for (const char *c = ctx->out_dir; *c; c++) {
    if (*c == '\'') *w++ = '\'';
    *w++ = *c;
  }
  strcpy(w, "'");
  char *argv[] = { "timeout", "-k", "5", PLOT_TIMEOUT_S, "gnuplot", "-e", cd, (char *)script, NULL };
  FILE *log = tmpfile();
  if (!log) return iov_log_errno(-errno, "Cannot make a temporary file for gnuplot's output: %m");
  struct iov_spawn_opts so = { .out_fd = fileno(log), .search_path = true, .die_with_parent = true };
  int status = 0, r;
  pid_t pid = iov_spawn(argv, &so);
  r = pid < 0 ? (int)pid : iov_spawn_wait(pid, &status);
  if (r < 0) {
    fclose(log);
    return iov_log_errno(r, "Cannot run gnuplot on '%s': %m", script);
  }
  int code = iov_spawn_exit_code(status);
  char msg[1024];
  if (code == 124 || code == 137)
    r = iov_log_errno(-ETIME, "gnuplot did not finish '%s' within %s s (is the data file very large?)",
                      script, PLOT_TIMEOUT_S);
  else if (code != 0) {
    first_error_line(log, msg, sizeof(msg));
    r = iov_log_errno(-EIO, "gnuplot failed on '%s' (exit %d): %s", script, code, msg);
  } else if (!ctx->o.quiet)
    pass_warnings(log, script);
  fclose(log);
  return r;
}

/* A figure gnuplot did not finish leaves no image: a broken or empty
 * file would look drawn.  Its script and data stay, to see why. */
static void unlink_images(const struct fig *f) {
  static const char *const exts[] = { "png", "svg" };
  for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
    _cleanup_free_ char *img = out_file(f->ctx, f->name, exts[i]);
    if (img) (void)unlink(img);
  }
}

/* Write the script and draw; the figure is closed either way.  A figure
 * without clauses is skipped (its data file removed). */
static int fig_finish(struct fig *f, const char *why_empty) {
  struct plot_ctx *ctx = f->ctx;
  _cleanup_free_ char *dat = out_file(ctx, f->name, "dat");
  _cleanup_free_ char *gp = out_file(ctx, f->name, "gp");
  int r = 0;
  if (!dat || !gp) {
    fig_done(f);
    return -ENOMEM;
  }
  bool bad = fflush(f->setup) != 0 || fflush(f->plot) != 0 || ferror(f->dat);
  bad |= fclose(f->dat) != 0;
  f->dat = NULL;
  if (bad) {
    r = iov_log_errno(-EIO, "Cannot write '%s' (disk full?)", dat);
  } else if (f->clauses == 0 || !f->any_y) {
    (void)unlink(dat);
    note_skip(ctx, "%s: %s", f->name, f->clauses ? "no value to draw (every one undefined)" : why_empty);
    f->clauses = 0;
  } else {
    r = fig_write_script(f, gp);
    if (r >= 0) r = run_gnuplot(ctx, gp);
    if (r < 0) unlink_images(f);
  }
  if (r >= 0 && f->clauses > 0) {
    struct drawn *n = realloc(ctx->drawn, (ctx->n_drawn + 1) * sizeof(*n));
    if (n) {
      ctx->drawn = n;
      ctx->drawn[ctx->n_drawn++] = (struct drawn){ TAKE_PTR(f->name), TAKE_PTR(f->title) };
    } else
      r = -ENOMEM;
  }
  if (r < 0) ctx->failed = true;
  fig_done(f);
  return r;
}

/* ---- line figures: one series per path (and whatever else varies) ---- */

enum xdim { X_MSG_SIZE, X_VMS, X_FRAME };

static double group_x(const struct group *g, enum xdim x) {
  return x == X_VMS ? g->p->vms : x == X_FRAME ? g->p->frame_bytes : g->msg_size;
}

/* Which groups a figure takes. */
struct filter {
  const char *workload; /* NULL: any */
  const char *topology; /* NULL: any */
  bool vm_only;         /* only VM topologies */
  bool rr, any_kind;    /* request/response or streams, unless any_kind */
  enum xdim x;          /* groups without an x value are left out */
  bool no_frame;        /* only groups whose Ethernet frame is not known */
};

static bool filter_match(const struct filter *f, const struct group *g) {
  if (f->workload && (!g->p->workload || strcmp(f->workload, g->p->workload) != 0)) return false;
  if (f->topology && strcmp(f->topology, topology_of(g->p)) != 0) return false;
  if (f->vm_only && is_host_host(g->p)) return false;
  if (!f->any_kind && f->rr != g->rr) return false;
  if (f->no_frame && isfinite(g->p->frame_bytes)) return false;
  return isfinite(group_x(g, f->x)) && group_x(g, f->x) > 0; /* the size axis is log */
}

/* How the metric's error is shown: the CI of its mean, or the min and max
 * of two other metrics over the repetitions. */
enum err_kind { ERR_CI, ERR_RANGE };

struct line_metric {
  const char *label; /* appended to the series' title ("" for none) */
  const char *col;   /* its columns' names in the data file */
  metric_fn get;
  enum err_kind err;
  metric_fn lo, hi; /* ERR_RANGE */
  bool y2;          /* on the right axis */
};

struct line_spec {
  const char *name, *what, *ylabel, *y2label;
  struct filter filter;
  const struct line_metric *metrics;
  size_t n_metrics;
  unsigned min_x;    /* series with fewer distinct x values are left out */
  bool y2_auto;      /* the right axis from 0 to its data (default: 0..1.05, an index) */
  const char *empty; /* why, when no series is left */
};

struct member {
  const struct group *g;
  char *label;
  size_t series; /* the index of the first member with this label */
  double x;
};

static int cmp_member(const void *a, const void *b) {
  const struct member *x = a, *y = b;
  if (x->series != y->series) return x->series < y->series ? -1 : 1;
  if (x->x != y->x) return x->x < y->x ? -1 : 1;
  return x->g->point_no < y->g->point_no ? -1 : x->g->point_no > y->g->point_no;
}

static bool topology_varies(const struct member *m, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (strcmp(topology_of(m[0].g->p), topology_of(m[i].g->p)) != 0) return true;
  return false;
}

static bool msg_size_varies(const struct member *m, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (m[0].g->msg_size != m[i].g->msg_size) return true;
  return false;
}

/* Whether the members of this topology ran with different VM counts. */
static bool vms_varies(const struct member *m, size_t n, const char *topology) {
  const struct iov_point_summary *first = NULL;
  for (size_t i = 0; i < n; i++) {
    const struct iov_point_summary *p = m[i].g->p;
    if (strcmp(topology_of(p), topology) != 0) continue;
    if (first && p->vms != first->vms) return true;
    if (!first) first = p;
  }
  return false;
}

/* The path, then topology, VMs, message size and test as far as they
 * vary within the figure (the test only when needed to tell two series
 * apart). */
static char *series_label(const struct member *m, size_t n, const struct group *g, enum xdim x, bool test) {
  char size[32];
  char *buf = NULL;
  size_t len = 0;
  FILE *s = open_memstream(&buf, &len);
  if (!s) return NULL;
  fputs(g->path, s);
  if (topology_varies(m, n)) fprintf(s, " %s", topology_of(g->p));
  if (x != X_VMS && !is_host_host(g->p) && vms_varies(m, n, topology_of(g->p)))
    fprintf(s, ", %u VM%s", g->p->vms, g->p->vms == 1 ? "" : "s");
  if (x != X_MSG_SIZE && msg_size_varies(m, n)) {
    format_size(g->msg_size, size, sizeof(size));
    fprintf(s, ", %s B", size);
  }
  if (test) fprintf(s, " (%s)", g->p->test);
  if (fclose(s) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

static int label_members(struct member *m, size_t n, enum xdim x, bool test) {
  for (size_t i = 0; i < n; i++) {
    free(m[i].label);
    m[i].label = series_label(m, n, m[i].g, x, test);
    if (!m[i].label) return -ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    m[i].series = i;
    for (size_t j = 0; j < i; j++)
      if (strcmp(m[i].label, m[j].label) == 0) {
        m[i].series = m[j].series;
        break;
      }
  }
  qsort(m, n, sizeof(*m), cmp_member);
  return 0;
}

static bool has_collision(const struct member *m, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (m[i].series == m[i - 1].series && m[i].x == m[i - 1].x) return true;
  return false;
}

static void free_members(struct member *m, size_t n) {
  for (size_t i = 0; m && i < n; i++) free(m[i].label);
  free(m);
}

static unsigned distinct_x(const struct member *m, size_t n) {
  unsigned k = 0;
  for (size_t i = 0; i < n; i++) k += i == 0 || m[i].x != m[i - 1].x;
  return k;
}

/* Leave out the series with fewer than min_x distinct x values. */
static size_t drop_short_series(struct member *m, size_t n, unsigned min_x) {
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && m[j].series == m[i].series) j++;
    bool keep = distinct_x(m + i, j - i) >= min_x;
    for (size_t k = i; k < j; k++) {
      if (keep) {
        m[w++] = m[k];
      } else
        free(m[k].label);
    }
    i = j;
  }
  return w;
}

/* The groups of the figure, labelled and sorted by series, then x; the
 * labels name only what varies among the series drawn. */
static int select_members(struct plot_ctx *ctx, const struct filter *f, unsigned min_x, struct member **ret,
                          size_t *ret_n) {
  struct member *m = calloc(ctx->n_groups + 1, sizeof(*m));
  size_t n = 0;
  if (!m) return -ENOMEM;
  for (size_t i = 0; i < ctx->n_groups; i++)
    if (filter_match(f, &ctx->groups[i]))
      m[n++] = (struct member){ .g = &ctx->groups[i], .x = group_x(&ctx->groups[i], f->x) };
  int r = label_members(m, n, f->x, false);
  if (r >= 0 && min_x > 1) {
    n = drop_short_series(m, n, min_x);
    r = label_members(m, n, f->x, false);
  }
  if (r >= 0 && has_collision(m, n)) r = label_members(m, n, f->x, true);
  if (r < 0) {
    free_members(m, n);
    return r;
  }
  *ret = m;
  *ret_n = n;
  return 0;
}

static void set_x_axis(struct fig *f, const struct member *m, size_t n, enum xdim x) {
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    lo = fmin(lo, m[i].x);
    hi = fmax(hi, m[i].x);
  }
  if (x == X_VMS) {
    fig_set(f, "set xrange [%g:%g]\nset xtics 1", lo - 0.5, hi + 0.5);
    return;
  }
  /* Log 2, a tic at every size the figure has, named as plans name them. */
  fig_set(f, "set logscale x 2\nset xrange [%g:%g]", lo / 1.6, hi * 1.6);
  fputs("set xtics (", f->setup);
  for (size_t i = 0; i < n; i++) {
    bool seen = false;
    for (size_t j = 0; j < i; j++) seen |= m[j].x == m[i].x;
    if (seen) continue;
    char size[64];
    /* A frame as the plan names it: a mix sits at its mean, named "imix". */
    if (x == X_FRAME) {
      iov_report_frame_label(m[i].g->p, m[i].x, size, sizeof(size));
      fputs(i ? ", " : "", f->setup);
      gp_quote(f->setup, size);
      fprintf(f->setup, " %.17g", m[i].x);
      continue;
    }
    format_size(m[i].x, size, sizeof(size));
    fprintf(f->setup, "%s\"%s\" %.17g", i ? ", " : "", size, m[i].x);
  }
  fputs(")\n", f->setup);
}

static void write_metric_columns(struct fig *f, const struct group *g, const struct line_metric *lm) {
  struct iov_stat st = group_stat(f->ctx, g, lm->get);
  fig_y(f, st.mean);
  if (lm->err == ERR_CI) {
    fig_spread(f, st.half);
    fig_spread(f, st.sd);
  } else {
    fig_num(f, group_extreme(g, lm->lo, 1));
    fig_num(f, group_extreme(g, lm->hi, -1));
  }
  fprintf(f->dat, " %u %.2f", st.n, g->level);
}

static const char *columns_header(const struct line_spec *ls, char *buf, size_t len) {
  size_t w = snprintf(buf, len, "x");
  for (size_t k = 0; k < ls->n_metrics && w < len; k++) {
    const char *l = ls->metrics[k].col;
    w += snprintf(buf + w, len - w,
                  ls->metrics[k].err == ERR_CI ? " %s_mean %s_ci_half %s_sd %s_n %s_level"
                                               : " %s_mean %s_min %s_max %s_n %s_level",
                  l, l, l, l, l);
  }
  return buf;
}

/* The clauses of one series: each metric in the series' colour (its own
 * when the figure has only one series), told apart by dash type and
 * point type.  Columns: x, then 5 per metric. */
static void plot_series(struct fig *f, const struct line_spec *ls, unsigned block, size_t series,
                        const char *label, bool only) {
  static const unsigned pt[] = { 7, 5, 9, 11 };
  for (size_t k = 0; k < ls->n_metrics; k++) {
    const struct line_metric *lm = &ls->metrics[k];
    unsigned c = 2 + 5 * (unsigned)k;
    size_t colour = only ? k + 1 : series + 1; /* one series: a colour per metric */
    _cleanup_free_ char *title = xasprintf("%s%s%s", label, lm->label[0] ? " " : "", lm->label);
    if (!title) continue;
    if (lm->err == ERR_CI)
      fig_plot(f, block, title,
               "using 1:%u:(valid(%u) ? $%u : 0) with yerrorlines lc %zu dt %zu pt %u lw 1.5 ps 1.2%s", c,
               c + 1, c + 1, colour, k + 1, pt[k % 4], lm->y2 ? " axes x1y2" : "");
    else
      fig_plot(f, block, title, "using 1:%u:%u:%u with yerrorlines lc %zu dt %zu pt %u lw 1.5 ps 1.2%s", c,
               c + 1, c + 2, colour, k + 1, pt[k % 4], lm->y2 ? " axes x1y2" : "");
  }
}

static int line_figure(struct plot_ctx *ctx, const struct line_spec *ls) {
  struct member *m = NULL;
  size_t n = 0;
  struct fig f;
  char cols[512];
  int r = select_members(ctx, &ls->filter, ls->min_x, &m, &n);
  if (r < 0) return r;
  const char *xlabel = ls->filter.x == X_VMS     ? "VMs"
                       : ls->filter.x == X_FRAME ? "Ethernet frame (bytes, log2 scale; a mix at its mean)"
                                                 : "message size (bytes, log2 scale)";
  r = fig_open(&f, ctx, ls->name, ls->what, xlabel, ls->ylabel);
  if (r < 0) goto out;
  if (n) set_x_axis(&f, m, n, ls->filter.x);
  if (ls->y2label) {
    fputs("set y2label ", f.setup);
    gp_quote(f.setup, ls->y2label);
    if (ls->y2_auto)
      fig_set(&f, "\nset y2range [0:*]\nset y2tics\nset ytics nomirror");
    else
      fig_set(&f, "\nset y2range [0:1.05]\nset y2tics 0.1\nset ytics nomirror");
  }
  fig_set(&f, "set yrange [0:*]");
  columns_header(ls, cols, sizeof(cols));
  for (size_t i = 0, series = 0; i < n;) {
    size_t j = i;
    while (j < n && m[j].series == m[i].series) j++;
    unsigned b = fig_block(&f, m[i].label, cols);
    for (size_t k = i; k < j; k++) {
      fig_num(&f, m[k].x);
      for (size_t q = 0; q < ls->n_metrics; q++) write_metric_columns(&f, m[k].g, &ls->metrics[q]);
      fprintf(f.dat, "  # point %u, ", m[k].g->point_no + 1);
      fig_comment(&f, m[k].g->p->test);
      fputc('\n', f.dat);
    }
    plot_series(&f, ls, b, series++, m[i].label, m[n - 1].series == m[0].series);
    i = j;
  }
  r = fig_finish(&f, ls->empty ? ls->empty : "no point for it in the run");
out:
  if (r < 0 && f.ctx) fig_done(&f);
  free_members(m, n);
  return r;
}

/* The distinct workloads of the groups a filter takes, in plan order. */
static size_t workloads(const struct plot_ctx *ctx, const struct filter *f, const char **ret, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < ctx->n_groups && n < max; i++) {
    const char *w = ctx->groups[i].p->workload;
    if (!w || !filter_match(f, &ctx->groups[i])) continue;
    bool seen = false;
    for (size_t j = 0; j < n; j++) seen |= strcmp(ret[j], w) == 0;
    if (!seen) ret[n++] = w;
  }
  return n;
}

/* One line figure per workload that the filter takes. */
static void per_workload(struct plot_ctx *ctx, const struct line_spec *tmpl, const char *stem,
                         const char *what, const char *none) {
  const char *w[64];
  size_t n = workloads(ctx, &tmpl->filter, w, ELEMENTSOF(w));
  if (n == 0) note_skip(ctx, "%s: %s", stem, none);
  for (size_t i = 0; i < n; i++) {
    struct line_spec ls = *tmpl;
    _cleanup_free_ char *name = xasprintf("%s-%s", stem, w[i]);
    _cleanup_free_ char *title = xasprintf("%s (%s)", what, w[i]);
    if (!name || !title) {
      ctx->failed = true;
      return;
    }
    ls.name = name;
    ls.what = title;
    ls.filter.workload = w[i];
    (void)line_figure(ctx, &ls);
  }
}

/* ---- the figures ----------------------------------------------------- */

static void fig_bandwidth(struct plot_ctx *ctx) {
  static const struct line_metric gbps[] = { { "", "gbps", m_gbps, ERR_CI, NULL, NULL, false } };
  const struct line_spec ls = {
    .ylabel = "throughput (Gbit/s)",
    .filter = { .x = X_MSG_SIZE },
    .metrics = gbps,
    .n_metrics = 1,
    .min_x = 1,
  };
  per_workload(ctx, &ls, "bandwidth", "bandwidth by message size", "no stream point with a message size");
}

/* Packet rate: by frame size where the frame is known (udp_stream), else
 * by message size (TCP segments), with the share of the line rate on the
 * right axis where it is known. */
static void fig_packets(struct plot_ctx *ctx) {
  static const struct line_metric pps[] = {
    { "Mpps", "mpps", m_mpps, ERR_CI, NULL, NULL, false },
    { "% line", "line_pct", m_line_pct, ERR_CI, NULL, NULL, true },
  };
  const struct line_spec by_frame = {
    .ylabel = "packet rate (Mpps)",
    .y2label = "% of line rate (on the wire)",
    .filter = { .x = X_FRAME },
    .metrics = pps,
    .n_metrics = 2,
    .min_x = 1,
    .y2_auto = true,
  };
  const struct line_spec by_size = {
    .ylabel = "packet rate (Mpps; TCP: segments sent)",
    .filter = { .x = X_MSG_SIZE, .no_frame = true },
    .metrics = pps,
    .n_metrics = 1,
    .min_x = 1,
  };
  /* The line's share on the right axis only where some point has it:
   * gnuplot refuses an axis without a value. */
  const char *w[64];
  size_t nw = workloads(ctx, &by_frame.filter, w, ELEMENTSOF(w));
  if (nw == 0) note_skip(ctx, "packets-frame: no point with a known frame");
  for (size_t i = 0; i < nw; i++) {
    struct line_spec ls = by_frame;
    ls.filter.workload = w[i];
    bool line = false;
    for (size_t k = 0; k < ctx->n_groups; k++)
      line |= filter_match(&ls.filter, &ctx->groups[k]) && isfinite(ctx->groups[k].p->line_pct);
    if (!line) {
      ls.n_metrics = 1;
      ls.y2label = NULL;
    }
    _cleanup_free_ char *name = xasprintf("packets-frame-%s", w[i]);
    _cleanup_free_ char *title = xasprintf("packet rate by frame size (%s)", w[i]);
    if (!name || !title) {
      ctx->failed = true;
      return;
    }
    ls.name = name;
    ls.what = title;
    (void)line_figure(ctx, &ls);
  }
  per_workload(ctx, &by_size, "packets", "packet rate by message size", "no stream point without a frame");
}

static void fig_latency(struct plot_ctx *ctx) {
  static const struct line_metric lat[] = {
    { "mean", "lat_mean_us", m_lat_mean, ERR_CI, NULL, NULL, false },
    { "p99", "lat_p99_us", m_lat_p99, ERR_CI, NULL, NULL, false },
  };
  const struct line_spec ls = {
    .ylabel = "latency (µs)",
    .filter = { .x = X_MSG_SIZE, .rr = true },
    .metrics = lat,
    .n_metrics = 2,
    .min_x = 1,
  };
  per_workload(ctx, &ls, "latency", "request/response latency by message size",
               "no request/response point in the run");
}

static void fig_scaling(struct plot_ctx *ctx) {
  static const struct line_metric m[] = {
    { "aggregate", "total", m_throughput, ERR_CI, NULL, NULL, false },
    { "per VM (mean, min-max)", "per_vm", m_link_mean, ERR_RANGE, m_link_min, m_link_max, false },
    { "fairness", "fairness", m_link_fairness, ERR_CI, NULL, NULL, true },
  };
  for (int rr = 0; rr <= 1; rr++) {
    const struct line_spec ls = {
      .ylabel = rr ? "throughput (trans/s)" : "throughput (Gbit/s)",
      .y2label = "Jain's fairness index across VMs",
      .filter = { .x = X_VMS, .vm_only = true, .rr = rr },
      .metrics = m,
      .n_metrics = 3,
      .min_x = 2,
      .empty = "no path and topology run with several vms values",
    };
    per_workload(ctx, &ls, "scaling", "scaling with the number of VMs",
                 rr ? "no request/response point of a VM topology" : "no stream point of a VM topology");
  }
}

static void fig_intervm(struct plot_ctx *ctx) {
  static const struct line_metric thr[] = { { "", "throughput", m_throughput, ERR_CI, NULL, NULL, false } };
  for (int rr = 0; rr <= 1; rr++) {
    const struct line_spec ls = {
      .ylabel = rr ? "throughput (trans/s)" : "throughput (Gbit/s)",
      .filter = { .x = X_MSG_SIZE, .topology = "vm-vm-same", .rr = rr },
      .metrics = thr,
      .n_metrics = 1,
      .min_x = 1,
    };
    per_workload(ctx, &ls, "intervm", "inter-VM on one host (vm-vm-same) by message size",
                 rr ? "no request/response point with topology vm-vm-same"
                    : "no stream point with topology vm-vm-same");
  }
}

/* CPU cost: a bar per side (and per VM: guest, host, both) for every
 * point, streams in µs per KiB, request/response in µs per transaction. */
struct cpu_bar {
  const char *title;
  metric_fn kb, trans;
  bool vm;
};

static const struct cpu_bar cpu_bars[] = {
  { "sender", m_sd_tx_kb, m_sd_tx_trans, false },
  { "receiver", m_sd_rx_kb, m_sd_rx_trans, false },
  { "guest, per VM", m_vm_guest_us_per_kb, m_vm_guest_us_per_trans, true },
  { "host for the VM, per VM", m_vm_host_us_per_kb, m_vm_host_us_per_trans, true },
  { "guest + host, per VM", m_vm_total_us_per_kb, m_vm_total_us_per_trans, true },
};

static bool cpu_has_data(const struct plot_ctx *ctx, const struct group *g, bool rr, bool vm) {
  for (size_t b = 0; b < ELEMENTSOF(cpu_bars); b++)
    if (cpu_bars[b].vm == vm && group_stat(ctx, g, rr ? cpu_bars[b].trans : cpu_bars[b].kb).n > 0)
      return true;
  return false;
}

static void cpu_label(const struct group *g, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s [%s]", g->p->test, g->p->sweep && *g->p->sweep ? " " : "",
           g->p->sweep ? g->p->sweep : "", g->path);
}

static bool cpu_row_wanted(const struct plot_ctx *ctx, const struct group *g, bool rr, bool vm) {
  return g->rr == rr && (cpu_has_data(ctx, g, rr, false) || (vm && cpu_has_data(ctx, g, rr, true)));
}

static void cpu_row(struct fig *f, const struct group *g, bool rr, bool vm) {
  char label[256];
  cpu_label(g, label, sizeof(label));
  fig_label(f, label);
  for (size_t b = 0; b < ELEMENTSOF(cpu_bars); b++) {
    if (cpu_bars[b].vm && !vm) continue;
    struct iov_stat st = group_stat(f->ctx, g, rr ? cpu_bars[b].trans : cpu_bars[b].kb);
    fig_y(f, st.mean);
    fig_spread(f, st.half);
    fig_spread(f, st.sd);
  }
  fprintf(f->dat, " %zu  # point %u\n", g->n, g->point_no + 1);
}

static void fig_cpu_kind(struct plot_ctx *ctx, bool rr) {
  struct fig f;
  bool vm = false;
  for (size_t i = 0; i < ctx->n_groups; i++)
    vm |= ctx->groups[i].rr == rr && cpu_has_data(ctx, &ctx->groups[i], rr, true);
  if (fig_open(&f, ctx, rr ? "cpu-rr" : "cpu-streams",
               rr ? "CPU cost of request/response: service demand" : "CPU cost of streams: service demand",
               "point [path]",
               rr ? "service demand (µs CPU per transaction)" : "service demand (µs CPU per KiB)") < 0) {
    ctx->failed = true;
    fig_done(&f);
    return;
  }
  /* Point labels stand upright under their bars: gnuplot makes room. */
  fig_set(&f, "set style data histogram\nset style histogram errorbars gap 2 lw 1\n"
              "set style fill solid 0.6 border -1\nset boxwidth 0.9\nset xtics rotate by 90 right\n"
              "set yrange [0:*]\nset grid ytics\nset grid noxtics");
  unsigned b = fig_block(&f, "one row per point, the mean over its ok repetitions",
                         vm ? "label sender_mean ci_half sd receiver_mean ci_half sd guest_mean ci_half sd"
                              " host_mean ci_half sd total_mean ci_half sd n"
                            : "label sender_mean ci_half sd receiver_mean ci_half sd n");
  unsigned rows = 0;
  for (size_t i = 0; i < ctx->n_groups; i++) {
    const struct group *g = &ctx->groups[i];
    if (!cpu_row_wanted(ctx, g, rr, vm)) continue;
    cpu_row(&f, g, rr, vm);
    rows++;
  }
  for (size_t k = 0, col = 2; rows && k < ELEMENTSOF(cpu_bars); k++) {
    if (cpu_bars[k].vm && !vm) continue;
    fig_plot(&f, b, cpu_bars[k].title, "using %zu:(valid(%zu) ? $%zu : 0)%s lc %zu", col, col + 1, col + 1,
             k == 0 ? ":xtic(1)" : "", k + 1);
    col += 3;
  }
  (void)fig_finish(&f,
                   rr ? "no request/response point with CPU samples" : "no stream point with CPU samples");
}

static void fig_cpu(struct plot_ctx *ctx) {
  fig_cpu_kind(ctx, false);
  fig_cpu_kind(ctx, true);
}

/* Time series: the first ok repetition of each point (its others ran the
 * same parameters; every repetition is in results.db and coord report
 * --json).  Rate per sample interval from the summary's bins: the point
 * as a whole, and each link (VM) when there are several.  The summary
 * has no per-flow bins. */
static double bin_rate(bool rr, uint64_t bytes, uint64_t trans, const struct iov_point_bin *bin) {
  double s = bin && bin->t_end_ns > bin->t_start_ns ? (bin->t_end_ns - bin->t_start_ns) / 1e9 : 0;
  if (s <= 0) return NAN;
  return rr ? trans / s : bytes * 8.0 / s / 1e9;
}

static const struct iov_point_bin *bin_by_seq(const struct iov_point_summary *p, uint32_t seq) {
  for (size_t i = 0; i < p->n_bins; i++)
    if (p->bins[i].seq == seq) return &p->bins[i];
  return NULL;
}

static void timeseries_one(struct plot_ctx *ctx, const struct group *g) {
  const struct iov_point_summary *p = g->p;
  struct fig f;
  char name[64], what[512];
  uint64_t t0 = UINT64_MAX;
  for (size_t i = 0; i < p->n_bins; i++)
    if (p->bins[i].t_start_ns < t0) t0 = p->bins[i].t_start_ns;
  snprintf(name, sizeof(name), "timeseries-%03u", g->point_no + 1);
  snprintf(what, sizeof(what), "point %u (%s%s%s, %s %s), repetition 1 of %zu: rate per sample interval",
           g->point_no + 1, p->test, p->sweep && *p->sweep ? " " : "", p->sweep ? p->sweep : "", g->path,
           topology_of(p), g->n);
  const char *unit = g->rr ? "throughput (trans/s)" : "throughput (Gbit/s)";
  if (fig_open(&f, ctx, name, what, "time in the point (s, middle of each sample interval)", unit) < 0) {
    ctx->failed = true;
    fig_done(&f);
    return;
  }
  fig_set(&f, "set yrange [0:*]");
  const char *cols = "t_mid_s rate t_start_s t_end_s seq";
  unsigned b = fig_block(&f, "the point, all flows", cols);
  for (size_t i = 0; i < p->n_bins; i++) {
    const struct iov_point_bin *bin = &p->bins[i];
    fig_num(&f, ((bin->t_start_ns + bin->t_end_ns) / 2.0 - t0) / 1e9);
    fig_y(&f, bin_rate(g->rr, bin->bytes, bin->transactions, bin));
    fig_num(&f, (bin->t_start_ns - t0) / 1e9);
    fig_num(&f, (bin->t_end_ns - t0) / 1e9);
    fprintf(f.dat, " %u\n", bin->seq);
  }
  fig_plot(&f, b, p->n_links > 1 ? "all links" : "the point", "using 1:2 with linespoints lw 2 pt 7 lc 1");
  for (size_t l = 0; p->n_links > 1 && l < p->n_links; l++) {
    const struct iov_link_summary *lk = &p->links[l];
    char label[256];
    snprintf(label, sizeof(label), "link %u: %s -> %s", lk->link, lk->sender ? lk->sender : "?",
             lk->receiver ? lk->receiver : "?");
    b = fig_block(&f, label, cols);
    for (size_t i = 0; i < lk->n_bins; i++) {
      const struct iov_point_bin *bin = bin_by_seq(p, (uint32_t)i + 1);
      fig_num(&f, bin ? ((bin->t_start_ns + bin->t_end_ns) / 2.0 - t0) / 1e9 : NAN);
      fig_y(&f, bin_rate(g->rr, lk->bin_bytes[i], lk->bin_transactions[i], bin));
      fig_num(&f, bin ? (bin->t_start_ns - t0) / 1e9 : NAN);
      fig_num(&f, bin ? (bin->t_end_ns - t0) / 1e9 : NAN);
      fprintf(f.dat, " %zu\n", i + 1);
    }
    fig_plot(&f, b, label, "using 1:2 with linespoints lw 1.5 dt 2 pt 5 lc %zu", l + 2);
  }
  (void)fig_finish(&f, "no sample interval");
}

static void fig_timeseries(struct plot_ctx *ctx) {
  unsigned without = 0;
  for (size_t i = 0; i < ctx->n_groups; i++) {
    if (ctx->groups[i].p->n_bins == 0)
      without++;
    else
      timeseries_one(ctx, &ctx->groups[i]);
  }
  if (without) note_skip(ctx, "timeseries: %u point(s) without sample intervals", without);
}

/* ---- index.html ------------------------------------------------------ */

static void html_escape(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) switch (s[i]) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&#39;", f); break;
    default: fputc(s[i], f);
    }
}

static void html_str(FILE *f, const char *s) {
  if (s) html_escape(f, s, strlen(s));
}

/* A file's text, escaped, in a <pre>; or why it is not there. */
static void html_file(FILE *out, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  FILE *in = fd >= 0 ? fdopen(fd, "r") : NULL;
  struct stat st;
  if (!in && fd >= 0) close(fd);
  if (!in && errno == ELOOP) {
    fputs("<p>(", out);
    html_str(out, path);
    fputs(" is a symbolic link: left out, as it may point anywhere)</p>\n", out);
    return;
  }
  if (in && fstat(fileno(in), &st) == 0 && !S_ISREG(st.st_mode)) {
    fputs("<p>(", out);
    html_str(out, path);
    fputs(" is not a regular file: left out)</p>\n", out);
    fclose(in);
    return;
  }
  if (!in || fstat(fileno(in), &st) < 0) {
    fprintf(out, "<p>(cannot read ");
    html_str(out, path);
    fprintf(out, ": %s)</p>\n", strerror(errno));
    if (in) fclose(in);
    return;
  }
  if (st.st_size > PLOT_HTML_FILE_MAX) {
    fprintf(out, "<p>(");
    html_str(out, path);
    fprintf(out, " is %lld bytes, more than %u: left out)</p>\n", (long long)st.st_size, PLOT_HTML_FILE_MAX);
    fclose(in);
    return;
  }
  char buf[8192];
  size_t n;
  fputs("<pre>", out);
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0) html_escape(out, buf, n);
  fputs("</pre>\n", out);
  fclose(in);
}

static int filter_json(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* By name without ".json", and NAME.json before the directory NAME: a
 * host agent, then its guests. */
static int cmp_inventory(const struct dirent **a, const struct dirent **b) {
  const char *x = (*a)->d_name, *y = (*b)->d_name;
  size_t nx = strlen(x) - (filter_json(*a) ? 5 : 0), ny = strlen(y) - (filter_json(*b) ? 5 : 0);
  int c = strncmp(x, y, nx < ny ? nx : ny);
  if (c != 0 || nx != ny) return c != 0 ? c : nx < ny ? -1 : 1;
  return filter_json(*b) - filter_json(*a);
}

/* RUN/inventory/NAME.json (host agents) and NAME/GUEST.json (their guests). */
static void html_inventory_dir(FILE *out, const char *dir, const char *prefix, int depth) {
  struct dirent **ents = NULL;
  struct stat dst;
  if (lstat(dir, &dst) == 0 && S_ISLNK(dst.st_mode)) {
    fputs("<p>(the inventory directory is a symbolic link: left out, as it may point anywhere)</p>\n", out);
    return;
  }
  int n = scandir(dir, &ents, depth == 0 ? NULL : filter_json, cmp_inventory);
  for (int i = 0; i < n; i++) {
    const char *e = ents[i]->d_name;
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, e);
    struct stat st;
    /* lstat: a symbolic link is neither, and is left out. */
    if (path && e[0] != '.' && lstat(path, &st) == 0) {
      if (S_ISREG(st.st_mode) && filter_json(ents[i])) {
        fputs("<details><summary>", out);
        html_str(out, prefix);
        html_escape(out, e, strlen(e) - 5);
        fputs("</summary>\n", out);
        html_file(out, path);
        fputs("</details>\n", out);
      } else if (S_ISDIR(st.st_mode) && depth == 0) {
        _cleanup_free_ char *sub = xasprintf("%s/", e);
        if (sub) html_inventory_dir(out, path, sub, 1);
      }
    }
    free(ents[i]);
  }
  free(ents);
  if (n < 0 && depth == 0) fprintf(out, "<p>(no inventory directory in the run: %s)</p>\n", strerror(errno));
}

/* Where index.html (in the run directory) finds the figures. */
static char *figures_href(const struct plot_ctx *ctx) {
  char run[PATH_MAX], out[PATH_MAX];
  if (!realpath(ctx->run_dir, run) || !realpath(ctx->out_dir, out)) return strdup(ctx->out_dir);
  size_t n = strlen(run);
  if (strncmp(out, run, n) == 0 && out[n] == '/') return strdup(out + n + 1);
  if (strcmp(out, run) == 0) return strdup(".");
  return strdup(out);
}

static void html_time(FILE *f, uint64_t ns) {
  char buf[64];
  time_t t = (time_t)(ns / IOV_NSEC_PER_SEC);
  struct tm tm;
  if (ns && gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm))
    fputs(buf, f);
  else
    fputs("-", f);
}

static void html_head(FILE *f, const struct plot_ctx *ctx) {
  const struct iov_report *r = ctx->rep;
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>iovbench run ", f);
  html_str(f, r->uuid);
  fputs("</title>\n<style>body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}"
        "img{max-width:100%;border:1px solid #ccc}pre{background:#f6f6f6;padding:.5em;overflow:auto}"
        "td,th{text-align:left;padding:.1em 1em .1em 0}</style>\n</head><body>\n<h1>iovbench run ",
        f);
  html_str(f, r->uuid);
  fputs("</h1>\n<table>\n<tr><th>status</th><td>", f);
  html_str(f, r->status);
  if (r->error) {
    fputs(": ", f);
    html_str(f, r->error);
  }
  fputs("</td></tr>\n<tr><th>started</th><td>", f);
  html_time(f, r->started_ns);
  fputs("</td></tr>\n<tr><th>ended</th><td>", f);
  html_time(f, r->ended_ns);
  fputs("</td></tr>\n<tr><th>plan</th><td>", f);
  html_str(f, r->plan_path);
  size_t ok = 0;
  for (size_t i = 0; i < ctx->n_groups; i++) ok += ctx->groups[i].n;
  fprintf(f,
          "</td></tr>\n<tr><th>points</th><td>%zu repetitions stored, %zu ok, of %zu plan points</td></tr>\n",
          r->n_points, ok, ctx->n_groups);
  fputs(
      "</table>\n<p>Error bars: the confidence interval of the mean over a point's ok repetitions (95 %, or "
      "the plan's confidence level); none for a point with one. Data and gnuplot scripts are next to the "
      "images.</p>\n",
      f);
}

static int write_index(struct plot_ctx *ctx, char **ret_path) {
  _cleanup_free_ char *path = xasprintf("%s/index.html", ctx->run_dir);
  _cleanup_free_ char *href = figures_href(ctx);
  _cleanup_free_ char *plan = xasprintf("%s/plan.plan", ctx->run_dir);
  _cleanup_free_ char *inv = xasprintf("%s/inventory", ctx->run_dir);
  if (!path || !href || !plan || !inv) return -ENOMEM;
  FILE *f = create_file(path);
  if (!f) return iov_log_errno(-errno, "Cannot write '%s': %m", path);
  html_head(f, ctx);
  fputs("<h2>Figures</h2>\n", f);
  for (size_t i = 0; i < ctx->n_drawn; i++) {
    fputs("<figure><img src=\"", f);
    html_str(f, href);
    fputc('/', f);
    html_str(f, ctx->drawn[i].name);
    fprintf(f, ".%s\" alt=\"", ctx->o.svg ? "svg" : "png");
    html_str(f, ctx->drawn[i].title);
    fputs("\"><figcaption>", f);
    html_str(f, ctx->drawn[i].title);
    fputs("</figcaption></figure>\n", f);
  }
  if (ctx->n_skipped) fputs("<p>Not drawn:</p>\n<ul>\n", f);
  for (size_t i = 0; i < ctx->n_skipped; i++) {
    fputs("<li>", f);
    html_str(f, ctx->skipped[i]);
    fputs("</li>\n", f);
  }
  if (ctx->n_skipped) fputs("</ul>\n", f);
  fputs("<h2>Plan</h2>\n", f);
  html_file(f, plan);
  fputs("<h2>Inventory</h2>\n", f);
  html_inventory_dir(f, inv, "", 0);
  fputs("</body></html>\n", f);
  bool bad = ferror(f);
  if (fclose(f) != 0 || bad) return iov_log_errno(-EIO, "Cannot write '%s' (disk full?)", path);
  *ret_path = TAKE_PTR(path);
  return 0;
}

/* ---- rate searches ----------------------------------------------------- */

/* Per searched point: each trial's loss against the rate it offered,
 * short trials and full-length ones apart. */
#define SEARCH_FIGURES_MAX 256

static void fig_search_trials(struct plot_ctx *ctx) {
  const struct iov_report *r = ctx->rep;
  unsigned last = UINT_MAX;
  /* Every point with trials, also a search not finished yet (stopped, to
   * be resumed): the trials come by point_no. */
  unsigned drawn = 0;
  for (size_t i = 0; i < r->n_trials; i++) {
    unsigned no = r->trials[i].point_no;
    if (no == last) continue;
    last = no;
    /* A figure (and a gnuplot) per point: a bound on what a results.db
     * can ask for. */
    if (drawn++ == SEARCH_FIGURES_MAX) {
      note_skip(ctx, "search: more than %d searched points, the rest not drawn", SEARCH_FIGURES_MAX);
      break;
    }
    const struct iov_point_summary *p = iov_report_search_point(r, no);
    double frame_mean = NAN;
    for (size_t k = 0; k < r->n_searches; k++)
      if (r->searches[k].point_no == no) frame_mean = r->searches[k].frame_mean;
    char frame[64], name[32], what[256];
    iov_report_frame_label(p, frame_mean, frame, sizeof(frame));
    snprintf(name, sizeof(name), "search-%03u", no + 1);
    snprintf(what, sizeof(what), "rate search of point %u (%s, %s, frame %s)", no + 1,
             p && p->test ? p->test : "?", p ? resolved_path(p) : "?", frame);
    struct fig f;
    if (fig_open(&f, ctx, name, what, "rate, offered and as sent (Mpps, all flows)",
                 "loss (% of datagrams sent)") < 0) {
      ctx->failed = true;
      fig_done(&f);
      continue;
    }
    fig_set(&f, "set yrange [0:*]\nset xrange [0:*]\nset grid");
    /* Full-length trials first: the short ones, open, stay visible on top. */
    for (int full = 1; full >= 0; full--) {
      unsigned b = UINT_MAX, n = 0, n_sent = 0;
      for (size_t k = 0; k < r->n_trials; k++) {
        const struct iov_db_trial *t = &r->trials[k];
        if (t->point_no != no || t->full != (bool)full) continue;
        if (b == UINT_MAX)
          b = fig_block(&f, full ? "full-length trials" : "short trials",
                        "offered_mpps loss_pct rep seq sent received lost sent_mpps");
        fig_num(&f, t->offered_pps / 1e6);
        double loss = t->sent ? (double)t->lost / (double)t->sent * 100.0 : NAN;
        fig_y(&f, loss);
        /* A clause needs a value (gnuplot refuses one without). */
        n += isfinite(loss) && isfinite(t->offered_pps);
        fprintf(f.dat, " %u %u %llu %llu %llu", t->rep, t->seq, (unsigned long long)t->sent,
                (unsigned long long)t->received, (unsigned long long)t->lost);
        /* The rate the sender reached: left of its offered rate, the
         * sender's limit, not the path's. */
        double sent = t->duration_ns ? (double)t->sent / ((double)t->duration_ns / 1e9) : NAN;
        fig_num(&f, sent / 1e6);
        n_sent += isfinite(loss) && isfinite(sent);
        fputc('\n', f.dat);
      }
      if (n)
        fig_plot(&f, b, full ? "full-length trials, offered" : "short trials, offered",
                 "using 1:2 with points pt %d ps 1.5 lc %d", full ? 7 : 6, full ? 1 : 2);
      if (n_sent)
        fig_plot(&f, b, full ? "full-length trials, as sent" : "short trials, as sent",
                 "using 8:2 with points pt %d ps 1.2 lc %d", full ? 9 : 8, full ? 1 : 2);
    }
    (void)fig_finish(&f, "no trial stored");
  }
}

/* NDR and PDR by frame size, one figure per path and topology: the mean
 * over a point's repetitions, x at the mean frame (a mix's tic named as
 * the plan names it). */
struct ndr_point {
  const struct iov_point_summary *p;
  unsigned point_no;
  double frame, mpps[2];
  unsigned n[2];
};

static int cmp_ndr_point(const void *x, const void *y) {
  const struct ndr_point *a = x, *b = y;
  /* An unknown frame (NaN) sorts last: compared as equal to every frame,
   * it would make the order inconsistent and qsort's result undefined. */
  if (isnan(a->frame) != isnan(b->frame)) return isnan(a->frame) ? 1 : -1;
  return a->frame < b->frame ? -1 : a->frame > b->frame;
}

static void fig_ndr(struct plot_ctx *ctx) {
  const struct iov_report *r = ctx->rep;
  if (!r->n_searches) {
    note_skip(ctx, "ndr: no rate search in the run");
    return;
  }
  _cleanup_free_ struct ndr_point *pts = calloc(r->n_searches, sizeof(*pts));
  _cleanup_free_ bool *done = calloc(r->n_searches, sizeof(*done));
  size_t n = 0;
  if (!pts || !done) {
    ctx->failed = true;
    return;
  }
  for (size_t i = 0; i < r->n_searches; i++) {
    const struct iov_search_summary *s = &r->searches[i];
    struct ndr_point *w = NULL;
    for (size_t j = 0; j < n && !w; j++)
      if (pts[j].point_no == s->point_no) w = &pts[j];
    if (!w) {
      w = &pts[n++];
      w->point_no = s->point_no;
      w->p = iov_report_search_point(r, s->point_no);
      w->frame = w->p && isfinite(w->p->frame_bytes) ? w->p->frame_bytes : s->frame_mean;
    }
    if (isfinite(s->rate_pps)) {
      w->mpps[s->pdr] += s->rate_pps / 1e6;
      w->n[s->pdr]++;
    }
  }
  qsort(pts, n, sizeof(*pts), cmp_ndr_point);
  for (size_t i = 0; i < n; i++) {
    if (done[i] || !pts[i].p || !isfinite(pts[i].frame)) continue;
    const char *path = resolved_path(pts[i].p), *topo = topology_of(pts[i].p);
    _cleanup_free_ char *name = xasprintf("ndr-%s-%s", path, topo);
    _cleanup_free_ char *what = xasprintf("NDR and PDR by frame size (%s, %s)", path, topo);
    struct fig f;
    if (!name || !what ||
        fig_open(&f, ctx, name, what, "Ethernet frame (bytes, log2 scale)", "rate (Mpps)") < 0) {
      ctx->failed = true;
      if (name && what) fig_done(&f);
      return;
    }
    double lo = pts[i].frame, hi = pts[i].frame;
    unsigned b = fig_block(&f, "one row per searched point: mean over its repetitions",
                           "frame_mean ndr_mpps pdr_mpps point");
    fputs("set xtics (", f.setup);
    unsigned tics = 0;
    bool any[2] = { false, false }; /* gnuplot refuses a clause without a value */
    for (size_t j = i; j < n; j++) {
      const struct ndr_point *q = &pts[j];
      if (done[j] || !q->p || !isfinite(q->frame) || strcmp(resolved_path(q->p), path) != 0 ||
          strcmp(topology_of(q->p), topo) != 0)
        continue;
      done[j] = true;
      lo = fmin(lo, q->frame);
      hi = fmax(hi, q->frame);
      char label[64];
      iov_report_frame_label(q->p, q->frame, label, sizeof(label));
      fprintf(f.setup, "%s", tics++ ? ", " : "");
      gp_quote(f.setup, label);
      fprintf(f.setup, " %.17g", q->frame);
      fig_num(&f, q->frame);
      fig_y(&f, q->n[0] ? q->mpps[0] / q->n[0] : NAN);
      fig_y(&f, q->n[1] ? q->mpps[1] / q->n[1] : NAN);
      any[0] |= q->n[0] > 0;
      any[1] |= q->n[1] > 0;
      fprintf(f.dat, " %u\n", q->point_no + 1);
    }
    fputs(")\n", f.setup);
    fig_set(&f, "set logscale x 2\nset xrange [%g:%g]\nset yrange [0:*]\nset grid", lo / 1.3, hi * 1.3);
    if (any[0]) fig_plot(&f, b, "NDR (no loss)", "using 1:2 with linespoints pt 7 lw 1.5 lc 1");
    if (any[1]) fig_plot(&f, b, "PDR (loss <= pdr_loss)", "using 1:3 with linespoints pt 5 lw 1.5 lc 2 dt 2");
    (void)fig_finish(&f, "no searched point with a frame");
  }
}

/* ---- the command ----------------------------------------------------- */

static void help(void) {
  printf("Usage: coord plot RUN [--out DIR] [--format png,svg] [-q]\n"
         "Draw the figures of a stored run with gnuplot and write RUN/index.html.\n"
         "RUN is a run directory or its results.db.\n"
         "\n"
         "  -o, --out DIR      where the figures go (default RUN/figures)\n"
         "  -f, --format LIST  png, svg, or png,svg (the default)\n"
         "  -q, --quiet        print only errors\n"
         "  -h, --help         this help\n"
         "\n"
         "Figures, each skipped (and said so) when the run has no data for it:\n"
         "  bandwidth-WORKLOAD  Gbit/s by message size, streams; a series per path and topology\n"
         "  latency-WORKLOAD    mean and p99 latency by message size, request/response\n"
         "  cpu-streams, cpu-rr service demand: sender, receiver, and per VM guest, host, total\n"
         "  scaling-WORKLOAD    VM topologies by VMs: aggregate, per VM (min-max), fairness\n"
         "  intervm-WORKLOAD    vm-vm-same by message size\n"
         "  timeseries-NNN      rate per sample interval of the first ok repetition of point NNN\n"
         "  packets-frame-WORKLOAD, packets-WORKLOAD  Mpps by frame size (and %% of line rate),\n"
         "                      or by message size where no frame is known (TCP: segments)\n"
         "  search-NNN          a rate search (plan 'search'): loss against offered Mpps per trial\n"
         "  ndr-PATH-TOPOLOGY   NDR and PDR (Mpps) by frame size\n"
         "Only repetitions with status ok count.  Error bars are the confidence interval of\n"
         "the mean over a point's repetitions (95 %%, or the plan's confidence level).\n"
         "Each figure is NAME.png and NAME.svg with its data (NAME.dat) and gnuplot script\n"
         "(NAME.gp) beside them.  Needs gnuplot (Debian: apt-get install gnuplot-nox).\n");
}

static int parse_formats(const char *arg, struct plot_opts *o) {
  o->png = o->svg = false;
  _cleanup_free_ char *copy = strdup(arg);
  if (!copy) return -ENOMEM;
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (strcmp(t, "png") == 0)
      o->png = true;
    else if (strcmp(t, "svg") == 0)
      o->svg = true;
    else {
      iov_err("coord plot: unknown format '%s' in --format (png, svg, or png,svg).", t);
      return -EINVAL;
    }
  }
  if (!o->png && !o->svg) {
    iov_err("coord plot: --format needs png, svg, or png,svg.");
    return -EINVAL;
  }
  return 0;
}

/* 0, 2 for a usage error, or -1 after --help. */
static int parse_args(int argc, char **argv, struct plot_opts *o) {
  static const struct option opts[] = {
    { "out", required_argument, NULL, 'o' },
    { "format", required_argument, NULL, 'f' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { 0, 0, 0, 0 },
  };
  *o = (struct plot_opts){ .png = true, .svg = true };
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:f:qh", opts, NULL)) != -1) switch (c) {
    case 'o': o->out = optarg; break;
    case 'f':
      if (parse_formats(optarg, o) < 0) return 2;
      break;
    case 'q': o->quiet = true; break;
    case 'h': help(); return -1;
    default: iov_err("Try 'coord plot --help'."); return 2;
    }
  if (optind != argc - 1) {
    iov_err("coord plot: expected one RUN (a run directory or its results.db). Try 'coord plot --help'.");
    return 2;
  }
  o->run = argv[optind];
  return 0;
}

/* RUN -> its directory and results.db. */
static int resolve_run(struct plot_ctx *ctx, char **ret_db) {
  struct stat st;
  const char *run = ctx->o.run;
  if (stat(run, &st) < 0) return iov_log_errno(-errno, "Cannot open run '%s': %m", run);
  if (S_ISDIR(st.st_mode)) {
    ctx->run_dir = strdup(run);
    *ret_db = xasprintf("%s/results.db", run);
    if (!ctx->run_dir || !*ret_db) return -ENOMEM;
    if (access(*ret_db, R_OK) < 0)
      return iov_log_errno(-errno, "'%s' has no readable results.db (%m): not a run directory of coord run",
                           run);
  } else {
    _cleanup_free_ char *copy = strdup(run);
    const char *slash = copy ? strrchr(copy, '/') : NULL;
    ctx->run_dir = !copy   ? NULL
                   : slash ? strndup(copy, slash == copy ? 1 : (size_t)(slash - copy))
                           : strdup(".");
    *ret_db = strdup(run);
    if (!ctx->run_dir || !*ret_db) return -ENOMEM;
  }
  return 0;
}

/* gnuplot is told to cd to the figures directory in a one-line command. */
static bool path_ok(const char *path) {
  for (const char *c = path; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) {
      _cleanup_free_ char *shown = iov_text_clean(path, PATH_MAX);
      iov_log_errno(-EINVAL,
                    "The figures directory '%s' has a control character (a line break?) in its path, which "
                    "gnuplot cannot use: give another with --out DIR",
                    shown ? shown : "?");
      return false;
    }
  return true;
}

/* The figures directory, made once there is something to draw. */
static int make_out_dir(struct plot_ctx *ctx) {
  ctx->out_dir = ctx->o.out ? strdup(ctx->o.out) : xasprintf("%s/figures", ctx->run_dir);
  if (!ctx->out_dir) return -ENOMEM;
  if (!path_ok(ctx->out_dir)) return -EINVAL;
  struct stat st;
  if (!ctx->o.out && lstat(ctx->out_dir, &st) == 0 && S_ISLNK(st.st_mode))
    return iov_log_errno(
        -ELOOP,
        "'%s' is a symbolic link: coord plot writes figures only into a directory of the run "
        "itself, not through a link that may point anywhere (remove it, or give --out DIR)",
        ctx->out_dir);
  if (mkdir(ctx->out_dir, 0755) < 0 && errno != EEXIST)
    return iov_log_errno(-errno, "Cannot create the figures directory '%s': %m", ctx->out_dir);
  /* Absolute: gnuplot runs in it, and the scripts name it. */
  char *abs = realpath(ctx->out_dir, NULL);
  if (!abs) return iov_log_errno(-errno, "Cannot use the figures directory '%s': %m", ctx->out_dir);
  free(ctx->out_dir);
  ctx->out_dir = abs;
  if (!path_ok(abs)) return -EINVAL;
  return 0;
}

static int load_run(struct plot_ctx *ctx, const char *db_path, struct iov_db **db, struct iov_report **rep) {
  char err[512];
  int r = iov_db_open_readonly(db_path, db, err, sizeof(err));
  if (r < 0)
    return iov_log_errno(r, "Cannot open results database '%s': %s (is '%s' a run directory?)", db_path, err,
                         ctx->o.run);
  r = iov_report_load(*db, rep, err, sizeof(err));
  if (r < 0) return iov_log_errno(r, "Cannot read the run from '%s': %s", db_path, err);
  ctx->rep = *rep;
  r = build_groups(ctx);
  if (r < 0) return iov_log_errno(r, "Cannot group the repetitions of '%s': %m", db_path);
  if (ctx->n_groups == 0 && rep[0]->n_points == 0)
    return iov_log_errno(-ENODATA,
                         "Run '%s' has no stored point (it stopped before its first?): nothing to "
                         "plot, no figure written",
                         ctx->o.run);
  if (ctx->n_groups == 0) {
    const struct iov_point_summary *p = &rep[0]->points[0];
    _cleanup_free_ char *first = iov_text_clean(p->error ? p->error : "no error recorded", 200);
    return iov_log_errno(-ENODATA,
                         "Run '%s' has no point with status ok: all %zu run%s of its points failed (the "
                         "first: %s): nothing to plot, no figure written ('coord report %s' shows why each "
                         "failed)",
                         ctx->o.run, rep[0]->n_points, rep[0]->n_points == 1 ? "" : "s", first ? first : "?",
                         ctx->o.run);
  }
  return 0;
}

static void print_result(const struct plot_ctx *ctx, const char *index) {
  if (ctx->o.quiet) return;
  for (size_t i = 0; i < ctx->n_drawn; i++) {
    const struct drawn *d = &ctx->drawn[i];
    if (ctx->o.png && ctx->o.svg)
      printf("%s/%s.{png,svg}  %s\n", ctx->out_dir, d->name, d->title);
    else
      printf("%s/%s.%s  %s\n", ctx->out_dir, d->name, ctx->o.png ? "png" : "svg", d->title);
  }
  for (size_t i = 0; i < ctx->n_skipped; i++) printf("skipped %s\n", ctx->skipped[i]);
  if (index) printf("%s\n", index);
}

static void ctx_done(struct plot_ctx *ctx) {
  for (size_t i = 0; i < ctx->n_groups; i++) free(ctx->groups[i].reps);
  for (size_t i = 0; i < ctx->n_drawn; i++) {
    free(ctx->drawn[i].name);
    free(ctx->drawn[i].title);
  }
  for (size_t i = 0; i < ctx->n_skipped; i++) free(ctx->skipped[i]);
  free(ctx->groups);
  free(ctx->scratch);
  free(ctx->drawn);
  free(ctx->skipped);
  free(ctx->run_dir);
  free(ctx->out_dir);
}

int iov_coord_plot(int argc, char **argv) {
  struct plot_ctx ctx = { 0 };
  struct iov_db *db = NULL;
  struct iov_report *rep = NULL;
  _cleanup_free_ char *db_path = NULL, *index = NULL;
  int r = parse_args(argc, argv, &ctx.o);
  if (r != 0) return r < 0 ? 0 : r;
  if (!find_program("gnuplot")) {
    iov_err("coord plot: gnuplot is not installed (not in PATH): install gnuplot-nox "
            "(apt-get install gnuplot-nox)");
    return 1;
  }
  if (!find_program("timeout")) {
    iov_err("coord plot: timeout is not in PATH: install coreutils");
    return 1;
  }
  r = resolve_run(&ctx, &db_path);
  if (r >= 0) r = load_run(&ctx, db_path, &db, &rep);
  if (r >= 0) r = make_out_dir(&ctx);
  if (r >= 0) {
    fig_bandwidth(&ctx);
    fig_packets(&ctx);
    fig_latency(&ctx);
    fig_cpu(&ctx);
    fig_scaling(&ctx);
    fig_intervm(&ctx);
    fig_timeseries(&ctx);
    fig_search_trials(&ctx);
    fig_ndr(&ctx);
    r = write_index(&ctx, &index);
    print_result(&ctx, index);
  }
  bool ok = r >= 0 && !ctx.failed;
  if (r >= 0 && ctx.failed) iov_err("coord plot: some figures could not be drawn (see above)");
  iov_report_free(rep);
  iov_db_close(db);
  ctx_done(&ctx);
  return ok ? 0 : 1;
}
