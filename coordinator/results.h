/* The results database of one run: RUN_DIR/results.db (SQLite, WAL).
 * One transaction per test point, so a crash loses at most the point in
 * flight.  Schema version in PRAGMA user_version.
 *
 * Tables (see results.c for the exact schema):
 *   meta(key, value)             histogram layout: hist_sub_bits, hist_max_bits
 *   run(id, uuid, plan_path, plan_text, version, started_ns, ended_ns, status, error)
 *   agent(id, run_id, name, endpoint, identity, inventory_json, kind, host_id)
 *                                kind 'host' or 'guest'; a guest's host_id is
 *                                the host agent it is reached through
 *   point(id, run_id, idx, test, sweep, workload, params_json, status, error,
 *         start_ns, duration_ns, sample_interval_ns, warmup_ns,
 *         window_start_ns, window_end_ns, start_skew_ns, topology, vms,
 *         point_no, rep, trial)
 *                                trial 0: a measurement; n >= 1: the n-th
 *                                trial of a rate search (v7), seen only by
 *                                the trial readers below
 *   trial(point_id, run_id, point_no, rep, seq, full, offered_wire_bps,
 *         offered_pps, duration_ns, sent, received, lost)
 *                                one row per search trial (v7)
 *   search(run_id, point_no, rep, kind, converged, rate_pps, rate_bps,
 *          wire_bps, line_pct, frame_mean, loss, trials, seconds, point_id)
 *                                where a search ended: kind 'ndr' or 'pdr' (v7)
 *   flow(id, point_id, agent_id, role, idx, link)
 *                                link: the sender/receiver pair the flow
 *                                belongs to (0..vms-1); one per VM (pair)
 *   sample(flow_id, seq, t_start_ns, t_end_ns, bytes, messages, transactions,
 *          lost, out_of_order, duplicates, jitter_ns, retransmits, rtt_us, snd_cwnd,
 *          segs_out, segs_in, lat_count, lat_min_ns, lat_max_ns, lat_sum_ns, lat_overflow, lat_buckets)
 *                                the interval's latency histogram, NULL without;
 *                                lat_buckets: (index delta, count) varint pairs
 *   result(flow_id, bytes, messages, transactions, t_start_ns, t_end_ns,
 *          samples, error, error_text, lost, out_of_order, duplicates,
 *          jitter_ns, retransmits, complete, segs_out, segs_in)
 *                                segs_*: TCP segments (TCP_INFO), v7
 *   cpu_sample(point_id, agent_id, seq, cpu, user_ns, ..., guest_ns)
 *                                               cpu -1 = all cores
 *   irq_sample(point_id, agent_id, seq, name, count)
 *   vm_cpu_sample(point_id, agent_id, seq, interval_ns, vcpu_ns, io_ns, vhost_ns, kvm_ns, total_ns)
 *                                the host CPU a guest's VM took in interval seq
 *   point_agent(point_id, agent_id, role, clock_offset_ns, clock_error_ns,
 *               clock_delay_ns, clock_probes, started_ns)
 *   point.start_skew_ns: spread of the agents' actual starts (coord time)
 *   histogram(flow_id, seq, bucket, count)      seq 0 = the whole flow (only);
 *                                               non-zero buckets only
 *   histogram_summary(flow_id, seq, count, min_ns, max_ns, sum_ns, overflow)
 *   views link_total(point_id, link, sender, receiver, rx_bytes, transactions)
 *   and link_bin(point_id, link, seq, t_start_ns, t_end_ns, rx_bytes, transactions):
 *   per VM (link) of each point, over the window and per interval
 *
 * Unsigned 64-bit values are stored as SQLite's signed 64-bit integers
 * (two's complement), so a value above INT64_MAX, in practice only a
 * saturated histogram sum, reads back exactly through this API but looks
 * negative to a plain SQL query.  The min and max of an empty histogram
 * are stored as NULL.
 *
 * Errors: every function returns 0 (or a count) on success and a negative
 * errno on failure: -EINVAL for bad arguments, -ENOMEM, and -IOV_E_DB when
 * SQLite fails; the reason, one line naming what failed and SQLite's
 * text, goes into the caller's err (errlen bytes; NULL, 0: not wanted),
 * the last two parameters of every function that can fail.
 *
 * Threading: an iov_db is used by one thread at a time.  Any number of
 * processes may read the file while one writes (WAL). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

struct iov_db;

enum iov_point_status {
  IOV_POINT_RUNNING,
  IOV_POINT_OK,
  IOV_POINT_FAILED,
  _IOV_POINT_STATUS_MAX,
  _IOV_POINT_STATUS_INVALID = -22,
};
/* "running", "ok", "failed"; NULL for anything else. */
const char *iov_point_status_to_string(enum iov_point_status s);
/* _IOV_POINT_STATUS_INVALID for NULL or an unknown name. */
enum iov_point_status iov_point_status_from_string(const char *s);

