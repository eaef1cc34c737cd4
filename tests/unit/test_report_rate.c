/* Unit tests for the packet rates and rate searches of coord's report,
 * plot and compare (issue 16), against real SQLite files written through
 * results.c's API: packets per second sent and received of a UDP point,
 * its frame rate, wire rate and share of the line at known numbers
 * (1 Mpps of 64-byte frames = 0.512 Gbit/s of frames, 0.672 Gbit/s on
 * the wire, 6.72 % of 10 Gbit/s), TCP segments per second, "-" for a
 * results.db older than the segment counts, hostile stored values, the
 * NDR/PDR table, JSON and CSV from stored searches, compare of two runs'
 * NDRs, and the two search figures coord plot draws. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "coord.h"
#include "report.h"
#include "results.h"

#define SEC UINT64_C(1000000000)
#define T0 UINT64_C(1700000000000000000)

/* 10 Gbit/s NIC (veth reports 10000), data address 198.18.0.1. */
#define INV_A                                                                                              \
  "{\"name\":\"a\",\"interfaces\":[{\"name\":\"lo\",\"addresses\":[\"127.0.0.1/8\"],\"up\":true,"          \
  "\"loopback\":true,\"speed_mbps\":0},{\"name\":\"veth0\",\"addresses\":[\"198.18.0.1/24\"],\"up\":true," \
  "\"loopback\":false,\"speed_mbps\":10000}]}"

static char dberr[512];

#define assert_ok(expr)                                          \
  do {                                                           \
    int r_ = (expr);                                             \
    if (r_ < 0) print_error("%s = %d (%s)\n", #expr, r_, dberr); \
    assert_int_equal(r_, 0);                                     \
  } while (0)

struct fixture {
  char dir[64];
  char path[128], path_b[128];
};

static int setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));
  if (!fx) return -1;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/iov-test-report-rate.XXXXXX");
  if (!mkdtemp(fx->dir)) {
    free(fx);
    return -1;
  }
  snprintf(fx->path, sizeof(fx->path), "%s/a.db", fx->dir);
  snprintf(fx->path_b, sizeof(fx->path_b), "%s/b.db", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  struct fixture *fx = *state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
  /* IOV_TEST_KEEP=1: leave the files to look at. */
  int r = getenv("IOV_TEST_KEEP") ? 0 : system(cmd);
  free(fx);
  return r == 0 ? 0 : -1;
}

struct run {
  struct iov_db *db;
  int64_t run, a, b;
  unsigned idx;
};

static void run_open(struct run *r, const char *path, const char *endpoint_b) {
  memset(r, 0, sizeof(*r));
  assert_ok(iov_db_open(path, &r->db, dberr, sizeof(dberr)));
  assert_ok(iov_db_run_begin(r->db, "5e5e5e5e-0000-4000-8000-000000000016", "plans/ndr.plan", "", T0 - SEC,
                             &r->run, dberr, sizeof(dberr)));
  assert_ok(iov_db_agent_add(r->db, r->run, "a", "tcp://198.18.0.1:7700", "host-a", INV_A, &r->a, dberr,
                             sizeof(dberr)));
  assert_ok(iov_db_agent_add(r->db, r->run, "b", endpoint_b, "host-b", "{}", &r->b, dberr, sizeof(dberr)));
}

static void run_close(struct run *r) {
  assert_ok(iov_db_run_end(r->db, r->run, "ok", NULL, T0 + 600 * SEC, dberr, sizeof(dberr)));
  iov_db_close(r->db);
}

/* One point of one sender and one receiver flow over exactly 2 s: the
 * sender sent tx messages, the receiver got rx; TCP points also segs.
 * trial > 0: a search trial.  Returns the point's id. */
