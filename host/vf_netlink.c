/* VF provisioning through sysfs and rtnetlink (see vf.h).
 *
 * Messages are built and read with libmnl.  Replies are walked with
 * mnl_attr_ok()/mnl_attr_next() and every attribute we read is checked
 * with mnl_attr_validate()/mnl_attr_validate2() before its payload is
 * touched; unlike mnl_attr_parse(), the walk here also fails on bytes
 * left over at the end of a container, which is how a truncated reply
 * shows.
 *
 * Sysfs paths all hang off the handle's root, so tests use a scratch
 * tree.  The state files are the only thing written outside sysfs. */
#include "vf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "err.h"
#include "log.h"
#include "macro.h"
#include "parse.h"

#define STATE_VERSION 1
#define STATE_SUFFIX ".state"
#define TMP_PREFIX ".tmp-"
#define NL_TIMEOUT_SEC 5
/* Messages from other requests (late answers to one that timed out) that
 * a transaction skips before giving up. */
#define NL_MAX_SKIPPED 64
#define REQ_BUF 512
/* How long a VF rate refused while the PF's link is down waits for it. */
#define LINK_WAIT_MS 10000

/* ---------------------------------------------------------------- */
/* MAC addresses                                                     */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int iov_vf_parse_mac(const char *s, uint8_t ret[6]) {
  uint8_t m[6];

  if (!s || !ret || strlen(s) != 17) return -EINVAL;
  for (int i = 0; i < 6; i++) {
    int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
    if (hi < 0 || lo < 0) return -EINVAL;
    if (i < 5 && s[3 * i + 2] != ':') return -EINVAL;
    m[i] = (uint8_t)(hi << 4 | lo);
  }
  memcpy(ret, m, 6);
  return 0;
}

const char *iov_vf_format_mac(char buf[18], const uint8_t mac[6]) {
  snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

/* ---------------------------------------------------------------- */
/* Building requests                                                 */

/* mnl_attr_nest_start_check() without NLA_F_NESTED in the type, as
 * iproute2's addattr_nest() and the kernel's own nla_nest_start_noflag()
 * for these attributes do: every kernel accepts it, and our requests stay
 * byte for byte what iproute2 sends. */
static struct nlattr *nest_start(struct nlmsghdr *nlh, size_t len, uint16_t type) {
  struct nlattr *a = mnl_attr_nest_start_check(nlh, len, type);
  if (a) a->nla_type = type;
  return a;
}

static uint16_t vlan_proto_of(const struct iov_vf_settings *s) {
  return s->vlan_proto ? s->vlan_proto : ETH_P_8021Q;
}

static int check_settings(const struct iov_vf_settings *s) {
  if (!s->set || (s->set & ~(unsigned)IOV_VF_SET_ALL)) return -EINVAL;
  if ((s->set & IOV_VF_SET_RATE) && (s->set & IOV_VF_SET_TX_RATE)) return -EINVAL;
  if (s->set & IOV_VF_SET_VLAN) {
    uint16_t p = vlan_proto_of(s);
    if (s->vlan > 4095 || s->qos > 7) return -EINVAL;
    if (p != ETH_P_8021Q && p != ETH_P_8021AD) return -EINVAL;
  }
  if ((s->set & IOV_VF_SET_RATE) && s->max_tx_rate && s->min_tx_rate > s->max_tx_rate) return -EINVAL;
  return 0;
}

int iov_vf_build_setlink(char *buf, size_t len, int pf_ifindex, unsigned vf, const struct iov_vf_settings *s,
                         uint32_t seq) {
  struct nlmsghdr *nlh;
  struct ifinfomsg *ifi;
  struct nlattr *list, *info;
  int r;

  if (!buf || !s || pf_ifindex <= 0 || vf >= IOV_VF_MAX_VFS) return -EINVAL;
  r = check_settings(s);
  if (r < 0) return r;
  if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ifi)) || len > UINT32_MAX) return -ENOBUFS;

  /* libmnl 1.0.4 leaves attribute padding as it finds it. */
  memset(buf, 0, len);
  nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = pf_ifindex;

  list = nest_start(nlh, len, IFLA_VFINFO_LIST);
  if (!list) return -ENOBUFS;
  info = nest_start(nlh, len, IFLA_VF_INFO);
  if (!info) return -ENOBUFS;

  if (s->set & IOV_VF_SET_MAC) {
    struct ifla_vf_mac m = { .vf = vf };
    memcpy(m.mac, s->mac, 6);
    if (!mnl_attr_put_check(nlh, len, IFLA_VF_MAC, sizeof(m), &m)) return -ENOBUFS;
  }
  if (s->set & IOV_VF_SET_VLAN) {
    if (vlan_proto_of(s) == ETH_P_8021Q) {
      /* The attribute every kernel since 2.6.34 knows; iproute2 sends it
       * for 802.1Q too. */
      struct ifla_vf_vlan v = { .vf = vf, .vlan = s->vlan, .qos = s->qos };
      if (!mnl_attr_put_check(nlh, len, IFLA_VF_VLAN, sizeof(v), &v)) return -ENOBUFS;
    } else {
      struct ifla_vf_vlan_info vi;
      struct nlattr *vl;

      memset(&vi, 0, sizeof(vi)); /* the structure has 2 bytes of tail padding */
      vi.vf = vf;
      vi.vlan = s->vlan;
      vi.qos = s->qos;
      vi.vlan_proto = htons(vlan_proto_of(s));
      vl = nest_start(nlh, len, IFLA_VF_VLAN_LIST);
      if (!vl) return -ENOBUFS;
      if (!mnl_attr_put_check(nlh, len, IFLA_VF_VLAN_INFO, sizeof(vi), &vi)) return -ENOBUFS;
      mnl_attr_nest_end(nlh, vl);
    }
  }
  if (s->set & IOV_VF_SET_SPOOFCHK) {
    struct ifla_vf_spoofchk sc = { .vf = vf, .setting = s->spoofchk };
    if (!mnl_attr_put_check(nlh, len, IFLA_VF_SPOOFCHK, sizeof(sc), &sc)) return -ENOBUFS;
  }
  if (s->set & IOV_VF_SET_TRUST) {
    struct ifla_vf_trust t = { .vf = vf, .setting = s->trust };
    if (!mnl_attr_put_check(nlh, len, IFLA_VF_TRUST, sizeof(t), &t)) return -ENOBUFS;
  }
  if (s->set & IOV_VF_SET_RATE) {
    struct ifla_vf_rate rt = { .vf = vf, .min_tx_rate = s->min_tx_rate, .max_tx_rate = s->max_tx_rate };
    if (!mnl_attr_put_check(nlh, len, IFLA_VF_RATE, sizeof(rt), &rt)) return -ENOBUFS;
  }
  if (s->set & IOV_VF_SET_TX_RATE) {
    struct ifla_vf_tx_rate tr = { .vf = vf, .rate = s->max_tx_rate };
    if (!mnl_attr_put_check(nlh, len, IFLA_VF_TX_RATE, sizeof(tr), &tr)) return -ENOBUFS;
  }
  mnl_attr_nest_end(nlh, info);
  mnl_attr_nest_end(nlh, list);
  return (int)nlh->nlmsg_len;
}

