/* The agent core's public face, shared by iovbench-agent (a host agent:
 * binds a ROUTER for coord; its host part, host/, adds the relay to its
 * guests and the VMs) and iovbench-guest-agent (a guest agent in a VM: one
 * DEALER connected to its host agent's guest endpoint; coord reaches it
 * through that relay).
 *
 * The core's files, each calling only those below it (no header includes
 * one that includes it back):
 *
 *   agent.c     the event loop, sockets, timers and signals; start, stop
 *     |
 *   session.c   the session state machine: one (state, event) function
 *     |         over enum iov_conn_state (core.h); Prepare/Start/Stop
 *   sampler.c   one test point: engine counters into samples and Result
 *     |
 *   transport.c sending upstream: iov__agent_send(), errors, the link
 *     |
 *   core.h      struct iov_agent, the state each file above owns
 *     |
 *   agent.h     this file: config, caps, the hooks a host part plugs in
 *
 * What only a host agent does (relay, VFs, VMs) is not here: it plugs in
 * through struct iov_agent_host_hooks and struct iov_agent_vm_hooks,
 * which the core calls and never names.  So the guest agent links none
 * of it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

enum iov_agent_kind {
  IOV_AGENT_HOST,
  IOV_AGENT_GUEST,
};

/* What an agent agrees to run (its owner's limits, not the plan's): work
 * beyond a cap is refused with an Error that names it.  0 = no cap beyond
 * the protocol's own limits. */
struct iov_agent_caps {
  uint64_t max_duration_ns; /* warm-up + window of a point */
  uint64_t max_flows;
  uint64_t
      max_rate_bps; /* per flow: udp_stream's offered rate (unpaced counts as over); RR flows are paced to it */
  uint64_t max_msg_size; /* request, response or message bytes */
  uint64_t max_vms;      /* VMs started for one point */
  uint64_t max_vcpus;    /* vCPUs of one VM */
  uint64_t max_memory;   /* memory of one VM, bytes */
};
/* --max-duration, --max-flows, --max-rate, --max-msg-size, --max-vms,
 * --max-vcpus, --max-memory:
 * parse option 'name' (without the dashes) into caps.  0, -ENOENT (not a
 * cap option) or -EINVAL (bad value; a message went to stderr). */
int iov_agent_parse_cap(const char *prog, const char *name, const char *value, struct iov_agent_caps *caps);
/* The --help lines for the caps. */
extern const char iov_agent_caps_help[];

struct iov_agent;

/* A guest of a VM the host agent started: the name it must register
 * under, the public key made for it (NULL: plaintext) and the data
 * address handed to it (NULL: none). */
struct iov_vm_guest {
  const char *name;
  const char *key;
  const char *address;
};

/* The VM side of a host agent (host/vmsession.c), kept out of the agent
 * core so that the guest agent links no libvirt.  The core calls init,
 * on_message (VmSetup, VmTeardown), done, coord_lost and coord_back; the
 * host part (host/relay.c) calls on_guest, vm_guest and guest_pid. */
struct iov_agent_vm_hooks {
  /* At start-up: remove what a crashed run left (domains, VF settings). */
  int (*init)(struct iov_agent *a, void *config, void **ret_state);
  void (*on_message)(struct iov_agent *a, void *state, const iov_envelope *in);
  /* A guest registered with the relay. */
  void (*on_guest)(struct iov_agent *a, void *state, const char *name);
  /* The guests of the VMs it holds now: for i = 0, 1, ... fills *ret and
   * returns true; false past the last.  The relay lets a VM's name be
   * held only by the key made for it, and vouches for its address. */
  bool (*vm_guest)(struct iov_agent *a, void *state, size_t i, struct iov_vm_guest *ret);
  /* The process of the guest's VM (qemu), 0 if not ours or unknown. */
  pid_t (*guest_pid)(struct iov_agent *a, void *state, const char *name);
  /* Shutdown: take every VM down and restore the VFs. */
  void (*done)(struct iov_agent *a, void *state);
  /* The coordinator went silent: take every VM down and restore the VFs
   * now (the agent keeps running). */
  void (*coord_lost)(struct iov_agent *a, void *state);
  /* That coordinator speaks again: say what coord_lost() undid. */
  void (*coord_back)(struct iov_agent *a, void *state);
};

/* The host part of a host agent (host/relay.c: the relay to its guests
 * and the key endpoint).  Its state is its own: the core holds it as a
 * void * and hands it back.  Every hook runs on the loop thread. */
