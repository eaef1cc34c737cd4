/* A rate search (coordinator/search.h): lib/ndr.c decides which rate to
 * try and for how long; this file turns a rate on the wire into
 * datagrams per second per flow, runs each trial as a point of its own
 * (coordinator/point.c), stores what came of it, and at the end stores
 * the answers and makes the last full-length passing trial the point's
 * measurement.
 *
 * Rates: the search works in bits per second on the wire, summed over
 * the point's flows: each frame plus IOV_FRAME_L1_OVERHEAD (preamble,
 * SFD, inter-frame gap).  A frame is udp_stream's frame_size (a mix by
 * its mean), else one datagram of msg_size with its UDP, IP and Ethernet
 * headers (in as many frames as a 1500-byte MTU takes).  search_max 0 is
 * the line rate: the plan's line_rate, else the speed of the sender
 * host's data interface in its inventory. */
#include "search.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "frame.h"
#include "log.h"
#include "ndr.h"
#include "parse.h"
#include "point.h"
#include "runctx.h"
#include "timeutil.h"
#include "wire.h"

/* Defaults when the engine's table lacks a key (it should not). */
#define DEF_PRECISION_PPB 10000000ULL /* 1 % */
#define DEF_PDR_LOSS_PPB 5000000ULL   /* 0.5 % */
#define DEF_TRIAL_NS IOV_NSEC_PER_SEC
#define DEF_TRIALS 30
#define PPB 1e9
/* A NIC speed above this in an inventory is not believed (10 Tbit/s). */
#define LINE_MBPS_MAX 10000000ULL
#define MTU 1500

unsigned iov__search_what(const struct iov_point_params *p) {
  uint64_t v = 0;
  if (!iov_plan_setting_get(p, "search", &v)) return 0;
  return (unsigned)(v & (IOV_SEARCH_NDR | IOV_SEARCH_PDR));
}

static uint64_t setting(const struct iov_point_params *p, const char *key, uint64_t def) {
  uint64_t v = 0;
  return iov_plan_setting_get(p, key, &v) ? v : def;
}

/* The search's parameters from the point's settings, rates left out. */
static void search_params(const struct iov_point_params *p, struct iov_search_params *ret) {
  *ret = (struct iov_search_params){
    .what = iov__search_what(p),
    .min_bps = (double)setting(p, "search_min", 0),
    .max_bps = (double)setting(p, "search_max", 0),
    .precision = (double)setting(p, "search_precision", DEF_PRECISION_PPB) / PPB,
    .pdr_loss = (double)setting(p, "pdr_loss", DEF_PDR_LOSS_PPB) / PPB,
    .trial_ns = setting(p, "search_trial", DEF_TRIAL_NS),
    .final_ns = p->duration,
    .max_trials = (unsigned)setting(p, "search_trials", DEF_TRIALS),
  };
  /* search_trials is in range: the plan checked it against the engine's
   * table, and iov_search_new() refuses anything else. */
}

static uint64_t short_warmup(const struct iov_point_params *p) {
  return p->warmup < IOV_SEARCH_SHORT_WARMUP_NS ? p->warmup : IOV_SEARCH_SHORT_WARMUP_NS;
}

void iov__search_time(const struct iov_point_params *p, uint64_t *ret_typical, uint64_t *ret_worst) {
  struct iov_search_params sp;
  *ret_typical = *ret_worst = 0;
  if (!iov__search_what(p)) return;
  search_params(p, &sp);
  unsigned goals = (sp.what & IOV_SEARCH_NDR ? 1 : 0) + (sp.what & IOV_SEARCH_PDR ? 1 : 0);
  bool all_full = sp.trial_ns >= sp.final_ns;
  uint64_t full = p->warmup + p->duration + IOV_SEARCH_SETUP_NS;
  uint64_t shrt = all_full ? full : short_warmup(p) + sp.trial_ns + IOV_SEARCH_SETUP_NS;
  /* From the top to within precision: about log2(1 / precision) halvings,
   * one more for the top itself. */
  unsigned halvings = (unsigned)ceil(log2(1 / (sp.precision > 0 ? sp.precision : 0.01))) + 1;
  unsigned typ_short = halvings < sp.max_trials ? halvings : sp.max_trials;
  unsigned typ_full = all_full ? 0 : goals;
  if (typ_short + typ_full > sp.max_trials) typ_full = sp.max_trials - typ_short;
  *ret_typical = typ_short * shrt + typ_full * full;
  unsigned worst_full = all_full ? 0 : goals < sp.max_trials ? goals : sp.max_trials;
  *ret_worst = (sp.max_trials - worst_full) * shrt + worst_full * full;
}

