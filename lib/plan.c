/* Plans: parse an INI plan with inih, validate every value against the
 * option table, and expand each test into its sweep points.
 *
 * inih (Debian r55) is built without INI_HANDLER_LINENO and without
 * INI_CALL_HANDLER_ON_NEW_SECTION, so its handler knows neither the line
 * nor when a section starts.  We therefore feed inih through our own
 * reader: it hands out one line per call (inih calls the reader once per
 * line), counts lines, rejects lines longer than inih's buffer instead of
 * letting them be split, and recognises "[section]" headers itself.  The
 * reader also strips leading blanks, which turns off inih's multi-line
 * continuation values without touching inih's process-wide settings. */
#include "plan.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "err.h"
#include "frame.h"
#include "log.h"
#include "macro.h"
#include "parse.h"

#define NAME_MAX_LEN 63
#define HOSTNAME_MAX_LEN 253

/* ---- The option table ------------------------------------------------ */

enum opt_type {
  OPT_STRING,     /* a name, e.g. a workload */
  OPT_HOST,       /* a host name from [hosts] */
  OPT_U64,        /* a whole number */
  OPT_SIZE,       /* bytes, binary suffixes */
  OPT_DURATION,   /* nanoseconds */
  OPT_BOOL,       /* yes/no, stored as 0/1 */
  OPT_RATE,       /* bit/s, decimal suffixes */
  OPT_IFNAME,     /* a network interface name, or "none" */
  OPT_CPUS,       /* a CPU list such as 0-3+6, or "none" */
  OPT_TOPOLOGY,   /* host-host, vm-vm-cross, vm-vm-same, many-to-one */
  OPT_PATH,       /* auto, native, sriov, virtio, existing */
  OPT_TRISTATE,   /* keep, on, off */
  OPT_ONERROR,    /* continue, stop */
  OPT_CONFIDENCE, /* LEVEL,WIDTH (percent; the comma does not sweep), or off */
  OPT_PERCENT,    /* parts per billion, written 0.5% */
  OPT_CUSTOM,     /* an engine's own syntax (its opt's parse and format) */
};

/* Types whose value is kept as text (char *) rather than a number. */
static bool is_text(enum opt_type t) {
  return t == OPT_STRING || t == OPT_HOST || t == OPT_IFNAME || t == OPT_CPUS || t == OPT_TOPOLOGY ||
         t == OPT_PATH || t == OPT_TRISTATE || t == OPT_ONERROR || t == OPT_CONFIDENCE;
}

struct iov_option {
  const char *name;
  enum opt_type type;
  size_t offset;   /* into struct iov_point_params */
  const char *def; /* NULL: no fixed default (see help) */
  uint64_t min, max;
  const char *help;
  /* An engine's key: the first engine that declares it (min and max
   * above are then the widest range any of them takes). */
  const struct iov_engine_opt *eng;
  bool no_sweep;
};

/* The opt_type of an engine setting's type. */
static const enum opt_type eng_types[_IOV_OPT_TYPE_MAX] = {
  [IOV_OPT_UINT] = OPT_U64,      [IOV_OPT_BOOL] = OPT_BOOL, [IOV_OPT_DURATION] = OPT_DURATION,
  [IOV_OPT_SIZE] = OPT_SIZE,     [IOV_OPT_RATE] = OPT_RATE, [IOV_OPT_PERCENT] = OPT_PERCENT,
  [IOV_OPT_CUSTOM] = OPT_CUSTOM,
};

/* Index of each key in the table; the cross-key checks need them. */
enum {
  K_WORKLOAD,
  K_SENDER,
  K_RECEIVER,
  K_PATH, /* before topology and vms: a sweep over paths varies slowest, so VMs can be reused */
  K_TOPOLOGY,
  K_VMS,
  K_VM_VCPUS,
  K_VM_MEMORY,
  K_VM_CPUS,
  K_REUSE_VMS,
  K_VF_VLAN,
  K_VF_RATE,
  K_VF_SPOOFCHK,
  K_VF_TRUST,
  K_ON_ERROR,
  K_HEARTBEAT,
  K_FLOWS,
  K_MSG_SIZE,
  K_RESPONSE_SIZE,
  K_RATE,
  K_LINE_RATE,
  K_SEND_BUFFER,
  K_RECV_BUFFER,
  K_NODELAY,
  K_INTERFACE,
  K_CPUS,
  K_DURATION,
  K_WARMUP,
  K_SAMPLE_INTERVAL,
  K_REPEAT,
  K_REPEAT_MAX,
  K_CONFIDENCE,
  K_TIMEOUT,
  _K_MAX,
};

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define MSEC IOV_NSEC_PER_MSEC
#define SEC IOV_NSEC_PER_SEC

/* The order of this table is the order of sweep expansion: the last key
 * varies fastest. */
static const struct iov_option options[_K_MAX] = {
  [K_WORKLOAD] = { "workload", OPT_STRING, offsetof(struct iov_point_params, workload), NULL, 0, 0,
                   "Workload engine to run, e.g. tcp_stream or tcp_rr." },
  [K_SENDER] = { "sender", OPT_HOST, offsetof(struct iov_point_params, sender), NULL, 0, 0,
                 "Host from [hosts] that sends: the stream sender or the request/response "
                 "client.  When [hosts] names exactly two hosts, the first by default." },
  [K_RECEIVER] = { "receiver", OPT_HOST, offsetof(struct iov_point_params, receiver), NULL, 0, 0,
                   "Host from [hosts] that listens and receives; must differ from sender.  "
                   "When [hosts] names exactly two hosts, the second by default." },
  [K_TOPOLOGY] = { "topology", OPT_TOPOLOGY, offsetof(struct iov_point_params, topology), "host-host", 0, 0,
                   "Who sends to whom.  host-host: the host agents of sender and receiver.  "
                   "vm-vm-cross: VM i on the sender host to VM i on the receiver host.  "
                   "vm-vm-same: VM i to VM vms+i, all on the sender host (inter-VM "
                   "traffic; receiver is the same host).  many-to-one: VMs 1..vms of the "
                   "sender host to the receiver's host agent.  VMs are a host's guests "
                   "in the order of their names." },
  [K_VMS] = { "vms", OPT_U64, offsetof(struct iov_point_params, vms), "1", 1, 1024,
              "Sending VMs (VM pairs) in a VM topology; sweep it to see scaling.  "
              "vm-vm-same uses twice as many VMs on its host.  Must be 1 for host-host." },
  [K_PATH] = { "path", OPT_PATH, offsetof(struct iov_point_params, path), "auto", 0, 0,
               "The I/O path under test.  native: the hosts' own NICs (host-host).  sriov: "
               "VMs that the host agents start through libvirt, each with a VF of the host's "
               "PF passed through.  virtio: such VMs with a virtio NIC on the host's bridge.  "
               "existing: whatever guests are registered, as they are (simulated VMs of local "
               "hosts, or VMs started by hand).  auto: native for host-host, existing otherwise." },
  [K_VM_VCPUS] = { "vm_vcpus", OPT_U64, offsetof(struct iov_point_params, vm_vcpus), "1", 1, 256,
                   "vCPUs of each VM the host agents start (path sriov or virtio)." },
  [K_VM_MEMORY] = { "vm_memory", OPT_SIZE, offsetof(struct iov_point_params, vm_memory), "512m", 64 * MIB,
                    1024ULL * 1024 * MIB, "Memory of each VM the host agents start." },
  [K_VM_CPUS] = { "vm_cpus", OPT_CPUS, offsetof(struct iov_point_params, vm_cpus), "none", 0, 0,
                  "Host CPUs to pin the VMs' vCPUs to, round robin (e.g. 2-7), or none." },
  [K_REUSE_VMS] = { "reuse_vms", OPT_BOOL, offsetof(struct iov_point_params, reuse_vms), "no", 0, 1,
                    "Keep the VMs of a point for the next point of the same path and size, "
                    "instead of starting them anew." },
  [K_VF_VLAN] = { "vf_vlan", OPT_U64, offsetof(struct iov_point_params, vf_vlan), "0", 0, 4094,
                  "path sriov: the port VLAN each VF tags in hardware, 0 = leave it." },
  [K_VF_RATE] = { "vf_rate", OPT_RATE, offsetof(struct iov_point_params, vf_rate), "0", 0, 400000000000ULL,
                  "path sriov: each VF's maximum transmit rate (the NIC enforces it; whole Mbit/s), "
                  "0 = leave it." },
  [K_VF_SPOOFCHK] = { "vf_spoofchk", OPT_TRISTATE, offsetof(struct iov_point_params, vf_spoofchk), "keep", 0,
                      0, "path sriov: the VFs' MAC/VLAN spoof checking: on, off or keep." },
  [K_VF_TRUST] = { "vf_trust", OPT_TRISTATE, offsetof(struct iov_point_params, vf_trust), "keep", 0, 0,
                   "path sriov: whether the VFs are trusted (promiscuous mode, own MAC): on, off or keep." },
  [K_FLOWS] = { "flows", OPT_U64, offsetof(struct iov_point_params, flows), "1", 1, 256,
                "Parallel connections, one thread each." },
  [K_MSG_SIZE] = { "msg_size", OPT_SIZE, offsetof(struct iov_point_params, msg_size), "64k", 1, 16 * MIB,
                   "Bytes per send (stream) or per request (request/response).  For UDP "
                   "workloads the default is 1472 (one Ethernet frame) and the most is 65507." },
  [K_RESPONSE_SIZE] = { "response_size", OPT_SIZE, offsetof(struct iov_point_params, response_size), "1", 1,
                        16 * MIB, "Bytes per response of request/response workloads." },
  [K_RATE] = { "rate", OPT_RATE, offsetof(struct iov_point_params, rate), "0", 0, 400000000000ULL,
               "udp_stream: offered rate of each flow in bit/s of payload (e.g. 500m); "
               "0 sends as fast as possible." },
  [K_LINE_RATE] = { "line_rate", OPT_RATE, offsetof(struct iov_point_params, line_rate), "0", 0,
                    400000000000ULL,
                    "The link's line rate for the '% of line rate' columns and the search's default "
                    "search_max; 0 = the NIC speed the sender's agent reports." },
  [K_SEND_BUFFER] = { "send_buffer", OPT_SIZE, offsetof(struct iov_point_params, send_buffer), "0", 0,
                      256 * MIB,
                      "SO_SNDBUF of every data socket; 0 keeps the system's "
                      "default (and its autotuning)." },
  [K_RECV_BUFFER] = { "recv_buffer", OPT_SIZE, offsetof(struct iov_point_params, recv_buffer), "0", 0,
                      256 * MIB,
                      "SO_RCVBUF of every data socket; 0 keeps the system's "
                      "default (and its autotuning)." },
  [K_NODELAY] = { "nodelay", OPT_BOOL, offsetof(struct iov_point_params, nodelay), "no", 0, 1,
                  "TCP_NODELAY on every TCP data socket (yes/no)." },
  [K_INTERFACE] = { "interface", OPT_IFNAME, offsetof(struct iov_point_params, interface), "none", 0, 0,
                    "Network interface the data sockets are bound to on both hosts "
                    "(SO_BINDTODEVICE), or none." },
  [K_CPUS] = { "cpus", OPT_CPUS, offsetof(struct iov_point_params, cpus), "none", 0, 0,
               "CPUs the flow threads are pinned to on both hosts, round robin, e.g. 2 or "
               "0-3 or 1+3 ('+' joins parts: ',' would sweep); none leaves them unpinned." },
  [K_DURATION] = { "duration", OPT_DURATION, offsetof(struct iov_point_params, duration), "10s", 100 * MSEC,
                   24 * 3600 * SEC,
                   "How long each test point measures, after the "
                   "warm-up." },
  [K_WARMUP] = { "warmup", OPT_DURATION, offsetof(struct iov_point_params, warmup), "0", 0, 3600 * SEC,
                 "Traffic runs this long before the measured window opens; none "
                 "of it is counted (iperf3's omit)." },
  [K_SAMPLE_INTERVAL] = { "sample_interval", OPT_DURATION, offsetof(struct iov_point_params, sample_interval),
                          "1s", 10 * MSEC, 3600 * SEC,
                          "How often agents report a sample; at most duration." },
  [K_ON_ERROR] = { "on_error", OPT_ONERROR, offsetof(struct iov_point_params, on_error), "continue", 0, 0,
                   "What a failed test point does to the run: continue with the next point, or stop "
                   "the run there (what was measured stays stored)." },
  [K_HEARTBEAT] = { "heartbeat", OPT_DURATION, offsetof(struct iov_point_params, heartbeat), "1s", SEC / 10,
                    60 * SEC,
                    "How often coord and the host agents tell each other they are alive.  An agent "
                    "silent for three is lost (its point fails, the run goes on); an agent that hears "
                    "nothing from coord for two stops its traffic and takes down its VMs.  One value "
                    "for the whole run: set it in [global]." },
  [K_REPEAT] = { "repeat", OPT_U64, offsetof(struct iov_point_params, repeat), "1", 1, 1000,
                 "Runs of each test point.  With more than one, every figure of the report is the "
                 "mean over the runs, with its standard deviation and confidence interval (at the "
                 "level of confidence, else 95 %), and coord compare can test differences." },
  [K_REPEAT_MAX] = { "repeat_max", OPT_U64, offsetof(struct iov_point_params, repeat_max), "10", 1, 1000,
                     "With confidence: the most runs of a test point before coord gives up on "
                     "reaching the interval (and says so)." },
  [K_CONFIDENCE] = { "confidence", OPT_CONFIDENCE, offsetof(struct iov_point_params, confidence), "off", 0, 0,
                     "Run each test point again (at least repeat times, at most repeat_max) until the "
                     "confidence interval of its mean throughput (Gbit/s, or trans/s) at LEVEL % is "
                     "within +-WIDTH % of the mean, as netperf's -I does: 'confidence = 99,5' (no "
                     "sweep: the comma belongs to the value).  off: exactly repeat runs.  Whether it "
                     "got there is stored and reported." },
  [K_TIMEOUT] = { "timeout", OPT_DURATION, offsetof(struct iov_point_params, timeout), "10s", 1 * SEC,
                  3600 * SEC,
                  "How long each control step (prepare, start, stop, results) may take "
                  "before the test point fails." },
};

