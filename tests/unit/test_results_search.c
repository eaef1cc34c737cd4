/* Unit tests for the rate-search rows of coordinator/results.c, against a
 * real SQLite file: trial and search rows written and read back, a
 * search's trial points unseen by the readers of measurements and by
 * resume's counts, the flip of a trial to the point's measurement, rows
 * of a hostile results.db refused with the table and row named, TCP
 * segment counters stored, and a results.db of schema 6 read as it is
 * and migrated when opened for writing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "results.h"

#define T0 UINT64_C(1700000000000000000)
#define SEC UINT64_C(1000000000)

static char dberr[512];

#define assert_ok(expr)                                          \
  do {                                                           \
    int r_ = (expr);                                             \
    if (r_ < 0) print_error("%s = %d (%s)\n", #expr, r_, dberr); \
    assert_int_equal(r_, 0);                                     \
  } while (0)

struct fixture {
  char dir[64];
  char path[128];
};

static int setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));

  if (!fx) return -1;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/iov-test-search.XXXXXX");
  if (!mkdtemp(fx->dir)) {
    free(fx);
    return -1;
  }
  snprintf(fx->path, sizeof(fx->path), "%s/results.db", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
  struct fixture *fx = *state;
  char p[160];

  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
    (void)unlink(p);
  }
  (void)rmdir(fx->dir);
  free(fx);
  return 0;
}

static void sql(const char *path, const char *text) {
  sqlite3 *s = NULL;
  char *msg = NULL;

  assert_int_equal(sqlite3_open(path, &s), SQLITE_OK);
  if (sqlite3_exec(s, text, NULL, NULL, &msg) != SQLITE_OK) print_error("%s: %s\n", text, msg);
  assert_null(msg);
  sqlite3_close(s);
}

static int64_t count_rows(const char *path, const char *text) {
  sqlite3 *s = NULL;
  sqlite3_stmt *st = NULL;
  int64_t n;

  assert_int_equal(sqlite3_open_v2(path, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(s, text, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(s);
  return n;
}

/* One point with a sender and a receiver flow and their results:
 * sent datagrams, received and lost; TCP segments on the sender. */
