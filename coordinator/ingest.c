/* Sample and result ingest: what a point's agents send, checked against
 * what the point could have produced, then stored (coordinator/ingest.h). */
#include "ingest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clocksync.h"
#include "err.h"
#include "log.h"
#include "macro.h"
#include "peer.h"

/* A generous bound on any link a flow can run over: 2^40 bytes/s (8.8
 * Tbit/s).  Counters of a point are checked against what this moves in the
 * point's whole span, and are in any case below 2^62, so no stored value
 * is negative and sums of them stay far from 2^63 (and report's sums are
 * taken as REAL anyway). */
#define LINK_BOUND_BYTES_PER_S (1ULL << 40)
#define COUNTER_CAP ((1ULL << 62) - 1)
/* Samples an agent may send beyond the point's span / interval. */
#define SEQ_SLACK 16

static const char *role(const struct iov_ingest_agent *a) { return a->sender ? "sender" : "receiver"; }

static void point_fail(struct iov_ingest_point *pt, const char *fmt, ...) _printf_(2, 3);
static void point_fail(struct iov_ingest_point *pt, const char *fmt, ...) {
  char reason[768];
  va_list ap;
  if (!pt->fail) return;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  pt->fail(pt->fail_arg, reason);
}

/* The store failed: the results API put its reason into err already;
 * an allocation here says so. */
static int store_failed(int r, char *err, size_t errlen) {
  if (r == -ENOMEM) return iov_errf(r, err, errlen, "%s", iov_strerror(r));
  return r;
}

uint64_t iov_ingest_span_ns(uint64_t warmup_ns, uint64_t duration_ns, uint64_t sample_interval_ns) {
  return warmup_ns + duration_ns + IOV_AGENT_FINISH_GRACE_NS + sample_interval_ns;
}

static uint64_t max_seq(const struct iov_ingest_point *pt) {
  uint64_t iv = pt->sample_interval_ns ? pt->sample_interval_ns : IOV_NSEC_PER_SEC;
  return pt->span_ns / iv + SEQ_SLACK;
}

/* Bytes (and so messages, transactions, datagrams) one flow can move in
 * the point. */
static uint64_t max_count(const struct iov_ingest_point *pt) {
  uint64_t secs = pt->span_ns / IOV_NSEC_PER_SEC + 1;
  return secs > COUNTER_CAP / LINK_BOUND_BYTES_PER_S ? COUNTER_CAP : secs * LINK_BOUND_BYTES_PER_S;
}

/* Whether v is a count the point could have produced; else err says so. */
static bool count_ok(const char *what, uint64_t v, uint64_t max, char *err, size_t errlen) {
  if (v <= max) return true;
  (void)iov_errf(-ERANGE, err, errlen,
                 "%s %" PRIu64 ", more than this point can produce (at most %" PRIu64 ")", what, v, max);
  return false;
}

static bool flow_counts_ok(const struct iov_ingest_point *pt, uint64_t bytes, uint64_t messages,
                           uint64_t trans, uint64_t lost, uint64_t ooo, uint64_t dup, uint64_t jitter,
                           uint64_t retr, uint64_t segs_out, uint64_t segs_in, char *err, size_t errlen) {
  uint64_t m = max_count(pt), span = pt->span_ns;
  return count_ok("bytes", bytes, m, err, errlen) && count_ok("messages", messages, m, err, errlen) &&
         count_ok("transactions", trans, m, err, errlen) && count_ok("lost", lost, m, err, errlen) &&
         count_ok("out_of_order", ooo, m, err, errlen) && count_ok("duplicates", dup, m, err, errlen) &&
         count_ok("jitter_ns", jitter, span, err, errlen) && count_ok("retransmits", retr, m, err, errlen) &&
         count_ok("segs_out", segs_out, m, err, errlen) && count_ok("segs_in", segs_in, m, err, errlen);
}

/* A whole batch is checked before any of it is stored: one absurd number
 * and none of it is. */
