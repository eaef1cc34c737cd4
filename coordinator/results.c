/* The results database; see results.h for the tables, the transaction
 * model and the error convention. */
#include "results.h"

#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "err.h"
#include "log.h"
#include "macro.h"

#ifndef IOV_VERSION
#define IOV_VERSION "unknown"
#endif

#define SCHEMA_VERSION 7
/* The oldest schema this build still reads (and migrates when it writes). */
#define SCHEMA_OLDEST 5
#define STR_(x) #x
#define STR(x) STR_(x)
/* Long enough to ride out a checkpoint or a reader taking its snapshot,
 * short enough that a wedged peer is reported rather than waited on. */
#define BUSY_TIMEOUT_MS 5000

/* The whole schema, idempotent.  Samples and histograms are looked up by
 * flow, which is the first column of their primary keys (WITHOUT ROWID
 * tables are stored in key order), so those keys are the sample(flow_id)
 * and histogram(flow_id) indexes; flow needs its own on point_id. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta (\n"
    "  key TEXT PRIMARY KEY NOT NULL,\n"
    "  value INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS run (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  uuid TEXT NOT NULL UNIQUE,\n"
    "  plan_path TEXT,\n"
    "  plan_text TEXT,\n"
    "  version TEXT NOT NULL,\n"
    "  started_ns INTEGER NOT NULL,\n"
    "  ended_ns INTEGER,\n"
    "  status TEXT NOT NULL,\n"
    "  error TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS agent (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES run(id),\n"
    "  name TEXT NOT NULL,\n"
    "  endpoint TEXT,\n"
    "  identity TEXT,\n"
    "  inventory_json TEXT,\n"
    "  kind TEXT NOT NULL DEFAULT 'host' CHECK (kind IN ('host', 'guest')),\n"
    "  host_id INTEGER REFERENCES agent(id),\n"
    "  UNIQUE (run_id, name)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS point (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES run(id),\n"
    "  idx INTEGER NOT NULL,\n"
    "  test TEXT NOT NULL,\n"
    "  sweep TEXT,\n"
    "  workload TEXT,\n"
    "  params_json TEXT,\n"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed')),\n"
    "  error TEXT,\n"
    "  start_ns INTEGER,\n"
    "  duration_ns INTEGER,\n"
    "  sample_interval_ns INTEGER,\n"
    "  warmup_ns INTEGER NOT NULL DEFAULT 0,\n"
    "  window_start_ns INTEGER,\n"
    "  window_end_ns INTEGER,\n"
    "  start_skew_ns INTEGER,\n"
    "  topology TEXT NOT NULL DEFAULT 'host-host',\n"
    "  vms INTEGER NOT NULL DEFAULT 1,\n"
    "  point_no INTEGER NOT NULL DEFAULT 0,\n"
    "  rep INTEGER NOT NULL DEFAULT 0,\n"
    "  trial INTEGER NOT NULL DEFAULT 0,\n"
    "  UNIQUE (run_id, idx)\n"
    ");\n"
    /* Rate searches (v7): a trial row per trial point, and where each
     * search ended.  Their REAL columns take NULL, as a NaN binds: the
     * readers check every value (a results.db may come from anyone). */
    "CREATE TABLE IF NOT EXISTS trial (\n"
    "  point_id INTEGER PRIMARY KEY REFERENCES point(id),\n"
    "  run_id INTEGER NOT NULL REFERENCES run(id),\n"
    "  point_no INTEGER NOT NULL,\n"
    "  rep INTEGER NOT NULL,\n"
    "  seq INTEGER NOT NULL CHECK (seq > 0),\n"
    "  full INTEGER NOT NULL,\n"
    "  offered_wire_bps REAL,\n"
    "  offered_pps REAL,\n"
    "  duration_ns INTEGER NOT NULL,\n"
    "  sent INTEGER NOT NULL,\n"
    "  received INTEGER NOT NULL,\n"
    "  lost INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS trial_run ON trial(run_id, point_no, rep, seq);\n"
    "CREATE TABLE IF NOT EXISTS search (\n"
    "  run_id INTEGER NOT NULL REFERENCES run(id),\n"
    "  point_no INTEGER NOT NULL,\n"
    "  rep INTEGER NOT NULL,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('ndr', 'pdr')),\n"
    "  converged INTEGER NOT NULL,\n"
    "  rate_pps REAL,\n"
    "  rate_bps REAL,\n"
    "  wire_bps REAL,\n"
    "  line_pct REAL,\n"
    "  frame_mean REAL,\n"
    "  loss REAL,\n"
    "  trials INTEGER NOT NULL,\n"
    "  seconds REAL,\n"
    "  point_id INTEGER,\n"
    "  PRIMARY KEY (run_id, point_no, rep, kind)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS point_confidence (\n"
    "  run_id INTEGER NOT NULL REFERENCES run(id),\n"
    "  point_no INTEGER NOT NULL,\n"
    "  level REAL NOT NULL,\n"
    "  width REAL NOT NULL,\n"
    "  runs INTEGER NOT NULL,\n"
    "  mean REAL,\n"
    "  half REAL,\n"
    "  reached INTEGER NOT NULL,\n"
    "  PRIMARY KEY (run_id, point_no)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS flow (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  point_id INTEGER NOT NULL REFERENCES point(id),\n"
    "  agent_id INTEGER NOT NULL REFERENCES agent(id),\n"
    "  role TEXT NOT NULL CHECK (role IN ('sender', 'receiver')),\n"
    "  idx INTEGER NOT NULL,\n"
    "  link INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS flow_point ON flow(point_id);\n"
    "CREATE TABLE IF NOT EXISTS sample (\n"
    "  flow_id INTEGER NOT NULL REFERENCES flow(id),\n"
    "  seq INTEGER NOT NULL CHECK (seq > 0),\n"
    "  t_start_ns INTEGER NOT NULL,\n"
    "  t_end_ns INTEGER NOT NULL,\n"
    "  bytes INTEGER NOT NULL,\n"
    "  messages INTEGER NOT NULL,\n"
    "  transactions INTEGER NOT NULL,\n"
    "  lost INTEGER NOT NULL DEFAULT 0,\n"
    "  out_of_order INTEGER NOT NULL DEFAULT 0,\n"
    "  duplicates INTEGER NOT NULL DEFAULT 0,\n"
    "  jitter_ns INTEGER NOT NULL DEFAULT 0,\n"
    "  retransmits INTEGER NOT NULL DEFAULT 0,\n"
    "  rtt_us INTEGER NOT NULL DEFAULT 0,\n"
    "  snd_cwnd INTEGER NOT NULL DEFAULT 0,\n"
    "  lat_count INTEGER,\n"
    "  lat_min_ns INTEGER,\n"
    "  lat_max_ns INTEGER,\n"
    "  lat_sum_ns INTEGER,\n"
    "  lat_overflow INTEGER,\n"
    "  lat_buckets BLOB,\n"
    "  segs_out INTEGER NOT NULL DEFAULT 0,\n"
    "  segs_in INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (flow_id, seq)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS result (\n"
    "  flow_id INTEGER PRIMARY KEY REFERENCES flow(id),\n"
    "  bytes INTEGER NOT NULL,\n"
    "  messages INTEGER NOT NULL,\n"
    "  transactions INTEGER NOT NULL,\n"
    "  t_start_ns INTEGER NOT NULL,\n"
    "  t_end_ns INTEGER NOT NULL,\n"
    "  samples INTEGER NOT NULL,\n"
    "  error INTEGER NOT NULL,\n"
    "  error_text TEXT,\n"
    "  lost INTEGER NOT NULL DEFAULT 0,\n"
    "  out_of_order INTEGER NOT NULL DEFAULT 0,\n"
    "  duplicates INTEGER NOT NULL DEFAULT 0,\n"
    "  jitter_ns INTEGER NOT NULL DEFAULT 0,\n"
    "  retransmits INTEGER NOT NULL DEFAULT 0,\n"
    "  complete INTEGER NOT NULL DEFAULT 1,\n"
    "  segs_out INTEGER NOT NULL DEFAULT 0,\n"
    "  segs_in INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS cpu_sample (\n"
    "  point_id INTEGER NOT NULL REFERENCES point(id),\n"
    "  agent_id INTEGER NOT NULL REFERENCES agent(id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  cpu INTEGER NOT NULL,\n"
    "  user_ns INTEGER NOT NULL, nice_ns INTEGER NOT NULL, system_ns INTEGER NOT NULL,\n"
    "  idle_ns INTEGER NOT NULL, iowait_ns INTEGER NOT NULL, irq_ns INTEGER NOT NULL,\n"
    "  softirq_ns INTEGER NOT NULL, steal_ns INTEGER NOT NULL, guest_ns INTEGER NOT NULL,\n"
    "  PRIMARY KEY (point_id, agent_id, seq, cpu)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS point_agent (\n"
    "  point_id INTEGER NOT NULL REFERENCES point(id),\n"
    "  agent_id INTEGER NOT NULL REFERENCES agent(id),\n"
    "  role TEXT NOT NULL,\n"
    "  clock_offset_ns INTEGER NOT NULL,\n"
    "  clock_error_ns INTEGER NOT NULL,\n"
    "  clock_delay_ns INTEGER NOT NULL,\n"
    "  clock_probes INTEGER NOT NULL,\n"
    "  started_ns INTEGER,\n"
    "  PRIMARY KEY (point_id, agent_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS irq_sample (\n"
    "  point_id INTEGER NOT NULL REFERENCES point(id),\n"
    "  agent_id INTEGER NOT NULL REFERENCES agent(id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  PRIMARY KEY (point_id, agent_id, seq, name)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS vm_cpu_sample (\n"
    "  point_id INTEGER NOT NULL REFERENCES point(id),\n"
    "  agent_id INTEGER NOT NULL REFERENCES agent(id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  interval_ns INTEGER NOT NULL,\n"
    "  vcpu_ns INTEGER NOT NULL, io_ns INTEGER NOT NULL, vhost_ns INTEGER NOT NULL,\n"
    "  kvm_ns INTEGER NOT NULL, total_ns INTEGER NOT NULL,\n"
    "  kvm_exits INTEGER,\n"
    "  PRIMARY KEY (point_id, agent_id, seq)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS histogram (\n"
    "  flow_id INTEGER NOT NULL REFERENCES flow(id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  bucket INTEGER NOT NULL,\n"
    "  count INTEGER NOT NULL CHECK (count <> 0),\n"
    "  PRIMARY KEY (flow_id, seq, bucket)\n"
    ") WITHOUT ROWID;\n"
    /* Samples that never arrived (v5): an agent's batches are numbered;
     * a jump is stored here rather than silently joined. */
    "CREATE TABLE IF NOT EXISTS sample_gap (\n"
    "  point_id INTEGER NOT NULL REFERENCES point(id),\n"
    "  agent_id INTEGER NOT NULL REFERENCES agent(id),\n"
    "  after_seq INTEGER NOT NULL,\n"
    "  missing INTEGER NOT NULL CHECK (missing > 0),\n"
    "  PRIMARY KEY (point_id, agent_id, after_seq)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS histogram_summary (\n"
    "  flow_id INTEGER NOT NULL REFERENCES flow(id),\n"
    "  seq INTEGER NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  min_ns INTEGER,\n"
    "  max_ns INTEGER,\n"
    "  sum_ns INTEGER NOT NULL,\n"
    "  overflow INTEGER NOT NULL,\n"
    "  PRIMARY KEY (flow_id, seq)\n"
    ") WITHOUT ROWID;\n"
    /* Per link (VM or VM pair) of each point, for SQL users: what its
     * receiver got and its sender completed, over the whole window and
     * per sample interval.  coord report computes the same. */
    "CREATE VIEW IF NOT EXISTS link_total AS\n"
    "  SELECT f.point_id, f.link,\n"
    "    MAX(CASE WHEN f.role = 'sender' THEN a.name END) AS sender,\n"
    "    MAX(CASE WHEN f.role = 'receiver' THEN a.name END) AS receiver,\n"
    "    TOTAL(CASE WHEN f.role = 'receiver' THEN r.bytes ELSE 0 END) AS rx_bytes,\n"
    "    TOTAL(CASE WHEN f.role = 'sender' THEN r.transactions ELSE 0 END) AS transactions\n"
    "  FROM flow f JOIN agent a ON a.id = f.agent_id LEFT JOIN result r ON r.flow_id = f.id\n"
    "  GROUP BY f.point_id, f.link;\n"
    "CREATE VIEW IF NOT EXISTS link_bin AS\n"
    "  SELECT f.point_id, f.link, s.seq, MIN(s.t_start_ns) AS t_start_ns, MAX(s.t_end_ns) AS t_end_ns,\n"
    "    TOTAL(CASE WHEN f.role = 'receiver' THEN s.bytes ELSE 0 END) AS rx_bytes,\n"
    "    TOTAL(CASE WHEN f.role = 'sender' THEN s.transactions ELSE 0 END) AS transactions\n"
    "  FROM flow f JOIN sample s ON s.flow_id = f.id GROUP BY f.point_id, f.link, s.seq;\n";

