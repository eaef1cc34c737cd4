/* CurveZMQ keys, the ZAP handler and the key endpoint (see auth.h). */
#include "auth.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "macro.h"
#include "timeutil.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define LOG_LINES_PER_SEC 5
/* What zcert says when a certificate has no secret key. */
#define FORTY_ZEROES "0000000000000000000000000000000000000000"

int iov_key_dir_default(bool agent, char *buf, size_t len) {
  const char *env = getenv(IOV_KEY_DIR_ENV), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
  int n;
  if (env && *env)
    n = snprintf(buf, len, "%s", env);
  else if (agent)
    n = snprintf(buf, len, "%s", IOV_AGENT_KEY_DIR);
  else if (xdg && *xdg == '/')
    n = snprintf(buf, len, "%s/iovbench", xdg);
  else if (home && *home)
    n = snprintf(buf, len, "%s/.config/iovbench", home);
  else
    return -ENOENT;
  return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool iov_key_text_ok(const char *text) {
  uint8_t bin[32];
  return text && strlen(text) == IOV_KEY_TEXT_LEN && zmq_z85_decode(bin, text) != NULL;
}

int iov_key_load(const char *dir, const char *name, bool create, zcert_t **ret, bool *ret_created, char *err,
                 size_t errlen) {
  char pub[PATH_MAX], sec[PATH_MAX + 8];
  struct stat st;
  if (ret_created) *ret_created = false;
  if ((size_t)snprintf(pub, sizeof(pub), "%s/%s.key", dir, name) >= sizeof(pub))
    return iov_errf(-ENAMETOOLONG, err, errlen, "key directory name too long: %s", dir);
  snprintf(sec, sizeof(sec), "%s_secret", pub);
  if (stat(sec, &st) == 0) {
    zcert_t *c = zcert_load(pub);
    if (!c || !iov_key_text_ok(zcert_secret_txt(c)) || !strcmp(zcert_secret_txt(c), FORTY_ZEROES)) {
      zcert_destroy(&c);
      return iov_errf(-EBADMSG, err, errlen,
                      "%s is not a key pair as iovbench writes it (a zcert secret certificate); move it "
                      "away and a new one is made",
                      sec);
    }
    *ret = c;
    if (st.st_mode & 077)
      return iov_errf(1, err, errlen,
                      "%s can be read by other users (mode %03o): chmod 600 it, it is a secret key", sec,
                      (unsigned)(st.st_mode & 0777));
    return 0;
  }
  if (errno != ENOENT) return iov_errf(-errno, err, errlen, "cannot read %s: %s", sec, strerror(errno));
  if (!create)
    return iov_errf(-ENOENT, err, errlen,
                    "no key in %s (%s.key_secret is missing): make one with 'coord keygen'", dir, name);
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return iov_errf(-errno, err, errlen,
                    "cannot create the key directory %s: %s (choose another with --key-dir)", dir,
                    strerror(errno));
  zcert_t *c = zcert_new();
  if (!c) return -ENOMEM;
  char host[256] = "";
  gethostname(host, sizeof(host) - 1);
  zcert_set_meta(c, "name", "%s@%s", name, host);
  zcert_set_meta(c, "made-by", "iovbench %s", IOV_VERSION);
  mode_t old = umask(077);
  int r = zcert_save(c, pub);
  umask(old);
  if (r < 0) {
    r = errno ? -errno : -EIO;
    zcert_destroy(&c);
    return iov_errf(r, err, errlen, "cannot write a new key pair to %s: %s (choose another with --key-dir)",
                    dir, strerror(-r));
  }
  chmod(pub, 0644);
  if (ret_created) *ret_created = true;
  *ret = c;
  return 0;
}

int iov_key_read_file(const char *path, bool secret, char *out, char *err, size_t errlen) {
  /* Read as text (zcert_load() leaks when the file is not a certificate,
   * as a bare key is not): a "public-key = "..."" (or "secret-key") line
   * of a zcert file, else the first line that is nothing but a key. */
  FILE *f = fopen(path, "re");
  if (!f) return iov_errf(-errno, err, errlen, "cannot read %s: %s", path, strerror(errno));
  const char *want = secret ? "secret-key" : "public-key";
  char line[256], bare[IOV_KEY_TEXT_LEN + 1] = "";
  bool found = false;
  for (int n = 0; !found && n < 200 && fgets(line, sizeof(line), f); n++) {
    char *p = line + strspn(line, " \t");
    p[strcspn(p, "\r\n")] = 0;
    if (!*p || *p == '#') continue;
    if (strncmp(p, want, strlen(want)) == 0) {
      char *q = strchr(p, '"'), *e = q ? strchr(q + 1, '"') : NULL;
      if (q && e && e - q - 1 == IOV_KEY_TEXT_LEN) {
        memcpy(out, q + 1, IOV_KEY_TEXT_LEN);
        out[IOV_KEY_TEXT_LEN] = 0;
        found = iov_key_text_ok(out);
      }
    } else if (!*bare && iov_key_text_ok(p))
      memcpy(bare, p, IOV_KEY_TEXT_LEN + 1);
  }
  fclose(f);
  if (found) return 0;
  if (*bare) {
    memcpy(out, bare, IOV_KEY_TEXT_LEN + 1);
    return 0;
  }
  return iov_errf(-EBADMSG, err, errlen,
                  "%s holds no %s key (a certificate from 'coord keygen', or 40 Z85 characters on a line "
                  "of their own)",
                  path, secret ? "secret" : "public");
}

int iov_key_read_public(const char *path, char *out, char *err, size_t errlen) {
  return iov_key_read_file(path, false, out, err, errlen);
}

zcert_t *iov_cert_from_secret(const char *secret_key) {
  char pub[IOV_KEY_TEXT_LEN + 1];
  uint8_t pb[32], sb[32];
  if (!iov_key_text_ok(secret_key) || zmq_curve_public(pub, secret_key) < 0 || !zmq_z85_decode(pb, pub) ||
      !zmq_z85_decode(sb, secret_key))
    return NULL;
  return zcert_new_from(pb, sb);
}

void iov_curve_server(zsock_t *sock, zcert_t *cert, const char *domain) {
  zsock_set_zap_domain(sock, domain);
  zcert_apply(cert, sock);
  zsock_set_curve_server(sock, 1);
}

void iov_curve_client(zsock_t *sock, zcert_t *cert, const char *server_key) {
  zcert_apply(cert, sock);
  zsock_set_curve_serverkey(sock, server_key);
}

/* ---- the daemon's log, for the threads here --------------------------- */

static _Atomic(iov_auth_log_fn *) auth_log;

void iov_auth_set_log(iov_auth_log_fn *fn) { atomic_store(&auth_log, fn); }

/* One warning line from an actor thread, to the daemon's callback. */
_printf_(1, 2) static void auth_warn(const char *fmt, ...) {
  iov_auth_log_fn *fn = atomic_load(&auth_log);
  char line[512];
  va_list ap;

  if (!fn) return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fn(line);
}

/* ---- ZAP -------------------------------------------------------------- */

struct iov_zap {
  zactor_t *actor;
  char *coord_dir, *guest_dir;
  int start_error;
  _Atomic uint64_t allowed, refused;
};

struct zap_log {
  uint64_t window_start, lines, suppressed;
};

/* Whether one more line may be logged now: at most LOG_LINES_PER_SEC a
 * second, then how many were not (a flood cannot fill the log). */
static bool log_allowed(struct zap_log *l, const char *what) {
  uint64_t now = iov_now_mono();
  if (now - l->window_start >= IOV_NSEC_PER_SEC) {
    if (l->suppressed) auth_warn("%" PRIu64 " more %s (not logged one by one)", l->suppressed, what);
    l->window_start = now;
    l->lines = 0;
    l->suppressed = 0;
  }
  if (l->lines >= LOG_LINES_PER_SEC) {
    l->suppressed++;
    return false;
  }
  l->lines++;
  return true;
}

static void zap_refused(struct zap_log *l, const char *domain, const char *address, const char *key,
                        const char *why) {
  if (!log_allowed(l, "peers were refused")) return;
  bool control = strcmp(domain, IOV_AUTH_DOMAIN_CONTROL) == 0;
  auth_warn("refused a %s at %s with key %s: %s", control ? "coordinator" : "guest agent",
            address && *address ? address : "(unknown address)", key, why);
}

static void zap_handle(struct iov_zap *z, zsock_t *handler, zcertstore_t *coords, zcertstore_t *guests_dir,
                       zhash_t *guests, struct zap_log *log) {
  zmsg_t *m = zmsg_recv(handler);
  if (!m) return;
  char *version = zmsg_popstr(m), *request_id = zmsg_popstr(m), *domain = zmsg_popstr(m),
       *address = zmsg_popstr(m), *identity = zmsg_popstr(m), *mechanism = zmsg_popstr(m);
  zframe_t *cred = zmsg_pop(m);
  char key[IOV_KEY_TEXT_LEN + 1] = "";
  const char *status = "400", *text = "not allowed";
  if (version && strcmp(version, "1.0") == 0) {
    if (mechanism && strcmp(mechanism, "CURVE") == 0 && cred && zframe_size(cred) == 32)
      zmq_z85_encode(key, zframe_data(cred), 32);
    bool ok = false;
    const char *why = "";
    if (!*key)
      why = "not CURVE";
    else if (domain && strcmp(domain, IOV_AUTH_DOMAIN_CONTROL) == 0) {
      ok = coords && zcertstore_lookup(coords, key);
      why = "its key is not among this agent's coordinators (copy its coord.key into the agent's "
            "KEYDIR/coordinators/ to let it in)";
    } else if (domain && strcmp(domain, IOV_AUTH_DOMAIN_GUEST) == 0) {
      ok = zhash_lookup(guests, key) || (guests_dir && zcertstore_lookup(guests_dir, key));
      why = "not a guest this agent started, nor in its KEYDIR/guests/";
    } else
      why = "unknown ZAP domain";
    if (ok) {
      status = "200";
      text = "OK";
      atomic_fetch_add(&z->allowed, 1);
    } else {
      atomic_fetch_add(&z->refused, 1);
      zap_refused(log, domain ? domain : "", address, *key ? key : "(none)", why);
    }
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    zmsg_addstr(reply, request_id ? request_id : "");
    zmsg_addstr(reply, status);
    zmsg_addstr(reply, text);
    zmsg_addstr(reply, ok ? key : "");
    zmsg_addmem(reply, "", 0);
    zmsg_send(&reply, handler);
  }
  free(version);
  free(request_id);
  free(domain);
  free(address);
  free(identity);
  free(mechanism);
  zframe_destroy(&cred);
  zmsg_destroy(&m);
}

static void zap_actor(zsock_t *pipe, void *arg) {
  struct iov_zap *z = arg;
  zsock_t *handler = zsock_new(ZMQ_REP);
  if (!handler || zsock_bind(handler, ZAP_ENDPOINT) < 0) {
    z->start_error = handler ? (errno ? -errno : -EADDRINUSE) : -ENOMEM;
    zsock_destroy(&handler);
    zsock_signal(pipe, 0);
    return;
  }
  zcertstore_t *coords = zcertstore_new(z->coord_dir);
  zcertstore_t *guests_dir = z->guest_dir ? zcertstore_new(z->guest_dir) : NULL;
  zhash_t *guests = zhash_new();
  struct zap_log log = { 0 };
  zpoller_t *poller = zpoller_new(pipe, handler, NULL);
  zsock_signal(pipe, 0);
  while (poller) {
    zsock_t *which = zpoller_wait(poller, -1);
    if (which == handler) {
      zap_handle(z, handler, coords, guests_dir, guests, &log);
      continue;
    }
    if (which != pipe) break;
    zmsg_t *m = zmsg_recv(pipe);
    char *cmd = m ? zmsg_popstr(m) : NULL;
    bool term = !cmd || strcmp(cmd, "$TERM") == 0;
    if (cmd && (strcmp(cmd, "ALLOW") == 0 || strcmp(cmd, "DENY") == 0)) {
      char *key = zmsg_popstr(m);
      if (key && cmd[0] == 'A')
        zhash_insert(guests, key, (void *)"guest");
      else if (key)
        zhash_delete(guests, key);
      free(key);
      zsock_signal(pipe, 0);
    }
    free(cmd);
    zmsg_destroy(&m);
    if (term) break;
  }
  zpoller_destroy(&poller);
  zhash_destroy(&guests);
  zcertstore_destroy(&coords);
  zcertstore_destroy(&guests_dir);
  zsock_destroy(&handler);
}

int iov_zap_start(const char *coord_dir, const char *guest_dir, struct iov_zap **ret) {
  struct iov_zap *z = calloc(1, sizeof(*z));
  if (!z) return -ENOMEM;
  z->coord_dir = strdup(coord_dir);
  z->guest_dir = guest_dir ? strdup(guest_dir) : NULL;
  if (!z->coord_dir || (guest_dir && !z->guest_dir)) {
    iov_zap_stop(&z);
    return -ENOMEM;
  }
  z->actor = zactor_new(zap_actor, z);
  int r = !z->actor ? -ENOMEM : z->start_error;
  if (r < 0) {
    iov_zap_stop(&z);
    return r;
  }
  *ret = z;
  return 0;
}

int iov_zap_allow(struct iov_zap *z, const char *public_key, bool allow) {
  if (!z || !z->actor || !iov_key_text_ok(public_key)) return -EINVAL;
  if (zstr_sendx(z->actor, allow ? "ALLOW" : "DENY", public_key, NULL) < 0) return -EIO;
  return zsock_wait(z->actor) < 0 ? -EIO : 0;
}

void iov_zap_counts(struct iov_zap *z, uint64_t *ret_allowed, uint64_t *ret_refused) {
  if (ret_allowed) *ret_allowed = z ? atomic_load(&z->allowed) : 0;
  if (ret_refused) *ret_refused = z ? atomic_load(&z->refused) : 0;
}

void iov_zap_stop(struct iov_zap **zp) {
  struct iov_zap *z = zp ? *zp : NULL;
  if (!z) return;
  zactor_destroy(&z->actor);
  free(z->coord_dir);
  free(z->guest_dir);
  free(z);
  *zp = NULL;
}

/* ---- the key endpoint ------------------------------------------------- */

int iov_key_endpoint_for(const char *control, char *buf, size_t len) {
  if (!control) return -EINVAL;
  if (strncmp(control, "ipc://", 6) == 0) {
    int n = snprintf(buf, len, "%s.key", control);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
  }
  if (strncmp(control, "tcp://", 6) != 0) return -EINVAL;
  const char *colon = strrchr(control + 6, ':');
  if (!colon || colon[1] == 0) return -EINVAL;
  char *end;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (*end || errno || port < 1 || port > 65533) return -EINVAL;
  int n = snprintf(buf, len, "%.*s:%ld", (int)(colon - control), control, port + 2);
  return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

struct iov_keyserver {
  zactor_t *actor;
  char *endpoint;
  char reply[64];
  int start_error;
};

/* Connections the key endpoint holds at once (each is one question,
 * answered at once): beyond, they are shut down (iov_zmon). */
#define KEY_MAX_CONNS 64

static void key_actor(zsock_t *pipe, void *arg) {
  struct iov_keyserver *k = arg;
  struct iov_zmon *mon = NULL;
  zsock_t *s = zsock_new(ZMQ_ROUTER);
  if (s) {
    zsock_set_linger(s, 0);
    zsock_set_maxmsgsize(s, 256);
    zsock_set_sndhwm(s, 100);
    zsock_set_handshake_ivl(s, 10000);
    if (iov_zmon_start(s, "key", true, KEY_MAX_CONNS, &mon) < 0)
      auth_warn("no monitor on the key endpoint %s: its connections are not limited", k->endpoint);
  }
  if (!s || zsock_bind(s, "%s", k->endpoint) < 0) {
    k->start_error = s ? (errno ? -errno : -EADDRINUSE) : -ENOMEM;
    iov_zmon_stop(&mon);
    zsock_destroy(&s);
    zsock_signal(pipe, 0);
    return;
  }
  zpoller_t *poller = zpoller_new(pipe, s, NULL);
  zsock_signal(pipe, 0);
  while (poller) {
    zsock_t *which = zpoller_wait(poller, -1);
    if (which != s) break; /* the pipe: $TERM */
    zmsg_t *m = zmsg_recv(s);
    zframe_t *id = m ? zmsg_pop(m) : NULL;
    zmsg_destroy(&m);
    if (!id) continue;
    zmsg_t *reply = zmsg_new();
    zmsg_append(reply, &id);
    zmsg_addstr(reply, k->reply);
    zmsg_send(&reply, s); /* dropped when the asker is gone or slow */
  }
  zpoller_destroy(&poller);
  iov_zmon_stop(&mon);
  zsock_destroy(&s);
}

int iov_keyserver_start(const char *endpoint, const char *public_key, struct iov_keyserver **ret, char *err,
                        size_t errlen) {
  struct iov_keyserver *k = calloc(1, sizeof(*k));
  if (!k) return -ENOMEM;
  k->endpoint = strdup(endpoint);
  snprintf(k->reply, sizeof(k->reply), IOV_KEY_REPLY_PREFIX "%s%s", public_key ? "curve " : "plaintext",
           public_key ? public_key : "");
  k->actor = k->endpoint ? zactor_new(key_actor, k) : NULL;
  int r = !k->actor ? -ENOMEM : k->start_error;
  if (r < 0) {
    iov_errf(r, err, errlen, "cannot bind the key endpoint %s: %s (choose another with --key-listen)",
             endpoint, strerror(-r));
    iov_keyserver_stop(&k);
    return r;
  }
  *ret = k;
  return 0;
}

void iov_keyserver_stop(struct iov_keyserver **kp) {
  struct iov_keyserver *k = kp ? *kp : NULL;
  if (!k) return;
  zactor_destroy(&k->actor);
  free(k->endpoint);
  free(k);
  *kp = NULL;
}

int iov_key_fetch(const char *const *endpoints, size_t n, unsigned timeout_ms,
                  char (*out)[IOV_KEY_TEXT_LEN + 1]) {
  zsock_t **s = calloc(n ? n : 1, sizeof(*s));
  zpoller_t *poller = zpoller_new(NULL);
  if (!s || !poller) {
    free(s);
    zpoller_destroy(&poller);
    return -ENOMEM;
  }
  size_t waiting = 0;
  for (size_t i = 0; i < n; i++) {
    out[i][0] = 0;
    if (!endpoints[i]) continue;
    s[i] = zsock_new(ZMQ_DEALER);
    if (!s[i]) continue;
    zsock_set_linger(s[i], 0);
    zsock_set_maxmsgsize(s[i], 256);
    if (zsock_connect(s[i], "%s", endpoints[i]) < 0 || zstr_send(s[i], "key?") < 0) {
      zsock_destroy(&s[i]);
      continue;
    }
    zpoller_add(poller, s[i]);
    waiting++;
  }
  uint64_t deadline = iov_now_mono() + (uint64_t)timeout_ms * IOV_NSEC_PER_MSEC;
  while (waiting > 0) {
    uint64_t now = iov_now_mono();
    if (now >= deadline) break;
    zsock_t *which = zpoller_wait(poller, (int)((deadline - now) / IOV_NSEC_PER_MSEC) + 1);
    if (!which) {
      if (zpoller_terminated(poller)) break;
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      if (s[i] != which) continue;
      char *line = zstr_recv(which);
      const char *p = line && strncmp(line, IOV_KEY_REPLY_PREFIX, strlen(IOV_KEY_REPLY_PREFIX)) == 0
                          ? line + strlen(IOV_KEY_REPLY_PREFIX)
                          : NULL;
      if (p && strcmp(p, "plaintext") == 0)
        snprintf(out[i], IOV_KEY_TEXT_LEN + 1, "plaintext");
      else if (p && strncmp(p, "curve ", 6) == 0 && iov_key_text_ok(p + 6))
        snprintf(out[i], IOV_KEY_TEXT_LEN + 1, "%s", p + 6);
      free(line);
      zpoller_remove(poller, which);
      zsock_destroy(&s[i]);
      waiting--;
    }
  }
  for (size_t i = 0; i < n; i++) zsock_destroy(&s[i]);
  zpoller_destroy(&poller);
  free(s);
  return 0;
}

/* ---- the socket monitor ----------------------------------------------- */

#define MON_BATCH 256      /* events read before acting on them */
#define MON_MAX_CONNS 8192 /* descriptors remembered (their peer addresses) */

struct mon_conn {
  int fd;
  char peer[64];
};

struct iov_zmon {
  zactor_t *actor;
  zsock_t *sock;      /* watched, not owned */
  char endpoint[128]; /* as long as mon_event's addr: an ipc:// path is up to 107 bytes */
  char what[16];
  bool server;
  unsigned max_conns;
  int start_error;
  _Atomic uint64_t connected, retried, handshakes_ok, failed_protocol, failed_auth, failed_other, refused,
      open_conns;
  _Atomic int last_protocol_error;
};

struct mon_event {
  uint16_t event;
  uint32_t value;
  char addr[128]; /* our endpoint, as the monitor says it */
};

static void fd_peer(int fd, char *out, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char host[INET6_ADDRSTRLEN] = "";
  /* The classic monitor names only our endpoint; the descriptor is read
   * when the event is, and a peer that failed at once may be gone. */
  snprintf(out, len, "(address unknown: it closed before it could be read)");
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) return;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof(host));
    snprintf(out, len, "[%s]:%u", host, ntohs(in->sin6_port));
  } else if (ss.ss_family == AF_UNIX)
    snprintf(out, len, "a local process (ipc)");
}

