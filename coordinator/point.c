/* One test point (coordinator/point.h): who takes part and at which
 * addresses, the VMs the host agents start for it, the clocks, Prepare of
 * the receivers then the senders, one start instant for all, the results
 * and samples (handed to coordinator/ingest.c), and the point's row.
 *
 * A point is a set of links, one per VM (pair): host-host has one link
 * (the two host agents); vm-vm-cross, vm-vm-same and many-to-one have
 * 'vms' links between guests (or, many-to-one, from guests to one host
 * agent that receives them all).  Every agent of a point takes part as a
 * sender or as a receiver.  Every wait has a deadline. */
#include "point.h"

#include <errno.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "err.h"
#include "json.h"
#include "log.h"
#include "parse.h"
#include "sessions.h"

/* Time between Start and the start instant: enough for the message to
 * reach every agent (through a relay, for guests) and for their threads
 * to be waiting.  Grows with the agents of the point. */
#define START_LEAD_NS (250ULL * IOV_NSEC_PER_MSEC)
#define START_LEAD_PER_AGENT_NS (1ULL * IOV_NSEC_PER_MSEC)
/* Agents probed at once: one probe in flight each. */
#define CLOCK_PARALLEL 4

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
        iov__point_fail(
            pr,
            "host '%s' has data address '%s', which is not an IP address, and coord reached it at "
            "none it could use instead: coord resolves no names while it runs; add '%s.data = "
            "ADDRESS' (an IPv4 or IPv6 address) to [hosts]",
            p->name, d, p->name);
      else
        iov__point_fail(pr, "host '%s' has no data address: add '%s.data = ADDRESS' to [hosts]", p->name,
                        p->name);
      return false;
    }
  } else {
    const char *by_host = p->vouched, *by_plan = iov_plan_host_guest_data(ph, p->route);
    char host_ip[INET6_ADDRSTRLEN] = "", plan_ip[INET6_ADDRSTRLEN] = "";
    if (by_host && !ip_literal(by_host, host_ip, sizeof(host_ip))) {
      char t[80];
      iov__point_fail(
          pr, "host agent '%s' vouches for '%s' as guest '%s''s data address: not an IP address; refused",
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
        iov__point_fail(
            pr,
            "guest '%s' claims data address '%s', which is not an IP address: refused (coord resolves "
            "no names); start it with --data ADDRESS (%s)",
            p->name, iov_peer_text(claimed, t, sizeof(t)), vouched);
        return false;
      }
      if (strcmp(claim, host_ip) != 0 && strcmp(claim, plan_ip) != 0) {
        iov__point_fail(
            pr,
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
      iov__point_fail(
          pr,
          "guest '%s' has no data address anyone vouches for: its host agent '%s' handed it none, and "
          "the plan has no '%s.guest_data = %s=ADDRESS'",
          p->name, h->name, h->name, p->route);
      return false;
    }
  }
  const char *unfit = addr_unfit(ip);
  if (unfit && !on_this_machine(c, h)) {
    iov__point_fail(
        pr,
        "%s '%s' would get traffic at %s (%s address), which names no machine of this run: refused; "
        "only a run whose agents all run on this machine may use such addresses",
        p->host ? "guest" : "host", p->name, ip, unfit);
    return false;
  }
  iov_debug(IOV_DBG_NET, "%s '%s': data address %s (%s)", side_name(a->side), p->name, ip, why);
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
  struct iov_peer *sh = iov__peer_by_name(c, pp->sender), *rh = iov__peer_by_name(c, pp->receiver);
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
    iov__point_fail(
        pr,
        "host '%s' has %zu guests ready but %s with vms=%u needs %u there; start more guest agents, "
        "or sweep vms over fewer",
        h->name, h == sh ? ns : nr, iov_topology_to_string(pr->topo), vms, h == sh ? need_s : need_r);
    return 0;
  }
  if (pr->topo == IOV_TOPO_MANY_TO_ONE && (uint64_t)flows * vms > IOV_ENGINE_MAX_FLOWS) {
    iov__point_fail(pr, "many-to-one with vms=%u and flows=%u needs %u flows on receiver '%s', more than %d",
                    vms, flows, vms * flows, rh->name, IOV_ENGINE_MAX_FLOWS);
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
  w.rate_bps = pp->rate;
  w.rate_pps = pp->rate_pps;
  w.send_buffer = pp->send_buffer;
  w.recv_buffer = pp->recv_buffer;
  w.nodelay = pp->nodelay != 0;
  w.interface = strcmp(pp->interface, "none") == 0 ? "" : pp->interface;
  w.cpus = cpus;
  w.n_cpus = n_cpus;
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
  if (iov_wire_engine_settings_to_pb(pp->settings, pp->n_settings, &w) < 0) return -ENOMEM;
  int64_t k = iov_peer_send(a->peer, &e);
  iov_wire_engine_settings_done(&w);
  /* A sender's agent blocks while it connects and waits for its
   * receiver's answer to the hello (at most connect_timeout): its silence
   * then is no loss; the Prepare round has its own deadline. */
  if (k > 0 && a->side == SIDE_SENDER && !a->peer->host) a->peer->busy_msg_id = (uint64_t)k;
  return k < 0 ? (int)k : 0;
}

static int on_vm_ready(struct point_run *pr, struct iov_peer *p, const Iovbench__VmReady *m) {
  for (size_t i = 0; i < pr->n_vm; i++) {
    struct vm_req *v = &pr->vm[i];
    if (v->host != p || v->ready) continue;
    if (m->n_guests != v->count) {
      iov__point_fail(pr, "agent '%s' started %zu VMs, %u were asked for", p->name, m->n_guests, v->count);
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

/* Agent a as ingest sees it: who it is, its flows and its clock, set
 * afresh before each call (ingest keeps the rest of a->in). */
static struct iov_ingest_agent *ingest_view(struct pr_agent *a) {
  a->in.name = a->peer->name;
  a->in.sender = a->side == SIDE_SENDER;
  a->in.guest = a->peer->host != NULL;
  a->in.db_agent = a->peer->db_agent;
  a->in.flows = a->flows;
  a->in.flow_id = a->flow_id;
  a->in.offset_ns = a->clk.offset_ns;
  return &a->in;
}

/* What an agent sent fails the point (ingest). */
static void ingest_fail(void *arg, const char *reason) { iov__point_fail(arg, "%s", reason); }

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

static int handle(struct point_run *pr, struct iov_peer *p, const iov_envelope *e) {
  struct pr_agent *a = iov__agent_of(pr, p);
  uint64_t pid = 0;
  char err[512] = "";
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
    iov__point_fail(pr, "agent '%s': %s", p->name, own_prefix_skipped(p, e->error->message));
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
        iov__point_fail(pr, "receiver '%s' listens on %zu ports for %u flows", p->name, e->ready->n_ports,
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
  case IOVBENCH__ENVELOPE__BODY_SAMPLES:
    r = iov_ingest_samples(&pr->in, ingest_view(a), e->samples, err, sizeof(err));
    break;
  case IOVBENCH__ENVELOPE__BODY_RESULT:
    if (a->result) break;
    a->result = true;
    pr->n_results++;
    r = iov_ingest_result(&pr->in, ingest_view(a), e->result, err, sizeof(err));
    break;
  default: break;
  }
  if (r < 0) {
    iov__point_fail(pr, "cannot store results: %s", err);
    pr->fatal = r;
  }
  return r;
}

/* vf_rate (path sriov): whether the NIC applied it, from what the
 * point's senders sent (ingest). */
static void check_vf_rate(struct point_run *pr) {
  const struct iov_ingest_agent **v = calloc(pr->n_ag, sizeof(*v));
  if (!v) return;
  for (size_t i = 0; i < pr->n_ag; i++) v[i] = ingest_view(&pr->ag[i]);
  iov_ingest_check_vf_rate(pr->pp, v, pr->n_ag);
  free(v);
}

/* Receive until done(pr) holds, an error is recorded, or the deadline. */
/* Handle messages until done(pr), the deadline (-IOV_E_TIMEOUT), or,
 * with stop_on_error, the point's first error. */
static int wait_until(struct run_ctx *c, struct point_run *pr, bool (*done)(const struct point_run *),
                      uint64_t deadline, bool stop_on_error) {
  while (!done(pr) && !(stop_on_error && pr->error[0])) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    int r = iov__sessions_recv(c, deadline, &p, &e);
    if (r == -EAGAIN) continue;
    if (r == -IOV_E_INTERRUPTED) {
      iov__point_fail(pr, "interrupted by the user");
      return r;
    }
    if (r < 0) return r;
    r = handle(pr, p, e);
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
    iov__point_fail(pr, "agent '%s' (%s) and %zu other(s) did not answer %s within %s", a->peer->name,
                    side_name(a->side), missing - 1, step, t);
  else
    iov__point_fail(pr, "agent '%s' (%s) did not answer %s within %s", a->peer->name, side_name(a->side),
                    step, t);
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
      iov__point_fail(pr, "cannot send to agent '%s': %s", pr->ag[next].peer->name, iov_strerror(r));
      return r;
    }
  }
  while (pending > 0) {
    struct iov_peer *p = NULL;
    iov_envelope *in = NULL;
    r = iov__sessions_recv(c, deadline, &p, &in);
    uint64_t t4 = iov_now_real();
    if (r == -EAGAIN) {
      if (pr->error[0]) return -IOV_E_PEER;
      continue;
    }
    if (r == -IOV_E_INTERRUPTED) {
      iov__point_fail(pr, "interrupted by the user");
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
    struct pr_agent *a = iov__agent_of(pr, p);
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
      (void)handle(pr, p, in); /* an older point's straggler, or an error */
    iov_wire_free(in);
    if (pr->error[0]) return -IOV_E_PEER;
  }
  for (size_t i = 0; i < pr->n_ag; i++) {
    struct pr_agent *a = &pr->ag[i];
    r = iov_clock_estimate(a->probes, a->n_probes, &a->clk);
    if (r < 0) {
      iov__point_fail(pr, "cannot estimate the clock offset of agent '%s': its timestamps are impossible",
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
      iov__point_fail(pr, "cannot send to agent '%s': %s", a->peer->name, iov_strerror(r));
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
  enum iov_path path = pp->path_id;
  struct iov_peer *sh = iov__peer_by_name(c, pp->sender), *rh = iov__peer_by_name(c, pp->receiver);
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
      iov__point_fail(pr, "cannot send to agent '%s': %s", pr->vm[i].host->name, iov_strerror((int)k));
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
        iov__point_fail(pr, "agent '%s' did not have its %u %s VMs up within %s (see its log)",
                        pr->vm[i].host->name, pr->vm[i].count, pp->path, t);
    iov__point_fail(pr, "the guest agents of the VMs did not answer within %s", t);
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

static struct iov_peer *lost_used(struct run_ctx *c, const struct point_run *pr) {
  for (size_t i = 0; i < c->n_peers; i++)
    if (c->peers[i]->lost && iov__point_uses(pr, c->peers[i])) return c->peers[i];
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
    iov__point_fail(pr,
                    "agent '%s' is lost (silent for three heartbeats) and did not answer within %s; skipped",
                    h->name, iov_format_duration(d, sizeof(d), pr->pp->p.timeout));
  }
  return 0;
}

/* Store the point's row (status running), trial n of a search or 0. */
static int point_begin(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                       unsigned trial, int64_t *ret_point) {
  json_t *pj = iov_json_point_params(pp);
  char *params = iov_json_dumps(pj);
  char dberr[512] = "";

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
    .trial = trial,
  };
  int r = iov_db_point_begin(c->db, c->db_run, &dp, ret_point, dberr, sizeof(dberr));
  free(params);
  if (r < 0) return iov_log_errno(r, "Cannot store test point %u: %s", pp->index + 1, dberr);
  return 0;
}

static int point_run(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                     struct iov_point_trial *trial, enum iov_point_status *ret_status) {
  struct point_run pr = { .ctx = c, .pp = pp, .topo = pp->p.topo };
  char dberr[512] = "";
  int r;

  r = point_begin(c, pp, idx, rep, trial ? trial->trial : 0, &pr.db_point);
  if (r < 0) return r;
  if (trial) trial->db_point = pr.db_point;
  pr.id = (uint64_t)pr.db_point;
  pr.in = (struct iov_ingest_point){
    .db = c->db,
    .db_point = pr.db_point,
    .number = pp->index + 1,
    .span_ns = iov_ingest_span_ns(pp->p.warmup, pp->p.duration, pp->p.sample_interval),
    .sample_interval_ns = pp->p.sample_interval,
    .pg = &c->pg,
    .fail = ingest_fail,
    .fail_arg = &pr,
  };
  c->cur = &pr;
  r = wait_lost(c, &pr);
  if (r < 0) pr.fatal = r;
  if (pr.error[0]) goto finish;

  r = setup_vms(c, &pr);
  if (r < 0 && !pr.error[0]) iov__point_fail(&pr, "cannot start the VMs: %s", iov_strerror(r));
  if (r == -IOV_E_INTERRUPTED || r == -ENOMEM) pr.fatal = r;
  if (pr.error[0]) goto finish;
  r = build_agents(c, &pr);
  if (r < 0) {
    iov__point_fail(&pr, "cannot set up the point: %s", iov_strerror(r));
    pr.fatal = r;
  }
  if (pr.error[0]) goto finish;
  for (size_t i = 0; i < pr.n_ag; i++) {
    struct pr_agent *a = &pr.ag[i];
    r = iov__sessions_store_agent(c, a->peer);
    if (r >= 0 && !(a->flow_id = calloc(a->flows, sizeof(int64_t)))) r = -ENOMEM;
    for (unsigned f = 0; f < a->flows && r >= 0; f++)
      r = iov_db_flow_add_link(c->db, pr.db_point, a->peer->db_agent, side_name(a->side), f,
                               a->link0 + f / a->flows_per_link, &a->flow_id[f], dberr, sizeof(dberr));
    if (r < 0) {
      iov__point_fail(&pr, "cannot store flows: %s", dberr[0] ? dberr : iov_strerror(r));
      pr.fatal = r;
      goto finish;
    }
  }

  /* Each agent's clock against ours, so that one start instant means the
   * same moment everywhere and samples line up in coord's time. */
  r = sync_clocks(c, &pr);
  if (r < 0 && !pr.error[0]) iov__point_fail(&pr, "cannot estimate clock offsets: %s", iov_strerror(r));
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
  (void)iov_db_point_set_start(c->db, pr.db_point, start_at, NULL, 0);
  uint64_t wait = lead + pp->p.warmup + pp->p.duration + IOV_AGENT_FINISH_GRACE_NS + pp->p.timeout;
  r = wait_until(c, &pr, results_in, mono_deadline(wait), true);
  if (r == -IOV_E_TIMEOUT) {
    struct pr_agent *a = first_missing(&pr, 0, true);
    char t[32];
    iov__point_fail(&pr,
                    "agent '%s' (%s) sent no result within %s of the window's end (%u of %" PRIu64
                    " samples arrived)%s",
                    a->peer->name, side_name(a->side),
                    iov_format_duration(t, sizeof(t), IOV_AGENT_FINISH_GRACE_NS + pp->p.timeout),
                    a->in.samples, (pp->p.duration + pp->p.sample_interval - 1) / pp->p.sample_interval,
                    pr.n_ag - pr.n_results > 1 ? " (and others)" : "");
    pr.fatal = -IOV_E_TIMEOUT;
  }
  /* An error from one agent: collect what the others measured, briefly. */
  if (pr.error[0] && !pr.fatal && !c->interrupted && (pr.n_ready[SIDE_SENDER] || pr.n_ready[SIDE_RECEIVER])) {
    for (size_t i = 0; i < pr.n_ag; i++)
      if (!pr.ag[i].result) iov__send_stop(pr.ag[i].peer, pr.id, "another agent of the point failed");
    /* Long enough for a silent agent to be declared lost: its loss goes
     * beside the first error (point_cause); other errors now are echoes
     * of our Stop (point_fail keeps the first). */
    uint64_t until = mono_deadline(2 * IOV_NSEC_PER_SEC > 5 * c->hb_ns ? 2 * IOV_NSEC_PER_SEC : 5 * c->hb_ns);
    (void)wait_until(c, &pr, results_in, until, false);
  }

finish:
  /* Each agent's clock and actual start; the achieved start skew. */
  if (!pr.fatal && pr.in.win_start && pr.in.win_end &&
      iov_db_point_set_window(c->db, pr.db_point, pr.in.win_start, pr.in.win_end, pp->p.warmup, NULL, 0) < 0)
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
                               .started_ns = a->in.started };
    if (iov_db_point_agent_add(c->db, pr.db_point, a->peer->db_agent, side_name(a->side), &dc, NULL, 0) < 0)
      pr.fatal = -IOV_E_DB;
    if (a->in.started) {
      n_started++;
      if (a->in.started < first) first = a->in.started;
      if (a->in.started > last) last = a->in.started;
    }
  }
  if (n_started == pr.n_ag && n_started > 1 && !pr.fatal &&
      iov_db_point_set_skew(c->db, pr.db_point, last - first, NULL, 0) < 0)
    pr.fatal = -IOV_E_DB;
  if (!pr.error[0] && !pr.fatal) check_vf_rate(&pr);
  /* Release every agent whatever happened; Stop of a finished point is a
   * no-op for them. */
  for (size_t i = 0; i < pr.n_ag; i++)
    if (!pr.ag[i].peer->gone) iov__send_stop(pr.ag[i].peer, pr.id, pr.error[0] ? pr.error : "point complete");
  *ret_status = pr.error[0] ? IOV_POINT_FAILED : IOV_POINT_OK;
  r = iov_db_point_end(c->db, pr.db_point, *ret_status, pr.error[0] ? pr.error : NULL, dberr, sizeof(dberr));
  if (r < 0) {
    iov_log_errno(r, "Cannot commit test point %u: %s", pp->index + 1, dberr);
    if (!pr.fatal) pr.fatal = r;
  }
  if (pr.error[0] && trial)
    iov_err("test point %u (%s%s%s), search trial %u, failed: %s", pp->index + 1, pp->test,
            *pp->sweep ? " " : "", pp->sweep, trial->trial, pr.error);
  else if (pr.error[0])
    iov_err("test point %u (%s%s%s) failed: %s", pp->index + 1, pp->test, *pp->sweep ? " " : "", pp->sweep,
            pr.error);
  if (trial) snprintf(trial->error, sizeof(trial->error), "%s", pr.error);
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

int iov__point_run(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                   enum iov_point_status *ret_status) {
  return point_run(c, pp, idx, rep, NULL, ret_status);
}

int iov__point_run_trial(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                         struct iov_point_trial *t, enum iov_point_status *ret_status) {
  /* The plan's point with the trial's rate and times: a shallow copy that
   * only this run reads (its strings and settings are the plan's). */
  struct iov_plan_point q = *pp;
  q.p.rate_pps = t->rate_pps;
  q.p.duration = t->duration_ns;
  q.p.warmup = t->warmup_ns;
  if (q.p.sample_interval > q.p.duration) q.p.sample_interval = q.p.duration;
  t->db_point = 0;
  t->error[0] = '\0';
  return point_run(c, &q, idx, rep, t, ret_status);
}

int iov__point_store_failed(struct run_ctx *c, const struct iov_plan_point *pp, unsigned idx, unsigned rep,
                            const char *reason) {
  char dberr[512] = "";
  int64_t id = 0;
  int r = point_begin(c, pp, idx, rep, 0, &id);
  if (r < 0) return r;
  r = iov_db_point_end(c->db, id, IOV_POINT_FAILED, reason, dberr, sizeof(dberr));
  if (r < 0) return iov_log_errno(r, "Cannot store test point %u: %s", pp->index + 1, dberr);
  iov_err("test point %u (%s%s%s) failed: %s", pp->index + 1, pp->test, *pp->sweep ? " " : "", pp->sweep,
          reason);
  return 0;
}