int iov_vf_build_getlink(char *buf, size_t len, int ifindex, const char *ifname, uint32_t seq) {
  struct nlmsghdr *nlh;
  struct ifinfomsg *ifi;

  if (!buf || (ifindex <= 0 && (!ifname || !*ifname))) return -EINVAL;
  if (ifindex <= 0 && strlen(ifname) >= IF_NAMESIZE) return -EINVAL;
  if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ifi)) || len > UINT32_MAX) return -ENOBUFS;

  memset(buf, 0, len);
  nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = seq;
  ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  if (ifindex > 0) ifi->ifi_index = ifindex;
  /* The mask first, then the name: iproute2's order ("ip link show dev X"). */
  if (!mnl_attr_put_u32_check(nlh, len, IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS))
    return -ENOBUFS;
  if (ifindex <= 0 && !mnl_attr_put_strz_check(nlh, len, IFLA_IFNAME, ifname)) return -ENOBUFS;
  return (int)nlh->nlmsg_len;
}

/* ---------------------------------------------------------------- */
/* Reading messages                                                  */

typedef int (*attr_cb)(const struct nlattr *a, void *data);

/* Call cb for each attribute in [start, start+len).  Unlike
 * mnl_attr_parse(), a container whose last attribute runs past its end or
 * that has bytes over is an error.  The last attribute may lack its
 * padding. */
static int walk(const void *start, size_t len, attr_cb cb, void *data) {
  const struct nlattr *a = start;
  long rem = (long)len;

  if (len > IOV_VF_MAX_MSG) return -EBADMSG;
  while (rem > 0) {
    int r;
    if (!mnl_attr_ok(a, (int)rem)) return -EBADMSG;
    r = cb(a, data);
    if (r < 0) return r;
    rem -= (long)MNL_ALIGN(a->nla_len);
    a = mnl_attr_next(a);
  }
  return 0;
}

static int walk_nested(const struct nlattr *nest, attr_cb cb, void *data) {
  if (mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0) return -EBADMSG;
  return walk(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), cb, data);
}

/* The one netlink message in buf: its header, checked against len. */
static int one_message(const void *buf, size_t len, const struct nlmsghdr **ret) {
  const struct nlmsghdr *nlh = buf;

  if (!buf || len < sizeof(*nlh) || len > IOV_VF_MAX_MSG) return -EBADMSG;
  if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len) return -EBADMSG;
  if (len > NLMSG_ALIGN(nlh->nlmsg_len)) return -EBADMSG;
  *ret = nlh;
  return 0;
}

struct ack_ctx {
  char *msg;
  size_t msg_len;
};

static int ack_attr(const struct nlattr *a, void *data) {
  struct ack_ctx *c = data;

  if (mnl_attr_get_type(a) != NLMSGERR_ATTR_MSG) return 0;
  if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0) return -EBADMSG;
  if (c->msg && c->msg_len) snprintf(c->msg, c->msg_len, "%s", mnl_attr_get_str(a));
  return 0;
}

int iov_vf_parse_ack(const void *buf, size_t len, char *msg, size_t msg_len) {
  const struct nlmsghdr *nlh;
  const struct nlmsgerr *e;
  struct ack_ctx c = { msg, msg_len };
  size_t plen, off;
  int r;

  if (msg && msg_len) msg[0] = 0;
  r = one_message(buf, len, &nlh);
  if (r < 0) return r;
  if (nlh->nlmsg_type != NLMSG_ERROR) return -EBADMSG;
  plen = mnl_nlmsg_get_payload_len(nlh);
  if (plen < sizeof(*e)) return -EBADMSG;
  e = mnl_nlmsg_get_payload(nlh);
  if (e->error > 0 || e->error < -4095) return -EBADMSG;
  if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
    /* The TLVs follow the echoed request: its header only when capped
     * (NETLINK_CAP_ACK, or always for a success), else all of it. */
    if (e->error == 0 || (nlh->nlmsg_flags & NLM_F_CAPPED)) {
      off = sizeof(*e);
    } else {
      if (e->msg.nlmsg_len < sizeof(struct nlmsghdr)) return -EBADMSG;
      off = sizeof(int) + NLMSG_ALIGN(e->msg.nlmsg_len);
    }
    if (off > plen) return -EBADMSG;
    r = walk((const char *)e + off, plen - off, ack_attr, &c);
    if (r < 0) return r;
  }
  return e->error;
}

/* One IFLA_VF_INFO being read. */
struct vfinfo_ctx {
  long vf; /* -1 until an attribute names it */
  struct iov_vf_settings s;
  bool have_rate, have_tx_rate, have_vlan, have_vlan_list;
  uint32_t tx_rate;
  bool request; /* a SETLINK request: stricter, values verbatim */
  unsigned vlan_entries;
};

static int vf_number(struct vfinfo_ctx *c, uint32_t vf) {
  if (vf >= IOV_VF_MAX_VFS) return -E2BIG;
  if (c->vf >= 0 && (uint32_t)c->vf != vf) return -EBADMSG;
  c->vf = vf;
  return 0;
}

static int struct_attr(const struct nlattr *a, size_t size) {
  return mnl_attr_validate2(a, MNL_TYPE_UNSPEC, size) < 0 ? -EBADMSG : 0;
}

static int vlan_list_attr(const struct nlattr *a, void *data) {
  struct vfinfo_ctx *c = data;
  struct ifla_vf_vlan_info vi;
  int r;

  if (mnl_attr_get_type(a) != IFLA_VF_VLAN_INFO) return c->request ? -EBADMSG : 0;
  r = struct_attr(a, sizeof(vi));
  if (r < 0) return r;
  memcpy(&vi, mnl_attr_get_payload(a), sizeof(vi));
  r = vf_number(c, vi.vf);
  if (r < 0) return r;
  if (++c->vlan_entries > 1) {
    /* Kernels report one entry; a request with more is QinQ lists we do
     * not build. */
    if (c->request) return -EBADMSG;
    return 0;
  }
  if (vi.vlan > 4095 || vi.qos > 7) return -EBADMSG;
  /* Only what a VLAN can be (and what a state file can hold): 802.1Q or
   * 802.1ad.  Anything else is a malformed reply. */
  uint16_t proto = ntohs(vi.vlan_proto);
  if (proto != ETH_P_8021Q && proto != ETH_P_8021AD) return -EBADMSG;
  c->s.vlan = (uint16_t)vi.vlan;
  c->s.qos = (uint8_t)vi.qos;
  c->s.vlan_proto = proto;
  c->have_vlan_list = true;
  return 0;
}