static int64_t add_point(struct run *r, unsigned point_no, unsigned trial, const char *workload,
                         const char *params, uint64_t tx, uint64_t rx, uint64_t segs_out, uint64_t segs_in) {
  int64_t point, ftx, frx;
  struct iov_db_point p = {
    .idx = r->idx++,
    .point_no = point_no,
    .test = "pps",
    .sweep = "",
    .workload = workload,
    .params_json = params,
    .duration_ns = 2 * SEC,
    .sample_interval_ns = SEC,
    .trial = trial,
  };
  assert_ok(iov_db_point_begin(r->db, r->run, &p, &point, dberr, sizeof(dberr)));
  assert_ok(iov_db_flow_add(r->db, point, r->a, "sender", 0, &ftx, dberr, sizeof(dberr)));
  assert_ok(iov_db_flow_add(r->db, point, r->b, "receiver", 0, &frx, dberr, sizeof(dberr)));
  uint64_t t = T0 + r->idx * 10 * SEC;
  struct iov_db_result rt = {
    .bytes = tx * 22,
    .messages = tx,
    .t_start_ns = t,
    .t_end_ns = t + 2 * SEC,
    .segs_out = segs_out,
    .segs_in = segs_in,
  };
  struct iov_db_result rr = {
    .bytes = rx * 22,
    .messages = rx,
    .lost = tx - rx,
    .t_start_ns = t,
    .t_end_ns = t + 2 * SEC,
  };
  assert_ok(iov_db_result_add(r->db, ftx, &rt, dberr, sizeof(dberr)));
  assert_ok(iov_db_result_add(r->db, frx, &rr, dberr, sizeof(dberr)));
  assert_ok(iov_db_point_end(r->db, point, IOV_POINT_OK, NULL, dberr, sizeof(dberr)));
  return point;
}

static struct iov_report *load(const char *path) {
  struct iov_db *db = NULL;
  struct iov_report *rep = NULL;
  assert_ok(iov_db_open_readonly(path, &db, dberr, sizeof(dberr)));
  assert_ok(iov_report_load(db, &rep, dberr, sizeof(dberr)));
  iov_db_close(db);
  return rep;
}

__attribute__((noinline)) static char *print(struct iov_report *rep,
                                             int (*fn)(const struct iov_report *, FILE *)) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(fn(rep, f), 0);
  assert_int_equal(fclose(f), 0);
  return text;
}

static int print_table(const struct iov_report *rep, FILE *f) {
  iov_report_print_table(rep, f);
  return 0;
}

static int print_study(const struct iov_report *rep, FILE *f) {
  iov_report_print_study(rep, f);
  return 0;
}

static void assert_near(double v, double want, double rel) {
  if (!(fabs(v - want) <= rel * fabs(want))) print_error("%.9g is not %.9g\n", v, want);
  assert_true(fabs(v - want) <= rel * fabs(want));
}

/* 1 Mpps sent, 0.99 Mpps received, 64-byte frames on a 10 Gbit/s NIC;
 * the same without frame_size (msg_size 18 + IPv4 headers is 64 too);
 * 1 Mpps of 64-byte frames over IPv6 from msg_size 18 is an 84-byte
 * frame; a TCP stream with 500k segments a second. */
