/* Host CPU per VM: a qemu process's threads from /proc, KVM's counters
 * from debugfs (see proccpu.h).
 *
 * Each task's <proc>/PID/task/TID/stat is read whole into a small buffer
 * and parsed in place.  The file is one line; its second field, comm, is
 * the raw thread name in parentheses and may itself hold spaces, '(' and
 * ')' (and even a newline), but no field after it holds a ')', so the
 * name ends at the last ')'.  The task directory is opened once per read
 * and the stat files are opened relative to it. */
#include "proccpu.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "parse.h"

/* A stat line is under 400 bytes on 64-bit Linux: 52 fields of at most
 * 20 digits and a 64-byte name fit in 1,200.  Anything that fills the
 * buffer is not a stat line. */
#define STAT_BUF 2048
#define COMM_BUF (IOV_PROCCPU_COMM_MAX + 2)
#define KVM_BUF 32

/* Fields of a stat line, counted after the ')' from field 3 (state). */
#define TOK_UTIME 11      /* field 14 */
#define TOK_STIME 12      /* field 15 */
#define TOK_STARTTIME 19  /* field 22 */
#define TOK_GUEST_TIME 40 /* field 43, since Linux 2.6.24 */

static const char *const class_names[_IOV_THREAD_CLASS_MAX] = {
  [IOV_THREAD_VCPU] = "vcpu",     [IOV_THREAD_MAIN] = "main",   [IOV_THREAD_IOTHREAD] = "iothread",
  [IOV_THREAD_WORKER] = "worker", [IOV_THREAD_VHOST] = "vhost", [IOV_THREAD_KVM] = "kvm",
};

static const char *const accel_names[_IOV_ACCEL_MAX] = {
  [IOV_ACCEL_UNKNOWN] = "unknown",
  [IOV_ACCEL_KVM] = "kvm",
  [IOV_ACCEL_TCG] = "tcg",
  [IOV_ACCEL_OTHER] = "other",
};

static const char *const kvm_stat_names[_IOV_KVM_STAT_MAX] = {
  [IOV_KVM_EXITS] = "exits",
  [IOV_KVM_HALT_EXITS] = "halt_exits",
  [IOV_KVM_IO_EXITS] = "io_exits",
  [IOV_KVM_MMIO_EXITS] = "mmio_exits",
  [IOV_KVM_IRQ_EXITS] = "irq_exits",
  [IOV_KVM_SIGNAL_EXITS] = "signal_exits",
  [IOV_KVM_IRQ_WINDOW_EXITS] = "irq_window_exits",
  [IOV_KVM_NMI_WINDOW_EXITS] = "nmi_window_exits",
  [IOV_KVM_REQUEST_IRQ_EXITS] = "request_irq_exits",
  [IOV_KVM_IRQ_INJECTIONS] = "irq_injections",
  [IOV_KVM_HALT_WAKEUP] = "halt_wakeup",
  [IOV_KVM_INSN_EMULATION] = "insn_emulation",
  [IOV_KVM_HYPERCALLS] = "hypercalls",
};

static int lookup(const char *const *names, int n, const char *s) {
  if (!s) return -EINVAL;
  for (int i = 0; i < n; i++)
    if (names[i] && strcmp(names[i], s) == 0) return i;
  return -EINVAL;
}

const char *iov_thread_class_to_string(enum iov_thread_class c) {
  return c >= 0 && c < _IOV_THREAD_CLASS_MAX ? class_names[c] : NULL;
}

enum iov_thread_class iov_thread_class_from_string(const char *s) {
  return (enum iov_thread_class)lookup(class_names, _IOV_THREAD_CLASS_MAX, s);
}

const char *iov_accel_to_string(enum iov_accel a) {
  return a >= 0 && a < _IOV_ACCEL_MAX ? accel_names[a] : NULL;
}

enum iov_accel iov_accel_from_string(const char *s) {
  return (enum iov_accel)lookup(accel_names, _IOV_ACCEL_MAX, s);
}

const char *iov_kvm_stat_to_string(enum iov_kvm_stat s) {
  return s >= 0 && s < _IOV_KVM_STAT_MAX ? kvm_stat_names[s] : NULL;
}

