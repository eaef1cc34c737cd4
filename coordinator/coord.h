/* coord: the command a person runs.  main.c parses the command line into
 * these configs; run.c runs a plan (with sessions.c, point.c and
 * ingest.c); inspect.c validates a plan and prints a stored run; the
 * other modules are their parts. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "local.h"

struct iov_run_config {
  const char *plan_path;
  const char *results_dir; /* parent of the run directory */
  enum iov_local_mode local_mode;
  uint64_t connect_timeout_ns; /* 0: the plan's timeout of its first point */
  bool quiet;
  /* coord run --resume RUN: the run directory whose missing points to run
   * (its plan is the stored copy; plan_path is ignored). */
  const char *resume_dir;
  /* Authentication (coordinator/trust.h): agents that run plaintext may be
   * used; where coord's keys and known_agents are (NULL = default). */
  bool plaintext;
  const char *key_dir;
};

/* Run a plan.  Returns 0 when every point succeeded, 1 when some failed,
 * or a negative error when the run could not be carried out. */
int iov_coord_run(const struct iov_run_config *cfg);
/* Check a plan and print its expanded test matrix.  0, or -IOV_E_PLAN. */
int iov_coord_validate(const char *plan_path, bool quiet);
/* Print a stored run: RUN is a run directory or its results.db.  The
 * table (one row per plan point, the mean over its runs) and the study's
 * tables; with TABLE_RUNS also every run; or JSON, or CSV (every run). */
enum iov_report_format { IOV_REPORT_TABLE, IOV_REPORT_TABLE_RUNS, IOV_REPORT_JSON, IOV_REPORT_CSV };
int iov_coord_report(const char *run, enum iov_report_format format);

/* coord plot RUN [OPTIONS] (coordinator/plot.c) and coord compare RUN_A
 * RUN_B [OPTIONS] (coordinator/compare.c): argv[0] is the command word;
 * each parses its own options and prints its own --help.  They return
 * the process exit status. */
int iov_coord_plot(int argc, char **argv);
int iov_coord_compare(int argc, char **argv);
