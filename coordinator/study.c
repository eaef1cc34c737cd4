/* Repetitions grouped by plan point, the CSV export and the study's
 * tables (report.h). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "parse.h"
#include "report.h"

#define DEFAULT_LEVEL 0.95

static const struct {
  const char *name, *unit;
  size_t off; /* a double of struct iov_point_summary; SIZE_MAX: computed */
} metrics[IOV_M_MAX] = {
  [IOV_M_GBPS] = { "gbps", "Gbit/s", offsetof(struct iov_point_summary, gbps) },
  [IOV_M_TPS] = { "tps", "trans/s", offsetof(struct iov_point_summary, tps) },
  [IOV_M_WINDOW_S] = { "window_s", "s", offsetof(struct iov_point_summary, window_s) },
  [IOV_M_LAT_MEAN] = { "lat_mean_us", "µs", offsetof(struct iov_point_summary, lat_mean_us) },
  [IOV_M_LAT_P50] = { "lat_p50_us", "µs", offsetof(struct iov_point_summary, lat_p50_us) },
  [IOV_M_LAT_P90] = { "lat_p90_us", "µs", offsetof(struct iov_point_summary, lat_p90_us) },
  [IOV_M_LAT_P99] = { "lat_p99_us", "µs", offsetof(struct iov_point_summary, lat_p99_us) },
  [IOV_M_LAT_P999] = { "lat_p99_9_us", "µs", offsetof(struct iov_point_summary, lat_p999_us) },
  [IOV_M_LAT_MAX] = { "lat_max_us", "µs", offsetof(struct iov_point_summary, lat_max_us) },
  [IOV_M_LOSS_PCT] = { "loss_pct", "%", offsetof(struct iov_point_summary, loss_pct) },
  [IOV_M_JITTER_US] = { "jitter_us", "µs", offsetof(struct iov_point_summary, jitter_us) },
  [IOV_M_CPU_TX] = { "cpu_sender_pct", "%", offsetof(struct iov_point_summary, cpu_tx_pct) },
  [IOV_M_CPU_RX] = { "cpu_receiver_pct", "%", offsetof(struct iov_point_summary, cpu_rx_pct) },
  [IOV_M_SD_TX_KB] = { "sd_sender_us_per_kb", "µs/KiB", offsetof(struct iov_point_summary, sd_tx_us_per_kb) },
  [IOV_M_SD_RX_KB] = { "sd_receiver_us_per_kb", "µs/KiB",
                       offsetof(struct iov_point_summary, sd_rx_us_per_kb) },
  [IOV_M_SD_TX_TRANS] = { "sd_sender_us_per_trans", "µs/trans",
                          offsetof(struct iov_point_summary, sd_tx_us_per_trans) },
  [IOV_M_SD_RX_TRANS] = { "sd_receiver_us_per_trans", "µs/trans",
                          offsetof(struct iov_point_summary, sd_rx_us_per_trans) },
  [IOV_M_SKEW_US] = { "start_skew_us", "µs", offsetof(struct iov_point_summary, start_skew_us) },
  [IOV_M_FAIRNESS] = { "fairness", "", offsetof(struct iov_point_summary, fairness) },
  [IOV_M_LINK_MEAN] = { "per_vm_mean", "", offsetof(struct iov_point_summary, link_mean) },
  [IOV_M_LINK_MIN] = { "per_vm_min", "", offsetof(struct iov_point_summary, link_min) },
  [IOV_M_LINK_MAX] = { "per_vm_max", "", offsetof(struct iov_point_summary, link_max) },
  [IOV_M_LINK_FAIRNESS] = { "per_vm_fairness", "", offsetof(struct iov_point_summary, link_fairness) },
  [IOV_M_VM_GUEST_SD] = { "vm_guest_sd", "µs/KiB or µs/trans", SIZE_MAX },
  [IOV_M_VM_HOST_SD] = { "vm_host_sd", "µs/KiB or µs/trans", SIZE_MAX },
  [IOV_M_VM_TOTAL_SD] = { "vm_total_sd", "µs/KiB or µs/trans", SIZE_MAX },
  [IOV_M_PPS_TX] = { "pps_tx", "packets/s", offsetof(struct iov_point_summary, pps_tx) },
  [IOV_M_PPS_RX] = { "pps_rx", "packets/s", offsetof(struct iov_point_summary, pps_rx) },
  [IOV_M_SEGS_PS] = { "segs_ps", "segments/s", offsetof(struct iov_point_summary, segs_ps) },
  [IOV_M_FRAME_PPS] = { "frame_pps", "frames/s", offsetof(struct iov_point_summary, frame_pps) },
  [IOV_M_WIRE_GBPS] = { "wire_gbps", "Gbit/s", offsetof(struct iov_point_summary, wire_gbps) },
  [IOV_M_LINE_PCT] = { "line_pct", "%", offsetof(struct iov_point_summary, line_pct) },
};

