/* coord run: connect to the plan's host agents and, through them, their
 * guests; run every test point in turn (prepare the receivers, then the
 * senders, start all at one instant, collect samples and results), store
 * everything and print the table.
 *
 * A point is a set of links, one per VM (pair): host-host has one link
 * (the two host agents); vm-vm-cross, vm-vm-same and many-to-one have
 * 'vms' links between guests (or, many-to-one, from guests to one host
 * agent that receives them all).  Every agent of a point takes part as a
 * sender or as a receiver.
 *
 * Every wait has a deadline.  A point whose agents report an error is
 * stored as failed and the run goes on; an agent that falls silent ends
 * the run (its name in the message), since every later point would wait
 * for it too.  What was measured before is committed already. */
#include <errno.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "text.h"
#include "clocksync.h"
#include "coord.h"
#include "engine.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "parse.h"
#include "peer.h"
#include "plan.h"
#include "progress.h"
#include "report.h"
#include "results.h"
#include "stats.h"
#include "timeutil.h"
#include "trust.h"

/* Time between Start and the start instant: enough for the message to
 * reach every agent (through a relay, for guests) and for their threads
 * to be waiting.  Grows with the agents of the point. */
#define START_LEAD_NS (250ULL * IOV_NSEC_PER_MSEC)
#define START_LEAD_PER_AGENT_NS (1ULL * IOV_NSEC_PER_MSEC)
/* Clock probes per agent before each point; the minimum-delay one counts.
 * Agents probed at once: one probe in flight each. */
#define CLOCK_PROBES 8
#define CLOCK_PARALLEL 4
/* Agents wait this long after the window for their flows (agent/sampler.c). */
#define AGENT_FINISH_GRACE_NS (10ULL * IOV_NSEC_PER_SEC)

enum { SIDE_SENDER, SIDE_RECEIVER, N_SIDES };
static const char *const side_name[N_SIDES] = { "sender", "receiver" };

struct run_ctx {
  const struct iov_run_config *cfg;
  struct iov_plan *plan;
  struct iov_local *local;
  struct iov_db *db;
  int64_t db_run;
  char *dir;
  const char *run_id;
  struct iov_peer **peers; /* the host agents; guests hang below them */
  size_t n_peers;
  int signal_fd;
  bool interrupted;
  unsigned failed_points;
  struct point_run *cur; /* the point being run, for guests leaving */
  uint64_t hb_ns;        /* heartbeat interval (the plan's, one per run) */
  uint64_t next_hb;      /* CLOCK_MONOTONIC */
  zcert_t *cert;         /* coord's key pair, when some agent uses CURVE */
  struct iov_progress pg;
};

/* One agent's part in a point. */
struct pr_agent {
  struct iov_peer *peer;
  int side;
  unsigned flows;
  unsigned link0; /* the link of flow 0; flow j is on link0 + j / flows_per_link */
  unsigned flows_per_link;
  struct pr_agent *rx; /* a sender's receiver */
  unsigned port_off;   /* a sender's first port in rx->ports */
  int64_t *flow_id;
  bool ready, result;
  uint32_t last_seq, samples;
  uint32_t *ports; /* a receiver's, from Ready */
  size_t n_ports;
  struct iov_clock_probe probes[CLOCK_PROBES];
  unsigned n_probes;
  uint64_t probe_t1;             /* the probe in flight */
  struct iov_clock_estimate clk; /* agent - coord, before the point */
  uint64_t started;              /* first flow began, coord time */
  uint64_t bytes;                /* a sender's, all flows, from its result */
  uint64_t win_ns;               /* its measurement window */
  char ip[INET6_ADDRSTRLEN];     /* a receiver's data address, as a literal */
};

struct point_run {
  struct run_ctx *ctx;
  const struct iov_plan_point *pp;
  enum iov_topology topo;
  uint64_t id; /* on the wire: the point's row id */
  int64_t db_point;
  struct pr_agent *ag;
  size_t n_ag;
  size_t n_side[N_SIDES], n_ready[N_SIDES], n_results;
  uint64_t win_start, win_end; /* the senders' measured window, coord time */
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
  char error[768];
  int fatal;               /* 0, or the error that ends the run */
  unsigned foreign_errors; /* Errors from agents outside the point */
  /* The point's data-path secret (Workload.token), drawn at its first
   * Prepare: a sender streams only after its receiver answered it. */
  uint8_t token[IOV_ENGINE_TOKEN_LEN];
  bool have_token;
};

static void point_fail(struct point_run *pr, const char *fmt, ...) _printf_(2, 3);
static void point_fail(struct point_run *pr, const char *fmt, ...) {
  if (pr->error[0]) return; /* the first cause is the one that matters */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pr->error, sizeof(pr->error), fmt, ap);
  va_end(ap);
  /* It may quote an agent: printed and stored without its escapes. */
  iov_text_sanitize(pr->error);
}

/* A cause found after the first error (an agent lost after its partner
 * saw the connection reset): said after it. */
static void point_cause(struct point_run *pr, const char *fmt, ...) _printf_(2, 3);
static void point_cause(struct point_run *pr, const char *fmt, ...) {
  size_t n = strlen(pr->error);
  if (n && n + 3 < sizeof(pr->error)) {
    memcpy(pr->error + n, "; ", 3);
    n += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pr->error + n, sizeof(pr->error) - n, fmt, ap);
  va_end(ap);
  iov_text_sanitize(pr->error);
}

static struct iov_peer *peer_by_name(struct run_ctx *c, const char *name) {
  for (size_t i = 0; i < c->n_peers; i++)
    if (strcmp(c->peers[i]->name, name) == 0) return c->peers[i];
  return NULL;
}

static uint64_t mono_deadline(uint64_t timeout_ns) { return iov_now_mono() + timeout_ns; }

static struct pr_agent *agent_of(struct point_run *pr, const struct iov_peer *p) {
  return pr && p->slot > 0 && (size_t)p->slot <= pr->n_ag && pr->ag[p->slot - 1].peer == p
             ? &pr->ag[p->slot - 1]
             : NULL;
}

/* ---- the agent tree -------------------------------------------------- */

static void send_hello(struct run_ctx *c, struct iov_peer *p) {
  Iovbench__Hello hello = IOVBENCH__HELLO__INIT;
  hello.kind = IOVBENCH__PEER_KIND__PEER_COORD;
  hello.identity = p->name;
  hello.run_id = (char *)c->run_id;
  hello.version = IOV_VERSION;
  hello.heartbeat_ns = c->hb_ns;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HELLO;
  e.hello = &hello;
  int64_t k = iov_peer_send(p, &e);
  if (k < 0) iov_log_full_errno(IOV_LOG_WARNING, (int)k, "Cannot send hello to agent '%s': %m", p->name);
}

/* A host's list of guests: hello to the new ones, the missing ones are
 * gone (a point that uses one fails). */
static void on_guests(struct run_ctx *c, struct iov_peer *h, char **names, size_t n, char **addrs,
                      size_t n_addrs) {
  for (size_t i = 0; i < h->n_guests; i++) {
    struct iov_peer *g = h->guests[i];
    bool listed = false;
    for (size_t j = 0; j < n && !listed; j++) listed = strcmp(names[j], g->route) == 0;
    if (!listed && !g->gone) {
      g->gone = true;
      if (g->welcome) h->guests_ready--;
      g->welcome = iov_wire_free(g->welcome);
      iov_notice("guest '%s' left host '%s'", g->route, h->name);
      struct pr_agent *a = agent_of(c->cur, g);
      if (a && !a->result)
        point_fail(c->cur, "guest '%s' left host '%s' during the point", g->route, h->name);
    }
  }
  for (size_t j = 0; j < n; j++) {
    if (!iov_wire_name_ok(names[j])) {
      char t[80];
      iov_warn(
          "host agent '%s' lists a guest named '%s', not a guest name (1 to 64 letters, digits, '.', '_', "
          "':' or '-'): ignored",
          h->name, iov_peer_text(names[j], t, sizeof(t)));
      continue;
    }
    struct iov_peer *g = iov_peer_guest(h, names[j], true);
    if (!g) {
      if (h->n_guests >= IOV_PEER_MAX_GUESTS && !h->guests_full) {
        h->guests_full = true;
        iov_warn(
            "host agent '%s' has listed %zu different guests in this run, the most coord keeps: new ones "
            "are ignored",
            h->name, h->n_guests);
      }
      continue;
    }
    /* What the host agent vouches for: parallel to the names, or nothing. */
    if (iov_peer_vouch(g, n_addrs == n ? addrs[j] : NULL) < 0) iov_warn("out of memory");
    if (g->gone || (!g->welcome && !g->msg_id)) {
      g->gone = false;
      g->session_id = 0;
      send_hello(c, g);
    }
  }
}

static void on_guest_welcome(struct iov_peer *g, iov_envelope *e) {
  if (g->welcome) {
    iov_wire_free(e);
    return;
  }
  g->session_id = e->session_id;
  g->welcome = e;
  /* Its data address is chosen for each point (agent_addr()), from what
   * is vouched for; what it claims (Welcome.data_address) is only checked. */
  free(g->data_addr);
  g->data_addr = NULL;
  g->host->guests_ready++;
  char id[128], claim[80];
  const char *d = e->welcome->data_address;
  iov_info("guest '%s' is %s (claims data %s; its host vouches for %s)", g->name,
           iov_peer_text(e->welcome->identity, id, sizeof(id)),
           d && *d ? iov_peer_text(d, claim, sizeof(claim)) : "none", g->vouched ? g->vouched : "none");
}

/* Losing a host agent: nothing heard from it for three heartbeats.  The
 * point that uses it fails with the cause (what it sent stays stored);
 * coord says hello again at every heartbeat, and an agent that answers is
 * used again. */
static bool point_uses(const struct point_run *pr, const struct iov_peer *h) {
  if (!pr) return false;
  if (pr->pp->p.sender && strcmp(pr->pp->p.sender, h->name) == 0) return true;
  if (pr->pp->p.receiver && strcmp(pr->pp->p.receiver, h->name) == 0) return true;
  for (size_t i = 0; i < pr->n_ag; i++)
    if (pr->ag[i].peer == h || pr->ag[i].peer->host == h) return true;
  return false;
}

static void heartbeat_tick(struct run_ctx *c, uint64_t now) {
  c->next_hb = now + c->hb_ns;
  for (size_t i = 0; i < c->n_peers; i++) {
    struct iov_peer *h = c->peers[i];
    if (h->lost) {
      send_hello(c, h);
      continue;
    }
    if (!h->welcome) continue;
    /* Creating VMs and VFs blocks a host agent for a while: that step has
     * its own deadline, and its silence then is no loss. */
    if (h->heard_mono && now - h->heard_mono > 3 * c->hb_ns && !h->busy_msg_id) {
      double quiet = (double)(now - h->heard_mono) / 1e9;
      h->lost = true;
      iov_err("agent '%s' (%s) is lost: nothing heard from it for %.1f s, three heartbeats", h->name,
              h->endpoint, quiet);
      if (point_uses(c->cur, h))
        point_cause(c->cur,
                    "agent '%s' was lost: nothing heard from it for %.1f s (three heartbeats); what it sent "
                    "before is kept",
                    h->name, quiet);
      /* Its next Welcome makes it usable again. */
      iov_wire_free(TAKE_PTR(h->welcome));
      send_hello(c, h);
      continue;
    }
    Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
    hb.sent_at_ns = iov_now_real();
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &hb;
    (void)iov_peer_send(h, &e);
  }
}

/* The next message for whoever waits, until 'deadline'.  Heartbeats go
 * out on the way; a Welcome or a change of guests is handled here and the
 * caller gets -EAGAIN instead (the tree changed: look again at what it
 * waits for), and so it does when an agent of the point was lost. */
