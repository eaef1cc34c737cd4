/* The engine runner: sockets, threads and the start instant for any
 * engine; the engine itself only supplies the hot loop (ops->flow_run). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "timeutil.h"

/* Receivers give up on a silent sender this long after the window ends. */
#define RECEIVER_GRACE_NS IOV_ENGINE_DRAIN_GRACE_NS
/* Blocking socket calls wake up this often to look at stop and deadline. */
#define IO_WAKEUP_MS 200
/* A flow's sleeps are cut into slices so that a stop is seen within one. */
#define FLOW_SLEEP_SLICE_NS (50 * IOV_NSEC_PER_MSEC)

struct iov_engine_run {
  const struct iov_engine_ops *ops;
  struct iov_engine_config cfg;
  char *bind_address;
  char *peer_address;
  char *interface;
  uint16_t *peer_ports;
  uint16_t *cpus;
  uint8_t token[IOV_ENGINE_TOKEN_LEN];
  _Alignas(uint64_t) unsigned char opts[IOV_ENGINE_MAX_OPTS_SIZE]; /* the engine's option struct */
  int go; /* atomic: the start instant is set (receivers'
                         * threads answer hellos from the prepare on) */
  /* IOV_ENG_F_CONN_PER_TRANS sender: bind_address, resolved once in
   * prepare (bind_len 0 = no bind). */
  struct sockaddr_storage bind_ss;
  socklen_t bind_len;
  struct iov_flow *flows;
  pthread_t *threads;
  unsigned n_threads;
  uint64_t start_at_ns;   /* CLOCK_REALTIME, as coord handed it out */
  uint64_t start_mono_ns; /* the same instant, CLOCK_MONOTONIC: what the flows wait for */
  iov_engine_done_cb done_cb;
  void *done_userdata;
  int stop;    /* atomic */
  int running; /* atomic: flow threads not yet finished */
  bool started;
  bool joined;
};

const char *iov_role_to_string(enum iov_role r) {
  switch (r) {
  case IOV_ROLE_SENDER: return "sender";
  case IOV_ROLE_RECEIVER: return "receiver";
  default: return "invalid";
  }
}

bool iov_flow_should_stop(const struct iov_flow *f) {
  return __atomic_load_n(&f->run->stop, __ATOMIC_RELAXED) != 0;
}

