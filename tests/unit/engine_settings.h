/* Engine settings as the engine tests drive them: from a plan's test,
 * through the wire, into the engine's option struct (test_tcp_engines.c
 * and test_udp_engines.c).  Include after cmocka.h, engine.h, err.h and
 * wire.h. */
#pragma once

#include <stdio.h>
#include <string.h>

#include "plan.h"

/* The option struct an agent builds for ops from a plan's test that sets
 * 'settings' ("key = value" lines): the plan parsed with the engines' own
 * tables, the point's settings put in a Prepare, the frame encoded and
 * decoded, and the settings checked into the struct through the same
 * table.  Static storage. */
static const void *opts_through_wire(const struct iov_engine_ops *ops, const char *settings) {
  static _Alignas(uint64_t) unsigned char buf[IOV_ENGINE_MAX_OPTS_SIZE];
  char text[512], err[256];
  struct iov_plan *plan = NULL;

  snprintf(text, sizeof(text), "[hosts]\na = local\nb = local\n[t]\nworkload = %s\n%s", ops->name, settings);
  if (iov_plan_parse(text, "inline.plan", iov_engine_plan_workloads(), &plan, err, sizeof(err)) < 0)
    fail_msg("%s", err);
  Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
  w.name = (char *)ops->name;
  w.flows = 1;
  w.msg_size = 1;
  w.duration_ns = IOV_NSEC_PER_SEC;
  w.sample_interval_ns = IOV_NSEC_PER_SEC;
  assert_int_equal(
      iov_wire_engine_settings_to_pb(plan->points[0].p.settings, plan->points[0].p.n_settings, &w), 0);
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.role = IOVBENCH__ROLE__ROLE_RECEIVER;
  p.workload = &w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT, *out = NULL;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  zframe_t *f = NULL;
  assert_int_equal(iov_wire_encode(&e, &f), 0);
  assert_int_equal(iov_wire_decode(zframe_data(f), zframe_size(f), &out, NULL, err, sizeof(err)), 0);
  zframe_destroy(&f);
  assert_int_equal(out->prepare->workload->n_settings, plan->points[0].p.n_settings);
  if (iov_wire_engine_settings(ops->options, ops->option_struct_size, out->prepare->workload, buf, err,
                               sizeof(err)) < 0)
    fail_msg("%s", err);
  iov_wire_free(out);
  iov_wire_engine_settings_done(&w);
  iov_plan_free(plan);
  return buf;
}

/* A plan's test that sets 'settings' for ops is refused, with this text
 * (file, line and key). */
static void plan_refused(const struct iov_engine_ops *ops, const char *settings, const char *want) {
  char text[512], err[256];
  struct iov_plan *plan = NULL;
  snprintf(text, sizeof(text), "[hosts]\na = local\nb = local\n[t]\nworkload = %s\n%s", ops->name, settings);
  assert_int_equal(iov_plan_parse(text, "inline.plan", iov_engine_plan_workloads(), &plan, err, sizeof(err)),
                   -IOV_E_PLAN);
  assert_null(plan);
  if (!strstr(err, want)) fail_msg("'%s' lacks '%s'", err, want);
}
