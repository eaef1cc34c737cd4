/* The wire: envelopes survive a round trip, and garbage, oversized,
 * wrong-version, unknown and invalid messages are refused with a count,
 * never a crash.  Uses real ZeroMQ sockets for send/recv. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "text.h"
#include "wire.h"

static iov_envelope *roundtrip(iov_envelope *e, int *ret) {
  zframe_t *f = NULL;
  iov_envelope *out = NULL;
  char why[256];
  assert_int_equal(iov_wire_encode(e, &f), 0);
  *ret = iov_wire_decode(zframe_data(f), zframe_size(f), &out, NULL, why, sizeof(why));
  zframe_destroy(&f);
  return out;
}

static void test_prepare_roundtrip(void **state) {
  (void)state;
  uint32_t ports[2] = { 40000, 40001 };
  Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
  w.name = "tcp_rr";
  w.flows = 2;
  w.msg_size = 1;
  w.response_size = 200;
  w.duration_ns = 2000000000ULL;
  w.sample_interval_ns = 250000000ULL;
  w.peer_address = "198.18.1.2";
  w.peer_ports = ports;
  w.n_peer_ports = 2;
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.point_id = 42;
  p.role = IOVBENCH__ROLE__ROLE_SENDER;
  p.workload = &w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.msg_id = 7;
  e.session_id = 99;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;

  int r;
  iov_envelope *out = roundtrip(&e, &r);
  assert_int_equal(r, 0);
  assert_int_equal(out->proto_version, IOV_PROTO_VERSION);
  assert_int_equal(out->msg_id, 7);
  assert_int_equal(out->session_id, 99);
  assert_int_equal(out->body_case, IOVBENCH__ENVELOPE__BODY_PREPARE);
  assert_int_equal(out->prepare->point_id, 42);
  assert_string_equal(out->prepare->workload->name, "tcp_rr");
  assert_int_equal(out->prepare->workload->response_size, 200);
  assert_int_equal(out->prepare->workload->n_peer_ports, 2);
  assert_int_equal(out->prepare->workload->peer_ports[1], 40001);
  assert_string_equal(iov_wire_body_name(out), "prepare");
  iov_wire_free(out);
}

/* A search's trial offers packets: rate_pps crosses the wire as sent, and
 * one above a billion per flow is refused on decode.  TCP segment
 * counters cross in samples and results. */
static void test_rate_pps_and_segments(void **state) {
  (void)state;
  uint32_t ports[1] = { 40000 };
  Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
  w.name = "udp_stream";
  w.flows = 1;
  w.msg_size = 18;
  w.duration_ns = 1000000000ULL;
  w.sample_interval_ns = 100000000ULL;
  w.peer_address = "198.18.1.2";
  w.peer_ports = ports;
  w.n_peer_ports = 1;
  w.rate_pps = 14880952;
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.role = IOVBENCH__ROLE__ROLE_SENDER;
  p.workload = &w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  int r;
  iov_envelope *out = roundtrip(&e, &r);
  assert_int_equal(r, 0);
  assert_int_equal(out->prepare->workload->rate_pps, 14880952);
  assert_int_equal(out->prepare->workload->rate_bps, 0);
  iov_wire_free(out);
  w.rate_pps = IOV_WIRE_MAX_PPS;
  out = roundtrip(&e, &r);
  assert_int_equal(r, 0);
  iov_wire_free(out);
  w.rate_pps = IOV_WIRE_MAX_PPS + 1;
  assert_null(roundtrip(&e, &r));
  assert_int_equal(r, -EBADMSG);
  w.rate_pps = UINT64_MAX;
  assert_null(roundtrip(&e, &r));
  assert_int_equal(r, -EBADMSG);

  Iovbench__FlowSample fs = IOVBENCH__FLOW_SAMPLE__INIT;
  fs.segs_out = 123456789012ULL;
  fs.segs_in = 7;
  Iovbench__FlowSample *fsp = &fs;
  Iovbench__SampleBatch b = IOVBENCH__SAMPLE_BATCH__INIT;
  b.seq = 1;
  b.flows = &fsp;
  b.n_flows = 1;
  iov_envelope s = IOVBENCH__ENVELOPE__INIT;
  s.body_case = IOVBENCH__ENVELOPE__BODY_SAMPLES;
  s.samples = &b;
  out = roundtrip(&s, &r);
  assert_int_equal(r, 0);
  assert_int_equal(out->samples->flows[0]->segs_out, 123456789012ULL);
  assert_int_equal(out->samples->flows[0]->segs_in, 7);
  iov_wire_free(out);

  Iovbench__FlowResult fr = IOVBENCH__FLOW_RESULT__INIT;
  fr.segs_out = 1000;
  fr.segs_in = 500;
  Iovbench__FlowResult *frp = &fr;
  Iovbench__Result res = IOVBENCH__RESULT__INIT;
  res.flows = &frp;
  res.n_flows = 1;
  iov_envelope re = IOVBENCH__ENVELOPE__INIT;
  re.body_case = IOVBENCH__ENVELOPE__BODY_RESULT;
  re.result = &res;
  out = roundtrip(&re, &r);
  assert_int_equal(r, 0);
  assert_int_equal(out->result->flows[0]->segs_out, 1000);
  assert_int_equal(out->result->flows[0]->segs_in, 500);
  iov_wire_free(out);
}

