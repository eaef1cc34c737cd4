/* coord's view of the agents: a tree.  Each host agent is reached over a
 * DEALER socket connected to its ROUTER; each guest agent (a VM on that
 * host) is reached through its host agent, by the route field of the
 * Envelope.  Guests appear and leave while coord runs: the host says so
 * with a Guests message. */
#pragma once

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct iov_peer {
  char *name;      /* host: its key in [hosts]; guest: "HOST/VM" */
  char *endpoint;  /* host: ZeroMQ endpoint; guest: the host's */
  char *data_addr; /* data-plane address, NULL when unknown */
  /* Hosts: the address at the other end of the control connection, as
   * ZeroMQ saw it (its Peer-Address): an address coord reached the agent
   * at, not one the agent claims.  "" until a message came over TCP. */
  char ctl_addr[48];
  /* Guests: the data address their host agent vouches for (one it handed
   * the VM, or its configuration names), NULL = none. */
  char *vouched;
  zsock_t *sock; /* hosts only */
  bool curve;    /* hosts: the socket is a CURVE client */
  /* Guests: the host agent they are reached through and their name there.
   * gone: the host no longer lists them. */
  struct iov_peer *host;
  char *route;
  bool gone;
  /* Hosts: their guests, sorted by route. */
  struct iov_peer **guests;
  size_t n_guests;
  unsigned guests_ready; /* guests that answered hello */
  bool guests_full;      /* a guest was refused: IOV_PEER_MAX_GUESTS reached (said once) */
  uint64_t msg_id;
  uint64_t session_id;
  iov_envelope *welcome; /* identity and inventory, once it answered */
  int64_t db_agent;      /* 0 until stored */
  struct iov_wire_stats stats;
  int slot;      /* point.c: index + 1 of this agent in the point being run, 0 = none */
  bool vms_held; /* point.c, sessions.c: this host agent may hold VMs it started for coord */
  /* sessions.c, hosts: when it (or a guest through it) last spoke
   * (CLOCK_MONOTONIC), and whether it is lost (silent for three
   * heartbeats; coord keeps saying hello until it answers again). */
  uint64_t heard_mono;
  bool lost;
  /* point.c, sessions.c, hosts: the VmSetup/VmTeardown being carried out (its msg_id; 0
   * = none): the agent may be too busy to answer heartbeats until its
   * answer to it, or to a later message, arrives. */
  uint64_t busy_msg_id;
};

/* A host agent.  Caller owns *ret; free with iov_peer_free() (which frees
 * its guests too).  Connects (asynchronously, as ZeroMQ does): nothing is
 * known about the agent until it answers.  With cert and server_key, over
 * CURVE: cert is coord's key pair, server_key the agent's public key. */
int iov_peer_new(const char *name, const char *endpoint, const char *data_addr, zcert_t *cert,
                 const char *server_key, struct iov_peer **ret);
/* Every guest name coord ever learnt of one host stays in its table for
 * the run (a point may still point at one that left), so the table is
 * bounded: a host agent that keeps listing new names cannot grow coord
 * without end. */
#define IOV_PEER_MAX_GUESTS (2 * IOV_WIRE_MAX_GUESTS)
/* The guest 'route' of host: found, or added (sorted) when add is set.
 * NULL on OOM, when absent, or when adding would pass
 * IOV_PEER_MAX_GUESTS. */
struct iov_peer *iov_peer_guest(struct iov_peer *host, const char *route, bool add);
struct iov_peer *iov_peer_free(struct iov_peer *p);
/* Returns the msg_id used, or a negative error. */
int64_t iov_peer_send(struct iov_peer *p, iov_envelope *e);
/* A guest's data-plane address from its Welcome: the one it reported, or
 * the first IPv4 address of a non-loopback interface.  NULL if none.
 * What the guest claims, not what coord may send to: see point.c (agent_addr()). */
char *iov_peer_guest_data_addr(const iov_envelope *welcome);
/* Text an agent sent (a name, an error), fit to print: cut to fit buf,
 * then iov_text_sanitize() (lib/text.h: invalid UTF-8, control characters
 * such as ESC, CSI and newlines, bidirectional overrides become '?').
 * Returns buf ("" for NULL). */
const char *iov_peer_text(const char *s, char *buf, size_t n);
/* Set the address host h vouches for its guest g (NULL or "": none). */
int iov_peer_vouch(struct iov_peer *g, const char *addr);

/* Wait for the next valid message from any of the host peers (and their
 * guests) until the CLOCK_MONOTONIC deadline.  signal_fd (or -1) is polled
 * too: a readable signal_fd returns -IOV_E_INTERRUPTED.  Dropped messages
 * are logged and counted, never returned; so are messages routed from a
 * guest coord does not know.  Returns 0 with *ret_peer (the host, or the
 * guest the message came from) and *ret (caller owns), or -IOV_E_TIMEOUT. */
int iov_peers_recv(struct iov_peer *const *hosts, size_t n, int signal_fd, uint64_t deadline_mono,
                   struct iov_peer **ret_peer, iov_envelope **ret);
