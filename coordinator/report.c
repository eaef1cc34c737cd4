/* Reports from a stored run: summaries computed from the database only,
 * printed as a text table or as JSON.  See report.h.  The rows come from
 * the results module's read API (results.h), which alone knows the
 * schema; what is done with them, and the cleaning of every text they
 * carry, is here. */
#include "report.h"

#include "text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "err.h"
#include "frame.h"
#include "hist.h"
#include "macro.h"
#include "parse.h"

/* Jain's fairness index of n shares with sum and sum of squares. */
static double jain(double n, double sum, double sum_sq) {
  return n > 0 && sum_sq > 0 ? sum * sum / (n * sum_sq) : NAN;
}

/* Names, statuses and errors as every output shows them: the database may
 * come from anyone, so what is not printable text is made so here, once
 * (iov_text_clean()), and a string is cut to STORED_TEXT_MAX code points.
 * NULL stays NULL. */
#define STORED_TEXT_MAX 8192
static int text_copy(const char *t, char **ret) {
  if (!t) {
    *ret = NULL;
    return 0;
  }
  *ret = iov_text_clean(t, STORED_TEXT_MAX);
  return *ret ? 0 : -ENOMEM;
}

/* Copy as stored (params_json: parsed, never printed as is); NULL stays
 * NULL. */
static int raw_copy(const char *t, char **ret) {
  if (!t) {
    *ret = NULL;
    return 0;
  }
  *ret = strdup(t);
  return *ret ? 0 : -ENOMEM;
}

struct bins_ctx {
  struct iov_point_summary *p;
  size_t cap;
  bool rr;
};

static int bin_add(const struct iov_db_bin_row *row, void *userdata) {
  struct bins_ctx *c = userdata;
  struct iov_point_summary *p = c->p;

  if (p->n_bins == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 16;
    struct iov_point_bin *nb = reallocarray(p->bins, ncap, sizeof(*nb));
    if (!nb) return -ENOMEM;
    p->bins = nb;
    c->cap = ncap;
  }
  struct iov_point_bin *b = &p->bins[p->n_bins++];
  b->seq = row->seq;
  b->t_start_ns = row->t_start_ns;
  b->t_end_ns = row->t_end_ns;
  b->bytes = row->bytes;
  b->transactions = row->transactions;
  b->flows = row->flows;
  b->fairness = jain(b->flows, c->rr ? (double)b->transactions : (double)b->bytes,
                     c->rr ? row->transactions_sq : row->bytes_sq);
  return 0;
}

/* Bins and fairness of one point.  Streams are judged by what their
 * receivers got, request/response by what their clients completed. */
static int point_bins(struct iov_db *db, struct iov_point_summary *p, char *err, size_t errlen) {
  bool rr = p->has_latency || p->transactions > 0;
  const char *role = rr ? "sender" : "receiver";
  struct iov_db_fair_sum f;
  struct bins_ctx c = { .p = p, .rr = rr };

  p->fairness = NAN;
  /* Without the sums there is no index, and the rest of the point stands. */
  if (iov_db_fair_read(db, p->point, role, &f, NULL, 0) >= 0 && f.n > 0)
    p->fairness = jain((double)f.n, rr ? f.transactions : f.bytes, rr ? f.transactions_sq : f.bytes_sq);
  return iov_db_bins_read(db, p->point, role, bin_add, &c, err, errlen);
}

static void summary_done(struct iov_point_summary *p) {
  for (size_t i = 0; i < p->n_links; i++) {
    free(p->links[i].sender);
    free(p->links[i].receiver);
    free(p->links[i].sender_host);
    free(p->links[i].bin_bytes);
    free(p->links[i].bin_transactions);
  }
  free(p->links);
  for (size_t i = 0; i < p->n_vm_cpu; i++) {
    free(p->vm_cpu[i].agent);
    free(p->vm_cpu[i].role);
  }
  free(p->vm_cpu);
  for (size_t i = 0; i < p->n_hosts; i++) {
    free(p->hosts[i].host);
    free(p->hosts[i].bin_bytes);
    free(p->hosts[i].bin_transactions);
  }
  free(p->hosts);
  free(p->topology);
  free(p->path);
  free(p->params_json);
  free(p->bins);
  free(p->test);
  free(p->sweep);
  free(p->workload);
  free(p->status);
  free(p->error);
}

struct iov_report *iov_report_free(struct iov_report *r) {
  if (!r) return NULL;
  for (size_t i = 0; i < r->n_points; i++) summary_done(&r->points[i]);
  free(r->points);
  free(r->conf);
  free(r->searches);
  free(r->trials);
  free(r->uuid);
  free(r->plan_path);
  free(r->status);
  free(r->error);
  free(r);
  return NULL;
}

/* Earliest start and latest end over a set of flow results.  A result
 * with no start (the flow never ran) or an end before its start says
 * nothing about the window and is left out. */
struct window {
  bool any;
  uint64_t start, end;
};

static void window_add(struct window *w, uint64_t start, uint64_t end) {
  if (start == 0 || end < start) return;
  if (!w->any || start < w->start) w->start = start;
  if (!w->any || end > w->end) w->end = end;
  w->any = true;
}

static void latency_none(struct iov_point_summary *p) {
  p->pps_tx = p->pps_rx = p->segs_ps = NAN;
  p->frame_bytes = p->frame_pps = p->wire_gbps = p->line_bps = p->line_pct = NAN;
  p->lat_count = 0;
  p->lat_mean_us = p->lat_p50_us = p->lat_p90_us = p->lat_p99_us = p->lat_p999_us = p->lat_max_us = NAN;
  p->loss_pct = p->jitter_us = NAN;
  p->cpu_tx_pct = p->cpu_rx_pct = NAN;
  p->sd_tx_us_per_kb = p->sd_rx_us_per_kb = p->sd_tx_us_per_trans = p->sd_rx_us_per_trans = NAN;
}

/* CPU use and service demand of both sides, once bytes and transactions
 * are known: busy CPU ns and percent of each side's machine over the
 * window. */
static int point_cpu(struct iov_db *db, struct iov_point_summary *p, char *err, size_t errlen) {
  static const char *const roles[2] = { "sender", "receiver" };
  double *pct[2] = { &p->cpu_tx_pct, &p->cpu_rx_pct };
  double *kb[2] = { &p->sd_tx_us_per_kb, &p->sd_rx_us_per_kb };
  double *tr[2] = { &p->sd_tx_us_per_trans, &p->sd_rx_us_per_trans };
  uint64_t bytes = p->rx_bytes ? p->rx_bytes : p->tx_bytes;

  for (int i = 0; i < 2; i++) {
    struct iov_db_cpu_sum c;
    int r = iov_db_side_cpu_read(db, p->point, roles[i], &c, err, errlen);
    if (r < 0) return r;
    if (!c.known) continue;
    *pct[i] = c.total_ns > 0 ? c.busy_ns / c.total_ns * 100.0 : NAN;
    if (isnan(c.busy_ns)) continue;
    if (bytes) *kb[i] = c.busy_ns / 1e3 / ((double)bytes / 1024.0);
    if (p->transactions) *tr[i] = c.busy_ns / 1e3 / (double)p->transactions;
  }
  return 0;
}

/* What point_compute() gathers from the flows of one point.  merged and h
 * are scratch histograms. */
struct flows_ctx {
  struct iov_db *db;
  struct iov_point_summary *p;
  struct iov_hist *merged, *h;
  struct window rx, tx;
  bool first;
  uint64_t rx_lost, tx_lost;
  double jitter;
  char *err;
  size_t errlen;
};

static int flow_add(const struct iov_db_flow_row *f, void *userdata) {
  struct flows_ctx *c = userdata;
  struct iov_point_summary *p = c->p;
  bool sender = f->role && strcmp(f->role, "sender") == 0;
  int r;

  if (c->first || f->samples < p->samples_min) p->samples_min = f->samples;
  if (c->first || f->samples > p->samples_max) p->samples_max = f->samples;
  c->first = false;

  if (sender) {
    p->flows++;
    /* Only the sender (RR client) times transactions; a flow that
     * stored no histogram simply adds nothing. */
    r = iov_db_hist_load(c->db, f->id, 0, c->h, c->err, c->errlen);
    if (r >= 0) {
      iov_hist_merge(c->merged, c->h);
      p->has_latency = true;
    } else if (r != -ENOENT)
      return r;
  }
  if (!f->has_result) return 0;
  if (!f->complete) p->incomplete_flows++;
  p->retransmits += f->retransmits;
  if (sender) {
    p->tx_bytes += f->bytes;
    p->tx_messages += f->messages;
    p->segs_out += f->segs_out;
    p->segs_in += f->segs_in;
    p->transactions += f->transactions;
    c->tx_lost += f->lost;
    window_add(&c->tx, f->t_start_ns, f->t_end_ns);
  } else {
    p->rx_bytes += f->bytes;
    p->rx_messages += f->messages;
    c->rx_lost += f->lost;
    p->out_of_order += f->out_of_order;
    p->duplicates += f->duplicates;
    double j = (double)f->jitter_ns / 1e3;
    if (f->jitter_ns && (isnan(c->jitter) || j > c->jitter)) c->jitter = j;
    window_add(&c->rx, f->t_start_ns, f->t_end_ns);
  }
  return 0;
}

/* Fill the numbers of one point from its flows.  merged and h are
 * scratch histograms. */
static int point_compute(struct iov_db *db, struct iov_point_summary *p, struct iov_hist *merged,
                         struct iov_hist *h, char *err, size_t errlen) {
  struct flows_ctx c = {
    .db = db,
    .p = p,
    .merged = merged,
    .h = h,
    .first = true,
    .jitter = NAN,
    .err = err,
    .errlen = errlen,
  };
  struct window *w;
  int r;

  latency_none(p);
  iov_hist_init(merged);
  r = iov_db_flows_read(db, p->point, flow_add, &c, err, errlen);
  if (r < 0) return r;

  /* Loss: a stream receiver counts datagrams that never came; an RR
   * client counts transactions that were never answered. */
  if (c.rx_lost || (p->rx_messages && !p->has_latency && p->workload && strstr(p->workload, "udp"))) {
    p->lost = c.rx_lost;
    p->loss_pct = (double)c.rx_lost / (double)(p->rx_messages + c.rx_lost) * 100.0;
  } else if (c.tx_lost || (p->has_latency && p->workload && strstr(p->workload, "udp"))) {
    p->lost = c.tx_lost;
    if (p->transactions + c.tx_lost)
      p->loss_pct = (double)c.tx_lost / (double)(p->transactions + c.tx_lost) * 100.0;
  }
  p->jitter_us = c.jitter;

  /* Bytes are counted where they arrive, over the receiver's window;
   * transactions where they are timed, over the sender's (an RR server
   * has no end of its own to report: a UDP one lingers after the window). */
  w = c.rx.any ? &c.rx : &c.tx;
  p->window_s = w->any ? (double)(w->end - w->start) / 1e9 : 0.0;
  p->gbps = p->window_s > 0 ? (double)p->rx_bytes * 8.0 / p->window_s / 1e9 : 0.0;
  if (p->transactions) {
    w = c.tx.any ? &c.tx : &c.rx;
    double tw = w->any ? (double)(w->end - w->start) / 1e9 : 0.0;
    p->tps = tw > 0 ? (double)p->transactions / tw : 0.0;
    if (p->has_latency || !c.rx.any) p->window_s = tw;
  } else
    p->tps = 0.0;
  p->tx_window_s = c.tx.any ? (double)(c.tx.end - c.tx.start) / 1e9 : 0.0;

  if (merged->count > 0) {
    p->lat_count = merged->count;
    p->lat_mean_us = iov_hist_mean(merged) / 1e3;
    p->lat_p50_us = (double)iov_hist_percentile(merged, 50.0) / 1e3;
    p->lat_p90_us = (double)iov_hist_percentile(merged, 90.0) / 1e3;
    p->lat_p99_us = (double)iov_hist_percentile(merged, 99.0) / 1e3;
    p->lat_p999_us = (double)iov_hist_percentile(merged, 99.9) / 1e3;
    p->lat_max_us = (double)merged->max / 1e3;
  }
  return 0;
}