static const char *format_u64(char *buf, size_t n, uint64_t v) {
  snprintf(buf, n, "%" PRIu64, v);
  return buf;
}

static int parse_bool_u64(const char *s, uint64_t *ret) {
  int b, r = iov_parse_bool(s, &b);
  if (r == 0) *ret = (uint64_t)b;
  return r;
}

static const char *format_bool(char *buf, size_t n, uint64_t v) {
  snprintf(buf, n, "%s", v ? "yes" : "no");
  return buf;
}

static const char *format_rate(char *buf, size_t n, uint64_t v) {
  if (v && v % 1000000000ULL == 0)
    snprintf(buf, n, "%" PRIu64 "g", (uint64_t)(v / 1000000000ULL));
  else if (v && v % 1000000ULL == 0)
    snprintf(buf, n, "%" PRIu64 "m", (uint64_t)(v / 1000000ULL));
  else if (v && v % 1000ULL == 0)
    snprintf(buf, n, "%" PRIu64 "k", (uint64_t)(v / 1000ULL));
  else
    snprintf(buf, n, "%" PRIu64, v);
  return buf;
}

static const struct {
  const char *name;
  int (*parse)(const char *s, uint64_t *ret);
  const char *(*format)(char *buf, size_t n, uint64_t v);
  const char *what; /* completes "'x' is not ..." */
} types[] = {
  [OPT_STRING] = { "name", NULL, NULL, "a name (1 to 63 letters, digits, '_', '.' or '-')" },
  [OPT_HOST] = { "host", NULL, NULL, "a host name (1 to 63 letters, digits, '_' or '-', as in [hosts])" },
  [OPT_U64] = { "integer", iov_parse_u64, format_u64, "a whole number (e.g. 4)" },
  [OPT_SIZE] = { "size", iov_parse_size, iov_format_size,
                 "a size (a number with an optional k, m or g suffix, e.g. 64k)" },
  [OPT_DURATION] = { "duration", iov_parse_duration, iov_format_duration,
                     "a duration (a number with a unit ns, us, ms, s, m or h, e.g. 100ms; "
                     "a bare number means seconds)" },
  [OPT_BOOL] = { "yes/no", parse_bool_u64, format_bool, "yes or no (also true/false, on/off, 1/0)" },
  [OPT_RATE] = { "rate", iov_parse_rate, format_rate,
                 "a rate in bit/s (a number with an optional k, m or g suffix, e.g. 500m)" },
  [OPT_IFNAME] = { "interface", NULL, NULL, "an interface name (1 to 15 characters) or none" },
  [OPT_CPUS] = { "cpu list", NULL, NULL, "a CPU list such as 3, 0-3 or 0-1+4 (numbers below 4096), or none" },
  [OPT_TOPOLOGY] = { "topology", NULL, NULL,
                     "a topology: host-host, vm-vm-cross, vm-vm-same or many-to-one" },
  [OPT_PATH] = { "path", NULL, NULL, "a path: auto, native, sriov, virtio or existing" },
  [OPT_TRISTATE] = { "on/off/keep", NULL, NULL, "on, off or keep" },
  [OPT_ONERROR] = { "continue/stop", NULL, NULL, "continue or stop" },
  [OPT_CONFIDENCE] = { "confidence", NULL, NULL,
                       "LEVEL,WIDTH in percent (LEVEL 50..99.9, WIDTH 0.1..50), e.g. 99,5; or off" },
  [OPT_PERCENT] = { "percent", iov_parse_percent, iov_format_percent, "a percentage (e.g. 0.5%, or 0)" },
  /* Parsed and formatted by the engine's opt (struct iov_engine_opt). */
  [OPT_CUSTOM] = { "value", NULL, NULL, "a value of this setting (see coord --help-plan)" },
};

/* ---- Parser state ---------------------------------------------------- */

/* The values one section gives one key: one item, or several for a sweep. */
struct valset {
  unsigned line; /* 0: not set in this section */
  size_t n;
  char **text; /* each item as written, blanks trimmed */
  uint64_t *num;
};

struct section {
  char *name;
  unsigned line;
  struct valset *vals; /* one per key of the parser (n_keys) */
};

/* Every key: the common table, then the engines' (see keys_init). */
#define MAX_KEYS (_K_MAX + IOV_PLAN_MAX_ENGINE_KEYS)

enum host_setting { HS_DATA, HS_GUESTS, HS_KEY, HS_PLAINTEXT, HS_GUEST_DATA, _HS_NONE };
static const char *const host_setting_names[] = { "data", "guests", "key", "plaintext", "guest_data" };

struct host_data {
  char *name;
  enum host_setting what;
  char *addr; /* NAME.data, or NAME.key's key */
  unsigned guests;
  unsigned line;
};

enum sect_kind { SECT_NONE, SECT_HOSTS, SECT_GLOBAL, SECT_TEST };

struct parser {
  const char *file;
  const struct iov_plan_workload *workloads;
  size_t n_workloads;
  struct iov_option keys[MAX_KEYS];
  size_t n_keys;
  char key_defs[IOV_PLAN_MAX_ENGINE_KEYS][32]; /* engine keys' default as text */
  const char *text;
  size_t len, pos;
  unsigned line;

  enum sect_kind kind;
  struct section *cur;
  unsigned hosts_line;   /* 0: no [hosts] yet */
  struct section global; /* global.line 0: no [global] yet */
  struct section **tests;
  size_t n_tests, cap_tests;
  /* Open-addressing hash of the tests by name, so that finding duplicate
   * sections stays linear even for the largest plans. */
  struct section **test_index;
  size_t index_cap;
  struct iov_plan_host *hosts;
  size_t n_hosts, cap_hosts;
  struct host_data *data;
  size_t n_data, cap_data;
  struct valset defaults[MAX_KEYS];
  bool global_hosts_checked[_K_MAX]; /* [global]'s hosts exist: check once */

  struct iov_plan_point *points;
  size_t n_points;

  /* The first error; parsing stops there. */
  int error;
  unsigned err_line;
  char *err_key;
  char *err_msg;
};

static int fail(struct parser *st, unsigned line, const char *key, int error, const char *fmt, ...)
    _printf_(5, 6);

static int fail(struct parser *st, unsigned line, const char *key, int error, const char *fmt, ...) {
  va_list ap;
  char *msg = NULL;

  assert(error < 0);
  if (st->error) return st->error;
  st->error = error;
  st->err_line = line;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
  va_end(ap);
  st->err_msg = msg;
  st->err_key = key ? strdup(key) : NULL;
  if (!msg || (key && !st->err_key)) st->error = -ENOMEM;
  return st->error;
}

#define fail_plan(st, line, key, ...) fail(st, line, key, -IOV_E_PLAN, __VA_ARGS__)
#define fail_oom(st) fail(st, (st)->line, NULL, -ENOMEM, "out of memory")

/* Grow *array so that it holds at least 'need' elements. */
static int grow(void **array, size_t *cap, size_t need, size_t elem) {
  size_t n;
  void *p;

  if (need <= *cap) return 0;
  n = *cap ? *cap * 2 : 8;
  if (n < need) n = need;
  if (n > SIZE_MAX / elem) return -ENOMEM;
  p = realloc(*array, n * elem);
  if (!p) return -ENOMEM;
  *array = p;
  *cap = n;
  return 0;
}

static void valset_done(struct valset *vs) {
  for (size_t i = 0; vs->text && i < vs->n; i++) free(vs->text[i]);
  free(vs->text);
  free(vs->num);
  *vs = (struct valset){ 0 };
}

static int valset_add(struct valset *vs, const char *text, size_t len, uint64_t num) {
  char **t;
  uint64_t *u;
  char *s;

  t = realloc(vs->text, (vs->n + 1) * sizeof(*t));
  if (!t) return -ENOMEM;
  vs->text = t;
  u = realloc(vs->num, (vs->n + 1) * sizeof(*u));
  if (!u) return -ENOMEM;
  vs->num = u;
  s = strndup(text, len);
  if (!s) return -ENOMEM;
  vs->text[vs->n] = s;
  vs->num[vs->n] = num;
  vs->n++;
  return 0;
}

static struct section *section_free(struct section *s, size_t n_keys) {
  if (!s) return NULL;
  for (size_t k = 0; s->vals && k < n_keys; k++) valset_done(&s->vals[k]);
  free(s->vals);
  free(s->name);
  free(s);
  return NULL;
}

static void host_done(struct iov_plan_host *h) {
  free(h->name);
  free(h->endpoint);
  free(h->data_addr);
  free(h->key);
  for (size_t i = 0; i < h->n_guest_data; i++) {
    free(h->guest_names[i]);
    free(h->guest_addrs[i]);
  }
  free(h->guest_names);
  free(h->guest_addrs);
  *h = (struct iov_plan_host){ 0 };
}

static void point_done(struct iov_plan_point *pt) {
  for (size_t k = 0; k < _K_MAX; k++)
    if (is_text(options[k].type)) free(*(char **)(void *)((char *)&pt->p + options[k].offset));
  free(pt->p.settings);
  free(pt->test);
  free(pt->sweep);
}

static void parser_done(struct parser *st) {
  for (size_t k = 0; k < st->n_keys; k++) {
    if (st->global.vals) valset_done(&st->global.vals[k]);
    valset_done(&st->defaults[k]);
  }
  free(st->global.vals);
  free(st->global.name);
  for (size_t i = 0; i < st->n_tests; i++) section_free(st->tests[i], st->n_keys);
  free(st->tests);
  free(st->test_index);
  for (size_t i = 0; i < st->n_hosts; i++) host_done(&st->hosts[i]);
  free(st->hosts);
  for (size_t i = 0; i < st->n_data; i++) {
    free(st->data[i].name);
    free(st->data[i].addr);
  }
  free(st->data);
  for (size_t i = 0; i < st->n_points; i++) point_done(&st->points[i]);
  free(st->points);
  free(st->err_key);
  free(st->err_msg);
}