/* Open or create: WAL (refused with -IOV_E_DB if the file system cannot
 * do it, since readers would then block the run), synchronous=NORMAL,
 * foreign keys on, the schema created if absent.  Caller owns *ret;
 * close with iov_db_close().  On failure, why in err: SQLite's message,
 * why the schema was refused (e.g. a user_version newer than this build
 * understands), or the errno's text.  A database whose schema is newer,
 * or whose histogram layout differs from this build's (read-write only;
 * read-only opens then fail in iov_db_hist_load()), is refused with
 * -IOV_E_DB before anything is written to it. */
int iov_db_open(const char *path, struct iov_db **ret, char *err, size_t errlen);
/* Open an existing database read-only (for report).  -ENOENT if the file
 * does not exist. */
int iov_db_open_readonly(const char *path, struct iov_db **ret, char *err, size_t errlen);
/* Finalize the cached statements and close; accepts NULL, returns NULL.
 * Every committed point is on disk (WAL, synchronous=NORMAL: durable
 * across a crash of the process; a power loss may undo the last commits
 * but never corrupts).  A transaction still open, i.e. a point begun but
 * not ended, is rolled back by SQLite: the point in flight is lost, as
 * the design accepts. */
struct iov_db *iov_db_close(struct iov_db *db);
/* The schema version of the file as opened (read-only opens of an older
 * one stay at it: 5 has no repetitions). */
int iov_db_schema_version(const struct iov_db *db);
/* With confidence (plan 'confidence'): where point_no's repetitions
 * ended.  Inserted or replaced; outside a point's transaction. */
int iov_db_confidence_set(struct iov_db *db, int64_t run, unsigned point_no, double level, double width,
                          unsigned runs, double mean, double half, bool reached, char *err, size_t errlen);

/* Insert a run with status 'running' and this build's version. */
int iov_db_run_begin(struct iov_db *db, const char *uuid, const char *plan_path, const char *plan_text,
                     uint64_t started_ns, int64_t *ret_run, char *err, size_t errlen);
/* Set the run's status, error (NULL if none) and end.  -ENOENT if no such
 * run. */
int iov_db_run_end(struct iov_db *db, int64_t run, const char *status, const char *error, uint64_t ended_ns,
                   char *err, size_t errlen);
/* coord run --resume: the database's run becomes 'running' again (its
 * id and uuid in *ret_run and *ret_uuid, caller frees); how many
 * repetitions of each of its n points are stored, and how many of those
 * failed (a point's row is committed with its end, so a point in flight
 * when coord died has none), and the idx the next point row gets.  A
 * search's trials (point.trial >= 1) are not counted (a point whose search
 * has only trials stored has none), but next_idx is past them too. */
int iov_db_run_resume(struct iov_db *db, int64_t *ret_run, char **ret_uuid, char *err, size_t errlen);
int iov_db_points_stored(struct iov_db *db, int64_t run, unsigned *stored, unsigned *failed, size_t n,
                         unsigned *ret_next_idx, char *err, size_t errlen);
/* Samples missing from an agent's numbered stream: 'missing' batches after
 * batch after_seq (0: from the start). */
int iov_db_gap_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t after_seq, uint32_t missing,
                   char *err, size_t errlen);
/* Agent names are unique within a run. */
int iov_db_agent_add(struct iov_db *db, int64_t run, const char *name, const char *endpoint,
                     const char *identity, const char *inventory_json, int64_t *ret_agent, char *err,
                     size_t errlen);
/* Mark an agent as a guest reached through host_agent.  -ENOENT if no such
 * agent. */
int iov_db_agent_set_host(struct iov_db *db, int64_t agent, int64_t host_agent, char *err, size_t errlen);

