#include "sampler.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "timeutil.h"

/* How long after the window a point may wait for its flows to end (a
 * receiver waits for the sender's last bytes) before they are stopped. */
#define FINISH_GRACE_MS 10000

static void on_sample_timer(uv_timer_t *t);
static void on_grace_timer(uv_timer_t *t);
static void on_engine_done(uv_async_t *h);

static void engine_done_cb(void *userdata) {
  struct iov_agent_point *p = userdata;
  uv_async_send(&p->done_async); /* the only libuv call that is thread-safe */
}

int iov__point_new(struct iov_agent *a, uint64_t id, const struct iov_engine_config *cfg,
                   const struct iov_engine_ops *ops, const Iovbench__Workload *w,
                   struct iov_agent_point **ret) {
  struct iov_agent_point *p = calloc(1, sizeof(*p));
  int r;

  if (!p) return -ENOMEM;
  p->agent = a;
  p->id = id;
  p->role = cfg->role;
  p->state = IOV_PS_PREPARED;
  p->has_latency = (ops->flags & IOV_ENG_F_RR) && cfg->role == IOV_ROLE_SENDER;
  p->eng_flags = ops->flags;
  p->interval_ns = w->sample_interval_ns;
  p->duration_ns = w->duration_ns;
  p->warmup_ns = w->warmup_ns;
  p->n_samples = (uint32_t)((w->duration_ns + w->sample_interval_ns - 1) / w->sample_interval_ns);
  p->workload = strdup(w->name);
  p->prev = calloc(cfg->flows, sizeof(*p->prev));
  p->scratch = calloc(cfg->flows, sizeof(*p->scratch));
  p->base = calloc(cfg->flows, sizeof(*p->base));
  p->tcp_base = calloc(cfg->flows, sizeof(*p->tcp_base));
  p->tcp_prev = calloc(cfg->flows, sizeof(*p->tcp_prev));
  p->tcp_sum = calloc(cfg->flows, sizeof(*p->tcp_sum));
  if (!p->workload || !p->prev || !p->scratch || !p->base || !p->tcp_base || !p->tcp_prev || !p->tcp_sum) {
    r = -ENOMEM;
    goto fail;
  }
  for (unsigned i = 0; i < cfg->flows; i++) {
    iov_hist_init(&p->prev[i].hist);
    iov_hist_init(&p->base[i].hist);
  }
  if (a->cpustat) {
    /* Room for CPUs that come online during the point. */
    p->cpu_cap = iov_cpustat_count(a->cpustat) + 64;
    p->cpu_prev = calloc(p->cpu_cap, sizeof(*p->cpu_prev));
    p->cpu_cur = calloc(p->cpu_cap, sizeof(*p->cpu_cur));
    if (!p->cpu_prev || !p->cpu_cur) {
      r = -ENOMEM;
      goto fail;
    }
  }
  if (a->irqstat) {
    p->irq_prev = iov_irqstat_snap_new();
    p->irq_cur = iov_irqstat_snap_new();
    if (!p->irq_prev || !p->irq_cur) {
      r = -ENOMEM;
      goto fail;
    }
  }
  r = iov_engine_run_new(ops, cfg, &p->run);
  if (r < 0) goto fail;
  uv_timer_init(&a->loop, &p->sample_timer);
  uv_timer_init(&a->loop, &p->grace_timer);
  r = uv_async_init(&a->loop, &p->done_async, on_engine_done);
  p->open_handles = 2;
  if (r < 0) {
    iov__point_free(p);
    return r;
  }
  p->open_handles = 3;
  *ret = p;
  return 0;
fail:
  free(p->cpu_prev);
  free(p->cpu_cur);
  iov_irqstat_snap_free(p->irq_prev);
  iov_irqstat_snap_free(p->irq_cur);
  iov_engine_run_free(p->run);
  free(p->prev);
  free(p->scratch);
  free(p->base);
  free(p->tcp_base);
  free(p->tcp_prev);
  free(p->tcp_sum);
  free(p->workload);
  free(p);
  return r;
}

