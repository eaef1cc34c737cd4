/* Sending upstream: every message the core (and the host part) sends to
 * the coordinator goes through here, stamped with the session's route,
 * message id and session id.  For a guest, also the link to its host
 * agent: messages to the host itself, and why registration does not
 * happen.  Calls nothing above it; a send that finds coord's connection
 * closed is reported through a->on_send_closed (set by session.c). */
#pragma once

#include "core.h"
#include "macro.h"

/* To the coordinator: -ENOTCONN when no coordinator is connected
 * (iov__conn_has_coord()), else iov_wire_send()'s result (a failure other
 * than a closed connection is logged here). */
int iov__agent_send(struct iov_agent *a, iov_envelope *e, uint64_t reply_to);
/* An Error, logged as a warning and sent to 'to' (NULL: the coordinator),
 * whether or not it said hello.  The text is made valid UTF-8. */
void iov__agent_send_error(struct iov_agent *a, zframe_t *to, uint64_t reply_to, Iovbench__ErrorCode code,
                           uint64_t point_id, const char *fmt, ...) _printf_(6, 7);
/* e as it is (its msg_id, route and session id the caller's) to the
 * coordinator's connection: the relay forwarding a guest's message. */
int iov__agent_forward(struct iov_agent *a, iov_envelope *e);
/* The next message id of this agent's stream. */
uint64_t iov__agent_next_msg_id(struct iov_agent *a);
/* Guest: to the host agent itself (no route), best effort (logged). */
void iov__agent_send_upstream(struct iov_agent *a, iov_envelope *e);
/* Guest, not registered: say why it may be (at most every 30 s, again
 * when the reason changes), and connect again after a handshake that
 * failed for good.  registered = false resets the hint's clock when
 * true. */
void iov__agent_link_check(struct iov_agent *a, bool registered);
