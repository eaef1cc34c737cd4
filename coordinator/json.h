/* JSON documents coord stores with a run (jansson, never printf). */
#pragma once

#include <jansson.h>

#include "iovbench.pb-c.h"
#include "plan.h"

/* New reference; NULL on OOM. */
json_t *iov_json_inventory(const char *name, const char *endpoint, const Iovbench__Welcome *w);
json_t *iov_json_point_params(const struct iov_plan_point *p);
/* Dump to a new string (caller frees) or a file (0 / -errno). */
char *iov_json_dumps(const json_t *j);
int iov_json_dump_file(const json_t *j, const char *path);
