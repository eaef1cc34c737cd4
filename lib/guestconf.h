/* Settings of the guest agent (iovbench-guest-agent, the daemon inside a VM
 * that connects to its host agent's relay endpoint).
 *
 * Five settings: host (the host agent's guest endpoint), vm_id (the name
 * the guest reports), data (its data-plane IP address, optional), and for
 * CurveZMQ host_key (the host agent's public key) with key (this guest's
 * secret key), which the host agent makes for each VM it starts.  They
 * come from these sources, later ones overriding earlier ones:
 *
 *   1. SMBIOS OEM strings (type 11), as set by
 *      qemu -smbios type=11,value=iovbench.host=tcp://10.0.2.2:7701
 *      read from ROOT/sys/firmware/dmi/entries/11-N/raw in numeric order of N;
 *   2. the kernel command line ROOT/proc/cmdline: iovbench.KEY=VALUE tokens.
 *      Double quotes work as in the kernel: they group blanks and are
 *      removed, so iovbench.vm_id="a b" yields "a b" (which the vm_id rule
 *      then rejects);
 *   3. an INI config file: host, vm_id, data at top level or in [guest];
 *   4. the command-line options of the daemon.
 *
 * In sources 1 and 2 strings not starting with "iovbench." are ignored;
 * unknown iovbench.* keys (perhaps meant for a newer version), malformed
 * SMBIOS entries and unreadable SMBIOS or cmdline files are skipped, each
 * with one line to the caller's warn callback (struct iov_guest_options):
 * a skipped entry has no error code to carry it, and this module logs
 * nothing itself.  The reading user needs root for the SMBIOS files.
 *
 * Values are checked once all sources are merged, so a bad value that a
 * later source overrides does no harm.  The final vm_id must pass
 * iov_wire_name_ok() (1..64 of [A-Za-z0-9._:-]); when no source sets it, it
 * defaults to ROOT/sys/class/dmi/id/product_uuid (trimmed, lower-cased)
 * or else to the hostname.  host is normalised with
 * iov_guest_endpoint_normalize().  data must be an IPv4 or IPv6 address. */
#pragma once

#include <stddef.h>

#define IOV_GUEST_DEFAULT_PORT 7701
#define IOV_GUEST_DEFAULT_CONFIG "/etc/iovbench/guest.conf"

/* The daemon's command-line options: NULL = not given.  Not copied. */
struct iov_guest_options {
  const char *host;
  const char *vm_id;
  const char *data;
  const char *host_key;
  const char *key;
  /* Called, during iov_guest_settings_load() and in its thread, with one
   * line (no newline) for each entry skipped, for the daemon to log as a
   * warning; NULL: not told. */
  void (*warn)(void *userdata, const char *line);
  void *warn_userdata;
};

/* The resolved settings.  Each *_src says where the value came from, for
 * logs: "smbios", "cmdline", the config file's path, "option", or (vm_id
 * only) "default (product_uuid)" / "default (hostname)"; NULL when the
 * value is NULL.  host and data may be NULL: a missing host is for the
 * caller to report.  Release with iov_guest_settings_done(). */
struct iov_guest_settings {
  char *host;  /* normalised: tcp://ADDR:PORT, tcp://[V6]:PORT or ipc://PATH */
  char *vm_id; /* never NULL after a successful load */
  char *data;
  /* CURVE (lib/auth.h): the host agent's public key and this guest's
   * secret key, both Z85, both or neither (neither = plaintext). */
  char *host_key;
  char *key;
  const char *host_src, *vm_id_src, *data_src;
  char *config_path; /* the config file read, NULL if none; the *_src point here */
};

/* Resolve the settings from all sources.
 *   root:        prefix for /sys, /proc and the default config path; NULL
 *                or "" for the real ones (tests pass a scratch directory).
 *   config_path: a file that must exist, or NULL for ROOT/etc/iovbench/
 *                guest.conf, read only if it exists.
 *   options:     the daemon's options (source 4), may be NULL.
 * Returns 0 and fills *ret (caller owns it), or a negative errno and
 * writes a one-line reason to err (errlen may be 0): -ENOENT for a missing
 * explicit config file, -EINVAL for an unknown config key or section
 * (named as FILE:LINE: ... 'KEY'), a config syntax error or a bad value
 * (named with its source), -E2BIG for an overlong config line, other
 * codes from reading the config file, -ENOMEM.  ret is written only on
 * success.  Keeps no global state; may be called from any thread. */
int iov_guest_settings_load(const char *root, const char *config_path,
                            const struct iov_guest_options *options, struct iov_guest_settings *ret,
                            char *err, size_t errlen);

/* Free the strings and zero *s.  Accepts a zeroed or half-filled struct. */
void iov_guest_settings_done(struct iov_guest_settings *s);

/* Normalise a host agent endpoint into a new string (caller owns; free()):
 *   ADDR -> tcp://ADDR:7701     ADDR:PORT -> tcp://ADDR:PORT
 *   [V6] -> tcp://[V6]:7701     [V6]:PORT -> tcp://[V6]:PORT
 *   V6 (bare, several colons) -> tcp://[V6]:7701
 *   tcp://... and ipc://... are kept as they are.
 * ADDR is a host name or IPv4 address ([A-Za-z0-9._-]), V6 an IPv6
 * address, PORT 1..65535.  Returns 0, -EINVAL or -ENOMEM. */
int iov_guest_endpoint_normalize(const char *in, char **ret);
