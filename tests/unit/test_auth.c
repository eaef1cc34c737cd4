/* lib/auth.c with real ZeroMQ sockets: key pairs on disk, the ZAP
 * handler's two domains, the key endpoint and what coord reads from it. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"

static char dir[PATH_MAX];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/iovb-auth.XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_key_files(void **state) {
  (void)state;
  zcert_t *a = NULL, *b = NULL;
  bool created = false;
  char err[512], path[PATH_MAX + 32], pub[IOV_KEY_TEXT_LEN + 1];
  struct stat st;

  /* Not there and not to be made: says how to make one. */
  assert_int_equal(iov_key_load(dir, "coord", false, &a, NULL, err, sizeof(err)), -ENOENT);
  assert_non_null(strstr(err, "coord keygen"));
  /* Made, secret mode 600; loaded again, the same pair. */
  assert_int_equal(iov_key_load(dir, "coord", true, &a, &created, err, sizeof(err)), 0);
  assert_true(created);
  snprintf(path, sizeof(path), "%s/coord.key_secret", dir);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(iov_key_load(dir, "coord", true, &b, &created, err, sizeof(err)), 0);
  assert_false(created);
  assert_string_equal(zcert_public_txt(a), zcert_public_txt(b));
  assert_string_equal(zcert_secret_txt(a), zcert_secret_txt(b));
  /* A secret others can read loads, with a warning for the caller to log. */
  zcert_destroy(&b);
  snprintf(path, sizeof(path), "%s/coord.key_secret", dir);
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(iov_key_load(dir, "coord", true, &b, &created, err, sizeof(err)), 1);
  assert_non_null(strstr(err, "can be read by other users (mode 644): chmod 600 it"));
  assert_non_null(b);
  assert_int_equal(chmod(path, 0600), 0);
  /* The public certificate reads back; so does a bare key on a line. */
  snprintf(path, sizeof(path), "%s/coord.key", dir);
  assert_int_equal(iov_key_read_public(path, pub, err, sizeof(err)), 0);
  assert_string_equal(pub, zcert_public_txt(a));
  snprintf(path, sizeof(path), "%s/bare", dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "%s\n", zcert_public_txt(a));
  fclose(f);
  assert_int_equal(iov_key_read_public(path, pub, err, sizeof(err)), 0);
  assert_string_equal(pub, zcert_public_txt(a));
  /* The pair from its secret alone. */
  zcert_t *c = iov_cert_from_secret(zcert_secret_txt(a));
  assert_non_null(c);
  assert_string_equal(zcert_public_txt(c), zcert_public_txt(a));
  zcert_destroy(&c);
  assert_null(iov_cert_from_secret("not a key"));
  /* A damaged secret file is refused with its name. */
  snprintf(path, sizeof(path), "%s/bad.key_secret", dir);
  f = fopen(path, "w");
  fprintf(f, "garbage\n");
  fclose(f);
  assert_int_equal(iov_key_load(dir, "bad", true, &c, NULL, err, sizeof(err)), -EBADMSG);
  assert_non_null(strstr(err, "bad.key_secret"));
  zcert_destroy(&a);
  zcert_destroy(&b);
  assert_false(iov_key_text_ok("short"));
  assert_false(iov_key_text_ok(NULL));
}

static void test_key_endpoint_for(void **state) {
  (void)state;
  char b[256];
  assert_int_equal(iov_key_endpoint_for("tcp://*:7700", b, sizeof(b)), 0);
  assert_string_equal(b, "tcp://*:7702");
  assert_int_equal(iov_key_endpoint_for("tcp://[fd00::1]:9000", b, sizeof(b)), 0);
  assert_string_equal(b, "tcp://[fd00::1]:9002");
  assert_int_equal(iov_key_endpoint_for("ipc:///run/a.sock", b, sizeof(b)), 0);
  assert_string_equal(b, "ipc:///run/a.sock.key");
  assert_int_equal(iov_key_endpoint_for("tcp://h:65534", b, sizeof(b)), -EINVAL);
  assert_int_equal(iov_key_endpoint_for("inproc://x", b, sizeof(b)), -EINVAL);
  assert_int_equal(iov_key_endpoint_for("tcp://h", b, sizeof(b)), -EINVAL);
}

