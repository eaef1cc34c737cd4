/* The host agent's relay: a second ROUTER socket (default port 7701) that
 * the guest agents of this host's VMs connect to.  coord talks to a guest
 * by sending the host an Envelope whose route names the guest; the host
 * forwards it unchanged.  Whatever a guest sends goes to coord with the
 * route set to the guest's name as this table knows it, so a guest cannot
 * speak for another.
 *
 * Guests register by sending a Welcome (kind GUEST_AGENT); the host
 * answers with a Heartbeat.  They send a Heartbeat every
 * IOV_GUEST_HEARTBEAT_NS, a Stop when they shut down, and are dropped
 * after IOV_GUEST_TIMEOUT_NS of silence.  coord hears of every change as
 * a Guests message.
 *
 * Names belong to keys (CURVE relays; a --plaintext relay has no keys to
 * bind and says so once).  ZeroMQ gives each message the ZAP user id our
 * handler set, the peer's public key: a name is held by the key that
 * registered it, and another key is refused while it is held.  A VM this
 * agent started registers only under its own name, with the key made for
 * it; that name is refused to any other key (an impostor already holding
 * it is dropped), whatever the VMs' names let anyone predict.  A key from
 * KEYDIR/guests/ holds at most guest_names_per_key names, and a
 * connection keeps the name it registered (a guest cycling through names
 * would have coord learn a new guest each time).  Every refusal
 * is logged with the peer's address and key (at most 5 lines a second).
 *
 * The addresses the relay reports with the names (Welcome.guest_addresses,
 * Guests.addresses) are those this agent vouches for: the one it handed
 * to a VM it started, or --vouch-guest NAME=ADDR; never what the guest
 * itself claims. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

#include "auth.h"
#include "err.h"
#include "log.h"
#include "proccpu.h"
#include "text.h"
#include "timeutil.h"
#include "transport.h"

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

/* The host part's state (a->host_state), owned by this file. */
struct iov_relay {
  struct iov_agent *a;
  zsock_t *guest_sock; /* NULL: no guest endpoint (--guest-listen=none) */
  struct iov_zuv guest_zuv;
  uv_timer_t guest_timer;
  struct iov_zmon *mon_guest; /* the guest socket's monitor (lib/auth.h) */
  struct iov_guest *guests;
  size_t n_guests, guests_cap;
  uint64_t guests_forwarded, guests_dropped;
  unsigned guest_names_per_key;
  const char *const *vouch_names, *const *vouch_addrs;
  size_t n_vouch;
  uint64_t relay_log_window, relay_log_lines, relay_log_suppressed; /* refusals: 5 lines/s */
  struct iov_keyserver *keyserver;
};

static struct iov_relay *relay_of(struct iov_agent *a) {
  return a->host == &iov_relay_hooks ? a->host_state : NULL;
}

static struct iov_guest *guest_by_rid(struct iov_relay *h, zframe_t *rid) {
  for (size_t i = 0; i < h->n_guests; i++)
    if (zframe_eq(h->guests[i].rid, rid)) return &h->guests[i];
  return NULL;
}

static struct iov_guest *guest_by_name(struct iov_relay *h, const char *name) {
  for (size_t i = 0; i < h->n_guests; i++)
    if (strcmp(h->guests[i].name, name) == 0) return &h->guests[i];
  return NULL;
}

/* The VM of that name among those this agent started, if any. */
static bool vm_by_name(struct iov_relay *h, const char *name, struct iov_vm_guest *ret) {
  struct iov_agent *a = h->a;
  if (!a->vm || !a->vm_state || !a->vm->vm_guest) return false;
  for (size_t i = 0; i < IOV_WIRE_MAX_GUESTS && a->vm->vm_guest(a, a->vm_state, i, ret); i++)
    if (ret->name && strcmp(ret->name, name) == 0) return true;
  return false;
}

