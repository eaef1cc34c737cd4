/* Workload engines: one ops table per workload, as fio does for I/O
 * engines.  An engine only measures into struct iov_flow_stats; it never
 * sees protobuf, ZeroMQ or SQLite (agents translate).
 *
 * Life of one test point on one agent (struct iov_engine_run, run.c):
 *   iov_engine_run_new()      config checked, one struct iov_flow per flow
 *   iov_engine_run_prepare()  receiver: listen, one port per flow, and
 *                             start one thread per flow, which answers the
 *                             sender's hello (handshake.c) until the start
 *                             sender: connect every flow to its port and
 *                             say hello; nothing else is sent until the
 *                             receiver answered the point's token
 *   iov_engine_run_start()    (sender: one thread per flow) returns when
 *                             every thread runs; each sleeps to the start
 *                             instant, then runs the hot loop (ops->flow_run)
 *   iov_engine_run_snapshot() any time, from any thread: the counters
 *   iov_engine_run_stop()     ask the flows to stop, unblock and join them
 *   iov_engine_run_free()
 * A sender's flows end at start + duration and close their socket; a
 * receiver's flows end at the peer's close (EOF), so every byte sent is
 * counted on both sides.  The done callback fires once, from the last flow
 * thread that ends. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "hist.h"
#include "macro.h"
#include "plan.h" /* struct iov_engine_opt: the shape of an engine's settings */

#define IOV_ENGINE_ABI 1
#define IOV_ENGINE_MAX_FLOWS 256
#define IOV_ENGINE_MAX_MSG (16u * 1024 * 1024)
#define IOV_ENGINE_MAX_BURST 1024 /* RR transactions outstanding per flow */
/* Largest option struct an engine may declare (ops->option_struct_size). */
#define IOV_ENGINE_MAX_OPTS_SIZE (IOV_ENGINE_MAX_OPTS * sizeof(uint64_t))
/* How long a flow that drains its peer (a stream receiver, a tcp_maerts
 * reader) waits past the window for the peer's close (EOF). */
#define IOV_ENGINE_DRAIN_GRACE_NS (30 * IOV_NSEC_PER_SEC)
/* The data-path hello (hello.c): the point's token, and the length of a
 * hello and of its answer. */
#define IOV_ENGINE_TOKEN_LEN 16
#define IOV_HELLO_LEN 40
/* A sender sends at most this many UDP hellos per flow (retries), and
 * waits for the answer at most connect_timeout_ns in all. */
#define IOV_HELLO_MAX_SENDS 6

enum {
  IOV_ENG_F_RR = 1u << 0,             /* request/response: records latency */
  IOV_ENG_F_UDP = 1u << 1,            /* datagram sockets: the runner binds the
                                   * receiver's and connects the sender's
                                   * socket; there is no accept and no EOF */
  IOV_ENG_F_NEEDS_PEER = 1u << 2,     /* needs a receiver on another agent */
  IOV_ENG_F_CONN_PER_TRANS = 1u << 3, /* the engine connects/accepts itself,
                                   * per transaction (tcp_crr): the runner
                                   * only listens (receiver) or resolves the
                                   * peer address (sender) */
};

enum iov_role {
  IOV_ROLE_SENDER = 1,   /* connects: stream sender, RR client */
  IOV_ROLE_RECEIVER = 2, /* listens: stream receiver, RR server */
  _IOV_ROLE_MAX,
  _IOV_ROLE_INVALID = -22,
};
const char *iov_role_to_string(enum iov_role r);

