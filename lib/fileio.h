/* Small file helpers shared by the daemons' modules: whole writes,
 * sysfs/procfs attribute writes, small whole-file reads, and the atomic
 * replace (temporary file, fsync, rename, fsync of the directory) of a
 * record that must survive a crash.  All return 0 or -errno; nothing here
 * logs.  Every descriptor is opened O_CLOEXEC. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Write all n bytes of p to fd, retrying after EINTR and short writes. */
int iov_write_all(int fd, const void *p, size_t n);

/* Write text to an existing file in one write(2), as sysfs and procfs
 * attributes want (the kernel takes one value per write): no O_CREAT, the
 * file is truncated (a no-op on sysfs, needed on the scratch trees of
 * tests).  -EIO on a short write; a store refused at close is returned
 * too. */
int iov_write_attr(const char *path, const char *text);

/* Create or truncate path with mode (before umask) and write text. */
int iov_write_file(const char *path, const char *text, mode_t mode);

/* Replace path with text atomically: a temporary file
 * DIR/<tmp_prefix>NAME.XXXXXX beside it (NAME: path's last component),
 * fsync, rename over path, fsync of DIR.  The temporary file is removed
 * when a step fails; one left by a crash starts with tmp_prefix. */
int iov_write_file_atomic(const char *path, const char *tmp_prefix, const char *text);

/* fsync a directory (after a rename or unlink in it). */
int iov_fsync_dir(const char *dir);

/* Create dir and its missing parents with mode; existing ones are fine. */
int iov_mkdir_p(const char *dir, mode_t mode);

/* Read at most max bytes of a file into a new NUL-terminated buffer
 * (caller frees *ret; the file may hold NUL bytes, *ret_len counts them;
 * ret_len may be NULL).  -EFBIG when the file is larger than max. */
int iov_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