/* ---- Names and lists ------------------------------------------------- */

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* 1..max characters, each alphanumeric or in 'extra'. */
static bool valid_name(const char *s, size_t len, const char *extra, size_t max) {
  if (len == 0 || len > max) return false;
  for (size_t i = 0; i < len; i++)
    if (!is_alnum(s[i]) && !(s[i] && strchr(extra, s[i]))) return false;
  return true;
}

static bool valid_host_name(const char *s) { return valid_name(s, strlen(s), "_-", NAME_MAX_LEN); }

static struct iov_plan_host *find_host(struct iov_plan_host *hosts, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(hosts[i].name, name) == 0) return &hosts[i];
  return NULL;
}

/* "a, b, c" (at most 12 names, then "and N more") for error messages;
 * get(ctx, i) returns name i.  Returns NULL on OOM. */
static char *join_names(size_t n, const char *(*get)(const void *ctx, size_t i), const void *ctx) {
  const size_t max = 12;
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);

  if (!f) return NULL;
  for (size_t i = 0; i < n && i < max; i++) fprintf(f, "%s%s", i ? ", " : "", get(ctx, i));
  if (n > max) fprintf(f, " and %zu more", n - max);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

static const char *get_name(const void *ctx, size_t i) { return ((const char *const *)ctx)[i]; }

static const char *get_workload(const void *ctx, size_t i) {
  return ((const struct iov_plan_workload *)ctx)[i].name;
}

static const char *get_host(const void *ctx, size_t i) { return ((const struct iov_plan_host *)ctx)[i].name; }

static const struct iov_plan_workload *find_workload(const struct parser *st, const char *name) {
  for (size_t i = 0; i < st->n_workloads; i++)
    if (strcmp(st->workloads[i].name, name) == 0) return &st->workloads[i];
  return NULL;
}

/* Edit distance, to suggest a key for a typo.  Keys are short. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), row[32], prev, tmp;

  if (la >= ELEMENTSOF(row) || lb >= ELEMENTSOF(row)) return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t best = prev + (a[i - 1] != b[j - 1]);
      if (row[j] + 1 < best) best = row[j] + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      tmp = row[j];
      row[j] = best;
      prev = tmp;
    }
  }
  return row[lb];
}

/* ---- [hosts] --------------------------------------------------------- */

/* A DNS name; all digits and dots is a mistyped IPv4 address, not a name. */
static bool valid_dns_name(const char *s) {
  return valid_name(s, strlen(s), "._-", HOSTNAME_MAX_LEN) && is_alnum(s[0]) &&
         s[strspn(s, "0123456789.")] != '\0';
}

static bool is_ipv6(const char *s) {
  struct in6_addr a6;
  return inet_pton(AF_INET6, s, &a6) == 1;
}

static bool is_ipv4(const char *s) {
  struct in_addr a4;
  return inet_pton(AF_INET, s, &a4) == 1;
}

/* ENDPOINT: local | ipc://PATH | [tcp://]HOST[:PORT], HOST being a DNS
 * name, an IPv4 address or an IPv6 address (in brackets when a port
 * follows).  Fills endpoint, data_addr and local of *h. */
static int parse_endpoint(struct parser *st, const char *key, const char *value, struct iov_plan_host *h) {
  _cleanup_free_ char *host = NULL;
  const char *rest, *port_text = NULL;
  uint64_t port = IOV_AGENT_DEFAULT_PORT;
  bool v6 = false;
  int r;

  if (strcmp(value, "local") == 0) {
    h->local = true;
    h->endpoint = strdup("local");
    return h->endpoint ? 0 : fail_oom(st);
  }
  if (strncmp(value, "ipc://", 6) == 0) {
    size_t len = strlen(value + 6);
    if (len == 0 || len >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
      return fail_plan(st, st->line, key,
                       "'%s' is not a usable ipc endpoint: the path must have 1 to %zu "
                       "characters",
                       value, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
    h->endpoint = strdup(value);
    return h->endpoint ? 0 : fail_oom(st);
  }
  if (strncmp(value, "tcp://", 6) == 0)
    rest = value + 6;
  else if (strstr(value, "://"))
    return fail_plan(st, st->line, key,
                     "unsupported endpoint '%s'; use local, tcp://HOST:PORT, ipc://PATH, "
                     "HOST or HOST:PORT",
                     value);
  else
    rest = value;

  if (rest[0] == '[') {
    const char *close = strchr(rest, ']');
    if (!close) return fail_plan(st, st->line, key, "'%s' has no closing ']' after the IPv6 address", value);
    host = strndup(rest + 1, (size_t)(close - rest - 1));
    if (!host) return fail_oom(st);
    if (!is_ipv6(host)) return fail_plan(st, st->line, key, "'%s' is not an IPv6 address", host);
    v6 = true;
    if (close[1] == ':')
      port_text = close + 2;
    else if (close[1] != '\0')
      return fail_plan(st, st->line, key, "unexpected text after ']' in '%s'; write [ADDRESS]:PORT", value);
  } else {
    const char *colon = strchr(rest, ':');
    if (colon && strchr(colon + 1, ':')) {
      /* Several colons: a bare IPv6 address, which cannot carry a port. */
      if (!is_ipv6(rest))
        return fail_plan(st, st->line, key,
                         "'%s' is not an endpoint; write IPv6 addresses in brackets, "
                         "e.g. [2001:db8::1]:7700",
                         value);
      host = strdup(rest);
      v6 = true;
    } else {
      host = colon ? strndup(rest, (size_t)(colon - rest)) : strdup(rest);
      if (colon) port_text = colon + 1;
    }
    if (!host) return fail_oom(st);
    if (!v6 && !is_ipv4(host) && !valid_dns_name(host))
      return fail_plan(st, st->line, key,
                       "'%s' is not a host name or address (in endpoint '%s'); use e.g. "
                       "198.18.0.1, server-a.example or [2001:db8::1]",
                       host, value);
  }
  if (port_text) {
    r = iov_parse_u64(port_text, &port);
    if (r < 0 || port < 1 || port > 65535)
      return fail_plan(st, st->line, key, "'%s' is not a port (1..65535) in endpoint '%s'", port_text, value);
  }
  if (asprintf(&h->endpoint, v6 ? "tcp://[%s]:%" PRIu64 : "tcp://%s:%" PRIu64, host, port) < 0) {
    h->endpoint = NULL;
    return fail_oom(st);
  }
  h->data_addr = TAKE_PTR(host);
  return 0;
}

/* A guest's name as a host agent's relay accepts it: 1..64 of
 * [A-Za-z0-9._:-]. */
static bool valid_guest_name(const char *s, size_t n) {
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("._:-", s[i])) return false;
  return true;
}

/* NAME.guest_data = VM=ADDRESS, VM=ADDRESS ...: each VM once, each address
 * an IP literal. */
static int guest_data_check(struct parser *st, const char *key, const char *value) {
  const char *p = value;
  size_t n = 0;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    size_t len = strcspn(p, ",");
    const char *eq = memchr(p, '=', len);
    char addr[INET6_ADDRSTRLEN + 1];
    size_t nl = eq ? (size_t)(eq - p) : 0;
    while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t')) nl--;
    const char *a = eq ? eq + 1 : p;
    while (eq && (*a == ' ' || *a == '\t')) a++;
    size_t al = eq ? (size_t)(p + len - a) : 0;
    while (al && (a[al - 1] == ' ' || a[al - 1] == '\t')) al--;
    if (!eq || !valid_guest_name(p, nl) || al == 0 || al >= sizeof(addr))
      return fail_plan(st, st->line, key,
                       "'%.*s' is not VM=ADDRESS; write e.g. '%s = vm01=198.18.1.10, vm02=198.18.1.11' "
                       "(VM: the guest's name, 1 to 64 letters, digits, '.', '_', ':' or '-')",
                       (int)(len > 80 ? 80 : len), p, key);
    memcpy(addr, a, al);
    addr[al] = 0;
    if (!is_ipv4(addr) && !is_ipv6(addr))
      return fail_plan(st, st->line, key,
                       "'%s' (for guest '%.*s') is not an IPv4 or IPv6 address (e.g. 198.18.1.10)", addr,
                       (int)nl, p);
    if (++n > IOV_PLAN_MAX_GUESTS)
      return fail_plan(st, st->line, key, "more than %d guests", IOV_PLAN_MAX_GUESTS);
    p += len;
    if (!*p) return 0;
    p++;
  }
}

int iov_plan_host_guest_data_add(struct iov_plan_host *h, const char *vm, const char *addr) {
  size_t i = 0;
  while (i < h->n_guest_data && strcmp(h->guest_names[i], vm) != 0) i++;
  char *a = strdup(addr);
  if (!a) return -ENOMEM;
  if (i < h->n_guest_data) {
    free(h->guest_addrs[i]);
    h->guest_addrs[i] = a;
    return 0;
  }
  char *name = strdup(vm);
  char **nn = realloc(h->guest_names, (h->n_guest_data + 1) * sizeof(*nn));
  if (nn) h->guest_names = nn;
  char **na = nn ? realloc(h->guest_addrs, (h->n_guest_data + 1) * sizeof(*na)) : NULL;
  if (na) h->guest_addrs = na;
  if (!name || !nn || !na) {
    free(name);
    free(a);
    return -ENOMEM;
  }
  h->guest_names[i] = name;
  h->guest_addrs[i] = a;
  h->n_guest_data++;
  return 0;
}

const char *iov_plan_host_guest_data(const struct iov_plan_host *h, const char *vm) {
  for (size_t i = 0; h && i < h->n_guest_data; i++)
    if (strcmp(h->guest_names[i], vm) == 0) return h->guest_addrs[i];
  return NULL;
}

/* Fill h's guest_data from a value guest_data_check() accepted. */
static int guest_data_apply(struct iov_plan_host *h, const char *value) {
  const char *p = value;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    size_t len = strcspn(p, ",");
    const char *eq = memchr(p, '=', len);
    size_t nl = (size_t)(eq - p);
    while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t')) nl--;
    const char *a = eq + 1;
    while (*a == ' ' || *a == '\t') a++;
    size_t al = (size_t)(p + len - a);
    while (al && (a[al - 1] == ' ' || a[al - 1] == '\t')) al--;
    char *name = strndup(p, nl), *addr = strndup(a, al);
    int r = name && addr ? iov_plan_host_guest_data_add(h, name, addr) : -ENOMEM;
    free(name);
    free(addr);
    if (r < 0) return r;
    p += len;
    if (!*p) return 0;
    p++;
  }
}