int iov_engine_run_new(const struct iov_engine_ops *ops, const struct iov_engine_config *cfg,
                       struct iov_engine_run **ret) {
  struct iov_engine_run *r;
  size_t bufsize;

  if (!ops || !cfg || !ret) return -EINVAL;
  if (cfg->flows < 1 || cfg->flows > IOV_ENGINE_MAX_FLOWS) return -EINVAL;
  if (cfg->msg_size < 1 || cfg->msg_size > IOV_ENGINE_MAX_MSG) return -EINVAL;
  if ((ops->flags & IOV_ENG_F_RR) && (cfg->response_size < 1 || cfg->response_size > IOV_ENGINE_MAX_MSG))
    return -EINVAL;
  if (cfg->duration_ns == 0) return -EINVAL;
  if (cfg->role != IOV_ROLE_SENDER && cfg->role != IOV_ROLE_RECEIVER) return -EINVAL;
  if (cfg->role == IOV_ROLE_SENDER && (!cfg->peer_address || !cfg->peer_ports)) return -EINVAL;
  if (!cfg->token) return -EINVAL; /* no hello, no traffic */
  if (ops->option_struct_size > IOV_ENGINE_MAX_OPTS_SIZE) return -EINVAL;
  _Alignas(uint64_t) unsigned char opts[IOV_ENGINE_MAX_OPTS_SIZE];
  if (cfg->opts)
    memcpy(opts, cfg->opts, ops->option_struct_size);
  else
    iov_engine_opts_default(ops, opts);
  if (iov_engine_opts_check(ops, opts, NULL, 0) < 0) return -EINVAL;
  if (ops->check) {
    struct iov_engine_config c = *cfg;
    c.opts = opts;
    int k = ops->check(&c);
    if (k < 0) return k;
  }

  r = calloc(1, sizeof(*r));
  if (!r) return -ENOMEM;
  r->ops = ops;
  r->cfg = *cfg;
  memcpy(r->opts, opts, ops->option_struct_size);
  r->cfg.opts = r->opts;
  memcpy(r->token, cfg->token, IOV_ENGINE_TOKEN_LEN);
  r->cfg.token = r->token;
  r->flows = aligned_alloc(IOV_CACHELINE, sizeof(struct iov_flow) * cfg->flows);
  r->threads = calloc(cfg->flows, sizeof(pthread_t));
  if (!r->flows || !r->threads) goto oom;
  memset(r->flows, 0, sizeof(struct iov_flow) * cfg->flows);
  if (cfg->bind_address && *cfg->bind_address) {
    r->bind_address = strdup(cfg->bind_address);
    if (!r->bind_address) goto oom;
  }
  r->cfg.bind_address = r->bind_address;
  if (cfg->role == IOV_ROLE_RECEIVER && cfg->peer_address && *cfg->peer_address) {
    r->peer_address = strdup(cfg->peer_address); /* the expected sender */
    if (!r->peer_address) goto oom;
  }
  if (cfg->role == IOV_ROLE_SENDER) {
    r->peer_address = strdup(cfg->peer_address);
    r->peer_ports = calloc(cfg->flows, sizeof(uint16_t));
    if (!r->peer_address || !r->peer_ports) goto oom;
    memcpy(r->peer_ports, cfg->peer_ports, cfg->flows * sizeof(uint16_t));
  }
  r->cfg.peer_address = r->peer_address;
  r->cfg.peer_ports = r->peer_ports;
  if (cfg->interface && *cfg->interface) {
    r->interface = strdup(cfg->interface);
    if (!r->interface) goto oom;
  }
  r->cfg.interface = r->interface;
  if (cfg->n_cpus) {
    r->cpus = calloc(cfg->n_cpus, sizeof(uint16_t));
    if (!r->cpus) goto oom;
    memcpy(r->cpus, cfg->cpus, cfg->n_cpus * sizeof(uint16_t));
  }
  r->cfg.cpus = r->cpus;
  if (r->cfg.connect_timeout_ns == 0) r->cfg.connect_timeout_ns = 5 * IOV_NSEC_PER_SEC;

  bufsize = cfg->msg_size;
  if ((ops->flags & IOV_ENG_F_RR) && cfg->response_size > bufsize) bufsize = cfg->response_size;
  if (bufsize < IOV_HELLO_LEN) bufsize = IOV_HELLO_LEN; /* a UDP hello is read into it whole */
  for (unsigned i = 0; i < cfg->flows; i++) {
    struct iov_flow *f = &r->flows[i];
    f->idx = i;
    f->fd = -1;
    f->listen_fd = -1;
    f->run = r;
    f->cfg = &r->cfg;
    iov_hist_init(&f->stats.hist);
    f->buf_size = bufsize;
    f->buf = malloc(bufsize);
    if (!f->buf) {
      r->cfg.flows = i + 1; /* so free releases what exists */
      goto oom;
    }
    /* A recognisable, non-zero payload; its content is never checked. */
    memset(f->buf, 'i', bufsize);
  }
  *ret = r;
  return 0;
oom:
  iov_engine_run_free(r);
  return -ENOMEM;
}

unsigned iov_engine_run_flows(const struct iov_engine_run *r) { return r->cfg.flows; }

static int resolve(const char *addr, uint16_t port, bool passive, struct sockaddr_storage *ss,
                   socklen_t *len) {
  struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
  struct addrinfo *res = NULL;
  char portbuf[8];
  int r;

  if (passive) hints.ai_flags |= AI_PASSIVE;
  snprintf(portbuf, sizeof(portbuf), "%u", port);
  r = getaddrinfo(addr && *addr ? addr : NULL, portbuf, &hints, &res);
  if (r != 0) return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static void set_io_timeouts(int fd) {
  struct timeval tv = { .tv_sec = 0, .tv_usec = IO_WAKEUP_MS * 1000 };
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The common options, then the engine's own. */
static int run_sockopts(const struct iov_engine_run *r, int fd) {
  int k = iov_engine_sockopts(&r->cfg, r->ops->flags, fd);
  if (k == 0 && r->ops->sockopts) k = r->ops->sockopts(&r->cfg, fd);
  return k;
}

int iov_engine_sockopts(const struct iov_engine_config *cfg, unsigned flags, int fd) {
  int one = 1;
  if (cfg->send_buffer) {
    int v = cfg->send_buffer > INT32_MAX / 2 ? INT32_MAX / 2 : (int)cfg->send_buffer;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0) return -errno;
  }
  if (cfg->recv_buffer) {
    int v = cfg->recv_buffer > INT32_MAX / 2 ? INT32_MAX / 2 : (int)cfg->recv_buffer;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0) return -errno;
  }
  if (cfg->nodelay && !(flags & IOV_ENG_F_UDP) &&
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
    return -errno;
  if (cfg->interface && *cfg->interface &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg->interface, (socklen_t)strlen(cfg->interface) + 1) < 0)
    return -errno;
  return 0;
}

