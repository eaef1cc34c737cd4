/* Fuzz target: the agent's message handling (agent/session.c, relay.c,
 * sampler.c), driven as the event loop drives it but without a network.
 *
 * Two agents live in this process, each a struct iov_agent set up as
 * iov_agent_run() sets one up: a host agent (ROUTER for coord, and the
 * relay's ROUTER for guests) and a guest agent (DEALER to its host).  The
 * harness holds the other end of each socket, over inproc:
 *   coord  DEALER -> host agent            (what coord sends a host)
 *   vm     DEALER -> host agent's relay    (what a guest sends its host)
 *   host   ROUTER <- guest agent           (what a host sends its guest)
 * An input is records [tag][length, 2 bytes LE][frame] (fuzz.h):
 *   tag % 4 == 0  the frame goes from coord to the host agent
 *              1  from the vm to the relay
 *              2  from the host to the guest agent
 *              3  no frame: frame[0] bit 0: wait 5 ms (so that the timers
 *                 of a point fire); bit 1: the host agent's dead-man check
 *                 (iov__agent_deadman_check(), its timer's work)
 * After each frame the agent's read callback takes it (the one the zuv
 * bridge calls), its loop runs once, and everything the agents sent is
 * read back: every message an agent sends must decode at its peer.  At the
 * end of an input any test point is aborted (its last sample and result
 * go out and are checked too) and the agents forget their coordinator,
 * guests and registration.
 *
 * The host agent has caps (64 flows, 1 MiB messages, 1 h, 10 Gbit/s, 8
 * VMs), so that refusals are reached; the guest agent has none.
 *
 * Frames to an agent that decode as Prepare or Start are adjusted so that
 * no traffic leaves the machine and no input runs for long: data
 * addresses that are not loopback (or empty) become 127.0.0.1 (the run's
 * addresses too, so that the agent's own check sees them alike), a sender's
 * peer ports become one the harness holds bound and not listening (so
 * connects are refused), sizes are capped at 64 MiB of buffers in all
 * (an agent without caps accepts 256 flows of 16 MiB, 4 GiB: see
 * docs/reliability.md), and the start instant is moved to within 5 ms
 * from now. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "agent.h"
#include "auth.h"
#include "fuzz.h"
#include "timeutil.h"

#define BUF_BUDGET (64u << 20)
#define START_MAX_AHEAD_NS (5 * IOV_NSEC_PER_MSEC)

static struct iov_agent host, guest;
static zsock_t *coord, *vm, *upstream;
static Iovbench__Inventory inventory = IOVBENCH__INVENTORY__INIT;
static char *workloads[16];
static uint16_t closed_port;
static int closed_fds[2] = { -1, -1 };
static bool ready;

/* At exit the sockets go (czmq complains of any left); the loops and
 * agents go with the process. */
static void cleanup(void) {
  zsock_destroy(&coord);
  zsock_destroy(&vm);
  zsock_destroy(&upstream);
  zsock_destroy(&host.sock);
  iov_zmon_stop(&host.mon_guest); /* the relay's socket monitor (lib/auth.h) */
  zsock_destroy(&host.guest_sock);
  zsock_destroy(&guest.sock);
}

static _Noreturn void die(const char *what) {
  fprintf(stderr, "fuzz_agent: %s: %s\n", what, strerror(errno));
  abort();
}

/* A port that refuses TCP connects and UDP datagrams: bound, never
 * listening, the UDP socket connected elsewhere so it takes nothing. */