const char *iov_metric_name(enum iov_metric m) { return m < IOV_M_MAX ? metrics[m].name : "?"; }
const char *iov_metric_unit(enum iov_metric m) { return m < IOV_M_MAX ? metrics[m].unit : ""; }

static bool is_rr(const struct iov_point_summary *p) { return p->has_latency || p->transactions > 0; }

/* The mean over the point's VMs of their service demand: guest, host or
 * both, per KiB for streams and per transaction for request/response. */
static double vm_sd(const struct iov_point_summary *p, enum iov_metric m) {
  double sum = 0;
  unsigned n = 0;
  for (size_t i = 0; i < p->n_vm_cpu; i++) {
    const struct iov_vm_cpu_summary *v = &p->vm_cpu[i];
    double x = m == IOV_M_VM_GUEST_SD  ? (is_rr(p) ? v->guest_us_per_trans : v->guest_us_per_kb)
               : m == IOV_M_VM_HOST_SD ? (is_rr(p) ? v->host_us_per_trans : v->host_us_per_kb)
                                       : (is_rr(p) ? v->total_us_per_trans : v->total_us_per_kb);
    if (isfinite(x)) {
      sum += x;
      n++;
    }
  }
  return n ? sum / n : NAN;
}

double iov_metric_value(const struct iov_point_summary *p, enum iov_metric m) {
  if (!p || m >= IOV_M_MAX) return NAN;
  if (metrics[m].off == SIZE_MAX) return vm_sd(p, m);
  bool measured = p->window_s > 0;
  if ((m == IOV_M_GBPS || m == IOV_M_TPS) && !measured) return NAN;
  if (m >= IOV_M_LAT_MEAN && m <= IOV_M_LAT_MAX && p->lat_count == 0) return NAN;
  return *(const double *)((const char *)p + metrics[m].off);
}