static int recv_any(struct run_ctx *c, uint64_t deadline, struct iov_peer **ret_peer, iov_envelope **ret) {
  for (;;) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    uint64_t now = iov_now_mono();
    if (c->hb_ns && now >= c->next_hb) {
      bool had_error = c->cur && c->cur->error[0];
      heartbeat_tick(c, now);
      if (c->cur && c->cur->error[0] && !had_error) return -EAGAIN;
    }
    uint64_t until = c->hb_ns && c->next_hb < deadline ? c->next_hb : deadline;
    int r = iov_peers_recv(c->peers, c->n_peers, c->signal_fd, until, &p, &e);
    if (r == -IOV_E_TIMEOUT && until < deadline) continue;
    if (r == -IOV_E_INTERRUPTED) c->interrupted = true;
    if (r < 0) return r;
    struct iov_peer *h = p->host ? p->host : p;
    h->heard_mono = iov_now_mono();
    /* An answer to the VM request or to anything after it: done with it. */
    if (h->busy_msg_id && p == h && e->reply_to >= h->busy_msg_id) h->busy_msg_id = 0;
    if (e->body_case == IOVBENCH__ENVELOPE__BODY_HEARTBEAT) {
      iov_wire_free(e);
      continue;
    }
    if (e->body_case == IOVBENCH__ENVELOPE__BODY_GUESTS && !p->host) {
      on_guests(c, p, e->guests->names, e->guests->n_names, e->guests->addresses, e->guests->n_addresses);
      iov_wire_free(e);
      return -EAGAIN;
    }
    if (e->body_case == IOVBENCH__ENVELOPE__BODY_WELCOME) {
      if (p->host)
        on_guest_welcome(p, e);
      else if (!p->welcome) {
        char id[128];
        p->session_id = e->session_id;
        p->welcome = e;
        if (p->lost) {
          p->lost = false;
          iov_notice("agent '%s' is back (%s)", p->name, p->endpoint);
        } else
          iov_info("agent '%s' is %s (%s)", p->name, iov_peer_text(e->welcome->identity, id, sizeof(id)),
                   p->endpoint);
        on_guests(c, p, e->welcome->guests, e->welcome->n_guests, e->welcome->guest_addresses,
                  e->welcome->n_guest_addresses);
      } else
        iov_wire_free(e);
      return -EAGAIN;
    }
    *ret_peer = p;
    *ret = e;
    return 0;
  }
}

/* ---- connecting ------------------------------------------------------ */

static bool all_answered(struct run_ctx *c) {
  for (size_t i = 0; i < c->n_peers; i++) {
    struct iov_peer *h = c->peers[i];
    if (!h->welcome || h->guests_ready < c->plan->hosts[i].guests) return false;
    for (size_t j = 0; j < h->n_guests; j++)
      if (!h->guests[j]->gone && !h->guests[j]->welcome) return false;
  }
  return true;
}

static int connect_all(struct run_ctx *c, uint64_t timeout_ns) {
  int r;

  c->peers = calloc(c->plan->n_hosts, sizeof(*c->peers));
  struct iov_host_sec *sec = calloc(c->plan->n_hosts, sizeof(*sec));
  if (!c->peers || !sec) {
    free(sec);
    return -ENOMEM;
  }
  struct iov_trust_opts to = { .plaintext = c->cfg->plaintext,
                               .key_dir = c->cfg->key_dir,
                               .timeout_ms = (unsigned)(timeout_ns / IOV_NSEC_PER_MSEC) };
  r = iov_trust_hosts(c->plan, &to, &c->cert, sec);
  if (r < 0) {
    free(sec);
    return r;
  }
  for (size_t i = 0; i < c->plan->n_hosts; i++) {
    const struct iov_plan_host *h = &c->plan->hosts[i];
    r = iov_peer_new(h->name, h->endpoint, h->data_addr, sec[i].curve ? c->cert : NULL,
                     sec[i].curve ? sec[i].server_key : NULL, &c->peers[i]);
    if (r < 0) free(sec);
    if (r < 0)
      return iov_log_errno(r, "Cannot connect to agent '%s' at %s: %m (plan line %u)", h->name, h->endpoint,
                           h->line);
    c->n_peers++;
    send_hello(c, c->peers[i]);
  }
  free(sec);

  /* Every host, and the guests the plan needs on each. */
  uint64_t deadline = mono_deadline(timeout_ns);
  while (!all_answered(c)) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    r = recv_any(c, deadline, &p, &e);
    if (r == -EAGAIN) continue;
    if (r == -IOV_E_INTERRUPTED) return r;
    if (r == -IOV_E_TIMEOUT) {
      char t[32];
      bool hosts_missing = false;
      iov_format_duration(t, sizeof(t), timeout_ns);
      for (size_t i = 0; i < c->n_peers; i++)
        if (!c->peers[i]->welcome) {
          hosts_missing = true;
          iov_err(
              "agent '%s' at %s did not answer within %s: is iovbench-agent running there, listening on that "
              "endpoint, and reachable from here?%s (plan line %u)",
              c->peers[i]->name, c->peers[i]->endpoint, t,
              c->peers[i]->curve ? " Over CURVE: is coord's coord.key in the agent's coordinators/ "
                                   "directory? The agent logs every coordinator it refuses"
                                 : "",
              c->plan->hosts[i].line);
        }
      if (hosts_missing) return -IOV_E_TIMEOUT;
      /* Guests are missing: the points that need them fail, the others run. */
      for (size_t i = 0; i < c->n_peers; i++) {
        struct iov_peer *h = c->peers[i];
        if (h->guests_ready < c->plan->hosts[i].guests)
          iov_warn("host '%s' has %u of the %u guests the plan needs after %s: are the guest agents running "
                   "and pointed at its guest endpoint (iovbench-guest-agent --host, port 7701)?",
                   h->name, h->guests_ready, c->plan->hosts[i].guests, t);
      }
      return 0;
    }
    if (r < 0) return iov_log_errno(r, "Failed waiting for agents: %m");
    if (e->body_case == IOVBENCH__ENVELOPE__BODY_ERROR) {
      char t[512];
      iov_peer_text(e->error->message, t, sizeof(t));
      /* About a test point, while none runs: not a refusal of the run. */
      if (e->error->point_id) {
        iov_warn("agent '%s' reported, about test point #%" PRIu64 " while none runs: %s; ignored", p->name,
                 e->error->point_id, t);
      } else if (p->host)
        iov_warn("guest '%s' refused the run: %s", p->name, t);
      else {
        r = iov_log_errno(-IOV_E_PEER, "agent '%s' at %s refused the run: %s", p->name, p->endpoint, t);
        iov_wire_free(e);
        return r;
      }
    }
    iov_wire_free(e);
  }
  return 0;
}