static void test_hist_roundtrip(void **state) {
  (void)state;
  static struct iov_hist h, back;
  iov_hist_init(&h);
  for (uint64_t v = 1; v < 5000000; v = v * 3 + 1) iov_hist_record(&h, v);
  iov_hist_record(&h, 1ULL << 45); /* overflow bucket */
  Iovbench__Histogram pb;
  assert_int_equal(iov_wire_hist_to_pb(&h, &pb), 0);
  Iovbench__FlowSample fs = IOVBENCH__FLOW_SAMPLE__INIT;
  fs.transactions = h.count;
  fs.latency = &pb;
  Iovbench__FlowSample *fsp = &fs;
  Iovbench__SampleBatch b = IOVBENCH__SAMPLE_BATCH__INIT;
  b.point_id = 1;
  b.seq = 1;
  b.t_start_ns = 10;
  b.t_end_ns = 20;
  b.flows = &fsp;
  b.n_flows = 1;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_SAMPLES;
  e.samples = &b;
  int r;
  iov_envelope *out = roundtrip(&e, &r);
  iov_wire_hist_pb_done(&pb);
  assert_int_equal(r, 0);
  assert_int_equal(iov_wire_hist_from_pb(out->samples->flows[0]->latency, &back), 0);
  assert_int_equal(back.count, h.count);
  assert_int_equal(back.min, h.min);
  assert_int_equal(back.max, h.max);
  assert_int_equal(back.sum, h.sum);
  assert_memory_equal(back.buckets, h.buckets, sizeof(h.buckets));
  assert_int_equal(iov_hist_percentile(&back, 99), iov_hist_percentile(&h, 99));
  iov_wire_free(out);
}