static void test_pps_and_frames(void **state) {
  struct fixture *fx = *state;
  struct run r;
  run_open(&r, fx->path, "tcp://198.18.0.2:7700");
  add_point(&r, 0, 0, "udp_stream", "{\"msg_size\": 18, \"frame_size\": \"64\", \"path\": \"native\"}",
            2000000, 1980000, 0, 0);
  add_point(&r, 1, 0, "udp_stream", "{\"msg_size\": 18, \"path\": \"native\"}", 2000000, 2000000, 0, 0);
  add_point(&r, 2, 0, "udp_stream",
            "{\"msg_size\": 18, \"frame_size\": \"imix\", \"line_rate\": 25000000000}", 1200000, 1200000, 0,
            0);
  add_point(&r, 3, 0, "tcp_stream", "{\"msg_size\": 65536}", 40000, 40000, 1000000, 500000);
  run_close(&r);

  struct iov_report *rep = load(fx->path);
  assert_int_equal(rep->n_points, 4);
  const struct iov_point_summary *p = &rep->points[0];
  assert_near(p->pps_tx, 1e6, 1e-9);
  assert_near(p->pps_rx, 0.99e6, 1e-9);
  assert_int_equal(p->family, 4);
  assert_near(p->frame_bytes, 64, 0);
  assert_near(p->frame_pps, 0.99e6, 1e-9);
  assert_near(p->line_bps, 10e9, 0);
  assert_near(p->wire_gbps, 0.99 * 0.672, 1e-9);
  assert_near(p->line_pct, 0.99 * 6.72, 1e-9);
  /* msg_size 18 over IPv4: the same 64-byte frame, at exactly 1 Mpps:
   * 0.512 Gbit/s of frames, 0.672 Gbit/s on the wire, 6.72 % of 10G. */
  p = &rep->points[1];
  assert_near(p->frame_bytes, 64, 0);
  assert_near(p->frame_pps * p->frame_bytes * 8 / 1e9, 0.512, 1e-9);
  assert_near(p->wire_gbps, 0.672, 1e-9);
  assert_near(p->line_pct, 6.72, 1e-9);
  /* IMIX: mean (64*7 + 570*4 + 1518) / 12; the plan's line_rate wins over
   * the NIC's speed. */
  p = &rep->points[2];
  double imix = (64.0 * 7 + 570 * 4 + 1518) / 12;
  assert_near(p->frame_bytes, imix, 1e-9);
  assert_near(p->line_bps, 25e9, 0);
  assert_near(p->wire_gbps, (imix + 20) * 8 * 0.6e6 / 1e9, 1e-9);
  assert_near(p->line_pct, (imix + 20) * 8 * 0.6e6 / 25e9 * 100, 1e-9);
  /* TCP: segments sent per second; no datagram rate, no frame. */
  p = &rep->points[3];
  assert_true(p->segs_known);
  assert_near(p->segs_ps, 500000, 1e-9);
  assert_true(isnan(p->pps_rx) && isnan(p->pps_tx) && isnan(p->frame_bytes));

  char *table = print(rep, print_table);
  assert_non_null(strstr(table, "Mpps"));
  assert_non_null(strstr(table, "packet rate:"));
  if (!strstr(table, " 6.72")) print_error("%s", table);
  assert_non_null(strstr(table, " 6.72"));   /* % line of point 2 */
  assert_non_null(strstr(table, " 0.672 ")); /* its wire Gbit/s */
  assert_non_null(strstr(table, " 0.990 ")); /* point 1's Mpps received */
  assert_null(strstr(table, "nan"));
  free(table);

  char *json = print(rep, iov_report_print_json);
  json_t *j = json_loads(json, 0, NULL);
  assert_non_null(j);
  json_t *p0 = json_array_get(json_object_get(j, "points"), 1);
  assert_near(json_real_value(json_object_get(p0, "pps_rx")), 1e6, 1e-9);
  assert_near(json_real_value(json_object_get(p0, "pps_tx")), 1e6, 1e-9);
  assert_near(json_real_value(json_object_get(p0, "frame_gbps")), 0.512, 1e-9);
  assert_near(json_real_value(json_object_get(p0, "wire_gbps")), 0.672, 1e-9);
  assert_near(json_real_value(json_object_get(p0, "line_pct")), 6.72, 1e-9);
  json_t *p3 = json_array_get(json_object_get(j, "points"), 3);
  assert_true(json_is_null(json_object_get(p3, "pps_rx")));
  assert_int_equal(json_integer_value(json_object_get(p3, "segs_out")), 1000000);
  json_decref(j);
  free(json);

  char *csv = print(rep, iov_report_print_csv);
  assert_non_null(strstr(csv, ",pps_tx,pps_rx,segs_ps,frame_pps,wire_gbps,line_pct,"));
  assert_non_null(strstr(csv, ",1e+06,1e+06,,1e+06,0.672,6.72,"));
  free(csv);
  iov_report_free(rep);
}

/* The same at IPv6: msg_size 18 makes an 84-byte frame. */
static void test_ipv6_frame(void **state) {
  struct fixture *fx = *state;
  struct run r;
  run_open(&r, fx->path, "tcp://[fd00::2]:7700");
  /* The sender's endpoint is IPv4 in run_open: use an agent of its own. */
  int64_t a6;
  assert_ok(iov_db_agent_add(r.db, r.run, "a6", "tcp://[fd00::1]:7700", "host-a6", "{}", &a6, dberr,
                             sizeof(dberr)));
  r.a = a6;
  add_point(&r, 0, 0, "udp_stream", "{\"msg_size\": 18}", 2000000, 2000000, 0, 0);
  run_close(&r);
  struct iov_report *rep = load(fx->path);
  assert_int_equal(rep->points[0].family, 6);
  assert_near(rep->points[0].frame_bytes, 84, 0);
  /* No inventory speed and no line_rate: no share of the line. */
  assert_true(isnan(rep->points[0].line_pct));
  char *table = print(rep, print_table);
  assert_null(strstr(table, "nan"));
  free(table);
  iov_report_free(rep);
}