/* ---- rates ------------------------------------------------------------ */

struct frames {
  double frame_mean;     /* bytes per frame */
  double frames_per_msg; /* frames one datagram takes */
  double wire_bits;      /* bits on the wire per datagram */
  char label[48];        /* "64B", "imix", "1472B msg" */
};

static bool literal_family(const char *a, int *ret) {
  uint8_t b[16];
  if (a && inet_pton(AF_INET, a, b) == 1)
    *ret = AF_INET;
  else if (a && inet_pton(AF_INET6, a, b) == 1)
    *ret = AF_INET6;
  else
    return false;
  return true;
}

/* The sender host's data address, as the point knows it (coord's own
 * check of it, once a point ran) or the plan names it. */
static const char *sender_addr(struct run_ctx *c, const struct iov_point_params *p) {
  struct iov_peer *h = iov__peer_by_name(c, p->sender);
  if (h && h->data_addr) return h->data_addr;
  const struct iov_plan_host *ph = iov_plan_host_find(c->plan, p->sender);
  return ph ? ph->data_addr : NULL;
}

static void point_frames(struct run_ctx *c, const struct iov_point_params *p, struct frames *f) {
  uint64_t fv = setting(p, "frame_size", 0);
  char buf[40];
  if (fv && iov_frame_valid(fv)) {
    f->frame_mean = iov_frame_mean(fv);
    f->frames_per_msg = 1;
    f->wire_bits = (f->frame_mean + IOV_FRAME_L1_OVERHEAD) * 8;
    bool mix = (fv & IOV_FRAME_MIX_BIT) != 0;
    snprintf(f->label, sizeof(f->label), "%s%s", iov_frame_format(fv, buf, sizeof(buf)), mix ? "" : "B");
    return;
  }
  int family = AF_INET;
  (void)literal_family(sender_addr(c, p), &family);
  double ip = family == AF_INET6 ? 40 : 20;
  /* IPv6 fragments carry an 8-byte fragment header and 8-byte multiples. */
  double per_frag = family == AF_INET6 ? MTU - ip - 8 - (double)((MTU - 40 - 8) % 8) : MTU - ip;
  double udp = (double)p->msg_size + IOV_FRAME_UDP_HDR;
  double n = udp + ip <= MTU ? 1 : ceil(udp / per_frag);
  double hdrs = ip + (n > 1 && family == AF_INET6 ? 8 : 0) + IOV_FRAME_ETH_HDR + IOV_FRAME_FCS;
  /* One frame: the payload's smallest frame (padded to the minimum). */
  double bytes = n == 1 ? iov_frame_min(family, (unsigned)p->msg_size) : udp + n * hdrs;
  f->frame_mean = bytes / n;
  f->frames_per_msg = n;
  f->wire_bits = (bytes + n * IOV_FRAME_L1_OVERHEAD) * 8;
  snprintf(f->label, sizeof(f->label), "%sB msg", iov_format_size(buf, sizeof(buf), p->msg_size));
}

/* The sender host's data interface speed in bit/s from its inventory
 * (the plan's interface by name, else the one holding its data address);
 * 0 when unknown. */
static double inventory_line_bps(struct run_ctx *c, const struct iov_point_params *p) {
  struct iov_peer *h = iov__peer_by_name(c, p->sender);
  if (!h || !h->welcome || h->welcome->body_case != IOVBENCH__ENVELOPE__BODY_WELCOME ||
      !h->welcome->welcome || !h->welcome->welcome->inventory)
    return 0;
  const Iovbench__Inventory *inv = h->welcome->welcome->inventory;
  const char *want = p->interface && strcmp(p->interface, "none") != 0 ? p->interface : NULL;
  const char *addr = sender_addr(c, p);
  for (size_t i = 0; i < inv->n_interfaces; i++) {
    const Iovbench__Interface *it = inv->interfaces[i];
    if (!it || !it->name) continue;
    bool match =
        want ? strcmp(it->name, want) == 0 : iov_wire_addr_listed(addr, it->addresses, it->n_addresses);
    if (match)
      return it->speed_mbps > 0 && it->speed_mbps <= LINE_MBPS_MAX ? (double)it->speed_mbps * 1e6 : 0;
  }
  return 0;
}