struct points_ctx {
  struct iov_report *rep;
  size_t cap;
};

/* Append one stored point to rep->points. */
static int point_add(const struct iov_db_point_row *row, void *userdata) {
  struct points_ctx *c = userdata;
  struct iov_report *rep = c->rep;
  struct iov_point_summary *p;
  int r = 0;

  if (rep->n_points == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 16;
    struct iov_point_summary *np = reallocarray(rep->points, ncap, sizeof(*np));
    if (!np) return -ENOMEM;
    rep->points = np;
    c->cap = ncap;
  }
  p = &rep->points[rep->n_points];
  memset(p, 0, sizeof(*p));
  /* Counted before the strings, so that iov_report_free() frees the ones
   * that were copied if a later one fails. */
  rep->n_points++;
  p->point = row->id;
  p->idx = row->idx;
  p->duration_ns = row->duration_ns;
  p->warmup_ns = row->warmup_ns;
  p->window_start_ns = row->window_start_ns;
  p->window_end_ns = row->window_end_ns;
  p->start_skew_us = row->has_skew ? (double)row->start_skew_ns / 1e3 : NAN;
  if (text_copy(row->test, &p->test) < 0 || text_copy(row->sweep, &p->sweep) < 0 ||
      text_copy(row->workload, &p->workload) < 0 || text_copy(row->status, &p->status) < 0 ||
      text_copy(row->error, &p->error) < 0 || text_copy(row->topology, &p->topology) < 0 ||
      text_copy(row->path, &p->path) < 0)
    r = -ENOMEM;
  p->samples_missing = row->samples_missing;
  p->vms = row->vms;
  p->point_no = row->point_no;
  p->rep = row->rep;
  p->msg_size = row->msg_size;
  p->response_size = row->response_size;
  if (r == 0 && raw_copy(row->params_json, &p->params_json) < 0) r = -ENOMEM;
  /* The plan's "auto" is what it became: native between hosts, the
   * registered guests as they are otherwise. */
  if (r == 0 && p->path && strcmp(p->path, "auto") == 0) {
    free(p->path);
    p->path = strdup(p->topology && strcmp(p->topology, "host-host") != 0 ? "existing" : "native");
    if (!p->path) r = -ENOMEM;
  }
  return r;
}

static struct iov_link_summary *link_get(struct iov_point_summary *p, unsigned link, size_t *cap) {
  if (p->n_links && p->links[p->n_links - 1].link == link) return &p->links[p->n_links - 1];
  for (size_t i = 0; i < p->n_links; i++)
    if (p->links[i].link == link) return &p->links[i];
  if (p->n_links == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    struct iov_link_summary *n = reallocarray(p->links, ncap, sizeof(*n));
    if (!n) return NULL;
    p->links = n;
    *cap = ncap;
  }
  struct iov_link_summary *l = &p->links[p->n_links++];
  memset(l, 0, sizeof(*l));
  l->link = link;
  return l;
}

struct links_ctx {
  struct iov_point_summary *p;
  size_t cap;
};

static int link_add(const struct iov_db_link_row *row, void *userdata) {
  struct links_ctx *c = userdata;
  struct iov_link_summary *l = link_get(c->p, row->link, &c->cap);

  if (!l) return -ENOMEM;
  if (row->role && strcmp(row->role, "sender") == 0) {
    l->transactions = row->transactions;
    if (text_copy(row->agent, &l->sender) < 0 || text_copy(row->host, &l->sender_host) < 0) return -ENOMEM;
  } else {
    l->rx_bytes = row->bytes;
    if (text_copy(row->agent, &l->receiver) < 0) return -ENOMEM;
  }
  return 0;
}

static int link_bin_add(const struct iov_db_link_bin_row *row, void *userdata) {
  struct links_ctx *c = userdata;
  struct iov_link_summary *l = link_get(c->p, row->link, &c->cap);
  uint64_t seq = row->seq;

  if (!l) return -ENOMEM;
  if (seq == 0 || seq > 10000000) return 0;
  if (seq > l->n_bins) {
    uint64_t *b = reallocarray(l->bin_bytes, seq, sizeof(*b));
    if (b) l->bin_bytes = b;
    uint64_t *t = reallocarray(l->bin_transactions, seq, sizeof(*t));
    if (t) l->bin_transactions = t;
    if (!b || !t) return -ENOMEM;
    for (size_t i = l->n_bins; i < seq; i++) l->bin_bytes[i] = l->bin_transactions[i] = 0;
    l->n_bins = seq;
  }
  l->bin_bytes[seq - 1] = row->bytes;
  l->bin_transactions[seq - 1] = row->transactions;
  return 0;
}

/* Per link (VM) and per host: what each got of the point, in the point's
 * window; their spread and Jain's index across links. */
static int point_links(struct iov_db *db, struct iov_point_summary *p, char *err, size_t errlen) {
  bool rr = p->has_latency || p->transactions > 0;
  struct links_ctx c = { .p = p };
  size_t hcap = 0;
  int r;

  p->link_mean = p->link_min = p->link_max = p->link_fairness = NAN;
  r = iov_db_links_read(db, p->point, link_add, &c, err, errlen);
  if (r < 0) return r;
  /* The time series of each link. */
  r = iov_db_link_bins_read(db, p->point, rr ? "sender" : "receiver", link_bin_add, &c, err, errlen);
  if (r < 0) return r;

  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < p->n_links; i++) {
    struct iov_link_summary *l = &p->links[i];
    l->gbps = p->window_s > 0 ? (double)l->rx_bytes * 8.0 / p->window_s / 1e9 : NAN;
    l->tps = p->window_s > 0 ? (double)l->transactions / p->window_s : NAN;
    double v = rr ? l->tps : l->gbps;
    if (isnan(v)) continue;
    sum += v;
    sum_sq += v * v;
    if (isnan(p->link_min) || v < p->link_min) p->link_min = v;
    if (isnan(p->link_max) || v > p->link_max) p->link_max = v;
    /* Sum per host, in order of first appearance. */
    const char *host = l->sender_host ? l->sender_host : "?";
    struct iov_host_summary *h = NULL;
    for (size_t j = 0; j < p->n_hosts && !h; j++)
      if (strcmp(p->hosts[j].host, host) == 0) h = &p->hosts[j];
    if (!h) {
      if (p->n_hosts == hcap) {
        size_t ncap = hcap ? hcap * 2 : 4;
        struct iov_host_summary *n = reallocarray(p->hosts, ncap, sizeof(*n));
        if (!n) return -ENOMEM;
        p->hosts = n;
        hcap = ncap;
      }
      h = &p->hosts[p->n_hosts];
      memset(h, 0, sizeof(*h));
      if (!(h->host = strdup(host))) return -ENOMEM;
      p->n_hosts++;
    }
    h->links++;
    h->gbps += isnan(l->gbps) ? 0 : l->gbps;
    h->tps += isnan(l->tps) ? 0 : l->tps;
    if (l->n_bins > h->n_bins) {
      uint64_t *b = reallocarray(h->bin_bytes, l->n_bins, sizeof(*b));
      if (b) h->bin_bytes = b;
      uint64_t *t = reallocarray(h->bin_transactions, l->n_bins, sizeof(*t));
      if (t) h->bin_transactions = t;
      if (!b || !t) return -ENOMEM;
      for (size_t k = h->n_bins; k < l->n_bins; k++) h->bin_bytes[k] = h->bin_transactions[k] = 0;
      h->n_bins = l->n_bins;
    }
    for (size_t k = 0; k < l->n_bins; k++) {
      h->bin_bytes[k] += l->bin_bytes[k];
      h->bin_transactions[k] += l->bin_transactions[k];
    }
  }
  if (p->n_links && !isnan(p->link_min)) p->link_mean = sum / (double)p->n_links;
  if (p->n_links >= 2) p->link_fairness = jain((double)p->n_links, sum, sum_sq);
  return 0;
}

static double per(uint64_t ns, uint64_t units, double scale) {
  return units ? (double)ns / 1e3 / ((double)units / scale) : NAN;
}

struct vm_cpu_ctx {
  struct iov_point_summary *p;
  size_t cap;
};

static int vm_cpu_add(const struct iov_db_vm_cpu_row *row, void *userdata) {
  struct vm_cpu_ctx *c = userdata;
  struct iov_point_summary *p = c->p;

  if (p->n_vm_cpu == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 8;
    struct iov_vm_cpu_summary *n = reallocarray(p->vm_cpu, ncap, sizeof(*n));
    if (!n) return -ENOMEM;
    p->vm_cpu = n;
    c->cap = ncap;
  }
  struct iov_vm_cpu_summary *v = &p->vm_cpu[p->n_vm_cpu++];
  memset(v, 0, sizeof(*v));
  if (text_copy(row->agent, &v->agent) < 0 || text_copy(row->role, &v->role) < 0) return -ENOMEM;
  v->intervals = row->intervals;
  v->host_ns = row->host_ns;
  v->vcpu_ns = row->vcpu_ns;
  v->io_ns = row->io_ns;
  v->vhost_ns = row->vhost_ns;
  v->kvm_exits = row->kvm_exits;
  v->kvm_exits_known = row->kvm_exits_rows == v->intervals;
  v->guest_ns = row->guest_ns;
  v->bytes = row->bytes;
  v->transactions = row->transactions;
  v->guest_us_per_kb = per(v->guest_ns, v->bytes, 1024.0);
  v->host_us_per_kb = per(v->host_ns, v->bytes, 1024.0);
  v->total_us_per_kb = per(v->guest_ns + v->host_ns, v->bytes, 1024.0);
  v->guest_us_per_trans = per(v->guest_ns, v->transactions, 1.0);
  v->host_us_per_trans = per(v->host_ns, v->transactions, 1.0);
  v->total_us_per_trans = per(v->guest_ns + v->host_ns, v->transactions, 1.0);
  return 0;
}

/* ---- Packet rates, frames and the line rate ------------------------------
 *
 * Everything here comes from a results.db that may come from anyone: a
 * value that is not a plausible size or rate leaves the figure unknown
 * (NaN, printed "-"), never a bogus one. */

/* The highest line rate taken as real: 10 Tbit/s. */
#define LINE_BPS_MAX 1e13

/* Above 1e11 packets/s (ten times 64-byte frames at 10 Tbit/s) a rate
 * is not a measurement: a window of a few ns, or counts made up. */