static int vfinfo_attr(const struct nlattr *a, void *data) {
  struct vfinfo_ctx *c = data;
  const void *p = mnl_attr_get_payload(a);
  int r;

  switch (mnl_attr_get_type(a)) {
  case IFLA_VF_MAC: {
    struct ifla_vf_mac m;
    if ((r = struct_attr(a, sizeof(m))) < 0) return r;
    memcpy(&m, p, sizeof(m));
    if ((r = vf_number(c, m.vf)) < 0) return r;
    memcpy(c->s.mac, m.mac, 6);
    c->s.set |= IOV_VF_SET_MAC;
    return 0;
  }
  case IFLA_VF_VLAN: {
    struct ifla_vf_vlan v;
    if ((r = struct_attr(a, sizeof(v))) < 0) return r;
    memcpy(&v, p, sizeof(v));
    if ((r = vf_number(c, v.vf)) < 0) return r;
    if (v.vlan > 4095 || v.qos > 7) return -EBADMSG;
    if (c->request && (c->have_vlan || c->have_vlan_list)) return -EBADMSG;
    c->have_vlan = true;
    if (!c->have_vlan_list) {
      c->s.vlan = (uint16_t)v.vlan;
      c->s.qos = (uint8_t)v.qos;
    }
    return 0;
  }
  case IFLA_VF_VLAN_LIST:
    if (c->request && (c->have_vlan || c->have_vlan_list)) return -EBADMSG;
    r = walk_nested(a, vlan_list_attr, c);
    if (r < 0) return r;
    if (c->request && c->vlan_entries != 1) return -EBADMSG;
    return 0;
  case IFLA_VF_TX_RATE: {
    struct ifla_vf_tx_rate t;
    if ((r = struct_attr(a, sizeof(t))) < 0) return r;
    memcpy(&t, p, sizeof(t));
    if ((r = vf_number(c, t.vf)) < 0) return r;
    c->tx_rate = t.rate;
    c->have_tx_rate = true;
    return 0;
  }
  case IFLA_VF_RATE: {
    struct ifla_vf_rate t;
    if ((r = struct_attr(a, sizeof(t))) < 0) return r;
    memcpy(&t, p, sizeof(t));
    if ((r = vf_number(c, t.vf)) < 0) return r;
    c->s.min_tx_rate = t.min_tx_rate;
    c->s.max_tx_rate = t.max_tx_rate;
    c->have_rate = true;
    return 0;
  }
  case IFLA_VF_SPOOFCHK: {
    struct ifla_vf_spoofchk t;
    if ((r = struct_attr(a, sizeof(t))) < 0) return r;
    memcpy(&t, p, sizeof(t));
    if ((r = vf_number(c, t.vf)) < 0) return r;
    /* The kernel reports -1 when the driver does not say. */
    if (c->request || t.setting != UINT32_MAX) {
      c->s.spoofchk = t.setting != 0;
      c->s.set |= IOV_VF_SET_SPOOFCHK;
    }
    return 0;
  }
  case IFLA_VF_TRUST: {
    struct ifla_vf_trust t;
    if ((r = struct_attr(a, sizeof(t))) < 0) return r;
    memcpy(&t, p, sizeof(t));
    if ((r = vf_number(c, t.vf)) < 0) return r;
    if (c->request || t.setting != UINT32_MAX) {
      c->s.trust = t.setting != 0;
      c->s.set |= IOV_VF_SET_TRUST;
    }
    return 0;
  }
  default:
    /* Broadcast address, link state, RSS query, statistics, GUIDs and
     * whatever a newer kernel adds: not ours (but in bounds, as the walk
     * checked).  A request we build never carries them. */
    return c->request ? -EBADMSG : 0;
  }
}

static int read_vfinfo(const struct nlattr *info, bool request, unsigned *ret_vf,
                       struct iov_vf_settings *ret) {
  struct vfinfo_ctx c = { .vf = -1, .request = request };
  int r;

  r = walk_nested(info, vfinfo_attr, &c);
  if (r < 0) return r;
  if (c.vf < 0) return -EBADMSG;
  if (c.have_vlan || c.have_vlan_list) {
    if (!c.have_vlan_list) c.s.vlan_proto = ETH_P_8021Q;
    c.s.set |= IOV_VF_SET_VLAN;
  }
  if (request) {
    if (c.have_rate && c.have_tx_rate) return -EBADMSG;
    if (c.have_rate) c.s.set |= IOV_VF_SET_RATE;
    if (c.have_tx_rate) {
      c.s.max_tx_rate = c.tx_rate;
      c.s.set |= IOV_VF_SET_TX_RATE;
    }
    if (!c.s.set) return -EBADMSG;
  } else if (c.have_rate) {
    c.s.set |= IOV_VF_SET_RATE;
  } else if (c.have_tx_rate) {
    /* A kernel before 3.16: the maximum only. */
    c.s.max_tx_rate = c.tx_rate;
    c.s.set |= IOV_VF_SET_RATE;
  }
  *ret_vf = (unsigned)c.vf;
  *ret = c.s;
  return 0;
}

struct link_ctx {
  struct iov_vf_link l;
  const struct nlattr *vfinfo_list;
  bool have_num_vf;
};

static int link_attr(const struct nlattr *a, void *data) {
  struct link_ctx *c = data;

  switch (mnl_attr_get_type(a)) {
  case IFLA_IFNAME:
    if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0) return -EBADMSG;
    if (strlen(mnl_attr_get_str(a)) >= sizeof(c->l.ifname)) return -EBADMSG;
    snprintf(c->l.ifname, sizeof(c->l.ifname), "%s", mnl_attr_get_str(a));
    return 0;
  case IFLA_NUM_VF:
    if (mnl_attr_validate(a, MNL_TYPE_U32) < 0) return -EBADMSG;
    if (mnl_attr_get_u32(a) > IOV_VF_MAX_VFS) return -E2BIG;
    c->l.num_vfs = mnl_attr_get_u32(a);
    c->have_num_vf = true;
    return 0;
  case IFLA_VFINFO_LIST:
    if (c->vfinfo_list) return -EBADMSG;
    if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0) return -EBADMSG;
    c->vfinfo_list = a;
    return 0;
  default: return 0;
  }
}

static int count_vfinfo(const struct nlattr *a, void *data) {
  size_t *n = data;

  if (mnl_attr_get_type(a) != IFLA_VF_INFO) return 0;
  if (++*n > IOV_VF_MAX_VFS) return -E2BIG;
  return 0;
}

struct fill_ctx {
  struct iov_vf_link *l;
  uint8_t *seen; /* one byte per VF number below num_vfs */
};

static int fill_vfinfo(const struct nlattr *a, void *data) {
  struct fill_ctx *f = data;
  struct iov_vf_info *vi;
  int r;

  if (mnl_attr_get_type(a) != IFLA_VF_INFO) return 0;
  vi = &f->l->vfs[f->l->n_vfs];
  r = read_vfinfo(a, false, &vi->vf, &vi->s);
  if (r < 0) return r;
  if (vi->vf >= f->l->num_vfs || f->seen[vi->vf]) return -EBADMSG;
  f->seen[vi->vf] = 1;
  f->l->n_vfs++;
  return 0;
}

void iov_vf_link_done(struct iov_vf_link *l) {
  if (!l) return;
  free(l->vfs);
  memset(l, 0, sizeof(*l));
}