int iov_ingest_batch_check(const struct iov_ingest_point *pt, const Iovbench__SampleBatch *b, char *err,
                           size_t errlen) {
  if (!count_ok("sequence number", b->seq, max_seq(pt), err, errlen)) return -ERANGE;
  for (size_t i = 0; i < b->n_flows; i++) {
    const Iovbench__FlowSample *fs = b->flows[i];
    if (!flow_counts_ok(pt, fs->bytes, fs->messages, fs->transactions, fs->lost, fs->out_of_order,
                        fs->duplicates, fs->jitter_ns, fs->retransmits, fs->segs_out, fs->segs_in, err,
                        errlen))
      return -ERANGE;
    struct iov_hist_summary hs;
    if (fs->latency && iov_wire_hist_summary(fs->latency, &hs) == 0 &&
        (!count_ok("latency count", hs.count, max_count(pt), err, errlen) ||
         !count_ok("latency sum (ns)", hs.sum, COUNTER_CAP, err, errlen)))
      return -ERANGE;
  }
  /* CPU times: at most the span, per CPU (and a VM's, per vCPU: 2^20 of
   * them is generous); counts of interrupts: bounded as counters. */
  uint64_t t = pt->span_ns << 20;
  for (size_t i = 0; i < b->n_cpus; i++) {
    const Iovbench__CpuSample *cs = b->cpus[i];
    const uint64_t v[] = { cs->user_ns, cs->nice_ns,    cs->system_ns, cs->idle_ns, cs->iowait_ns,
                           cs->irq_ns,  cs->softirq_ns, cs->steal_ns,  cs->guest_ns };
    for (size_t k = 0; k < ELEMENTSOF(v); k++)
      if (!count_ok("CPU time (ns)", v[k], t > COUNTER_CAP ? COUNTER_CAP : t, err, errlen)) return -ERANGE;
  }
  if (b->host_cpu) {
    const Iovbench__VmHostCpu *hc = b->host_cpu;
    const uint64_t v[] = { hc->interval_ns, hc->vcpu_ns,  hc->io_ns,    hc->vhost_ns,
                           hc->kvm_ns,      hc->total_ns, hc->kvm_exits };
    for (size_t k = 0; k < ELEMENTSOF(v); k++)
      if (!count_ok("VM CPU time or exits", v[k], t > COUNTER_CAP ? COUNTER_CAP : t, err, errlen))
        return -ERANGE;
  }
  for (size_t i = 0; i < b->n_irqs; i++)
    if (!count_ok("interrupts", b->irqs[i]->count, max_count(pt), err, errlen)) return -ERANGE;
  return 0;
}

int iov_ingest_result_check(const struct iov_ingest_point *pt, const Iovbench__Result *res, char *err,
                            size_t errlen) {
  if (!count_ok("sample count", res->samples, max_seq(pt), err, errlen)) return -ERANGE;
  for (size_t i = 0; i < res->n_flows; i++) {
    const Iovbench__FlowResult *fr = res->flows[i];
    if (!flow_counts_ok(pt, fr->bytes, fr->messages, fr->transactions, fr->lost, fr->out_of_order,
                        fr->duplicates, fr->jitter_ns, fr->retransmits, fr->segs_out, fr->segs_in, err,
                        errlen))
      return -ERANGE;
  }
  return 0;
}

