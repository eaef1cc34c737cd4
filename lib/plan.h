/* Plans: INI files (read with inih) that name the hosts and the tests.
 *
 *   [hosts]            NAME = ENDPOINT   (tcp://host:port, host[:port], ipc://path
 *                                         or "local": coord starts the agent)
 *                      NAME.data = ADDR  (data-plane address; default: the
 *                                         endpoint's host)
 *   [global]           defaults for every test
 *   [any other name]   one test; "a, b, c" in a value sweeps that key, and a
 *                      test expands to the cartesian product of its sweeps.
 *
 * Keys are table-driven: the common ones (struct iov_option in plan.c),
 * and each engine's own, which the engine declares in its ops table
 * (struct iov_engine_opt, below) and the caller hands over with the
 * workloads.  The same tables print `coord --help-plan`.  Unknown keys,
 * out-of-range values and references to unknown hosts are errors that
 * carry file, line and key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IOV_PLAN_MAX_POINTS 100000
/* Largest plan accepted, in bytes.  Lines are limited by inih's line
 * buffer (197 characters with Debian's INI_MAX_LINE of 200); longer lines
 * are an error, never truncated. */
#define IOV_PLAN_MAX_SIZE (1024 * 1024)
#define IOV_PLAN_MAX_HOSTS 1024
#define IOV_PLAN_MAX_GUESTS 1024 /* guests per host */
#define IOV_AGENT_DEFAULT_PORT 7700

enum iov_topology {
  IOV_TOPO_HOST_HOST,   /* sender's host agent -> receiver's host agent */
  IOV_TOPO_VM_VM_CROSS, /* VM i of the sender host -> VM i of the receiver host */
  IOV_TOPO_VM_VM_SAME,  /* VM i -> VM vms+i, both on the sender host */
  IOV_TOPO_MANY_TO_ONE, /* VMs 1..vms of the sender host -> the receiver's host agent */
  _IOV_TOPO_MAX,
  _IOV_TOPO_INVALID = -22,
};
const char *iov_topology_to_string(enum iov_topology t);
enum iov_topology iov_topology_from_string(const char *s);
/* Guests a point of this topology needs on its sender and receiver host. */
void iov_topology_guests(enum iov_topology t, uint64_t vms, unsigned *ret_sender, unsigned *ret_receiver);

enum iov_path {
  IOV_PATH_AUTO,     /* native for host-host, existing otherwise */
  IOV_PATH_NATIVE,   /* the hosts' own NICs */
  IOV_PATH_SRIOV,    /* VMs started by the host agents, a VF each */
  IOV_PATH_VIRTIO,   /* VMs started by the host agents, a virtio NIC each */
  IOV_PATH_EXISTING, /* whatever guests are registered */
  _IOV_PATH_MAX,
  _IOV_PATH_INVALID = -22,
};
const char *iov_path_to_string(enum iov_path p);
enum iov_path iov_path_from_string(const char *s);

/* ---- Engine settings -------------------------------------------------
 * A setting one engine declares (an engine file in engines/, its ops table's .options,
 * terminated by an entry whose name is NULL), as fio's engines declare
 * theirs.  lib/ knows the shape, never the engines: the plan parser, the
 * help, the wire and the engine's own option struct all read the table.
 * Every value is a uint64_t (a bool is 0 or 1; a duration in ns). */
enum iov_opt_type {
  IOV_OPT_UINT,     /* a whole number (unit: see .unit) */
  IOV_OPT_BOOL,     /* yes/no */
  IOV_OPT_DURATION, /* ns; written with a unit (100ms) */
  IOV_OPT_SIZE,     /* bytes; binary suffixes (64k) */
  IOV_OPT_RATE,     /* bit/s; decimal suffixes (500m) */
  IOV_OPT_PERCENT,  /* parts per billion; written "0.5%" (or "0") */
  IOV_OPT_CUSTOM,   /* the engine's own syntax: .parse and .format */
  _IOV_OPT_TYPE_MAX,
};

struct iov_engine_opt {
  const char *name; /* plan key and wire key: [a-z0-9_], at most 31 characters */
  enum iov_opt_type type;
  const char *unit; /* for the help ("us"); NULL: the type says it */
  uint64_t def, min, max;
  const char *help;
  bool sweepable; /* "a, b" in a plan sweeps it; when false, a comma
                   * belongs to the value ("search = ndr,pdr") */
  size_t offset;  /* of its uint64_t in the engine's option struct */
  /* IOV_OPT_CUSTOM only (both required): the plan's text to the value (0,
   * or -errno with a one-line reason naming the bad part and what is
   * allowed in err), and back ("imix"; returns buf).  A value is valid
   * when it lies in min..max and its text parses back to it, which is
   * how values from the wire are checked.  Pure and thread-safe. */
  int (*parse)(const char *text, uint64_t *ret, char *err, size_t errlen);
  const char *(*format)(uint64_t v, char *buf, size_t n);
};

