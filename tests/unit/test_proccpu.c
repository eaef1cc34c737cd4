/* Unit tests for lib/proccpu.c: a real child process whose threads are
 * named like qemu's and burn known CPU time, recorded qemu 10.0.2 task
 * trees (KVM, TCG, unnamed threads), a hand-made host with vhost kernel
 * threads and a hand-made KVM debugfs tree, damaged stat files, host
 * interrupt time from the cpustat fixtures, and the per-VM arithmetic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpustat.h"
#include "macro.h"
#include "proccpu.h"

#define KVM_CASE "qemu-10.0.2-kvm-smp2"
#define KVM_PID 10008
#define TCG_CASE "qemu-10.0.2-tcg-smp2"
#define TCG_PID 10388
#define UNNAMED_CASE "qemu-10.0.2-kvm-unnamed"
#define UNNAMED_PID 10746
#define HAND_CASE "handmade-5.15-kvm-vhost-kthreads"
#define HAND_PID 4242

static char fixture_root[PATH_MAX];

/* The source root: $IOV_SRCDIR (ctest sets it), else from __FILE__. */
static void find_fixtures(void) {
  const char *src = getenv("IOV_SRCDIR");

  if (src && *src) {
    snprintf(fixture_root, sizeof(fixture_root), "%s/tests/fixtures/proc", src);
  } else {
    const char *f = __FILE__, *t = strstr(f, "tests/unit/");
    int len = t ? (int)(t - f) : 0;
    snprintf(fixture_root, sizeof(fixture_root), "%.*stests/fixtures/proc", len, f);
  }
}

static const char *case_dir(char *buf, size_t n, const char *name, const char *sub) {
  int r = snprintf(buf, n, "%s/%s%s%s", fixture_root, name, sub ? "/" : "", sub ? sub : "");
  assert_true(r > 0 && (size_t)r < n);
  return buf;
}

static uint64_t tick_ns(uint64_t ticks) {
  uint64_t hz = (uint64_t)sysconf(_SC_CLK_TCK);
  return (ticks / hz) * IOV_NSEC_PER_SEC + (ticks % hz) * IOV_NSEC_PER_SEC / hz;
}

/* Read a fixture case (sub NULL or "next") into s; returns the count. */
static int read_case(const char *name, const char *sub, pid_t pid, struct iov_proccpu_snap *s) {
  char dir[PATH_MAX];
  struct iov_proccpu *p = NULL;
  int r;

  assert_int_equal(iov_proccpu_open(case_dir(dir, sizeof(dir), name, sub), pid, &p), 0);
  r = iov_proccpu_read(p, 0, s);
  iov_proccpu_free(p);
  return r;
}

static const struct iov_proccpu_thread *find(const struct iov_proccpu_snap *s, pid_t tid) {
  for (size_t i = 0; i < s->n_threads; i++)
    if (s->threads[i].tid == tid) return &s->threads[i];
  return NULL;
}

static uint64_t cpu_of(const struct iov_proccpu_thread *t) { return t->user_ns + t->system_ns; }

static uint64_t class_ns(const struct iov_proccpu_usage *u, enum iov_thread_class c) {
  return u->cls[c].user_ns + u->cls[c].system_ns;
}

/* Check one thread's class, name and ticks. */
static void check_thread(const struct iov_proccpu_snap *s, pid_t tid, enum iov_thread_class cls, int vcpu,
                         bool external, const char *comm, uint64_t ut, uint64_t st, uint64_t guest) {
  const struct iov_proccpu_thread *t = find(s, tid);

  if (!t) fail_msg("thread %d missing", (int)tid);
  assert_int_equal(t->cls, cls);
  assert_int_equal(t->vcpu, vcpu);
  assert_int_equal(t->external, external);
  assert_string_equal(t->comm, comm);
  assert_int_equal(t->user_ns, tick_ns(ut));
  assert_int_equal(t->system_ns, tick_ns(st));
  assert_int_equal(t->guest_ns, tick_ns(guest));
}

/* ---- Names ---- */

static void test_enum_strings(void **state) {
  (void)state;
  for (int i = 0; i < _IOV_THREAD_CLASS_MAX; i++)
    assert_int_equal(iov_thread_class_from_string(iov_thread_class_to_string(i)), i);
  for (int i = 0; i < _IOV_ACCEL_MAX; i++) assert_int_equal(iov_accel_from_string(iov_accel_to_string(i)), i);
  for (int i = 0; i < _IOV_KVM_STAT_MAX; i++)
    assert_int_equal(iov_kvm_stat_from_string(iov_kvm_stat_to_string(i)), i);
  assert_string_equal(iov_kvm_stat_to_string(IOV_KVM_MMIO_EXITS), "mmio_exits");
  assert_string_equal(iov_thread_class_to_string(IOV_THREAD_VHOST), "vhost");
  assert_null(iov_thread_class_to_string(_IOV_THREAD_CLASS_MAX));
  assert_null(iov_accel_to_string(_IOV_ACCEL_INVALID));
  assert_null(iov_kvm_stat_to_string(-1));
  assert_int_equal(iov_thread_class_from_string("VCPU"), _IOV_THREAD_CLASS_INVALID);
  assert_int_equal(iov_accel_from_string(NULL), _IOV_ACCEL_INVALID);
  assert_int_equal(iov_kvm_stat_from_string("exits "), _IOV_KVM_STAT_INVALID);
}

struct name_case {
  const char *comm;
  pid_t tid;
  bool external;
  int cls;
  int vcpu;
  enum iov_accel accel;
};

