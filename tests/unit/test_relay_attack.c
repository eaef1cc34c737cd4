/* A real iovbench-agent's guest relay, attacked by a guest whose key the
 * host lets in (KEYDIR/guests/): Welcomes whose data address is not UTF-8,
 * a host name, or oversized, or whose identity is oversized, are refused at
 * the relay with an Error that says why, and logged with the peer's address
 * and key; the same guest registering properly afterwards is accepted (the
 * relay survived), and may not take a second name on its connection.
 * Issue 14, items 3 and 10.  CURVE on a loopback TCP port, as a real host
 * agent runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "spawn.h"
#include "wire.h"

static char dir[PATH_MAX];
static pid_t agent;
static zsock_t *sock;
static zcert_t *guest;

/* A loopback TCP port nobody listens on right now. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET };
  socklen_t sl = sizeof(sa);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
    return -1;
  close(fd);
  return ntohs(sa.sin_port);
}

static int setup(void **state) {
  (void)state;
  const char *bin = getenv("IOV_AGENT");
  char path[PATH_MAX + 64], ready[PATH_MAX + 16], ctl[PATH_MAX + 16], gep[64], log[PATH_MAX + 16], err[256];
  if (!bin) return -1;
  snprintf(dir, sizeof(dir), "/tmp/iovb-relay-attack.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(path, sizeof(path), "%s/guests", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/coordinators", dir);
  mkdir(path, 0755);
  guest = zcert_new();
  snprintf(path, sizeof(path), "%s/guests/attacker.key", dir);
  if (!guest || zcert_save_public(guest, path) < 0) return -1;
  int port = free_port();
  if (port <= 0) return -1;
  snprintf(ctl, sizeof(ctl), "ipc://%s/a.sock", dir);
  snprintf(gep, sizeof(gep), "tcp://127.0.0.1:%d", port);
  snprintf(ready, sizeof(ready), "%s/ready", dir);
  snprintf(log, sizeof(log), "%s/agent.log", dir);
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  char *argv[] = { (char *)bin, "--listen", ctl, "--guest-listen", gep,   "--key-dir", dir, "--key-listen",
                   "none",      "--name",   "a", "--ready-file",   ready, NULL };
  agent = iov_spawn(argv, &(struct iov_spawn_opts){ .out_fd = fd, .die_with_parent = true });
  close(fd);
  if (agent < 0) return -1;
  for (int i = 0; i < 200 && access(ready, F_OK) < 0; i++) usleep(50000);
  char host_key[IOV_KEY_TEXT_LEN + 1];
  snprintf(path, sizeof(path), "%s/agent.key", dir);
  if (iov_key_read_public(path, host_key, err, sizeof(err)) < 0) return -1;
  sock = zsock_new(ZMQ_DEALER);
  iov_wire_sock_setup(sock);
  iov_curve_client(sock, guest, host_key);
  return zsock_connect(sock, "%s", gep) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  zsock_destroy(&sock);
  zcert_destroy(&guest);
  if (agent > 0) iov_spawn_stop(agent, 3000);
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Send a Welcome from "the guest", return the relay's answer (5 s). */
static iov_envelope *register_as(const char *identity, const char *data_address) {
  static uint64_t id;
  Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;
  w.kind = IOVBENCH__PEER_KIND__PEER_GUEST_AGENT;
  w.identity = (char *)identity;
  w.data_address = (char *)data_address;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_WELCOME;
  e.welcome = &w;
  e.msg_id = ++id;
  e.route = "";
  assert_int_equal(iov_wire_send(sock, NULL, &e), 0);
  zpoller_t *p = zpoller_new(sock, NULL);
  void *which = zpoller_wait(p, 5000);
  zpoller_destroy(&p);
  assert_non_null(which);
  iov_envelope *in = NULL;
  char why[256];
  assert_int_equal(iov_wire_recv(sock, NULL, &in, NULL, why, sizeof(why)), 0);
  return in;
}

static void expect_refused_code(const char *identity, const char *data_address, Iovbench__ErrorCode code,
                                const char *because) {
  iov_envelope *in = register_as(identity, data_address);
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_ERROR);
  assert_int_equal(in->error->code, code);
  if (!strstr(in->error->message, because))
    fail_msg("refused, but not because '%s': %s", because, in->error->message);
  iov_wire_free(in);
}

static void expect_refused(const char *identity, const char *data_address, const char *because) {
  expect_refused_code(identity, data_address, IOVBENCH__ERROR_CODE__ERR_MALFORMED, because);
}

static bool log_has(const char *text) {
  char path[PATH_MAX + 16], line[2048];
  bool found = false;
  snprintf(path, sizeof(path), "%s/agent.log", dir);
  FILE *f = fopen(path, "re");
  while (f && !found && fgets(line, sizeof(line), f)) found = strstr(line, text) != NULL;
  if (f) fclose(f);
  return found;
}

static void test_malformed_welcomes(void **state) {
  (void)state;
  char big[IOV_WIRE_MAX_STRING + 16];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  /* Not UTF-8: every sender used to drop every Prepare naming it. */
  expect_refused("vm01", "198.18.\xff\xfe.5", "data address is not an IP literal");
  /* A host name: coord would resolve it, blocking, and send there. */
  expect_refused("vm01", "victim.example", "data address is not an IP literal");
  expect_refused("vm01", big, "data address is not an IP literal");
  expect_refused(big, "198.18.0.5", "identity too long");
  /* Each refusal logged with where it came from and the key. */
  char who[128];
  snprintf(who, sizeof(who), "dropped a message from a guest at 127.0.0.1 with key %s",
           zcert_public_txt(guest));
  assert_true(log_has(who));
  assert_false(log_has("guest 'vm01' registered"));
  /* The relay is still there, for this guest too, done properly. */
  iov_envelope *in = register_as("vm01", "198.18.0.5");
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_HEARTBEAT);
  iov_wire_free(in);
  for (int i = 0; i < 100 && !log_has("guest 'vm01' registered from 127.0.0.1"); i++) usleep(20000);
  assert_true(log_has("guest 'vm01' registered from 127.0.0.1"));
  /* A registered guest cannot cycle through names on its connection. */
  expect_refused_code("vm02", "198.18.0.5", IOVBENCH__ERROR_CODE__ERR_INVALID_STATE,
                      "this connection is registered as 'vm01'");
  assert_false(log_has("guest 'vm02' registered"));
  in = register_as("vm01", "198.18.0.5"); /* and keeps its own */
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_HEARTBEAT);
  iov_wire_free(in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_malformed_welcomes, setup, teardown),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  zsys_shutdown();
  return r;
}