static int store_agent(struct run_ctx *c, struct iov_peer *p) {
  char path[4096];
  int r;

  if (p->db_agent) return 0;
  snprintf(path, sizeof(path), "%s/inventory", c->dir);
  if (mkdir(path, 0755) < 0 && errno != EEXIST) return iov_log_errno(-errno, "Cannot create %s: %m", path);
  json_t *j = iov_json_inventory(p->name, p->endpoint, p->welcome->welcome);
  /* An inventory JSON cannot hold (text that is not UTF-8 got past the
   * wire's check) is left out, not a reason to end the run. */
  if (!j) iov_warn("agent '%s': its inventory cannot be written as JSON; stored without it", p->name);
  char *s = j ? iov_json_dumps(j) : NULL;
  r = s || !j ? 0 : -ENOMEM;
  if (r == 0)
    r = iov_db_agent_add(c->db, c->db_run, p->name, p->endpoint, p->welcome->welcome->identity, s,
                         &p->db_agent);
  if (r == 0 && p->host) {
    r = store_agent(c, p->host);
    if (r == 0) r = iov_db_agent_set_host(c->db, p->db_agent, p->host->db_agent);
  }
  if (r == 0) {
    /* HOST/VM: a file per guest under a directory per host. */
    if (p->host) {
      snprintf(path, sizeof(path), "%s/inventory/%s", c->dir, p->host->name);
      if (mkdir(path, 0755) < 0 && errno != EEXIST) iov_warn("Cannot create %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/inventory/%s.json", c->dir, p->name);
    int k = j ? iov_json_dump_file(j, path) : 0;
    if (k < 0) iov_log_errno(k, "Cannot write %s: %m", path);
  } else
    iov_log_errno(r, "Cannot store the inventory of agent '%s': %s", p->name, iov_db_errmsg(c->db));
  free(s);
  json_decref(j);
  if (r < 0) p->db_agent = 0;
  return r;
}

static int store_agents(struct run_ctx *c) {
  for (size_t i = 0; i < c->n_peers; i++) {
    int r = store_agent(c, c->peers[i]);
    for (size_t j = 0; j < c->peers[i]->n_guests && r == 0; j++)
      if (c->peers[i]->guests[j]->welcome) r = store_agent(c, c->peers[i]->guests[j]);
    if (r < 0) return r;
  }
  return 0;
}

/* ---- one test point: who takes part ------------------------------------ */

static int cmp_guest(const void *x, const void *y) {
  /* vm2 before vm10. */
  return strverscmp((*(struct iov_peer *const *)x)->route, (*(struct iov_peer *const *)y)->route);
}

/* The guests of host h that answered, in natural order of their names. */
static size_t usable_guests(struct iov_peer *h, struct iov_peer **out) {
  size_t n = 0;
  for (size_t i = 0; i < h->n_guests; i++)
    if (!h->guests[i]->gone && h->guests[i]->welcome) out[n++] = h->guests[i];
  qsort(out, n, sizeof(*out), cmp_guest);
  return n;
}

/* The guests of host h for this point: the VMs it started for it (path
 * sriov or virtio), in their order, else every usable guest. */
static size_t vm_guests(struct point_run *pr, struct iov_peer *h, struct iov_peer **out) {
  for (size_t i = 0; i < pr->n_vm; i++) {
    if (pr->vm[i].host != h) continue;
    size_t n = 0;
    for (size_t j = 0; j < pr->vm[i].n_names; j++) {
      struct iov_peer *g = iov_peer_guest(h, pr->vm[i].names[j], false);
      if (g && !g->gone && g->welcome) out[n++] = g;
    }
    return n;
  }
  return usable_guests(h, out);
}

static struct pr_agent *add_agent(struct point_run *pr, struct iov_peer *p, int side, unsigned flows,
                                  unsigned link0) {
  struct pr_agent *a = &pr->ag[pr->n_ag++];
  *a = (struct pr_agent){
    .peer = p, .side = side, .flows = flows, .link0 = link0, .flows_per_link = (unsigned)pr->pp->p.flows
  };
  p->slot = (int)pr->n_ag;
  pr->n_side[side]++;
  return a;
}

static int add_run_addr(struct point_run *pr, const char *ip) {
  if (iov_wire_addr_listed(ip, pr->run_addrs, pr->n_run_addrs)) return 0;
  if (pr->n_run_addrs >= IOV_WIRE_MAX_RUN_ADDRS) return 0;
  char **v = realloc(pr->run_addrs, (pr->n_run_addrs + 1) * sizeof(*v));
  if (!v) return -ENOMEM;
  pr->run_addrs = v;
  if (!(v[pr->n_run_addrs] = strdup(ip))) return -ENOMEM;
  pr->n_run_addrs++;
  return 0;
}

/* text as an address literal in canonical form, into out; false when it
 * is not one (a host name: coord resolves nothing in its loop). */
static bool ip_literal(const char *text, char *out, size_t n) {
  struct in6_addr a;
  if (!text) return false;
  if (inet_pton(AF_INET, text, &a) == 1) return inet_ntop(AF_INET, &a, out, (socklen_t)n) != NULL;
  if (inet_pton(AF_INET6, text, &a) == 1) return inet_ntop(AF_INET6, &a, out, (socklen_t)n) != NULL;
  return false;
}

/* Why ip cannot name another machine of the run (loopback, ...), or NULL. */
static const char *addr_unfit(const char *ip) {
  struct in6_addr a6;
  uint8_t v4[4];
  if (inet_pton(AF_INET6, ip, &a6) == 1) {
    if (IN6_IS_ADDR_UNSPECIFIED(&a6)) return "unspecified";
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return "loopback";
    if (IN6_IS_ADDR_LINKLOCAL(&a6)) return "link-local";
    if (IN6_IS_ADDR_MULTICAST(&a6)) return "multicast";
    if (!IN6_IS_ADDR_V4MAPPED(&a6)) return NULL;
    memcpy(v4, &a6.s6_addr[12], 4);
  } else if (inet_pton(AF_INET, ip, v4) != 1)
    return "not an IP address";
  if (v4[0] == 0) return "unspecified";
  if (v4[0] == 127) return "loopback";
  if (v4[0] == 169 && v4[1] == 254) return "link-local";
  if (v4[0] >= 224 && v4[0] <= 239) return "multicast";
  if (v4[0] == 255 && v4[1] == 255 && v4[2] == 255 && v4[3] == 255) return "broadcast";
  return NULL;
}

static const struct iov_plan_host *plan_host_of(const struct run_ctx *c, const struct iov_peer *h) {
  for (size_t i = 0; i < c->n_peers; i++)
    if (c->peers[i] == h) return &c->plan->hosts[i];
  return NULL;
}

/* Whether host agent h runs on coord's machine: coord started it, or
 * reaches it over ipc or loopback.  There (a local run) loopback
 * addresses name the run's own agents; anywhere else they are refused. */
static bool on_this_machine(const struct run_ctx *c, const struct iov_peer *h) {
  const struct iov_plan_host *ph = plan_host_of(c, h);
  if ((ph && ph->local) || strncmp(h->endpoint, "ipc://", 6) == 0) return true;
  const char *u = h->ctl_addr[0] ? addr_unfit(h->ctl_addr) : NULL;
  return u && strcmp(u, "loopback") == 0;
}

/* The data address of agent a, from what coord can verify only: a host's
 * NAME.data (or, when the plan names it by a host name, the address coord
 * reached its control endpoint at); a guest's, the address its host agent
 * handed it or the plan vouches for (NAME.guest_data), which must be the
 * one it claims, if it claims one.  Into a->ip and the point's
 * run_addresses; else the point fails, naming the agent, before anything
 * is sent.  Returns false then. */
static bool agent_addr(struct run_ctx *c, struct point_run *pr, struct pr_agent *a) {
  struct iov_peer *p = a->peer, *h = p->host ? p->host : p;
  const struct iov_plan_host *ph = plan_host_of(c, h);
  char ip[INET6_ADDRSTRLEN], claim[INET6_ADDRSTRLEN];
  const char *why = NULL;

  if (!p->host) {
    const char *d = ph ? ph->data_addr : NULL;
    if (ip_literal(d, ip, sizeof(ip)))
      why = "the plan's";
    else if (h->ctl_addr[0] && ip_literal(h->ctl_addr, ip, sizeof(ip)))
      why = "its control connection's";
    else {
      if (d)
        point_fail(pr,
                   "host '%s' has data address '%s', which is not an IP address, and coord reached it at "
                   "none it could use instead: coord resolves no names while it runs; add '%s.data = "
                   "ADDRESS' (an IPv4 or IPv6 address) to [hosts]",
                   p->name, d, p->name);
      else
        point_fail(pr, "host '%s' has no data address: add '%s.data = ADDRESS' to [hosts]", p->name, p->name);
      return false;
    }
  } else {
    const char *by_host = p->vouched, *by_plan = iov_plan_host_guest_data(ph, p->route);
    char host_ip[INET6_ADDRSTRLEN] = "", plan_ip[INET6_ADDRSTRLEN] = "";
    if (by_host && !ip_literal(by_host, host_ip, sizeof(host_ip))) {
      char t[80];
      point_fail(pr,
                 "host agent '%s' vouches for '%s' as guest '%s''s data address: not an IP address; refused",
                 h->name, iov_peer_text(by_host, t, sizeof(t)), p->name);
      return false;
    }
    if (by_plan) (void)ip_literal(by_plan, plan_ip, sizeof(plan_ip));
    char vouched[160];
    snprintf(vouched, sizeof(vouched), "its host agent '%s' vouches for %s, the plan for %s", h->name,
             host_ip[0] ? host_ip : "none", plan_ip[0] ? plan_ip : "none");
    const char *claimed = p->welcome && p->welcome->welcome ? p->welcome->welcome->data_address : NULL;
    if (claimed && *claimed) {
      if (!ip_literal(claimed, claim, sizeof(claim))) {
        char t[80];
        point_fail(pr,
                   "guest '%s' claims data address '%s', which is not an IP address: refused (coord resolves "
                   "no names); start it with --data ADDRESS (%s)",
                   p->name, iov_peer_text(claimed, t, sizeof(t)), vouched);
        return false;
      }
      if (strcmp(claim, host_ip) != 0 && strcmp(claim, plan_ip) != 0) {
        point_fail(pr,
                   "guest '%s' claims data address %s, which nobody vouches for (%s): refused, nothing was "
                   "sent to it. If that is its address, add '%s.guest_data = %s=%s' to [hosts]",
                   p->name, claim, vouched, h->name, p->route, claim);
        return false;
      }
      snprintf(ip, sizeof(ip), "%s", claim);
      why = strcmp(claim, host_ip) == 0 ? "its host agent's" : "the plan's";
    } else if (host_ip[0] || plan_ip[0]) {
      snprintf(ip, sizeof(ip), "%s", host_ip[0] ? host_ip : plan_ip);
      why = host_ip[0] ? "its host agent's" : "the plan's";
    } else {
      point_fail(pr,
                 "guest '%s' has no data address anyone vouches for: its host agent '%s' handed it none, and "
                 "the plan has no '%s.guest_data = %s=ADDRESS'",
                 p->name, h->name, h->name, p->route);
      return false;
    }
  }
  const char *unfit = addr_unfit(ip);
  if (unfit && !on_this_machine(c, h)) {
    point_fail(pr,
               "%s '%s' would get traffic at %s (%s address), which names no machine of this run: refused; "
               "only a run whose agents all run on this machine may use such addresses",
               p->host ? "guest" : "host", p->name, ip, unfit);
    return false;
  }
  iov_debug(IOV_DBG_NET, "%s '%s': data address %s (%s)", side_name[a->side], p->name, ip, why);
  snprintf(a->ip, sizeof(a->ip), "%s", ip);
  if (!p->data_addr || strcmp(p->data_addr, ip) != 0) {
    char *d = strdup(ip);
    if (!d) {
      pr->fatal = -ENOMEM;
      return false;
    }
    free(p->data_addr);
    p->data_addr = d;
  }
  if (add_run_addr(pr, ip) < 0) {
    pr->fatal = -ENOMEM;
    return false;
  }
  return true;
}

static int build_agents(struct run_ctx *c, struct point_run *pr) {
  const struct iov_point_params *pp = &pr->pp->p;
  struct iov_peer *sh = peer_by_name(c, pp->sender), *rh = peer_by_name(c, pp->receiver);
  unsigned vms = pr->topo == IOV_TOPO_HOST_HOST ? 1 : (unsigned)pp->vms;
  unsigned flows = (unsigned)pp->flows;
  unsigned need_s, need_r;

  iov_topology_guests(pr->topo, pp->vms, &need_s, &need_r);
  pr->ag = calloc(2 * (size_t)vms, sizeof(*pr->ag));
  if (!pr->ag) return -ENOMEM;
  _cleanup_free_ struct iov_peer **sg = calloc(sh->n_guests + 1, sizeof(*sg));
  _cleanup_free_ struct iov_peer **rg = calloc(rh->n_guests + 1, sizeof(*rg));
  if (!sg || !rg) return -ENOMEM;
  size_t ns = vm_guests(pr, sh, sg), nr = vm_guests(pr, rh, rg);
  if (ns < need_s || nr < need_r) {
    struct iov_peer *h = ns < need_s ? sh : rh;
    point_fail(pr,
               "host '%s' has %zu guests ready but %s with vms=%u needs %u there; start more guest agents, "
               "or sweep vms over fewer",
               h->name, h == sh ? ns : nr, iov_topology_to_string(pr->topo), vms, h == sh ? need_s : need_r);
    return 0;
  }
  if (pr->topo == IOV_TOPO_MANY_TO_ONE && (uint64_t)flows * vms > IOV_ENGINE_MAX_FLOWS) {
    point_fail(pr, "many-to-one with vms=%u and flows=%u needs %u flows on receiver '%s', more than %d", vms,
               flows, vms * flows, rh->name, IOV_ENGINE_MAX_FLOWS);
    return 0;
  }

  switch (pr->topo) {
  case IOV_TOPO_HOST_HOST: {
    struct pr_agent *rx = add_agent(pr, rh, SIDE_RECEIVER, flows, 0);
    add_agent(pr, sh, SIDE_SENDER, flows, 0)->rx = rx;
    break;
  }
  case IOV_TOPO_VM_VM_CROSS:
  case IOV_TOPO_VM_VM_SAME:
    for (unsigned i = 0; i < vms; i++) {
      struct iov_peer *r = pr->topo == IOV_TOPO_VM_VM_CROSS ? rg[i] : sg[vms + i];
      struct pr_agent *rx = add_agent(pr, r, SIDE_RECEIVER, flows, i);
      add_agent(pr, sg[i], SIDE_SENDER, flows, i)->rx = rx;
    }
    break;
  case IOV_TOPO_MANY_TO_ONE: {
    struct pr_agent *rx = add_agent(pr, rh, SIDE_RECEIVER, flows * vms, 0);
    for (unsigned i = 0; i < vms; i++) {
      struct pr_agent *tx = add_agent(pr, sg[i], SIDE_SENDER, flows, i);
      tx->rx = rx;
      tx->port_off = i * flows;
    }
    break;
  }
  default: return -EINVAL;
  }
  /* Every agent of the point, receivers first: only their addresses go
   * into the point's run_addresses. */
  for (int side = SIDE_RECEIVER; side >= SIDE_SENDER; side--)
    for (size_t i = 0; i < pr->n_ag; i++)
      if (pr->ag[i].side == side && !agent_addr(c, pr, &pr->ag[i])) return pr->fatal;
  return 0;
}

/* ---- one test point: messages ------------------------------------------ */

/* The address a receiver's senders send from (their data address, which
 * they bind), when they all share one IP literal; else NULL (any source
 * that says hello with the token). */
static const char *expected_sender(const struct point_run *pr, const struct pr_agent *rx) {
  const char *addr = NULL;
  for (size_t i = 0; i < pr->n_ag; i++) {
    const struct pr_agent *s = &pr->ag[i];
    if (s->side != SIDE_SENDER || s->rx != rx) continue;
    const char *d = s->peer->data_addr;
    uint8_t bin[16];
    if (!d || (inet_pton(AF_INET, d, bin) != 1 && inet_pton(AF_INET6, d, bin) != 1)) return NULL;
    if (addr && strcmp(addr, d) != 0) return NULL;
    addr = d;
  }
  return addr;
}

static int send_prepare(struct point_run *pr, struct pr_agent *a) {
  const struct iov_point_params *pp = &pr->pp->p;
  if (!pr->have_token) {
    ssize_t n = getrandom(pr->token, sizeof(pr->token), 0);
    if (n != (ssize_t)sizeof(pr->token)) return n < 0 ? -errno : -EIO;
    pr->have_token = true;
  }
  uint32_t ports[IOV_ENGINE_MAX_FLOWS];
  uint16_t cpus16[IOV_MAX_CPUS];
  uint32_t cpus[IOV_MAX_CPUS];
  size_t n_cpus = 0;
  /* The plan parser checked the list already. */
  if (iov_parse_cpus(pp->cpus, cpus16, IOV_MAX_CPUS, &n_cpus) < 0) n_cpus = 0;
  for (size_t i = 0; i < n_cpus; i++) cpus[i] = cpus16[i];
  Iovbench__Workload w = IOVBENCH__WORKLOAD__INIT;
  w.name = pp->workload;
  w.flows = a->flows;
  w.msg_size = pp->msg_size;
  w.response_size = pp->response_size;
  w.duration_ns = pp->duration;
  w.sample_interval_ns = pp->sample_interval;
  w.warmup_ns = pp->warmup;
  w.burst = (uint32_t)pp->burst;
  w.rate_bps = pp->rate;
  w.send_buffer = pp->send_buffer;
  w.recv_buffer = pp->recv_buffer;
  w.nodelay = pp->nodelay != 0;
  w.interface = strcmp(pp->interface, "none") == 0 ? "" : pp->interface;
  w.cpus = cpus;
  w.n_cpus = n_cpus;
  w.rr_timeout_ns = pp->rr_timeout;
  w.bind_address = a->peer->data_addr ? a->peer->data_addr : "";
  w.token.data = pr->token;
  w.token.len = sizeof(pr->token);
  if (a->side == SIDE_RECEIVER) {
    const char *from = expected_sender(pr, a);
    w.peer_address = (char *)(from ? from : "");
  }
  if (a->side == SIDE_SENDER) {
    w.peer_address = a->rx->ip;
    w.run_addresses = pr->run_addrs;
    w.n_run_addresses = pr->n_run_addrs;
    for (size_t i = 0; i < a->flows; i++) ports[i] = a->rx->ports[a->port_off + i];
    w.peer_ports = ports;
    w.n_peer_ports = a->flows;
  }
  Iovbench__Prepare p = IOVBENCH__PREPARE__INIT;
  p.point_id = pr->id;
  p.role = a->side == SIDE_SENDER ? IOVBENCH__ROLE__ROLE_SENDER : IOVBENCH__ROLE__ROLE_RECEIVER;
  p.workload = &w;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_PREPARE;
  e.prepare = &p;
  int64_t k = iov_peer_send(a->peer, &e);
  /* A sender's agent blocks while it connects and waits for its
   * receiver's answer to the hello (at most connect_timeout): its silence
   * then is no loss; the Prepare round has its own deadline. */
  if (k > 0 && a->side == SIDE_SENDER && !a->peer->host) a->peer->busy_msg_id = (uint64_t)k;
  return k < 0 ? (int)k : 0;
}

static void send_stop(struct iov_peer *p, uint64_t point_id, const char *reason) {
  Iovbench__Stop s = IOVBENCH__STOP__INIT;
  s.point_id = point_id;
  s.reason = (char *)reason;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_STOP;
  e.stop = &s;
  (void)iov_peer_send(p, &e);
}

/* ---- what a point can produce ----------------------------------------- */

/* A generous bound on any link a flow can run over: 2^40 bytes/s (8.8
 * Tbit/s).  Counters of a point are checked against what this moves in the
 * point's whole span, and are in any case below 2^62, so no stored value
 * is negative and sums of them stay far from 2^63 (and report's sums are
 * taken as REAL anyway). */
#define LINK_BOUND_BYTES_PER_S (1ULL << 40)
#define COUNTER_CAP ((1ULL << 62) - 1)
/* Samples an agent may send beyond the point's span / interval. */
#define SEQ_SLACK 16

/* The point's span: warm-up, duration, the agents' grace, one interval. */
static uint64_t point_span_ns(const struct point_run *pr) {
  const struct iov_point_params *pp = &pr->pp->p;
  return pp->warmup + pp->duration + AGENT_FINISH_GRACE_NS + pp->sample_interval;
}

static uint64_t max_seq(const struct point_run *pr) {
  uint64_t iv = pr->pp->p.sample_interval ? pr->pp->p.sample_interval : IOV_NSEC_PER_SEC;
  return point_span_ns(pr) / iv + SEQ_SLACK;
}

/* Bytes (and so messages, transactions, datagrams) one flow can move in
 * the point. */
static uint64_t max_count(const struct point_run *pr) {
  uint64_t secs = point_span_ns(pr) / IOV_NSEC_PER_SEC + 1;
  return secs > COUNTER_CAP / LINK_BOUND_BYTES_PER_S ? COUNTER_CAP : secs * LINK_BOUND_BYTES_PER_S;
}

/* Whether v is a count the point could have produced; else *why says so. */
static bool count_ok(const char *what, uint64_t v, uint64_t max, char *why, size_t n) {
  if (v <= max) return true;
  snprintf(why, n, "%s %" PRIu64 ", more than this point can produce (at most %" PRIu64 ")", what, v, max);
  return false;
}

static bool flow_counts_ok(const struct point_run *pr, uint64_t bytes, uint64_t messages, uint64_t trans,
                           uint64_t lost, uint64_t ooo, uint64_t dup, uint64_t jitter, uint64_t retr,
                           char *why, size_t n) {
  uint64_t m = max_count(pr), span = point_span_ns(pr);
  return count_ok("bytes", bytes, m, why, n) && count_ok("messages", messages, m, why, n) &&
         count_ok("transactions", trans, m, why, n) && count_ok("lost", lost, m, why, n) &&
         count_ok("out_of_order", ooo, m, why, n) && count_ok("duplicates", dup, m, why, n) &&
         count_ok("jitter_ns", jitter, span, why, n) && count_ok("retransmits", retr, m, why, n);
}

/* A whole batch is checked before any of it is stored: one absurd number
 * and none of it is. */
static bool batch_ok(const struct point_run *pr, const Iovbench__SampleBatch *b, char *why, size_t n) {
  if (!count_ok("sequence number", b->seq, max_seq(pr), why, n)) return false;
  for (size_t i = 0; i < b->n_flows; i++) {
    const Iovbench__FlowSample *fs = b->flows[i];
    if (!flow_counts_ok(pr, fs->bytes, fs->messages, fs->transactions, fs->lost, fs->out_of_order,
                        fs->duplicates, fs->jitter_ns, fs->retransmits, why, n))
      return false;
    struct iov_hist_summary hs;
    if (fs->latency && iov_wire_hist_summary(fs->latency, &hs) == 0 &&
        (!count_ok("latency count", hs.count, max_count(pr), why, n) ||
         !count_ok("latency sum (ns)", hs.sum, COUNTER_CAP, why, n)))
      return false;
  }
  /* CPU times: at most the span, per CPU (and a VM's, per vCPU: 2^20 of
   * them is generous); counts of interrupts: bounded as counters. */
  uint64_t t = point_span_ns(pr) << 20;
  for (size_t i = 0; i < b->n_cpus; i++) {
    const Iovbench__CpuSample *cs = b->cpus[i];
    const uint64_t v[] = { cs->user_ns, cs->nice_ns,    cs->system_ns, cs->idle_ns, cs->iowait_ns,
                           cs->irq_ns,  cs->softirq_ns, cs->steal_ns,  cs->guest_ns };
    for (size_t k = 0; k < ELEMENTSOF(v); k++)
      if (!count_ok("CPU time (ns)", v[k], t > COUNTER_CAP ? COUNTER_CAP : t, why, n)) return false;
  }
  if (b->host_cpu) {
    const Iovbench__VmHostCpu *hc = b->host_cpu;
    const uint64_t v[] = { hc->interval_ns, hc->vcpu_ns,  hc->io_ns,    hc->vhost_ns,
                           hc->kvm_ns,      hc->total_ns, hc->kvm_exits };
    for (size_t k = 0; k < ELEMENTSOF(v); k++)
      if (!count_ok("VM CPU time or exits", v[k], t > COUNTER_CAP ? COUNTER_CAP : t, why, n)) return false;
  }
  for (size_t i = 0; i < b->n_irqs; i++)
    if (!count_ok("interrupts", b->irqs[i]->count, max_count(pr), why, n)) return false;
  return true;
}

static int store_samples(struct run_ctx *c, struct point_run *pr, struct pr_agent *a,
                         const Iovbench__SampleBatch *b) {
  int r = 0;
  char why[160];

  if (!batch_ok(pr, b, why, sizeof(why))) {
    iov_warn("point %u: %s '%s' sent sample batch %u with %s: refused, nothing of it stored",
             pr->pp->index + 1, side_name[a->side], a->peer->name, b->seq, why);
    return 0;
  }

  if (b->seq <= a->last_seq) {
    iov_warn("point %u: %s '%s' sent sample %u again (after %u); dropped", pr->pp->index + 1,
             side_name[a->side], a->peer->name, b->seq, a->last_seq);
    return 0;
  }
  if (b->seq != a->last_seq + 1) {
    iov_warn("point %u: %s '%s' sample %u arrived after %u: %u sample(s) missing, stored as a gap",
             pr->pp->index + 1, side_name[a->side], a->peer->name, b->seq, a->last_seq,
             b->seq - a->last_seq - 1);
    r = iov_db_gap_add(c->db, pr->db_point, a->peer->db_agent, a->last_seq, b->seq - a->last_seq - 1);
    if (r < 0) return r;
  }
  a->last_seq = b->seq;
  a->samples++;
  uint64_t t_start = iov_clock_to_coord(b->t_start_ns, a->clk.offset_ns);
  uint64_t t_end = iov_clock_to_coord(b->t_end_ns, a->clk.offset_ns);
  /* Live: bytes as receivers got them, transactions as senders made them. */
  uint64_t live_bytes = 0, live_trans = 0;
  for (size_t i = 0; i < b->n_flows; i++) {
    if (a->side == SIDE_RECEIVER) live_bytes += b->flows[i]->bytes;
    if (a->side == SIDE_SENDER) live_trans += b->flows[i]->transactions;
  }
  iov_progress_sample(&c->pg, live_bytes, live_trans, t_start, t_end);
  for (size_t i = 0; i < b->n_flows && r == 0; i++) {
    const Iovbench__FlowSample *fs = b->flows[i];
    if (fs->flow >= a->flows) {
      iov_warn("agent '%s' sent a sample for flow %u of a %u-flow point; dropped", a->peer->name, fs->flow,
               a->flows);
      continue;
    }
    /* Stored in coord's time domain, so samples of all agents line up. */
    struct iov_db_sample s = {
      .seq = b->seq,
      .t_start_ns = t_start,
      .t_end_ns = t_end,
      .bytes = fs->bytes,
      .messages = fs->messages,
      .transactions = fs->transactions,
      .lost = fs->lost,
      .out_of_order = fs->out_of_order,
      .duplicates = fs->duplicates,
      .jitter_ns = fs->jitter_ns,
      .retransmits = fs->retransmits,
      .rtt_us = fs->rtt_us,
      .snd_cwnd = fs->snd_cwnd,
    };
    /* Stored as it came (validated on decode): no dense copy. */
    struct iov_db_sparse_hist sh;
    if (fs->latency && iov_wire_hist_summary(fs->latency, &sh.sum) == 0) {
      sh.index = fs->latency->index;
      sh.count = fs->latency->count;
      sh.n = fs->latency->n_index;
      s.sparse = &sh;
    }
    r = iov_db_sample_add(c->db, a->flow_id[fs->flow], &s);
  }
  /* The machine's CPU and NIC interrupts in the same interval. */
  for (size_t i = 0; i < b->n_cpus && r == 0; i++) {
    const Iovbench__CpuSample *cs = b->cpus[i];
    struct iov_db_cpu dc = {
      .cpu = cs->cpu,
      .user_ns = cs->user_ns,
      .nice_ns = cs->nice_ns,
      .system_ns = cs->system_ns,
      .idle_ns = cs->idle_ns,
      .iowait_ns = cs->iowait_ns,
      .irq_ns = cs->irq_ns,
      .softirq_ns = cs->softirq_ns,
      .steal_ns = cs->steal_ns,
      .guest_ns = cs->guest_ns,
    };
    r = iov_db_cpu_sample_add(c->db, pr->db_point, a->peer->db_agent, b->seq, &dc);
  }
  /* What the guest's VM cost its host in the same interval. */
  if (b->host_cpu && r == 0 && a->peer->host) {
    struct iov_db_vm_cpu vc = { .interval_ns = b->host_cpu->interval_ns,
                                .vcpu_ns = b->host_cpu->vcpu_ns,
                                .io_ns = b->host_cpu->io_ns,
                                .vhost_ns = b->host_cpu->vhost_ns,
                                .kvm_ns = b->host_cpu->kvm_ns,
                                .total_ns = b->host_cpu->total_ns,
                                .kvm_exits = b->host_cpu->kvm_exits,
                                .kvm_exits_known = b->host_cpu->kvm_exits_known };
    r = iov_db_vm_cpu_add(c->db, pr->db_point, a->peer->db_agent, b->seq, &vc);
  }
  for (size_t i = 0; i < b->n_irqs && r == 0; i++)
    r = iov_db_irq_sample_add(c->db, pr->db_point, a->peer->db_agent, b->seq, b->irqs[i]->name,
                              b->irqs[i]->count);
  return r;
}

static int store_result(struct run_ctx *c, struct point_run *pr, struct pr_agent *a,
                        const Iovbench__Result *res) {
  struct iov_hist *h = NULL;
  int r = 0;
  char why[160];
  bool ok = count_ok("sample count", res->samples, max_seq(pr), why, sizeof(why));
  for (size_t i = 0; i < res->n_flows && ok; i++) {
    const Iovbench__FlowResult *fr = res->flows[i];
    ok = flow_counts_ok(pr, fr->bytes, fr->messages, fr->transactions, fr->lost, fr->out_of_order,
                        fr->duplicates, fr->jitter_ns, fr->retransmits, why, sizeof(why));
  }
  if (!ok) {
    /* Its result is counted as given (the point does not wait for it) but
     * none of it is stored: the point fails, saying why. */
    iov_warn("point %u: %s '%s' sent a result with %s: refused, nothing of it stored", pr->pp->index + 1,
             side_name[a->side], a->peer->name, why);
    point_fail(pr, "%s '%s' sent a result with %s: refused", side_name[a->side], a->peer->name, why);
    return 0;
  }

  for (size_t i = 0; i < res->n_flows && r == 0; i++) {
    const Iovbench__FlowResult *fr = res->flows[i];
    char etext[512];
    if (fr->flow >= a->flows) continue;
    struct iov_db_result s = {
      .bytes = fr->bytes,
      .messages = fr->messages,
      .transactions = fr->transactions,
      .t_start_ns = iov_clock_to_coord(fr->t_start_ns, a->clk.offset_ns),
      .t_end_ns = iov_clock_to_coord(fr->t_end_ns, a->clk.offset_ns),
      .samples = res->samples,
      .error = fr->error,
      /* Stored as coord would print it: no terminal escapes. */
      .error_text =
          fr->error_text && *fr->error_text ? iov_peer_text(fr->error_text, etext, sizeof(etext)) : NULL,
      .lost = fr->lost,
      .out_of_order = fr->out_of_order,
      .duplicates = fr->duplicates,
      .jitter_ns = fr->jitter_ns,
      .retransmits = fr->retransmits,
      .incomplete = !fr->complete,
    };
    if (fr->latency) {
      if (!h && !(h = malloc(sizeof(*h)))) return -ENOMEM;
      if (iov_wire_hist_from_pb(fr->latency, h) == 0) s.hist = h;
    }
    if (fr->error || s.error_text)
      point_fail(pr, "%s '%s' flow %u: %s", side_name[a->side], a->peer->name, fr->flow,
                 s.error_text ? s.error_text : iov_strerror(fr->error));
    r = iov_db_result_add(c->db, a->flow_id[fr->flow], &s);
  }
  free(h);
  if (a->side == SIDE_SENDER && res->window_start_ns && res->window_end_ns) {
    uint64_t ws = iov_clock_to_coord(res->window_start_ns, a->clk.offset_ns);
    uint64_t we = iov_clock_to_coord(res->window_end_ns, a->clk.offset_ns);
    if (!pr->win_start || ws < pr->win_start) pr->win_start = ws;
    if (we > pr->win_end) pr->win_end = we;
  }
  a->started = iov_clock_to_coord(res->started_ns, a->clk.offset_ns);
  for (size_t i = 0; i < res->n_flows; i++) a->bytes += res->flows[i]->bytes;
  if (res->window_end_ns > res->window_start_ns) a->win_ns = res->window_end_ns - res->window_start_ns;
  /* Samples at the end that never came: a gap too. */
  if (r == 0 && res->samples > a->last_seq) {
    iov_warn("point %u: %s '%s' sent %u samples but the last %u never arrived; stored as a gap",
             pr->pp->index + 1, side_name[a->side], a->peer->name, res->samples, res->samples - a->last_seq);
    r = iov_db_gap_add(c->db, pr->db_point, a->peer->db_agent, a->last_seq, res->samples - a->last_seq);
  }
  return r;
}

/* vf_rate caps what each VF sends, in the NIC.  Some NICs take the
 * setting and ignore it (qemu's emulated igb does): then the point did not
 * measure what the plan asked for, and the user must hear it.  A VM that
 * sent more than a quarter over the cap is the evidence. */
static void check_vf_rate(const struct point_run *pr) {
  const struct iov_plan_point *pp = pr->pp;
  if (!pp->p.vf_rate || strcmp(pp->p.path, "sriov") != 0) return;
  const struct pr_agent *worst = NULL;
  double worst_bps = 0;
  for (size_t i = 0; i < pr->n_ag; i++) {
    const struct pr_agent *a = &pr->ag[i];
    if (a->side != SIDE_SENDER || !a->win_ns || !a->peer->host) continue;
    double bps = (double)a->bytes * 8e9 / (double)a->win_ns;
    if (bps > worst_bps) worst_bps = bps, worst = a;
  }
  if (worst && worst_bps > 1.25 * (double)pp->p.vf_rate)
    iov_warn("test point %u (%s%s%s): vf_rate not enforced: VM '%s' sent %.0f Mbit/s through a VF limited to "
             "%.0f Mbit/s; the NIC or its driver accepts the VF rate limit but does not apply it (qemu's "
             "emulated igb is one such), so this point measured an unlimited VF",
             pp->index + 1, pp->test, *pp->sweep ? " " : "", pp->sweep, worst->peer->name, worst_bps / 1e6,
             (double)pp->p.vf_rate / 1e6);
}

/* A host agent's VMs for the point are up (path sriov, virtio). */
static int on_vm_ready(struct point_run *pr, struct iov_peer *p, const Iovbench__VmReady *m) {
  for (size_t i = 0; i < pr->n_vm; i++) {
    struct vm_req *v = &pr->vm[i];
    if (v->host != p || v->ready) continue;
    if (m->n_guests != v->count) {
      point_fail(pr, "agent '%s' started %zu VMs, %u were asked for", p->name, m->n_guests, v->count);
      return 0;
    }
    v->names = calloc(v->count, sizeof(char *));
    if (!v->names) return -ENOMEM;
    for (size_t j = 0; j < v->count; j++)
      if ((v->names[v->n_names] = strdup(m->guests[j]))) v->n_names++;
    v->ready = true;
    iov_info("agent '%s': %u %s VMs up", p->name, v->count, pr->pp->p.path);
  }
  return 0;
}

/* Take one message and apply it to the point.  Messages of other points
 * (late ones from an aborted point) are dropped. */
/* Agents start their errors with "agent 'NAME': ", NAME being their own
 * name; coord names the agent its way (a guest as HOST/VM) in front, so
 * the agent's own prefix goes. */
static const char *own_prefix_skipped(const struct iov_peer *p, const char *msg) {
  const char *slash = p->host ? strrchr(p->name, '/') : NULL;
  const char *own = slash ? slash + 1 : p->name;
  size_t n = strlen(own);
  if (strncmp(msg, "agent '", 7) == 0 && strncmp(msg + 7, own, n) == 0 && strncmp(msg + 7 + n, "': ", 3) == 0)
    return msg + 7 + n + 3;
  return msg;
}

static int handle(struct run_ctx *c, struct point_run *pr, struct iov_peer *p, const iov_envelope *e) {
  struct pr_agent *a = agent_of(pr, p);
  uint64_t pid = 0;
  int r = 0;

  switch (e->body_case) {
  case IOVBENCH__ENVELOPE__BODY_READY: pid = e->ready->point_id; break;
  case IOVBENCH__ENVELOPE__BODY_SAMPLES: pid = e->samples->point_id; break;
  case IOVBENCH__ENVELOPE__BODY_RESULT: pid = e->result->point_id; break;
  case IOVBENCH__ENVELOPE__BODY_ERROR: pid = e->error->point_id; break;
  case IOVBENCH__ENVELOPE__BODY_VM_READY:
    return e->vm_ready->point_id == pr->id && !p->host ? on_vm_ready(pr, p, e->vm_ready) : 0;
  default: return 0;
  }
  if (e->body_case == IOVBENCH__ENVELOPE__BODY_ERROR && a && (pid == pr->id || pid == 0)) {
    point_fail(pr, "agent '%s': %s", p->name, own_prefix_skipped(p, e->error->message));
    return 0;
  }
  if (e->body_case == IOVBENCH__ENVELOPE__BODY_ERROR) {
    /* Not one of the point's agents, or about another point: said, but
     * it does not fail this point. */
    char t[512];
    /* Said a few times a point: an agent cannot flood the log with them. */
    if (pr->foreign_errors < 5)
      iov_warn("agent '%s' (not part of test point %u) reported: %s; ignored%s", p->name, pr->pp->index + 1,
               iov_peer_text(e->error->message, t, sizeof(t)),
               pr->foreign_errors == 4 ? " (more such reports in this point are not shown)" : "");
    pr->foreign_errors++;
    return 0;
  }
  if (!a || pid != pr->id) {
    iov_debug(IOV_DBG_PROTO, "dropped %s for point %" PRIu64 " from '%s'", iov_wire_body_name(e), pid,
              p->name);
    return 0;
  }
  switch (e->body_case) {
  case IOVBENCH__ENVELOPE__BODY_READY:
    if (a->ready) break;
    if (a->side == SIDE_RECEIVER) {
      if (e->ready->n_ports != a->flows) {
        point_fail(pr, "receiver '%s' listens on %zu ports for %u flows", p->name, e->ready->n_ports,
                   a->flows);
        break;
      }
      a->ports = malloc(a->flows * sizeof(*a->ports));
      if (!a->ports) return -ENOMEM;
      for (size_t i = 0; i < e->ready->n_ports; i++) a->ports[i] = e->ready->ports[i];
      a->n_ports = e->ready->n_ports;
    }
    a->ready = true;
    pr->n_ready[a->side]++;
    break;
  case IOVBENCH__ENVELOPE__BODY_SAMPLES: r = store_samples(c, pr, a, e->samples); break;
  case IOVBENCH__ENVELOPE__BODY_RESULT:
    if (a->result) break;
    a->result = true;
    pr->n_results++;
    r = store_result(c, pr, a, e->result);
    break;
  default: break;
  }
  if (r < 0) {
    point_fail(pr, "cannot store results: %s", iov_db_errmsg(c->db));
    pr->fatal = r;
  }
  return r;
}

/* Receive until done(pr) holds, an error is recorded, or the deadline. */
/* Handle messages until done(pr), the deadline (-IOV_E_TIMEOUT), or,
 * with stop_on_error, the point's first error. */
static int wait_until(struct run_ctx *c, struct point_run *pr, bool (*done)(const struct point_run *),
                      uint64_t deadline, bool stop_on_error) {
  while (!done(pr) && !(stop_on_error && pr->error[0])) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    int r = recv_any(c, deadline, &p, &e);
    if (r == -EAGAIN) continue;
    if (r == -IOV_E_INTERRUPTED) {
      point_fail(pr, "interrupted by the user");
      return r;
    }
    if (r < 0) return r;
    r = handle(c, pr, p, e);
    iov_wire_free(e);
    if (r < 0) return r;
  }
  return 0;
}