/* ---- one search ------------------------------------------------------- */

/* What the search keeps of each trial, by seq. */
struct trial_info {
  int64_t point_id;
  double offered_fps; /* frames/s actually offered, total */
  bool stored;
};

struct search_run {
  struct run_ctx *c;
  const struct iov_plan_point *pp;
  unsigned rep;
  struct iov_search *s;
  struct iov_search_params sp;
  struct frames fr;
  double line_bps;         /* 0: unknown */
  unsigned flows;          /* over all links */
  struct trial_info *info; /* [max_trials + 1] */
  unsigned fed;
  bool stop_feeding;
  uint64_t resumed_ns; /* trial time of the trials read back */
};

/* A stored trial of this search, in seq order: fed while they follow
 * each other; the rest (after a gap, or refused) is not used. */
static int stored_trial(void *arg, const struct iov_db_trial *t) {
  struct search_run *sr = arg;
  if (sr->stop_feeding || t->seq != sr->fed + 1 || t->seq > sr->sp.max_trials) {
    sr->stop_feeding = true;
    return 0;
  }
  struct iov_search_trial st = {
    .seq = t->seq, .wire_bps = t->offered_wire_bps, .duration_ns = t->duration_ns, .full = t->full
  };
  double intended = (isfinite(t->offered_pps) ? t->offered_pps : 0) / sr->fr.frames_per_msg *
                    ((double)t->duration_ns / 1e9);
  if (iov_search_feed(sr->s, &st, iov_search_loss(t->sent, t->received, t->lost, intended)) < 0) {
    sr->stop_feeding = true;
    return 0;
  }
  sr->info[t->seq] = (struct trial_info){ .point_id = t->point_id,
                                          .offered_fps = isfinite(t->offered_pps) ? t->offered_pps : 0,
                                          .stored = true };
  sr->fed++;
  sr->resumed_ns += t->duration_ns;
  return 0;
}

static const char *mpps(char *buf, size_t n, double pps) {
  if (pps >= 1e6)
    snprintf(buf, n, "%.3f Mpps", pps / 1e6);
  else
    snprintf(buf, n, "%.1f kpps", pps / 1e3);
  return buf;
}

/* Run trial t: 0 and its loss, or the point's failure in *ret_status. */
static int run_trial(struct search_run *sr, const struct iov_search_trial *t, unsigned *next_idx,
                     enum iov_point_status *ret_status, double *ret_loss) {
  struct run_ctx *c = sr->c;
  const struct iov_plan_point *pp = sr->pp;
  double dgram_pps = t->wire_bps / sr->fr.wire_bits;
  double per_flow = round(dgram_pps / sr->flows);
  if (per_flow < 1) per_flow = 1;
  double offered_fps = per_flow * sr->flows * sr->fr.frames_per_msg;
  struct iov_point_trial pt = { .trial = t->seq,
                                .rate_pps = (uint64_t)per_flow,
                                .duration_ns = t->duration_ns,
                                .warmup_ns = t->full ? pp->p.warmup : short_warmup(&pp->p) };
  char head[256], d[32], rate[32];
  snprintf(head, sizeof(head), "[%u/%zu] %s%s%s: search %s, trial %u (%s %s), %s offered", pp->index + 1,
           c->plan->n_points, pp->test, *pp->sweep ? " " : "", pp->sweep, sr->fr.label, t->seq,
           t->full ? "full" : "short", iov_format_duration(d, sizeof(d), t->duration_ns),
           mpps(rate, sizeof(rate), offered_fps));
  iov_progress_point(&c->pg, head, pt.warmup_ns + pt.duration_ns, false);
  int r = iov__point_run_trial(c, pp, (*next_idx)++, sr->rep, &pt, ret_status);
  iov_progress_done(&c->pg, *ret_status == IOV_POINT_OK);
  if (r < 0 || *ret_status != IOV_POINT_OK) {
    if (*ret_status != IOV_POINT_OK && r >= 0) {
      char why[1024];
      snprintf(why, sizeof(why), "search %s: trial %u failed: %s", sr->fr.label, t->seq,
               pt.error[0] ? pt.error : "(no reason)");
      r = iov__point_store_failed(c, pp, (*next_idx)++, sr->rep, why);
    }
    return r;
  }
  uint64_t sent = 0, received = 0, lost = 0;
  char err[512] = "";
  r = iov_db_point_totals(c->db, pt.db_point, &sent, &received, &lost, err, sizeof(err));
  /* What the rate and window ask of the senders: a sender held back
   * did not offer the rate (lib/ndr.h). */
  double intended = per_flow * sr->flows * ((double)t->duration_ns / 1e9);
  double loss = iov_search_loss(sent, received, lost, intended);
  struct iov_db_trial dt = { .point_id = pt.db_point,
                             .point_no = pp->index,
                             .rep = sr->rep,
                             .seq = t->seq,
                             .full = t->full,
                             .offered_wire_bps = t->wire_bps,
                             .offered_pps = offered_fps,
                             .duration_ns = t->duration_ns,
                             .sent = sent,
                             .received = received,
                             .lost = lost };
  if (r >= 0) r = iov_db_trial_add(c->db, &dt, err, sizeof(err));
  if (r < 0)
    return iov_log_errno(r, "Cannot store search trial %u of test point %u: %s", t->seq, pp->index + 1, err);
  sr->info[t->seq] =
      (struct trial_info){ .point_id = pt.db_point, .offered_fps = offered_fps, .stored = true };
  if (!c->cfg->quiet) {
    char held[96] = "";
    if ((double)sent < intended * (1 - IOV_SEARCH_UNSENT_MAX))
      snprintf(held, sizeof(held), " (the senders sent only %.1f %% of it: counted as lost)",
               100.0 * (double)sent / intended);
    iov_notice("search %s: trial %u, %s offered (%s), loss %.4g %%%s", sr->fr.label, t->seq,
               mpps(rate, sizeof(rate), offered_fps), t->full ? "full" : "short", loss * 100, held);
  }
  *ret_loss = loss;
  return 0;
}