static double plausible_pps(double v) { return isfinite(v) && v >= 0 && v <= 1e11 ? v : NAN; }

/* The address family of an IP literal ("198.18.0.1", "fd00::1",
 * "[fd00::1]", with or without "/prefix"): 4, 6, or 0. */
static int literal_family(const char *s, size_t n) {
  char buf[INET6_ADDRSTRLEN + 1];
  unsigned char a[sizeof(struct in6_addr)];

  if (n && s[0] == '[' && s[n - 1] == ']') {
    s++;
    n -= 2;
  }
  if (n == 0 || n >= sizeof(buf)) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *slash = strchr(buf, '/');
  if (slash) *slash = '\0';
  if (inet_pton(AF_INET, buf, a) == 1) return 4;
  if (inet_pton(AF_INET6, buf, a) == 1) return 6;
  return 0;
}

/* The host part of "tcp://HOST:PORT" into *ret (pointer into s) and its
 * length; false for any other endpoint. */
static bool endpoint_host(const char *s, const char **ret, size_t *ret_n) {
  if (!s || strncmp(s, "tcp://", 6) != 0) return false;
  s += 6;
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s) return false;
  *ret = s;
  *ret_n = (size_t)(colon - s);
  return true;
}

/* The interface of an inventory that carries the agent's data: the
 * point's 'interface' when set, else the one holding the endpoint's
 * address, else the only interface that is up, not loopback and has
 * addresses.  NULL if none is known. */
static json_t *data_interface(json_t *inv, const char *iface, const char *endpoint) {
  json_t *ifs = json_object_get(inv, "interfaces"), *it, *only = NULL;
  const char *host = NULL;
  size_t host_n = 0, i, candidates = 0;

  if (!json_is_array(ifs)) return NULL;
  bool by_host = endpoint_host(endpoint, &host, &host_n);
  json_array_foreach(ifs, i, it) {
    const char *name = json_string_value(json_object_get(it, "name"));
    json_t *addrs = json_object_get(it, "addresses"), *a;
    size_t k;
    if (!json_is_object(it)) continue;
    if (iface && name && strcmp(iface, name) == 0) return it;
    if (iface) continue;
    if (by_host && json_is_array(addrs)) {
      json_array_foreach(addrs, k, a) {
        const char *t = json_string_value(a);
        size_t tn = t ? strcspn(t, "/") : 0;
        if (t && tn == host_n && memcmp(t, host, tn) == 0) return it;
      }
    }
    if (json_is_true(json_object_get(it, "loopback")) || !json_is_true(json_object_get(it, "up")) ||
        !json_is_array(addrs) || json_array_size(addrs) == 0)
      continue;
    candidates++;
    only = it;
  }
  return candidates == 1 ? only : NULL;
}

/* The family of an interface's addresses: 4 with IPv4 ones and no
 * global IPv6, 6 with global IPv6 ones only, else 0. */
static int interface_family(json_t *it) {
  json_t *addrs = json_object_get(it, "addresses"), *a;
  bool v4 = false, v6 = false;
  size_t k;

  if (!json_is_array(addrs)) return 0;
  json_array_foreach(addrs, k, a) {
    const char *t = json_string_value(a);
    int fam = t ? literal_family(t, strlen(t)) : 0;
    if (fam == 4) v4 = true;
    if (fam == 6 && strncasecmp(t, "fe80", 4) != 0) v6 = true;
  }
  return v4 && !v6 ? 4 : v6 && !v4 ? 6 : 0;
}

struct agents_ctx {
  const char *iface; /* the point's 'interface', NULL: not bound */
  bool sender_done, receiver_done;
  int family;
  double speed_bps; /* NaN: unknown */
};

/* The first sender gives the line rate (its data interface's speed) and
 * the family; the first receiver's endpoint the family if the sender
 * did not tell. */
static int agent_seen(const struct iov_db_point_agent_row *row, void *userdata) {
  struct agents_ctx *c = userdata;
  bool sender = row->role && strcmp(row->role, "sender") == 0;
  const char *host;
  size_t host_n;

  if (sender ? c->sender_done : c->receiver_done) return 0;
  if (sender)
    c->sender_done = true;
  else
    c->receiver_done = true;
  if (!c->family && endpoint_host(row->endpoint, &host, &host_n)) c->family = literal_family(host, host_n);
  /* coord's own local hosts (ipc://) carry data over IPv4: loopback or
   * the 198.18.0.0/15 fabric coord made. */
  if (!c->family && row->endpoint && strncmp(row->endpoint, "ipc://", 6) == 0) c->family = 4;
  if (!sender || !row->inventory_json) return 0;
  json_t *inv = json_loads(row->inventory_json, 0, NULL);
  json_t *it = inv ? data_interface(inv, c->iface, row->endpoint) : NULL;
  if (it) {
    json_t *sp = json_object_get(it, "speed_mbps");
    double mbps = json_is_integer(sp) ? (double)json_integer_value(sp)
                  : json_is_real(sp)  ? json_real_value(sp)
                                      : NAN;
    if (isfinite(mbps) && mbps > 0 && mbps * 1e6 <= LINE_BPS_MAX) c->speed_bps = mbps * 1e6;
    if (!c->family) c->family = interface_family(it);
  }
  json_decref(inv);
  return 0;
}

/* A setting of the point's parameters as text or as a number. */
static bool param_u64(json_t *params, const char *key, int (*parse)(const char *, uint64_t *),
                      uint64_t *ret) {
  json_t *v = json_object_get(params, key);
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *ret = (uint64_t)json_integer_value(v);
    return true;
  }
  return json_is_string(v) && parse(json_string_value(v), ret) == 0;
}

static int frame_parse_quiet(const char *s, uint64_t *ret) { return iov_frame_parse(s, ret, NULL, 0); }

/* Packet and frame rates of one point (see struct iov_point_summary). */
static int point_rates(struct iov_db *db, struct iov_point_summary *p, char *err, size_t errlen) {
  bool udp = p->workload && strncmp(p->workload, "udp", 3) == 0;
  bool tcp = p->workload && strncmp(p->workload, "tcp", 3) == 0;
  double rx_w = p->window_s, tx_w = p->tx_window_s;
  json_t *params = p->params_json ? json_loads(p->params_json, 0, NULL) : NULL;
  uint64_t frame = 0, line = 0;
  const char *iface = json_string_value(json_object_get(params, "interface"));
  int r = 0;

  if (udp) {
    if (tx_w > 0) p->pps_tx = plausible_pps((double)p->tx_messages / tx_w);
    /* An RR point's window is its senders': the receivers' count is
     * taken over the same. */
    if (rx_w > 0 && !p->has_latency) p->pps_rx = plausible_pps((double)p->rx_messages / rx_w);
  }
  p->segs_known = tcp && iov_db_schema_version(db) >= 7;
  if (p->segs_known && tx_w > 0) p->segs_ps = plausible_pps((double)p->segs_out / tx_w);

  struct agents_ctx ac = { .iface = iface && strcmp(iface, "none") != 0 ? iface : NULL, .speed_bps = NAN };
  if (udp || tcp) r = iov_db_point_agents_read(db, p->point, agent_seen, &ac, err, errlen);
  p->family = ac.family;
  if (param_u64(params, "line_rate", iov_parse_rate, &line) && line > 0 && (double)line <= LINE_BPS_MAX)
    p->line_bps = (double)line;
  else
    p->line_bps = ac.speed_bps;

  /* The frame: udp_stream's frame_size, else one datagram of msg_size in
   * one frame (none larger than a standard 1500-byte MTU is assumed). */
  if (udp && !p->has_latency) {
    if (param_u64(params, "frame_size", frame_parse_quiet, &frame) && frame && iov_frame_valid(frame)) {
      p->frame_size = frame;
      p->frame_bytes = iov_frame_mean(frame);
    } else if (p->family && p->msg_size > 0 && p->msg_size <= 1500) {
      unsigned f = iov_frame_min(p->family == 6 ? AF_INET6 : AF_INET, (unsigned)p->msg_size);
      /* The IP packet (the frame without Ethernet header and FCS) fits. */
      if (f - IOV_FRAME_ETH_HDR - IOV_FRAME_FCS <= 1500) p->frame_bytes = f;
    }
  }
  if (isfinite(p->frame_bytes) && p->frame_bytes > 0 && isfinite(p->pps_rx)) {
    p->frame_pps = p->pps_rx;
    p->wire_gbps = (p->frame_bytes + IOV_FRAME_L1_OVERHEAD) * 8.0 * p->frame_pps / 1e9;
    if (isfinite(p->line_bps) && p->line_bps > 0) p->line_pct = p->wire_gbps * 1e9 / p->line_bps * 100.0;
  }
  json_decref(params);
  return r;
}

struct run_ctx {
  struct iov_report *rep;
  int64_t id;
};

static int run_add(const struct iov_db_run_row *row, void *userdata) {
  struct run_ctx *c = userdata;
  struct iov_report *rep = c->rep;

  c->id = row->id;
  rep->started_ns = row->started_ns;
  rep->ended_ns = row->ended_ns;
  if (text_copy(row->uuid, &rep->uuid) < 0 || text_copy(row->plan_path, &rep->plan_path) < 0 ||
      text_copy(row->status, &rep->status) < 0 || text_copy(row->error, &rep->error) < 0)
    return -ENOMEM;
  return 0;
}

static int confidence_add(const struct iov_db_confidence_row *row, void *userdata) {
  struct iov_report *rep = userdata;
  struct iov_confidence *n = reallocarray(rep->conf, rep->n_conf + 1, sizeof(*n));

  if (!n) return -ENOMEM;
  rep->conf = n;
  n[rep->n_conf++] = (struct iov_confidence){
    .point_no = row->point_no,
    .level = row->level,
    .width = row->width,
    .runs = row->runs,
    .mean = row->mean,
    .half = row->half,
    .reached = row->reached,
  };
  return 0;
}

/* A stored rate, NaN unless finite and not negative. */
static double stored_rate(double v) { return isfinite(v) && v >= 0 ? v : NAN; }

/* Searches of one plan point, or of all (only_point_no < 0). */
struct searches_ctx {
  struct iov_report *rep;
  int64_t only_point_no;
};

static int search_add(void *arg, const struct iov_db_search *s) {
  const struct searches_ctx *sc = arg;
  struct iov_report *rep = sc->rep;
  if (sc->only_point_no >= 0 && s->point_no != sc->only_point_no) return 0;
  struct iov_search_summary *n = reallocarray(rep->searches, rep->n_searches + 1, sizeof(*n));

  if (!n) return -ENOMEM;
  rep->searches = n;
  n[rep->n_searches++] = (struct iov_search_summary){
    .point_no = s->point_no,
    .rep = s->rep,
    .pdr = s->kind && strcmp(s->kind, "pdr") == 0,
    .converged = s->converged,
    .rate_pps = stored_rate(s->rate_pps),
    .rate_bps = stored_rate(s->rate_bps),
    .wire_bps = stored_rate(s->wire_bps),
    .line_pct = stored_rate(s->line_pct),
    .frame_mean = isfinite(s->frame_mean) && s->frame_mean >= IOV_FRAME_MIN && s->frame_mean <= IOV_FRAME_MAX
                      ? s->frame_mean
                      : NAN,
    .loss = isfinite(s->loss) && s->loss >= 0 && s->loss <= 1 ? s->loss : NAN,
    .trials = s->trials,
    .seconds = stored_rate(s->seconds),
    .point_id = s->point_id,
  };
  return 0;
}

