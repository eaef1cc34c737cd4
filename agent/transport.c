/* See transport.h. */
#include "transport.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "text.h"
#include "timeutil.h"

int iov__agent_send(struct iov_agent *a, iov_envelope *e, uint64_t reply_to) {
  int r;
  if (!iov__conn_has_coord(a->conn)) return -ENOTCONN;
  /* A guest names itself; its host agent checks that against its table. */
  e->route = a->route;
  e->msg_id = ++a->msg_id;
  e->reply_to = reply_to;
  e->session_id = a->session_id;
  r = iov_wire_send(a->sock, a->coord_id, e);
  iov_zuv_kick(&a->zuv);
  if (r == -EHOSTUNREACH && a->kind == IOV_AGENT_HOST) {
    /* Its connection is closed: coord died (a finished run says goodbye
     * first).  The same as its silence, only sooner. */
    iov_debug(IOV_DBG_PROTO, "%s not sent: the coordinator's connection is closed", iov_wire_body_name(e));
    /* The session acts on it at its next tick: our caller may be in the
     * middle of the point that losing coord would free. */
    if (a->on_send_closed) a->on_send_closed(a);
  } else if (r < 0)
    iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s to the coordinator: %m", iov_wire_body_name(e));
  return r;
}

static void send_to(struct iov_agent *a, zframe_t *to, iov_envelope *e, uint64_t reply_to) {
  e->route = a->route;
  e->msg_id = ++a->msg_id;
  e->reply_to = reply_to;
  e->session_id = a->session_id;
  int r = iov_wire_send(a->sock, to, e);
  iov_zuv_kick(&a->zuv);
  if (r < 0) iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s: %m", iov_wire_body_name(e));
}

void iov__agent_send_error(struct iov_agent *a, zframe_t *to, uint64_t reply_to, Iovbench__ErrorCode code,
                           uint64_t point_id, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* It may quote what a peer sent, or be cut in the middle of a character:
   * coord would refuse it whole. */
  iov_utf8_sanitize(msg);

  iov_warn("%s", msg);
  Iovbench__Error err = IOVBENCH__ERROR__INIT;
  err.code = code;
  err.point_id = point_id;
  err.message = msg;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_ERROR;
  e.error = &err;
  send_to(a, to ? to : a->coord_id, &e, reply_to);
}

int iov__agent_forward(struct iov_agent *a, iov_envelope *e) {
  int r = iov_wire_send(a->sock, a->coord_id, e);
  iov_zuv_kick(&a->zuv);
  return r;
}

uint64_t iov__agent_next_msg_id(struct iov_agent *a) { return ++a->msg_id; }

void iov__agent_send_upstream(struct iov_agent *a, iov_envelope *e) {
  e->msg_id = ++a->msg_id;
  e->route = "";
  int r = iov_wire_send(a->sock, NULL, e);
  iov_zuv_kick(&a->zuv);
  if (r < 0 && r != -EAGAIN)
    iov_log_full_errno(IOV_LOG_WARNING, r, "Failed to send %s to the host agent: %m", iov_wire_body_name(e));
}

/* A guest not registered after this long says why it may be, and again
 * at most this often while it keeps trying. */
#define UNREGISTERED_HINT_AFTER_NS (5ULL * IOV_NSEC_PER_SEC)
#define UNREGISTERED_HINT_EVERY_NS (30ULL * IOV_NSEC_PER_SEC)

/* Why the host agent has not taken us yet, from what the socket monitor
 * saw of our connection attempts (a plaintext peer fails in the ZMTP
 * greeting, before the host's ZAP handler could log a word). */
static void unregistered_hint(struct iov_agent *a, bool registered) {
  uint64_t now = iov_now_mono();
  if (registered) {
    a->unregistered_since_mono = a->unregistered_hint_mono = 0;
    a->unregistered_hint_why = 0;
    return;
  }
  if (!a->unregistered_since_mono) a->unregistered_since_mono = now;
  if (now - a->unregistered_since_mono < UNREGISTERED_HINT_AFTER_NS) return;
  struct iov_zmon_state m;
  iov_zmon_get(a->mon_ctl, &m);
  bool curve = a->cert != NULL;
  char buf[256];
  const char *why;
  if (m.failed_protocol && m.last_protocol_error == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
    why = curve ? "it does not speak CURVE (a host agent run with --plaintext?): run this guest without "
                  "--host-key, or the host agent without --plaintext"
                : "it speaks CURVE and this guest is plaintext (started without the host's key): give "
                  "--host-key (the host agent's agent.key) and --key-file (a key whose public half is in the "
                  "host agent's KEYDIR/guests/)";
  else if (m.failed_auth)
    why = "it refused this guest's key: copy the public key into the host agent's KEYDIR/guests/ (a VM's own "
          "key is let in only while the host agent holds that VM)";
  else if (m.failed_protocol) {
    snprintf(buf, sizeof(buf),
             "the handshake failed with ZMTP protocol error 0x%x (is %s an iovbench host "
             "agent's guest endpoint?)",
             m.last_protocol_error, a->upstream);
    why = buf;
  } else if (curve && m.connected && !m.handshakes_ok)
    why =
        "it closes the connection during the CURVE handshake: --host-key is not that host agent's agent.key "
        "(or it is not an iovbench host agent)";
  else if (!m.connected) {
    snprintf(buf, sizeof(buf),
             "it cannot be reached (%llu connection attempts failed): is the host agent running, is --host "
             "right, does a firewall let the port through?",
             (unsigned long long)m.retried);
    why = buf;
  } else if (m.handshakes_ok)
    why = "connected, but it has not accepted the registration (its refusal, if any, is logged above)";
  else
    why = "connected, but no handshake has completed yet";
  /* Said again at once when the cause is clearer than last time (the
   * monitor's event of a failed handshake may come after the first
   * hint), else at most every UNREGISTERED_HINT_EVERY_NS. */
  uint32_t h = 2166136261u; /* FNV-1a of the reason */
  for (const char *q = why; *q; q++) h = (h ^ (unsigned char)*q) * 16777619u;
  if (a->unregistered_hint_mono && h == a->unregistered_hint_why &&
      now - a->unregistered_hint_mono < UNREGISTERED_HINT_EVERY_NS)
    return;
  a->unregistered_hint_mono = now;
  a->unregistered_hint_why = h;
  iov_warn("not registered with the host agent at %s after %llu s: %s; still trying", a->upstream,
           (unsigned long long)((now - a->unregistered_since_mono) / IOV_NSEC_PER_SEC), why);
}

/* ZeroMQ gives up on a connection whose handshake failed on a protocol
 * or authentication error (it retries only when the connection itself
 * failed): connect again, so that the guest keeps trying (a host agent
 * restarted with the right settings, a key copied into its guests/). */
static void reconnect_after_handshake_failure(struct iov_agent *a) {
  struct iov_zmon_state m;
  iov_zmon_get(a->mon_ctl, &m);
  uint64_t failures = m.failed_protocol + m.failed_auth;
  if (failures == a->handshake_failures_seen) return;
  a->handshake_failures_seen = failures;
  (void)zsock_disconnect(a->sock, "%s", a->upstream);
  if (zsock_connect(a->sock, "%s", a->upstream) < 0)
    iov_log_full_errno(IOV_LOG_WARNING, -errno, "Cannot connect to the host agent at %s again: %m",
                       a->upstream);
}

void iov__agent_link_check(struct iov_agent *a, bool registered) {
  unregistered_hint(a, registered);
  if (!registered) reconnect_after_handshake_failure(a);
}
