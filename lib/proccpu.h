/* Host CPU per VM: what the hypervisor spends on the host for one VM.
 *
 * Guest-side CPU alone hides the cost that separates SR-IOV from virtio:
 * with virtio, packets are moved by vhost workers and qemu threads on the
 * host, outside the guest's view.  This module reads, for one qemu
 * process, the CPU time of every thread and sorts it into classes:
 *
 *   vcpu      qemu's vCPU threads, "CPU N/KVM", "CPU N/TCG" (and the one
 *             "ALL CPUs/TCG" thread of single-threaded TCG); under KVM
 *             their time includes the guest's own running;
 *   main      the main loop: the thread whose TID is the PID, whatever it
 *             is called ("qemu-system-x86", or the name -name process= set);
 *   iothread  "IO <id>": -object iothread and the monitor's "IO mon_iothread";
 *   worker    every other qemu thread: the thread pool's "worker",
 *             "call_rcu", "vnc_worker", migration threads...;
 *   vhost     vhost workers, "vhost-<pid>";
 *   kvm       KVM's own workers, "kvm-nx-lpage-re(covery)", "kvm-pit/<pid>".
 *
 * Where the kernel's workers live.  Since Linux 6.4, vhost workers are
 * tasks of the qemu process itself (vhost_task) and appear in its task
 * list, as does KVM's "kvm-nx-lpage-recovery" on recent kernels (seen on
 * 6.18).  Before 6.4, and on newer kernels set to fork vhost workers from
 * kthreadd again (the vhost "fork from owner" switch of 2025), vhost
 * workers are kernel threads of their own, children of kthreadd, named
 * "vhost-<pid>" after the thread that claimed the device; the in-kernel
 * PIT's worker is such a kernel thread too, "kvm-pit/<pid>".  Those outside the process are
 * found by scanning <proc>/<n>/comm for "vhost-N" or "kvm-pit/N" where N is
 * the PID or one of its TIDs, and are marked external.  The scan reads
 * one small file per process on the host, so it runs only when asked
 * (IOV_PROCCPU_SCAN; the first read always scans): an agent scans again
 * when a NIC is added or every few seconds, not at every sample.  The
 * names are not checked further: a user process named "vhost-<qemu pid>"
 * would be counted too.
 *
 * Names need -name debug-threads=on.  qemu names its threads only with
 * that option (libvirt always passes it).  Without it every qemu thread
 * is called like the process, so no vCPU thread is found, accel is
 * IOV_ACCEL_UNKNOWN and all of qemu's time, the guest's running included,
 * lands in the worker class.  iov_proccpu_vm_summary() and
 * iov_proccpu_demand() say so (host_complete).  Even with the option, a
 * thread qemu starts before it parses the command line (call_rcu, in some
 * runs) keeps the process's name; it is a worker, which is right.
 *
 * Units: the kernel reports thread CPU in clock ticks (sysconf(_SC_CLK_TCK),
 * 100 Hz: 10 ms), converted here to nanoseconds.  user and system are
 * rounded down separately, so a thread's user+system may read up to two
 * ticks below its exact CPU time (CLOCK_THREAD_CPUTIME_ID), and a
 * difference between two reads is good to two ticks either way.  Under
 * KVM, the time a vCPU thread spends running the guest is in its user
 * time and also, separately, in guest (guest_time); on hosts that do not
 * account it (this project's PVM test host), guest reads 0.
 *
 * Typical use, once per sample interval for each VM:
 *
 *   iov_proccpu_open(NULL, qemu_pid, &p);
 *   iov_proccpu_snap_init(&a); iov_proccpu_snap_init(&b);
 *   iov_proccpu_read(p, 0, &a);  iov_proccpu_kvm_read(NULL, pid, &a, &ka);
 *   ... one interval ...
 *   iov_proccpu_read(p, 0, &b);  iov_proccpu_kvm_read(NULL, pid, &b, &kb);
 *   iov_proccpu_delta(&a, &b, &usage, NULL, 0);
 *   iov_proccpu_kvm_delta(&ka, &kb, &kd);
 *   iov_proccpu_vm_summary(&usage, &kd, &vm);      then swap a and b
 *
 * Threading: a reader is not thread-safe; use one per thread.  Snapshots
 * and the other functions are plain data and need no locking. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cpustat.h"

/* A process with more tasks than this is refused with -E2BIG. */
#define IOV_PROCCPU_MAX_THREADS 65536
/* At most this many kernel threads outside the process are followed;
 * more are ignored. */
#define IOV_PROCCPU_MAX_EXTERNAL 1024
/* Thread names: 15 bytes for user threads (TASK_COMM_LEN), up to 63 for
 * kernel threads on recent kernels.  A longer one is malformed. */
#define IOV_PROCCPU_COMM_MAX 64

