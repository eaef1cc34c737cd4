/* Fuzz target: what coord does with the messages of its agents.
 *
 * peer.c receives (iov_peers_recv(): decode, validation, the route to a
 * guest), and then, per message:
 *   Welcome   iov_peer_guest_data_addr(), the inventory JSON
 *             (coordinator/json.c) and the agent row (results.c)
 *   Guests    the host's guest table (iov_peer_guest()), the addresses
 *             the host vouches for (iov_peer_vouch()), names as printed
 *   Error     its text as coord prints it (iov_peer_text(): no control
 *             character left)
 *   Ready     the receiver's ports
 *   Samples   coord's own ingest (coordinator/ingest.c,
 *             iov_ingest_samples()): bounds, order and gaps, every flow
 *             sample (histogram stored sparse), CPU, interrupt and VM CPU
 *             rows; a counter over IOV_DB_COUNT_MAX must be refused, not
 *             stored
 *   Result    coord's own ingest (iov_ingest_result()): bounds, every flow
 *             result (histogram through iov_wire_hist_from_pb()), the
 *             senders' window
 *   ClockReply a clock estimate (lib/clocksync.c) stored with the point;
 *             from then on that part's times are converted by its offset
 * into a results database in a scratch directory (WAL, as coord opens it).
 * At the end of an input the report is loaded and printed (report.c) from
 * what was stored, and the database is closed with the point's
 * transaction still open, which rolls it back, so every input starts from
 * the same database.
 *
 * An input is records [tag][length, 2 bytes LE][frame] (fuzz.h); every
 * frame goes from the host agent "h" to coord, the tag is not used.  The
 * host is the sender of the point, each guest that speaks a receiver,
 * with 4 flows each. */
#include <errno.h>

#include "clocksync.h"
#include "err.h"
#include "fuzz.h"
#include "ingest.h"
#include "json.h"
#include "peer.h"
#include "report.h"
#include "results.h"
#include "timeutil.h"

#define FLOWS 4
#define MAX_PARTS 16
#define MAX_GUESTS 64

struct part {
  struct iov_peer *peer;
  bool sender;
  int64_t flow_id[FLOWS];
  struct iov_ingest_agent in; /* what coord's ingest keeps of it */
  bool ready, result;
  struct iov_clock_probe probes[8];
  unsigned n_probes;
};

static char scratch[PATH_MAX];
static struct iov_db *db;
static int64_t db_run;
static zsock_t *agent;
static zframe_t *rid;
static struct iov_peer *h;
static FILE *devnull;
static struct part parts[MAX_PARTS];
static size_t n_parts;
static int64_t db_point;
/* The point as coord's ingest sees it: a tcp_rr point of 1 s, samples
 * every 100 ms (as the point row says). */
static struct iov_ingest_point pt;
static unsigned n_failed; /* reasons the point failed for (ingest) */

static void cleanup(void) {
  h = iov_peer_free(h);
  zframe_destroy(&rid);
  zsock_destroy(&agent);
  db = iov_db_close(db);
  if (scratch[0]) iov_fuzz_remove_tree(scratch);
}

static _Noreturn void die(const char *what, int r) {
  fprintf(stderr, "fuzz_coord: %s: %s\n", what, strerror(r < 0 ? -r : r));
  abort();
}

static char db_path[PATH_MAX + 16];

static void open_db(void) {
  char err[512] = "";
  int r = iov_db_open(db_path, &db, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "fuzz_coord: %s: %s\n", db_path, err);
    abort();
  }
}

