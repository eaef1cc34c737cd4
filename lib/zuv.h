/* ZeroMQ inside libuv: a uv_poll_t on the socket's ZMQ_FD.
 *
 * ZMQ_FD is edge-triggered: it signals only when ZMQ_EVENTS changes, so
 * after every wake-up we drain while ZMQ_EVENTS reports POLLIN, and after
 * every send (which can consume the edge) we drain again from a uv_idle_t
 * on the next loop turn.  Everything about that lives here.
 *
 * The embedding owner recovers itself with container_of(). */
#pragma once

#include <czmq.h>
#include <uv.h>

struct iov_zuv;
/* Called once per readable message; the callback receives from the
 * socket itself (for example with iov_wire_recv).  It must receive exactly
 * one message or return -EAGAIN when none was there. */
typedef int (*iov_zuv_read_cb)(struct iov_zuv *z);

struct iov_zuv {
  uv_poll_t poll;
  uv_idle_t idle;
  zsock_t *sock; /* not owned */
  iov_zuv_read_cb read_cb;
  int closing;
  int open_handles;
  void (*close_cb)(struct iov_zuv *z);
};

/* Start watching sock.  Returns 0 or a negative libuv/errno code; on error
 * no callback ever fires. */
int iov_zuv_init(uv_loop_t *loop, struct iov_zuv *z, zsock_t *sock, iov_zuv_read_cb cb);
/* Call after sending on the socket: schedules a drain on the next turn. */
void iov_zuv_kick(struct iov_zuv *z);
/* Close both handles; close_cb (may be NULL) runs when both are closed. */
void iov_zuv_close(struct iov_zuv *z, void (*close_cb)(struct iov_zuv *z));
