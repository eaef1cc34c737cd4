/* Guest agent settings: merge SMBIOS OEM strings, the kernel command line,
 * a config file and the daemon's options, then check the result.
 *
 * Values are collected raw, source by source, and validated only once at
 * the end, so that a later source can repair a bad earlier one.
 *
 * The config file goes through inih.  Debian's inih is built without
 * INI_HANDLER_LINENO, so, as lib/plan.c does, we feed it through our own
 * reader: it counts lines, rejects lines longer than inih's buffer (which
 * would otherwise be split), checks [section] headers itself (so an empty
 * unknown section is caught too) and strips leading blanks, which turns
 * off inih's multi-line continuation values. */
#include "guestconf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "err.h"
#include "fileio.h"
#include "macro.h"
#include "parse.h"
#include "wire.h"

#define SMBIOS_TYPE_OEM_STRINGS 11
#define SMBIOS_HEADER_LEN 5    /* type, length, handle (2), string count */
#define SMBIOS_MAX_SIZE 65536  /* a larger structure is not sane */
#define SMBIOS_MAX_ENTRIES 256 /* type-11 structures read */
#define CMDLINE_MAX_SIZE 65536 /* COMMAND_LINE_SIZE is at most a few KiB */
#define ENDPOINT_MAX 1024      /* longest endpoint accepted */
#define KEY_PREFIX "iovbench."
#define KEY_PREFIX_LEN (sizeof(KEY_PREFIX) - 1)

enum { K_HOST, K_VM_ID, K_DATA, K_HOST_KEY, K_KEY, _K_MAX };
static const char *const key_names[_K_MAX] = { "host", "vm_id", "data", "host_key", "key" };

/* The values collected so far, raw, and where each came from. */
struct merge {
  char *val[_K_MAX];
  const char *src[_K_MAX];
  const struct iov_guest_options *o; /* its warn callback, if any */
};

/* A skipped entry, to the caller's warn callback (none: dropped). */
_printf_(2, 3) static void warn(const struct merge *m, const char *fmt, ...) {
  char line[512];
  va_list ap;

  if (!m->o || !m->o->warn) return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  m->o->warn(m->o->warn_userdata, line);
}

static void merge_done(struct merge *m) {
  for (size_t k = 0; k < _K_MAX; k++) free(m->val[k]);
}

#define fail iov_errf

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int key_index(const char *key, size_t len) {
  for (int k = 0; k < _K_MAX; k++)
    if (strlen(key_names[k]) == len && memcmp(key_names[k], key, len) == 0) return k;
  return -1;
}

static int put(struct merge *m, int k, const char *value, size_t len, const char *src) {
  char *v = strndup(value, len);
  if (!v) return -ENOMEM;
  free(m->val[k]);
  m->val[k] = v;
  m->src[k] = src;
  return 0;
}

/* One "iovbench.KEY=VALUE" from SMBIOS or the command line (len bytes, no
 * NUL inside).  Anything else is not ours; unknown keys may be meant for a
 * newer version, so they are skipped with a warning, never an error. */
static int take_token(struct merge *m, const char *tok, size_t len, const char *src) {
  const char *eq;
  int k;

  if (len < KEY_PREFIX_LEN || memcmp(tok, KEY_PREFIX, KEY_PREFIX_LEN) != 0) return 0;
  eq = memchr(tok, '=', len);
  k = eq ? key_index(tok + KEY_PREFIX_LEN, (size_t)(eq - tok) - KEY_PREFIX_LEN) : -1;
  /* The guest image's /init configures the NIC from these (guest-agent/init.sh). */
  static const char *const for_init[] = { "net=",  "gw=",    "debug=",    "shell=",
                                          "role=", "agent=", "hostroot=", "run=" };
  for (size_t i = 0; k < 0 && i < sizeof(for_init) / sizeof(for_init[0]); i++)
    if (len - KEY_PREFIX_LEN >= strlen(for_init[i]) &&
        memcmp(tok + KEY_PREFIX_LEN, for_init[i], strlen(for_init[i])) == 0)
      return 0;
  if (k < 0) {
    warn(m, "Ignoring '%.*s' from %s: not iovbench.KEY=VALUE with a known KEY (host, vm_id, data)",
         (int)(len < 80 ? len : 80), tok, src);
    return 0;
  }
  return put(m, k, eq + 1, len - (size_t)(eq + 1 - tok), src);
}

