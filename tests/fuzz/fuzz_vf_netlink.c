/* Fuzz target: the VF code of host/vf*.c (vf_codec.c, vf_state.c): its netlink parsers
 * (pure functions) and its state files.
 *
 * The first byte picks what the rest is fed to:
 *   0  iov_vf_parse_link():    a GETLINK reply (RTM_NEWLINK with VF info)
 *   1  iov_vf_parse_setlink(): a SETLINK request; one that parses and can
 *                              be built again must parse back the same
 *   2  iov_vf_parse_ack():     an NLMSG_ERROR
 *   3  iov_parse_mac():     a MAC address as text
 *   4  iov_vf_restore():       [ack byte][state file][NUL][GETLINK reply]
 *   5  iov_vf_save(), then iov_vf_restore(): [ack byte][GETLINK reply]
 * Modes 4 and 5 run against a scratch copy of the igb-82576-qemu sysfs
 * fixture and a fake kernel: GETLINK gets the fuzzed reply (the recorded
 * igb reply when there is none), SETLINK requests must parse with
 * iov_vf_parse_setlink() and get an ack whose error the ack byte picks.
 * A state file that iov_vf_save() wrote must be one iov_vf_restore()
 * reads. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "fuzz.h"
#include "parse.h"
#include "vf.h"

static char vf_err[1024];

#define PF_ADDR "0000:11:00.0"
#define PF_REL "devices/pci0000:10/0000:10:00.0/" PF_ADDR

static char scratch[PATH_MAX], sys_root[PATH_MAX], state_dir[PATH_MAX], numvfs_path[PATH_MAX];
static uint8_t igb_reply[65536];
static size_t igb_reply_len;

struct fake {
  const uint8_t *reply;
  size_t reply_len;
  int ack_error;
};

static void cleanup(void) {
  if (scratch[0]) iov_fuzz_remove_tree(scratch);
}

/* The recorded RTM_NEWLINK of an igb PF with 2 VFs: hex pairs, '#' comments. */
static void load_igb_reply(void) {
  char path[PATH_MAX];
  FILE *f;
  int c, hi = -1;
  bool comment = false;

  iov_fuzz_path(path, sizeof(path), "%s/tests/fixtures/netlink/newlink-igb-2vfs.hex", iov_fuzz_srcdir());
  f = fopen(path, "re");
  if (!f) {
    fprintf(stderr, "fuzz_vf_netlink: cannot open %s (set IOV_SRCDIR)\n", path);
    abort();
  }
  while ((c = fgetc(f)) != EOF && igb_reply_len < sizeof(igb_reply)) {
    int v;
    if (c == '#') comment = true;
    if (c == '\n') comment = false;
    if (comment) continue;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else
      continue;
    if (hi < 0)
      hi = v;
    else {
      igb_reply[igb_reply_len++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char src[PATH_MAX];
  (void)argc;
  (void)argv;
  iov_fuzz_quiet();
  load_igb_reply();
  if (iov_fuzz_scratch_dir("vf", scratch) < 0) abort();
  atexit(cleanup);
  iov_fuzz_path(sys_root, sizeof(sys_root), "%s/sys", scratch);
  iov_fuzz_path(state_dir, sizeof(state_dir), "%s/state", scratch);
  iov_fuzz_path(numvfs_path, sizeof(numvfs_path), "%s/" PF_REL "/sriov_numvfs", sys_root);
  iov_fuzz_path(src, sizeof(src), "%s/tests/fixtures/sysfs/igb-82576-qemu", iov_fuzz_srcdir());
  if (iov_fuzz_copy_tree(src, sys_root) < 0 || mkdir(state_dir, 0755) < 0) {
    fprintf(stderr, "fuzz_vf_netlink: cannot copy %s into %s\n", src, sys_root);
    abort();
  }
  return 0;
}

static void *dup_bytes(const void *p, size_t n) {
  void *r = malloc(n ? n : 1);
  if (r && n) memcpy(r, p, n);
  return r;
}

static int fake_transact(void *userdata, const void *req, size_t req_len, void **ret_reply, size_t *ret_len) {
  struct fake *f = userdata;
  const struct nlmsghdr *nlh = req;

  IOV_FUZZ_CHECK(req_len >= sizeof(*nlh) && nlh->nlmsg_len == req_len, "a request of %zu bytes", req_len);
  if (nlh->nlmsg_type == RTM_GETLINK) {
    *ret_reply = dup_bytes(f->reply, f->reply_len);
    *ret_len = f->reply_len;
    return *ret_reply ? 0 : -ENOMEM;
  }
  int ifindex;
  unsigned vf;
  struct iov_vf_settings s;
  int r = iov_vf_parse_setlink(req, req_len, &ifindex, &vf, &s);
  IOV_FUZZ_CHECK(r == 0, "a SETLINK the module built does not parse: %d", r);

  size_t n = NLMSG_LENGTH(sizeof(struct nlmsgerr));
  struct nlmsghdr *ack = calloc(1, n);
  if (!ack) return -ENOMEM;
  ack->nlmsg_len = (uint32_t)n;
  ack->nlmsg_type = NLMSG_ERROR;
  ack->nlmsg_seq = nlh->nlmsg_seq;
  struct nlmsgerr *err = NLMSG_DATA(ack);
  err->error = f->ack_error;
  err->msg = *nlh;
  *ret_reply = ack;
  *ret_len = n;
  return 0;
}

static const struct iov_vf_nl_ops fake_ops = { .transact = fake_transact };

static void check_link(const struct iov_vf_link *l) {
  IOV_FUZZ_CHECK(l->n_vfs <= l->num_vfs && l->num_vfs < IOV_VF_MAX_VFS, "%zu VFs of %u", l->n_vfs,
                 l->num_vfs);
  for (size_t i = 0; i < l->n_vfs; i++) {
    IOV_FUZZ_CHECK(l->vfs[i].vf < l->num_vfs, "VF %u of %u", l->vfs[i].vf, l->num_vfs);
    for (size_t k = 0; k < i; k++) IOV_FUZZ_CHECK(l->vfs[k].vf != l->vfs[i].vf, "VF %u twice", l->vfs[i].vf);
  }
  IOV_FUZZ_CHECK(memchr(l->ifname, 0, sizeof(l->ifname)), "ifname not terminated");
}

static void fuzz_setlink(const uint8_t *data, size_t size) {
  struct iov_vf_settings s, back;
  int ifindex, ifindex2;
  unsigned vf, vf2;
  _Alignas(8) char buf[512];

  int r = iov_vf_parse_setlink(data, size, &ifindex, &vf, &s);
  iov_fuzz_note("parse_setlink: %d\n", r);
  if (r < 0) return;
  int len = iov_vf_build_setlink(buf, sizeof(buf), ifindex, vf, &s, 1);
  if (len < 0) return; /* parsed, but not a request this module would send */
  IOV_FUZZ_CHECK(iov_vf_parse_setlink(buf, (size_t)len, &ifindex2, &vf2, &back) == 0, "rebuilt, not parsed");
  IOV_FUZZ_CHECK(ifindex2 == ifindex && vf2 == vf && back.set == s.set, "the rebuilt request differs");
  if (s.set & IOV_VF_SET_MAC) IOV_FUZZ_CHECK(!memcmp(back.mac, s.mac, 6), "MAC differs");
  if (s.set & IOV_VF_SET_VLAN) IOV_FUZZ_CHECK(back.vlan == s.vlan && back.qos == s.qos, "VLAN differs");
  if (s.set & IOV_VF_SET_SPOOFCHK) IOV_FUZZ_CHECK(back.spoofchk == s.spoofchk, "spoof check differs");
  if (s.set & IOV_VF_SET_TRUST) IOV_FUZZ_CHECK(back.trust == s.trust, "trust differs");
  if (s.set & (IOV_VF_SET_RATE | IOV_VF_SET_TX_RATE))
    IOV_FUZZ_CHECK(back.max_tx_rate == s.max_tx_rate, "rate differs");
}

static void fuzz_mac(const uint8_t *data, size_t size) {
  char text[64], out[18];
  uint8_t mac[6], again[6];
  if (size >= sizeof(text)) size = sizeof(text) - 1;
  memcpy(text, data, size);
  text[size] = 0;
  if (iov_parse_mac(text, mac) < 0) return;
  IOV_FUZZ_CHECK(iov_parse_mac(iov_format_mac(out, mac), again) == 0, "formatted MAC does not parse");
  IOV_FUZZ_CHECK(!memcmp(mac, again, 6), "MAC round trip differs");
}

static const int ack_errors[] = { 0, 0, 0, -EOPNOTSUPP, -EBUSY, -EINVAL, -EPERM, -ERANGE };

/* Remove the state files a run left, and put sriov_numvfs back. */
static void reset_scratch(void) {
  DIR *d = opendir(state_dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char p[PATH_MAX];
    if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, ".."))) continue;
    iov_fuzz_path(p, sizeof(p), "%s/%s", state_dir, e->d_name);
    (void)unlink(p);
  }
  if (d) closedir(d);
  (void)iov_fuzz_write_file(numvfs_path, "2\n", 2);
}