/* At most this many trials are kept: a search stops at 1000. */
#define TRIALS_MAX 1000000

static int trial_add(void *arg, const struct iov_db_trial *t) {
  struct iov_report *rep = arg;

  if (rep->n_trials >= TRIALS_MAX) return 0;
  /* Room doubles at each power of two (rows come one at a time). */
  if ((rep->n_trials & (rep->n_trials - 1)) == 0) {
    struct iov_db_trial *m = reallocarray(rep->trials, rep->n_trials ? rep->n_trials * 2 : 1, sizeof(*m));
    if (!m) return -ENOMEM;
    rep->trials = m;
  }
  struct iov_db_trial *n = rep->trials;
  n[rep->n_trials] = *t;
  n[rep->n_trials].offered_pps = stored_rate(t->offered_pps);
  n[rep->n_trials].offered_wire_bps = stored_rate(t->offered_wire_bps);
  rep->n_trials++;
  return 0;
}

static int report_read(struct iov_db *db, struct iov_report *rep, int64_t only_point_no, char *err,
                       size_t errlen) {
  struct points_ctx pc = { .rep = rep };
  struct run_ctx rc = { .rep = rep };
  struct iov_hist *merged = NULL, *h = NULL;
  int r;

  r = iov_db_run_read(db, run_add, &rc, err, errlen);
  if (r < 0) return r;
  r = iov_db_points_read(db, rc.id, only_point_no, point_add, &pc, err, errlen);
  if (r < 0) return r;
  r = iov_db_confidence_read(db, rc.id, confidence_add, rep, err, errlen);
  if (r < 0) return r;
  /* Of one point only, when that is what the caller loads (run.c's
   * confidence check, after every repetition). */
  struct searches_ctx sc = { rep, only_point_no };
  r = iov_db_searches_read(db, rc.id, search_add, &sc, err, errlen);
  if (r < 0) return r;
  r = iov_db_trials_read(db, rc.id, only_point_no >= 0 ? (int)only_point_no : -1, -1, trial_add, rep, err,
                         errlen);
  if (r < 0) return r;

  /* Two histograms of about 70 KiB each, reused for every point. */
  merged = malloc(sizeof(*merged));
  h = malloc(sizeof(*h));
  r = merged && h ? 0 : iov_errf(-ENOMEM, err, errlen, "out of memory");
  for (size_t i = 0; r >= 0 && i < rep->n_points; i++) {
    struct iov_point_summary *p = &rep->points[i];
    struct vm_cpu_ctx vc = { .p = p };
    r = point_compute(db, p, merged, h, err, errlen);
    if (r >= 0) r = point_cpu(db, p, err, errlen);
    if (r >= 0) r = point_bins(db, p, err, errlen);
    if (r >= 0) r = point_links(db, p, err, errlen);
    if (r >= 0) r = iov_db_vm_cpu_read(db, p->point, vm_cpu_add, &vc, err, errlen);
    if (r >= 0) r = point_rates(db, p, err, errlen);
  }
  free(merged);
  free(h);
  return r;
}

static int report_load(struct iov_db *db, int64_t only_point_no, struct iov_report **ret, char *err,
                       size_t errlen) {
  struct iov_report *rep;
  bool began;
  int r;

  if (!db || !ret) return iov_errf(-EINVAL, err, errlen, "no database");
  rep = calloc(1, sizeof(*rep));
  if (!rep) return iov_errf(-ENOMEM, err, errlen, "out of memory");
  /* One read transaction, so that a run being written meanwhile is read
   * as of one commit.  Inside a caller's transaction, that one serves. */
  r = iov_db_read_begin(db, &began, err, errlen);
  if (r >= 0) {
    r = report_read(db, rep, only_point_no, err, errlen);
    iov_db_read_end(db, began);
  }
  if (r < 0) {
    iov_report_free(rep);
    return r;
  }
  *ret = rep;
  return 0;
}

int iov_report_load(struct iov_db *db, struct iov_report **ret, char *err, size_t errlen) {
  return report_load(db, -1, ret, err, errlen);
}

int iov_report_load_point(struct iov_db *db, unsigned point_no, struct iov_report **ret, char *err,
                          size_t errlen) {
  return report_load(db, point_no, ret, err, errlen);
}

/* ---- text from a stored run, made safe to print ------------------------ */

/* The table.  Cells are written by code point, not by byte, so that a
 * non-ASCII name keeps the columns aligned; what is not printable text
 * becomes '?' (iov_text_clean()) so that a row stays one line. */

static size_t cp_count(const char *s) {
  size_t n = 0;

  for (const char *q = s; *q; q++)
    if (q == s || ((unsigned char)*q & 0xc0) != 0x80) n++;
  return n;
}

/* Start of code point i of s (counted as cp_count() does), or its end. */
static const char *cp_at(const char *s, size_t i) {
  size_t n = 0;
  const char *q;

  if (i == 0 || !*s) return s;
  for (q = s + 1; *q; q++)
    if (((unsigned char)*q & 0xc0) != 0x80 && ++n == i) return q;
  return q;
}

static void put_span(FILE *f, const char *b, const char *e) { fwrite(b, 1, (size_t)(e - b), f); }

/* Stored text of any length on one line: a failure's error is cut to this. */
#define TEXT_LINE_MAX 2000

static void put_str(FILE *f, const char *s) {
  if (s) iov_text_put(f, s, TEXT_LINE_MAX);
}

static void put_pad(FILE *f, size_t n) {
  while (n-- > 0) fputc(' ', f);
}

/* Write s in exactly width columns.  Too long a text loses its middle,
 * marked "..": sweeps differ at the end as often as at the start. */
static void put_cell(FILE *f, const char *raw, size_t width, bool right) {
  size_t n, head, tail;
  /* Enough of it to keep both ends: a cell is a few dozen columns. */
  _cleanup_free_ char *s = iov_text_clean(raw, 1u << 16);

  if (!s) return;
  n = cp_count(s);
  if (n <= width) {
    if (right) put_pad(f, width - n);
    put_str(f, s);
    if (!right) put_pad(f, width - n);
    return;
  }
  if (width < 6) {
    put_span(f, s, cp_at(s, width));
    return;
  }
  head = (width - 2 + 1) / 2;
  tail = width - 2 - head;
  put_span(f, s, cp_at(s, head));
  fputs("..", f);
  put_span(f, cp_at(s, n - tail), s + strlen(s));
}

void iov_text_cell(FILE *f, const char *s, size_t width, bool right) { put_cell(f, s, width, right); }

void iov_text_table(FILE *f, char *const *cells, size_t rows, size_t cols, const bool *right,
                    size_t max_width) {
  _cleanup_free_ size_t *w = calloc(cols ? cols : 1, sizeof(*w));
  if (!w) return;
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) {
      _cleanup_free_ char *t = iov_text_clean(cells[r * cols + c], max_width + 4);
      size_t n = t ? cp_count(t) : 0;
      if (n > w[c]) w[c] = n < max_width ? n : max_width;
    }
  for (size_t r = 0; r < rows; r++) {
    for (size_t c = 0; c < cols; c++) {
      const char *t = cells[r * cols + c];
      bool last = c + 1 == cols && !right[c];
      if (last && (!t || !*t)) break; /* no blanks at the end of the line */
      if (c) fputs("  ", f);
      if (!last)
        put_cell(f, t, w[c], right[c]);
      else
        put_str(f, t); /* the last column: as long as it is */
    }
    fputc('\n', f);
  }
}

/* A number with decimals, or "-" when not finite, into buf. */
static const char *num_cell(char *buf, size_t n, double v, int decimals) {
  if (isfinite(v))
    snprintf(buf, n, "%.*f", decimals, v);
  else
    snprintf(buf, n, "-");
  return buf;
}

static void put_num(FILE *f, bool show, double v, int decimals, size_t width) {
  char buf[64];

  fputc(' ', f);
  put_cell(f, show ? num_cell(buf, sizeof(buf), v, decimals) : "", width, true);
}

enum {
  W_IDX = 3,
  W_TEST = 14,
  W_SWEEP = 28,
  W_STATUS = 7,
  W_GBPS = 8,
  W_RUNS = 4,
  W_CI = 6,
  W_TPS = 10,
  W_MPPS = 7,
  W_LAT = 9,
  W_LOSS = 7,
  W_WIN = 8,
  W_RETR = 6,
  W_CPU = 9,
  W_SD = 11,
};

/* The first three cells of a row, each followed by a blank: the point's
 * number, test and sweep (or their headings). */
static void put_lead(FILE *f, const char *idx, const char *test, const char *sweep) {
  put_cell(f, idx, W_IDX, true);
  fputc(' ', f);
  put_cell(f, test, W_TEST, false);
  fputc(' ', f);
  put_cell(f, sweep, W_SWEEP, false);
  fputc(' ', f);
}

/* The packet rate of a point's one cell, in Mpps: UDP datagrams its
 * receivers got (its senders sent, for request/response), TCP segments
 * its senders sent; NaN where not known. */
static double point_mpps(const struct iov_point_summary *p) {
  double v = isfinite(p->pps_rx) ? p->pps_rx : isfinite(p->pps_tx) ? p->pps_tx : p->segs_ps;
  return v / 1e6;
}

/* Points with a packet rate: sent and received, the frame, the rate on
 * the wire and its share of the line. */
static void print_packet_table(const struct iov_report *r, FILE *f) {
  static const char *const head[] = { "#",       "test",       "sweep",       "sent Mpps",   "recv Mpps",
                                      "frame B", "frame Mpps", "wire Gbit/s", "line Gbit/s", "% line" };
  enum { COLS = ELEMENTSOF(head) };
  static const bool right[COLS] = { true, false, false, true, true, true, true, true, true, true };
  size_t rows = 0;
  for (size_t i = 0; i < r->n_points; i++) {
    const struct iov_point_summary *p = &r->points[i];
    rows += isfinite(p->pps_tx) || isfinite(p->pps_rx) || p->segs_known;
  }
  if (!rows) return;
  char **cells = calloc((rows + 1) * COLS, sizeof(*cells));
  char *buf = calloc((rows + 1) * COLS, 32);
  if (!cells || !buf) {
    free(cells);
    free(buf);
    return;
  }
  for (size_t c = 0; c < COLS; c++) cells[c] = (char *)head[c];
  size_t row = 1;
  for (size_t i = 0; i < r->n_points; i++) {
    const struct iov_point_summary *p = &r->points[i];
    if (!(isfinite(p->pps_tx) || isfinite(p->pps_rx) || p->segs_known)) continue;
    char **cr = &cells[row * COLS];
    char *b = &buf[row * COLS * 32];
    snprintf(b, 32, "%u", p->idx + 1);
    cr[0] = b;
    cr[1] = p->test;
    cr[2] = p->sweep;
    /* TCP: segments sent, and those that came back (ACKs). */
    bool tcp = p->segs_known;
    double tx = tcp ? p->segs_ps : p->pps_tx;
    double rx = tcp ? (p->tx_window_s > 0 ? (double)p->segs_in / p->tx_window_s : NAN) : p->pps_rx;
    cr[3] = (char *)num_cell(b + 32 * 3, 32, tx / 1e6, 3);
    cr[4] = (char *)num_cell(b + 32 * 4, 32, rx / 1e6, 3);
    cr[5] = (char *)num_cell(b + 32 * 5, 32, p->frame_bytes, 0);
    cr[6] = (char *)num_cell(b + 32 * 6, 32, p->frame_pps / 1e6, 3);
    cr[7] = (char *)num_cell(b + 32 * 7, 32, p->wire_gbps, 3);
    cr[8] = (char *)num_cell(b + 32 * 8, 32, p->line_bps / 1e9, 1);
    cr[9] = (char *)num_cell(b + 32 * 9, 32, p->line_pct, 2);
    row++;
  }
  fputs(
      "\npacket rate: UDP datagrams (TCP: segments out and in) per second; frame: Ethernet frame with FCS;\n"
      "wire: (frame + 20) * 8 bits per frame (preamble, SFD, inter-frame gap); line: plan line_rate, else "
      "the\n"
      "sender's NIC speed; \"-\": not known\n",
      f);
  iov_text_table(f, cells, rows + 1, COLS, right, 40);
  free(cells);
  free(buf);
}