static void test_garbage_rejected(void **state) {
  (void)state;
  struct iov_wire_stats st = { 0 };
  iov_envelope *out = NULL;
  char why[256];
  uint8_t junk[512];
  unsigned seed = 12345;
  int refused = 0;

  /* Random bytes: either not protobuf, or no valid body/version.  Never
   * accepted, never a crash. */
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(rand_r(&seed) % sizeof(junk));
    for (size_t i = 0; i < n; i++) junk[i] = (uint8_t)rand_r(&seed);
    int r = iov_wire_decode(junk, n, &out, &st, why, sizeof(why));
    if (r == 0) {
      /* Extremely unlikely, but a valid message is fine; it must be whole. */
      assert_non_null(out);
      out = iov_wire_free(out);
    } else {
      refused++;
      assert_true(strlen(why) > 0);
    }
  }
  assert_true(refused > 1990);
  assert_int_equal(st.received, 2000);
  assert_int_equal(st.malformed + st.bad_version + st.unknown, (uint64_t)refused);

  /* A truncated valid message is refused too. */
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = 123456789;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  zframe_t *f = NULL;
  assert_int_equal(iov_wire_encode(&e, &f), 0);
  assert_int_equal(iov_wire_decode(zframe_data(f), zframe_size(f) - 1, &out, &st, why, sizeof(why)),
                   -EBADMSG);

  /* A field numbered 0 (tag 80 00, an overlong varint, value 00) after a
   * valid message: protobuf-c keeps it, but could not encode it again,
   * so the relay could not forward it.  Refused, and said why. */
  uint8_t with0[64];
  size_t n0 = zframe_size(f);
  assert_true(n0 + 3 <= sizeof(with0));
  memcpy(with0, zframe_data(f), n0);
  memcpy(with0 + n0, "\x80\x00\x00", 3);
  assert_int_equal(iov_wire_decode(with0, n0 + 3, &out, &st, why, sizeof(why)), -EBADMSG);
  assert_non_null(strstr(why, "numbered 0"));
  assert_int_equal(iov_wire_decode(with0, n0, &out, &st, why, sizeof(why)), 0);
  out = iov_wire_free(out);
  zframe_destroy(&f);
}

static void test_oversize_version_unknown(void **state) {
  (void)state;
  struct iov_wire_stats st = { 0 };
  iov_envelope *out = NULL;
  char why[256];
  uint8_t *big = calloc(1, IOV_WIRE_MAX_MSG + 1);
  assert_non_null(big);
  assert_int_equal(iov_wire_decode(big, IOV_WIRE_MAX_MSG + 1, &out, &st, why, sizeof(why)), -EMSGSIZE);
  assert_int_equal(st.oversized, 1);
  assert_non_null(strstr(why, "limit"));
  free(big);

  /* Another protocol version: refused with a reason naming both. */
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  e.proto_version = IOV_PROTO_VERSION + 1;
  size_t n = iovbench__envelope__get_packed_size(&e);
  uint8_t buf[64];
  iovbench__envelope__pack(&e, buf);
  assert_int_equal(iov_wire_decode(buf, n, &out, &st, why, sizeof(why)), -EPROTONOSUPPORT);
  assert_int_equal(st.bad_version, 1);

  /* No body (as a newer peer's unknown message decodes): unknown. */
  iov_envelope empty = IOVBENCH__ENVELOPE__INIT;
  empty.proto_version = IOV_PROTO_VERSION;
  n = iovbench__envelope__get_packed_size(&empty);
  iovbench__envelope__pack(&empty, buf);
  assert_int_equal(iov_wire_decode(buf, n, &out, &st, why, sizeof(why)), -ENOMSG);
  assert_int_equal(st.unknown, 1);

  /* A field number from the future inside an otherwise empty envelope. */
  uint8_t future[] = { 0x08, IOV_PROTO_VERSION, 0xfa, 0x06, 0x00 }; /* field 111, length 0 */
  assert_int_equal(iov_wire_decode(future, sizeof(future), &out, &st, why, sizeof(why)), -ENOMSG);
}

/* Engine settings travel as typed key/values: a point's settings encode,
 * survive the wire, and decode into the engine's option struct through
 * the same table, which refuses an unknown key, a wrong type, a value out
 * of range or a key sent twice, naming the key. */
struct eng_opts {
  uint64_t burst, timeout, flag;
};
static const struct iov_engine_opt eng_table[] = {
  { .name = "burst",
    .type = IOV_OPT_UINT,
    .def = 1,
    .min = 1,
    .max = 1024,
    .help = "b",
    .offset = offsetof(struct eng_opts, burst) },
  { .name = "rr_timeout",
    .type = IOV_OPT_DURATION,
    .def = 100000000,
    .min = 1000000,
    .max = 60000000000ULL,
    .help = "t",
    .offset = offsetof(struct eng_opts, timeout) },
  { .name = "flag",
    .type = IOV_OPT_BOOL,
    .def = 0,
    .min = 0,
    .max = 1,
    .help = "f",
    .offset = offsetof(struct eng_opts, flag) },
  { 0 },
};