/* Whether fd is still a TCP connection accepted on the port of endpoint
 * (tcp://ADDR:PORT): descriptors are numbers, and ZeroMQ may have closed
 * and reused this one by now. */
static bool fd_is_ours(int fd, const char *endpoint) {
  const char *colon = strrchr(endpoint, ':');
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  int type = 0;
  socklen_t tl = sizeof(type);
  if (strncmp(endpoint, "tcp://", 6) != 0 || !colon) return false;
  long port = strtol(colon + 1, NULL, 10);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) return false;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return false;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port) == port;
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port;
  return false;
}

static const char *failure_text(uint16_t event, uint32_t value, char *buf, size_t len) {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
    if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
      return "it speaks another security mechanism (a plaintext peer against this agent's CURVE, or the "
             "reverse): give it this agent's public key, or run both with --plaintext";
    if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
      return "its CURVE handshake does not decrypt: it was given another server key than this agent's "
             "agent.key";
    snprintf(buf, len, "ZMTP protocol error 0x%x (not an iovbench peer?)", value);
    return buf;
  }
  return "it closed the connection or timed out during the handshake (a port scan, or a peer that gave up)";
}

static void mon_apply(struct iov_zmon *z, const struct mon_event *ev, size_t n, struct mon_conn **conns,
                      size_t *n_conns, struct zap_log *log, struct mon_event *pending) {
  for (size_t i = 0; i < n; i++) {
    const struct mon_event *e = &ev[i];
    switch (e->event) {
    case ZMQ_EVENT_CONNECTED: atomic_fetch_add(&z->connected, 1); break;
    case ZMQ_EVENT_CONNECT_RETRIED: atomic_fetch_add(&z->retried, 1); break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: atomic_fetch_add(&z->handshakes_ok, 1); break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      atomic_fetch_add(&z->failed_protocol, 1);
      atomic_store(&z->last_protocol_error, (int)e->value);
      *pending = *e;
      break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      atomic_fetch_add(&z->failed_auth, 1);
      *pending = (struct mon_event){ 0 }; /* the ZAP handler logged it, with the key */
      break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      atomic_fetch_add(&z->failed_other, 1);
      *pending = *e;
      break;
    case ZMQ_EVENT_ACCEPTED: {
      int fd = (int)e->value;
      bool gone = false; /* closed again in this batch: the descriptor may be another's now */
      for (size_t k = i + 1; k < n && !gone; k++)
        gone = ev[k].event == ZMQ_EVENT_DISCONNECTED && (int)ev[k].value == fd;
      uint64_t open = atomic_fetch_add(&z->open_conns, 1) + 1;
      if (*n_conns < MON_MAX_CONNS) {
        struct mon_conn *c = realloc(*conns, (*n_conns + 1) * sizeof(**conns));
        if (c) {
          *conns = c;
          c[*n_conns].fd = fd;
          fd_peer(fd, c[*n_conns].peer, sizeof(c[*n_conns].peer));
          (*n_conns)++;
        }
      }
      if (z->max_conns && open > z->max_conns && !gone && fd_is_ours(fd, e->addr)) {
        char peer[64];
        fd_peer(fd, peer, sizeof(peer));
        shutdown(fd, SHUT_RDWR);
        atomic_fetch_add(&z->refused, 1);
        if (log_allowed(log, "connections were refused"))
          auth_warn("refused a connection from %s to the %s endpoint %s: %" PRIu64
                    " connections open, the limit is %u (--max-connections)",
                    peer, z->what, z->endpoint, open - 1, z->max_conns);
      }
      break;
    }
    case ZMQ_EVENT_DISCONNECTED: {
      int fd = (int)e->value;
      char peer[64] = "(address unknown: it closed before it could be read)";
      for (size_t k = 0; k < *n_conns; k++)
        if ((*conns)[k].fd == fd) {
          snprintf(peer, sizeof(peer), "%s", (*conns)[k].peer);
          (*conns)[k] = (*conns)[--*n_conns];
          break;
        }
      if (z->server && atomic_load(&z->open_conns) > 0) atomic_fetch_sub(&z->open_conns, 1);
      if (z->server && pending->event) {
        char buf[96];
        if (log_allowed(log, "failed handshakes"))
          auth_warn("handshake failed on the %s endpoint %s with %s: %s", z->what, z->endpoint, peer,
                    failure_text(pending->event, pending->value, buf, sizeof(buf)));
      }
      *pending = (struct mon_event){ 0 };
      break;
    }
    default: break;
    }
  }
}