static int hosts_key(struct parser *st, const char *name, const char *value) {
  const char *dot = strchr(name, '.');
  struct iov_plan_host *h;
  int r;

  if (dot) {
    _cleanup_free_ char *hname = strndup(name, (size_t)(dot - name));
    struct host_data *d;

    if (!hname) return fail_oom(st);
    enum host_setting what = _HS_NONE;
    for (size_t k = 0; k < ELEMENTSOF(host_setting_names); k++)
      if (strcmp(dot + 1, host_setting_names[k]) == 0) what = (enum host_setting)k;
    bool is_guests = what == HS_GUESTS, is_key = what == HS_KEY;
    uint64_t guests = 0;
    if (what == _HS_NONE)
      return fail_plan(st, st->line, name,
                       "unknown host setting '%s'; a host has only NAME = ENDPOINT, "
                       "NAME.data = ADDRESS, NAME.guests = COUNT, NAME.key = PUBLIC_KEY, "
                       "NAME.plaintext = yes/no and NAME.guest_data = VM=ADDRESS, ...",
                       dot + 1);
    if (!valid_host_name(hname))
      return fail_plan(st, st->line, name, "'%s' is not a host name; use 1 to 63 letters, digits, '_' or '-'",
                       hname);
    if (is_guests) {
      if (iov_parse_u64(value, &guests) < 0 || guests > IOV_PLAN_MAX_GUESTS)
        return fail_plan(st, st->line, name, "'%s' is not a guest count; use a whole number 0..%d", value,
                         IOV_PLAN_MAX_GUESTS);
    } else if (is_key) {
      if (!iov_key_text_ok(value))
        return fail_plan(st, st->line, name,
                         "'%.60s' is not a CURVE public key: 40 Z85 characters, as in the agent's "
                         "agent.key (public-key = \"...\") or its log at start",
                         value);
    } else if (what == HS_PLAINTEXT) {
      if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
        return fail_plan(st, st->line, name, "'%.60s' is not yes or no", value);
      guests = strcmp(value, "yes") == 0;
    } else if (what == HS_GUEST_DATA) {
      r = guest_data_check(st, name, value);
      if (r < 0) return r;
    } else if (!is_ipv4(value) && !is_ipv6(value))
      return fail_plan(st, st->line, name,
                       "'%s' is not an IPv4 or IPv6 address (e.g. 198.18.0.1 or 2001:db8::1)", value);
    for (size_t i = 0; i < st->n_data; i++)
      if (strcmp(st->data[i].name, hname) == 0 && st->data[i].what == what && what != HS_GUEST_DATA)
        return fail_plan(st, st->line, name, "set twice (first on line %u); keep one", st->data[i].line);
    if (st->n_data >= IOV_PLAN_MAX_HOSTS)
      return fail_plan(st, st->line, name, "too many hosts; a plan may name at most %d", IOV_PLAN_MAX_HOSTS);
    if (grow((void **)&st->data, &st->cap_data, st->n_data + 1, sizeof(*st->data)) < 0) return fail_oom(st);
    d = &st->data[st->n_data];
    *d = (struct host_data){ .line = st->line, .what = what, .guests = (unsigned)guests };
    if (!is_guests && what != HS_PLAINTEXT && !(d->addr = strdup(value))) return fail_oom(st);
    d->name = TAKE_PTR(hname);
    st->n_data++;
    return 0;
  }

  if (!valid_host_name(name))
    return fail_plan(st, st->line, name, "not a host name; use 1 to 63 letters, digits, '_' or '-'");
  h = find_host(st->hosts, st->n_hosts, name);
  if (h)
    return fail_plan(st, st->line, name,
                     "host '%s' is defined twice (first on line %u); give each host its own "
                     "name",
                     name, h->line);
  if (st->n_hosts >= IOV_PLAN_MAX_HOSTS)
    return fail_plan(st, st->line, name, "too many hosts; a plan may name at most %d", IOV_PLAN_MAX_HOSTS);
  if (value[0] == '\0')
    return fail_plan(st, st->line, name,
                     "no endpoint; write NAME = local, tcp://HOST:PORT, ipc://PATH, HOST or "
                     "HOST:PORT");
  if (grow((void **)&st->hosts, &st->cap_hosts, st->n_hosts + 1, sizeof(*st->hosts)) < 0) return fail_oom(st);
  /* Count the host before filling it so that an error frees what was set. */
  h = &st->hosts[st->n_hosts++];
  *h = (struct iov_plan_host){ .line = st->line };
  h->name = strdup(name);
  if (!h->name) return fail_oom(st);
  r = parse_endpoint(st, name, value, h);
  return r;
}

/* ---- [global] and tests ---------------------------------------------- */

/* Validate one item of a value; *ret_num gets numbers (0 for names). */
static int parse_item(struct parser *st, const struct iov_option *o, const char *item, uint64_t *ret_num) {
  char lo[32], hi[32];
  uint64_t v = 0;
  int r;

  switch (o->type) {
  case OPT_STRING:
    if (!valid_name(item, strlen(item), "_.-", NAME_MAX_LEN))
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    if (st->workloads && !find_workload(st, item)) {
      {
        _cleanup_free_ char *known = join_names(st->n_workloads, get_workload, st->workloads);
        if (!known) return fail_oom(st);
        return fail_plan(st, st->line, o->name, "unknown workload '%s' (known: %s)", item, known);
      }
    }
    break;
  case OPT_HOST:
    if (!valid_host_name(item))
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  case OPT_IFNAME:
    if (!valid_name(item, strlen(item), "_.-@:", 15))
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  case OPT_TOPOLOGY:
    if (iov_topology_from_string(item) < 0)
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  case OPT_PATH:
    if (iov_path_from_string(item) < 0)
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  case OPT_TRISTATE:
    if (strcmp(item, "on") != 0 && strcmp(item, "off") != 0 && strcmp(item, "keep") != 0)
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  case OPT_ONERROR:
    if (iov_on_error_from_string(item) < 0)
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  case OPT_CONFIDENCE:
    if (iov_plan_confidence(item, NULL, NULL) < 0)
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  case OPT_CPUS: {
    uint16_t cpus[IOV_MAX_CPUS];
    size_t n;
    if (iov_parse_cpus(item, cpus, IOV_MAX_CPUS, &n) < 0)
      return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  }
  case OPT_CUSTOM: {
    char why[256];
    if (o->eng->parse(item, &v, why, sizeof(why)) < 0) return fail_plan(st, st->line, o->name, "%s", why);
    if (v < o->min || v > o->max) return fail_plan(st, st->line, o->name, "'%s' is out of range", item);
    break;
  }
  case OPT_U64:
  case OPT_SIZE:
  case OPT_DURATION:
  case OPT_BOOL:
  case OPT_RATE:
  case OPT_PERCENT:
    r = types[o->type].parse(item, &v);
    types[o->type].format(lo, sizeof(lo), o->min);
    types[o->type].format(hi, sizeof(hi), o->max);
    if (r == -ERANGE || (r == 0 && (v < o->min || v > o->max)))
      return fail_plan(st, st->line, o->name, "'%s' is out of range; use %s..%s", item, lo, hi);
    if (r < 0) return fail_plan(st, st->line, o->name, "'%s' is not %s", item, types[o->type].what);
    break;
  }
  *ret_num = v;
  return 0;
}

/* Split "a, b ,c" into items, validating each. */
static int parse_value(struct parser *st, const struct iov_option *o, const char *value, struct valset *vs) {
  const char *p = value;

  if (value[0] == '\0') return fail_plan(st, st->line, o->name, "no value; give one or remove the line");
  for (;;) {
    /* One value, commas and all: it does not sweep.  An engine's setting
     * that does not sweep has its own syntax, which may hold a comma
     * ("search = ndr,pdr"); for a plain number a list is an error. */
    bool whole = o->type == OPT_CONFIDENCE || (o->type == OPT_CUSTOM && o->no_sweep);
    size_t n = whole ? strlen(p) : strcspn(p, ",");
    const char *b = p, *e = p + n;
    _cleanup_free_ char *item = NULL;
    uint64_t num = 0;
    int r;

    while (b < e && (*b == ' ' || *b == '\t')) b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (b == e)
      return fail_plan(st, st->line, o->name, "empty item in the list '%s'; remove the extra comma", value);
    item = strndup(b, (size_t)(e - b));
    if (!item) return fail_oom(st);
    r = parse_item(st, o, item, &num);
    if (r < 0) return r;
    if (vs->n == 1 && o->no_sweep)
      return fail_plan(st, st->line, o->name, "does not sweep: give one value, not a list");
    if (valset_add(vs, item, strlen(item), num) < 0) return fail_oom(st);
    if (p[n] == '\0') break;
    p += n + 1;
  }
  vs->line = st->line;
  return 0;
}

static int option_key(struct parser *st, struct section *sec, const char *name, const char *value) {
  size_t best = SIZE_MAX, best_k = 0;

  for (size_t k = 0; k < st->n_keys; k++) {
    size_t d;

    if (strcmp(st->keys[k].name, name) == 0) {
      if (sec->vals[k].line)
        return fail_plan(st, st->line, name,
                         "set twice in [%s] (first on line %u); to sweep, list the values on "
                         "one line: '%s = a, b'",
                         sec->name, sec->vals[k].line, name);
      return parse_value(st, &st->keys[k], value, &sec->vals[k]);
    }
    d = edit_distance(st->keys[k].name, name);
    if (d < best) {
      best = d;
      best_k = k;
    }
  }
  if (best <= 2)
    return fail_plan(st, st->line, name, "unknown key; did you mean '%s'? (see coord --help-plan)",
                     st->keys[best_k].name);
  return fail_plan(st, st->line, name, "unknown key (see coord --help-plan)");
}

static int plan_handler(void *user, const char *section, const char *name, const char *value) {
  struct parser *st = user;

  /* inih truncates long section names; the reader tracks the real one. */
  (void)section;
  if (st->error) return 0;
  switch (st->kind) {
  case SECT_NONE:
    fail_plan(st, st->line, name,
              "key outside any section; put it under [hosts], [global] or a test section");
    break;
  case SECT_HOSTS: hosts_key(st, name, value); break;
  case SECT_GLOBAL:
  case SECT_TEST: option_key(st, st->cur, name, value); break;
  }
  return st->error ? 0 : 1;
}

/* ---- The reader: lines and section headers ---------------------------- */

/* The blanks inih strips (isspace without the locale). */
static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* FNV-1a. */
static size_t hash_name(const char *s) {
  uint64_t h = 14695981039346656037ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return (size_t)h;
}

/* The slot of 'name' in the test index: its test, or the empty slot
 * where it would go.  The index is never full (see index_add). */
static struct section **index_slot(struct parser *st, const char *name) {
  size_t mask = st->index_cap - 1, i = hash_name(name) & mask;

  while (st->test_index[i] && strcmp(st->test_index[i]->name, name) != 0) i = (i + 1) & mask;
  return &st->test_index[i];
}

static int index_add(struct parser *st, struct section *t) {
  if ((st->n_tests + 1) * 2 > st->index_cap) {
    size_t cap = st->index_cap ? st->index_cap * 2 : 64;
    struct section **old = st->test_index;
    size_t old_cap = st->index_cap;

    st->test_index = calloc(cap, sizeof(*st->test_index));
    if (!st->test_index) {
      st->test_index = old;
      return -ENOMEM;
    }
    st->index_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
      if (old[i]) *index_slot(st, old[i]->name) = old[i];
    free(old);
  }
  *index_slot(st, t->name) = t;
  return 0;
}

static unsigned section_first_line(struct parser *st, const char *name) {
  const struct section *t;

  if (strcmp(name, "hosts") == 0) return st->hosts_line;
  if (strcmp(name, "global") == 0) return st->global.line;
  if (st->index_cap == 0) return 0;
  t = *index_slot(st, name);
  return t ? t->line : 0;
}

/* A "[name]" line: start a section.  Header syntax is checked here, so
 * inih never sees a header it would reject or truncate. */