static int sock_type(const struct iov_engine_run *r) {
  return (r->ops->flags & IOV_ENG_F_UDP) ? SOCK_DGRAM : SOCK_STREAM;
}

static void *flow_thread(void *arg);

/* A receiver's flow thread from the prepare on: it answers the hello
 * (handshake.c) until the start flag, then runs as any flow thread. */
static void *receiver_thread(void *arg) {
  struct iov_flow *f = arg;
  struct iov_engine_run *r = f->run;
  int k;

  if (r->ops->flags & IOV_ENG_F_UDP)
    k = iov__hello_udp_wait(f);
  else {
    k = iov__hello_accept(f, 0, true);
    if (k >= 0 && (r->ops->flags & IOV_ENG_F_CONN_PER_TRANS))
      close(k); /* tcp_crr: the hello's own connection; the peer is known */
    else if (k >= 0)
      __atomic_store_n(&f->fd, k, __ATOMIC_RELEASE);
    if (k >= 0 || k == -EAGAIN) k = 0; /* -EAGAIN: the start came first; the flow goes on accepting */
  }
  while (!iov__flow_go(f) && !iov_flow_should_stop(f))
    (void)iov_sleep_until_mono(iov_now_mono() + 5 * IOV_NSEC_PER_MSEC);
  if (!iov__flow_go(f)) {
    /* Stopped before the start: the point never ran. */
    __atomic_sub_fetch(&r->running, 1, __ATOMIC_ACQ_REL);
    return NULL;
  }
  if (k < 0 && k != -ECANCELED) __atomic_store_n(&f->stats.error, k, __ATOMIC_RELAXED);
  return flow_thread(arg);
}

/* One thread per flow running fn.  If one cannot be made, the threads
 * already started see the stop, are joined, and the done callback does
 * not fire. */
static int start_flow_threads(struct iov_engine_run *r, void *(*fn)(void *)) {
  __atomic_store_n(&r->running, (int)r->cfg.flows, __ATOMIC_RELEASE);
  for (unsigned i = 0; i < r->cfg.flows; i++) {
    int k = pthread_create(&r->threads[i], NULL, fn, &r->flows[i]);
    if (k != 0) {
      r->done_cb = NULL;
      __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
      __atomic_sub_fetch(&r->running, (int)(r->cfg.flows - i), __ATOMIC_ACQ_REL);
      r->n_threads = i;
      iov_engine_run_stop(r);
      return -k;
    }
    r->n_threads = i + 1;
  }
  return 0;
}

bool iov__flow_go(const struct iov_flow *f) { return __atomic_load_n(&f->run->go, __ATOMIC_ACQUIRE) != 0; }

static int prepare_receiver(struct iov_engine_run *r, uint16_t *ret_ports, char *err, size_t errlen) {
  for (unsigned i = 0; i < r->cfg.flows; i++) {
    struct iov_flow *f = &r->flows[i];
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd, k;

    k = resolve(r->cfg.bind_address, 0, true, &ss, &len);
    if (k < 0) return k;
    fd = socket(ss.ss_family, sock_type(r) | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (r->ops->flags & IOV_ENG_F_UDP) {
      /* A datagram flow has no connection: the bound socket is the flow. */
      f->fd = fd;
      set_io_timeouts(fd);
    } else
      f->listen_fd = fd;
    k = run_sockopts(r, fd);
    if (k < 0) return k;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) return -errno;
    if (!(r->ops->flags & IOV_ENG_F_UDP) && listen(fd, 128) < 0) return -errno;
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    f->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    if (r->ops->flow_prepare && (k = r->ops->flow_prepare(f, err, errlen)) < 0) return k;
    ret_ports[i] = f->port;
  }
  return start_flow_threads(r, receiver_thread);
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, uint64_t timeout_ns) {
  int fl = fcntl(fd, F_GETFL);
  int k, err = 0;
  socklen_t elen = sizeof(err);

  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  k = connect(fd, sa, len);
  if (k < 0 && errno != EINPROGRESS) return -errno;
  if (k < 0) {
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    do k = poll(&p, 1, (int)(timeout_ns / IOV_NSEC_PER_MSEC));
    while (k < 0 && errno == EINTR);
    if (k < 0) return -errno;
    if (k == 0) return -ETIMEDOUT;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return -errno;
    if (err) return -err;
  }
  if (fcntl(fd, F_SETFL, fl) < 0) return -errno;
  return 0;
}