struct iov_agent_host_hooks {
  /* Once the core's loop and control socket exist: start (guest socket,
   * key endpoint) and return the state.  A negative return is logged by
   * the hook; the agent does not start. */
  int (*start)(struct iov_agent *a, void *config, void **ret_state);
  /* Shutdown: close the libuv handles it holds (the loop runs on until
   * they are closed). */
  void (*stop)(struct iov_agent *a, void *state);
  /* After the loop ended (or start failed with state set): release the
   * rest.  state may be NULL. */
  void (*free)(struct iov_agent *a, void *state);
  /* A message from the coordinator whose route names a guest: forward
   * it (or answer coord that there is no such guest). */
  void (*to_guest)(struct iov_agent *a, void *state, const iov_envelope *in);
  /* A Welcome to coord is about to go out: add the guests (names and the
   * addresses vouched for).  *ret_names is free()d by the caller after
   * the send (NULL: nothing added). */
  void (*fill_welcome)(struct iov_agent *a, void *state, Iovbench__Welcome *w, char ***ret_names);
  /* The coordinator went silent: stop every guest's point. */
  void (*stop_guests)(struct iov_agent *a, void *state, const char *reason);
};

struct iov_agent_config {
  enum iov_agent_kind kind;
  struct iov_agent_caps caps;
  const char *listen;       /* host: ZeroMQ endpoint to bind for coord */
  const char *connect;      /* guest: the host agent's guest endpoint */
  const char *identity;     /* name reported in Welcome; NULL = hostname */
  const char *data_address; /* guest: data-plane address to report; NULL = none */
  /* Host: written with the bound endpoint once listening.  Guest: written
   * with the host endpoint once the host agent accepted the guest. */
  const char *ready_file;
  /* Host: adds the machine's PCI NICs to the inventory at start-up (the
   * host agent's main passes sriov.h discovery; the guest agent, which
   * does not link libpci, passes NULL).  The messages it appends to
   * inv->nics are malloc'd and freed with protobuf_c_message_free_unpacked.
   * A negative return is logged as a warning; the agent runs without. */
  int (*add_nics)(Iovbench__Inventory *inv, const char *sysfs_root);
  const char *sysfs_root; /* NULL: /sys */
  /* Host: its host part (host/relay.h); NULL = none, then coord's
   * messages for a guest are answered "no guests here". */
  const struct iov_agent_host_hooks *host;
  void *host_config;
  /* Host: starts VMs for coord (VmSetup/VmTeardown); NULL = this agent
   * starts none and says so.  host/vmsession.c provides it. */
  const struct iov_agent_vm_hooks *vm;
  void *vm_config;
  /* Authentication (lib/auth.h).  Host: plaintext = accept any
   * coordinator and guest, unauthenticated; else key_dir holds
   * agent.key_secret (made at first start), coordinators/ and guests/.
   * Guest: host_key NULL = plaintext; else the host agent's public key
   * and our secret key (Z85). */
  bool plaintext;
  const char *key_dir;
  const char *host_key;
  const char *secret_key;
  /* Host: most connections at once on the control socket (and, through
   * its host part, on the guest socket); 0 = IOV_AGENT_MAX_CONNECTIONS. */
  unsigned max_connections;
};

#define IOV_AGENT_MAX_CONNECTIONS 256

/* Guests silent this long are dropped from the host's table; they send a
 * heartbeat every IOV_GUEST_HEARTBEAT_NS. */
#define IOV_GUEST_HEARTBEAT_NS (2ULL * 1000000000ULL)
#define IOV_GUEST_TIMEOUT_NS (3 * IOV_GUEST_HEARTBEAT_NS)
/* The dead-man check runs every 50 ms; a longer gap is the agent's own
 * stall, not counted against the coordinator. */
#define IOV_DEADMAN_STALL_NS (250ULL * 1000000ULL)

/* Set up an agent for cfg: its socket bound (host) or connecting
 * (guest), its inventory read, its loop with its timers, signals and
 * hooks started, but not run.  *ret is the caller's: free it with
 * iov_agent_free().  0, or a negative errno (logged). */
int iov_agent_new(const struct iov_agent_config *cfg, struct iov_agent **ret);
/* The agent's loop (to run it, or step it in a test). */
struct uv_loop_s *iov_agent_loop(struct iov_agent *a);
/* Stop the agent as SIGTERM does (its point aborted, its hooks' VMs and
 * guests let go, a guest's goodbye sent, every handle closed): its loop
 * then returns. */
void iov_agent_stop(struct iov_agent *a, const char *why);
/* Stop it if running, run its loop until every handle is closed, release
 * everything.  Returns NULL.  A loop that cannot close is a bug: logged. */
struct iov_agent *iov_agent_free(struct iov_agent *a);
/* new, run until SIGINT or SIGTERM, free.  0 or a negative errno. */
int iov_agent_run(const struct iov_agent_config *cfg);
