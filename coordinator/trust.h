/* coord's side of CurveZMQ (see lib/auth.h for the scheme).
 *
 * Before it says hello, coord asks every agent's key endpoint for its
 * public key, all at once, and decides per agent:
 *   - coord started it (NAME = local): plaintext over its private sockets;
 *   - it answers "plaintext": refused if coord holds a key for it (pinned
 *     or known: a key always wins, a plaintext answer is a downgrade);
 *     else plaintext if the plan says NAME.plaintext = yes or coord runs
 *     with --plaintext, else the run is refused;
 *   - it offers a key: refused if the plan pins another (NAME.key) or if
 *     KEYDIR/known_agents knows another for that endpoint (a changed key,
 *     as ssh refuses a changed host key); a key seen for the first time is
 *     trusted and remembered there;
 *   - it does not answer: the pinned or known key, else plaintext with
 *     NAME.plaintext = yes or --plaintext, else the run is refused (the
 *     key is unknown).
 * When some agent gets CURVE, coord's own key pair (KEYDIR/coord.key_secret,
 * made by `coord keygen`) must exist. */
#pragma once

#include <czmq.h>
#include <stdbool.h>

#include "auth.h"
#include "plan.h"

struct iov_trust_opts {
  bool plaintext;      /* coord run --plaintext: agents with no pinned or known key may be plaintext */
  const char *key_dir; /* NULL = iov_key_dir_default(false) */
  unsigned timeout_ms; /* for the key endpoints (capped at 5 s) */
};

struct iov_host_sec {
  bool curve;
  char server_key[IOV_KEY_TEXT_LEN + 1];
};

/* Fill out[i] for each of the plan's hosts; *ret_cert is coord's key pair
 * (NULL when no host uses CURVE; the caller destroys it).  0, or a negative
 * error already logged with its cause and fix. */
int iov_trust_hosts(const struct iov_plan *plan, const struct iov_trust_opts *o, zcert_t **ret_cert,
                    struct iov_host_sec *out);