enum iov_thread_class {
  IOV_THREAD_VCPU,
  IOV_THREAD_MAIN,
  IOV_THREAD_IOTHREAD,
  IOV_THREAD_WORKER,
  IOV_THREAD_VHOST,
  IOV_THREAD_KVM,
  _IOV_THREAD_CLASS_MAX,
  _IOV_THREAD_CLASS_INVALID = -EINVAL,
};

/* The accelerator named by the vCPU threads ("CPU 0/KVM"). */
enum iov_accel {
  IOV_ACCEL_UNKNOWN, /* no vCPU thread found: see "Names" above */
  IOV_ACCEL_KVM,
  IOV_ACCEL_TCG,
  IOV_ACCEL_OTHER, /* HVF, WHPX, NVMM..., or vCPU threads that disagree */
  _IOV_ACCEL_MAX,
  _IOV_ACCEL_INVALID = -EINVAL,
};

/* "vcpu", "main", "iothread", "worker", "vhost", "kvm"; NULL when out of
 * range.  _from_string returns _IOV_THREAD_CLASS_INVALID for other text. */
const char *iov_thread_class_to_string(enum iov_thread_class c);
enum iov_thread_class iov_thread_class_from_string(const char *s);
/* "unknown", "kvm", "tcg", "other". */
const char *iov_accel_to_string(enum iov_accel a);
enum iov_accel iov_accel_from_string(const char *s);

/* Classify a task of the qemu process PID by its name.  external says the
 * task is a kernel thread outside the process: then only "vhost-N" and
 * "kvm-pit/N" with any N are recognized, and anything else is
 * _IOV_THREAD_CLASS_INVALID.  *ret_vcpu (may be NULL) gets N of
 * "CPU N/...", or -1; *ret_accel (may be NULL) the accelerator of a vCPU
 * thread, or IOV_ACCEL_UNKNOWN. */
enum iov_thread_class iov_proccpu_classify(const char *comm, pid_t tid, pid_t pid, bool external,
                                           int *ret_vcpu, enum iov_accel *ret_accel);

/* One thread in a snapshot.  In the per-thread output of
 * iov_proccpu_delta() the _ns fields are differences instead. */
struct iov_proccpu_thread {
  pid_t tid;
  enum iov_thread_class cls;
  int vcpu;             /* N of "CPU N/...", -1 otherwise */
  bool external;        /* a kernel thread outside the process */
  uint64_t start_ticks; /* start after boot, in ticks: tells a reused TID */
  uint64_t user_ns;     /* includes guest_ns */
  uint64_t system_ns;
  uint64_t guest_ns; /* the part of user_ns spent running a KVM guest */
  char comm[IOV_PROCCPU_COMM_MAX];
};

/* A snapshot: embed it, iov_proccpu_snap_init() it, fill it with
 * iov_proccpu_read() as often as needed (it grows to fit and never
 * shrinks), and release it with iov_proccpu_snap_done(). */
struct iov_proccpu_snap {
  uint64_t time_ns; /* CLOCK_MONOTONIC when the read ended */
  pid_t pid;
  uint64_t start_ticks; /* the process's start: tells a reused PID */
  /* The whole process from <proc>/PID/stat: every task it has had,
   * exited ones included, external kernel threads not. */
  uint64_t user_ns;
  uint64_t system_ns;
  uint64_t guest_ns;
  enum iov_accel accel;
  unsigned n_vcpus; /* vCPU threads */
  size_t n_threads;
  struct iov_proccpu_thread *threads; /* ascending TID; externals included */
  size_t n_malformed;                 /* tasks whose stat could not be parsed: left out */
  size_t n_vanished;                  /* tasks that exited while being read: left out */
  size_t cap_;                        /* private */
};

void iov_proccpu_snap_init(struct iov_proccpu_snap *s);
void iov_proccpu_snap_done(struct iov_proccpu_snap *s);

struct iov_proccpu;

/* Open a reader for process PID under proc_root (NULL means "/proc";
 * tests pass tests/fixtures/proc/<case>/).  Nothing is read yet.
 * Caller owns *ret; free with iov_proccpu_free().
 * Returns 0, -EINVAL (pid <= 0), -ENOMEM, -ENAMETOOLONG, -EOPNOTSUPP (no
 * clock tick rate). */
int iov_proccpu_open(const char *proc_root, pid_t pid, struct iov_proccpu **ret);

/* Flags of iov_proccpu_read(). */
#define IOV_PROCCPU_SCAN 1u /* look for external kernel threads again */