/* The VM whose key that is, if any. */
static bool vm_by_key(struct iov_relay *h, const char *key, struct iov_vm_guest *ret) {
  struct iov_agent *a = h->a;
  if (!a->vm || !a->vm_state || !a->vm->vm_guest || !*key) return false;
  for (size_t i = 0; i < IOV_WIRE_MAX_GUESTS && a->vm->vm_guest(a, a->vm_state, i, ret); i++)
    if (ret->key && strcmp(ret->key, key) == 0) return true;
  return false;
}

/* Whether g holds a name it may hold: a VM's name only with the VM's key
 * (plaintext relays bind no keys). */
static bool guest_legit(struct iov_relay *h, const struct iov_guest *g) {
  struct iov_agent *a = h->a;
  struct iov_vm_guest vm;
  if (!a->cert || !vm_by_name(h, g->name, &vm) || !vm.key) return true;
  return strcmp(vm.key, g->key) == 0;
}

/* The data address this agent vouches for under that name ("" none). */
static const char *vouched_address(struct iov_relay *h, const char *name) {
  struct iov_vm_guest vm;
  if (vm_by_name(h, name, &vm)) return vm.address ? vm.address : "";
  for (size_t i = 0; i < h->n_vouch; i++)
    if (strcmp(h->vouch_names[i], name) == 0) return h->vouch_addrs[i];
  return "";
}

