/* tcp_rr: TCP request/response, netperf TCP_RR style.  The client sends a
 * msg_size request and waits for a response_size response; each round trip
 * is one transaction, timed into the flow's latency histogram. */
#include <errno.h>

#include "engine.h"
#include "timeutil.h"

static int rr_client(struct iov_flow *f, uint64_t end_mono_ns) {
  const size_t req = f->cfg->msg_size, resp = f->cfg->response_size;

  for (;;) {
    uint64_t t0 = iov_now_mono();
    if (t0 >= end_mono_ns) return 0;
    ssize_t k = iov_flow_write_all(f, f->buf, req, end_mono_ns);
    if (k > 0) k = iov_flow_read_all(f, f->buf, resp, end_mono_ns);
    if (k == -ETIMEDOUT) return 0; /* the window closed mid-transaction */
    if (k == 0) return -EPIPE;     /* the server went away */
    if (k < 0) return (int)k;
    uint64_t t1 = iov_now_mono();
    iov_hist_record(&f->stats.hist, t1 - t0);
    iov_flow_add(f, req + resp, 2, 1);
  }
}

static int rr_server(struct iov_flow *f, uint64_t end_mono_ns) {
  const size_t req = f->cfg->msg_size, resp = f->cfg->response_size;

  for (;;) {
    ssize_t k = iov_flow_read_all(f, f->buf, req, end_mono_ns);
    if (k == 0) return 0; /* the client closed between transactions */
    if (k > 0) k = iov_flow_write_all(f, f->buf, resp, end_mono_ns);
    if (k < 0) return k == -EPIPE ? 0 : (int)k;
    iov_flow_add(f, req + resp, 2, 1);
  }
}

static int rr_run(struct iov_flow *f, uint64_t end_mono_ns) {
  return f->cfg->role == IOV_ROLE_SENDER ? rr_client(f, end_mono_ns) : rr_server(f, end_mono_ns);
}

const struct iov_engine_ops iov_engine_tcp_rr = {
  .name = "tcp_rr",
  .abi_version = IOV_ENGINE_ABI,
  .flags = IOV_ENG_F_RR | IOV_ENG_F_NEEDS_PEER,
  .help = "TCP request/response: msg_size request, response_size response; latency histogram",
  .flow_run = rr_run,
};
