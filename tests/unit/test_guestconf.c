/* Unit tests for lib/guestconf.c: the guest agent's settings, resolved
 * from a scratch root (mkdtemp under /tmp) holding sys/firmware/dmi,
 * sys/class/dmi/id/product_uuid, proc/cmdline and etc/iovbench/guest.conf.
 * SMBIOS OEM string entries are written byte by byte as the SMBIOS spec
 * lays them out.  Warnings go to the warn callback, which the tests that
 * expect one print to stderr as the guest agent logs them, capture into
 * a file and look for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestconf.h"
#include "macro.h"

struct root {
  char dir[64];
  int saved_stderr;
};

static int setup(void **state) {
  struct root *t = calloc(1, sizeof(*t));
  if (!t) return -1;
  snprintf(t->dir, sizeof(t->dir), "/tmp/iov-guestconf-XXXXXX");
  if (!mkdtemp(t->dir)) return -1;
  t->saved_stderr = -1;
  *state = t;
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int teardown(void **state) {
  struct root *t = *state;
  int r = nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(t);
  return r;
}

/* Write ROOT/rel (creating its directories) with len bytes of data. */
static void put_file(struct root *t, const char *rel, const void *data, size_t len) {
  char path[PATH_MAX];
  int fd;

  snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
  for (char *p = path + strlen(t->dir) + 1; (p = strchr(p, '/')); p++) {
    *p = '\0';
    assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
    *p = '/';
  }
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static void put_text(struct root *t, const char *rel, const char *text) {
  put_file(t, rel, text, strlen(text));
}

/* A well-formed type-11 entry: 5-byte formatted area, then the strings. */
static void put_oem(struct root *t, const char *entry, const char *const *strings, size_t n) {
  uint8_t b[1024] = { 11, 5, 0x2a, 0x00, (uint8_t)n };
  size_t len = 5;
  char rel[128];

  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(strings[i]) + 1;
    assert_true(len + l < sizeof(b));
    memcpy(b + len, strings[i], l);
    len += l;
  }
  b[len++] = 0; /* the extra NUL that ends the string-set */
  snprintf(rel, sizeof(rel), "sys/firmware/dmi/entries/%s/raw", entry);
  put_file(t, rel, b, len);
}

static const char *config_path(struct root *t, char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", t->dir, name);
  return buf;
}