static bool receivers_ready(const struct point_run *pr) {
  return pr->n_ready[SIDE_RECEIVER] == pr->n_side[SIDE_RECEIVER];
}
static bool senders_ready(const struct point_run *pr) {
  return pr->n_ready[SIDE_SENDER] == pr->n_side[SIDE_SENDER];
}
static bool results_in(const struct point_run *pr) { return pr->n_results == pr->n_ag; }

/* The first agent of the point still missing a step, for messages. */
static struct pr_agent *first_missing(struct point_run *pr, int side, bool want_result) {
  for (size_t i = 0; i < pr->n_ag; i++) {
    struct pr_agent *a = &pr->ag[i];
    if (want_result ? !a->result : a->side == side && !a->ready) return a;
  }
  return NULL;
}

static void timed_out(struct point_run *pr, const char *step, struct pr_agent *a, size_t missing,
                      uint64_t timeout_ns) {
  char t[32];
  iov_format_duration(t, sizeof(t), timeout_ns);
  if (missing > 1)
    point_fail(pr, "agent '%s' (%s) and %zu other(s) did not answer %s within %s", a->peer->name,
               side_name[a->side], missing - 1, step, t);
  else
    point_fail(pr, "agent '%s' (%s) did not answer %s within %s", a->peer->name, side_name[a->side], step, t);
  pr->fatal = -IOV_E_TIMEOUT;
}

