/* VF provisioning: how many virtual functions a PF has (sysfs
 * sriov_numvfs) and each VF's MAC, VLAN, spoof check, trust and rate
 * (rtnetlink RTM_SETLINK on the PF, IFLA_VFINFO_LIST/IFLA_VF_INFO, read
 * back with RTM_GETLINK and RTEXT_FILTER_VF), plus the record that lets
 * the host agent undo all of it.
 *
 * Save and restore.  Before the first change to a PF, its original
 * sriov_numvfs and every existing VF's settings are written to
 * <state_dir>/<bus id>.state (for example 0000:01:00.0.state),
 * atomically (temporary file, fsync, rename, fsync of the directory).
 * Later changes in the same run leave that file alone, so it always holds
 * what the PF looked like before iovbench touched it.
 * iov_vf_restore_pf() puts one PF back and iov_vf_restore() every PF that
 * has a file; each file is removed only once its PF is restored.  The
 * host agent calls iov_vf_restore() at start-up to undo what a crashed
 * run left behind, and at the end of a run.
 *
 * The state file is text, one key=value a line ('#' starts a comment):
 *   version=1
 *   device=devices/pci0000:00/0000:00:02.0/0000:01:00.0   (under the sysfs root)
 *   netdev=eth0                                             (informative)
 *   numvfs=2
 *   vf.0.mac=02:00:00:00:00:10     vf.N.vlan=100  vf.N.qos=0
 *   vf.N.vlan_proto=0x8100         vf.N.spoofchk=1  vf.N.trust=0
 *   vf.N.min_tx_rate=0             vf.N.max_tx_rate=0       (Mbit/s)
 * A setting the driver does not report (the kernel sends -1 for spoof
 * check and trust then) is left out and not restored.
 *
 * Messages are built and parsed by pure functions (iov_vf_build_*,
 * iov_vf_parse_*) so that tests check the bytes; the handle sends them
 * through a transport that tests can replace (struct iov_vf_nl_ops).
 *
 * Where it lives (host/): vf_codec.c the messages, vf.c the handle, its
 * transport and the per-VF settings, vf_count.c the PF in sysfs and its
 * VF count, vf_state.c the state files and the restore; vf_internal.h
 * is what they share, for them alone.
 *
 * Errors: every call on a handle returns >= 0 or a negative errno and,
 * on failure, writes one line into (err, errlen) naming the PF, the step
 * and the reason ("0000:01:00.0: cannot disable 2 VFs (write 0 to
 * sriov_numvfs): Device or resource busy: VFs still in use (assigned to a
 * VM?)"); err may be NULL (errlen 0) and is left alone on success.
 * Nothing here logs above debug level.
 *
 * Threading: a handle is not thread-safe; the pure functions are. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IOV_VF_STATE_DIR "/var/lib/iovbench/vf-state"
/* Hard limit on VF counts and VF numbers, wherever they come from (a
 * caller, sysfs, a netlink reply or a state file).  PCIe allows 65535 VFs
 * per PF; real NICs stop at 256. */
#define IOV_VF_MAX_VFS 1024
/* The largest netlink reply accepted.  Each VF takes about 200 bytes of
 * IFLA_VFINFO_LIST without statistics (196 on igb), and a nest holds at
 * most 64 KiB, so about 330 VFs fit; past that the kernel's nest length
 * wraps and parsing the reply fails with -EBADMSG rather than misreading
 * it. */
#define IOV_VF_MAX_MSG (1u << 20)
/* The largest state file accepted. */
#define IOV_VF_MAX_STATE_FILE (1u << 20)

/* Which fields of struct iov_vf_settings are meant. */
enum {
  IOV_VF_SET_MAC = 1u << 0,      /* IFLA_VF_MAC */
  IOV_VF_SET_VLAN = 1u << 1,     /* IFLA_VF_VLAN, or IFLA_VF_VLAN_LIST for 802.1ad */
  IOV_VF_SET_SPOOFCHK = 1u << 2, /* IFLA_VF_SPOOFCHK */
  IOV_VF_SET_TRUST = 1u << 3,    /* IFLA_VF_TRUST */
  IOV_VF_SET_RATE = 1u << 4,     /* IFLA_VF_RATE: min_tx_rate and max_tx_rate */
  /* IFLA_VF_TX_RATE (max_tx_rate only), the attribute of kernels before
   * 3.16 and of iproute2's "rate N".  Not together with IOV_VF_SET_RATE. */
  IOV_VF_SET_TX_RATE = 1u << 5,
  IOV_VF_SET_ALL = (1u << 6) - 1,
};