/* A results.db from before the segment counts (schema 6: the fixture
 * run): TCP segments are "-" in the table, null in JSON, empty in CSV,
 * never 0. */
static void test_old_db_segments_unknown(void **state) {
  (void)state;
  const char *src = getenv("IOV_SRCDIR");
  char path[4096];
  if (!src) skip();
  snprintf(path, sizeof(path), "%s/tests/fixtures/run-small/results.db", src);
  struct iov_report *rep = load(path);
  bool tcp = false;
  for (size_t i = 0; i < rep->n_points; i++) {
    const struct iov_point_summary *p = &rep->points[i];
    if (!p->workload || strcmp(p->workload, "tcp_stream") != 0) continue;
    tcp = true;
    assert_false(p->segs_known);
    assert_true(isnan(p->segs_ps));
  }
  assert_true(tcp);
  char *json = print(rep, iov_report_print_json);
  json_t *j = json_loads(json, 0, NULL);
  size_t i;
  json_t *pt;
  json_array_foreach(json_object_get(j, "points"), i, pt) {
    assert_true(json_is_null(json_object_get(pt, "segs_out")));
    assert_true(json_is_null(json_object_get(pt, "segs_ps")));
  }
  json_decref(j);
  free(json);
  char *table = print(rep, print_table);
  /* No packet table: nothing to show for an old TCP run. */
  assert_null(strstr(table, "packet rate:"));
  assert_null(strstr(table, "nan"));
  free(table);
  iov_report_free(rep);
}

/* Hostile rows: a frame_size that is no frame, a line_rate that is text,
 * an inventory speed of -1 and of 10^12 Mbit/s: "-", never a bogus
 * figure or a crash. */
static void test_hostile_values(void **state) {
  struct fixture *fx = *state;
  struct run r;
  run_open(&r, fx->path, "tcp://198.18.0.2:7700");
  int64_t bad;
  assert_ok(iov_db_agent_add(r.db, r.run, "bad", "tcp://198.18.0.9:7700", "host-bad",
                             "{\"interfaces\":[{\"name\":\"x\",\"addresses\":[\"198.18.0.9/24\"],\"up\":true,"
                             "\"speed_mbps\":1000000000000}]}",
                             &bad, dberr, sizeof(dberr)));
  r.a = bad;
  add_point(&r, 0, 0, "udp_stream", "{\"msg_size\": 18, \"frame_size\": \"65\\u0000\", \"line_rate\": \"x\"}",
            1000, 1000, 0, 0);
  add_point(&r, 1, 0, "udp_stream", "{\"msg_size\": 99999999, \"frame_size\": 9217}", 1000, 1000, 0, 0);
  add_point(&r, 2, 0, "udp_stream", "{\"frame_size\": [64], \"line_rate\": -5, \"interface\": 7}", 1000, 1000,
            0, 0);
  run_close(&r);
  struct iov_report *rep = load(fx->path);
  for (size_t i = 0; i < rep->n_points; i++) {
    const struct iov_point_summary *p = &rep->points[i];
    assert_true(isnan(p->line_bps));
    assert_true(isnan(p->line_pct));
  }
  assert_true(isnan(rep->points[1].frame_bytes));
  assert_true(isnan(rep->points[2].frame_bytes));
  char *table = print(rep, print_table);
  assert_null(strstr(table, "nan"));
  assert_null(strstr(table, "inf"));
  free(table);
  iov_report_free(rep);
}

/* A run with searches: point 0 (64 B) and point 1 (1518 B) searched for
 * NDR and PDR, each with a short and two full trials stored as trial
 * points; rate scales the NDRs (run B = 1.1 x run A). */
