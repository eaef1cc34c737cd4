/* coord validate and coord report: a plan checked and its test matrix
 * printed, a stored run printed (coordinator/coord.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coord.h"
#include "engine.h"
#include "err.h"
#include "frame.h"
#include "log.h"
#include "macro.h"
#include "parse.h"
#include "plan.h"
#include "report.h"
#include "results.h"
#include "search.h"
#include "text.h"
#include "timeutil.h"

/* The expanded test matrix, one row per point: every column as wide as
 * its widest name (iov_text_table()), so that a long test name does not
 * push the rest of its row out of line. */
static void print_matrix(const struct iov_plan *plan) {
  enum { COLS = 13 };
  /* "#" as wide as 4 digits: a row starts with blanks, then its number. */
  static const char *const head[COLS] = { "   #",     "test",     "workload", "sender", "receiver",
                                          "topology", "vms",      "flows",    "msg",    "resp",
                                          "duration", "interval", "sweep" };
  static const bool right[COLS] = { true, false, false, false, false, false, true,
                                    true, true,  true,  true,  true,  false };
  size_t rows = plan->n_points + 1;
  char **cells = calloc(rows * COLS, sizeof(*cells));
  bool ok = cells != NULL;
  for (size_t c = 0; ok && c < COLS; c++) ok = (cells[c] = strdup(head[c])) != NULL;
  for (size_t i = 0; ok && i < plan->n_points; i++) {
    const struct iov_plan_point *p = &plan->points[i];
    char **row = cells + (i + 1) * COLS, s1[32], s2[32], d[32], iv[32];
    char n0[24], n6[24], n7[24];
    snprintf(n0, sizeof(n0), "%zu", i + 1);
    snprintf(n6, sizeof(n6), "%" PRIu64, p->p.vms);
    snprintf(n7, sizeof(n7), "%" PRIu64, p->p.flows);
    row[0] = strdup(n0);
    row[6] = strdup(n6);
    row[7] = strdup(n7);
    row[1] = strdup(p->test ? p->test : "");
    row[2] = strdup(p->p.workload ? p->p.workload : "");
    row[3] = strdup(p->p.sender ? p->p.sender : "");
    row[4] = strdup(p->p.receiver ? p->p.receiver : "");
    row[5] = strdup(p->p.topology ? p->p.topology : "");
    /* A frame_size point sends the frame's payload, not msg_size. */
    uint64_t frame = 0;
    char fr[48];
    if (iov_plan_setting_get(&p->p, "frame_size", &frame) && frame) {
      char f[40];
      snprintf(fr, sizeof(fr), "frame %s", iov_frame_format(frame, f, sizeof(f)));
      row[8] = strdup(fr);
    } else
      row[8] = strdup(iov_format_size(s1, sizeof(s1), p->p.msg_size));
    row[9] = strdup(iov_format_size(s2, sizeof(s2), p->p.response_size));
    row[10] = strdup(iov_format_duration(d, sizeof(d), p->p.duration));
    row[11] = strdup(iov_format_duration(iv, sizeof(iv), p->p.sample_interval));
    row[12] = strdup(p->sweep ? p->sweep : "");
    for (size_t c = 0; c < COLS; c++) ok &= row[c] != NULL;
  }
  putchar('\n');
  if (ok)
    iov_text_table(stdout, cells, rows, COLS, right, 64); /* a test name has at most 63 */
  else
    printf("(out of memory: no matrix)\n");
  for (size_t i = 0; cells && i < rows * COLS; i++) free(cells[i]);
  free(cells);
}

int iov_coord_validate(const char *plan_path, bool quiet) {
  struct iov_plan *plan = NULL;
  char err[512] = "", d[32];
  int r = iov_plan_load(plan_path, iov_engine_plan_workloads(), &plan, err, sizeof(err));

  if (r < 0) {
    iov_err("%s", err);
    return r;
  }
  if (!quiet) {
    uint64_t total = 0, most = 0;
    printf("%s: %zu hosts, %zu test points\n", plan_path, plan->n_hosts, plan->n_points);
    int hw = 12;
    for (size_t i = 0; i < plan->n_hosts; i++)
      if ((int)strlen(plan->hosts[i].name) > hw) hw = (int)strlen(plan->hosts[i].name);
    for (size_t i = 0; i < plan->n_hosts; i++) {
      const struct iov_plan_host *h = &plan->hosts[i];
      printf("  host %-*s %s%s%s", hw, h->name, h->endpoint, h->data_addr ? "  data " : "",
             h->data_addr ? h->data_addr : "");
      if (h->guests) printf("  %s %u guests", h->local ? "simulates" : "needs", h->guests);
      printf("\n");
    }
    print_matrix(plan);
    uint64_t search_typ = 0, search_worst = 0;
    size_t searches = 0;
    for (size_t i = 0; i < plan->n_points; i++) {
      const struct iov_plan_point *p = &plan->points[i];
      double level = 0;
      (void)iov_plan_confidence(p->p.confidence, &level, NULL);
      uint64_t typ = 0, worst = 0;
      iov__search_time(&p->p, &typ, &worst);
      if (worst) {
        /* A search runs trials, not one window: counted apart. */
        searches++;
        search_typ += typ * p->p.repeat;
        search_worst += worst * p->p.repeat;
        continue;
      }
      total += (p->p.warmup + p->p.duration) * p->p.repeat;
      if (level > 0 && p->p.repeat_max > p->p.repeat)
        most += (p->p.warmup + p->p.duration) * (p->p.repeat_max - p->p.repeat);
    }
    printf("\n");
    if (searches < plan->n_points) {
      printf("measuring time: %s", iov_format_duration(d, sizeof(d), total));
      if (most) printf(", up to %s more for confidence", iov_format_duration(d, sizeof(d), most));
      printf(" (warm-up and window of every run; plus set-up per point)\n");
    } else
      printf("measuring time: "); /* every point searches: the line below is all of it */
    if (searches) {
      char w[32];
      printf("rate searches (%zu points): about %s, at most %s (trials with their set-up)\n", searches,
             iov_format_duration(d, sizeof(d), search_typ), iov_format_duration(w, sizeof(w), search_worst));
    }
  }
  iov_plan_free(plan);
  return 0;
}

int iov_coord_report(const char *run, enum iov_report_format format) {
  char path[4096];
  struct stat st;
  struct iov_db *db = NULL;
  struct iov_report *rep = NULL;
  int r;

  if (stat(run, &st) < 0) return iov_log_errno(-errno, "Cannot open run '%s': %m", run);
  if (S_ISDIR(st.st_mode))
    snprintf(path, sizeof(path), "%s/results.db", run);
  else
    snprintf(path, sizeof(path), "%s", run);
  char err[512] = "";
  r = iov_db_open_readonly(path, &db, err, sizeof(err));
  if (r < 0)
    return iov_log_errno(r, "Cannot open results database '%s': %s (is '%s' a run directory?)", path,
                         err[0] ? err : iov_strerror(r), run);
  r = iov_report_load(db, &rep, err, sizeof(err));
  if (r < 0)
    iov_log_errno(r, "Cannot read the run from '%s': %s", path, err);
  else if (format == IOV_REPORT_JSON)
    r = iov_report_print_json(rep, stdout);
  else if (format == IOV_REPORT_CSV)
    r = iov_report_print_csv(rep, stdout);
  else {
    iov_report_print_table(rep, stdout);
    if (format == IOV_REPORT_TABLE_RUNS) iov_report_print_runs(rep, stdout);
    iov_report_print_study(rep, stdout);
  }
  iov_report_free(rep);
  iov_db_close(db);
  return r;
}