struct iov_engine_config {
  enum iov_role role;
  uint32_t flows;
  uint64_t msg_size;      /* stream message, RR request */
  uint64_t response_size; /* RR response */
  uint64_t duration_ns;
  const char *bind_address;   /* local data address; NULL or "" = any */
  const char *peer_address;   /* sender: the receiver's address.  Receiver:
                               * the expected sender's address (NULL or ""
                               * = any): a hello from elsewhere is ignored */
  const uint16_t *peer_ports; /* sender only: one per flow */
  uint64_t connect_timeout_ns;
  uint64_t send_buffer;  /* SO_SNDBUF, 0 = the system's default */
  uint64_t recv_buffer;  /* SO_RCVBUF, 0 = the system's default */
  bool nodelay;          /* TCP_NODELAY */
  uint64_t rate_bps;     /* UDP stream: offered rate per flow, 0 = unpaced */
  uint64_t rate_pps;     /* UDP stream: datagrams/s per flow; non-zero
                          * overrides rate_bps (a search trial sets it) */
  const char *interface; /* SO_BINDTODEVICE; NULL or "" = none */
  const uint16_t *cpus;  /* pin flow i's thread to cpus[i % n_cpus] */
  uint32_t n_cpus;       /* 0 = no pinning */
  /* The engine's own settings: its option struct (ops->options says what
   * is where), NULL = every default.  iov_engine_run_new() checks it
   * against the table and keeps a copy. */
  const void *opts;
  /* The point's secret (IOV_ENGINE_TOKEN_LEN bytes, required): a sender
   * sends nothing but a hello until the receiver answered it on the
   * flow's own 5-tuple; a receiver serves only a 5-tuple that said hello
   * (hello.c, docs/protocol.md). */
  const uint8_t *token;
  /* RR engines: the client paces its transactions so that transactions/s
   * x max(msg_size, response_size) x 8 stays at most this (the agent's
   * --max-rate); 0 = unpaced. */
  uint64_t rr_rate_bps;
};

/* Counters of one flow.  Written only by the flow's thread (relaxed atomic
 * stores), read by anyone through iov_engine_run_snapshot(). */
struct iov_flow_stats {
  uint64_t bytes;
  uint64_t messages;
  uint64_t transactions;
  uint64_t t_start_ns;   /* CLOCK_REALTIME when the flow began its loop */
  uint64_t t_end_ns;     /* CLOCK_REALTIME when it ended; 0 while running.
                        * An engine may set it before flow_run returns
                        * (a UDP receiver: its last datagram's arrival);
                        * readers treat it as final only after the join. */
  int error;             /* 0 or negative errno */
  uint64_t lost;         /* UDP stream receiver: datagrams that never came;
                        * RR: transactions that timed out */
  uint64_t out_of_order; /* UDP receiver: datagrams older than one seen */
  uint64_t duplicates;   /* UDP receiver */
  uint64_t jitter_ns;    /* UDP receiver: RFC 3550 interarrival jitter */
  uint64_t ignored;      /* receiver: datagrams and connections from a
                        * 5-tuple that did not say hello with the token,
                        * or of the wrong size (udp_rr): never answered */
  struct iov_hist hist;  /* cumulative latency, RR engines only */
};

/* TCP state of a flow's socket (TCP_INFO), read at sample time. */
struct iov_tcp_info {
  uint64_t retransmits; /* segments retransmitted, whole connection */
  uint32_t rtt_us;
  uint32_t rttvar_us;
  uint32_t snd_cwnd; /* segments */
  uint64_t segs_out; /* segments sent, whole connection (0: kernel older than 4.2) */
  uint64_t segs_in;  /* segments received, whole connection */
};

struct iov_engine_run;

/* One flow, handed to the engine's callbacks.  The buffer is allocated by
 * the runner (max of msg_size and response_size) before the thread starts,
 * so the hot path never allocates. */
struct iov_flow {
  _Alignas(IOV_CACHELINE) struct iov_flow_stats stats;
  unsigned idx;
  int fd;                       /* connected data socket, -1 before */
  int listen_fd;                /* receiver only */
  uint16_t port;                /* receiver: the port listen_fd is bound to */
  struct sockaddr_storage peer; /* sender: the receiver's address and port */
  socklen_t peer_len;
  uint64_t window_end_mono; /* CLOCK_MONOTONIC end of the nominal window */
  /* Receiver: the remote end that said hello with the token (UDP: the
   * only source served; tcp_crr: the only address accepted). */
  struct sockaddr_storage hello_peer;
  socklen_t hello_peer_len; /* 0 until a hello came */
  void *buf;
  size_t buf_size;
  struct iov_engine_run *run;
  const struct iov_engine_config *cfg;
};

