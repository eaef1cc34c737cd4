/* Which agents coord talks to with CURVE, and with which key (trust.h). */
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "parse.h"
#include "timeutil.h"

#define FETCH_MAX_MS 5000

struct known {
  char *endpoint;
  char key[IOV_KEY_TEXT_LEN + 1];
  unsigned line;
};

/* KEYDIR/known_agents: "ENDPOINT KEY" a line; # comments. */
static int known_load(const char *path, struct known **ret, size_t *ret_n) {
  FILE *f = fopen(path, "re");
  *ret = NULL;
  *ret_n = 0;
  if (!f) return errno == ENOENT ? 0 : -errno;
  char line[2048];
  unsigned no = 0;
  size_t n = 0, cap = 0;
  struct known *k = NULL;
  while (fgets(line, sizeof(line), f)) {
    no++;
    char ep[1024], key[64];
    if (line[0] == '#' || sscanf(line, "%1023s %63s", ep, key) != 2 || !iov_key_text_ok(key)) continue;
    if (n == cap) {
      struct known *nk = realloc(k, (cap = cap ? 2 * cap : 8) * sizeof(*k));
      if (!nk) break;
      k = nk;
    }
    k[n] = (struct known){ .endpoint = strdup(ep), .line = no };
    memcpy(k[n].key, key, IOV_KEY_TEXT_LEN + 1);
    if (k[n].endpoint) n++;
  }
  fclose(f);
  *ret = k;
  *ret_n = n;
  return 0;
}

static void known_free(struct known *k, size_t n) {
  for (size_t i = 0; i < n; i++) free(k[i].endpoint);
  free(k);
}

/* The last line for endpoint (a later line wins, as an append would). */
static const struct known *known_find(const struct known *k, size_t n, const char *endpoint) {
  const struct known *found = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(k[i].endpoint, endpoint) == 0) found = &k[i];
  return found;
}

static int known_add(const char *dir, const char *path, const char *endpoint, const char *key) {
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return -errno;
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  int r = dprintf(fd, "%s %s\n", endpoint, key) < 0 ? -EIO : 0;
  if (close(fd) < 0 && r == 0) r = -errno;
  return r;
}