int iov_ingest_samples(struct iov_ingest_point *pt, struct iov_ingest_agent *a,
                       const Iovbench__SampleBatch *b, char *err, size_t errlen) {
  int r = 0;
  char why[160];

  if (iov_ingest_batch_check(pt, b, why, sizeof(why)) < 0) {
    iov_warn("point %u: %s '%s' sent sample batch %u with %s: refused, nothing of it stored", pt->number,
             role(a), a->name, b->seq, why);
    return 0;
  }

  if (b->seq <= a->last_seq) {
    iov_warn("point %u: %s '%s' sent sample %u again (after %u); dropped", pt->number, role(a), a->name,
             b->seq, a->last_seq);
    return 0;
  }
  if (b->seq != a->last_seq + 1) {
    iov_warn("point %u: %s '%s' sample %u arrived after %u: %u sample(s) missing, stored as a gap",
             pt->number, role(a), a->name, b->seq, a->last_seq, b->seq - a->last_seq - 1);
    r = iov_db_gap_add(pt->db, pt->db_point, a->db_agent, a->last_seq, b->seq - a->last_seq - 1, err, errlen);
    if (r < 0) return store_failed(r, err, errlen);
  }
  a->last_seq = b->seq;
  a->samples++;
  uint64_t t_start = iov_clock_to_coord(b->t_start_ns, a->offset_ns);
  uint64_t t_end = iov_clock_to_coord(b->t_end_ns, a->offset_ns);
  /* Live: bytes as receivers got them, transactions as senders made them. */
  uint64_t live_bytes = 0, live_trans = 0;
  for (size_t i = 0; i < b->n_flows; i++) {
    if (!a->sender) live_bytes += b->flows[i]->bytes;
    if (a->sender) live_trans += b->flows[i]->transactions;
  }
  if (pt->pg) iov_progress_sample(pt->pg, live_bytes, live_trans, t_start, t_end);
  for (size_t i = 0; i < b->n_flows && r == 0; i++) {
    const Iovbench__FlowSample *fs = b->flows[i];
    if (fs->flow >= a->flows) {
      iov_warn("agent '%s' sent a sample for flow %u of a %u-flow point; dropped", a->name, fs->flow,
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
      .segs_out = fs->segs_out,
      .segs_in = fs->segs_in,
    };
    /* Stored as it came (validated on decode): no dense copy. */
    struct iov_db_sparse_hist sh;
    if (fs->latency && iov_wire_hist_summary(fs->latency, &sh.sum) == 0) {
      sh.index = fs->latency->index;
      sh.count = fs->latency->count;
      sh.n = fs->latency->n_index;
      s.sparse = &sh;
    }
    r = iov_db_sample_add(pt->db, a->flow_id[fs->flow], &s, err, errlen);
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
    r = iov_db_cpu_sample_add(pt->db, pt->db_point, a->db_agent, b->seq, &dc, err, errlen);
  }
  /* What the guest's VM cost its host in the same interval. */
  if (b->host_cpu && r == 0 && a->guest) {
    struct iov_db_vm_cpu vc = { .interval_ns = b->host_cpu->interval_ns,
                                .vcpu_ns = b->host_cpu->vcpu_ns,
                                .io_ns = b->host_cpu->io_ns,
                                .vhost_ns = b->host_cpu->vhost_ns,
                                .kvm_ns = b->host_cpu->kvm_ns,
                                .total_ns = b->host_cpu->total_ns,
                                .kvm_exits = b->host_cpu->kvm_exits,
                                .kvm_exits_known = b->host_cpu->kvm_exits_known };
    r = iov_db_vm_cpu_add(pt->db, pt->db_point, a->db_agent, b->seq, &vc, err, errlen);
  }
  for (size_t i = 0; i < b->n_irqs && r == 0; i++)
    r = iov_db_irq_sample_add(pt->db, pt->db_point, a->db_agent, b->seq, b->irqs[i]->name, b->irqs[i]->count,
                              err, errlen);
  return r < 0 ? store_failed(r, err, errlen) : 0;
}

int iov_ingest_result(struct iov_ingest_point *pt, struct iov_ingest_agent *a, const Iovbench__Result *res,
                      char *err, size_t errlen) {
  struct iov_hist *h = NULL;
  int r = 0;
  char why[160];

  if (iov_ingest_result_check(pt, res, why, sizeof(why)) < 0) {
    /* Its result is counted as given (the point does not wait for it) but
     * none of it is stored: the point fails, saying why. */
    iov_warn("point %u: %s '%s' sent a result with %s: refused, nothing of it stored", pt->number, role(a),
             a->name, why);
    point_fail(pt, "%s '%s' sent a result with %s: refused", role(a), a->name, why);
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
      .t_start_ns = iov_clock_to_coord(fr->t_start_ns, a->offset_ns),
      .t_end_ns = iov_clock_to_coord(fr->t_end_ns, a->offset_ns),
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
      .segs_out = fr->segs_out,
      .segs_in = fr->segs_in,
      .incomplete = !fr->complete,
    };
    if (fr->latency) {
      if (!h && !(h = malloc(sizeof(*h)))) return store_failed(-ENOMEM, err, errlen);
      if (iov_wire_hist_from_pb(fr->latency, h) == 0) s.hist = h;
    }
    if (fr->error || s.error_text)
      point_fail(pt, "%s '%s' flow %u: %s", role(a), a->name, fr->flow,
                 s.error_text ? s.error_text : iov_strerror(fr->error));
    r = iov_db_result_add(pt->db, a->flow_id[fr->flow], &s, err, errlen);
  }
  free(h);
  if (a->sender && res->window_start_ns && res->window_end_ns) {
    uint64_t ws = iov_clock_to_coord(res->window_start_ns, a->offset_ns);
    uint64_t we = iov_clock_to_coord(res->window_end_ns, a->offset_ns);
    if (!pt->win_start || ws < pt->win_start) pt->win_start = ws;
    if (we > pt->win_end) pt->win_end = we;
  }
  a->started = iov_clock_to_coord(res->started_ns, a->offset_ns);
  for (size_t i = 0; i < res->n_flows; i++) a->bytes += res->flows[i]->bytes;
  if (res->window_end_ns > res->window_start_ns) a->win_ns = res->window_end_ns - res->window_start_ns;
  /* Samples at the end that never came: a gap too. */
  if (r == 0 && res->samples > a->last_seq) {
    iov_warn("point %u: %s '%s' sent %u samples but the last %u never arrived; stored as a gap", pt->number,
             role(a), a->name, res->samples, res->samples - a->last_seq);
    r = iov_db_gap_add(pt->db, pt->db_point, a->db_agent, a->last_seq, res->samples - a->last_seq, err,
                       errlen);
  }
  return r < 0 ? store_failed(r, err, errlen) : 0;
}