struct iov_engine_ops {
  const char *name;
  unsigned abi_version;
  unsigned flags;
  const char *help;
  /* The hot loop of one flow, on its own thread, after the start instant.
   * The sender runs until iov_flow_should_stop() or the deadline
   * 'end_mono_ns' (CLOCK_MONOTONIC), then returns; the runner closes the
   * socket.  The receiver runs until EOF or iov_flow_should_stop().
   * Counters go through iov_flow_add().  Returns 0 or -errno. */
  int (*flow_run)(struct iov_flow *f, uint64_t end_mono_ns);
  /* Optional (NULL = none): reject a config that the generic checks of
   * iov_engine_run_new() accept but this engine cannot run (tcp_bidir
   * needs an even number of flows).  Returns 0 or -EINVAL; called by
   * iov_engine_run_new(), which then fails with it. */
  int (*check)(const struct iov_engine_config *cfg);
  /* The engine's settings (plan keys, wire key/values), terminated by an
   * entry whose name is NULL; NULL = none.  Each is a uint64_t at its
   * .offset in the engine's option struct of option_struct_size bytes
   * (at most IOV_ENGINE_MAX_OPTS_SIZE), which cfg->opts points to.  The
   * plan parser, coord help-plan, the wire and the config all read this
   * table: adding a setting is one entry here and its use. */
  const struct iov_engine_opt *options;
  size_t option_struct_size;
  /* The smallest msg_size the engine runs (udp_stream: its datagram
   * header); 0 = no minimum beyond 1.  A plan asking for less is refused
   * by coord validate, naming this minimum. */
  uint64_t min_msg_size;
  /* Optional: the engine's own options on every data socket the runner
   * or the engine opens (after the common ones: buffers, nodelay,
   * device).  0 or -errno, which fails the socket's setup. */
  int (*sockopts)(const struct iov_engine_config *cfg, int fd);
  /* Optional: called by iov_engine_run_prepare() on each flow once its
   * socket is set up (receiver: bound; sender: connected, before its
   * hello), on the caller's thread, before any flow thread runs it.
   * What only the socket can tell (its address family) or only the
   * kernel can refuse (udp_stream: a frame the family cannot carry, a
   * kernel without UDP GSO/GRO) fails the prepare here with its reason:
   * 0, or -errno with a one-line reason in err (err may be NULL). */
  int (*flow_prepare)(struct iov_flow *f, char *err, size_t errlen);
};

/* The settings every engine has, on each of its data sockets.  An
 * engine's option struct begins with this struct, its table lists
 * IOV_ENGINE_SOCK_OPTS(its struct), and its ops' sockopts is
 * iov_sock_opts_apply() (or a hook of its own that calls it first). */
struct iov_sock_opts {
  uint64_t tos; /* IP_TOS / IPV6_TCLASS, 0 = the system's default */
};
#define IOV__ENGINE_TOS_OPT(off)                                                                             \
  {                                                                                                          \
    .name = "tos", .type = IOV_OPT_UINT, .def = 0, .min = 0, .max = 255, .sweepable = true, .offset = (off), \
    .help = "IP TOS byte of every data socket (IPV6_TCLASS on IPv6): the DSCP is tos >> 2 (tos = 184 is "    \
            "DSCP 46, expedited forwarding) and the low two bits are ECN's, which TCP keeps to itself; "     \
            "0 leaves the system's default."                                                                 \
  }
#define IOV_ENGINE_SOCK_OPTS(optstruct) IOV__ENGINE_TOS_OPT(offsetof(optstruct, sock.tos))
/* Apply cfg's struct iov_sock_opts (the head of its option struct) to fd.
 * 0 or -errno. */
int iov_sock_opts_apply(const struct iov_engine_config *cfg, int fd);

/* The settings both request/response engines (tcp_rr, udp_rr) have, on
 * top of tos: their option struct begins with this struct (member rr,
 * itself beginning with struct iov_sock_opts), their table lists
 * IOV_ENGINE_RR_OPTS(its struct) and their ops' sockopts is
 * iov_rr_sockopts_apply(). */
