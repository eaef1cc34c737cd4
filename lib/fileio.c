/* See fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

int iov_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    if (w == 0) return -EIO;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int iov_write_attr(const char *path, const char *text) {
  size_t len = strlen(text);
  ssize_t w;
  int r = 0;
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  do w = write(fd, text, len);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    r = -errno;
  else if ((size_t)w != len)
    r = -EIO;
  if (close(fd) < 0 && r == 0 && errno != EINTR) r = -errno;
  return r;
}

int iov_write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
  if (fd < 0) return -errno;
  int r = iov_write_all(fd, text, strlen(text));
  if (close(fd) < 0 && r == 0) r = -errno;
  return r;
}

int iov_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = 0;

  if (fd < 0) return -errno;
  if (fsync(fd) < 0) r = -errno;
  close(fd);
  return r;
}

int iov_write_file_atomic(const char *path, const char *tmp_prefix, const char *text) {
  char dir[PATH_MAX], tmp[PATH_MAX];
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  int fd, r, k;

  if (!*name) return -EINVAL;
  k = slash ? snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) : snprintf(dir, sizeof(dir), ".");
  if (k < 0 || (size_t)k >= sizeof(dir)) return -ENAMETOOLONG;
  if (!dir[0]) snprintf(dir, sizeof(dir), "/");
  k = snprintf(tmp, sizeof(tmp), "%s/%s%s.XXXXXX", dir, tmp_prefix ? tmp_prefix : ".", name);
  if (k < 0 || (size_t)k >= sizeof(tmp)) return -ENAMETOOLONG;
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) return -errno;
  r = iov_write_all(fd, text, strlen(text));
  if (r == 0 && fsync(fd) < 0) r = -errno;
  if (close(fd) < 0 && r == 0) r = -errno;
  if (r == 0 && rename(tmp, path) < 0) r = -errno;
  if (r < 0) {
    (void)unlink(tmp);
    return r;
  }
  return iov_fsync_dir(dir);
}

int iov_mkdir_p(const char *dir, mode_t mode) {
  char p[PATH_MAX];
  size_t n = strlen(dir);

  if (n == 0 || n >= sizeof(p)) return -ENAMETOOLONG;
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    p[i] = 0;
    if (mkdir(p, mode) < 0 && errno != EEXIST) return -errno;
    p[i] = i < n ? '/' : 0;
  }
  return 0;
}

int iov_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
  _cleanup_free_ char *buf = malloc(max + 1);
  FILE *f;
  size_t len;
  int r;

  if (!buf) return -ENOMEM;
  f = fopen(path, "re");
  if (!f) return -errno;
  len = fread(buf, 1, max + 1, f);
  r = ferror(f) ? -(errno ? errno : EIO) : len > max ? -EFBIG : 0;
  fclose(f);
  if (r < 0) return r;
  buf[len] = '\0';
  *ret = TAKE_PTR(buf);
  if (ret_len) *ret_len = len;
  return 0;
}
