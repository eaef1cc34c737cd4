/* The wire: one protobuf-c Envelope per ZeroMQ frame (proto/iovbench.proto).
 *
 * Decoding checks the frame size before unpacking, then the protocol
 * version, then every field of the body against hard limits.  A message
 * that fails is counted in struct iov_wire_stats and dropped by the caller;
 * it is never fatal. */
#pragma once

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "iovbench.pb-c.h"
#include "plan.h"

#define IOV_PROTO_VERSION 1
#define IOV_WIRE_MAX_MSG (8u << 20) /* largest frame we decode */
#define IOV_WIRE_MAX_STRING 4096    /* any string field */
#define IOV_WIRE_MAX_INTERFACES 4096
#define IOV_WIRE_MAX_FLOWS 256                    /* flows per agent per point */
#define IOV_WIRE_MAX_SIZE (16u << 20)             /* msg_size, response_size */
#define IOV_WIRE_MAX_CPUS 4096                    /* cores in a sample or a pin list */
#define IOV_WIRE_MAX_IRQS 8192                    /* NIC queues in a sample */
#define IOV_WIRE_MAX_GUESTS 4096                  /* guests under one host agent */
#define IOV_WIRE_MAX_NAME 64                      /* guest names: [A-Za-z0-9._:-]{1,64} */
#define IOV_WIRE_MAX_NICS 4096                    /* PCI NICs in an inventory */
#define IOV_WIRE_MAX_VFS 1024                     /* VFs listed under one PF */
#define IOV_WIRE_MAX_NETDEVS 16                   /* netdevs of one PCI function */
#define IOV_WIRE_MAX_WARNINGS 32                  /* warnings about one PCI NIC */
#define IOV_WIRE_MAX_RUN_ADDRS 65536              /* addresses of a run's agents, in a Prepare */
#define IOV_WIRE_MAX_IF_ADDRS 1024                /* addresses of one interface in an inventory */
#define IOV_WIRE_MAX_WORKLOADS 64                 /* engine names in an inventory */
#define IOV_WIRE_MAX_SETTINGS IOV_ENGINE_MAX_OPTS /* engine settings in a Prepare */
#define IOV_WIRE_MAX_PPS 1000000000ULL            /* Workload.rate_pps: datagrams/s per flow */

typedef Iovbench__Envelope iov_envelope;

struct iov_wire_stats {
  uint64_t received;
  uint64_t oversized;
  uint64_t malformed; /* protobuf could not unpack, or a field failed validation */
  uint64_t bad_version;
  uint64_t unknown;     /* no body we know (a newer peer?) */
  uint64_t bad_framing; /* wrong number of frames */
};

/* Decode and validate one frame.  On success *ret is set (caller owns;
 * free with iov_wire_free()).  On failure returns -EMSGSIZE, -EBADMSG,
 * -EPROTONOSUPPORT (version) or -ENOMSG (unknown body), counts it in
 * stats (may be NULL) and writes a reason into errbuf. */
int iov_wire_decode(const uint8_t *data, size_t len, iov_envelope **ret, struct iov_wire_stats *stats,
                    char *errbuf, size_t errlen);
iov_envelope *iov_wire_free(iov_envelope *e);

/* Pack e (proto_version is filled in) into a new frame; caller owns it. */
int iov_wire_encode(iov_envelope *e, zframe_t **ret);

/* Send e on sock.  For a ROUTER socket pass the peer's routing id (not
 * consumed).  Returns 0 or -errno (-EAGAIN when the peer's queue is full). */
int iov_wire_send(zsock_t *sock, zframe_t *routing_id, iov_envelope *e);

/* Receive one message without blocking.  ROUTER sockets: *ret_routing_id
 * gets the sender's id (caller owns; set whenever a well-framed message
 * arrived, even one that failed to decode, and NULL otherwise), else pass
 * NULL.  Returns 0 and *ret
 * on success; -EAGAIN when nothing is queued; another negative code when
 * a message arrived but was dropped (counted and described in errbuf). */
int iov_wire_recv(zsock_t *sock, zframe_t **ret_routing_id, iov_envelope **ret, struct iov_wire_stats *stats,
                  char *errbuf, size_t errlen);

