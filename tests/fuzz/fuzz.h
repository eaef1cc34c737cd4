/* Shared by the fuzz harnesses (tests/fuzz/fuzz_<target>.c): silencing
 * the logger, finding the source tree, and cutting one input into the
 * records a harness feeds its target one after another.
 *
 * Every harness defines LLVMFuzzerTestOneInput() and, when it needs set-up
 * done once, LLVMFuzzerInitialize().  Linked with -fsanitize=fuzzer it is
 * a libFuzzer binary; linked with replay_main.c it is a plain program that
 * runs each file named on its command line once (ctest replays the
 * corpus that way). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Fuzzers are silent: a hostile input is expected to be logged and
 * dropped, and a log line per input would drown the fuzzer's own output.
 * IOV_FUZZ_LOG=1 brings the log back for debugging one input. */
static inline bool iov_fuzz_verbose(void) {
  const char *v = getenv("IOV_FUZZ_LOG");
  return v && strcmp(v, "1") == 0;
}

static inline void iov_fuzz_quiet(void) {
  if (!iov_fuzz_verbose()) iov_log_set_level(0);
}

/* What the target made of the input, with IOV_FUZZ_LOG=1. */
#define iov_fuzz_note(...)                                         \
  do {                                                             \
    if (iov_fuzz_verbose()) fprintf(stderr, "fuzz: " __VA_ARGS__); \
  } while (0)

/* The source tree, for fixtures: $IOV_SRCDIR, else the tree the harness
 * was built from. */
static inline const char *iov_fuzz_srcdir(void) {
  const char *s = getenv("IOV_SRCDIR");
#ifdef IOV_FUZZ_SRCDIR
  if (!s || !*s) s = IOV_FUZZ_SRCDIR;
#endif
  return s && *s ? s : ".";
}

/* A finding: say what invariant broke, then crash so that libFuzzer (or
 * ctest) reports the input. */
#define IOV_FUZZ_CHECK(cond, ...)                                              \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz invariant failed at %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* snprintf for paths: a path that does not fit is a broken set-up. */
_printf_(3, 4) static inline void iov_fuzz_path(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  int k;
  va_start(ap, fmt);
  k = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= n) {
    fprintf(stderr, "fuzz: path too long: %s\n", buf);
    abort();
  }
}

/* Records: [tag byte][length, 2 bytes little-endian][length bytes], one
 * after another.  A record cut short by the end of the input gets what
 * is left.  Returns false when the input is used up. */
struct iov_fuzz_reader {
  const uint8_t *p;
  size_t left;
};

static inline bool iov_fuzz_next(struct iov_fuzz_reader *rd, uint8_t *ret_tag, const uint8_t **ret_data,
                                 size_t *ret_len) {
  size_t n;
  if (rd->left == 0) return false;
  *ret_tag = rd->p[0];
  rd->p++;
  rd->left--;
  if (rd->left < 2) {
    /* A lone length byte: an empty record, and the end. */
    rd->left = 0;
    *ret_data = rd->p;
    *ret_len = 0;
    return true;
  }
  n = (size_t)rd->p[0] | (size_t)rd->p[1] << 8;
  rd->p += 2;
  rd->left -= 2;
  if (n > rd->left) n = rd->left;
  *ret_data = rd->p;
  *ret_len = n;
  rd->p += n;
  rd->left -= n;
  return true;
}

/* ---- scratch trees (sysfs fixtures) -------------------------------- */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy a fixture tree: directories, regular files and symlinks (kept as
 * they are: the fixtures' links are relative and stay inside the copy).
 * Returns 0 or -errno. */
static inline int iov_fuzz_copy_tree(const char *src, const char *dst) {
  DIR *d;
  struct dirent *e;
  int r = 0;

  if (mkdir(dst, 0755) < 0 && errno != EEXIST) return -errno;
  d = opendir(src);
  if (!d) return -errno;
  while (r == 0 && (e = readdir(d))) {
    char s[PATH_MAX], t[PATH_MAX];
    struct stat st;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    /* A path that does not fit is an error, not a copy of some other,
     * truncated path. */
    int ns = snprintf(s, sizeof(s), "%s/%s", src, e->d_name);
    int nt = snprintf(t, sizeof(t), "%s/%s", dst, e->d_name);
    if (ns < 0 || (size_t)ns >= sizeof(s) || nt < 0 || (size_t)nt >= sizeof(t)) {
      r = -ENAMETOOLONG;
    } else if (lstat(s, &st) < 0) {
      r = -errno;
    } else if (S_ISDIR(st.st_mode)) {
      r = iov_fuzz_copy_tree(s, t);
    } else if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlink(s, target, sizeof(target) - 1);
      if (n < 0) {
        r = -errno;
      } else {
        target[n] = 0;
        if (symlink(target, t) < 0) r = -errno;
      }
    } else if (S_ISREG(st.st_mode)) {
      char buf[65536];
      int in = open(s, O_RDONLY | O_CLOEXEC), out = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      ssize_t n;
      if (in < 0 || out < 0) r = -errno;
      while (r == 0 && (n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) r = -EIO;
      if (in >= 0) close(in);
      if (out >= 0) close(out);
    }
  }
  closedir(d);
  return r;
}

static inline int iov_fuzz_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* rm -rf, not following links. */
static inline void iov_fuzz_remove_tree(const char *path) {
  (void)nftw(path, iov_fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write a whole file (created 0644, truncated).  Returns 0 or -errno. */
static inline int iov_fuzz_write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  size_t done = 0;
  if (fd < 0) return -errno;
  while (done < len) {
    ssize_t n = write(fd, (const char *)data + done, len - done);
    if (n <= 0) {
      close(fd);
      return -EIO;
    }
    done += (size_t)n;
  }
  return close(fd) < 0 ? -errno : 0;
}

/* A scratch directory under $TMPDIR (or /tmp), into ret (PATH_MAX). */
static inline int iov_fuzz_scratch_dir(const char *what, char *ret) {
  const char *tmp = getenv("TMPDIR");
  snprintf(ret, PATH_MAX, "%s/iov-fuzz-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", what);
  return mkdtemp(ret) ? 0 : -errno;
}