static void capture_stderr(struct root *t) {
  char path[PATH_MAX];
  int fd;

  fflush(stderr);
  t->saved_stderr = dup(STDERR_FILENO);
  assert_true(t->saved_stderr >= 0);
  fd = open(config_path(t, path, sizeof(path), "stderr.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
  close(fd);
}

/* Restore stderr; returns what was logged (caller frees) and echoes it. */
static char *captured(struct root *t) {
  char path[PATH_MAX], *buf = calloc(1, 16384);
  FILE *f;

  assert_non_null(buf);
  assert_true(dup2(t->saved_stderr, STDERR_FILENO) == STDERR_FILENO);
  close(t->saved_stderr);
  t->saved_stderr = -1;
  f = fopen(config_path(t, path, sizeof(path), "stderr.log"), "re");
  assert_non_null(f);
  size_t n = fread(buf, 1, 16383, f);
  buf[n] = '\0';
  fclose(f);
  fputs(buf, stderr);
  return buf;
}

/* What the guest agent does with skipped entries: a warning line on
 * stderr. */
static void warn_to_stderr(void *userdata, const char *line) {
  (void)userdata;
  fprintf(stderr, "%s\n", line);
}
static const struct iov_guest_options log_opts = { .warn = warn_to_stderr };

static int load(struct root *t, const char *conf, const struct iov_guest_options *o,
                struct iov_guest_settings *s, char *err, size_t errlen) {
  memset(s, 0, sizeof(*s));
  err[0] = '\0';
  return iov_guest_settings_load(t->dir, conf, o, s, err, errlen);
}

#define assert_setting(s, key, value, src)      \
  do {                                          \
    assert_non_null((s)->key);                  \
    assert_string_equal((s)->key, (value));     \
    assert_non_null((s)->key##_src);            \
    assert_string_equal((s)->key##_src, (src)); \
  } while (0)

#define assert_contains(hay, needle)                                            \
  do {                                                                          \
    if (!strstr((hay), (needle))) fail_msg("'%s' lacks '%s'", (hay), (needle)); \
  } while (0)

/* Each source overrides the ones below it, key by key. */
static void test_precedence(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512], conf[PATH_MAX];
  const char *oem[] = { "iovbench.host=10.0.2.2", "iovbench.vm_id=vm-smbios", "iovbench.data=10.0.0.1" };

  /* 1. SMBIOS alone. */
  put_oem(t, "11-0", oem, ELEMENTSOF(oem));
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, host, "tcp://10.0.2.2:7701", "smbios");
  assert_setting(&s, vm_id, "vm-smbios", "smbios");
  assert_setting(&s, data, "10.0.0.1", "smbios");
  assert_null(s.config_path);
  iov_guest_settings_done(&s);
  assert_null(s.host);

  /* 2. The command line overrides vm_id and data. */
  put_text(t, "proc/cmdline", "root=/dev/vda1 iovbench.vm_id=vm-cmdline iovbench.data=10.0.0.2 quiet\n");
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, host, "tcp://10.0.2.2:7701", "smbios");
  assert_setting(&s, vm_id, "vm-cmdline", "cmdline");
  assert_setting(&s, data, "10.0.0.2", "cmdline");
  iov_guest_settings_done(&s);

  /* 3. The default config file (under the root) overrides data, at top
   * level, and vm_id, in [guest]. */
  put_text(t, "etc/iovbench/guest.conf", "# guest agent\ndata = 10.0.0.3\n\n[guest]\nvm_id = vm-conf\n");
  config_path(t, conf, sizeof(conf), "etc/iovbench/guest.conf");
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, host, "tcp://10.0.2.2:7701", "smbios");
  assert_setting(&s, vm_id, "vm-conf", conf);
  assert_setting(&s, data, "10.0.0.3", conf);
  assert_string_equal(s.config_path, conf);
  iov_guest_settings_done(&s);

  /* 4. Options override everything. */
  struct iov_guest_options o = { .host = "[fd00::1]:9000", .vm_id = "vm-option" };
  assert_int_equal(load(t, NULL, &o, &s, err, sizeof(err)), 0);
  assert_setting(&s, host, "tcp://[fd00::1]:9000", "option");
  assert_setting(&s, vm_id, "vm-option", "option");
  assert_setting(&s, data, "10.0.0.3", conf);
  iov_guest_settings_done(&s);

  /* An explicit config path replaces the default one. */
  put_text(t, "other.conf", "[guest]\nhost = ipc:///run/iov.sock\n");
  config_path(t, conf, sizeof(conf), "other.conf");
  assert_int_equal(load(t, conf, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, host, "ipc:///run/iov.sock", conf);
  assert_setting(&s, vm_id, "vm-cmdline", "cmdline");
  assert_setting(&s, data, "10.0.0.2", "cmdline");
  iov_guest_settings_done(&s);
}

/* Values are checked after merging: a bad value that a later source
 * replaces is no error. */
static void test_bad_value_overridden(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512];
  const char *oem[] = { "iovbench.vm_id=not a name", "iovbench.host=bad://x" };
  struct iov_guest_options o = { .vm_id = "good", .host = "h" };

  put_oem(t, "11-0", oem, ELEMENTSOF(oem));
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "(from smbios)");
  assert_int_equal(load(t, NULL, &o, &s, err, sizeof(err)), 0);
  assert_setting(&s, vm_id, "good", "option");
  assert_setting(&s, host, "tcp://h:7701", "option");
  assert_null(s.data);
  assert_null(s.data_src);
  iov_guest_settings_done(&s);
}

/* The first entry, written out byte by byte. */
static const char oem_first[] = "\x0b" /* byte 0: structure type 11, OEM strings */
                                "\x05" /* byte 1: formatted area length: bytes 0-4 */
                                "\x00" /* byte 2: handle, low byte */
                                "\x0b" /* byte 3: handle, high byte (handle 0x0b00) */
                                "\x04" /* byte 4: four strings follow */
                                /* the string-set, from offset 5 (the length byte) */
                                "iovbench.host=10.0.2.2\0" /* string 1 */
                                "Vendor: ACME VM 1.0\0"    /* string 2, not ours */
                                "iovbench.vm_id=first\0"   /* string 3 */
                                "iovbench.future=1\0"      /* string 4, an unknown key */
                                "\0";                      /* the empty string ending the set */
/* The second: a 7-byte formatted area, so the strings start at offset 7. */
static const char oem_second[] = "\x0b"
                                 "\x07"     /* byte 1: formatted area length 7 */
                                 "\x01\x0b" /* bytes 2-3: handle 0x0b01 */
                                 "\x02"     /* byte 4: two strings */
                                 "\xff\xff" /* bytes 5-6: more formatted area, skipped */
                                 "iovbench.vm_id=second\0"
                                 "iovbench.data=192.0.2.1\0"
                                 "\0";
