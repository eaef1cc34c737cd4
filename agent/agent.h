/* The agent core, shared by iovbench-agent (a host agent: binds a ROUTER
 * for coord, and with relay.c a second one for its guests) and
 * iovbench-guest-agent (a guest agent in a VM: one DEALER connected to its
 * host agent's guest endpoint; coord reaches it through that relay).
 * agent.c owns the event loop, the sockets and signals; session.c is the
 * protocol state machine and the test point it runs; sampler.c turns
 * engine counters into messages; relay.c forwards between coord and the
 * guests. */
#pragma once

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cpustat.h"
#include "engine.h"
#include "irqstat.h"
#include "wire.h"
#include "zuv.h"

enum iov_agent_kind {
  IOV_AGENT_HOST,
  IOV_AGENT_GUEST,
};

/* What an agent agrees to run (its owner's limits, not the plan's): work
 * beyond a cap is refused with an Error that names it.  0 = no cap beyond
 * the protocol's own limits. */
struct iov_agent_caps {
  uint64_t max_duration_ns; /* warm-up + window of a point */
  uint64_t max_flows;
  uint64_t
      max_rate_bps; /* per flow: udp_stream's offered rate (unpaced counts as over); RR flows are paced to it */
  uint64_t max_msg_size; /* request, response or message bytes */
  uint64_t max_vms;      /* VMs started for one point */
  uint64_t max_vcpus;    /* vCPUs of one VM */
  uint64_t max_memory;   /* memory of one VM, bytes */
};
/* --max-duration, --max-flows, --max-rate, --max-msg-size, --max-vms,
 * --max-vcpus, --max-memory:
 * parse option 'name' (without the dashes) into caps.  0, -ENOENT (not a
 * cap option) or -EINVAL (bad value; a message went to stderr). */
int iov_agent_parse_cap(const char *prog, const char *name, const char *value, struct iov_agent_caps *caps);
/* The --help lines for the caps. */
extern const char iov_agent_caps_help[];

struct iov_agent_config {
  enum iov_agent_kind kind;
  struct iov_agent_caps caps;
  const char *listen;       /* host: ZeroMQ endpoint to bind for coord */
  const char *guest_listen; /* host: endpoint to bind for guests; NULL = no relay */
  const char *connect;      /* guest: the host agent's guest endpoint */
  const char *identity;     /* name reported in Welcome; NULL = hostname */
  const char *data_address; /* guest: data-plane address to report; NULL = none */
  /* Host: written with the bound endpoint once listening.  Guest: written
   * with the host endpoint once the host agent accepted the guest. */
  const char *ready_file;
  /* Host: adds the machine's PCI NICs to the inventory at start-up (the
   * host agent's main passes sriov.h discovery; the guest agent, which
   * does not link libpci, passes NULL).  The messages it appends to
   * inv->nics are malloc'd and freed with protobuf_c_message_free_unpacked.
   * A negative return is logged as a warning; the agent runs without. */
  int (*add_nics)(Iovbench__Inventory *inv, const char *sysfs_root);
  const char *sysfs_root; /* NULL: /sys */
  /* Host: starts VMs for coord (VmSetup/VmTeardown); NULL = this agent
   * starts none and says so.  agent/vmsession.c provides it. */
  const struct iov_agent_vm_hooks *vm;
  void *vm_config;
  /* Authentication (lib/auth.h).  Host: plaintext = accept any
   * coordinator and guest, unauthenticated; else key_dir holds
   * agent.key_secret (made at first start), coordinators/ and guests/,
   * and key_listen is the key endpoint (NULL = derived from listen,
   * "none" = none).  Guest: host_key NULL = plaintext; else the host
   * agent's public key and our secret key (Z85). */
  bool plaintext;
  const char *key_dir;
  const char *key_listen;
  const char *host_key;
  const char *secret_key;
  /* Host: how many guest names one key from KEYDIR/guests/ may hold at a
   * time (0 = IOV_GUEST_NAMES_PER_KEY); a VM's own key holds its name only. */
  unsigned guest_names_per_key;
  /* Host: --vouch-guest NAME=ADDR, the data address this host's
   * configuration vouches for a guest it did not start (coord's local
   * guests, a lab's existing VMs); n_vouch of each. */
  const char *const *vouch_names;
  const char *const *vouch_addrs;
  size_t n_vouch;
  /* Host: most connections at once on each of its ROUTER sockets (control,
   * guests); 0 = IOV_AGENT_MAX_CONNECTIONS. */
  unsigned max_connections;
};

#define IOV_GUEST_NAMES_PER_KEY 1
#define IOV_AGENT_MAX_CONNECTIONS 256

/* A guest of a VM the host agent started: the name it must register
 * under, the public key made for it (NULL: plaintext) and the data
 * address handed to it (NULL: none). */
struct iov_vm_guest {
  const char *name;
  const char *key;
  const char *address;
};