static int cmp_name(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* The names, sorted, and after them (at names + n + 1) the addresses
 * vouched for each, in one block (free() it; the strings are not
 * copied).  *n: how many. */
static char **sorted_names(struct iov_relay *h, size_t *n) {
  char **names = calloc(2 * (h->n_guests + 1), sizeof(char *));
  if (!names) return NULL;
  *n = 0;
  for (size_t i = 0; i < h->n_guests; i++)
    if (guest_legit(h, &h->guests[i])) names[(*n)++] = h->guests[i].name;
  qsort(names, *n, sizeof(char *), cmp_name);
  for (size_t i = 0; i < *n; i++) names[*n + 1 + i] = (char *)vouched_address(h, names[i]);
  return names;
}

static void fill_welcome(struct iov_agent *a, void *state, Iovbench__Welcome *w, char ***names) {
  struct iov_relay *h = state;
  size_t n = 0;
  (void)a;
  *names = NULL;
  if (!h->guest_sock) return;
  *names = sorted_names(h, &n);
  if (!*names) return;
  w->guests = *names;
  w->n_guests = n;
  w->guest_addresses = *names + n + 1;
  w->n_guest_addresses = n;
}

static void notify_coord(struct iov_relay *h) {
  struct iov_agent *a = h->a;
  if (!iov__conn_has_coord(a->conn)) return;
  size_t n = 0;
  char **names = sorted_names(h, &n);
  if (!names) return;
  Iovbench__Guests g = IOVBENCH__GUESTS__INIT;
  g.names = names;
  g.n_names = n;
  g.addresses = names + n + 1;
  g.n_addresses = n;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_GUESTS;
  e.guests = &g;
  (void)iov__agent_send(a, &e, 0);
  free(names);
}

static struct iov_proccpu_snap *snap_free(struct iov_proccpu_snap *s) {
  if (s) iov_proccpu_snap_done(s);
  free(s);
  return NULL;
}

static void guest_cpu_reset(struct iov_guest *g) {
  g->cpu = iov_proccpu_free(g->cpu);
  g->cpu_prev = snap_free(g->cpu_prev);
  free(g->exits_prev);
  g->exits_prev = NULL;
  g->cpu_point = 0;
}

/* A guest's batch passes: the host CPU its VM took since its previous
 * batch of the same point.  The first batch of a point only starts the
 * count (what came before it, set-up and warm-up, is not the window). */
static void add_host_cpu(struct iov_relay *h, struct iov_guest *g, iov_envelope *in,
                         Iovbench__VmHostCpu *out) {
  struct iov_agent *a = h->a;
  const Iovbench__SampleBatch *b = in->samples;
  if (!a->vm || !a->vm_state || !a->vm->guest_pid) return;
  if (!g->cpu) {
    pid_t pid = a->vm->guest_pid(a, a->vm_state, g->name);
    if (pid <= 0 || iov_proccpu_open(NULL, pid, &g->cpu) < 0) return;
    g->cpu_pid = pid;
  }
  struct iov_proccpu_snap *cur = malloc(sizeof(*cur));
  if (!cur) return;
  iov_proccpu_snap_init(cur);
  if (iov_proccpu_read(g->cpu, 0, cur) < 0) {
    snap_free(cur);
    guest_cpu_reset(g); /* the VM's process is gone */
    return;
  }
  struct iov_proccpu_usage u;
  struct iov_vm_cpu vc;
  /* KVM's exit counters, where debugfs lets us read them. */
  struct iov_kvm_exits *exits = calloc(1, sizeof(*exits)), dx = { 0 };
  bool have_exits = exits && iov_proccpu_kvm_read(NULL, g->cpu_pid, cur, exits) > 0 && g->exits_prev &&
                    iov_proccpu_kvm_delta(g->exits_prev, exits, &dx) > 0;
  if (exits && !exits->known) {
    free(exits);
    exits = NULL;
  }
  if (g->cpu_prev && g->cpu_point == b->point_id && iov_proccpu_delta(g->cpu_prev, cur, &u, NULL, 0) >= 0 &&
      iov_proccpu_vm_summary(&u, have_exits ? &dx : NULL, &vc) == 0) {
    iovbench__vm_host_cpu__init(out);
    out->interval_ns = vc.interval_ns;
    out->vcpu_ns = vc.vcpu_ns;
    out->io_ns = vc.io_ns;
    out->vhost_ns = vc.vhost_ns;
    out->kvm_ns = vc.kvm_ns;
    out->total_ns = vc.total_ns;
    if (have_exits && (dx.known & (1u << IOV_KVM_EXITS))) {
      out->kvm_exits = dx.v[IOV_KVM_EXITS];
      out->kvm_exits_known = true;
    }
    in->samples->host_cpu = out;
  }
  free(g->exits_prev);
  g->exits_prev = exits;
  snap_free(g->cpu_prev);
  g->cpu_prev = cur;
  g->cpu_point = b->point_id;
}

static void guest_remove(struct iov_relay *h, struct iov_guest *g) {
  guest_cpu_reset(g);
  free(g->name);
  zframe_destroy(&g->rid);
  *g = h->guests[--h->n_guests];
}

/* The host's own messages to a guest carry no route. */
static void send_guest(struct iov_relay *h, zframe_t *rid, iov_envelope *e, uint64_t reply_to) {
  struct iov_agent *a = h->a;
  e->msg_id = iov__agent_next_msg_id(a);
  e->reply_to = reply_to;
  e->route = "";
  int r = iov_wire_send(h->guest_sock, rid, e);
  iov_zuv_kick(&h->guest_zuv);
  if (r < 0)
    iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s to a guest: %m", iov_wire_body_name(e));
}

static void stop_guests(struct iov_agent *a, void *state, const char *reason) {
  struct iov_relay *h = state;
  (void)a;
  for (size_t i = 0; i < h->n_guests; i++) {
    Iovbench__Stop st = IOVBENCH__STOP__INIT;
    st.reason = (char *)reason;
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_STOP;
    e.stop = &st;
    send_guest(h, h->guests[i].rid, &e, 0);
  }
}

static void send_guest_error(struct iov_relay *h, zframe_t *rid, uint64_t reply_to, Iovbench__ErrorCode code,
                             const char *msg) {
  Iovbench__Error err = IOVBENCH__ERROR__INIT;
  err.code = code;
  err.message = (char *)msg;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_ERROR;
  e.error = &err;
  send_guest(h, rid, &e, reply_to);
}

static void ack(struct iov_relay *h, zframe_t *rid, uint64_t reply_to) {
  Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = iov_now_real();
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HEARTBEAT;
  e.heartbeat = &hb;
  send_guest(h, rid, &e, reply_to);
}

/* A refusal, logged with who tried (rate-limited: a flood of attempts
 * cannot fill the log) and sent to the guest. */
static bool relay_log_allowed(struct iov_relay *h) {
  uint64_t now = iov_now_mono();
  if (now - h->relay_log_window >= IOV_NSEC_PER_SEC) {
    if (h->relay_log_suppressed)
      iov_warn("%llu more guest registrations or messages were refused (not logged one by one)",
               (unsigned long long)h->relay_log_suppressed);
    h->relay_log_window = now;
    h->relay_log_lines = h->relay_log_suppressed = 0;
  }
  if (h->relay_log_lines < 5) {
    h->relay_log_lines++;
    return true;
  }
  h->relay_log_suppressed++;
  return false;
}

static void refuse(struct iov_relay *h, zframe_t *rid, const iov_envelope *in,
                   const struct iov_wire_peer *peer, Iovbench__ErrorCode code, const char *msg) {
  if (relay_log_allowed(h))
    iov_warn("refused a guest registration from %s with key %s: %s",
             *peer->address ? peer->address : "(unknown address)",
             *peer->user_id ? peer->user_id : "(none: plaintext)", msg);
  send_guest_error(h, rid, in->msg_id, code, msg);
}

static void on_register(struct iov_relay *h, zframe_t *rid, const iov_envelope *in,
                        const struct iov_wire_peer *peer) {
  struct iov_agent *a = h->a;
  const char *name = in->welcome->identity;
  /* The key it authenticated with: ours to bind its name to.  "" on a
   * plaintext relay (no keys to bind). */
  const char *key = a->cert ? peer->user_id : "";
  char msg[384];
  struct iov_vm_guest vm;

  if (!iov_wire_name_ok(name)) {
    snprintf(msg, sizeof(msg),
             "host agent '%s' refuses guest name '%.64s': use 1 to 64 of A-Z a-z 0-9 . _ - :", a->identity,
             name ? name : "");
    iov_utf8_sanitize(msg);
    refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_MALFORMED, msg);
    return;
  }
  if (a->cert && !iov_key_text_ok(key)) {
    /* Cannot be: every CURVE peer passed our ZAP handler, which names it. */
    refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE,
           "no CURVE key known for this connection");
    return;
  }
  bool vm_key = a->cert && vm_by_key(h, key, &vm);
  if (vm_key && strcmp(vm.name, name) != 0) {
    snprintf(msg, sizeof(msg),
             "host agent '%s' refuses guest name '%s': this key was made for its VM '%s' and registers only "
             "under that name",
             a->identity, name, vm.name);
    refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, msg);
    return;
  }
  if (a->cert && !vm_key && vm_by_name(h, name, &vm) && vm.key) {
    snprintf(msg, sizeof(msg),
             "host agent '%s' refuses guest name '%s': it is the name of a VM this agent started, which "
             "registers with the key made for it",
             a->identity, name);
    refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, msg);
    return;
  }
  /* One name per connection: a guest cycling through names would make
   * coord learn a new guest each time. */
  struct iov_guest *same = guest_by_rid(h, rid);
  if (a->cert && same && strcmp(same->name, name) != 0) {
    snprintf(msg, sizeof(msg),
             "host agent '%s' refuses guest name '%s': this connection is registered as '%s', and a guest "
             "keeps its name (restart the guest agent to take another)",
             a->identity, name, same->name);
    refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, msg);
    return;
  }
  struct iov_guest *g = guest_by_name(h, name);
  if (g && a->cert && strcmp(g->key, key) != 0) {
    if (vm_key) {
      /* The VM's own guest: whoever held its name before is an impostor. */
      iov_warn("guest '%s' was held by key %s from %s, not the key made for that VM: dropped", g->name,
               g->key, g->peer);
      send_guest_error(h, g->rid, 0, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE,
                       "this name belongs to a VM of this host agent: dropped");
      guest_remove(h, g);
      notify_coord(h);
      g = NULL;
    } else {
      snprintf(msg, sizeof(msg),
               "host agent '%s' already has a guest '%s' registered with another key: give each VM its own "
               "--vm-id",
               a->identity, name);
      refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, msg);
      return;
    }
  }
  if (g && !zframe_eq(g->rid, rid)) {
    if (iov_now_mono() - g->last_seen_mono < IOV_GUEST_TIMEOUT_NS) {
      snprintf(msg, sizeof(msg),
               "host agent '%s' already has a guest '%s' (another connection): give each VM its own "
               "--vm-id",
               a->identity, name);
      refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, msg);
      return;
    }
    guest_remove(h, g); /* the old connection went silent: this is its successor */
    g = NULL;
  }
  struct iov_guest *by_rid = guest_by_rid(h, rid);
  if (by_rid && by_rid != g) guest_remove(h, by_rid); /* renamed: plaintext relays only (g is NULL here) */
  if (!g && a->cert && !vm_key) {
    /* A key from KEYDIR/guests/: a bounded number of names. */
    size_t held = 0;
    for (size_t i = 0; i < h->n_guests; i++) held += strcmp(h->guests[i].key, key) == 0;
    if (held >= h->guest_names_per_key) {
      snprintf(
          msg, sizeof(msg),
          "host agent '%s' refuses guest name '%s': this key already holds %zu name(s), the most one key "
          "may (--guest-names-per-key=%u on the host agent)",
          a->identity, name, held, h->guest_names_per_key);
      refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_LIMIT, msg);
      return;
    }
  }
  if (!g) {
    if (h->n_guests == IOV_WIRE_MAX_GUESTS) {
      refuse(h, rid, in, peer, IOVBENCH__ERROR_CODE__ERR_LIMIT, "too many guests on this host");
      return;
    }
    if (h->n_guests == h->guests_cap) {
      size_t cap = h->guests_cap ? 2 * h->guests_cap : 16;
      struct iov_guest *n = realloc(h->guests, cap * sizeof(*n));
      if (!n) return;
      h->guests = n;
      h->guests_cap = cap;
    }
    g = &h->guests[h->n_guests];
    *g = (struct iov_guest){ .name = strdup(name), .rid = zframe_dup(rid) };
    if (!g->name || !g->rid) {
      free(g->name);
      zframe_destroy(&g->rid);
      return;
    }
    snprintf(g->key, sizeof(g->key), "%.40s", key);
    snprintf(g->peer, sizeof(g->peer), "%s", *peer->address ? peer->address : "(unknown address)");
    h->n_guests++;
    iov_info("guest '%s' registered from %s%s%.8s%s (%zu guests)", name, g->peer, *key ? " with key " : "",
             key, *key ? "..." : "", h->n_guests);
    g->last_seen_mono = iov_now_mono();
    ack(h, rid, in->msg_id);
    notify_coord(h);
    if (a->vm && a->vm_state) a->vm->on_guest(a, a->vm_state, g->name);
    return;
  }
  g->last_seen_mono = iov_now_mono();
  ack(h, rid, in->msg_id);
}

