/* See iproute.h. */
#include "iproute.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "macro.h"
#include "spawn.h"
#include "timeutil.h"

#define MAX_ARGS 64

static void join_cmd(char *const argv[], char *buf, size_t len) {
  size_t o = 0;
  buf[0] = 0;
  for (size_t i = 0; argv[i] && o < len - 1; i++) {
    int k = snprintf(buf + o, len - o, "%s%s", i ? " " : "", argv[i]);
    if (k < 0) break;
    o += (size_t)k;
  }
}

/* Copy what ip wrote to the log. */
static void copy_output(int from, int to) {
  char buf[4096];
  off_t off = 0;
  ssize_t k;
  while ((k = pread(from, buf, sizeof(buf), off)) > 0) {
    if (iov_write_all(to, buf, (size_t)k) < 0) break;
    off += k;
  }
}

static int start(const struct iov_ip_opts *o, char *const args[], const char *batch_text,
                 struct iov_ip_proc *ret, char *err, size_t errlen) {
  static const struct iov_ip_opts none = { 0 };
  char *argv[MAX_ARGS + 6];
  size_t a = 0;

  *ret = (struct iov_ip_proc){ .out_fd = -1 };
  if (!o) o = &none;
  argv[a++] = "ip";
  if (o->force) argv[a++] = "-force";
  if (o->netns) {
    argv[a++] = "-n";
    argv[a++] = (char *)o->netns;
  }
  for (size_t i = 0; args[i]; i++) {
    if (i == MAX_ARGS) return iov_errf(-E2BIG, err, errlen, "more than %d arguments for ip", MAX_ARGS);
    argv[a++] = args[i];
  }
  argv[a] = NULL;
  join_cmd(argv, ret->cmd, sizeof(ret->cmd));
  ret->log_fd = o->log_fd > 0 ? o->log_fd : -1;
  if (ret->log_fd > 0) {
    dprintf(ret->log_fd, "+ %s\n", ret->cmd);
    if (batch_text) dprintf(ret->log_fd, "%s", batch_text);
  }
  ret->out_fd = memfd_create("iovbench-ip", MFD_CLOEXEC);
  if (ret->out_fd < 0)
    return iov_errf(-errno, err, errlen, "'%s': memfd_create: %s", ret->cmd, strerror(errno));
  pid_t pid = iov_spawn(argv, &(struct iov_spawn_opts){ .out_fd = ret->out_fd, .search_path = true });
  if (pid < 0) {
    close(ret->out_fd);
    ret->out_fd = -1;
    return iov_errf(pid, err, errlen, "cannot start '%s': %s", ret->cmd, strerror(-pid));
  }
  ret->pid = pid;
  ret->deadline =
      iov_now_mono() + (uint64_t)(o->timeout_ms ? o->timeout_ms : IOV_IP_TIMEOUT_MS) * IOV_NSEC_PER_MSEC;
  return 0;
}

int iov_ip_wait(struct iov_ip_proc *p, char *err, size_t errlen) {
  int status = 0, r = 0;
  bool timed_out = false;
  unsigned nap_us = 200;

  if (!p || p->pid <= 0) return 0;
  /* A pidfd wakes us when ip exits (Linux 5.3); without one, naps. */
  int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
  for (;;) {
    pid_t w = waitpid(p->pid, &status, WNOHANG);
    if (w == p->pid) break;
    if (w < 0 && errno != EINTR) {
      r = -errno;
      break;
    }
    uint64_t now = iov_now_mono();
    if (w == 0 && now >= p->deadline) {
      timed_out = true;
      (void)kill(p->pid, SIGKILL);
      r = iov_spawn_wait(p->pid, &status);
      break;
    }
    if (pidfd >= 0) {
      struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
      uint64_t left_ms = (p->deadline - now) / IOV_NSEC_PER_MSEC + 1;
      (void)poll(&pfd, 1, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
      continue;
    }
    struct timespec ts = { .tv_nsec = (long)nap_us * 1000 };
    nanosleep(&ts, NULL);
    if (nap_us < 20000) nap_us *= 2;
  }
  if (pidfd >= 0) close(pidfd);
  p->pid = 0;
  if (p->log_fd > 0) copy_output(p->out_fd, p->log_fd);
  if (r < 0)
    r = iov_errf(r, err, errlen, "waiting for '%s': %s", p->cmd, strerror(-r));
  else if (timed_out)
    r = iov_errf(-ETIMEDOUT, err, errlen, "'%s' did not finish in time (killed)", p->cmd);
  else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char out[256] = "";
    ssize_t k = pread(p->out_fd, out, sizeof(out) - 1, 0);
    out[k > 0 ? k : 0] = 0;
    out[strcspn(out, "\n")] = 0;
    r = iov_errf(-EIO, err, errlen, "'%s' failed: %s", p->cmd, out[0] ? out : "(no output)");
  }
  close(p->out_fd);
  p->out_fd = -1;
  return r;
}

int iov_ip(const struct iov_ip_opts *o, char *const args[], char *err, size_t errlen) {
  struct iov_ip_proc p;
  int r = start(o, args, NULL, &p, err, errlen);
  return r < 0 ? r : iov_ip_wait(&p, err, errlen);
}

int iov_ip_batch_start(const struct iov_ip_opts *o, const char *path, const char *text,
                       struct iov_ip_proc *ret, char *err, size_t errlen) {
  int r;

  *ret = (struct iov_ip_proc){ .out_fd = -1 };
  r = iov_write_file(path, text, 0600);
  if (r < 0) return iov_errf(r, err, errlen, "cannot write %s: %s", path, strerror(-r));
  return start(o, (char *const[]){ "-batch", (char *)path, NULL }, text, ret, err, errlen);
}

int iov_ip_batch(const struct iov_ip_opts *o, const char *path, const char *text, char *err, size_t errlen) {
  struct iov_ip_proc p;
  int r = iov_ip_batch_start(o, path, text, &p, err, errlen);
  return r < 0 ? r : iov_ip_wait(&p, err, errlen);
}

bool iov_netns_exists(const char *name) {
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "/run/netns/%s", name);
  return access(p, F_OK) == 0;
}
