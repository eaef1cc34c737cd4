#include "zuv.h"

#include <errno.h>

#include "macro.h"

void iov_zuv_kick(struct iov_zuv *z);

static void drain(struct iov_zuv *z) {
  /* Bounded, so one chatty peer cannot starve timers; the idle handle
   * brings us back for the rest. */
  for (int i = 0; i < 1000 && !z->closing; i++) {
    int events = zsock_events(z->sock);
    if (!(events & ZMQ_POLLIN)) return;
    if (z->read_cb(z) == -EAGAIN) return;
  }
  iov_zuv_kick(z);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct iov_zuv *z = container_of(h, struct iov_zuv, poll);
  (void)status;
  (void)events;
  drain(z);
}

static void on_idle(uv_idle_t *h) {
  struct iov_zuv *z = container_of(h, struct iov_zuv, idle);
  uv_idle_stop(h);
  drain(z);
}

int iov_zuv_init(uv_loop_t *loop, struct iov_zuv *z, zsock_t *sock, iov_zuv_read_cb cb) {
  int r;
  z->sock = sock;
  z->read_cb = cb;
  z->closing = 0;
  r = uv_poll_init(loop, &z->poll, zsock_fd(sock));
  if (r < 0) return r;
  r = uv_idle_init(loop, &z->idle);
  if (r < 0) {
    uv_close((uv_handle_t *)&z->poll, NULL);
    return r;
  }
  z->open_handles = 2;
  r = uv_poll_start(&z->poll, UV_READABLE, on_poll);
  if (r < 0) return r;
  /* Messages may already be queued: the edge happened before we looked. */
  iov_zuv_kick(z);
  return 0;
}

void iov_zuv_kick(struct iov_zuv *z) {
  if (!z->closing) (void)uv_idle_start(&z->idle, on_idle);
}

static void on_close(uv_handle_t *h) {
  struct iov_zuv *z = h->data;
  if (--z->open_handles == 0 && z->close_cb) z->close_cb(z);
}

void iov_zuv_close(struct iov_zuv *z, void (*close_cb)(struct iov_zuv *z)) {
  if (z->closing) return;
  z->closing = 1;
  z->close_cb = close_cb;
  z->poll.data = z;
  z->idle.data = z;
  uv_close((uv_handle_t *)&z->poll, on_close);
  uv_close((uv_handle_t *)&z->idle, on_close);
}