/* vf_rate caps what each VF sends, in the NIC.  Some NICs take the
 * setting and ignore it (qemu's emulated igb does): then the point did not
 * measure what the plan asked for, and the user must hear it.  A VM that
 * sent more than a quarter over the cap is the evidence. */
void iov_ingest_check_vf_rate(const struct iov_plan_point *pp, const struct iov_ingest_agent *const *agents,
                              size_t n) {
  if (!pp->p.vf_rate || pp->p.path_id != IOV_PATH_SRIOV) return;
  const struct iov_ingest_agent *worst = NULL;
  double worst_bps = 0;
  for (size_t i = 0; i < n; i++) {
    const struct iov_ingest_agent *a = agents[i];
    if (!a->sender || !a->win_ns || !a->guest) continue;
    double bps = (double)a->bytes * 8e9 / (double)a->win_ns;
    if (bps > worst_bps) worst_bps = bps, worst = a;
  }
  if (worst && worst_bps > 1.25 * (double)pp->p.vf_rate)
    iov_warn("test point %u (%s%s%s): vf_rate not enforced: VM '%s' sent %.0f Mbit/s through a VF limited to "
             "%.0f Mbit/s; the NIC or its driver accepts the VF rate limit but does not apply it (qemu's "
             "emulated igb is one such), so this point measured an unlimited VF",
             pp->index + 1, pp->test, *pp->sweep ? " " : "", pp->sweep, worst->name, worst_bps / 1e6,
             (double)pp->p.vf_rate / 1e6);
}
