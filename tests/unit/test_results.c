/* Unit tests for coordinator/results.c and coordinator/report.c, against
 * a real SQLite file in a fresh directory under /tmp: a run with known
 * numbers read back through iov_report_load(, dberr, sizeof(dberr)), the JSON and table output,
 * histogram round trips, errors that keep the point's transaction usable,
 * a point lost to a close or a crash while earlier ones survive, and a
 * database from a newer schema refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "err.h"
#include "hist.h"
#include "report.h"
#include "results.h"
#include "wire.h"

#define SEC UINT64_C(1000000000)
#define T0 UINT64_C(1700000000000000000)
#define T1 (T0 + 10 * SEC)
#define T2 (T0 + 20 * SEC)
#define T3 (T0 + 30 * SEC)

static const char STREAM_SWEEP[] = "msg_size=64k note='it''s \"quoted\"'; DROP TABLE run";
static const char RR_SWEEP[] = "msg_size=1 response_size=1 flows=2 a_rather_long_parameter_name=12345678";
static const char FAIL_ERROR[] = "agent b: connect: Connection refused";
static const char RR_FAIL_ERROR[] = "agent a: no response within 5 s";

/* Stream point: 5 samples a flow, a 2 s receiver window, 10 Gbit/s. */
#define STREAM_SAMPLES 5
#define STREAM_RX_BYTES UINT64_C(2500000000)
#define STREAM_TX_BYTES UINT64_C(2500000100)
/* RR point: two sender flows whose final histograms hold 1..500 us and
 * 501..1000 us; receivers span exactly 1 s, senders 1.2 s. */
#define RR_VALUES 1000

/* Fixture: a directory of its own for each test. */
struct fixture {
  char dir[64];
  char path[128];
};

static int setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));

  if (!fx) return -1;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/iov-test-results.XXXXXX");
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
  int r;

  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
    (void)unlink(p);
  }
  /* Fails if a test left anything else behind. */
  r = rmdir(fx->dir);
  free(fx);
  return r;
}

/* Why the last failing call failed: every call passes it. */
static char dberr[512];