static void build_search_run(const char *path, double rate) {
  struct run r;
  run_open(&r, path, "tcp://198.18.0.2:7700");
  static const char *const params[2] = {
    "{\"msg_size\": 18, \"frame_size\": \"64\", \"path\": \"native\"}",
    "{\"msg_size\": 18, \"frame_size\": \"1518\", \"path\": \"native\"}"
  };
  static const double frame[2] = { 64, 1518 };
  for (unsigned no = 0; no < 2; no++) {
    double ndr = rate * (no ? 0.8e6 : 2e6), pdr = ndr * 1.05;
    int64_t last = 0;
    for (unsigned seq = 1; seq <= 3; seq++) {
      uint64_t sent = (uint64_t)(ndr * 2), lost = seq == 2 ? sent / 100 : 0;
      int64_t pid = add_point(&r, no, seq, "udp_stream", params[no], sent, sent - lost, 0, 0);
      struct iov_db_trial t = {
        .point_id = pid,
        .point_no = no,
        .rep = 0,
        .seq = seq,
        .full = seq > 1,
        .offered_pps = seq == 2 ? ndr * 1.1 : ndr,
        .offered_wire_bps = (seq == 2 ? ndr * 1.1 : ndr) * (frame[no] + 20) * 8,
        .duration_ns = seq > 1 ? 2 * SEC : SEC / 2,
        .sent = sent,
        .received = sent - lost,
        .lost = lost,
      };
      assert_ok(iov_db_trial_add(r.db, &t, dberr, sizeof(dberr)));
      if (!lost) last = pid;
    }
    assert_ok(iov_db_point_set_trial(r.db, last, 0, dberr, sizeof(dberr)));
    for (int k = 0; k < 2; k++) {
      double pps = k ? pdr : ndr;
      struct iov_db_search s = {
        .point_no = no,
        .rep = 0,
        .kind = k ? "pdr" : "ndr",
        .converged = true,
        .rate_pps = pps,
        .rate_bps = pps * frame[no] * 8,
        .wire_bps = pps * (frame[no] + 20) * 8,
        .line_pct = pps * (frame[no] + 20) * 8 / 10e9 * 100,
        .frame_mean = frame[no],
        .loss = k ? 0.004 : 0,
        .trials = 3,
        .seconds = 4.5,
        .point_id = last,
      };
      assert_ok(iov_db_search_set(r.db, r.run, &s, dberr, sizeof(dberr)));
    }
  }
  run_close(&r);
}

static void test_search_table_json_csv(void **state) {
  struct fixture *fx = *state;
  build_search_run(fx->path, 1.0);
  struct iov_report *rep = load(fx->path);
  /* The trials are not measurements: two points, four searches, six trials. */
  assert_int_equal(rep->n_points, 2);
  assert_int_equal(rep->n_searches, 4);
  assert_int_equal(rep->n_trials, 6);

  char *table = print(rep, print_table);
  assert_non_null(strstr(table, "NDR/PDR by frame size per path"));
  /* 64 B: NDR 2 Mpps = 1.024 Gbit/s of frames, 13.44 % of 10G on the wire. */
  assert_non_null(strstr(table, " 2.000 "));
  assert_non_null(strstr(table, " 1.024 "));
  assert_non_null(strstr(table, " 13.44 "));
  /* PDR 2.1 Mpps. */
  assert_non_null(strstr(table, " 2.100 "));
  /* 1518 B: 0.8 Mpps = 9.715 Gbit/s */
  assert_non_null(strstr(table, " 9.715 "));
  assert_non_null(strstr(table, "1518"));
  /* Its measurement sent what the NDR says: no warning that it did not. */
  assert_null(strstr(table, "offered, not reached"));
  /* Frame sizes in order within the path. */
  char *a = strstr(table, "NDR/PDR by frame size");
  assert_true(strstr(a, "  64  ") < strstr(a, " 1518 "));
  free(table);

  char *json = print(rep, iov_report_print_json);
  json_t *j = json_loads(json, 0, NULL);
  json_t *s = json_object_get(j, "searches");
  assert_int_equal(json_array_size(s), 4);
  json_t *s0 = json_array_get(s, 0);
  assert_string_equal(json_string_value(json_object_get(s0, "kind")), "ndr");
  assert_string_equal(json_string_value(json_object_get(s0, "frame_size")), "64");
  assert_near(json_real_value(json_object_get(s0, "rate_pps")), 2e6, 1e-9);
  assert_near(json_real_value(json_object_get(s0, "rate_gbps")), 1.024, 1e-9);
  assert_near(json_real_value(json_object_get(s0, "line_pct")), 13.44, 1e-9);
  assert_true(json_is_true(json_object_get(s0, "converged")));
  assert_int_equal(json_array_size(json_object_get(s0, "trial_list")), 3);
  /* The measurement (the last full passing trial) sent at the NDR. */
  assert_near(json_real_value(json_object_get(s0, "sent_pps")), 2e6, 1e-9);
  json_decref(j);
  free(json);

  char *csv = print(rep, iov_report_print_csv);
  assert_non_null(strstr(csv, ",ndr_pps,ndr_gbps,ndr_line_pct,pdr_pps,pdr_gbps,pdr_line_pct,search_converged,"
                              "search_trials,error\n"));
  assert_non_null(strstr(csv, ",2e+06,1.024,13.44,2.1e+06,1.0752,14.112,yes,3,\n"));
  free(csv);

  char *study = print(rep, print_study);
  assert_non_null(strstr(study, "Packet rate by frame size"));
  free(study);
  iov_report_free(rep);
}

