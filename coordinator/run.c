/* coord run: connect to the plan's host agents and, through them, their
 * guests (coordinator/sessions.c); run every test point in turn
 * (coordinator/point.c), each as often as repeat and confidence ask, and
 * the points a resumed run still misses; store everything and print the
 * table.
 *
 * A point whose agents report an error is stored as failed and the run
 * goes on; an agent that falls silent ends the run (its name in the
 * message), since every later point would wait for it too.  What was
 * measured before is committed already. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "engine.h"
#include "err.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"
#include "point.h"
#include "report.h"
#include "runctx.h"
#include "search.h"
#include "sessions.h"
#include "stats.h"

static void progress_break(void *arg) { iov_progress_break(arg); }

/* The primary figure of each stored, successful repetition of plan point
 * point_no: trans/s where transactions count, else Gbit/s.  Into vals
 * (at most max); their count into *ret_n. */
static int rep_values(struct run_ctx *c, unsigned point_no, double *vals, size_t max, size_t *ret_n,
                      bool *ret_tps, char *err, size_t errlen) {
  struct iov_report *rep = NULL;
  int r = iov_report_load_point(c->db, point_no, &rep, err, errlen);
  *ret_n = 0;
  *ret_tps = false;
  if (r < 0) return r == -ENOENT ? 0 : r;
  for (size_t i = 0; i < rep->n_points && *ret_n < max; i++) {
    const struct iov_point_summary *p = &rep->points[i];
    if (!p->status || strcmp(p->status, "ok") != 0) continue;
    bool tps = p->transactions > 0 || p->has_latency;
    *ret_tps = tps;
    vals[(*ret_n)++] = tps ? p->tps : p->gbps;
  }
  iov_report_free(rep);
  return 0;
}

/* confidence = LEVEL,WIDTH: whether the interval of the point's mean is
 * narrow enough after 'runs' runs; stored (and said) when it is, or when
 * the runs are used up. */
static int check_confidence(struct run_ctx *c, const struct iov_plan_point *pp, double level, double width,
                            unsigned runs, unsigned most, bool *ret_reached) {
  double vals[1000];
  size_t n = 0;
  bool tps = false;
  char err[512] = "";
  int r = rep_values(c, pp->index, vals, sizeof(vals) / sizeof(vals[0]), &n, &tps, err, sizeof(err));
  if (r < 0) return iov_log_errno(r, "Cannot read the point's runs back: %s", err);
  struct iov_stat s;
  iov_stat_compute(vals, n, level, &s);
  bool reached = s.n >= 2 && isfinite(s.half) && s.half <= width * fabs(s.mean);
  *ret_reached = reached;
  if (!reached && runs < most) return 0;
  const char *unit = tps ? "trans/s" : "Gbit/s";
  if (reached)
    iov_info("point %u: %.0f %% confidence interval within +-%.1f %% after %u runs: %.4g +- %.2g %s",
             pp->index + 1, level * 100, width * 100, runs, s.mean, s.half, unit);
  else
    iov_warn(
        "point %u: after %u runs (repeat_max) the %.0f %% confidence interval is +-%.1f %% of the mean, not "
        "within +-%.1f %%: %.4g +- %.2g %s",
        pp->index + 1, runs, level * 100, isfinite(s.half) && s.mean != 0 ? 100 * s.half / fabs(s.mean) : NAN,
        width * 100, s.mean, s.half, unit);
  r = iov_db_confidence_set(c->db, c->db_run, pp->index, level, width, runs, s.mean, s.half, reached, err,
                            sizeof(err));
  if (r < 0) iov_log_errno(r, "Cannot store the confidence reached: %s", err);
  return 0;
}

/* ---- the run --------------------------------------------------------- */

static int make_run_dir(const char *parent, const char *plan_path, char **ret) {
  char stamp[32], stem[64], *dir = NULL;
  time_t now = time(NULL);
  struct tm tm;
  const char *base = strrchr(plan_path, '/');

  base = base ? base + 1 : plan_path;
  snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(base, "."), base);
  localtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  if (mkdir(parent, 0755) < 0 && errno != EEXIST) return -errno;
  for (int n = 1; n < 100; n++) {
    free(dir);
    if ((n == 1 ? asprintf(&dir, "%s/%s-%s", parent, stamp, stem)
                : asprintf(&dir, "%s/%s-%s-%d", parent, stamp, stem, n)) < 0)
      return -ENOMEM;
    if (mkdir(dir, 0755) == 0) {
      *ret = dir;
      return 0;
    }
    if (errno != EEXIST) {
      int r = -errno;
      free(dir);
      return r;
    }
  }
  free(dir);
  return -EEXIST;
}

static int open_signal_fd(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  return signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
}