static int on_guest_message(struct iov_zuv *z) {
  struct iov_relay *h = container_of(z, struct iov_relay, guest_zuv);
  struct iov_agent *a = h->a;
  zframe_t *rid = NULL;
  iov_envelope *in = NULL;
  char why[256];

  struct iov_wire_peer peer;
  int r = iov_wire_recv_peer(h->guest_sock, &rid, &in, &a->wire_stats, &peer, why, sizeof(why));
  if (r == -EAGAIN) return -EAGAIN;
  if (r < 0) {
    iov_utf8_sanitize(why);
    if (relay_log_allowed(h))
      iov_warn("dropped a message from a guest at %s with key %s (%s)",
               *peer.address ? peer.address : "(unknown address)",
               *peer.user_id ? peer.user_id : "(none: plaintext)", why);
    /* Say why, so that the guest can log it (it keeps trying). */
    if (rid && (r == -EPROTONOSUPPORT || r == -EBADMSG)) {
      char msg[384];
      snprintf(msg, sizeof(msg), "host agent '%s' dropped a message of this guest: %s", a->identity, why);
      send_guest_error(h, rid, 0,
                       r == -EPROTONOSUPPORT ? IOVBENCH__ERROR_CODE__ERR_VERSION
                                             : IOVBENCH__ERROR_CODE__ERR_MALFORMED,
                       msg);
    }
    zframe_destroy(&rid);
    return 0;
  }
  struct iov_guest *g = guest_by_rid(h, rid);
  /* A guest speaks to the host with no route (registration, keep-alive)
   * and to coord with its own name as the route. */
  bool to_host = !in->route || !*in->route;
  if (to_host && in->body_case == IOVBENCH__ENVELOPE__BODY_WELCOME)
    on_register(h, rid, in, &peer);
  else if (!g && to_host && in->body_case == IOVBENCH__ENVELOPE__BODY_STOP)
    /* The goodbye of a guest already dropped (its VM taken down): it has
     * gone, and there is nobody to answer. */
    iov_debug(IOV_DBG_PROTO, "goodbye from a guest no longer listed");
  else if (!g)
    send_guest_error(h, rid, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE,
                     "unknown guest: register first");
  else {
    g->last_seen_mono = iov_now_mono();
    if (to_host) {
      if (in->body_case == IOVBENCH__ENVELOPE__BODY_HEARTBEAT)
        ack(h, rid, in->msg_id);
      else if (in->body_case == IOVBENCH__ENVELOPE__BODY_STOP) {
        /* The guest is going away. */
        iov_info("guest '%s' left (%s)", g->name,
                 in->stop->reason && *in->stop->reason ? in->stop->reason : "stop");
        guest_remove(h, g);
        notify_coord(h);
      }
    } else if (!iov__conn_has_coord(a->conn)) {
      h->guests_dropped++;
      iov_debug(IOV_DBG_PROTO, "guest '%s': %s dropped, no coordinator", g->name, iov_wire_body_name(in));
    } else {
      /* To coord, stamped with the name we know the guest by. */
      char *own = in->route;
      Iovbench__VmHostCpu host_cpu;
      if (in->body_case == IOVBENCH__ENVELOPE__BODY_SAMPLES) {
        /* Only the host says this: whatever the guest put there goes. */
        if (in->samples->host_cpu) {
          protobuf_c_message_free_unpacked(&in->samples->host_cpu->base, NULL);
          in->samples->host_cpu = NULL;
        }
        add_host_cpu(h, g, in, &host_cpu);
      }
      in->route = g->name;
      r = iov__agent_forward(a, in);
      in->route = own;
      if (in->body_case == IOVBENCH__ENVELOPE__BODY_SAMPLES && in->samples->host_cpu == &host_cpu)
        in->samples->host_cpu = NULL; /* ours, on the stack: not for iov_wire_free() */
      if (r < 0) {
        h->guests_dropped++;
        iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to forward %s of guest '%s' to the coordinator: %m",
                           iov_wire_body_name(in), g->name);
      } else
        h->guests_forwarded++;
    }
  }
  iov_wire_free(in);
  zframe_destroy(&rid);
  return 0;
}