/* Cached statements, prepared on first use and reset after each. */
enum stmt_id {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_RUN_INSERT,
  ST_RUN_END,
  ST_AGENT_INSERT,
  ST_AGENT_SET_HOST,
  ST_POINT_INSERT,
  ST_POINT_START,
  ST_POINT_END,
  ST_FLOW_INSERT,
  ST_SAMPLE_INSERT,
  ST_RESULT_INSERT,
  ST_HSUM_INSERT,
  ST_HBUCKET_INSERT,
  ST_HSUM_SELECT,
  ST_HBUCKET_SELECT,
  ST_SAMPLE_HIST_SELECT,
  ST_POINT_WINDOW,
  ST_CPU_INSERT,
  ST_IRQ_INSERT,
  ST_VM_CPU_INSERT,
  ST_CLOCK_INSERT,
  ST_POINT_SKEW,
  ST_GAP_INSERT,
  ST_RUN_RESUME,
  ST_POINT_DONE_SELECT,
  ST_READ_RUN,
  ST_READ_POINTS,
  ST_READ_POINTS_V6,
  ST_READ_POINTS_V5,
  ST_READ_TRIAL_POINTS,
  ST_READ_FLOWS_V6,
  ST_TRIAL_INSERT,
  ST_READ_TRIALS,
  ST_SEARCH_INSERT,
  ST_READ_SEARCHES,
  ST_POINT_TOTALS,
  ST_POINT_SET_TRIAL,
  ST_READ_CONFIDENCE,
  ST_READ_FLOWS,
  ST_READ_CPU,
  ST_READ_BINS,
  ST_READ_FAIR,
  ST_READ_LINKS,
  ST_READ_LINK_BINS,
  ST_READ_VM_CPU,
  _ST_MAX,
};

/* A run's points, with what the report needs of their parameters. */
#define READ_POINTS_SQL(REPS, NO, TRIAL, WHICH)                                                          \
  "SELECT id, idx, test, sweep, workload, status, error, duration_ns, warmup_ns, window_start_ns,"       \
  " window_end_ns, start_skew_ns, topology, vms, json_extract(params_json, '$.path'),"                   \
  " (SELECT COALESCE(SUM(0.0 + g.missing), 0) FROM sample_gap g WHERE g.point_id = point.id), " REPS "," \
  " json_extract(params_json, '$.msg_size'), json_extract(params_json, '$.response_size'), params_json," \
  " " TRIAL " FROM point"                                                                                \
  " WHERE run_id = ?1 AND (?2 < 0 OR " NO " = ?2) AND " WHICH " ORDER BY idx"
#define READ_FLOWS_SQL(SEGS)                                                                       \
  "SELECT f.id, f.role, r.flow_id IS NOT NULL, r.bytes, r.transactions, r.t_start_ns, r.t_end_ns," \
  " (SELECT COUNT(*) FROM sample s WHERE s.flow_id = f.id), r.messages, r.lost, r.out_of_order,"   \
  " r.duplicates, r.jitter_ns, r.retransmits, r.complete, " SEGS                                   \
  " FROM flow f LEFT JOIN result r ON r.flow_id = f.id WHERE f.point_id = ?1 ORDER BY f.id"

static const char *const stmt_sql[_ST_MAX] = {
  [ST_BEGIN] = "BEGIN IMMEDIATE",
  [ST_COMMIT] = "COMMIT",
  [ST_ROLLBACK] = "ROLLBACK",
  [ST_SAVEPOINT] = "SAVEPOINT iov_record",
  [ST_RELEASE] = "RELEASE iov_record",
  [ST_ROLLBACK_TO] = "ROLLBACK TO iov_record",
  [ST_RUN_INSERT] = "INSERT INTO run (uuid, plan_path, plan_text, version, started_ns, status)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
  [ST_RUN_END] = "UPDATE run SET status = ?2, error = ?3, ended_ns = ?4 WHERE id = ?1",
  /* A resumed run meets its agents again: same row, newer details. */
  [ST_AGENT_INSERT] = "INSERT INTO agent (run_id, name, endpoint, identity, inventory_json)"
                      " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (run_id, name) DO UPDATE SET"
                      " endpoint = excluded.endpoint, identity = excluded.identity,"
                      " inventory_json = excluded.inventory_json RETURNING id",
  [ST_POINT_INSERT] = "INSERT INTO point (run_id, idx, test, sweep, workload, params_json, status,"
                      " duration_ns, sample_interval_ns, topology, vms, point_no, rep, trial)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
  [ST_AGENT_SET_HOST] = "UPDATE agent SET kind = 'guest', host_id = ?2 WHERE id = ?1",
  [ST_POINT_START] = "UPDATE point SET start_ns = ?2 WHERE id = ?1",
  [ST_POINT_END] = "UPDATE point SET status = ?2, error = ?3 WHERE id = ?1",
  [ST_FLOW_INSERT] = "INSERT INTO flow (point_id, agent_id, role, idx, link) VALUES (?1, ?2, ?3, ?4, ?5)",
  [ST_SAMPLE_INSERT] = "INSERT INTO sample (flow_id, seq, t_start_ns, t_end_ns, bytes, messages,"
                       " transactions, lost, out_of_order, duplicates, jitter_ns, retransmits,"
                       " rtt_us, snd_cwnd, lat_count, lat_min_ns, lat_max_ns, lat_sum_ns, lat_overflow,"
                       " lat_buckets, segs_out, segs_in)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
                       " ?17, ?18, ?19, ?20, ?21, ?22)",
  [ST_SAMPLE_HIST_SELECT] = "SELECT lat_count, lat_min_ns, lat_max_ns, lat_sum_ns, lat_overflow, lat_buckets"
                            " FROM sample WHERE flow_id = ?1 AND seq = ?2 AND lat_count IS NOT NULL",
  [ST_RESULT_INSERT] = "INSERT INTO result (flow_id, bytes, messages, transactions, t_start_ns,"
                       " t_end_ns, samples, error, error_text, lost, out_of_order, duplicates,"
                       " jitter_ns, retransmits, complete, segs_out, segs_in)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
  [ST_HSUM_INSERT] = "INSERT INTO histogram_summary (flow_id, seq, count, min_ns, max_ns, sum_ns,"
                     " overflow) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  [ST_HBUCKET_INSERT] = "INSERT INTO histogram (flow_id, seq, bucket, count) VALUES (?1, ?2, ?3, ?4)",
  [ST_HSUM_SELECT] = "SELECT count, min_ns, max_ns, sum_ns, overflow FROM histogram_summary"
                     " WHERE flow_id = ?1 AND seq = ?2",
  [ST_HBUCKET_SELECT] = "SELECT bucket, count FROM histogram WHERE flow_id = ?1 AND seq = ?2",
  [ST_POINT_WINDOW] = "UPDATE point SET window_start_ns = ?2, window_end_ns = ?3, warmup_ns = ?4"
                      " WHERE id = ?1",
  [ST_CPU_INSERT] = "INSERT OR REPLACE INTO cpu_sample (point_id, agent_id, seq, cpu, user_ns, nice_ns,"
                    " system_ns, idle_ns, iowait_ns, irq_ns, softirq_ns, steal_ns, guest_ns)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
  [ST_CLOCK_INSERT] = "INSERT OR REPLACE INTO point_agent (point_id, agent_id, role, clock_offset_ns,"
                      " clock_error_ns, clock_delay_ns, clock_probes, started_ns)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
  [ST_POINT_SKEW] = "UPDATE point SET start_skew_ns = ?2 WHERE id = ?1",
  [ST_VM_CPU_INSERT] = "INSERT OR REPLACE INTO vm_cpu_sample (point_id, agent_id, seq, interval_ns, vcpu_ns,"
                       " io_ns, vhost_ns, kvm_ns, total_ns, kvm_exits)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
  [ST_IRQ_INSERT] = "INSERT OR REPLACE INTO irq_sample (point_id, agent_id, seq, name, count)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
  [ST_GAP_INSERT] = "INSERT OR REPLACE INTO sample_gap (point_id, agent_id, after_seq, missing)"
                    " VALUES (?1, ?2, ?3, ?4)",
  [ST_RUN_RESUME] = "UPDATE run SET status = 'running', error = NULL, ended_ns = NULL WHERE id ="
                    " (SELECT id FROM run ORDER BY id DESC LIMIT 1) RETURNING id, uuid",
  [ST_POINT_DONE_SELECT] = "SELECT point_no, status = 'failed', idx, trial FROM point WHERE run_id = ?1",
  [ST_TRIAL_INSERT] = "INSERT OR REPLACE INTO trial (point_id, run_id, point_no, rep, seq, full,"
                      " offered_wire_bps, offered_pps, duration_ns, sent, received, lost)"
                      " SELECT id, run_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM point WHERE id = ?1",
  /* owned: the trial's point row is this run's, of the same plan point
   * and repetition, and marked as this trial or (the search's answer) as
   * its measurement: a forged row could otherwise make any point the
   * search's measurement on resume. */
  [ST_READ_TRIALS] = "SELECT t.point_id, t.point_no, t.rep, t.seq, t.full, t.offered_wire_bps, t.offered_pps,"
                     " t.duration_ns, t.sent, t.received, t.lost,"
                     " p.id IS NOT NULL AND p.run_id = t.run_id AND p.point_no = t.point_no AND p.rep = t.rep"
                     " AND (p.trial = t.seq OR p.trial = 0)"
                     " FROM trial t LEFT JOIN point p ON p.id = t.point_id"
                     " WHERE t.run_id = ?1 AND (?2 < 0 OR t.point_no = ?2) AND (?3 < 0 OR t.rep = ?3)"
                     " ORDER BY t.point_no, t.rep, t.seq, t.point_id",
  [ST_SEARCH_INSERT] = "INSERT OR REPLACE INTO search (run_id, point_no, rep, kind, converged, rate_pps,"
                       " rate_bps, wire_bps, line_pct, frame_mean, loss, trials, seconds, point_id)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
  [ST_READ_SEARCHES] = "SELECT point_no, rep, kind, converged, rate_pps, rate_bps, wire_bps, line_pct,"
                       " frame_mean, loss, trials, seconds, point_id FROM search WHERE run_id = ?1"
                       " ORDER BY point_no, rep, kind",
  /* Sums as REAL (TOTAL): a hostile file's huge counts cannot overflow. */
  [ST_POINT_TOTALS] = "SELECT (SELECT COUNT(*) FROM point WHERE id = ?1),"
                      " TOTAL(CASE WHEN f.role = 'sender' THEN r.messages END),"
                      " TOTAL(CASE WHEN f.role = 'receiver' THEN r.messages END),"
                      " TOTAL(CASE WHEN f.role = 'receiver' THEN r.lost END)"
                      " FROM flow f JOIN result r ON r.flow_id = f.id WHERE f.point_id = ?1",
  [ST_POINT_SET_TRIAL] = "UPDATE point SET trial = ?2 WHERE id = ?1",

  /* Reading a run back (report, plot, compare). */
  [ST_READ_RUN] = "SELECT id, uuid, plan_path, status, error, started_ns, ended_ns FROM run"
                  " ORDER BY id DESC LIMIT 1",
  [ST_READ_POINTS] = READ_POINTS_SQL("point_no, rep", "point_no", "trial", "trial = 0"),
  [ST_READ_TRIAL_POINTS] = READ_POINTS_SQL("point_no, rep", "point_no", "trial", "trial > 0"),
  /* Schema 6 had no searches. */
  [ST_READ_POINTS_V6] = READ_POINTS_SQL("point_no, rep", "point_no", "0", "1"),
  /* Schema 5 had no repetitions: each point is its own. */
  [ST_READ_POINTS_V5] = READ_POINTS_SQL("idx, 0", "idx", "0", "1"),
  [ST_READ_CONFIDENCE] = "SELECT point_no, level, width, runs, mean, half, reached FROM point_confidence"
                         " WHERE run_id = ?1 ORDER BY point_no",
  [ST_READ_FLOWS] = READ_FLOWS_SQL("r.segs_out, r.segs_in"),
  [ST_READ_FLOWS_V6] = READ_FLOWS_SQL("0, 0"),
  /* Busy and total CPU time of the machine of one side over the window:
   * busy leaves out idle, iowait and steal (time the hypervisor took). */
  [ST_READ_CPU] =
      "SELECT SUM(0.0 + c.user_ns + c.nice_ns + c.system_ns + c.irq_ns + c.softirq_ns),"
      " SUM(0.0 + c.user_ns + c.nice_ns + c.system_ns + c.irq_ns + c.softirq_ns + c.idle_ns + c.iowait_ns"
      " + c.steal_ns)"
      " FROM cpu_sample c WHERE c.point_id = ?1 AND c.cpu = -1 AND c.agent_id ="
      " (SELECT agent_id FROM flow WHERE point_id = ?1 AND role = ?2 LIMIT 1)",
  /* Time bins: the flows' samples of one number, summed, with the sum of
   * squares (in REAL: squares of byte counts do not fit 64 bits). */
  [ST_READ_BINS] =
      "SELECT s.seq, MIN(s.t_start_ns), MAX(s.t_end_ns), SUM(0.0 + s.bytes), SUM(0.0 + s.transactions), "
      "COUNT(*),"
      " SUM(CAST(s.bytes AS REAL) * s.bytes), SUM(CAST(s.transactions AS REAL) * s.transactions)"
      " FROM sample s JOIN flow f ON f.id = s.flow_id WHERE f.point_id = ?1 AND f.role = ?2"
      " GROUP BY s.seq ORDER BY s.seq",
  [ST_READ_FAIR] = "SELECT COUNT(*), SUM(CAST(r.bytes AS REAL)), SUM(CAST(r.bytes AS REAL) * r.bytes),"
                   " SUM(CAST(r.transactions AS REAL)), SUM(CAST(r.transactions AS REAL) * r.transactions)"
                   " FROM result r JOIN flow f ON f.id = r.flow_id WHERE f.point_id = ?1 AND f.role = ?2",
  /* Links: each (link, role) with its agent, the sender's host, and its
   * results summed; and each link's samples per interval. */
  [ST_READ_LINKS] =
      "SELECT f.link, f.role, a.name, COALESCE(h.name, a.name), SUM(0.0 + COALESCE(r.bytes, 0)),"
      " SUM(0.0 + COALESCE(r.transactions, 0))"
      " FROM flow f JOIN agent a ON a.id = f.agent_id LEFT JOIN agent h ON h.id = a.host_id"
      " LEFT JOIN result r ON r.flow_id = f.id WHERE f.point_id = ?1"
      " GROUP BY f.link, f.role ORDER BY f.link, f.role",
  [ST_READ_LINK_BINS] =
      "SELECT f.link, s.seq, SUM(0.0 + s.bytes), SUM(0.0 + s.transactions) FROM sample s JOIN flow f ON f.id "
      "= "
      "s.flow_id"
      " WHERE f.point_id = ?1 AND f.role = ?2 GROUP BY f.link, s.seq ORDER BY f.link, s.seq",
  /* Per guest with host CPU data: over the intervals that have it. */
  [ST_READ_VM_CPU] =
      "SELECT a.name, MIN(f.role), COUNT(DISTINCT v.seq), SUM(0.0 + v.total_ns), SUM(0.0 + v.vcpu_ns), "
      "SUM(0.0 "
      "+ v.io_ns),"
      " SUM(0.0 + v.vhost_ns), SUM(0.0 + v.kvm_exits), COUNT(v.kvm_exits),"
      " (SELECT SUM(0.0 + c.user_ns + c.nice_ns + c.system_ns + c.irq_ns + c.softirq_ns) FROM cpu_sample c"
      "   WHERE c.point_id = ?1 AND c.agent_id = a.id AND c.cpu = -1 AND c.seq IN"
      "   (SELECT seq FROM vm_cpu_sample WHERE point_id = ?1 AND agent_id = a.id)),"
      " (SELECT SUM(0.0 + s.bytes) FROM sample s JOIN flow g ON g.id = s.flow_id WHERE g.point_id = ?1"
      "   AND g.agent_id = a.id AND s.seq IN (SELECT seq FROM vm_cpu_sample WHERE point_id = ?1 AND agent_id "
      "= "
      "a.id)),"
      " (SELECT SUM(0.0 + s.transactions) FROM sample s JOIN flow g ON g.id = s.flow_id WHERE g.point_id = ?1"
      "   AND g.agent_id = a.id AND s.seq IN (SELECT seq FROM vm_cpu_sample WHERE point_id = ?1 AND agent_id "
      "= "
      "a.id))"
      " FROM vm_cpu_sample v JOIN agent a ON a.id = v.agent_id"
      " JOIN flow f ON f.point_id = v.point_id AND f.agent_id = v.agent_id AND f.idx = 0"
      " WHERE v.point_id = ?1 GROUP BY a.id ORDER BY a.name",
};