int iov_coord_run(const struct iov_run_config *cfg) {
  struct run_ctx c = { .cfg = cfg, .signal_fd = -1 };
  char path[4096], err[512] = "";
  int r;

  _cleanup_free_ char *resume_plan = NULL, *resume_uuid = NULL;
  _cleanup_free_ unsigned *stored = NULL, *stored_failed = NULL;
  unsigned next_idx = 0;
  const char *plan_path = cfg->plan_path;
  if (cfg->resume_dir && asprintf(&resume_plan, "%s/plan.plan", cfg->resume_dir) < 0) return -ENOMEM;
  if (cfg->resume_dir) plan_path = resume_plan;
  r = iov_plan_load(plan_path, iov_engine_plan_workloads(), &c.plan, err, sizeof(err));
  if (r < 0) {
    iov_err("%s", err);
    if (cfg->resume_dir)
      iov_err("%s is not a run directory to resume (it needs plan.plan and results.db)", cfg->resume_dir);
    return r;
  }
  c.signal_fd = open_signal_fd();
  if (c.signal_fd < 0) iov_warn("cannot watch signals: %s; Ctrl-C will not clean up", strerror(errno));

  if (cfg->resume_dir) {
    c.dir = strdup(cfg->resume_dir);
    if (!c.dir) {
      r = -ENOMEM;
      goto out;
    }
  } else {
    r = make_run_dir(cfg->results_dir, cfg->plan_path, &c.dir);
    if (r < 0) {
      iov_log_errno(r, "Cannot create a run directory under '%s': %m (choose another with --results)",
                    cfg->results_dir);
      goto out;
    }
  }
  const char *run_id = strrchr(c.dir, '/') ? strrchr(c.dir, '/') + 1 : c.dir;
  c.run_id = run_id;
  if (!cfg->resume_dir) {
    snprintf(path, sizeof(path), "%s/plan.plan", c.dir);
    if ((r = iov_write_file(path, c.plan->text, 0666)) < 0) {
      iov_log_errno(r, "Cannot write %s: %m", path);
      goto out;
    }
  }
  snprintf(path, sizeof(path), "%s/logs", c.dir);
  if (mkdir(path, 0755) < 0 && errno != EEXIST) {
    r = iov_log_errno(-errno, "Cannot create %s: %m", path);
    goto out;
  }
  snprintf(path, sizeof(path), "%s/results.db", c.dir);
  if (cfg->resume_dir && access(path, F_OK) < 0) {
    r = iov_log_errno(-errno, "Cannot resume %s: no results.db there (%m)", c.dir);
    goto out;
  }
  r = iov_db_open(path, &c.db, err, sizeof(err));
  if (r < 0) {
    iov_log_errno(r, "Cannot %s the results database %s: %s", cfg->resume_dir ? "open" : "create", path,
                  err[0] ? err : iov_strerror(r));
    goto out;
  }
  stored = calloc(c.plan->n_points, sizeof(*stored));
  stored_failed = calloc(c.plan->n_points, sizeof(*stored_failed));
  if (!stored || !stored_failed) {
    r = -ENOMEM;
    goto out;
  }
  if (cfg->resume_dir) {
    r = iov_db_run_resume(c.db, &c.db_run, &resume_uuid, err, sizeof(err));
    if (r >= 0)
      r = iov_db_points_stored(c.db, c.db_run, stored, stored_failed, c.plan->n_points, &next_idx, err,
                               sizeof(err));
    if (r < 0) {
      iov_log_errno(r, "Cannot resume the run in %s: %s", path, err);
      goto out;
    }
    c.run_id = resume_uuid;
    size_t done = 0;
    for (size_t i = 0; i < c.plan->n_points; i++) {
      done += stored[i] >= c.plan->points[i].p.repeat;
      c.failed_points += stored_failed[i];
    }
    if (!cfg->quiet)
      iov_notice("resuming run %s: %zu of %zu test points are stored, %zu to run, results in %s", c.run_id,
                 done, c.plan->n_points, c.plan->n_points - done, c.dir);
  } else {
    r = iov_db_run_begin(c.db, run_id, cfg->plan_path, c.plan->text, iov_now_real(), &c.db_run, err,
                         sizeof(err));
    if (r < 0) {
      iov_log_errno(r, "Cannot store the run: %s", err);
      goto out;
    }
  }
  if (!cfg->quiet && !cfg->resume_dir)
    iov_notice("run %s: %zu test points, results in %s", run_id, c.plan->n_points, c.dir);

  snprintf(path, sizeof(path), "%s/logs", c.dir);
  r = iov_local_start(c.plan, cfg->local_mode, path, &c.local);
  if (r == -IOV_E_INTERRUPTED) c.interrupted = true;
  if (r < 0) goto out;
  if (*iov_local_describe(c.local) && !cfg->quiet) iov_notice("%s", iov_local_describe(c.local));

  c.hb_ns = c.plan->points[0].p.heartbeat;
  c.next_hb = iov_now_mono() + c.hb_ns;
  uint64_t connect_timeout = cfg->connect_timeout_ns ? cfg->connect_timeout_ns : c.plan->points[0].p.timeout;
  uint64_t measure = 0;
  for (size_t i = 0; i < c.plan->n_points; i++) {
    const struct iov_point_params *q = &c.plan->points[i].p;
    uint64_t one = q->warmup + q->duration, worst = 0;
    if (iov__search_what(q)) iov__search_time(q, &one, &worst); /* a search: its usual length */
    if (stored[i] < q->repeat) measure += one * (q->repeat - stored[i]);
  }
  iov_progress_init(&c.pg, stderr, cfg->quiet, measure);
  iov_log_set_before(progress_break, &c.pg);
  r = iov__sessions_connect(&c, connect_timeout);
  if (r < 0) goto out;
  r = iov__sessions_store_agents(&c);
  if (r < 0) goto out;

  for (size_t i = 0; i < c.plan->n_points; i++) {
    const struct iov_plan_point *pp = &c.plan->points[i];
    double level = 0, width = 0;
    (void)iov_plan_confidence(pp->p.confidence, &level, &width);
    unsigned want = (unsigned)pp->p.repeat,
             most = level > 0 && pp->p.repeat_max > want ? (unsigned)pp->p.repeat_max : want;
    unsigned done = stored[i]; /* resumed: those ran before */
    bool stop = false;
    for (;;) {
      if (done >= want) {
        if (level <= 0) break;
        bool reached = false;
        r = check_confidence(&c, pp, level, width, done, most, &reached);
        if (r < 0) goto out;
        if (reached || done >= most) break;
      }
      enum iov_point_status st = IOV_POINT_FAILED;
      char d[32], runs[48] = "", head[256];
      if (most > 1)
        snprintf(runs, sizeof(runs), ", run %u of %s%u", done + 1, most > want ? "up to " : "", most);
      snprintf(head, sizeof(head), "[%zu/%zu] %s%s%s: %s %s -> %s, %s%s", i + 1, c.plan->n_points, pp->test,
               *pp->sweep ? " " : "", pp->sweep, pp->p.workload, pp->p.sender, pp->p.receiver,
               iov_format_duration(d, sizeof(d), pp->p.duration), runs);
      const struct iov_engine_ops *ops = iov_engine_find(pp->p.workload);
      if (iov__search_what(&pp->p)) {
        /* Each repetition is one search; each trial its own progress line. */
        r = iov__search_point(&c, pp, &next_idx, done, &st);
      } else {
        iov_progress_point(&c.pg, head, pp->p.warmup + pp->p.duration, ops && (ops->flags & IOV_ENG_F_RR));
        r = iov__point_run(&c, pp, next_idx++, done, &st);
        iov_progress_done(&c.pg, st == IOV_POINT_OK);
      }
      done++;
      if (st != IOV_POINT_OK) c.failed_points++;
      if (r < 0) goto out;
      if (st != IOV_POINT_OK && pp->p.on_error_id == IOV_ON_ERROR_STOP) {
        iov_err("test point %zu failed and the plan says on_error = stop: the run ends here", i + 1);
        stop = true;
        break;
      }
    }
    if (stop) break;
  }
  r = 0;

out:
  iov_progress_break(&c.pg);
  iov_log_set_before(NULL, NULL);
  iov__sessions_end(&c);
  c.local = iov_local_stop(c.local);
  if (c.db && c.db_run) {
    const char *status = c.interrupted     ? "interrupted"
                         : r < 0           ? "failed"
                         : c.failed_points ? "partial"
                                           : "ok";
    (void)iov_db_run_end(c.db, c.db_run, status, r < 0 ? iov_strerror(r) : NULL, iov_now_real(), NULL, 0);
  }
  if (c.db) {
    struct iov_report *rep = NULL;
    if (iov_report_load(c.db, &rep, NULL, 0) == 0 && rep->n_points > 0) {
      iov_report_print_table(rep, stdout);
      fflush(stdout);
    }
    iov_report_free(rep);
  }
  c.db = iov_db_close(c.db);
  if (c.dir && !cfg->quiet) iov_notice("results in %s", c.dir);
  if (c.interrupted) {
    iov_warn("interrupted; what was measured so far is kept in %s", c.dir ? c.dir : "(nothing)");
    r = -IOV_E_INTERRUPTED;
  }
  free(c.dir);
  iov_plan_free(c.plan);
  if (c.signal_fd >= 0) close(c.signal_fd);
  if (r < 0) return r;
  return c.failed_points ? 1 : 0;
}