/* Does a client with 'mine' reach the server's socket (an echo) within
 * ms?  Let-ins are given long (valgrind, a loaded machine); refusals a
 * second, which an echo would beat by far. */
#define reaches(e, c, k) reaches_within(e, c, k, 1000)
#define gets_in(e, c, k) reaches_within(e, c, k, 15000)
static bool reaches_within(const char *endpoint, zcert_t *mine, const char *server_key, int ms) {
  zsock_t *c = zsock_new(ZMQ_DEALER);
  zsock_set_linger(c, 0);
  iov_curve_client(c, mine, server_key);
  assert_int_equal(zsock_connect(c, "%s", endpoint), 0);
  zstr_send(c, "hello");
  zsock_set_rcvtimeo(c, ms);
  char *got = zstr_recv(c);
  bool ok = got && strcmp(got, "hello") == 0;
  free(got);
  zsock_destroy(&c);
  return ok;
}

/* A CURVE server that echoes, in a thread of its own (zactor). */
struct echo {
  const char *endpoint, *domain;
  zcert_t *cert;
};

static void echo_actor(zsock_t *pipe, void *arg) {
  struct echo *e = arg;
  zsock_t *s = zsock_new(ZMQ_ROUTER);
  iov_curve_server(s, e->cert, e->domain);
  int r = zsock_bind(s, "%s", e->endpoint);
  zsock_signal(pipe, 0);
  zpoller_t *p = zpoller_new(pipe, s, NULL);
  while (r == 0) {
    zsock_t *w = zpoller_wait(p, -1);
    if (w != s) break;
    zmsg_t *m = zmsg_recv(s);
    if (m) zmsg_send(&m, s);
  }
  zpoller_destroy(&p);
  zsock_destroy(&s);
}

static void test_zap_domains(void **state) {
  (void)state;
  char coords[PATH_MAX + 16], ctl[PATH_MAX + 16], gst[PATH_MAX + 16], err[512];
  zcert_t *server = zcert_new(), *coord = zcert_new(), *guest = zcert_new(), *stranger = zcert_new();
  struct iov_zap *z = NULL;

  snprintf(coords, sizeof(coords), "%s/coordinators", dir);
  mkdir(coords, 0755);
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/coord.key", coords);
  assert_int_equal(zcert_save_public(coord, path), 0);
  assert_int_equal(iov_zap_start(coords, NULL, &z), 0);

  snprintf(ctl, sizeof(ctl), "ipc://%s/ctl", dir);
  snprintf(gst, sizeof(gst), "ipc://%s/gst", dir);
  struct echo e_ctl = { ctl, IOV_AUTH_DOMAIN_CONTROL, server },
              e_gst = { gst, IOV_AUTH_DOMAIN_GUEST, server };
  zactor_t *a_ctl = zactor_new(echo_actor, &e_ctl), *a_gst = zactor_new(echo_actor, &e_gst);

  const char *sk = zcert_public_txt(server);
  /* The control domain: coordinators in the directory only. */
  assert_true(gets_in(ctl, coord, sk));
  assert_false(reaches(ctl, stranger, sk));
  assert_false(reaches(ctl, guest, sk));
  /* A key copied in later is let in without a restart. */
  snprintf(path, sizeof(path), "%s/stranger.key", coords);
  sleep(1); /* the store notices changes by the directory's mtime */
  assert_int_equal(zcert_save_public(stranger, path), 0);
  assert_true(gets_in(ctl, stranger, sk));
  /* The guest domain: keys allowed at run time, until denied again; a
   * coordinator's key does not open it. */
  assert_false(reaches(gst, guest, sk));
  assert_int_equal(iov_zap_allow(z, zcert_public_txt(guest), true), 0);
  assert_true(gets_in(gst, guest, sk));
  assert_false(reaches(gst, coord, sk));
  assert_int_equal(iov_zap_allow(z, zcert_public_txt(guest), false), 0);
  assert_false(reaches(gst, guest, sk));
  /* And the wrong server key gets nowhere. */
  assert_false(reaches(ctl, coord, zcert_public_txt(guest)));
  uint64_t allowed = 0, refused = 0;
  iov_zap_counts(z, &allowed, &refused);
  assert_true(allowed >= 3);
  assert_true(refused >= 5);
  assert_int_equal(iov_zap_allow(z, "nonsense", true), -EINVAL);

  zactor_destroy(&a_ctl);
  zactor_destroy(&a_gst);
  iov_zap_stop(&z);
  zcert_destroy(&server);
  zcert_destroy(&coord);
  zcert_destroy(&guest);
  zcert_destroy(&stranger);
  (void)err;
}