static void reserve_closed_port(void) {
  for (int tries = 0; tries < 100 && !closed_port; tries++) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (t < 0 || u < 0) die("socket");
    if (bind(t, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(t, (struct sockaddr *)&sa, &len) < 0)
      die("bind");
    if (bind(u, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
      struct sockaddr_in other = { .sin_family = AF_INET,
                                   .sin_port = htons(9),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
      if (connect(u, (struct sockaddr *)&other, sizeof(other)) < 0) die("connect");
      closed_port = ntohs(sa.sin_port);
      closed_fds[0] = t;
      closed_fds[1] = u;
    } else {
      close(t);
      close(u);
    }
  }
  if (!closed_port) die("no closed port");
}

static zsock_t *sock_new(int type, const char *identity) {
  zsock_t *s = zsock_new(type);
  if (!s) die("zsock_new");
  iov_wire_sock_setup(s);
  if (identity) zsock_set_identity(s, identity);
  return s;
}

static void agent_init(struct iov_agent *a, enum iov_agent_kind kind) {
  char proc[PATH_MAX];
  memset(a, 0, sizeof(*a));
  a->kind = kind;
  a->inventory = &inventory;
  a->identity = kind == IOV_AGENT_HOST ? "fuzz-host" : "vm-1";
  a->route = kind == IOV_AGENT_HOST ? "" : "vm-1";
  a->upstream = "inproc://fuzz-upstream";
  /* A recorded /proc/stat: the samples carry CPU time, always the same. */
  snprintf(proc, sizeof(proc), "%s/tests/fixtures/proc/debian12-2cpu-virtio", iov_fuzz_srcdir());
  if (iov_cpustat_open(proc, &a->cpustat) < 0) a->cpustat = NULL;
  if (uv_loop_init(&a->loop) < 0) die("uv_loop_init");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *const *names = iov_engine_names();
  size_t n = 0;
  (void)argc;
  (void)argv;
  iov_fuzz_quiet();
  zsys_handler_set(NULL);
  reserve_closed_port();

  inventory.hostname = "fuzz";
  inventory.kernel = "6.1.0";
  inventory.cpus_online = 2;
  for (; names[n] && n < ELEMENTSOF(workloads); n++) workloads[n] = (char *)names[n];
  inventory.workloads = workloads;
  inventory.n_workloads = n;

  agent_init(&host, IOV_AGENT_HOST);
  host.caps = (struct iov_agent_caps){ .max_duration_ns = 3600 * IOV_NSEC_PER_SEC,
                                       .max_flows = 64,
                                       .max_rate_bps = 10000000000ULL,
                                       .max_msg_size = 1u << 20,
                                       .max_vms = 8 };
  host.sock = sock_new(ZMQ_ROUTER, NULL);
  zsock_set_router_mandatory(host.sock, 1);
  if (zsock_bind(host.sock, "inproc://fuzz-agent") < 0) die("bind agent");
  if (iov_zuv_init(&host.loop, &host.zuv, host.sock, iov__agent_on_message) < 0) die("zuv");
  if (iov__relay_start(&host, "inproc://fuzz-relay") < 0) die("relay");
  coord = sock_new(ZMQ_DEALER, "coord");
  vm = sock_new(ZMQ_DEALER, "vm-1-rid");
  if (zsock_connect(coord, "inproc://fuzz-agent") < 0 || zsock_connect(vm, "inproc://fuzz-relay") < 0)
    die("connect");

  upstream = sock_new(ZMQ_ROUTER, NULL);
  zsock_set_router_mandatory(upstream, 1);
  if (zsock_bind(upstream, "inproc://fuzz-upstream") < 0) die("bind upstream");
  agent_init(&guest, IOV_AGENT_GUEST);
  guest.sock = sock_new(ZMQ_DEALER, "guest");
  if (zsock_connect(guest.sock, "inproc://fuzz-upstream") < 0) die("connect guest");
  if (iov_zuv_init(&guest.loop, &guest.zuv, guest.sock, iov__agent_on_message) < 0) die("zuv");
  /* The host side learns the guest's routing id from its first frame. */
  zstr_send(guest.sock, "hi");
  char *hi = zstr_recv(upstream); /* the routing id */
  zstr_free(&hi);
  hi = zstr_recv(upstream);
  zstr_free(&hi);
  atexit(cleanup);
  ready = true;
  return 0;
}

/* Loopback stays, anything else that resolves becomes 127.0.0.1; what does
 * not resolve stays too, as the engine will refuse it. */
static void keep_local(char **addr) {
  struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *res = NULL;
  bool loop = false;
  if (*addr && **addr && getaddrinfo(*addr, "0", &hints, &res) != 0) return;
  if (res && res->ai_family == AF_INET)
    loop = (ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr) >> 24) == 127;
  else if (res && res->ai_family == AF_INET6)
    loop = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr);
  if (res) freeaddrinfo(res);
  if (!loop) *addr = "127.0.0.1";
}

/* The adjusted frame (see the top), or NULL to send the input as it is. */
static zframe_t *adjust(const uint8_t *data, size_t len) {
  iov_envelope *e = NULL;
  zframe_t *f = NULL;
  uint32_t ports[IOV_WIRE_MAX_FLOWS];
  char *bind_addr, *peer_addr, **run_addrs, *local_addrs[16];
  uint32_t *peer_ports;
  uint64_t start_at, msg_size, response_size;

  if (iov_wire_decode(data, len, &e, NULL, NULL, 0) < 0) return NULL;
  if (e->body_case == IOVBENCH__ENVELOPE__BODY_PREPARE) {
    Iovbench__Workload *w = e->prepare->workload;
    bind_addr = w->bind_address;
    peer_addr = w->peer_address;
    peer_ports = w->peer_ports;
    msg_size = w->msg_size;
    response_size = w->response_size;
    run_addrs = w->run_addresses;
    keep_local(&w->bind_address);
    keep_local(&w->peer_address);
    /* The run's addresses as the peer's: what became 127.0.0.1 is listed
     * as such (the first 16; the agent's check sees the rest unchanged). */
    if (w->n_run_addresses) {
      for (size_t i = 0; i < w->n_run_addresses && i < ELEMENTSOF(local_addrs); i++) {
        local_addrs[i] = w->run_addresses[i];
        keep_local(&local_addrs[i]);
      }
      if (w->n_run_addresses <= ELEMENTSOF(local_addrs)) w->run_addresses = local_addrs;
    }
    for (size_t i = 0; i < w->n_peer_ports && i < ELEMENTSOF(ports); i++) ports[i] = closed_port;
    if (w->n_peer_ports) w->peer_ports = ports;
    if (w->flows && w->msg_size > BUF_BUDGET / w->flows) w->msg_size = BUF_BUDGET / w->flows;
    if (w->flows && w->response_size > BUF_BUDGET / w->flows) w->response_size = BUF_BUDGET / w->flows;
    if (iov_wire_encode(e, &f) < 0) f = NULL;
    /* Back to what protobuf-c allocated, for iov_wire_free(). */
    w->bind_address = bind_addr;
    w->peer_address = peer_addr;
    w->run_addresses = run_addrs;
    w->peer_ports = peer_ports;
    w->msg_size = msg_size;
    w->response_size = response_size;
  } else if (e->body_case == IOVBENCH__ENVELOPE__BODY_START) {
    uint64_t now = iov_now_real();
    start_at = e->start->start_at_ns;
    if (start_at < now) start_at = now;
    if (start_at > now + START_MAX_AHEAD_NS) start_at = now + START_MAX_AHEAD_NS;
    e->start->start_at_ns = start_at;
    if (iov_wire_encode(e, &f) < 0) f = NULL;
  }
  iov_wire_free(e);
  return f;
}

