/* Hosts given as "local" in a plan: coord starts their agents itself.
 *
 * As root (and with iproute2), each local host gets its own network
 * namespace; two are joined by a veth pair, more by a bridge in a further
 * namespace; addresses come from 198.18.0.0/15.  Otherwise the agents
 * share this machine's loopback.  Either way the control channel is an
 * ipc:// socket in a private temporary directory, so coord reaches agents
 * inside namespaces without routing.  Everything is removed again by
 * iov_local_stop(), also after errors and interrupts.
 *
 * A local host with guests (plan host .guests > 0) also gets that many
 * simulated VMs: guest agents named vm01, vm02, ... (zero-padded to the
 * width of the count, at least two digits).  In netns mode the i-th local
 * host (0-based) has a bridge vbr0 with 198.19.(4i).1/22, forwards, and
 * routes the other hosts' guest /22s via their 198.18.0.x address; guest
 * k has its own namespace PREFIX-HOST-vmNN with eth0 on that bridge,
 * address 198.19.(4i).(10+k) (carrying into the next /24s, so at most
 * 1012 guests a host), default route via the bridge; its host agent
 * listens for guests on tcp://198.19.(4i).1:7701.  In loopback mode the
 * guests reach their host agent over ipc:// and use 127.0.0.1.  Hosts
 * without guests get --guest-listen none. */
#pragma once

#include <stdbool.h>

#include "plan.h"

enum iov_local_mode {
  IOV_LOCAL_AUTO, /* netns when root and ip(8) work, else loopback */
  IOV_LOCAL_NETNS,
  IOV_LOCAL_LOOPBACK,
  _IOV_LOCAL_MODE_MAX,
  _IOV_LOCAL_MODE_INVALID = -22,
};
enum iov_local_mode iov_local_mode_from_string(const char *s);

struct iov_local;

/* Start an agent for every local host of the plan, and its simulated
 * VMs, rewriting the hosts' endpoint and data_addr in place.  Returns once
 * every host agent listens and every guest agent has registered with its
 * host agent; -IOV_E_INTERRUPTED when SIGINT, SIGTERM or SIGHUP (blocked
 * by the caller) is pending meanwhile.  Logs its own errors.  Agent logs
 * go to log_dir/agent-NAME.log, guest logs to log_dir/guest-NAME-vmNN.log,
 * the namespace commands to log_dir/netns-setup.log.  Caller owns *ret,
 * also on failure; release with iov_local_stop(). */
int iov_local_start(struct iov_plan *plan, enum iov_local_mode mode, const char *log_dir,
                    struct iov_local **ret);
/* Stop the guest and host agents (SIGTERM to all, then SIGKILL after a few
 * seconds), delete the namespaces (guests' first) and the temporary
 * directory.  Accepts NULL and half-built state, returns NULL. */
struct iov_local *iov_local_stop(struct iov_local *l);
/* A line describing what was set up, for the log. */
const char *iov_local_describe(const struct iov_local *l);
/* Path of the agent binary that will be used: $IOVBENCH_AGENT, else
 * beside coord, else on PATH.  Caller frees *ret; -ENOENT if none. */
int iov_local_agent_path(char **ret);
/* The same for iovbench-guest-agent ($IOVBENCH_GUEST_AGENT). */
int iov_local_guest_agent_path(char **ret);
