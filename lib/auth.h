/* Authentication of the control channels with CurveZMQ.
 *
 * Who is the CURVE server: whoever binds.  A host agent is the server
 * towards coord (its control endpoint) and towards its guest agents (the
 * guest endpoint); coord and guest agents are clients.  A client must know
 * its server's public key before it connects; a server lets a client in
 * when the ZAP handler here finds the client's public key allowed:
 *
 *   domain IOV_AUTH_DOMAIN_CONTROL   coordinators: a public certificate
 *                                    (zcert format, as `coord keygen`
 *                                    writes coord.key) in the agent's
 *                                    KEYDIR/coordinators/ directory
 *   domain IOV_AUTH_DOMAIN_GUEST     guests: a key the host agent made for
 *                                    a guest it started (iov_zap_allow()),
 *                                    or a certificate in KEYDIR/guests/
 *
 * The directories are read again when they change (zcertstore), so
 * copying a key in takes effect without a restart.  Every refusal is
 * logged with the peer's address and key (at most a few lines a second,
 * so that a flood cannot fill the log), through the daemon's callback
 * (iov_auth_set_log()).
 *
 * czmq's zauth actor keeps one policy for the whole process, which would
 * let a guest's key open the control endpoint too; this ZAP handler keeps
 * the two domains apart and logs who was refused, from where.
 *
 * How coord learns an agent's public key: the agent also binds a key
 * endpoint (unauthenticated, port + 2 of its control endpoint by default)
 * that answers any message with one line, "iovbench-key 1 curve KEY" or
 * "iovbench-key 1 plaintext".  coord trusts a key on first use and
 * remembers it (KEYDIR/known_agents); a key that changes later is refused,
 * as ssh refuses a changed host key.  A plan can pin a key instead
 * (NAME.key in [hosts]). */
#pragma once

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#define IOV_AUTH_DOMAIN_CONTROL "iovbench-control"
#define IOV_AUTH_DOMAIN_GUEST "iovbench-guest"
#define IOV_KEY_TEXT_LEN 40 /* a key in Z85 */
#define IOV_KEY_REPLY_PREFIX "iovbench-key 1 "
#define IOV_KEY_DIR_ENV "IOVBENCH_KEY_DIR"
#define IOV_AGENT_KEY_DIR "/etc/iovbench"
#define IOV_KNOWN_AGENTS "known_agents"

/* The key directory: $IOVBENCH_KEY_DIR if set, else for an agent
 * /etc/iovbench, for coord $XDG_CONFIG_HOME/iovbench or
 * ~/.config/iovbench.  Into buf; 0 or -ENAMETOOLONG / -ENOENT (no home). */
int iov_key_dir_default(bool agent, char *buf, size_t len);

/* Whether text is a Z85 key (40 characters that decode to 32 bytes). */
bool iov_key_text_ok(const char *text);

/* Load DIR/NAME.key_secret; when it does not exist and create is set,
 * make a new key pair (DIR/NAME.key public, DIR/NAME.key_secret mode
 * 0600; DIR made 0755 if needed) and set *ret_created.  0; 1 when the
 * key pair was loaded but its secret file can be read by other users
 * (err then says so and how to fix it, for the caller to log as a
 * warning); or a negative errno with the cause and the fix in err. */
int iov_key_load(const char *dir, const char *name, bool create, zcert_t **ret, bool *ret_created, char *err,
                 size_t errlen);

/* Read the public key of a certificate file (NAME.key as zcert writes
 * it), or of a file whose first line is the Z85 key itself.  Into out
 * (IOV_KEY_TEXT_LEN + 1 bytes).  0 or -errno with err. */
int iov_key_read_public(const char *path, char *out, char *err, size_t errlen);
/* The same for a public (secret false) or secret key. */
int iov_key_read_file(const char *path, bool secret, char *out, char *err, size_t errlen);

/* A key pair from its secret key in Z85 (the public key is derived);
 * NULL when the text is not a key. */
zcert_t *iov_cert_from_secret(const char *secret_key);

/* Make sock a CURVE server with cert, in the ZAP domain. */
void iov_curve_server(zsock_t *sock, zcert_t *cert, const char *domain);
/* Make sock a CURVE client of the server whose public key is server_key;
 * cert is ours. */
void iov_curve_client(zsock_t *sock, zcert_t *cert, const char *server_key);

/* ---- the daemon's log ------------------------------------------------ */
/* The ZAP handler, the key endpoint and the socket monitors run in
 * threads of their own (czmq actors), where no caller can take what they
 * have to say: refused peers, failed handshakes, connections over the
 * limit.  Those lines, warnings each, go to this callback, which the
 * daemon sets once before it starts any of them; none set (the default):
 * they are dropped.  It is called from those threads, several at once, so
 * it must be thread-safe (iov_log() is).  lib/ logs nothing itself. */