int iov_vf_parse_link(const void *buf, size_t len, struct iov_vf_link *ret) {
  const struct nlmsghdr *nlh;
  const struct ifinfomsg *ifi;
  struct link_ctx c = { 0 };
  size_t n = 0;
  int r;

  if (!ret) return -EINVAL;
  r = one_message(buf, len, &nlh);
  if (r < 0) return r;
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    r = iov_vf_parse_ack(buf, len, NULL, 0);
    /* An ack where the link was expected is as wrong as garbage. */
    return r == 0 ? -EBADMSG : r;
  }
  if (nlh->nlmsg_type != RTM_NEWLINK) return -EBADMSG;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi)) return -EBADMSG;
  ifi = mnl_nlmsg_get_payload(nlh);
  c.l.ifindex = ifi->ifi_index;

  r = walk(mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifi)),
           mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(*ifi)), link_attr, &c);
  if (r < 0) return r;

  if (c.vfinfo_list) {
    struct fill_ctx f = { .l = &c.l };

    if (!c.have_num_vf) return -EBADMSG;
    r = walk_nested(c.vfinfo_list, count_vfinfo, &n);
    if (r < 0) return r;
    if (n > c.l.num_vfs) return -EBADMSG;
    if (n) {
      c.l.vfs = calloc(n, sizeof(*c.l.vfs));
      f.seen = calloc(c.l.num_vfs, 1);
      if (!c.l.vfs || !f.seen) {
        free(f.seen);
        iov_vf_link_done(&c.l);
        return -ENOMEM;
      }
      r = walk_nested(c.vfinfo_list, fill_vfinfo, &f);
      free(f.seen);
      if (r < 0) {
        iov_vf_link_done(&c.l);
        return r;
      }
    }
  }
  *ret = c.l;
  return 0;
}

struct req_ctx {
  const struct nlattr *list;
};

static int req_attr(const struct nlattr *a, void *data) {
  struct req_ctx *c = data;

  if (mnl_attr_get_type(a) != IFLA_VFINFO_LIST || c->list) return -EBADMSG;
  c->list = a;
  return 0;
}

static int req_list_attr(const struct nlattr *a, void *data) {
  const struct nlattr **info = data;

  if (mnl_attr_get_type(a) != IFLA_VF_INFO || *info) return -EBADMSG;
  *info = a;
  return 0;
}

int iov_vf_parse_setlink(const void *buf, size_t len, int *ret_ifindex, unsigned *ret_vf,
                         struct iov_vf_settings *ret) {
  const struct nlmsghdr *nlh;
  const struct ifinfomsg *ifi;
  const struct nlattr *info = NULL;
  struct req_ctx c = { 0 };
  struct iov_vf_settings s;
  unsigned vf;
  int r;

  if (!ret_ifindex || !ret_vf || !ret) return -EINVAL;
  r = one_message(buf, len, &nlh);
  if (r < 0) return r;
  if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_SETLINK) return -EBADMSG;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi)) return -EBADMSG;
  ifi = mnl_nlmsg_get_payload(nlh);
  r = walk(mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifi)),
           mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(*ifi)), req_attr, &c);
  if (r < 0) return r;
  if (!c.list) return -EBADMSG;
  r = walk_nested(c.list, req_list_attr, &info);
  if (r < 0) return r;
  if (!info) return -EBADMSG;
  r = read_vfinfo(info, true, &vf, &s);
  if (r < 0) return r;
  if (s.set & IOV_VF_SET_VLAN) {
    if (s.vlan_proto != ETH_P_8021Q && s.vlan_proto != ETH_P_8021AD) return -EBADMSG;
  }
  *ret_ifindex = ifi->ifi_index;
  *ret_vf = vf;
  *ret = s;
  return 0;
}

/* ---------------------------------------------------------------- */
/* The handle and the real transport                                 */

struct iov_vf {
  char *sysfs_root;
  char *state_dir;
  const struct iov_vf_nl_ops *ops;
  void *ud;
  struct mnl_socket *nl;
  uint32_t seq;
  char err[1024];
};

/* Record the failure text of the current call and return r. */
static int _printf_(3, 4) fail(struct iov_vf *v, int r, const char *fmt, ...) {
  va_list ap;
  size_t n;

  va_start(ap, fmt);
  vsnprintf(v->err, sizeof(v->err), fmt, ap);
  va_end(ap);
  n = strlen(v->err);
  if (n < sizeof(v->err)) snprintf(v->err + n, sizeof(v->err) - n, ": %s", iov_strerror(r));
  iov_debug(IOV_DBG_SRIOV, "vf: %s", v->err);
  return r;
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

const char *iov_vf_last_error(const struct iov_vf *v) { return v ? v->err : ""; }

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
static int get_link(struct iov_vf *v, const char *netdev, struct iov_vf_link *ret) {
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
/* Sysfs                                                             */

struct pf {
  char id[NAME_MAX + 1];    /* bus id: the device directory's name */
  char dev[PATH_MAX];       /* canonical device directory */
  char rel[PATH_MAX];       /* the same under the canonical root */
  char netdev[IF_NAMESIZE]; /* "" when the PF has no netdev */
};

static int path_join(char *buf, size_t n, const char *a, const char *b) {
  int r = snprintf(buf, n, "%s/%s", a, b);
  return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static bool valid_name(const char *s, size_t max) {
  size_t n = s ? strlen(s) : 0;

  if (n == 0 || n >= max || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) return false;
  return true;
}

/* The first netdev under <dev>/net, in name order. */
static int find_netdev(const char *dev, char *ret, size_t n) {
  char p[PATH_MAX];
  DIR *d;
  struct dirent *e;

  ret[0] = 0;
  if (path_join(p, sizeof(p), dev, "net") < 0) return -ENAMETOOLONG;
  d = opendir(p);
  if (!d) return errno == ENOENT ? 0 : -errno;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !valid_name(e->d_name, IF_NAMESIZE)) continue;
    /* valid_name() bounded it to IF_NAMESIZE - 1 characters. */
    size_t len = strnlen(e->d_name, IF_NAMESIZE);
    if (len >= n) continue;
    if (!ret[0] || strcmp(e->d_name, ret) < 0) memcpy(ret, e->d_name, len + 1);
  }
  closedir(d);
  return 0;
}

/* Fill pf from a candidate path of its device directory. */
static int pf_from_path(struct iov_vf *v, const char *candidate, struct pf *ret) {
  char root[PATH_MAX], dev[PATH_MAX];
  const char *base;
  size_t rl;

  if (!realpath(v->sysfs_root, root)) return -errno;
  if (!realpath(candidate, dev)) return -errno;
  rl = strlen(root);
  if (strncmp(dev, root, rl) != 0 || dev[rl] != '/' || !dev[rl + 1]) return -ENODEV;
  base = strrchr(dev, '/') + 1;
  if (!valid_name(base, sizeof(ret->id))) return -ENODEV;
  snprintf(ret->id, sizeof(ret->id), "%s", base);
  snprintf(ret->dev, sizeof(ret->dev), "%s", dev);
  snprintf(ret->rel, sizeof(ret->rel), "%s", dev + rl + 1);
  return 0;
}

static int resolve_pf(struct iov_vf *v, const char *spec, struct pf *ret) {
  char p[PATH_MAX];
  int r;

  memset(ret, 0, sizeof(*ret));
  if (!valid_name(spec, NAME_MAX + 1))
    return fail(v, -EINVAL, "'%s' is not a PF name", spec ? spec : "(null)");
  if (!strchr(spec, ':') && strlen(spec) < IF_NAMESIZE) {
    int k = snprintf(p, sizeof(p), "%s/class/net/%s/device", v->sysfs_root, spec);
    if (k < 0 || (size_t)k >= sizeof(p)) return fail(v, -ENAMETOOLONG, "%s", spec);
    r = pf_from_path(v, p, ret);
    if (r == 0) {
      snprintf(ret->netdev, sizeof(ret->netdev), "%s", spec);
      return 0;
    }
    if (r != -ENOENT && r != -ENOTDIR) return fail(v, r, "%s: cannot resolve %s", spec, p);
  }
  {
    int k = snprintf(p, sizeof(p), "%s/bus/%s/devices/%s", v->sysfs_root,
                     strchr(spec, ':') ? "pci" : "netdevsim", spec);
    if (k < 0 || (size_t)k >= sizeof(p)) return fail(v, -ENAMETOOLONG, "%s", spec);
  }
  r = pf_from_path(v, p, ret);
  if (r == -ENOENT || r == -ENOTDIR) return fail(v, -ENODEV, "%s: no such PF under %s", spec, v->sysfs_root);
  if (r < 0) return fail(v, r, "%s: cannot resolve %s", spec, p);
  r = find_netdev(ret->dev, ret->netdev, sizeof(ret->netdev));
  if (r < 0) return fail(v, r, "%s: cannot list its netdevs", spec);
  return 0;
}

/* From a state file's device= (relative to the root). */
static int resolve_rel(struct iov_vf *v, const char *rel, struct pf *ret) {
  char p[PATH_MAX];
  int r;

  memset(ret, 0, sizeof(*ret));
  if (path_join(p, sizeof(p), v->sysfs_root, rel) < 0) return fail(v, -ENAMETOOLONG, "%s", rel);
  r = pf_from_path(v, p, ret);
  if (r == -ENOENT || r == -ENOTDIR) return fail(v, -ENODEV, "%s: the PF is gone", p);
  if (r < 0) return fail(v, r, "%s: cannot resolve", p);
  r = find_netdev(ret->dev, ret->netdev, sizeof(ret->netdev));
  if (r < 0) return fail(v, r, "%s: cannot list its netdevs", ret->id);
  return 0;
}

static int read_uint(const char *path, unsigned *ret) {
  char buf[32];
  ssize_t n;
  uint64_t u;
  int fd;

  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  do n = read(fd, buf, sizeof(buf) - 1);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int r = -errno;
    close(fd);
    return r;
  }
  close(fd);
  buf[n] = 0;
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
  if (iov_parse_u64(buf, &u) < 0) return -EBADMSG;
  if (u > IOV_VF_MAX_VFS) return -E2BIG;
  *ret = (unsigned)u;
  return 0;
}