/* The timers run on CLOCK_MONOTONIC from the start instant as converted
 * at receipt (start_mono_ns): a step of the machine's clock (NTP, a VM
 * resumed) neither fires a burst of samples nor holds them back past
 * coord's deadline. */
static void arm_sample_timer(struct iov_agent_point *p) {
  uint64_t window_start = p->start_mono_ns + p->warmup_ns;
  uint64_t target = window_start + (uint64_t)(p->seq + 1) * p->interval_ns;
  uint64_t end = window_start + p->duration_ns;
  uint64_t now = iov_now_mono();
  if (target > end) target = end;
  if (!p->baseline_taken) target = window_start;
  uv_update_time(&p->agent->loop);
  uv_timer_start(&p->sample_timer, on_sample_timer,
                 target > now ? (target - now + IOV_NSEC_PER_MSEC - 1) / IOV_NSEC_PER_MSEC : 0, 0);
}

/* A CLOCK_REALTIME stamp on the point's own timeline: the start instant
 * plus the monotonic time since.  The samples' stamps stay in the clock
 * domain coord measured before the point, whatever the clock does
 * during it. */
static uint64_t point_stamp(const struct iov_agent_point *p) {
  uint64_t now = iov_now_mono();
  return now >= p->start_mono_ns ? p->start_at_ns + (now - p->start_mono_ns)
                                 : p->start_at_ns - (p->start_mono_ns - now);
}

/* Read the machine's counters into the 'prev' side: the base of the next
 * sample.  A failure leaves that sample without CPU or interrupt data. */
static void host_baseline(struct iov_agent_point *p) {
  struct iov_agent *a = p->agent;
  int r;
  p->n_cpu_prev = 0;
  if (a->cpustat) {
    r = iov_cpustat_read(a->cpustat, p->cpu_prev, p->cpu_cap);
    if (r > 0) p->n_cpu_prev = (size_t)r;
  }
  if (a->irqstat) (void)iov_irqstat_read(a->irqstat, p->irq_prev);
}

static uint64_t sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

/* The machine's CPU time per core and NIC interrupts since the last
 * sample, into the batch.  The arrays are owned by the caller's cleanup
 * (host_sample_done). */
struct host_sample {
  Iovbench__CpuSample *cpu;
  Iovbench__CpuSample **cpup;
  Iovbench__IrqSample *irq;
  Iovbench__IrqSample **irqp;
  struct iov_irqstat_rate *rates;
};