/* Truncated inside the formatted area: 3 of its 5 bytes. */
static const char oem_truncated[] = "\x0b\x05\x02";
/* Strings that never end: no NUL at all after the formatted area. */
static const char oem_unterminated[] = "\x0b\x05\x03\x0b\x01"
                                       "iovbench.vm_id=unterminated";
/* The last string is terminated but the set lacks its final NUL. */
static const char oem_no_set_end[] = "\x0b\x05\x04\x0b\x01"
                                     "iovbench.vm_id=no-set-end\0";
/* A formatted area length below the 5 bytes every type-11 entry has. */
static const char oem_short_header[] = "\x0b\x04\x05\x0b\x01"
                                       "iovbench.vm_id=short-header\0\0";
/* Not type 11 although it sits in an 11-* directory. */
static const char oem_wrong_type[] = "\x0c\x05\x06\x0b\x01"
                                     "iovbench.vm_id=wrong-type\0\0";

static void put_blob(struct root *t, const char *entry, const char *blob, size_t len) {
  char rel[128];
  snprintf(rel, sizeof(rel), "sys/firmware/dmi/entries/%s/raw", entry);
  put_file(t, rel, blob, len);
}
#define PUT_BLOB(t, entry, blob) \
  put_blob(t, entry, blob, sizeof(blob) - 1) /* without the literal's own NUL */

static void test_smbios(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512], *log;
  const char *data2[] = { "iovbench.data=192.0.2.2" }, *data10[] = { "iovbench.data=192.0.2.10" };
  const char *type12[] = { "iovbench.host=not-from-type-12" };

  PUT_BLOB(t, "11-0", oem_first);
  PUT_BLOB(t, "11-1", oem_second);
  put_oem(t, "11-2", data2, 1);
  PUT_BLOB(t, "11-3", oem_truncated);
  PUT_BLOB(t, "11-4", oem_unterminated);
  PUT_BLOB(t, "11-5", oem_no_set_end);
  PUT_BLOB(t, "11-6", oem_short_header);
  PUT_BLOB(t, "11-7", oem_wrong_type);
  put_blob(t, "11-8", "", 0);
  put_oem(t, "11-10", data10, 1); /* after 11-2 in numeric order, before it in ASCII */
  put_oem(t, "12-0", type12, 1);  /* other structure types are not read */

  capture_stderr(t);
  int r = load(t, NULL, &log_opts, &s, err, sizeof(err));
  log = captured(t);
  assert_int_equal(r, 0);
  assert_setting(&s, host, "tcp://10.0.2.2:7701", "smbios");
  assert_setting(&s, vm_id, "second", "smbios");
  assert_setting(&s, data, "192.0.2.10", "smbios");
  iov_guest_settings_done(&s);

  assert_contains(log, "iovbench.future=1");
  assert_contains(log, "11-3/raw': truncated");
  assert_contains(log, "11-4/raw': string-set not terminated");
  assert_contains(log, "11-5/raw': string-set not terminated");
  assert_contains(log, "11-6/raw': formatted area of 4 bytes");
  assert_contains(log, "11-7/raw': type 12");
  assert_contains(log, "11-8/raw': truncated (0 bytes)");
  assert_null(strstr(log, "Vendor"));
  free(log);
}

static void test_cmdline(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512], *log;

  put_text(
      t, "proc/cmdline",
      "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro iovbench.host=[fd00::2]:7800  iovbench.vm_id=guest-7\t"
      "iovbench.color=blue iovbench.data=\"198.18.0.9\" iovbench.vm_id iovbench.vm_idx=y console=ttyS0\n");
  capture_stderr(t);
  int r = load(t, NULL, &log_opts, &s, err, sizeof(err));
  log = captured(t);
  assert_int_equal(r, 0);
  assert_setting(&s, host, "tcp://[fd00::2]:7800", "cmdline");
  assert_setting(&s, vm_id, "guest-7", "cmdline");
  assert_setting(&s, data, "198.18.0.9", "cmdline");
  iov_guest_settings_done(&s);
  assert_contains(log, "'iovbench.color=blue' from cmdline");
  assert_contains(log, "'iovbench.vm_id' from cmdline");
  assert_contains(log, "'iovbench.vm_idx=y' from cmdline");
  assert_null(strstr(log, "BOOT_IMAGE"));
  free(log);

  /* Quotes group blanks and are removed, as in the kernel. */
  put_text(t, "proc/cmdline", "\"iovbench.host=h:1\" iovbench.vm_id=\"q-1\"");
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, host, "tcp://h:1", "cmdline");
  assert_setting(&s, vm_id, "q-1", "cmdline");
  iov_guest_settings_done(&s);
}