struct iov_db {
  sqlite3 *db;
  bool readonly;
  bool hist_layout_ok; /* the file's bucket layout is this build's */
  int version;         /* PRAGMA user_version as opened (or migrated) */
  sqlite3_stmt *stmt[_ST_MAX];
  /* The caller's err buffer, lent for one call (db_enter() to
   * db_leave()): a failure's reason is written there, never kept here. */
  char *err;
  size_t errlen;
  bool said; /* a reason was written during this call */
};

static const char *const point_status_table[_IOV_POINT_STATUS_MAX] = {
  [IOV_POINT_RUNNING] = "running",
  [IOV_POINT_OK] = "ok",
  [IOV_POINT_FAILED] = "failed",
};

const char *iov_point_status_to_string(enum iov_point_status s) {
  if (s < 0 || s >= _IOV_POINT_STATUS_MAX) return NULL;
  return point_status_table[s];
}

enum iov_point_status iov_point_status_from_string(const char *s) {
  if (!s) return _IOV_POINT_STATUS_INVALID;
  for (int i = 0; i < _IOV_POINT_STATUS_MAX; i++)
    if (strcmp(point_status_table[i], s) == 0) return (enum iov_point_status)i;
  return _IOV_POINT_STATUS_INVALID;
}

/* Error recording.  Every failure of SQLite goes through db_fail(), which
 * puts what we were doing and SQLite's text together, into the buffer
 * the caller of the public function lent (db_enter()). */
static int db_vsayf(struct iov_db *db, int r, const char *fmt, va_list ap) {
  /* Fixed size on purpose: vsnprintf truncates a long message instead of
   * failing. */
  char msg[512];

  vsnprintf(msg, sizeof(msg), fmt, ap);
  iov_debug(IOV_DBG_DB, "results db: %s", msg);
  iov_errf(r, db->err, db->errlen, "%s", msg);
  db->said = true;
  return r;
}

/* Fail with r and a reason. */
static int db_sayf(struct iov_db *db, int r, const char *fmt, ...) _printf_(3, 4);
static int db_sayf(struct iov_db *db, int r, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  r = db_vsayf(db, r, fmt, ap);
  va_end(ap);
  return r;
}

static int db_failf(struct iov_db *db, const char *fmt, ...) _printf_(2, 3);
static int db_failf(struct iov_db *db, const char *fmt, ...) {
  va_list ap;
  int r;

  va_start(ap, fmt);
  r = db_vsayf(db, -IOV_E_DB, fmt, ap);
  va_end(ap);
  return r;
}

static int db_fail(struct iov_db *db, const char *what) {
  return db_failf(db, "%s: %s", what, db->db ? sqlite3_errmsg(db->db) : "out of memory");
}

/* The one way a reason leaves this module: every public function lends
 * its caller's (err, errlen) to db for the length of the call, and gives
 * it back, filling it with the errno's text if it failed without a
 * reason.  Calls nest (a reader's callback may read a histogram). */
struct db_call {
  char *err;
  size_t errlen;
  bool said;
};

static struct db_call db_enter(struct iov_db *db, char *err, size_t errlen) {
  struct db_call saved = { 0 };

  if (db) {
    saved = (struct db_call){ db->err, db->errlen, db->said };
    db->err = err;
    db->errlen = errlen;
    db->said = false;
  }
  return saved;
}

static int db_leave(struct iov_db *db, const struct db_call *saved, int r, char *err, size_t errlen) {
  bool said = false;

  if (db) {
    said = db->said;
    db->err = saved->err;
    db->errlen = saved->errlen;
    /* A nested call that wrote into the outer call's buffer spoke for it. */
    db->said = saved->said || (said && err && err == saved->err);
  }
  if (r < 0 && !said) iov_errf(r, err, errlen, "%s", iov_strerror(r));
  return r;
}

int iov__db_cache_pages(struct iov_db *db, int pages) {
  char sql[64];

  if (!db) return -EINVAL;
  snprintf(sql, sizeof(sql), "PRAGMA cache_size = %d", pages);
  return sqlite3_exec(db->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -IOV_E_DB;
}

/* Statements.  The pattern is: stmt_get, bind, step, then stmt_done
 * whatever happened, so that the statement is ready for the next use and
 * holds no pointer to the caller's strings; db_fail() comes before
 * stmt_done, while SQLite's message is surely the step's. */
static int stmt_get(struct iov_db *db, enum stmt_id id, sqlite3_stmt **ret) {
  if (!db->stmt[id] && sqlite3_prepare_v3(db->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &db->stmt[id],
                                          NULL) != SQLITE_OK) {
    db->stmt[id] = NULL;
    return db_fail(db, stmt_sql[id]);
  }
  *ret = db->stmt[id];
  return 0;
}

static void stmt_done(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Step a statement that returns no rows, then reset it. */
static int stmt_run(struct iov_db *db, sqlite3_stmt *st, const char *what) {
  int r = 0;

  if (sqlite3_step(st) != SQLITE_DONE) r = db_fail(db, what);
  stmt_done(st);
  return r;
}

static int exec_id(struct iov_db *db, enum stmt_id id) {
  sqlite3_stmt *st = NULL;
  int r = stmt_get(db, id, &st);

  return r < 0 ? r : stmt_run(db, st, stmt_sql[id]);
}

/* Undo without touching the caller's err, which holds the failure that
 * made us undo.  A failing rollback leaves nothing better to do. */
static void exec_quiet(struct iov_db *db, enum stmt_id id) {
  struct db_call c = db_enter(db, NULL, 0);
  sqlite3_stmt *st = NULL;

  if (stmt_get(db, id, &st) == 0) {
    (void)sqlite3_step(st);
    stmt_done(st);
  }
  db_leave(db, &c, 0, NULL, 0);
}

/* Bind helpers: each returns SQLite's code, so a list of them can be
 * joined with ||.  Strings are SQLITE_STATIC: every statement is stepped
 * and its bindings cleared before the caller's strings can go away. */
static int bind_text(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int bind_i64(sqlite3_stmt *st, int i, int64_t v) { return sqlite3_bind_int64(st, i, v); }

/* Two's complement, see results.h. */
static int bind_u64(sqlite3_stmt *st, int i, uint64_t v) {
  return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* Counters above IOV_DB_COUNT_MAX are refused, before any is stored. */
static int counts_check(struct iov_db *db, const char *what, const uint64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] > IOV_DB_COUNT_MAX)
      return db_failf(db, "%s: counter %zu is %" PRIu64 ", more than %" PRIu64 "; not stored", what, i, v[i],
                      (uint64_t)IOV_DB_COUNT_MAX);
  return 0;
}

static uint64_t column_u64(sqlite3_stmt *st, int i) { return (uint64_t)sqlite3_column_int64(st, i); }

static int bind_fail(struct iov_db *db, sqlite3_stmt *st, const char *what) {
  int r = db_fail(db, what);

  stmt_done(st);
  return r;
}

/* Opening. */

static int read_user_version(struct iov_db *db, int *ret) {
  sqlite3_stmt *st = NULL;
  int r = 0;

  if (sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, "read user_version");
  if (sqlite3_step(st) == SQLITE_ROW)
    *ret = sqlite3_column_int(st, 0);
  else
    r = db_fail(db, "read user_version");
  sqlite3_finalize(st);
  return r;
}

/* Refuse a schema from the future before writing anything to the file:
 * an older build must not change a newer one's database. */
static int check_version(struct iov_db *db, bool need_schema) {
  int v = 0, r;

  r = read_user_version(db, &v);
  if (r < 0) return r;
  if (v > SCHEMA_VERSION)
    return db_failf(db,
                    "schema version %d is newer than the version %d this build of iovbench "
                    "understands; read it with a newer iovbench",
                    v, SCHEMA_VERSION);
  if (v < 0 || (need_schema && v < SCHEMA_OLDEST))
    return db_failf(db, "not an iovbench results database (schema version %d)", v);
  db->version = v;
  return 0;
}

int iov_db_schema_version(const struct iov_db *db) { return db ? db->version : 0; }

/* For constant SQL only: nothing is bound. */
static int exec_sql(struct iov_db *db, const char *what, const char *sql) {
  char *msg = NULL;
  int r = 0;

  if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK)
    r = db_failf(db, "%s: %s", what, msg ? msg : sqlite3_errmsg(db->db));
  sqlite3_free(msg);
  return r;
}

static int set_wal(struct iov_db *db) {
  sqlite3_stmt *st = NULL;
  const unsigned char *mode;
  int r = 0;

  if (sqlite3_prepare_v2(db->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, "PRAGMA journal_mode");
  if (sqlite3_step(st) != SQLITE_ROW) {
    r = db_fail(db, "PRAGMA journal_mode");
  } else {
    /* SQLite answers with the mode it is in.  Anything but WAL means the
     * file system cannot share memory, and the one-commit-per-point
     * design would block readers during a run: refuse. */
    mode = sqlite3_column_text(st, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0)
      r = db_failf(db, "cannot switch to WAL journal mode (still '%s')", mode ? (const char *)mode : "?");
  }
  sqlite3_finalize(st);
  return r;
}

static int meta_put(struct iov_db *db, const char *key, int64_t value) {
  sqlite3_stmt *st = NULL;
  int r;

  if (sqlite3_prepare_v2(db->db, "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", -1, &st, NULL) !=
      SQLITE_OK)
    return db_fail(db, "prepare meta insert");
  if (bind_text(st, 1, key) || bind_i64(st, 2, value))
    r = db_fail(db, "bind meta");
  else
    r = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "insert meta");
  sqlite3_finalize(st);
  return r;
}

/* Returns 1 if key has value, 0 if not or absent. */
static int meta_check(struct iov_db *db, const char *key, int64_t value) {
  sqlite3_stmt *st = NULL;
  int r, rc;

  if (sqlite3_prepare_v2(db->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, "prepare meta select");
  if (bind_text(st, 1, key)) {
    r = db_fail(db, "bind meta");
  } else {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
      r = sqlite3_column_int64(st, 0) == value;
    else if (rc == SQLITE_DONE)
      r = 0;
    else
      r = db_fail(db, "read meta");
  }
  sqlite3_finalize(st);
  return r;
}

static int check_layout(struct iov_db *db) {
  int a, b;

  a = meta_check(db, "hist_sub_bits", IOV_HIST_SUB_BITS);
  if (a < 0) return a;
  b = meta_check(db, "hist_max_bits", IOV_HIST_MAX_BITS);
  if (b < 0) return b;
  db->hist_layout_ok = a && b;
  if (!db->hist_layout_ok && !db->readonly)
    return db_failf(db,
                    "histogram layout of the database differs from this build's (%d sub-bits, "
                    "%d max bits); write to a new database",
                    IOV_HIST_SUB_BITS, IOV_HIST_MAX_BITS);
  return 0;
}

/* Version 5 to 6: repetitions (point_no, rep; point_confidence).
 * Version 6 to 7: rate searches (point.trial; the tables trial and search,
 * made by schema_sql) and TCP segments in sample and result. */
static int migrate(struct iov_db *db) {
  int r = 0;

  if (db->version == 5)
    r = exec_sql(db, "migrate to schema 6",
                 "ALTER TABLE point ADD COLUMN point_no INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE point ADD COLUMN rep INTEGER NOT NULL DEFAULT 0;"
                 "UPDATE point SET point_no = idx;");
  if (r >= 0 && (db->version == 5 || db->version == 6))
    r = exec_sql(db, "migrate to schema 7",
                 "ALTER TABLE point ADD COLUMN trial INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE sample ADD COLUMN segs_out INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE sample ADD COLUMN segs_in INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE result ADD COLUMN segs_out INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE result ADD COLUMN segs_in INTEGER NOT NULL DEFAULT 0;");
  return r;
}

/* Pragmas, then the schema in one transaction, so that a second writer
 * racing on a new file either sees none of it or all of it. */
static int setup_rw(struct iov_db *db) {
  int r;

  r = exec_sql(db, "enable foreign keys", "PRAGMA foreign_keys = ON");
  if (r < 0) return r;
  r = set_wal(db);
  if (r < 0) return r;
  r = exec_sql(db, "set synchronous", "PRAGMA synchronous = NORMAL");
  if (r < 0) return r;
  r = exec_sql(db, "begin schema transaction", "BEGIN IMMEDIATE");
  if (r < 0) return r;
  r = check_version(db, false);
  if (r >= 0) r = migrate(db);
  if (r >= 0) r = exec_sql(db, "create schema", schema_sql);
  if (r >= 0) r = meta_put(db, "hist_sub_bits", IOV_HIST_SUB_BITS);
  if (r >= 0) r = meta_put(db, "hist_max_bits", IOV_HIST_MAX_BITS);
  if (r >= 0) r = exec_sql(db, "set user_version", "PRAGMA user_version = " STR(SCHEMA_VERSION));
  if (r >= 0) db->version = SCHEMA_VERSION;
  if (r >= 0) r = exec_sql(db, "commit schema", "COMMIT");
  if (r < 0) exec_quiet(db, ST_ROLLBACK);
  return r;
}

static int db_open(const char *path, bool readonly, struct iov_db **ret, char *err, size_t errlen) {
  struct iov_db *db;
  struct stat st;
  int r, flags;

  if (!path || !ret) return iov_errf(-EINVAL, err, errlen, "no path");
  /* SQLite's "unable to open database file" would hide the reason. */
  if (readonly && stat(path, &st) < 0) {
    r = -errno;
    return iov_errf(r, err, errlen, "%s", iov_strerror(r));
  }

  db = calloc(1, sizeof(*db));
  if (!db) return iov_errf(-ENOMEM, err, errlen, "%s", iov_strerror(-ENOMEM));
  db->readonly = readonly;
  db->err = err;
  db->errlen = errlen;
  /* SQLite opens its files O_CLOEXEC. */
  flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  /* One thread uses a connection (see results.h): no mutexes. */
  flags |= SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path, &db->db, flags, NULL) != SQLITE_OK) {
    r = db_fail(db, "open");
    goto fail;
  }
  sqlite3_extended_result_codes(db->db, 1);
  sqlite3_busy_timeout(db->db, BUSY_TIMEOUT_MS);

  r = check_version(db, readonly);
  if (r < 0) goto fail;
  if (!readonly) {
    r = setup_rw(db);
    if (r < 0) goto fail;
  }
  r = check_layout(db);
  if (r < 0) goto fail;

  db->err = NULL;
  db->errlen = 0;
  db->said = false;
  *ret = db;
  return 0;

fail:
  if (!db->said) iov_errf(r, err, errlen, "%s", iov_strerror(r));
  iov_db_close(db);
  return r;
}