enum iov_kvm_stat iov_kvm_stat_from_string(const char *s) {
  return (enum iov_kvm_stat)lookup(kvm_stat_names, _IOV_KVM_STAT_MAX, s);
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* A decimal PID or TID: 1..INT_MAX, digits only. */
static int parse_pid(const char *s, pid_t *ret) {
  uint64_t v;

  if (iov_parse_u64(s, &v) < 0 || v == 0 || v > INT_MAX) return -EINVAL;
  *ret = (pid_t)v;
  return 0;
}

/* Does s start with prefix, followed by a PID to the end?  *ret_n gets it. */
static bool prefix_pid(const char *s, const char *prefix, pid_t *ret_n) {
  size_t k = strlen(prefix);

  return strncmp(s, prefix, k) == 0 && parse_pid(s + k, ret_n) == 0;
}

/* "CPU N/ACCEL" or "ALL CPUs/TCG". */
static bool parse_vcpu_name(const char *comm, int *ret_vcpu, enum iov_accel *ret_accel) {
  const char *p, *accel;
  uint64_t n = 0;

  if (strcmp(comm, "ALL CPUs/TCG") == 0) {
    *ret_vcpu = -1;
    *ret_accel = IOV_ACCEL_TCG;
    return true;
  }
  if (strncmp(comm, "CPU ", 4) != 0) return false;
  p = comm + 4;
  if (!is_digit(*p)) return false;
  for (; is_digit(*p); p++) {
    n = n * 10 + (uint64_t)(*p - '0');
    if (n > INT_MAX) return false;
  }
  if (*p != '/' || !p[1]) return false;
  accel = p + 1;
  *ret_vcpu = (int)n;
  if (strcmp(accel, "KVM") == 0)
    *ret_accel = IOV_ACCEL_KVM;
  else if (strcmp(accel, "TCG") == 0)
    *ret_accel = IOV_ACCEL_TCG;
  else
    *ret_accel = IOV_ACCEL_OTHER;
  return true;
}

enum iov_thread_class iov_proccpu_classify(const char *comm, pid_t tid, pid_t pid, bool external,
                                           int *ret_vcpu, enum iov_accel *ret_accel) {
  enum iov_accel accel = IOV_ACCEL_UNKNOWN;
  enum iov_thread_class c;
  int vcpu = -1;
  pid_t n;

  if (!comm) return _IOV_THREAD_CLASS_INVALID;
  if (external) {
    if (prefix_pid(comm, "vhost-", &n))
      c = IOV_THREAD_VHOST;
    else if (prefix_pid(comm, "kvm-pit/", &n))
      c = IOV_THREAD_KVM;
    else
      return _IOV_THREAD_CLASS_INVALID;
  } else if (tid == pid) {
    /* The main thread carries the process's name, which -name
     * process=... can make anything. */
    c = IOV_THREAD_MAIN;
  } else if (parse_vcpu_name(comm, &vcpu, &accel)) {
    c = IOV_THREAD_VCPU;
  } else if (strncmp(comm, "IO ", 3) == 0) {
    c = IOV_THREAD_IOTHREAD;
  } else if (strncmp(comm, "vhost-", 6) == 0) {
    c = IOV_THREAD_VHOST;
  } else if (strncmp(comm, "kvm-", 4) == 0) {
    c = IOV_THREAD_KVM;
  } else {
    c = IOV_THREAD_WORKER;
  }
  if (ret_vcpu) *ret_vcpu = vcpu;
  if (ret_accel) *ret_accel = accel;
  return c;
}

/* ---- Reading files ---- */

/* Read a whole small file at dirfd/path into buf (size bytes, NUL
 * terminated).  Returns its length, -EFBIG when it does not fit, or an
 * open(2)/read(2) error. */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t size) {
  size_t len = 0;
  int fd, r = 0;

  fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  for (;;) {
    ssize_t k = read(fd, buf + len, size - 1 - len);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      r = -errno;
      break;
    }
    if (k == 0) break;
    len += (size_t)k;
    if (len == size - 1) {
      char probe;
      do k = read(fd, &probe, 1);
      while (k < 0 && errno == EINTR);
      if (k != 0) r = k < 0 ? -errno : -EFBIG;
      break;
    }
  }
  close(fd);
  if (r < 0) return r;
  buf[len] = 0;
  return (ssize_t)len;
}

/* A task that exited between readdir and read: ENOENT when its directory
 * is gone, ESRCH when it died with the file open, or an empty file. */
static bool vanished(ssize_t r) { return r == 0 || r == -ENOENT || r == -ESRCH; }

struct stat_fields {
  pid_t tid;
  uint64_t utime, stime, start, guest; /* ticks */
  char comm[IOV_PROCCPU_COMM_MAX];
};