/* Points of VM topologies: the aggregate and what each VM got. */
static void print_vm_table(const struct iov_report *r, FILE *f) {
  bool any = false;
  for (size_t i = 0; i < r->n_points; i++)
    any |= r->points[i].topology && strcmp(r->points[i].topology, "host-host") != 0;
  if (!any) return;
  fputs("\nper VM: each VM's (VM pair's) share of the point, over the point's window\n", f);
  put_lead(f, "#", "test", "sweep");
  put_cell(f, "topology", 11, false);
  fputc(' ', f);
  put_cell(f, "vms", 4, true);
  fputc(' ', f);
  put_cell(f, "unit", 7, false);
  static const char *const cols[] = { "total", "per VM", "min", "max", "fairness", "skew µs" };
  for (size_t i = 0; i < ELEMENTSOF(cols); i++) {
    fputc(' ', f);
    put_cell(f, cols[i], W_TPS, true);
  }
  fputc('\n', f);
  for (size_t i = 0; i < r->n_points; i++) {
    const struct iov_point_summary *p = &r->points[i];
    bool rr = p->has_latency || p->transactions > 0;
    bool measured = p->window_s > 0;
    char idx[16], vms[16];
    if (!p->topology || strcmp(p->topology, "host-host") == 0) continue;
    snprintf(idx, sizeof(idx), "%u", p->idx + 1);
    snprintf(vms, sizeof(vms), "%u", p->vms);
    put_lead(f, idx, p->test, p->sweep);
    put_cell(f, p->topology, 11, false);
    fputc(' ', f);
    put_cell(f, vms, 4, true);
    fputc(' ', f);
    put_cell(f, rr ? "trans/s" : "Gbit/s", 7, false);
    int d = rr ? 0 : 3;
    put_num(f, true, measured ? (rr ? p->tps : p->gbps) : NAN, d, W_TPS);
    put_num(f, true, measured ? p->link_mean : NAN, d, W_TPS);
    put_num(f, true, measured ? p->link_min : NAN, d, W_TPS);
    put_num(f, true, measured ? p->link_max : NAN, d, W_TPS);
    put_num(f, true, measured ? p->link_fairness : NAN, 3, W_TPS);
    put_num(f, true, p->start_skew_us, 0, W_TPS);
    fputc('\n', f);
  }
  fputs("fairness: Jain's index over the VMs' shares (1 = equal, 1/vms = one VM took all).\n", f);
}

/* The table's rows: r's points, or with groups one mean row per group
 * plus its runs and interval. */
static void print_rows(const struct iov_report *r, FILE *f, const struct iov_point_group *groups,
                       size_t n_groups);

void iov_report_print_table(const struct iov_report *r, FILE *f) {
  if (!r || !f) return;
  fputs("run ", f);
  put_str(f, r->uuid ? r->uuid : "?");
  if (r->plan_path) {
    fputs("  plan ", f);
    put_str(f, r->plan_path);
  }
  fputs("  status ", f);
  put_str(f, r->status ? r->status : "?");
  fputc('\n', f);
  struct iov_point_group *g = NULL;
  size_t n = 0;
  if (iov_report_has_repeats(r) && iov_report_groups(r, &g, &n) == 0) {
    print_rows(r, f, g, n);
    iov_report_groups_free(g, n);
  } else
    print_rows(r, f, NULL, 0);
  iov_report_print_searches(r, f);
  if (r->error) {
    fputs("run error: ", f);
    put_str(f, r->error);
    fputc('\n', f);
  }
}

void iov_report_print_runs(const struct iov_report *r, FILE *f) {
  if (!r || !f || !iov_report_has_repeats(r)) return;
  fputs("\nevery run: #: the order they ran in\n", f);
  print_rows(r, f, NULL, 0);
}

static void print_rows(const struct iov_report *r, FILE *f, const struct iov_point_group *groups,
                       size_t n_groups) {
  static const char *const lat_names[] = { "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs" };
  bool any_failed = false, any_incomplete = false, any_warmup = false, any_unreached = false;
  struct iov_point_summary *means = NULL;
  const struct iov_report *orig = r;
  struct iov_report view = *r;
  if (groups) {
    means = calloc(n_groups ? n_groups : 1, sizeof(*means));
    if (!means) return;
    for (size_t i = 0; i < n_groups; i++) iov_report_mean_summary(&groups[i], &means[i]);
    view.points = means;
    view.n_points = n_groups;
    r = &view;
  }

  put_lead(f, "#", "test", "sweep");
  put_cell(f, "status", W_STATUS, false);
  fputc(' ', f);
  put_cell(f, "window s", W_WIN, true);
  fputc(' ', f);
  put_cell(f, "Gbit/s", W_GBPS, true);
  fputc(' ', f);
  put_cell(f, "trans/s", W_TPS, true);
  fputc(' ', f);
  put_cell(f, "Mpps", W_MPPS, true);
  for (size_t i = 0; i < ELEMENTSOF(lat_names); i++) {
    fputc(' ', f);
    put_cell(f, lat_names[i], W_LAT, true);
  }
  fputc(' ', f);
  put_cell(f, "loss %", W_LOSS, true);
  fputc(' ', f);
  put_cell(f, "retr", W_RETR, true);
  fputc(' ', f);
  put_cell(f, "cpu% s/r", W_CPU, true);
  fputc(' ', f);
  put_cell(f, "SD s/r", W_SD, true);
  fputc(' ', f);
  put_cell(f, "skew µs", W_WIN, true);
  if (groups) {
    fputc(' ', f);
    put_cell(f, "runs", W_RUNS, true);
    fputc(' ', f);
    put_cell(f, "±%", W_CI, true);
  }
  fputc('\n', f);

  for (size_t i = 0; i < r->n_points; i++) {
    const struct iov_point_summary *p = &r->points[i];
    /* A request/response point moves bytes both ways and its receiver
     * counts both, so Gbit/s would mislead there: it shows trans/s, and a
     * stream point shows Gbit/s.  Without a window neither was measured. */
    bool rr = p->has_latency || p->transactions > 0;
    bool measured = p->window_s > 0;
    bool lat = p->lat_count > 0;
    char idx[16];

    /* 1-based, as coord numbers points while it runs them. */
    snprintf(idx, sizeof(idx), "%u", p->idx + 1);
    put_lead(f, idx, p->test, p->sweep);
    if (p->incomplete_flows && p->status && strcmp(p->status, "ok") == 0) {
      any_incomplete = true;
      put_cell(f, "ok*", W_STATUS, false);
    } else
      put_cell(f, p->status, W_STATUS, false);
    put_num(f, true, measured ? p->window_s : NAN, 2, W_WIN);
    if (p->warmup_ns) any_warmup = true;
    put_num(f, true, measured && !rr ? p->gbps : NAN, 2, W_GBPS);
    put_num(f, true, measured && rr ? p->tps : NAN, 0, W_TPS);
    put_num(f, true, point_mpps(p), 3, W_MPPS);
    put_num(f, lat, p->lat_p50_us, 1, W_LAT);
    put_num(f, lat, p->lat_p90_us, 1, W_LAT);
    put_num(f, lat, p->lat_p99_us, 1, W_LAT);
    put_num(f, lat, p->lat_p999_us, 1, W_LAT);
    put_num(f, lat, p->lat_max_us, 1, W_LAT);
    put_num(f, !isnan(p->loss_pct), p->loss_pct, 2, W_LOSS);
    put_num(f, !p->has_latency && p->workload && strncmp(p->workload, "tcp", 3) == 0, (double)p->retransmits,
            0, W_RETR);
    /* Both sides in one cell: "sender/receiver". */
    char cell[48];
    if (!isnan(p->cpu_tx_pct) || !isnan(p->cpu_rx_pct))
      snprintf(cell, sizeof(cell), "%.0f/%.0f", p->cpu_tx_pct, p->cpu_rx_pct);
    else
      snprintf(cell, sizeof(cell), "-");
    fputc(' ', f);
    put_cell(f, cell, W_CPU, true);
    double sdt = rr ? p->sd_tx_us_per_trans : p->sd_tx_us_per_kb,
           sdr = rr ? p->sd_rx_us_per_trans : p->sd_rx_us_per_kb;
    if (!isnan(sdt) || !isnan(sdr))
      snprintf(cell, sizeof(cell), "%.2f/%.2f", sdt, sdr);
    else
      snprintf(cell, sizeof(cell), "-");
    fputc(' ', f);
    put_cell(f, cell, W_SD, true);
    put_num(f, true, p->start_skew_us, 0, W_WIN);
    if (groups) {
      const struct iov_point_group *g = &groups[i];
      const struct iov_stat *st = &g->stat[rr ? IOV_M_TPS : IOV_M_GBPS];
      snprintf(cell, sizeof(cell), "%u", g->ok);
      fputc(' ', f);
      put_cell(f, cell, W_RUNS, true);
      put_num(f, true, isfinite(st->half) && st->mean != 0 ? 100 * st->half / fabs(st->mean) : NAN, 1, W_CI);
      if (g->conf && !g->conf->reached) any_unreached = true;
    }
    fputc('\n', f);
    if (!p->status || strcmp(p->status, "ok") != 0) any_failed = true;
  }
  if (groups)
    fprintf(
        f,
        "each row: the mean over the point's ok runs; ±%%: half-width of the %s confidence interval of its "
        "throughput, in %% of the mean%s\n",
        "95 % (or the plan's)", any_unreached ? "; some points did not reach the plan's confidence" : "");

  if (any_incomplete) fputs("ok*: some flows did not run the whole measured window\n", f);
  /* Every figure covers the window only; say what came before it. */
  if (any_warmup) {
    fputs("warm-up before the window, not counted:", f);
    for (size_t i = 0; i < r->n_points; i++)
      if (r->points[i].warmup_ns)
        fprintf(f, " #%u %.3gs", r->points[i].idx + 1, (double)r->points[i].warmup_ns / 1e9);
    fputc('\n', f);
  }
  fputs("Mpps: millions of UDP datagrams received a second (request/response: sent), or of TCP segments\n"
        "sent (segs); cpu%: busy share of all cores of the sender/receiver machine; SD: service demand, CPU\n"
        "us per KiB (streams) or per transaction (request/response), sender/receiver; skew: spread of the\n"
        "agents' actual starts, each corrected by its clock offset.\n",
        f);
  print_vm_table(r, f);
  print_packet_table(r, f);
  free(means);
  if (any_failed) fputc('\n', f);
  /* Failures are said run by run, with their own causes. */
  for (size_t i = 0; i < orig->n_points; i++) {
    const struct iov_point_summary *p = &orig->points[i];
    const char *e = p->error ? p->error : "(no error recorded)";

    if (p->status && strcmp(p->status, "ok") == 0) continue;
    if (groups)
      fprintf(f, "point %u (run %u) ", p->point_no + 1, p->rep + 1);
    else
      fprintf(f, "point %u ", p->idx + 1);
    put_str(f, p->test);
    if (p->sweep && *p->sweep) {
      fputc(' ', f);
      put_str(f, p->sweep);
    }
    fputs(": ", f);
    put_str(f, p->status ? p->status : "?");
    fputs(": ", f);
    put_str(f, e);
    fputc('\n', f);
  }
}