int iov_trust_hosts(const struct iov_plan *plan, const struct iov_trust_opts *o, zcert_t **ret_cert,
                    struct iov_host_sec *out) {
  char dir[PATH_MAX], known_path[PATH_MAX + 32], err[512];
  size_t n = plan->n_hosts;
  int r = 0;

  *ret_cert = NULL;
  if (o->key_dir)
    snprintf(dir, sizeof(dir), "%s", o->key_dir);
  else if (iov_key_dir_default(false, dir, sizeof(dir)) < 0)
    snprintf(dir, sizeof(dir), ".iovbench");
  snprintf(known_path, sizeof(known_path), "%s/" IOV_KNOWN_AGENTS, dir);

  const char **key_eps = calloc(n ? n : 1, sizeof(*key_eps));
  char(*eps)[PATH_MAX] = calloc(n ? n : 1, sizeof(*eps));
  char(*offered)[IOV_KEY_TEXT_LEN + 1] = calloc(n ? n : 1, sizeof(*offered));
  if (!key_eps || !eps || !offered) {
    r = -ENOMEM;
    goto out;
  }
  bool any_remote = false;
  for (size_t i = 0; i < n; i++) {
    out[i] = (struct iov_host_sec){ 0 };
    if (plan->hosts[i].local) continue;
    any_remote = true;
    if (iov_key_endpoint_for(plan->hosts[i].endpoint, eps[i], sizeof(eps[i])) == 0) key_eps[i] = eps[i];
  }
  if (!any_remote) goto out;

  unsigned wait_ms = o->timeout_ms && o->timeout_ms < FETCH_MAX_MS ? o->timeout_ms : FETCH_MAX_MS;
  r = iov_key_fetch(key_eps, n, wait_ms, offered);
  if (r < 0) goto out;
  struct known *known = NULL;
  size_t n_known = 0;
  r = known_load(known_path, &known, &n_known);
  if (r < 0) {
    iov_log_errno(r, "Cannot read %s: %m", known_path);
    goto out;
  }
  int bad = 0; /* an agent whose key is unknown: all of them are named */
  for (size_t i = 0; i < n && r == 0; i++) {
    const struct iov_plan_host *h = &plan->hosts[i];
    if (h->local) continue;
    const struct known *k = known_find(known, n_known, h->endpoint);
    const char *got = offered[i];
    bool may_plain = o->plaintext || h->plaintext;
    if (strcmp(got, "plaintext") == 0) {
      /* A key coord holds for this agent always wins: whoever answers
       * without one now is not the agent that had it (or it was
       * reinstalled without authentication, which must be said, not
       * followed). */
      if (h->key || k) {
        if (h->key)
          r = iov_log_errno(-IOV_E_PEER,
                            "agent '%s' at %s answers without authentication (plaintext), but the plan pins "
                            "its key (line %u): a downgrade, refused whatever --plaintext or %s.plaintext "
                            "say; nothing was run. Restart the agent with its key, or remove %s.key",
                            h->name, h->endpoint, h->line, h->name, h->name);
        else
          r = iov_log_errno(-IOV_E_PEER,
                            "agent '%s' at %s answers without authentication (plaintext), but %s line %u "
                            "knows its key %s: a downgrade, refused whatever --plaintext or %s.plaintext "
                            "say; nothing was run. Restart the agent with its key; if it was reinstalled "
                            "without authentication on purpose, delete that line",
                            h->name, h->endpoint, known_path, k->line, k->key, h->name);
        break;
      }
      if (!may_plain) {
        r = iov_log_errno(
            -IOV_E_PEER,
            "agent '%s' at %s runs without authentication (--plaintext): anyone who reaches it "
            "can command it. Add '%s.plaintext = yes' to the plan's [hosts] (or run coord with "
            "--plaintext) to use it anyway, or restart the agent without --plaintext (plan line "
            "%u)",
            h->name, h->endpoint, h->name, h->line);
        break;
      }
      iov_notice("agent '%s' at %s: plaintext, as it asks (%s)", h->name, h->endpoint,
                 h->plaintext ? "plan: plaintext = yes" : "--plaintext");
      continue;
    }
    if (*got) {
      if (h->key && strcmp(h->key, got) != 0) {
        r = iov_log_errno(-IOV_E_PEER,
                          "agent '%s' at %s offers the key %s, but the plan pins %s (line %u): whoever "
                          "answers there is not the agent you named. Refused; nothing was run",
                          h->name, h->endpoint, got, h->key, h->line);
        break;
      }
      if (!h->key && k && strcmp(k->key, got) != 0) {
        r = iov_log_errno(-IOV_E_PEER,
                          "agent '%s' at %s offers the key %s, but %s line %u knows it by %s: someone else "
                          "may be answering there. Refused; nothing was run. If the agent was reinstalled "
                          "(a new key), delete that line and run again",
                          h->name, h->endpoint, got, known_path, k->line, k->key);
        break;
      }
      if (!h->key && !k) {
        int w = known_add(dir, known_path, h->endpoint, got);
        if (w < 0)
          iov_log_full_errno(IOV_LOG_WARNING, w, "Cannot remember agent '%s''s key in %s: %m", h->name,
                             known_path);
        iov_notice("agent '%s' at %s: first contact; trusting its key %s from now on (%s)", h->name,
                   h->endpoint, got, known_path);
      }
      out[i].curve = true;
      memcpy(out[i].server_key, got, IOV_KEY_TEXT_LEN + 1);
      continue;
    }
    /* Its key endpoint did not answer. */
    const char *key = h->key ? h->key : k ? k->key : NULL;
    if (key) {
      out[i].curve = true;
      memcpy(out[i].server_key, key, IOV_KEY_TEXT_LEN + 1);
    } else if (!may_plain) {
      char t[32];
      iov_format_duration(t, sizeof(t), (uint64_t)wait_ms * IOV_NSEC_PER_MSEC);
      bad = iov_log_errno(-IOV_E_TIMEOUT,
                          "agent '%s' at %s did not answer within %s at its key endpoint %s (coord does not "
                          "know its key yet): is iovbench-agent running there, and reachable from here? If "
                          "its key endpoint is off (--key-listen none), pin its key in the plan: '%s.key = "
                          "...' from the agent's agent.key (plan line %u)",
                          h->name, h->endpoint, t, key_eps[i] ? key_eps[i] : "(none for this endpoint)",
                          h->name, h->line);
    }
  }
  if (r == 0 && bad < 0) r = bad;
  known_free(known, n_known);
  if (r < 0) goto out;

  bool any_curve = false;
  for (size_t i = 0; i < n; i++) any_curve |= out[i].curve;
  if (any_curve) {
    r = iov_key_load(dir, "coord", false, ret_cert, NULL, err, sizeof(err));
    if (r < 0)
      r = iov_log_errno(r,
                        "coord has no key pair to authenticate with (%s): run 'coord keygen' once, and copy "
                        "%s/coord.key into /etc/iovbench/coordinators/ on every agent's machine",
                        err, dir);
    else if (r > 0) {
      iov_warn("%s", err);
      r = 0;
    }
  }
out:
  free(key_eps);
  free(eps);
  free(offered);
  return r;
}
