/* coordinator/ingest.c: what a point's agents send, checked against what
 * the point can produce, then stored; order, gaps and the point's failure
 * as coord run sees them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clocksync.h"
#include "err.h"
#include "ingest.h"
#include "log.h"

struct fixture {
  char dir[64];
  struct iov_db *db;
  int64_t run, point, agent, flow[2];
  struct iov_ingest_point pt;
  struct iov_ingest_agent a;
  unsigned failed;
  char reason[768];
};

static void on_fail(void *arg, const char *reason) {
  struct fixture *fx = arg;
  if (!fx->failed++) snprintf(fx->reason, sizeof(fx->reason), "%s", reason);
}

static int setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));
  char path[128], err[256] = "";
  if (!fx) return -1;
  iov_log_set_level(0); /* ingest warns about what it refuses */
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/iovb-ingest-XXXXXX");
  if (!mkdtemp(fx->dir)) return -1;
  snprintf(path, sizeof(path), "%s/results.db", fx->dir);
  struct iov_db_point p = { .test = "t",
                            .sweep = "",
                            .workload = "tcp_stream",
                            .params_json = "{}",
                            .duration_ns = IOV_NSEC_PER_SEC,
                            .sample_interval_ns = 100 * IOV_NSEC_PER_MSEC };
  if (iov_db_open(path, &fx->db, err, sizeof(err)) < 0 ||
      iov_db_run_begin(fx->db, "u", "t.plan", "", 1, &fx->run, err, sizeof(err)) < 0 ||
      iov_db_agent_add(fx->db, fx->run, "a", "ipc://a", "a", "{}", &fx->agent, err, sizeof(err)) < 0 ||
      iov_db_point_begin(fx->db, fx->run, &p, &fx->point, err, sizeof(err)) < 0)
    return fprintf(stderr, "setup: %s\n", err), -1;
  for (unsigned f = 0; f < 2; f++)
    if (iov_db_flow_add_link(fx->db, fx->point, fx->agent, "sender", f, 0, &fx->flow[f], err, sizeof(err)) <
        0)
      return fprintf(stderr, "setup: %s\n", err), -1;
  fx->pt = (struct iov_ingest_point){
    .db = fx->db,
    .db_point = fx->point,
    .number = 1,
    .span_ns = iov_ingest_span_ns(0, p.duration_ns, p.sample_interval_ns),
    .sample_interval_ns = p.sample_interval_ns,
    .fail = on_fail,
    .fail_arg = fx,
  };
  fx->a = (struct iov_ingest_agent){
    .name = "a", .sender = true, .db_agent = fx->agent, .flows = 2, .flow_id = fx->flow, .offset_ns = 1000
  };
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  struct fixture *fx = *state;
  char cmd[128];
  iov_db_close(fx->db);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
  if (system(cmd) != 0) return -1;
  free(fx);
  return 0;
}

static Iovbench__SampleBatch batch(uint32_t seq, Iovbench__FlowSample *fs, Iovbench__FlowSample **v) {
  Iovbench__SampleBatch b = IOVBENCH__SAMPLE_BATCH__INIT;
  b.seq = seq;
  b.t_start_ns = 1000 + seq * 100;
  b.t_end_ns = 1000 + seq * 100 + 100;
  v[0] = fs;
  b.flows = v;
  b.n_flows = 1;
  return b;
}

static void test_span(void **state) {
  (void)state;
  assert_int_equal(iov_ingest_span_ns(1, 2, 3), 1 + 2 + 3 + IOV_AGENT_FINISH_GRACE_NS);
}