/* Take a snapshot of the process: <proc>/PID/stat, every
 * <proc>/PID/task/TID/stat, and the external kernel threads found by the
 * last scan (a scan runs on the first read and with IOV_PROCCPU_SCAN).
 * Tasks that exit while being read are left out (n_vanished), so are
 * tasks whose stat is malformed (n_malformed): truncated, without its
 * final newline, comm not in parentheses or longer than
 * IOV_PROCCPU_COMM_MAX - 1, a TID that is not its directory's, a field
 * before starttime missing or not a number.  comm is taken between the
 * first '(' and the last ')', so names with spaces and parentheses are
 * read whole; guest_time, missing on kernels before 2.6.24, reads as 0.
 *
 * Returns the number of threads, or
 *   -ESRCH    the process does not exist (or is gone);
 *   -EBADMSG  <proc>/PID/stat is malformed;
 *   -E2BIG    more than IOV_PROCCPU_MAX_THREADS tasks;
 *   -ENOMEM, -ENAMETOOLONG, or an open(2)/read(2) error.
 * On error *s keeps its allocation and its contents are unspecified. */
int iov_proccpu_read(struct iov_proccpu *p, unsigned flags, struct iov_proccpu_snap *s);

/* Close and free; accepts NULL and returns NULL. */
struct iov_proccpu *iov_proccpu_free(struct iov_proccpu *p);

/* CPU time per class over one interval. */
struct iov_proccpu_class_usage {
  uint64_t user_ns; /* includes guest_ns */
  uint64_t system_ns;
  uint64_t guest_ns;
  unsigned n_threads; /* in the later snapshot */
};

struct iov_proccpu_usage {
  uint64_t interval_ns; /* between the two reads; 0 if they are reversed */
  enum iov_accel accel; /* of the later snapshot */
  unsigned n_vcpus;
  struct iov_proccpu_class_usage cls[_IOV_THREAD_CLASS_MAX];
  /* Tasks of the process that exited during the interval are missing
   * from the later snapshot, and so is the CPU they used after the earlier
   * one.  That CPU is estimated as what the process total grew by beyond
   * the sum of its threads, and is 0 when no task exited.  The estimate
   * is good to about one tick per thread. */
  uint64_t exited_ns;
  unsigned n_exited;
  uint64_t total_ns; /* user + system of every class, plus exited_ns */
};

/* CPU time between two snapshots of the same process.  A thread is
 * matched by TID and start time; one found only in cur (new, or its TID
 * reused) counts with all its time, which was all spent after prev.
 * Differences are modulo 2^64 and one that looks negative counts as 0.
 * ret_threads (may be NULL) gets one entry per thread of cur, in cur's
 * order, with the _ns fields as differences.
 * Returns cur->n_threads, or -EINVAL (a NULL argument), -ESTALE (the
 * snapshots are of different processes, or the PID was reused), -ENOBUFS
 * (ret_threads is not NULL and n_threads < cur->n_threads; *ret is still
 * filled). */
int iov_proccpu_delta(const struct iov_proccpu_snap *prev, const struct iov_proccpu_snap *cur,
                      struct iov_proccpu_usage *ret, struct iov_proccpu_thread *ret_threads,
                      size_t n_threads);

/* KVM's counters for a VM, from <debugfs>/kvm/<pid>-<fd>/<name>: each
 * per-VM file holds the sum over the VM's vCPUs. */
enum iov_kvm_stat {
  IOV_KVM_EXITS,
  IOV_KVM_HALT_EXITS,
  IOV_KVM_IO_EXITS,
  IOV_KVM_MMIO_EXITS,
  IOV_KVM_IRQ_EXITS,
  IOV_KVM_SIGNAL_EXITS,
  IOV_KVM_IRQ_WINDOW_EXITS,
  IOV_KVM_NMI_WINDOW_EXITS,
  IOV_KVM_REQUEST_IRQ_EXITS,
  IOV_KVM_IRQ_INJECTIONS,
  IOV_KVM_HALT_WAKEUP,
  IOV_KVM_INSN_EMULATION,
  IOV_KVM_HYPERCALLS,
  _IOV_KVM_STAT_MAX,
  _IOV_KVM_STAT_INVALID = -EINVAL,
};

/* The debugfs file name: "exits", "halt_exits", "io_exits"... */
const char *iov_kvm_stat_to_string(enum iov_kvm_stat s);
enum iov_kvm_stat iov_kvm_stat_from_string(const char *s);

struct iov_kvm_exits {
  uint32_t known; /* bit (1u << stat) per counter read; 0: all unknown */
  unsigned n_vms; /* per-VM directories summed */
  uint64_t v[_IOV_KVM_STAT_MAX];
};