struct iov_db_point {
  unsigned idx;      /* unique within the run: the order points ran in */
  unsigned point_no; /* the plan's expanded point; its repetitions share it */
  unsigned rep;      /* which repetition, from 0 */
  const char *test;
  const char *sweep;
  const char *workload;
  const char *params_json; /* every parameter of the point */
  uint64_t duration_ns;
  uint64_t sample_interval_ns;
  const char *topology; /* NULL: host-host */
  uint64_t vms;         /* 0: 1 */
  unsigned trial;       /* 0: a measurement; n >= 1: the n-th trial of a search */
};
/* BEGIN a transaction and insert the point with status 'running'.  Fails
 * (-IOV_E_DB) if a transaction is already open; on failure no transaction
 * is left open. */
int iov_db_point_begin(struct iov_db *db, int64_t run, const struct iov_db_point *p, int64_t *ret_point,
                       char *err, size_t errlen);
int iov_db_point_set_start(struct iov_db *db, int64_t point, uint64_t start_ns, char *err, size_t errlen);
/* Set status (IOV_POINT_OK or IOV_POINT_FAILED, else -EINVAL) and error
 * (NULL if none) and COMMIT.  -ENOENT if the point is not in the open
 * transaction; -IOV_E_DB if no transaction is open (never begun, or
 * rolled back by SQLite after an I/O error).  On failure the transaction,
 * if any, stays open: the caller may retry, or close, which loses the
 * point. */
int iov_db_point_end(struct iov_db *db, int64_t point, enum iov_point_status status, const char *error,
                     char *err, size_t errlen);

/* flow_add, sample_add and result_add belong to the open point: they
 * fail with -IOV_E_DB if no transaction is open.  Each is atomic: on
 * failure nothing of it is stored and the point's transaction goes on. */

/* role: "sender" or "receiver" (else -EINVAL). */
int iov_db_flow_add(struct iov_db *db, int64_t point, int64_t agent, const char *role, unsigned idx,
                    int64_t *ret_flow, char *err, size_t errlen);
/* The same, for the flows of one link (VM pair) of a VM topology. */
int iov_db_flow_add_link(struct iov_db *db, int64_t point, int64_t agent, const char *role, unsigned idx,
                         unsigned link, int64_t *ret_flow, char *err, size_t errlen);
/* Every counter stored (bytes, messages, CPU times, ...) is at most this
 * (2^62 - 1): the add functions refuse larger ones (-ERANGE, nothing
 * stored), so no stored value reads back negative, and the report's sums
 * are taken as REAL, which cannot overflow. */
#define IOV_DB_COUNT_MAX ((UINT64_C(1) << 62) - 1)

struct iov_db_sample {
  uint32_t seq; /* 1, 2, ...: 0 is the flow's result (-EINVAL) */
  uint64_t t_start_ns, t_end_ns;
  uint64_t bytes, messages, transactions;
  uint64_t lost, out_of_order, duplicates, jitter_ns; /* UDP (and RR: lost) */
  uint64_t retransmits, rtt_us, snd_cwnd;             /* TCP_INFO */
  uint64_t segs_out, segs_in;                         /* TCP_INFO, in the interval */
  /* The interval's latency: NULL (both) when the workload has none; else
   * one of them.  sparse is the histogram as the wire carries it. */
  const struct iov_hist *hist;
  const struct iov_db_sparse_hist *sparse;
};
/* Non-zero buckets only, indexes strictly increasing and < IOV_HIST_BUCKETS
 * (as lib/wire.c checks on decode; -EINVAL otherwise). */
struct iov_db_sparse_hist {
  const uint32_t *index;
  const uint64_t *count;
  size_t n;
  struct iov_hist_summary sum;
};
/* One INSERT: a sample's histogram is kept in its row (a compact blob),
 * the flow's whole-window histogram (seq 0) in histogram and
 * histogram_summary, where SQL can reach its buckets. */
int iov_db_sample_add(struct iov_db *db, int64_t flow, const struct iov_db_sample *s, char *err,
                      size_t errlen);
struct iov_db_result {
  uint64_t bytes, messages, transactions;
  uint64_t t_start_ns, t_end_ns;
  uint32_t samples;
  int error;              /* 0 or negative errno */
  const char *error_text; /* NULL if none */
  uint64_t lost, out_of_order, duplicates, jitter_ns, retransmits;
  uint64_t segs_out, segs_in;  /* TCP segments over the window */
  bool incomplete;             /* the flow did not run the whole window */
  const struct iov_hist *hist; /* NULL: no latency; stored with seq 0 */
};
/* One result per flow. */
int iov_db_result_add(struct iov_db *db, int64_t flow, const struct iov_db_result *r, char *err,
                      size_t errlen);