struct iov_rr_opts {
  struct iov_sock_opts sock; /* first: tos */
  uint64_t burst;            /* transactions outstanding per flow */
  uint64_t busy_poll;        /* SO_BUSY_POLL, us; 0 = the system's */
};
#define IOV_ENGINE_RR_OPTS(optstruct)                                                                       \
  { .name = "burst",                                                                                        \
    .type = IOV_OPT_UINT,                                                                                   \
    .def = 1,                                                                                               \
    .min = 1,                                                                                               \
    .max = IOV_ENGINE_MAX_BURST,                                                                            \
    .sweepable = true,                                                                                      \
    .offset = offsetof(optstruct, rr.burst),                                                                \
    .help = "Request/response: transactions outstanding at once on each flow (netperf's burst)." },         \
      { .name = "busy_poll",                                                                                \
        .type = IOV_OPT_UINT,                                                                               \
        .unit = "us",                                                                                       \
        .def = 0,                                                                                           \
        .min = 0,                                                                                           \
        .max = 1000000,                                                                                     \
        .sweepable = true,                                                                                  \
        .offset = offsetof(optstruct, rr.busy_poll),                                                        \
        .help = "SO_BUSY_POLL on every data socket: a blocking receive polls the device queue this many "   \
                "microseconds before it sleeps, for lower latency at the cost of a busy CPU; 0 leaves the " \
                "system's net.core.busy_read.  Above that sysctl it needs CAP_NET_ADMIN." },                \
      IOV__ENGINE_TOS_OPT(offsetof(optstruct, rr.sock.tos))
/* tos and busy_poll of cfg's struct iov_rr_opts on fd.  0 or -errno. */
int iov_rr_sockopts_apply(const struct iov_engine_config *cfg, int fd);

/* The engine's option struct as its flows see it (never NULL in a run). */
static inline const void *iov_flow_opts(const struct iov_flow *f) { return f->cfg->opts; }

/* Store one counter for readers on other threads (single writer). */
#define IOV_FLOW_SET(f, field, v) __atomic_store_n(&(f)->stats.field, (v), __ATOMIC_RELAXED)

/* Thread-safe counter updates for the flow's own thread (single writer). */
static inline void iov_flow_add(struct iov_flow *f, uint64_t bytes, uint64_t msgs, uint64_t trans) {
  __atomic_store_n(&f->stats.bytes, f->stats.bytes + bytes, __ATOMIC_RELAXED);
  __atomic_store_n(&f->stats.messages, f->stats.messages + msgs, __ATOMIC_RELAXED);
  __atomic_store_n(&f->stats.transactions, f->stats.transactions + trans, __ATOMIC_RELAXED);
}
bool iov_flow_should_stop(const struct iov_flow *f);
/* Sleep until until_mono (CLOCK_MONOTONIC), in slices of at most 50 ms
 * so that a stop is seen: 0, or -ECANCELED on a stop. */
int iov_flow_sleep_until(struct iov_flow *f, uint64_t until_mono);
/* Now as a CLOCK_REALTIME stamp on the run's own timeline (the start
 * instant plus the monotonic time since): what a flow stores in
 * t_start_ns/t_end_ns, so that a clock step mid-point moves no stamp. */
uint64_t iov_flow_stamp(const struct iov_flow *f);
/* The same stamp for an earlier CLOCK_MONOTONIC instant the flow read. */
uint64_t iov_flow_stamp_at(const struct iov_flow *f, uint64_t mono);

/* The hello (hello.c).  iov_hello_make(): a fresh nonce and the hello
 * carrying it.  iov_hello_answer(): whether buf is a hello made with the
 * token; if so, the answer to send.  iov_hello_answer_ok(): whether buf
 * is the answer to the hello with this nonce. */
int iov_hello_make(const uint8_t token[IOV_ENGINE_TOKEN_LEN], uint8_t nonce[16],
                   uint8_t hello[IOV_HELLO_LEN]);
bool iov_hello_is(const uint8_t *buf, size_t n);
bool iov_hello_answer(const uint8_t token[IOV_ENGINE_TOKEN_LEN], const uint8_t *buf, size_t n,
                      uint8_t answer[IOV_HELLO_LEN]);
bool iov_hello_answer_ok(const uint8_t token[IOV_ENGINE_TOKEN_LEN], const uint8_t nonce[16],
                         const uint8_t *buf, size_t n);