static int section_start(struct parser *st, const char *s, size_t len) {
  const char *close = memchr(s, ']', len);
  _cleanup_free_ char *name = NULL;
  struct section *t;
  unsigned first;

  if (!close)
    return fail_plan(st, st->line, NULL, "section header '%.*s' has no closing ']'; write it as [name]",
                     (int)len, s);
  for (const char *p = close + 1; p < s + len && *p != ';' && *p != '#'; p++)
    if (!is_blank(*p))
      return fail_plan(st, st->line, NULL,
                       "unexpected text after ']' in '%.*s'; a section header is only [name]", (int)len, s);
  name = strndup(s + 1, (size_t)(close - s - 1));
  if (!name) return fail_oom(st);
  if (!valid_name(name, strlen(name), "_.-", NAME_MAX_LEN))
    return fail_plan(st, st->line, NULL,
                     "'[%s]' is not a valid section name; use 1 to 63 letters, digits, '_', "
                     "'.' or '-'",
                     name);
  first = section_first_line(st, name);
  if (first)
    return fail_plan(st, st->line, NULL,
                     "section [%s] appears twice (first on line %u); merge them or rename one", name, first);
  if (strcmp(name, "hosts") == 0) {
    st->kind = SECT_HOSTS;
    st->hosts_line = st->line;
    st->cur = NULL;
    return 0;
  }
  if (strcmp(name, "global") == 0) {
    st->kind = SECT_GLOBAL;
    st->global.line = st->line;
    st->global.name = TAKE_PTR(name);
    st->cur = &st->global;
    return 0;
  }
  if (strcasecmp(name, "hosts") == 0 || strcasecmp(name, "global") == 0)
    return fail_plan(st, st->line, NULL, "section names are case-sensitive; did you mean [%s]?",
                     strcasecmp(name, "hosts") == 0 ? "hosts" : "global");
  /* Every test yields at least one point. */
  if (st->n_tests >= IOV_PLAN_MAX_POINTS)
    return fail_plan(st, st->line, NULL, "too many tests; a plan may expand to at most %d points",
                     IOV_PLAN_MAX_POINTS);
  if (grow((void **)&st->tests, &st->cap_tests, st->n_tests + 1, sizeof(*st->tests)) < 0) return fail_oom(st);
  t = calloc(1, sizeof(*t));
  if (!t) return fail_oom(st);
  t->vals = calloc(st->n_keys, sizeof(*t->vals));
  if (!t->vals) {
    free(t);
    return fail_oom(st);
  }
  t->name = TAKE_PTR(name);
  t->line = st->line;
  if (index_add(st, t) < 0) {
    section_free(t, st->n_keys);
    return fail_oom(st);
  }
  st->tests[st->n_tests++] = t;
  st->kind = SECT_TEST;
  st->cur = t;
  return 0;
}

static char *plan_reader(char *buf, int num, void *stream) {
  struct parser *st = stream;
  const char *s, *nl;
  size_t raw, len;

  if (st->error || st->pos >= st->len) return NULL;
  s = st->text + st->pos;
  nl = memchr(s, '\n', st->len - st->pos);
  raw = nl ? (size_t)(nl - s) : st->len - st->pos;
  st->pos += raw + (nl ? 1 : 0);
  st->line++;
  len = raw;
  if (len > 0 && s[len - 1] == '\r') len--;
  /* inih needs room for "\r\n\0" beyond the longest line (see <ini.h>);
   * a longer line would be split silently, so it is an error here. */
  if (num < 4 || len > (size_t)num - 3) {
    fail_plan(st, st->line, NULL,
              "line is %zu characters long, the longest allowed is %d; shorten it "
              "(e.g. split a long sweep over several tests)",
              len, num < 4 ? 0 : num - 3);
    return NULL;
  }
  if (st->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
    s += 3;
    len -= 3;
  }
  while (len > 0 && is_blank(*s)) {
    s++;
    len--;
  }
  if (len > 0 && *s == '[' && section_start(st, s, len) < 0) return NULL;
  memcpy(buf, s, len);
  buf[len] = '\0';
  return buf;
}

/* ---- Expansion ------------------------------------------------------- */

static int build_defaults(struct parser *st) {
  for (size_t k = 0; k < st->n_keys; k++) {
    const struct iov_option *o = &st->keys[k];
    uint64_t v = 0;

    if (!o->def) continue;
    if (o->type == OPT_CUSTOM) {
      int r = o->eng->parse(o->def, &v, NULL, 0);
      assert(r == 0);
      (void)r;
    } else if (types[o->type].parse) {
      int r = types[o->type].parse(o->def, &v);
      /* A bad default is a bug in the table above, not in the plan. */
      assert(r == 0 && v >= o->min && v <= o->max);
      (void)r;
    }
    if (valset_add(&st->defaults[k], o->def, strlen(o->def), v) < 0) return fail_oom(st);
  }
  /* With two hosts the direction is obvious enough to default. */
  if (st->n_hosts == 2) {
    if (valset_add(&st->defaults[K_SENDER], st->hosts[0].name, strlen(st->hosts[0].name), 0) < 0 ||
        valset_add(&st->defaults[K_RECEIVER], st->hosts[1].name, strlen(st->hosts[1].name), 0) < 0)
      return fail_oom(st);
  }
  return 0;
}

static char *known_hosts(struct parser *st) { return join_names(st->n_hosts, get_host, st->hosts); }

/* Build the sweep text "key=value key=value" of one point. */
static char *sweep_text(const struct parser *st, const struct valset *const *vs, const size_t *idx) {
  size_t len = 1, off = 0;
  char *s;

  for (size_t k = 0; k < st->n_keys; k++)
    if (vs[k]->n > 1) len += strlen(st->keys[k].name) + strlen(vs[k]->text[idx[k]]) + 2;
  s = malloc(len);
  if (!s) return NULL;
  s[0] = '\0';
  for (size_t k = 0; k < st->n_keys; k++)
    if (vs[k]->n > 1)
      off += (size_t)snprintf(s + off, len - off, "%s%s=%s", off ? " " : "", st->keys[k].name,
                              vs[k]->text[idx[k]]);
  return s;
}

static bool is_udp(const struct parser *st, const char *workload) {
  const struct iov_plan_workload *w = find_workload(st, workload);
  return w && w->udp;
}

/* "tcp_rr, udp_rr": the workloads that declare 'key'; NULL on OOM. */
static char *engines_with(const struct parser *st, const char *key) {
  const char *names[IOV_PLAN_MAX_ENGINE_KEYS];
  size_t n = 0;
  for (size_t i = 0; i < st->n_workloads && n < ELEMENTSOF(names); i++)
    if (iov_engine_opt_find(st->workloads[i].opts, key)) names[n++] = st->workloads[i].name;
  return join_names(n, get_name, names);
}

/* The index of engine key 'name' in the parser's keys, or n_keys. */
static size_t engine_key(const struct parser *st, const char *name) {
  size_t k = _K_MAX;
  while (k < st->n_keys && strcmp(st->keys[k].name, name) != 0) k++;
  return k;
}

/* The point's engine settings: each of its engine's keys, with the
 * plan's value (checked against this engine's range) or its default. */
static int point_settings(struct parser *st, const struct valset *const *vs, const size_t *idx,
                          struct iov_plan_point *pt) {
  const struct iov_plan_workload *w = find_workload(st, pt->p.workload);
  size_t n = 0;

  while (w && w->opts && w->opts[n].name) n++;
  if (n == 0) return 0;
  pt->p.settings = calloc(n, sizeof(*pt->p.settings));
  if (!pt->p.settings) return fail_oom(st);
  for (size_t i = 0; i < n; i++) {
    const struct iov_engine_opt *o = &w->opts[i];
    size_t k = engine_key(st, o->name);
    uint64_t v = o->def;
    if (k < st->n_keys && vs[k] != &st->defaults[k]) {
      char why[160];
      v = vs[k]->num[idx[k]];
      if (iov_engine_opt_check(o, v, why, sizeof(why)) < 0)
        return fail_plan(st, vs[k]->line ? vs[k]->line : pt->line, o->name, "%s for %s", why, w->name);
    }
    pt->p.settings[pt->p.n_settings++] = (struct iov_plan_setting){ .opt = o, .value = v };
  }
  return 0;
}

/* frame_size against msg_size, and both against what the engine and the
 * address family can carry.  The test's own section beats [global]: a
 * frame_size from [global] gives way to a test's msg_size (the point's
 * frame_size becomes 0) and the other way round; both set at the same
 * level is an error.  The family is known at plan time only for
 * host-host points whose receiver has an IPv6 literal as data address;
 * otherwise IPv4's headers, the smallest, are assumed and the engine
 * refuses at run time what the real family cannot carry. */
static int check_frame(struct parser *st, const struct section *t, const struct valset *const *vs,
                       struct iov_plan_point *pt) {
  const struct iov_plan_workload *w = find_workload(st, pt->p.workload);
  uint64_t min_msg = w ? w->min_msg_size : 0, frame = 0;
  struct iov_plan_setting *fs = NULL;
  size_t kf = engine_key(st, "frame_size");

  for (size_t i = 0; i < pt->p.n_settings; i++)
    if (strcmp(pt->p.settings[i].opt->name, "frame_size") == 0) fs = &pt->p.settings[i];
  if (fs) frame = fs->value;
  bool msg_set = vs[K_MSG_SIZE] != &st->defaults[K_MSG_SIZE];
  if (frame && msg_set && kf < st->n_keys && vs[kf] != &st->defaults[kf]) {
    bool frame_here = t->vals[kf].line != 0, msg_here = t->vals[K_MSG_SIZE].line != 0;
    unsigned fl = vs[kf]->line, ml = vs[K_MSG_SIZE]->line;
    if (frame_here == msg_here)
      return fail_plan(st, fl > ml ? fl : ml, fl > ml ? "frame_size" : "msg_size",
                       "test '%s' sets frame_size (line %u) and msg_size (line %u): set frame_size or "
                       "msg_size, not both",
                       t->name, fl, ml);
    if (msg_here) frame = fs->value = 0;
  }
  if (!frame) {
    if (min_msg && pt->p.msg_size < min_msg)
      return fail_plan(st, vs[K_MSG_SIZE]->line ? vs[K_MSG_SIZE]->line : t->line, "msg_size",
                       "msg_size %" PRIu64 " is below %s's minimum of %" PRIu64 " bytes (its %s header)",
                       pt->p.msg_size, pt->p.workload, min_msg, w && w->udp ? "datagram" : "message");
    return 0;
  }
  int family = AF_INET;
  const struct iov_plan_host *rcv = find_host(st->hosts, st->n_hosts, pt->p.receiver);
  if (pt->p.topo == IOV_TOPO_HOST_HOST && rcv && rcv->data_addr && is_ipv6(rcv->data_addr)) family = AF_INET6;
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  size_t np = iov_frame_parts(frame, parts);
  if (min_msg == 0) min_msg = 1;
  for (size_t i = 0; i < np; i++) {
    int payload = iov_frame_payload(parts[i].size, family);
    if (payload < 0 || (uint64_t)payload < min_msg)
      return fail_plan(st, vs[kf]->line ? vs[kf]->line : t->line, "frame_size",
                       "test '%s': a %u-byte %s frame carries %d bytes of UDP payload, and %s needs %" PRIu64
                       " (its datagram header); use frames of %u bytes or more%s%s%s",
                       t->name, parts[i].size, family == AF_INET6 ? "IPv6" : "IPv4",
                       (int)parts[i].size - (int)iov_frame_overhead(family), pt->p.workload, min_msg,
                       iov_frame_min(family, (unsigned)min_msg), family == AF_INET6 ? " (receiver '" : "",
                       family == AF_INET6 ? rcv->name : "",
                       family == AF_INET6 ? "' has an IPv6 data address)" : "");
  }
  return 0;
}