static Iovbench__Workload *settings_roundtrip(Iovbench__Workload *w, iov_envelope **ret) {
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.role = IOVBENCH__ROLE__ROLE_RECEIVER;
  p.workload = w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  int r;
  *ret = roundtrip(&e, &r);
  assert_int_equal(r, 0);
  return (*ret)->prepare->workload;
}

static void test_engine_settings(void **state) {
  (void)state;
  struct iov_plan_setting set[] = { { &eng_table[0], 16 }, { &eng_table[2], 1 } };
  Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
  w.name = "tcp_rr";
  w.flows = 1;
  w.msg_size = 1;
  w.duration_ns = 1000000000ULL;
  w.sample_interval_ns = 100000000ULL;
  assert_int_equal(iov_wire_engine_settings_to_pb(set, ELEMENTSOF(set), &w), 0);
  assert_int_equal(w.n_settings, 2);
  iov_envelope *out;
  Iovbench__Workload *got = settings_roundtrip(&w, &out);
  assert_int_equal(got->n_settings, 2);
  assert_string_equal(got->settings[0]->key, "burst");
  assert_int_equal(got->settings[1]->value_case, IOVBENCH__ENGINE_SETTING__VALUE_B);
  struct eng_opts o;
  char why[256];
  assert_int_equal(iov_wire_engine_settings(eng_table, sizeof(o), got, &o, why, sizeof(why)), 0);
  assert_int_equal(o.burst, 16);
  assert_int_equal(o.timeout, 100000000); /* not sent: the default */
  assert_int_equal(o.flag, 1);
  iov_wire_free(out);
  iov_wire_engine_settings_done(&w);
  assert_null(w.settings);

  /* Refused, naming the key. */
  Iovbench__EngineSetting es = IOVBENCH__ENGINE_SETTING__INIT, es2 = IOVBENCH__ENGINE_SETTING__INIT;
  Iovbench__EngineSetting *esp[2] = { &es, &es2 };
  w.settings = esp;
  w.n_settings = 1;
  static const struct {
    const char *key;
    Iovbench__EngineSetting__ValueCase vc;
    uint64_t u;
    const char *want;
  } bad[] = {
    { "bogus", IOVBENCH__ENGINE_SETTING__VALUE_U, 1, "key 'bogus': this engine has no such setting" },
    { "burst", IOVBENCH__ENGINE_SETTING__VALUE_U, 1025, "key 'burst': '1025' is out of range; use 1..1024" },
    { "burst", IOVBENCH__ENGINE_SETTING__VALUE_U, 0, "key 'burst': '0' is out of range" },
    { "rr_timeout", IOVBENCH__ENGINE_SETTING__VALUE_U, 1000,
      "key 'rr_timeout': '1us' is out of range; use 1ms..1m" },
    { "burst", IOVBENCH__ENGINE_SETTING__VALUE_B, 1,
      "key 'burst': a yes/no value where the engine takes a number" },
    { "flag", IOVBENCH__ENGINE_SETTING__VALUE_U, 1,
      "key 'flag': a missing value where the engine takes a yes/no" },
  };
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    es.key = (char *)bad[i].key;
    es.value_case = bad[i].vc;
    if (bad[i].vc == IOVBENCH__ENGINE_SETTING__VALUE_B)
      es.b = true;
    else
      es.u = bad[i].u;
    got = settings_roundtrip(&w, &out); /* the generic checks let it by */
    assert_int_equal(iov_wire_engine_settings(eng_table, sizeof(o), got, &o, why, sizeof(why)), -EINVAL);
    if (!strstr(why, bad[i].want)) fail_msg("case %zu: '%s'", i, why);
    iov_wire_free(out);
  }
  es.key = es2.key = "burst";
  es.value_case = es2.value_case = IOVBENCH__ENGINE_SETTING__VALUE_U;
  es.u = es2.u = 2;
  w.n_settings = 2;
  got = settings_roundtrip(&w, &out);
  assert_int_equal(iov_wire_engine_settings(eng_table, sizeof(o), got, &o, why, sizeof(why)), -EINVAL);
  assert_non_null(strstr(why, "key 'burst': sent twice"));
  iov_wire_free(out);

  /* The generic bounds: a key that is no key, a setting with no value. */
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.role = IOVBENCH__ROLE__ROLE_RECEIVER;
  p.workload = &w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  int r;
  w.n_settings = 1;
  es.key = "Bad Key";
  assert_null(roundtrip(&e, &r));
  assert_int_equal(r, -EBADMSG);
  es.key = "burst";
  es.value_case = IOVBENCH__ENGINE_SETTING__VALUE__NOT_SET;
  assert_null(roundtrip(&e, &r));
  assert_int_equal(r, -EBADMSG);
}