static void fuzz_state(const uint8_t *data, size_t size, bool save_first) {
  struct fake f = { 0 };
  struct iov_vf_config cfg = { .sysfs_root = sys_root, .state_dir = state_dir, .nl_ops = &fake_ops };
  struct iov_vf *v = NULL;
  const uint8_t *nul = NULL;
  int r;

  cfg.nl_userdata = &f;
  if (size < 1) return;
  f.ack_error = ack_errors[data[0] % ELEMENTSOF(ack_errors)];
  data++;
  size--;
  if (!save_first) {
    char path[PATH_MAX];
    nul = memchr(data, 0, size);
    size_t text_len = nul ? (size_t)(nul - data) : size;
    iov_fuzz_path(path, sizeof(path), "%s/" PF_ADDR ".state", state_dir);
    if (iov_fuzz_write_file(path, data, text_len) < 0) abort();
    f.reply = nul ? nul + 1 : NULL;
    f.reply_len = nul ? size - text_len - 1 : 0;
  } else {
    f.reply = data;
    f.reply_len = size;
  }
  if (!f.reply_len) {
    f.reply = igb_reply;
    f.reply_len = igb_reply_len;
  }
  if (iov_vf_new(&cfg, &v) < 0) abort();
  if (save_first) {
    r = iov_vf_save(v, PF_ADDR, vf_err, sizeof(vf_err));
    iov_fuzz_note("save: %d %s\n", r, vf_err);
    if (r > 0) {
      r = iov_vf_restore(v, vf_err, sizeof(vf_err));
      iov_fuzz_note("restore: %d %s\n", r, vf_err);
      IOV_FUZZ_CHECK(r != -EBADMSG, "a state file iov_vf_save() wrote is refused: %s", vf_err);
    }
  } else {
    unsigned num, total;
    r = iov_vf_restore(v, vf_err, sizeof(vf_err));
    iov_fuzz_note("restore: %d %s\n", r, vf_err);
    r = iov_vf_get_count(v, PF_ADDR, &num, &total, vf_err, sizeof(vf_err));
    iov_fuzz_note("count: %d %u of %u\n", r, num, total);
  }
  iov_vf_free(v);
  reset_scratch();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct iov_vf_link l = { 0 };
  char msg[128] = "";
  uint8_t *rest;
  int r;

  if (!scratch[0]) LLVMFuzzerInitialize(NULL, NULL);
  if (size < 1) return 0;
  /* A buffer of its own, as the transport hands out (malloc'd, aligned
   * for struct nlmsghdr), exactly as long as the input. */
  rest = dup_bytes(data + 1, size - 1);
  if (!rest) return 0;
  switch (data[0] % 6) {
  case 0:
    r = iov_vf_parse_link(rest, size - 1, &l);
    iov_fuzz_note("parse_link: %d, %zu VFs\n", r, l.n_vfs);
    if (r == 0) check_link(&l);
    iov_vf_link_done(&l);
    break;
  case 1: fuzz_setlink(rest, size - 1); break;
  case 2:
    r = iov_vf_parse_ack(rest, size - 1, msg, sizeof(msg));
    iov_fuzz_note("parse_ack: %d '%s'\n", r, msg);
    IOV_FUZZ_CHECK(memchr(msg, 0, sizeof(msg)), "ack text not terminated");
    break;
  case 3: fuzz_mac(rest, size - 1); break;
  case 4: fuzz_state(rest, size - 1, false); break;
  case 5: fuzz_state(rest, size - 1, true); break;
  }
  free(rest);
  return 0;
}