static int send_probe(struct pr_agent *a) {
  Iovbench__ClockProbe cp = IOVBENCH__CLOCK_PROBE__INIT;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE;
  e.clock_probe = &cp;
  cp.t1_ns = a->probe_t1 = iov_now_real();
  int64_t k = iov_peer_send(a->peer, &e);
  return k < 0 ? (int)k : 0;
}

/* Estimate every agent's clock offset with CLOCK_PROBES probes each: one
 * probe in flight per agent (a probe queued behind another would only add
 * delay), CLOCK_PARALLEL agents at a time. */
static int sync_clocks(struct run_ctx *c, struct point_run *pr) {
  uint64_t deadline = mono_deadline(pr->pp->p.timeout);
  size_t pending = pr->n_ag, next = 0;
  int r;

  /* A few agents at a time: replies queued behind each other at coord
   * would only add delay (and error) to every one of them. */
  for (; next < pr->n_ag && next < CLOCK_PARALLEL; next++) {
    r = send_probe(&pr->ag[next]);
    if (r < 0) {
      point_fail(pr, "cannot send to agent '%s': %s", pr->ag[next].peer->name, iov_strerror(r));
      return r;
    }
  }
  while (pending > 0) {
    struct iov_peer *p = NULL;
    iov_envelope *in = NULL;
    r = recv_any(c, deadline, &p, &in);
    uint64_t t4 = iov_now_real();
    if (r == -EAGAIN) {
      if (pr->error[0]) return -IOV_E_PEER;
      continue;
    }
    if (r == -IOV_E_INTERRUPTED) {
      point_fail(pr, "interrupted by the user");
      return r;
    }
    if (r == -IOV_E_TIMEOUT) {
      size_t missing = 0;
      struct pr_agent *first = NULL;
      for (size_t i = 0; i < pr->n_ag; i++)
        if (pr->ag[i].n_probes < CLOCK_PROBES) {
          missing++;
          if (!first) first = &pr->ag[i];
        }
      timed_out(pr, "clock probes", first, missing, pr->pp->p.timeout);
      return r;
    }
    if (r < 0) return r;
    struct pr_agent *a = agent_of(pr, p);
    if (a && in->body_case == IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY && in->clock_reply->t1_ns == a->probe_t1 &&
        a->n_probes < CLOCK_PROBES) {
      a->probes[a->n_probes++] = (struct iov_clock_probe){
        .t1_ns = a->probe_t1, .t2_ns = in->clock_reply->t2_ns, .t3_ns = in->clock_reply->t3_ns, .t4_ns = t4
      };
      if (a->n_probes < CLOCK_PROBES)
        (void)send_probe(a);
      else {
        pending--;
        if (next < pr->n_ag) (void)send_probe(&pr->ag[next++]);
      }
    } else
      (void)handle(c, pr, p, in); /* an older point's straggler, or an error */
    iov_wire_free(in);
    if (pr->error[0]) return -IOV_E_PEER;
  }
  for (size_t i = 0; i < pr->n_ag; i++) {
    struct pr_agent *a = &pr->ag[i];
    r = iov_clock_estimate(a->probes, a->n_probes, &a->clk);
    if (r < 0) {
      point_fail(pr, "cannot estimate the clock offset of agent '%s': its timestamps are impossible",
                 a->peer->name);
      return r;
    }
    iov_debug(IOV_DBG_PROTO, "agent '%s': clock offset %" PRId64 " ns +- %" PRIu64 " ns (%u probes)",
              a->peer->name, a->clk.offset_ns, a->clk.error_ns, a->clk.probes);
  }
  return 0;
}

