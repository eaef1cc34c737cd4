/* Fuzz target: decoding one frame (lib/wire.c).
 *
 * The input is one ZeroMQ frame as a peer would send it.  It goes through
 * iov_wire_decode() (size limit, protobuf-c unpack, protocol version, the
 * field limits of every body) and, over an inproc socket pair, through
 * iov_wire_recv(), which must agree with it.  An input whose size is a
 * multiple of 7 is sent as two frames instead, which iov_wire_recv() must
 * refuse as badly framed.
 *
 * What a decode accepts must survive the trip back: encoded again it
 * decodes again, and its histograms convert without error, with
 * iov_wire_hist_summary() agreeing with iov_wire_hist_from_pb(). */
#include <errno.h>

#include "fuzz.h"
#include "hist.h"
#include "wire.h"

static zsock_t *tx, *rx;

static void cleanup(void) {
  zsock_destroy(&tx);
  zsock_destroy(&rx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  iov_fuzz_quiet();
  zsys_handler_set(NULL);
  rx = zsock_new(ZMQ_ROUTER);
  tx = zsock_new(ZMQ_DEALER);
  if (!rx || !tx || zsock_bind(rx, "inproc://fuzz-wire") < 0 || zsock_connect(tx, "inproc://fuzz-wire") < 0) {
    fprintf(stderr, "fuzz_wire: cannot set up the inproc pair\n");
    abort();
  }
  iov_wire_sock_setup(rx);
  iov_wire_sock_setup(tx);
  atexit(cleanup);
  return 0;
}

static void check_hist(const Iovbench__Histogram *h) {
  static struct iov_hist dense;
  struct iov_hist_summary s;

  if (!h) return;
  IOV_FUZZ_CHECK(iov_wire_hist_summary(h, &s) == 0, "a decoded histogram has no summary");
  IOV_FUZZ_CHECK(iov_wire_hist_from_pb(h, &dense) == 0, "a decoded histogram does not convert");
  /* wire.h: the summary is what from_pb would give. */
  IOV_FUZZ_CHECK(s.count == dense.count, "summary count %llu, histogram count %llu",
                 (unsigned long long)s.count, (unsigned long long)dense.count);
  IOV_FUZZ_CHECK(s.sum == dense.sum && s.overflow == dense.overflow, "summary sum/overflow differ");
  if (s.count)
    IOV_FUZZ_CHECK(s.min == dense.min && s.max == dense.max, "summary min/max %llu/%llu, histogram %llu/%llu",
                   (unsigned long long)s.min, (unsigned long long)s.max, (unsigned long long)dense.min,
                   (unsigned long long)dense.max);
}

static void check_accepted(iov_envelope *e) {
  zframe_t *f = NULL;
  iov_envelope *again = NULL;
  char why[256];
  int r;

  IOV_FUZZ_CHECK(e && e->proto_version == IOV_PROTO_VERSION, "accepted an envelope of another version");
  IOV_FUZZ_CHECK(strcmp(iov_wire_body_name(e), "unknown") != 0, "accepted an envelope without a known body");
  if (e->body_case == IOVBENCH__ENVELOPE__BODY_SAMPLES)
    for (size_t i = 0; i < e->samples->n_flows; i++) check_hist(e->samples->flows[i]->latency);
  if (e->body_case == IOVBENCH__ENVELOPE__BODY_RESULT)
    for (size_t i = 0; i < e->result->n_flows; i++) check_hist(e->result->flows[i]->latency);

  r = iov_wire_encode(e, &f);
  if (r == -EMSGSIZE) return; /* a frame re-encoded longer (unpacked repeated fields packed) */
  IOV_FUZZ_CHECK(r == 0, "cannot encode an accepted envelope: %d", r);
  r = iov_wire_decode(zframe_data(f), zframe_size(f), &again, NULL, why, sizeof(why));
  IOV_FUZZ_CHECK(r == 0, "an accepted envelope, encoded again, is refused: %s", why);
  IOV_FUZZ_CHECK(again->body_case == e->body_case && again->msg_id == e->msg_id, "the round trip changed it");
  iov_wire_free(again);
  zframe_destroy(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct iov_wire_stats st = { 0 }, st2 = { 0 };
  iov_envelope *e = NULL, *e2 = NULL;
  zframe_t *rid = NULL;
  char why[256];
  int r, r2;

  if (!rx) LLVMFuzzerInitialize(NULL, NULL);
  r = iov_wire_decode(data, size, &e, &st, why, sizeof(why));
  IOV_FUZZ_CHECK(st.received == 1, "decode counted %llu messages", (unsigned long long)st.received);
  IOV_FUZZ_CHECK((r == 0) == (st.oversized + st.malformed + st.bad_version + st.unknown == 0),
                 "decode returned %d but counted otherwise", r);
  IOV_FUZZ_CHECK(r == 0 || r == -EMSGSIZE || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMSG,
                 "decode returned %d", r);
  if (r == 0) check_accepted(e);

  /* The same bytes through a socket. */
  bool split = size >= 2 && size % 7 == 0;
  if (split) {
    IOV_FUZZ_CHECK(zmq_send(zsock_resolve(tx), data, size / 2, ZMQ_SNDMORE) >= 0, "send failed");
    IOV_FUZZ_CHECK(zmq_send(zsock_resolve(tx), data + size / 2, size - size / 2, 0) >= 0, "send failed");
  } else
    IOV_FUZZ_CHECK(zmq_send(zsock_resolve(tx), data, size, 0) >= 0, "send failed");
  for (int tries = 0; (r2 = iov_wire_recv(rx, &rid, &e2, &st2, why, sizeof(why))) == -EAGAIN && tries < 100;
       tries++) {
    zmq_pollitem_t it = { .socket = zsock_resolve(rx), .events = ZMQ_POLLIN };
    (void)zmq_poll(&it, 1, 10);
  }
  IOV_FUZZ_CHECK(r2 != -EAGAIN, "the frame never arrived");
  if (split)
    IOV_FUZZ_CHECK(r2 == -EBADMSG && st2.bad_framing == 1 && !rid, "two frames not refused: %d", r2);
  else
    IOV_FUZZ_CHECK(r2 == r && rid, "iov_wire_recv returned %d, iov_wire_decode %d", r2, r);
  iov_wire_free(e2);
  zframe_destroy(&rid);
  iov_wire_free(e);
  return 0;
}