/* qemu's thread names (with -name debug-threads=on) and the kernel's. */
static void test_classify(void **state) {
  static const struct name_case cases[] = {
    { "qemu-system-x86", 100, false, IOV_THREAD_MAIN, -1, IOV_ACCEL_UNKNOWN },
    { "CPU 0/KVM", 100, false, IOV_THREAD_MAIN, -1, IOV_ACCEL_UNKNOWN }, /* TID == PID */
    { "qemu-system-x86", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "CPU 0/KVM", 101, false, IOV_THREAD_VCPU, 0, IOV_ACCEL_KVM },
    { "CPU 17/TCG", 101, false, IOV_THREAD_VCPU, 17, IOV_ACCEL_TCG },
    { "CPU 1023/KVM", 101, false, IOV_THREAD_VCPU, 1023, IOV_ACCEL_KVM },
    { "ALL CPUs/TCG", 101, false, IOV_THREAD_VCPU, -1, IOV_ACCEL_TCG },
    { "CPU 3/HVF", 101, false, IOV_THREAD_VCPU, 3, IOV_ACCEL_OTHER },
    { "CPU 0/", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "CPU x/KVM", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "CPU 99999999999/K", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "CPU 0 KVM", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "IO iothread1", 101, false, IOV_THREAD_IOTHREAD, -1, IOV_ACCEL_UNKNOWN },
    { "IO mon_iothread", 101, false, IOV_THREAD_IOTHREAD, -1, IOV_ACCEL_UNKNOWN },
    { "IO a) (b", 101, false, IOV_THREAD_IOTHREAD, -1, IOV_ACCEL_UNKNOWN },
    { "worker", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "call_rcu", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "vnc_worker", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "", 101, false, IOV_THREAD_WORKER, -1, IOV_ACCEL_UNKNOWN },
    { "vhost-100", 101, false, IOV_THREAD_VHOST, -1, IOV_ACCEL_UNKNOWN },
    { "vhost-4", 101, false, IOV_THREAD_VHOST, -1, IOV_ACCEL_UNKNOWN },
    { "kvm-nx-lpage-re", 101, false, IOV_THREAD_KVM, -1, IOV_ACCEL_UNKNOWN },
    /* Outside the process only the kernel's worker names count. */
    { "vhost-100", 200, true, IOV_THREAD_VHOST, -1, IOV_ACCEL_UNKNOWN },
    { "kvm-pit/100", 200, true, IOV_THREAD_KVM, -1, IOV_ACCEL_UNKNOWN },
    { "vhost-", 200, true, _IOV_THREAD_CLASS_INVALID, -1, IOV_ACCEL_UNKNOWN },
    { "vhost-1x", 200, true, _IOV_THREAD_CLASS_INVALID, -1, IOV_ACCEL_UNKNOWN },
    { "CPU 0/KVM", 200, true, _IOV_THREAD_CLASS_INVALID, -1, IOV_ACCEL_UNKNOWN },
    { "kvm-nx-lpage-re", 200, true, _IOV_THREAD_CLASS_INVALID, -1, IOV_ACCEL_UNKNOWN },
  };
  (void)state;

  for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
    enum iov_accel accel = _IOV_ACCEL_INVALID;
    int vcpu = -7;
    int c = iov_proccpu_classify(cases[i].comm, cases[i].tid, 100, cases[i].external, &vcpu, &accel);

    if (c != cases[i].cls) fail_msg("'%s': class %d, expected %d", cases[i].comm, c, cases[i].cls);
    if (c < 0) continue;
    if (vcpu != cases[i].vcpu) fail_msg("'%s': vcpu %d", cases[i].comm, vcpu);
    if (accel != cases[i].accel) fail_msg("'%s': accel %d", cases[i].comm, accel);
  }
  assert_int_equal(iov_proccpu_classify(NULL, 1, 1, false, NULL, NULL), _IOV_THREAD_CLASS_INVALID);
  assert_int_equal(iov_proccpu_classify("CPU 2/KVM", 2, 1, false, NULL, NULL), IOV_THREAD_VCPU);
}

/* ---- A real process ---- */

/* Each burner is a thread of the child, named like qemu's, or (the last)
 * a separate process named like a vhost kernel thread of the child. */
enum { B_VCPU0, B_VCPU1, B_IOTHREAD, B_VHOST, B_EXTERNAL, N_BURNERS };
#define BURN_NS (150 * IOV_NSEC_PER_MSEC)

struct report {
  int idx;
  int phase; /* 0 ready, 1 done */
  pid_t tid;
  uint64_t cpu_ns; /* CLOCK_THREAD_CPUTIME_ID */
};

struct burner {
  int idx;
  char name[16];
  int go_fd, report_fd, quit_fd;
};

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * IOV_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void put_report(const struct burner *b, int phase) {
  struct report r;
  /* It goes through a pipe whole: no uninitialised padding. */
  memset(&r, 0, sizeof(r));
  r.idx = b->idx;
  r.phase = phase;
  r.tid = gettid();
  r.cpu_ns = thread_cpu_ns();
  /* Smaller than PIPE_BUF: written whole, never interleaved. */
  if (write(b->report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) _exit(3);
}

/* Report ready, wait for the go byte, burn BURN_NS of CPU (the clock
 * reads are system calls, so system time grows too), report, and stay
 * alive until the parent closes the quit pipe. */
static void *burn(void *arg) {
  const struct burner *b = arg;
  uint64_t start;
  char c;

  if (b->idx == B_EXTERNAL)
    (void)prctl(PR_SET_NAME, b->name);
  else
    (void)pthread_setname_np(pthread_self(), b->name);
  put_report(b, 0);
  if (read(b->go_fd, &c, 1) != 1) _exit(4);
  start = thread_cpu_ns();
  while (thread_cpu_ns() - start < BURN_NS) {
    for (volatile int i = 0; i < 2000; i++) {}
  }
  put_report(b, 1);
  while (read(b->quit_fd, &c, 1) > 0) {}
  return NULL;
}

static _noreturn_ void child_main(int go_fd, int report_fd, int quit_fd) {
  static const char *const names[] = { "CPU 0/TCG", "CPU 1/TCG", "IO iothread1", NULL };
  struct burner b[N_BURNERS];
  pthread_t t[N_BURNERS];
  pid_t me = getpid(), ext;
  int status;

  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  for (int i = 0; i < N_BURNERS; i++) {
    b[i] = (struct burner){ .idx = i, .go_fd = go_fd, .report_fd = report_fd, .quit_fd = quit_fd };
    if (i < B_VHOST)
      snprintf(b[i].name, sizeof(b[i].name), "%s", names[i]);
    else
      snprintf(b[i].name, sizeof(b[i].name), "vhost-%d", (int)me);
  }
  /* The stand-in for a vhost kernel thread of Linux < 6.4: another
   * process, named after this one. */
  ext = fork();
  if (ext < 0) _exit(5);
  if (ext == 0) {
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    burn(&b[B_EXTERNAL]);
    _exit(0);
  }
  for (int i = 0; i < B_EXTERNAL; i++)
    if (pthread_create(&t[i], NULL, burn, &b[i]) != 0) _exit(6);
  for (int i = 0; i < B_EXTERNAL; i++) pthread_join(t[i], NULL);
  if (waitpid(ext, &status, 0) != ext || !WIFEXITED(status) || WEXITSTATUS(status) != 0) _exit(7);
  _exit(0);
}

/* Read n reports of one phase; a 60 s limit so a dead child fails the
 * test instead of hanging it. */
static void get_reports(int fd, int phase, struct report *rep) {
  for (int n = 0; n < N_BURNERS; n++) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    struct report r;

    assert_int_equal(poll(&pfd, 1, 60000), 1);
    assert_int_equal(read(fd, &r, sizeof(r)), (ssize_t)sizeof(r));
    assert_int_equal(r.phase, phase);
    assert_true(r.idx >= 0 && r.idx < N_BURNERS);
    rep[r.idx] = r;
  }
}

/* /proc's user+system against the thread's own clock.  The kernel splits
 * the exact run time into user and system and rounds each down to a tick,
 * so /proc reads at most two ticks less; it is read a little later (after
 * the report was written), so it may read a little more. */
static void check_close(uint64_t proc_ns, uint64_t own_ns, const char *what) {
  uint64_t tick = tick_ns(1), margin = 5 * IOV_NSEC_PER_MSEC;

  if (proc_ns > own_ns + margin || proc_ns + 2 * tick + margin < own_ns)
    fail_msg("%s: /proc says %.1f ms, the thread measured %.1f ms", what, proc_ns / 1e6, own_ns / 1e6);
}

/* A difference of two such reads is good to two ticks either way, for
 * each of n threads summed. */
static void check_delta_n(uint64_t proc_ns, uint64_t own_ns, unsigned n, const char *what) {
  uint64_t tol = 2 * n * tick_ns(1) + 5 * IOV_NSEC_PER_MSEC;

  if (proc_ns > own_ns + tol || proc_ns + tol < own_ns)
    fail_msg("%s: /proc delta %.1f ms, the threads measured %.1f ms", what, proc_ns / 1e6, own_ns / 1e6);
}

static void check_delta(uint64_t proc_ns, uint64_t own_ns, const char *what) {
  check_delta_n(proc_ns, own_ns, 1, what);
}