static int prepare_side(struct run_ctx *c, struct point_run *pr, int side) {
  int r;
  for (size_t i = 0; i < pr->n_ag; i++) {
    struct pr_agent *a = &pr->ag[i];
    if (a->side != side) continue;
    r = send_prepare(pr, a);
    if (r < 0) {
      point_fail(pr, "cannot send to agent '%s': %s", a->peer->name, iov_strerror(r));
      return r;
    }
  }
  r = wait_until(c, pr, side == SIDE_RECEIVER ? receivers_ready : senders_ready,
                 mono_deadline(pr->pp->p.timeout), true);
  if (r == -IOV_E_TIMEOUT)
    timed_out(pr, "prepare", first_missing(pr, side, false), pr->n_side[side] - pr->n_ready[side],
              pr->pp->p.timeout);
  return r;
}

/* ---- one test point: VMs the host agents start (path sriov, virtio) -- */

/* Time a host agent gets to start its VMs and see their guest agents
 * register: the plan's timeout, plus what a VM takes to boot. */
#define VM_BOOT_ALLOWANCE_NS (20ULL * IOV_NSEC_PER_SEC)

static bool vms_ready(const struct point_run *pr) {
  for (size_t i = 0; i < pr->n_vm; i++) {
    if (!pr->vm[i].ready) return false;
    for (size_t j = 0; j < pr->vm[i].n_names; j++) {
      struct iov_peer *g = iov_peer_guest(pr->vm[i].host, pr->vm[i].names[j], false);
      if (!g || g->gone || !g->welcome) return false;
    }
  }
  return true;
}

static int setup_vms(struct run_ctx *c, struct point_run *pr) {
  const struct iov_point_params *pp = &pr->pp->p;
  enum iov_path path = iov_path_from_string(pp->path);
  struct iov_peer *sh = peer_by_name(c, pp->sender), *rh = peer_by_name(c, pp->receiver);
  unsigned need_s, need_r, total = 0;
  uint16_t cpus16[IOV_MAX_CPUS];
  uint32_t cpus[IOV_MAX_CPUS];
  size_t n_cpus = 0;

  if (path != IOV_PATH_SRIOV && path != IOV_PATH_VIRTIO) return 0;
  iov_topology_guests(pr->topo, pp->vms, &need_s, &need_r);
  if (need_s) pr->vm[pr->n_vm++] = (struct vm_req){ .host = sh, .count = need_s };
  if (need_r && rh == sh)
    pr->vm[0].count += need_r;
  else if (need_r)
    pr->vm[pr->n_vm++] = (struct vm_req){ .host = rh, .count = need_r };
  if (iov_parse_cpus(pp->vm_cpus, cpus16, IOV_MAX_CPUS, &n_cpus) < 0) n_cpus = 0;
  for (size_t i = 0; i < n_cpus; i++) cpus[i] = cpus16[i];
  for (size_t i = 0; i < pr->n_vm; i++) {
    Iovbench__VmSetup v = IOVBENCH__VM_SETUP__INIT;
    v.point_id = pr->id;
    v.path = pp->path;
    v.count = pr->vm[i].count;
    v.vcpus = (uint32_t)pp->vm_vcpus;
    v.memory_mb = pp->vm_memory >> 20;
    v.cpus = cpus;
    v.n_cpus = n_cpus;
    v.reuse = pp->reuse_vms != 0;
    v.run_id = (char *)c->run_id;
    v.vf_vlan = (uint32_t)pp->vf_vlan;
    v.vf_max_rate_mbps = pp->vf_rate / 1000000;
    v.vf_spoofchk = strcmp(pp->vf_spoofchk, "keep") == 0 ? -1 : strcmp(pp->vf_spoofchk, "on") == 0;
    v.vf_trust = strcmp(pp->vf_trust, "keep") == 0 ? -1 : strcmp(pp->vf_trust, "on") == 0;
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_VM_SETUP;
    e.vm_setup = &v;
    int64_t k = iov_peer_send(pr->vm[i].host, &e);
    if (k < 0) {
      point_fail(pr, "cannot send to agent '%s': %s", pr->vm[i].host->name, iov_strerror((int)k));
      return (int)k;
    }
    pr->vm[i].host->busy_msg_id = (uint64_t)k;
    pr->vm[i].host->vms_held = true;
    total += pr->vm[i].count;
  }
  if (!pr->n_vm) return 0;

  uint64_t wait = pp->timeout + VM_BOOT_ALLOWANCE_NS * total;
  uint64_t deadline = mono_deadline(wait);
  int r = wait_until(c, pr, vms_ready, deadline, true);
  /* Whatever came of it, the step is over: silence counts again. */
  for (size_t k = 0; k < pr->n_vm; k++) pr->vm[k].host->busy_msg_id = 0;
  if (r == -IOV_E_TIMEOUT) {
    char t[32];
    iov_format_duration(t, sizeof(t), wait);
    for (size_t i = 0; i < pr->n_vm && !pr->error[0]; i++)
      if (!pr->vm[i].ready)
        point_fail(pr, "agent '%s' did not have its %u %s VMs up within %s (see its log)",
                   pr->vm[i].host->name, pr->vm[i].count, pp->path, t);
    point_fail(pr, "the guest agents of the VMs did not answer within %s", t);
  }
  if (r < 0) return r;
  return pr->error[0] ? -IOV_E_PEER : 0;
}

static void teardown_vms(struct point_run *pr) {
  for (size_t i = 0; i < pr->n_vm; i++) {
    Iovbench__VmTeardown t = IOVBENCH__VM_TEARDOWN__INIT;
    t.point_id = pr->id;
    t.keep = pr->pp->p.reuse_vms != 0;
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_VM_TEARDOWN;
    e.vm_teardown = &t;
    int64_t k = iov_peer_send(pr->vm[i].host, &e);
    if (k > 0) pr->vm[i].host->busy_msg_id = (uint64_t)k;
    if (!t.keep) pr->vm[i].host->vms_held = false;
    for (size_t j = 0; j < pr->vm[i].n_names; j++) free(pr->vm[i].names[j]);
    free(pr->vm[i].names);
  }
}

/* At the end of the run: every host agent still holding VMs (reuse_vms)
 * takes them down, and coord waits briefly for each to say it has. */
static void release_vms(struct run_ctx *c) {
  size_t waiting = 0;
  for (size_t i = 0; i < c->n_peers; i++) {
    if (!c->peers[i]->vms_held) continue;
    Iovbench__VmTeardown t = IOVBENCH__VM_TEARDOWN__INIT;
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_VM_TEARDOWN;
    e.vm_teardown = &t;
    int64_t k = iov_peer_send(c->peers[i], &e);
    if (k >= 0) {
      waiting++;
      c->peers[i]->busy_msg_id = (uint64_t)k;
    }
    /* Interrupted: no waiting, but the message must leave before the
     * socket is closed. */
    if (c->interrupted) zsock_set_linger(c->peers[i]->sock, 1000);
  }
  if (c->interrupted) return;
  uint64_t deadline = mono_deadline(30ULL * IOV_NSEC_PER_SEC);
  while (waiting > 0) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    int r = recv_any(c, deadline, &p, &e);
    if (r == -EAGAIN) continue;
    if (r < 0) {
      iov_warn("%zu host agent(s) did not confirm that their VMs are down; check with virsh list", waiting);
      return;
    }
    if (e->body_case == IOVBENCH__ENVELOPE__BODY_VM_READY && e->vm_ready->point_id == 0 && !p->host &&
        p->vms_held) {
      p->vms_held = false;
      waiting--;
    }
    iov_wire_free(e);
  }
}

static struct iov_peer *lost_used(struct run_ctx *c, const struct point_run *pr) {
  for (size_t i = 0; i < c->n_peers; i++)
    if (c->peers[i]->lost && point_uses(pr, c->peers[i])) return c->peers[i];
  return NULL;
}

static bool none_lost(const struct point_run *pr) { return !lost_used(pr->ctx, pr); }

/* A point that needs a lost agent waits (up to its timeout) for it to
 * answer hello again, then runs; or fails, saying so. */
static int wait_lost(struct run_ctx *c, struct point_run *pr) {
  struct iov_peer *h = lost_used(c, pr);
  if (!h) return 0;
  iov_notice("test point %u needs agent '%s', which is lost: waiting up to %.0f s for it to answer",
             pr->pp->index + 1, h->name, (double)pr->pp->p.timeout / 1e9);
  int r = wait_until(c, pr, none_lost, mono_deadline(pr->pp->p.timeout), true);
  if (r < 0 && r != -IOV_E_TIMEOUT) return r;
  h = lost_used(c, pr);
  if (h && !pr->error[0]) {
    char d[32];
    point_fail(pr, "agent '%s' is lost (silent for three heartbeats) and did not answer within %s; skipped",
               h->name, iov_format_duration(d, sizeof(d), pr->pp->p.timeout));
  }
  return 0;
}

static void progress_break(void *arg) { iov_progress_break(arg); }

/* The primary figure of each stored, successful repetition of plan point
 * point_no: trans/s where transactions count, else Gbit/s.  Into vals
 * (at most max); their count into *ret_n. */
static int rep_values(struct run_ctx *c, unsigned point_no, double *vals, size_t max, size_t *ret_n,
                      bool *ret_tps) {
  struct iov_report *rep = NULL;
  int r = iov_report_load_point(c->db, point_no, &rep);
  *ret_n = 0;
  *ret_tps = false;
  if (r < 0) return r == -ENOENT ? 0 : r;
  for (size_t i = 0; i < rep->n_points && *ret_n < max; i++) {
    const struct iov_point_summary *p = &rep->points[i];
    if (!p->status || strcmp(p->status, "ok") != 0) continue;
    bool tps = p->transactions > 0 || p->has_latency;
    *ret_tps = tps;
    vals[(*ret_n)++] = tps ? p->tps : p->gbps;
  }
  iov_report_free(rep);
  return 0;
}

/* confidence = LEVEL,WIDTH: whether the interval of the point's mean is
 * narrow enough after 'runs' runs; stored (and said) when it is, or when
 * the runs are used up. */
static int check_confidence(struct run_ctx *c, const struct iov_plan_point *pp, double level, double width,
                            unsigned runs, unsigned most, bool *ret_reached) {
  double vals[1000];
  size_t n = 0;
  bool tps = false;
  int r = rep_values(c, pp->index, vals, sizeof(vals) / sizeof(vals[0]), &n, &tps);
  if (r < 0) return iov_log_errno(r, "Cannot read the point's runs back: %s", iov_db_errmsg(c->db));
  struct iov_stat s;
  iov_stat_compute(vals, n, level, &s);
  bool reached = s.n >= 2 && isfinite(s.half) && s.half <= width * fabs(s.mean);
  *ret_reached = reached;
  if (!reached && runs < most) return 0;
  const char *unit = tps ? "trans/s" : "Gbit/s";
  if (reached)
    iov_info("point %u: %.0f %% confidence interval within +-%.1f %% after %u runs: %.4g +- %.2g %s",
             pp->index + 1, level * 100, width * 100, runs, s.mean, s.half, unit);
  else
    iov_warn(
        "point %u: after %u runs (repeat_max) the %.0f %% confidence interval is +-%.1f %% of the mean, not "
        "within +-%.1f %%: %.4g +- %.2g %s",
        pp->index + 1, runs, level * 100, isfinite(s.half) && s.mean != 0 ? 100 * s.half / fabs(s.mean) : NAN,
        width * 100, s.mean, s.half, unit);
  r = iov_db_confidence_set(c->db, c->db_run, pp->index, level, width, runs, s.mean, s.half, reached);
  if (r < 0) iov_log_errno(r, "Cannot store the confidence reached: %s", iov_db_errmsg(c->db));
  return 0;
}