static int counts(struct iov_vf *v, const struct pf *pf, unsigned *ret_num, unsigned *ret_total) {
  char p[PATH_MAX];
  unsigned num, total = IOV_VF_MAX_VFS;
  int r;

  if (path_join(p, sizeof(p), pf->dev, "sriov_numvfs") < 0) return fail(v, -ENAMETOOLONG, "%s", pf->id);
  r = read_uint(p, &num);
  if (r == -ENOENT) return fail(v, -EOPNOTSUPP, "%s: no sriov_numvfs, not an SR-IOV PF", pf->id);
  if (r < 0) return fail(v, r, "%s: cannot read %s", pf->id, p);
  if (path_join(p, sizeof(p), pf->dev, "sriov_totalvfs") < 0) return fail(v, -ENAMETOOLONG, "%s", pf->id);
  r = read_uint(p, &total);
  if (r == -E2BIG)
    total = IOV_VF_MAX_VFS; /* the hardware can do more than we allow */
  else if (r < 0)
    return fail(v, r, "%s: cannot read %s", pf->id, p);
  if (ret_num) *ret_num = num;
  if (ret_total) *ret_total = total;
  return 0;
}

/* Write n to sriov_numvfs; errors get their meaning for this file. */
static int write_numvfs(struct iov_vf *v, const struct pf *pf, unsigned n, unsigned from) {
  char p[PATH_MAX], txt[16];
  int fd, k, r = 0;
  ssize_t w;

  if (path_join(p, sizeof(p), pf->dev, "sriov_numvfs") < 0) return fail(v, -ENAMETOOLONG, "%s", pf->id);
  k = snprintf(txt, sizeof(txt), "%u\n", n);
  fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    r = -errno;
  } else {
    do w = write(fd, txt, (size_t)k);
    while (w < 0 && errno == EINTR);
    if (w < 0)
      r = -errno;
    else if (w != k)
      r = -EIO;
    if (close(fd) < 0 && r == 0 && errno != EINTR) r = -errno;
  }
  if (r == 0) {
    iov_debug(IOV_DBG_SRIOV, "vf: %s: sriov_numvfs %u -> %u", pf->id, from, n);
    return 0;
  }
  switch (-r) {
  case EBUSY:
    return fail(v, -EBUSY, "%s: cannot change from %u to %u VFs (write %u to sriov_numvfs): %s", pf->id, from,
                n, n, n == 0 ? "VFs still in use (assigned to a VM?)" : "VFs already enabled");
  case ENOENT:
  case ENOSYS:
    return fail(v, -EOPNOTSUPP,
                "%s: cannot write %u to sriov_numvfs: no driver bound, or the driver cannot configure SR-IOV",
                pf->id, n);
  case ERANGE:
    return fail(v, -ERANGE, "%s: cannot write %u to sriov_numvfs: more than sriov_totalvfs", pf->id, n);
  case EPERM:
  case EACCES:
    return fail(v, r, "%s: cannot write %u to sriov_numvfs (root needed; or VFs assigned to a VM)", pf->id,
                n);
  default: return fail(v, r, "%s: cannot write %u to sriov_numvfs (%u VFs before)", pf->id, n, from);
  }
}

/* Change the count from cur to n, through 0 when both are non-zero. */
static int change_count(struct iov_vf *v, const struct pf *pf, unsigned cur, unsigned n) {
  int r;

  if (cur == n) return 0;
  if (cur != 0) {
    r = write_numvfs(v, pf, 0, cur);
    if (r < 0) return r;
  }
  if (n != 0) {
    r = write_numvfs(v, pf, n, 0);
    if (r < 0 && cur != 0) {
      /* Leave the PF as we found it, as far as the count goes; the
       * message keeps the first failure. */
      char keep[sizeof(v->err)];
      memcpy(keep, v->err, sizeof(keep));
      if (write_numvfs(v, pf, cur, 0) < 0) {
        memcpy(v->err, keep, sizeof(keep));
        strncat(v->err, "; putting the old count back failed too", sizeof(v->err) - strlen(v->err) - 1);
      } else {
        memcpy(v->err, keep, sizeof(keep));
      }
    }
    if (r < 0) return r;
  }
  return 0;
}

static int save(struct iov_vf *v, const struct pf *pf);