/* One SMBIOS structure as the kernel exposes it in .../raw: the formatted
 * area (byte 0 type, byte 1 its length L, bytes 2-3 handle, byte 4 string
 * count), then from offset L the string-set: NUL-terminated strings and
 * one more NUL.  The whole set is checked before any string is taken, so a
 * damaged entry contributes nothing.  The count byte is not trusted. */
static int smbios_parse(struct merge *m, const uint8_t *b, size_t n, char *why, size_t whylen) {
  size_t p, set_end;
  int r;

  if (n < 2) return fail(-EBADMSG, why, whylen, "truncated (%zu bytes)", n);
  if (b[0] != SMBIOS_TYPE_OEM_STRINGS) return fail(-EBADMSG, why, whylen, "type %u, expected 11", b[0]);
  if (b[1] < SMBIOS_HEADER_LEN)
    return fail(-EBADMSG, why, whylen, "formatted area of %u bytes, less than %d", b[1], SMBIOS_HEADER_LEN);
  if (n < b[1]) return fail(-EBADMSG, why, whylen, "truncated (%zu bytes, formatted area %u)", n, b[1]);
  for (p = b[1];;) {
    const uint8_t *z;
    if (p >= n) return fail(-EBADMSG, why, whylen, "string-set not terminated");
    if (b[p] == 0) break; /* the empty string that ends the set */
    z = memchr(b + p, 0, n - p);
    if (!z) return fail(-EBADMSG, why, whylen, "string-set not terminated");
    p = (size_t)(z - b) + 1;
  }
  set_end = p;
  for (p = b[1]; p < set_end; p += strlen((const char *)b + p) + 1) {
    r = take_token(m, (const char *)b + p, strlen((const char *)b + p), "smbios");
    if (r < 0) return r;
  }
  return 0;
}

static int select_oem(const struct dirent *d) { return strncmp(d->d_name, "11-", 3) == 0; }

/* One entry directory: a damaged or unreadable entry is skipped with a
 * warning; only -ENOMEM is returned. */
static int smbios_entry(struct merge *m, const char *dir, const char *name) {
  _cleanup_free_ char *path = NULL, *buf = NULL;
  char why[128];
  size_t len;
  int r;

  if (asprintf(&path, "%s/%s/raw", dir, name) < 0) return -ENOMEM;
  r = iov_read_file(path, SMBIOS_MAX_SIZE, &buf, &len);
  if (r == -EACCES)
    snprintf(why, sizeof(why), "%s (reading SMBIOS needs root)", iov_strerror(r));
  else if (r < 0)
    snprintf(why, sizeof(why), "%s", iov_strerror(r));
  else
    r = smbios_parse(m, (const uint8_t *)buf, len, why, sizeof(why));
  if (r < 0 && r != -ENOMEM) warn(m, "Ignoring SMBIOS entry '%s': %s", path, why);
  return r == -ENOMEM ? r : 0;
}

/* ROOT/sys/firmware/dmi/entries/11-N/raw in numeric order of N; later
 * entries override earlier ones.  Only -ENOMEM is returned. */
static int smbios_load(struct merge *m, const char *root) {
  _cleanup_free_ char *dir = NULL;
  struct dirent **names = NULL;
  int n, r = 0;

  if (asprintf(&dir, "%s/sys/firmware/dmi/entries", root) < 0) return -ENOMEM;
  n = scandir(dir, &names, select_oem, versionsort);
  if (n < 0) {
    if (errno == ENOMEM) return -ENOMEM;
    if (errno != ENOENT)
      warn(m, "Cannot list SMBIOS entries in '%s', skipping them: %s", dir, strerror(errno));
    return 0;
  }
  for (int i = 0; i < n; i++) {
    if (r >= 0 && i < SMBIOS_MAX_ENTRIES) r = smbios_entry(m, dir, names[i]->d_name);
    free(names[i]);
  }
  if (n > SMBIOS_MAX_ENTRIES)
    warn(m, "Only the first %d SMBIOS OEM string entries were read", SMBIOS_MAX_ENTRIES);
  free(names);
  return r;
}

