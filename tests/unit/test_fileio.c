/* Unit tests for lib/fileio.c (the shared file helpers) and lib/iproute.c
 * (the one runner for ip(8)), the latter against a fake "ip" put first in
 * PATH: a script that says what it was given, fails, or hangs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "iproute.h"

struct tmp {
  char dir[64];
  char *old_path;
};

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[PATH_MAX];
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_tree(p);
    else
      unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

/* The fake ip: "fail" makes it print to stderr and exit 1, "hang" sleeps,
 * anything else is echoed (and a batch file's text, after -batch). */
static const char fake_ip[] =
    "#!/bin/sh\n"
    "case \"$*\" in\n"
    "  *fail*) echo \"RTNETLINK answers: File exists\" >&2; echo second >&2; exit 1;;\n"
    "  *hang*) exec sleep 30;;\n"
    "esac\n"
    "echo \"ip $*\"\n"
    "while [ $# -gt 0 ]; do [ \"$1\" = -batch ] && cat \"$2\"; shift; done\n"
    "exit 0\n";

static int setup(void **state) {
  struct tmp *t = calloc(1, sizeof(*t));
  char p[PATH_MAX], *path;
  if (!t) return -1;
  snprintf(t->dir, sizeof(t->dir), "/tmp/iov-test-fileio-XXXXXX");
  if (!mkdtemp(t->dir)) return -1;
  snprintf(p, sizeof(p), "%s/ip", t->dir);
  if (iov_write_file(p, fake_ip, 0755) < 0) return -1;
  path = getenv("PATH");
  t->old_path = strdup(path ? path : "/usr/bin:/bin");
  if (asprintf(&path, "%s:%s", t->dir, t->old_path) < 0) return -1;
  setenv("PATH", path, 1);
  free(path);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  struct tmp *t = *state;
  setenv("PATH", t->old_path, 1);
  free(t->old_path);
  rm_tree(t->dir);
  free(t);
  return 0;
}

static char *slurp(const char *path) {
  char *text = NULL;
  assert_int_equal(iov_read_file(path, 65536, &text, NULL), 0);
  return text;
}

static void test_files(void **state) {
  struct tmp *t = *state;
  char p[320], q[256], *text;
  size_t len = 0;
  struct stat st;

  /* Created with the mode asked for, replaced whole. */
  snprintf(p, sizeof(p), "%s/a", t->dir);
  assert_int_equal(iov_write_file(p, "hello\n", 0600), 0);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(iov_write_file(p, "hi\n", 0600), 0);
  text = slurp(p);
  assert_string_equal(text, "hi\n");
  free(text);

  /* An attribute: one write into an existing file, truncated first. */
  assert_int_equal(iov_write_attr(p, "12\n"), 0);
  text = slurp(p);
  assert_string_equal(text, "12\n");
  free(text);
  assert_int_equal(iov_write_attr(p, "0\n"), 0);
  text = slurp(p);
  assert_string_equal(text, "0\n");
  free(text);
  snprintf(q, sizeof(q), "%s/missing", t->dir);
  assert_int_equal(iov_write_attr(q, "1"), -ENOENT); /* never created */

  /* Reads: bounded, NULs counted. */
  int fd = open(p, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(iov_write_all(fd, "a\0b", 3), 0);
  close(fd);
  assert_int_equal(iov_read_file(p, 3, &text, &len), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(text, "a\0b", 4);
  free(text);
  assert_int_equal(iov_read_file(p, 2, &text, &len), -EFBIG);
  assert_int_equal(iov_read_file(q, 2, &text, &len), -ENOENT);

  /* Directories, and the atomic replace: no temporary file left. */
  snprintf(q, sizeof(q), "%s/x/y/z", t->dir);
  assert_int_equal(iov_mkdir_p(q, 0700), 0);
  assert_int_equal(iov_mkdir_p(q, 0700), 0);
  assert_int_equal(stat(q, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  snprintf(p, sizeof(p), "%s/rec.state", q);
  assert_int_equal(iov_write_file_atomic(p, ".tmp-", "v=1\n"), 0);
  assert_int_equal(iov_write_file_atomic(p, ".tmp-", "v=2\n"), 0);
  text = slurp(p);
  assert_string_equal(text, "v=2\n");
  free(text);
  DIR *d = opendir(q);
  struct dirent *e;
  unsigned n = 0;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' || strncmp(e->d_name, ".tmp-", 5) == 0) n++;
  closedir(d);
  assert_int_equal(n, 1);
  assert_int_equal(iov_fsync_dir(q), 0);
}

static void test_ip(void **state) {
  struct tmp *t = *state;
  char err[256], p[256], logp[256], *log;

  /* Success: err untouched, argv as given (no shell), options first. */
  strcpy(err, "untouched");
  assert_int_equal(IOV_IP(NULL, err, sizeof(err), "link", "set", "a b;c", "up"), 0);
  assert_string_equal(err, "untouched");

  /* A failure: the command and ip's first line. */
  assert_int_equal(IOV_IP(&(struct iov_ip_opts){ .netns = "ns1" }, err, sizeof(err), "netns", "add", "fail"),
                   -EIO);
  assert_string_equal(err, "'ip -n ns1 netns add fail' failed: RTNETLINK answers: File exists");
  assert_int_equal(IOV_IP(NULL, NULL, 0, "fail"), -EIO); /* err may be NULL */

  /* Out of time: killed. */
  assert_int_equal(IOV_IP(&(struct iov_ip_opts){ .timeout_ms = 200 }, err, sizeof(err), "hang"), -ETIMEDOUT);
  assert_non_null(strstr(err, "'ip hang' did not finish in time"));

  /* The log gets the command line, a batch's text and ip's output. */
  snprintf(logp, sizeof(logp), "%s/ip.log", t->dir);
  int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd > 0);
  snprintf(p, sizeof(p), "%s/cmds.batch", t->dir);
  assert_int_equal(iov_ip_batch(&(struct iov_ip_opts){ .force = true, .log_fd = fd }, p, "netns add x\n", err,
                                sizeof(err)),
                   0);
  struct iov_ip_proc a, b;
  assert_int_equal(iov_ip_batch_start(&(struct iov_ip_opts){ .netns = "n2", .log_fd = fd }, p,
                                      "link set lo up\n", &a, err, sizeof(err)),
                   0);
  char p2[320];
  snprintf(p2, sizeof(p2), "%s/other.batch", t->dir); /* each running batch its own file */
  assert_int_equal(iov_ip_batch_start(NULL, p2, "fail\n", &b, err, sizeof(err)), 0);
  assert_int_equal(iov_ip_wait(&a, err, sizeof(err)), 0);
  assert_int_equal(iov_ip_wait(&a, err, sizeof(err)), 0); /* released: nothing to do */
  assert_int_equal(iov_ip_wait(&b, err, sizeof(err)), 0); /* the script fails on its args, not the file */
  close(fd);
  log = slurp(logp);
  char want[2048];
  snprintf(want, sizeof(want),
           "+ ip -force -batch %s\nnetns add x\nip -force -batch %s\nnetns add x\n"
           "+ ip -n n2 -batch %s\nlink set lo up\nip -n n2 -batch %s\nlink set lo up\n",
           p, p, p, p);
  assert_string_equal(log, want);
  free(log);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_files, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ip, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
