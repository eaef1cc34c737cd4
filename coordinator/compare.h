/* coord compare: the test points of two stored runs side by side.  The
 * command itself is iov_coord_compare() (coord.h); this header exposes
 * the part a unit test checks on its own: how a point of one run is
 * found again in another. */
#pragma once

#include <stdint.h>

/* Run-control keys: they say how a point is run (how often, how long to
 * wait, how often to sample), not what is measured, so two points that
 * differ only in them are the same measurement.  Each is left out of the
 * matching key under its plan name and under its stored name with "_ns"
 * (timeout_ns, sample_interval_ns, heartbeat_ns).  "index" (the point's
 * place in its plan) and "sweep" (a label made from parameters that are
 * in the key anyway) are left out too, so that adding a test or a sweep
 * value to a plan does not change the key of the others. */
#define IOV_COMPARE_CONTROL_KEYS \
  "repeat", "repeat_max", "confidence", "on_error", "heartbeat", "timeout", "sample_interval"

/* The key that matches a test point across runs: its stored parameters
 * (point.params_json, a JSON object) without the keys above, with "test",
 * "topology" (NULL: "host-host") and "vms" (0: 1) from the point's own
 * columns, and path "auto" resolved as the run resolved it (native for
 * host-host, existing otherwise), written as compact JSON with sorted
 * keys.  params_json NULL, not JSON or not an object counts as no
 * parameters.  Caller owns *ret_key; free() it.  Returns 0 or -ENOMEM;
 * *ret_key is written only on success. */
int iov_compare_point_key(const char *test, const char *params_json, const char *topology, uint64_t vms,
                          char **ret_key);