/* In order, again, with a gap, out of bounds. */
static void test_samples(void **state) {
  struct fixture *fx = *state;
  char err[256] = "";
  Iovbench__FlowSample fs = IOVBENCH__FLOW_SAMPLE__INIT, *v[1];
  fs.flow = 1;
  fs.bytes = 1000;

  Iovbench__SampleBatch b = batch(1, &fs, v);
  assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
  assert_int_equal(fx->a.samples, 1);
  assert_int_equal(fx->a.last_seq, 1);

  /* The same batch again: dropped. */
  assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
  assert_int_equal(fx->a.samples, 1);

  /* Batches 2 and 3 never came: stored as a gap, taken. */
  b = batch(4, &fs, v);
  assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
  assert_int_equal(fx->a.samples, 2);
  assert_int_equal(fx->a.last_seq, 4);

  /* A number the point cannot produce: the whole batch refused. */
  fs.bytes = UINT64_C(1) << 61;
  b = batch(5, &fs, v);
  assert_int_equal(iov_ingest_batch_check(&fx->pt, &b, err, sizeof(err)), -ERANGE);
  assert_non_null(strstr(err, "bytes 2305843009213693952, more than this point can produce (at most "));
  assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
  assert_int_equal(fx->a.samples, 2);
  assert_int_equal(fx->a.last_seq, 4);

  /* A flow the agent does not have: that sample dropped, the batch taken. */
  fs.bytes = 1;
  fs.flow = 2;
  b = batch(5, &fs, v);
  assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
  assert_int_equal(fx->a.samples, 3);

  /* A sequence number far beyond the point's span. */
  b = batch(100000, &fs, v);
  assert_int_equal(iov_ingest_batch_check(&fx->pt, &b, err, sizeof(err)), -ERANGE);
  assert_non_null(strstr(err, "sequence number 100000"));
  assert_int_equal(fx->failed, 0);
}

/* An agent whose clock replies made its offset absurd, with times at the
 * ends of the range: converted modulo 2^64, never a signed overflow
 * (undefined; the sanitizer build aborts on it), and the batch taken or
 * refused by ingest's own checks. */
static void test_clock_extremes(void **state) {
  struct fixture *fx = *state;
  char err[256] = "";
  Iovbench__FlowSample fs = IOVBENCH__FLOW_SAMPLE__INIT, *v[1];
  static const int64_t offsets[] = { INT64_MIN, INT64_MAX, -1, 1 };
  static const uint64_t times[] = { UINT64_MAX, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1, 1 };

  assert_true(iov_clock_to_coord(UINT64_MAX, INT64_MIN) == (uint64_t)INT64_MAX);
  assert_true(iov_clock_to_coord((uint64_t)INT64_MAX, -1) == UINT64_C(1) << 63);
  assert_true(iov_clock_to_agent(UINT64_MAX, 1) == 0);
  assert_true(iov_clock_to_coord(0, INT64_MIN) == 0); /* 0: no time given */
  fs.bytes = 1;
  uint32_t seq = 1;
  for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++)
    for (size_t k = 0; k < sizeof(times) / sizeof(times[0]); k++) {
      Iovbench__SampleBatch b = batch(seq++, &fs, v);
      fx->a.offset_ns = offsets[i];
      b.t_start_ns = times[k];
      b.t_end_ns = times[k];
      assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
    }
  assert_int_equal(fx->failed, 0);
}

/* A result: its window in coord's time, a flow's error fails the point,
 * samples that never came are a gap. */
static void test_result(void **state) {
  struct fixture *fx = *state;
  char err[256] = "";
  Iovbench__FlowResult f0 = IOVBENCH__FLOW_RESULT__INIT, f1 = IOVBENCH__FLOW_RESULT__INIT,
                       *v[2] = { &f0, &f1 };
  Iovbench__Result res = IOVBENCH__RESULT__INIT;
  f0.flow = 0;
  f0.bytes = 500;
  f0.complete = true;
  f1.flow = 1;
  f1.bytes = 700;
  f1.error_text = "connection reset\033[2J";
  res.flows = v;
  res.n_flows = 2;
  res.samples = 3;
  res.started_ns = 5000;
  res.window_start_ns = 6000;
  res.window_end_ns = 16000;

  assert_int_equal(iov_ingest_result_check(&fx->pt, &res, err, sizeof(err)), 0);
  assert_int_equal(iov_ingest_result(&fx->pt, &fx->a, &res, err, sizeof(err)), 0);
  assert_int_equal(fx->failed, 1);
  assert_non_null(strstr(fx->reason, "sender 'a' flow 1: connection reset"));
  assert_null(strchr(fx->reason, '\033'));
  assert_int_equal(fx->a.bytes, 1200);
  assert_int_equal(fx->a.win_ns, 10000);
  assert_int_equal(fx->a.started, 4000); /* agent time - offset */
  assert_int_equal(fx->pt.win_start, 5000);
  assert_int_equal(fx->pt.win_end, 15000);
}