/* ROOT/proc/cmdline: blank-separated tokens; double quotes group blanks
 * and are removed, as the kernel does. */
static int cmdline_load(struct merge *m, const char *root) {
  _cleanup_free_ char *path = NULL, *text = NULL, *tok = NULL;
  const char *s;
  int r;

  if (asprintf(&path, "%s/proc/cmdline", root) < 0) return -ENOMEM;
  r = iov_read_file(path, CMDLINE_MAX_SIZE, &text, NULL);
  if (r == -ENOMEM) return r;
  if (r < 0) {
    if (r != -ENOENT) warn(m, "Ignoring '%s': %s", path, iov_strerror(r));
    return 0;
  }
  tok = malloc(strlen(text) + 1);
  if (!tok) return -ENOMEM;
  for (s = text; *s;) {
    size_t o = 0;
    bool quoted = false;

    while (is_blank(*s)) s++;
    for (; *s && (quoted || !is_blank(*s)); s++)
      if (*s == '"')
        quoted = !quoted;
      else
        tok[o++] = *s;
    r = o > 0 ? take_token(m, tok, o, "cmdline") : 0;
    if (r < 0) return r;
  }
  return 0;
}

struct conf {
  struct merge *m;
  FILE *f;
  const char *path;
  char *line_buf, *err; /* err: the caller's buffer */
  size_t line_cap, errlen;
  unsigned line, err_line;
  int error;
};

static char *conf_reader(char *str, int num, void *stream) {
  struct conf *c = stream;
  const char *p, *close;
  ssize_t n;
  size_t len;

  if (c->error) return NULL; /* stop at our first error */
  n = getline(&c->line_buf, &c->line_cap, c->f);
  if (n < 0) {
    int e = errno;
    if (ferror(c->f)) c->error = fail(-e, c->err, c->errlen, "Cannot read '%s': %s", c->path, strerror(e));
    return NULL;
  }
  c->line++;
  for (p = c->line_buf; *p == ' ' || *p == '\t'; p++) {}
  len = strlen(p);
  if (len + 1 > (size_t)num) {
    c->err_line = c->line;
    c->error =
        fail(-E2BIG, c->err, c->errlen, "%s:%u: line longer than %d characters", c->path, c->line, num - 2);
    return NULL;
  }
  close = p[0] == '[' ? strchr(p, ']') : NULL;
  if (close && !(close - p == 6 && memcmp(p + 1, "guest", 5) == 0)) {
    c->err_line = c->line;
    c->error = fail(-EINVAL, c->err, c->errlen, "%s:%u: unknown section '%.*s'; only [guest] is allowed",
                    c->path, c->line, (int)(close - p + 1), p);
    return NULL;
  }
  memcpy(str, p, len + 1);
  return str;
}

static int conf_handler(void *user, const char *section, const char *name, const char *value) {
  struct conf *c = user;
  int k = key_index(name, strlen(name)), r;

  if (c->error) return 0;
  if (k < 0 || (*section && strcmp(section, "guest") != 0)) {
    c->err_line = c->line;
    c->error = fail(-EINVAL, c->err, c->errlen, "%s:%u: unknown key '%s'; use host, vm_id or data", c->path,
                    c->line, name);
    return 0;
  }
  r = put(c->m, k, value, strlen(value), c->path);
  c->error = r;
  return r >= 0;
}

/* Read the config file, if there is one; *path_store gets the path the
 * sources point to (set even on failure, for the caller to free). */
