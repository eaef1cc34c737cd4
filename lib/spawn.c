/* See spawn.h. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

pid_t iov_spawn(char *const argv[], const struct iov_spawn_opts *o) {
  static const struct iov_spawn_opts none = { .out_fd = IOV_SPAWN_DEVNULL };
  if (!argv || !argv[0]) return -EINVAL;
  if (!o) o = &none;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid > 0) return pid;

  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  if (o->die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1); /* it died before the line above */
  }
  int out = o->out_fd;
  if (out == IOV_SPAWN_DEVNULL) out = open("/dev/null", O_WRONLY);
  if (out >= 0) {
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
  }
  int in = open("/dev/null", O_RDONLY);
  if (in >= 0) dup2(in, STDIN_FILENO);
  if (o->netns) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "/run/netns/%s", o->netns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
      dprintf(STDERR_FILENO, "cannot enter network namespace %s: %s\n", o->netns, strerror(errno));
      _exit(126);
    }
  }
  for (size_t i = 0; o->env && o->env[i]; i++) putenv(o->env[i]);
  if (o->search_path)
    execvp(argv[0], argv);
  else
    execv(argv[0], argv);
  dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

int iov_spawn_wait(pid_t pid, int *ret_status) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -errno;
  if (ret_status) *ret_status = status;
  return 0;
}

int iov_spawn_stop(pid_t pid, unsigned grace_ms) {
  if (pid <= 0) return -EINVAL;
  if (kill(pid, SIGTERM) < 0 && errno != ESRCH) return -errno;
  for (unsigned waited = 0;; waited += 10) {
    pid_t w = waitpid(pid, NULL, WNOHANG);
    if (w == pid || (w < 0 && errno == ECHILD)) return 0;
    if (w < 0 && errno != EINTR) return -errno;
    if (waited >= grace_ms) break;
    struct timespec ts = { .tv_nsec = 10 * IOV_NSEC_PER_MSEC };
    nanosleep(&ts, NULL);
  }
  (void)kill(pid, SIGKILL);
  return iov_spawn_wait(pid, NULL);
}

int iov_spawn_exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
