/* The wire: envelopes survive a round trip, and garbage, oversized,
 * wrong-version, unknown and invalid messages are refused with a count,
 * never a crash.  Uses real ZeroMQ sockets for send/recv. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

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

/* Real sockets: a DEALER talks to a ROUTER; a message with extra frames
 * and a garbage frame are dropped and counted, the next good one is read. */
static void test_utf8_sanitize(void **state) {
  (void)state;
  /* Valid text is kept; a stray byte, an overlong form, a surrogate and
   * a sequence cut off at the end become '?'. */
  char s[] = "caf\xc3\xa9 \xff \xc0\xaf \xed\xa0\x80 \xe2\x82";
  iov_wire_utf8_sanitize(s);
  assert_string_equal(s, "caf\xc3\xa9 ? ?? ??? ??");
  char ok[] = "µs ±5 %";
  iov_wire_utf8_sanitize(ok);
  assert_string_equal(ok, "µs ±5 %");
  iov_wire_utf8_sanitize(NULL);
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
    cmocka_unit_test(test_prepare_roundtrip), cmocka_unit_test(test_hist_roundtrip),
    cmocka_unit_test(test_garbage_rejected),  cmocka_unit_test(test_oversize_version_unknown),
    cmocka_unit_test(test_invalid_fields),    cmocka_unit_test(test_utf8_sanitize),
    cmocka_unit_test(test_sockets),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  zsys_shutdown();
  return r;
}