static void test_invalid_fields(void **state) {
  (void)state;
  int r;
  /* A sender without ports for its flows. */
  Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
  w.name = "tcp_stream";
  w.flows = 3;
  w.msg_size = 1000;
  w.duration_ns = 1000000000ULL;
  w.sample_interval_ns = 100000000ULL;
  w.peer_address = "198.18.1.2";
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.role = IOVBENCH__ROLE__ROLE_SENDER;
  p.workload = &w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  assert_null(roundtrip(&e, &r));
  assert_int_equal(r, -EBADMSG);

  /* Too many flows. */
  w.flows = 100000;
  assert_null(roundtrip(&e, &r));
  assert_int_equal(r, -EBADMSG);

  /* A histogram with indexes out of order or out of range. */
  uint32_t idx[2] = { 5, 3 };
  uint64_t cnt[2] = { 1, 1 };
  Iovbench__Histogram h = IOVBENCH__HISTOGRAM__INIT;
  h.index = idx;
  h.count = cnt;
  h.n_index = h.n_count = 2;
  Iovbench__FlowSample fs = IOVBENCH__FLOW_SAMPLE__INIT;
  fs.latency = &h;
  Iovbench__FlowSample *fsp = &fs;
  Iovbench__SampleBatch b = IOVBENCH__SAMPLE_BATCH__INIT;
  b.seq = 1;
  b.flows = &fsp;
  b.n_flows = 1;
  iov_envelope s = IOVBENCH__ENVELOPE__INIT;
  s.body_case = IOVBENCH__ENVELOPE__BODY_SAMPLES;
  s.samples = &b;
  assert_null(roundtrip(&s, &r));
  assert_int_equal(r, -EBADMSG);
  idx[0] = 1;
  idx[1] = IOV_HIST_BUCKETS;
  assert_null(roundtrip(&s, &r));
  assert_int_equal(r, -EBADMSG);
  idx[1] = 2;
  iov_envelope *ok = roundtrip(&s, &r);
  assert_int_equal(r, 0);
  iov_wire_free(ok);

  /* Found by fuzz_wire and fuzz_coord (docs/reliability.md): a listed
   * bucket with count 0, counts that add up past 2^64, and a flow given
   * twice in one batch are refused. */
  cnt[0] = 0;
  assert_null(roundtrip(&s, &r));
  assert_int_equal(r, -EBADMSG);
  cnt[0] = UINT64_MAX;
  assert_null(roundtrip(&s, &r));
  assert_int_equal(r, -EBADMSG);
  cnt[0] = 1;
  Iovbench__FlowSample *twice[2] = { &fs, &fs };
  b.flows = twice;
  b.n_flows = 2;
  assert_null(roundtrip(&s, &r));
  assert_int_equal(r, -EBADMSG);

  /* Text that is not UTF-8 (fuzz_coord: it could not be stored as JSON). */
  Iovbench__Welcome wl = IOVBENCH__WELCOME__INIT;
  wl.identity = "v\x9d-1";
  iov_envelope we = IOVBENCH__ENVELOPE__INIT;
  we.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  we.welcome = &wl;
  assert_null(roundtrip(&we, &r));
  assert_int_equal(r, -EBADMSG);
  wl.identity = "vm-\xc3\xa9t\xc3\xa9"; /* "vm-été" */
  ok = roundtrip(&we, &r);
  assert_int_equal(r, 0);
  iov_wire_free(ok);
}