bool iov__relay_has_guest(struct iov_agent *a, const char *name) {
  struct iov_relay *h = relay_of(a);
  if (!h) return false;
  struct iov_guest *g = guest_by_name(h, name);
  return g && guest_legit(h, g);
}

void iov__relay_drop_guest(struct iov_agent *a, const char *name) {
  struct iov_relay *h = relay_of(a);
  if (!h) return;
  struct iov_guest *g = guest_by_name(h, name);
  if (!g) return;
  iov_info("guest '%s' dropped (its VM was taken down)", name);
  guest_remove(h, g);
  notify_coord(h);
}

static void to_guest(struct iov_agent *a, void *state, const iov_envelope *in) {
  struct iov_relay *h = state;
  struct iov_guest *g = h->guest_sock ? guest_by_name(h, in->route) : NULL;
  if (g && !guest_legit(h, g)) g = NULL; /* dropped at the next timer tick */
  if (!g) {
    char msg[256];
    snprintf(msg, sizeof(msg), "host agent '%s' has no guest '%s'%s", a->identity, in->route,
             h->guest_sock ? " (it never registered, or went silent)" : " (its guest endpoint is off)");
    Iovbench__Error err = IOVBENCH__ERROR__INIT;
    err.code = IOVBENCH__ERROR_CODE__ERR_INVALID_STATE;
    err.message = msg;
    iov_envelope e = IOVBENCH__ENVELOPE__INIT;
    e.body_case = IOVBENCH__ENVELOPE__BODY_ERROR;
    e.error = &err;
    e.msg_id = iov__agent_next_msg_id(a);
    e.reply_to = in->msg_id;
    e.route = in->route; /* from the guest, as coord sees it */
    (void)iov__agent_forward(a, &e);
    return;
  }
  int r = iov_wire_send(h->guest_sock, g->rid, (iov_envelope *)in);
  iov_zuv_kick(&h->guest_zuv);
  if (r < 0)
    iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to forward %s to guest '%s': %m", iov_wire_body_name(in),
                       g->name);
}