int iov_db_open(const char *path, struct iov_db **ret, char *err, size_t errlen) {
  return db_open(path, false, ret, err, errlen);
}

int iov_db_open_readonly(const char *path, struct iov_db **ret, char *err, size_t errlen) {
  return db_open(path, true, ret, err, errlen);
}

struct iov_db *iov_db_close(struct iov_db *db) {
  if (!db) return NULL;
  for (unsigned i = 0; i < _ST_MAX; i++) sqlite3_finalize(db->stmt[i]);
  /* An open transaction is rolled back here (see results.h).  close_v2
   * so that a statement leaked by report.c cannot keep us from freeing. */
  sqlite3_close_v2(db->db);
  free(db);
  return NULL;
}

/* Runs and agents. */

static int db_run_begin(struct iov_db *db, const char *uuid, const char *plan_path, const char *plan_text,
                        uint64_t started_ns, int64_t *ret_run) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !uuid || !ret_run) return -EINVAL;
  r = stmt_get(db, ST_RUN_INSERT, &st);
  if (r < 0) return r;
  if (bind_text(st, 1, uuid) || bind_text(st, 2, plan_path) || bind_text(st, 3, plan_text) ||
      bind_text(st, 4, IOV_VERSION) || bind_u64(st, 5, started_ns))
    return bind_fail(db, st, "bind run");
  r = stmt_run(db, st, "insert run");
  if (r < 0) return r;
  *ret_run = sqlite3_last_insert_rowid(db->db);
  return 0;
}

static int db_run_end(struct iov_db *db, int64_t run, const char *status, const char *error,
                      uint64_t ended_ns) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !status) return -EINVAL;
  r = stmt_get(db, ST_RUN_END, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, run) || bind_text(st, 2, status) || bind_text(st, 3, error) ||
      bind_u64(st, 4, ended_ns))
    return bind_fail(db, st, "bind run end");
  r = stmt_run(db, st, "update run");
  if (r < 0) return r;
  return sqlite3_changes(db->db) == 1 ? 0 : -ENOENT;
}

static int db_agent_add(struct iov_db *db, int64_t run, const char *name, const char *endpoint,
                        const char *identity, const char *inventory_json, int64_t *ret_agent) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !name || !ret_agent) return -EINVAL;
  r = stmt_get(db, ST_AGENT_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, run) || bind_text(st, 2, name) || bind_text(st, 3, endpoint) ||
      bind_text(st, 4, identity) || bind_text(st, 5, inventory_json))
    return bind_fail(db, st, "bind agent");
  if (sqlite3_step(st) != SQLITE_ROW) {
    r = db_fail(db, "insert agent");
    stmt_done(st);
    return r;
  }
  *ret_agent = sqlite3_column_int64(st, 0);
  while (sqlite3_step(st) == SQLITE_ROW) {}
  stmt_done(st);
  return 0;
}

static int db_gap_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t after_seq, uint32_t missing) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !missing) return -EINVAL;
  r = stmt_get(db, ST_GAP_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_i64(st, 2, agent) || bind_i64(st, 3, after_seq) ||
      bind_i64(st, 4, missing))
    return bind_fail(db, st, "bind sample gap");
  return stmt_run(db, st, "insert sample gap");
}

static int db_run_resume(struct iov_db *db, int64_t *ret_run, char **ret_uuid) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !ret_run) return -EINVAL;
  r = stmt_get(db, ST_RUN_RESUME, &st);
  if (r < 0) return r;
  int step = sqlite3_step(st);
  if (step != SQLITE_ROW) {
    r = step == SQLITE_DONE ? db_failf(db, "the database holds no run to resume") : db_fail(db, "resume run");
    stmt_done(st);
    return r;
  }
  *ret_run = sqlite3_column_int64(st, 0);
  const unsigned char *u = sqlite3_column_text(st, 1);
  if (ret_uuid && !(*ret_uuid = strdup(u ? (const char *)u : ""))) r = -ENOMEM;
  while (sqlite3_step(st) == SQLITE_ROW) {}
  stmt_done(st);
  return r;
}

static int db_points_stored(struct iov_db *db, int64_t run, unsigned *stored, unsigned *failed, size_t n,
                            unsigned *ret_next_idx) {
  sqlite3_stmt *st = NULL;
  int r, step;

  if (!db || (!stored && n)) return -EINVAL;
  if (ret_next_idx) *ret_next_idx = 0;
  r = stmt_get(db, ST_POINT_DONE_SELECT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, run)) return bind_fail(db, st, "bind run");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t no = sqlite3_column_int64(st, 0), idx = sqlite3_column_int64(st, 2);
    /* A search's trials are not measurements: a search with only trials
     * stored is run again, and its trials fed back to it. */
    if (no >= 0 && (uint64_t)no < n && sqlite3_column_int64(st, 3) == 0) {
      stored[no]++;
      if (failed && sqlite3_column_int(st, 1) != 0) failed[no]++;
    }
    if (ret_next_idx && idx >= 0 && (uint64_t)idx + 1 > *ret_next_idx) *ret_next_idx = (unsigned)idx + 1;
  }
  if (step != SQLITE_DONE) r = db_fail(db, "read the stored points");
  stmt_done(st);
  return r;
}

/* Points: one transaction each. */

static int db_point_begin(struct iov_db *db, int64_t run, const struct iov_db_point *p, int64_t *ret_point) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !p || !p->test || !ret_point) return -EINVAL;
  if (!sqlite3_get_autocommit(db->db))
    return db_failf(db, "cannot begin point %u: a transaction is already open", p->idx);
  r = exec_id(db, ST_BEGIN);
  if (r < 0) return r;
  r = stmt_get(db, ST_POINT_INSERT, &st);
  if (r < 0) goto fail;
  if (bind_i64(st, 1, run) || bind_i64(st, 2, p->idx) || bind_text(st, 3, p->test) ||
      bind_text(st, 4, p->sweep) || bind_text(st, 5, p->workload) || bind_text(st, 6, p->params_json) ||
      bind_u64(st, 7, p->duration_ns) || bind_u64(st, 8, p->sample_interval_ns) ||
      bind_text(st, 9, p->topology ? p->topology : "host-host") || bind_u64(st, 10, p->vms ? p->vms : 1) ||
      bind_u64(st, 11, p->point_no) || bind_u64(st, 12, p->rep) || bind_u64(st, 13, p->trial)) {
    r = bind_fail(db, st, "bind point");
    goto fail;
  }
  r = stmt_run(db, st, "insert point");
  if (r < 0) goto fail;
  *ret_point = sqlite3_last_insert_rowid(db->db);
  return 0;

fail:
  exec_quiet(db, ST_ROLLBACK);
  return r;
}

static int db_point_set_start(struct iov_db *db, int64_t point, uint64_t start_ns) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db) return -EINVAL;
  r = stmt_get(db, ST_POINT_START, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_u64(st, 2, start_ns)) return bind_fail(db, st, "bind point start");
  r = stmt_run(db, st, "update point start");
  if (r < 0) return r;
  return sqlite3_changes(db->db) == 1 ? 0 : -ENOENT;
}

static int need_transaction(struct iov_db *db, const char *what) {
  if (sqlite3_get_autocommit(db->db))
    return db_failf(db,
                    "%s: no point transaction is open (never begun, or rolled back by SQLite "
                    "after an error)",
                    what);
  return 0;
}

static int db_point_end(struct iov_db *db, int64_t point, enum iov_point_status status, const char *error) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || (status != IOV_POINT_OK && status != IOV_POINT_FAILED)) return -EINVAL;
  r = need_transaction(db, "end point");
  if (r < 0) return r;
  r = stmt_get(db, ST_POINT_END, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_text(st, 2, iov_point_status_to_string(status)) ||
      bind_text(st, 3, error))
    return bind_fail(db, st, "bind point end");
  r = stmt_run(db, st, "update point");
  if (r < 0) return r;
  if (sqlite3_changes(db->db) != 1) return -ENOENT;
  return exec_id(db, ST_COMMIT);
}

/* Flows, samples, results and their histograms.  Each call is wrapped in
 * a savepoint so that a failure half way (a constraint on the third of
 * ten histogram rows) leaves the point's transaction as it was. */

static int savepoint_begin(struct iov_db *db, const char *what) {
  int r = need_transaction(db, what);

  return r < 0 ? r : exec_id(db, ST_SAVEPOINT);
}

/* Release on success; on failure undo and release, keeping r. */
static int savepoint_end(struct iov_db *db, int r) {
  if (r >= 0) return exec_id(db, ST_RELEASE);
  /* If SQLite already rolled the whole transaction back, these fail, and
   * the next call reports that no transaction is open. */
  exec_quiet(db, ST_ROLLBACK_TO);
  exec_quiet(db, ST_RELEASE);
  return r;
}

static int db_agent_set_host(struct iov_db *db, int64_t agent, int64_t host_agent) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db) return -EINVAL;
  r = stmt_get(db, ST_AGENT_SET_HOST, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, agent) || bind_i64(st, 2, host_agent)) return bind_fail(db, st, "bind agent host");
  r = stmt_run(db, st, "update agent host");
  if (r < 0) return r;
  return sqlite3_changes(db->db) == 1 ? 0 : -ENOENT;
}