bool iov_report_has_repeats(const struct iov_report *r) {
  for (size_t i = 0; r && i < r->n_points; i++)
    if (r->points[i].rep > 0) return true;
  return false;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

void iov_report_groups_free(struct iov_point_group *g, size_t n) {
  for (size_t i = 0; g && i < n; i++) free(g[i].members);
  free(g);
}

int iov_report_groups(const struct iov_report *r, struct iov_point_group **ret, size_t *ret_n) {
  struct iov_point_group *g = NULL;
  size_t n = 0;
  /* Points in point_no order, stable in the order they ran. */
  size_t *order = calloc(r->n_points ? r->n_points : 1, sizeof(*order));
  if (!order) return -ENOMEM;
  for (size_t i = 0; i < r->n_points; i++) order[i] = (size_t)r->points[i].point_no << 32 | i;
  qsort(order, r->n_points, sizeof(*order), cmp_size);
  for (size_t k = 0; k < r->n_points; k++) {
    size_t i = order[k] & 0xffffffffu;
    const struct iov_point_summary *p = &r->points[i];
    if (!n || g[n - 1].point_no != p->point_no) {
      struct iov_point_group *ng = reallocarray(g, n + 1, sizeof(*g));
      if (!ng) goto oom;
      g = ng;
      g[n++] = (struct iov_point_group){ .point_no = p->point_no, .level = DEFAULT_LEVEL };
    }
    struct iov_point_group *cur = &g[n - 1];
    size_t *nm = reallocarray(cur->members, cur->n_members + 1, sizeof(*nm));
    if (!nm) goto oom;
    cur->members = nm;
    nm[cur->n_members++] = i;
  }
  free(order);
  double *vals = calloc(r->n_points ? r->n_points : 1, sizeof(*vals));
  if (!vals) {
    iov_report_groups_free(g, n);
    return -ENOMEM;
  }
  for (size_t k = 0; k < n; k++) {
    struct iov_point_group *cur = &g[k];
    for (size_t c = 0; c < r->n_conf; c++)
      if (r->conf[c].point_no == cur->point_no) {
        cur->conf = &r->conf[c];
        cur->level = r->conf[c].level;
      }
    cur->first = &r->points[cur->members[0]];
    for (size_t j = 0; j < cur->n_members; j++) {
      const struct iov_point_summary *p = &r->points[cur->members[j]];
      bool ok = p->status && strcmp(p->status, "ok") == 0;
      if (ok && !cur->ok++) cur->first = p;
    }
    for (int m = 0; m < IOV_M_MAX; m++) {
      size_t v = 0;
      for (size_t j = 0; j < cur->n_members; j++) {
        const struct iov_point_summary *p = &r->points[cur->members[j]];
        if (p->status && strcmp(p->status, "ok") == 0) vals[v++] = iov_metric_value(p, (enum iov_metric)m);
      }
      iov_stat_compute(vals, v, cur->level, &cur->stat[m]);
    }
    if (cur->ok == cur->n_members)
      snprintf(cur->status, sizeof(cur->status), "ok");
    else if (!cur->ok)
      snprintf(cur->status, sizeof(cur->status), "%s", cur->first->status ? cur->first->status : "?");
    else
      snprintf(cur->status, sizeof(cur->status), "%u/%zu ok", cur->ok, cur->n_members);
  }
  free(vals);
  *ret = g;
  *ret_n = n;
  return 0;
oom:
  free(order);
  iov_report_groups_free(g, n);
  return -ENOMEM;
}

/* ---- CSV ---------------------------------------------------------------- */

/* Whether s is a plain decimal number ("-3", "+1.5e-3"): a spreadsheet
 * reads it as the number it is, never as a formula. */
static bool csv_plain_number(const char *s) {
  const char *p = s + (*s == '-' || *s == '+');
  size_t digits = strspn(p, "0123456789");
  p += digits;
  if (*p == '.') {
    size_t frac = strspn(p + 1, "0123456789");
    digits += frac;
    p += 1 + frac;
  }
  if (digits && (*p == 'e' || *p == 'E')) {
    const char *e = p + 1 + (p[1] == '-' || p[1] == '+');
    size_t n = strspn(e, "0123456789");
    if (n) p = e + n;
  }
  return digits && !*p;
}

/* A text field (RFC 4180): quoted when it holds a comma, a quote or a line
 * break, quotes doubled.  Text a spreadsheet would take for a formula
 * (starting with =, +, -, @, a tab or a carriage return) gets a leading
 * ' so that it stays text: a stored run may come from anyone. */
static int csv_str(FILE *f, const char *s) {
  if (!s) return 0;
  bool formula = strchr("=+-@\t\r", *s) && *s && !csv_plain_number(s);
  if (!formula && !strpbrk(s, ",\"\n\r")) return fputs(s, f) < 0 ? -EIO : 0;
  fputc('"', f);
  if (formula) fputc('\'', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  return fputc('"', f) == EOF ? -EIO : 0;
}

static void csv_num(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, "%.6g", v);
  fputc(',', f);
}

/* The NDR and PDR of the point's run (empty fields without a search),
 * whether both converged and the trials they took. */
static void csv_search(FILE *f, const struct iov_report *r, const struct iov_point_summary *p) {
  const struct iov_search_summary *k[2] = { NULL, NULL };
  for (size_t i = 0; i < r->n_searches; i++)
    if (r->searches[i].point_no == p->point_no && r->searches[i].rep == p->rep)
      k[r->searches[i].pdr] = &r->searches[i];
  for (int i = 0; i < 2; i++) {
    csv_num(f, k[i] ? k[i]->rate_pps : NAN);
    csv_num(f, k[i] ? k[i]->rate_bps / 1e9 : NAN);
    csv_num(f, k[i] ? k[i]->line_pct : NAN);
  }
  if (k[0] || k[1])
    fprintf(f, "%s,%u,", (!k[0] || k[0]->converged) && (!k[1] || k[1]->converged) ? "yes" : "no",
            /* One search finds both: its trials, counted once. */
            k[0] && k[1] && k[0]->trials > k[1]->trials ? k[0]->trials
            : k[1]                                      ? k[1]->trials
                                                        : k[0]->trials);
  else
    fputs(",,", f);
}

int iov_report_print_csv(const struct iov_report *r, FILE *f) {
  fputs("run,idx,point,rep,test,sweep,workload,path,topology,vms,flows,msg_size,response_size,status", f);
  for (int m = 0; m < IOV_M_MAX; m++) fprintf(f, ",%s", metrics[m].name);
  fputs(",rx_bytes,tx_bytes,transactions,retransmits,lost,samples_missing,tx_messages,rx_messages,segs_out,"
        "segs_in,frame_bytes,line_bps,ndr_pps,ndr_gbps,ndr_line_pct,pdr_pps,pdr_gbps,pdr_line_pct,"
        "search_converged,search_trials,error\n",
        f);
  for (size_t i = 0; i < r->n_points; i++) {
    const struct iov_point_summary *p = &r->points[i];
    csv_str(f, r->uuid);
    fprintf(f, ",%u,%u,%u,", p->idx + 1, p->point_no + 1, p->rep + 1);
    csv_str(f, p->test);
    fputc(',', f);
    csv_str(f, p->sweep);
    fputc(',', f);
    csv_str(f, p->workload);
    fputc(',', f);
    csv_str(f, p->path);
    fputc(',', f);
    csv_str(f, p->topology);
    fprintf(f, ",%u,%u,%llu,%llu,", p->vms, p->flows, (unsigned long long)p->msg_size,
            (unsigned long long)p->response_size);
    csv_str(f, p->status);
    for (int m = 0; m < IOV_M_MAX; m++) {
      double v = iov_metric_value(p, (enum iov_metric)m);
      if (isfinite(v))
        fprintf(f, ",%.6g", v);
      else
        fputc(',', f);
    }
    fprintf(f, ",%llu,%llu,%llu,%llu,%llu,%llu,", (unsigned long long)p->rx_bytes,
            (unsigned long long)p->tx_bytes, (unsigned long long)p->transactions,
            (unsigned long long)p->retransmits, (unsigned long long)p->lost,
            (unsigned long long)p->samples_missing);
    fprintf(f, "%llu,%llu,", (unsigned long long)p->tx_messages, (unsigned long long)p->rx_messages);
    /* Unknown: an empty field, as for the metrics. */
    if (p->segs_known)
      fprintf(f, "%llu,%llu,", (unsigned long long)p->segs_out, (unsigned long long)p->segs_in);
    else
      fputs(",,", f);
    csv_num(f, p->frame_bytes);
    csv_num(f, p->line_bps);
    csv_search(f, r, p);
    csv_str(f, p->error);
    fputc('\n', f);
  }
  return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

/* ---- the study's tables ---------------------------------------------------- */

/* s as a cell of width columns (iov_text_cell(): by code point, never
 * cutting a character in two), in buf of at least 4 * width + 8 bytes. */
static const char *fit(char *buf, size_t n, const char *s, size_t width) {
  FILE *m = fmemopen(buf, n, "w");
  buf[0] = '\0';
  if (!m) return buf;
  iov_text_cell(m, s ? s : "", width, false);
  fclose(m);
  return buf;
}

/* "12.3 ±0.4", or "12.3" with one run, "-" without. */
static void cell_stat(char *buf, size_t n, const struct iov_stat *s, int decimals) {
  if (!s->n || !isfinite(s->mean))
    snprintf(buf, n, "-");
  else if (isfinite(s->half))
    snprintf(buf, n, "%.*f ±%.*f", decimals, s->mean, decimals, s->half);
  else
    snprintf(buf, n, "%.*f", decimals, s->mean);
}

static int path_index(const char *const *paths, size_t n, const char *p) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(paths[i], p) == 0) return (int)i;
  return -1;
}