/* r == 0, or say what the database said. */
#define assert_ok(db, expr)                                                  \
  do {                                                                       \
    int r_ = (expr);                                                         \
    if (r_ < 0) print_error("%s = %d (%s)\n", #expr, r_, (db) ? dberr : ""); \
    assert_int_equal(r_, 0);                                                 \
  } while (0)

static struct iov_hist *hist_new(void) {
  struct iov_hist *h = malloc(sizeof(*h));

  assert_non_null(h);
  iov_hist_init(h);
  return h;
}

/* Values of RR flow f (0 or 1) in sample k of n (1-based): every v of
 * the flow's range with v % n == k - 1, in microseconds. */
static struct iov_hist *rr_hist(unsigned f, unsigned k, unsigned n) {
  struct iov_hist *h = hist_new();

  for (uint64_t v = 1 + f * 500; v <= 500 + f * 500; v++)
    if (k == 0 || v % n == k - 1) iov_hist_record(h, v * 1000);
  return h;
}

struct ids {
  int64_t run, agent_a, agent_b;
  int64_t stream_tx, stream_rx, rr_tx[2], rr_rx[2];
};

static void add_point(struct iov_db *db, int64_t run, unsigned idx, const char *test, const char *sweep,
                      int64_t *ret) {
  struct iov_db_point p = {
    .idx = idx,
    .test = test,
    .sweep = sweep,
    .workload = test,
    /* The first point names its path; the others are from before paths were stored. */
    .params_json = idx == 0 ? "{\"msg_size\": 65536, \"path\": \"sriov\"}" : "{\"msg_size\": 65536}",
    .duration_ns = 2 * SEC,
    .sample_interval_ns = SEC / 2,
  };

  assert_ok(db, iov_db_point_begin(db, run, &p, ret, dberr, sizeof(dberr)));
}

static void add_stream_point(struct iov_db *db, struct ids *ids) {
  int64_t point;

  add_point(db, ids->run, 0, "tcp_stream", STREAM_SWEEP, &point);
  assert_ok(db, iov_db_point_set_start(db, point, T0, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_flow_add(db, point, ids->agent_a, "sender", 0, &ids->stream_tx, dberr, sizeof(dberr)));
  assert_ok(db,
            iov_db_flow_add(db, point, ids->agent_b, "receiver", 0, &ids->stream_rx, dberr, sizeof(dberr)));
  for (uint32_t i = 1; i <= STREAM_SAMPLES; i++) {
    struct iov_db_sample tx = {
      .seq = i,
      .t_start_ns = T0 + (i - 1) * SEC / 2,
      .t_end_ns = T0 + i * SEC / 2,
      .bytes = STREAM_TX_BYTES / STREAM_SAMPLES,
      .messages = 1000,
    };
    struct iov_db_sample rx = tx;
    rx.bytes = STREAM_RX_BYTES / STREAM_SAMPLES;
    assert_ok(db, iov_db_sample_add(db, ids->stream_tx, &tx, dberr, sizeof(dberr)));
    assert_ok(db, iov_db_sample_add(db, ids->stream_rx, &rx, dberr, sizeof(dberr)));
  }
  struct iov_db_result tx = {
    .bytes = STREAM_TX_BYTES,
    .messages = 5000,
    .t_start_ns = T0,
    .t_end_ns = T0 + 2 * SEC + 500,
    .samples = STREAM_SAMPLES,
  };
  struct iov_db_result rx = {
    .bytes = STREAM_RX_BYTES,
    .messages = 5000,
    .t_start_ns = T0 + 1000,
    .t_end_ns = T0 + 1000 + 2 * SEC,
    .samples = STREAM_SAMPLES,
  };
  assert_ok(db, iov_db_result_add(db, ids->stream_tx, &tx, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_result_add(db, ids->stream_rx, &rx, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
}

static void add_rr_point(struct iov_db *db, struct ids *ids) {
  static const unsigned tx_samples[2] = { 3, 4 }, rx_samples[2] = { 3, 2 };
  static const uint64_t tx_start[2] = { T1, T1 + SEC / 10 },
                        tx_end[2] = { T1 + SEC * 6 / 5, T1 + SEC * 11 / 10 };
  static const uint64_t rx_start[2] = { T1 + 1000, T1 + 2000 }, rx_end[2] = { T1 + 1000 + SEC, T1 + SEC / 2 };
  int64_t point;

  add_point(db, ids->run, 1, "tcp_rr", RR_SWEEP, &point);
  for (unsigned f = 0; f < 2; f++) {
    assert_ok(db,
              iov_db_flow_add(db, point, ids->agent_a, "sender", f, &ids->rr_tx[f], dberr, sizeof(dberr)));
    assert_ok(db,
              iov_db_flow_add(db, point, ids->agent_b, "receiver", f, &ids->rr_rx[f], dberr, sizeof(dberr)));
  }
  for (unsigned f = 0; f < 2; f++) {
    for (unsigned k = 1; k <= tx_samples[f]; k++) {
      struct iov_hist *h = rr_hist(f, k, tx_samples[f]);
      struct iov_db_sample s = {
        .seq = k,
        .t_start_ns = tx_start[f],
        .t_end_ns = tx_end[f],
        .bytes = 2 * h->count,
        .messages = 2 * h->count,
        .transactions = h->count,
        .hist = h,
      };
      assert_ok(db, iov_db_sample_add(db, ids->rr_tx[f], &s, dberr, sizeof(dberr)));
      free(h);
    }
    for (unsigned k = 1; k <= rx_samples[f]; k++) {
      struct iov_db_sample s = { .seq = k, .t_start_ns = rx_start[f], .t_end_ns = rx_end[f], .bytes = 1 };
      assert_ok(db, iov_db_sample_add(db, ids->rr_rx[f], &s, dberr, sizeof(dberr)));
    }
    struct iov_hist *h = rr_hist(f, 0, 1);
    struct iov_db_result tx = {
      .bytes = 1000,
      .messages = 1000,
      .transactions = 500,
      .t_start_ns = tx_start[f],
      .t_end_ns = tx_end[f],
      .samples = tx_samples[f],
      .hist = h,
    };
    struct iov_db_result rx = {
      .bytes = 64000,
      .messages = 1000,
      .transactions = 500,
      .t_start_ns = rx_start[f],
      .t_end_ns = rx_end[f],
      .samples = rx_samples[f],
    };
    assert_ok(db, iov_db_result_add(db, ids->rr_tx[f], &tx, dberr, sizeof(dberr)));
    assert_ok(db, iov_db_result_add(db, ids->rr_rx[f], &rx, dberr, sizeof(dberr)));
    free(h);
  }
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
}

/* A stream point that failed at once: a sender result whose window is
 * empty (start == end), no receiver, no samples. */
static void add_failed_point(struct iov_db *db, struct ids *ids) {
  int64_t point, flow;

  add_point(db, ids->run, 2, "tcp_stream", "msg_size=1m", &point);
  assert_ok(db, iov_db_flow_add(db, point, ids->agent_a, "sender", 0, &flow, dberr, sizeof(dberr)));
  struct iov_db_result tx = {
    .t_start_ns = T2,
    .t_end_ns = T2,
    .error = -ECONNREFUSED,
    .error_text = "connect: Connection refused",
  };
  assert_ok(db, iov_db_result_add(db, flow, &tx, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_FAILED, FAIL_ERROR, dberr, sizeof(dberr)));
}

/* An RR point where no transaction completed: a histogram, but empty. */
static void add_empty_rr_point(struct iov_db *db, struct ids *ids) {
  struct iov_hist *h = hist_new();
  int64_t point, flow;

  add_point(db, ids->run, 3, "tcp_rr", "", &point);
  assert_ok(db, iov_db_flow_add(db, point, ids->agent_a, "sender", 0, &flow, dberr, sizeof(dberr)));
  struct iov_db_result tx = {
    .t_start_ns = T3,
    .t_end_ns = T3 + SEC,
    .hist = h,
  };
  assert_ok(db, iov_db_result_add(db, flow, &tx, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_FAILED, RR_FAIL_ERROR, dberr, sizeof(dberr)));
  free(h);
}

static void build_run(const char *path, struct ids *ids) {
  struct iov_db *db = NULL;

  assert_ok(NULL, iov_db_open(path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_run_begin(db, "0f0e0d0c-0b0a-4908-8706-050403020100", "plans/test.ini",
                                 "[tcp_stream]\nworkload=tcp_stream\n", T0 - SEC, &ids->run, dberr,
                                 sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, ids->run, "a", "tcp://198.18.0.1:7700", "host-a", "{}", &ids->agent_a,
                                 dberr, sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, ids->run, "b", "tcp://198.18.0.2:7700", "host-b", NULL, &ids->agent_b,
                                 dberr, sizeof(dberr)));
  add_stream_point(db, ids);
  add_rr_point(db, ids);
  add_failed_point(db, ids);
  add_empty_rr_point(db, ids);
  assert_ok(db, iov_db_run_end(db, ids->run, "ok", NULL, T0 + 60 * SEC, dberr, sizeof(dberr)));
  iov_db_close(db);
}

static struct iov_report *load_report(const char *path) {
  struct iov_report *rep = NULL;
  struct iov_db *db = NULL;

  assert_ok(NULL, iov_db_open_readonly(path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_report_load(db, &rep, dberr, sizeof(dberr)));
  iov_db_close(db);
  return rep;
}

static void assert_close_rel(double got, double want, double rel) {
  if (!(fabs(got - want) <= want * rel)) print_error("got %.9g, want %.9g within %g\n", got, want, rel);
  assert_true(fabs(got - want) <= want * rel);
}

static void test_report_numbers(void **state) {
  struct fixture *fx = *state;
  struct iov_report *rep;
  const struct iov_point_summary *p;
  struct ids ids;

  build_run(fx->path, &ids);
  rep = load_report(fx->path);

  assert_string_equal(rep->uuid, "0f0e0d0c-0b0a-4908-8706-050403020100");
  assert_string_equal(rep->plan_path, "plans/test.ini");
  assert_string_equal(rep->status, "ok");
  assert_null(rep->error);
  assert_true(rep->started_ns == T0 - SEC);
  assert_true(rep->ended_ns == T0 + 60 * SEC);
  assert_int_equal(rep->n_points, 4);

  /* Stream: bytes exact, window from the receiver (2 s, not the sender's
   * 2 s + 1500 ns), so exactly 10 Gbit/s. */
  p = &rep->points[0];
  assert_int_equal(p->idx, 0);
  assert_string_equal(p->test, "tcp_stream");
  assert_string_equal(p->sweep, STREAM_SWEEP); /* bound, not formatted into SQL */
  assert_string_equal(p->workload, "tcp_stream");
  assert_string_equal(p->status, "ok");
  assert_null(p->error);
  assert_true(p->duration_ns == 2 * SEC);
  assert_int_equal(p->flows, 1);
  assert_true(p->rx_bytes == STREAM_RX_BYTES);
  assert_true(p->tx_bytes == STREAM_TX_BYTES);
  assert_true(p->transactions == 0);
  assert_true(p->window_s == 2.0);
  assert_true(p->gbps == (double)STREAM_RX_BYTES * 8.0 / 2.0 / 1e9);
  assert_close_rel(p->gbps, 10.0, 1e-12);
  assert_true(p->tps == 0.0);
  assert_true(p->samples_min == STREAM_SAMPLES && p->samples_max == STREAM_SAMPLES);
  assert_false(p->has_latency);
  assert_true(p->lat_count == 0);
  assert_true(isnan(p->lat_p50_us));

  /* RR: two sender flows merged into 1..1000 us.  Transactions are
   * counted where they are timed, so their rate runs over the senders'
   * window (1.2 s); bytes arrive at the receivers, over theirs (1 s). */
  p = &rep->points[1];
  assert_int_equal(p->idx, 1);
  assert_string_equal(p->test, "tcp_rr");
  assert_int_equal(p->flows, 2);
  assert_true(p->rx_bytes == 128000);
  assert_true(p->tx_bytes == 2000);
  assert_true(p->transactions == RR_VALUES);
  assert_close_rel(p->window_s, 1.2, 1e-12);
  assert_close_rel(p->tps, 1000.0 / 1.2, 1e-12);
  assert_true(p->gbps == 128000.0 * 8.0 / 1.0 / 1e9);
  assert_true(p->samples_min == 2);
  assert_true(p->samples_max == 4);
  assert_true(p->has_latency);
  assert_true(p->lat_count == RR_VALUES);
  assert_close_rel(p->lat_mean_us, 500.5, 1e-12); /* sum and count are exact */
  assert_close_rel(p->lat_p50_us, 500.0, IOV_HIST_REL_ERROR);
  assert_close_rel(p->lat_p90_us, 900.0, IOV_HIST_REL_ERROR);
  assert_close_rel(p->lat_p99_us, 990.0, IOV_HIST_REL_ERROR);
  assert_close_rel(p->lat_p999_us, 999.0, IOV_HIST_REL_ERROR);
  assert_true(p->lat_max_us == 1000.0); /* max is exact */

  /* Failed at once: an empty window gives 0, never NaN or inf. */
  p = &rep->points[2];
  assert_string_equal(p->status, "failed");
  assert_string_equal(p->error, FAIL_ERROR);
  assert_int_equal(p->flows, 1);
  assert_true(p->window_s == 0.0);
  assert_true(p->gbps == 0.0);
  assert_true(p->tps == 0.0);
  assert_true(p->samples_min == 0 && p->samples_max == 0);
  assert_false(p->has_latency);

  /* RR without one completed transaction. */
  p = &rep->points[3];
  assert_string_equal(p->status, "failed");
  assert_string_equal(p->error, RR_FAIL_ERROR);
  assert_true(p->has_latency);
  assert_true(p->lat_count == 0);
  assert_true(isnan(p->lat_p99_us));
  assert_true(p->window_s == 1.0);
  assert_true(p->tps == 0.0);

  iov_report_free(rep);
}

/* Every JSON number must be finite; jansson would not even parse NaN,
 * but walk the tree anyway in case a real slipped through as a string. */
static void assert_json_finite(const json_t *j) {
  const char *key;
  json_t *v;
  size_t i;

  if (json_is_real(j)) assert_true(isfinite(json_real_value(j)));
  if (json_is_object(j)) json_object_foreach((json_t *)j, key, v) assert_json_finite(v);
  if (json_is_array(j)) json_array_foreach(j, i, v) assert_json_finite(v);
}

static void assert_keys(const json_t *o, const char *const *keys, size_t n) {
  assert_true(json_is_object(o));
  for (size_t i = 0; i < n; i++) {
    if (!json_object_get(o, keys[i])) print_error("missing key '%s'\n", keys[i]);
    assert_non_null(json_object_get(o, keys[i]));
  }
  assert_int_equal(json_object_size(o), n);
}

static double json_num_at(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);

  assert_true(json_is_number(v));
  return json_number_value(v);
}

static void test_report_json(void **state) {
  static const char *const run_keys[] = { "uuid", "plan", "status", "error", "started_ns", "ended_ns" };
  static const char *const point_keys[] = {
    "index",
    "test",
    "sweep",
    "workload",
    "status",
    "error",
    "duration_ns",
    "flows",
    "rx_bytes",
    "tx_bytes",
    "transactions",
    "window_s",
    "gbps",
    "tps",
    "samples_per_flow",
    "latency_us",
    "warmup_ns",
    "window_start_ns",
    "window_end_ns",
    "incomplete_flows",
    "rx_messages",
    "lost",
    "loss_pct",
    "out_of_order",
    "duplicates",
    "jitter_us",
    "retransmits",
    /* Packet rates (issue 16). */
    "tx_messages",
    "pps_tx",
    "pps_rx",
    "segs_out",
    "segs_in",
    "segs_ps",
    "ip_version",
    "frame_bytes",
    "frame_pps",
    "frame_gbps",
    "wire_gbps",
    "line_bps",
    "line_pct",
    "cpu",
    "start_skew_us",
    "fairness",
    "intervals",
    "topology",
    "path",
    "samples_missing",
    "vms",
    "per_vm",
    "links",
    "hosts",
    "vm_cpu",
    "point",
    "rep",
    "start",
    "end",
  };
  static const char *const lat_keys[] = { "count", "mean", "p50", "p90", "p99", "p99_9", "max" };
  struct fixture *fx = *state;
  struct iov_report *rep;
  json_error_t jerr;
  json_t *root, *run, *points, *p, *lat, *gbps;
  char *text = NULL;
  size_t len = 0;
  FILE *f;
  struct ids ids;

  build_run(fx->path, &ids);
  rep = load_report(fx->path);
  f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(iov_report_print_json(rep, f), 0);
  assert_int_equal(fclose(f), 0);
  iov_report_free(rep);

  assert_null(strstr(text, "NaN"));
  assert_null(strstr(text, "nan"));
  assert_null(strstr(text, "Infinity"));
  root = json_loads(text, 0, &jerr);
  if (!root) print_error("%s at line %d: %s\n", jerr.text, jerr.line, text);
  assert_non_null(root);
  assert_json_finite(root);

  run = json_object_get(root, "run");
  assert_keys(run, run_keys, sizeof(run_keys) / sizeof(run_keys[0]));
  assert_string_equal(json_string_value(json_object_get(run, "uuid")),
                      "0f0e0d0c-0b0a-4908-8706-050403020100");
  assert_true(json_is_null(json_object_get(run, "error")));
  assert_true((uint64_t)json_integer_value(json_object_get(run, "ended_ns")) == T0 + 60 * SEC);

  points = json_object_get(root, "points");
  assert_true(json_is_array(points));
  assert_int_equal(json_array_size(points), 4);
  for (size_t i = 0; i < json_array_size(points); i++) {
    p = json_array_get(points, i);
    assert_keys(p, point_keys, sizeof(point_keys) / sizeof(point_keys[0]));
    assert_int_equal(json_integer_value(json_object_get(p, "index")), i);
    lat = json_object_get(p, "latency_us");
    if (!json_is_null(lat)) assert_keys(lat, lat_keys, sizeof(lat_keys) / sizeof(lat_keys[0]));
  }

  p = json_array_get(points, 0);
  assert_string_equal(json_string_value(json_object_get(p, "sweep")), STREAM_SWEEP);
  /* The path from the point's stored parameters; "auto" where none was stored. */
  assert_string_equal(json_string_value(json_object_get(p, "path")), "sriov");
  assert_string_equal(json_string_value(json_object_get(json_array_get(points, 1), "path")), "auto");
  assert_true(json_is_null(json_object_get(p, "latency_us")));
  assert_true(json_is_null(json_object_get(p, "error")));
  assert_close_rel(json_num_at(p, "gbps"), 10.0, 1e-12);
  assert_int_equal(json_integer_value(json_object_get(p, "rx_bytes")), STREAM_RX_BYTES);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "samples_per_flow"), "min")),
                   STREAM_SAMPLES);

  p = json_array_get(points, 1);
  lat = json_object_get(p, "latency_us");
  assert_int_equal(json_integer_value(json_object_get(lat, "count")), RR_VALUES);
  assert_close_rel(json_num_at(lat, "p50"), 500.0, IOV_HIST_REL_ERROR);
  assert_close_rel(json_num_at(lat, "p99"), 990.0, IOV_HIST_REL_ERROR);
  assert_close_rel(json_num_at(p, "tps"), 1000.0 / 1.2, 1e-12);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "samples_per_flow"), "max")), 4);

  /* The zero window: gbps 0 or null, never NaN. */
  p = json_array_get(points, 2);
  gbps = json_object_get(p, "gbps");
  assert_true(json_is_null(gbps) || (json_is_number(gbps) && json_number_value(gbps) == 0.0));
  assert_string_equal(json_string_value(json_object_get(p, "error")), FAIL_ERROR);

  /* No completed transaction: the latency object is there, its numbers
   * null. */
  p = json_array_get(points, 3);
  lat = json_object_get(p, "latency_us");
  assert_int_equal(json_integer_value(json_object_get(lat, "count")), 0);
  assert_true(json_is_null(json_object_get(lat, "p50")));
  assert_true(json_is_null(json_object_get(lat, "mean")));

  json_decref(root);
  free(text);
}