static int run_point(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                     enum iov_point_status *ret_status) {
  struct point_run pr = { .ctx = c, .pp = pp, .topo = iov_topology_from_string(pp->p.topology) };
  json_t *pj = iov_json_point_params(pp);
  char *params = iov_json_dumps(pj);
  int r;

  json_decref(pj);
  if (!params) return -ENOMEM;
  struct iov_db_point dp = {
    .idx = idx,
    .point_no = pp->index,
    .rep = rep,
    .test = pp->test,
    .sweep = pp->sweep,
    .workload = pp->p.workload,
    .params_json = params,
    .duration_ns = pp->p.duration,
    .sample_interval_ns = pp->p.sample_interval,
    .topology = pp->p.topology,
    .vms = pp->p.vms,
  };
  r = iov_db_point_begin(c->db, c->db_run, &dp, &pr.db_point);
  free(params);
  if (r < 0) return iov_log_errno(r, "Cannot store test point %u: %s", pp->index + 1, iov_db_errmsg(c->db));
  pr.id = (uint64_t)pr.db_point;
  c->cur = &pr;
  r = wait_lost(c, &pr);
  if (r < 0) pr.fatal = r;
  if (pr.error[0]) goto finish;

  r = setup_vms(c, &pr);
  if (r < 0 && !pr.error[0]) point_fail(&pr, "cannot start the VMs: %s", iov_strerror(r));
  if (r == -IOV_E_INTERRUPTED || r == -ENOMEM) pr.fatal = r;
  if (pr.error[0]) goto finish;
  r = build_agents(c, &pr);
  if (r < 0) {
    point_fail(&pr, "cannot set up the point: %s", iov_strerror(r));
    pr.fatal = r;
  }
  if (pr.error[0]) goto finish;
  for (size_t i = 0; i < pr.n_ag; i++) {
    struct pr_agent *a = &pr.ag[i];
    r = store_agent(c, a->peer);
    if (r >= 0 && !(a->flow_id = calloc(a->flows, sizeof(int64_t)))) r = -ENOMEM;
    for (unsigned f = 0; f < a->flows && r >= 0; f++)
      r = iov_db_flow_add_link(c->db, pr.db_point, a->peer->db_agent, side_name[a->side], f,
                               a->link0 + f / a->flows_per_link, &a->flow_id[f]);
    if (r < 0) {
      point_fail(&pr, "cannot store flows: %s", iov_db_errmsg(c->db));
      pr.fatal = r;
      goto finish;
    }
  }

  /* Each agent's clock against ours, so that one start instant means the
   * same moment everywhere and samples line up in coord's time. */
  r = sync_clocks(c, &pr);
  if (r < 0 && !pr.error[0]) point_fail(&pr, "cannot estimate clock offsets: %s", iov_strerror(r));
  if (pr.error[0]) goto finish;

  /* Receivers first: the senders need their ports. */
  r = prepare_side(c, &pr, SIDE_RECEIVER);
  if (r < 0 || pr.error[0]) goto finish;
  r = prepare_side(c, &pr, SIDE_SENDER);
  if (r < 0 || pr.error[0]) goto finish;

  /* One start instant for all. */
  uint64_t lead = START_LEAD_NS + pr.n_ag * START_LEAD_PER_AGENT_NS;
  uint64_t start_at = iov_now_real() + lead;
  for (size_t i = 0; i < pr.n_ag; i++) {
    Iovbench__Start st = IOVBENCH__START__INIT;
    st.point_id = pr.id;
    /* The one instant, in each agent's own clock. */
    st.start_at_ns = iov_clock_to_agent(start_at, pr.ag[i].clk.offset_ns);
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_START;
    e.start = &st;
    (void)iov_peer_send(pr.ag[i].peer, &e);
  }
  (void)iov_db_point_set_start(c->db, pr.db_point, start_at);
  uint64_t wait = lead + pp->p.warmup + pp->p.duration + AGENT_FINISH_GRACE_NS + pp->p.timeout;
  r = wait_until(c, &pr, results_in, mono_deadline(wait), true);
  if (r == -IOV_E_TIMEOUT) {
    struct pr_agent *a = first_missing(&pr, 0, true);
    char t[32];
    point_fail(&pr,
               "agent '%s' (%s) sent no result within %s of the window's end (%u of %" PRIu64
               " samples arrived)%s",
               a->peer->name, side_name[a->side],
               iov_format_duration(t, sizeof(t), AGENT_FINISH_GRACE_NS + pp->p.timeout), a->samples,
               (pp->p.duration + pp->p.sample_interval - 1) / pp->p.sample_interval,
               pr.n_ag - pr.n_results > 1 ? " (and others)" : "");
    pr.fatal = -IOV_E_TIMEOUT;
  }
  /* An error from one agent: collect what the others measured, briefly. */
  if (pr.error[0] && !pr.fatal && !c->interrupted && (pr.n_ready[SIDE_SENDER] || pr.n_ready[SIDE_RECEIVER])) {
    for (size_t i = 0; i < pr.n_ag; i++)
      if (!pr.ag[i].result) send_stop(pr.ag[i].peer, pr.id, "another agent of the point failed");
    /* Long enough for a silent agent to be declared lost: its loss goes
     * beside the first error (point_cause); other errors now are echoes
     * of our Stop (point_fail keeps the first). */
    uint64_t until = mono_deadline(2 * IOV_NSEC_PER_SEC > 5 * c->hb_ns ? 2 * IOV_NSEC_PER_SEC : 5 * c->hb_ns);
    (void)wait_until(c, &pr, results_in, until, false);
  }

finish:
  /* Each agent's clock and actual start; the achieved start skew. */
  if (!pr.fatal && pr.win_start && pr.win_end &&
      iov_db_point_set_window(c->db, pr.db_point, pr.win_start, pr.win_end, pp->p.warmup) < 0)
    pr.fatal = -IOV_E_DB;
  uint64_t first = UINT64_MAX, last = 0;
  size_t n_started = 0;
  for (size_t i = 0; i < pr.n_ag && !pr.fatal; i++) {
    struct pr_agent *a = &pr.ag[i];
    if (!a->clk.probes || !a->peer->db_agent) continue;
    struct iov_db_clock dc = { .offset_ns = a->clk.offset_ns,
                               .error_ns = a->clk.error_ns,
                               .delay_ns = a->clk.delay_ns,
                               .probes = a->clk.probes,
                               .started_ns = a->started };
    if (iov_db_point_agent_add(c->db, pr.db_point, a->peer->db_agent, side_name[a->side], &dc) < 0)
      pr.fatal = -IOV_E_DB;
    if (a->started) {
      n_started++;
      if (a->started < first) first = a->started;
      if (a->started > last) last = a->started;
    }
  }
  if (n_started == pr.n_ag && n_started > 1 && !pr.fatal &&
      iov_db_point_set_skew(c->db, pr.db_point, last - first) < 0)
    pr.fatal = -IOV_E_DB;
  if (!pr.error[0] && !pr.fatal) check_vf_rate(&pr);
  /* Release every agent whatever happened; Stop of a finished point is a
   * no-op for them. */
  for (size_t i = 0; i < pr.n_ag; i++)
    if (!pr.ag[i].peer->gone) send_stop(pr.ag[i].peer, pr.id, pr.error[0] ? pr.error : "point complete");
  *ret_status = pr.error[0] ? IOV_POINT_FAILED : IOV_POINT_OK;
  r = iov_db_point_end(c->db, pr.db_point, *ret_status, pr.error[0] ? pr.error : NULL);
  if (r < 0) {
    iov_log_errno(r, "Cannot commit test point %u: %s", pp->index + 1, iov_db_errmsg(c->db));
    if (!pr.fatal) pr.fatal = r;
  }
  if (pr.error[0])
    iov_err("test point %u (%s%s%s) failed: %s", pp->index + 1, pp->test, *pp->sweep ? " " : "", pp->sweep,
            pr.error);
  r = pr.fatal ? pr.fatal : c->interrupted ? -IOV_E_INTERRUPTED : 0;
  for (size_t i = 0; i < pr.n_ag; i++) {
    pr.ag[i].peer->slot = 0;
    free(pr.ag[i].flow_id);
    free(pr.ag[i].ports);
  }
  free(pr.ag);
  for (size_t i = 0; i < pr.n_run_addrs; i++) free(pr.run_addrs[i]);
  free(pr.run_addrs);
  teardown_vms(&pr);
  c->cur = NULL;
  return r;
}

/* ---- the run --------------------------------------------------------- */

static int make_run_dir(const char *parent, const char *plan_path, char **ret) {
  char stamp[32], stem[64], *dir = NULL;
  time_t now = time(NULL);
  struct tm tm;
  const char *base = strrchr(plan_path, '/');

  base = base ? base + 1 : plan_path;
  snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(base, "."), base);
  localtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  if (mkdir(parent, 0755) < 0 && errno != EEXIST) return -errno;
  for (int n = 1; n < 100; n++) {
    free(dir);
    if ((n == 1 ? asprintf(&dir, "%s/%s-%s", parent, stamp, stem)
                : asprintf(&dir, "%s/%s-%s-%d", parent, stamp, stem, n)) < 0)
      return -ENOMEM;
    if (mkdir(dir, 0755) == 0) {
      *ret = dir;
      return 0;
    }
    if (errno != EEXIST) {
      int r = -errno;
      free(dir);
      return r;
    }
  }
  free(dir);
  return -EEXIST;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  if (!f) return -errno;
  fputs(text, f);
  return fclose(f) == 0 ? 0 : -errno;
}

static int open_signal_fd(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  return signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
}

