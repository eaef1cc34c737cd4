/* Child processes of the daemons: helper commands (ip), agents of local
 * runs, guest agents in network namespaces.
 *
 * iov_spawn() forks and execs argv with a clean signal mask and stdin on
 * /dev/null.  Options:
 *   netns            enter the named network namespace (/run/netns/NAME)
 *                    before exec; NULL = stay in ours.
 *   out_fd           stdout and stderr go there; IOV_SPAWN_DEVNULL or
 *                    IOV_SPAWN_INHERIT.
 *   search_path      look argv[0] up in PATH (execvp); else a path.
 *   die_with_parent  the child gets SIGTERM when the caller's thread dies
 *                    (PR_SET_PDEATHSIG), so a killed daemon leaves no
 *                    helper behind.
 *   env              NAME=VALUE strings added to the child's environment.
 * A child that cannot enter the namespace or exec writes why to out_fd
 * and exits with 126 or 127.
 *
 * iov_spawn_wait() waits for a child (EINTR retried) and gives its status
 * as waitpid() does; iov_spawn_stop() sends SIGTERM, waits up to
 * grace_ms, then SIGKILLs and reaps it.  All return 0 or -errno;
 * iov_spawn returns the pid or -errno.  Helper commands with a deadline
 * and their output captured: lib/iproute.h. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define IOV_SPAWN_DEVNULL (-1)
#define IOV_SPAWN_INHERIT (-2)

struct iov_spawn_opts {
  const char *netns;
  int out_fd;
  bool search_path;
  bool die_with_parent;
  /* NAME=VALUE strings added to the child's environment (NULL-ended),
   * for what must not show in its argv (a secret key); NULL = none. */
  char *const *env;
};

pid_t iov_spawn(char *const argv[], const struct iov_spawn_opts *o);
int iov_spawn_wait(pid_t pid, int *ret_status);
int iov_spawn_stop(pid_t pid, unsigned grace_ms);
/* The exit code a shell would show: the status, or 128 + the signal. */
int iov_spawn_exit_code(int status);