/* The paths of the groups that 'want' picks, in a fixed order. */
static size_t paths_of(const struct iov_point_group *g, size_t n,
                       bool (*want)(const struct iov_point_group *), const char **out) {
  static const char *const order[] = { "native", "sriov", "virtio", "existing" };
  size_t k = 0;
  for (size_t o = 0; o < ELEMENTSOF(order); o++)
    for (size_t i = 0; i < n; i++)
      if (want(&g[i]) && g[i].first->path && strcmp(g[i].first->path, order[o]) == 0) {
        out[k++] = order[o];
        break;
      }
  return k;
}

static bool want_bw(const struct iov_point_group *g) { return g->ok && !is_rr(g->first); }
static bool want_lat(const struct iov_point_group *g) {
  return g->ok && is_rr(g->first) && g->first->lat_count;
}
static bool want_cpu(const struct iov_point_group *g) { return g->ok; }
static bool want_frame(const struct iov_point_group *g) {
  return g->ok && g->stat[IOV_M_PPS_RX].n && isfinite(g->first->frame_bytes);
}
static bool want_segs(const struct iov_point_group *g) { return g->ok && g->stat[IOV_M_SEGS_PS].n; }
static bool want_intervm(const struct iov_point_group *g) {
  return g->ok && g->first->topology && strcmp(g->first->topology, "vm-vm-same") == 0;
}
static bool want_scaling(const struct iov_point_group *g) {
  return g->ok && g->first->topology && strcmp(g->first->topology, "host-host") != 0;
}