static void host_sample(struct iov_agent_point *p, Iovbench__SampleBatch *b, struct host_sample *hs) {
  struct iov_agent *a = p->agent;
  int r;

  if (a->cpustat && p->n_cpu_prev) {
    r = iov_cpustat_read(a->cpustat, p->cpu_cur, p->cpu_cap);
    if (r > 0) {
      size_t n = (size_t)r, k = 0;
      hs->cpu = calloc(n, sizeof(*hs->cpu));
      hs->cpup = calloc(n, sizeof(*hs->cpup));
      for (size_t i = 0; hs->cpu && hs->cpup && i < n; i++) {
        const struct iov_cpustat_core *c = &p->cpu_cur[i], *o = NULL;
        for (size_t j = 0; j < p->n_cpu_prev && !o; j++)
          if (p->cpu_prev[j].cpu == c->cpu) o = &p->cpu_prev[j];
        if (!o) continue; /* came online in this interval */
        Iovbench__CpuSample *cs = &hs->cpu[k];
        iovbench__cpu_sample__init(cs);
        cs->cpu = c->cpu;
        cs->user_ns = sub0(c->user_ns, o->user_ns);
        cs->nice_ns = sub0(c->nice_ns, o->nice_ns);
        cs->system_ns = sub0(c->system_ns, o->system_ns);
        cs->idle_ns = sub0(c->idle_ns, o->idle_ns);
        cs->iowait_ns = sub0(c->iowait_ns, o->iowait_ns);
        cs->irq_ns = sub0(c->irq_ns, o->irq_ns);
        cs->softirq_ns = sub0(c->softirq_ns, o->softirq_ns);
        cs->steal_ns = sub0(c->steal_ns, o->steal_ns);
        cs->guest_ns = sub0(c->guest_ns, o->guest_ns);
        hs->cpup[k++] = cs;
      }
      b->cpus = hs->cpup;
      b->n_cpus = hs->cpup ? k : 0;
      struct iov_cpustat_core *t = p->cpu_prev;
      p->cpu_prev = p->cpu_cur;
      p->cpu_cur = t;
      p->n_cpu_prev = n;
    }
  }
  if (a->irqstat && iov_irqstat_read(a->irqstat, p->irq_cur) >= 0) {
    size_t cap = iov_irqstat_snap_view(p->irq_cur)->n_queues;
    hs->rates = cap ? calloc(cap, sizeof(*hs->rates)) : NULL;
    int n = hs->rates ? iov_irqstat_delta(p->irq_prev, p->irq_cur, hs->rates, cap) : 0;
    if (n > 0) {
      hs->irq = calloc((size_t)n, sizeof(*hs->irq));
      hs->irqp = calloc((size_t)n, sizeof(*hs->irqp));
      for (int i = 0; hs->irq && hs->irqp && i < n; i++) {
        iovbench__irq_sample__init(&hs->irq[i]);
        hs->irq[i].name = (char *)hs->rates[i].name;
        hs->irq[i].count = hs->rates[i].count;
        hs->irqp[i] = &hs->irq[i];
      }
      if (hs->irq && hs->irqp) {
        b->irqs = hs->irqp;
        b->n_irqs = (size_t)n;
      }
    }
  }
}

/* Called after the batch is sent: the names point into irq_cur. */
static void host_sample_done(struct iov_agent_point *p, struct host_sample *hs) {
  free(hs->cpu);
  free(hs->cpup);
  free(hs->irq);
  free(hs->irqp);
  free(hs->rates);
  if (p->irq_cur) {
    struct iov_irqstat_snap *t = p->irq_prev;
    p->irq_prev = p->irq_cur;
    p->irq_cur = t;
  }
}

int iov__point_start(struct iov_agent_point *p, uint64_t start_at_ns) {
  int r;
  p->start_at_ns = start_at_ns;
  p->start_mono_ns = iov_real_to_mono(start_at_ns);
  p->window_start_ns = start_at_ns + p->warmup_ns;
  p->last_sample_ns = p->window_start_ns;
  /* Without a warm-up the window opens with the flows: the baseline is zero. */
  p->baseline_taken = p->warmup_ns == 0;
  if (p->baseline_taken) host_baseline(p);
  r = iov_engine_run_start(p->run, start_at_ns, engine_done_cb, p);
  if (r < 0) return r;
  p->state = IOV_PS_RUNNING;
  arm_sample_timer(p);
  return 0;
}

/* A kernel counter's change since prev, never negative.  The segment
 * counters are the kernel's 32-bit ones: they are taken modulo 2^32 per
 * interval (no interval sends 4 billion segments) and summed, so a long
 * window's total survives their wrap. */
static uint64_t counter_delta(uint64_t cur, uint64_t prev) { return cur > prev ? cur - prev : 0; }

/* Build and send one SampleBatch: the change of every flow's counters
 * since the previous sample. */