static int conf_load(struct merge *m, const char *root, const char *config_path, char **path_store, char *err,
                     size_t errlen) {
  struct conf c = { .m = m, .err = err, .errlen = errlen };
  int r;

  if (config_path)
    *path_store = strdup(config_path);
  else if (asprintf(path_store, "%s%s", root, IOV_GUEST_DEFAULT_CONFIG) < 0)
    *path_store = NULL;
  if (!*path_store) return -ENOMEM;
  c.path = *path_store;

  c.f = fopen(c.path, "re");
  if (!c.f) {
    r = -errno;
    if (r == -ENOENT && !config_path) {
      free(*path_store);
      *path_store = NULL;
      return 0;
    }
    if (r == -ENOENT) return fail(r, err, errlen, "Config file '%s' does not exist", c.path);
    return fail(r, err, errlen, "Cannot open config file '%s': %s", c.path, iov_strerror(r));
  }
  r = ini_parse_stream(conf_reader, &c, conf_handler, &c);
  fclose(c.f);
  free(c.line_buf);
  if (r > 0 && (!c.error || (unsigned)r < c.err_line))
    return fail(-EINVAL, err, errlen,
                "%s:%d: cannot parse the line; expected 'key = value', [guest] or a comment", c.path, r);
  return r == -2 && !c.error ? -ENOMEM : c.error;
}

/* product_uuid (trimmed, lower-cased) if it makes a valid name, else the
 * hostname.  Leaves the value unset when neither is available. */
static int vm_id_default(struct merge *m, const char *root) {
  _cleanup_free_ char *path = NULL, *uuid = NULL;
  char host[HOST_NAME_MAX + 1];
  size_t len;

  if (asprintf(&path, "%s/sys/class/dmi/id/product_uuid", root) < 0) return -ENOMEM;
  if (iov_read_file(path, 128, &uuid, &len) == 0) {
    char *s = uuid;
    while (len > 0 && is_blank(s[len - 1])) s[--len] = '\0';
    while (is_blank(*s)) s++, len--;
    for (char *q = s; *q; q++)
      if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
    if (iov_wire_name_ok(s)) return put(m, K_VM_ID, s, len, "default (product_uuid)");
  }
  if (gethostname(host, sizeof(host)) < 0) return 0;
  host[sizeof(host) - 1] = '\0';
  return put(m, K_VM_ID, host, strlen(host), "default (hostname)");
}

int iov_guest_endpoint_normalize(const char *in, char **ret) {
  const char *host, *port = NULL, *colon;
  char h[256], *s;
  uint64_t p = IOV_GUEST_DEFAULT_PORT;
  size_t hlen;
  bool v6 = false;

  if (!in || !*in || strlen(in) > ENDPOINT_MAX) return -EINVAL;
  if (strncmp(in, "tcp://", 6) == 0 || strncmp(in, "ipc://", 6) == 0) {
    if (!in[6]) return -EINVAL;
    if (!(s = strdup(in))) return -ENOMEM;
    *ret = s;
    return 0;
  }
  host = in;
  colon = strchr(in, ':');
  if (in[0] == '[') {
    const char *close = strchr(in, ']');
    if (!close) return -EINVAL;
    host = in + 1;
    hlen = (size_t)(close - host);
    v6 = true;
    if (close[1] == ':')
      port = close + 2;
    else if (close[1])
      return -EINVAL;
  } else if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address; no port possible */
    hlen = strlen(in);
    v6 = true;
  } else {
    hlen = colon ? (size_t)(colon - in) : strlen(in);
    if (colon) port = colon + 1;
  }
  if (hlen == 0 || hlen >= sizeof(h)) return -EINVAL;
  memcpy(h, host, hlen);
  h[hlen] = '\0';
  if (v6) {
    struct in6_addr a;
    if (inet_pton(AF_INET6, h, &a) != 1) return -EINVAL;
  } else if (strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != hlen)
    return -EINVAL;
  if (port && (iov_parse_u64(port, &p) < 0 || p < 1 || p > 65535)) return -EINVAL;
  if (asprintf(&s, v6 ? "tcp://[%s]:%u" : "tcp://%s:%u", h, (unsigned)p) < 0) return -ENOMEM;
  *ret = s;
  return 0;
}

