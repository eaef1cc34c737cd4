#include "peer.h"

#include "text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "log.h"
#include "timeutil.h"

int iov_peer_new(const char *name, const char *endpoint, const char *data_addr, zcert_t *cert,
                 const char *server_key, struct iov_peer **ret) {
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
  /* Samples of all the host's guests come through this one socket. */
  zsock_set_rcvhwm(p->sock, 100000);
  if (cert && server_key) {
    iov_curve_client(p->sock, cert, server_key);
    p->curve = true;
  }
  if (zsock_connect(p->sock, "%s", endpoint) < 0) {
    int r = -errno;
    iov_peer_free(p);
    return r ? r : -EINVAL;
  }
  *ret = p;
  return 0;
}

static int find_guest(struct iov_peer *host, const char *route, size_t *ret_pos) {
  size_t lo = 0, hi = host->n_guests;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(host->guests[mid]->route, route);
    if (c == 0) {
      *ret_pos = mid;
      return 1;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *ret_pos = lo;
  return 0;
}

struct iov_peer *iov_peer_guest(struct iov_peer *host, const char *route, bool add) {
  size_t pos;
  if (find_guest(host, route, &pos)) return host->guests[pos];
  if (!add || host->n_guests >= IOV_PEER_MAX_GUESTS) return NULL;
  struct iov_peer *g = calloc(1, sizeof(*g));
  struct iov_peer **n = realloc(host->guests, (host->n_guests + 1) * sizeof(*n));
  if (!g || !n) {
    free(g);
    if (n) host->guests = n;
    return NULL;
  }
  host->guests = n;
  g->host = host;
  g->route = strdup(route);
  g->endpoint = strdup(host->endpoint);
  if (asprintf(&g->name, "%s/%s", host->name, route) < 0) g->name = NULL;
  if (!g->route || !g->endpoint || !g->name) {
    iov_peer_free(g);
    return NULL;
  }
  memmove(&host->guests[pos + 1], &host->guests[pos], (host->n_guests - pos) * sizeof(*n));
  host->guests[pos] = g;
  host->n_guests++;
  return g;
}

struct iov_peer *iov_peer_free(struct iov_peer *p) {
  if (!p) return NULL;
  for (size_t i = 0; i < p->n_guests; i++) iov_peer_free(p->guests[i]);
  free(p->guests);
  zsock_destroy(&p->sock);
  iov_wire_free(p->welcome);
  free(p->name);
  free(p->endpoint);
  free(p->data_addr);
  free(p->route);
  free(p->vouched);
  free(p);
  return NULL;
}

const char *iov_peer_text(const char *s, char *buf, size_t n) {
  if (!n) return "";
  snprintf(buf, n, "%s", s ? s : "");
  iov_text_sanitize(buf); /* also a multibyte character cut at the end */
  return buf;
}

int iov_peer_vouch(struct iov_peer *g, const char *addr) {
  if (!addr || !*addr) {
    free(g->vouched);
    g->vouched = NULL;
    return 0;
  }
  if (g->vouched && strcmp(g->vouched, addr) == 0) return 0;
  char *a = strdup(addr);
  if (!a) return -ENOMEM;
  free(g->vouched);
  g->vouched = a;
  return 0;
}

int64_t iov_peer_send(struct iov_peer *p, iov_envelope *e) {
  zsock_t *sock = p->host ? p->host->sock : p->sock;
  e->msg_id = ++p->msg_id;
  e->session_id = p->session_id;
  e->route = p->route ? p->route : "";
  int r = iov_wire_send(sock, NULL, e);
  e->route = NULL;
  if (r < 0) return r;
  iov_debug(IOV_DBG_PROTO, "-> %s %s #%" PRIu64, p->name, iov_wire_body_name(e), e->msg_id);
  return (int64_t)e->msg_id;
}

char *iov_peer_guest_data_addr(const iov_envelope *w) {
  const Iovbench__Welcome *wel = w ? w->welcome : NULL;
  if (!wel) return NULL;
  if (wel->data_address && *wel->data_address) return strdup(wel->data_address);
  const Iovbench__Inventory *inv = wel->inventory;
  for (size_t i = 0; inv && i < inv->n_interfaces; i++) {
    const Iovbench__Interface *it = inv->interfaces[i];
    if (it->loopback) continue;
    for (size_t j = 0; j < it->n_addresses; j++) {
      char buf[64];
      struct in_addr a;
      snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(it->addresses[j], "/"), it->addresses[j]);
      if (inet_pton(AF_INET, buf, &a) == 1) return strdup(buf);
    }
  }
  return NULL;
}

/* The Peer-Address ZeroMQ attached to a message from host h: kept when
 * it is an IP literal (over ipc it is not). */