/* What ingest says fails the point. */
static void on_fail(void *arg, const char *reason) {
  (void)arg;
  (void)reason;
  n_failed++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  int r;
  (void)argc;
  (void)argv;
  iov_fuzz_quiet();
  zsys_handler_set(NULL);
  devnull = fopen("/dev/null", "we");
  if (!devnull || iov_fuzz_scratch_dir("coord", scratch) < 0) die("scratch", errno);
  snprintf(db_path, sizeof(db_path), "%s/results.db", scratch);
  open_db();
  if ((r = iov_db_run_begin(db, "fuzz", "fuzz.plan", "[hosts]\nh = local\n", 1, &db_run, NULL, 0)) < 0)
    die("run", r);

  agent = zsock_new(ZMQ_ROUTER);
  if (!agent || zsock_bind(agent, "inproc://fuzz-coord") < 0) die("bind", errno);
  iov_wire_sock_setup(agent);
  if ((r = iov_peer_new("h", "inproc://fuzz-coord", NULL, NULL, NULL, &h)) < 0) die("iov_peer_new", r);
  /* Hello, as coord starts; the agent side learns coord's routing id. */
  Iovbench__Hello hello = IOVBENCH__HELLO__INIT;
  hello.identity = "h";
  hello.run_id = "fuzz";
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HELLO;
  e.hello = &hello;
  if (iov_peer_send(h, &e) < 0) die("hello", errno);
  zmsg_t *m = zmsg_recv(agent);
  if (!m) die("recv hello", errno);
  rid = zmsg_pop(m);
  zmsg_destroy(&m);
  if ((r = iov_db_agent_add(db, db_run, "h", "inproc://fuzz-coord", "fuzz", "{}", &h->db_agent, NULL, 0)) < 0)
    die("agent", r);
  /* After the sockets: czmq's own exit handler must run after ours. */
  atexit(cleanup);
  return 0;
}

static struct part *part_of(struct iov_peer *p) {
  for (size_t i = 0; i < n_parts; i++)
    if (parts[i].peer == p) return &parts[i];
  if (n_parts == MAX_PARTS) return NULL;
  struct part *a = &parts[n_parts];
  memset(a, 0, sizeof(*a));
  a->peer = p;
  a->sender = !p->host;
  a->in = (struct iov_ingest_agent){
    .name = p->name, .sender = a->sender, .guest = p->host != NULL, .flows = FLOWS, .flow_id = a->flow_id
  };
  if (p->host && !p->db_agent &&
      (iov_db_agent_add(db, db_run, p->name, p->endpoint, p->route, "{}", &p->db_agent, NULL, 0) < 0 ||
       iov_db_agent_set_host(db, p->db_agent, h->db_agent, NULL, 0) < 0))
    return NULL;
  for (unsigned i = 0; i < FLOWS; i++)
    if (iov_db_flow_add_link(db, db_point, p->db_agent, a->sender ? "sender" : "receiver", i, i % 2,
                             &a->flow_id[i], NULL, 0) < 0)
      return NULL;
  a->in.db_agent = p->db_agent;
  n_parts++;
  return a;
}

static void on_welcome(struct iov_peer *p, const iov_envelope *e) {
  free(p->data_addr);
  p->data_addr = p->host ? iov_peer_guest_data_addr(e) : NULL;
  json_t *j = iov_json_inventory(p->name, p->endpoint, e->welcome);
  IOV_FUZZ_CHECK(j, "no inventory JSON for a validated Welcome");
  char *s = iov_json_dumps(j);
  IOV_FUZZ_CHECK(s, "the inventory JSON does not dump");
  free(s);
  json_decref(j);
  (void)part_of(p);
}

/* Agent text as coord prints it (iov_peer_text()): no control character
 * left, whatever came. */
static void check_text(const char *s) {
  char buf[256];
  const char *t = iov_peer_text(s, buf, sizeof(buf));
  for (const unsigned char *c = (const unsigned char *)t; *c; c++)
    IOV_FUZZ_CHECK(*c >= 0x20 && *c != 0x7f && !(c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f),
                   "agent text printed with control character 0x%02x", *c);
}

static void on_guests(const Iovbench__Guests *g) {
  for (size_t i = 0; i < g->n_names && h->n_guests < MAX_GUESTS; i++) {
    check_text(g->names[i]);
    struct iov_peer *p = iov_peer_guest(h, g->names[i], true);
    /* The host agent's vouched address, kept per guest (sessions.c). */
    if (p && iov_peer_vouch(p, g->n_addresses == g->n_names ? g->addresses[i] : NULL) < 0)
      die("vouch", -ENOMEM);
  }
  for (size_t i = 0; i < h->n_guests; i++) {
    bool listed = false;
    for (size_t k = 0; k < g->n_names && !listed; k++) listed = !strcmp(g->names[k], h->guests[i]->route);
    h->guests[i]->gone = !listed;
  }
}

/* Whether any of v is above what the store keeps (IOV_DB_COUNT_MAX). */
static bool over(const uint64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] > IOV_DB_COUNT_MAX) return true;
  return false;
}

/* A row with a counter over IOV_DB_COUNT_MAX: the store must refuse it
 * (whatever ingest does before), so nothing is written. */
static void store_refuses(int r, const char *what) {
  IOV_FUZZ_CHECK(r == -IOV_E_DB, "a %s with a counter over 2^62 was stored (%d)", what, r);
}