/* The search ended: its answers stored, the measurement made. */
static int finish(struct search_run *sr, unsigned *next_idx, uint64_t wall_ns,
                  enum iov_point_status *ret_status) {
  struct run_ctx *c = sr->c;
  const struct iov_plan_point *pp = sr->pp;
  struct iov_search_result res;
  char err[512] = "", why[768] = "";
  int r;

  iov_search_result(sr->s, &res);
  /* What the search cost: the wall time of this run of it, set-up and
   * all, plus the trial time of the trials a resumed search read back
   * (their set-up then is not known). */
  double seconds = (double)(wall_ns + sr->resumed_ns) / 1e9;
  unsigned measured = 0;
  for (int g = 0; g < _IOV_SEARCH_GOAL_MAX; g++) {
    const struct iov_search_goal_result *o = &res.goal[g];
    if (!o->wanted) continue;
    const struct trial_info *ti = o->trial && o->trial <= sr->sp.max_trials ? &sr->info[o->trial] : NULL;
    double fps = ti && ti->stored ? ti->offered_fps : 0;
    struct iov_db_search ds = {
      .point_no = pp->index,
      .rep = sr->rep,
      .kind = iov_search_goal_to_string((enum iov_search_goal)g),
      .converged = o->end == IOV_SEARCH_CONVERGED,
      .rate_pps = fps,
      .rate_bps = fps * sr->fr.frame_mean * 8,
      .wire_bps = fps * (sr->fr.frame_mean + IOV_FRAME_L1_OVERHEAD) * 8,
      .line_pct = NAN,
      .frame_mean = sr->fr.frame_mean,
      .loss = ti ? o->loss : 0,
      .trials = res.trials,
      .seconds = seconds,
      .point_id = ti && ti->stored ? ti->point_id : 0,
    };
    if (sr->line_bps > 0) ds.line_pct = ds.wire_bps / sr->line_bps * 100;
    r = iov_db_search_set(c->db, c->db_run, &ds, err, sizeof(err));
    if (r < 0) return iov_log_errno(r, "Cannot store the search of test point %u: %s", pp->index + 1, err);
    char rate[32];
    if (ds.point_id && !measured) measured = o->trial;
    if (!ds.point_id) {
      if (!why[0])
        snprintf(why, sizeof(why), "search %s: no %s: %s after %u trials%s", sr->fr.label, ds.kind,
                 iov_search_end_to_string(o->end), res.trials,
                 o->end == IOV_SEARCH_MIN_LOSES ? " (lower search_min)"
                 : o->end == IOV_SEARCH_BUDGET  ? " before a full-length trial passed (raise search_trials)"
                                                : "");
    } else if (!c->cfg->quiet) {
      if (ds.converged) {
        char pct[48] = "";
        if (isfinite(ds.line_pct)) snprintf(pct, sizeof(pct), ", %.1f %% of line rate", ds.line_pct);
        iov_notice("test point %u: %s %s = %s, %.4g Gbit/s on the wire%s (%u trials, %.0f s)", pp->index + 1,
                   sr->fr.label, ds.kind, mpps(rate, sizeof(rate), ds.rate_pps), ds.wire_bps / 1e9, pct,
                   res.trials, seconds);
      } else
        iov_warn("test point %u: %s %s did not converge (%s): best full-length pass %s after %u trials",
                 pp->index + 1, sr->fr.label, ds.kind, iov_search_end_to_string(o->end),
                 mpps(rate, sizeof(rate), ds.rate_pps), res.trials);
    }
  }
  if (measured) {
    r = iov_db_point_set_trial(c->db, sr->info[measured].point_id, 0, err, sizeof(err));
    if (r < 0)
      return iov_log_errno(r, "Cannot store the measurement of test point %u: %s", pp->index + 1, err);
    *ret_status = IOV_POINT_OK;
    return 0;
  }
  *ret_status = IOV_POINT_FAILED;
  return iov__point_store_failed(c, pp, (*next_idx)++, sr->rep, why);
}

