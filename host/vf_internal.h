/* Internal to the VF module, shared by its four files and included by
 * nothing else:
 *   vf_codec.c  building and parsing the rtnetlink messages (pure);
 *   vf.c        the handle, its rtnetlink transport, per-VF settings;
 *   vf_count.c  the PF in sysfs and its VF count (sriov_numvfs);
 *   vf_state.c  the saved state of a PF and its restore.
 * The public face is vf.h.  Every function here that takes (err, errlen)
 * writes a one-line reason there on failure, as the public ones do. */
#pragma once

#include <limits.h>
#include <net/if.h>
#include <stdint.h>

#include "macro.h"
#include "vf.h"

struct mnl_socket;

struct iov_vf {
  char *sysfs_root;
  char *state_dir;
  const struct iov_vf_nl_ops *ops;
  void *ud;
  struct mnl_socket *nl;
  uint32_t seq;
};

/* A PF as found in sysfs. */
struct iov__vf_pf {
  char id[NAME_MAX + 1];    /* bus id: the device directory's name */
  char dev[PATH_MAX];       /* canonical device directory */
  char rel[PATH_MAX];       /* the same under the canonical root */
  char netdev[IF_NAMESIZE]; /* "" when the PF has no netdev */
};

/* vf_codec.c: the settings iov_vf_build_setlink() takes (0 or -EINVAL),
 * and a VLAN's protocol with 0 read as 802.1Q. */
int iov__vf_check_settings(const struct iov_vf_settings *s);
uint16_t iov__vf_vlan_proto(const struct iov_vf_settings *s);

/* vf.c.  iov__vf_fail: fmt, then ": " and the text of r, into err (and
 * the debug log); returns r. */
int iov__vf_fail(int r, char *err, size_t errlen, const char *fmt, ...) _printf_(4, 5);
/* GETLINK of a netdev by name (no err: callers say what they wanted). */
int iov__vf_get_link(struct iov_vf *v, const char *netdev, struct iov_vf_link *ret);
/* Apply s to VF vf of pf, one request per setting (see iov_vf_set()). */
int iov__vf_apply(struct iov_vf *v, const struct iov__vf_pf *pf, int ifindex, unsigned vf,
                  const struct iov_vf_settings *s, unsigned *reterr_setting, char *err, size_t errlen);

/* vf_count.c. */
int iov__vf_path_join(char *buf, size_t n, const char *a, const char *b);
/* A PF named as in vf.h, or a state file's device= (relative to the root). */
int iov__vf_resolve_pf(struct iov_vf *v, const char *spec, struct iov__vf_pf *ret, char *err, size_t errlen);
int iov__vf_resolve_rel(struct iov_vf *v, const char *rel, struct iov__vf_pf *ret, char *err, size_t errlen);
/* sriov_numvfs and sriov_totalvfs; either output may be NULL. */
int iov__vf_counts(const struct iov__vf_pf *pf, unsigned *ret_num, unsigned *ret_total, char *err,
                   size_t errlen);
/* From cur to n VFs, through 0 when both are non-zero. */
int iov__vf_change_count(const struct iov__vf_pf *pf, unsigned cur, unsigned n, char *err, size_t errlen);

/* vf_state.c: record the PF unless it has a state file (1 written, 0
 * there already). */
int iov__vf_save(struct iov_vf *v, const struct iov__vf_pf *pf, char *err, size_t errlen);
