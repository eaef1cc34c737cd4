/* coord's sessions with its agents (coordinator/sessions.c): connect,
 * hello, heartbeats, guests, receive; each agent's inventory stored; the
 * goodbye.  Private to coord run (coordinator/runctx.h); one thread. */
#pragma once

#include <stdint.h>

#include "runctx.h"

/* Connect to the plan's host agents (c->peers, freed by
 * iov__sessions_end()) and wait up to timeout_ns for each to answer, and
 * for the guests the plan needs on each.  Guests missing then are said
 * (the points that need them fail); a host agent missing, or refusing the
 * run, ends it: a negative error, logged with its cause. */
int iov__sessions_connect(struct run_ctx *c, uint64_t timeout_ns);
/* The next message for whoever waits, until deadline (CLOCK_MONOTONIC):
 * 0 with it in *ret (the caller frees it with iov_wire_free()) and its
 * sender in *ret_peer.  Heartbeats go out on the way; a Welcome or a
 * change of guests is handled here and the caller gets -EAGAIN instead
 * (the tree changed: look again at what it waits for), and so it does
 * when an agent of the point c->cur was lost.  -IOV_E_TIMEOUT at the
 * deadline, -IOV_E_INTERRUPTED on a signal (c->interrupted set). */
int iov__sessions_recv(struct run_ctx *c, uint64_t deadline, struct iov_peer **ret_peer, iov_envelope **ret);
/* Store agent p (and its host first) in the run: its row and its
 * inventory file.  0, or a negative error, logged. */
int iov__sessions_store_agent(struct run_ctx *c, struct iov_peer *p);
/* Every host agent that answered and its guests. */
int iov__sessions_store_agents(struct run_ctx *c);
/* Stop point point_id (0: the run) on agent p, saying why. */
void iov__send_stop(struct iov_peer *p, uint64_t point_id, const char *reason);
/* The end of the run: host agents still holding VMs take them down (coord
 * waits briefly), every agent hears goodbye, and the sessions are freed. */
void iov__sessions_end(struct run_ctx *c);