static int check_point(struct parser *st, const struct section *t, const struct valset *const *vs,
                       const struct iov_plan_point *pt) {
  char a[32], b[32];
  enum iov_topology topo = pt->p.topo;
  unsigned topo_line = vs[K_TOPOLOGY]->line ? vs[K_TOPOLOGY]->line : t->line;

  enum iov_path path = pt->p.path_id;
  unsigned path_line = vs[K_PATH]->line ? vs[K_PATH]->line : t->line;
  if (path == IOV_PATH_NATIVE && topo != IOV_TOPO_HOST_HOST)
    return fail_plan(st, path_line, "path",
                     "test '%s': path native measures the hosts' own NICs, but topology %s uses VMs; "
                     "set topology = host-host, or path to sriov, virtio or existing",
                     t->name, pt->p.topology);
  if ((path == IOV_PATH_SRIOV || path == IOV_PATH_VIRTIO || path == IOV_PATH_EXISTING) &&
      topo == IOV_TOPO_HOST_HOST)
    return fail_plan(st, path_line, "path",
                     "test '%s': path %s needs VMs, but topology host-host has none; set topology to "
                     "vm-vm-cross, vm-vm-same or many-to-one",
                     t->name, pt->p.path);
  if (path == IOV_PATH_SRIOV || path == IOV_PATH_VIRTIO) {
    /* Started VMs need a host agent that can start them. */
    const char *hn[2] = { pt->p.sender, pt->p.receiver };
    unsigned need[2];
    iov_topology_guests(topo, pt->p.vms, &need[0], &need[1]);
    for (int side = 0; side < 2; side++) {
      struct iov_plan_host *h = find_host(st->hosts, st->n_hosts, hn[side]);
      if (need[side] && h && h->local)
        return fail_plan(st, path_line, "path",
                         "test '%s': host '%s' is local, and local hosts simulate VMs with network "
                         "namespaces; path %s needs a host agent that starts VMs through libvirt (give "
                         "'%s' its agent's endpoint), or use path = existing",
                         t->name, h->name, pt->p.path, h->name);
    }
  }
  if (topo == IOV_TOPO_HOST_HOST && pt->p.vms != 1)
    return fail_plan(st, vs[K_VMS]->line ? vs[K_VMS]->line : t->line, "vms",
                     "test '%s' has vms = %" PRIu64 " but topology host-host has no VMs; set topology to "
                     "vm-vm-cross, vm-vm-same or many-to-one",
                     t->name, pt->p.vms);
  if (topo == IOV_TOPO_VM_VM_SAME) {
    if (strcmp(pt->p.sender, pt->p.receiver) != 0)
      return fail_plan(st, vs[K_RECEIVER]->line ? vs[K_RECEIVER]->line : topo_line, "receiver",
                       "test '%s' is vm-vm-same: both ends are VMs on host '%s'; leave receiver out or set "
                       "it to '%s'",
                       t->name, pt->p.sender, pt->p.sender);
  } else if (topo == IOV_TOPO_HOST_HOST && strcmp(pt->p.sender, pt->p.receiver) == 0) {
    unsigned line = vs[K_RECEIVER]->line ? vs[K_RECEIVER]->line
                    : vs[K_SENDER]->line ? vs[K_SENDER]->line
                                         : t->line;
    const char *key = vs[K_RECEIVER]->line || !vs[K_SENDER]->line ? "receiver" : "sender";
    return fail_plan(st, line, key,
                     "test '%s' would send from host '%s' to itself; sender and receiver must "
                     "be different hosts (or use a VM topology such as vm-vm-same)",
                     t->name, pt->p.sender);
  }
  /* Guests the point needs; a local host gets what it needs unless
   * NAME.guests says otherwise.  VMs the host agents start for a point
   * (path sriov, virtio) come and go with it: nobody waits for them. */
  unsigned need[2];
  iov_topology_guests(topo, pt->p.vms, &need[0], &need[1]);
  if (path == IOV_PATH_SRIOV || path == IOV_PATH_VIRTIO) need[0] = need[1] = 0;
  for (int side = 0; side < 2; side++) {
    if (!need[side]) continue;
    struct iov_plan_host *h = find_host(st->hosts, st->n_hosts, side ? pt->p.receiver : pt->p.sender);
    unsigned total = need[side];
    if (side == 1 && strcmp(pt->p.sender, pt->p.receiver) == 0) total += need[0];
    if (total > IOV_PLAN_MAX_GUESTS)
      return fail_plan(st, vs[K_VMS]->line ? vs[K_VMS]->line : t->line, "vms",
                       "test '%s' needs %u guests on host '%s', more than the %d a host may have", t->name,
                       total, h->name, IOV_PLAN_MAX_GUESTS);
    if (h->guests_needed < total) h->guests_needed = total;
  }
  /* A UDP datagram carries at most 65507 bytes (IPv4); the engines would
   * only find out with EMSGSIZE at run time. */
  uint64_t frame = 0;
  iov_plan_setting_get(&pt->p, "frame_size", &frame);
  if (is_udp(st, pt->p.workload) && ((!frame && pt->p.msg_size > 65507) || pt->p.response_size > 65507)) {
    bool req = !frame && pt->p.msg_size > 65507;
    unsigned line = req ? (vs[K_MSG_SIZE]->line ? vs[K_MSG_SIZE]->line : t->line)
                        : (vs[K_RESPONSE_SIZE]->line ? vs[K_RESPONSE_SIZE]->line : t->line);
    return fail_plan(st, line, req ? "msg_size" : "response_size",
                     "test '%s' runs %s, and a UDP datagram carries at most 65507 bytes; set %s to 65507 "
                     "or less",
                     t->name, pt->p.workload, req ? "msg_size" : "response_size");
  }
  /* The kernel takes VF limits in Mbit/s: anything else would be rounded
   * off without a word (50 is 50 bit/s, not 50 Mbit/s). */
  if (pt->p.vf_rate % 1000000) {
    unsigned line = vs[K_VF_RATE]->line ? vs[K_VF_RATE]->line : t->line;
    return fail_plan(
        st, line, "vf_rate",
        "test '%s': vf_rate is %" PRIu64 " bit/s, but a VF's limit is set in whole Mbit/s; write "
        "it with a unit, e.g. vf_rate = %" PRIu64 "M",
        t->name, pt->p.vf_rate, pt->p.vf_rate < 1000000 ? pt->p.vf_rate : pt->p.vf_rate / 1000000);
  }
  if (pt->p.sample_interval > pt->p.duration) {
    iov_format_duration(a, sizeof(a), pt->p.sample_interval);
    iov_format_duration(b, sizeof(b), pt->p.duration);
    if (vs[K_SAMPLE_INTERVAL]->line)
      return fail_plan(st, vs[K_SAMPLE_INTERVAL]->line, "sample_interval",
                       "sample_interval %s is longer than duration %s in test '%s'; make "
                       "sample_interval at most the duration",
                       a, b, t->name);
    return fail_plan(st, vs[K_DURATION]->line ? vs[K_DURATION]->line : t->line, "duration",
                     "duration %s is shorter than the sample_interval %s in test '%s'; "
                     "lengthen the test or set a shorter sample_interval",
                     b, a, t->name);
  }
  return 0;
}

static int expand_test(struct parser *st, const struct section *t) {
  const struct valset *vs[MAX_KEYS];
  size_t idx[MAX_KEYS] = { 0 };
  uint64_t count = 1;

  for (size_t k = 0; k < st->n_keys; k++)
    vs[k] = t->vals[k].line ? &t->vals[k] : st->global.vals[k].line ? &st->global.vals[k] : &st->defaults[k];

  if (vs[K_WORKLOAD]->n == 0) {
    if (st->workloads) {
      _cleanup_free_ char *known = join_names(st->n_workloads, get_workload, st->workloads);
      if (!known) return fail_oom(st);
      return fail_plan(st, t->line, "workload",
                       "test '%s' has no workload; add 'workload = NAME' to [%s] or [global] "
                       "(known: %s)",
                       t->name, t->name, known);
    }
    return fail_plan(st, t->line, "workload",
                     "test '%s' has no workload; add 'workload = NAME' to [%s] or [global]", t->name,
                     t->name);
  }
  /* vm-vm-same runs on the sender's host: no receiver to name, and a
   * default one does not apply. */
  bool all_same = true;
  for (size_t i = 0; i < vs[K_TOPOLOGY]->n; i++)
    all_same = all_same && iov_topology_from_string(vs[K_TOPOLOGY]->text[i]) == IOV_TOPO_VM_VM_SAME;
  static char *same_text[] = { "" };
  static uint64_t same_num[] = { 0 };
  static const struct valset same_host = { .n = 1, .text = same_text, .num = same_num };
  /* A receiver from [global] (meant for the other tests) does not apply. */
  if (all_same && !t->vals[K_RECEIVER].line) vs[K_RECEIVER] = &same_host;
  for (size_t k = K_SENDER; k <= K_RECEIVER; k++) {
    if (vs[k] == &same_host) continue;
    if (vs[k]->n == 0)
      return fail_plan(st, t->line, options[k].name,
                       "test '%s' has no %s; [hosts] names %zu host%s, so say which one with "
                       "'%s = NAME' in [%s] or [global]",
                       t->name, options[k].name, st->n_hosts, st->n_hosts == 1 ? "" : "s", options[k].name,
                       t->name);
    if (vs[k] == &st->global.vals[k]) {
      if (st->global_hosts_checked[k]) continue;
      st->global_hosts_checked[k] = true;
    }
    for (size_t i = 0; i < vs[k]->n; i++)
      if (!find_host(st->hosts, st->n_hosts, vs[k]->text[i])) {
        _cleanup_free_ char *known = known_hosts(st);
        if (!known) return fail_oom(st);
        return fail_plan(st, vs[k]->line ? vs[k]->line : t->line, options[k].name,
                         "no host '%s' in [hosts] (known: %s)", vs[k]->text[i], known);
      }
  }

  /* An engine's key set in the test belongs to one of its workloads. */
  for (size_t k = _K_MAX; k < st->n_keys; k++) {
    if (!t->vals[k].line) continue;
    bool any = !st->workloads;
    for (size_t i = 0; i < vs[K_WORKLOAD]->n && !any; i++) {
      const struct iov_plan_workload *w = find_workload(st, vs[K_WORKLOAD]->text[i]);
      any = w && iov_engine_opt_find(w->opts, st->keys[k].name);
    }
    if (!any) {
      _cleanup_free_ char *owners = engines_with(st, st->keys[k].name);
      if (!owners) return fail_oom(st);
      return fail_plan(st, t->vals[k].line, st->keys[k].name,
                       "test '%s' runs no workload that has this setting (it belongs to %s)", t->name,
                       owners);
    }
  }

  /* The product of the sweeps, checked against the cap as it grows so it
   * cannot overflow. */
  for (size_t k = 0; k < st->n_keys; k++) {
    uint64_t room = IOV_PLAN_MAX_POINTS - st->n_points;
    if (count > room / vs[k]->n || count * vs[k]->n > room)
      return fail_plan(st, t->line, NULL,
                       "test '%s' sweeps too many combinations: the plan would have more than "
                       "%d points; sweep fewer values or split the plan",
                       t->name, IOV_PLAN_MAX_POINTS);
    count *= vs[k]->n;
  }

  {
    struct iov_plan_point *pts = realloc(st->points, (st->n_points + (size_t)count) * sizeof(*st->points));
    if (!pts) return fail_oom(st);
    st->points = pts;
  }
  for (uint64_t i = 0; i < count; i++) {
    struct iov_plan_point *pt = &st->points[st->n_points];
    int r;

    /* Counted before it is filled, so a failure frees what was set. */
    *pt = (struct iov_plan_point){ .line = t->line, .index = (unsigned)st->n_points };
    st->n_points++;
    pt->test = strdup(t->name);
    pt->sweep = sweep_text(st, vs, idx);
    if (!pt->test || !pt->sweep) return fail_oom(st);
    for (size_t k = 0; k < _K_MAX; k++) {
      void *field = (char *)&pt->p + options[k].offset;
      if (is_text(options[k].type)) {
        /* An empty receiver: the sender's host (vm-vm-same). */
        char *s = strdup(k == K_RECEIVER && !*vs[k]->text[idx[k]] ? pt->p.sender : vs[k]->text[idx[k]]);
        if (!s) return fail_oom(st);
        *(char **)field = s;
      } else {
        *(uint64_t *)field = vs[k]->num[idx[k]];
      }
    }
    pt->p.topo = iov_topology_from_string(pt->p.topology);
    pt->p.path_id = iov_path_from_string(pt->p.path);
    pt->p.on_error_id = iov_on_error_from_string(pt->p.on_error);
    r = point_settings(st, vs, idx, pt);
    if (r < 0) return r;
    /* 64k is a TCP default; a UDP datagram that size cannot be sent. */
    if (vs[K_MSG_SIZE] == &st->defaults[K_MSG_SIZE] && is_udp(st, pt->p.workload)) pt->p.msg_size = 1472;
    r = check_frame(st, t, vs, pt);
    if (r < 0) return r;
    r = check_point(st, t, vs, pt);
    if (r < 0) return r;
    /* Odometer: the last key varies fastest. */
    for (size_t k = st->n_keys; k-- > 0;) {
      if (++idx[k] < vs[k]->n) break;
      idx[k] = 0;
    }
  }
  return 0;
}