/* Read the KVM counters of the VMs that process PID created.  debugfs_root
 * NULL means "/sys/kernel/debug".  KVM names a VM's directory after the
 * thread that created it and the VM's fd; threads (may be NULL) widens
 * the match from PID to every TID in that snapshot.  Several directories
 * are summed, and a counter is known only if every one had it.
 *
 * Missing data is not an error: no debugfs, no kvm directory, no
 * directory for this process, or counters that cannot be read (debugfs
 * refuses reads under lockdown; the PVM host of these tests says EPERM)
 * make the counters unknown.  A file that does not hold one decimal
 * number is unknown too.
 * Returns 1 when at least one counter is known, 0 when none is (then
 * known and every v[] are 0, and n_vms tells whether a directory was
 * found), or -EINVAL (also when threads is not of PID), -ENAMETOOLONG. */
int iov_proccpu_kvm_read(const char *debugfs_root, pid_t pid, const struct iov_proccpu_snap *threads,
                         struct iov_kvm_exits *ret);

/* cur - prev for the counters known in both (modulo 2^64; a step back
 * counts as 0, as when the VM was re-created).  n_vms is cur's.
 * Returns 1 when some counter is known, 0 when none, -EINVAL. */
int iov_proccpu_kvm_delta(const struct iov_kvm_exits *prev, const struct iov_kvm_exits *cur,
                          struct iov_kvm_exits *ret);

/* The host's interrupt time between two /proc/stat snapshots taken by
 * iov_cpustat_read(): irq and softirq, summed over the cores present in
 * both, or only over cpus[0..n_cpus-1] when cpus is not NULL (the cores a
 * NIC's interrupts go to, say).  When the snapshots share no core (only
 * the aggregate lines), the aggregate lines are used and cpus must be
 * NULL.  Same difference rule as iov_cpustat_delta().
 * Returns 0, or -EINVAL when a snapshot is empty or not in the order
 * iov_cpustat_read() gives. */
int iov_proccpu_host_irq(const struct iov_cpustat_core *prev, size_t n_prev,
                         const struct iov_cpustat_core *cur, size_t n_cur, const uint16_t *cpus,
                         size_t n_cpus, uint64_t *ret_irq_ns, uint64_t *ret_softirq_ns);

/* What one VM cost the host over one interval. */
struct iov_vm_cpu {
  uint64_t interval_ns;
  enum iov_accel accel;
  unsigned n_vcpus;
  uint64_t vcpu_ns;       /* vCPU threads, user + system */
  uint64_t vcpu_guest_ns; /* the part of vcpu_ns KVM counted as guest mode */
  /* True when vcpu_ns - vcpu_guest_ns is the host's own work on the vCPU
   * threads (exit handling, device emulation): KVM with guest time
   * accounted (vcpu_guest_ns > 0).  Under TCG, or where guest time is not
   * accounted, the vCPU threads' time cannot be split and is all taken as
   * the guest's. */
  bool vcpu_split;
  uint64_t io_ns;             /* qemu's other threads: main, iothreads, workers, and exited_ns */
  uint64_t vhost_ns;          /* vhost workers, in the process or not */
  uint64_t kvm_ns;            /* KVM's own workers */
  uint64_t total_ns;          /* vcpu + io + vhost + kvm */
  struct iov_kvm_exits exits; /* known == 0: unknown */
};

/* Fold a usage (and KVM counter differences; NULL for unknown) into a
 * per-VM summary.  Returns 0 or -EINVAL. */
int iov_proccpu_vm_summary(const struct iov_proccpu_usage *u, const struct iov_kvm_exits *exits,
                           struct iov_vm_cpu *ret);

/* Service demand of one VM over one interval: CPU per unit of work, as
 * netperf's service demand, split into the guest's and the host's part. */
struct iov_demand {
  uint64_t guest_ns; /* the guest's busy time, as given */
  /* The host CPU the VM caused: io + vhost + kvm, the vCPU threads' host
   * part when vcpu_split, and the host interrupt time charged to it. */
  uint64_t host_ns;
  uint64_t total_ns;
  /* False when qemu's threads were not named (accel unknown): host_ns
   * then includes the guest's running. */
  bool host_complete;
  /* Per KiB (1024 bytes) and per transaction; NAN when there were no
   * bytes or no transactions. */
  double guest_ns_per_kib, host_ns_per_kib, total_ns_per_kib;
  double guest_ns_per_tx, host_ns_per_tx, total_ns_per_tx;
};

/* guest_busy_ns is the guest's CPU busy time over the same interval (the
 * guest agent's cpustat, summed over its vCPUs); host_irq_ns the share of
 * the host's irq and softirq time the caller charges to this VM (all of it
 * for one VM; iov_proccpu_host_irq() measures it); bytes and transactions
 * what the VM moved.  Returns 0 or -EINVAL. */
int iov_proccpu_demand(const struct iov_vm_cpu *vm, uint64_t guest_busy_ns, uint64_t host_irq_ns,
                       uint64_t bytes, uint64_t transactions, struct iov_demand *ret);