typedef void iov_auth_log_fn(const char *line);
void iov_auth_set_log(iov_auth_log_fn *fn);

/* ---- the ZAP handler (one per process; agents only) ------------------- */
struct iov_zap;

/* Start it.  coord_dir: the coordinators' certificates; guest_dir: guests'
 * certificates not started by this agent (may be NULL).  0 or -errno. */
int iov_zap_start(const char *coord_dir, const char *guest_dir, struct iov_zap **ret);
/* Let a guest's key in (allow) or not any more (!allow). */
int iov_zap_allow(struct iov_zap *z, const char *public_key, bool allow);
/* How many peers were let in and refused so far. */
void iov_zap_counts(struct iov_zap *z, uint64_t *ret_allowed, uint64_t *ret_refused);
void iov_zap_stop(struct iov_zap **z);

/* ---- the key endpoint ------------------------------------------------- */
struct iov_keyserver;

/* The key endpoint that goes with a control endpoint: tcp://H:P gives
 * tcp://H:(P+2), ipc://PATH gives ipc://PATH.key.  Into buf; 0, or
 * -EINVAL when there is none (another transport, no port). */
int iov_key_endpoint_for(const char *control, char *buf, size_t len);
/* Bind the key endpoint and answer on it from a thread of its own:
 * public_key NULL = this agent runs without authentication.  0 or -errno
 * (e.g. -EADDRINUSE) with err. */
int iov_keyserver_start(const char *endpoint, const char *public_key, struct iov_keyserver **ret, char *err,
                        size_t errlen);
void iov_keyserver_stop(struct iov_keyserver **k);

/* Ask the key endpoints of n agents at once, waiting at most timeout_ms
 * in all.  For each i, out[i] becomes: the key (41 bytes), "plaintext", or
 * "" when that endpoint did not answer or answered nonsense. */
int iov_key_fetch(const char *const *endpoints, size_t n, unsigned timeout_ms,
                  char (*out)[IOV_KEY_TEXT_LEN + 1]);

/* ---- the socket monitor ----------------------------------------------- */
/* ZeroMQ's socket monitor (zmq_socket_monitor) on one socket, read by a
 * thread of its own.
 *
 * Server side (a host agent's ROUTERs): every failed handshake is logged
 * with the peer's address (the monitor names only our own endpoint, so
 * the address comes from the connection's descriptor at ACCEPTED and the
 * failure is logged at its DISCONNECTED), at most 5 lines a second.
 * ZeroMQ has no limit on connections: the monitor counts them (ACCEPTED,
 * DISCONNECTED) and shuts down, as soon as it is accepted, a TCP
 * connection beyond max_conns (shutdown(2) on ZeroMQ's descriptor, after
 * checking that it is still a TCP socket on our port; ZeroMQ then closes
 * it as a peer that went away).  ipc:// endpoints are not limited
 * (reachable only through the file system).
 *
 * Client side (a guest agent's DEALER): it records what the connection
 * attempts came to, so that the guest can say why it is not registered. */
struct iov_zmon;

/* Watch sock (before its bind or connect; from the thread that owns
 * it).  what: "control" or "guest" (for the logs); server: log failures
 * and limit connections to max_conns (0 = no limit).  0 or -errno. */
int iov_zmon_start(zsock_t *sock, const char *what, bool server, unsigned max_conns, struct iov_zmon **ret);
/* Stop watching (before the socket is destroyed). */
void iov_zmon_stop(struct iov_zmon **z);

/* What a client's connection attempts came to so far. */
struct iov_zmon_state {
  uint64_t connected;       /* TCP/ipc connections made */
  uint64_t retried;         /* connection attempts that failed (CONNECT_RETRIED) */
  uint64_t handshakes_ok;   /* ZMTP handshakes that succeeded */
  uint64_t failed_protocol; /* ... failed: ZMTP protocol (e.g. CURVE against plaintext) */
  uint64_t failed_auth;     /* ... refused by the server's authentication */
  uint64_t failed_other;    /* ... the peer closed during the handshake (e.g. a wrong server key) */
  int last_protocol_error;  /* ZMQ_PROTOCOL_ERROR_* of the last protocol failure */
  uint64_t refused_conns;   /* server: connections shut down beyond the limit */
  uint64_t open_conns;      /* server: connections open now */
};
void iov_zmon_get(struct iov_zmon *z, struct iov_zmon_state *ret);
