#include "local.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "timeutil.h"

#define MAX_LOCAL 64
#define AGENT_START_TIMEOUT_NS (15ULL * IOV_NSEC_PER_SEC)
#define AGENT_STOP_TIMEOUT_NS (5ULL * IOV_NSEC_PER_SEC)

struct iov_local {
  enum iov_local_mode mode;
  char tmpdir[64];
  char prefix[32]; /* namespace name prefix, unique per coord process */
  size_t n;
  char *names[MAX_LOCAL];
  char *netns[MAX_LOCAL]; /* NULL in loopback mode */
  char *bridge_ns;
  pid_t pids[MAX_LOCAL];
  char describe[256];
};

enum iov_local_mode iov_local_mode_from_string(const char *s) {
  if (!s || strcmp(s, "auto") == 0) return IOV_LOCAL_AUTO;
  if (strcmp(s, "netns") == 0) return IOV_LOCAL_NETNS;
  if (strcmp(s, "loopback") == 0) return IOV_LOCAL_LOOPBACK;
  return _IOV_LOCAL_MODE_INVALID;
}

const char *iov_local_describe(const struct iov_local *l) { return l ? l->describe : ""; }

static bool is_executable(const char *p) { return access(p, X_OK) == 0; }

int iov_local_agent_path(char **ret) {
  char self[PATH_MAX], cand[PATH_MAX + 64];
  const char *env = getenv("IOVBENCH_AGENT");
  ssize_t n;

  if (env && *env) {
    if (!is_executable(env)) return -ENOENT;
    *ret = strdup(env);
    return *ret ? 0 : -ENOMEM;
  }
  /* Installed or built side by side with coord. */
  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = 0;
      snprintf(cand, sizeof(cand), "%s/iovbench-agent", self);
      if (is_executable(cand)) {
        *ret = strdup(cand);
        return *ret ? 0 : -ENOMEM;
      }
    }
  }
  const char *path = getenv("PATH");
  while (path && *path) {
    size_t len = strcspn(path, ":");
    snprintf(cand, sizeof(cand), "%.*s/iovbench-agent", (int)len, path);
    if (len && is_executable(cand)) {
      *ret = strdup(cand);
      return *ret ? 0 : -ENOMEM;
    }
    path += len + (path[len] == ':');
  }
  return -ENOENT;
}

/* Run a command (argv[0] looked up in PATH), its output into log_fd.
 * Returns 0, or -EIO when it exits non-zero. */
