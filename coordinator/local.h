/* Hosts given as "local" in a plan: coord starts their agents itself.
 *
 * As root (and with iproute2), each local host gets its own network
 * namespace; two are joined by a veth pair, more by a bridge in a further
 * namespace; addresses come from 198.18.0.0/15.  Otherwise the agents
 * share this machine's loopback.  Either way the control channel is an
 * ipc:// socket in a private temporary directory, so coord reaches agents
 * inside namespaces without routing.  Everything is removed again by
 * iov_local_stop(), also after errors and interrupts. */
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

/* Start an agent for every local host of the plan, rewriting the hosts'
 * endpoint and data_addr in place.  Agent logs go to log_dir/agent-NAME.log.
 * Caller owns *ret; release with iov_local_stop() (even on failure of a
 * later step). */
int iov_local_start(struct iov_plan *plan, enum iov_local_mode mode, const char *log_dir,
                    struct iov_local **ret);
/* Stop the agents (SIGTERM, then SIGKILL after a few seconds), delete the
 * namespaces and the temporary directory.  Accepts NULL, returns NULL. */
struct iov_local *iov_local_stop(struct iov_local *l);
/* A line describing what was set up, for the log. */
const char *iov_local_describe(const struct iov_local *l);
/* Path of the agent binary that will be used. */
int iov_local_agent_path(char **ret);
