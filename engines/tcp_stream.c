/* tcp_stream: bulk TCP from sender to receiver, netperf TCP_STREAM style.
 * The sender writes msg_size messages until the window ends; the receiver
 * reads until the sender's FIN and counts every byte. */
#include <errno.h>
#include <sys/socket.h>

#include "engine.h"
#include "timeutil.h"

static int stream_run(struct iov_flow *f, uint64_t end_mono_ns) {
  return f->cfg->role == IOV_ROLE_SENDER ? iov_flow_bulk_write(f, end_mono_ns)
                                         : iov_flow_bulk_read(f, end_mono_ns);
}

/* The settings of tcp_stream (its ops' .options). */
struct tcp_stream_opts {
  struct iov_sock_opts sock;
};

static const struct iov_engine_opt tcp_stream_options[] = {
  IOV_ENGINE_SOCK_OPTS(struct tcp_stream_opts),
  { 0 },
};

const struct iov_engine_ops iov_engine_tcp_stream = {
  .name = "tcp_stream",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_NEEDS_PEER,
  .help = "bulk TCP, sender to receiver (msg_size per write)",
  .flow_run = stream_run,
  .options = tcp_stream_options,
  .option_struct_size = sizeof(struct tcp_stream_opts),
  .sockopts = iov_sock_opts_apply,
};