static void note_ctl_addr(struct iov_peer *h, const char *pa) {
  char buf[sizeof(h->ctl_addr)];
  struct in6_addr a;
  size_t n = strcspn(pa, "%");
  if (n >= sizeof(buf)) return;
  memcpy(buf, pa, n);
  buf[n] = 0;
  if (inet_pton(AF_INET, buf, &a) != 1 && inet_pton(AF_INET6, buf, &a) != 1) return;
  if (strcmp(h->ctl_addr, buf) != 0) {
    if (h->ctl_addr[0]) iov_notice("agent '%s' now answers from %s (was %s)", h->name, buf, h->ctl_addr);
    memcpy(h->ctl_addr, buf, n + 1);
  }
}

/* One single-frame message off host h's socket, as iov_wire_recv() takes
 * it, noting the connection's peer address on the way. */
static int recv_env(struct iov_peer *h, iov_envelope **ret, char *err, size_t errlen) {
  void *s = zsock_resolve(h->sock);
  zmq_msg_t m;
  zmq_msg_init(&m);
  if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
    int r = -errno;
    zmq_msg_close(&m);
    return r;
  }
  const char *pa = zmq_msg_gets(&m, "Peer-Address");
  if (pa) note_ctl_addr(h, pa);
  int r, frames = 1;
  if (zmq_msg_more(&m)) {
    /* Read the rest so the socket stays in step; then drop it. */
    zmq_msg_t x;
    bool more = true;
    while (more) {
      zmq_msg_init(&x);
      if (zmq_msg_recv(&x, s, 0) < 0) {
        zmq_msg_close(&x);
        break;
      }
      frames++;
      more = zmq_msg_more(&x);
      zmq_msg_close(&x);
    }
    h->stats.received++;
    h->stats.bad_framing++;
    r = iov_errf(-EBADMSG, err, errlen, "message with %d frames, expected 1", frames);
  } else
    r = iov_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), ret, &h->stats, err, errlen);
  zmq_msg_close(&m);
  return r;
}

/* Take one queued message off host i, resolved to the guest it came from. */
static int recv_one(struct iov_peer *h, struct iov_peer **ret_peer, iov_envelope **ret) {
  char err[256];
  for (;;) {
    iov_envelope *e = NULL;
    err[0] = 0;
    int r = recv_env(h, &e, err, sizeof(err));
    if (r == -EAGAIN) return r;
    if (r < 0) {
      iov_warn("dropped a message from agent '%s': %s", h->name, err[0] ? err : iov_strerror(r));
      continue;
    }
    struct iov_peer *p = h;
    if (e->route && *e->route) {
      p = iov_peer_guest(h, e->route, false);
      if (!p) {
        char t[80];
        iov_debug(IOV_DBG_PROTO, "dropped %s from unknown guest '%s' of '%s'", iov_wire_body_name(e),
                  iov_peer_text(e->route, t, sizeof(t)), h->name);
        iov_wire_free(e);
        continue;
      }
    }
    iov_debug(IOV_DBG_PROTO, "<- %s %s #%" PRIu64, p->name, iov_wire_body_name(e), e->msg_id);
    *ret_peer = p;
    *ret = e;
    return 0;
  }
}

int iov_peers_recv(struct iov_peer *const *hosts, size_t n, int signal_fd, uint64_t deadline_mono,
                   struct iov_peer **ret_peer, iov_envelope **ret) {
  zmq_pollitem_t items[n + 1];
  /* Round robin over the hosts, so one busy host cannot starve another. */
  static size_t next;

  for (;;) {
    for (size_t k = 0; k < n; k++) {
      size_t i = (next + k) % n;
      if (recv_one(hosts[i], ret_peer, ret) == 0) {
        next = i + 1;
        return 0;
      }
    }
    uint64_t now = iov_now_mono();
    if (now >= deadline_mono) return -IOV_E_TIMEOUT;
    for (size_t i = 0; i < n; i++)
      items[i] = (zmq_pollitem_t){ .socket = zsock_resolve(hosts[i]->sock), .events = ZMQ_POLLIN };
    size_t m = n;
    if (signal_fd >= 0) items[m++] = (zmq_pollitem_t){ .fd = signal_fd, .events = ZMQ_POLLIN };
    long timeout_ms = (long)((deadline_mono - now + IOV_NSEC_PER_MSEC - 1) / IOV_NSEC_PER_MSEC);
    int k = zmq_poll(items, (int)m, timeout_ms);
    if (k < 0 && errno != EINTR) return -errno;
    if (signal_fd >= 0 && k > 0 && (items[n].revents & ZMQ_POLLIN)) return -IOV_E_INTERRUPTED;
  }
}