static void test_live_process(void **state) {
  static const int want_cls[N_BURNERS] = { IOV_THREAD_VCPU, IOV_THREAD_VCPU, IOV_THREAD_IOTHREAD,
                                           IOV_THREAD_VHOST, IOV_THREAD_VHOST };
  struct report ready[N_BURNERS], done[N_BURNERS];
  struct iov_proccpu_thread per[64];
  struct iov_proccpu_snap a, b;
  struct iov_proccpu_usage u;
  struct iov_proccpu *p = NULL;
  struct iov_vm_cpu vm;
  int go[2], rep[2], quit[2], status, n;
  uint64_t own_vcpu = 0, own_vhost = 0;
  char ones[N_BURNERS];
  pid_t pid;
  (void)state;

  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
  assert_int_equal(pipe2(quit, O_CLOEXEC), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(go[1]);
    close(rep[0]);
    close(quit[1]);
    child_main(go[0], rep[1], quit[0]);
  }
  close(go[0]);
  close(rep[1]);
  close(quit[0]);

  get_reports(rep[0], 0, ready);
  iov_proccpu_snap_init(&a);
  iov_proccpu_snap_init(&b);
  assert_int_equal(iov_proccpu_open(NULL, pid, &p), 0);
  /* Five threads (main and four burners), and the external one. */
  assert_int_equal(iov_proccpu_read(p, 0, &a), 6);
  memset(ones, 1, sizeof(ones));
  assert_int_equal(write(go[1], ones, sizeof(ones)), (ssize_t)sizeof(ones));
  get_reports(rep[0], 1, done);
  assert_int_equal(iov_proccpu_read(p, 0, &b), 6);
  close(quit[1]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  assert_int_equal(b.pid, pid);
  assert_int_equal(b.accel, IOV_ACCEL_TCG);
  assert_int_equal(b.n_vcpus, 2);
  assert_int_equal(b.n_malformed, 0);
  assert_int_equal(find(&b, pid)->cls, IOV_THREAD_MAIN);
  n = iov_proccpu_delta(&a, &b, &u, per, ELEMENTSOF(per));
  assert_int_equal(n, 6);
  for (int i = 0; i < N_BURNERS; i++) {
    const struct iov_proccpu_thread *ta = find(&a, ready[i].tid), *tb = find(&b, ready[i].tid);
    const struct iov_proccpu_thread *d = NULL;
    char what[IOV_PROCCPU_COMM_MAX + 16];

    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_equal(done[i].tid, ready[i].tid);
    for (int k = 0; k < n; k++)
      if (per[k].tid == ready[i].tid) d = &per[k];
    assert_non_null(d);
    assert_int_equal(tb->cls, want_cls[i]);
    assert_int_equal(tb->external, i == B_EXTERNAL);
    assert_int_equal(tb->vcpu, i == B_VCPU0 ? 0 : i == B_VCPU1 ? 1 : -1);
    assert_int_equal(tb->guest_ns, 0);
    snprintf(what, sizeof(what), "%s (ready)", tb->comm);
    check_close(cpu_of(ta), ready[i].cpu_ns, what);
    snprintf(what, sizeof(what), "%s (done)", tb->comm);
    check_close(cpu_of(tb), done[i].cpu_ns, what);
    snprintf(what, sizeof(what), "%s (delta)", tb->comm);
    check_delta(cpu_of(d), done[i].cpu_ns - ready[i].cpu_ns, what);
    assert_true(done[i].cpu_ns - ready[i].cpu_ns >= BURN_NS);
    if (i <= B_VCPU1) own_vcpu += done[i].cpu_ns - ready[i].cpu_ns;
    if (i >= B_VHOST) own_vhost += done[i].cpu_ns - ready[i].cpu_ns;
  }
  assert_int_equal(u.cls[IOV_THREAD_VCPU].n_threads, 2);
  assert_int_equal(u.cls[IOV_THREAD_VHOST].n_threads, 2);
  assert_int_equal(u.cls[IOV_THREAD_IOTHREAD].n_threads, 1);
  assert_int_equal(u.cls[IOV_THREAD_MAIN].n_threads, 1);
  assert_int_equal(u.n_exited, 0);
  assert_int_equal(u.exited_ns, 0);
  assert_true(u.interval_ns > 0);

  assert_int_equal(iov_proccpu_vm_summary(&u, NULL, &vm), 0);
  assert_int_equal(vm.accel, IOV_ACCEL_TCG);
  assert_false(vm.vcpu_split);
  assert_int_equal(vm.exits.known, 0);
  check_delta_n(vm.vcpu_ns, own_vcpu, 2, "vcpu class");
  check_delta_n(vm.vhost_ns, own_vhost, 2, "vhost class");
  assert_true(vm.io_ns >= class_ns(&u, IOV_THREAD_IOTHREAD));
  assert_int_equal(vm.total_ns, vm.vcpu_ns + vm.io_ns + vm.vhost_ns + vm.kvm_ns);
  /* The process is gone now. */
  assert_int_equal(iov_proccpu_read(p, 0, &b), -ESRCH);

  iov_proccpu_free(p);
  iov_proccpu_snap_done(&a);
  iov_proccpu_snap_done(&b);
  close(go[1]);
  close(rep[0]);
}

/* ---- Recorded qemu 10.0.2 ---- */

static void test_qemu_kvm(void **state) {
  struct iov_proccpu_snap a, b;
  struct iov_proccpu_thread per[16];
  struct iov_proccpu_usage u;
  struct iov_kvm_exits k;
  struct iov_vm_cpu vm;
  char dir[PATH_MAX];
  (void)state;

  iov_proccpu_snap_init(&a);
  iov_proccpu_snap_init(&b);
  assert_int_equal(read_case(KVM_CASE, NULL, KVM_PID, &a), 7);
  assert_int_equal(a.pid, KVM_PID);
  assert_int_equal(a.start_ticks, 1198018);
  assert_int_equal(a.user_ns, tick_ns(2));
  assert_int_equal(a.system_ns, tick_ns(96));
  assert_int_equal(a.accel, IOV_ACCEL_KVM);
  assert_int_equal(a.n_vcpus, 2);
  assert_int_equal(a.n_malformed + a.n_vanished, 0);
  check_thread(&a, 10008, IOV_THREAD_MAIN, -1, false, "qemu-system-x86", 1, 3, 0);
  check_thread(&a, 10010, IOV_THREAD_WORKER, -1, false, "call_rcu", 0, 0, 0);
  check_thread(&a, 10011, IOV_THREAD_IOTHREAD, -1, false, "IO iothread1", 0, 0, 0);
  check_thread(&a, 10012, IOV_THREAD_VCPU, 0, false, "CPU 0/KVM", 1, 94, 0);
  check_thread(&a, 10013, IOV_THREAD_VCPU, 1, false, "CPU 1/KVM", 0, 0, 0);
  check_thread(&a, 10014, IOV_THREAD_KVM, -1, true, "kvm-pit/10008", 0, 0, 0);
  check_thread(&a, 10015, IOV_THREAD_KVM, -1, false, "kvm-nx-lpage-re", 0, 0, 0);
  for (size_t i = 1; i < a.n_threads; i++) assert_true(a.threads[i].tid > a.threads[i - 1].tid);

  assert_int_equal(read_case(KVM_CASE, "next", KVM_PID, &b), 7);
  assert_int_equal(iov_proccpu_delta(&a, &b, &u, per, ELEMENTSOF(per)), 7);
  /* Two seconds: vCPU 0 spun in SeaBIOS (system time under PVM). */
  assert_int_equal(u.cls[IOV_THREAD_VCPU].system_ns, tick_ns(220));
  assert_int_equal(u.cls[IOV_THREAD_VCPU].user_ns, 0);
  assert_int_equal(u.cls[IOV_THREAD_VCPU].guest_ns, 0);
  assert_int_equal(u.total_ns, tick_ns(220));
  assert_int_equal(per[3].tid, 10012);
  assert_int_equal(per[3].system_ns, tick_ns(220));
  assert_int_equal(u.n_exited, 0);
  assert_int_equal(iov_proccpu_vm_summary(&u, NULL, &vm), 0);
  assert_int_equal(vm.vcpu_ns, tick_ns(220));
  assert_false(vm.vcpu_split); /* PVM accounts no guest time */
  assert_int_equal(vm.io_ns + vm.vhost_ns + vm.kvm_ns, 0);

  /* Its debugfs could be listed but not read; the fixture has no kvm/
   * directory at all: unknown, not an error. */
  assert_int_equal(iov_proccpu_kvm_read(case_dir(dir, sizeof(dir), KVM_CASE, NULL), KVM_PID, &a, &k), 0);
  assert_int_equal(k.known, 0);
  assert_int_equal(k.n_vms, 0);
  iov_proccpu_snap_done(&a);
  iov_proccpu_snap_done(&b);
}

static void test_qemu_tcg(void **state) {
  struct iov_proccpu_snap a, b;
  struct iov_proccpu_usage u;
  (void)state;

  iov_proccpu_snap_init(&a);
  iov_proccpu_snap_init(&b);
  assert_int_equal(read_case(TCG_CASE, NULL, TCG_PID, &a), 5);
  assert_int_equal(a.accel, IOV_ACCEL_TCG);
  assert_int_equal(a.n_vcpus, 2);
  check_thread(&a, 10388, IOV_THREAD_MAIN, -1, false, "qemu-system-x86", 2, 1, 0);
  check_thread(&a, 10390, IOV_THREAD_WORKER, -1, false, "qemu-system-x86", 0, 0, 0);
  check_thread(&a, 10391, IOV_THREAD_IOTHREAD, -1, false, "IO iothread1", 0, 0, 0);
  check_thread(&a, 10392, IOV_THREAD_VCPU, 0, false, "CPU 0/TCG", 17, 0, 0);
  check_thread(&a, 10393, IOV_THREAD_VCPU, 1, false, "CPU 1/TCG", 0, 0, 0);
  assert_int_equal(read_case(TCG_CASE, "next", TCG_PID, &b), 5);
  assert_int_equal(iov_proccpu_delta(&a, &b, &u, NULL, 0), 5);
  assert_int_equal(class_ns(&u, IOV_THREAD_VCPU), tick_ns(1));
  assert_int_equal(u.cls[IOV_THREAD_KVM].n_threads, 0);
  iov_proccpu_snap_done(&a);
  iov_proccpu_snap_done(&b);
}

/* Without debug-threads=on nothing names the vCPU threads. */
static void test_qemu_unnamed(void **state) {
  struct iov_proccpu_snap a, b;
  struct iov_proccpu_usage u;
  struct iov_vm_cpu vm;
  struct iov_demand d;
  (void)state;

  iov_proccpu_snap_init(&a);
  iov_proccpu_snap_init(&b);
  assert_int_equal(read_case(UNNAMED_CASE, NULL, UNNAMED_PID, &a), 6);
  assert_int_equal(a.accel, IOV_ACCEL_UNKNOWN);
  assert_int_equal(a.n_vcpus, 0);
  check_thread(&a, 10749, IOV_THREAD_WORKER, -1, false, "qemu-system-x86", 0, 96, 0);
  check_thread(&a, 10751, IOV_THREAD_KVM, -1, true, "kvm-pit/10746", 0, 0, 0);
  assert_int_equal(read_case(UNNAMED_CASE, "next", UNNAMED_PID, &b), 6);
  assert_int_equal(iov_proccpu_delta(&a, &b, &u, NULL, 0), 6);
  assert_int_equal(iov_proccpu_vm_summary(&u, NULL, &vm), 0);
  assert_int_equal(vm.vcpu_ns, 0);
  assert_int_equal(vm.io_ns, tick_ns(218));
  assert_int_equal(iov_proccpu_demand(&vm, 0, 0, 0, 0, &d), 0);
  assert_false(d.host_complete);
  iov_proccpu_snap_done(&a);
  iov_proccpu_snap_done(&b);
}

/* ---- Hand-made: Linux 5.15, vhost kernel threads, damaged entries ---- */

static void test_handmade_threads(void **state) {
  struct iov_proccpu_snap a;
  (void)state;

  iov_proccpu_snap_init(&a);
  assert_int_equal(read_case(HAND_CASE, NULL, HAND_PID, &a), 10);
  assert_int_equal(a.n_malformed, 1); /* 4249's truncated stat */
  assert_int_equal(a.n_vanished, 0);
  assert_null(find(&a, 4249));
  assert_int_equal(a.accel, IOV_ACCEL_KVM);
  assert_int_equal(a.n_vcpus, 2);
  assert_int_equal(a.user_ns, tick_ns(5553));
  assert_int_equal(a.system_ns, tick_ns(1685));
  assert_int_equal(a.guest_ns, tick_ns(4850));
  check_thread(&a, 4242, IOV_THREAD_MAIN, -1, false, "qemu-system-x86", 500, 200, 0);
  check_thread(&a, 4243, IOV_THREAD_WORKER, -1, false, "qemu-system-x86", 0, 1, 0);
  check_thread(&a, 4244, IOV_THREAD_IOTHREAD, -1, false, "IO mon_iothread", 2, 3, 0);
  /* Spaces and parentheses in the name: read from the first '(' to the
   * last ')'. */
  check_thread(&a, 4245, IOV_THREAD_IOTHREAD, -1, false, "IO a) (b", 10, 20, 0);
  check_thread(&a, 4246, IOV_THREAD_VCPU, 0, false, "CPU 0/KVM", 3000, 800, 2900);
  check_thread(&a, 4247, IOV_THREAD_VCPU, 1, false, "CPU 1/KVM", 2000, 600, 1950);
  check_thread(&a, 4248, IOV_THREAD_WORKER, -1, false, "worker", 40, 60, 0);
  /* The kernel threads named after 4242, found by the scan; not 4253
   * (no owner in its name) nor 5001 (another VM's). */
  check_thread(&a, 4250, IOV_THREAD_VHOST, -1, true, "vhost-4242", 0, 700, 0);
  check_thread(&a, 4251, IOV_THREAD_VHOST, -1, true, "vhost-4242", 0, 300, 0);
  check_thread(&a, 4252, IOV_THREAD_KVM, -1, true, "kvm-pit/4242", 0, 4, 0);
  assert_null(find(&a, 4253));
  assert_null(find(&a, 5001));
  iov_proccpu_snap_done(&a);
}

static void test_handmade_delta(void **state) {
  struct iov_proccpu_snap a, b;
  struct iov_proccpu_thread per[16], small[2];
  struct iov_proccpu_usage u, u2;
  struct iov_vm_cpu vm;
  struct iov_demand d;
  const struct iov_proccpu_thread *t;
  (void)state;

  iov_proccpu_snap_init(&a);
  iov_proccpu_snap_init(&b);
  assert_int_equal(read_case(HAND_CASE, NULL, HAND_PID, &a), 10);
  assert_int_equal(read_case(HAND_CASE, "next", HAND_PID, &b), 10);
  assert_null(find(&b, 4248));
  assert_non_null(find(&b, 4260));
  assert_int_equal(iov_proccpu_delta(&a, &b, &u, per, ELEMENTSOF(per)), 10);

  /* Per class, in ticks: see the fixture's README. */
  assert_int_equal(u.accel, IOV_ACCEL_KVM);
  assert_int_equal(u.cls[IOV_THREAD_VCPU].user_ns, tick_ns(140));
  assert_int_equal(u.cls[IOV_THREAD_VCPU].system_ns, tick_ns(25));
  assert_int_equal(u.cls[IOV_THREAD_VCPU].guest_ns, tick_ns(131));
  assert_int_equal(u.cls[IOV_THREAD_VCPU].n_threads, 2);
  assert_int_equal(class_ns(&u, IOV_THREAD_MAIN), tick_ns(45));
  assert_int_equal(class_ns(&u, IOV_THREAD_IOTHREAD), tick_ns(16));
  assert_int_equal(u.cls[IOV_THREAD_IOTHREAD].n_threads, 2);
  /* 4260 is new: all of its 10 ticks were spent in the interval. */
  assert_int_equal(class_ns(&u, IOV_THREAD_WORKER), tick_ns(10));
  assert_int_equal(u.cls[IOV_THREAD_WORKER].n_threads, 2);
  assert_int_equal(class_ns(&u, IOV_THREAD_VHOST), tick_ns(90));
  assert_int_equal(u.cls[IOV_THREAD_VHOST].n_threads, 2);
  assert_int_equal(class_ns(&u, IOV_THREAD_KVM), tick_ns(1));
  /* 4248 exited after 30 more ticks; the process total grew by 266,
   * its threads by 236. */
  assert_int_equal(u.n_exited, 1);
  assert_int_equal(u.exited_ns, tick_ns(30));
  assert_int_equal(u.total_ns, tick_ns(357));

  t = &per[9];
  assert_int_equal(t->tid, 4260);
  assert_int_equal(t->user_ns + t->system_ns, tick_ns(10));
  t = &per[6];
  assert_int_equal(t->tid, 4250);
  assert_true(t->external);
  assert_int_equal(t->system_ns, tick_ns(60));

  /* Too small an array: the sums are still right. */
  assert_int_equal(iov_proccpu_delta(&a, &b, &u2, small, ELEMENTSOF(small)), -ENOBUFS);
  assert_int_equal(u2.total_ns, u.total_ns);
  assert_int_equal(small[1].tid, 4243);

  assert_int_equal(iov_proccpu_vm_summary(&u, NULL, &vm), 0);
  assert_int_equal(vm.vcpu_ns, tick_ns(165));
  assert_int_equal(vm.vcpu_guest_ns, tick_ns(131));
  assert_true(vm.vcpu_split);
  assert_int_equal(vm.io_ns, tick_ns(45 + 16 + 10 + 30));
  assert_int_equal(vm.vhost_ns, tick_ns(90));
  assert_int_equal(vm.kvm_ns, tick_ns(1));
  assert_int_equal(vm.total_ns, tick_ns(357));

  /* Service demand: the guest used 1.5 s; 50 ms of host interrupts are
   * charged to it; 1 MiB and 1000 transactions.  Host: 1010 ms I/O,
   * 900 ms vhost, 10 ms KVM, 340 ms vCPU exits, 50 ms interrupts. */
  assert_int_equal(
      iov_proccpu_demand(&vm, 1500 * IOV_NSEC_PER_MSEC, 50 * IOV_NSEC_PER_MSEC, 1 << 20, 1000, &d), 0);
  assert_true(d.host_complete);
  assert_int_equal(d.guest_ns, 1500 * IOV_NSEC_PER_MSEC);
  assert_int_equal(d.host_ns, tick_ns(101 + 90 + 1 + 34) + 50 * IOV_NSEC_PER_MSEC);
  assert_int_equal(d.total_ns, d.guest_ns + d.host_ns);
  assert_true(fabs(d.host_ns_per_kib - (double)d.host_ns / 1024) < 1e-6);
  assert_true(fabs(d.guest_ns_per_tx - 1.5e6) < 1e-6);
  assert_true(fabs(d.total_ns_per_tx - (double)d.total_ns / 1000) < 1e-6);
  iov_proccpu_snap_done(&a);
  iov_proccpu_snap_done(&b);
}

/* Snapshots of different processes, or of a reused PID, do not mix. */
static void test_delta_stale(void **state) {
  struct iov_proccpu_snap a, b;
  struct iov_proccpu_usage u;
  (void)state;

  iov_proccpu_snap_init(&a);
  iov_proccpu_snap_init(&b);
  assert_int_equal(read_case(HAND_CASE, NULL, HAND_PID, &a), 10);
  assert_int_equal(read_case(KVM_CASE, NULL, KVM_PID, &b), 7);
  assert_int_equal(iov_proccpu_delta(&a, &b, &u, NULL, 0), -ESTALE);
  assert_int_equal(read_case(HAND_CASE, "next", HAND_PID, &b), 10);
  b.start_ticks++;
  assert_int_equal(iov_proccpu_delta(&a, &b, &u, NULL, 0), -ESTALE);
  b.start_ticks--;
  assert_int_equal(iov_proccpu_delta(NULL, &b, &u, NULL, 0), -EINVAL);
  assert_int_equal(iov_proccpu_delta(&a, &b, NULL, NULL, 0), -EINVAL);
  /* Reversed: nothing is negative. */
  assert_int_equal(iov_proccpu_delta(&b, &a, &u, NULL, 0), 10);
  assert_int_equal(u.interval_ns, 0);
  assert_int_equal(class_ns(&u, IOV_THREAD_VCPU), 0);
  /* 4248 is back in the later one, so it counts whole, and 4260 "exited". */
  assert_int_equal(class_ns(&u, IOV_THREAD_WORKER), tick_ns(100));
  assert_int_equal(u.n_exited, 1);
  assert_int_equal(u.exited_ns, 0);
  /* A TID reused by a new thread counts whole, and the old one exited. */
  assert_int_equal(read_case(HAND_CASE, NULL, HAND_PID, &b), 10);
  for (size_t i = 0; i < b.n_threads; i++)
    if (b.threads[i].tid == 4244) b.threads[i].start_ticks += 50;
  assert_int_equal(iov_proccpu_delta(&a, &b, &u, NULL, 0), 10);
  assert_int_equal(class_ns(&u, IOV_THREAD_IOTHREAD), tick_ns(5));
  assert_int_equal(u.n_exited, 1);
  iov_proccpu_snap_done(&a);
  iov_proccpu_snap_done(&b);
}

/* ---- KVM's counters ---- */

static void check_exits(const struct iov_kvm_exits *k, const uint64_t want[_IOV_KVM_STAT_MAX],
                        uint32_t known) {
  assert_int_equal(k->known, known);
  for (int i = 0; i < _IOV_KVM_STAT_MAX; i++)
    if (k->v[i] != want[i])
      fail_msg("%s: %llu, expected %llu", iov_kvm_stat_to_string(i), (unsigned long long)k->v[i],
               (unsigned long long)want[i]);
}

static void test_kvm_handmade(void **state) {
  /* exits, halt, io, mmio, irq, signal, irq_window, nmi_window,
   * request_irq, irq_injections, halt_wakeup, insn_emulation, hypercalls */
  static const uint64_t now[] = { 123466, 2346, 0, 0, 4571, 12, 34, 0, 1, 5683, 2301, 8000, 0 };
  static const uint64_t now3[] = { 124466, 2446, 0, 0, 4571, 12, 34, 0, 1, 5683, 2401, 8000, 0 };
  static const uint64_t delta[] = { 10010, 501, 0, 0, 404, 0, 10, 0, 0, 1000, 501, 100, 0 };
  const uint32_t all = (1u << _IOV_KVM_STAT_MAX) - 1;
  const uint32_t partial =
      all & ~(1u << IOV_KVM_IO_EXITS | 1u << IOV_KVM_MMIO_EXITS | 1u << IOV_KVM_HYPERCALLS);
  struct iov_kvm_exits ka, kb, kd;
  struct iov_proccpu_snap s;
  char dir[PATH_MAX], dir2[PATH_MAX];
  (void)state;

  case_dir(dir, sizeof(dir), HAND_CASE, "sys-kernel-debug");
  case_dir(dir2, sizeof(dir2), HAND_CASE, "next/sys-kernel-debug");
  /* By PID: 4242-11 and 4242-9; the second lacks three counters. */
  assert_int_equal(iov_proccpu_kvm_read(dir, HAND_PID, NULL, &ka), 1);
  assert_int_equal(ka.n_vms, 2);
  check_exits(&ka, now, partial);
  assert_int_equal(iov_proccpu_kvm_read(dir2, HAND_PID, NULL, &kb), 1);
  assert_int_equal(iov_proccpu_kvm_delta(&ka, &kb, &kd), 1);
  check_exits(&kd, delta, partial);
  /* With the thread list, 4246-12 (made by a vCPU thread) joins. */
  iov_proccpu_snap_init(&s);
  assert_int_equal(read_case(HAND_CASE, NULL, HAND_PID, &s), 10);
  assert_int_equal(iov_proccpu_kvm_read(dir, HAND_PID, &s, &ka), 1);
  assert_int_equal(ka.n_vms, 3);
  check_exits(&ka, now3, partial);
  assert_int_equal(iov_proccpu_kvm_read(dir, 4243, &s, &ka), -EINVAL); /* not its snapshot */
  /* Into the per-VM summary. */
  {
    struct iov_proccpu_usage u = { .accel = IOV_ACCEL_KVM };
    struct iov_vm_cpu vm;
    assert_int_equal(iov_proccpu_vm_summary(&u, &kd, &vm), 0);
    assert_int_equal(vm.exits.v[IOV_KVM_EXITS], 10010);
    assert_int_equal(vm.exits.known, partial);
  }
  /* A counter known on one side only is unknown in the difference, and
   * one that stepped back counts 0. */
  kb.known &= ~(1u << IOV_KVM_EXITS);
  kb.v[IOV_KVM_HALT_EXITS] = 0;
  assert_int_equal(iov_proccpu_kvm_delta(&ka, &kb, &kd), 1);
  assert_int_equal(kd.known, partial & ~(1u << IOV_KVM_EXITS));
  assert_int_equal(kd.v[IOV_KVM_EXITS], 0);
  assert_int_equal(kd.v[IOV_KVM_HALT_EXITS], 0);
  kb.known = 0;
  assert_int_equal(iov_proccpu_kvm_delta(&ka, &kb, &kd), 0);
  assert_int_equal(iov_proccpu_kvm_delta(NULL, &kb, &kd), -EINVAL);
  iov_proccpu_snap_done(&s);
}

/* No debugfs, no kvm directory, no VM of ours, or nothing readable:
 * unknown, never an error. */
static void test_kvm_unknown(void **state) {
  char tmp[] = "/tmp/iov-proccpu-XXXXXX", path[PATH_MAX], dir[PATH_MAX];
  struct iov_kvm_exits k;
  (void)state;

  memset(&k, 0xff, sizeof(k));
  assert_int_equal(iov_proccpu_kvm_read("/nonexistent-iov-debugfs", 1, NULL, &k), 0);
  assert_int_equal(k.known, 0);
  assert_int_equal(k.n_vms, 0);
  assert_int_equal(k.v[IOV_KVM_EXITS], 0);
  /* Another process's VMs only. */
  assert_int_equal(
      iov_proccpu_kvm_read(case_dir(dir, sizeof(dir), HAND_CASE, "sys-kernel-debug"), 4999, NULL, &k), 0);
  assert_int_equal(k.n_vms, 0);

  assert_non_null(mkdtemp(tmp));
  snprintf(path, sizeof(path), "%s/kvm", tmp);
  assert_int_equal(mkdir(path, 0700), 0);
  assert_int_equal(iov_proccpu_kvm_read(tmp, 77, NULL, &k), 0);
  /* A VM directory with nothing in it, as seen by a reader that may
   * list but not read (this machine's kernel answers EPERM). */
  snprintf(path, sizeof(path), "%s/kvm/77-12", tmp);
  assert_int_equal(mkdir(path, 0700), 0);
  assert_int_equal(iov_proccpu_kvm_read(tmp, 77, NULL, &k), 0);
  assert_int_equal(k.n_vms, 1);
  assert_int_equal(k.known, 0);
  /* PID 7 is not PID 77. */
  assert_int_equal(iov_proccpu_kvm_read(tmp, 7, NULL, &k), 0);
  assert_int_equal(k.n_vms, 0);
  rmdir(path);
  snprintf(path, sizeof(path), "%s/kvm", tmp);
  rmdir(path);
  rmdir(tmp);

  assert_int_equal(iov_proccpu_kvm_read(NULL, 0, NULL, &k), -EINVAL);
  assert_int_equal(iov_proccpu_kvm_read(NULL, 1, NULL, NULL), -EINVAL);
}

/* ---- Damaged stat files ---- */

struct tree {
  char dir[64];
};

static void tree_write(const struct tree *t, const char *rel, const void *data, size_t len) {
  char path[PATH_MAX], *slash;
  int fd;

  snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
  for (slash = strchr(path + strlen(t->dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
    *slash = 0;
    (void)mkdir(path, 0700);
    *slash = '/';
  }
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static void tree_text(const struct tree *t, const char *rel, const char *text) {
  tree_write(t, rel, text, strlen(text));
}

/* A well-formed stat line for TID with this name and ticks. */
static void stat_line(char *buf, size_t n, int tid, const char *comm, int ut, int st) {
  snprintf(buf, n,
           "%d (%s) S 1 %d %d 0 -1 4194368 2 0 0 0 %d %d 0 0 20 0 6 0 1234 473710592 11453 "
           "18446744073709551615 1 1 1 0 0 0 2147220087 4100 16963 1 0 0 -1 1 0 0 0 7 0 1 1 1 1 1 1 1 0\n",
           tid, comm, tid, tid, ut, st);
}

static void tree_stat(const struct tree *t, int tid, const char *comm, int ut, int st) {
  char rel[64], line[512];

  snprintf(rel, sizeof(rel), "100/task/%d/stat", tid);
  stat_line(line, sizeof(line), tid, comm, ut, st);
  tree_text(t, rel, line);
}

static void tree_rm(const char *path) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
  assert_int_equal(system(cmd), 0);
}

static void test_damaged(void **state) {
  static const char nul[] = "103 (x) S 1 2 3 4 5 6 7 8 9 10 11 12\0 14 15 16 17 18 19 20 21\n";
  struct tree t;
  struct iov_proccpu *p = NULL;
  struct iov_proccpu_snap s;
  const struct iov_proccpu_thread *x;
  char line[512], big[4096];
  (void)state;

  snprintf(t.dir, sizeof(t.dir), "/tmp/iov-proccpu-XXXXXX");
  assert_non_null(mkdtemp(t.dir));
  stat_line(line, sizeof(line), 100, "qemu-system-x86", 50, 60);
  tree_text(&t, "100/stat", line);
  tree_stat(&t, 100, "qemu-system-x86", 10, 20);
  /* Accepted: names with ') (', a newline, the longest kernel name; a
   * line that ends after starttime (a very old kernel: guest reads 0). */
  tree_stat(&t, 110, "a) b (c) d", 1, 2);
  tree_stat(&t, 111, "a\nb", 3, 4);
  tree_stat(&t, 112, "123456789012345678901234567890123456789012345678901234567890123", 5, 6);
  tree_text(&t, "100/task/113/stat", "113 (old) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 1234\n");
  /* Malformed, each left out and counted. */
  tree_text(&t, "100/task/101/stat", "101 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22");
  tree_text(&t, "100/task/102/stat", "102 (x) S 1 2 3 4 5 6 7 8 9 10 11 12\n"); /* ends before starttime */
  tree_write(&t, "100/task/103/stat", nul, sizeof(nul) - 1);
  tree_text(&t, "100/task/104/stat", "104 x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/105/stat", "105 (x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/106/stat", "999 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/107/stat", "107 (x) S 1 2 3 4 5 6 7 8 9 10 11 abc 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/108/stat", "108 (x)  S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/109/stat",
            "109 (1234567890123456789012345678901234567890123456789012345678901234) S 1 2 3 4 5 6 7 8 9 10 "
            "11 12 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/114/stat", "114 (x) S 1 2 3 4 5 6 7 8 9 10 11 -12 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/115/stat", "(x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n");
  tree_text(&t, "100/task/116/stat", "116 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 \n");
  memset(big, '1', sizeof(big));
  memcpy(big, "117 (x) S ", 10);
  big[sizeof(big) - 1] = '\n';
  tree_write(&t, "100/task/117/stat", big, sizeof(big));
  /* Gone: an empty file, a directory without stat; ignored: not a TID. */
  tree_text(&t, "100/task/120/stat", "");
  tree_text(&t, "100/task/121/comm", "x\n");
  tree_stat(&t, 1, "not-a-task", 1, 1);
  tree_text(&t, "100/task/abc/stat", "abc\n");

  iov_proccpu_snap_init(&s);
  assert_int_equal(iov_proccpu_open(t.dir, 100, &p), 0);
  assert_int_equal(iov_proccpu_read(p, 0, &s), 6);
  assert_int_equal(s.n_malformed, 13);
  assert_int_equal(s.n_vanished, 2);
  assert_int_equal(s.user_ns, tick_ns(50));
  x = find(&s, 110);
  assert_non_null(x);
  assert_string_equal(x->comm, "a) b (c) d");
  assert_int_equal(x->user_ns, tick_ns(1));
  assert_int_equal(x->system_ns, tick_ns(2));
  assert_int_equal(x->guest_ns, tick_ns(7));
  assert_string_equal(find(&s, 111)->comm, "a\nb");
  assert_int_equal(find(&s, 111)->system_ns, tick_ns(4));
  assert_int_equal(strlen(find(&s, 112)->comm), IOV_PROCCPU_COMM_MAX - 1);
  x = find(&s, 113);
  assert_int_equal(x->user_ns, tick_ns(11));
  assert_int_equal(x->system_ns, tick_ns(12));
  assert_int_equal(x->start_ticks, 1234);
  assert_int_equal(x->guest_ns, 0);
  assert_int_equal(find(&s, 1)->cls, IOV_THREAD_WORKER);

  /* The process's own stat is damaged: the read fails. */
  tree_text(&t, "100/stat", "100 (qemu) S 1\n");
  assert_int_equal(iov_proccpu_read(p, 0, &s), -EBADMSG);
  stat_line(line, sizeof(line), 101, "qemu", 1, 1);
  tree_text(&t, "100/stat", line);
  assert_int_equal(iov_proccpu_read(p, 0, &s), -EBADMSG); /* another PID's line */
  /* The process has gone. */
  snprintf(line, sizeof(line), "%s/100", t.dir);
  tree_rm(line);
  assert_int_equal(iov_proccpu_read(p, 0, &s), -ESRCH);
  iov_proccpu_free(p);
  iov_proccpu_snap_done(&s);
  tree_rm(t.dir);
}

/* External workers come and go; IOV_PROCCPU_SCAN finds new ones, and one
 * whose TID now names another task is dropped. */
static void test_rescan(void **state) {
  struct tree t;
  struct iov_proccpu *p = NULL;
  struct iov_proccpu_snap s;
  char line[512];
  (void)state;

  snprintf(t.dir, sizeof(t.dir), "/tmp/iov-proccpu-XXXXXX");
  assert_non_null(mkdtemp(t.dir));
  stat_line(line, sizeof(line), 100, "qemu-system-x86", 1, 1);
  tree_text(&t, "100/stat", line);
  tree_stat(&t, 100, "qemu-system-x86", 1, 1);
  tree_stat(&t, 101, "CPU 0/KVM", 1, 1);
  tree_text(&t, "200/comm", "vhost-100\n");
  stat_line(line, sizeof(line), 200, "vhost-100", 0, 5);
  tree_text(&t, "200/stat", line);

  iov_proccpu_snap_init(&s);
  assert_int_equal(iov_proccpu_open(t.dir, 100, &p), 0);
  assert_int_equal(iov_proccpu_read(p, 0, &s), 3);
  /* A second worker, named after the vCPU thread, appears: not seen
   * until a scan. */
  tree_text(&t, "201/comm", "vhost-101\n");
  stat_line(line, sizeof(line), 201, "vhost-101", 0, 7);
  tree_text(&t, "201/stat", line);
  assert_int_equal(iov_proccpu_read(p, 0, &s), 3);
  assert_int_equal(iov_proccpu_read(p, IOV_PROCCPU_SCAN, &s), 4);
  assert_int_equal(find(&s, 201)->system_ns, tick_ns(7));
  /* 200 is now someone else: dropped without a scan. */
  stat_line(line, sizeof(line), 200, "bash", 0, 5);
  tree_text(&t, "200/stat", line);
  assert_int_equal(iov_proccpu_read(p, 0, &s), 3);
  assert_null(find(&s, 200));
  assert_int_equal(s.n_vanished + s.n_malformed, 0);
  /* And 201 exits. */
  snprintf(line, sizeof(line), "%s/201", t.dir);
  tree_rm(line);
  assert_int_equal(iov_proccpu_read(p, 0, &s), 2);
  assert_int_equal(s.n_vanished, 0);
  iov_proccpu_free(p);
  iov_proccpu_snap_done(&s);
  tree_rm(t.dir);
}

static void test_open_errors(void **state) {
  struct iov_proccpu *p = NULL;
  struct iov_proccpu_snap s;
  char longpath[PATH_MAX + 16];
  (void)state;

  assert_int_equal(iov_proccpu_open(NULL, 0, &p), -EINVAL);
  assert_int_equal(iov_proccpu_open(NULL, 1, NULL), -EINVAL);
  memset(longpath, 'a', sizeof(longpath) - 1);
  longpath[sizeof(longpath) - 1] = 0;
  assert_int_equal(iov_proccpu_open(longpath, 1, &p), -ENAMETOOLONG);
  assert_null(p);
  assert_null(iov_proccpu_free(NULL));
  iov_proccpu_snap_done(NULL);

  iov_proccpu_snap_init(&s);
  assert_int_equal(iov_proccpu_open("/nonexistent-iov-root", 1, &p), 0);
  assert_int_equal(iov_proccpu_read(p, 0, &s), -ENOENT);
  assert_int_equal(iov_proccpu_read(NULL, 0, &s), -EINVAL);
  assert_int_equal(iov_proccpu_read(p, 0, NULL), -EINVAL);
  p = iov_proccpu_free(p);
  /* This process, live: at least the main thread. */
  assert_int_equal(iov_proccpu_open(NULL, getpid(), &p), 0);
  assert_true(iov_proccpu_read(p, IOV_PROCCPU_SCAN, &s) >= 1);
  assert_int_equal(find(&s, getpid())->cls, IOV_THREAD_MAIN);
  assert_int_equal(s.accel, IOV_ACCEL_UNKNOWN);
  iov_proccpu_free(p);
  iov_proccpu_snap_done(&s);
}

/* ---- Host interrupt time, from the cpustat fixtures ---- */

static int read_cores(const char *name, const char *sub, struct iov_cpustat_core *c, size_t cap) {
  char dir[PATH_MAX];
  struct iov_cpustat *s = NULL;
  int r;

  assert_int_equal(iov_cpustat_open(case_dir(dir, sizeof(dir), name, sub), &s), 0);
  r = iov_cpustat_read(s, c, cap);
  iov_cpustat_free(s);
  return r;
}

static void test_host_irq(void **state) {
  static const uint16_t cpu1[] = { 1 }, cpu5[] = { 5 }, cpu07[] = { 0, 7 }, bad[] = { 4096 };
  struct iov_cpustat_core a[16], b[16];
  uint64_t irq, soft;
  int na, nb;
  (void)state;

  /* The Debian 12 guest: softirq 5 and 1 ticks, no irq time. */
  na = read_cores("debian12-2cpu-virtio", NULL, a, ELEMENTSOF(a));
  nb = read_cores("debian12-2cpu-virtio", "next", b, ELEMENTSOF(b));
  assert_int_equal(iov_proccpu_host_irq(a, (size_t)na, b, (size_t)nb, NULL, 0, &irq, &soft), 0);
  assert_int_equal(irq, 0);
  assert_int_equal(soft, tick_ns(6));
  assert_int_equal(iov_proccpu_host_irq(a, (size_t)na, b, (size_t)nb, cpu1, 1, &irq, &soft), 0);
  assert_int_equal(soft, tick_ns(1));

  /* The hand-made 8-CPU host, cpu5 offline in the later snapshot: irq 3
   * and softirq 20+c on each core that stayed. */
  na = read_cores("handmade-8cpu-ixgbe-sriov", NULL, a, ELEMENTSOF(a));
  nb = read_cores("handmade-8cpu-ixgbe-sriov", "next", b, ELEMENTSOF(b));
  assert_int_equal(iov_proccpu_host_irq(a, (size_t)na, b, (size_t)nb, NULL, 0, &irq, &soft), 0);
  assert_int_equal(irq, tick_ns(21));
  assert_int_equal(soft, tick_ns(163));
  assert_int_equal(iov_proccpu_host_irq(a, (size_t)na, b, (size_t)nb, cpu07, 2, &irq, &soft), 0);
  assert_int_equal(irq, tick_ns(6));
  assert_int_equal(soft, tick_ns(47));
  assert_int_equal(iov_proccpu_host_irq(a, (size_t)na, b, (size_t)nb, cpu5, 1, &irq, &soft), 0);
  assert_int_equal(irq + soft, 0);
  assert_int_equal(iov_proccpu_host_irq(a, (size_t)na, b, (size_t)nb, bad, 1, &irq, &soft), -EINVAL);

  /* Only the aggregate lines: they are used; a core list cannot be. */
  b[0] = a[0];
  b[0].irq_ns += 1000;
  b[0].softirq_ns += 2000;
  assert_int_equal(iov_proccpu_host_irq(a, 1, b, 1, NULL, 0, &irq, &soft), 0);
  assert_int_equal(irq, 1000);
  assert_int_equal(soft, 2000);
  assert_int_equal(iov_proccpu_host_irq(a, 1, b, 1, cpu1, 1, &irq, &soft), -EINVAL);
  assert_int_equal(iov_proccpu_host_irq(a + 1, 1, b, 1, NULL, 0, &irq, &soft), -EINVAL);
  assert_int_equal(iov_proccpu_host_irq(a, 0, b, 1, NULL, 0, &irq, &soft), -EINVAL);
  assert_int_equal(iov_proccpu_host_irq(a, 1, b, 1, NULL, 0, NULL, &soft), -EINVAL);
}

/* ---- Demand arithmetic ---- */

static void test_demand(void **state) {
  struct iov_vm_cpu vm = {
    .accel = IOV_ACCEL_TCG, .vcpu_ns = 900, .vcpu_guest_ns = 0, .io_ns = 100, .vhost_ns = 40, .kvm_ns = 0
  };
  struct iov_demand d;
  (void)state;

  /* TCG: the vCPU threads are the guest, not host overhead. */
  assert_int_equal(iov_proccpu_demand(&vm, 800, 10, 2048, 0, &d), 0);
  assert_int_equal(d.host_ns, 150);
  assert_int_equal(d.total_ns, 950);
  assert_true(d.host_complete);
  assert_true(fabs(d.guest_ns_per_kib - 400.0) < 1e-9);
  assert_true(fabs(d.host_ns_per_kib - 75.0) < 1e-9);
  assert_true(isnan(d.host_ns_per_tx));
  /* KVM with guest time: the rest of the vCPU threads' time is the host's. */
  vm.accel = IOV_ACCEL_KVM;
  vm.vcpu_guest_ns = 700;
  vm.vcpu_split = true;
  assert_int_equal(iov_proccpu_demand(&vm, 800, 0, 0, 4, &d), 0);
  assert_int_equal(d.host_ns, 340);
  assert_true(isnan(d.total_ns_per_kib));
  assert_true(fabs(d.host_ns_per_tx - 85.0) < 1e-9);
  assert_int_equal(iov_proccpu_demand(NULL, 0, 0, 0, 0, &d), -EINVAL);
  assert_int_equal(iov_proccpu_demand(&vm, 0, 0, 0, 0, NULL), -EINVAL);
  assert_int_equal(iov_proccpu_vm_summary(NULL, NULL, &vm), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_enum_strings),     cmocka_unit_test(test_classify),
    cmocka_unit_test(test_live_process),     cmocka_unit_test(test_qemu_kvm),
    cmocka_unit_test(test_qemu_tcg),         cmocka_unit_test(test_qemu_unnamed),
    cmocka_unit_test(test_handmade_threads), cmocka_unit_test(test_handmade_delta),
    cmocka_unit_test(test_delta_stale),      cmocka_unit_test(test_kvm_handmade),
    cmocka_unit_test(test_kvm_unknown),      cmocka_unit_test(test_damaged),
    cmocka_unit_test(test_rescan),           cmocka_unit_test(test_open_errors),
    cmocka_unit_test(test_host_irq),         cmocka_unit_test(test_demand),
  };

  find_fixtures();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
