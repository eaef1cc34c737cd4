/* coord's connection to one host agent: a DEALER socket connected to the
 * agent's ROUTER, and the identity and inventory it reported. */
#pragma once

#include <czmq.h>
#include <stdint.h>

#include "wire.h"

struct iov_peer {
  char *name;      /* key in [hosts] */
  char *endpoint;  /* ZeroMQ endpoint */
  char *data_addr; /* data-plane address, NULL when unknown */
  zsock_t *sock;
  uint64_t msg_id;
  uint64_t session_id;
  iov_envelope *welcome; /* identity and inventory, once it answered */
  int64_t db_agent;
  struct iov_wire_stats stats;
};

/* Caller owns *ret; free with iov_peer_free().  Connects (asynchronously,
 * as ZeroMQ does): nothing is known about the agent until it answers. */
int iov_peer_new(const char *name, const char *endpoint, const char *data_addr, struct iov_peer **ret);
struct iov_peer *iov_peer_free(struct iov_peer *p);
/* Returns the msg_id used, or a negative error. */
int64_t iov_peer_send(struct iov_peer *p, iov_envelope *e);

/* Wait for the next valid message from any of the peers until the
 * CLOCK_MONOTONIC deadline.  signal_fd (or -1) is polled too: a readable
 * signal_fd returns -IOV_E_INTERRUPTED.  Dropped messages are logged and
 * counted, never returned.  Returns 0 with *ret_peer and *ret (caller
 * owns), or -IOV_E_TIMEOUT. */
int iov_peers_recv(struct iov_peer *const *peers, size_t n, int signal_fd, uint64_t deadline_mono,
                   struct iov_peer **ret_peer, iov_envelope **ret);