/* Parse one stat file of len bytes in place. */
static int parse_stat(char *buf, size_t len, struct stat_fields *ret) {
  char *lp, *rp, *p;
  uint64_t v[TOK_GUEST_TIME + 1] = { 0 };
  size_t comm_len;
  int n = 0;

  if (len == 0 || buf[len - 1] != '\n' || memchr(buf, 0, len)) return -EBADMSG;
  buf[len - 1] = 0;
  lp = strchr(buf, '(');
  if (!lp || lp == buf || lp[-1] != ' ') return -EBADMSG;
  lp[-1] = 0;
  if (parse_pid(buf, &ret->tid) < 0) return -EBADMSG;
  rp = strrchr(lp, ')');
  if (!rp) return -EBADMSG;
  comm_len = (size_t)(rp - lp - 1);
  if (comm_len >= sizeof(ret->comm)) return -EBADMSG;
  memcpy(ret->comm, lp + 1, comm_len);
  ret->comm[comm_len] = 0;

  /* The fields after the name, each preceded by exactly one space. */
  p = rp + 1;
  while (*p) {
    char *tok, *end;

    if (*p != ' ') return -EBADMSG;
    tok = p + 1;
    end = strchr(tok, ' ');
    if (end) *end = 0;
    if (!*tok) return -EBADMSG;
    if (n == TOK_UTIME || n == TOK_STIME || n == TOK_STARTTIME || n == TOK_GUEST_TIME) {
      if (iov_parse_u64(tok, &v[n]) < 0) return -EBADMSG;
    }
    n++;
    if (!end) break;
    /* Put the separator back: the next turn starts at it. */
    *end = ' ';
    p = end;
  }
  if (n <= TOK_STARTTIME) return -EBADMSG;
  ret->utime = v[TOK_UTIME];
  ret->stime = v[TOK_STIME];
  ret->start = v[TOK_STARTTIME];
  ret->guest = v[TOK_GUEST_TIME];
  return 0;
}

/* ---- The reader ---- */

struct external {
  pid_t tid;
  char comm[IOV_PROCCPU_COMM_MAX];
};

struct iov_proccpu {
  char *root;     /* the proc root */
  char *task_dir; /* <root>/<pid>/task */
  pid_t pid;
  uint64_t hz;   /* USER_HZ */
  uint64_t mult; /* ns per tick when hz divides 10^9, else 0 */
  bool scanned;
  struct external *ext;
  size_t n_ext, cap_ext;
};

static uint64_t ticks_to_ns(const struct iov_proccpu *p, uint64_t ticks) {
  if (p->mult) return ticks * p->mult;
  return (ticks / p->hz) * IOV_NSEC_PER_SEC + (ticks % p->hz) * IOV_NSEC_PER_SEC / p->hz;
}

int iov_proccpu_open(const char *proc_root, pid_t pid, struct iov_proccpu **ret) {
  struct iov_proccpu *p;
  size_t n;
  long hz;

  if (!ret || pid <= 0) return -EINVAL;
  if (!proc_root) proc_root = "/proc";
  n = strlen(proc_root) + 32;
  if (n > PATH_MAX) return -ENAMETOOLONG;
  hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) return -EOPNOTSUPP;

  p = calloc(1, sizeof(*p));
  if (!p) return -ENOMEM;
  p->pid = pid;
  p->hz = (uint64_t)hz;
  p->mult = IOV_NSEC_PER_SEC % p->hz == 0 ? IOV_NSEC_PER_SEC / p->hz : 0;
  p->root = strdup(proc_root);
  p->task_dir = malloc(n);
  if (!p->root || !p->task_dir) {
    iov_proccpu_free(p);
    return -ENOMEM;
  }
  snprintf(p->task_dir, n, "%s/%d/task", proc_root, (int)pid);
  *ret = p;
  return 0;
}

struct iov_proccpu *iov_proccpu_free(struct iov_proccpu *p) {
  if (!p) return NULL;
  free(p->root);
  free(p->task_dir);
  free(p->ext);
  free(p);
  return NULL;
}

void iov_proccpu_snap_init(struct iov_proccpu_snap *s) { *s = (struct iov_proccpu_snap){ 0 }; }

void iov_proccpu_snap_done(struct iov_proccpu_snap *s) {
  if (!s) return;
  free(s->threads);
  iov_proccpu_snap_init(s);
}