static int db_flow_add_link(struct iov_db *db, int64_t point, int64_t agent, const char *role, unsigned idx,
                            unsigned link, int64_t *ret_flow);

static int db_flow_add(struct iov_db *db, int64_t point, int64_t agent, const char *role, unsigned idx,
                       int64_t *ret_flow) {
  return db_flow_add_link(db, point, agent, role, idx, 0, ret_flow);
}

static int db_flow_add_link(struct iov_db *db, int64_t point, int64_t agent, const char *role, unsigned idx,
                            unsigned link, int64_t *ret_flow) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !role || !ret_flow || (strcmp(role, "sender") != 0 && strcmp(role, "receiver") != 0))
    return -EINVAL;
  /* A single INSERT is atomic by itself: no savepoint needed. */
  r = need_transaction(db, "add flow");
  if (r < 0) return r;
  r = stmt_get(db, ST_FLOW_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_i64(st, 2, agent) || bind_text(st, 3, role) || bind_i64(st, 4, idx) ||
      bind_i64(st, 5, link))
    return bind_fail(db, st, "bind flow");
  r = stmt_run(db, st, "insert flow");
  if (r < 0) return r;
  *ret_flow = sqlite3_last_insert_rowid(db->db);
  return 0;
}

static int hist_store(struct iov_db *db, int64_t flow, uint32_t seq, const struct iov_hist *h) {
  sqlite3_stmt *st = NULL;
  int r, rc;

  if (!db->hist_layout_ok) return db_failf(db, "histogram layout of the database differs from this build's");
  r = stmt_get(db, ST_HSUM_INSERT, &st);
  if (r < 0) return r;
  rc = bind_i64(st, 1, flow) || bind_i64(st, 2, seq) || bind_u64(st, 3, h->count) ||
       (h->count ? bind_u64(st, 4, h->min) : sqlite3_bind_null(st, 4)) ||
       (h->count ? bind_u64(st, 5, h->max) : sqlite3_bind_null(st, 5)) || bind_u64(st, 6, h->sum) ||
       bind_u64(st, 7, h->overflow);
  if (rc) return bind_fail(db, st, "bind histogram summary");
  r = stmt_run(db, st, "insert histogram summary");
  if (r < 0) return r;

  r = stmt_get(db, ST_HBUCKET_INSERT, &st);
  if (r < 0) return r;
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) {
    if (h->buckets[i] == 0) continue;
    if (bind_i64(st, 1, flow) || bind_i64(st, 2, seq) || bind_i64(st, 3, i) || bind_u64(st, 4, h->buckets[i]))
      return bind_fail(db, st, "bind histogram bucket");
    r = stmt_run(db, st, "insert histogram bucket");
    if (r < 0) return r;
  }
  return 0;
}

/* A sample's buckets as (index - previous index, count) LEB128 pairs:
 * 3 to 6 bytes a bucket instead of a row. */
static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  do {
    p[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return n;
}

static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *ret) {
  uint64_t v = 0;
  for (unsigned shift = 0; *pos < len && shift < 64; shift += 7) {
    uint8_t b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *ret = v;
      return 0;
    }
  }
  return -EBADMSG;
}

/* Encode s's latency into buf (caller frees): from the sparse form, or
 * the non-zero buckets of the dense one.  *ret_sum gets its totals. */
static int sample_hist_encode(const struct iov_db_sample *s, uint8_t **ret, size_t *ret_len,
                              struct iov_hist_summary *ret_sum) {
  size_t n = 0, len = 0;
  if (s->sparse) {
    n = s->sparse->n;
    for (size_t i = 0; i < n; i++)
      if (s->sparse->index[i] >= IOV_HIST_BUCKETS || (i && s->sparse->index[i] <= s->sparse->index[i - 1]))
        return -EINVAL;
    *ret_sum = s->sparse->sum;
  } else {
    for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) n += s->hist->buckets[i] != 0;
    *ret_sum = (struct iov_hist_summary){ .count = s->hist->count,
                                          .min = s->hist->min,
                                          .max = s->hist->max,
                                          .sum = s->hist->sum,
                                          .overflow = s->hist->overflow };
  }
  uint8_t *buf = malloc(n * 12 + 1);
  if (!buf) return -ENOMEM;
  uint32_t prev = 0;
  if (s->sparse) {
    for (size_t i = 0; i < n; i++) {
      if (!s->sparse->count[i]) continue;
      len += put_varint(buf + len, s->sparse->index[i] - prev);
      len += put_varint(buf + len, s->sparse->count[i]);
      prev = s->sparse->index[i];
    }
  } else
    for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++)
      if (s->hist->buckets[i]) {
        len += put_varint(buf + len, i - prev);
        len += put_varint(buf + len, s->hist->buckets[i]);
        prev = i;
      }
  *ret = buf;
  *ret_len = len;
  return 0;
}

static int db_sample_add(struct iov_db *db, int64_t flow, const struct iov_db_sample *s) {
  sqlite3_stmt *st = NULL;
  _cleanup_free_ uint8_t *blob = NULL;
  size_t blob_len = 0;
  struct iov_hist_summary hs = { 0 };
  bool lat = s && (s->hist || s->sparse);
  int r, rc;

  if (!db || !s || s->seq == 0) return -EINVAL;
  const uint64_t cnt[] = { s->bytes,        s->messages,   s->transactions, s->lost,
                           s->out_of_order, s->duplicates, s->jitter_ns,    s->retransmits,
                           s->rtt_us,       s->snd_cwnd,   s->segs_out,     s->segs_in };
  if ((r = counts_check(db, "sample", cnt, ELEMENTSOF(cnt))) < 0) return r;
  if (lat && !db->hist_layout_ok)
    return db_failf(db, "histogram layout of the database differs from this build's");
  if (lat && (r = sample_hist_encode(s, &blob, &blob_len, &hs)) < 0) return r;
  /* One INSERT is atomic by itself: no savepoint, which cost a third of
   * the time of storing a sample. */
  r = need_transaction(db, "add sample");
  if (r < 0) return r;
  r = stmt_get(db, ST_SAMPLE_INSERT, &st);
  if (r < 0) return r;
  rc = bind_i64(st, 1, flow) || bind_i64(st, 2, s->seq) || bind_u64(st, 3, s->t_start_ns) ||
       bind_u64(st, 4, s->t_end_ns) || bind_u64(st, 5, s->bytes) || bind_u64(st, 6, s->messages) ||
       bind_u64(st, 7, s->transactions) || bind_u64(st, 8, s->lost) || bind_u64(st, 9, s->out_of_order) ||
       bind_u64(st, 10, s->duplicates) || bind_u64(st, 11, s->jitter_ns) ||
       bind_u64(st, 12, s->retransmits) || bind_u64(st, 13, s->rtt_us) || bind_u64(st, 14, s->snd_cwnd) ||
       bind_u64(st, 21, s->segs_out) || bind_u64(st, 22, s->segs_in);
  if (!rc && lat)
    rc = bind_u64(st, 15, hs.count) || (hs.count ? bind_u64(st, 16, hs.min) : sqlite3_bind_null(st, 16)) ||
         (hs.count ? bind_u64(st, 17, hs.max) : sqlite3_bind_null(st, 17)) || bind_u64(st, 18, hs.sum) ||
         bind_u64(st, 19, hs.overflow) ||
         sqlite3_bind_blob(st, 20, blob_len ? (const void *)blob : "", (int)blob_len, SQLITE_STATIC);
  else if (!rc)
    for (int i = 15; i <= 20 && !rc; i++) rc = sqlite3_bind_null(st, i);
  if (rc) return bind_fail(db, st, "bind sample");
  return stmt_run(db, st, "insert sample");
}

static int db_result_add(struct iov_db *db, int64_t flow, const struct iov_db_result *res) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !res) return -EINVAL;
  const uint64_t cnt[] = { res->bytes,        res->messages,   res->transactions, res->lost,
                           res->out_of_order, res->duplicates, res->jitter_ns,    res->retransmits,
                           res->segs_out,     res->segs_in };
  if ((r = counts_check(db, "result", cnt, ELEMENTSOF(cnt))) < 0) return r;
  r = savepoint_begin(db, "add result");
  if (r < 0) return r;
  r = stmt_get(db, ST_RESULT_INSERT, &st);
  if (r < 0) goto out;
  if (bind_i64(st, 1, flow) || bind_u64(st, 2, res->bytes) || bind_u64(st, 3, res->messages) ||
      bind_u64(st, 4, res->transactions) || bind_u64(st, 5, res->t_start_ns) ||
      bind_u64(st, 6, res->t_end_ns) || bind_i64(st, 7, res->samples) || bind_i64(st, 8, res->error) ||
      bind_text(st, 9, res->error_text) || bind_u64(st, 10, res->lost) ||
      bind_u64(st, 11, res->out_of_order) || bind_u64(st, 12, res->duplicates) ||
      bind_u64(st, 13, res->jitter_ns) || bind_u64(st, 14, res->retransmits) ||
      bind_i64(st, 15, res->incomplete ? 0 : 1) || bind_u64(st, 16, res->segs_out) ||
      bind_u64(st, 17, res->segs_in)) {
    r = bind_fail(db, st, "bind result");
    goto out;
  }
  r = stmt_run(db, st, "insert result");
  if (r >= 0 && res->hist) r = hist_store(db, flow, 0, res->hist);
out:
  return savepoint_end(db, r);
}

/* Reading a histogram back. */

static int sample_hist_load(struct iov_db *db, int64_t flow, uint32_t seq, struct iov_hist *h) {
  sqlite3_stmt *st = NULL;
  int r, rc;

  r = stmt_get(db, ST_SAMPLE_HIST_SELECT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, flow) || bind_i64(st, 2, seq)) return bind_fail(db, st, "bind sample histogram");
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    stmt_done(st);
    return -ENOENT;
  }
  if (rc != SQLITE_ROW) return bind_fail(db, st, "read sample histogram");
  uint64_t count = column_u64(st, 0);
  uint64_t min = sqlite3_column_type(st, 1) == SQLITE_NULL ? UINT64_MAX : column_u64(st, 1);
  uint64_t max = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : column_u64(st, 2);
  uint64_t sum = column_u64(st, 3), overflow = column_u64(st, 4);
  const uint8_t *p = sqlite3_column_blob(st, 5);
  size_t len = (size_t)sqlite3_column_bytes(st, 5), pos = 0;
  uint64_t idx = 0;
  iov_hist_init(h);
  for (bool first = true; p && pos < len; first = false) {
    uint64_t delta, n;
    if (get_varint(p, len, &pos, &delta) < 0 || get_varint(p, len, &pos, &n) < 0 || (!first && delta == 0) ||
        delta >= IOV_HIST_BUCKETS || idx + delta >= IOV_HIST_BUCKETS) {
      stmt_done(st);
      return db_failf(db, "histogram of flow %" PRId64 " sample %" PRIu32 ": damaged bucket list", flow, seq);
    }
    idx += delta;
    (void)iov_hist_set_bucket(h, (unsigned)idx, n);
  }
  stmt_done(st);
  if (h->count != count)
    return db_failf(db,
                    "histogram of flow %" PRId64 " sample %" PRIu32 ": buckets hold %" PRIu64
                    " values, summary says %" PRIu64,
                    flow, seq, h->count, count);
  h->min = min;
  h->max = max;
  h->sum = sum;
  h->overflow = overflow;
  return 0;
}

static int hist_load_into(struct iov_db *db, int64_t flow, uint32_t seq, struct iov_hist *h) {
  sqlite3_stmt *st = NULL;
  uint64_t count, min, max, sum, overflow;
  int r, rc;

  if (seq > 0) return sample_hist_load(db, flow, seq, h);

  r = stmt_get(db, ST_HSUM_SELECT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, flow) || bind_i64(st, 2, seq)) return bind_fail(db, st, "bind histogram summary");
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    stmt_done(st);
    return -ENOENT;
  }
  if (rc != SQLITE_ROW) return bind_fail(db, st, "read histogram summary");
  count = column_u64(st, 0);
  min = sqlite3_column_type(st, 1) == SQLITE_NULL ? UINT64_MAX : column_u64(st, 1);
  max = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : column_u64(st, 2);
  sum = column_u64(st, 3);
  overflow = column_u64(st, 4);
  stmt_done(st);

  r = stmt_get(db, ST_HBUCKET_SELECT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, flow) || bind_i64(st, 2, seq)) return bind_fail(db, st, "bind histogram");
  iov_hist_init(h);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    sqlite3_int64 bucket = sqlite3_column_int64(st, 0);
    if (bucket < 0 || bucket >= IOV_HIST_BUCKETS ||
        iov_hist_set_bucket(h, (unsigned)bucket, column_u64(st, 1)) < 0) {
      stmt_done(st);
      return db_failf(db, "histogram of flow %" PRId64 " seq %" PRIu32 ": bucket %lld out of range", flow,
                      seq, (long long)bucket);
    }
  }
  if (rc != SQLITE_DONE) return bind_fail(db, st, "read histogram");
  stmt_done(st);

  if (h->count != count)
    return db_failf(db,
                    "histogram of flow %" PRId64 " seq %" PRIu32 ": buckets hold %" PRIu64
                    " values, summary says %" PRIu64,
                    flow, seq, h->count, count);
  /* set_bucket() widened min and max to bucket bounds; the summary has
   * the exact extremes. */
  h->min = min;
  h->max = max;
  h->sum = sum;
  h->overflow = overflow;
  return 0;
}