static void test_report_table(void **state) {
  struct fixture *fx = *state;
  struct iov_report *rep;
  struct iov_hist *h;
  char *text = NULL, *line, *save = NULL, p50[32];
  size_t len = 0, row_len = 0, header_len = 0;
  unsigned n = 0;
  FILE *f;
  struct ids ids;

  build_run(fx->path, &ids);
  rep = load_report(fx->path);
  f = open_memstream(&text, &len);
  assert_non_null(f);
  iov_report_print_table(rep, f);
  assert_int_equal(fclose(f), 0);
  iov_report_free(rep);

  /* The merged p50 as the histogram reads it, 1 decimal. */
  h = rr_hist(0, 0, 1);
  struct iov_hist *h2 = rr_hist(1, 0, 1);
  iov_hist_merge(h, h2);
  snprintf(p50, sizeof(p50), " %.1f ", (double)iov_hist_percentile(h, 50) / 1e3);
  free(h);
  free(h2);

  assert_non_null(strstr(text, "tcp_stream"));
  assert_non_null(strstr(text, "tcp_rr"));
  assert_non_null(strstr(text, " 10.00 "));
  assert_non_null(strstr(text, " 833 "));
  assert_non_null(strstr(text, p50));
  /* The long sweep lost its middle, not its end. */
  assert_non_null(strstr(text, "..name=12345678"));
  assert_null(strstr(text, RR_SWEEP));
  /* Errors of failed points, below the table, numbered as coord counts. */
  assert_non_null(strstr(text, FAIL_ERROR));
  assert_non_null(strstr(text, "point 3 tcp_stream msg_size=1m: failed: agent b: connect"));
  assert_non_null(strstr(text, RR_FAIL_ERROR));
  assert_null(strstr(text, "nan"));

  /* Fixed width: every row as long as the header, whose six "µs" take
   * two bytes each. */
  for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
    if (n == 1) header_len = strlen(line);
    if (n >= 2 && n < 6) {
      if (row_len == 0) row_len = strlen(line);
      assert_int_equal(strlen(line), row_len);
    }
  }
  assert_int_equal(header_len, row_len + 6);
  free(text);
}