/* Read back the histogram stored for (flow, seq): seq 0 is the flow's
 * result, others its samples.  Buckets, count, min, max, sum and overflow
 * come back exactly as stored.  ret is written only on success.  Returns
 * -ENOENT if there is none, -IOV_E_DB if the rows are inconsistent or the
 * database's histogram layout is not this build's. */
int iov_db_hist_load(struct iov_db *db, int64_t flow, uint32_t seq, struct iov_hist *ret, char *err,
                     size_t errlen);

/* For tests only: SQLite's page cache of db, in pages (a small one makes
 * SQLite spill an open transaction into the WAL early). */
int iov__db_cache_pages(struct iov_db *db, int pages);

/* ---- Reading a stored run back (report, plot, compare) ----------------
 *
 * The schema and its versions are known here only: readers get plain
 * rows, one callback per row (a callback's negative return stops the
 * walk and is returned).  Every value comes back as stored, and a
 * results.db may come from anyone (docs/reliability.md): text is handed
 * out raw (valid during the callback only) and the reader cleans it
 * before it keeps or prints it; numbers are SQLite's 64-bit integers
 * taken as unsigned, sums over many rows are taken as REAL and read back
 * saturated.  Each returns 0, or a negative errno (-IOV_E_DB when SQLite
 * fails) with the reason in err. */

/* One read transaction, so that a run being written meanwhile is read as
 * of one commit; inside a transaction the caller already has, that one
 * serves (*ret_began false).  End it with iov_db_read_end(began). */
int iov_db_read_begin(struct iov_db *db, bool *ret_began, char *err, size_t errlen);
void iov_db_read_end(struct iov_db *db, bool began);

struct iov_db_run_row {
  int64_t id;
  const char *uuid, *plan_path, *status, *error;
  uint64_t started_ns, ended_ns; /* ended_ns 0 while running */
};
/* The latest run.  -ENOENT if the database holds none. */
int iov_db_run_read(struct iov_db *db, int (*cb)(const struct iov_db_run_row *row, void *userdata),
                    void *userdata, char *err, size_t errlen);

struct iov_db_point_row {
  int64_t id;
  unsigned idx, point_no, rep; /* schema 5: point_no is idx, rep 0 */
  const char *test, *sweep, *workload, *status, *error, *topology;
  const char *path;        /* params_json's "path", NULL if none */
  const char *params_json; /* every parameter of the point */
  uint64_t duration_ns, warmup_ns, window_start_ns, window_end_ns;
  bool has_skew; /* start_skew_ns stored (not NULL) */
  uint64_t start_skew_ns;
  unsigned vms;
  uint64_t samples_missing;         /* summed over the point's sample gaps */
  uint64_t msg_size, response_size; /* from params_json, 0 if none */
  unsigned trial;                   /* 0 here; n for iov_db_trial_points_read() */
};
/* The points of run, in idx order; only_point_no >= 0: only the runs of
 * that plan point.  Measurements only (trial 0): a search's trials are
 * left out. */
int iov_db_points_read(struct iov_db *db, int64_t run, int64_t only_point_no,
                       int (*cb)(const struct iov_db_point_row *row, void *userdata), void *userdata,
                       char *err, size_t errlen);

/* The same rows for the trials of searches (trial >= 1) only, in idx
 * order. */
int iov_db_trial_points_read(struct iov_db *db, int64_t run, int64_t only_point_no,
                             int (*cb)(const struct iov_db_point_row *row, void *userdata), void *userdata,
                             char *err, size_t errlen);

struct iov_db_confidence_row {
  unsigned point_no;
  double level, width;
  unsigned runs;
  double mean, half; /* NAN if not stored */
  bool reached;
};
/* Where each point's repetitions ended, by point_no (none before schema 6). */
int iov_db_confidence_read(struct iov_db *db, int64_t run,
                           int (*cb)(const struct iov_db_confidence_row *row, void *userdata), void *userdata,
                           char *err, size_t errlen);

struct iov_db_flow_row {
  int64_t id;
  const char *role;
  bool has_result; /* the fields below up to complete are 0 without */
  uint64_t bytes, transactions, t_start_ns, t_end_ns, messages, lost, out_of_order, duplicates, jitter_ns,
      retransmits;
  uint64_t segs_out, segs_in; /* TCP segments; 0 before schema 7 */
  bool complete;
  uint64_t samples; /* rows in sample */
};
/* The flows of a point, by id, with their results.  The callback may read
 * the flow's histogram (iov_db_hist_load()). */