static void on_guest_timer(uv_timer_t *t) {
  struct iov_relay *h = t->data;
  uint64_t now = iov_now_mono();
  bool changed = false;
  /* After a long blocking step (creating VFs and VMs) timers run before
   * the socket is read: the guests' heartbeats may be waiting there. */
  if (zsock_events(h->guest_sock) & ZMQ_POLLIN) {
    iov_zuv_kick(&h->guest_zuv);
    return;
  }
  for (size_t i = 0; i < h->n_guests;) {
    struct iov_guest *g = &h->guests[i];
    if (now - g->last_seen_mono > IOV_GUEST_TIMEOUT_NS) {
      iov_notice("guest '%s' went silent (no heartbeat for %llu s); dropped", g->name,
                 IOV_GUEST_TIMEOUT_NS / IOV_NSEC_PER_SEC);
      guest_remove(h, g);
      changed = true;
    } else if (!guest_legit(h, g)) {
      /* It took the name before the VM of that name was started. */
      iov_warn("guest '%s' from %s holds the name of a VM this agent started, with key %s, not the key made "
               "for that VM: dropped",
               g->name, g->peer, g->key);
      send_guest_error(h, g->rid, 0, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE,
                       "this name belongs to a VM of this host agent: dropped");
      guest_remove(h, g);
      changed = true;
    } else
      i++;
  }
  if (changed) notify_coord(h);
}

