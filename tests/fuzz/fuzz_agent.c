/* Fuzz target: the agent's message handling (agent/session.c,
 * sampler.c, transport.c and the host part's host/relay.c), driven as the
 * event loop drives it but without a network.
 *
 * Two agents live in this process, each made by iov_agent_new() from a
 * config as their mains make them (the real start-up: sockets, hooks,
 * timers): a host agent (ROUTER for coord, and its relay's ROUTER for
 * guests) and a guest agent (DEALER to its host).  The harness holds the
 * other end of each socket, over inproc:
 *   coord  DEALER -> host agent            (what coord sends a host)
 *   vm     DEALER -> host agent's relay    (what a guest sends its host)
 *   host   ROUTER <- guest agent           (what a host sends its guest)
 * An input is records [tag][length, 2 bytes LE][frame] (fuzz.h):
 *   tag % 4 == 0  the frame goes from coord to the host agent
 *              1  from the vm to the relay
 *              2  from the host to the guest agent
 *              3  no frame: frame[0] bit 0: wait 5 ms (so that the timers
 *                 of a point fire); bit 1: the host agent's dead-man check
 *                 (iov__session_tick(), its timer's work)
 * After each frame the agent's read callback takes it (the one the zuv
 * bridge calls; the relay's socket is read by its loop), the loops run,
 * and everything the agents sent is
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

#include "auth.h"
#include "fuzz.h"
#include "relay.h"
#include "session.h"
#include "timeutil.h"

#define BUF_BUDGET (64u << 20)
#define START_MAX_AHEAD_NS (5 * IOV_NSEC_PER_MSEC)

static struct iov_agent *host, *guest;
static zsock_t *coord, *vm, *upstream;
static zframe_t *guest_rid; /* the guest agent's routing id at 'upstream' */
static uint16_t closed_port;
static int closed_fds[2] = { -1, -1 };
static bool ready;

/* At exit the agents stop as on SIGTERM and the sockets go (czmq
 * complains of any left). */
static void cleanup(void) {
  host = iov_agent_free(host);
  guest = iov_agent_free(guest);
  zframe_destroy(&guest_rid);
  zsock_destroy(&coord);
  zsock_destroy(&vm);
  zsock_destroy(&upstream);
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

static const struct iov_relay_config relay_cfg = {
  .guest_listen = "inproc://fuzz-relay",
  .listen = "inproc://fuzz-agent",
  .key_listen = "none",
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  iov_fuzz_quiet();
  reserve_closed_port();

  /* Both agents as their mains start them, on inproc endpoints and
   * plaintext.  The host agent has caps, so that refusals are reached. */
  const struct iov_agent_config host_cfg = {
    .kind = IOV_AGENT_HOST,
    .caps = { .max_duration_ns = 3600 * IOV_NSEC_PER_SEC,
              .max_flows = 64,
              .max_rate_bps = 10000000000ULL,
              .max_msg_size = 1u << 20,
              .max_vms = 8 },
    .listen = "inproc://fuzz-agent",
    .identity = "fuzz-host",
    .host = &iov_relay_hooks,
    .host_config = (void *)&relay_cfg,
    .plaintext = true,
  };
  if (iov_agent_new(&host_cfg, &host) < 0) die("host agent");
  coord = sock_new(ZMQ_DEALER, "coord");
  vm = sock_new(ZMQ_DEALER, "vm-1-rid");
  if (zsock_connect(coord, "inproc://fuzz-agent") < 0 || zsock_connect(vm, "inproc://fuzz-relay") < 0)
    die("connect");

  upstream = sock_new(ZMQ_ROUTER, NULL);
  zsock_set_router_mandatory(upstream, 1);
  if (zsock_bind(upstream, "inproc://fuzz-upstream") < 0) die("bind upstream");
  const struct iov_agent_config guest_cfg = {
    .kind = IOV_AGENT_GUEST,
    .connect = "inproc://fuzz-upstream",
    .identity = "vm-1",
  };
  if (iov_agent_new(&guest_cfg, &guest) < 0) die("guest agent");
  /* Its first registration: the host side learns its routing id. */
  zmsg_t *m = zmsg_recv(upstream);
  if (!m) die("no registration");
  guest_rid = zmsg_pop(m);
  zmsg_destroy(&m);
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

static void send_frame(zsock_t *s, zframe_t *rid, const uint8_t *data, size_t len, bool to_agent) {
  void *z = zsock_resolve(s);
  zframe_t *f = to_agent ? adjust(data, len) : NULL;
  if (f) {
    data = zframe_data(f);
    len = zframe_size(f);
  }
  if (rid && zmq_send(z, zframe_data(rid), zframe_size(rid), ZMQ_SNDMORE) < 0) die("send");
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
    (void)uv_run(iov_agent_loop(host), UV_RUN_NOWAIT);
    (void)uv_run(iov_agent_loop(guest), UV_RUN_NOWAIT);
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
  iov__session_point_abort(a, "end of the fuzz input");
  zframe_destroy(&a->coord_id);
  free(a->coord_run);
  a->coord_run = NULL;
  a->conn = a->kind == IOV_AGENT_HOST ? IOV_CONN_IDLE : IOV_CONN_REGISTERING;
  a->coord_heartbeat_ns = 0;
  a->register_msg_id = 0;
  a->session_id = 0;
  a->msg_id = 0;
  iov__relay_forget_guests(a);
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
      take(&host->zuv);
      break;
    case 1:
      /* The relay's socket is the host part's: its loop reads it. */
      send_frame(vm, NULL, frame, len, false);
      break;
    case 2:
      send_frame(upstream, guest_rid, frame, len, true);
      take(&guest->zuv);
      break;
    case 3:
      if (len && (frame[0] & 1)) (void)iov_sleep_until_real(iov_now_real() + START_MAX_AHEAD_NS);
      if (len && (frame[0] & 2)) iov__session_tick(host); /* its dead-man timer's work */
      break;
    }
    settle();
  }
  forget(host);
  forget(guest);
  settle();
  return 0;
}
