/* coord's sessions with its agents: connect to the plan's host agents,
 * say hello, keep the heartbeats, follow each host's guests (hello to the
 * new ones, the missing ones gone), receive the next message for whoever
 * waits, store each agent's inventory, and say goodbye at the end.
 *
 * An agent that falls silent for three heartbeats is lost: the point that
 * uses it fails with the cause (coordinator/runctx.h, run_ctx.cur), and
 * coord says hello again at every heartbeat until it answers. */
#include "sessions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "json.h"
#include "log.h"
#include "parse.h"
#include "trust.h"

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
      struct pr_agent *a = iov__agent_of(c->cur, g);
      if (a && !a->result)
        iov__point_fail(c->cur, "guest '%s' left host '%s' during the point", g->route, h->name);
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
      if (iov__point_uses(c->cur, h))
        iov__point_cause(
            c->cur,
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
int iov__sessions_recv(struct run_ctx *c, uint64_t deadline, struct iov_peer **ret_peer, iov_envelope **ret) {
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

int iov__sessions_connect(struct run_ctx *c, uint64_t timeout_ns) {
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
    r = iov__sessions_recv(c, deadline, &p, &e);
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

int iov__sessions_store_agent(struct run_ctx *c, struct iov_peer *p) {
  char path[4096], err[512] = "";
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
                         &p->db_agent, err, sizeof(err));
  if (r == 0 && p->host) {
    r = iov__sessions_store_agent(c, p->host);
    if (r == 0) r = iov_db_agent_set_host(c->db, p->db_agent, p->host->db_agent, err, sizeof(err));
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
    iov_log_errno(r, "Cannot store the inventory of agent '%s': %s", p->name, err[0] ? err : iov_strerror(r));
  free(s);
  json_decref(j);
  if (r < 0) p->db_agent = 0;
  return r;
}

int iov__sessions_store_agents(struct run_ctx *c) {
  for (size_t i = 0; i < c->n_peers; i++) {
    int r = iov__sessions_store_agent(c, c->peers[i]);
    for (size_t j = 0; j < c->peers[i]->n_guests && r == 0; j++)
      if (c->peers[i]->guests[j]->welcome) r = iov__sessions_store_agent(c, c->peers[i]->guests[j]);
    if (r < 0) return r;
  }
  return 0;
}

void iov__send_stop(struct iov_peer *p, uint64_t point_id, const char *reason) {
  Iovbench__Stop s = IOVBENCH__STOP__INIT;
  s.point_id = point_id;
  s.reason = (char *)reason;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_STOP;
  e.stop = &s;
  (void)iov_peer_send(p, &e);
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
    int r = iov__sessions_recv(c, deadline, &p, &e);
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

void iov__sessions_end(struct run_ctx *c) {
  if (c->n_peers) release_vms(c);
  /* Goodbye (Stop of point 0): the agents drop the run now, instead of
   * taking our silence for a crash two heartbeats later. */
  for (size_t i = 0; i < c->n_peers; i++) {
    if (!c->peers[i]->welcome) continue;
    iov__send_stop(c->peers[i], 0, c->interrupted ? "the run was interrupted" : "the run is over");
    zsock_set_linger(c->peers[i]->sock, 1000);
  }
  /* Tell the agents we are done before they are stopped or we vanish. */
  for (size_t i = 0; i < c->n_peers; i++) c->peers[i] = iov_peer_free(c->peers[i]);
  free(c->peers);
  c->peers = NULL;
  c->n_peers = 0;
  zcert_destroy(&c->cert);
}
