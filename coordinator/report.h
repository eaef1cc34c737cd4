/* Reports from a stored run: the table `coord run` prints at the end and
 * `coord report RUN` prints again, and the same as JSON (jansson). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "results.h"
#include "stats.h"

/* Everything in a stored run is text someone else may have written: a
 * results directory can come from anywhere.  What is printed of it goes
 * through iov_text_clean() (lib/text.h). */
#include "text.h"

/* s in exactly width columns (code points), padded, or cut in the middle
 * with ".." when longer, after iov_text_clean(). */
void iov_text_cell(FILE *f, const char *s, size_t width, bool right);
/* A table of rows x cols cells (row-major; row 0 the heading) with every
 * column as wide as its widest cell in code points, at most max_width
 * (a longer cell loses its middle, marked ".."), so that the columns stay
 * aligned whatever the text; right[c] right-aligns column c.  The last
 * column, if left-aligned, is written whole.  Cells go through
 * iov_text_clean(); NULL is "". */
void iov_text_table(FILE *f, char *const *cells, size_t rows, size_t cols, const bool *right,
                    size_t max_width);

/* Summary of one test point, computed from the database only. */
/* One time bin of a point: the sample interval with this number on every
 * flow, in coord's time, summed over the flows. */
struct iov_point_bin {
  uint32_t seq;
  uint64_t t_start_ns, t_end_ns; /* earliest start, latest end over the flows */
  uint64_t bytes;                /* receiver side */
  uint64_t transactions;         /* sender side */
  unsigned flows;                /* flows with this sample */
  double fairness;               /* Jain's index over the flows' share; NaN if none */
};

/* One link of a point: a VM (pair) of a VM topology, or the one pair of
 * host-host.  Streams count the bytes its receiver got, request/response
 * the transactions its sender completed; rates are over the point's
 * window so that the links add up to the point. */
struct iov_link_summary {
  unsigned link;
  char *sender, *receiver; /* agent names ("a/vm01"); owned */
  char *sender_host;       /* the host agent the sender runs under (itself for a host); owned */
  uint64_t rx_bytes, transactions;
  double gbps, tps;
  uint64_t *bin_bytes, *bin_transactions; /* per sample interval seq 1..n_bins; owned */
  size_t n_bins;
};

/* The links whose sender runs under one host, summed. */
struct iov_host_summary {
  char *host; /* owned */
  unsigned links;
  double gbps, tps;
  uint64_t *bin_bytes, *bin_transactions; /* its links' bins, summed; owned */
  size_t n_bins;
};

/* A guest (VM) of a point whose host agent measured the host CPU its VM
 * took: over the intervals with that measurement (every one but the
 * point's first), the guest's own busy CPU, the host's, and what they
 * moved: service demand per VM, guest + host. */
struct iov_vm_cpu_summary {
  char *agent; /* "host/vm"; owned */
  char *role;  /* "sender" or "receiver"; owned */
  unsigned intervals;
  uint64_t host_ns, vcpu_ns, io_ns, vhost_ns;
  uint64_t guest_ns;    /* busy CPU the guest saw (all its cores) */
  uint64_t kvm_exits;   /* KVM exits of the VM, when debugfs gave them */
  bool kvm_exits_known; /* for every interval */
  uint64_t bytes, transactions;
  double guest_us_per_kb, host_us_per_kb, total_us_per_kb; /* NaN without bytes */
  double guest_us_per_trans, host_us_per_trans, total_us_per_trans;
};

