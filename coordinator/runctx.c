/* The few operations on coord run's shared state that its parts share
 * (coordinator/runctx.h). */
#include "runctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

void iov__point_fail(struct point_run *pr, const char *fmt, ...) {
  if (pr->error[0]) return; /* the first cause is the one that matters */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pr->error, sizeof(pr->error), fmt, ap);
  va_end(ap);
  /* It may quote an agent: printed and stored without its escapes. */
  iov_text_sanitize(pr->error);
}

void iov__point_cause(struct point_run *pr, const char *fmt, ...) {
  size_t n = strlen(pr->error);
  if (n && n + 3 < sizeof(pr->error)) {
    memcpy(pr->error + n, "; ", 3);
    n += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pr->error + n, sizeof(pr->error) - n, fmt, ap);
  va_end(ap);
  iov_text_sanitize(pr->error);
}

struct iov_peer *iov__peer_by_name(struct run_ctx *c, const char *name) {
  for (size_t i = 0; i < c->n_peers; i++)
    if (strcmp(c->peers[i]->name, name) == 0) return c->peers[i];
  return NULL;
}

struct pr_agent *iov__agent_of(struct point_run *pr, const struct iov_peer *p) {
  return pr && p->slot > 0 && (size_t)p->slot <= pr->n_ag && pr->ag[p->slot - 1].peer == p
             ? &pr->ag[p->slot - 1]
             : NULL;
}

/* Losing a host agent fails the point that uses it: itself, or a guest
 * of it, or named as the point's sender or receiver. */
bool iov__point_uses(const struct point_run *pr, const struct iov_peer *h) {
  if (!pr) return false;
  if (pr->pp->p.sender && strcmp(pr->pp->p.sender, h->name) == 0) return true;
  if (pr->pp->p.receiver && strcmp(pr->pp->p.receiver, h->name) == 0) return true;
  for (size_t i = 0; i < pr->n_ag; i++)
    if (pr->ag[i].peer == h || pr->ag[i].peer->host == h) return true;
  return false;
}
