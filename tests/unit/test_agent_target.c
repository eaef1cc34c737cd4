/* A real iovbench-agent refuses to send to an address that is not one of
 * the run's agents, even when its coordinator asks: the check coord makes
 * first is not the only one.  Talks to the agent over a real ZeroMQ
 * socket (plaintext, a private ipc path), as coord would. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spawn.h"
#include "wire.h"

static char dir[PATH_MAX];
static pid_t agent;
static zsock_t *sock;

static int setup(void **state) {
  (void)state;
  const char *bin = getenv("IOV_AGENT");
  if (!bin) return -1;
  snprintf(dir, sizeof(dir), "/tmp/iovb-target.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  char ep[PATH_MAX + 16], ready[PATH_MAX + 16];
  snprintf(ep, sizeof(ep), "ipc://%s/a.sock", dir);
  snprintf(ready, sizeof(ready), "%s/ready", dir);
  char *argv[] = { (char *)bin, "--listen", ep,  "--guest-listen", "none", "--plaintext", "--key-listen",
                   "none",      "--name",   "a", "--ready-file",   ready,  "--quiet",     NULL };
  agent = iov_spawn(argv, &(struct iov_spawn_opts){ .out_fd = IOV_SPAWN_INHERIT, .die_with_parent = true });
  if (agent < 0) return -1;
  for (int i = 0; i < 200 && access(ready, F_OK) < 0; i++) usleep(50000);
  sock = zsock_new(ZMQ_DEALER);
  iov_wire_sock_setup(sock);
  zsock_set_rcvtimeo(sock, 5000);
  return zsock_connect(sock, "%s", ep) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  zsock_destroy(&sock);
  if (agent > 0) iov_spawn_stop(agent, 3000);
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static iov_envelope *ask(iov_envelope *e) {
  iov_envelope *in = NULL;
  char why[256];
  static uint64_t id;
  e->msg_id = ++id;
  assert_int_equal(iov_wire_send(sock, NULL, e), 0);
  for (;;) {
    zpoller_t *p = zpoller_new(sock, NULL);
    assert_ptr_equal(zpoller_wait(p, 5000), sock);
    zpoller_destroy(&p);
    assert_int_equal(iov_wire_recv(sock, NULL, &in, NULL, why, sizeof(why)), 0);
    if (in->reply_to == e->msg_id) return in;
    iov_wire_free(in);
  }
}

/* A sender's Prepare: tcp_stream to peer port 9, the run's addresses. */
static iov_envelope *prepare(const char *peer, char **run, size_t n_run) {
  static uint32_t ports[] = { 9 };
  /* The per-point data-path token a coordinator hands every agent (16
   * bytes; its value does not matter here: nothing answers on port 9). */
  static uint8_t token[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
  static Iovbench__Workload w;
  static Iovbench__Prepare p;
  static iov_envelope e;
  w = (Iovbench__Workload)IOVBENCH__WORKLOAD__INIT;
  w.name = "tcp_stream";
  w.flows = 1;
  w.msg_size = 1024;
  w.duration_ns = 1000000000;
  w.sample_interval_ns = 100000000;
  w.peer_address = (char *)peer;
  w.peer_ports = ports;
  w.n_peer_ports = 1;
  w.run_addresses = run;
  w.n_run_addresses = n_run;
  w.token.data = token;
  w.token.len = sizeof(token);
  p = (Iovbench__Prepare)IOVBENCH__PREPARE__INIT;
  p.point_id = 7;
  p.role = IOVBENCH__ROLE__ROLE_SENDER;
  p.workload = &w;
  e = (iov_envelope)IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  return &e;
}

static void test_foreign_target(void **state) {
  (void)state;
  Iovbench__Hello h = IOVBENCH__HELLO__INIT;
  h.kind = IOVBENCH__PEER_KIND__PEER_COORD;
  h.identity = "a";
  h.run_id = "target";
  h.version = "test";
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HELLO;
  e.hello = &h;
  iov_envelope *in = ask(&e);
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_WELCOME);
  iov_wire_free(in);

  /* Not among the run's addresses (and none at all): refused, saying so. */
  char *run[] = { "127.0.0.1", "0:0:0::1/128" };
  in = ask(prepare("198.18.99.99", run, 2));
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_ERROR);
  assert_int_equal(in->error->code, IOVBENCH__ERROR_CODE__ERR_LIMIT);
  assert_non_null(strstr(in->error->message, "refuses to send to 198.18.99.99: not an address of any agent"));
  iov_wire_free(in);
  in = ask(prepare("127.0.0.1", NULL, 0));
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_ERROR);
  assert_non_null(strstr(in->error->message, "refuses to send to 127.0.0.1"));
  iov_wire_free(in);
  /* A name is not an address of the run either. */
  in = ask(prepare("localhost", run, 2));
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_ERROR);
  assert_non_null(strstr(in->error->message, "refuses to send to localhost"));
  iov_wire_free(in);

  /* Listed (IPv6 in another spelling, prefix ignored): accepted, and the
   * point is set up; nothing listens on port 9, so the connect fails, but
   * not the check. */
  in = ask(prepare("::1", run, 2));
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_ERROR);
  assert_null(strstr(in->error->message, "refuses to send"));
  iov_wire_free(in);
  in = ask(prepare("127.0.0.1", run, 2));
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_ERROR);
  assert_non_null(strstr(in->error->message, "cannot connect to 127.0.0.1"));
  iov_wire_free(in);
}

static void test_addr_listed(void **state) {
  (void)state;
  char *l[] = { "198.18.0.1/24", "fe80::1%eth0/64", NULL, "garbage" };
  assert_true(iov_wire_addr_listed("198.18.0.1", l, 4));
  assert_true(iov_wire_addr_listed("fe80:0:0::1", l, 4));
  assert_false(iov_wire_addr_listed("198.18.0.2", l, 4));
  assert_false(iov_wire_addr_listed("garbage", l, 4));
  assert_false(iov_wire_addr_listed(NULL, l, 4));
  assert_false(iov_wire_addr_listed("198.18.0.1", l, 0));
  /* An IPv4-mapped IPv6 address is another family: not the same. */
  assert_false(iov_wire_addr_listed("::ffff:198.18.0.1", l, 4));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_addr_listed),
    cmocka_unit_test_setup_teardown(test_foreign_target, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