/* Whether batch b of agent a has a counter over IOV_DB_COUNT_MAX in a row
 * ingest would store (flows of the point, CPUs, the VM's cost for a guest,
 * interrupts); each such row is handed to the store directly, which must
 * refuse it, as coord relies on. */
static bool batch_over(const struct part *a, const Iovbench__SampleBatch *b) {
  bool any = false;
  for (size_t i = 0; i < b->n_flows; i++) {
    const Iovbench__FlowSample *fs = b->flows[i];
    if (fs->flow >= a->in.flows) continue;
    const uint64_t c[] = { fs->bytes,      fs->messages,  fs->transactions, fs->lost,   fs->out_of_order,
                           fs->duplicates, fs->jitter_ns, fs->retransmits,  fs->rtt_us, fs->snd_cwnd };
    if (!over(c, ELEMENTSOF(c))) continue;
    struct iov_db_sample s = { .seq = b->seq,
                               .t_start_ns = b->t_start_ns,
                               .t_end_ns = b->t_end_ns,
                               .bytes = fs->bytes,
                               .messages = fs->messages,
                               .transactions = fs->transactions,
                               .lost = fs->lost,
                               .out_of_order = fs->out_of_order,
                               .duplicates = fs->duplicates,
                               .jitter_ns = fs->jitter_ns,
                               .retransmits = fs->retransmits,
                               .rtt_us = fs->rtt_us,
                               .snd_cwnd = fs->snd_cwnd };
    store_refuses(iov_db_sample_add(db, a->flow_id[fs->flow], &s, NULL, 0), "sample");
    any = true;
  }
  for (size_t i = 0; i < b->n_cpus; i++) {
    const Iovbench__CpuSample *cs = b->cpus[i];
    struct iov_db_cpu dc = { .cpu = cs->cpu,
                             .user_ns = cs->user_ns,
                             .nice_ns = cs->nice_ns,
                             .system_ns = cs->system_ns,
                             .idle_ns = cs->idle_ns,
                             .iowait_ns = cs->iowait_ns,
                             .irq_ns = cs->irq_ns,
                             .softirq_ns = cs->softirq_ns,
                             .steal_ns = cs->steal_ns,
                             .guest_ns = cs->guest_ns };
    const uint64_t c[] = { dc.user_ns, dc.nice_ns,    dc.system_ns, dc.idle_ns, dc.iowait_ns,
                           dc.irq_ns,  dc.softirq_ns, dc.steal_ns,  dc.guest_ns };
    if (!over(c, ELEMENTSOF(c))) continue;
    store_refuses(iov_db_cpu_sample_add(db, db_point, a->peer->db_agent, b->seq, &dc, NULL, 0), "CPU sample");
    any = true;
  }
  if (b->host_cpu && a->in.guest) {
    struct iov_db_vm_cpu vc = { .interval_ns = b->host_cpu->interval_ns,
                                .vcpu_ns = b->host_cpu->vcpu_ns,
                                .io_ns = b->host_cpu->io_ns,
                                .vhost_ns = b->host_cpu->vhost_ns,
                                .kvm_ns = b->host_cpu->kvm_ns,
                                .total_ns = b->host_cpu->total_ns,
                                .kvm_exits = b->host_cpu->kvm_exits,
                                .kvm_exits_known = b->host_cpu->kvm_exits_known };
    const uint64_t c[] = { vc.interval_ns,
                           vc.vcpu_ns,
                           vc.io_ns,
                           vc.vhost_ns,
                           vc.kvm_ns,
                           vc.total_ns,
                           vc.kvm_exits_known ? vc.kvm_exits : 0 };
    if (over(c, ELEMENTSOF(c))) {
      store_refuses(iov_db_vm_cpu_add(db, db_point, a->peer->db_agent, b->seq, &vc, NULL, 0),
                    "VM CPU sample");
      any = true;
    }
  }
  for (size_t i = 0; i < b->n_irqs; i++) {
    if (!over(&b->irqs[i]->count, 1)) continue;
    store_refuses(iov_db_irq_sample_add(db, db_point, a->peer->db_agent, b->seq, b->irqs[i]->name,
                                        b->irqs[i]->count, NULL, 0),
                  "interrupt sample");
    any = true;
  }
  return any;
}