static int finish(struct parser *st) {
  int r;

  if (!st->hosts_line)
    return fail_plan(st, 0, NULL,
                     "the plan has no [hosts] section; add one naming the agents, e.g. "
                     "'[hosts]' then 'a = 198.18.0.1'");
  if (st->n_hosts == 0)
    return fail_plan(st, st->hosts_line, NULL, "[hosts] names no host; add lines such as 'a = 198.18.0.1'");
  for (size_t i = 0; i < st->n_data; i++) {
    struct iov_plan_host *h = find_host(st->hosts, st->n_hosts, st->data[i].name);
    if (!h) {
      _cleanup_free_ char *key = NULL;
      if (asprintf(&key, "%s.%s", st->data[i].name, host_setting_names[st->data[i].what]) < 0)
        return fail_oom(st);
      return fail_plan(st, st->data[i].line, key, "no host '%s' in [hosts]; define it with '%s = ENDPOINT'",
                       st->data[i].name, st->data[i].name);
    }
    if (st->data[i].what == HS_GUESTS) {
      h->guests = st->data[i].guests;
      h->guests_set = true;
      continue;
    }
    if (st->data[i].what == HS_KEY) {
      free(h->key);
      h->key = TAKE_PTR(st->data[i].addr);
      continue;
    }
    if (st->data[i].what == HS_PLAINTEXT) {
      h->plaintext = st->data[i].guests != 0;
      continue;
    }
    if (st->data[i].what == HS_GUEST_DATA) {
      r = guest_data_apply(h, st->data[i].addr);
      if (r < 0) return fail_oom(st);
      continue;
    }
    free(h->data_addr);
    h->data_addr = TAKE_PTR(st->data[i].addr);
  }
  if (st->n_tests == 0)
    return fail_plan(st, 0, NULL,
                     "the plan has no tests; add a section such as '[latency]' with "
                     "'workload = tcp_rr'");
  r = build_defaults(st);
  if (r < 0) return r;
  for (size_t i = 0; i < st->n_tests; i++) {
    r = expand_test(st, st->tests[i]);
    if (r < 0) return r;
  }
  /* Agents learn the heartbeat once, when coord says hello. */
  for (size_t i = 1; i < st->n_points; i++)
    if (st->points[i].p.heartbeat != st->points[0].p.heartbeat) {
      char a[32], b[32];
      iov_format_duration(a, sizeof(a), st->points[0].p.heartbeat);
      iov_format_duration(b, sizeof(b), st->points[i].p.heartbeat);
      return fail_plan(st, st->points[i].line, "heartbeat",
                       "test '%s' sets heartbeat = %s, but test '%s' has %s: there is one heartbeat for the "
                       "whole run; set it in [global]",
                       st->points[i].test, b, st->points[0].test, a);
    }
  for (size_t i = 0; i < st->n_hosts; i++) {
    struct iov_plan_host *h = &st->hosts[i];
    if (h->guests_set && h->local && h->guests < h->guests_needed) {
      _cleanup_free_ char *key = NULL;
      if (asprintf(&key, "%s.guests", h->name) < 0) return fail_oom(st);
      return fail_plan(
          st, h->line, key,
          "local host '%s' gets %u simulated VMs but the plan needs %u on it; raise %s.guests or "
          "leave it out",
          h->name, h->guests, h->guests_needed, h->name);
    }
    if (!h->guests_set) h->guests = h->guests_needed;
    if (h->plaintext && h->key) {
      _cleanup_free_ char *key = NULL;
      if (asprintf(&key, "%s.plaintext", h->name) < 0) return fail_oom(st);
      return fail_plan(st, h->line, key,
                       "host '%s' pins a key (%s.key) and allows plaintext: a pinned key always wins, so "
                       "plaintext would be refused; keep one of the two",
                       h->name, h->name);
    }
  }
  return 0;
}

/* ---- Entry points ---------------------------------------------------- */

/* "FILE:LINE: key 'K': message" (parts left out when absent) into err. */
static int error_out(int error, char *err, size_t errlen, const char *file, unsigned line, const char *key,
                     const char *message) {
  char where[512] = "";
  if (file && line)
    snprintf(where, sizeof(where), "%s:%u: ", file, line);
  else if (file)
    snprintf(where, sizeof(where), "%s: ", file);
  else if (line)
    snprintf(where, sizeof(where), "line %u: ", line);
  return iov_errf(error, err, errlen, "%s%s%s%s%s", where, key ? "key '" : "", key ? key : "",
                  key ? "': " : "", message ? message : iov_strerror(error));
}

/* The keys of this parser: the common table, then each distinct key the
 * workloads declare, in the order first met.  A key two engines declare
 * has one type; its range is the widest (each point checks its own
 * engine's).  -EINVAL for a table that breaks these rules. */
static int keys_init(struct parser *st, char *err, size_t errlen) {
  memcpy(st->keys, options, sizeof(options));
  st->n_keys = _K_MAX;
  for (size_t i = 0; st->workloads && st->workloads[i].name; i++) {
    st->n_workloads++;
    for (const struct iov_engine_opt *o = st->workloads[i].opts; o && o->name; o++) {
      size_t k = 0;
      while (k < st->n_keys && strcmp(st->keys[k].name, o->name) != 0) k++;
      if (k < _K_MAX || o->type >= _IOV_OPT_TYPE_MAX || o->def < o->min || o->def > o->max ||
          (o->type == IOV_OPT_CUSTOM && (!o->parse || !o->format)))
        return iov_errf(-EINVAL, err, errlen,
                        "engine %s: setting '%s' clashes with a common key or is out of its own range",
                        st->workloads[i].name, o->name);
      if (k < st->n_keys) {
        struct iov_option *have = &st->keys[k];
        if (have->eng->type != o->type || have->eng->parse != o->parse || have->eng->format != o->format)
          return iov_errf(-EINVAL, err, errlen, "engines %s and another declare setting '%s' with two types",
                          st->workloads[i].name, o->name);
        if (o->min < have->min) have->min = o->min;
        if (o->max > have->max) have->max = o->max;
        have->no_sweep = have->no_sweep && !o->sweepable;
        continue;
      }
      if (st->n_keys >= MAX_KEYS)
        return iov_errf(-EINVAL, err, errlen, "the engines declare more than %d settings",
                        IOV_PLAN_MAX_ENGINE_KEYS);
      char *def = st->key_defs[k - _K_MAX];
      iov_engine_opt_format(o, o->def, def, sizeof(st->key_defs[0]));
      st->keys[st->n_keys++] = (struct iov_option){ .name = o->name,
                                                    .type = eng_types[o->type],
                                                    .def = def,
                                                    .min = o->min,
                                                    .max = o->max,
                                                    .help = o->help,
                                                    .eng = o,
                                                    .no_sweep = !o->sweepable };
    }
  }
  return 0;
}

/* Text of line 'line' (1-based), for inih's syntax errors. */
static void line_text(const char *text, size_t len, unsigned line, const char **ret, int *ret_len) {
  const char *p = text, *end = text + len, *nl;

  for (unsigned i = 1; i < line && p < end; i++) {
    nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  nl = memchr(p, '\n', (size_t)(end - p));
  *ret = p;
  *ret_len = (int)((nl ? nl : end) - p);
  while (*ret_len > 0 && is_blank(**ret)) {
    (*ret)++;
    (*ret_len)--;
  }
  while (*ret_len > 0 && is_blank((*ret)[*ret_len - 1])) (*ret_len)--;
  if (*ret_len > 60) *ret_len = 60;
}

/* Parse 'text' (len bytes, NUL-terminated, owned: stored in the plan). */
static int plan_parse_owned(char *text, size_t len, const char *file,
                            const struct iov_plan_workload *workloads, struct iov_plan **ret, char *err,
                            size_t errlen) {
  struct parser st = { .file = file, .workloads = workloads, .text = text, .len = len };
  struct iov_plan *p = NULL;
  int r;

  r = keys_init(&st, err, errlen);
  if (r == 0 && !(st.global.vals = calloc(st.n_keys, sizeof(*st.global.vals)))) r = -ENOMEM;
  if (r < 0) {
    if (r == -ENOMEM) error_out(r, err, errlen, file, 0, NULL, "out of memory");
    parser_done(&st);
    free(text);
    return r;
  }
  r = ini_parse_stream(plan_reader, &st, plan_handler, &st);
  if (r == -2 && !st.error) fail_oom(&st);
  /* inih does not stop at errors, but our reader stops at ours: an inih
   * error on an earlier line is the first one. */
  if (r > 0 && (!st.error || (unsigned)r < st.err_line)) {
    const char *lt;
    int ll;

    free(st.err_key);
    free(st.err_msg);
    st.err_key = st.err_msg = NULL;
    st.error = 0;
    line_text(text, len, (unsigned)r, &lt, &ll);
    fail_plan(&st, (unsigned)r, NULL,
              "cannot parse '%.*s': expected 'key = value', a [section] header or a comment", ll, lt);
  }
  r = st.error;
  if (r == 0) r = finish(&st);
  if (r == 0) {
    p = calloc(1, sizeof(*p));
    if (!p || !(p->path = strdup(file))) r = fail_oom(&st);
  }
  if (r < 0) {
    iov_debug(IOV_DBG_PLAN, "%s:%u: plan error: %s", file, st.err_line,
              st.err_msg ? st.err_msg : iov_strerror(r));
    error_out(r, err, errlen, file, st.err_line, st.err_key, st.err_msg);
    free(p ? p->path : NULL);
    free(p);
    parser_done(&st);
    free(text);
    return r;
  }
  p->text = text;
  p->hosts = TAKE_PTR(st.hosts);
  p->n_hosts = st.n_hosts;
  st.n_hosts = 0;
  p->points = TAKE_PTR(st.points);
  p->n_points = st.n_points;
  st.n_points = 0;
  parser_done(&st);
  *ret = p;
  return 0;
}

#define plan_fail_early(file, error, reterr, line, ...) \
  plan_fail_early_(file, error, reterr, reterrlen, line, __VA_ARGS__)
static int plan_fail_early_(const char *file, int error, char *err, size_t errlen, unsigned line,
                            const char *fmt, ...) _printf_(6, 7);

static int plan_fail_early_(const char *file, int error, char *err, size_t errlen, unsigned line,
                            const char *fmt, ...) {
  va_list ap;
  char msg[512];

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return error_out(error, err, errlen, file, line, NULL, msg);
}

int iov_plan_parse(const char *text, const char *name, const struct iov_plan_workload *workloads,
                   struct iov_plan **ret, char *reterr, size_t reterrlen) {
  size_t len;
  char *copy;

  if (!name) name = "(plan)";
  if (!text) return plan_fail_early(name, -EINVAL, reterr, 0, "no plan text");
  len = strnlen(text, IOV_PLAN_MAX_SIZE + 1);
  if (len > IOV_PLAN_MAX_SIZE)
    return plan_fail_early(name, -IOV_E_PLAN, reterr, 0,
                           "plan is larger than %d bytes; split it into several plans", IOV_PLAN_MAX_SIZE);
  copy = strndup(text, len);
  if (!copy) return plan_fail_early(name, -ENOMEM, reterr, 0, "out of memory");
  return plan_parse_owned(copy, len, name, workloads, ret, reterr, reterrlen);
}

/* Read at most IOV_PLAN_MAX_SIZE + 1 bytes, so the size limit holds for
 * pipes and growing files too. */
static int read_all(int fd, char **ret, size_t *ret_len) {
  size_t len = 0, cap = 0;
  char *buf = NULL;

  for (;;) {
    ssize_t n;

    if (cap - len <= 1) {
      size_t ncap = cap ? cap * 2 : 16384;
      char *nb;
      if (ncap > IOV_PLAN_MAX_SIZE + 2) ncap = IOV_PLAN_MAX_SIZE + 2;
      if (ncap <= len) {
        free(buf);
        return -EFBIG;
      }
      nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        return -ENOMEM;
      }
      buf = nb;
      cap = ncap;
    }
    n = read(fd, buf + len, cap - len - 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      free(buf);
      return -errno;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len > IOV_PLAN_MAX_SIZE) {
      free(buf);
      return -EFBIG;
    }
  }
  if (!buf) {
    buf = malloc(1);
    if (!buf) return -ENOMEM;
  }
  buf[len] = '\0';
  *ret = buf;
  *ret_len = len;
  return 0;
}