/* One event from the monitor socket; false when none could be read. */
static bool mon_read(zsock_t *pair, struct mon_event *e) {
  zmsg_t *m = zmsg_recv_nowait(pair);
  if (!m) return false;
  zframe_t *head = zmsg_first(m), *addr = zmsg_next(m);
  bool ok = head && zframe_size(head) == 6;
  if (ok) {
    memcpy(&e->event, zframe_data(head), 2);
    memcpy(&e->value, zframe_data(head) + 2, 4);
    size_t n = addr ? zframe_size(addr) : 0;
    if (n >= sizeof(e->addr)) n = sizeof(e->addr) - 1;
    if (n) memcpy(e->addr, zframe_data(addr), n);
    e->addr[n] = 0;
  }
  zmsg_destroy(&m);
  return ok;
}

static void mon_actor(zsock_t *pipe, void *arg) {
  struct iov_zmon *z = arg;
  zsock_t *pair = zsock_new(ZMQ_PAIR);
  if (!pair || zsock_connect(pair, "%s", z->endpoint) < 0) {
    z->start_error = pair ? -EINVAL : -ENOMEM;
    zsock_destroy(&pair);
    zsock_signal(pipe, 0);
    return;
  }
  z->endpoint[0] = 0; /* from now on: the watched socket's endpoint, once known */
  zpoller_t *poller = zpoller_new(pipe, pair, NULL);
  struct mon_event *batch = calloc(MON_BATCH, sizeof(*batch)), pending = { 0 };
  struct mon_conn *conns = NULL;
  size_t n_conns = 0;
  struct zap_log log = { 0 };
  zsock_signal(pipe, 0);
  while (poller && batch) {
    zsock_t *which = zpoller_wait(poller, -1);
    if (which != pair) break; /* the pipe: $TERM */
    size_t n = 0;
    while (n < MON_BATCH && mon_read(pair, &batch[n])) {
      if (!z->endpoint[0] && batch[n].addr[0])
        snprintf(z->endpoint, sizeof(z->endpoint), "%s", batch[n].addr);
      if (batch[n].event == ZMQ_EVENT_MONITOR_STOPPED) break;
      n++;
    }
    mon_apply(z, batch, n, &conns, &n_conns, &log, &pending);
  }
  free(conns);
  free(batch);
  zpoller_destroy(&poller);
  zsock_destroy(&pair);
}