/* One VF's settings.  On input (iov_vf_set, iov_vf_build_setlink) 'set'
 * says which fields to apply; on output (parsing a GETLINK reply) which
 * the kernel reported. */
struct iov_vf_settings {
  unsigned set;         /* IOV_VF_SET_* */
  uint8_t mac[6];       /* all zero clears an administratively set MAC */
  uint16_t vlan;        /* 0..4095; 0 with qos 0 removes the port VLAN */
  uint8_t qos;          /* 0..7 */
  uint16_t vlan_proto;  /* host order: ETH_P_8021Q (0 means the same) or ETH_P_8021AD */
  bool spoofchk;        /* MAC/VLAN anti-spoofing by the NIC */
  bool trust;           /* the VF may set promiscuous mode and change its MAC */
  uint32_t min_tx_rate; /* Mbit/s, 0 = no guarantee */
  uint32_t max_tx_rate; /* Mbit/s, 0 = no limit */
};

/* What a GETLINK reply says about a PF. */
struct iov_vf_info {
  unsigned vf;              /* VF number */
  struct iov_vf_settings s; /* s.set: what the kernel reported */
};

struct iov_vf_link {
  int ifindex;
  char ifname[IF_NAMESIZE];
  unsigned num_vfs;        /* IFLA_NUM_VF; 0 when absent (no SR-IOV or no VFs) */
  size_t n_vfs;            /* entries in vfs[], at most num_vfs */
  struct iov_vf_info *vfs; /* in the order of the reply; owned, see iov_vf_link_done() */
};

/* Free what a parse put into *l and zero it.  Accepts a zeroed struct. */
void iov_vf_link_done(struct iov_vf_link *l);

/* Build an RTM_NEWLINK (set link) request for VF 'vf' of the PF with
 * ifindex 'pf_ifindex': nlmsg_flags NLM_F_REQUEST|NLM_F_ACK, ifi_family
 * AF_UNSPEC, and one IFLA_VFINFO_LIST/IFLA_VF_INFO holding, in this order,
 * IFLA_VF_MAC, IFLA_VF_VLAN (or IFLA_VF_VLAN_LIST with one
 * IFLA_VF_VLAN_INFO when vlan_proto is 802.1ad), IFLA_VF_SPOOFCHK,
 * IFLA_VF_TRUST, and IFLA_VF_RATE or IFLA_VF_TX_RATE, for the bits in
 * s->set.  This is the order and the layout iproute2 uses for
 * "ip link set dev PF vf N mac M vlan V qos Q spoofchk on trust on
 * min_tx_rate A max_tx_rate B".  nlmsg_pid is 0.
 * Returns the message length, or -EINVAL (no or unknown bits, vlan >
 * 4095, qos > 7, another vlan_proto, min_tx_rate > max_tx_rate with a
 * max, both rate bits, pf_ifindex <= 0, vf >= IOV_VF_MAX_VFS), or -ENOBUFS
 * when len is too small (256 bytes always suffice). */
int iov_vf_build_setlink(char *buf, size_t len, int pf_ifindex, unsigned vf, const struct iov_vf_settings *s,
                         uint32_t seq);

/* Build an RTM_GETLINK request for one link, by ifindex when > 0, else by
 * name (IFLA_IFNAME), with IFLA_EXT_MASK RTEXT_FILTER_VF |
 * RTEXT_FILTER_SKIP_STATS: VF settings without per-VF counters, which
 * keeps the IFLA_VFINFO_LIST nest of a PF with hundreds of VFs under the
 * 64 KiB an attribute can hold (kernels that predate the second bit
 * for VF counters ignore it; 6.1 honours it).  Flags NLM_F_REQUEST only: the answer is the RTM_NEWLINK itself.
 * Returns the length, -EINVAL (neither given, or a name too long), or
 * -ENOBUFS. */