static int guest_endpoint_start(struct iov_relay *h, const char *endpoint) {
  struct iov_agent *a = h->a;
  h->guest_sock = zsock_new(ZMQ_ROUTER);
  if (!h->guest_sock) return -ENOMEM;
  iov_wire_sock_setup(h->guest_sock);
  iov_wire_sock_harden(h->guest_sock);
  zsock_set_router_mandatory(h->guest_sock, 1);
  if (a->cert) iov_curve_server(h->guest_sock, a->cert, IOV_AUTH_DOMAIN_GUEST);
  int mr = iov_zmon_start(h->guest_sock, "guest", true, a->max_connections, &h->mon_guest);
  if (mr < 0)
    iov_log_full_errno(
        IOV_LOG_WARNING, mr,
        "No monitor on the guest endpoint (handshakes not logged, connections not limited): %m");
  if (zsock_bind(h->guest_sock, "%s", endpoint) < 0) {
    int r = -errno;
    iov_zmon_stop(&h->mon_guest);
    zsock_destroy(&h->guest_sock);
    return r ? r : -EINVAL;
  }
  int r = iov_zuv_init(&a->loop, &h->guest_zuv, h->guest_sock, on_guest_message);
  if (r < 0) {
    iov_zmon_stop(&h->mon_guest);
    zsock_destroy(&h->guest_sock);
    return r;
  }
  uv_timer_init(&a->loop, &h->guest_timer);
  h->guest_timer.data = h;
  uv_timer_start(&h->guest_timer, on_guest_timer, 1000, 1000);
  iov_info("guest endpoint %s", zsock_endpoint(h->guest_sock) ? zsock_endpoint(h->guest_sock) : endpoint);
  if (!a->cert)
    iov_warn("--plaintext: guest names are not bound to keys on %s; any guest that reaches it may register "
             "under any free name",
             zsock_endpoint(h->guest_sock) ? zsock_endpoint(h->guest_sock) : endpoint);
  else
    iov_info("guest names are bound to the keys that registered them; a key from guests/ holds at most %u",
             h->guest_names_per_key);
  return 0;
}