struct iov_point_summary {
  int64_t point;
  /* The plan's expanded point this row ran (its repetitions share it:
   * plan 'repeat' and 'confidence'), and which repetition, from 0.  Runs
   * before repetitions existed: point_no = idx, rep = 0. */
  unsigned point_no, rep;
  uint64_t msg_size, response_size;  /* bytes, from the point's parameters */
  char *params_json;                 /* owned: every parameter of the point, as stored */
  struct iov_vm_cpu_summary *vm_cpu; /* owned */
  size_t n_vm_cpu;
  char *topology; /* owned */
  unsigned vms;
  struct iov_link_summary *links; /* owned, by link number */
  size_t n_links;
  struct iov_host_summary *hosts; /* owned, in order of first appearance */
  size_t n_hosts;
  /* Per link (VM): mean, min and max throughput, in Gbit/s for streams and
   * trans/s for request/response, and Jain's index over the links' shares
   * (NaN with fewer than two links). */
  double link_mean, link_min, link_max, link_fairness;
  unsigned idx;
  char *test, *sweep, *workload, *status, *error; /* owned */
  char *
      path; /* the I/O path: native, sriov, virtio or existing (auto resolved); NULL in runs before it was stored */
  uint64_t samples_missing; /* sample batches that never arrived (sample_gap) */
  uint64_t duration_ns;
  unsigned flows;        /* flows of the sender */
  uint64_t rx_bytes;     /* receiver side, all flows */
  uint64_t tx_bytes;     /* sender side, all flows */
  uint64_t transactions; /* sender side, all flows */
  double window_s; /* measured window: latest flow end - earliest flow start (receiver side, else sender) */
  double gbps;     /* rx_bytes * 8 / window_s / 1e9 (0 if no window) */
  double tps;      /* transactions / window_s */
  uint64_t samples_min, samples_max; /* samples per flow, over all flows */
  /* Latency from the seq-0 histograms of the sender flows, merged: the
   * values are NaN when lat_count is 0.  has_latency says that some sender
   * flow stored a histogram at all (a latency workload), which tells "no
   * transaction completed" (true, count 0) from "not measured" (false). */
  bool has_latency;
  uint64_t warmup_ns; /* excluded before the window */
  double start_skew_us;
  /* Jain's fairness index over the flows' totals in the window: bytes
   * received for streams, transactions for request/response.  1 = equal
   * shares, 1/n = one flow took everything.  NaN without flows. */
  double fairness;
  struct iov_point_bin *bins; /* owned; one per sample interval */
  size_t n_bins;              /* spread of the agents' actual starts (coord time); NaN if unknown */
  uint64_t window_start_ns, window_end_ns; /* the measured window (0: unknown) */
  unsigned incomplete_flows;               /* flows that did not run the whole window */
  uint64_t rx_messages;                    /* receiver side: messages (datagrams) */
  uint64_t lost;                           /* UDP stream: datagrams lost; RR: transactions lost */
  double loss_pct;                         /* lost / (received + lost) * 100; NaN without data */
  uint64_t out_of_order, duplicates;
  double jitter_us;     /* UDP: the largest receiver jitter; NaN if none */
  uint64_t retransmits; /* TCP: segments retransmitted, all flows */
  /* CPU of the sender's and the receiver's machine over the window, from
   * the agents' /proc/stat samples: busy percent of all cores, and the
   * service demand, netperf's: CPU microseconds (busy, all cores) per KiB
   * moved, and per transaction.  NaN without CPU samples. */
  double cpu_tx_pct, cpu_rx_pct;
  double sd_tx_us_per_kb, sd_rx_us_per_kb;
  double sd_tx_us_per_trans, sd_rx_us_per_trans;
  uint64_t lat_count;
  double lat_mean_us;
  double lat_p50_us, lat_p90_us, lat_p99_us, lat_p999_us, lat_max_us; /* merged sender histograms */
  /* Packet rates.  UDP points: datagrams per second its senders sent
   * (over the senders' window) and its receivers got (over the point's
   * window); NaN for other points or without a window.  TCP points: the
   * segments per second its senders sent (TCP_INFO segs_out); NaN when
   * not stored (a results.db before schema 7). */
  uint64_t tx_messages; /* sender side: messages (datagrams) */
  double tx_window_s;   /* the senders' window: latest end - earliest start */
  double pps_tx, pps_rx;
  bool segs_known;
  uint64_t segs_out, segs_in; /* TCP: the senders' segments out and in, all flows */
  double segs_ps;             /* segs_out / tx_window_s */
  /* Where the Ethernet frame is known (udp_stream's frame_size in the
   * point's parameters, else msg_size plus the UDP, IP and Ethernet
   * headers and FCS when the data address family is known): the mean
   * frame in bytes, the frame rate (what the receivers got), the bit rate
   * on the wire ((frame + 20) * 8 per frame: preamble, SFD and gap) in
   * Gbit/s, the link's line rate in bit/s (plan line_rate, else the speed
   * of the sender's data interface from its agent's inventory) and the
   * wire rate's share of it in percent.  NaN where unknown. */
  uint64_t frame_size; /* udp_stream's frame_size as lib/frame.h codes it; 0: not set */
  int family;          /* 4 or 6; 0: unknown */
  double frame_bytes, frame_pps, wire_gbps, line_bps, line_pct;
};