static bool result_over(const struct part *a, const Iovbench__Result *res) {
  bool any = false;
  for (size_t i = 0; i < res->n_flows; i++) {
    const Iovbench__FlowResult *fr = res->flows[i];
    if (fr->flow >= a->in.flows) continue;
    struct iov_db_result s = { .bytes = fr->bytes,
                               .messages = fr->messages,
                               .transactions = fr->transactions,
                               .t_start_ns = fr->t_start_ns,
                               .t_end_ns = fr->t_end_ns,
                               .samples = res->samples,
                               .lost = fr->lost,
                               .out_of_order = fr->out_of_order,
                               .duplicates = fr->duplicates,
                               .jitter_ns = fr->jitter_ns,
                               .retransmits = fr->retransmits,
                               .incomplete = !fr->complete };
    const uint64_t c[] = { s.bytes,        s.messages,   s.transactions, s.lost,
                           s.out_of_order, s.duplicates, s.jitter_ns,    s.retransmits };
    if (!over(c, ELEMENTSOF(c))) continue;
    store_refuses(iov_db_result_add(db, a->flow_id[fr->flow], &s, NULL, 0), "result");
    any = true;
  }
  return any;
}

/* coord's ingest (coordinator/ingest.c), as coord runs it: a batch with a
 * number the point cannot produce is refused whole, one that came before
 * is dropped; the rest is stored, and a counter over 2^62 that got past
 * the bounds must be refused by the store, not stored (and the store
 * refuses such a row on its own: batch_over()). */
static void store_samples(struct part *a, const Iovbench__SampleBatch *b) {
  char err[256] = "";
  bool ok = iov_ingest_batch_check(&pt, b, err, sizeof(err)) == 0;
  bool fresh = b->seq > a->in.last_seq, big = batch_over(a, b);
  uint32_t taken = a->in.samples;
  int r = iov_ingest_samples(&pt, &a->in, b, err, sizeof(err));
  if (!ok || !fresh) {
    IOV_FUZZ_CHECK(r == 0 && a->in.samples == taken, "a batch %s was taken (%d)",
                   ok ? "that came before" : "out of bounds", r);
    return;
  }
  IOV_FUZZ_CHECK(a->in.samples == taken + 1 && a->in.last_seq == b->seq, "a new batch was not counted");
  if (big)
    IOV_FUZZ_CHECK(r == -IOV_E_DB, "a sample batch with a counter over 2^62 was stored (%d)", r);
  else
    IOV_FUZZ_CHECK(r == 0, "a validated sample batch is not stored: %s", err);
}

static void store_result(struct part *a, const Iovbench__Result *res) {
  char err[256] = "";
  if (a->result) return;
  a->result = true;
  bool ok = iov_ingest_result_check(&pt, res, err, sizeof(err)) == 0, big = result_over(a, res);
  unsigned failed = n_failed;
  int r = iov_ingest_result(&pt, &a->in, res, err, sizeof(err));
  if (!ok) {
    IOV_FUZZ_CHECK(r == 0 && n_failed == failed + 1, "a result out of bounds did not fail the point (%d)", r);
    return;
  }
  if (big)
    IOV_FUZZ_CHECK(r == -IOV_E_DB, "a result with a counter over 2^62 was stored (%d)", r);
  else
    IOV_FUZZ_CHECK(r == 0, "a validated result is not stored: %s", err);
}

static void on_clock_reply(struct part *a, const Iovbench__ClockReply *cr) {
  struct iov_clock_estimate est;
  if (a->n_probes == ELEMENTSOF(a->probes)) return;
  a->probes[a->n_probes++] = (struct iov_clock_probe){ cr->t1_ns, cr->t2_ns, cr->t3_ns, iov_now_real() };
  if (iov_clock_estimate(a->probes, a->n_probes, &est) < 0) return;
  IOV_FUZZ_CHECK(est.probes >= 1 && est.probes <= a->n_probes, "estimate from %u of %u probes", est.probes,
                 a->n_probes);
  /* From here the part's samples and result are taken in coord's time
   * by this offset, as point.c does after its clock sync: whatever the
   * agent's timestamps make it, the conversion wraps, never overflows. */
  a->in.offset_ns = est.offset_ns;
}

