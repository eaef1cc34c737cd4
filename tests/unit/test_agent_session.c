/* The agent core alone (agent/, no host part): the session's connection
 * state (enum iov_conn_state) through its events, for a host agent
 * (hello, dead-man, coord speaking again, goodbye, a closed connection)
 * and a guest agent (registration, the host forgetting it, goodbye).
 * Each agent is made by iov_agent_new() as its main makes it, on inproc
 * endpoints; the test plays coord (or the host agent) and feeds the
 * agent's socket by calling its read callback, as the zuv bridge does. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "session.h"
#include "timeutil.h"

/* Whatever the agent sent to s (a ROUTER's routing id dropped), within a
 * second; NULL if nothing came.  Caller frees with iov_wire_free(). */
static iov_envelope *recv_from_agent(zsock_t *s, bool router) {
  zsock_set_rcvtimeo(s, 1000);
  zmsg_t *m = zmsg_recv(s);
  if (!m) return NULL;
  if (router) zframe_destroy(&(zframe_t *){ zmsg_pop(m) });
  zframe_t *f = zmsg_first(m);
  iov_envelope *e = NULL;
  char why[256];
  int r = iov_wire_decode(zframe_data(f), zframe_size(f), &e, NULL, why, sizeof(why));
  zmsg_destroy(&m);
  return r == 0 ? e : NULL;
}

/* The agent reads everything waiting on its socket. */
static void take(struct iov_agent *a) {
  for (int i = 0; i < 16 && a->zuv.read_cb(&a->zuv) != -EAGAIN; i++) {}
}

static void send_to_agent(zsock_t *s, zframe_t *rid, iov_envelope *e, struct iov_agent *a) {
  assert_int_equal(iov_wire_send(s, rid, e), 0);
  take(a);
}

static void send_hello(zsock_t *s, zframe_t *rid, const char *route, uint64_t heartbeat_ns,
                       struct iov_agent *a) {
  Iovbench__Hello h = IOVBENCH__HELLO__INIT;
  h.run_id = "run-1";
  h.identity = "a";
  h.heartbeat_ns = heartbeat_ns;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HELLO;
  e.hello = &h;
  e.route = (char *)route;
  send_to_agent(s, rid, &e, a);
}

static void send_heartbeat(zsock_t *s, zframe_t *rid, const char *route, struct iov_agent *a) {
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  e.route = (char *)route;
  send_to_agent(s, rid, &e, a);
}

static void send_goodbye(zsock_t *s, zframe_t *rid, const char *route, struct iov_agent *a) {
  Iovbench__Stop st = IOVBENCH__STOP__INIT;
  st.reason = "run over";
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_STOP;
  e.stop = &st;
  e.route = (char *)route;
  send_to_agent(s, rid, &e, a);
}

/* The next message the agent sent is of that kind. */
static void expect(zsock_t *s, bool router, Iovbench__Envelope__BodyCase body) {
  iov_envelope *e = recv_from_agent(s, router);
  assert_non_null(e);
  assert_int_equal(e->body_case, body);
  iov_wire_free(e);
}