static int snap_reserve(struct iov_proccpu_snap *s, size_t n) {
  struct iov_proccpu_thread *t;
  size_t cap;

  if (n <= s->cap_) return 0;
  if (n > (size_t)IOV_PROCCPU_MAX_THREADS + IOV_PROCCPU_MAX_EXTERNAL) return -E2BIG;
  cap = s->cap_ ? s->cap_ * 2 : 16;
  if (cap < n) cap = n;
  t = realloc(s->threads, cap * sizeof(*t));
  if (!t) return -ENOMEM;
  s->threads = t;
  s->cap_ = cap;
  return 0;
}

static int cmp_tid(const void *a, const void *b) {
  pid_t x = ((const struct iov_proccpu_thread *)a)->tid, y = ((const struct iov_proccpu_thread *)b)->tid;
  return (x > y) - (x < y);
}

static const struct iov_proccpu_thread *find_tid(const struct iov_proccpu_snap *s, size_t n, pid_t tid) {
  struct iov_proccpu_thread key = { .tid = tid };
  return bsearch(&key, s->threads, n, sizeof(key), cmp_tid);
}

static void fill_thread(const struct iov_proccpu *p, const struct stat_fields *f, bool external,
                        struct iov_proccpu_thread *t) {
  enum iov_thread_class c;

  *t = (struct iov_proccpu_thread){ .tid = f->tid, .external = external, .start_ticks = f->start };
  memcpy(t->comm, f->comm, sizeof(t->comm));
  c = iov_proccpu_classify(f->comm, f->tid, p->pid, external, &t->vcpu, NULL);
  /* An external thread is only followed while its name matches, so c is
   * valid; be safe all the same. */
  t->cls = c >= 0 ? c : IOV_THREAD_WORKER;
  t->user_ns = ticks_to_ns(p, f->utime);
  t->system_ns = ticks_to_ns(p, f->stime);
  t->guest_ns = ticks_to_ns(p, f->guest);
}

/* Is comm a kernel worker named after one of the process's tasks? */
static bool external_name(const char *comm, pid_t pid, const struct iov_proccpu_snap *s, size_t n) {
  pid_t owner;

  if (!prefix_pid(comm, "vhost-", &owner) && !prefix_pid(comm, "kvm-pit/", &owner)) return false;
  return owner == pid || find_tid(s, n, owner) != NULL;
}

/* Look through <root>/<n>/comm for kernel workers of this process; s
 * holds its n tasks, sorted.  Replaces the reader's list. */