int iov_vf_build_getlink(char *buf, size_t len, int ifindex, const char *ifname, uint32_t seq);

/* Parse the reply to a GETLINK: one RTM_NEWLINK message (or an
 * NLMSG_ERROR, whose error is returned).  Every attribute is bounds-checked
 * (mnl_attr_validate/mnl_attr_validate2 against the structure sizes of
 * linux/if_link.h); unknown attribute types are skipped.  On success *ret
 * owns an array; free it with iov_vf_link_done().
 * Returns 0, the negative error of an NLMSG_ERROR, or
 *   -EBADMSG  truncated or malformed: a length that runs past the buffer
 *             or leaves bytes over, a wrong size, an IFLA_VF_INFO whose
 *             parts name different VFs, a VF listed twice or at or above
 *             IFLA_NUM_VF, a message of another type;
 *   -E2BIG    IFLA_NUM_VF or a VF number at or above IOV_VF_MAX_VFS;
 *   -ENOMEM.
 * *ret is written only on success. */
int iov_vf_parse_link(const void *buf, size_t len, struct iov_vf_link *ret);

/* Parse an RTM_NEWLINK request as iov_vf_build_setlink() builds it (or as
 * iproute2 sends it): exactly one IFLA_VF_INFO in IFLA_VFINFO_LIST.  For
 * tests and fakes.  IFLA_VF_VLAN_LIST must hold exactly one entry.
 * Returns 0, or -EBADMSG (malformed, other attributes, VF numbers that
 * differ), -E2BIG (vf >= IOV_VF_MAX_VFS). */
int iov_vf_parse_setlink(const void *buf, size_t len, int *ret_ifindex, unsigned *ret_vf,
                         struct iov_vf_settings *ret);

/* Parse an acknowledgement (NLMSG_ERROR).  Returns its error (0 for
 * success, -errno otherwise) and copies the kernel's extended-ack text,
 * if any, into msg (NUL-terminated; "" when none; msg may be NULL).
 * -EBADMSG when it is not a well-formed NLMSG_ERROR. */
int iov_vf_parse_ack(const void *buf, size_t len, char *msg, size_t msg_len);

/* MAC addresses as text: iov_parse_mac() and iov_format_mac() (lib/parse.h). */

/* The netlink transport.  transact() sends one complete request and
 * returns the one reply message whose nlmsg_seq matches (an RTM_NEWLINK
 * or an NLMSG_ERROR) in a malloc'd buffer: the caller owns *ret_reply and
 * frees it with free().  It returns 0, or -errno when sending or receiving
 * failed (-ETIMEDOUT when no answer came); errors the kernel reports are
 * inside the reply, not in the return value.  NULL ops mean the real
 * rtnetlink socket (libmnl), opened on first use in the caller's network
 * namespace. */
struct iov_vf_nl_ops {
  int (*transact)(void *userdata, const void *req, size_t req_len, void **ret_reply, size_t *ret_len);
};

struct iov_vf_config {
  const char *sysfs_root;             /* NULL: "/sys"; tests pass a scratch tree */
  const char *state_dir;              /* NULL: IOV_VF_STATE_DIR */
  const struct iov_vf_nl_ops *nl_ops; /* NULL: rtnetlink */
  void *nl_userdata;                  /* passed to nl_ops */
};

struct iov_vf;

/* A handle; the config strings are copied.  Caller owns *ret; free with
 * iov_vf_free().  Nothing is opened yet.  Returns 0 or -ENOMEM. */
int iov_vf_new(const struct iov_vf_config *cfg, struct iov_vf **ret);

/* Close the socket and free; accepts NULL, returns NULL. */
struct iov_vf *iov_vf_free(struct iov_vf *v);

/* A PF is named by its netdev ("eth0", looked up as
 * <root>/class/net/NAME/device), its PCI address ("0000:01:00.0", as
 * <root>/bus/pci/devices/ADDR) or a netdevsim device ("netdevsim1", as
 * <root>/bus/netdevsim/devices/ID).  Names with '/' or that are "." or
 * ".." are refused with -EINVAL; a PF not found gives -ENODEV. */

