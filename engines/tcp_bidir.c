/* tcp_bidir: bulk TCP both ways at once, like iperf3 --bidir.  Each flow
 * (one connection) carries one direction, chosen by its index:
 *   even flows (0, 2, ...): sender -> receiver, exactly as tcp_stream;
 *   odd flows (1, 3, ...):  receiver -> sender, exactly as tcp_maerts.
 * So flows = 2 is one connection each way, and 'flows' must be even (and
 * so at least 2): iov_engine_run_new() rejects anything else with
 * -EINVAL, before any socket exists.  An odd count would load one
 * direction more than the other, which is not what a bidirectional test
 * means; a plan that wants that can run tcp_stream and tcp_maerts.
 *
 * Every flow counts the bytes it moved on its socket, sent or received,
 * and both ends of a connection count the same bytes (each direction ends
 * with a half-close that the other end drains).  So the sum over one
 * side's flows covers both directions; split it by flow parity. */
#include <errno.h>

#include "engine.h"

extern const struct iov_engine_ops iov_engine_tcp_stream;
extern const struct iov_engine_ops iov_engine_tcp_maerts;

static int bidir_check(const struct iov_engine_config *cfg) {
  return cfg->flows >= 2 && cfg->flows % 2 == 0 ? 0 : -EINVAL;
}

static int bidir_run(struct iov_flow *f, uint64_t end_mono_ns) {
  const struct iov_engine_ops *dir = f->idx % 2 == 0 ? &iov_engine_tcp_stream : &iov_engine_tcp_maerts;
  return dir->flow_run(f, end_mono_ns);
}

/* The settings of tcp_bidir (its ops' .options). */
struct tcp_bidir_opts {
  struct iov_sock_opts sock;
};

static const struct iov_engine_opt tcp_bidir_options[] = {
  IOV_ENGINE_SOCK_OPTS(struct tcp_bidir_opts),
  { 0 },
};

const struct iov_engine_ops iov_engine_tcp_bidir = {
  .name = "tcp_bidir",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_NEEDS_PEER,
  .help = "bulk TCP both ways: even flows sender to receiver, odd flows receiver to sender "
          "(flows must be even)",
  .flow_run = bidir_run,
  .check = bidir_check,
  .options = tcp_bidir_options,
  .option_struct_size = sizeof(struct tcp_bidir_opts),
  .sockopts = iov_sock_opts_apply,
};