/* A sender that connects per transaction opens no socket in prepare; one
 * probe socket checks the options (a missing interface, say) now rather
 * than in the first transaction, and bind_address is resolved once. */
static int prepare_conn_per_trans(struct iov_engine_run *r) {
  int fd, k;
  if (r->cfg.bind_address) {
    k = resolve(r->cfg.bind_address, 0, true, &r->bind_ss, &r->bind_len);
    if (k < 0) return k;
  }
  fd = socket(r->flows[0].peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  k = run_sockopts(r, fd);
  close(fd);
  return k;
}

static int prepare_sender(struct iov_engine_run *r, char *err, size_t errlen) {
  if (r->ops->flags & IOV_ENG_F_CONN_PER_TRANS) {
    for (unsigned i = 0; i < r->cfg.flows; i++) {
      struct iov_flow *f = &r->flows[i];
      int k = resolve(r->cfg.peer_address, r->cfg.peer_ports[i], false, &f->peer, &f->peer_len);
      if (k < 0) return k;
    }
    int k = prepare_conn_per_trans(r);
    for (unsigned i = 0; k == 0 && i < r->cfg.flows; i++)
      k = iov__hello_sender(&r->flows[i], r->ops->flags, err, errlen);
    return k;
  }
  for (unsigned i = 0; i < r->cfg.flows; i++) {
    struct iov_flow *f = &r->flows[i];
    struct sockaddr_storage ss, local;
    socklen_t len, llen;
    int fd, k;

    k = resolve(r->cfg.peer_address, r->cfg.peer_ports[i], false, &ss, &len);
    if (k < 0) return k;
    f->peer = ss;
    f->peer_len = len;
    fd = socket(ss.ss_family, sock_type(r) | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    f->fd = fd;
    k = run_sockopts(r, fd);
    if (k < 0) return k;
    if (r->cfg.bind_address) {
      k = resolve(r->cfg.bind_address, 0, true, &local, &llen);
      if (k < 0) return k;
      if (bind(fd, (struct sockaddr *)&local, llen) < 0) return -errno;
    }
    k = connect_timeout(fd, (struct sockaddr *)&ss, len, r->cfg.connect_timeout_ns);
    if (k < 0) return k;
    set_io_timeouts(fd);
    if (r->ops->flow_prepare && (k = r->ops->flow_prepare(f, err, errlen)) < 0) return k;
    /* Nothing but the hello goes out before the receiver answered it. */
    k = iov__hello_sender(f, r->ops->flags, err, errlen);
    if (k < 0) return k;
  }
  return 0;
}

int iov_engine_run_prepare(struct iov_engine_run *r, uint16_t *ret_ports, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (r->started || r->n_threads) return -EBUSY;
  if (r->cfg.role == IOV_ROLE_RECEIVER) return prepare_receiver(r, ret_ports, err, errlen);
  return prepare_sender(r, err, errlen);
}

/* Polling, so that a stop or a sender that never comes ends the wait.
 * Only connections from the address that said hello are taken (tcp_crr
 * connects per transaction, after one hello per flow); a flow whose hello
 * did not come before the start takes it here first. */
int iov_flow_accept(struct iov_flow *f, uint64_t until_mono_ns) {
  if (!f->hello_peer_len) {
    int fd = iov__hello_accept(f, until_mono_ns, false);
    if (fd < 0) return fd;
    close(fd);
  }
  while (!iov_flow_should_stop(f)) {
    struct pollfd p = { .fd = f->listen_fd, .events = POLLIN };
    int k = poll(&p, 1, IO_WAKEUP_MS);
    if (k < 0 && errno != EINTR) return -errno;
    if (k > 0) {
      struct sockaddr_storage from;
      socklen_t from_len = sizeof(from);
      int fd = accept4(f->listen_fd, (struct sockaddr *)&from, &from_len, SOCK_CLOEXEC);
      if (fd < 0) {
        /* A stop shuts the listening socket down: accept fails (EINVAL). */
        if (iov_flow_should_stop(f)) break;
        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
        return -errno;
      }
      if (!iov__flow_same_host(&from, &f->hello_peer)) {
        close(fd); /* not the host that said hello: unanswered */
        IOV_FLOW_SET(f, ignored, f->stats.ignored + 1);
        continue;
      }
      set_io_timeouts(fd);
      return fd;
    }
    if (until_mono_ns && iov_now_mono() >= until_mono_ns) return -ETIMEDOUT;
  }
  return -ECANCELED;
}

int iov_flow_connect(struct iov_flow *f, uint64_t until_mono_ns) {
  const struct iov_engine_run *r = f->run;
  uint64_t until = iov_now_mono() + r->cfg.connect_timeout_ns;
  int fd, k, err = 0, one = 1;
  socklen_t elen = sizeof(err);

  if (until_mono_ns && until_mono_ns < until) until = until_mono_ns;
  fd = socket(f->peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  k = run_sockopts(r, fd);
  if (k < 0) goto fail;
  if (r->bind_len) {
    /* Without this, bind reserves a port for every destination at once;
     * with it, connect picks one per 4-tuple, as without a bind. */
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&r->bind_ss, r->bind_len) < 0) goto fail_errno;
  }
  /* With SO_SNDTIMEO set, a blocking connect gives up after one wake-up
   * with EINPROGRESS while the handshake goes on; then poll in slices
   * that see a stop.  On a fast path (loopback) it is one syscall. */
  set_io_timeouts(fd);
  if (connect(fd, (const struct sockaddr *)&f->peer, f->peer_len) < 0) {
    if (errno != EINPROGRESS && errno != EINTR && errno != EALREADY) goto fail_errno;
    for (;;) {
      struct pollfd p = { .fd = fd, .events = POLLOUT };
      if (iov_flow_should_stop(f)) {
        k = -ECANCELED;
        goto fail;
      }
      if (iov_now_mono() >= until) {
        k = -ETIMEDOUT;
        goto fail;
      }
      k = poll(&p, 1, IO_WAKEUP_MS);
      if (k < 0 && errno != EINTR) goto fail_errno;
      if (k > 0) break;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) goto fail_errno;
    if (err) {
      k = -err;
      goto fail;
    }
  }
  return fd;
fail_errno:
  k = -errno;
fail:
  close(fd);
  return k;
}

/* Receiver: take the flow's one connection, the first that says hello
 * with the token (unless the thread took it before the start). */
static int accept_flow(struct iov_flow *f, uint64_t until_mono) {
  if (__atomic_load_n(&f->fd, __ATOMIC_ACQUIRE) >= 0) return 0;
  int fd = iov__hello_accept(f, until_mono, false);
  if (fd < 0) return fd;
  __atomic_store_n(&f->fd, fd, __ATOMIC_RELEASE);
  return 0;
}

/* Sleep to the start instant in slices, so that a stop is seen.  The
 * instant is monotonic (converted once, in iov_engine_run_start): a step
 * of the machine's clock does not move it. */
int iov_flow_sleep_until(struct iov_flow *f, uint64_t until_mono) {
  for (;;) {
    uint64_t now = iov_now_mono();
    if (iov_flow_should_stop(f)) return -ECANCELED;
    if (now >= until_mono) return 0;
    uint64_t slice = until_mono - now;
    if (slice > FLOW_SLEEP_SLICE_NS) slice = FLOW_SLEEP_SLICE_NS;
    (void)iov_sleep_until_mono(now + slice);
  }
}

/* A CLOCK_REALTIME stamp on the run's own timeline: the start instant
 * plus the monotonic time since.  A clock step mid-point moves neither
 * the flows' stamps nor the Result's completeness check. */
static uint64_t run_stamp_at(const struct iov_engine_run *r, uint64_t mono) {
  return mono >= r->start_mono_ns ? r->start_at_ns + (mono - r->start_mono_ns)
                                  : r->start_at_ns - (r->start_mono_ns - mono);
}

static uint64_t run_stamp(const struct iov_engine_run *r) { return run_stamp_at(r, iov_now_mono()); }

uint64_t iov_flow_stamp(const struct iov_flow *f) { return run_stamp(f->run); }

uint64_t iov_flow_stamp_at(const struct iov_flow *f, uint64_t mono) { return run_stamp_at(f->run, mono); }

static void pin_thread(const struct iov_flow *f) {
  const struct iov_engine_config *c = f->cfg;
  cpu_set_t set;
  if (!c->n_cpus) return;
  CPU_ZERO(&set);
  CPU_SET(c->cpus[f->idx % c->n_cpus], &set);
  /* A CPU that does not exist is reported by the flow, not ignored. */
  int k = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (k) __atomic_store_n(&f->run->flows[f->idx].stats.error, -k, __ATOMIC_RELAXED);
}

static void *flow_thread(void *arg) {
  struct iov_flow *f = arg;
  struct iov_engine_run *r = f->run;
  uint64_t start_mono = r->start_mono_ns, now_mono = iov_now_mono();
  uint64_t window_end_mono = (start_mono > now_mono ? start_mono : now_mono) + r->cfg.duration_ns;
  int k = 0;

  pin_thread(f);
  /* Wake at the start instant, not up to 50 us after it (the default
   * slack the kernel may add to a normal thread's sleep). */
  (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  k = __atomic_load_n(&f->stats.error, __ATOMIC_RELAXED);
  f->window_end_mono = window_end_mono;
  if (k == 0 && r->cfg.role == IOV_ROLE_RECEIVER &&
      !(r->ops->flags & (IOV_ENG_F_UDP | IOV_ENG_F_CONN_PER_TRANS))) {
    k = accept_flow(f, window_end_mono + RECEIVER_GRACE_NS);
    window_end_mono += RECEIVER_GRACE_NS;
  }
  if (k == 0) k = iov_flow_sleep_until(f, start_mono);
  if (k == 0) {
    __atomic_store_n(&f->stats.t_start_ns, run_stamp(r), __ATOMIC_RELAXED);
    k = r->ops->flow_run(f, window_end_mono);
    /* A TCP sender half-closes, so the receiver sees EOF after the last byte. */
    if (r->cfg.role == IOV_ROLE_SENDER && f->fd >= 0 && !(r->ops->flags & IOV_ENG_F_UDP))
      (void)shutdown(f->fd, SHUT_WR);
  }
  /* Stopped on request: not a flow error.  A stop shuts the sockets
   * down, so an engine may see that as EOF, EPIPE or ECONNRESET (a peer's
   * data reaching a socket shut down for reading is answered with a RST)
   * rather than as -ECANCELED: any error after a stop counts as the stop. */
  if (k == -ECANCELED || (k < 0 && iov_flow_should_stop(f))) k = 0;
  __atomic_store_n(&f->stats.error, k, __ATOMIC_RELAXED);
  /* An engine may have set the end itself (the last datagram's arrival);
   * otherwise the flow ended now. */
  uint64_t end = __atomic_load_n(&f->stats.t_end_ns, __ATOMIC_RELAXED);
  __atomic_store_n(&f->stats.t_end_ns, end ? end : run_stamp(r), __ATOMIC_RELEASE);
  if (__atomic_sub_fetch(&r->running, 1, __ATOMIC_ACQ_REL) == 0 && r->done_cb) r->done_cb(r->done_userdata);
  return NULL;
}

int iov_engine_run_start(struct iov_engine_run *r, uint64_t start_at_ns, iov_engine_done_cb cb,
                         void *userdata) {
  if (r->started) return -EBUSY;
  r->start_at_ns = start_at_ns;
  r->start_mono_ns = iov_real_to_mono(start_at_ns);
  r->done_cb = cb;
  r->done_userdata = userdata;
  r->started = true;
  if (r->joined) return -ECANCELED; /* stopped before the start */
  /* A receiver's threads exist since the prepare: they are told to go on. */
  __atomic_store_n(&r->go, 1, __ATOMIC_RELEASE);
  if (r->n_threads) return 0;
  return start_flow_threads(r, flow_thread);
}

bool iov_engine_run_done(const struct iov_engine_run *r) {
  return r->started && __atomic_load_n(&r->running, __ATOMIC_ACQUIRE) == 0;
}

void iov_engine_run_snapshot(const struct iov_engine_run *r, unsigned i, struct iov_flow_stats *ret) {
  const struct iov_flow_stats *s = &r->flows[i].stats;
  ret->t_end_ns = __atomic_load_n(&s->t_end_ns, __ATOMIC_ACQUIRE);
  ret->bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
  ret->messages = __atomic_load_n(&s->messages, __ATOMIC_RELAXED);
  ret->transactions = __atomic_load_n(&s->transactions, __ATOMIC_RELAXED);
  ret->t_start_ns = __atomic_load_n(&s->t_start_ns, __ATOMIC_RELAXED);
  ret->error = __atomic_load_n(&s->error, __ATOMIC_RELAXED);
  ret->lost = __atomic_load_n(&s->lost, __ATOMIC_RELAXED);
  ret->out_of_order = __atomic_load_n(&s->out_of_order, __ATOMIC_RELAXED);
  ret->duplicates = __atomic_load_n(&s->duplicates, __ATOMIC_RELAXED);
  ret->jitter_ns = __atomic_load_n(&s->jitter_ns, __ATOMIC_RELAXED);
  ret->ignored = __atomic_load_n(&s->ignored, __ATOMIC_RELAXED);
  iov_hist_snapshot(&ret->hist, &s->hist);
}

/* glibc's struct tcp_info stops at tcpi_total_retrans; the kernel's goes
 * on (Linux 4.2+) with the segment counters.  Its layout, from
 * linux/tcp.h, which cannot be included next to netinet/tcp.h. */
struct tcp_info_segs {
  struct tcp_info ti;
  uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
  uint32_t segs_out, segs_in;
};
_Static_assert(offsetof(struct tcp_info_segs, segs_out) == 136, "the kernel's tcpi_segs_out is at 136");

int iov_engine_run_tcp_info(const struct iov_engine_run *r, unsigned i, struct iov_tcp_info *ret) {
  struct tcp_info_segs tis;
  const struct tcp_info *ti = &tis.ti;
  socklen_t len = sizeof(tis);
  if (r->ops->flags & IOV_ENG_F_UDP) return -ENOTSUP;
  if (i >= r->cfg.flows) return -EINVAL;
  /* After the join the sockets are still open (closed in free), so the
   * final sample can read them too. */
  int fd = __atomic_load_n(&r->flows[i].fd, __ATOMIC_ACQUIRE);
  if (fd < 0) return -ENOTCONN;
  memset(&tis, 0, sizeof(tis));
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &tis, &len) < 0) return -errno;
  ret->retransmits = ti->tcpi_total_retrans;
  ret->rtt_us = ti->tcpi_rtt;
  ret->rttvar_us = ti->tcpi_rttvar;
  ret->snd_cwnd = ti->tcpi_snd_cwnd;
  /* An older kernel fills less (len says how much): the rest stays 0. */
  ret->segs_out = len >= offsetof(struct tcp_info_segs, segs_in) ? tis.segs_out : 0;
  ret->segs_in = len >= offsetof(struct tcp_info_segs, segs_in) + sizeof(tis.segs_in) ? tis.segs_in : 0;
  return 0;
}

