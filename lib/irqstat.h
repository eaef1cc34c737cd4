/* Interrupts per NIC queue from /proc/interrupts, read at every sample
 * interval.
 *
 * A reader holds the open file and a list of match patterns.  Each read
 * goes into a snapshot, which owns a reusable text buffer: the file is
 * read whole into it (up to IOV_IRQSTAT_MAX_FILE) and parsed in place, so
 * names in a snapshot point into its own buffer.  Snapshots grow to fit
 * and never shrink; after the first reads nothing is allocated.  Two
 * snapshots used in turn give interrupt rates:
 *
 *   iov_irqstat_open(NULL, (const char *[]){"ens1f0", "ens1f0v0"}, 2, &s);
 *   a = iov_irqstat_snap_new(); b = iov_irqstat_snap_new();
 *   iov_irqstat_read(s, a);  ... one interval ...  iov_irqstat_read(s, b);
 *   n = iov_irqstat_delta(a, b, rates, cap);      then swap a and b
 *
 * Which lines are selected.  A line of /proc/interrupts looks like
 *   " 41:   123456  0 ...  IR-PCI-MSI 31457281-edge      ens1f0-TxRx-0"
 * that is: the IRQ, one count per online CPU, the chip and hwirq, and the
 * action names (several for a shared IRQ, joined by ", ").  The action
 * list is the text after the last run of two spaces; the kernel always
 * puts two spaces before it.  A line is selected when its IRQ is a number
 * (NMI, LOC and the other arch lines never are) and one of its action
 * names matches a pattern.
 *
 * A pattern matches an action name when it occurs in it as a whole word,
 * words being separated by '-', '@' and ':'.  A pattern that itself
 * begins (ends) with a separator needs no boundary on that side.  So a
 * netdev name selects both the "NAME-..." queue names of most drivers and
 * the "DRIVER-NAME-..." names of others, and a PCI address selects the
 * "NAME@pci:ADDR" names of mlx5 and the "DRIVER-ADDR:misc" names:
 *   "ens1f0"           ens1f0, ens1f0-TxRx-3, i40e-ens1f0-TxRx-0
 *                      (not ens1f0v0-TxRx-0, iavf-ens1f0v0-TxRx-0, ens1f1)
 *   "ens1f0v0"         iavf-ens1f0v0-TxRx-0
 *   "0000:af:00.0"     mlx5_comp3@pci:0000:af:00.0, iavf-0000:af:00.0:mbx
 *   "@pci:0000:af:00.0" mlx5_comp3@pci:0000:af:00.0 only
 *   "virtio2"          virtio2-input.0, virtio2-output.0, virtio2-config
 * A virtio-net device names its interrupts after the virtio device, not
 * the netdev: the caller maps eth0 to virtio2 (/sys/class/net/eth0/device)
 * and passes "virtio2".  Pass whole PCI addresses: ':' separates words, so
 * "03:00.0" would also match.
 *
 * Counters.  The kernel keeps each per-CPU count in 32 bits.  Deltas are
 * therefore taken per CPU: a count that went down wrapped past 2^32 if
 * that makes the difference at most 2^31, and otherwise was reset (the
 * IRQ was freed and requested again), in which case the new count is the
 * difference.  CPU columns are matched by CPU number, so a CPU that went
 * offline between two reads simply drops out of the delta.
 *
 * Threading: a reader and a snapshot are not thread-safe; use one reader
 * per thread.  iov_irqstat_delta() only reads its snapshots. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* More CPU columns than this, or a CPU number at or above it: -E2BIG. */
#define IOV_IRQSTAT_MAX_CPUS 4096
/* A larger /proc/interrupts fails with -EFBIG. */
#define IOV_IRQSTAT_MAX_FILE (16u << 20)
/* Limits on the patterns given to iov_irqstat_open(). */
#define IOV_IRQSTAT_MAX_PATTERNS 256
#define IOV_IRQSTAT_MAX_PATTERN_LEN 255