/* The key endpoint (lib/auth.h): coordinators ask it for this agent's
 * public key, to trust it on first use. */
static int keyserver_start(struct iov_relay *h, const struct iov_relay_config *cfg) {
  struct iov_agent *a = h->a;
  char ep[PATH_MAX], err[512];
  if (cfg->key_listen && strcmp(cfg->key_listen, "none") == 0) return 0;
  if (cfg->key_listen)
    snprintf(ep, sizeof(ep), "%s", cfg->key_listen);
  else if (iov_key_endpoint_for(cfg->listen, ep, sizeof(ep)) < 0) {
    iov_info("no key endpoint for %s; coordinators must know this agent's key (NAME.key in their plans)",
             cfg->listen);
    return 0;
  }
  int r =
      iov_keyserver_start(ep, a->cert ? zcert_public_txt(a->cert) : NULL, &h->keyserver, err, sizeof(err));
  if (r < 0) return iov_log_errno(r, "%s", err);
  iov_info("key endpoint %s", ep);
  return 0;
}

static void guests_free(struct iov_relay *h) {
  for (size_t i = 0; i < h->n_guests; i++) {
    guest_cpu_reset(&h->guests[i]);
    free(h->guests[i].name);
    zframe_destroy(&h->guests[i].rid);
  }
  free(h->guests);
  h->guests = NULL;
  h->n_guests = h->guests_cap = 0;
}

void iov__relay_forget_guests(struct iov_agent *a) {
  struct iov_relay *h = relay_of(a);
  if (h) guests_free(h);
}

static void relay_free(struct iov_agent *a, void *state) {
  struct iov_relay *h = state;
  (void)a;
  if (!h) return;
  guests_free(h);
  iov_zmon_stop(&h->mon_guest);
  zsock_destroy(&h->guest_sock);
  iov_keyserver_stop(&h->keyserver);
  free(h);
}

static int relay_start(struct iov_agent *a, void *config, void **ret_state) {
  const struct iov_relay_config *cfg = config;
  struct iov_relay *h = calloc(1, sizeof(*h));
  int r;
  if (!h) return iov_log_errno(-ENOMEM, "Failed to start the relay: %m");
  h->a = a;
  h->guest_names_per_key = cfg->guest_names_per_key ? cfg->guest_names_per_key : IOV_GUEST_NAMES_PER_KEY;
  h->vouch_names = cfg->vouch_names;
  h->vouch_addrs = cfg->vouch_addrs;
  h->n_vouch = cfg->n_vouch;
  r = keyserver_start(h, cfg);
  if (r < 0) {
    relay_free(a, h);
    return r;
  }
  if (cfg->guest_listen) {
    r = guest_endpoint_start(h, cfg->guest_listen);
    if (r < 0) {
      iov_log_errno(r,
                    "Failed to bind the guest endpoint '%s': %m (choose another with --guest-listen, or "
                    "--guest-listen=none)",
                    cfg->guest_listen);
      relay_free(a, h);
      return r;
    }
  }
  *ret_state = h;
  return 0;
}

static void relay_stop(struct iov_agent *a, void *state) {
  struct iov_relay *h = state;
  (void)a;
  if (!h->guest_sock) return;
  iov_zuv_close(&h->guest_zuv, NULL);
  uv_close((uv_handle_t *)&h->guest_timer, NULL);
}

const struct iov_agent_host_hooks iov_relay_hooks = {
  .start = relay_start,
  .stop = relay_stop,
  .free = relay_free,
  .to_guest = to_guest,
  .fill_welcome = fill_welcome,
  .stop_guests = stop_guests,
};