static int hist_load(struct iov_db *db, int64_t flow, uint32_t seq, struct iov_hist *ret) {
  struct iov_hist *h;
  int r;

  if (!db->hist_layout_ok)
    return db_failf(db,
                    "histogram layout of the database differs from this build's (%d sub-bits, "
                    "%d max bits)",
                    IOV_HIST_SUB_BITS, IOV_HIST_MAX_BITS);
  /* About 70 KiB: too big for the stack of a coroutine-ish caller, and
   * ret must stay untouched on failure. */
  h = malloc(sizeof(*h));
  if (!h) return -ENOMEM;
  r = hist_load_into(db, flow, seq, h);
  if (r >= 0) memcpy(ret, h, sizeof(*h));
  free(h);
  return r;
}

int iov_db_hist_load(struct iov_db *db, int64_t flow, uint32_t seq, struct iov_hist *ret, char *err,
                     size_t errlen) {
  if (!db || !ret) return iov_errf(-EINVAL, err, errlen, "no database or histogram");
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, hist_load(db, flow, seq, ret), err, errlen);
}

static int db_point_set_window(struct iov_db *db, int64_t point, uint64_t start_ns, uint64_t end_ns,
                               uint64_t warmup_ns) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db) return -EINVAL;
  r = stmt_get(db, ST_POINT_WINDOW, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_u64(st, 2, start_ns) || bind_u64(st, 3, end_ns) ||
      bind_u64(st, 4, warmup_ns))
    return bind_fail(db, st, "bind point window");
  return stmt_run(db, st, "store point window");
}

static int db_cpu_sample_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq,
                             const struct iov_db_cpu *c) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !c) return -EINVAL;
  const uint64_t cnt[] = { c->user_ns, c->nice_ns,    c->system_ns, c->idle_ns, c->iowait_ns,
                           c->irq_ns,  c->softirq_ns, c->steal_ns,  c->guest_ns };
  if ((r = counts_check(db, "cpu sample", cnt, ELEMENTSOF(cnt))) < 0) return r;
  r = stmt_get(db, ST_CPU_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_i64(st, 2, agent) || bind_i64(st, 3, seq) || bind_i64(st, 4, c->cpu) ||
      bind_u64(st, 5, c->user_ns) || bind_u64(st, 6, c->nice_ns) || bind_u64(st, 7, c->system_ns) ||
      bind_u64(st, 8, c->idle_ns) || bind_u64(st, 9, c->iowait_ns) || bind_u64(st, 10, c->irq_ns) ||
      bind_u64(st, 11, c->softirq_ns) || bind_u64(st, 12, c->steal_ns) || bind_u64(st, 13, c->guest_ns))
    return bind_fail(db, st, "bind cpu sample");
  return stmt_run(db, st, "insert cpu sample");
}

static int db_irq_sample_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq, const char *name,
                             uint64_t count) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !name) return -EINVAL;
  if ((r = counts_check(db, "irq sample", &count, 1)) < 0) return r;
  r = stmt_get(db, ST_IRQ_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_i64(st, 2, agent) || bind_i64(st, 3, seq) || bind_text(st, 4, name) ||
      bind_u64(st, 5, count))
    return bind_fail(db, st, "bind irq sample");
  return stmt_run(db, st, "insert irq sample");
}

static int db_vm_cpu_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq,
                         const struct iov_db_vm_cpu *c) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !c) return -EINVAL;
  const uint64_t cnt[] = { c->interval_ns,
                           c->vcpu_ns,
                           c->io_ns,
                           c->vhost_ns,
                           c->kvm_ns,
                           c->total_ns,
                           c->kvm_exits_known ? c->kvm_exits : 0 };
  if ((r = counts_check(db, "vm cpu sample", cnt, ELEMENTSOF(cnt))) < 0) return r;
  r = stmt_get(db, ST_VM_CPU_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_i64(st, 2, agent) || bind_i64(st, 3, seq) ||
      bind_u64(st, 4, c->interval_ns) || bind_u64(st, 5, c->vcpu_ns) || bind_u64(st, 6, c->io_ns) ||
      bind_u64(st, 7, c->vhost_ns) || bind_u64(st, 8, c->kvm_ns) || bind_u64(st, 9, c->total_ns) ||
      (c->kvm_exits_known ? bind_u64(st, 10, c->kvm_exits) : sqlite3_bind_null(st, 10)))
    return bind_fail(db, st, "bind vm cpu sample");
  return stmt_run(db, st, "insert vm cpu sample");
}

static int db_point_agent_add(struct iov_db *db, int64_t point, int64_t agent, const char *role,
                              const struct iov_db_clock *c) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !role || !c) return -EINVAL;
  r = stmt_get(db, ST_CLOCK_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_i64(st, 2, agent) || bind_text(st, 3, role) ||
      bind_i64(st, 4, c->offset_ns) || bind_u64(st, 5, c->error_ns) || bind_u64(st, 6, c->delay_ns) ||
      bind_i64(st, 7, c->probes) || (c->started_ns ? bind_u64(st, 8, c->started_ns) : bind_text(st, 8, NULL)))
    return bind_fail(db, st, "bind point agent");
  return stmt_run(db, st, "store point agent");
}

static int db_point_set_skew(struct iov_db *db, int64_t point, uint64_t skew_ns) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db) return -EINVAL;
  r = stmt_get(db, ST_POINT_SKEW, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_u64(st, 2, skew_ns)) return bind_fail(db, st, "bind start skew");
  return stmt_run(db, st, "store start skew");
}

static int db_confidence_set(struct iov_db *db, int64_t run, unsigned point_no, double level, double width,
                             unsigned runs, double mean, double half, bool reached) {
  sqlite3_stmt *st = NULL;
  if (!db) return -EINVAL;
  if (sqlite3_prepare_v2(
          db->db,
          "INSERT OR REPLACE INTO point_confidence (run_id, point_no, level, width, runs, mean,"
          " half, reached) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
          -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, "prepare confidence");
  sqlite3_bind_int64(st, 1, run);
  sqlite3_bind_int64(st, 2, point_no);
  sqlite3_bind_double(st, 3, level);
  sqlite3_bind_double(st, 4, width);
  sqlite3_bind_int64(st, 5, runs);
  if (isfinite(mean)) sqlite3_bind_double(st, 6, mean);
  if (isfinite(half)) sqlite3_bind_double(st, 7, half);
  sqlite3_bind_int(st, 8, reached);
  int r = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "store confidence");
  sqlite3_finalize(st);
  return r;
}

/* ---- Reading a run back ------------------------------------------------ */

static const char *column_str(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }

/* Step st, bound by the caller, handing each row to row(); reset
 * whatever happens.  A negative return of row() stops the walk. */
static int rows_walk(struct iov_db *db, sqlite3_stmt *st, const char *what,
                     int (*row)(sqlite3_stmt *, void *), void *ctx) {
  int rc, r = 0;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    r = row(st, ctx);
    if (r < 0) break;
  }
  if (r >= 0 && rc != SQLITE_DONE) r = db_fail(db, what);
  stmt_done(st);
  return r < 0 ? r : 0;
}

/* Get statement id and bind the point (?1) and, if role is not NULL, the
 * role (?2). */
static int read_prepare(struct iov_db *db, enum stmt_id id, int64_t point, const char *role, const char *what,
                        sqlite3_stmt **ret) {
  sqlite3_stmt *st = NULL;
  int r = stmt_get(db, id, &st);

  if (r < 0) return r;
  if (bind_i64(st, 1, point) != SQLITE_OK || (role && bind_text(st, 2, role) != SQLITE_OK))
    return bind_fail(db, st, what);
  *ret = st;
  return 0;
}

int iov_db_read_begin(struct iov_db *db, bool *ret_began, char *err, size_t errlen) {
  int r = 0;

  if (!db || !ret_began) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  *ret_began = sqlite3_get_autocommit(db->db) != 0;
  if (*ret_began && sqlite3_exec(db->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    *ret_began = false;
    r = db_fail(db, "BEGIN");
  }
  return db_leave(db, &c_, r, err, errlen);
}

void iov_db_read_end(struct iov_db *db, bool began) {
  /* Nothing was written: ending a read transaction cannot lose data. */
  if (db && began) (void)sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL);
}

int iov_db_run_read(struct iov_db *db, int (*cb)(const struct iov_db_run_row *row, void *userdata),
                    void *userdata, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int r, rc;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  r = stmt_get(db, ST_READ_RUN, &st);
  if (r < 0) return db_leave(db, &c_, r, err, errlen);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    struct iov_db_run_row row = {
      .id = sqlite3_column_int64(st, 0),
      .uuid = column_str(st, 1),
      .plan_path = column_str(st, 2),
      .status = column_str(st, 3),
      .error = column_str(st, 4),
      .started_ns = column_u64(st, 5),
      .ended_ns = column_u64(st, 6), /* NULL while running: 0 */
    };
    r = cb(&row, userdata);
  } else if (rc == SQLITE_DONE)
    r = db_sayf(db, -ENOENT, "the database holds no run");
  else
    r = db_fail(db, "read run");
  stmt_done(st);
  return db_leave(db, &c_, r < 0 ? r : 0, err, errlen);
}

struct points_walk {
  int (*cb)(const struct iov_db_point_row *row, void *userdata);
  void *userdata;
};

static int point_row(sqlite3_stmt *st, void *ctx) {
  struct points_walk *w = ctx;
  struct iov_db_point_row row = {
    .id = sqlite3_column_int64(st, 0),
    .idx = (unsigned)sqlite3_column_int64(st, 1),
    .test = column_str(st, 2),
    .sweep = column_str(st, 3),
    .workload = column_str(st, 4),
    .status = column_str(st, 5),
    .error = column_str(st, 6),
    .duration_ns = column_u64(st, 7),
    .warmup_ns = column_u64(st, 8),
    .window_start_ns = column_u64(st, 9),
    .window_end_ns = column_u64(st, 10),
    .has_skew = sqlite3_column_type(st, 11) != SQLITE_NULL,
    .start_skew_ns = column_u64(st, 11),
    .topology = column_str(st, 12),
    .vms = (unsigned)sqlite3_column_int64(st, 13),
    .path = column_str(st, 14),
    .samples_missing = column_u64(st, 15),
    .point_no = (unsigned)sqlite3_column_int64(st, 16),
    .rep = (unsigned)sqlite3_column_int64(st, 17),
    .msg_size = column_u64(st, 18),
    .response_size = column_u64(st, 19),
    .params_json = column_str(st, 20),
    .trial = (unsigned)sqlite3_column_int64(st, 21),
  };
  return w->cb(&row, w->userdata);
}