/* One selected line. */
struct iov_irqstat_queue {
  unsigned irq;
  const char *name;        /* the action name that matched */
  uint64_t total;          /* sum of per_cpu[] */
  const uint64_t *per_cpu; /* one count per column, see view.cpus */
};

/* What a snapshot holds; every pointer is valid until the next read into
 * the snapshot or its free. */
struct iov_irqstat_view {
  uint64_t time_ns; /* CLOCK_MONOTONIC when the file had been read */
  size_t n_cpus;
  const unsigned *cpus; /* the CPU number of each column, ascending */
  size_t n_queues;
  const struct iov_irqstat_queue *queues; /* in file order */
  /* Lines dropped as malformed: a selected line with a missing or
   * non-numeric count or an IRQ number above UINT_MAX, a line without
   * ':', and a last line without its newline (a truncated file).  Lines
   * that no pattern selects are not otherwise checked. */
  size_t n_skipped;
};

/* Interrupts of one queue between two snapshots. */
struct iov_irqstat_rate {
  unsigned irq;
  const char *name; /* points into the later snapshot */
  uint64_t count;   /* on the CPUs present in both snapshots */
  double per_sec;   /* count over the time between the reads; 0 if none */
};

struct iov_irqstat;
struct iov_irqstat_snap;

/* Open <proc_root>/interrupts (proc_root NULL means "/proc"; tests pass a
 * directory under tests/fixtures/proc/) and copy the patterns.
 * Caller owns *ret; free with iov_irqstat_free().
 * Returns 0, or -EINVAL (no patterns, or an empty one, one with blanks or
 * ',' or only separators), -E2BIG (more than IOV_IRQSTAT_MAX_PATTERNS, or
 * one longer than IOV_IRQSTAT_MAX_PATTERN_LEN), -ENAMETOOLONG, -ENOMEM, or
 * an open(2) error. */
int iov_irqstat_open(const char *proc_root, const char *const *patterns, size_t n_patterns,
                     struct iov_irqstat **ret);

/* Close and free; accepts NULL and returns NULL. */
struct iov_irqstat *iov_irqstat_free(struct iov_irqstat *s);

/* An empty snapshot; NULL only on OOM.  Free with iov_irqstat_snap_free(),
 * which accepts NULL and returns NULL. */
struct iov_irqstat_snap *iov_irqstat_snap_new(void);
struct iov_irqstat_snap *iov_irqstat_snap_free(struct iov_irqstat_snap *snap);

/* Read the file into snap and select the matching lines.
 * Returns the number of selected lines, or
 *   -EBADMSG  no header line of "CPUn" columns (or no newline after it),
 *             CPU numbers not ascending, or a NUL byte in the file;
 *   -E2BIG    more than IOV_IRQSTAT_MAX_CPUS columns or a CPU number at or
 *             above it;
 *   -EFBIG    the file exceeds IOV_IRQSTAT_MAX_FILE;
 *   -ENOMEM, or a read(2) error.
 * Malformed lines are skipped and counted, not errors (see n_skipped).
 * On error the snapshot is empty and iov_irqstat_delta() refuses it. */
int iov_irqstat_read(struct iov_irqstat *s, struct iov_irqstat_snap *snap);

/* The contents of a snapshot; never NULL.  An empty snapshot has zero
 * counts and NULL arrays. */
const struct iov_irqstat_view *iov_irqstat_snap_view(const struct iov_irqstat_snap *snap);

/* Interrupts between two snapshots: one entry per queue of cur that prev
 * also has (same IRQ and same name), in the order of cur.  A queue that
 * appeared in between is left out; so is an IRQ that changed its name.
 * Returns the number of entries, or -ENOBUFS when n_ret is smaller than
 * cur's number of queues, or -EINVAL when a snapshot holds no successful
 * read or cur was read before prev. */
int iov_irqstat_delta(const struct iov_irqstat_snap *prev, const struct iov_irqstat_snap *cur,
                      struct iov_irqstat_rate *ret, size_t n_ret);
