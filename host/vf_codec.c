/* The rtnetlink codec of the VF module (see vf.h, "Messages"): building
 * SETLINK/GETLINK requests and parsing replies, acks and requests, with
 * libmnl.  Pure functions of their arguments: no sockets, no sysfs.
 *
 * Replies are walked with mnl_attr_ok()/mnl_attr_next() and every
 * attribute we read is checked with mnl_attr_validate()/
 * mnl_attr_validate2() before its payload is touched; unlike
 * mnl_attr_parse(), the walk here also fails on bytes left over at the
 * end of a container, which is how a truncated reply shows. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "vf.h"
#include "vf_internal.h"

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

uint16_t iov__vf_vlan_proto(const struct iov_vf_settings *s) {
  return s->vlan_proto ? s->vlan_proto : ETH_P_8021Q;
}

int iov__vf_check_settings(const struct iov_vf_settings *s) {
  if (!s->set || (s->set & ~(unsigned)IOV_VF_SET_ALL)) return -EINVAL;
  if ((s->set & IOV_VF_SET_RATE) && (s->set & IOV_VF_SET_TX_RATE)) return -EINVAL;
  if (s->set & IOV_VF_SET_VLAN) {
    uint16_t p = iov__vf_vlan_proto(s);
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
  r = iov__vf_check_settings(s);
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
    if (iov__vf_vlan_proto(s) == ETH_P_8021Q) {
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
      vi.vlan_proto = htons(iov__vf_vlan_proto(s));
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