int iov_vf_set_count(struct iov_vf *v, const char *pf, unsigned n) {
  struct pf p;
  unsigned cur, total;
  int r;

  if (!v) return -EINVAL;
  v->err[0] = 0;
  r = resolve_pf(v, pf, &p);
  if (r < 0) return r;
  r = counts(v, &p, &cur, &total);
  if (r < 0) return r;
  if (n > total) return fail(v, -ERANGE, "%s: %u VFs asked for, sriov_totalvfs is %u", p.id, n, total);
  if (cur == n) return 0;
  r = save(v, &p);
  if (r < 0) return r;
  return change_count(v, &p, cur, n);
}

int iov_vf_get_count(struct iov_vf *v, const char *pf, unsigned *ret_numvfs, unsigned *ret_totalvfs) {
  struct pf p;
  int r;

  if (!v) return -EINVAL;
  v->err[0] = 0;
  r = resolve_pf(v, pf, &p);
  if (r < 0) return r;
  return counts(v, &p, ret_numvfs, ret_totalvfs);
}

/* ---------------------------------------------------------------- */
/* State files                                                       */

struct state {
  char rel[PATH_MAX];
  char netdev[IF_NAMESIZE];
  unsigned numvfs;
  struct iov_vf_settings *vfs; /* numvfs entries; .set 0 = nothing recorded */
};

static void state_done(struct state *s) {
  free(s->vfs);
  s->vfs = NULL;
}

static int state_path(struct iov_vf *v, const char *id, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s/%s" STATE_SUFFIX, v->state_dir, id);
  return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *dir) {
  char p[PATH_MAX];
  size_t n = strlen(dir);

  if (n == 0 || n >= sizeof(p)) return -ENAMETOOLONG;
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    p[i] = 0;
    if (mkdir(p, 0700) < 0 && errno != EEXIST) return -errno;
    p[i] = i < n ? '/' : 0;
  }
  return 0;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = 0;

  if (fd < 0) return -errno;
  if (fsync(fd) < 0) r = -errno;
  close(fd);
  return r;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Write text to path atomically: a temporary file beside it, fsync,
 * rename, fsync of the directory. */
static int write_atomic(const char *dir, const char *path, const char *id, const char *text) {
  char tmp[PATH_MAX];
  int fd, r, k;

  k = snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "%s.XXXXXX", dir, id);
  if (k < 0 || (size_t)k >= sizeof(tmp)) return -ENAMETOOLONG;
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) return -errno;
  r = write_all(fd, text, strlen(text));
  if (r == 0 && fsync(fd) < 0) r = -errno;
  if (close(fd) < 0 && r == 0) r = -errno;
  if (r == 0 && rename(tmp, path) < 0) r = -errno;
  if (r < 0) {
    (void)unlink(tmp);
    return r;
  }
  return fsync_dir(dir);
}

static void append_settings(FILE *f, unsigned i, const struct iov_vf_settings *s) {
  char mac[18];

  if (s->set & IOV_VF_SET_MAC) fprintf(f, "vf.%u.mac=%s\n", i, iov_vf_format_mac(mac, s->mac));
  if (s->set & IOV_VF_SET_VLAN)
    fprintf(f, "vf.%u.vlan=%u\nvf.%u.qos=%u\nvf.%u.vlan_proto=0x%04x\n", i, s->vlan, i, s->qos, i,
            vlan_proto_of(s));
  if (s->set & IOV_VF_SET_SPOOFCHK) fprintf(f, "vf.%u.spoofchk=%d\n", i, s->spoofchk);
  if (s->set & IOV_VF_SET_TRUST) fprintf(f, "vf.%u.trust=%d\n", i, s->trust);
  if (s->set & IOV_VF_SET_RATE)
    fprintf(f, "vf.%u.min_tx_rate=%u\nvf.%u.max_tx_rate=%u\n", i, s->min_tx_rate, i, s->max_tx_rate);
}

static int save(struct iov_vf *v, const struct pf *pf) {
  char path[PATH_MAX];
  struct iov_vf_link l = { 0 };
  struct stat st;
  char *text = NULL;
  size_t text_len = 0;
  unsigned num;
  FILE *f;
  int r;

  if (state_path(v, pf->id, path, sizeof(path)) < 0) return fail(v, -ENAMETOOLONG, "%s: state file", pf->id);
  if (lstat(path, &st) == 0) return 0;
  if (errno != ENOENT) return fail(v, -errno, "%s: cannot check %s", pf->id, path);

  r = counts(v, pf, &num, NULL);
  if (r < 0) return r;
  if (num > 0 && pf->netdev[0]) {
    r = get_link(v, pf->netdev, &l);
    if (r < 0)
      return fail(v, r, "%s: cannot read the settings of its %u VFs from %s to save them", pf->id, num,
                  pf->netdev);
  }

  f = open_memstream(&text, &text_len);
  if (!f) return fail(v, -ENOMEM, "%s: state", pf->id);
  fprintf(f, "# iovbench VF state of %s, recorded before iovbench changed it.\n", pf->id);
  fprintf(f, "# iovbench-agent puts it back (at start-up, after a crash) and then removes this file.\n");
  fprintf(f, "version=%d\ndevice=%s\nnetdev=%s\nnumvfs=%u\n", STATE_VERSION, pf->rel, pf->netdev, num);
  for (size_t i = 0; i < l.n_vfs; i++)
    if (l.vfs[i].vf < num) append_settings(f, l.vfs[i].vf, &l.vfs[i].s);
  iov_vf_link_done(&l);
  if (fclose(f) != 0 || !text) {
    free(text);
    return fail(v, -ENOMEM, "%s: state", pf->id);
  }

  r = mkdir_p(v->state_dir);
  if (r < 0) {
    free(text);
    return fail(v, r, "cannot create the state directory %s", v->state_dir);
  }
  r = write_atomic(v->state_dir, path, pf->id, text);
  free(text);
  if (r < 0) return fail(v, r, "%s: cannot write %s", pf->id, path);
  iov_debug(IOV_DBG_SRIOV, "vf: %s: state saved to %s (%u VFs)", pf->id, path, num);
  return 1;
}

int iov_vf_save(struct iov_vf *v, const char *pf) {
  struct pf p;
  int r;

  if (!v) return -EINVAL;
  v->err[0] = 0;
  r = resolve_pf(v, pf, &p);
  if (r < 0) return r;
  return save(v, &p);
}

static bool valid_rel(const char *rel) {
  const char *p = rel;

  if (!*rel || *rel == '/' || strlen(rel) >= PATH_MAX) return false;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return false;
    p += n;
    if (*p == '/') p++;
  }
  for (p = rel; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
  return true;
}

static int parse_u32_max(const char *s, uint64_t max, uint32_t *ret) {
  uint64_t u;
  if (iov_parse_u64(s, &u) < 0 || u > max) return -EBADMSG;
  *ret = (uint32_t)u;
  return 0;
}

