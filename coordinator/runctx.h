/* coord run's shared state, private to coordinator/run.c and its parts:
 * sessions.c (the agents' sessions), point.c (one test point) and, through
 * the views embedded here, ingest.c (what agents send, stored).
 *
 * Ownership: run.c owns struct run_ctx for the whole run (on its stack);
 * sessions.c fills and frees its peers and cert.  point.c owns a struct
 * point_run for one point (on its stack), its agents and addresses, and
 * points run_ctx.cur at it while the point runs, so that the sessions can
 * fail it (a guest left, an agent was lost).  Everything here runs on
 * coord's one thread. */
#pragma once

#include <czmq.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clocksync.h"
#include "coord.h"
#include "engine.h"
#include "ingest.h"
#include "local.h"
#include "macro.h"
#include "peer.h"
#include "plan.h"
#include "progress.h"
#include "results.h"
#include "timeutil.h"

/* Clock probes per agent before each point; the minimum-delay one counts. */
#define CLOCK_PROBES 8

enum { SIDE_SENDER, SIDE_RECEIVER, N_SIDES };

static inline const char *side_name(int side) { return side == SIDE_SENDER ? "sender" : "receiver"; }

static inline uint64_t mono_deadline(uint64_t timeout_ns) { return iov_now_mono() + timeout_ns; }

struct run_ctx {
  const struct iov_run_config *cfg; /* the caller's */
  struct iov_plan *plan;            /* run.c's */
  struct iov_local *local;          /* run.c's: the agents coord started */
  struct iov_db *db;                /* run.c's */
  int64_t db_run;
  char *dir;               /* run.c's: the run directory */
  const char *run_id;      /* into dir, or the resumed run's uuid */
  struct iov_peer **peers; /* sessions.c's: the host agents; guests hang below them */
  size_t n_peers;
  int signal_fd; /* run.c's: SIGINT, SIGTERM, SIGHUP; -1: none */
  bool interrupted;
  unsigned failed_points;
  struct point_run *cur; /* the point being run (point.c's), for guests leaving */
  uint64_t hb_ns;        /* heartbeat interval (the plan's, one per run) */
  uint64_t next_hb;      /* CLOCK_MONOTONIC */
  zcert_t *cert;         /* sessions.c's: coord's key pair, when some agent uses CURVE */
  struct iov_progress pg;
};

/* One agent's part in a point. */
struct pr_agent {
  struct iov_peer *peer; /* the session's; the point borrows it */
  int side;
  unsigned flows;
  unsigned link0; /* the link of flow 0; flow j is on link0 + j / flows_per_link */
  unsigned flows_per_link;
  struct pr_agent *rx; /* a sender's receiver */
  unsigned port_off;   /* a sender's first port in rx->ports */
  int64_t *flow_id;    /* [flows], the point's */
  bool ready, result;
  uint32_t *ports; /* a receiver's, from Ready; the point's */
  size_t n_ports;
  struct iov_clock_probe probes[CLOCK_PROBES];
  unsigned n_probes;
  uint64_t probe_t1;             /* the probe in flight */
  struct iov_clock_estimate clk; /* agent - coord, before the point */
  char ip[INET6_ADDRSTRLEN];     /* a receiver's data address, as a literal */
  /* What ingest keeps of it (samples, start, bytes); point.c sets the
   * rest of the view before each call. */
  struct iov_ingest_agent in;
};

struct point_run {
  struct run_ctx *ctx;
  const struct iov_plan_point *pp;
  enum iov_topology topo;
  uint64_t id; /* on the wire: the point's row id */
  int64_t db_point;
  struct pr_agent *ag; /* [n_ag], the point's */
  size_t n_ag;
  size_t n_side[N_SIDES], n_ready[N_SIDES], n_results;
  /* What ingest sees of the point; it keeps the senders' window there. */
  struct iov_ingest_point in;
  /* Path sriov or virtio: the VMs each host agent started for the point,
   * in VM order (VmReady); build_agents() takes these guests. */
  struct vm_req {
    struct iov_peer *host;
    unsigned count;
    char **names;
    size_t n_names;
    bool ready;
  } vm[2];
  size_t n_vm;
  /* The data addresses of the point's own agents, as coord verified them
   * (agent_addr()): senders send to these only (Workload.run_addresses). */
  char **run_addrs;
  size_t n_run_addrs;
  /* Why the point failed, stored with it in results.db (data, not an
   * error channel): empty while it goes well.  iov__point_fail() keeps the
   * first cause, iov__point_cause() adds one after it. */
  char error[768];
  int fatal;               /* 0, or the error that ends the run */
  unsigned foreign_errors; /* Errors from agents outside the point */
  /* The point's data-path secret (Workload.token), drawn at its first
   * Prepare: a sender streams only after its receiver answered it. */
  uint8_t token[IOV_ENGINE_TOKEN_LEN];
  bool have_token;
};

/* The point fails: the first cause is the one kept. */
void iov__point_fail(struct point_run *pr, const char *fmt, ...) _printf_(2, 3);
/* A cause found after the first error (an agent lost after its partner
 * saw the connection reset): said after it. */
void iov__point_cause(struct point_run *pr, const char *fmt, ...) _printf_(2, 3);
/* The point's agent that p is, or NULL (pr may be NULL). */
struct pr_agent *iov__agent_of(struct point_run *pr, const struct iov_peer *p);
/* Whether the point uses host agent h (itself or a guest of it). */
bool iov__point_uses(const struct point_run *pr, const struct iov_peer *h);
/* The host agent of that name, or NULL. */
struct iov_peer *iov__peer_by_name(struct run_ctx *c, const char *name);