/* Where a point's repetitions ended when the plan asked for a
 * confidence interval: level and width as fractions (0.99, 0.05), the
 * runs made, the mean of the primary metric (Gbit/s, or trans/s) and the
 * interval's half-width; reached: half <= width * mean. */
struct iov_confidence {
  unsigned point_no;
  double level, width;
  unsigned runs;
  double mean, half;
  bool reached;
};

/* Where one rate search (plan 'search', NDR or PDR) of a point ended,
 * from the search table (values as stored, NaN where not finite). */
struct iov_search_summary {
  unsigned point_no, rep;
  bool pdr; /* false: NDR */
  bool converged;
  double rate_pps, rate_bps /* L2: frames * 8 */, wire_bps /* L1 */, line_pct, frame_mean, loss;
  unsigned trials;
  double seconds;
  int64_t point_id;
};

struct iov_report {
  char *uuid, *plan_path, *status, *error; /* owned; NULL where the row has NULL */
  struct iov_search_summary *searches;     /* owned; by point_no, rep, kind */
  size_t n_searches;
  struct iov_db_trial *trials; /* owned: every trial of every search, by point_no, rep, seq */
  size_t n_trials;
  uint64_t started_ns, ended_ns;    /* ended_ns 0 while the run is open */
  struct iov_point_summary *points; /* one per repetition, in the order they ran */
  size_t n_points;
  struct iov_confidence *conf; /* owned; by point_no; only points with confidence */
  size_t n_conf;
};

/* The figures that repetitions are summarised over: double fields of
 * struct iov_point_summary. */
enum iov_metric {
  IOV_M_GBPS,
  IOV_M_TPS,
  IOV_M_WINDOW_S,
  IOV_M_LAT_MEAN,
  IOV_M_LAT_P50,
  IOV_M_LAT_P90,
  IOV_M_LAT_P99,
  IOV_M_LAT_P999,
  IOV_M_LAT_MAX,
  IOV_M_LOSS_PCT,
  IOV_M_JITTER_US,
  IOV_M_CPU_TX,
  IOV_M_CPU_RX,
  IOV_M_SD_TX_KB,
  IOV_M_SD_RX_KB,
  IOV_M_SD_TX_TRANS,
  IOV_M_SD_RX_TRANS,
  IOV_M_SKEW_US,
  IOV_M_FAIRNESS,
  IOV_M_LINK_MEAN,
  IOV_M_LINK_MIN,
  IOV_M_LINK_MAX,
  IOV_M_LINK_FAIRNESS,
  IOV_M_VM_GUEST_SD, /* per-VM service demand (per KiB, or per transaction), mean over the VMs */
  IOV_M_VM_HOST_SD,
  IOV_M_VM_TOTAL_SD,
  IOV_M_PPS_TX, /* packet rates (see struct iov_point_summary) */
  IOV_M_PPS_RX,
  IOV_M_SEGS_PS,
  IOV_M_FRAME_PPS,
  IOV_M_WIRE_GBPS,
  IOV_M_LINE_PCT,
  IOV_M_MAX,
};
/* Its JSON key ("gbps", "lat_p99_us", ...) and unit. */
const char *iov_metric_name(enum iov_metric m);
const char *iov_metric_unit(enum iov_metric m);
/* Its value in one repetition (NaN when not measured). */
double iov_metric_value(const struct iov_point_summary *p, enum iov_metric m);

/* The repetitions of one plan point (point_no), and each metric over its
 * 'ok' ones: mean, standard deviation, confidence interval at 'level'
 * (the plan's confidence level for the point, else 0.95). */