static void send_frame(zsock_t *s, const char *rid, const uint8_t *data, size_t len, bool to_agent) {
  void *z = zsock_resolve(s);
  zframe_t *f = to_agent ? adjust(data, len) : NULL;
  if (f) {
    data = zframe_data(f);
    len = zframe_size(f);
  }
  if (rid && zmq_send(z, rid, strlen(rid), ZMQ_SNDMORE) < 0) die("send");
  if (zmq_send(z, data, len, 0) < 0) die("send");
  zframe_destroy(&f);
}

/* Everything queued for the harness: each message one envelope that the
 * peer accepts (ROUTER: behind the routing id). */
static void drain(zsock_t *s, bool router, const char *who) {
  for (;;) {
    zmsg_t *m = zmsg_recv_nowait(s);
    if (!m) return;
    if (router) zframe_destroy(&(zframe_t *){ zmsg_pop(m) });
    IOV_FUZZ_CHECK(zmsg_size(m) == 1, "%s got a message of %zu frames", who, zmsg_size(m));
    zframe_t *f = zmsg_first(m);
    iov_envelope *e = NULL;
    char why[256];
    int r = iov_wire_decode(zframe_data(f), zframe_size(f), &e, NULL, why, sizeof(why));
    IOV_FUZZ_CHECK(r == 0, "%s got a message it refuses: %s", who, why);
    iov_wire_free(e);
    zmsg_destroy(&m);
  }
}

static void settle(void) {
  for (int i = 0; i < 4; i++) {
    (void)uv_run(&host.loop, UV_RUN_NOWAIT);
    (void)uv_run(&guest.loop, UV_RUN_NOWAIT);
  }
  drain(coord, false, "coord");
  drain(vm, false, "the guest of the relay");
  drain(upstream, true, "the guest agent's host");
}

static void take(struct iov_zuv *z) {
  for (int i = 0; i < 16 && z->read_cb(z) != -EAGAIN; i++) {}
}

/* Back to an agent that nobody has spoken to. */
static void forget(struct iov_agent *a) {
  iov__agent_point_abort(a, "end of the fuzz input");
  zframe_destroy(&a->coord_id);
  free(a->coord_run);
  a->coord_run = NULL;
  a->coord_connected = false;
  a->coord_gone = false;
  a->coord_heartbeat_ns = 0;
  a->registered = false;
  a->register_msg_id = 0;
  a->session_id = 0;
  a->msg_id = 0;
  iov__relay_free(a);
  a->guests_cap = 0;
  memset(&a->wire_stats, 0, sizeof(a->wire_stats));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct iov_fuzz_reader rd = { data, size };
  const uint8_t *frame;
  size_t len;
  uint8_t tag;

  if (!ready) LLVMFuzzerInitialize(NULL, NULL);
  while (iov_fuzz_next(&rd, &tag, &frame, &len)) {
    switch (tag % 4) {
    case 0:
      send_frame(coord, NULL, frame, len, true);
      take(&host.zuv);
      break;
    case 1:
      send_frame(vm, NULL, frame, len, false);
      take(&host.guest_zuv);
      break;
    case 2:
      send_frame(upstream, "guest", frame, len, true);
      take(&guest.zuv);
      break;
    case 3:
      if (len && (frame[0] & 1)) (void)iov_sleep_until_real(iov_now_real() + START_MAX_AHEAD_NS);
      if (len && (frame[0] & 2)) iov__agent_deadman_check(&host);
      break;
    }
    settle();
  }
  forget(&host);
  forget(&guest);
  settle();
  return 0;
}