/* The most settings one engine may declare, and distinct engine keys a
 * plan parser takes from all its workloads. */
#define IOV_ENGINE_MAX_OPTS 32
#define IOV_PLAN_MAX_ENGINE_KEYS 64

/* A workload as the plan parser sees it: the name, whether it is UDP
 * (msg_size at most 65507), its settings and the smallest msg_size it
 * runs (0 = no minimum beyond 1: udp_stream's is its datagram header). */
struct iov_plan_workload {
  const char *name;
  bool udp;
  const struct iov_engine_opt *opts; /* NULL-name terminated; NULL = none */
  uint64_t min_msg_size;
};

/* 0, or -ERANGE with "'V' is out of range; use MIN..MAX" in err (a
 * CUSTOM value that does not parse back: -EINVAL, "'V' is not valid"). */
int iov_engine_opt_check(const struct iov_engine_opt *o, uint64_t v, char *err, size_t errlen);
/* The value as a plan writes it ("100ms", "yes", "4", "0.5%", a CUSTOM
 * setting's own text). */
const char *iov_engine_opt_format(const struct iov_engine_opt *o, uint64_t v, char *buf, size_t n);
/* The opt of 'name' in a NULL-name terminated table, NULL if none. */
const struct iov_engine_opt *iov_engine_opt_find(const struct iov_engine_opt *opts, const char *name);

/* One engine setting of a point: the opt points into the workload's
 * table (static: it outlives the plan). */
struct iov_plan_setting {
  const struct iov_engine_opt *opt;
  uint64_t value;
};

/* What a failed point does to the run. */
enum iov_on_error {
  IOV_ON_ERROR_CONTINUE,
  IOV_ON_ERROR_STOP,
  _IOV_ON_ERROR_MAX,
  _IOV_ON_ERROR_INVALID = -22,
};

struct iov_plan_host {
  char *name;      /* key in [hosts] */
  char *endpoint;  /* normalised ZeroMQ endpoint ("tcp://h:7700"), or "local" */
  char *data_addr; /* NAME.data, else the host part of a tcp endpoint, else NULL */
  bool local;      /* started by coord */
  char *key;       /* NAME.key: the agent's CURVE public key (Z85), NULL = not pinned */
  unsigned line;
  /* NAME.guests: for a local host, the simulated VMs coord starts; for
   * others, the guests coord waits for before the first point.  When not
   * given: what the plan's points need at most (guests_needed). */
  unsigned guests;
  bool guests_set;
  unsigned guests_needed;
  /* NAME.plaintext = yes: this agent may answer without authentication
   * (it has no pinned or known key; a key always wins). */
  bool plaintext;
  /* NAME.guest_data = VM=ADDRESS, ...: the data addresses the plan vouches
   * for, for guests that already run there (path existing).  Parallel
   * arrays, IP literals. */
  char **guest_names;
  char **guest_addrs;
  size_t n_guest_data;
};