static void test_keyserver(void **state) {
  (void)state;
  char ep[PATH_MAX + 16], ep2[PATH_MAX + 16], err[512];
  zcert_t *c = zcert_new();
  struct iov_keyserver *k1 = NULL, *k2 = NULL;
  snprintf(ep, sizeof(ep), "ipc://%s/k1", dir);
  snprintf(ep2, sizeof(ep2), "ipc://%s/k2", dir);
  assert_int_equal(iov_keyserver_start(ep, zcert_public_txt(c), &k1, err, sizeof(err)), 0);
  assert_int_equal(iov_keyserver_start(ep2, NULL, &k2, err, sizeof(err)), 0);
  /* Binding the same endpoint again fails, naming it. */
  struct iov_keyserver *k3 = NULL;
  assert_true(iov_keyserver_start("tcp://256.0.0.1:1", NULL, &k3, err, sizeof(err)) < 0);
  assert_non_null(strstr(err, "tcp://256.0.0.1:1"));

  /* A bad endpoint, an endpoint nobody answers on, and NULL, among the
   * two that answer: one wait, each its answer. */
  char nobody[PATH_MAX + 16];
  snprintf(nobody, sizeof(nobody), "ipc://%s/nobody", dir);
  const char *eps[] = { ep, nobody, ep2, NULL, "bogus://x" };
  char out[5][IOV_KEY_TEXT_LEN + 1];
  assert_int_equal(iov_key_fetch(eps, 5, 500, out), 0);
  assert_string_equal(out[0], zcert_public_txt(c));
  assert_string_equal(out[1], "");
  assert_string_equal(out[2], "plaintext");
  assert_string_equal(out[3], "");
  assert_string_equal(out[4], "");

  /* Garbage to the key endpoint: it answers the next asker all the same. */
  zsock_t *g = zsock_new(ZMQ_DEALER);
  zsock_connect(g, "%s", ep);
  for (int i = 0; i < 100; i++) zstr_sendx(g, "x", "y", "z", NULL);
  zsock_destroy(&g);
  assert_int_equal(iov_key_fetch(eps, 1, 1000, out), 0);
  assert_string_equal(out[0], zcert_public_txt(c));

  iov_keyserver_stop(&k1);
  iov_keyserver_stop(&k2);
  iov_keyserver_stop(&k2);
  zcert_destroy(&c);
}

/* ---- the socket monitor (issue 14, items 5 and 9) ---------------------- */

/* Poll until cond holds or 5 s pass. */
#define WAIT_FOR(cond)                                            \
  do {                                                            \
    for (int i_ = 0; i_ < 500 && !(cond); i_++) zclock_sleep(10); \
  } while (0)

/* A plaintext client against a CURVE server fails in the ZMTP greeting,
 * before any ZAP handler: both monitors see it, and say which failure it
 * was; a CURVE client with the wrong server key fails too, differently. */