static int parse_vf_key(struct state *st, const char *key, const char *val) {
  const char *dot;
  uint64_t idx;
  uint32_t u;
  char num[16];
  struct iov_vf_settings *s;

  /* key is "vf.N.name" */
  key += 3;
  dot = strchr(key, '.');
  if (!dot || dot == key || (size_t)(dot - key) >= sizeof(num)) return -EBADMSG;
  memcpy(num, key, (size_t)(dot - key));
  num[dot - key] = 0;
  if (iov_parse_u64(num, &idx) < 0 || idx >= st->numvfs || !st->vfs) return -EBADMSG;
  s = &st->vfs[idx];
  key = dot + 1;
  if (!strcmp(key, "mac")) {
    if (iov_vf_parse_mac(val, s->mac) < 0) return -EBADMSG;
    s->set |= IOV_VF_SET_MAC;
  } else if (!strcmp(key, "vlan")) {
    if (parse_u32_max(val, 4095, &u) < 0) return -EBADMSG;
    s->vlan = (uint16_t)u;
    s->set |= IOV_VF_SET_VLAN;
  } else if (!strcmp(key, "qos")) {
    if (parse_u32_max(val, 7, &u) < 0) return -EBADMSG;
    s->qos = (uint8_t)u;
  } else if (!strcmp(key, "vlan_proto")) {
    if (!strcmp(val, "0x8100"))
      s->vlan_proto = ETH_P_8021Q;
    else if (!strcmp(val, "0x88a8"))
      s->vlan_proto = ETH_P_8021AD;
    else
      return -EBADMSG;
  } else if (!strcmp(key, "spoofchk") || !strcmp(key, "trust")) {
    bool sp = key[0] == 's';
    if (parse_u32_max(val, 1, &u) < 0) return -EBADMSG;
    if (sp)
      s->spoofchk = u;
    else
      s->trust = u;
    s->set |= sp ? IOV_VF_SET_SPOOFCHK : IOV_VF_SET_TRUST;
  } else if (!strcmp(key, "min_tx_rate")) {
    if (parse_u32_max(val, UINT32_MAX, &s->min_tx_rate) < 0) return -EBADMSG;
    s->set |= IOV_VF_SET_RATE;
  } else if (!strcmp(key, "max_tx_rate")) {
    if (parse_u32_max(val, UINT32_MAX, &s->max_tx_rate) < 0) return -EBADMSG;
    s->set |= IOV_VF_SET_RATE;
  } else {
    return -EBADMSG;
  }
  return 0;
}

/* Parse a state file's text in place.  *reterr_line gets the line of the
 * first error. */
static int parse_state(char *text, struct state *ret, unsigned *reterr_line) {
  struct state st = { 0 };
  bool have_version = false, have_device = false, have_num = false;
  unsigned line = 0;
  char *p = text;
  int r = 0;

  while (*p) {
    char *nl = strchr(p, '\n'), *eq, *key, *val;
    line++;
    if (!nl) {
      r = -EBADMSG; /* a truncated file ends without its newline */
      break;
    }
    *nl = 0;
    key = p;
    p = nl + 1;
    if (key[0] == '#' || key[0] == 0) continue;
    eq = strchr(key, '=');
    if (!eq) {
      r = -EBADMSG;
      break;
    }
    *eq = 0;
    val = eq + 1;
    if (!strcmp(key, "version")) {
      uint32_t ver;
      if (parse_u32_max(val, UINT32_MAX, &ver) < 0 || ver != STATE_VERSION || have_version) {
        r = -EBADMSG;
        break;
      }
      have_version = true;
    } else if (!have_version) {
      r = -EBADMSG;
      break;
    } else if (!strcmp(key, "device")) {
      if (!valid_rel(val) || have_device) {
        r = -EBADMSG;
        break;
      }
      snprintf(st.rel, sizeof(st.rel), "%s", val);
      have_device = true;
    } else if (!strcmp(key, "netdev")) {
      if (strlen(val) >= sizeof(st.netdev)) {
        r = -EBADMSG;
        break;
      }
      snprintf(st.netdev, sizeof(st.netdev), "%s", val);
    } else if (!strcmp(key, "numvfs")) {
      uint64_t u;
      if (have_num || iov_parse_u64(val, &u) < 0 || u > IOV_VF_MAX_VFS) {
        r = -EBADMSG;
        break;
      }
      st.numvfs = (unsigned)u;
      have_num = true;
      if (u) {
        st.vfs = calloc(u, sizeof(*st.vfs));
        if (!st.vfs) {
          r = -ENOMEM;
          break;
        }
      }
    } else if (!strncmp(key, "vf.", 3)) {
      r = parse_vf_key(&st, key, val);
      if (r < 0) break;
    } else {
      r = -EBADMSG;
      break;
    }
  }
  if (r == 0 && (!have_version || !have_device || !have_num)) r = -EBADMSG;
  if (r < 0) {
    state_done(&st);
    *reterr_line = line;
    return r;
  }
  *ret = st;
  return 0;
}