static int64_t count_rows(const char *path, const char *sql) {
  sqlite3 *s = NULL;
  sqlite3_stmt *st = NULL;
  int64_t n;

  assert_int_equal(sqlite3_open_v2(path, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(s);
  return n;
}

/* A many-to-one point of three VMs on host 'h' to one receiver, with a
 * known split of the bytes received: 3 : 2 : 1 GB in a 2 s window.  Jain's
 * index over the VMs is (3+2+1)^2 / (3 * (9+4+1)) = 36/42, the per-VM
 * rates 12, 8 and 4 Gbit/s, and host 'h' carries all 24. */
static void test_vm_fairness(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  struct iov_report *rep = NULL;
  int64_t run, host, rxh, vm[3], point, flow;
  static const uint64_t gb[3] = { 3, 2, 1 };

  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_run_begin(db, "vms", "p.plan", "", T0, &run, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, run, "h", NULL, NULL, NULL, &host, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, run, "r", NULL, NULL, NULL, &rxh, dberr, sizeof(dberr)));
  for (int i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof(name), "h/vm%d", i + 1);
    assert_ok(db, iov_db_agent_add(db, run, name, NULL, NULL, NULL, &vm[i], dberr, sizeof(dberr)));
    assert_ok(db, iov_db_agent_set_host(db, vm[i], host, dberr, sizeof(dberr)));
  }
  assert_int_equal(iov_db_agent_set_host(db, 9999, host, dberr, sizeof(dberr)), -ENOENT);
  struct iov_db_point p = { .idx = 0,
                            .test = "m",
                            .sweep = "vms=3",
                            .workload = "tcp_stream",
                            .duration_ns = 2 * SEC,
                            .sample_interval_ns = SEC,
                            .topology = "many-to-one",
                            .vms = 3 };
  assert_ok(db, iov_db_point_begin(db, run, &p, &point, dberr, sizeof(dberr)));
  for (unsigned i = 0; i < 3; i++) {
    struct iov_db_result tx = {
      .bytes = gb[i] * 1000000000ULL, .t_start_ns = T0, .t_end_ns = T0 + 2 * SEC, .samples = 2
    };
    struct iov_db_result rx = tx;
    assert_ok(db, iov_db_flow_add_link(db, point, vm[i], "sender", 0, i, &flow, dberr, sizeof(dberr)));
    assert_ok(db, iov_db_result_add(db, flow, &tx, dberr, sizeof(dberr)));
    /* The receiver's flow i belongs to link i. */
    assert_ok(db, iov_db_flow_add_link(db, point, rxh, "receiver", i, i, &flow, dberr, sizeof(dberr)));
    for (uint32_t k = 1; k <= 2; k++) {
      struct iov_db_sample smp = {
        .seq = k, .t_start_ns = T0 + (k - 1) * SEC, .t_end_ns = T0 + k * SEC, .bytes = gb[i] * 500000000ULL
      };
      assert_ok(db, iov_db_sample_add(db, flow, &smp, dberr, sizeof(dberr)));
    }
    assert_ok(db, iov_db_result_add(db, flow, &rx, dberr, sizeof(dberr)));
  }
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  assert_ok(db, iov_report_load(db, &rep, dberr, sizeof(dberr)));
  assert_int_equal(rep->n_points, 1);
  const struct iov_point_summary *s = &rep->points[0];
  assert_string_equal(s->topology, "many-to-one");
  assert_int_equal(s->vms, 3);
  assert_int_equal(s->n_links, 3);
  assert_close_rel(s->gbps, 24.0, 1e-9);
  assert_close_rel(s->link_fairness, 36.0 / 42.0, 1e-12);
  assert_close_rel(s->link_mean, 8.0, 1e-9);
  assert_close_rel(s->link_min, 4.0, 1e-9);
  assert_close_rel(s->link_max, 12.0, 1e-9);
  for (unsigned i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof(name), "h/vm%u", i + 1);
    assert_string_equal(s->links[i].sender, name);
    assert_string_equal(s->links[i].receiver, "r");
    assert_string_equal(s->links[i].sender_host, "h");
    assert_close_rel(s->links[i].gbps, 4.0 * (double)gb[i], 1e-9);
    assert_int_equal(s->links[i].n_bins, 2);
    assert_int_equal(s->links[i].bin_bytes[1], gb[i] * 500000000ULL);
  }
  assert_int_equal(s->n_hosts, 1);
  assert_string_equal(s->hosts[0].host, "h");
  assert_int_equal(s->hosts[0].links, 3);
  assert_close_rel(s->hosts[0].gbps, 24.0, 1e-9);
  /* Host h's second bin: half of each VM's bytes. */
  assert_int_equal(s->hosts[0].n_bins, 2);
  assert_int_equal(s->hosts[0].bin_bytes[1], 3000000000ULL);
  iov_report_free(rep);
  iov_db_close(db);
  /* The same per link through the SQL views. */
  assert_int_equal(count_rows(fx->path, "SELECT rx_bytes FROM link_total WHERE link = 1 AND sender = 'h/vm2'"
                                        " AND receiver = 'r'"),
                   2000000000);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM link_total"), 3);
  assert_int_equal(count_rows(fx->path, "SELECT rx_bytes FROM link_bin WHERE link = 0 AND seq = 2"),
                   1500000000);
}