/* ---- Rate searches (NDR/PDR) --------------------------------------------- */

const struct iov_point_summary *iov_report_search_point(const struct iov_report *r, unsigned point_no) {
  const struct iov_point_summary *first = NULL;
  for (size_t i = 0; r && i < r->n_points; i++) {
    const struct iov_point_summary *p = &r->points[i];
    if (p->point_no != point_no) continue;
    if (p->status && strcmp(p->status, "ok") == 0) return p;
    if (!first) first = p;
  }
  return first;
}

const char *iov_report_frame_label(const struct iov_point_summary *p, double frame_mean, char *buf,
                                   size_t n) {
  if (p && p->frame_size)
    iov_frame_format(p->frame_size, buf, n);
  else if (isfinite(frame_mean))
    snprintf(buf, n, "%.0f", frame_mean);
  else if (p && isfinite(p->frame_bytes))
    snprintf(buf, n, "%.0f", p->frame_bytes);
  else
    snprintf(buf, n, "-");
  return buf;
}

/* One row of the table: a plan point's searches, NDR and PDR, each the
 * mean over the point's repetitions (NaN values left out). */
struct search_row {
  unsigned point_no;
  const struct iov_point_summary *p;
  int path_rank;
  double frame; /* mean frame, for the order; NaN last */
  struct {
    unsigned n, n_pps, n_bps, n_line;
    double pps, bps, line; /* sums, then means */
    bool converged;
    unsigned trials;
  } k[2]; /* NDR, PDR */
  /* What the measurement (the search's last full passing trial) sent, in
   * packets/s: a search whose answer its sender never reached shows it. */
  double sent;
  unsigned n_sent;
};

static int path_rank(const char *path) {
  static const char *const order[] = { "native", "sriov", "virtio", "existing" };
  for (size_t i = 0; path && i < ELEMENTSOF(order); i++)
    if (strcmp(path, order[i]) == 0) return (int)i;
  return (int)ELEMENTSOF(order);
}

static int cmp_search_row(const void *x, const void *y) {
  const struct search_row *a = x, *b = y;
  const char *ta = a->p && a->p->topology ? a->p->topology : "";
  const char *tb = b->p && b->p->topology ? b->p->topology : "";
  int c;
  if (a->path_rank != b->path_rank) return a->path_rank - b->path_rank;
  if ((c = strcmp(ta, tb)) != 0) return c;
  if (isnan(a->frame) != isnan(b->frame)) return isnan(a->frame) ? 1 : -1;
  if (a->frame != b->frame) return a->frame < b->frame ? -1 : 1;
  return (a->point_no > b->point_no) - (a->point_no < b->point_no);
}

static void sum_add(double *sum, unsigned *n, double v) {
  if (!isfinite(v)) return;
  *sum += v;
  (*n)++;
}

/* r's searches as rows, sorted; caller frees.  No rows: NULL. */
static struct search_row *search_rows(const struct iov_report *r, size_t *ret_n) {
  struct search_row *rows = r->n_searches ? calloc(r->n_searches, sizeof(*rows)) : NULL;
  size_t n = 0;
  *ret_n = 0;
  if (!rows) return NULL;
  for (size_t i = 0; i < r->n_searches; i++) {
    const struct iov_search_summary *s = &r->searches[i];
    struct search_row *w = NULL;
    for (size_t j = 0; j < n && !w; j++)
      if (rows[j].point_no == s->point_no) w = &rows[j];
    if (!w) {
      w = &rows[n++];
      w->point_no = s->point_no;
      w->p = iov_report_search_point(r, s->point_no);
      w->path_rank = path_rank(w->p ? w->p->path : NULL);
      w->frame = w->p && isfinite(w->p->frame_bytes) ? w->p->frame_bytes : s->frame_mean;
      w->k[0].converged = w->k[1].converged = true;
    }
    int k = s->pdr;
    w->k[k].n++;
    sum_add(&w->k[k].pps, &w->k[k].n_pps, s->rate_pps);
    sum_add(&w->k[k].bps, &w->k[k].n_bps, s->rate_bps);
    sum_add(&w->k[k].line, &w->k[k].n_line, s->line_pct);
    w->k[k].converged &= s->converged;
    for (size_t m = 0; !s->pdr && s->point_id && m < r->n_points; m++)
      if (r->points[m].point == s->point_id) sum_add(&w->sent, &w->n_sent, r->points[m].pps_tx);
    w->k[k].trials += s->trials;
    if (isnan(w->frame)) w->frame = s->frame_mean;
  }
  for (size_t j = 0; j < n; j++) {
    rows[j].sent = rows[j].n_sent ? rows[j].sent / rows[j].n_sent : NAN;
    for (int k = 0; k < 2; k++) {
      rows[j].k[k].pps = rows[j].k[k].n_pps ? rows[j].k[k].pps / rows[j].k[k].n_pps : NAN;
      rows[j].k[k].bps = rows[j].k[k].n_bps ? rows[j].k[k].bps / rows[j].k[k].n_bps : NAN;
      rows[j].k[k].line = rows[j].k[k].n_line ? rows[j].k[k].line / rows[j].k[k].n_line : NAN;
    }
  }
  qsort(rows, n, sizeof(*rows), cmp_search_row);
  *ret_n = n;
  return rows;
}

/* Points with trials but no answer: a search stopped before its end
 * (coord run --resume continues it). */
static void print_unfinished(const struct iov_report *r, FILE *f) {
  unsigned last = UINT_MAX, shown = 0;
  for (size_t i = 0; i < r->n_trials; i++) {
    unsigned no = r->trials[i].point_no, n = 0;
    if (no == last) continue;
    last = no;
    bool answered = false;
    for (size_t k = 0; k < r->n_searches && !answered; k++) answered = r->searches[k].point_no == no;
    if (answered) continue;
    for (size_t k = i; k < r->n_trials && r->trials[k].point_no == no; k++) n++;
    if (!shown++) fputs("searches not finished (coord run --resume continues them):", f);
    if (shown <= 20) fprintf(f, " point %u (%u trial%s)", no + 1, n, n == 1 ? "" : "s");
  }
  if (shown > 20) fprintf(f, " and %u more", shown - 20);
  if (shown) fputc('\n', f);
}

void iov_report_print_searches(const struct iov_report *r, FILE *f) {
  static const char *const head[] = { "#",          "test",       "path",       "topology", "frame",
                                      "NDR Mpps",   "NDR Gbit/s", "NDR % line", "PDR Mpps", "PDR Gbit/s",
                                      "PDR % line", "sent Mpps",  "converged",  "trials" };
  enum { COLS = ELEMENTSOF(head), CELL = 48 };
  static const bool right[COLS] = { true, false, false, false, true, true,  true,
                                    true, true,  true,  true,  true, false, true };
  bool short_sent = false;
  size_t n = 0;
  if (!r || !f) return;
  _cleanup_free_ struct search_row *rows = search_rows(r, &n);
  if (!n) {
    if (r->n_trials) fputc('\n', f);
    print_unfinished(r, f);
    return;
  }
  _cleanup_free_ char **cells = calloc((n + 1) * COLS, sizeof(*cells));
  _cleanup_free_ char *buf = calloc((n + 1) * COLS, CELL);
  if (!cells || !buf) return;
  for (size_t c = 0; c < COLS; c++) cells[c] = (char *)head[c];
  for (size_t i = 0; i < n; i++) {
    const struct search_row *w = &rows[i];
    char **cr = &cells[(i + 1) * COLS];
    char *b = &buf[(i + 1) * COLS * CELL];
    snprintf(b, CELL, "%u", w->point_no + 1);
    cr[0] = b;
    cr[1] = w->p ? w->p->test : NULL;
    cr[2] = w->p && w->p->path ? w->p->path : (char *)"?";
    cr[3] = w->p && w->p->topology ? w->p->topology : (char *)"host-host";
    cr[4] = (char *)iov_report_frame_label(w->p, w->frame, b + CELL * 4, CELL);
    for (int k = 0; k < 2; k++) {
      bool any = w->k[k].n > 0;
      cr[5 + 3 * k] = (char *)(any ? num_cell(b + CELL * (5 + 3 * k), CELL, w->k[k].pps / 1e6, 3) : "");
      cr[6 + 3 * k] = (char *)(any ? num_cell(b + CELL * (6 + 3 * k), CELL, w->k[k].bps / 1e9, 3) : "");
      cr[7 + 3 * k] = (char *)(any ? num_cell(b + CELL * (7 + 3 * k), CELL, w->k[k].line, 2) : "");
    }
    cr[11] = (char *)num_cell(b + CELL * 11, CELL, w->sent / 1e6, 3);
    if (isfinite(w->sent) && isfinite(w->k[0].pps) && w->sent < 0.95 * w->k[0].pps) short_sent = true;
    bool conv = (!w->k[0].n || w->k[0].converged) && (!w->k[1].n || w->k[1].converged);
    cr[12] = (char *)(conv ? "yes" : "no");
    /* One search finds both NDR and PDR: its trials count once. */
    snprintf(b + CELL * 13, CELL, "%u", w->k[0].trials > w->k[1].trials ? w->k[0].trials : w->k[1].trials);
    cr[13] = b + CELL * 13;
  }
  fputs(
      "\nNDR/PDR by frame size per path: the highest offered rate with no loss (NDR) and with at most the\n"
      "plan's pdr_loss (PDR); Gbit/s: frames * 8 (L2); % line: the rate on the wire, (frame + 20) * 8 bits\n"
      "a frame, in % of the line rate; sent: what the NDR's measurement sent; with repeats, the mean over\n"
      "the runs\n",
      f);
  iov_text_table(f, cells, n + 1, COLS, right, 40);
  if (short_sent)
    fputs(
        "some sender sent less than 95 % of its NDR: that rate was offered, not reached (a sender's limit,\n"
        "not the path's)\n",
        f);
  print_unfinished(r, f);
}

/* JSON.  jansson refuses NaN and infinities (json_real returns NULL), so
 * every double goes through json_num(); json_object_set_new() takes the
 * value even when it fails, so every set is made and its result and'ed. */