/* Rows: one per (workload, topology, message size), in the order first
 * seen; columns: the paths.  metric picks what a cell shows. */
/* The row key of a group: its message size, or by_frame its Ethernet
 * frame (NaN when unknown). */
static double row_key(const struct iov_point_summary *a, bool by_frame) {
  return by_frame ? a->frame_bytes : (double)a->msg_size;
}

static bool same_key(double x, double y) { return x == y || (isnan(x) && isnan(y)); }

static void by_size_table(FILE *f, const char *title, const struct iov_point_group *g, size_t n,
                          bool (*want)(const struct iov_point_group *), const enum iov_metric *ms,
                          size_t n_ms, int decimals, bool by_frame) {
  const char *paths[4];
  size_t np = paths_of(g, n, want, paths);
  if (!np) return;
  fprintf(f, "\n%s\n%-12s %-12s %4s %8s", title, "workload", "topology", "vms", by_frame ? "frame" : "msg");
  for (size_t p = 0; p < np; p++)
    for (size_t k = 0; k < n_ms; k++) {
      char h[48];
      snprintf(h, sizeof(h), "%s %s", paths[p], n_ms > 1 ? metrics[ms[k]].name : "");
      fprintf(f, " %22s", h);
    }
  fputc('\n', f);
  bool *done = calloc(n ? n : 1, sizeof(*done));
  if (!done) return;
  for (size_t i = 0; i < n; i++) {
    if (done[i] || !want(&g[i])) continue;
    const struct iov_point_summary *a = g[i].first;
    char sz[32];
    fprintf(f, "%-12s %-12s %4u %8s", a->workload, a->topology ? a->topology : "", a->vms,
            by_frame ? iov_report_frame_label(a, NAN, sz, sizeof(sz))
                     : iov_format_size(sz, sizeof(sz), a->msg_size));
    const struct iov_point_group *row[4] = { 0 };
    for (size_t j = i; j < n; j++) {
      const struct iov_point_summary *b = g[j].first;
      if (done[j] || !want(&g[j]) || strcmp(a->workload, b->workload) != 0 ||
          !same_key(row_key(a, by_frame), row_key(b, by_frame)) ||
          (by_frame && a->frame_size != b->frame_size) || a->vms != b->vms ||
          strcmp(a->topology ? a->topology : "", b->topology ? b->topology : "") != 0)
        continue;
      int pi = b->path ? path_index(paths, np, b->path) : -1;
      if (pi < 0 || row[pi]) continue;
      row[pi] = &g[j];
      done[j] = true;
    }
    for (size_t p = 0; p < np; p++)
      for (size_t k = 0; k < n_ms; k++) {
        char c[48] = "";
        /* Packets and segments per second: whole numbers. */
        bool whole = ms[k] == IOV_M_PPS_RX || ms[k] == IOV_M_PPS_TX || ms[k] == IOV_M_SEGS_PS;
        if (row[p]) cell_stat(c, sizeof(c), &row[p]->stat[ms[k]], whole ? 0 : decimals);
        fprintf(f, " %22s", row[p] ? c : "");
      }
    fputc('\n', f);
  }
  free(done);
}