/* Counters from agents are bounded where they are stored: one above
 * IOV_DB_COUNT_MAX (2^62 - 1) is refused and nothing of it stored; at the
 * bound, four flows' samples and results add up past 2^63, and the
 * report still loads (its sums are REAL, not SQLite's overflowing
 * integer SUM()). */
static void test_counters_bounded(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  struct iov_report *rep = NULL;
  int64_t run, tx, rx, point, flow;
  const uint64_t max = IOV_DB_COUNT_MAX;

  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_run_begin(db, "big", "p.plan", "", T0, &run, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, run, "a", NULL, NULL, NULL, &tx, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, run, "b", NULL, NULL, NULL, &rx, dberr, sizeof(dberr)));
  struct iov_db_point p = { .idx = 0,
                            .test = "big",
                            .sweep = "",
                            .workload = "tcp_stream",
                            .duration_ns = 2 * SEC,
                            .sample_interval_ns = SEC,
                            .topology = "host-host",
                            .vms = 1 };
  assert_ok(db, iov_db_point_begin(db, run, &p, &point, dberr, sizeof(dberr)));
  for (unsigned i = 0; i < 4; i++) {
    assert_ok(db, iov_db_flow_add_link(db, point, rx, "receiver", i, 0, &flow, dberr, sizeof(dberr)));
    for (uint32_t k = 1; k <= 2; k++) {
      struct iov_db_sample smp = {
        .seq = k, .t_start_ns = T0 + (k - 1) * SEC, .t_end_ns = T0 + k * SEC, .bytes = max, .messages = max
      };
      assert_ok(db, iov_db_sample_add(db, flow, &smp, dberr, sizeof(dberr)));
      smp.seq = k + 2;
      smp.bytes = max + 1;
      assert_int_equal(iov_db_sample_add(db, flow, &smp, dberr, sizeof(dberr)), -IOV_E_DB);
      assert_non_null(strstr(dberr, "not stored"));
      smp.bytes = 1;
      smp.messages = UINT64_MAX;
      assert_int_equal(iov_db_sample_add(db, flow, &smp, dberr, sizeof(dberr)), -IOV_E_DB);
    }
    struct iov_db_result res = { .bytes = max + 1, .t_start_ns = T0, .t_end_ns = T0 + 2 * SEC, .samples = 2 };
    assert_int_equal(iov_db_result_add(db, flow, &res, dberr, sizeof(dberr)), -IOV_E_DB);
    res.bytes = max;
    assert_ok(db, iov_db_result_add(db, flow, &res, dberr, sizeof(dberr)));
  }
  struct iov_db_cpu cpu = { .cpu = -1, .user_ns = max + 1 };
  assert_int_equal(iov_db_cpu_sample_add(db, point, rx, 1, &cpu, dberr, sizeof(dberr)), -IOV_E_DB);
  cpu.user_ns = max;
  assert_ok(db, iov_db_cpu_sample_add(db, point, rx, 1, &cpu, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_irq_sample_add(db, point, rx, 1, "eth0", UINT64_MAX, dberr, sizeof(dberr)),
                   -IOV_E_DB);
  struct iov_db_vm_cpu vc = { .total_ns = UINT64_MAX };
  assert_int_equal(iov_db_vm_cpu_add(db, point, rx, 1, &vc, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  /* Nothing above the bound was stored. */
  iov_db_close(db);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM sample"), 8);
  assert_int_equal(
      count_rows(fx->path, "SELECT COUNT(*) FROM sample WHERE bytes < 0 OR messages < 0 OR seq > 2"), 0);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM irq_sample"), 0);
  /* The report adds 4 x (2^62 - 1) bytes per bin and in the results. */
  assert_ok(NULL, iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_report_load(db, &rep, dberr, sizeof(dberr)));
  assert_int_equal(rep->n_points, 1);
  assert_true(rep->points[0].gbps > 0 && isfinite(rep->points[0].gbps));
  iov_report_free(rep);
  iov_db_close(db);
}

static void test_hist_roundtrip(void **state) {
  struct fixture *fx = *state;
  struct iov_hist *edge = hist_new(), *empty = hist_new(), *back = hist_new(), *want;
  struct iov_db *db = NULL;
  int64_t run, agent, point, flow;
  unsigned nonzero = 0;
  struct ids ids;

  /* An overflow value, and a sum that saturates (stored as -1). */
  iov_hist_record(edge, 5);
  iov_hist_record(edge, 300);
  iov_hist_record(edge, UINT64_C(1) << 41);
  iov_hist_record(edge, UINT64_MAX - 1);
  assert_true(edge->sum == UINT64_MAX && edge->overflow == 2);
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) nonzero += edge->buckets[i] != 0;

  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_run_begin(db, "u", NULL, NULL, T0, &run, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, run, "a", NULL, NULL, NULL, &agent, dberr, sizeof(dberr)));
  add_point(db, run, 0, "tcp_rr", NULL, &point);
  assert_ok(db, iov_db_flow_add(db, point, agent, "sender", 0, &flow, dberr, sizeof(dberr)));
  struct iov_db_sample s1 = { .seq = 1, .hist = edge }, s2 = { .seq = 2, .hist = empty };
  struct iov_db_result res = { .hist = edge };
  assert_ok(db, iov_db_sample_add(db, flow, &s1, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_sample_add(db, flow, &s2, dberr, sizeof(dberr)));
  /* Straight from the wire's sparse form: what coord stores.  It reads
   * back as iov_wire_hist_from_pb() decodes the same message. */
  Iovbench__Histogram pb;
  struct iov_db_sparse_hist sh;
  struct iov_hist *decoded = hist_new();
  assert_int_equal(iov_wire_hist_to_pb(edge, &pb), 0);
  assert_int_equal(iov_wire_hist_summary(&pb, &sh.sum), 0);
  assert_int_equal(iov_wire_hist_from_pb(&pb, decoded), 0);
  sh.index = pb.index;
  sh.count = pb.count;
  sh.n = pb.n_index;
  struct iov_db_sample s4 = { .seq = 4, .sparse = &sh };
  assert_ok(db, iov_db_sample_add(db, flow, &s4, dberr, sizeof(dberr)));
  iov_wire_hist_pb_done(&pb);
  assert_ok(db, iov_db_result_add(db, flow, &res, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));

  /* Exactly as stored, counters and buckets alike. */
  assert_ok(db, iov_db_hist_load(db, flow, 1, back, dberr, sizeof(dberr)));
  assert_memory_equal(back, edge, sizeof(*back));
  assert_ok(db, iov_db_hist_load(db, flow, 0, back, dberr, sizeof(dberr)));
  assert_memory_equal(back, edge, sizeof(*back));
  assert_ok(db, iov_db_hist_load(db, flow, 2, back, dberr, sizeof(dberr)));
  assert_memory_equal(back, empty, sizeof(*back));
  assert_ok(db, iov_db_hist_load(db, flow, 4, back, dberr, sizeof(dberr)));
  assert_memory_equal(back, decoded, sizeof(*back));
  assert_true(back->count == edge->count && back->overflow == 2);
  free(decoded);
  /* None: -ENOENT and ret untouched. */
  back->count = 12345;
  assert_int_equal(iov_db_hist_load(db, flow, 3, back, dberr, sizeof(dberr)), -ENOENT);
  assert_true(back->count == 12345);
  iov_db_close(db);

  /* Only non-zero buckets are stored; the samples' in their rows. */
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM histogram"), nonzero);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM histogram_summary"), 1);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM sample WHERE lat_buckets IS NOT NULL"), 3);
  free(edge);
  free(empty);
  free(back);

  /* A per-sample histogram of the big run reads back as recorded. */
  teardown(state);
  assert_int_equal(setup(state), 0);
  fx = *state;
  build_run(fx->path, &ids);
  want = rr_hist(1, 2, 4);
  back = hist_new();
  assert_ok(NULL, iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_hist_load(db, ids.rr_tx[1], 2, back, dberr, sizeof(dberr)));
  assert_memory_equal(back, want, sizeof(*back));
  iov_db_close(db);
  free(want);
  free(back);
}

