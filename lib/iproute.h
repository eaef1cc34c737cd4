/* The one runner for iproute2's ip(8), used wherever the daemons set up
 * namespaces, links and addresses (coord's local hosts, the host agent's
 * guests in network namespaces).
 *
 * ip is run from PATH with an argv (never through a shell), stdin on
 * /dev/null, and for at most timeout_ms (then SIGKILL).  Its output
 * (stdout and stderr together) is captured: when it fails, err gets one
 * line naming the command and what ip said first ("'ip netns add x'
 * failed: Cannot create namespace file ...: File exists").  With a log
 * descriptor, the command line ("+ ip ...") goes there before it runs,
 * a batch's commands after it, and ip's whole output once it ends.
 *
 * All return 0 when ip exited 0; -EIO when it exited otherwise or was
 * killed, -ETIMEDOUT when it ran out of time, or -errno when it could not
 * be started; err (may be NULL) says why.  Nothing here logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IOV_IP_TIMEOUT_MS 60000

struct iov_ip_opts {
  const char *netns;   /* "-n NETNS": in that named namespace; NULL = ours */
  bool force;          /* "-force": a batch goes on past failed commands */
  int log_fd;          /* > 0: also log there (0 = none: it would be stdin) */
  unsigned timeout_ms; /* 0 = IOV_IP_TIMEOUT_MS */
};

/* ip with args (NULL-terminated, without "ip" itself); opts may be NULL. */
int iov_ip(const struct iov_ip_opts *o, char *const args[], char *err, size_t errlen);
/* iov_ip() with the arguments inline: IOV_IP(o, err, errlen, "link", "set", "lo", "up"). */
#define IOV_IP(o, err, errlen, ...) iov_ip((o), (char *const[]){ __VA_ARGS__, NULL }, (err), (errlen))

/* A started ip, to wait for later (several at once). */
struct iov_ip_proc {
  pid_t pid;         /* 0 when none */
  int out_fd;        /* the captured output */
  int log_fd;        /* as in the options */
  uint64_t deadline; /* CLOCK_MONOTONIC, ns */
  char cmd[256];     /* for messages */
};

/* "ip [-force] [-n NETNS] -batch PATH", after writing text (the commands,
 * one a line) to PATH (mode 0600, replaced).  One ip process for many
 * commands is what keeps hundreds of namespaces fast. */
int iov_ip_batch(const struct iov_ip_opts *o, const char *path, const char *text, char *err, size_t errlen);
/* The same, started: *ret is to be passed to iov_ip_wait() exactly once
 * (also after an error of this call: then it does nothing). */
int iov_ip_batch_start(const struct iov_ip_opts *o, const char *path, const char *text,
                       struct iov_ip_proc *ret, char *err, size_t errlen);
/* Wait for a started ip (until its deadline), reap it and release *p. */
int iov_ip_wait(struct iov_ip_proc *p, char *err, size_t errlen);
/* Whether the named network namespace exists (/run/netns/NAME, where
 * "ip netns add" puts it). */
bool iov_netns_exists(const char *name);