static int read_state(struct iov_vf *v, const char *path, struct state *ret) {
  struct stat sb;
  char *text;
  ssize_t n;
  size_t got = 0;
  unsigned line = 0;
  int fd, r;

  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) return fail(v, -errno, "cannot open %s", path);
  if (fstat(fd, &sb) < 0) {
    r = -errno;
    close(fd);
    return fail(v, r, "cannot stat %s", path);
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return fail(v, -EBADMSG, "%s is not a regular file", path);
  }
  if (sb.st_size > IOV_VF_MAX_STATE_FILE) {
    close(fd);
    return fail(v, -EFBIG, "%s is larger than %u bytes", path, IOV_VF_MAX_STATE_FILE);
  }
  text = malloc((size_t)sb.st_size + 1);
  if (!text) {
    close(fd);
    return fail(v, -ENOMEM, "%s", path);
  }
  while (got < (size_t)sb.st_size) {
    n = read(fd, text + got, (size_t)sb.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  text[got] = 0;
  if (memchr(text, 0, got)) {
    free(text);
    return fail(v, -EBADMSG, "%s: a NUL byte in a text file", path);
  }
  r = parse_state(text, ret, &line);
  free(text);
  if (r < 0) return fail(v, r, "%s:%u: malformed state file", path, line);
  return 0;
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
static bool carrier_down(const struct pf *pf) {
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
static bool wait_carrier(const struct pf *pf) {
  for (int waited = 0; waited < LINK_WAIT_MS; waited += 100) {
    if (!carrier_down(pf)) return true;
    nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
  }
  return !carrier_down(pf);
}

/* Apply s to one VF, one request per setting. */
static int apply(struct iov_vf *v, const struct pf *pf, int ifindex, unsigned vf,
                 const struct iov_vf_settings *s, unsigned *reterr_setting) {
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
      return fail(v, r, "%s: VF %u: cannot set %s through %s%s%s", pf->id, vf, setting_name(one.set),
                  pf->netdev, msg[0] ? ": " : "", msg);
    }
    iov_debug(IOV_DBG_SRIOV, "vf: %s: VF %u: %s set", pf->id, vf, setting_name(one.set));
  }
  return 0;
}

int iov_vf_set(struct iov_vf *v, const char *pf, unsigned vf, const struct iov_vf_settings *s,
               unsigned *reterr_setting) {
  struct iov_vf_link l = { 0 };
  struct pf p;
  unsigned num;
  int r;

  if (reterr_setting) *reterr_setting = 0;
  if (!v) return -EINVAL;
  v->err[0] = 0;
  if (!s || check_settings(s) < 0 || (s->set & IOV_VF_SET_TX_RATE))
    return fail(v, -EINVAL, "VF %u: invalid settings", vf);
  r = resolve_pf(v, pf, &p);
  if (r < 0) return r;
  r = counts(v, &p, &num, NULL);
  if (r < 0) return r;
  if (vf >= num) return fail(v, -ERANGE, "%s: no VF %u (it has %u)", p.id, vf, num);
  if (!p.netdev[0]) return fail(v, -EOPNOTSUPP, "%s: the PF has no netdev to set VFs through", p.id);
  r = save(v, &p);
  if (r < 0) return r;
  r = get_link(v, p.netdev, &l);
  if (r < 0) return fail(v, r, "%s: cannot read link %s", p.id, p.netdev);
  r = apply(v, &p, l.ifindex, vf, s, reterr_setting);
  iov_vf_link_done(&l);
  return r;
}

int iov_vf_get(struct iov_vf *v, const char *pf, struct iov_vf_link *ret) {
  struct pf p;
  int r;

  if (!v || !ret) return -EINVAL;
  v->err[0] = 0;
  r = resolve_pf(v, pf, &p);
  if (r < 0) return r;
  if (!p.netdev[0]) return fail(v, -EOPNOTSUPP, "%s: the PF has no netdev", p.id);
  r = get_link(v, p.netdev, ret);
  if (r < 0) return fail(v, r, "%s: cannot read link %s", p.id, p.netdev);
  return 0;
}

/* The recorded settings that differ from what the kernel reports now. */
static unsigned differing(const struct iov_vf_settings *want, const struct iov_vf_settings *now) {
  unsigned d = 0, both = want->set & now->set;

  d |= want->set & ~now->set;
  if ((both & IOV_VF_SET_MAC) && memcmp(want->mac, now->mac, 6)) d |= IOV_VF_SET_MAC;
  if ((both & IOV_VF_SET_VLAN) &&
      (want->vlan != now->vlan || want->qos != now->qos || vlan_proto_of(want) != vlan_proto_of(now)))
    d |= IOV_VF_SET_VLAN;
  if ((both & IOV_VF_SET_SPOOFCHK) && want->spoofchk != now->spoofchk) d |= IOV_VF_SET_SPOOFCHK;
  if ((both & IOV_VF_SET_TRUST) && want->trust != now->trust) d |= IOV_VF_SET_TRUST;
  if ((both & IOV_VF_SET_RATE) &&
      (want->min_tx_rate != now->min_tx_rate || want->max_tx_rate != now->max_tx_rate))
    d |= IOV_VF_SET_RATE;
  return d;
}

static int restore_state(struct iov_vf *v, const struct state *st) {
  struct iov_vf_link l = { 0 };
  struct pf p;
  unsigned cur;
  bool any = false;
  int r;

  r = resolve_rel(v, st->rel, &p);
  if (r < 0) return r;
  r = counts(v, &p, &cur, NULL);
  if (r < 0) return r;
  r = change_count(v, &p, cur, st->numvfs);
  if (r < 0) return r;

  for (unsigned i = 0; i < st->numvfs; i++) any |= st->vfs[i].set != 0;
  if (!any) return 0;
  if (!p.netdev[0])
    return fail(v, -EOPNOTSUPP, "%s: the PF has no netdev to restore VF settings through", p.id);
  r = get_link(v, p.netdev, &l);
  if (r < 0) return fail(v, r, "%s: cannot read link %s", p.id, p.netdev);
  for (unsigned i = 0; i < st->numvfs && r == 0; i++) {
    struct iov_vf_settings want = st->vfs[i], none = { 0 };
    const struct iov_vf_settings *now = &none;

    for (size_t k = 0; k < l.n_vfs; k++)
      if (l.vfs[k].vf == i) now = &l.vfs[k].s;
    want.set = differing(&st->vfs[i], now);
    if (want.set) r = apply(v, &p, l.ifindex, i, &want, NULL);
  }
  iov_vf_link_done(&l);
  return r;
}

/* Restore from one state file and remove it. */
static int restore_file(struct iov_vf *v, const char *path) {
  struct state st = { 0 };
  int r;

  r = read_state(v, path, &st);
  if (r < 0) return r;
  r = restore_state(v, &st);
  state_done(&st);
  if (r < 0) return r;
  if (unlink(path) < 0) return fail(v, -errno, "restored, but cannot remove %s", path);
  (void)fsync_dir(v->state_dir);
  iov_debug(IOV_DBG_SRIOV, "vf: restored from %s", path);
  return 1;
}

int iov_vf_restore_pf(struct iov_vf *v, const char *pf) {
  char path[PATH_MAX];
  struct pf p;
  int r;

  if (!v) return -EINVAL;
  v->err[0] = 0;
  r = resolve_pf(v, pf, &p);
  if (r < 0) return r;
  if (state_path(v, p.id, path, sizeof(path)) < 0) return fail(v, -ENAMETOOLONG, "%s: state file", p.id);
  if (access(path, F_OK) < 0) return errno == ENOENT ? 0 : fail(v, -errno, "cannot check %s", path);
  return restore_file(v, path);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int iov_vf_restore(struct iov_vf *v) {
  DIR *d;
  struct dirent *e;
  char **names = NULL, first_err[sizeof(v->err)] = "";
  size_t n = 0, cap = 0;
  int r = 0, first = 0, restored = 0;

  if (!v) return -EINVAL;
  v->err[0] = 0;
  d = opendir(v->state_dir);
  if (!d) return errno == ENOENT ? 0 : fail(v, -errno, "cannot open the state directory %s", v->state_dir);
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name), sl = strlen(STATE_SUFFIX);
    char p[PATH_MAX];

    if (!strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
      /* A save that never reached its rename: nothing was changed after
       * it, so there is nothing to restore. */
      if (path_join(p, sizeof(p), v->state_dir, e->d_name) == 0) (void)unlink(p);
      continue;
    }
    if (e->d_name[0] == '.' || len <= sl || strcmp(e->d_name + len - sl, STATE_SUFFIX)) continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 8;
      char **nn = nc > 65536 ? NULL : realloc(names, nc * sizeof(*names));
      if (!nn) {
        r = -ENOMEM;
        break;
      }
      names = nn;
      cap = nc;
    }
    names[n] = strdup(e->d_name);
    if (!names[n]) {
      r = -ENOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  if (r == 0 && n) qsort(names, n, sizeof(*names), cmp_str);
  for (size_t i = 0; i < n && r == 0; i++) {
    char p[PATH_MAX];
    int k;

    if (path_join(p, sizeof(p), v->state_dir, names[i]) < 0)
      k = fail(v, -ENAMETOOLONG, "%s", names[i]);
    else
      k = restore_file(v, p);
    if (k > 0) restored++;
    if (k < 0 && first == 0) {
      first = k;
      memcpy(first_err, v->err, sizeof(first_err));
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (r < 0) return fail(v, r, "cannot list %s", v->state_dir);
  if (first < 0) {
    memcpy(v->err, first_err, sizeof(v->err));
    return first;
  }
  v->err[0] = 0;
  return restored;
}