static json_t *json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *json_u64(uint64_t v) {
  return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

/* NULL becomes null.  Text that is not UTF-8 (an error string from a
 * peer) is kept readable with '?' for every byte above ASCII rather than
 * dropped. */
static json_t *json_str(const char *s) {
  json_t *j;
  char *copy;

  if (!s) return json_null();
  j = json_string(s);
  if (j) return j;
  copy = strdup(s);
  if (!copy) return NULL;
  for (char *q = copy; *q; q++)
    if ((unsigned char)*q >= 0x80) *q = '?';
  j = json_string(copy);
  free(copy);
  return j;
}

static bool set(json_t *o, const char *key, json_t *v) { return json_object_set_new(o, key, v) == 0; }

static bool shape_iperf3(json_t *o, const struct iov_point_summary *p);

static json_t *point_json(const struct iov_point_summary *p) {
  json_t *o = json_object(), *spf = json_object(), *lat;
  bool ok = o && spf;

  ok &= set(spf, "min", json_u64(p->samples_min));
  ok &= set(spf, "max", json_u64(p->samples_max));

  if (p->has_latency) {
    lat = json_object();
    ok &= lat != NULL;
    ok &= set(lat, "count", json_u64(p->lat_count));
    ok &= set(lat, "mean", json_num(p->lat_mean_us));
    ok &= set(lat, "p50", json_num(p->lat_p50_us));
    ok &= set(lat, "p90", json_num(p->lat_p90_us));
    ok &= set(lat, "p99", json_num(p->lat_p99_us));
    ok &= set(lat, "p99_9", json_num(p->lat_p999_us));
    ok &= set(lat, "max", json_num(p->lat_max_us));
  } else {
    lat = json_null();
  }

  ok &= set(o, "index", json_u64(p->idx));
  ok &= set(o, "test", json_str(p->test));
  ok &= set(o, "sweep", json_str(p->sweep));
  ok &= set(o, "workload", json_str(p->workload));
  ok &= set(o, "status", json_str(p->status));
  ok &= set(o, "error", json_str(p->error));
  ok &= set(o, "duration_ns", json_u64(p->duration_ns));
  ok &= set(o, "flows", json_u64(p->flows));
  ok &= set(o, "rx_bytes", json_u64(p->rx_bytes));
  ok &= set(o, "tx_bytes", json_u64(p->tx_bytes));
  ok &= set(o, "transactions", json_u64(p->transactions));
  ok &= set(o, "window_s", json_num(p->window_s));
  ok &= set(o, "gbps", json_num(p->gbps));
  ok &= set(o, "tps", json_num(p->tps));
  ok &= set(o, "samples_per_flow", spf);
  ok &= set(o, "warmup_ns", json_u64(p->warmup_ns));
  ok &= set(o, "start_skew_us", json_num(p->start_skew_us));
  ok &= set(o, "fairness", json_num(p->fairness));
  /* iperf3's shape: the time series of the point, bin by bin, seconds
   * from the window's start. */
  json_t *iv = json_array();
  ok &= iv != NULL;
  for (size_t i = 0; ok && i < p->n_bins; i++) {
    const struct iov_point_bin *b = &p->bins[i];
    double secs = b->t_end_ns > b->t_start_ns ? (double)(b->t_end_ns - b->t_start_ns) / 1e9 : 0;
    double t0 = p->window_start_ns && b->t_start_ns >= p->window_start_ns
                    ? (double)(b->t_start_ns - p->window_start_ns) / 1e9
                    : NAN;
    json_t *bj = json_object();
    ok &= bj != NULL;
    ok &= set(bj, "seq", json_u64(b->seq));
    ok &= set(bj, "start_s", json_num(t0));
    ok &= set(bj, "seconds", json_num(secs));
    ok &= set(bj, "flows", json_u64(b->flows));
    ok &= set(bj, "bytes", json_u64(b->bytes));
    ok &= set(bj, "gbps", json_num(secs > 0 ? (double)b->bytes * 8 / secs / 1e9 : NAN));
    ok &= set(bj, "transactions", json_u64(b->transactions));
    ok &= set(bj, "tps", json_num(secs > 0 ? (double)b->transactions / secs : NAN));
    ok &= set(bj, "fairness", json_num(b->fairness));
    ok &= json_array_append_new(iv, bj) == 0;
  }
  ok &= set(o, "intervals", iv);
  ok &= set(o, "window_start_ns", json_u64(p->window_start_ns));
  ok &= set(o, "window_end_ns", json_u64(p->window_end_ns));
  ok &= set(o, "incomplete_flows", json_u64(p->incomplete_flows));
  ok &= set(o, "rx_messages", json_u64(p->rx_messages));
  ok &= set(o, "lost", json_u64(p->lost));
  ok &= set(o, "loss_pct", json_num(p->loss_pct));
  ok &= set(o, "out_of_order", json_u64(p->out_of_order));
  ok &= set(o, "duplicates", json_u64(p->duplicates));
  ok &= set(o, "jitter_us", json_num(p->jitter_us));
  ok &= set(o, "retransmits", json_u64(p->retransmits));
  /* Packet rates; null where not known (see struct iov_point_summary). */
  ok &= set(o, "tx_messages", json_u64(p->tx_messages));
  ok &= set(o, "pps_tx", json_num(p->pps_tx));
  ok &= set(o, "pps_rx", json_num(p->pps_rx));
  ok &= set(o, "segs_out", p->segs_known ? json_u64(p->segs_out) : json_null());
  ok &= set(o, "segs_in", p->segs_known ? json_u64(p->segs_in) : json_null());
  ok &= set(o, "segs_ps", json_num(p->segs_ps));
  ok &= set(o, "ip_version", p->family ? json_integer(p->family) : json_null());
  ok &= set(o, "frame_bytes", json_num(p->frame_bytes));
  ok &= set(o, "frame_pps", json_num(p->frame_pps));
  ok &= set(o, "frame_gbps", json_num(p->frame_pps * p->frame_bytes * 8 / 1e9));
  ok &= set(o, "wire_gbps", json_num(p->wire_gbps));
  ok &= set(o, "line_bps", json_num(p->line_bps));
  ok &= set(o, "line_pct", json_num(p->line_pct));
  json_t *cpu = json_object();
  ok &= cpu != NULL;
  ok &= set(cpu, "sender_pct", json_num(p->cpu_tx_pct));
  ok &= set(cpu, "receiver_pct", json_num(p->cpu_rx_pct));
  ok &= set(cpu, "sender_us_per_kb", json_num(p->sd_tx_us_per_kb));
  ok &= set(cpu, "receiver_us_per_kb", json_num(p->sd_rx_us_per_kb));
  ok &= set(cpu, "sender_us_per_trans", json_num(p->sd_tx_us_per_trans));
  ok &= set(cpu, "receiver_us_per_trans", json_num(p->sd_rx_us_per_trans));
  ok &= set(o, "cpu", cpu);
  ok &= set(o, "latency_us", lat);
  ok &= set(o, "topology", json_str(p->topology));
  ok &= set(o, "path", json_str(p->path ? p->path : "auto"));
  ok &= set(o, "samples_missing", json_u64(p->samples_missing));
  ok &= set(o, "vms", json_u64(p->vms));
  json_t *pv = json_object(), *links = json_array(), *hosts = json_array();
  ok &= pv && links && hosts;
  ok &= set(pv, "mean", json_num(p->link_mean));
  ok &= set(pv, "min", json_num(p->link_min));
  ok &= set(pv, "max", json_num(p->link_max));
  ok &= set(pv, "fairness", json_num(p->link_fairness));
  ok &= set(pv, "unit", json_str(p->has_latency || p->transactions > 0 ? "trans/s" : "Gbit/s"));
  ok &= set(o, "per_vm", pv);
  for (size_t i = 0; ok && i < p->n_links; i++) {
    const struct iov_link_summary *l = &p->links[i];
    json_t *lj = json_object(), *bins = json_array();
    ok &= lj && bins;
    ok &= set(lj, "link", json_u64(l->link));
    ok &= set(lj, "sender", json_str(l->sender));
    ok &= set(lj, "receiver", json_str(l->receiver));
    ok &= set(lj, "host", json_str(l->sender_host));
    ok &= set(lj, "rx_bytes", json_u64(l->rx_bytes));
    ok &= set(lj, "transactions", json_u64(l->transactions));
    ok &= set(lj, "gbps", json_num(l->gbps));
    ok &= set(lj, "tps", json_num(l->tps));
    /* The link's share of each time bin of the point (seq as in intervals). */
    for (size_t k = 0; ok && k < l->n_bins; k++) {
      json_t *bj = json_object();
      ok &= bj != NULL;
      ok &= set(bj, "seq", json_u64(k + 1));
      ok &= set(bj, "bytes", json_u64(l->bin_bytes[k]));
      ok &= set(bj, "transactions", json_u64(l->bin_transactions[k]));
      ok &= json_array_append_new(bins, bj) == 0;
    }
    ok &= set(lj, "intervals", bins);
    ok &= json_array_append_new(links, lj) == 0;
  }
  ok &= set(o, "links", links);
  for (size_t i = 0; ok && i < p->n_hosts; i++) {
    json_t *hj = json_object();
    ok &= hj != NULL;
    ok &= set(hj, "host", json_str(p->hosts[i].host));
    ok &= set(hj, "vms", json_u64(p->hosts[i].links));
    ok &= set(hj, "gbps", json_num(p->hosts[i].gbps));
    ok &= set(hj, "tps", json_num(p->hosts[i].tps));
    json_t *hb = json_array();
    ok &= hb != NULL;
    for (size_t k = 0; ok && k < p->hosts[i].n_bins; k++) {
      json_t *bj = json_object();
      ok &= bj != NULL;
      ok &= set(bj, "seq", json_u64(k + 1));
      ok &= set(bj, "bytes", json_u64(p->hosts[i].bin_bytes[k]));
      ok &= set(bj, "transactions", json_u64(p->hosts[i].bin_transactions[k]));
      ok &= json_array_append_new(hb, bj) == 0;
    }
    ok &= set(hj, "intervals", hb);
    ok &= json_array_append_new(hosts, hj) == 0;
  }
  ok &= set(o, "hosts", hosts);
  /* Service demand per VM: the guest's CPU plus what its VM cost the host. */
  json_t *vc = json_array();
  ok &= vc != NULL;
  for (size_t i = 0; ok && i < p->n_vm_cpu; i++) {
    const struct iov_vm_cpu_summary *v = &p->vm_cpu[i];
    json_t *vj = json_object();
    ok &= vj != NULL;
    ok &= set(vj, "agent", json_str(v->agent));
    ok &= set(vj, "role", json_str(v->role));
    ok &= set(vj, "intervals", json_u64(v->intervals));
    ok &= set(vj, "host_ns", json_u64(v->host_ns));
    ok &= set(vj, "host_vcpu_ns", json_u64(v->vcpu_ns));
    ok &= set(vj, "host_io_ns", json_u64(v->io_ns));
    ok &= set(vj, "host_vhost_ns", json_u64(v->vhost_ns));
    ok &= set(vj, "guest_ns", json_u64(v->guest_ns));
    ok &= set(vj, "kvm_exits", v->kvm_exits_known ? json_u64(v->kvm_exits) : json_null());
    ok &= set(vj, "bytes", json_u64(v->bytes));
    ok &= set(vj, "transactions", json_u64(v->transactions));
    ok &= set(vj, "guest_us_per_kb", json_num(v->guest_us_per_kb));
    ok &= set(vj, "host_us_per_kb", json_num(v->host_us_per_kb));
    ok &= set(vj, "total_us_per_kb", json_num(v->total_us_per_kb));
    ok &= set(vj, "guest_us_per_trans", json_num(v->guest_us_per_trans));
    ok &= set(vj, "host_us_per_trans", json_num(v->host_us_per_trans));
    ok &= set(vj, "total_us_per_trans", json_num(v->total_us_per_trans));
    ok &= json_array_append_new(vc, vj) == 0;
  }
  ok &= set(o, "vm_cpu", vc);
  ok &= set(o, "point", json_u64(p->point_no));
  ok &= set(o, "rep", json_u64(p->rep));
  ok &= shape_iperf3(o, p);
  if (!ok) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* iperf3's shape besides the flat keys: "start" (what was asked), the
 * "intervals" already there, and "end" (what came of it). */
static bool shape_iperf3(json_t *o, const struct iov_point_summary *p) {
  json_t *start = json_object(), *end = json_object(), *params = NULL;
  bool ok = start && end;
  if (p->params_json) params = json_loads(p->params_json, 0, NULL);
  ok &= set(start, "test", json_str(p->test));
  ok &= set(start, "sweep", json_str(p->sweep));
  ok &= set(start, "workload", json_str(p->workload));
  ok &= set(start, "path", json_str(p->path));
  ok &= set(start, "topology", json_str(p->topology));
  ok &= set(start, "vms", json_u64(p->vms));
  ok &= set(start, "msg_size", json_u64(p->msg_size));
  ok &= set(start, "response_size", json_u64(p->response_size));
  ok &= set(start, "duration_ns", json_u64(p->duration_ns));
  ok &= set(start, "warmup_ns", json_u64(p->warmup_ns));
  ok &= set(start, "window_start_ns", json_u64(p->window_start_ns));
  ok &= set(start, "start_skew_us", json_num(p->start_skew_us));
  ok &= set(start, "parameters", params ? params : json_null());
  json_t *sum = json_object();
  ok &= sum != NULL;
  ok &= set(sum, "seconds", json_num(p->window_s));
  ok &= set(sum, "bytes", json_u64(p->rx_bytes));
  ok &= set(sum, "bits_per_second", json_num(p->gbps * 1e9));
  ok &= set(sum, "transactions", json_u64(p->transactions));
  ok &= set(sum, "transactions_per_second", json_num(p->tps));
  ok &= set(sum, "retransmits", json_u64(p->retransmits));
  ok &= set(sum, "lost", json_u64(p->lost));
  ok &= set(sum, "lost_percent", json_num(p->loss_pct));
  ok &= set(sum, "packets", json_u64(p->rx_messages));
  ok &= set(sum, "packets_per_second", json_num(p->pps_rx));
  ok &= set(end, "sum", sum);
  ok &= set(end, "status", json_str(p->status));
  ok &= set(end, "error", json_str(p->error));
  ok &= set(end, "window_end_ns", json_u64(p->window_end_ns));
  json_t *lat = json_object_get(o, "latency_us"), *cpu = json_object_get(o, "cpu");
  ok &= set(end, "latency_us", lat ? json_incref(lat) : json_null());
  ok &= set(end, "cpu_utilization_percent", cpu ? json_incref(cpu) : json_null());
  ok &= set(o, "start", start);
  ok &= set(o, "end", end);
  return ok;
}

/* Per plan point: its runs and every figure's mean, sd and interval. */
static json_t *groups_json(const struct iov_report *r) {
  struct iov_point_group *g = NULL;
  size_t n = 0;
  json_t *arr = json_array();
  if (!arr || iov_report_groups(r, &g, &n) < 0) {
    json_decref(arr);
    return NULL;
  }
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    const struct iov_point_summary *a = g[i].first;
    json_t *o = json_object(), *runs = json_array(), *st = json_object(), *conf;
    ok &= o && runs && st;
    for (size_t k = 0; ok && k < g[i].n_members; k++)
      ok &= json_array_append_new(runs, json_u64(r->points[g[i].members[k]].idx)) == 0;
    for (int m = 0; ok && m < IOV_M_MAX; m++) {
      const struct iov_stat *s = &g[i].stat[m];
      if (!s->n) continue;
      json_t *mj = json_object();
      ok &= mj != NULL;
      ok &= set(mj, "n", json_u64(s->n));
      ok &= set(mj, "mean", json_num(s->mean));
      ok &= set(mj, "sd", json_num(s->sd));
      ok &= set(mj, "ci_low", json_num(s->lo));
      ok &= set(mj, "ci_high", json_num(s->hi));
      ok &= set(mj, "unit", json_str(iov_metric_unit((enum iov_metric)m)));
      ok &= set(st, iov_metric_name((enum iov_metric)m), mj);
    }
    if (g[i].conf) {
      conf = json_object();
      ok &= conf != NULL;
      ok &= set(conf, "level", json_num(g[i].conf->level));
      ok &= set(conf, "width", json_num(g[i].conf->width));
      ok &= set(conf, "runs", json_u64(g[i].conf->runs));
      ok &= set(conf, "reached", json_boolean(g[i].conf->reached));
    } else
      conf = json_null();
    ok &= set(o, "point", json_u64(g[i].point_no));
    ok &= set(o, "test", json_str(a->test));
    ok &= set(o, "sweep", json_str(a->sweep));
    ok &= set(o, "workload", json_str(a->workload));
    ok &= set(o, "path", json_str(a->path));
    ok &= set(o, "topology", json_str(a->topology));
    ok &= set(o, "vms", json_u64(a->vms));
    ok &= set(o, "msg_size", json_u64(a->msg_size));
    ok &= set(o, "status", json_str(g[i].status));
    ok &= set(o, "ok_runs", json_u64(g[i].ok));
    ok &= set(o, "runs", runs);
    ok &= set(o, "level", json_num(g[i].level));
    ok &= set(o, "confidence", conf);
    ok &= set(o, "stats", st);
    ok &= json_array_append_new(arr, o) == 0;
  }
  iov_report_groups_free(g, n);
  if (!ok) {
    json_decref(arr);
    return NULL;
  }
  return arr;
}

/* The searches, one object per (point, repetition, kind), and every
 * trial they ran. */
static json_t *searches_json(const struct iov_report *r) {
  json_t *arr = json_array();
  bool ok = arr != NULL;
  for (size_t i = 0; ok && i < r->n_searches; i++) {
    const struct iov_search_summary *s = &r->searches[i];
    const struct iov_point_summary *p = iov_report_search_point(r, s->point_no);
    char frame[64];
    json_t *o = json_object();
    ok &= o != NULL;
    ok &= set(o, "point", json_u64(s->point_no));
    ok &= set(o, "rep", json_u64(s->rep));
    ok &= set(o, "test", json_str(p ? p->test : NULL));
    ok &= set(o, "path", json_str(p ? p->path : NULL));
    ok &= set(o, "topology", json_str(p ? p->topology : NULL));
    ok &= set(o, "frame_size", json_str(iov_report_frame_label(p, s->frame_mean, frame, sizeof(frame))));
    ok &= set(o, "kind", json_str(s->pdr ? "pdr" : "ndr"));
    ok &= set(o, "converged", json_boolean(s->converged));
    ok &= set(o, "rate_pps", json_num(s->rate_pps));
    ok &= set(o, "rate_gbps", json_num(s->rate_bps / 1e9));
    ok &= set(o, "wire_gbps", json_num(s->wire_bps / 1e9));
    ok &= set(o, "line_pct", json_num(s->line_pct));
    ok &= set(o, "frame_mean", json_num(s->frame_mean));
    ok &= set(o, "loss_pct", json_num(s->loss * 100));
    ok &= set(o, "trials", json_u64(s->trials));
    ok &= set(o, "seconds", json_num(s->seconds));
    /* What the measurement sent: below the rate, the sender's limit. */
    double sent = NAN;
    for (size_t m = 0; s->point_id && m < r->n_points; m++)
      if (r->points[m].point == s->point_id) sent = r->points[m].pps_tx;
    ok &= set(o, "sent_pps", json_num(sent));
    json_t *tr = json_array();
    ok &= tr != NULL;
    for (size_t k = 0; ok && k < r->n_trials; k++) {
      const struct iov_db_trial *t = &r->trials[k];
      if (t->point_no != s->point_no || t->rep != s->rep) continue;
      json_t *tj = json_object();
      ok &= tj != NULL;
      ok &= set(tj, "seq", json_u64(t->seq));
      ok &= set(tj, "full", json_boolean(t->full));
      ok &= set(tj, "offered_pps", json_num(t->offered_pps));
      ok &= set(tj, "offered_wire_gbps", json_num(t->offered_wire_bps / 1e9));
      ok &= set(tj, "duration_ns", json_u64(t->duration_ns));
      ok &= set(tj, "sent", json_u64(t->sent));
      ok &= set(tj, "received", json_u64(t->received));
      ok &= set(tj, "lost", json_u64(t->lost));
      ok &= set(tj, "loss_pct", json_num(t->sent ? (double)t->lost / (double)t->sent * 100 : NAN));
      ok &= json_array_append_new(tr, tj) == 0;
    }
    ok &= set(o, "trial_list", tr);
    ok &= json_array_append_new(arr, o) == 0;
  }
  if (!ok) {
    json_decref(arr);
    return NULL;
  }
  return arr;
}

int iov_report_print_json(const struct iov_report *r, FILE *f) {
  json_t *root = json_object(), *run = json_object(), *points = json_array();
  bool ok = root && run && points;
  int ret = 0;

  if (!r || !f) {
    ok = false;
    ret = -EINVAL;
  }
  if (ok) {
    ok &= set(run, "uuid", json_str(r->uuid));
    ok &= set(run, "plan", json_str(r->plan_path));
    ok &= set(run, "status", json_str(r->status));
    ok &= set(run, "error", json_str(r->error));
    ok &= set(run, "started_ns", json_u64(r->started_ns));
    ok &= set(run, "ended_ns", r->ended_ns ? json_u64(r->ended_ns) : json_null());
    for (size_t i = 0; ok && i < r->n_points; i++)
      ok &= json_array_append_new(points, point_json(&r->points[i])) == 0;
  }
  if (ok) {
    /* root takes both, so they are not decref'd again below. */
    ok &= set(root, "run", run);
    run = NULL;
    ok &= set(root, "points", points);
    points = NULL;
    ok &= set(root, "groups", groups_json(r));
    ok &= set(root, "searches", searches_json(r));
  }
  if (!ok && ret == 0) ret = -ENOMEM;
  /* 15 significant digits (DBL_DIG): a measured 500.735 us prints as
   * such, not as jansson's default 17-digit 500.73500000000001. */
  if (ok && (json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) < 0 || fputc('\n', f) == EOF))
    ret = -EIO;
  json_decref(root);
  json_decref(run);
  json_decref(points);
  return ret;
}