/* UDP receivers, for every datagram received (runner, run.c): true if it
 * is data from the flow's hello'd peer.  A hello with the token is
 * answered (the first one binds the flow to its source), anything else
 * counts in stats.ignored and is never answered. */
bool iov_flow_udp_admit(struct iov_flow *f, const void *buf, size_t n, const struct sockaddr_storage *from,
                        socklen_t from_len);
/* The runner's side of the hello (handshake.c, for run.c).  Sender, per
 * flow in the prepare: 0, or -errno with the reason in why.  Receiver:
 * iov__hello_accept() takes the next connection that says hello with the
 * token, until the start flag (-EAGAIN then) or until until_mono_ns
 * (-ETIMEDOUT); iov__hello_udp_wait() answers hellos until the start. */
int iov__hello_sender(struct iov_flow *f, unsigned flags, char *why, size_t n);
int iov__hello_accept(struct iov_flow *f, uint64_t until_mono, bool until_go);
int iov__hello_udp_wait(struct iov_flow *f);
bool iov__flow_go(const struct iov_flow *f);
bool iov__flow_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* RR clients' pacing to cfg->rr_rate_bps (run.c): the CLOCK_MONOTONIC
 * instant the next transaction may begin, and its advance once begun. */
struct iov_rr_pace {
  uint64_t next;
  uint64_t interval; /* 0 = unpaced */
  uint64_t slack;    /* (depth - 1) * interval */
};
/* depth: transactions that may begin back to back after a pause (1 for
 * a client; a server takes its client's burst + 1, for the network's
 * jitter). */
void iov_rr_pace_init(struct iov_rr_pace *p, const struct iov_engine_config *cfg, uint32_t depth);
/* Whether a transaction may begin at 'now'; if so, it is accounted. */
bool iov_rr_pace_take(struct iov_rr_pace *p, uint64_t now);
/* Sleep (in slices that see a stop) until a transaction may begin, and
 * account it.  0, or -ECANCELED. */
int iov_rr_pace_wait(struct iov_flow *f, struct iov_rr_pace *p);

/* Registry (registry.c): the static list of engines, validated once. */
const struct iov_engine_ops *iov_engine_find(const char *name);
/* NULL-terminated list of engine names, static. */
const char *const *iov_engine_names(void);
/* Check the ABI version, callbacks and settings tables of every
 * registered engine.  Returns 0, or -EINVAL naming the engine in err. */
int iov_engine_registry_check(char *err, size_t errlen);
/* The registered engines as the plan parser sees them (name, UDP or not,
 * settings), terminated by an entry whose name is NULL.  Static. */
const struct iov_plan_workload *iov_engine_plan_workloads(void);
/* An option struct of ops (at least ops->option_struct_size bytes) with
 * every setting at its default. */
void iov_engine_opts_default(const struct iov_engine_ops *ops, void *opts);
/* Set 'name' in opts, unchecked (iov_engine_opts_check() checks).
 * 0, or -ENOENT when ops has no such setting. */
int iov_engine_opt_set(const struct iov_engine_ops *ops, void *opts, const char *name, uint64_t v);
/* The value of 'name' in opts; false when ops has no such setting. */
bool iov_engine_opt_get(const struct iov_engine_ops *ops, const void *opts, const char *name, uint64_t *ret);
/* Every setting in its range: 0, or -ERANGE naming the key in err. */
int iov_engine_opts_check(const struct iov_engine_ops *ops, const void *opts, char *err, size_t errlen);

typedef void (*iov_engine_done_cb)(void *userdata);

/* Caller owns *ret; free with iov_engine_run_free().  -EINVAL if the
 * config is out of range (flows, sizes, missing peer for a sender). */
int iov_engine_run_new(const struct iov_engine_ops *ops, const struct iov_engine_config *cfg,
                       struct iov_engine_run **ret);