/* Failures are reported with SQLite's text, and a failed call leaves the
 * point's transaction usable. */
static void test_errors(void **state) {
  struct fixture *fx = *state;
  struct iov_report *rep = NULL;
  struct iov_db *db = NULL;
  int64_t run, agent, point, flow, dummy;
  struct iov_hist *h = hist_new();

  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_run_begin(db, "u", NULL, NULL, T0, &run, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_agent_add(db, run, "a", NULL, NULL, NULL, &agent, dberr, sizeof(dberr)));
  /* The same agent again (a resumed run): the same row. */
  assert_ok(
      db, iov_db_agent_add(db, run, "a", "tcp://198.18.0.1:7700", NULL, NULL, &dummy, dberr, sizeof(dberr)));
  assert_int_equal(dummy, agent);

  /* No point open. */
  struct iov_db_sample s = { .seq = 1, .bytes = 10 };
  assert_int_equal(iov_db_sample_add(db, 1, &s, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_non_null(strstr(dberr, "no point transaction"));
  assert_int_equal(iov_db_point_end(db, 1, IOV_POINT_OK, NULL, dberr, sizeof(dberr)), -IOV_E_DB);

  /* A histogram row that fails after its result and summary rows went
   * in: the whole result must go. */
  sqlite3 *s3 = NULL;
  assert_int_equal(sqlite3_open(fx->path, &s3), SQLITE_OK);
  assert_int_equal(sqlite3_exec(s3,
                                "CREATE TRIGGER inject BEFORE INSERT ON histogram WHEN NEW.bucket = 7"
                                " BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(s3);

  add_point(db, run, 0, "tcp_rr", NULL, &point);
  /* Nested begin refused; the open point is unharmed. */
  struct iov_db_point p2 = { .idx = 1, .test = "x" };
  assert_int_equal(iov_db_point_begin(db, run, &p2, &dummy, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_int_equal(iov_db_flow_add(db, point, agent, "client", 0, &flow, dberr, sizeof(dberr)), -EINVAL);
  assert_ok(db, iov_db_flow_add(db, point, agent, "sender", 0, &flow, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_flow_add(db, point, 999, "sender", 1, &dummy, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_non_null(strstr(dberr, "FOREIGN KEY"));
  s.seq = 0;
  assert_int_equal(iov_db_sample_add(db, flow, &s, dberr, sizeof(dberr)), -EINVAL);
  s.seq = 1;
  assert_ok(db, iov_db_sample_add(db, flow, &s, dberr, sizeof(dberr)));
  /* A duplicate with a histogram: its row (which holds the histogram)
   * must not remain. */
  iov_hist_record(h, 1000);
  s.hist = h;
  s.bytes = 99;
  assert_int_equal(iov_db_sample_add(db, flow, &s, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_non_null(strstr(dberr, "UNIQUE"));
  s.seq = 2;
  s.bytes = 10;
  assert_ok(db, iov_db_sample_add(db, flow, &s, dberr, sizeof(dberr)));
  struct iov_hist *bad = hist_new();
  iov_hist_record(bad, 3);
  iov_hist_record(bad, 7);
  struct iov_db_result res = { .bytes = 1, .samples = 2, .hist = bad };
  assert_int_equal(iov_db_result_add(db, flow, &res, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_non_null(strstr(dberr, "injected failure"));
  free(bad);
  /* A sparse histogram out of order is refused before anything is written. */
  static const uint32_t idx[] = { 9, 4 };
  static const uint64_t cnt[] = { 1, 1 };
  struct iov_db_sparse_hist sh = { .index = idx, .count = cnt, .n = 2, .sum = { .count = 2 } };
  s.hist = NULL;
  s.sparse = &sh;
  s.seq = 3;
  assert_int_equal(iov_db_sample_add(db, flow, &s, dberr, sizeof(dberr)), -EINVAL);
  s.sparse = NULL;
  assert_int_equal(iov_db_point_end(db, point, IOV_POINT_RUNNING, NULL, dberr, sizeof(dberr)), -EINVAL);
  assert_int_equal(iov_db_point_end(db, point + 1, IOV_POINT_OK, NULL, dberr, sizeof(dberr)), -ENOENT);
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_run_end(db, run + 1, "ok", NULL, T0, dberr, sizeof(dberr)), -ENOENT);
  iov_db_close(db);

  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM sample"), 2);
  assert_int_equal(count_rows(fx->path, "SELECT SUM(bytes) FROM sample"), 20);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM sample WHERE lat_count = 1"), 1);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM histogram_summary"), 0);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM histogram"), 0);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM result"), 0);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM point WHERE status = 'ok'"), 1);
  assert_ok(NULL, iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_report_load(db, &rep, dberr, sizeof(dberr)));
  assert_int_equal(rep->n_points, 1);
  assert_true(rep->points[0].samples_max == 2);
  /* Nothing to write through a read-only handle. */
  assert_int_equal(iov_db_run_begin(db, "v", NULL, NULL, T0, &dummy, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_non_null(strstr(dberr, "readonly"));
  iov_report_free(rep);
  iov_db_close(db);
  free(h);

  /* Status names. */
  assert_string_equal(iov_point_status_to_string(IOV_POINT_FAILED), "failed");
  assert_null(iov_point_status_to_string(_IOV_POINT_STATUS_MAX));
  assert_int_equal(iov_point_status_from_string("ok"), IOV_POINT_OK);
  assert_int_equal(iov_point_status_from_string("bogus"), _IOV_POINT_STATUS_INVALID);
  assert_int_equal(iov_point_status_from_string(NULL), _IOV_POINT_STATUS_INVALID);
}

/* Point 0 committed; point 1 begun with a flow and many samples, left
 * open in *ret.  No cmocka asserts: it also runs in a forked child, where
 * a failed assert would go on to run the other tests.  Returns 0 or the
 * first error. */
#define TRY(expr)                                                \
  do {                                                           \
    int r_ = (expr);                                             \
    if (r_ < 0) {                                                \
      print_error("%s = %d (%s)\n", #expr, r_, db ? dberr : ""); \
      return r_;                                                 \
    }                                                            \
  } while (0)

static int write_one_point_then_start_another(const char *path, struct iov_db **ret) {
  struct iov_db *db = NULL;
  int64_t run, agent, point, flow;
  struct iov_db_point p0 = { .idx = 0, .test = "tcp_stream" },
                      p1 = { .idx = 1, .point_no = 1, .test = "tcp_stream" };

  TRY(iov_db_open(path, &db, dberr, sizeof(dberr)));
  *ret = db;
  TRY(iov_db_run_begin(db, "u", NULL, NULL, T0, &run, dberr, sizeof(dberr)));
  TRY(iov_db_agent_add(db, run, "a", NULL, NULL, NULL, &agent, dberr, sizeof(dberr)));
  TRY(iov_db_point_begin(db, run, &p0, &point, dberr, sizeof(dberr)));
  TRY(iov_db_flow_add(db, point, agent, "receiver", 0, &flow, dberr, sizeof(dberr)));
  for (uint32_t i = 1; i <= 3; i++) {
    struct iov_db_sample s = { .seq = i, .bytes = 100 };
    TRY(iov_db_sample_add(db, flow, &s, dberr, sizeof(dberr)));
  }
  struct iov_db_result res = { .bytes = 300, .t_start_ns = T0, .t_end_ns = T0 + SEC, .samples = 3 };
  TRY(iov_db_result_add(db, flow, &res, dberr, sizeof(dberr)));
  TRY(iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));

  /* A page cache of a few pages makes SQLite spill the open transaction
   * into the WAL long before its end: those frames are on disk but must
   * not count as committed. */
  if (iov__db_cache_pages(db, 8) < 0) return -EIO;
  TRY(iov_db_point_begin(db, run, &p1, &point, dberr, sizeof(dberr)));
  TRY(iov_db_flow_add(db, point, agent, "receiver", 0, &flow, dberr, sizeof(dberr)));
  for (uint32_t i = 1; i <= 20000; i++) {
    struct iov_db_sample s = { .seq = i, .bytes = 7 };
    TRY(iov_db_sample_add(db, flow, &s, dberr, sizeof(dberr)));
  }
  return 0;
}

static off_t wal_size(const char *path) {
  char p[160];
  struct stat st;

  snprintf(p, sizeof(p), "%s-wal", path);
  return stat(p, &st) < 0 ? -1 : st.st_size;
}

static void assert_only_first_point(const char *path) {
  struct iov_report *rep = NULL;
  struct iov_db *db = NULL;

  assert_ok(NULL, iov_db_open_readonly(path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_report_load(db, &rep, dberr, sizeof(dberr)));
  assert_int_equal(rep->n_points, 1);
  assert_int_equal(rep->points[0].idx, 0);
  assert_string_equal(rep->points[0].status, "ok");
  assert_true(rep->points[0].rx_bytes == 300);
  assert_true(rep->points[0].samples_min == 3 && rep->points[0].samples_max == 3);
  assert_true(rep->points[0].gbps == 300.0 * 8 / 1.0 / 1e9);
  iov_report_free(rep);
  iov_db_close(db);
  assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM sample"), 3);
  assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM flow"), 1);
}

/* The point in flight when the database is closed is lost, the committed
 * one is intact, and the run can go on with the lost point's index. */
static void test_close_mid_point(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  int64_t point;

  assert_int_equal(write_one_point_then_start_another(fx->path, &db), 0);
  iov_db_close(db);
  assert_only_first_point(fx->path);

  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  add_point(db, 1, 1, "tcp_stream", NULL, &point);
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  iov_db_close(db);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM point"), 2);
}

/* The same when the writer is killed without closing anything. */
static void test_crash_mid_point(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  int status;
  pid_t pid;

  fflush(NULL);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* SIGKILL: no exit handlers, no close, nothing flushed on the way
     * out (and no leak report from a sanitizer or valgrind). */
    if (write_one_point_then_start_another(fx->path, &db) < 0) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status)) print_error("child exited with %d\n", WEXITSTATUS(status));
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  /* The uncommitted point did reach the file. */
  assert_true(wal_size(fx->path) > 100 * 4096);
  /* The dead writer left its WAL behind; a reader replays only what was
   * committed. */
  assert_only_first_point(fx->path);
  /* coord run --resume: the run is taken up again, and only the point in
   * flight is missing, so only it runs again. */
  int64_t run = 0;
  char *uuid = NULL;
  unsigned stored[3] = { 0, 0, 0 }, next_idx = 99;
  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_run_resume(db, &run, &uuid, dberr, sizeof(dberr)));
  assert_string_equal(uuid, "u");
  assert_ok(db, iov_db_points_stored(db, run, stored, NULL, 3, &next_idx, dberr, sizeof(dberr)));
  assert_int_equal(stored[0], 1);
  assert_int_equal(stored[1], 0);
  assert_int_equal(stored[2], 0);
  assert_int_equal(next_idx, 1);
  /* A sample gap is stored with the point it belongs to. */
  int64_t agent, point;
  struct iov_db_point p1 = { .idx = 1, .point_no = 1, .test = "tcp_stream" };
  assert_ok(db, iov_db_agent_add(db, run, "a", NULL, NULL, NULL, &agent, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_point_begin(db, run, &p1, &point, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_gap_add(db, point, agent, 3, 2, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_gap_add(db, point, agent, 5, 0, dberr, sizeof(dberr)), -EINVAL);
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  iov_db_close(db);
  free(uuid);
  assert_int_equal(count_rows(fx->path, "SELECT missing FROM sample_gap WHERE after_seq = 3"), 2);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM run WHERE status = 'running'"), 1);
}

/* A database from a newer schema is refused, read-write or not, and is
 * not modified. */
static void test_newer_schema_refused(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  sqlite3 *s = NULL;

  assert_int_equal(sqlite3_open(fx->path, &s), SQLITE_OK);
  assert_int_equal(sqlite3_exec(s, "CREATE TABLE future (x); PRAGMA user_version = 99", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(s);

  assert_int_equal(iov_db_open(fx->path, &db, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_null(db);
  dberr[0] = '\0';
  assert_int_equal(iov_db_open(fx->path, &db, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_null(db);
  assert_true(dberr[0] != '\0');
  assert_non_null(strstr(dberr, "99"));
  assert_non_null(strstr(dberr, "newer"));
  dberr[0] = '\0';
  assert_int_equal(iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_null(db);
  assert_non_null(strstr(dberr, "99"));

  /* Untouched: still version 99, no tables of ours, not switched to WAL. */
  assert_int_equal(count_rows(fx->path, "PRAGMA user_version"), 99);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'run'"), 0);
  assert_int_equal(sqlite3_open(fx->path, &s), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(s, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
  sqlite3_finalize(st);
  sqlite3_close(s);
}

/* Read-only needs an existing iovbench database; opening read-write twice
 * is fine (the schema is created once). */
static void test_open_modes(void **state) {
  struct fixture *fx = *state;
  struct iov_db *db = NULL;
  sqlite3 *s = NULL;

  assert_int_equal(iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)), -ENOENT);
  assert_null(db);

  assert_int_equal(sqlite3_open(fx->path, &s), SQLITE_OK);
  assert_int_equal(sqlite3_exec(s, "CREATE TABLE other (x)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(s);
  assert_int_equal(iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)), -IOV_E_DB);
  assert_non_null(strstr(dberr, "not an iovbench"));
  assert_int_equal(unlink(fx->path), 0);

  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  iov_db_close(db);
  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  iov_db_close(db);
  assert_int_equal(count_rows(fx->path, "PRAGMA user_version"), 7);
  assert_int_equal(count_rows(fx->path, "SELECT COUNT(*) FROM meta"), 2);
  /* An empty database has no run to report. */
  struct iov_report *rep = NULL;
  assert_ok(NULL, iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)));
  assert_int_equal(iov_report_load(db, &rep, dberr, sizeof(dberr)), -ENOENT);
  assert_null(rep);
  iov_db_close(db);

  /* A run stored with schema 5 (before repetitions): read as it is, and
   * migrated when opened for writing (coord run --resume). */
  int64_t run, point;
  struct iov_db_point p3 = { .idx = 3, .point_no = 3, .test = "t" };
  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_run_begin(db, "old", NULL, NULL, T0, &run, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_point_begin(db, run, &p3, &point, dberr, sizeof(dberr)));
  assert_ok(db, iov_db_point_end(db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  iov_db_close(db);
  assert_int_equal(sqlite3_open(fx->path, &s), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(s,
                   "ALTER TABLE point DROP COLUMN point_no; ALTER TABLE point DROP COLUMN rep;"
                   "DROP TABLE point_confidence; ALTER TABLE point DROP COLUMN trial;"
                   "ALTER TABLE sample DROP COLUMN segs_out; ALTER TABLE sample DROP COLUMN segs_in;"
                   "ALTER TABLE result DROP COLUMN segs_out; ALTER TABLE result DROP COLUMN segs_in;"
                   "DROP TABLE trial; DROP TABLE search; PRAGMA user_version = 5",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(s);
  assert_ok(NULL, iov_db_open_readonly(fx->path, &db, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_schema_version(db), 5);
  assert_ok(db, iov_report_load(db, &rep, dberr, sizeof(dberr)));
  assert_int_equal(rep->n_points, 1);
  assert_int_equal(rep->points[0].point_no, 3);
  assert_int_equal(rep->points[0].rep, 0);
  rep = iov_report_free(rep);
  /* One plan point's runs only (confidence reads them back). */
  assert_ok(db, iov_report_load_point(db, 3, &rep, dberr, sizeof(dberr)));
  assert_int_equal(rep->n_points, 1);
  rep = iov_report_free(rep);
  assert_ok(db, iov_report_load_point(db, 2, &rep, dberr, sizeof(dberr)));
  assert_int_equal(rep->n_points, 0);
  rep = iov_report_free(rep);
  iov_db_close(db);
  assert_ok(NULL, iov_db_open(fx->path, &db, dberr, sizeof(dberr)));
  assert_int_equal(iov_db_schema_version(db), 7);
  iov_db_close(db);
  assert_int_equal(count_rows(fx->path, "PRAGMA user_version"), 7);
  assert_int_equal(count_rows(fx->path, "SELECT point_no FROM point"), 3);
  assert_int_equal(count_rows(fx->path, "SELECT trial FROM point"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_report_numbers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_report_json, setup, teardown),
    cmocka_unit_test_setup_teardown(test_report_table, setup, teardown),
    cmocka_unit_test_setup_teardown(test_vm_fairness, setup, teardown),
    cmocka_unit_test_setup_teardown(test_hist_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_counters_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_close_mid_point, setup, teardown),
    cmocka_unit_test_setup_teardown(test_crash_mid_point, setup, teardown),
    cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_open_modes, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