static void test_monitor_handshakes(void **state) {
  (void)state;
  zcert_t *server_cert = zcert_new(), *client_cert = zcert_new(), *other = zcert_new();
  zsock_t *server = zsock_new(ZMQ_ROUTER);
  struct iov_zmon *zs = NULL, *zc = NULL, *zw = NULL;
  struct iov_zmon_state st;
  iov_curve_server(server, server_cert, IOV_AUTH_DOMAIN_GUEST);
  assert_int_equal(iov_zmon_start(server, "test", true, 0, &zs), 0);
  int port = zsock_bind(server, "tcp://127.0.0.1:*");
  assert_true(port > 0);

  zsock_t *plain = zsock_new(ZMQ_DEALER);
  assert_int_equal(iov_zmon_start(plain, "host", false, 0, &zc), 0);
  assert_int_equal(zsock_connect(plain, "tcp://127.0.0.1:%d", port), 0);
  WAIT_FOR((iov_zmon_get(zc, &st), st.failed_protocol > 0));
  assert_true(st.connected >= 1);
  assert_int_equal(st.handshakes_ok, 0);
  assert_int_equal(st.last_protocol_error, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH);
  WAIT_FOR((iov_zmon_get(zs, &st), st.failed_protocol > 0));
  assert_true(st.failed_protocol >= 1);
  assert_int_equal(st.last_protocol_error, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH);

  zsock_t *wrong = zsock_new(ZMQ_DEALER);
  iov_curve_client(wrong, client_cert, zcert_public_txt(other));
  assert_int_equal(iov_zmon_start(wrong, "host", false, 0, &zw), 0);
  assert_int_equal(zsock_connect(wrong, "tcp://127.0.0.1:%d", port), 0);
  WAIT_FOR((iov_zmon_get(zw, &st), st.failed_other > 0));
  assert_true(st.connected >= 1);
  assert_int_equal(st.handshakes_ok, 0);
  assert_true(st.failed_other >= 1);
  WAIT_FOR((iov_zmon_get(zs, &st), st.last_protocol_error == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC));
  assert_int_equal(st.last_protocol_error, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC);

  iov_zmon_stop(&zw);
  iov_zmon_stop(&zc);
  iov_zmon_stop(&zs);
  zsock_destroy(&wrong);
  zsock_destroy(&plain);
  zsock_destroy(&server);
  zcert_destroy(&server_cert);
  zcert_destroy(&client_cert);
  zcert_destroy(&other);
}

/* ZeroMQ has no connection limit: the monitor shuts down connections
 * beyond it.  Five raw TCP connections (an attacker that never speaks
 * ZMTP) against a limit of two: three are closed at once, two stay. */
static void test_monitor_connection_limit(void **state) {
  (void)state;
  zsock_t *server = zsock_new(ZMQ_ROUTER);
  struct iov_zmon *zs = NULL;
  struct iov_zmon_state st;
  assert_int_equal(iov_zmon_start(server, "test", true, 2, &zs), 0);
  int port = zsock_bind(server, "tcp://127.0.0.1:*");
  assert_true(port > 0);
  int fds[5];
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 5; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[i] >= 0);
    assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
  }
  WAIT_FOR((iov_zmon_get(zs, &st), st.refused_conns >= 3));
  assert_int_equal(st.refused_conns, 3);
  /* Each connection got ZeroMQ's greeting; the refused ones then EOF. */
  int closed = 0;
  for (int i = 0; i < 5; i++) {
    char buf[256];
    struct timeval tv = { .tv_sec = 0, .tv_usec = 500000 };
    setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n;
    while ((n = recv(fds[i], buf, sizeof(buf), 0)) > 0) {}
    closed += n == 0;
  }
  assert_int_equal(closed, 3);
  for (int i = 0; i < 5; i++) close(fds[i]);
  WAIT_FOR((iov_zmon_get(zs, &st), st.open_conns == 0));
  assert_int_equal(st.open_conns, 0);
  iov_zmon_stop(&zs);
  zsock_destroy(&server);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_key_files, setup, teardown),
    cmocka_unit_test(test_key_endpoint_for),
    cmocka_unit_test_setup_teardown(test_zap_domains, setup, teardown),
    cmocka_unit_test_setup_teardown(test_keyserver, setup, teardown),
    cmocka_unit_test(test_monitor_handshakes),
    cmocka_unit_test(test_monitor_connection_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