/* A search stopped after two trials (no answer stored, no measurement
 * yet): the report says so and names how far it got. */
static void test_unfinished_search(void **state) {
  struct fixture *fx = *state;
  struct run r;
  run_open(&r, fx->path, "tcp://198.18.0.2:7700");
  add_point(&r, 0, 0, "udp_stream", "{\"msg_size\": 18}", 1000, 1000, 0, 0);
  for (unsigned seq = 1; seq <= 2; seq++) {
    int64_t pid =
        add_point(&r, 1, seq, "udp_stream", "{\"msg_size\": 18, \"frame_size\": \"64\"}", 2000, 2000, 0, 0);
    struct iov_db_trial t = {
      .point_id = pid,
      .point_no = 1,
      .seq = seq,
      .offered_pps = 1000.0 * seq,
      .offered_wire_bps = 1000.0 * seq * 84 * 8,
      .duration_ns = SEC,
      .sent = 2000,
      .received = 2000,
    };
    assert_ok(iov_db_trial_add(r.db, &t, dberr, sizeof(dberr)));
  }
  run_close(&r);
  struct iov_report *rep = load(fx->path);
  assert_int_equal(rep->n_points, 1);
  assert_int_equal(rep->n_trials, 2);
  char *table = print(rep, print_table);
  assert_non_null(
      strstr(table, "searches not finished (coord run --resume continues them): point 2 (2 trials)"));
  assert_null(strstr(table, "NDR/PDR by frame size"));
  free(table);
  iov_report_free(rep);
}