int iov_plan_load(const char *path, const struct iov_plan_workload *workloads, struct iov_plan **ret,
                  char *reterr, size_t reterrlen) {
  char *text = NULL;
  const char *nul;
  size_t len = 0;
  int fd, r;

  if (!path) return plan_fail_early("(plan)", -EINVAL, reterr, 0, "no plan file given");
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    r = -errno;
    return plan_fail_early(path, r, reterr, 0, "cannot read plan: %s", iov_strerror(r));
  }
  r = read_all(fd, &text, &len);
  close(fd);
  if (r == -EFBIG)
    return plan_fail_early(path, -IOV_E_PLAN, reterr, 0,
                           "plan is larger than %d bytes; split it into several plans", IOV_PLAN_MAX_SIZE);
  if (r < 0) return plan_fail_early(path, r, reterr, 0, "cannot read plan: %s", iov_strerror(r));
  nul = memchr(text, '\0', len);
  if (nul) {
    unsigned line = 1;
    for (const char *p = text; p < nul; p++) line += *p == '\n';
    free(text);
    return plan_fail_early(path, -IOV_E_PLAN, reterr, line,
                           "the plan contains a NUL byte; a plan is a text file");
  }
  return plan_parse_owned(text, len, path, workloads, ret, reterr, reterrlen);
}

struct iov_plan *iov_plan_free(struct iov_plan *p) {
  if (!p) return NULL;
  for (size_t i = 0; p->hosts && i < p->n_hosts; i++) host_done(&p->hosts[i]);
  free(p->hosts);
  for (size_t i = 0; p->points && i < p->n_points; i++) point_done(&p->points[i]);
  free(p->points);
  free(p->path);
  free(p->text);
  free(p);
  return NULL;
}

bool iov_plan_setting_get(const struct iov_point_params *p, const char *key, uint64_t *ret) {
  for (size_t i = 0; p && key && i < p->n_settings; i++)
    if (strcmp(p->settings[i].opt->name, key) == 0) {
      if (ret) *ret = p->settings[i].value;
      return true;
    }
  return false;
}

const struct iov_engine_opt *iov_engine_opt_find(const struct iov_engine_opt *opts, const char *name) {
  for (; opts && opts->name && name; opts++)
    if (strcmp(opts->name, name) == 0) return opts;
  return NULL;
}

const char *iov_engine_opt_format(const struct iov_engine_opt *o, uint64_t v, char *buf, size_t n) {
  if (o && o->type == IOV_OPT_CUSTOM && o->format) return o->format(v, buf, n);
  if (!o || o->type >= _IOV_OPT_TYPE_MAX || o->type == IOV_OPT_CUSTOM) {
    snprintf(buf, n, "%" PRIu64, v);
    return buf;
  }
  return types[eng_types[o->type]].format(buf, n, v);
}

int iov_engine_opt_check(const struct iov_engine_opt *o, uint64_t v, char *err, size_t errlen) {
  char a[64], lo[64], hi[64];
  if (o->type == IOV_OPT_CUSTOM) {
    /* A value from the wire is valid when its text parses back to it. */
    uint64_t back;
    iov_engine_opt_format(o, v, a, sizeof(a));
    if (v >= o->min && v <= o->max && o->parse && o->parse(a, &back, NULL, 0) == 0 && back == v) return 0;
    return iov_errf(-EINVAL, err, errlen, "'%s' is not a valid value", a);
  }
  if (v >= o->min && v <= o->max) return 0;
  return iov_errf(-ERANGE, err, errlen, "'%s' is out of range; use %s..%s",
                  iov_engine_opt_format(o, v, a, sizeof(a)), iov_engine_opt_format(o, o->min, lo, sizeof(lo)),
                  iov_engine_opt_format(o, o->max, hi, sizeof(hi)));
}

static const char *const on_error_names[_IOV_ON_ERROR_MAX] = {
  [IOV_ON_ERROR_CONTINUE] = "continue",
  [IOV_ON_ERROR_STOP] = "stop",
};

const char *iov_on_error_to_string(enum iov_on_error e) {
  return e >= 0 && e < _IOV_ON_ERROR_MAX ? on_error_names[e] : NULL;
}

enum iov_on_error iov_on_error_from_string(const char *s) {
  for (int e = 0; s && e < _IOV_ON_ERROR_MAX; e++)
    if (strcmp(s, on_error_names[e]) == 0) return (enum iov_on_error)e;
  return _IOV_ON_ERROR_INVALID;
}

static const char *const topology_names[_IOV_TOPO_MAX] = {
  [IOV_TOPO_HOST_HOST] = "host-host",
  [IOV_TOPO_VM_VM_CROSS] = "vm-vm-cross",
  [IOV_TOPO_VM_VM_SAME] = "vm-vm-same",
  [IOV_TOPO_MANY_TO_ONE] = "many-to-one",
};

const char *iov_topology_to_string(enum iov_topology t) {
  return t >= 0 && t < _IOV_TOPO_MAX ? topology_names[t] : NULL;
}

enum iov_topology iov_topology_from_string(const char *s) {
  for (int t = 0; s && t < _IOV_TOPO_MAX; t++)
    if (strcmp(s, topology_names[t]) == 0) return (enum iov_topology)t;
  return _IOV_TOPO_INVALID;
}

static const char *const path_names[_IOV_PATH_MAX] = {
  [IOV_PATH_AUTO] = "auto",     [IOV_PATH_NATIVE] = "native",     [IOV_PATH_SRIOV] = "sriov",
  [IOV_PATH_VIRTIO] = "virtio", [IOV_PATH_EXISTING] = "existing",
};

const char *iov_path_to_string(enum iov_path p) { return p >= 0 && p < _IOV_PATH_MAX ? path_names[p] : NULL; }

enum iov_path iov_path_from_string(const char *s) {
  for (int p = 0; s && p < _IOV_PATH_MAX; p++)
    if (strcmp(s, path_names[p]) == 0) return (enum iov_path)p;
  return _IOV_PATH_INVALID;
}

void iov_topology_guests(enum iov_topology t, uint64_t vms, unsigned *ret_sender, unsigned *ret_receiver) {
  unsigned n = (unsigned)vms;
  *ret_sender = *ret_receiver = 0;
  switch (t) {
  case IOV_TOPO_VM_VM_CROSS: *ret_sender = *ret_receiver = n; break;
  case IOV_TOPO_VM_VM_SAME: *ret_sender = 2 * n; break;
  case IOV_TOPO_MANY_TO_ONE: *ret_sender = n; break;
  default: break;
  }
}

const struct iov_plan_host *iov_plan_host_find(const struct iov_plan *p, const char *name) {
  if (!p || !name) return NULL;
  return find_host(p->hosts, p->n_hosts, name);
}

/* Print text indented by 'indent' and wrapped at 'width' columns. */
static void print_wrapped(FILE *f, const char *text, int indent, int width) {
  const char *p = text;
  int col = 0;

  while (*p) {
    int wl = (int)strcspn(p, " ");

    if (col > 0 && col + 1 + wl > width) {
      fputc('\n', f);
      col = 0;
    }
    if (col == 0)
      col = fprintf(f, "%*s", indent, "");
    else
      col += fprintf(f, " ");
    col += fprintf(f, "%.*s", wl, p);
    p += wl;
    while (*p == ' ') p++;
  }
  fputc('\n', f);
}

void iov_plan_help(FILE *f, const struct iov_plan_workload *workloads) {
  _cleanup_free_ struct parser *st = calloc(1, sizeof(*st));
  if (!st) return;
  st->workloads = workloads;
  if (keys_init(st, NULL, 0) < 0) st->n_keys = _K_MAX;
  fprintf(f,
          "A plan is an INI file:\n"
          "\n"
          "  [hosts]     one line per agent: NAME = ENDPOINT, where ENDPOINT is\n"
          "              local (coord starts the agent), tcp://HOST:PORT, ipc://PATH,\n"
          "              HOST or HOST:PORT (port %d by default; IPv6 as [ADDR]:PORT).\n"
          "              NAME.data = ADDRESS sets the data-plane address (default: the\n"
          "              endpoint's host).  NAME.key = PUBLIC_KEY pins the agent's CURVE\n"
          "              key (else coord trusts it on first use: coord run --help).\n"
          "              NAME.plaintext = yes lets that agent run without\n"
          "              authentication (never one whose key is pinned or known).\n"
          "              NAME.guest_data = VM=ADDRESS, ... vouches for the data\n"
          "              addresses of guests already running there (path existing):\n"
          "              senders reach a guest only at an address its host agent or\n"
          "              the plan vouches for (the line may be repeated).\n"
          "  [global]    defaults for every test.\n"
          "  [any name]  one test.  Its keys override [global], key by key.\n"
          "\n"
          "A comma-separated value sweeps a key: 'msg_size = 64, 1k, 64k'.  A test\n"
          "runs every combination of its swept keys (at most %d points per plan);\n"
          "the last key below varies fastest.  A key marked 'no sweep' whose value\n"
          "may hold a comma keeps it: 'search = ndr,pdr', 'confidence = 99,5'.\n"
          "\n"
          "Units: sizes in bytes with k, m, g (binary: 64k = 65536); durations with\n"
          "ns, us, ms, s, m, h (a bare number means seconds; 1.5s is fine); rates\n"
          "in bit/s with k, m, g (decimal: 10g); percentages as 0.5%% (or 0).\n"
          "Comments start with ';' or '#' at the start of a line, or ' ;' after a value.\n"
          "\n"
          "Keys:\n",
          IOV_AGENT_DEFAULT_PORT, IOV_PLAN_MAX_POINTS);
  for (size_t k = 0; k < st->n_keys; k++) {
    const struct iov_option *o = &st->keys[k];
    char lo[32], hi[32];

    fprintf(f, "  %-16s %s", o->name, types[o->type].name);
    if (o->eng && o->eng->unit) fprintf(f, " (%s)", o->eng->unit);
    if (o->no_sweep) fprintf(f, ", no sweep");
    if (o->def)
      fprintf(f, ", default %s", o->def);
    else if (o->type == OPT_STRING)
      fprintf(f, ", required");
    else
      fprintf(f, ", required unless [hosts] names two hosts");
    if (types[o->type].format)
      fprintf(f, ", %s..%s", types[o->type].format(lo, sizeof(lo), o->min),
              types[o->type].format(hi, sizeof(hi), o->max));
    fputc('\n', f);
    if (o->eng) {
      /* Whose it is: an engine's key means nothing to the others. */
      _cleanup_free_ char *owners = engines_with(st, o->name), *text = NULL;
      if (owners && asprintf(&text, "(%s) %s", owners, o->help) > 0) {
        print_wrapped(f, text, 19, 78);
        continue;
      }
    }
    print_wrapped(f, o->help, 19, 78);
  }
}

int iov_plan_confidence(const char *text, double *ret_level, double *ret_width) {
  double level = 0, width = 0;
  char tail;
  if (!text) return -EINVAL;
  if (strcmp(text, "off") == 0) {
    if (ret_level) *ret_level = 0;
    if (ret_width) *ret_width = 0;
    return 0;
  }
  if (sscanf(text, "%lf , %lf %c", &level, &width, &tail) != 2 || !(level >= 50 && level <= 99.9) ||
      !(width >= 0.1 && width <= 50))
    return -EINVAL;
  if (ret_level) *ret_level = level / 100.0;
  if (ret_width) *ret_width = width / 100.0;
  return 0;
}