static void send_sample(struct iov_agent_point *p) {
  unsigned n = iov_engine_run_flows(p->run);
  uint64_t now = point_stamp(p);
  Iovbench__FlowSample *fs = calloc(n, sizeof(*fs));
  Iovbench__FlowSample **fsp = calloc(n, sizeof(*fsp));
  Iovbench__Histogram *hp = calloc(n, sizeof(*hp));
  struct iov_hist *delta = p->has_latency ? malloc(sizeof(*delta)) : NULL;

  if (!fs || !fsp || !hp || (p->has_latency && !delta)) {
    iov_err("out of memory building sample %u of point %" PRIu64, p->seq + 1, p->id);
    goto out;
  }
  for (unsigned i = 0; i < n; i++) {
    struct iov_flow_stats *cur = &p->scratch[i], *prev = &p->prev[i];
    iov_engine_run_snapshot(p->run, i, cur);
    iovbench__flow_sample__init(&fs[i]);
    fs[i].flow = i;
    fs[i].bytes = cur->bytes - prev->bytes;
    fs[i].messages = cur->messages - prev->messages;
    fs[i].transactions = cur->transactions - prev->transactions;
    /* A late datagram lowers the loss count: never report a negative. */
    fs[i].lost = cur->lost > prev->lost ? cur->lost - prev->lost : 0;
    fs[i].out_of_order = cur->out_of_order - prev->out_of_order;
    fs[i].duplicates = cur->duplicates - prev->duplicates;
    fs[i].jitter_ns = cur->jitter_ns;
    struct iov_tcp_info ti;
    if (iov_engine_run_tcp_info(p->run, i, &ti) == 0) {
      const struct iov_tcp_info *tp = &p->tcp_prev[i];
      fs[i].retransmits = counter_delta(ti.retransmits, tp->retransmits);
      fs[i].segs_out = (uint32_t)(ti.segs_out - tp->segs_out);
      fs[i].segs_in = (uint32_t)(ti.segs_in - tp->segs_in);
      p->tcp_sum[i].segs_out += fs[i].segs_out;
      p->tcp_sum[i].segs_in += fs[i].segs_in;
      p->tcp_prev[i] = ti;
      fs[i].rtt_us = ti.rtt_us;
      fs[i].snd_cwnd = ti.snd_cwnd;
    }
    if (delta && iov_hist_delta(delta, &cur->hist, &prev->hist) == 0 &&
        iov_wire_hist_to_pb(delta, &hp[i]) == 0)
      fs[i].latency = &hp[i];
    fsp[i] = &fs[i];
  }
  p->seq++;
  Iovbench__SampleBatch b = IOVBENCH__SAMPLE_BATCH__INIT;
  b.point_id = p->id;
  b.seq = p->seq;
  b.t_start_ns = p->last_sample_ns;
  b.t_end_ns = now > p->last_sample_ns ? now : p->last_sample_ns;
  b.flows = fsp;
  b.n_flows = n;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_SAMPLES;
  e.samples = &b;
  struct host_sample hs = { 0 };
  host_sample(p, &b, &hs);
  (void)iov__agent_send(p->agent, &e, 0);
  host_sample_done(p, &hs);
  p->last_sample_ns = b.t_end_ns;
  /* The current snapshot becomes the base of the next interval. */
  struct iov_flow_stats *tmp = p->prev;
  p->prev = p->scratch;
  p->scratch = tmp;
out:
  for (unsigned i = 0; hp && i < n; i++) iov_wire_hist_pb_done(&hp[i]);
  free(delta);
  free(hp);
  free(fsp);
  free(fs);
}