struct iov_point_group {
  unsigned point_no;
  size_t *members; /* owned: indexes into report->points, in the order they ran */
  size_t n_members;
  unsigned ok;                           /* repetitions with status ok */
  const struct iov_point_summary *first; /* the first ok one (else the first): its names and parameters */
  const struct iov_confidence *conf;     /* NULL: the plan asked for none */
  double level;
  struct iov_stat stat[IOV_M_MAX];
  char status[24]; /* "ok", "failed", or "2/3 ok" */
};
/* The group as one summary: *g->first with every metric replaced by its
 * mean over the ok runs, and the group's status.  Shares g->first's
 * strings and arrays: do not free. */
void iov_report_mean_summary(const struct iov_point_group *g, struct iov_point_summary *out);
/* Group r's points by point_no, in the order of point_no.  Caller frees
 * with iov_report_groups_free().  0 or -ENOMEM. */
int iov_report_groups(const struct iov_report *r, struct iov_point_group **ret, size_t *ret_n);
void iov_report_groups_free(struct iov_point_group *g, size_t n);
/* Whether some point of r ran more than once. */
bool iov_report_has_repeats(const struct iov_report *r);
/* One row per repetition, comma-separated, with a header line (RFC 4180
 * quoting).  0 or -EIO. */
int iov_report_print_csv(const struct iov_report *r, FILE *f);
/* The study's tables from the groups: bandwidth and latency by message
 * size per path, CPU cost per path, inter-VM, scaling.  Tables without
 * data are left out. */
void iov_report_print_study(const struct iov_report *r, FILE *f);

/* Read every point of the (only / latest) run in db, in index order, as
 * of one commit (one read transaction, unless the caller has one open).
 * A flow's window counts only if its result has a start and an end not
 * before it.  Caller owns *ret; free with iov_report_free().  Returns 0,
 * -ENOENT if the database holds no run, -ENOMEM, or -IOV_E_DB, with the
 * reason in err. */
int iov_report_load(struct iov_db *db, struct iov_report **ret, char *err, size_t errlen);
/* The same, with only the runs of plan point point_no. */
int iov_report_load_point(struct iov_db *db, unsigned point_no, struct iov_report **ret, char *err,
                          size_t errlen);
struct iov_report *iov_report_free(struct iov_report *r);
/* The table of every run of every point, as iov_report_print_table()
 * prints a run without repeats. */
void iov_report_print_runs(const struct iov_report *r, FILE *f);
/* Fixed-width text table, one row per point (with repeats: per plan
 * point, the means over its ok runs, its runs and the confidence
 * interval of its throughput in percent of the mean): idx + 1 (coord's numbering
 * while it runs), test, sweep (its middle cut if too long), status,
 * Gbit/s, trans/s, latency p50/p90/p99/p99.9/max in microseconds
 * (1 decimal), after a line naming the run.  A point with transactions or
 * latency shows trans/s and "-" for Gbit/s (its receiver counts bytes of
 * both directions); any other shows Gbit/s and "-" for trans/s; both are
 * "-" without a window.  Latency columns are blank without latency.
 * Below the table, one line per point not 'ok' with its error. */
void iov_report_print_table(const struct iov_report *r, FILE *f);
/* The "NDR/PDR by frame size per path" table: one row per searched plan
 * point (the mean over its repetitions' searches), by path, topology
 * and frame size.  Nothing without searches. */
void iov_report_print_searches(const struct iov_report *r, FILE *f);
/* The plan point a search belongs to: its first summary in r (NULL if
 * none is stored), and its frame size as a plan writes it ("64", "imix")
 * or the mean frame in bytes, into buf. */
const struct iov_point_summary *iov_report_search_point(const struct iov_report *r, unsigned point_no);
const char *iov_report_frame_label(const struct iov_point_summary *p, double frame_mean, char *buf, size_t n);
/* JSON document {"run":{...},"points":[{...}]} written with jansson;
 * NaN/inf never written (null instead); "latency_us" is null unless
 * has_latency.  Returns 0, -ENOMEM, or -EIO if writing to f failed. */
int iov_report_print_json(const struct iov_report *r, FILE *f);
