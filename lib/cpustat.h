/* CPU time per core from /proc/stat, read at every sample interval.
 *
 * The reader keeps /proc/stat open and reads it into a reusable buffer;
 * after the first read it allocates nothing unless the file grows.  The
 * kernel counts in USER_HZ ticks (sysconf(_SC_CLK_TCK)); values here are
 * converted to nanoseconds.
 *
 * Typical use, once per interval with two arrays used in turn:
 *
 *   iov_cpustat_open(NULL, &s);
 *   n = iov_cpustat_count(s);               size both arrays, with slack
 *   r = iov_cpustat_read(s, cur, cap);      r entries, or -ENOBUFS when a
 *                                           core came online: grow to
 *                                           iov_cpustat_count(s), re-read
 *   r = iov_cpustat_delta(prev, n_prev, cur, n_cur, load, cap);
 *
 * Threading: a reader is not thread-safe; use one per thread.  Snapshots
 * and iov_cpustat_delta() are plain data and need no locking. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Hard limits on what a /proc/stat may contain.  A file with more "cpuN"
 * lines, or a core number at or above this, is refused with -E2BIG. */
#define IOV_CPUSTAT_MAX_CPUS 4096
/* The cpu lines are at most this large; beyond it the read fails -EFBIG. */
#define IOV_CPUSTAT_MAX_FILE (16u << 20)

/* One line of /proc/stat in nanoseconds.  On Linux, guest time is already
 * counted in user_ns and guest_nice time in nice_ns; guest_ns and
 * guest_nice_ns are shown separately but are not extra time, so never add
 * them to the others.
 *
 * The values are modulo 2^64: the aggregate line of a 4096-core machine
 * passes 2^64 ns after about 52 days, so compare snapshots only through
 * iov_cpustat_delta(), which handles the wrap. */
struct iov_cpustat_core {
  int cpu; /* -1 for the aggregate "cpu" line, N for "cpuN" */
  uint64_t user_ns;
  uint64_t nice_ns;
  uint64_t system_ns;
  uint64_t idle_ns;
  uint64_t iowait_ns;
  uint64_t irq_ns;
  uint64_t softirq_ns;
  uint64_t steal_ns;
  uint64_t guest_ns;      /* part of user_ns */
  uint64_t guest_nice_ns; /* part of nice_ns */
};

/* CPU time spent between two snapshots, for one core or for all. */
struct iov_cpustat_load {
  int cpu;            /* -1 for the aggregate */
  uint64_t busy_ns;   /* user + nice + system + irq + softirq + steal */
  uint64_t idle_ns;   /* idle + iowait */
  uint64_t iowait_ns; /* the part of idle_ns spent waiting for I/O */
  uint64_t steal_ns;  /* the part of busy_ns taken by the hypervisor */
};

struct iov_cpustat;

/* Open <proc_root>/stat (proc_root NULL means "/proc"; tests pass a
 * directory under tests/fixtures/proc/) and read it once, so that a
 * missing or malformed file fails here and iov_cpustat_count() is known.
 * Caller owns *ret; free with iov_cpustat_free().
 * Returns 0, or -ENOMEM, -ENAMETOOLONG, an open(2) error, or any error of
 * iov_cpustat_read(). */
int iov_cpustat_open(const char *proc_root, struct iov_cpustat **ret);

/* Take a snapshot: read the file again and fill cores[0..r-1] with the
 * aggregate line first, then one entry per online core in ascending core
 * order, as /proc/stat lists them.  Offline cores have no line, so the
 * count can change between reads.
 *
 * Returns the number of entries r >= 1, or
 *   -ENOBUFS   n_cores is too small; iov_cpustat_count() tells how many
 *              entries are needed;
 *   -EBADMSG   the cpu lines are malformed: a non-numeric or missing value
 *              (at least user, nice, system and idle are required; later
 *              fields missing on old kernels read as 0, extra fields from
 *              newer kernels are ignored), no aggregate line first, core
 *              numbers not ascending, a cpu line without its newline
 *              (a truncated file), or a NUL byte;
 *   -E2BIG     more than IOV_CPUSTAT_MAX_CPUS cores or a core number at or
 *              above it;
 *   -EFBIG     the cpu lines exceed IOV_CPUSTAT_MAX_FILE;
 *   -ENOMEM, or a read(2) error.
 * On error the contents of cores[] are unspecified.  Lines after the cpu
 * block are not read past the first buffer-full and never parsed. */
int iov_cpustat_read(struct iov_cpustat *s, struct iov_cpustat_core *cores, size_t n_cores);

/* The number of entries (aggregate included) that the last read found,
 * or needed when it failed with -ENOBUFS. */
size_t iov_cpustat_count(const struct iov_cpustat *s);

/* CPU time between two snapshots taken by iov_cpustat_read().  Fills
 * ret[0] with the aggregate and then one entry per core present in both
 * snapshots, in ascending core order; a core that went offline or came
 * online in between is left out.
 *
 * The aggregate is the sum of those per-core entries, not the difference
 * of the two aggregate lines: the kernel sums only online cores into the
 * aggregate line, so it drops when a core goes offline.  Only when the
 * snapshots share no core is the aggregate line used.
 *
 * Each field difference is taken modulo 2^64, and a difference above
 * 2^63 counts as 0: the kernel's iowait may go backwards (proc(5)), and
 * so may a counter of a core that was replaced.
 *
 * Returns the number of entries written, or -ENOBUFS when n_ret is
 * smaller than n_cur, or -EINVAL when either snapshot is empty, does not
 * start with the aggregate, or is not in ascending core order. */
int iov_cpustat_delta(const struct iov_cpustat_core *prev, size_t n_prev, const struct iov_cpustat_core *cur,
                      size_t n_cur, struct iov_cpustat_load *ret, size_t n_ret);

/* Close and free; accepts NULL and returns NULL. */
struct iov_cpustat *iov_cpustat_free(struct iov_cpustat *s);