/* Run f with stdout going to path; its return value. */
static int with_stdout(const char *path, int (*f)(int, char **), int argc, char **argv) {
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(saved >= 0 && fd >= 0);
  dup2(fd, STDOUT_FILENO);
  close(fd);
  int r = f(argc, argv);
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  return r;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char *buf = calloc(1, 1 << 20);
  assert_non_null(buf);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_compare_ndr(void **state) {
  struct fixture *fx = *state;
  char out[160];
  build_search_run(fx->path, 1.0);
  build_search_run(fx->path_b, 1.1);
  snprintf(out, sizeof(out), "%s/compare.txt", fx->dir);
  char *argv[] = { "compare", fx->path, fx->path_b, NULL };
  int r = with_stdout(out, iov_coord_compare, 3, argv);
  assert_true(r == 0 || r == 1);
  char *text = slurp(out);
  assert_non_null(strstr(text, "NDR/PDR (rate searches)"));
  /* 64 B: 2.000 -> 2.200 Mpps, ratio 1.100. */
  assert_non_null(strstr(text, "2.000       2.200     1.100"));
  free(text);

  char *argv_json[] = { "compare", "--json", fx->path, fx->path_b, NULL };
  r = with_stdout(out, iov_coord_compare, 4, argv_json);
  assert_true(r == 0 || r == 1);
  text = slurp(out);
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  json_t *s = json_object_get(j, "searches");
  assert_int_equal(json_array_size(s), 4);
  assert_near(json_real_value(json_object_get(json_array_get(s, 0), "ratio")), 1.1, 1e-9);
  json_decref(j);
  free(text);
}

static bool exists(const char *dir, const char *name) {
  char p[512];
  struct stat st;
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  return stat(p, &st) == 0 && st.st_size > 0;
}

static void test_plot_search_figures(void **state) {
  struct fixture *fx = *state;
  char out[160], figs[160];
  if (system("command -v gnuplot >/dev/null 2>&1") != 0) skip();
  build_search_run(fx->path, 1.0);
  snprintf(out, sizeof(out), "%s/plot.txt", fx->dir);
  snprintf(figs, sizeof(figs), "%s/figures", fx->dir);
  char *argv[] = { "plot", "--out", figs, "--format", "svg", fx->path, NULL };
  assert_int_equal(with_stdout(out, iov_coord_plot, 6, argv), 0);
  /* The loss-against-offered-rate figure of each searched point, the
   * NDR-by-frame-size figure of the path, and Mpps by frame size. */
  assert_true(exists(figs, "search-001.svg"));
  assert_true(exists(figs, "search-002.svg"));
  assert_true(exists(figs, "ndr-native-host-host.svg"));
  assert_true(exists(figs, "packets-frame-udp_stream.svg"));
  char dat[256];
  snprintf(dat, sizeof(dat), "%s/search-001.dat", figs);
  char *text = slurp(dat);
  assert_non_null(strstr(text, "# short trials"));
  assert_non_null(strstr(text, "# full-length trials"));
  /* Trial 2 offered 2.2 Mpps and lost 1 %. */
  assert_non_null(strstr(text, " 2.2 1 "));
  free(text);
  snprintf(dat, sizeof(dat), "%s/ndr-native-host-host.dat", figs);
  text = slurp(dat);
  assert_non_null(strstr(text, " 64 2 2.1 1"));
  assert_non_null(strstr(text, " 1518 0.8 0.84 2"));
  free(text);
}

/* A run whose line rate nobody knows (a veth without a speed, no plan
 * line_rate) still gets its packet-rate figure, without the line's axis
 * (gnuplot refuses an axis without a value). */
static void test_plot_no_line_rate(void **state) {
  struct fixture *fx = *state;
  char out[160], figs[160];
  if (system("command -v gnuplot >/dev/null 2>&1") != 0) skip();
  struct run r;
  run_open(&r, fx->path, "tcp://198.18.0.2:7700");
  r.a = r.b; /* an agent with an empty inventory */
  add_point(&r, 0, 0, "udp_stream", "{\"msg_size\": 18, \"frame_size\": \"64\"}", 2000000, 2000000, 0, 0);
  add_point(&r, 1, 0, "udp_stream", "{\"msg_size\": 18, \"frame_size\": \"512\"}", 1000000, 1000000, 0, 0);
  run_close(&r);
  snprintf(out, sizeof(out), "%s/plot.txt", fx->dir);
  snprintf(figs, sizeof(figs), "%s/figures", fx->dir);
  char *argv[] = { "plot", "--out", figs, "--format", "svg", fx->path, NULL };
  assert_int_equal(with_stdout(out, iov_coord_plot, 6, argv), 0);
  assert_true(exists(figs, "packets-frame-udp_stream.svg"));
  char gp[256];
  snprintf(gp, sizeof(gp), "%s/packets-frame-udp_stream.gp", figs);
  char *text = slurp(gp);
  assert_null(strstr(text, "y2"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_pps_and_frames, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ipv6_frame, setup, teardown),
    cmocka_unit_test_setup_teardown(test_old_db_segments_unknown, setup, teardown),
    cmocka_unit_test_setup_teardown(test_hostile_values, setup, teardown),
    cmocka_unit_test_setup_teardown(test_search_table_json_csv, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unfinished_search, setup, teardown),
    cmocka_unit_test_setup_teardown(test_compare_ndr, setup, teardown),
    cmocka_unit_test_setup_teardown(test_plot_search_figures, setup, teardown),
    cmocka_unit_test_setup_teardown(test_plot_no_line_rate, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