int iov_db_points_read(struct iov_db *db, int64_t run, int64_t only_point_no,
                       int (*cb)(const struct iov_db_point_row *row, void *userdata), void *userdata,
                       char *err, size_t errlen) {
  struct points_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  r = read_prepare(db,
                   db->version >= 7   ? ST_READ_POINTS
                   : db->version == 6 ? ST_READ_POINTS_V6
                                      : ST_READ_POINTS_V5,
                   run, NULL, "bind points", &st);
  if (r >= 0 && bind_i64(st, 2, only_point_no) != SQLITE_OK) r = bind_fail(db, st, "bind points");
  if (r >= 0) r = rows_walk(db, st, "read points", point_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

struct confidence_walk {
  int (*cb)(const struct iov_db_confidence_row *row, void *userdata);
  void *userdata;
};

static int confidence_row(sqlite3_stmt *st, void *ctx) {
  struct confidence_walk *w = ctx;
  struct iov_db_confidence_row row = {
    .point_no = (unsigned)sqlite3_column_int64(st, 0),
    .level = sqlite3_column_double(st, 1),
    .width = sqlite3_column_double(st, 2),
    .runs = (unsigned)sqlite3_column_int64(st, 3),
    .mean = sqlite3_column_type(st, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 4),
    .half = sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5),
    .reached = sqlite3_column_int(st, 6) != 0,
  };
  return w->cb(&row, w->userdata);
}

int iov_db_confidence_read(struct iov_db *db, int64_t run,
                           int (*cb)(const struct iov_db_confidence_row *row, void *userdata), void *userdata,
                           char *err, size_t errlen) {
  struct confidence_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  if (db->version < 6) return db_leave(db, &c_, 0, err, errlen);
  r = read_prepare(db, ST_READ_CONFIDENCE, run, NULL, "bind confidence", &st);
  if (r >= 0) r = rows_walk(db, st, "read confidence", confidence_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

struct flows_walk {
  int (*cb)(const struct iov_db_flow_row *row, void *userdata);
  void *userdata;
};

static int flow_row(sqlite3_stmt *st, void *ctx) {
  struct flows_walk *w = ctx;
  struct iov_db_flow_row row = {
    .id = sqlite3_column_int64(st, 0),
    .role = column_str(st, 1),
    .has_result = sqlite3_column_int(st, 2) != 0,
    .bytes = column_u64(st, 3),
    .transactions = column_u64(st, 4),
    .t_start_ns = column_u64(st, 5),
    .t_end_ns = column_u64(st, 6),
    .samples = column_u64(st, 7),
    .messages = column_u64(st, 8),
    .lost = column_u64(st, 9),
    .out_of_order = column_u64(st, 10),
    .duplicates = column_u64(st, 11),
    .jitter_ns = column_u64(st, 12),
    .retransmits = column_u64(st, 13),
    .complete = sqlite3_column_int(st, 14) != 0,
    .segs_out = column_u64(st, 15),
    .segs_in = column_u64(st, 16),
  };
  return w->cb(&row, w->userdata);
}

int iov_db_flows_read(struct iov_db *db, int64_t point,
                      int (*cb)(const struct iov_db_flow_row *row, void *userdata), void *userdata, char *err,
                      size_t errlen) {
  struct flows_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  r = read_prepare(db, db->version >= 7 ? ST_READ_FLOWS : ST_READ_FLOWS_V6, point, NULL, "bind flows", &st);
  if (r >= 0) r = rows_walk(db, st, "read flows", flow_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

int iov_db_side_cpu_read(struct iov_db *db, int64_t point, const char *role, struct iov_db_cpu_sum *ret,
                         char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int r, rc;

  if (!db || !role || !ret) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  *ret = (struct iov_db_cpu_sum){ .known = false, .busy_ns = NAN, .total_ns = NAN };
  r = read_prepare(db, ST_READ_CPU, point, role, "bind cpu", &st);
  if (r < 0) return db_leave(db, &c_, r, err, errlen);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    ret->known = true;
    ret->busy_ns = (double)sqlite3_column_int64(st, 0);
    ret->total_ns = (double)sqlite3_column_int64(st, 1);
  } else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    r = db_fail(db, "read cpu");
  stmt_done(st);
  return db_leave(db, &c_, r, err, errlen);
}

int iov_db_fair_read(struct iov_db *db, int64_t point, const char *role, struct iov_db_fair_sum *ret,
                     char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int r, rc;

  if (!db || !role || !ret) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  *ret = (struct iov_db_fair_sum){ 0 };
  r = read_prepare(db, ST_READ_FAIR, point, role, "bind fairness", &st);
  if (r < 0) return db_leave(db, &c_, r, err, errlen);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    ret->n = sqlite3_column_int64(st, 0);
    ret->bytes = sqlite3_column_double(st, 1);
    ret->bytes_sq = sqlite3_column_double(st, 2);
    ret->transactions = sqlite3_column_double(st, 3);
    ret->transactions_sq = sqlite3_column_double(st, 4);
  } else if (rc != SQLITE_DONE)
    r = db_fail(db, "read fairness");
  stmt_done(st);
  return db_leave(db, &c_, r, err, errlen);
}

struct bins_walk {
  int (*cb)(const struct iov_db_bin_row *row, void *userdata);
  void *userdata;
};

static int bin_row(sqlite3_stmt *st, void *ctx) {
  struct bins_walk *w = ctx;
  struct iov_db_bin_row row = {
    .seq = (uint32_t)sqlite3_column_int64(st, 0),
    .t_start_ns = column_u64(st, 1),
    .t_end_ns = column_u64(st, 2),
    .bytes = column_u64(st, 3),
    .transactions = column_u64(st, 4),
    .flows = (unsigned)sqlite3_column_int64(st, 5),
    .bytes_sq = sqlite3_column_double(st, 6),
    .transactions_sq = sqlite3_column_double(st, 7),
  };
  return w->cb(&row, w->userdata);
}

int iov_db_bins_read(struct iov_db *db, int64_t point, const char *role,
                     int (*cb)(const struct iov_db_bin_row *row, void *userdata), void *userdata, char *err,
                     size_t errlen) {
  struct bins_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !role || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  r = read_prepare(db, ST_READ_BINS, point, role, "bind bins", &st);
  if (r >= 0) r = rows_walk(db, st, "read bins", bin_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

struct links_walk {
  int (*cb)(const struct iov_db_link_row *row, void *userdata);
  void *userdata;
};

static int link_row(sqlite3_stmt *st, void *ctx) {
  struct links_walk *w = ctx;
  struct iov_db_link_row row = {
    .link = (unsigned)sqlite3_column_int64(st, 0),
    .role = column_str(st, 1),
    .agent = column_str(st, 2),
    .host = column_str(st, 3),
    .bytes = column_u64(st, 4),
    .transactions = column_u64(st, 5),
  };
  return w->cb(&row, w->userdata);
}

int iov_db_links_read(struct iov_db *db, int64_t point,
                      int (*cb)(const struct iov_db_link_row *row, void *userdata), void *userdata, char *err,
                      size_t errlen) {
  struct links_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  r = read_prepare(db, ST_READ_LINKS, point, NULL, "bind links", &st);
  if (r >= 0) r = rows_walk(db, st, "read links", link_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

struct link_bins_walk {
  int (*cb)(const struct iov_db_link_bin_row *row, void *userdata);
  void *userdata;
};

static int link_bin_row(sqlite3_stmt *st, void *ctx) {
  struct link_bins_walk *w = ctx;
  struct iov_db_link_bin_row row = {
    .link = (unsigned)sqlite3_column_int64(st, 0),
    .seq = column_u64(st, 1),
    .bytes = column_u64(st, 2),
    .transactions = column_u64(st, 3),
  };
  return w->cb(&row, w->userdata);
}

int iov_db_link_bins_read(struct iov_db *db, int64_t point, const char *role,
                          int (*cb)(const struct iov_db_link_bin_row *row, void *userdata), void *userdata,
                          char *err, size_t errlen) {
  struct link_bins_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !role || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  r = read_prepare(db, ST_READ_LINK_BINS, point, role, "bind link bins", &st);
  if (r >= 0) r = rows_walk(db, st, "read link bins", link_bin_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

struct vm_cpu_walk {
  int (*cb)(const struct iov_db_vm_cpu_row *row, void *userdata);
  void *userdata;
};

static int vm_cpu_row(sqlite3_stmt *st, void *ctx) {
  struct vm_cpu_walk *w = ctx;
  struct iov_db_vm_cpu_row row = {
    .agent = column_str(st, 0),
    .role = column_str(st, 1),
    .intervals = (unsigned)sqlite3_column_int64(st, 2),
    .host_ns = column_u64(st, 3),
    .vcpu_ns = column_u64(st, 4),
    .io_ns = column_u64(st, 5),
    .vhost_ns = column_u64(st, 6),
    .kvm_exits = column_u64(st, 7),
    .kvm_exits_rows = (unsigned)sqlite3_column_int64(st, 8),
    .guest_ns = column_u64(st, 9),
    .bytes = column_u64(st, 10),
    .transactions = column_u64(st, 11),
  };
  return w->cb(&row, w->userdata);
}

int iov_db_vm_cpu_read(struct iov_db *db, int64_t point,
                       int (*cb)(const struct iov_db_vm_cpu_row *row, void *userdata), void *userdata,
                       char *err, size_t errlen) {
  struct vm_cpu_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  r = read_prepare(db, ST_READ_VM_CPU, point, NULL, "bind vm cpu", &st);
  if (r >= 0) r = rows_walk(db, st, "read vm cpu", vm_cpu_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

/* The write API: each public function clears the scratch message, runs,
 * and hands a failure's reason to the caller's buffer. */

int iov_db_confidence_set(struct iov_db *db, int64_t run, unsigned point_no, double level, double width,
                          unsigned runs, double mean, double half, bool reached, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_confidence_set(db, run, point_no, level, width, runs, mean, half, reached), err,
                  errlen);
}

int iov_db_run_begin(struct iov_db *db, const char *uuid, const char *plan_path, const char *plan_text,
                     uint64_t started_ns, int64_t *ret_run, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_run_begin(db, uuid, plan_path, plan_text, started_ns, ret_run), err, errlen);
}

int iov_db_run_end(struct iov_db *db, int64_t run, const char *status, const char *error, uint64_t ended_ns,
                   char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_run_end(db, run, status, error, ended_ns), err, errlen);
}

int iov_db_run_resume(struct iov_db *db, int64_t *ret_run, char **ret_uuid, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_run_resume(db, ret_run, ret_uuid), err, errlen);
}

int iov_db_points_stored(struct iov_db *db, int64_t run, unsigned *stored, unsigned *failed, size_t n,
                         unsigned *ret_next_idx, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_points_stored(db, run, stored, failed, n, ret_next_idx), err, errlen);
}

int iov_db_gap_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t after_seq, uint32_t missing,
                   char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_gap_add(db, point, agent, after_seq, missing), err, errlen);
}

int iov_db_agent_add(struct iov_db *db, int64_t run, const char *name, const char *endpoint,
                     const char *identity, const char *inventory_json, int64_t *ret_agent, char *err,
                     size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_agent_add(db, run, name, endpoint, identity, inventory_json, ret_agent), err,
                  errlen);
}

int iov_db_agent_set_host(struct iov_db *db, int64_t agent, int64_t host_agent, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_agent_set_host(db, agent, host_agent), err, errlen);
}

int iov_db_point_begin(struct iov_db *db, int64_t run, const struct iov_db_point *p, int64_t *ret_point,
                       char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_begin(db, run, p, ret_point), err, errlen);
}

int iov_db_point_set_start(struct iov_db *db, int64_t point, uint64_t start_ns, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_set_start(db, point, start_ns), err, errlen);
}

int iov_db_point_end(struct iov_db *db, int64_t point, enum iov_point_status status, const char *error,
                     char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_end(db, point, status, error), err, errlen);
}

int iov_db_flow_add(struct iov_db *db, int64_t point, int64_t agent, const char *role, unsigned idx,
                    int64_t *ret_flow, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_flow_add(db, point, agent, role, idx, ret_flow), err, errlen);
}

int iov_db_flow_add_link(struct iov_db *db, int64_t point, int64_t agent, const char *role, unsigned idx,
                         unsigned link, int64_t *ret_flow, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_flow_add_link(db, point, agent, role, idx, link, ret_flow), err, errlen);
}

int iov_db_sample_add(struct iov_db *db, int64_t flow, const struct iov_db_sample *s, char *err,
                      size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_sample_add(db, flow, s), err, errlen);
}

int iov_db_result_add(struct iov_db *db, int64_t flow, const struct iov_db_result *res, char *err,
                      size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_result_add(db, flow, res), err, errlen);
}

int iov_db_point_set_window(struct iov_db *db, int64_t point, uint64_t start_ns, uint64_t end_ns,
                            uint64_t warmup_ns, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_set_window(db, point, start_ns, end_ns, warmup_ns), err, errlen);
}

int iov_db_cpu_sample_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq,
                          const struct iov_db_cpu *c, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_cpu_sample_add(db, point, agent, seq, c), err, errlen);
}

int iov_db_irq_sample_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq, const char *name,
                          uint64_t count, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_irq_sample_add(db, point, agent, seq, name, count), err, errlen);
}

int iov_db_vm_cpu_add(struct iov_db *db, int64_t point, int64_t agent, uint32_t seq,
                      const struct iov_db_vm_cpu *c, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_vm_cpu_add(db, point, agent, seq, c), err, errlen);
}

int iov_db_point_agent_add(struct iov_db *db, int64_t point, int64_t agent, const char *role,
                           const struct iov_db_clock *c, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_agent_add(db, point, agent, role, c), err, errlen);
}

int iov_db_point_set_skew(struct iov_db *db, int64_t point, uint64_t skew_ns, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_set_skew(db, point, skew_ns), err, errlen);
}

/* ---- The agents of a point (report: address family, line rate) --------- */

int iov_db_point_agents_read(struct iov_db *db, int64_t point,
                             int (*cb)(const struct iov_db_point_agent_row *row, void *userdata),
                             void *userdata, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc, r = 0;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  if (sqlite3_prepare_v2(db->db,
                         "SELECT f.role, a.name, a.endpoint, a.inventory_json FROM agent a JOIN"
                         " (SELECT role, agent_id, MIN(id) AS first FROM flow WHERE point_id = ?1"
                         " GROUP BY role, agent_id) f ON f.agent_id = a.id ORDER BY f.first",
                         -1, &st, NULL) != SQLITE_OK)
    return db_leave(db, &c_, db_fail(db, "prepare point agents"), err, errlen);
  sqlite3_bind_int64(st, 1, point);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct iov_db_point_agent_row row = {
      .role = column_str(st, 0),
      .name = column_str(st, 1),
      .endpoint = column_str(st, 2),
      .inventory_json = column_str(st, 3),
    };
    r = cb(&row, userdata);
    if (r < 0) break;
  }
  if (r >= 0 && rc != SQLITE_DONE) r = db_fail(db, "read point agents");
  sqlite3_finalize(st);
  return db_leave(db, &c_, r < 0 ? r : 0, err, errlen);
}

/* ---- Rate searches ------------------------------------------------------ */

int iov_db_trial_points_read(struct iov_db *db, int64_t run, int64_t only_point_no,
                             int (*cb)(const struct iov_db_point_row *row, void *userdata), void *userdata,
                             char *err, size_t errlen) {
  struct points_walk w = { cb, userdata };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return iov_errf(-EINVAL, err, errlen, "no database");
  struct db_call c_ = db_enter(db, err, errlen);
  if (db->version < 7) return db_leave(db, &c_, 0, err, errlen);
  r = read_prepare(db, ST_READ_TRIAL_POINTS, run, NULL, "bind trial points", &st);
  if (r >= 0 && bind_i64(st, 2, only_point_no) != SQLITE_OK) r = bind_fail(db, st, "bind trial points");
  if (r >= 0) r = rows_walk(db, st, "read trial points", point_row, &w);
  return db_leave(db, &c_, r, err, errlen);
}

static bool rate_ok(double v) { return isfinite(v) && v >= 0; }