int iov_zmon_start(zsock_t *sock, const char *what, bool server, unsigned max_conns, struct iov_zmon **ret) {
  static _Atomic unsigned seq;
  struct iov_zmon *z = calloc(1, sizeof(*z));
  if (!z) return -ENOMEM;
  z->sock = sock;
  z->server = server;
  z->max_conns = max_conns;
  snprintf(z->what, sizeof(z->what), "%s", what);
  snprintf(z->endpoint, sizeof(z->endpoint), "inproc://iovbench-monitor-%d-%u", (int)getpid(),
           atomic_fetch_add(&seq, 1));
  int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
               ZMQ_EVENT_MONITOR_STOPPED;
  if (zmq_socket_monitor(zsock_resolve(sock), z->endpoint, events) < 0) {
    int r = -errno;
    free(z);
    return r ? r : -EINVAL;
  }
  z->actor = zactor_new(mon_actor, z);
  int r = !z->actor ? -ENOMEM : z->start_error;
  if (r < 0) {
    iov_zmon_stop(&z);
    return r;
  }
  *ret = z;
  return 0;
}

void iov_zmon_stop(struct iov_zmon **zp) {
  struct iov_zmon *z = zp ? *zp : NULL;
  if (!z) return;
  if (z->sock) (void)zmq_socket_monitor(zsock_resolve(z->sock), NULL, 0);
  zactor_destroy(&z->actor);
  free(z);
  *zp = NULL;
}

void iov_zmon_get(struct iov_zmon *z, struct iov_zmon_state *ret) {
  memset(ret, 0, sizeof(*ret));
  if (!z) return;
  ret->connected = atomic_load(&z->connected);
  ret->retried = atomic_load(&z->retried);
  ret->handshakes_ok = atomic_load(&z->handshakes_ok);
  ret->failed_protocol = atomic_load(&z->failed_protocol);
  ret->failed_auth = atomic_load(&z->failed_auth);
  ret->failed_other = atomic_load(&z->failed_other);
  ret->last_protocol_error = atomic_load(&z->last_protocol_error);
  ret->refused_conns = atomic_load(&z->refused);
  ret->open_conns = atomic_load(&z->open_conns);
}