/* CURVE settings: both keys or neither, each a Z85 key. */
static void test_keys(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512];
  const char *hk = "=w(0L02F$D!]1NjIAr21Eib+e5u6+Hs.NQ9E*u:l",
             *k = "7Az.FV/%--A^j=.^zwcR8dxK1-83DJLpAPH{:wY1";

  char line[256];
  snprintf(line, sizeof(line), "iovbench.host=h iovbench.host_key=%s iovbench.key=%s\n", hk, k);
  put_text(t, "proc/cmdline", line);
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_string_equal(s.host_key, hk);
  assert_string_equal(s.key, k);
  iov_guest_settings_done(&s);
  assert_null(s.key);

  /* One without the other: said which, and where it came from. */
  snprintf(line, sizeof(line), "iovbench.host=h iovbench.host_key=%s\n", hk);
  put_text(t, "proc/cmdline", line);
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "host_key is set (from cmdline) but not key");

  /* Not a key. */
  put_text(t, "proc/cmdline", "iovbench.host=h iovbench.host_key=short iovbench.key=short\n");
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "host_key (from cmdline) is not a CURVE key");

  /* The options give them too (the secret from --key-file). */
  put_text(t, "proc/cmdline", "iovbench.host=h\n");
  struct iov_guest_options o = { .host_key = hk, .key = k };
  assert_int_equal(load(t, NULL, &o, &s, err, sizeof(err)), 0);
  assert_string_equal(s.host_key, hk);
  iov_guest_settings_done(&s);
}

static void expect_conf_error(struct root *t, const char *text, int error, const char *const *needles) {
  struct iov_guest_settings s;
  char err[512], conf[PATH_MAX];

  put_text(t, "test.conf", text);
  config_path(t, conf, sizeof(conf), "test.conf");
  assert_int_equal(load(t, conf, NULL, &s, err, sizeof(err)), error);
  assert_null(s.vm_id);
  for (; *needles; needles++) {
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), *needles, conf);
    assert_contains(err, want);
  }
}

static void test_config_errors(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512], conf[PATH_MAX], line[300];

  expect_conf_error(t, "# comment\n[guest]\nhots = x\n", -EINVAL,
                    (const char *const[]){ "%s:3: unknown key 'hots'", NULL });
  expect_conf_error(t, "host = a\n\n[other]\n", -EINVAL,
                    (const char *const[]){ "%s:3: unknown section '[other]'", NULL });
  expect_conf_error(t, "vm_id = a\n[guest]\nhost = b\n[guests]\nvm_id = c\n", -EINVAL,
                    (const char *const[]){ "%s:4: unknown section '[guests]'", NULL });
  expect_conf_error(t, "host = a\nthis is no key\n", -EINVAL,
                    (const char *const[]){ "%s:2: cannot parse", NULL });
  /* A syntax error comes first even though a later key is unknown. */
  expect_conf_error(t, "host = a\nnonsense\nbad = 1\n", -EINVAL,
                    (const char *const[]){ "%s:2: cannot parse", NULL });
  memset(line, 'a', sizeof(line) - 1);
  line[sizeof(line) - 1] = '\0';
  memcpy(line, "host=", 5);
  expect_conf_error(t, line, -E2BIG, (const char *const[]){ "%s:1: line longer than", NULL });
  /* Values from the file are named by the file. */
  expect_conf_error(t, "[guest]\ndata = 300.1.2.3\n", -EINVAL,
                    (const char *const[]){ "data '300.1.2.3' (from %s)", NULL });

  /* An explicit path that does not exist is an error... */
  config_path(t, conf, sizeof(conf), "missing.conf");
  assert_int_equal(load(t, conf, NULL, &s, err, sizeof(err)), -ENOENT);
  assert_contains(err, conf);
  assert_contains(err, "does not exist");
  /* ...but a missing default one is not. */
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_null(s.config_path);
  iov_guest_settings_done(&s);
}

static void test_vm_id_default(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512], host[HOST_NAME_MAX + 1] = "";

  assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, vm_id, host, "default (hostname)");
  assert_null(s.host);
  assert_null(s.host_src);
  iov_guest_settings_done(&s);

  put_text(t, "sys/class/dmi/id/product_uuid", " 4C4C4544-0042-3510-8051-B7C04F4E3732\n");
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, vm_id, "4c4c4544-0042-3510-8051-b7c04f4e3732", "default (product_uuid)");
  iov_guest_settings_done(&s);

  /* Firmware that fills in no usable UUID: the hostname again. */
  put_text(t, "sys/class/dmi/id/product_uuid", "Not Settable\n");
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), 0);
  assert_setting(&s, vm_id, host, "default (hostname)");
  iov_guest_settings_done(&s);
}