/* Parameters of one expanded test point.  Sizes in bytes, times in ns. */
struct iov_point_params {
  char *workload;    /* engine name */
  char *sender;      /* host name: connects (stream sender, RR client) */
  char *receiver;    /* host name: listens (vm-vm-same: the sender) */
  char *topology;    /* see enum iov_topology */
  uint64_t vms;      /* sending VMs (VM pairs), 1..1024 */
  char *path;        /* see enum iov_path */
  uint64_t vm_vcpus; /* started VMs: vCPUs, memory, pinning, reuse */
  uint64_t vm_memory;
  char *vm_cpus;
  uint64_t reuse_vms;
  uint64_t vf_vlan;  /* path sriov: VF settings; 0 / "keep" = leave as they are */
  uint64_t vf_rate;  /* bit/s */
  char *vf_spoofchk; /* "on", "off", "keep" */
  char *vf_trust;
  uint64_t flows;           /* 1..256 */
  uint64_t msg_size;        /* stream message / RR request size, 1..16m */
  uint64_t response_size;   /* RR response size, 1..16m */
  uint64_t rate;            /* udp_stream offered bit/s per flow, 0 = unpaced */
  uint64_t rate_pps;        /* datagrams/s per flow, overriding rate when non-zero;
                             * not a plan key (0 from the parser): a search trial sets it */
  uint64_t line_rate;       /* the link's bit/s for "% of line rate", 0 = the NIC's speed */
  uint64_t send_buffer;     /* SO_SNDBUF, 0 = system default */
  uint64_t recv_buffer;     /* SO_RCVBUF, 0 = system default */
  uint64_t nodelay;         /* 0 or 1 */
  char *interface;          /* SO_BINDTODEVICE, "none" = not bound */
  char *cpus;               /* CPU list ("0-3+6"), "none" = not pinned */
  uint64_t duration;        /* measured window, 100ms..24h */
  uint64_t warmup;          /* unmeasured traffic before the window, 0..1h */
  uint64_t sample_interval; /* 10ms..duration */
  uint64_t timeout;         /* each control step, 1s..1h */
  char *on_error;           /* "continue" or "stop" the run after a failed point */
  uint64_t heartbeat;       /* coord <-> host agents, the same for the whole run */
  uint64_t repeat;          /* runs of the point (at least, with confidence) */
  uint64_t repeat_max;      /* with confidence: the most runs */
  char *confidence;         /* "LEVEL,WIDTH" in percent, or "off": iov_plan_confidence() */
  /* topology, path and on_error as enums: what code decides on (the
   * strings above are the text as stored with the results). */
  enum iov_topology topo;
  enum iov_path path_id;
  enum iov_on_error on_error_id;
  /* Every setting the point's engine declares, with the plan's value or
   * the engine's default, in the engine's table order. */
  struct iov_plan_setting *settings;
  size_t n_settings;
};
/* The value of the point's engine setting 'key'; false if its engine
 * has none. */
bool iov_plan_setting_get(const struct iov_point_params *p, const char *key, uint64_t *ret);

struct iov_plan_point {
  char *test;     /* section name */
  unsigned line;  /* line of the section header */
  unsigned index; /* 0-based position in the expanded plan */
  char *sweep;    /* the swept keys of this point, "msg_size=64k flows=2"; "" if none */
  struct iov_point_params p;
};

struct iov_plan {
  char *path;
  char *text; /* the whole file, stored with the run */
  struct iov_plan_host *hosts;
  size_t n_hosts;
  struct iov_plan_point *points;
  size_t n_points;
};

/* Vouch for guest vm's data address addr on host h (NAME.guest_data, or
 * coord itself for the guests it starts): a later one for the same guest
 * replaces it.  0 or -ENOMEM. */
int iov_plan_host_guest_data_add(struct iov_plan_host *h, const char *vm, const char *addr);
/* The data address vouched for guest vm of host h, NULL if none. */
const char *iov_plan_host_guest_data(const struct iov_plan_host *h, const char *vm);

/* Load, expand and validate a plan.  'workloads': the engines a plan may
 * name, with their settings, terminated by an entry whose name is NULL
 * (NULL: any name accepted, and no engine settings).  On success *ret is
 * set (caller owns; free with iov_plan_free()).  On failure returns
 * -IOV_E_PLAN (or -errno when the file cannot be read, -ENOMEM on OOM)
 * and writes "FILE:LINE: key 'K': message" (parts left out when absent)
 * into err.  The first error stops parsing.  Thread-safe: no global state
 * (inih's settings are only read). */
int iov_plan_load(const char *path, const struct iov_plan_workload *workloads, struct iov_plan **ret,
                  char *err, size_t errlen);
/* The same from a string; 'name' stands for the file in errors. */
int iov_plan_parse(const char *text, const char *name, const struct iov_plan_workload *workloads,
                   struct iov_plan **ret, char *err, size_t errlen);
struct iov_plan *iov_plan_free(struct iov_plan *p);

const struct iov_plan_host *iov_plan_host_find(const struct iov_plan *p, const char *name);
/* Print every plan key with type, default, range and help: the common
 * keys, then each workload's own (workloads as for iov_plan_load). */
void iov_plan_help(FILE *f, const struct iov_plan_workload *workloads);
const char *iov_on_error_to_string(enum iov_on_error e);
enum iov_on_error iov_on_error_from_string(const char *s);

/* "99,5" -> level 0.99, width 0.05 (the interval's half-width over the
 * mean); "off" -> 0, 0.  0, or -EINVAL for anything else (level 50..99.9,
 * width 0.1..50 percent).  Either pointer may be NULL. */
int iov_plan_confidence(const char *text, double *ret_level, double *ret_width);
