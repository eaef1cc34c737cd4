/* The engines, registered explicitly from a static array (constructors
 * would be dropped by static-library links). */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "engine.h"
#include "err.h"

extern const struct iov_engine_ops iov_engine_tcp_stream;
extern const struct iov_engine_ops iov_engine_tcp_maerts;
extern const struct iov_engine_ops iov_engine_tcp_bidir;
extern const struct iov_engine_ops iov_engine_udp_stream;
extern const struct iov_engine_ops iov_engine_tcp_rr;
extern const struct iov_engine_ops iov_engine_udp_rr;
extern const struct iov_engine_ops iov_engine_tcp_crr;

static const struct iov_engine_ops *const engines[] = {
  &iov_engine_tcp_stream, &iov_engine_tcp_maerts, &iov_engine_tcp_bidir, &iov_engine_udp_stream,
  &iov_engine_tcp_rr,     &iov_engine_udp_rr,     &iov_engine_tcp_crr,
};

static const char *const engine_names[] = {
  "tcp_stream", "tcp_maerts", "tcp_bidir", "udp_stream", "tcp_rr", "udp_rr", "tcp_crr", NULL,
};

_Static_assert(ELEMENTSOF(engines) + 1 == ELEMENTSOF(engine_names), "engine name list out of step");

const struct iov_engine_ops *iov_engine_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < ELEMENTSOF(engines); i++)
    if (strcmp(engines[i]->name, name) == 0) return engines[i];
  return NULL;
}

const char *const *iov_engine_names(void) { return engine_names; }

static int check_opts(const struct iov_engine_ops *o, char *err, size_t errlen) {
  size_t n = 0;
  for (const struct iov_engine_opt *x = o->options; x && x->name; x++, n++) {
    if (n >= IOV_ENGINE_MAX_OPTS || strlen(x->name) > 31 || x->type >= _IOV_OPT_TYPE_MAX ||
        x->offset % sizeof(uint64_t) != 0 || x->offset + sizeof(uint64_t) > o->option_struct_size ||
        x->min > x->max || x->def < x->min || x->def > x->max || !x->help ||
        (x->type == IOV_OPT_CUSTOM && (!x->parse || !x->format)))
      return iov_errf(-EINVAL, err, errlen, "engine %s: setting '%s' is malformed", o->name, x->name);
    for (const struct iov_engine_opt *y = o->options; y != x; y++)
      if (strcmp(y->name, x->name) == 0)
        return iov_errf(-EINVAL, err, errlen, "engine %s: setting '%s' declared twice", o->name, x->name);
  }
  if (o->option_struct_size > IOV_ENGINE_MAX_OPTS_SIZE)
    return iov_errf(-EINVAL, err, errlen, "engine %s: option struct of %zu bytes (max %zu)", o->name,
                    o->option_struct_size, (size_t)IOV_ENGINE_MAX_OPTS_SIZE);
  return 0;
}

int iov_engine_registry_check(char *err, size_t errlen) {
  for (size_t i = 0; i < ELEMENTSOF(engines); i++) {
    const struct iov_engine_ops *o = engines[i];
    if (!o->name || o->abi_version != IOV_ENGINE_ABI || !o->flow_run || strcmp(o->name, engine_names[i]) != 0)
      return iov_errf(-EINVAL, err, errlen, "engine %s: wrong ABI version, name or callbacks",
                      o->name ? o->name : "(unnamed)");
    int r = check_opts(o, err, errlen);
    if (r < 0) return r;
  }
  /* The plan parser's own rules: one type per key, no common key. */
  struct iov_plan *p = NULL;
  int r = iov_plan_parse("[hosts]\na = local\nb = local\n[t]\nworkload = tcp_stream\n", "(registry)",
                         iov_engine_plan_workloads(), &p, err, errlen);
  iov_plan_free(p);
  return r < 0 ? -EINVAL : 0;
}

static struct iov_plan_workload plan_workloads[ELEMENTSOF(engines) + 1];
static pthread_once_t plan_workloads_once = PTHREAD_ONCE_INIT;

static void plan_workloads_fill(void) {
  for (size_t i = 0; i < ELEMENTSOF(engines); i++)
    plan_workloads[i] = (struct iov_plan_workload){ .name = engines[i]->name,
                                                    .udp = (engines[i]->flags & IOV_ENG_F_UDP) != 0,
                                                    .opts = engines[i]->options,
                                                    .min_msg_size = engines[i]->min_msg_size };
}

const struct iov_plan_workload *iov_engine_plan_workloads(void) {
  pthread_once(&plan_workloads_once, plan_workloads_fill);
  return plan_workloads;
}

void iov_engine_opts_default(const struct iov_engine_ops *ops, void *opts) {
  memset(opts, 0, ops->option_struct_size);
  for (const struct iov_engine_opt *x = ops->options; x && x->name; x++)
    memcpy((char *)opts + x->offset, &x->def, sizeof(uint64_t));
}

int iov_engine_opt_set(const struct iov_engine_ops *ops, void *opts, const char *name, uint64_t v) {
  const struct iov_engine_opt *x = iov_engine_opt_find(ops->options, name);
  if (!x) return -ENOENT;
  memcpy((char *)opts + x->offset, &v, sizeof(v));
  return 0;
}

bool iov_engine_opt_get(const struct iov_engine_ops *ops, const void *opts, const char *name, uint64_t *ret) {
  const struct iov_engine_opt *x = iov_engine_opt_find(ops->options, name);
  if (!x || !opts) return false;
  if (ret) memcpy(ret, (const char *)opts + x->offset, sizeof(*ret));
  return true;
}

int iov_engine_opts_check(const struct iov_engine_ops *ops, const void *opts, char *err, size_t errlen) {
  for (const struct iov_engine_opt *x = ops->options; x && x->name; x++) {
    uint64_t v;
    char why[160];
    memcpy(&v, (const char *)opts + x->offset, sizeof(v));
    if (iov_engine_opt_check(x, v, why, sizeof(why)) < 0)
      return iov_errf(-ERANGE, err, errlen, "%s: key '%s': %s", ops->name, x->name, why);
  }
  return 0;
}
