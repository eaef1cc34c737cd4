/* The host part of a host agent (relay.c): the relay to this host's
 * guest agents, and the key endpoint.  It plugs into the agent core
 * through iov_relay_hooks (agent.h, struct iov_agent_host_hooks); its
 * state (struct iov_relay) is its own, opaque to the core, which holds it
 * as a->host_state. */
#pragma once

#include <stdbool.h>

#include "core.h"

/* How many guest names one key from KEYDIR/guests/ holds by default. */
#define IOV_GUEST_NAMES_PER_KEY 1

struct iov_relay_config {
  const char *guest_listen; /* endpoint to bind for guests; NULL = no relay */
  /* The control endpoint and --key-listen: where coord asks for this
   * agent's public key (NULL = derived from listen, "none" = none). */
  const char *listen;
  const char *key_listen;
  /* How many guest names one key from KEYDIR/guests/ may hold at a time
   * (0 = IOV_GUEST_NAMES_PER_KEY); a VM's own key holds its name only. */
  unsigned guest_names_per_key;
  /* --vouch-guest NAME=ADDR, the data address this host's configuration
   * vouches for a guest it did not start (coord's local guests, a lab's
   * existing VMs); n_vouch of each. */
  const char *const *vouch_names;
  const char *const *vouch_addrs;
  size_t n_vouch;
};

/* The hooks for iov_agent_config.host, with a struct iov_relay_config as
 * its host_config (kept by the caller while the agent runs). */
extern const struct iov_agent_host_hooks iov_relay_hooks;

/* For the VM hooks (vmsession.c), on an agent run with iov_relay_hooks:
 * whether a guest of that name is registered now (with the key its VM
 * was made with, on a CURVE relay). */
bool iov__relay_has_guest(struct iov_agent *a, const char *name);
/* Forget a guest now (its VM is gone), and tell coord. */
void iov__relay_drop_guest(struct iov_agent *a, const char *name);
/* Forget every guest (a test going back to a fresh agent). */
void iov__relay_forget_guests(struct iov_agent *a);