/* A result out of bounds: refused whole, the point fails saying why. */
static void test_result_refused(void **state) {
  struct fixture *fx = *state;
  char err[256] = "";
  Iovbench__FlowResult f0 = IOVBENCH__FLOW_RESULT__INIT, *v[1] = { &f0 };
  Iovbench__Result res = IOVBENCH__RESULT__INIT;
  f0.jitter_ns = UINT64_MAX;
  res.flows = v;
  res.n_flows = 1;
  res.window_start_ns = 1;
  res.window_end_ns = 2;
  assert_int_equal(iov_ingest_result(&fx->pt, &fx->a, &res, err, sizeof(err)), 0);
  assert_int_equal(fx->failed, 1);
  assert_non_null(strstr(fx->reason,
                         "sender 'a' sent a result with jitter_ns 18446744073709551615, more than "
                         "this point can produce"));
  assert_non_null(strstr(fx->reason, ": refused"));
  assert_int_equal(fx->pt.win_start, 0); /* nothing of it taken */
  assert_int_equal(fx->a.bytes, 0);
}

static int segs_cb(const struct iov_db_flow_row *row, void *userdata) {
  uint64_t *sum = userdata;
  sum[0] += row->segs_out;
  sum[1] += row->segs_in;
  return 0;
}

/* TCP segment counters: stored from the result as sent; one the point
 * cannot produce refuses the batch or the result whole, as any counter. */
static void test_segments(void **state) {
  struct fixture *fx = *state;
  char err[256] = "";
  Iovbench__FlowSample fs = IOVBENCH__FLOW_SAMPLE__INIT, *v[1];
  fs.flow = 0;
  fs.bytes = 1000;
  fs.segs_out = 12;
  fs.segs_in = 6;
  Iovbench__SampleBatch b = batch(1, &fs, v);
  assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
  assert_int_equal(fx->a.samples, 1);
  fs.segs_out = UINT64_C(1) << 61;
  b = batch(2, &fs, v);
  assert_int_equal(iov_ingest_batch_check(&fx->pt, &b, err, sizeof(err)), -ERANGE);
  assert_non_null(strstr(err, "segs_out 2305843009213693952, more than this point can produce"));
  assert_int_equal(iov_ingest_samples(&fx->pt, &fx->a, &b, err, sizeof(err)), 0);
  assert_int_equal(fx->a.samples, 1);

  Iovbench__FlowResult f0 = IOVBENCH__FLOW_RESULT__INIT, *rv[1] = { &f0 };
  Iovbench__Result res = IOVBENCH__RESULT__INIT;
  f0.bytes = 1000;
  f0.segs_in = UINT64_MAX;
  f0.complete = true;
  res.flows = rv;
  res.n_flows = 1;
  res.window_start_ns = 1;
  res.window_end_ns = 2;
  assert_int_equal(iov_ingest_result_check(&fx->pt, &res, err, sizeof(err)), -ERANGE);
  assert_non_null(strstr(err, "segs_in 18446744073709551615"));
  f0.segs_in = 6;
  f0.segs_out = 12;
  assert_int_equal(iov_ingest_result(&fx->pt, &fx->a, &res, err, sizeof(err)), 0);
  assert_int_equal(fx->failed, 0);
  uint64_t sum[2] = { 0, 0 };
  assert_int_equal(iov_db_flows_read(fx->db, fx->point, segs_cb, sum, err, sizeof(err)), 0);
  assert_int_equal(sum[0], 12);
  assert_int_equal(sum[1], 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_span),
    cmocka_unit_test_setup_teardown(test_samples, setup, teardown),
    cmocka_unit_test_setup_teardown(test_clock_extremes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_result, setup, teardown),
    cmocka_unit_test_setup_teardown(test_result_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_segments, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