struct iov_agent;
/* The VM side of a host agent, kept out of the agent core so that the
 * guest agent links no libvirt. */
struct iov_agent_vm_hooks {
  /* At start-up: remove what a crashed run left (domains, VF settings). */
  int (*init)(struct iov_agent *a, void *config, void **ret_state);
  void (*on_message)(struct iov_agent *a, void *state, const iov_envelope *in);
  /* A guest registered with the relay. */
  void (*on_guest)(struct iov_agent *a, void *state, const char *name);
  /* The guests of the VMs it holds now: for i = 0, 1, ... fills *ret and
   * returns true; false past the last.  The relay lets a VM's name be
   * held only by the key made for it, and vouches for its address. */
  bool (*vm_guest)(struct iov_agent *a, void *state, size_t i, struct iov_vm_guest *ret);
  /* The process of the guest's VM (qemu), 0 if not ours or unknown. */
  pid_t (*guest_pid)(struct iov_agent *a, void *state, const char *name);
  /* Shutdown: take every VM down and restore the VFs. */
  void (*done)(struct iov_agent *a, void *state);
  /* The coordinator went silent: take every VM down and restore the VFs
   * now (the agent keeps running). */
  void (*coord_lost)(struct iov_agent *a, void *state);
  /* That coordinator speaks again: say what coord_lost() undid. */
  void (*coord_back)(struct iov_agent *a, void *state);
};

/* Guests silent this long are dropped from the host's table; they send a
 * heartbeat every IOV_GUEST_HEARTBEAT_NS. */
#define IOV_GUEST_HEARTBEAT_NS (2ULL * 1000000000ULL)
#define IOV_GUEST_TIMEOUT_NS (3 * IOV_GUEST_HEARTBEAT_NS)
/* The dead-man check runs every 50 ms; a longer gap is the agent's own
 * stall, not counted against the coordinator. */
#define IOV_DEADMAN_STALL_NS (250ULL * 1000000ULL)

struct iov_proccpu;
struct iov_proccpu_snap;
struct iov_kvm_exits;

struct iov_guest {
  char *name;
  zframe_t *rid; /* its routing id on the guest socket */
  /* The CURVE public key it registered with (the ZAP user id; "" on a
   * plaintext relay) and where it connected from, for the logs. */
  char key[41];
  char peer[64];
  uint64_t last_seen_mono;
  /* The host CPU its VM takes (when the VM's process is known): a
   * snapshot at each of its sample batches, the difference added to the
   * batch on its way to coord. */
  struct iov_proccpu *cpu;
  struct iov_proccpu_snap *cpu_prev;
  struct iov_kvm_exits *exits_prev; /* NULL: unknown */
  pid_t cpu_pid;
  uint64_t cpu_point;
};

enum iov_point_state {
  IOV_PS_PREPARED, /* sockets ready, waiting for Start */
  IOV_PS_RUNNING,  /* flows running, samples going out */
  IOV_PS_FINISHED, /* Result sent */
  _IOV_PS_MAX,
  _IOV_PS_INVALID = -22,
};

struct iov_agent_point {
  uint64_t id;
  enum iov_role role;
  enum iov_point_state state;
  char *workload;
  bool has_latency;
  struct iov_engine_run *run;
  unsigned eng_flags;       /* IOV_ENG_F_* of the workload */
  uint64_t start_at_ns;     /* the flows start here (warm-up first) */
  uint64_t window_start_ns; /* the measured window: start + warm-up */
  uint64_t start_mono_ns;   /* start_at_ns as CLOCK_MONOTONIC, converted at receipt: the timers' base */
  uint64_t interval_ns;
  uint64_t duration_ns; /* of the measured window */
  uint64_t warmup_ns;
  bool baseline_taken;         /* counters at the window's start are in 'base' */
  struct iov_flow_stats *base; /* per flow: counters when the window opened */
  uint64_t *retrans_base;      /* per flow: TCP retransmits when the window opened */
  uint64_t *retrans_prev;      /* per flow: at the last sample */
  /* The machine's CPU time and NIC interrupts at the last sample (or the
   * window's start): each sample carries the change since. */
  struct iov_cpustat_core *cpu_prev, *cpu_cur;
  size_t n_cpu_prev, cpu_cap;
  struct iov_irqstat_snap *irq_prev, *irq_cur;
  uint32_t n_samples;      /* samples the window is cut into */
  uint32_t seq;            /* samples sent so far */
  uint64_t last_sample_ns; /* end of the previous sample (CLOCK_REALTIME) */
  bool engine_done;
  bool final_pending;          /* window over, waiting for the flows to end */
  struct iov_flow_stats *prev; /* per flow: counters at the last sample */
  struct iov_flow_stats *scratch;
  uv_timer_t sample_timer;
  uv_timer_t grace_timer;
  uv_async_t done_async;
  int open_handles;
  struct iov_agent *agent;
};

