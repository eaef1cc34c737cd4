/* The agent core's one struct, and the connection state its session
 * runs on.  Each group of fields says which file owns it (writes it);
 * the others only read it.  Included by the core's files and by the
 * host part (host/), which reaches the core through it; never by
 * anything the core includes. */
#pragma once

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent.h"
#include "cpustat.h"
#include "irqstat.h"
#include "wire.h"
#include "zuv.h"

/* Where the agent stands with its coordinator (and, on a guest, with the
 * host agent it registers with).  Changed by session.c only, in its one
 * (state, event) function.
 *
 *   host:   IDLE --Hello--> CONNECTED --send finds the connection closed--> CLOSED
 *           CONNECTED/CLOSED --dead-man tick--> SILENCED --coord speaks--> CONNECTED
 *           CONNECTED/CLOSED --goodbye (Stop 0)--> IDLE
 *   guest:  REGISTERING --host acks--> IDLE --Hello--> CONNECTED
 *           CONNECTED --host silent or forgot us--> REREGISTERING --host acks--> CONNECTED
 *           (goodbye: CONNECTED -> IDLE, REREGISTERING -> REGISTERING)
 */
enum iov_conn_state {
  IOV_CONN_IDLE,          /* no coordinator (guest: registered with its host agent) */
  IOV_CONN_REGISTERING,   /* guest: not registered with its host agent; no coordinator */
  IOV_CONN_CONNECTED,     /* a coordinator said hello (guest: and we are registered) */
  IOV_CONN_REREGISTERING, /* guest: a coordinator said hello; registering with the host again */
  IOV_CONN_CLOSED,        /* host: a send found coord's connection closed: lost at the next tick */
  IOV_CONN_SILENCED,      /* host: the dead-man switch fired; that coordinator may speak again */
  _IOV_CONN_MAX,
  _IOV_CONN_INVALID = -22,
};

const char *iov_conn_state_to_string(enum iov_conn_state s);

/* Whether messages to the coordinator go out in that state. */
static inline bool iov__conn_has_coord(enum iov_conn_state s) {
  return s == IOV_CONN_CONNECTED || s == IOV_CONN_CLOSED || s == IOV_CONN_REREGISTERING;
}

struct iov_agent_point; /* sampler.h */

struct iov_agent {
  /* agent.c: set up once, read by all. */
  enum iov_agent_kind kind;
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t deadman_timer;   /* host: the dead-man check */
  uv_timer_t heartbeat_timer; /* guest: keep-alive and registration */
  struct iov_agent_caps caps;
  const char *identity;
  const char *data_address; /* guest: reported in Welcome */
  const char *ready_file;
  Iovbench__Inventory *inventory;
  struct iov_cpustat *cpustat; /* NULL when /proc/stat cannot be read */
  struct iov_irqstat *irqstat; /* NULL when no NIC is known */
  /* Our key pair (NULL when plaintext); the ZAP handler (host: for the
   * control socket and the host part's guest socket). */
  zcert_t *cert;
  struct iov_zap *zap;
  unsigned max_connections;
  const struct iov_agent_vm_hooks *vm;
  void *vm_state;
  const struct iov_agent_host_hooks *host;
  void *host_state;
  bool stopping;

  /* transport.c: the upstream socket and what every message carries. */
  zsock_t *sock; /* host: ROUTER, bound; guest: DEALER to the host agent */
  struct iov_zuv zuv;
  const char *upstream; /* guest: the host endpoint */
  char *route;          /* guest: its name as the relay routes it ("" on a host) */
  uint64_t session_id;
  uint64_t msg_id;
  struct iov_wire_stats wire_stats;
  struct iov_zmon *mon_ctl; /* the control socket's monitor (lib/auth.h) */
  /* Guest: what the link's diagnosis last said (transport.c). */
  uint64_t unregistered_since_mono, unregistered_hint_mono;
  uint32_t unregistered_hint_why;   /* hash of the reason last given, 0 = none */
  uint64_t handshake_failures_seen; /* after which it connects again */
  /* Set by session.c: a send found the coordinator's connection closed
   * (transport.c calls it; the session acts on it at its next tick). */
  void (*on_send_closed)(struct iov_agent *a);

  /* session.c */
  enum iov_conn_state conn;
  /* On a host coord_id is the coordinator's routing id (kept after its
   * goodbye: it may still speak); a guest has one upstream only. */
  zframe_t *coord_id;
  char *coord_run;
  /* Dead-man switch: coord's heartbeat interval (from its Hello; 0 = it
   * sends none) and when we last heard from it.  Guests: when the host
   * agent last answered. */
  uint64_t coord_heartbeat_ns;
  uint64_t coord_heard_mono;
  uint64_t deadman_tick_mono;    /* the dead-man check's last run, to see our own stalls */
  uint64_t register_msg_id;      /* guest: our last registration */
  struct iov_agent_point *point; /* at most one at a time (sampler.c clears it when it completes) */
};