int iov__search_point(struct run_ctx *c, const struct iov_plan_point *pp, unsigned *next_idx, unsigned rep,
                      enum iov_point_status *ret_status) {
  const struct iov_point_params *p = &pp->p;
  struct search_run sr = { .c = c, .pp = pp, .rep = rep };
  char err[512] = "", why[768] = "";
  int r = 0;

  *ret_status = IOV_POINT_FAILED;
  search_params(p, &sr.sp);
  point_frames(c, p, &sr.fr);
  sr.flows = (unsigned)p->flows * (p->topo == IOV_TOPO_HOST_HOST ? 1 : (unsigned)p->vms);
  if (!sr.flows) sr.flows = 1;
  sr.line_bps = p->line_rate > 0 ? (double)p->line_rate : inventory_line_bps(c, p);
  if (sr.sp.max_bps <= 0) sr.sp.max_bps = sr.line_bps;
  if (sr.sp.max_bps <= 0) {
    snprintf(why, sizeof(why), "search_max is 0 and the line rate is unknown: set search_max or line_rate");
    return iov__point_store_failed(c, pp, (*next_idx)++, rep, why);
  }
  r = iov_search_new(&sr.sp, &sr.s, err, sizeof(err));
  if (r == -EINVAL) return iov__point_store_failed(c, pp, (*next_idx)++, rep, err);
  if (r < 0) return iov_log_errno(r, "Cannot start the search of test point %u: %m", pp->index + 1);
  sr.info = calloc(sr.sp.max_trials + 1, sizeof(*sr.info));
  if (!sr.info) {
    r = -ENOMEM;
    goto out;
  }

  /* Resume: the trials stored before, fed in order. */
  r = iov_db_trials_read(c->db, c->db_run, (int)pp->index, (int)rep, stored_trial, &sr, err, sizeof(err));
  if (r < 0) {
    iov_log_errno(r, "Cannot read back the search trials of test point %u: %s", pp->index + 1, err);
    goto out;
  }
  if (sr.fed && !c->cfg->quiet)
    iov_notice("test point %u: the search goes on after its %u stored trials", pp->index + 1, sr.fed);

  uint64_t t0 = iov_now_mono();
  struct iov_search_trial t;
  while (iov_search_next(sr.s, &t) == 1) {
    double loss = 1;
    r = run_trial(&sr, &t, next_idx, ret_status, &loss);
    if (r < 0 || *ret_status != IOV_POINT_OK) {
      if (r >= 0) *ret_status = IOV_POINT_FAILED;
      goto out;
    }
    r = iov_search_feed(sr.s, &t, loss);
    if (r < 0) {
      iov_log_errno(r, "search of test point %u: trial %u not taken: %m", pp->index + 1, t.seq);
      goto out;
    }
  }
  r = finish(&sr, next_idx, iov_now_mono() - t0, ret_status);

out:
  free(sr.info);
  iov_search_free(sr.s);
  return r;
}