static void test_invalid_vm_id(void **state) {
  struct root *t = *state;
  struct iov_guest_settings s;
  char err[512], conf[PATH_MAX], long_id[80];
  const char *oem[] = { "iovbench.vm_id=slash/no" };

  put_oem(t, "11-0", oem, 1);
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "vm_id 'slash/no' (from smbios) is not valid");
  assert_contains(err, "1 to 64 characters of A-Z a-z 0-9 . _ : -");
  assert_null(s.vm_id);

  put_text(t, "proc/cmdline", "iovbench.vm_id=\"a b\"\n");
  assert_int_equal(load(t, NULL, NULL, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "vm_id 'a b' (from cmdline)");

  put_text(t, "g.conf", "vm_id = caf\xc3\xa9\n");
  config_path(t, conf, sizeof(conf), "g.conf");
  assert_int_equal(load(t, conf, NULL, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "(from ");
  assert_contains(err, conf);

  memset(long_id, 'x', 65);
  long_id[65] = '\0';
  struct iov_guest_options o = { .vm_id = long_id };
  assert_int_equal(load(t, conf, &o, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "(from option)");
  long_id[64] = '\0'; /* 64 is still fine */
  assert_int_equal(load(t, conf, &o, &s, err, sizeof(err)), 0);
  assert_int_equal(strlen(s.vm_id), 64);
  iov_guest_settings_done(&s);

  o = (struct iov_guest_options){ .vm_id = "ok", .host = "h:70000" };
  assert_int_equal(load(t, conf, &o, &s, err, sizeof(err)), -EINVAL);
  assert_contains(err, "host 'h:70000' (from option) is not an endpoint");
}

static void test_endpoint_normalize(void **state) {
  static const struct {
    const char *in, *out; /* out NULL: -EINVAL */
  } cases[] = {
    { "10.0.2.2", "tcp://10.0.2.2:7701" },
    { "10.0.2.2:7800", "tcp://10.0.2.2:7800" },
    { "host-a.example", "tcp://host-a.example:7701" },
    { "host_a:1", "tcp://host_a:1" },
    { "h:65535", "tcp://h:65535" },
    { "[fd00::2]", "tcp://[fd00::2]:7701" },
    { "[fd00::2]:9", "tcp://[fd00::2]:9" },
    { "[::1]:7701", "tcp://[::1]:7701" },
    { "fd00::2", "tcp://[fd00::2]:7701" },
    { "tcp://10.0.2.2:7701", "tcp://10.0.2.2:7701" },
    { "tcp://*:1", "tcp://*:1" },
    { "ipc:///run/iovbench/guest.sock", "ipc:///run/iovbench/guest.sock" },
    { "", NULL },
    { "tcp://", NULL },
    { "ipc://", NULL },
    { "udp://h:1", NULL },
    { "h:", NULL },
    { "h:0", NULL },
    { "h:65536", NULL },
    { "h:-1", NULL },
    { "h:12x", NULL },
    { ":7701", NULL },
    { "a b", NULL },
    { "[fd00::2", NULL },
    { "[fd00::2]x", NULL },
    { "[fd00::2]:", NULL },
    { "[10.0.0.1]", NULL },
    { "[]:1", NULL },
    { "fd00::zz", NULL },
  };
  (void)state;

  for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
    char *out = (char *)"untouched";
    int r = iov_guest_endpoint_normalize(cases[i].in, &out);
    if (cases[i].out) {
      if (r != 0 || strcmp(out, cases[i].out) != 0)
        fail_msg("'%s': r=%d out='%s', expected '%s'", cases[i].in, r, r == 0 ? out : "", cases[i].out);
      free(out);
    } else {
      if (r != -EINVAL) fail_msg("'%s': r=%d, expected -EINVAL", cases[i].in, r);
      assert_string_equal(out, "untouched");
    }
  }
  assert_int_equal(iov_guest_endpoint_normalize(NULL, &(char *){ NULL }), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_value_overridden, setup, teardown),
    cmocka_unit_test_setup_teardown(test_smbios, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cmdline, setup, teardown),
    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_vm_id_default, setup, teardown),
    cmocka_unit_test_setup_teardown(test_invalid_vm_id, setup, teardown),
    cmocka_unit_test(test_endpoint_normalize),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