struct iov_agent {
  enum iov_agent_kind kind;
  uv_loop_t loop;
  zsock_t *sock; /* host: ROUTER, bound; guest: DEALER to the host agent */
  struct iov_zuv zuv;
  uv_signal_t sigint, sigterm;
  /* A coordinator said hello.  On a host agent coord_id is its routing
   * id; a guest has one upstream only (its host agent's relay). */
  bool coord_connected;
  zframe_t *coord_id;
  /* Dead-man switch: coord's heartbeat interval (from its Hello; 0 = it
   * sends none) and when we last heard from it.  Guests: when the host
   * agent last answered. */
  uint64_t coord_heartbeat_ns;
  uint64_t coord_heard_mono;
  uint64_t deadman_tick_mono; /* the dead-man check's last run, to see our own stalls */
  bool coord_gone;            /* a send found its connection closed; handled by the timer */
  bool coord_silenced;        /* the dead-man switch fired for the current coordinator */
  uv_timer_t deadman_timer;
  char *route; /* guest: its name as the relay routes it ("" on a host) */
  /* Host: the relay to guests (relay.c).  NULL guest_sock = no relay. */
  zsock_t *guest_sock;
  struct iov_zuv guest_zuv;
  uv_timer_t guest_timer;
  struct iov_guest *guests;
  size_t n_guests, guests_cap;
  uint64_t guests_forwarded, guests_dropped;
  unsigned guest_names_per_key;
  unsigned max_connections;
  const char *const *vouch_names, *const *vouch_addrs;
  size_t n_vouch;
  uint64_t relay_log_window, relay_log_lines, relay_log_suppressed; /* refusals: 5 lines/s */
  /* Socket monitors (lib/auth.h): connection counts and failed
   * handshakes on the ROUTERs; the guest's reasons for not registering. */
  struct iov_zmon *mon_ctl, *mon_guest;
  uint64_t unregistered_since_mono, unregistered_hint_mono; /* guest: for its hint */
  uint32_t unregistered_hint_why;   /* guest: hash of the reason last given, 0 = none */
  uint64_t handshake_failures_seen; /* guest: after which it connects again */
  /* Guest: registration with the host agent. */
  bool registered;
  uint64_t register_msg_id;
  uv_timer_t heartbeat_timer;
  const char *data_address;
  const char *ready_file;
  const char *upstream; /* guest: the host endpoint */
  const struct iov_agent_vm_hooks *vm;
  void *vm_state;
  /* Host: our key pair, NULL when plaintext; the ZAP handler and the key
   * endpoint (lib/auth.h). */
  zcert_t *cert;
  struct iov_zap *zap;
  struct iov_keyserver *keyserver;
  struct iov_agent_caps caps;
  char *coord_run;
  uint64_t session_id;
  uint64_t msg_id;
  struct iov_wire_stats wire_stats;
  Iovbench__Inventory *inventory;
  struct iov_cpustat *cpustat; /* NULL when /proc/stat cannot be read */
  struct iov_irqstat *irqstat; /* NULL when no NIC is known */
  const char *identity;
  struct iov_agent_point *point; /* at most one at a time */
  bool stopping;
  int exit_code;
};

int iov_agent_run(const struct iov_agent_config *cfg);

/* relay.c (host agents) */
int iov__relay_start(struct iov_agent *a, const char *endpoint);
void iov__relay_stop(struct iov_agent *a);
/* Free the guest table (at exit). */
void iov__relay_free(struct iov_agent *a);
/* A message from coord with a route: forward it to that guest. */
void iov__relay_to_guest(struct iov_agent *a, const iov_envelope *in);
/* Whether a guest of that name is registered now. */
bool iov__relay_has_guest(struct iov_agent *a, const char *name);
/* Stop every guest's point (the coordinator went silent). */
void iov__relay_stop_guests(struct iov_agent *a, const char *reason);
/* Forget a guest now (its VM is gone), and tell coord. */
void iov__relay_drop_guest(struct iov_agent *a, const char *name);
/* Tell coord which guests are registered (on hello and on every change). */
void iov__relay_fill_welcome(struct iov_agent *a, Iovbench__Welcome *w, char ***names);

/* agent.c: guests */
int iov__guest_on_upstream(struct iov_agent *a, const iov_envelope *in);
int iov__agent_write_ready_file(const char *path, const char *text);

/* session.c */
int iov__agent_on_message(struct iov_zuv *z);
void iov__agent_point_abort(struct iov_agent *a, const char *reason);
/* The dead-man check, every half heartbeat (host agents). */
void iov__agent_deadman_check(struct iov_agent *a);
int iov__agent_send(struct iov_agent *a, iov_envelope *e, uint64_t reply_to);
void iov__agent_send_error(struct iov_agent *a, zframe_t *to, uint64_t reply_to, Iovbench__ErrorCode code,
                           uint64_t point_id, const char *fmt, ...) _printf_(6, 7);