int iov_db_flows_read(struct iov_db *db, int64_t point,
                      int (*cb)(const struct iov_db_flow_row *row, void *userdata), void *userdata, char *err,
                      size_t errlen);

/* CPU time of the machine of the point's first flow of role over the
 * point: busy leaves out idle, iowait and steal.  known false: none. */
struct iov_db_cpu_sum {
  bool known;
  double busy_ns, total_ns;
};
int iov_db_side_cpu_read(struct iov_db *db, int64_t point, const char *role, struct iov_db_cpu_sum *ret,
                         char *err, size_t errlen);

/* The results of the flows of role: how many, the sums and the sums of
 * squares (for Jain's index). */
struct iov_db_fair_sum {
  int64_t n;
  double bytes, bytes_sq, transactions, transactions_sq;
};
int iov_db_fair_read(struct iov_db *db, int64_t point, const char *role, struct iov_db_fair_sum *ret,
                     char *err, size_t errlen);

/* The samples of the flows of role, summed per interval (seq), in order. */
struct iov_db_bin_row {
  uint32_t seq;
  uint64_t t_start_ns, t_end_ns, bytes, transactions;
  unsigned flows;
  double bytes_sq, transactions_sq;
};
int iov_db_bins_read(struct iov_db *db, int64_t point, const char *role,
                     int (*cb)(const struct iov_db_bin_row *row, void *userdata), void *userdata, char *err,
                     size_t errlen);

/* Per (link, role) of a point: the agent, the host it runs on (its own
 * name for a host agent) and its flows' results summed. */
struct iov_db_link_row {
  unsigned link;
  const char *role, *agent, *host;
  uint64_t bytes, transactions;
};
int iov_db_links_read(struct iov_db *db, int64_t point,
                      int (*cb)(const struct iov_db_link_row *row, void *userdata), void *userdata, char *err,
                      size_t errlen);
/* Per link of a point, the samples of its flows of role summed per
 * interval (seq as stored: the reader checks its range). */
struct iov_db_link_bin_row {
  unsigned link;
  uint64_t seq, bytes, transactions;
};
int iov_db_link_bins_read(struct iov_db *db, int64_t point, const char *role,
                          int (*cb)(const struct iov_db_link_bin_row *row, void *userdata), void *userdata,
                          char *err, size_t errlen);

/* Per guest of a point with host CPU data, by name, over the intervals
 * that have it: the host's CPU for its VM, the guest's own busy CPU and
 * what its flows moved in those intervals. */
struct iov_db_vm_cpu_row {
  const char *agent, *role;
  unsigned intervals;
  uint64_t host_ns, vcpu_ns, io_ns, vhost_ns, kvm_exits;
  unsigned kvm_exits_rows; /* intervals whose kvm_exits is known */
  uint64_t guest_ns, bytes, transactions;
};
int iov_db_vm_cpu_read(struct iov_db *db, int64_t point,
                       int (*cb)(const struct iov_db_vm_cpu_row *row, void *userdata), void *userdata,
                       char *err, size_t errlen);

/* The measured window of a point (after its warm-up), in the agents' time. */
int iov_db_point_set_window(struct iov_db *db, int64_t point, uint64_t start_ns, uint64_t end_ns,
                            uint64_t warmup_ns, char *err, size_t errlen);

/* CPU time of one core (cpu -1 = all) in one sample interval of one agent. */
struct iov_db_cpu {
  int cpu;
  uint64_t user_ns, nice_ns, system_ns, idle_ns, iowait_ns, irq_ns, softirq_ns, steal_ns, guest_ns;
};
int iov_db_cpu_sample_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq,
                          const struct iov_db_cpu *c, char *err, size_t errlen);
/* Interrupts of one NIC queue in one sample interval of one agent. */
/* The host CPU a guest's VM took in the interval seq (the host agent
 * adds it to the guest's batch). */
struct iov_db_vm_cpu {
  uint64_t interval_ns, vcpu_ns, io_ns, vhost_ns, kvm_ns, total_ns;
  uint64_t kvm_exits; /* stored as NULL unless kvm_exits_known */
  bool kvm_exits_known;
};
int iov_db_vm_cpu_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq,
                      const struct iov_db_vm_cpu *c, char *err, size_t errlen);
int iov_db_irq_sample_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq, const char *name,
                          uint64_t count, char *err, size_t errlen);

/* One agent's part in a point: its clock against coord's, estimated just
 * before the point, and when its first flow really began (coord time). */
