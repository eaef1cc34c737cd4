/* The agent's side of the protocol: one (state, event) function over the
 * connection state (enum iov_conn_state, core.h) and the one test point
 * the agent holds.  Events: a message in (from coord, from a stranger,
 * from a guest's host agent), a timer tick (host: the dead-man check;
 * guest: the heartbeat), a send that found coord's connection closed, and
 * silence (the dead-man switch).  Owns the session fields of struct
 * iov_agent; calls the sampler (points), the transport (sends) and the
 * hooks (host part, VMs), never agent.c. */
#pragma once

#include "sampler.h"

/* Before the loop runs: the first state (host IDLE; guest REGISTERING,
 * its first registration sent). */
void iov__session_start(struct iov_agent *a);
/* The upstream socket's read callback (lib/zuv.h): one message in.
 * -EAGAIN when the socket had nothing. */
int iov__session_on_message(struct iov_zuv *z);
/* The timer: host, the dead-man check (every 50 ms); guest, the
 * heartbeat to the host agent (every IOV_GUEST_HEARTBEAT_NS). */
void iov__session_tick(struct iov_agent *a);
/* Shutdown: abort the point; a registered guest says goodbye to its
 * host agent (best effort). */
void iov__session_stop(struct iov_agent *a, const char *why);
/* Abort the point the agent holds, if any (its last sample and Result go
 * out when it was running). */
void iov__session_point_abort(struct iov_agent *a, const char *reason);
/* Write text and a newline to path, atomically (rename). */
int iov__agent_write_ready_file(const char *path, const char *text);
