#include "peer.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "timeutil.h"

int iov_peer_new(const char *name, const char *endpoint, const char *data_addr, struct iov_peer **ret) {
  struct iov_peer *p = calloc(1, sizeof(*p));
  if (!p) return -ENOMEM;
  p->name = strdup(name);
  p->endpoint = strdup(endpoint);
  p->data_addr = data_addr ? strdup(data_addr) : NULL;
  p->sock = zsock_new(ZMQ_DEALER);
  if (!p->name || !p->endpoint || (data_addr && !p->data_addr) || !p->sock) {
    iov_peer_free(p);
    return -ENOMEM;
  }
  iov_wire_sock_setup(p->sock);
  if (zsock_connect(p->sock, "%s", endpoint) < 0) {
    int r = -errno;
    iov_peer_free(p);
    return r ? r : -EINVAL;
  }
  *ret = p;
  return 0;
}

struct iov_peer *iov_peer_free(struct iov_peer *p) {
  if (!p) return NULL;
  zsock_destroy(&p->sock);
  iov_wire_free(p->welcome);
  free(p->name);
  free(p->endpoint);
  free(p->data_addr);
  free(p);
  return NULL;
}

int64_t iov_peer_send(struct iov_peer *p, iov_envelope *e) {
  e->msg_id = ++p->msg_id;
  e->session_id = p->session_id;
  int r = iov_wire_send(p->sock, NULL, e);
  if (r < 0) return r;
  iov_debug(IOV_DBG_PROTO, "-> %s %s #%" PRIu64, p->name, iov_wire_body_name(e), e->msg_id);
  return (int64_t)e->msg_id;
}

int iov_peers_recv(struct iov_peer *const *peers, size_t n, int signal_fd, uint64_t deadline_mono,
                   struct iov_peer **ret_peer, iov_envelope **ret) {
  zmq_pollitem_t items[n + 1];
  char why[256];

  for (;;) {
    /* Messages already queued first: zmq_poll would see them too, but this
     * keeps the order fair and the loop simple. */
    for (size_t i = 0; i < n; i++) {
      for (;;) {
        iov_envelope *e = NULL;
        int r = iov_wire_recv(peers[i]->sock, NULL, &e, &peers[i]->stats, why, sizeof(why));
        if (r == -EAGAIN) break;
        if (r < 0) {
          iov_warn("dropped a message from agent '%s': %s", peers[i]->name, why);
          continue;
        }
        iov_debug(IOV_DBG_PROTO, "<- %s %s #%" PRIu64, peers[i]->name, iov_wire_body_name(e), e->msg_id);
        *ret_peer = peers[i];
        *ret = e;
        return 0;
      }
    }
    uint64_t now = iov_now_mono();
    if (now >= deadline_mono) return -IOV_E_TIMEOUT;
    for (size_t i = 0; i < n; i++)
      items[i] = (zmq_pollitem_t){ .socket = zsock_resolve(peers[i]->sock), .events = ZMQ_POLLIN };
    size_t m = n;
    if (signal_fd >= 0) items[m++] = (zmq_pollitem_t){ .fd = signal_fd, .events = ZMQ_POLLIN };
    long timeout_ms = (long)((deadline_mono - now + IOV_NSEC_PER_MSEC - 1) / IOV_NSEC_PER_MSEC);
    int k = zmq_poll(items, (int)m, timeout_ms);
    if (k < 0 && errno != EINTR) return -errno;
    if (signal_fd >= 0 && k > 0 && (items[n].revents & ZMQ_POLLIN)) return -IOV_E_INTERRUPTED;
  }
}