/* Receiver: bind and listen, write 'flows' ports to ret_ports, and start
 * the flow threads, which answer hellos until the start.  Sender: connect
 * every flow (bounded by connect_timeout_ns) and say hello on it; a flow
 * whose receiver does not answer the token within connect_timeout_ns
 * fails the prepare (-ETIMEDOUT, -ECONNREFUSED, -EPROTO) having sent
 * nothing but its hellos, and err says which (err is "" when the failure
 * has no more to say than its code).  Blocking. */
int iov_engine_run_prepare(struct iov_engine_run *r, uint16_t *ret_ports, char *err, size_t errlen);
/* Start the flow threads; they wait until start_at_ns (CLOCK_REALTIME).
 * Returns when all threads exist.  On error no callback fires. */
int iov_engine_run_start(struct iov_engine_run *r, uint64_t start_at_ns, iov_engine_done_cb cb,
                         void *userdata);
/* Copy the counters of flow i (relaxed loads, never torn). */
void iov_engine_run_snapshot(const struct iov_engine_run *r, unsigned i, struct iov_flow_stats *ret);
unsigned iov_engine_run_flows(const struct iov_engine_run *r);
/* TCP_INFO of flow i's socket.  -ENOTCONN when it has none (yet), -ENOTSUP
 * for UDP engines. */
int iov_engine_run_tcp_info(const struct iov_engine_run *r, unsigned i, struct iov_tcp_info *ret);
/* Apply the config's socket options (buffers, nodelay, device) to fd;
 * for engines that open sockets themselves (tcp_crr). */
int iov_engine_sockopts(const struct iov_engine_config *cfg, unsigned flags, int fd);
/* For engines with IOV_ENG_F_CONN_PER_TRANS, from the flow's thread.
 * iov_flow_connect(): a new TCP socket to the flow's peer, with the
 * config's socket options, bound to bind_address if set (the port is
 * chosen at connect, per 4-tuple), connected within connect_timeout_ns
 * and before until_mono_ns (0 = no limit).  iov_flow_accept(): the next
 * connection on the flow's listen_fd; -ETIMEDOUT once until_mono_ns has
 * passed with none pending.  Both return the fd (CLOEXEC, blocking, with
 * the runner's short SO_RCVTIMEO/SO_SNDTIMEO), which the caller owns and
 * closes; -ECANCELED on a stop; other -errno.  The runner never sees
 * these fds: a stop is noticed within one wake-up of the timeouts. */
int iov_flow_connect(struct iov_flow *f, uint64_t until_mono_ns);
int iov_flow_accept(struct iov_flow *f, uint64_t until_mono_ns);
bool iov_engine_run_done(const struct iov_engine_run *r);
/* Stop every flow now (shutdown of its socket), join the threads.
 * A flow's error after the stop counts as the stop: its error stays 0.
 * Idempotent; safe before start. */
void iov_engine_run_stop(struct iov_engine_run *r);
struct iov_engine_run *iov_engine_run_free(struct iov_engine_run *r);

/* Helpers for engines (sock.c): move exactly n bytes on the flow's socket.
 * Returns n; 0 on EOF before the first byte (read only); -ETIMEDOUT once
 * end_mono_ns has passed; -ECANCELED on a stop; -EPIPE on EOF mid-message;
 * other -errno.  end_mono_ns = 0: no deadline. */
ssize_t iov_flow_write_all(struct iov_flow *f, const void *buf, size_t n, uint64_t end_mono_ns);
/* The same on another socket of the flow's thread (tcp_crr's per-
 * transaction connections); wr selects send or recv. */
ssize_t iov_flow_fd_io(struct iov_flow *f, int fd, bool wr, void *buf, size_t n, uint64_t end_mono_ns);
ssize_t iov_flow_read_all(struct iov_flow *f, void *buf, size_t n, uint64_t end_mono_ns);
/* The bulk-transfer loops of tcp_stream, tcp_maerts and tcp_bidir.
 * Write msg_size messages until until_mono_ns (returns 0 then), or read and
 * count until the peer's FIN (0), with -ETIMEDOUT once until_mono_ns has
 * passed first.  Both: -ECANCELED on a stop, other -errno. */
int iov_flow_bulk_write(struct iov_flow *f, uint64_t until_mono_ns);
int iov_flow_bulk_read(struct iov_flow *f, uint64_t until_mono_ns);