static int64_t add_point(struct iov_db *db, int64_t run, int64_t agent, unsigned idx, unsigned point_no,
                         unsigned trial, uint64_t sent, uint64_t received, uint64_t lost) {
  struct iov_db_point p = {
    .idx = idx, .point_no = point_no, .test = "udp_stream", .workload = "udp_stream", .trial = trial
  };
  int64_t point, tx, rx;

  assert_ok(iov_db_point_begin(db, run, &p, &point, dberr, sizeof(dberr)));
  assert_ok(iov_db_flow_add(db, point, agent, "sender", 0, &tx, dberr, sizeof(dberr)));
  assert_ok(iov_db_flow_add(db, point, agent, "receiver", 0, &rx, dberr, sizeof(dberr)));
  struct iov_db_sample s = { .seq = 1,
                             .t_start_ns = T0,
                             .t_end_ns = T0 + SEC,
                             .messages = sent,
                             .segs_out = 4000 + idx,
                             .segs_in = 2000 + idx };
  assert_ok(iov_db_sample_add(db, tx, &s, dberr, sizeof(dberr)));
  struct iov_db_result r = { .messages = sent,
                             .t_start_ns = T0,
                             .t_end_ns = T0 + SEC,
                             .samples = 1,
                             .segs_out = 4000 + idx,
                             .segs_in = 2000 + idx };
  assert_ok(iov_db_result_add(db, tx, &r, dberr, sizeof(dberr)));
  r = (struct iov_db_result){ .messages = received, .lost = lost, .t_start_ns = T0, .t_end_ns = T0 + SEC };
  assert_ok(iov_db_result_add(db, rx, &r, dberr, sizeof(dberr)));
  assert_ok(iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  return point;
}

struct seen {
  unsigned n;
  unsigned idx[8], trial[8];
  struct iov_db_trial trials[8];
  struct iov_db_search searches[4];
  char kinds[4][4];
  uint64_t segs_out, segs_in;
};

static int point_cb(const struct iov_db_point_row *row, void *userdata) {
  struct seen *s = userdata;
  if (s->n < 8) {
    s->idx[s->n] = row->idx;
    s->trial[s->n] = row->trial;
  }
  s->n++;
  return 0;
}

static int trial_cb(void *arg, const struct iov_db_trial *t) {
  struct seen *s = arg;
  if (s->n < 8) s->trials[s->n] = *t;
  s->n++;
  return 0;
}

static int search_cb(void *arg, const struct iov_db_search *x) {
  struct seen *s = arg;
  if (s->n < 4) {
    s->searches[s->n] = *x;
    snprintf(s->kinds[s->n], sizeof(s->kinds[s->n]), "%s", x->kind);
    s->searches[s->n].kind = s->kinds[s->n];
  }
  s->n++;
  return 0;
}

static int flow_cb(const struct iov_db_flow_row *row, void *userdata) {
  struct seen *s = userdata;
  s->segs_out += row->segs_out;
  s->segs_in += row->segs_in;
  s->n++;
  return 0;
}

/* A run of one ordinary point (point_no 0) and a search (point_no 1) of
 * three trials, the third of them full-length and passing. */
static void make_run(const char *path, int64_t *ret_run, int64_t trial_point[3]) {
  struct iov_db *db = NULL;
  int64_t run, agent;

  assert_ok(iov_db_open(path, &db, dberr, sizeof(dberr)));
  assert_ok(iov_db_run_begin(db, "u", NULL, NULL, T0, &run, dberr, sizeof(dberr)));
  assert_ok(iov_db_agent_add(db, run, "a", NULL, NULL, NULL, &agent, dberr, sizeof(dberr)));
  add_point(db, run, agent, 0, 0, 0, 100, 100, 0);
  for (unsigned i = 0; i < 3; i++) {
    trial_point[i] = add_point(db, run, agent, 1 + i, 1, 1 + i, 1000 * (i + 1), 1000 * (i + 1) - 10 * (2 - i),
                               10 * (2 - i));
    struct iov_db_trial t = {
      .point_id = trial_point[i],
      .point_no = 1,
      .rep = 0,
      .seq = 1 + i,
      .full = i == 2,
      .offered_wire_bps = 1e9 / (i + 1),
      .offered_pps = 1488095.0 / (i + 1),
      .duration_ns = (i == 2 ? 10 : 1) * SEC,
      .sent = 1000 * (i + 1),
      .received = 1000 * (i + 1) - 10 * (2 - i),
      .lost = 10 * (2 - i),
    };
    assert_ok(iov_db_trial_add(db, &t, dberr, sizeof(dberr)));
  }
  iov_db_close(db);
  *ret_run = run;
}

static void test_trials_and_searches(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  int64_t run, tp[3];
  struct seen seen = { 0 };

  make_run(fx->path, &run, tp);
  assert_ok(iov_db_open(fx->path, &db, dberr, sizeof(dberr)));

  /* The readers of measurements see the ordinary point only. */
  assert_ok(iov_db_points_read(db, run, -1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 1);
  assert_int_equal(seen.idx[0], 0);
  assert_int_equal(seen.trial[0], 0);
  seen = (struct seen){ 0 };
  assert_ok(iov_db_points_read(db, run, 1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 0);
  /* Resume: the search has only trials, so it counts as not run; the
   * next point row goes after the trials. */
  unsigned stored[2] = { 0, 0 }, failed[2] = { 0, 0 }, next_idx = 0;
  assert_ok(iov_db_points_stored(db, run, stored, failed, 2, &next_idx, dberr, sizeof(dberr)));
  assert_int_equal(stored[0], 1);
  assert_int_equal(stored[1], 0);
  assert_int_equal(next_idx, 4);
  /* The trial points, for those who ask. */
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trial_points_read(db, run, 1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 3);
  for (unsigned i = 0; i < 3; i++) {
    assert_int_equal(seen.idx[i], 1 + i);
    assert_int_equal(seen.trial[i], 1 + i);
  }

  /* Trials come back as stored, in order, filtered by point and rep. */
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trials_read(db, run, 1, 0, trial_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 3);
  for (unsigned i = 0; i < 3; i++) {
    const struct iov_db_trial *t = &seen.trials[i];
    assert_int_equal(t->point_id, tp[i]);
    assert_int_equal(t->point_no, 1);
    assert_int_equal(t->seq, 1 + i);
    assert_int_equal(t->full, i == 2);
    assert_true(t->offered_wire_bps == 1e9 / (i + 1));
    assert_true(t->offered_pps == 1488095.0 / (i + 1));
    assert_int_equal(t->duration_ns, (i == 2 ? 10 : 1) * SEC);
    assert_int_equal(t->sent, 1000 * (i + 1));
    assert_int_equal(t->received + t->lost, t->sent);
  }
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trials_read(db, run, -1, -1, trial_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 3);
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trials_read(db, run, 0, -1, trial_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 0);
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trials_read(db, run, 1, 1, trial_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 0);

  /* A point's packet totals, from its flows' results. */
  uint64_t sent = 0, received = 0, lost = 0;
  assert_ok(iov_db_point_totals(db, tp[1], &sent, &received, &lost, dberr, sizeof(dberr)));
  assert_int_equal(sent, 2000);
  assert_int_equal(received, 1990);
  assert_int_equal(lost, 10);
  assert_int_equal(iov_db_point_totals(db, 9999, &sent, &received, &lost, dberr, sizeof(dberr)), -ENOENT);

  /* Where the search ended. */
  struct iov_db_search ndr = {
    .point_no = 1,
    .kind = "ndr",
    .converged = true,
    .rate_pps = 496031.7,
    .rate_bps = 253968230.4,
    .wire_bps = 333333333.3,
    .line_pct = NAN,
    .frame_mean = 64,
    .loss = 0,
    .trials = 3,
    .seconds = 12.5,
    .point_id = tp[2],
  };
  struct iov_db_search pdr = ndr;
  pdr.kind = "pdr";
  pdr.converged = false;
  pdr.rate_pps = 744047.5;
  pdr.line_pct = 50;
  pdr.loss = 0.005;
  pdr.point_id = 0;
  assert_ok(iov_db_search_set(db, run, &pdr, dberr, sizeof(dberr)));
  assert_ok(iov_db_search_set(db, run, &ndr, dberr, sizeof(dberr)));
  /* Replaced, not added. */
  assert_ok(iov_db_search_set(db, run, &ndr, dberr, sizeof(dberr)));
  seen = (struct seen){ 0 };
  assert_ok(iov_db_searches_read(db, run, search_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 2);
  assert_string_equal(seen.searches[0].kind, "ndr");
  assert_true(seen.searches[0].converged);
  assert_true(seen.searches[0].rate_pps == 496031.7);
  assert_true(seen.searches[0].rate_bps == 253968230.4);
  assert_true(seen.searches[0].wire_bps == 333333333.3);
  assert_true(isnan(seen.searches[0].line_pct));
  assert_true(seen.searches[0].frame_mean == 64);
  assert_true(seen.searches[0].loss == 0);
  assert_int_equal(seen.searches[0].trials, 3);
  assert_true(seen.searches[0].seconds == 12.5);
  assert_int_equal(seen.searches[0].point_id, tp[2]);
  assert_string_equal(seen.searches[1].kind, "pdr");
  assert_false(seen.searches[1].converged);
  assert_true(seen.searches[1].line_pct == 50);
  assert_true(seen.searches[1].loss == 0.005);
  assert_int_equal(seen.searches[1].point_id, 0);

  /* Bad values are refused before anything is stored. */
  struct iov_db_search bad = ndr;
  bad.kind = "xyz";
  assert_int_equal(iov_db_search_set(db, run, &bad, dberr, sizeof(dberr)), -EINVAL);
  assert_non_null(strstr(dberr, "kind"));
  bad = ndr;
  bad.rate_pps = NAN;
  assert_int_equal(iov_db_search_set(db, run, &bad, dberr, sizeof(dberr)), -EINVAL);
  bad = ndr;
  bad.wire_bps = -1;
  assert_int_equal(iov_db_search_set(db, run, &bad, dberr, sizeof(dberr)), -EINVAL);
  bad = ndr;
  bad.loss = 1.5;
  assert_int_equal(iov_db_search_set(db, run, &bad, dberr, sizeof(dberr)), -EINVAL);
  struct iov_db_trial bt = { .point_id = tp[0], .point_no = 1, .seq = 0 };
  assert_int_equal(iov_db_trial_add(db, &bt, dberr, sizeof(dberr)), -EINVAL);
  bt.seq = 1;
  bt.offered_pps = NAN;
  assert_int_equal(iov_db_trial_add(db, &bt, dberr, sizeof(dberr)), -EINVAL);
  bt.offered_pps = -1;
  assert_int_equal(iov_db_trial_add(db, &bt, dberr, sizeof(dberr)), -EINVAL);
  bt.offered_pps = 1;
  bt.sent = IOV_DB_COUNT_MAX + 1;
  assert_int_equal(iov_db_trial_add(db, &bt, dberr, sizeof(dberr)), -ERANGE);
  bt.sent = 1;
  bt.point_id = 9999;
  assert_int_equal(iov_db_trial_add(db, &bt, dberr, sizeof(dberr)), -ENOENT);
  assert_non_null(strstr(dberr, "9999"));
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM trial"), 3);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM search"), 2);

  /* The search ends: its last full passing trial becomes the point's
   * measurement, seen by every reader, and resume counts it. */
  assert_ok(iov_db_point_set_trial(db, tp[2], 0, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_point_set_trial(db, 9999, 0, dberr, sizeof(dberr)), -ENOENT);
  seen = (struct seen){ 0 };
  assert_ok(iov_db_points_read(db, run, -1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 2);
  assert_int_equal(seen.idx[1], 3);
  assert_int_equal(seen.trial[1], 0);
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trial_points_read(db, run, -1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 2);
  stored[0] = stored[1] = 0;
  assert_ok(iov_db_points_stored(db, run, stored, failed, 2, &next_idx, dberr, sizeof(dberr)));
  assert_int_equal(stored[1], 1);
  assert_int_equal(failed[1], 0);
  assert_int_equal(next_idx, 4);
  /* Its trial row stays: the loss-against-rate figure has all three. */
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trials_read(db, run, 1, -1, trial_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 3);

  /* TCP segments, summed over the sender's result and read back. */
  seen = (struct seen){ 0 };
  assert_ok(iov_db_flows_read(db, tp[2], flow_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 2);
  assert_int_equal(seen.segs_out, 4003);
  assert_int_equal(seen.segs_in, 2003);
  assert_int_equal(count_rows(fx->path, "SELECT SUM(segs_out) FROM sample"), 4000 + 4001 + 4002 + 4003);
  iov_db_close(db);
}

/* Run a reader on a freshly corrupted file: it must fail with
 * -IOV_E_DB and a reason naming the table and the column. */
static void expect_refused(const char *path, int64_t run, bool searches, const char *corrupt,
                           const char *table, const char *column) {
  struct iov_db *db = NULL;
  struct seen seen = { 0 };
  int r;

  sql(path, corrupt);
  assert_ok(iov_db_open_readonly(path, &db, dberr, sizeof(dberr)));
  dberr[0] = '\0';
  if (searches)
    r = iov_db_searches_read(db, run, search_cb, &seen, dberr, sizeof(dberr));
  else
    r = iov_db_trials_read(db, run, -1, -1, trial_cb, &seen, dberr, sizeof(dberr));
  if (r != -IOV_E_DB) print_error("%s: %d (%s)\n", corrupt, r, dberr);
  assert_int_equal(r, -IOV_E_DB);
  if (!strstr(dberr, table) || !strstr(dberr, column)) print_error("%s: '%s'\n", corrupt, dberr);
  assert_non_null(strstr(dberr, table));
  assert_non_null(strstr(dberr, column));
  iov_db_close(db);
}

/* A results.db may come from anyone: rows a writer of ours cannot make
 * are refused by the readers with the table and the row, not handed on. */
static void test_hostile_rows(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  int64_t run, tp[3];

  make_run(fx->path, &run, tp);
  assert_ok(iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  struct iov_db_search s = { .point_no = 1,
                             .kind = "ndr",
                             .rate_pps = 1,
                             .rate_bps = 512,
                             .wire_bps = 672,
                             .line_pct = NAN,
                             .frame_mean = 64,
                             .loss = 0,
                             .trials = 3,
                             .seconds = 1 };
  assert_ok(iov_db_search_set(db, run, &s, dberr, sizeof(dberr)));
  iov_db_close(db);

  static const struct {
    const char *sql, *column;
  } searches[] = {
    { "PRAGMA ignore_check_constraints = 1; UPDATE search SET kind = 'xyz'", "kind" },
    { "UPDATE search SET rate_pps = -5", "rate_pps" },
    { "UPDATE search SET rate_pps = NULL", "rate_pps" }, /* a NaN is stored as NULL */
    { "UPDATE search SET rate_pps = 'fast'", "rate_pps" },
    { "UPDATE search SET wire_bps = 9e999", "wire_bps" }, /* +Inf */
    { "UPDATE search SET loss = 2", "loss" },
    { "UPDATE search SET trials = -1", "trials" },
    { "UPDATE search SET converged = 7", "converged" },
    { "UPDATE search SET point_no = -3", "point_no" },
  };
  for (size_t i = 0; i < sizeof(searches) / sizeof(searches[0]); i++) {
    char text[256];
    snprintf(text, sizeof(text), "%s; ", searches[i].sql);
    expect_refused(fx->path, run, true, text, "table search", searches[i].column);
    /* Back to a good row for the next case. */
    sql(fx->path,
        "PRAGMA ignore_check_constraints = 1; UPDATE search SET kind = 'ndr', rate_pps = 1, wire_bps = 672,"
        " loss = 0, trials = 3, converged = 0, point_no = 1");
  }

  static const struct {
    const char *sql, *column;
  } trials[] = {
    { "UPDATE trial SET offered_pps = -1 WHERE seq = 2", "offered_pps" },
    { "UPDATE trial SET offered_wire_bps = NULL WHERE seq = 2", "offered_wire_bps" },
    { "UPDATE trial SET offered_pps = 'x' WHERE seq = 2", "offered_pps" },
    { "PRAGMA ignore_check_constraints = 1; UPDATE trial SET seq = 0 WHERE seq = 2", "seq" },
    { "UPDATE trial SET full = 2", "full" },
    { "UPDATE trial SET lost = -1", "lost" },
    { "UPDATE trial SET sent = 9223372036854775807", "sent" },
    { "UPDATE trial SET rep = -1", "rep" },
    /* A trial naming a point that is not its trial: the ordinary point
     * (a resumed search would make it its measurement), then its own
     * point marked as another trial.  Last: the second changes point. */
    { "UPDATE trial SET point_id = (SELECT id FROM point WHERE trial = 0) WHERE seq = 2", "point_id" },
    { "UPDATE point SET trial = 9 WHERE id = (SELECT point_id FROM trial WHERE seq = 2)", "point_id" },
  };
  for (size_t i = 0; i < sizeof(trials) / sizeof(trials[0]); i++) {
    sql(fx->path, "DELETE FROM trial");
    assert_ok(iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
    for (unsigned k = 0; k < 3; k++) {
      struct iov_db_trial t = { .point_id = tp[k],
                                .point_no = 1,
                                .seq = 1 + k,
                                .offered_wire_bps = 1,
                                .offered_pps = 1,
                                .sent = 1,
                                .received = 1 };
      assert_ok(iov_db_trial_add(db, &t, dberr, sizeof(dberr)));
    }
    iov_db_close(db);
    expect_refused(fx->path, run, false, trials[i].sql, "table trial", trials[i].column);
  }

  /* Packet totals from hostile results: refused, not wrapped. */
  sql(fx->path, "UPDATE result SET messages = -5");
  assert_ok(iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)));
  uint64_t sent = 0;
  assert_int_equal(iov_db_point_totals(db, tp[0], &sent, NULL, NULL, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_non_null(strstr(dberr, "table result"));
  iov_db_close(db);
}

/* A results.db written by schema 6 (before searches and TCP segments):
 * read as it is, with no trials, searches or segments; migrated when
 * opened for writing (coord run --resume), keeping its points. */
static void test_schema6_migration(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  struct seen seen = { 0 };
  int64_t run, tp[3];

  make_run(fx->path, &run, tp);
  sql(fx->path, "DROP TABLE trial; DROP TABLE search; ALTER TABLE point DROP COLUMN trial;"
                "ALTER TABLE sample DROP COLUMN segs_out; ALTER TABLE sample DROP COLUMN segs_in;"
                "ALTER TABLE result DROP COLUMN segs_out; ALTER TABLE result DROP COLUMN segs_in;"
                "PRAGMA user_version = 6");

  assert_ok(iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_schema_version(db), 6);
  /* Schema 6 knew no trials: every point is a measurement. */
  assert_ok(iov_db_points_read(db, run, -1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 4);
  seen = (struct seen){ 0 };
  assert_ok(iov_db_trial_points_read(db, run, -1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_ok(iov_db_trials_read(db, run, -1, -1, trial_cb, &seen, dberr, sizeof(dberr)));
  assert_ok(iov_db_searches_read(db, run, search_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 0);
  assert_ok(iov_db_flows_read(db, tp[0], flow_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 2);
  assert_int_equal(seen.segs_out, 0);
  iov_db_close(db);

  assert_ok(iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_schema_version(db), 7);
  seen = (struct seen){ 0 };
  assert_ok(iov_db_points_read(db, run, -1, point_cb, &seen, dberr, sizeof(dberr)));
  assert_int_equal(seen.n, 4);
  /* The new tables and columns are there and usable. */
  struct iov_db_trial t = {
    .point_id = tp[0], .point_no = 1, .seq = 1, .offered_pps = 5, .offered_wire_bps = 6
  };
  assert_ok(iov_db_trial_add(db, &t, dberr, sizeof(dberr)));
  assert_ok(iov_db_point_set_trial(db, tp[0], 1, dberr, sizeof(dberr)));
  iov_db_close(db);
  assert_int_equal(count_rows(fx->path, "PRAGMA user_version"), 7);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM point WHERE trial = 0"), 3);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM result WHERE segs_out = 0"), 8);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM trial"), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_trials_and_searches, setup, teardown),
    cmocka_unit_test_setup_teardown(test_hostile_rows, setup, teardown),
    cmocka_unit_test_setup_teardown(test_schema6_migration, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
