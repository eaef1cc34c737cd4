/* coordinator/compare.c: the key that finds a test point of one run again
 * in another.  Run-control keys and plan positions must not matter; what
 * is measured must. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compare.h"

static const char base[] = "{\"duration_ns\":1000000000,\"flows\":1,\"index\":2,\"msg_size\":65536,"
                           "\"path\":\"auto\",\"receiver\":\"b\",\"response_size\":1,"
                           "\"sample_interval_ns\":250000000,\"sender\":\"a\",\"sweep\":\"msg_size=64k\","
                           "\"test\":\"bandwidth\",\"timeout_ns\":20000000000,\"workload\":\"tcp_stream\"}";

static char *key(const char *test, const char *params, const char *topology, unsigned vms) {
  char *k = NULL;
  assert_int_equal(iov_compare_point_key(test, params, topology, vms, &k), 0);
  assert_non_null(k);
  return k;
}

static void same_key(const char *params_a, const char *topo_a, unsigned vms_a, const char *params_b,
                     const char *topo_b, unsigned vms_b, int want_equal) {
  char *a = key("bandwidth", params_a, topo_a, vms_a), *b = key("bandwidth", params_b, topo_b, vms_b);
  if ((strcmp(a, b) == 0) != want_equal)
    fail_msg("keys '%s' and '%s': want %s", a, b, want_equal ? "equal" : "different");
  free(a);
  free(b);
}

static void test_control_keys_ignored(void **state) {
  (void)state;
  /* Another place in the plan, another sweep label, other run control. */
  same_key(base, NULL, 1,
           "{\"duration_ns\":1000000000,\"flows\":1,\"index\":0,\"msg_size\":65536,\"path\":\"auto\","
           "\"receiver\":\"b\",\"response_size\":1,\"sample_interval_ns\":500000000,\"sender\":\"a\","
           "\"sweep\":\"\",\"test\":\"bandwidth\",\"timeout_ns\":10000000000,\"workload\":\"tcp_stream\","
           "\"repeat\":5,\"repeat_max\":10,\"confidence\":\"99,5\",\"on_error\":\"stop\","
           "\"heartbeat_ns\":1000000000}",
           "host-host", 0, 1);
  /* Key order does not matter. */
  same_key("{\"msg_size\":1,\"flows\":2}", NULL, 1, "{\"flows\":2,\"msg_size\":1}", NULL, 1, 1);
}

static void test_measured_keys_count(void **state) {
  (void)state;
  same_key(base, NULL, 1, "{\"duration_ns\":1000000000,\"flows\":1,\"msg_size\":1024,\"path\":\"auto\"}",
           NULL, 1, 0);
  /* Topology and VMs live in their own columns, not in params_json. */
  same_key(base, "many-to-one", 1, base, "many-to-one", 2, 0);
  same_key(base, NULL, 1, base, "vm-vm-cross", 1, 0);
  /* path auto is what the run chose: native for host-host... */
  same_key(base, NULL, 1,
           "{\"duration_ns\":1000000000,\"flows\":1,\"index\":2,\"msg_size\":65536,"
           "\"path\":\"native\",\"receiver\":\"b\",\"response_size\":1,\"sender\":\"a\","
           "\"test\":\"bandwidth\",\"workload\":\"tcp_stream\"}",
           NULL, 1, 1);
  /* ...and not sriov. */
  same_key("{\"path\":\"auto\"}", "vm-vm-cross", 1, "{\"path\":\"sriov\"}", "vm-vm-cross", 1, 0);
  same_key("{\"path\":\"auto\"}", "vm-vm-cross", 1, "{\"path\":\"existing\"}", "vm-vm-cross", 1, 1);
}

static void test_test_name_and_bad_json(void **state) {
  (void)state;
  char *a = key("bandwidth", base, NULL, 1), *b = key("vm_bandwidth", base, NULL, 1);
  assert_string_not_equal(a, b);
  free(a);
  free(b);
  /* Not JSON, not an object, or absent: no parameters, still a key. */
  a = key("t", "not json", NULL, 1);
  b = key("t", NULL, NULL, 0);
  assert_string_equal(a, b);
  assert_string_equal(a, "{\"test\":\"t\",\"topology\":\"host-host\",\"vms\":1}");
  free(a);
  a = key("t", "[1,2]", NULL, 1);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_control_keys_ignored),
    cmocka_unit_test(test_measured_keys_count),
    cmocka_unit_test(test_test_name_and_bad_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