void iov_engine_run_stop(struct iov_engine_run *r) {
  if (!r || r->joined) return;
  __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
  /* Wake threads blocked in send/recv; sockets are closed only after the
   * join, so no fd number is reused under a running thread. */
  for (unsigned i = 0; i < r->cfg.flows; i++) {
    int fd = __atomic_load_n(&r->flows[i].fd, __ATOMIC_ACQUIRE);
    if (fd >= 0) (void)shutdown(fd, SHUT_RDWR);
    if (r->flows[i].listen_fd >= 0) (void)shutdown(r->flows[i].listen_fd, SHUT_RDWR);
  }
  for (unsigned i = 0; i < r->n_threads; i++) pthread_join(r->threads[i], NULL);
  r->n_threads = 0;
  r->joined = true;
}

struct iov_engine_run *iov_engine_run_free(struct iov_engine_run *r) {
  if (!r) return NULL;
  iov_engine_run_stop(r);
  if (r->flows)
    for (unsigned i = 0; i < r->cfg.flows; i++) {
      if (r->flows[i].fd >= 0) close(r->flows[i].fd);
      if (r->flows[i].listen_fd >= 0) close(r->flows[i].listen_fd);
      free(r->flows[i].buf);
    }
  free(r->flows);
  free(r->threads);
  free(r->bind_address);
  free(r->peer_address);
  free(r->peer_ports);
  free(r->interface);
  free(r->cpus);
  free(r);
  return NULL;
}