static void cpu_table(FILE *f, const struct iov_point_group *g, size_t n) {
  bool any = false;
  for (size_t i = 0; i < n; i++)
    any |= want_cpu(&g[i]) && g[i].stat[IOV_M_SD_TX_KB].n + g[i].stat[IOV_M_SD_TX_TRANS].n;
  if (!any) return;
  fprintf(
      f,
      "\nCPU cost per path: service demand, CPU µs per KiB (streams) or per transaction (request/response);\n"
      "sender and receiver machine, and for VMs the guest's own CPU, what the VM cost its host, and both\n");
  fprintf(f, "%3s %-16s %-22s %-9s %-8s %16s %16s %16s %16s %16s\n", "#", "test", "sweep", "path", "unit",
          "sender", "receiver", "VM guest", "VM host", "VM both");
  for (size_t i = 0; i < n; i++) {
    if (!want_cpu(&g[i])) continue;
    const struct iov_point_summary *a = g[i].first;
    bool rr = is_rr(a);
    char c[5][48];
    cell_stat(c[0], sizeof(c[0]), &g[i].stat[rr ? IOV_M_SD_TX_TRANS : IOV_M_SD_TX_KB], 2);
    cell_stat(c[1], sizeof(c[1]), &g[i].stat[rr ? IOV_M_SD_RX_TRANS : IOV_M_SD_RX_KB], 2);
    cell_stat(c[2], sizeof(c[2]), &g[i].stat[IOV_M_VM_GUEST_SD], 2);
    cell_stat(c[3], sizeof(c[3]), &g[i].stat[IOV_M_VM_HOST_SD], 2);
    cell_stat(c[4], sizeof(c[4]), &g[i].stat[IOV_M_VM_TOTAL_SD], 2);
    char t[72], sw[96];
    fprintf(f, "%3u %s %s %-9s %-8s %16s %16s %16s %16s %16s\n", g[i].point_no + 1,
            fit(t, sizeof(t), a->test, 16), fit(sw, sizeof(sw), a->sweep, 22), a->path ? a->path : "",
            rr ? "µs/trans" : "µs/KiB", c[0], c[1], c[2], c[3], c[4]);
  }
}