/* The PF's current and maximum VF count (sriov_numvfs, sriov_totalvfs).
 * Either output may be NULL.  Returns 0, -ENODEV, -EOPNOTSUPP (no
 * sriov_numvfs: not an SR-IOV PF), -EBADMSG (unreadable number), -E2BIG
 * (above IOV_VF_MAX_VFS), or a read error. */
int iov_vf_get_count(struct iov_vf *v, const char *pf, unsigned *ret_numvfs, unsigned *ret_totalvfs,
                     char *err, size_t errlen);

/* Set the PF's VF count to n.  Saves the PF's state first (when it has
 * no state file yet).  The kernel refuses to change a non-zero count to
 * another non-zero one, so that goes through 0; when the second write
 * fails the old count is put back if possible.  Nothing is written when
 * the count is already n.
 * Returns 0, or -ERANGE (n > sriov_totalvfs), -EBUSY (the kernel or the
 * driver refused: VFs in use, for example assigned to a VM), -EOPNOTSUPP
 * (not an SR-IOV PF, or no driver able to configure SR-IOV is bound), any
 * error of iov_vf_get_count() or of saving, or the write's error; err
 * says which step failed. */
int iov_vf_set_count(struct iov_vf *v, const char *pf, unsigned n, char *err, size_t errlen);

/* Apply the settings in s->set to VF 'vf' of the PF.  Saves the PF's
 * state first.  Each setting goes in a request of its own, in the order
 * MAC, VLAN, spoof check, trust, rate, so that an error names the setting
 * and those before it are known to be applied.  A rate whose IFLA_VF_RATE
 * is refused with -EINVAL and whose min_tx_rate is 0 is sent again as
 * IFLA_VF_TX_RATE (kernels before 3.16), as iproute2 sends "rate N".
 * A rate refused with -EINVAL while the PF's carrier is down is tried
 * once more after waiting up to 10 s for the link: igb resets its link
 * when the VF count changes and takes no rate until it is back.
 * IOV_VF_SET_TX_RATE is for the builder only; here it is -EINVAL.
 * Returns 0, -EINVAL (bad settings, see iov_vf_build_setlink), -ENODEV,
 * -ERANGE (vf >= sriov_numvfs), the kernel's error (-EOPNOTSUPP when the
 * driver lacks the operation), or a transport error; *reterr_setting
 * (may be NULL) then holds the IOV_VF_SET_* bit that failed, or 0 when
 * the failure came before any request. */
int iov_vf_set(struct iov_vf *v, const char *pf, unsigned vf, const struct iov_vf_settings *s,
               unsigned *reterr_setting, char *err, size_t errlen);

/* Read the PF's link with its VFs (RTM_GETLINK).  Caller owns *ret; free
 * with iov_vf_link_done().  Returns 0, -ENODEV, -EOPNOTSUPP (the PF has no
 * netdev), any error of iov_vf_parse_link(), or a transport error. */
int iov_vf_get(struct iov_vf *v, const char *pf, struct iov_vf_link *ret, char *err, size_t errlen);

/* Record the PF's state now unless it already has a state file.  Called
 * by iov_vf_set_count() and iov_vf_set(); exported for callers that
 * change a PF some other way.  Returns 1 when a file was written, 0 when
 * one existed, or -errno (nothing was changed then). */
int iov_vf_save(struct iov_vf *v, const char *pf, char *err, size_t errlen);

/* Restore the PF from its state file and remove the file: the VF count
 * first (through 0 when needed), then every recorded setting that
 * differs from what the kernel now reports (rates as in iov_vf_set()).
 * Returns 1 when restored, 0
 * when the PF has no state file, or -errno (the file stays, so a later
 * call tries again). */
int iov_vf_restore_pf(struct iov_vf *v, const char *pf, char *err, size_t errlen);

/* Restore every PF with a state file in the state directory and remove
 * the files of those restored; stale temporary files of an interrupted
 * save are removed too.  A PF that fails does not stop the others.
 * Returns the number of PFs restored, or the first error (the failed
 * files stay; err says why the first failed); a missing state directory
 * means nothing to do (0). */
int iov_vf_restore(struct iov_vf *v, char *err, size_t errlen);