/* Issue 14: what an agent says about addresses must be an IP literal (a
 * host name would be resolved with blocking DNS in coord's loop; text
 * that is not UTF-8 made every sender drop every Prepare), and the
 * inventory is bounded. */
static iov_envelope *welcome_roundtrip(Iovbench__Welcome *w, int *r) {
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = w;
  return roundtrip(&e, r);
}

static void expect_welcome(Iovbench__Welcome *w, int want) {
  int r;
  iov_envelope *out = welcome_roundtrip(w, &r);
  assert_int_equal(r, want);
  if (want == 0) assert_non_null(out);
  iov_wire_free(out);
}

static void test_welcome_addresses(void **state) {
  (void)state;
  assert_true(iov_wire_ip_literal_ok("198.18.0.5"));
  assert_true(iov_wire_ip_literal_ok("2001:db8::1"));
  assert_false(iov_wire_ip_literal_ok(""));
  assert_false(iov_wire_ip_literal_ok(NULL));
  assert_false(iov_wire_ip_literal_ok("host.example"));
  assert_false(iov_wire_ip_literal_ok("198.18.0.5/24"));
  assert_false(iov_wire_ip_literal_ok("fe80::1%eth0"));
  assert_false(iov_wire_ip_literal_ok("198.18.0.5 "));
  assert_false(iov_wire_ip_literal_ok("1234567890123456789012345678901234567890123456789"));

  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  w.identity = "vm01";
  w.data_address = "";
  expect_welcome(&w, 0);
  w.data_address = "198.18.0.5";
  expect_welcome(&w, 0);
  w.data_address = "2001:db8::5";
  expect_welcome(&w, 0);
  /* A host name, a name that resolves to anything, not UTF-8, oversized. */
  w.data_address = "victim.example";
  expect_welcome(&w, -EBADMSG);
  w.data_address = "localhost";
  expect_welcome(&w, -EBADMSG);
  w.data_address = "198.18.\xff.5";
  expect_welcome(&w, -EBADMSG);
  char big[IOV_WIRE_MAX_STRING + 2];
  memset(big, '1', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  w.data_address = big;
  expect_welcome(&w, -EBADMSG);
  w.data_address = "198.18.0.5";
  w.identity = big;
  expect_welcome(&w, -EBADMSG);
  w.identity = "vm01";

  /* Vouched guest addresses: parallel to the names, IP literals or "". */
  char *names[2] = { "g1", "g2" }, *addrs[2] = { "198.18.0.10", "" };
  w.guests = names;
  w.n_guests = 2;
  w.guest_addresses = addrs;
  w.n_guest_addresses = 2;
  expect_welcome(&w, 0);
  w.n_guest_addresses = 1;
  expect_welcome(&w, -EBADMSG);
  w.n_guest_addresses = 0; /* an older host agent: none */
  expect_welcome(&w, 0);
  w.n_guest_addresses = 2;
  addrs[1] = "attacker.example";
  expect_welcome(&w, -EBADMSG);
  addrs[1] = "\xc3\x28";
  expect_welcome(&w, -EBADMSG);
  w.n_guests = w.n_guest_addresses = 0;

  /* The inventory: interface addresses are ADDR/PREFIX, names bounded. */
  char *ifa[2] = { "198.18.0.5/24", "fe80::1/64" };
  Iovbench__Interface it = IOVBENCH__INTERFACE__INIT;
  Iovbench__Interface *its[1] = { &it };
  it.name = "eth0";
  it.addresses = ifa;
  it.n_addresses = 2;
  Iovbench__Inventory inv = IOVBENCH__INVENTORY__INIT;
  inv.interfaces = its;
  inv.n_interfaces = 1;
  w.inventory = &inv;
  expect_welcome(&w, 0);
  ifa[1] = "198.18.0.5/33";
  expect_welcome(&w, -EBADMSG);
  ifa[1] = "victim.example/24";
  expect_welcome(&w, -EBADMSG);
  ifa[1] = "198.18.0.6";
  expect_welcome(&w, 0);
  it.name = "a-name-longer-than-ifnamsiz";
  expect_welcome(&w, -EBADMSG);
  it.name = "eth0";
  it.mac = "\xff";
  expect_welcome(&w, -EBADMSG);
  it.mac = NULL;
  char *wl[IOV_WIRE_MAX_WORKLOADS + 1];
  for (size_t i = 0; i <= IOV_WIRE_MAX_WORKLOADS; i++) wl[i] = "tcp_stream";
  inv.workloads = wl;
  inv.n_workloads = IOV_WIRE_MAX_WORKLOADS;
  expect_welcome(&w, 0);
  inv.n_workloads = IOV_WIRE_MAX_WORKLOADS + 1;
  expect_welcome(&w, -EBADMSG);
  inv.n_workloads = 1;
  wl[0] = "udp\xfe";
  expect_welcome(&w, -EBADMSG);
  wl[0] = "tcp_stream";
  it.n_addresses = IOV_WIRE_MAX_IF_ADDRS + 1;
  char **many = calloc(it.n_addresses, sizeof(char *));
  assert_non_null(many);
  for (size_t i = 0; i < it.n_addresses; i++) many[i] = "198.18.0.5/24";
  it.addresses = many;
  expect_welcome(&w, -EBADMSG);
  it.n_addresses = IOV_WIRE_MAX_IF_ADDRS;
  expect_welcome(&w, 0);
  free(many);

  /* Guests (host agent -> coord) carries the same vouched addresses. */
  Iovbench__Guests g = IOVBENCH__GUESTS__INIT;
  char *gaddr[2] = { "198.18.0.10", "198.18.0.11" };
  g.names = names;
  g.n_names = 2;
  g.addresses = gaddr;
  g.n_addresses = 2;
  iov_envelope ge = IOVBENCH__ENVELOPE__INIT;
  ge.body_case = IOVBENCH__ENVELOPE__BODY_GUESTS;
  ge.guests = &g;
  int r;
  iov_envelope *out = roundtrip(&ge, &r);
  assert_int_equal(r, 0);
  assert_int_equal(out->guests->n_addresses, 2);
  assert_string_equal(out->guests->addresses[1], "198.18.0.11");
  iov_wire_free(out);
  g.n_addresses = 3;
  char *gaddr3[3] = { "198.18.0.10", "198.18.0.11", "198.18.0.12" };
  g.addresses = gaddr3;
  assert_null(roundtrip(&ge, &r));
  assert_int_equal(r, -EBADMSG);
  g.addresses = gaddr;
  g.n_addresses = 2;
  gaddr[0] = "victim.example";
  assert_null(roundtrip(&ge, &r));
  assert_int_equal(r, -EBADMSG);
}

/* The ZAP user id and the peer's address come with each message. */
static void test_recv_peer(void **state) {
  (void)state;
  zsock_t *router = zsock_new(ZMQ_ROUTER), *dealer = zsock_new(ZMQ_DEALER);
  iov_wire_sock_setup(router);
  iov_wire_sock_harden(router);
  iov_wire_sock_setup(dealer);
  int port = zsock_bind(router, "tcp://127.0.0.1:*");
  assert_true(port > 0);
  assert_int_equal(zsock_connect(dealer, "tcp://127.0.0.1:%d", port), 0);
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  assert_int_equal(iov_wire_send(dealer, NULL, &e), 0);
  zpoller_t *p = zpoller_new(router, NULL);
  assert_ptr_equal(zpoller_wait(p, 3000), router);
  zpoller_destroy(&p);
  zframe_t *rid = NULL;
  iov_envelope *in = NULL;
  struct iov_wire_peer peer;
  char why[256];
  memset(&peer, 'x', sizeof(peer));
  assert_int_equal(iov_wire_recv_peer(router, &rid, &in, NULL, &peer, why, sizeof(why)), 0);
  assert_string_equal(peer.user_id, ""); /* plaintext: no ZAP user id */
  assert_string_equal(peer.address, "127.0.0.1");
  iov_wire_free(in);
  zframe_destroy(&rid);
  zsock_destroy(&dealer);
  zsock_destroy(&router);
}

/* Real sockets: a DEALER talks to a ROUTER; a message with extra frames
 * and a garbage frame are dropped and counted, the next good one is read. */
static void test_utf8_sanitize(void **state) {
  (void)state;
  /* Valid text is kept; a stray byte, an overlong form, a surrogate and
   * a sequence cut off at the end become '?'. */
  char s[] = "caf\xc3\xa9 \xff \xc0\xaf \xed\xa0\x80 \xe2\x82";
  iov_utf8_sanitize(s);
  assert_string_equal(s, "caf\xc3\xa9 ? ?? ??? ??");
  char ok[] = "µs ±5 %";
  iov_utf8_sanitize(ok);
  assert_string_equal(ok, "µs ±5 %");
  iov_utf8_sanitize(NULL);
}

static void test_sockets(void **state) {
  (void)state;
  zsock_t *router = zsock_new(ZMQ_ROUTER);
  zsock_t *dealer = zsock_new(ZMQ_DEALER);
  struct iov_wire_stats st = { 0 };
  char why[256];
  iov_wire_sock_setup(router);
  iov_wire_sock_setup(dealer);
  int port = zsock_bind(router, "tcp://127.0.0.1:*");
  assert_true(port > 0);
  assert_int_equal(zsock_connect(dealer, "tcp://127.0.0.1:%d", port), 0);

  zstr_sendm(dealer, "extra");
  zstr_send(dealer, "frames");
  zstr_send(dealer, "garbage that is not an envelope");
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = 77;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  assert_int_equal(iov_wire_send(dealer, NULL, &e), 0);

  int got = 0, dropped = 0;
  zpoller_t *poller = zpoller_new(router, NULL);
  for (int i = 0; i < 50 && got == 0; i++) {
    zpoller_wait(poller, 100);
    for (;;) {
      zframe_t *from = NULL;
      iov_envelope *in = NULL;
      int r = iov_wire_recv(router, &from, &in, &st, why, sizeof(why));
      if (r == -EAGAIN) break;
      if (r == 0) {
        assert_int_equal(in->heartbeat->sent_at_ns, 77);
        /* Answer through the routing id: the dealer gets it. */
        assert_int_equal(iov_wire_send(router, from, in), 0);
        iov_wire_free(in);
        got++;
      } else
        dropped++;
      zframe_destroy(&from);
    }
  }
  zpoller_destroy(&poller);
  assert_int_equal(got, 1);
  assert_int_equal(dropped, 2);
  assert_int_equal(st.bad_framing, 1);
  assert_int_equal(st.malformed, 1);

  iov_envelope *back = NULL;
  zsock_set_rcvtimeo(dealer, 2000);
  zpoller_t *p2 = zpoller_new(dealer, NULL);
  zpoller_wait(p2, 2000);
  zpoller_destroy(&p2);
  assert_int_equal(iov_wire_recv(dealer, NULL, &back, NULL, why, sizeof(why)), 0);
  assert_int_equal(back->heartbeat->sent_at_ns, 77);
  iov_wire_free(back);
  zsock_destroy(&dealer);
  zsock_destroy(&router);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_prepare_roundtrip),
    cmocka_unit_test(test_hist_roundtrip),
    cmocka_unit_test(test_garbage_rejected),
    cmocka_unit_test(test_oversize_version_unknown),
    cmocka_unit_test(test_invalid_fields),
    cmocka_unit_test(test_utf8_sanitize),
    cmocka_unit_test(test_sockets),
    cmocka_unit_test(test_welcome_addresses),
    cmocka_unit_test(test_recv_peer),
    cmocka_unit_test(test_engine_settings),
    cmocka_unit_test(test_rate_pps_and_segments),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  zsys_shutdown();
  return r;
}