static int run_cmd(int log_fd, char *const argv[]) {
  pid_t pid;
  int status;

  if (log_fd >= 0) {
    dprintf(log_fd, "+");
    for (int i = 0; argv[i]; i++) dprintf(log_fd, " %s", argv[i]);
    dprintf(log_fd, "\n");
  }
  pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    int out = log_fd >= 0 ? log_fd : open("/dev/null", O_WRONLY);
    if (out >= 0) {
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

#define IP(...) run_cmd(log_fd, (char *const[]){ "ip", __VA_ARGS__, NULL })

static bool netns_possible(void) {
  if (geteuid() != 0) return false;
  return run_cmd(-1, (char *const[]){ "ip", "-V", NULL }) == 0;
}

static int setup_netns(struct iov_local *l, int log_fd) {
  char addr[64], dev[32], peer[32];
  int r;

  for (size_t i = 0; i < l->n; i++) {
    if (asprintf(&l->netns[i], "%s-%s", l->prefix, l->names[i]) < 0) return -ENOMEM;
    r = IP("netns", "add", l->netns[i]);
    if (r < 0) {
      free(l->netns[i]);
      l->netns[i] = NULL;
      return r;
    }
    r = IP("-n", l->netns[i], "link", "set", "lo", "up");
    if (r < 0) return r;
  }
  if (l->n == 2) {
    /* Two hosts: one veth pair, 198.18.0.1/30 <-> 198.18.0.2/30. */
    r = IP("link", "add", "iovb0", "netns", l->netns[0], "type", "veth", "peer", "name", "iovb1", "netns",
           l->netns[1]);
    if (r < 0) return r;
    for (size_t i = 0; i < 2; i++) {
      snprintf(dev, sizeof(dev), "iovb%zu", i);
      snprintf(addr, sizeof(addr), "198.18.0.%zu/30", i + 1);
      if ((r = IP("-n", l->netns[i], "addr", "add", addr, "dev", dev)) < 0) return r;
      if ((r = IP("-n", l->netns[i], "link", "set", dev, "up")) < 0) return r;
    }
    return 0;
  }
  if (l->n < 2) return 0;
  /* More: a bridge in its own namespace, a veth from each host to it. */
  if (asprintf(&l->bridge_ns, "%s-sw", l->prefix) < 0) return -ENOMEM;
  if ((r = IP("netns", "add", l->bridge_ns)) < 0) {
    free(l->bridge_ns);
    l->bridge_ns = NULL;
    return r;
  }
  if ((r = IP("-n", l->bridge_ns, "link", "add", "br0", "type", "bridge")) < 0) return r;
  if ((r = IP("-n", l->bridge_ns, "link", "set", "br0", "up")) < 0) return r;
  for (size_t i = 0; i < l->n; i++) {
    snprintf(peer, sizeof(peer), "p%zu", i);
    if ((r = IP("link", "add", "iovb0", "netns", l->netns[i], "type", "veth", "peer", "name", peer, "netns",
                l->bridge_ns)) < 0)
      return r;
    if ((r = IP("-n", l->bridge_ns, "link", "set", peer, "master", "br0", "up")) < 0) return r;
    snprintf(addr, sizeof(addr), "198.18.0.%zu/24", i + 1);
    if ((r = IP("-n", l->netns[i], "addr", "add", addr, "dev", "iovb0")) < 0) return r;
    if ((r = IP("-n", l->netns[i], "link", "set", "iovb0", "up")) < 0) return r;
  }
  return 0;
}

static pid_t spawn_agent(const char *agent, const char *netns, const char *endpoint, const char *ready,
                         const char *name, const char *log_path) {
  int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int r = -errno;
    close(logfd);
    return r;
  }
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    /* The agent must not outlive us, even if we are killed. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) _exit(1);
    if (netns) {
      char path[PATH_MAX];
      snprintf(path, sizeof(path), "/run/netns/%s", netns);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        dprintf(logfd, "cannot enter network namespace %s: %s\n", netns, strerror(errno));
        _exit(126);
      }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(logfd, STDOUT_FILENO);
    dup2(logfd, STDERR_FILENO);
    execl(agent, agent, "--listen", endpoint, "--ready-file", ready, "--name", name, (char *)NULL);
    dprintf(STDERR_FILENO, "cannot run %s: %s\n", agent, strerror(errno));
    _exit(127);
  }
  close(logfd);
  return pid;
}

int iov_local_start(struct iov_plan *plan, enum iov_local_mode mode, const char *log_dir,
                    struct iov_local **ret) {
  struct iov_local *l = calloc(1, sizeof(*l));
  _cleanup_free_ char *agent = NULL;
  char path[PATH_MAX];
  int r, log_fd = -1;

  if (!l) return -ENOMEM;
  *ret = l;
  snprintf(l->prefix, sizeof(l->prefix), "iovb%d", (int)getpid());
  for (size_t i = 0; i < plan->n_hosts; i++)
    if (plan->hosts[i].local) {
      if (l->n == MAX_LOCAL) return iov_log_errno(-E2BIG, "At most %d local hosts", MAX_LOCAL);
      l->names[l->n++] = plan->hosts[i].name;
    }
  if (l->n == 0) return 0;

  r = iov_local_agent_path(&agent);
  if (r < 0)
    return iov_log_errno(r,
                         "Cannot find iovbench-agent to start local hosts (build it, put it beside coord or "
                         "on PATH, or set IOVBENCH_AGENT)");
  snprintf(l->tmpdir, sizeof(l->tmpdir), "/tmp/iovbench-XXXXXX");
  if (!mkdtemp(l->tmpdir)) {
    l->tmpdir[0] = 0;
    return iov_log_errno(-errno, "Cannot create a temporary directory: %m");
  }

  if (mode == IOV_LOCAL_AUTO) mode = netns_possible() ? IOV_LOCAL_NETNS : IOV_LOCAL_LOOPBACK;
  l->mode = mode;
  if (mode == IOV_LOCAL_NETNS) {
    snprintf(path, sizeof(path), "%s/netns-setup.log", log_dir);
    log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    r = setup_netns(l, log_fd);
    if (log_fd >= 0) close(log_fd);
    if (r < 0)
      return iov_log_errno(r,
                           "Cannot set up network namespaces for the local hosts (see %s; run as root "
                           "with iproute2, or use --local=loopback)",
                           path);
  }

  for (size_t i = 0; i < l->n; i++) {
    struct iov_plan_host *h = NULL;
    char endpoint[PATH_MAX], ready[PATH_MAX], log_path[PATH_MAX];
    for (size_t j = 0; j < plan->n_hosts; j++)
      if (plan->hosts[j].name == l->names[i]) h = &plan->hosts[j];
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/%s.sock", l->tmpdir, h->name);
    snprintf(ready, sizeof(ready), "%s/%s.ready", l->tmpdir, h->name);
    snprintf(log_path, sizeof(log_path), "%s/agent-%s.log", log_dir, h->name);
    pid_t pid = spawn_agent(agent, l->netns[i], endpoint, ready, h->name, log_path);
    if (pid < 0) return iov_log_errno(pid, "Cannot start the agent for local host '%s': %m", h->name);
    l->pids[i] = pid;
    free(h->endpoint);
    h->endpoint = strdup(endpoint);
    free(h->data_addr);
    if (mode == IOV_LOCAL_NETNS && l->n > 1) {
      char addr[32];
      snprintf(addr, sizeof(addr), "198.18.0.%zu", i + 1);
      h->data_addr = strdup(addr);
    } else
      h->data_addr = strdup("127.0.0.1");
    if (!h->endpoint || !h->data_addr) return -ENOMEM;
  }

  /* Wait until every agent has bound its socket (it writes its ready
   * file), or has died. */
  uint64_t deadline = iov_now_mono() + AGENT_START_TIMEOUT_NS;
  for (size_t i = 0; i < l->n; i++) {
    char ready[PATH_MAX];
    snprintf(ready, sizeof(ready), "%s/%s.ready", l->tmpdir, l->names[i]);
    for (;;) {
      int status;
      if (access(ready, F_OK) == 0) break;
      pid_t w = waitpid(l->pids[i], &status, WNOHANG);
      if (w == l->pids[i]) {
        l->pids[i] = 0;
        return iov_log_errno(-ECHILD,
                             "The agent for local host '%s' exited with status %d before it was ready "
                             "(see %s/agent-%s.log)",
                             l->names[i], WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                             log_dir, l->names[i]);
      }
      if (iov_now_mono() > deadline)
        return iov_log_errno(-IOV_E_TIMEOUT,
                             "The agent for local host '%s' was not ready within %llu s (see "
                             "%s/agent-%s.log)",
                             l->names[i], AGENT_START_TIMEOUT_NS / IOV_NSEC_PER_SEC, log_dir, l->names[i]);
      struct timespec ts = { .tv_nsec = 10 * IOV_NSEC_PER_MSEC };
      nanosleep(&ts, NULL);
    }
  }
  snprintf(l->describe, sizeof(l->describe), "%zu local agent%s, %s", l->n, l->n == 1 ? "" : "s",
           mode == IOV_LOCAL_NETNS ? (l->n == 2 ? "in two network namespaces joined by a veth pair"
                                                : "in network namespaces on a bridge")
                                   : "over loopback");
  return 0;
}

static void stop_agents(struct iov_local *l) {
  uint64_t deadline = iov_now_mono() + AGENT_STOP_TIMEOUT_NS;
  for (size_t i = 0; i < l->n; i++)
    if (l->pids[i] > 0) kill(l->pids[i], SIGTERM);
  for (size_t i = 0; i < l->n; i++) {
    if (l->pids[i] <= 0) continue;
    for (;;) {
      int status;
      pid_t w = waitpid(l->pids[i], &status, WNOHANG);
      if (w == l->pids[i] || (w < 0 && errno == ECHILD)) break;
      if (iov_now_mono() > deadline) {
        iov_warn("agent for local host '%s' (pid %d) ignored SIGTERM; killing it", l->names[i],
                 (int)l->pids[i]);
        kill(l->pids[i], SIGKILL);
        (void)waitpid(l->pids[i], &status, 0);
        break;
      }
      struct timespec ts = { .tv_nsec = 10 * IOV_NSEC_PER_MSEC };
      nanosleep(&ts, NULL);
    }
    l->pids[i] = 0;
  }
}

static void remove_tmpdir(const char *dir) {
  DIR *d;
  struct dirent *de;
  char p[PATH_MAX];
  if (!dir[0] || !(d = opendir(dir))) return;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
      snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
      (void)unlink(p);
    }
  closedir(d);
  (void)rmdir(dir);
}

struct iov_local *iov_local_stop(struct iov_local *l) {
  int log_fd = -1;
  if (!l) return NULL;
  stop_agents(l);
  for (size_t i = 0; i < l->n; i++)
    if (l->netns[i]) {
      if (IP("netns", "del", l->netns[i]) < 0) iov_warn("could not delete network namespace %s", l->netns[i]);
      free(l->netns[i]);
    }
  if (l->bridge_ns) {
    if (IP("netns", "del", l->bridge_ns) < 0) iov_warn("could not delete network namespace %s", l->bridge_ns);
    free(l->bridge_ns);
  }
  remove_tmpdir(l->tmpdir);
  free(l);
  return NULL;
}