int iov_coord_run(const struct iov_run_config *cfg) {
  struct run_ctx c = { .cfg = cfg, .signal_fd = -1 };
  struct iov_plan_error perr = { 0 };
  char path[4096], buf[512];
  int r;

  _cleanup_free_ char *resume_plan = NULL, *resume_uuid = NULL;
  _cleanup_free_ unsigned *stored = NULL, *stored_failed = NULL;
  unsigned next_idx = 0;
  const char *plan_path = cfg->plan_path;
  if (cfg->resume_dir && asprintf(&resume_plan, "%s/plan.plan", cfg->resume_dir) < 0) return -ENOMEM;
  if (cfg->resume_dir) plan_path = resume_plan;
  r = iov_plan_load(plan_path, iov_engine_names(), &c.plan, &perr);
  if (r < 0) {
    fprintf(stderr, "coord: %s\n", iov_plan_error_format(&perr, buf, sizeof(buf)));
    if (cfg->resume_dir)
      fprintf(stderr, "coord: %s is not a run directory to resume (it needs plan.plan and results.db)\n",
              cfg->resume_dir);
    iov_plan_error_done(&perr);
    return r;
  }
  c.signal_fd = open_signal_fd();
  if (c.signal_fd < 0) iov_warn("cannot watch signals: %s; Ctrl-C will not clean up", strerror(errno));

  if (cfg->resume_dir) {
    c.dir = strdup(cfg->resume_dir);
    if (!c.dir) {
      r = -ENOMEM;
      goto out;
    }
  } else {
    r = make_run_dir(cfg->results_dir, cfg->plan_path, &c.dir);
    if (r < 0) {
      iov_log_errno(r, "Cannot create a run directory under '%s': %m (choose another with --results)",
                    cfg->results_dir);
      goto out;
    }
  }
  const char *run_id = strrchr(c.dir, '/') ? strrchr(c.dir, '/') + 1 : c.dir;
  c.run_id = run_id;
  if (!cfg->resume_dir) {
    snprintf(path, sizeof(path), "%s/plan.plan", c.dir);
    if ((r = write_file(path, c.plan->text)) < 0) {
      iov_log_errno(r, "Cannot write %s: %m", path);
      goto out;
    }
  }
  snprintf(path, sizeof(path), "%s/logs", c.dir);
  if (mkdir(path, 0755) < 0 && errno != EEXIST) {
    r = iov_log_errno(-errno, "Cannot create %s: %m", path);
    goto out;
  }
  snprintf(path, sizeof(path), "%s/results.db", c.dir);
  if (cfg->resume_dir && access(path, F_OK) < 0) {
    r = iov_log_errno(-errno, "Cannot resume %s: no results.db there (%m)", c.dir);
    goto out;
  }
  {
    _cleanup_free_ char *why = NULL;
    r = iov_db_open_full(path, false, &c.db, &why);
    if (r < 0) {
      iov_log_errno(r, "Cannot %s the results database %s: %s", cfg->resume_dir ? "open" : "create", path,
                    why ? why : iov_strerror(r));
      goto out;
    }
  }
  stored = calloc(c.plan->n_points, sizeof(*stored));
  stored_failed = calloc(c.plan->n_points, sizeof(*stored_failed));
  if (!stored || !stored_failed) {
    r = -ENOMEM;
    goto out;
  }
  if (cfg->resume_dir) {
    r = iov_db_run_resume(c.db, &c.db_run, &resume_uuid);
    if (r >= 0) r = iov_db_points_stored(c.db, c.db_run, stored, stored_failed, c.plan->n_points, &next_idx);
    if (r < 0) {
      iov_log_errno(r, "Cannot resume the run in %s: %s", path, iov_db_errmsg(c.db));
      goto out;
    }
    c.run_id = resume_uuid;
    size_t done = 0;
    for (size_t i = 0; i < c.plan->n_points; i++) {
      done += stored[i] >= c.plan->points[i].p.repeat;
      c.failed_points += stored_failed[i];
    }
    if (!cfg->quiet)
      fprintf(stderr,
              "coord: resuming run %s: %zu of %zu test points are stored, %zu to run, results in %s\n",
              c.run_id, done, c.plan->n_points, c.plan->n_points - done, c.dir);
  } else {
    r = iov_db_run_begin(c.db, run_id, cfg->plan_path, c.plan->text, iov_now_real(), &c.db_run);
    if (r < 0) {
      iov_log_errno(r, "Cannot store the run: %s", iov_db_errmsg(c.db));
      goto out;
    }
  }
  if (!cfg->quiet && !cfg->resume_dir)
    fprintf(stderr, "coord: run %s: %zu test points, results in %s\n", run_id, c.plan->n_points, c.dir);

  snprintf(path, sizeof(path), "%s/logs", c.dir);
  r = iov_local_start(c.plan, cfg->local_mode, path, &c.local);
  if (r == -IOV_E_INTERRUPTED) c.interrupted = true;
  if (r < 0) goto out;
  if (*iov_local_describe(c.local) && !cfg->quiet)
    fprintf(stderr, "coord: %s\n", iov_local_describe(c.local));

  c.hb_ns = c.plan->points[0].p.heartbeat;
  c.next_hb = iov_now_mono() + c.hb_ns;
  uint64_t connect_timeout = cfg->connect_timeout_ns ? cfg->connect_timeout_ns : c.plan->points[0].p.timeout;
  uint64_t measure = 0;
  for (size_t i = 0; i < c.plan->n_points; i++) {
    const struct iov_point_params *q = &c.plan->points[i].p;
    if (stored[i] < q->repeat) measure += (q->warmup + q->duration) * (q->repeat - stored[i]);
  }
  iov_progress_init(&c.pg, stderr, cfg->quiet, measure);
  iov_log_set_before(progress_break, &c.pg);
  r = connect_all(&c, connect_timeout);
  if (r < 0) goto out;
  r = store_agents(&c);
  if (r < 0) goto out;

  for (size_t i = 0; i < c.plan->n_points; i++) {
    const struct iov_plan_point *pp = &c.plan->points[i];
    double level = 0, width = 0;
    (void)iov_plan_confidence(pp->p.confidence, &level, &width);
    unsigned want = (unsigned)pp->p.repeat,
             most = level > 0 && pp->p.repeat_max > want ? (unsigned)pp->p.repeat_max : want;
    unsigned done = stored[i]; /* resumed: those ran before */
    bool stop = false;
    for (;;) {
      if (done >= want) {
        if (level <= 0) break;
        bool reached = false;
        r = check_confidence(&c, pp, level, width, done, most, &reached);
        if (r < 0) goto out;
        if (reached || done >= most) break;
      }
      enum iov_point_status st = IOV_POINT_FAILED;
      char d[32], runs[48] = "", head[256];
      if (most > 1)
        snprintf(runs, sizeof(runs), ", run %u of %s%u", done + 1, most > want ? "up to " : "", most);
      snprintf(head, sizeof(head), "[%zu/%zu] %s%s%s: %s %s -> %s, %s%s", i + 1, c.plan->n_points, pp->test,
               *pp->sweep ? " " : "", pp->sweep, pp->p.workload, pp->p.sender, pp->p.receiver,
               iov_format_duration(d, sizeof(d), pp->p.duration), runs);
      iov_progress_point(&c.pg, head, pp->p.warmup + pp->p.duration, strstr(pp->p.workload, "rr") != NULL);
      r = run_point(&c, pp, next_idx++, done, &st);
      iov_progress_done(&c.pg, st == IOV_POINT_OK);
      done++;
      if (st != IOV_POINT_OK) c.failed_points++;
      if (r < 0) goto out;
      if (st != IOV_POINT_OK && strcmp(pp->p.on_error, "stop") == 0) {
        iov_err("test point %zu failed and the plan says on_error = stop: the run ends here", i + 1);
        stop = true;
        break;
      }
    }
    if (stop) break;
  }
  r = 0;

out:
  iov_progress_break(&c.pg);
  iov_log_set_before(NULL, NULL);
  if (c.n_peers) release_vms(&c);
  /* Goodbye (Stop of point 0): the agents drop the run now, instead of
   * taking our silence for a crash two heartbeats later. */
  for (size_t i = 0; i < c.n_peers; i++) {
    if (!c.peers[i]->welcome) continue;
    send_stop(c.peers[i], 0, c.interrupted ? "the run was interrupted" : "the run is over");
    zsock_set_linger(c.peers[i]->sock, 1000);
  }
  /* Tell the agents we are done before they are stopped or we vanish. */
  for (size_t i = 0; i < c.n_peers; i++) c.peers[i] = iov_peer_free(c.peers[i]);
  free(c.peers);
  zcert_destroy(&c.cert);
  c.local = iov_local_stop(c.local);
  if (c.db && c.db_run) {
    const char *status = c.interrupted     ? "interrupted"
                         : r < 0           ? "failed"
                         : c.failed_points ? "partial"
                                           : "ok";
    (void)iov_db_run_end(c.db, c.db_run, status, r < 0 ? iov_strerror(r) : NULL, iov_now_real());
  }
  if (c.db) {
    struct iov_report *rep = NULL;
    if (iov_report_load(c.db, &rep) == 0 && rep->n_points > 0) {
      iov_report_print_table(rep, stdout);
      fflush(stdout);
    }
    iov_report_free(rep);
  }
  c.db = iov_db_close(c.db);
  if (c.dir && !cfg->quiet) fprintf(stderr, "coord: results in %s\n", c.dir);
  if (c.interrupted) {
    fprintf(stderr, "coord: interrupted; what was measured so far is kept in %s\n",
            c.dir ? c.dir : "(nothing)");
    r = -IOV_E_INTERRUPTED;
  }
  free(c.dir);
  iov_plan_free(c.plan);
  if (c.signal_fd >= 0) close(c.signal_fd);
  if (r < 0) return r;
  return c.failed_points ? 1 : 0;
}

/* ---- validate and report --------------------------------------------- */

/* The expanded test matrix, one row per point: every column as wide as
 * its widest name (iov_text_table()), so that a long test name does not
 * push the rest of its row out of line. */
static void print_matrix(const struct iov_plan *plan) {
  enum { COLS = 13 };
  /* "#" as wide as 4 digits: a row starts with blanks, then its number. */
  static const char *const head[COLS] = { "   #",     "test",     "workload", "sender", "receiver",
                                          "topology", "vms",      "flows",    "msg",    "resp",
                                          "duration", "interval", "sweep" };
  static const bool right[COLS] = { true, false, false, false, false, false, true,
                                    true, true,  true,  true,  true,  false };
  size_t rows = plan->n_points + 1;
  char **cells = calloc(rows * COLS, sizeof(*cells));
  bool ok = cells != NULL;
  for (size_t c = 0; ok && c < COLS; c++) ok = (cells[c] = strdup(head[c])) != NULL;
  for (size_t i = 0; ok && i < plan->n_points; i++) {
    const struct iov_plan_point *p = &plan->points[i];
    char **row = cells + (i + 1) * COLS, s1[32], s2[32], d[32], iv[32];
    char n0[24], n6[24], n7[24];
    snprintf(n0, sizeof(n0), "%zu", i + 1);
    snprintf(n6, sizeof(n6), "%" PRIu64, p->p.vms);
    snprintf(n7, sizeof(n7), "%" PRIu64, p->p.flows);
    row[0] = strdup(n0);
    row[6] = strdup(n6);
    row[7] = strdup(n7);
    row[1] = strdup(p->test ? p->test : "");
    row[2] = strdup(p->p.workload ? p->p.workload : "");
    row[3] = strdup(p->p.sender ? p->p.sender : "");
    row[4] = strdup(p->p.receiver ? p->p.receiver : "");
    row[5] = strdup(p->p.topology ? p->p.topology : "");
    row[8] = strdup(iov_format_size(s1, sizeof(s1), p->p.msg_size));
    row[9] = strdup(iov_format_size(s2, sizeof(s2), p->p.response_size));
    row[10] = strdup(iov_format_duration(d, sizeof(d), p->p.duration));
    row[11] = strdup(iov_format_duration(iv, sizeof(iv), p->p.sample_interval));
    row[12] = strdup(p->sweep ? p->sweep : "");
    for (size_t c = 0; c < COLS; c++) ok &= row[c] != NULL;
  }
  putchar('\n');
  if (ok)
    iov_text_table(stdout, cells, rows, COLS, right, 64); /* a test name has at most 63 */
  else
    printf("(out of memory: no matrix)\n");
  for (size_t i = 0; cells && i < rows * COLS; i++) free(cells[i]);
  free(cells);
}

int iov_coord_validate(const char *plan_path, bool quiet) {
  struct iov_plan *plan = NULL;
  struct iov_plan_error perr = { 0 };
  char buf[512], d[32];
  int r = iov_plan_load(plan_path, iov_engine_names(), &plan, &perr);

  if (r < 0) {
    fprintf(stderr, "coord: %s\n", iov_plan_error_format(&perr, buf, sizeof(buf)));
    iov_plan_error_done(&perr);
    return r;
  }
  if (!quiet) {
    uint64_t total = 0, most = 0;
    printf("%s: %zu hosts, %zu test points\n", plan_path, plan->n_hosts, plan->n_points);
    int hw = 12;
    for (size_t i = 0; i < plan->n_hosts; i++)
      if ((int)strlen(plan->hosts[i].name) > hw) hw = (int)strlen(plan->hosts[i].name);
    for (size_t i = 0; i < plan->n_hosts; i++) {
      const struct iov_plan_host *h = &plan->hosts[i];
      printf("  host %-*s %s%s%s", hw, h->name, h->endpoint, h->data_addr ? "  data " : "",
             h->data_addr ? h->data_addr : "");
      if (h->guests) printf("  %s %u guests", h->local ? "simulates" : "needs", h->guests);
      printf("\n");
    }
    print_matrix(plan);
    for (size_t i = 0; i < plan->n_points; i++) {
      const struct iov_plan_point *p = &plan->points[i];
      double level = 0;
      (void)iov_plan_confidence(p->p.confidence, &level, NULL);
      total += (p->p.warmup + p->p.duration) * p->p.repeat;
      if (level > 0 && p->p.repeat_max > p->p.repeat)
        most += (p->p.warmup + p->p.duration) * (p->p.repeat_max - p->p.repeat);
    }
    printf("\nmeasuring time: %s", iov_format_duration(d, sizeof(d), total));
    if (most) printf(", up to %s more for confidence", iov_format_duration(d, sizeof(d), most));
    printf(" (warm-up and window of every run; plus set-up per point)\n");
  }
  iov_plan_free(plan);
  return 0;
}

int iov_coord_report(const char *run, enum iov_report_format format) {
  char path[4096];
  struct stat st;
  struct iov_db *db = NULL;
  struct iov_report *rep = NULL;
  int r;

  if (stat(run, &st) < 0) return iov_log_errno(-errno, "Cannot open run '%s': %m", run);
  if (S_ISDIR(st.st_mode))
    snprintf(path, sizeof(path), "%s/results.db", run);
  else
    snprintf(path, sizeof(path), "%s", run);
  _cleanup_free_ char *why = NULL;
  r = iov_db_open_full(path, true, &db, &why);
  if (r < 0)
    return iov_log_errno(r, "Cannot open results database '%s': %s (is '%s' a run directory?)", path,
                         why ? why : iov_strerror(r), run);
  r = iov_report_load(db, &rep);
  if (r < 0)
    iov_log_errno(r, "Cannot read the run from '%s': %s", path, iov_db_errmsg(db));
  else if (format == IOV_REPORT_JSON)
    r = iov_report_print_json(rep, stdout);
  else if (format == IOV_REPORT_CSV)
    r = iov_report_print_csv(rep, stdout);
  else {
    iov_report_print_table(rep, stdout);
    if (format == IOV_REPORT_TABLE_RUNS) iov_report_print_runs(rep, stdout);
    iov_report_print_study(rep, stdout);
  }
  iov_report_free(rep);
  iov_db_close(db);
  return r;
}
