/* TCP segment counters (TCP_INFO tcpi_segs_out/tcpi_segs_in, read by
 * engines/run.c past the end of glibc's struct tcp_info) on a real
 * tcp_stream flow over 127.0.0.1: the sender's segments out and the
 * receiver's segments in are non-zero and at least one per 64 KiB moved,
 * the most a loopback segment carries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "timeutil.h"

extern const struct iov_engine_ops iov_engine_tcp_stream;

#define SEC IOV_NSEC_PER_SEC

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int done;

static void on_done(void *userdata) {
  (void)userdata;
  pthread_mutex_lock(&lock);
  done++;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
}

static void test_segments(void **state) {
  (void)state;
  static const uint8_t token[IOV_ENGINE_TOKEN_LEN] = "tcp-segs-token!!";
  uint16_t ports[1] = { 0 };
  struct iov_engine_config c = {
    .token = token,
    .flows = 1,
    .msg_size = 16 * 1024,
    .response_size = 1,
    .duration_ns = SEC / 2,
    .connect_timeout_ns = 2 * SEC,
  };
  struct iov_engine_config rc = c, sc = c;
  struct iov_engine_run *rx = NULL, *tx = NULL;

  rc.role = IOV_ROLE_RECEIVER;
  rc.bind_address = "127.0.0.1";
  assert_int_equal(iov_engine_run_new(&iov_engine_tcp_stream, &rc, &rx), 0);
  assert_int_equal(iov_engine_run_prepare(rx, ports, NULL, 0), 0);
  sc.role = IOV_ROLE_SENDER;
  sc.peer_address = "127.0.0.1";
  sc.peer_ports = ports;
  assert_int_equal(iov_engine_run_new(&iov_engine_tcp_stream, &sc, &tx), 0);
  assert_int_equal(iov_engine_run_prepare(tx, NULL, NULL, 0), 0);
  uint64_t at = iov_now_real() + SEC / 20;
  assert_int_equal(iov_engine_run_start(rx, at, on_done, NULL), 0);
  assert_int_equal(iov_engine_run_start(tx, at, on_done, NULL), 0);
  struct timespec until = { .tv_sec = time(NULL) + 15 };
  pthread_mutex_lock(&lock);
  while (done < 2 && pthread_cond_timedwait(&cond, &lock, &until) == 0) {}
  pthread_mutex_unlock(&lock);
  assert_int_equal(done, 2);

  /* The sockets stay open until free: the final sample reads them. */
  struct iov_flow_stats *s = malloc(sizeof(*s));
  assert_non_null(s);
  iov_engine_run_snapshot(tx, 0, s);
  uint64_t bytes = s->bytes;
  free(s);
  struct iov_tcp_info ts = { 0 }, tr = { 0 };
  assert_int_equal(iov_engine_run_tcp_info(tx, 0, &ts), 0);
  assert_int_equal(iov_engine_run_tcp_info(rx, 0, &tr), 0);
  print_message("moved %llu bytes: sender %llu segments out, receiver %llu in\n", (unsigned long long)bytes,
                (unsigned long long)ts.segs_out, (unsigned long long)tr.segs_in);
  assert_true(bytes > 1000000);
  assert_true(ts.segs_out > 0);
  assert_true(ts.segs_out > bytes / 65536);
  assert_true(tr.segs_in > bytes / 65536);
  /* Data one way, acknowledgements the other. */
  assert_true(tr.segs_out > 0);
  assert_true(ts.segs_in > 0);
  iov_engine_run_stop(tx);
  iov_engine_run_stop(rx);
  assert_null(iov_engine_run_free(tx));
  assert_null(iov_engine_run_free(rx));
}

int main(void) {
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_segments) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
