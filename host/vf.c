/* The VF handle (see vf.h): its rtnetlink transport (libmnl, or the
 * caller's for tests) and the per-VF settings applied through it.  The
 * messages come from vf_codec.c, the PF and its VF count from
 * vf_count.c, the record of the PF before the first change from
 * vf_state.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "err.h"
#include "log.h"
#include "macro.h"
#include "vf.h"
#include "vf_internal.h"

#define NL_TIMEOUT_SEC 5
/* Messages from other requests (late answers to one that timed out) that
 * a transaction skips before giving up. */
#define NL_MAX_SKIPPED 64
#define REQ_BUF 512
/* How long a VF rate refused while the PF's link is down waits for it. */
#define LINK_WAIT_MS 10000

/* ---------------------------------------------------------------- */
/* The handle and the real transport                                 */

int iov__vf_fail(int r, char *err, size_t errlen, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  size_t n;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  n = strlen(buf);
  if (n < sizeof(buf)) snprintf(buf + n, sizeof(buf) - n, ": %s", iov_strerror(r));
  iov_debug(IOV_DBG_SRIOV, "vf: %s", buf);
  return iov_errf(r, err, errlen, "%s", buf);
}

static int mnl_open(struct iov_vf *v) {
  struct timeval tv = { .tv_sec = NL_TIMEOUT_SEC };
  int one = 1;

  if (v->nl) return 0;
  v->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!v->nl) return -errno;
  if (mnl_socket_bind(v->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    int r = -errno;
    mnl_socket_close(v->nl);
    v->nl = NULL;
    return r;
  }
  /* Error text from the kernel, and acks that do not echo the request.
   * Both are optional (4.12 and 4.3); failures are harmless. */
  (void)mnl_socket_setsockopt(v->nl, NETLINK_EXT_ACK, &one, sizeof(one));
  (void)mnl_socket_setsockopt(v->nl, NETLINK_CAP_ACK, &one, sizeof(one));
  (void)setsockopt(mnl_socket_get_fd(v->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return 0;
}

static int mnl_transact(void *userdata, const void *req, size_t req_len, void **ret_reply, size_t *ret_len) {
  struct iov_vf *v = userdata;
  const struct nlmsghdr *rq = req;
  int r, fd;

  if (req_len < sizeof(*rq)) return -EINVAL;
  r = mnl_open(v);
  if (r < 0) return r;
  fd = mnl_socket_get_fd(v->nl);
  if (mnl_socket_sendto(v->nl, req, req_len) != (ssize_t)req_len) return errno ? -errno : -EIO;

  for (int skipped = 0; skipped < NL_MAX_SKIPPED; skipped++) {
    ssize_t n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
    char *buf;
    int left;

    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? -ETIMEDOUT : -errno;
    }
    if ((size_t)n > IOV_VF_MAX_MSG) {
      char drop;
      (void)recv(fd, &drop, 1, 0);
      return -EMSGSIZE;
    }
    buf = malloc(n ? (size_t)n : 1);
    if (!buf) return -ENOMEM;
    n = recv(fd, buf, (size_t)n, 0);
    if (n < 0) {
      r = errno == EAGAIN ? -ETIMEDOUT : -errno;
      free(buf);
      return r;
    }
    left = (int)n;
    for (const struct nlmsghdr *m = (const void *)buf; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
      void *out;
      if (m->nlmsg_seq != rq->nlmsg_seq || !mnl_nlmsg_portid_ok(m, mnl_socket_get_portid(v->nl))) continue;
      out = malloc(m->nlmsg_len);
      if (!out) {
        free(buf);
        return -ENOMEM;
      }
      memcpy(out, m, m->nlmsg_len);
      *ret_len = m->nlmsg_len;
      *ret_reply = out;
      free(buf);
      return 0;
    }
    free(buf);
  }
  return -ETIMEDOUT;
}

static const struct iov_vf_nl_ops mnl_ops = { .transact = mnl_transact };

int iov_vf_new(const struct iov_vf_config *cfg, struct iov_vf **ret) {
  struct iov_vf *v;
  const char *root = cfg && cfg->sysfs_root ? cfg->sysfs_root : "/sys";
  const char *state = cfg && cfg->state_dir ? cfg->state_dir : IOV_VF_STATE_DIR;

  if (!ret) return -EINVAL;
  v = calloc(1, sizeof(*v));
  if (!v) return -ENOMEM;
  v->sysfs_root = strdup(root);
  v->state_dir = strdup(state);
  if (!v->sysfs_root || !v->state_dir) {
    iov_vf_free(v);
    return -ENOMEM;
  }
  if (cfg && cfg->nl_ops) {
    v->ops = cfg->nl_ops;
    v->ud = cfg->nl_userdata;
  } else {
    v->ops = &mnl_ops;
    v->ud = v;
  }
  /* Like iproute2: a sequence that differs from run to run, so that a
   * late answer to a previous process is not taken for ours. */
  v->seq = (uint32_t)time(NULL);
  *ret = v;
  return 0;
}

struct iov_vf *iov_vf_free(struct iov_vf *v) {
  if (!v) return NULL;
  if (v->nl) mnl_socket_close(v->nl);
  free(v->sysfs_root);
  free(v->state_dir);
  free(v);
  return NULL;
}

/* Send req; return the reply (caller frees). */
static int transact(struct iov_vf *v, const char *req, int req_len, void **ret, size_t *ret_len) {
  void *reply = NULL;
  size_t n = 0;
  int r;

  r = v->ops->transact(v->ud, req, (size_t)req_len, &reply, &n);
  if (r < 0) return r;
  if (!reply) return -EBADMSG;
  *ret = reply;
  *ret_len = n;
  return 0;
}

/* GETLINK by name. */
int iov__vf_get_link(struct iov_vf *v, const char *netdev, struct iov_vf_link *ret) {
  char req[REQ_BUF];
  _cleanup_free_ void *reply = NULL;
  size_t n;
  int len, r;

  len = iov_vf_build_getlink(req, sizeof(req), 0, netdev, ++v->seq);
  if (len < 0) return len;
  r = transact(v, req, len, &reply, &n);
  if (r < 0) return r;
  return iov_vf_parse_link(reply, n, ret);
}

/* One SETLINK; the kernel's text, if any, goes to msg. */
static int set_link(struct iov_vf *v, int ifindex, unsigned vf, const struct iov_vf_settings *s, char *msg,
                    size_t msg_len) {
  char req[REQ_BUF];
  _cleanup_free_ void *reply = NULL;
  size_t n;
  int len, r;

  msg[0] = 0;
  len = iov_vf_build_setlink(req, sizeof(req), ifindex, vf, s, ++v->seq);
  if (len < 0) return len;
  r = transact(v, req, len, &reply, &n);
  if (r < 0) return r;
  return iov_vf_parse_ack(reply, n, msg, msg_len);
}

/* ---------------------------------------------------------------- */
/* Settings and restore                                              */

static const unsigned order[] = { IOV_VF_SET_MAC, IOV_VF_SET_VLAN, IOV_VF_SET_SPOOFCHK, IOV_VF_SET_TRUST,
                                  IOV_VF_SET_RATE | IOV_VF_SET_TX_RATE };

static const char *setting_name(unsigned bit) {
  switch (bit) {
  case IOV_VF_SET_MAC: return "mac";
  case IOV_VF_SET_VLAN: return "vlan";
  case IOV_VF_SET_SPOOFCHK: return "spoofchk";
  case IOV_VF_SET_TRUST: return "trust";
  case IOV_VF_SET_RATE: return "rate";
  case IOV_VF_SET_TX_RATE: return "tx_rate";
  default: return "?";
  }
}

/* Is the PF's link down?  Reads <dev>/net/<netdev>/carrier; a missing or
 * unreadable file counts as up (nothing to wait for). */
static bool carrier_down(const struct iov__vf_pf *pf) {
  char p[PATH_MAX], c = '1';
  int fd, k;

  k = snprintf(p, sizeof(p), "%s/net/%s/carrier", pf->dev, pf->netdev);
  if (k < 0 || (size_t)k >= sizeof(p)) return false;
  fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return false;
  if (read(fd, &c, 1) != 1) c = '1';
  close(fd);
  return c == '0';
}

/* Wait up to LINK_WAIT_MS for the PF's link.  igb (82576), for one,
 * resets its link whenever the VF count changes and refuses a VF rate
 * with EINVAL until the link is back at 1000 Mbit/s. */
static bool wait_carrier(const struct iov__vf_pf *pf) {
  for (int waited = 0; waited < LINK_WAIT_MS; waited += 100) {
    if (!carrier_down(pf)) return true;
    nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
  }
  return !carrier_down(pf);
}

/* Apply s to one VF, one request per setting. */
int iov__vf_apply(struct iov_vf *v, const struct iov__vf_pf *pf, int ifindex, unsigned vf,
                  const struct iov_vf_settings *s, unsigned *reterr_setting, char *err, size_t errlen) {
  char msg[256];

  for (size_t i = 0; i < ELEMENTSOF(order); i++) {
    struct iov_vf_settings one = *s;
    int r;

    one.set = s->set & order[i];
    if (!one.set) continue;
    r = set_link(v, ifindex, vf, &one, msg, sizeof(msg));
    if (r == -EINVAL && one.set == IOV_VF_SET_RATE && carrier_down(pf) && wait_carrier(pf)) {
      iov_debug(IOV_DBG_SRIOV, "vf: %s: VF %u: rate refused while the link was down; again", pf->id, vf);
      r = set_link(v, ifindex, vf, &one, msg, sizeof(msg));
    }
    if (r == -EINVAL && one.set == IOV_VF_SET_RATE && one.min_tx_rate == 0) {
      /* A kernel older than IFLA_VF_RATE (3.16) rejects it as unknown. */
      char msg2[256];
      one.set = IOV_VF_SET_TX_RATE;
      if (set_link(v, ifindex, vf, &one, msg2, sizeof(msg2)) == 0) r = 0;
      one.set = IOV_VF_SET_RATE;
    }
    if (r < 0) {
      if (reterr_setting) *reterr_setting = one.set;
      return iov__vf_fail(r, err, errlen, "%s: VF %u: cannot set %s through %s%s%s", pf->id, vf,
                          setting_name(one.set), pf->netdev, msg[0] ? ": " : "", msg);
    }
    iov_debug(IOV_DBG_SRIOV, "vf: %s: VF %u: %s set", pf->id, vf, setting_name(one.set));
  }
  return 0;
}

int iov_vf_set(struct iov_vf *v, const char *pf, unsigned vf, const struct iov_vf_settings *s,
               unsigned *reterr_setting, char *err, size_t errlen) {
  struct iov_vf_link l = { 0 };
  struct iov__vf_pf p;
  unsigned num;
  int r;

  if (reterr_setting) *reterr_setting = 0;
  if (!v) return -EINVAL;
  if (!s || iov__vf_check_settings(s) < 0 || (s->set & IOV_VF_SET_TX_RATE))
    return iov__vf_fail(-EINVAL, err, errlen, "VF %u: invalid settings", vf);
  r = iov__vf_resolve_pf(v, pf, &p, err, errlen);
  if (r < 0) return r;
  r = iov__vf_counts(&p, &num, NULL, err, errlen);
  if (r < 0) return r;
  if (vf >= num) return iov__vf_fail(-ERANGE, err, errlen, "%s: no VF %u (it has %u)", p.id, vf, num);
  if (!p.netdev[0])
    return iov__vf_fail(-EOPNOTSUPP, err, errlen, "%s: the PF has no netdev to set VFs through", p.id);
  r = iov__vf_save(v, &p, err, errlen);
  if (r < 0) return r;
  r = iov__vf_get_link(v, p.netdev, &l);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot read link %s", p.id, p.netdev);
  r = iov__vf_apply(v, &p, l.ifindex, vf, s, reterr_setting, err, errlen);
  iov_vf_link_done(&l);
  return r;
}

int iov_vf_get(struct iov_vf *v, const char *pf, struct iov_vf_link *ret, char *err, size_t errlen) {
  struct iov__vf_pf p;
  int r;

  if (!v || !ret) return -EINVAL;
  r = iov__vf_resolve_pf(v, pf, &p, err, errlen);
  if (r < 0) return r;
  if (!p.netdev[0]) return iov__vf_fail(-EOPNOTSUPP, err, errlen, "%s: the PF has no netdev", p.id);
  r = iov__vf_get_link(v, p.netdev, ret);
  if (r < 0) return iov__vf_fail(r, err, errlen, "%s: cannot read link %s", p.id, p.netdev);
  return 0;
}