static int db_trial_add(struct iov_db *db, const struct iov_db_trial *t) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !t) return -EINVAL;
  if (t->seq == 0) return db_sayf(db, -EINVAL, "trial of point %" PRId64 ": sequence 0", t->point_id);
  if (!rate_ok(t->offered_wire_bps) || !rate_ok(t->offered_pps))
    return db_sayf(db, -EINVAL, "trial %u of point %" PRId64 ": offered rate %g bit/s, %g packets/s", t->seq,
                   t->point_id, t->offered_wire_bps, t->offered_pps);
  const uint64_t cnt[] = { t->duration_ns, t->sent, t->received, t->lost };
  if ((r = counts_check(db, "trial", cnt, ELEMENTSOF(cnt))) < 0) return -ERANGE;
  r = stmt_get(db, ST_TRIAL_INSERT, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, t->point_id) || bind_i64(st, 2, t->point_no) || bind_i64(st, 3, t->rep) ||
      bind_i64(st, 4, t->seq) || bind_i64(st, 5, t->full ? 1 : 0) ||
      sqlite3_bind_double(st, 6, t->offered_wire_bps) || sqlite3_bind_double(st, 7, t->offered_pps) ||
      bind_u64(st, 8, t->duration_ns) || bind_u64(st, 9, t->sent) || bind_u64(st, 10, t->received) ||
      bind_u64(st, 11, t->lost))
    return bind_fail(db, st, "bind trial");
  r = stmt_run(db, st, "insert trial");
  if (r < 0) return r;
  if (sqlite3_changes(db->db) != 1)
    return db_sayf(db, -ENOENT, "trial %u: no point %" PRId64 " to attach it to", t->seq, t->point_id);
  return 0;
}

/* A REAL column of a row read back: finite and in [min, max]; NULL only
 * if null_ok (then NAN). */
static bool col_real(sqlite3_stmt *st, int i, bool null_ok, double min, double max, double *ret) {
  int type = sqlite3_column_type(st, i);

  if (type == SQLITE_NULL) {
    *ret = NAN;
    return null_ok;
  }
  if (type != SQLITE_FLOAT && type != SQLITE_INTEGER) return false;
  *ret = sqlite3_column_double(st, i);
  return isfinite(*ret) && *ret >= min && *ret <= max;
}

/* An INTEGER column in [min, max]. */
static bool col_int(sqlite3_stmt *st, int i, int64_t min, int64_t max, int64_t *ret) {
  if (sqlite3_column_type(st, i) != SQLITE_INTEGER) return false;
  *ret = sqlite3_column_int64(st, i);
  return *ret >= min && *ret <= max;
}

struct trials_walk {
  struct iov_db *db;
  int (*cb)(void *arg, const struct iov_db_trial *t);
  void *arg;
};

static int trial_row(sqlite3_stmt *st, void *ctx) {
  static const char *const names[] = { "point_id", "point_no",         "rep",         "seq",
                                       "full",     "offered_wire_bps", "offered_pps", "duration_ns",
                                       "sent",     "received",         "lost" };
  struct trials_walk *w = ctx;
  int64_t v[11] = { 0 };
  double wire = 0, pps = 0;
  int bad = -1;

  for (int i = 0; i < 11 && bad < 0; i++) {
    if (i == 5) {
      if (!col_real(st, 5, false, 0, HUGE_VAL, &wire)) bad = 5;
    } else if (i == 6) {
      if (!col_real(st, 6, false, 0, HUGE_VAL, &pps)) bad = 6;
    } else {
      int64_t max = i == 0 ? INT64_MAX : i <= 3 ? INT32_MAX : i == 4 ? 1 : (int64_t)IOV_DB_COUNT_MAX;
      if (!col_int(st, i, i == 3 ? 1 : 0, max, &v[i])) bad = i;
    }
  }
  if (bad >= 0)
    return db_failf(w->db, "table trial, row of point %lld: %s is out of range or not a number",
                    (long long)sqlite3_column_int64(st, 0), names[bad]);
  if (sqlite3_column_int(st, 11) != 1)
    return db_failf(
        w->db,
        "table trial, row of point %lld: point_id is not this run's point of trial %lld of point_no "
        "%lld rep %lld",
        (long long)v[0], (long long)v[3], (long long)v[1], (long long)v[2]);
  struct iov_db_trial t = {
    .point_id = v[0],
    .point_no = (unsigned)v[1],
    .rep = (unsigned)v[2],
    .seq = (unsigned)v[3],
    .full = v[4] != 0,
    .offered_wire_bps = wire,
    .offered_pps = pps,
    .duration_ns = (uint64_t)v[7],
    .sent = (uint64_t)v[8],
    .received = (uint64_t)v[9],
    .lost = (uint64_t)v[10],
  };
  return w->cb(w->arg, &t);
}

static int db_trials_read(struct iov_db *db, int64_t run, int point_no, int rep,
                          int (*cb)(void *arg, const struct iov_db_trial *t), void *arg) {
  struct trials_walk w = { db, cb, arg };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return -EINVAL;
  if (db->version < 7) return 0;
  r = read_prepare(db, ST_READ_TRIALS, run, NULL, "bind trials", &st);
  if (r < 0) return r;
  if (bind_i64(st, 2, point_no) || bind_i64(st, 3, rep)) return bind_fail(db, st, "bind trials");
  return rows_walk(db, st, "read trials", trial_row, &w);
}

static bool search_kind_ok(const char *k) { return k && (strcmp(k, "ndr") == 0 || strcmp(k, "pdr") == 0); }

static int db_search_set(struct iov_db *db, int64_t run, const struct iov_db_search *s) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !s) return -EINVAL;
  if (!search_kind_ok(s->kind))
    return db_sayf(db, -EINVAL, "search of point %u: kind is not ndr or pdr", s->point_no);
  if (!rate_ok(s->rate_pps) || !rate_ok(s->rate_bps) || !rate_ok(s->wire_bps) || !rate_ok(s->seconds) ||
      (!isnan(s->line_pct) && !rate_ok(s->line_pct)) || (!isnan(s->frame_mean) && !rate_ok(s->frame_mean)) ||
      (!isnan(s->loss) && !(s->loss >= 0 && s->loss <= 1)))
    return db_sayf(db, -EINVAL,
                   "%s search of point %u: a rate, time or loss is negative, not finite or out of range",
                   s->kind, s->point_no);
  r = stmt_get(db, ST_SEARCH_INSERT, &st);
  if (r < 0) return r;
  /* NAN binds as NULL: unknown. */
  if (bind_i64(st, 1, run) || bind_i64(st, 2, s->point_no) || bind_i64(st, 3, s->rep) ||
      bind_text(st, 4, s->kind) || bind_i64(st, 5, s->converged ? 1 : 0) ||
      sqlite3_bind_double(st, 6, s->rate_pps) || sqlite3_bind_double(st, 7, s->rate_bps) ||
      sqlite3_bind_double(st, 8, s->wire_bps) ||
      (isnan(s->line_pct) ? sqlite3_bind_null(st, 9) : sqlite3_bind_double(st, 9, s->line_pct)) ||
      (isnan(s->frame_mean) ? sqlite3_bind_null(st, 10) : sqlite3_bind_double(st, 10, s->frame_mean)) ||
      (isnan(s->loss) ? sqlite3_bind_null(st, 11) : sqlite3_bind_double(st, 11, s->loss)) ||
      bind_i64(st, 12, s->trials) || sqlite3_bind_double(st, 13, s->seconds) ||
      (s->point_id > 0 ? bind_i64(st, 14, s->point_id) : sqlite3_bind_null(st, 14)))
    return bind_fail(db, st, "bind search");
  return stmt_run(db, st, "store search");
}

struct searches_walk {
  struct iov_db *db;
  int (*cb)(void *arg, const struct iov_db_search *s);
  void *arg;
};

static int search_row(sqlite3_stmt *st, void *ctx) {
  struct searches_walk *w = ctx;
  struct iov_db_search s = { 0 };
  int64_t no = 0, rep = 0, conv = 0, trials = 0, point = 0;
  const char *kind = column_str(st, 2), *bad = NULL;

  if (!col_int(st, 0, 0, INT32_MAX, &no))
    bad = "point_no";
  else if (!col_int(st, 1, 0, INT32_MAX, &rep))
    bad = "rep";
  else if (!search_kind_ok(kind))
    bad = "kind";
  else if (!col_int(st, 3, 0, 1, &conv))
    bad = "converged";
  else if (!col_real(st, 4, false, 0, HUGE_VAL, &s.rate_pps))
    bad = "rate_pps";
  else if (!col_real(st, 5, false, 0, HUGE_VAL, &s.rate_bps))
    bad = "rate_bps";
  else if (!col_real(st, 6, false, 0, HUGE_VAL, &s.wire_bps))
    bad = "wire_bps";
  else if (!col_real(st, 7, true, 0, HUGE_VAL, &s.line_pct))
    bad = "line_pct";
  else if (!col_real(st, 8, true, 0, HUGE_VAL, &s.frame_mean))
    bad = "frame_mean";
  else if (!col_real(st, 9, true, 0, 1, &s.loss))
    bad = "loss";
  else if (!col_int(st, 10, 0, 1000000, &trials))
    bad = "trials";
  else if (!col_real(st, 11, false, 0, HUGE_VAL, &s.seconds))
    bad = "seconds";
  else if (sqlite3_column_type(st, 12) != SQLITE_NULL && !col_int(st, 12, 1, INT64_MAX, &point))
    bad = "point_id";
  if (bad)
    return db_failf(w->db,
                    "table search, row of point_no %lld rep %lld: %s is out of range or not a known value",
                    (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1), bad);
  s.point_no = (unsigned)no;
  s.rep = (unsigned)rep;
  s.kind = kind;
  s.converged = conv != 0;
  s.trials = (unsigned)trials;
  s.point_id = point;
  return w->cb(w->arg, &s);
}

static int db_searches_read(struct iov_db *db, int64_t run,
                            int (*cb)(void *arg, const struct iov_db_search *s), void *arg) {
  struct searches_walk w = { db, cb, arg };
  sqlite3_stmt *st = NULL;
  int r;

  if (!db || !cb) return -EINVAL;
  if (db->version < 7) return 0;
  r = read_prepare(db, ST_READ_SEARCHES, run, NULL, "bind searches", &st);
  if (r < 0) return r;
  return rows_walk(db, st, "read searches", search_row, &w);
}

/* A sum taken as REAL back to a count: a hostile negative or huge one is
 * refused rather than wrapped. */
static bool total_u64(double d, uint64_t *ret) {
  if (!(d >= 0 && d <= (double)IOV_DB_COUNT_MAX)) return false;
  *ret = (uint64_t)d;
  return true;
}

static int db_point_totals(struct iov_db *db, int64_t point, uint64_t *sent, uint64_t *received,
                           uint64_t *lost) {
  sqlite3_stmt *st = NULL;
  uint64_t v[3] = { 0 };
  int r, rc;

  if (!db) return -EINVAL;
  r = read_prepare(db, ST_POINT_TOTALS, point, NULL, "bind point totals", &st);
  if (r < 0) return r;
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) return bind_fail(db, st, "read point totals");
  if (sqlite3_column_int64(st, 0) == 0) {
    stmt_done(st);
    return db_sayf(db, -ENOENT, "no point %" PRId64, point);
  }
  for (int i = 0; i < 3; i++)
    if (!total_u64(sqlite3_column_double(st, i + 1), &v[i])) {
      stmt_done(st);
      return db_failf(db, "table result, point %" PRId64 ": a message count is negative or too large", point);
    }
  stmt_done(st);
  if (sent) *sent = v[0];
  if (received) *received = v[1];
  if (lost) *lost = v[2];
  return 0;
}

static int db_point_set_trial(struct iov_db *db, int64_t point, unsigned trial) {
  sqlite3_stmt *st = NULL;
  int r;

  if (!db) return -EINVAL;
  r = stmt_get(db, ST_POINT_SET_TRIAL, &st);
  if (r < 0) return r;
  if (bind_i64(st, 1, point) || bind_i64(st, 2, trial)) return bind_fail(db, st, "bind point trial");
  r = stmt_run(db, st, "update point trial");
  if (r < 0) return r;
  return sqlite3_changes(db->db) == 1 ? 0 : db_sayf(db, -ENOENT, "no point %" PRId64, point);
}

int iov_db_trial_add(struct iov_db *db, const struct iov_db_trial *t, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_trial_add(db, t), err, errlen);
}

int iov_db_trials_read(struct iov_db *db, int64_t run, int point_no, int rep,
                       int (*cb)(void *arg, const struct iov_db_trial *t), void *arg, char *err,
                       size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_trials_read(db, run, point_no, rep, cb, arg), err, errlen);
}

int iov_db_search_set(struct iov_db *db, int64_t run, const struct iov_db_search *s, char *err,
                      size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_search_set(db, run, s), err, errlen);
}

int iov_db_searches_read(struct iov_db *db, int64_t run, int (*cb)(void *arg, const struct iov_db_search *s),
                         void *arg, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_searches_read(db, run, cb, arg), err, errlen);
}

int iov_db_point_totals(struct iov_db *db, int64_t point_id, uint64_t *sent, uint64_t *received,
                        uint64_t *lost, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_totals(db, point_id, sent, received, lost), err, errlen);
}

int iov_db_point_set_trial(struct iov_db *db, int64_t point_id, unsigned trial, char *err, size_t errlen) {
  struct db_call c_ = db_enter(db, err, errlen);
  return db_leave(db, &c_, db_point_set_trial(db, point_id, trial), err, errlen);
}