static void handle(struct iov_peer *p, iov_envelope *e) {
  struct part *a;
  switch (e->body_case) {
  case IOVBENCH__ENVELOPE__BODY_WELCOME: on_welcome(p, e); return;
  case IOVBENCH__ENVELOPE__BODY_GUESTS:
    if (!p->host) on_guests(e->guests);
    return;
  case IOVBENCH__ENVELOPE__BODY_READY:
    if ((a = part_of(p)) && !a->ready && e->ready->point_id == (uint64_t)db_point) a->ready = true;
    return;
  case IOVBENCH__ENVELOPE__BODY_SAMPLES:
    if ((a = part_of(p)) && e->samples->point_id == (uint64_t)db_point) store_samples(a, e->samples);
    return;
  case IOVBENCH__ENVELOPE__BODY_RESULT:
    if ((a = part_of(p)) && e->result->point_id == (uint64_t)db_point) store_result(a, e->result);
    return;
  case IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY:
    if ((a = part_of(p))) on_clock_reply(a, e->clock_reply);
    return;
  case IOVBENCH__ENVELOPE__BODY_ERROR: check_text(e->error->message); return;
  default: return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct iov_fuzz_reader rd = { data, size };
  struct iov_db_point dp = { .test = "fuzz",
                             .sweep = "",
                             .workload = "tcp_rr",
                             .params_json = "{}",
                             .duration_ns = IOV_NSEC_PER_SEC,
                             .sample_interval_ns = 100 * IOV_NSEC_PER_MSEC };
  const uint8_t *frame;
  size_t len;
  uint8_t tag;
  int r;

  if (!db) LLVMFuzzerInitialize(NULL, NULL);
  /* Rolled back after every input: the point is row 1 each time, and
   * the seeds' messages are for point 1. */
  if ((r = iov_db_point_begin(db, db_run, &dp, &db_point, NULL, 0)) < 0) die("point", r);
  pt = (struct iov_ingest_point){
    .db = db,
    .db_point = db_point,
    .number = 1,
    .span_ns = iov_ingest_span_ns(0, dp.duration_ns, dp.sample_interval_ns),
    .sample_interval_ns = dp.sample_interval_ns,
    .fail = on_fail,
  };
  n_failed = 0;
  n_parts = 0;
  (void)part_of(h);
  while (iov_fuzz_next(&rd, &tag, &frame, &len)) {
    struct iov_peer *p = NULL;
    iov_envelope *e = NULL;
    if (zmq_send(zsock_resolve(agent), zframe_data(rid), zframe_size(rid), ZMQ_SNDMORE) < 0 ||
        zmq_send(zsock_resolve(agent), frame, len, 0) < 0)
      die("send", errno);
    /* Already queued (inproc delivers at once): a deadline that has
     * passed takes what is there without waiting. */
    while (iov_peers_recv(&h, 1, -1, 0, &p, &e) == 0) {
      IOV_FUZZ_CHECK(p == h || p->host == h, "a message from a peer that is not ours");
      iov_fuzz_note("%s from %s\n", iov_wire_body_name(e), p->name);
      handle(p, e);
      iov_wire_free(e);
    }
  }
  /* The senders' window, as coord stores it when the point ends. */
  if (pt.win_start && pt.win_end)
    (void)iov_db_point_set_window(db, db_point, pt.win_start, pt.win_end, 0, NULL, 0);
  for (size_t i = 0; i < n_parts; i++) {
    struct iov_clock_estimate est = { 0 };
    struct iov_db_clock c = { .probes = parts[i].n_probes };
    if (parts[i].n_probes && iov_clock_estimate(parts[i].probes, parts[i].n_probes, &est) == 0) {
      c.offset_ns = est.offset_ns;
      c.error_ns = est.error_ns;
      c.delay_ns = est.delay_ns;
    }
    (void)iov_db_point_agent_add(db, db_point, parts[i].peer->db_agent,
                                 parts[i].sender ? "sender" : "receiver", &c, NULL, 0);
  }
  struct iov_report *rep = NULL;
  char err[512] = "";
  r = iov_report_load(db, &rep, err, sizeof(err));
  IOV_FUZZ_CHECK(r == 0, "the report of what was stored does not load: %d %s", r, err);
  iov_report_print_table(rep, iov_fuzz_verbose() ? stderr : devnull);
  IOV_FUZZ_CHECK(iov_report_print_json(rep, devnull) == 0, "the report does not print as JSON");
  iov_report_free(rep);

  /* Closed with the point's transaction open: SQLite rolls it back. */
  db = iov_db_close(db);
  open_db();
  for (size_t i = 0; i < h->n_guests; i++) iov_peer_free(h->guests[i]);
  h->n_guests = 0;
  return 0;
}