static void send_result(struct iov_agent_point *p, const char *error) {
  unsigned n = iov_engine_run_flows(p->run);
  Iovbench__FlowResult *fr = calloc(n, sizeof(*fr));
  Iovbench__FlowResult **frp = calloc(n, sizeof(*frp));
  Iovbench__Histogram *hp = calloc(n, sizeof(*hp));
  struct iov_hist *delta = p->has_latency ? malloc(sizeof(*delta)) : NULL;

  if (!fr || !frp || !hp || (p->has_latency && !delta)) {
    iov_err("out of memory building the result of point %" PRIu64, p->id);
    goto out;
  }
  uint64_t window_end = p->window_start_ns + p->duration_ns;
  for (unsigned i = 0; i < n; i++) {
    /* After the last sample, prev holds each flow's final counters; the
     * result is what changed in the window, from base to there. */
    const struct iov_flow_stats *s = &p->prev[i], *b = &p->base[i];
    iovbench__flow_result__init(&fr[i]);
    fr[i].flow = i;
    fr[i].bytes = s->bytes - b->bytes;
    fr[i].messages = s->messages - b->messages;
    fr[i].transactions = s->transactions - b->transactions;
    fr[i].lost = s->lost > b->lost ? s->lost - b->lost : 0;
    fr[i].out_of_order = s->out_of_order - b->out_of_order;
    fr[i].duplicates = s->duplicates - b->duplicates;
    fr[i].jitter_ns = s->jitter_ns;
    fr[i].retransmits = counter_delta(p->tcp_prev[i].retransmits, p->tcp_base[i].retransmits);
    fr[i].segs_out = p->tcp_sum[i].segs_out;
    fr[i].segs_in = p->tcp_sum[i].segs_in;
    fr[i].t_start_ns = s->t_start_ns > p->window_start_ns ? s->t_start_ns : p->window_start_ns;
    fr[i].t_end_ns = s->t_end_ns;
    fr[i].error = s->error;
    /* Whole window: began by its start and ran to its end (10 ms of
     * slack for the clocks' granularity), without error. */
    fr[i].complete = !s->error && s->t_start_ns &&
                     s->t_start_ns <= p->window_start_ns + 10 * IOV_NSEC_PER_MSEC &&
                     s->t_end_ns + 10 * IOV_NSEC_PER_MSEC >= window_end;
    if (s->error)
      fr[i].error_text = (char *)iov_strerror(s->error);
    else if (error)
      fr[i].error_text = (char *)error;
    if (p->has_latency && delta && iov_hist_delta(delta, &s->hist, &b->hist) == 0 &&
        iov_wire_hist_to_pb(delta, &hp[i]) == 0)
      fr[i].latency = &hp[i];
    frp[i] = &fr[i];
  }
  Iovbench__Result res = IOVBENCH__RESULT__INIT;
  res.point_id = p->id;
  res.role = p->role == IOV_ROLE_SENDER ? IOVBENCH__ROLE__ROLE_SENDER : IOVBENCH__ROLE__ROLE_RECEIVER;
  res.samples = p->seq;
  res.flows = frp;
  res.n_flows = n;
  res.window_start_ns = p->window_start_ns;
  res.window_end_ns = window_end;
  /* When the first flow really began: coord compares it across agents
   * (the achieved start skew). */
  for (unsigned i = 0; i < n; i++)
    if (p->prev[i].t_start_ns && (!res.started_ns || p->prev[i].t_start_ns < res.started_ns))
      res.started_ns = p->prev[i].t_start_ns;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_RESULT;
  e.result = &res;
  (void)iov__agent_send(p->agent, &e, 0);
out:
  for (unsigned i = 0; hp && i < n; i++) iov_wire_hist_pb_done(&hp[i]);
  free(delta);
  free(hp);
  free(frp);
  free(fr);
}

void iov__point_finish(struct iov_agent_point *p, const char *error) {
  if (p->state != IOV_PS_RUNNING) return;
  uv_timer_stop(&p->sample_timer);
  uv_timer_stop(&p->grace_timer);
  /* Joins the flow threads: every counter is final after this. */
  iov_engine_run_stop(p->run);
  send_sample(p);
  send_result(p, error);
  p->state = IOV_PS_FINISHED;
  iov_debug(IOV_DBG_PROTO, "point %" PRIu64 ": finished after %u samples", p->id, p->seq);
}