/* Fill in the default vm_id and check every value. */
static int finish(struct merge *m, const char *root, char *err, size_t errlen) {
  int r;

  if (m->val[K_HOST]) {
    char *n = NULL;
    r = iov_guest_endpoint_normalize(m->val[K_HOST], &n);
    if (r == -EINVAL)
      return fail(r, err, errlen,
                  "host '%.80s' (from %s) is not an endpoint; use ADDR, ADDR:PORT, [IPV6], [IPV6]:PORT, "
                  "tcp://... or ipc://PATH (port 1-65535, default %d)",
                  m->val[K_HOST], m->src[K_HOST], IOV_GUEST_DEFAULT_PORT);
    if (r < 0) return r;
    free(m->val[K_HOST]);
    m->val[K_HOST] = n;
  }
  if (!m->val[K_VM_ID]) {
    r = vm_id_default(m, root);
    if (r < 0) return r;
    if (!m->val[K_VM_ID])
      return fail(-EINVAL, err, errlen,
                  "No vm_id: no source sets one and there is no product_uuid or hostname");
  }
  if (!iov_wire_name_ok(m->val[K_VM_ID]))
    return fail(-EINVAL, err, errlen,
                "vm_id '%.80s' (from %s) is not valid: use 1 to %d characters of A-Z a-z 0-9 . _ : -",
                m->val[K_VM_ID], m->src[K_VM_ID], IOV_WIRE_MAX_NAME);
  for (int k = K_HOST_KEY; k <= K_KEY; k++)
    if (m->val[k] && !iov_key_text_ok(m->val[k]))
      return fail(-EINVAL, err, errlen, "%s (from %s) is not a CURVE key: 40 Z85 characters", key_names[k],
                  m->src[k]);
  if (!m->val[K_HOST_KEY] != !m->val[K_KEY])
    return fail(-EINVAL, err, errlen,
                "%s is set (from %s) but not %s: CURVE needs both the host agent's public key (host_key) "
                "and this guest's secret key (key)",
                m->val[K_KEY] ? "key" : "host_key", m->src[m->val[K_KEY] ? K_KEY : K_HOST_KEY],
                m->val[K_KEY] ? "host_key" : "key");
  if (m->val[K_DATA]) {
    struct in6_addr a;
    if (inet_pton(AF_INET, m->val[K_DATA], &a) != 1 && inet_pton(AF_INET6, m->val[K_DATA], &a) != 1)
      return fail(-EINVAL, err, errlen, "data '%.80s' (from %s) is not an IPv4 or IPv6 address",
                  m->val[K_DATA], m->src[K_DATA]);
  }
  return 0;
}

int iov_guest_settings_load(const char *root, const char *config_path,
                            const struct iov_guest_options *options, struct iov_guest_settings *ret,
                            char *err, size_t errlen) {
  _cleanup_(merge_done) struct merge m = { .o = options };
  _cleanup_free_ char *conf = NULL;
  int r;

  if (!root) root = "";
  r = smbios_load(&m, root);
  if (r >= 0) r = cmdline_load(&m, root);
  if (r >= 0) r = conf_load(&m, root, config_path, &conf, err, errlen);
  for (int k = 0; options && r >= 0 && k < _K_MAX; k++) {
    const char *opt[_K_MAX] = { options->host, options->vm_id, options->data, options->host_key,
                                options->key };
    if (opt[k]) r = put(&m, k, opt[k], strlen(opt[k]), "option");
  }
  if (r >= 0) r = finish(&m, root, err, errlen);
  if (r == -ENOMEM) return fail(r, err, errlen, "Out of memory"); /* the only error without a message */
  if (r < 0) return r;

  *ret = (struct iov_guest_settings){
    .host = TAKE_PTR(m.val[K_HOST]),
    .vm_id = TAKE_PTR(m.val[K_VM_ID]),
    .data = TAKE_PTR(m.val[K_DATA]),
    .host_key = TAKE_PTR(m.val[K_HOST_KEY]),
    .key = TAKE_PTR(m.val[K_KEY]),
    .host_src = m.src[K_HOST],
    .vm_id_src = m.src[K_VM_ID],
    .data_src = m.src[K_DATA],
    .config_path = TAKE_PTR(conf),
  };
  return 0;
}

void iov_guest_settings_done(struct iov_guest_settings *s) {
  if (!s) return;
  free(s->host);
  free(s->vm_id);
  free(s->data);
  free(s->host_key);
  if (s->key) explicit_bzero(s->key, strlen(s->key));
  free(s->key);
  free(s->config_path);
  *s = (struct iov_guest_settings){ 0 };
}
