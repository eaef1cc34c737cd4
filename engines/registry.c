/* The engines, registered explicitly from a static array (constructors
 * would be dropped by static-library links). */
#include <errno.h>
#include <string.h>

#include "engine.h"

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

int iov_engine_registry_check(const char **reterr_name) {
  for (size_t i = 0; i < ELEMENTSOF(engines); i++) {
    const struct iov_engine_ops *o = engines[i];
    if (!o->name || o->abi_version != IOV_ENGINE_ABI || !o->flow_run ||
        strcmp(o->name, engine_names[i]) != 0) {
      if (reterr_name) *reterr_name = o->name ? o->name : "(unnamed)";
      return -EINVAL;
    }
  }
  return 0;
}