struct iov_db_clock {
  int64_t offset_ns; /* agent - coord */
  uint64_t error_ns, delay_ns;
  unsigned probes;
  uint64_t started_ns; /* 0: unknown */
};
int iov_db_point_agent_add(struct iov_db *db, int64_t point, int64_t agent, const char *role,
                           const struct iov_db_clock *c, char *err, size_t errlen);
/* The achieved start skew of a point: the spread of its agents' actual
 * starts, each corrected by its clock offset. */
int iov_db_point_set_skew(struct iov_db *db, int64_t point, uint64_t skew_ns, char *err, size_t errlen);

/* ---- Rate searches (NDR/PDR) ------------------------------------------
 *
 * Every trial of a search is a full point (begun with
 * iov_db_point.trial = n, n >= 1), and a trial row saying what was offered
 * and what came of it.  When the search ends, its answer goes into search
 * and the last full-length passing trial becomes the point's measurement
 * (iov_db_point_set_trial(..., 0)).  Rows read back are checked: a kind
 * other than ndr/pdr, a negative or non-finite rate, a count out of range
 * is -IOV_E_DB naming the table and the row, never handed out.  A
 * database older than schema 7 has neither: the readers see no rows. */

struct iov_db_trial {
  int64_t point_id; /* the trial's point row */
  unsigned point_no, rep;
  unsigned seq;                         /* n >= 1: the n-th trial of this search */
  bool full;                            /* ran the search's whole trial duration */
  double offered_wire_bps, offered_pps; /* total over flows; bits on the wire (L1) */
  uint64_t duration_ns, sent, received, lost;
};
/* Insert (or replace) the trial of t->point_id: inside the point's
 * transaction or on its own.  -EINVAL for seq 0, a negative or
 * non-finite rate; -ERANGE for a count above IOV_DB_COUNT_MAX; -ENOENT if
 * no such point. */
int iov_db_trial_add(struct iov_db *db, const struct iov_db_trial *t, char *err, size_t errlen);
/* The trials of run, by point_no, rep, seq; point_no, rep -1: all. */
int iov_db_trials_read(struct iov_db *db, int64_t run, int point_no, int rep,
                       int (*cb)(void *arg, const struct iov_db_trial *t), void *arg, char *err,
                       size_t errlen);

struct iov_db_search {
  unsigned point_no, rep;
  const char *kind; /* "ndr" | "pdr" */
  bool converged;
  double rate_pps, rate_bps /* L2: frames * 8 */, wire_bps /* L1 */, line_pct /* NAN: unknown */;
  double frame_mean; /* bytes; NAN: unknown */
  double loss;       /* fraction lost at that rate, 0..1 */
  unsigned trials;
  double seconds;
  int64_t point_id; /* the measurement's point, 0: none (no trial passed) */
};
/* Inserted or replaced by (run, point_no, rep, kind); outside a point's
 * transaction or in it.  -EINVAL for another kind, a negative or
 * non-finite rate, loss outside 0..1. */
int iov_db_search_set(struct iov_db *db, int64_t run, const struct iov_db_search *s, char *err,
                      size_t errlen);
/* The searches of run, by point_no, rep, kind. */
int iov_db_searches_read(struct iov_db *db, int64_t run, int (*cb)(void *arg, const struct iov_db_search *s),
                         void *arg, char *err, size_t errlen);
/* Of one point: the messages its senders sent, its receivers received,
 * and the datagrams its receivers counted lost (results summed; 0 if
 * none).  -ENOENT if no such point. */
int iov_db_point_totals(struct iov_db *db, int64_t point_id, uint64_t *sent, uint64_t *received,
                        uint64_t *lost, char *err, size_t errlen);
/* Set a stored point's trial number (0: it becomes the measurement).
 * -ENOENT if no such point. */
int iov_db_point_set_trial(struct iov_db *db, int64_t point_id, unsigned trial, char *err, size_t errlen);

/* The agents with flows in a point, in the order of their first flow:
 * role, name, endpoint and the inventory JSON they reported (raw text,
 * valid during the callback; NULL where NULL).  The report takes the
 * data address family and the sender's NIC speed from them. */
struct iov_db_point_agent_row {
  const char *role, *name, *endpoint, *inventory_json;
};
int iov_db_point_agents_read(struct iov_db *db, int64_t point,
                             int (*cb)(const struct iov_db_point_agent_row *row, void *userdata),
                             void *userdata, char *err, size_t errlen);