static void test_host_session(void **state) {
  (void)state;
  struct iov_agent *a = NULL;
  const struct iov_agent_config cfg = {
    .kind = IOV_AGENT_HOST, .listen = "inproc://t-agent", .identity = "t", .plaintext = true
  };
  assert_int_equal(iov_agent_new(&cfg, &a), 0);
  zsock_t *coord = zsock_new(ZMQ_DEALER);
  iov_wire_sock_setup(coord);
  assert_int_equal(zsock_connect(coord, "inproc://t-agent"), 0);

  /* Nobody said hello: refused, still idle. */
  assert_int_equal(a->conn, IOV_CONN_IDLE);
  send_heartbeat(coord, NULL, "", a);
  expect(coord, false, IOVBENCH__ENVELOPE__BODY_ERROR);
  assert_int_equal(a->conn, IOV_CONN_IDLE);

  send_hello(coord, NULL, "", 100 * IOV_NSEC_PER_MSEC, a);
  expect(coord, false, IOVBENCH__ENVELOPE__BODY_WELCOME);
  assert_int_equal(a->conn, IOV_CONN_CONNECTED);
  send_heartbeat(coord, NULL, "", a);
  expect(coord, false, IOVBENCH__ENVELOPE__BODY_HEARTBEAT);

  /* Two heartbeats of silence (not our own stall): the dead-man switch. */
  a->coord_heard_mono = iov_now_mono() - IOV_NSEC_PER_SEC;
  a->deadman_tick_mono = iov_now_mono();
  iov__session_tick(a);
  assert_int_equal(a->conn, IOV_CONN_SILENCED);
  /* It speaks again: answered. */
  send_heartbeat(coord, NULL, "", a);
  assert_int_equal(a->conn, IOV_CONN_CONNECTED);
  expect(coord, false, IOVBENCH__ENVELOPE__BODY_HEARTBEAT);

  /* Its goodbye: idle, and nothing goes out to it any more. */
  send_goodbye(coord, NULL, "", a);
  assert_int_equal(a->conn, IOV_CONN_IDLE);
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  assert_int_equal(iov__agent_send(a, &e, 0), -ENOTCONN);

  /* A coordinator whose connection closes: found by a send, acted on at
   * the next tick (the dead-man's). */
  send_hello(coord, NULL, "", 0, a);
  expect(coord, false, IOVBENCH__ENVELOPE__BODY_WELCOME);
  assert_int_equal(a->conn, IOV_CONN_CONNECTED);
  zsock_destroy(&coord);
  int r = 0;
  for (int i = 0; i < 100 && r != -EHOSTUNREACH; i++) {
    r = iov__agent_send(a, &e, 0);
    if (r != -EHOSTUNREACH) usleep(10000);
  }
  assert_int_equal(r, -EHOSTUNREACH);
  assert_int_equal(a->conn, IOV_CONN_CLOSED);
  iov__session_tick(a);
  assert_int_equal(a->conn, IOV_CONN_SILENCED);
  assert_null(iov_agent_free(a));
}

static void test_guest_session(void **state) {
  (void)state;
  zsock_t *host = zsock_new(ZMQ_ROUTER);
  iov_wire_sock_setup(host);
  assert_int_equal(zsock_bind(host, "inproc://t-host"), 0);
  struct iov_agent *a = NULL;
  const struct iov_agent_config cfg = { .kind = IOV_AGENT_GUEST,
                                        .connect = "inproc://t-host",
                                        .identity = "vm" };
  assert_int_equal(iov_agent_new(&cfg, &a), 0);

  /* Its registration, which tells us its routing id. */
  assert_int_equal(a->conn, IOV_CONN_REGISTERING);
  zsock_set_rcvtimeo(host, 1000);
  zmsg_t *m = zmsg_recv(host);
  assert_non_null(m);
  zframe_t *rid = zmsg_pop(m);
  zmsg_destroy(&m);

  /* The host's ack: registered, no coordinator yet. */
  send_heartbeat(host, rid, "", a);
  assert_int_equal(a->conn, IOV_CONN_IDLE);
  /* coord's hello through the relay. */
  send_hello(host, rid, "vm", 0, a);
  expect(host, true, IOVBENCH__ENVELOPE__BODY_WELCOME);
  assert_int_equal(a->conn, IOV_CONN_CONNECTED);

  /* The host agent restarted and forgot us: we register again, coord
   * still ours. */
  Iovbench__Error err = IOVBENCH__ERROR__INIT;
  err.message = "unknown guest: register first";
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_ERROR;
  e.error = &err;
  e.route = "";
  send_to_agent(host, rid, &e, a);
  assert_int_equal(a->conn, IOV_CONN_REREGISTERING);
  expect(host, true, IOVBENCH__ENVELOPE__BODY_WELCOME);
  send_heartbeat(host, rid, "", a);
  assert_int_equal(a->conn, IOV_CONN_CONNECTED);

  /* coord's goodbye: registered, no coordinator. */
  send_goodbye(host, rid, "vm", a);
  assert_int_equal(a->conn, IOV_CONN_IDLE);

  zframe_destroy(&rid);
  assert_null(iov_agent_free(a));
  zsock_destroy(&host);
}

int main(void) {
  iov_log_set_level(IOV_LOG_ERR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_host_session),
    cmocka_unit_test(test_guest_session),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