static bool any_flow_failed(struct iov_agent_point *p) {
  struct iov_flow_stats *s = p->scratch;
  for (unsigned i = 0; i < iov_engine_run_flows(p->run); i++) {
    iov_engine_run_snapshot(p->run, i, s);
    if (s->error) return true;
  }
  return false;
}

/* The point is over: send what is left and release it. */
static void complete(struct iov_agent_point *p, const char *error) {
  struct iov_agent *a = p->agent;
  iov__point_finish(p, error);
  if (a->point == p) a->point = NULL;
  iov__point_free(p);
}

/* The window opens: what the flows did in the warm-up becomes the base
 * that every sample and the Result are measured from. */
static void take_baseline(struct iov_agent_point *p) {
  for (unsigned i = 0; i < iov_engine_run_flows(p->run); i++) {
    struct iov_tcp_info ti;
    iov_engine_run_snapshot(p->run, i, &p->base[i]);
    memcpy(&p->prev[i], &p->base[i], sizeof(p->base[i]));
    if (iov_engine_run_tcp_info(p->run, i, &ti) == 0) p->tcp_base[i] = p->tcp_prev[i] = ti;
    p->tcp_sum[i] = (struct iov_tcp_info){ 0 };
  }
  p->baseline_taken = true;
  p->last_sample_ns = point_stamp(p);
  host_baseline(p);
}

static void on_sample_timer(uv_timer_t *t) {
  struct iov_agent_point *p = container_of(t, struct iov_agent_point, sample_timer);

  if (!p->baseline_taken) {
    take_baseline(p);
    arm_sample_timer(p);
    return;
  }

  if (p->seq + 1 < p->n_samples) {
    send_sample(p);
    arm_sample_timer(p);
    return;
  }
  /* The window is over.  The last sample waits for the flows to end, so
   * that it (and the Result) holds every byte. */
  if (p->engine_done) {
    complete(p, NULL);
    return;
  }
  p->final_pending = true;
  uv_timer_start(&p->grace_timer, on_grace_timer, FINISH_GRACE_MS, 0);
}

static void on_grace_timer(uv_timer_t *t) {
  struct iov_agent_point *p = container_of(t, struct iov_agent_point, grace_timer);
  iov_warn("point %" PRIu64 ": flows still running %d ms after the window; stopping them", p->id,
           FINISH_GRACE_MS);
  complete(p, "flows did not end after the window (peer silent?)");
}

static void on_engine_done(uv_async_t *h) {
  struct iov_agent_point *p = container_of(h, struct iov_agent_point, done_async);
  if (p->state != IOV_PS_RUNNING || p->engine_done) return;
  p->engine_done = true;
  if (p->final_pending)
    complete(p, NULL);
  else if (any_flow_failed(p))
    complete(p, "a flow failed before the window ended");
  /* Otherwise the flows ended early without error (a receiver whose
   * sender is done): the remaining samples are sent on schedule. */
}

static void on_handle_closed(uv_handle_t *h) {
  struct iov_agent_point *p = h->data;
  if (--p->open_handles > 0) return;
  free(p->prev);
  free(p->scratch);
  free(p->base);
  free(p->tcp_base);
  free(p->tcp_prev);
  free(p->tcp_sum);
  free(p->cpu_prev);
  free(p->cpu_cur);
  iov_irqstat_snap_free(p->irq_prev);
  iov_irqstat_snap_free(p->irq_cur);
  free(p->workload);
  free(p);
}

void iov__point_free(struct iov_agent_point *p) {
  if (!p) return;
  iov_engine_run_free(TAKE_PTR(p->run)); /* stops and joins first */
  p->sample_timer.data = p->grace_timer.data = p->done_async.data = p;
  int n = p->open_handles;
  if (n >= 1) uv_close((uv_handle_t *)&p->sample_timer, on_handle_closed);
  if (n >= 2) uv_close((uv_handle_t *)&p->grace_timer, on_handle_closed);
  if (n >= 3) uv_close((uv_handle_t *)&p->done_async, on_handle_closed);
}