static void scaling_table(FILE *f, const char *title, const struct iov_point_group *g, size_t n,
                          bool (*want)(const struct iov_point_group *)) {
  bool any = false;
  for (size_t i = 0; i < n; i++) any |= want(&g[i]);
  if (!any) return;
  fprintf(f, "\n%s\n%3s %-16s %-9s %-12s %4s %-7s %18s %18s %12s %12s %10s %10s\n", title, "#", "test",
          "path", "topology", "vms", "unit", "aggregate", "per VM", "min", "max", "fairness", "skew µs");
  for (size_t i = 0; i < n; i++) {
    if (!want(&g[i])) continue;
    const struct iov_point_summary *a = g[i].first;
    bool rr = is_rr(a);
    int d = rr ? 0 : 3;
    char c[6][48];
    cell_stat(c[0], sizeof(c[0]), &g[i].stat[rr ? IOV_M_TPS : IOV_M_GBPS], d);
    cell_stat(c[1], sizeof(c[1]), &g[i].stat[IOV_M_LINK_MEAN], d);
    snprintf(c[2], sizeof(c[2]), "%.*f", d, g[i].stat[IOV_M_LINK_MIN].mean);
    snprintf(c[3], sizeof(c[3]), "%.*f", d, g[i].stat[IOV_M_LINK_MAX].mean);
    snprintf(c[4], sizeof(c[4]), isfinite(g[i].stat[IOV_M_LINK_FAIRNESS].mean) ? "%.3f" : "-",
             g[i].stat[IOV_M_LINK_FAIRNESS].mean);
    snprintf(c[5], sizeof(c[5]), isfinite(g[i].stat[IOV_M_SKEW_US].mean) ? "%.0f" : "-",
             g[i].stat[IOV_M_SKEW_US].mean);
    char t[72];
    fprintf(f, "%3u %s %-9s %-12s %4u %-7s %18s %18s %12s %12s %10s %10s\n", g[i].point_no + 1,
            fit(t, sizeof(t), a->test, 16), a->path ? a->path : "", a->topology, a->vms,
            rr ? "trans/s" : "Gbit/s", c[0], c[1], c[2], c[3], c[4], c[5]);
  }
}

void iov_report_print_study(const struct iov_report *r, FILE *f) {
  struct iov_point_group *g = NULL;
  size_t n = 0;
  if (!r || !f || iov_report_groups(r, &g, &n) < 0) return;
  static const enum iov_metric bw[] = { IOV_M_GBPS }, lat[] = { IOV_M_LAT_MEAN, IOV_M_LAT_P99 };
  by_size_table(f, "Bandwidth by message size, Gbit/s (mean ±half-width of its confidence interval)", g, n,
                want_bw, bw, 1, 3, false);
  by_size_table(f, "Latency by message size, µs: mean and p99 of the transactions' round trips", g, n,
                want_lat, lat, 2, 1, false);
  static const enum iov_metric pps[] = { IOV_M_PPS_RX, IOV_M_LINE_PCT }, segs[] = { IOV_M_SEGS_PS };
  by_size_table(f, "Packet rate by frame size, packets/s received and % of line rate on the wire", g, n,
                want_frame, pps, 2, 2, true);
  by_size_table(f, "TCP segments by message size, segments/s sent", g, n, want_segs, segs, 1, 0, false);
  cpu_table(f, g, n);
  scaling_table(f, "Inter-VM (two VMs on one host, vm-vm-same)", g, n, want_intervm);
  scaling_table(f, "Scaling: VMs sharing the path (aggregate, per VM, fairness, start skew)", g, n,
                want_scaling);
  bool reps = iov_report_has_repeats(r);
  fprintf(
      f, "\n%s\n",
      reps ? "Each cell: the mean over a point's runs ±the half-width of the confidence interval of the mean "
             "(95 %, or the plan's confidence level)."
           : "Each point ran once: no intervals (plan 'repeat' gives them).");
  iov_report_groups_free(g, n);
}

void iov_report_mean_summary(const struct iov_point_group *g, struct iov_point_summary *out) {
  *out = *g->first;
  out->status = (char *)g->status;
  out->idx = g->point_no;
  if (!g->ok) return;
  for (int m = 0; m < IOV_M_MAX; m++)
    if (metrics[m].off != SIZE_MAX) *(double *)((char *)out + metrics[m].off) = g->stat[m].mean;
}