static int scan_external(struct iov_proccpu *p, const struct iov_proccpu_snap *s, size_t n) {
  char comm[COMM_BUF];
  struct dirent *de;
  DIR *d;

  d = opendir(p->root);
  if (!d) return -errno;
  p->n_ext = 0;
  while ((de = readdir(d))) {
    char path[32];
    pid_t k;
    ssize_t len;

    if (!is_digit(de->d_name[0]) || parse_pid(de->d_name, &k) < 0) continue;
    if (k == p->pid || find_tid(s, n, k)) continue;
    snprintf(path, sizeof(path), "%d/comm", (int)k);
    len = read_small(dirfd(d), path, comm, sizeof(comm));
    if (len <= 0) continue; /* gone, unreadable or too long: not ours */
    if (comm[len - 1] == '\n') comm[--len] = 0;
    if ((size_t)len >= IOV_PROCCPU_COMM_MAX || !external_name(comm, p->pid, s, n)) continue;
    if (p->n_ext >= IOV_PROCCPU_MAX_EXTERNAL) break;
    if (p->n_ext == p->cap_ext) {
      size_t cap = p->cap_ext ? p->cap_ext * 2 : 8;
      struct external *e = realloc(p->ext, cap * sizeof(*e));
      if (!e) {
        closedir(d);
        return -ENOMEM;
      }
      p->ext = e;
      p->cap_ext = cap;
    }
    p->ext[p->n_ext].tid = k;
    memcpy(p->ext[p->n_ext].comm, comm, (size_t)len + 1);
    p->n_ext++;
  }
  closedir(d);
  return 0;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * IOV_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int read_process(struct iov_proccpu *p, struct iov_proccpu_snap *s) {
  char buf[STAT_BUF], path[32];
  struct stat_fields f;
  ssize_t len;
  int rootfd;

  rootfd = open(p->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return -errno;
  snprintf(path, sizeof(path), "%d/stat", (int)p->pid);
  len = read_small(rootfd, path, buf, sizeof(buf));
  close(rootfd);
  if (vanished(len)) return -ESRCH;
  if (len == -EFBIG) return -EBADMSG;
  if (len < 0) return (int)len;
  if (parse_stat(buf, (size_t)len, &f) < 0 || f.tid != p->pid) return -EBADMSG;
  s->pid = p->pid;
  s->start_ticks = f.start;
  s->user_ns = ticks_to_ns(p, f.utime);
  s->system_ns = ticks_to_ns(p, f.stime);
  s->guest_ns = ticks_to_ns(p, f.guest);
  return 0;
}

/* Read one task's stat at dirfd/<tid>/stat into s->threads[s->n_threads]. */
static int read_task(struct iov_proccpu *p, int dirfd, pid_t tid, bool external, struct iov_proccpu_snap *s) {
  char buf[STAT_BUF], path[32];
  struct stat_fields f;
  ssize_t len;
  int r;

  snprintf(path, sizeof(path), "%d/stat", (int)tid);
  len = read_small(dirfd, path, buf, sizeof(buf));
  if (vanished(len)) {
    s->n_vanished++;
    return 0;
  }
  if (len < 0 && len != -EFBIG) return (int)len;
  if (len < 0 || parse_stat(buf, (size_t)len, &f) < 0 || f.tid != tid) {
    s->n_malformed++;
    return 0;
  }
  if (external && iov_proccpu_classify(f.comm, tid, p->pid, true, NULL, NULL) < 0) return 0;
  r = snap_reserve(s, s->n_threads + 1);
  if (r < 0) return r;
  fill_thread(p, &f, external, &s->threads[s->n_threads++]);
  return 0;
}

static int read_tasks(struct iov_proccpu *p, struct iov_proccpu_snap *s) {
  struct dirent *de;
  DIR *d;
  int r = 0;

  d = opendir(p->task_dir);
  if (!d) return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
  while ((de = readdir(d))) {
    pid_t tid;

    if (!is_digit(de->d_name[0]) || parse_pid(de->d_name, &tid) < 0) continue;
    if (s->n_threads + s->n_malformed + s->n_vanished >= IOV_PROCCPU_MAX_THREADS) {
      r = -E2BIG;
      break;
    }
    r = read_task(p, dirfd(d), tid, false, s);
    if (r < 0) break;
  }
  closedir(d);
  return r;
}

static int read_externals(struct iov_proccpu *p, size_t n_tasks, struct iov_proccpu_snap *s) {
  size_t keep = 0;
  int rootfd, r = 0;

  rootfd = open(p->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return -errno;
  for (size_t i = 0; i < p->n_ext; i++) {
    const struct external *e = &p->ext[i];
    size_t before = s->n_threads, vanished_before = s->n_vanished, bad_before = s->n_malformed;

    /* A task never changes its thread group, so this only happens in a
     * made-up tree; count the task once, as the process's. */
    if (find_tid(s, n_tasks, e->tid)) continue;
    r = read_task(p, rootfd, e->tid, true, s);
    if (r < 0) break;
    /* An external worker that exited, or whose TID now names another
     * task, is dropped from the list; its exit is not the process's, so
     * it does not count in n_vanished. */
    if (s->n_threads == before || strcmp(s->threads[before].comm, e->comm) != 0) {
      s->n_threads = before;
      s->n_vanished = vanished_before;
      s->n_malformed = bad_before;
      continue;
    }
    p->ext[keep++] = *e;
  }
  if (r == 0) p->n_ext = keep;
  close(rootfd);
  return r;
}

int iov_proccpu_read(struct iov_proccpu *p, unsigned flags, struct iov_proccpu_snap *s) {
  size_t n_tasks;
  int r;

  if (!p || !s) return -EINVAL;
  s->n_threads = s->n_malformed = s->n_vanished = 0;
  s->accel = IOV_ACCEL_UNKNOWN;
  s->n_vcpus = 0;

  r = read_process(p, s);
  if (r < 0) return r;
  r = read_tasks(p, s);
  if (r < 0) return r;
  n_tasks = s->n_threads;
  qsort(s->threads, n_tasks, sizeof(*s->threads), cmp_tid);

  if (!p->scanned || (flags & IOV_PROCCPU_SCAN)) {
    r = scan_external(p, s, n_tasks);
    if (r < 0) return r;
    p->scanned = true;
  }
  r = read_externals(p, n_tasks, s);
  if (r < 0) return r;
  if (s->n_threads > n_tasks) qsort(s->threads, s->n_threads, sizeof(*s->threads), cmp_tid);

  for (size_t i = 0; i < s->n_threads; i++) {
    enum iov_accel a;
    int vcpu;

    if (s->threads[i].cls != IOV_THREAD_VCPU) continue;
    (void)iov_proccpu_classify(s->threads[i].comm, s->threads[i].tid, p->pid, false, &vcpu, &a);
    s->n_vcpus++;
    if (s->accel == IOV_ACCEL_UNKNOWN)
      s->accel = a;
    else if (s->accel != a)
      s->accel = IOV_ACCEL_OTHER;
  }
  s->time_ns = now_ns();
  return (int)s->n_threads;
}

/* ---- Differences ---- */

/* b - a for counters that may wrap (modulo 2^64) and may step back: a
 * difference that looks negative counts as nothing. */
static uint64_t diff(uint64_t a, uint64_t b) {
  uint64_t d = b - a;
  return d > (uint64_t)INT64_MAX ? 0 : d;
}

static bool same_thread(const struct iov_proccpu_thread *a, const struct iov_proccpu_thread *b) {
  return a->tid == b->tid && a->start_ticks == b->start_ticks && a->external == b->external;
}

int iov_proccpu_delta(const struct iov_proccpu_snap *prev, const struct iov_proccpu_snap *cur,
                      struct iov_proccpu_usage *ret, struct iov_proccpu_thread *ret_threads,
                      size_t n_threads) {
  struct iov_proccpu_usage u = { 0 };
  uint64_t in_process = 0;
  size_t i = 0;

  if (!prev || !cur || !ret) return -EINVAL;
  if ((prev->n_threads && !prev->threads) || (cur->n_threads && !cur->threads)) return -EINVAL;
  if (prev->pid != cur->pid || prev->start_ticks != cur->start_ticks) return -ESTALE;

  u.interval_ns = diff(prev->time_ns, cur->time_ns);
  u.accel = cur->accel;
  u.n_vcpus = cur->n_vcpus;
  /* Both lists are in ascending TID order: a merge join. */
  for (size_t j = 0; j < cur->n_threads; j++) {
    const struct iov_proccpu_thread *b = &cur->threads[j], *a = NULL;
    struct iov_proccpu_class_usage *c;
    struct iov_proccpu_thread d = *b;

    for (; i < prev->n_threads && prev->threads[i].tid < b->tid; i++)
      if (!prev->threads[i].external) u.n_exited++;
    if (i < prev->n_threads && prev->threads[i].tid == b->tid) {
      if (same_thread(&prev->threads[i], b))
        a = &prev->threads[i];
      else if (!prev->threads[i].external)
        u.n_exited++; /* its TID was reused */
      i++;
    }
    if (a) {
      d.user_ns = diff(a->user_ns, b->user_ns);
      d.system_ns = diff(a->system_ns, b->system_ns);
      d.guest_ns = diff(a->guest_ns, b->guest_ns);
    }
    c = &u.cls[b->cls];
    c->user_ns += d.user_ns;
    c->system_ns += d.system_ns;
    c->guest_ns += d.guest_ns;
    c->n_threads++;
    u.total_ns += d.user_ns + d.system_ns;
    if (!b->external) in_process += d.user_ns + d.system_ns;
    if (ret_threads && j < n_threads) ret_threads[j] = d;
  }
  for (; i < prev->n_threads; i++)
    if (!prev->threads[i].external) u.n_exited++;

  if (u.n_exited) {
    uint64_t whole = diff(prev->user_ns + prev->system_ns, cur->user_ns + cur->system_ns);
    u.exited_ns = whole > in_process ? whole - in_process : 0;
    u.total_ns += u.exited_ns;
  }
  *ret = u;
  if (ret_threads && n_threads < cur->n_threads) return -ENOBUFS;
  return (int)cur->n_threads;
}

/* ---- KVM's counters ---- */

static bool vm_dir_name(const char *name, pid_t pid, const struct iov_proccpu_snap *threads) {
  const char *dash = strchr(name, '-');
  char owner[16];
  uint64_t fd;
  size_t k;
  pid_t n;

  /* KVM writes "%d-%d": the creating thread and the VM's fd. */
  if (!dash) return false;
  k = (size_t)(dash - name);
  if (k == 0 || k >= sizeof(owner)) return false;
  memcpy(owner, name, k);
  owner[k] = 0;
  if (parse_pid(owner, &n) < 0 || iov_parse_u64(dash + 1, &fd) < 0) return false;
  if (n == pid) return true;
  return threads && find_tid(threads, threads->n_threads, n);
}

/* Read one VM directory's counters; returns the mask of those read. */
static uint32_t read_vm_dir(int kvmfd, const char *name, uint64_t v[_IOV_KVM_STAT_MAX]) {
  uint32_t known = 0;

  for (int i = 0; i < _IOV_KVM_STAT_MAX; i++) {
    char path[NAME_MAX + 32], buf[KVM_BUF];
    ssize_t len;

    snprintf(path, sizeof(path), "%s/%s", name, kvm_stat_names[i]);
    len = read_small(kvmfd, path, buf, sizeof(buf));
    if (len <= 0) continue;
    if (buf[len - 1] == '\n') buf[--len] = 0;
    if (iov_parse_u64(buf, &v[i]) < 0) continue;
    known |= 1u << i;
  }
  return known;
}

int iov_proccpu_kvm_read(const char *debugfs_root, pid_t pid, const struct iov_proccpu_snap *threads,
                         struct iov_kvm_exits *ret) {
  struct iov_kvm_exits k = { 0 };
  char path[PATH_MAX];
  uint32_t known = 0;
  struct dirent *de;
  DIR *d;
  int n;

  if (!ret || pid <= 0 || (threads && threads->pid != pid)) return -EINVAL;
  if (!debugfs_root) debugfs_root = "/sys/kernel/debug";
  n = snprintf(path, sizeof(path), "%s/kvm", debugfs_root);
  if (n < 0 || (size_t)n >= sizeof(path)) return -ENAMETOOLONG;

  /* No debugfs, no KVM, or no right to look: all unknown. */
  d = opendir(path);
  if (!d) {
    *ret = k;
    return 0;
  }
  while ((de = readdir(d))) {
    uint64_t v[_IOV_KVM_STAT_MAX] = { 0 };
    uint32_t m;

    if (!is_digit(de->d_name[0]) || !vm_dir_name(de->d_name, pid, threads)) continue;
    m = read_vm_dir(dirfd(d), de->d_name, v);
    known = k.n_vms == 0 ? m : known & m;
    k.n_vms++;
    for (int i = 0; i < _IOV_KVM_STAT_MAX; i++) k.v[i] += v[i];
  }
  closedir(d);
  k.known = known;
  for (int i = 0; i < _IOV_KVM_STAT_MAX; i++)
    if (!(known & (1u << i))) k.v[i] = 0;
  *ret = k;
  return known ? 1 : 0;
}

int iov_proccpu_kvm_delta(const struct iov_kvm_exits *prev, const struct iov_kvm_exits *cur,
                          struct iov_kvm_exits *ret) {
  struct iov_kvm_exits k = { 0 };

  if (!prev || !cur || !ret) return -EINVAL;
  k.known = prev->known & cur->known;
  k.n_vms = cur->n_vms;
  for (int i = 0; i < _IOV_KVM_STAT_MAX; i++)
    if (k.known & (1u << i)) k.v[i] = diff(prev->v[i], cur->v[i]);
  *ret = k;
  return k.known ? 1 : 0;
}

/* ---- Host interrupt time ---- */

static bool cores_valid(const struct iov_cpustat_core *c, size_t n) {
  if (!c || n == 0 || n > (size_t)IOV_CPUSTAT_MAX_CPUS + 1 || c[0].cpu != -1) return false;
  for (size_t i = 1; i < n; i++)
    if (c[i].cpu < 0 || c[i].cpu >= IOV_CPUSTAT_MAX_CPUS || (i > 1 && c[i].cpu <= c[i - 1].cpu)) return false;
  return true;
}

int iov_proccpu_host_irq(const struct iov_cpustat_core *prev, size_t n_prev,
                         const struct iov_cpustat_core *cur, size_t n_cur, const uint16_t *cpus,
                         size_t n_cpus, uint64_t *ret_irq_ns, uint64_t *ret_softirq_ns) {
  uint64_t want[IOV_CPUSTAT_MAX_CPUS / 64] = { 0 };
  uint64_t irq = 0, softirq = 0;
  size_t i = 1, j = 1, common = 0;

  if (!cores_valid(prev, n_prev) || !cores_valid(cur, n_cur) || !ret_irq_ns || !ret_softirq_ns)
    return -EINVAL;
  if (cpus) {
    if (n_prev == 1 || n_cur == 1) return -EINVAL;
    for (size_t k = 0; k < n_cpus; k++) {
      if (cpus[k] >= IOV_CPUSTAT_MAX_CPUS) return -EINVAL;
      want[cpus[k] / 64] |= 1ULL << (cpus[k] % 64);
    }
  }
  while (i < n_prev && j < n_cur) {
    if (prev[i].cpu < cur[j].cpu) {
      i++;
    } else if (prev[i].cpu > cur[j].cpu) {
      j++;
    } else {
      int c = cur[j].cpu;
      common++;
      if (!cpus || (want[c / 64] & (1ULL << (c % 64)))) {
        irq += diff(prev[i].irq_ns, cur[j].irq_ns);
        softirq += diff(prev[i].softirq_ns, cur[j].softirq_ns);
      }
      i++;
      j++;
    }
  }
  if (common == 0) {
    if (cpus) return -EINVAL;
    irq = diff(prev[0].irq_ns, cur[0].irq_ns);
    softirq = diff(prev[0].softirq_ns, cur[0].softirq_ns);
  }
  *ret_irq_ns = irq;
  *ret_softirq_ns = softirq;
  return 0;
}

/* ---- Per-VM summary and service demand ---- */

static uint64_t class_ns(const struct iov_proccpu_usage *u, enum iov_thread_class c) {
  return u->cls[c].user_ns + u->cls[c].system_ns;
}

int iov_proccpu_vm_summary(const struct iov_proccpu_usage *u, const struct iov_kvm_exits *exits,
                           struct iov_vm_cpu *ret) {
  struct iov_vm_cpu v = { 0 };

  if (!u || !ret) return -EINVAL;
  v.interval_ns = u->interval_ns;
  v.accel = u->accel;
  v.n_vcpus = u->n_vcpus;
  v.vcpu_ns = class_ns(u, IOV_THREAD_VCPU);
  v.vcpu_guest_ns = u->cls[IOV_THREAD_VCPU].guest_ns;
  /* guest_time is counted in ticks apart from the adjusted user time, so
   * it can read a little above it. */
  if (v.vcpu_guest_ns > v.vcpu_ns) v.vcpu_guest_ns = v.vcpu_ns;
  v.vcpu_split = v.accel == IOV_ACCEL_KVM && v.vcpu_guest_ns > 0;
  v.io_ns = class_ns(u, IOV_THREAD_MAIN) + class_ns(u, IOV_THREAD_IOTHREAD) + class_ns(u, IOV_THREAD_WORKER) +
            u->exited_ns;
  v.vhost_ns = class_ns(u, IOV_THREAD_VHOST);
  v.kvm_ns = class_ns(u, IOV_THREAD_KVM);
  v.total_ns = v.vcpu_ns + v.io_ns + v.vhost_ns + v.kvm_ns;
  if (exits) v.exits = *exits;
  *ret = v;
  return 0;
}

static double per_unit(uint64_t ns, double units) { return units > 0 ? (double)ns / units : NAN; }

int iov_proccpu_demand(const struct iov_vm_cpu *vm, uint64_t guest_busy_ns, uint64_t host_irq_ns,
                       uint64_t bytes, uint64_t transactions, struct iov_demand *ret) {
  struct iov_demand d = { 0 };
  double kib = (double)bytes / 1024.0, tx = (double)transactions;

  if (!vm || !ret) return -EINVAL;
  d.guest_ns = guest_busy_ns;
  d.host_ns = vm->io_ns + vm->vhost_ns + vm->kvm_ns + host_irq_ns;
  if (vm->vcpu_split) d.host_ns += vm->vcpu_ns - vm->vcpu_guest_ns;
  d.total_ns = d.guest_ns + d.host_ns;
  d.host_complete = vm->accel != IOV_ACCEL_UNKNOWN;
  d.guest_ns_per_kib = per_unit(d.guest_ns, kib);
  d.host_ns_per_kib = per_unit(d.host_ns, kib);
  d.total_ns_per_kib = per_unit(d.total_ns, kib);
  d.guest_ns_per_tx = per_unit(d.guest_ns, tx);
  d.host_ns_per_tx = per_unit(d.host_ns, tx);
  d.total_ns_per_tx = per_unit(d.total_ns, tx);
  *ret = d;
  return 0;
}