/* Who sent a message, as ZeroMQ knows it: the ZAP user id (our ZAP
 * handler sets it to the peer's CURVE public key in Z85; "" on a
 * plaintext socket) and the peer's IP address ("" when unknown). */
struct iov_wire_peer {
  char user_id[64];
  char address[64];
};
/* iov_wire_recv(), also filling *peer (when not NULL) whenever a
 * well-framed message arrived. */
int iov_wire_recv_peer(zsock_t *sock, zframe_t **ret_routing_id, iov_envelope **ret,
                       struct iov_wire_stats *stats, struct iov_wire_peer *peer, char *errbuf, size_t errlen);

/* A guest (VM) name as the relay accepts it: 1..64 of [A-Za-z0-9._:-]
 * (a UUID, a libvirt domain name). */
bool iov_wire_name_ok(const char *s);

/* An IPv4 or IPv6 address literal, nothing else (no prefix, zone, host
 * name): what a data address on the wire must be. */
bool iov_wire_ip_literal_ok(const char *s);

/* Name of the body, for logs: "hello", "samples", ... */
const char *iov_wire_body_name(const iov_envelope *e);

/* Histogram conversion.  to_pb fills a caller-provided message whose
 * index/count arrays are allocated (free with iov_wire_hist_pb_done). */
int iov_wire_hist_to_pb(const struct iov_hist *h, Iovbench__Histogram *ret);
void iov_wire_hist_pb_done(Iovbench__Histogram *pb);
/* Validated: indexes strictly increasing and in range, arrays equal length. */
int iov_wire_hist_from_pb(const Iovbench__Histogram *pb, struct iov_hist *ret);
/* What iov_wire_hist_from_pb() would give for count, min, max, sum and
 * overflow, without building the 35 KiB dense histogram: for storing a
 * decoded (hence validated) histogram as it came.  min is UINT64_MAX and
 * max 0 when empty. */
int iov_wire_hist_summary(const Iovbench__Histogram *pb, struct iov_hist_summary *ret);

/* Engine settings on the wire (Workload.settings), typed key/values.
 * Coord: w->settings from a point's settings (allocated; release with
 * iov_wire_engine_settings_done()).  0 or -ENOMEM. */
int iov_wire_engine_settings_to_pb(const struct iov_plan_setting *s, size_t n, Iovbench__Workload *w);
void iov_wire_engine_settings_done(Iovbench__Workload *w);
/* Agent: the engine's option struct (struct_size bytes at ret) from w's
 * settings, checked against the engine's table 'opts' (NULL-name
 * terminated): each key one it declares, once, of its type, in its
 * range; a key not sent keeps its default.  0, or -EINVAL with "key 'K':
 * why" in err. */
int iov_wire_engine_settings(const struct iov_engine_opt *opts, size_t struct_size,
                             const Iovbench__Workload *w, void *ret, char *err, size_t errlen);

/* Socket options every iovbench socket gets: linger 0 (never hang on
 * exit), a hard receive size cap, and bounded queues. */
void iov_wire_sock_setup(zsock_t *sock);

/* ZMTP limits for the agents' sockets (before bind or connect): a peer
 * that has not finished its handshake after IOV_WIRE_HANDSHAKE_MS is
 * dropped (a half-open connection holds no slot for long), and ZMTP
 * heartbeats (PING every IOV_WIRE_HEARTBEAT_MS, answered by ZeroMQ's own
 * thread, so a busy agent still answers) close a connection silent for
 * IOV_WIRE_HEARTBEAT_TIMEOUT_MS: a peer that vanished (power, network)
 * does not hold its connection forever.  The TTL asks the other side to
 * do the same. */
#define IOV_WIRE_HANDSHAKE_MS 10000
#define IOV_WIRE_HEARTBEAT_MS 5000
#define IOV_WIRE_HEARTBEAT_TIMEOUT_MS 30000
void iov_wire_sock_harden(zsock_t *sock);

/* Whether addr (an IPv4 or IPv6 literal) is one of list's addresses
 * ("198.18.0.1", "198.18.0.1/24", "fe80::1%eth0/64": a prefix or zone is
 * ignored; the comparison is on the binary address). */

bool iov_wire_addr_listed(const char *addr, char *const *list, size_t n);
