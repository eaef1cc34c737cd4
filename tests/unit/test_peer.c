/* coordinator/peer.c: the tree of a host's guests, as a host agent that
 * keeps listing new guest names would grow it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"

static void test_guests_bounded(void **state) {
  (void)state;
  struct iov_peer *h = NULL;
  char dir[] = "/tmp/iovb-peer-XXXXXX", ep[64], name[32];
  assert_non_null(mkdtemp(dir));
  snprintf(ep, sizeof(ep), "ipc://%s/h.sock", dir); /* nobody listens: connects lazily */
  assert_int_equal(iov_peer_new("h", ep, NULL, NULL, NULL, &h), 0);

  /* Names arrive unsorted; every one is found again, in order. */
  for (unsigned i = 0; i < IOV_PEER_MAX_GUESTS; i++) {
    snprintf(name, sizeof(name), "vm%05u", (i * 7919u) % IOV_PEER_MAX_GUESTS);
    assert_non_null(iov_peer_guest(h, name, true));
  }
  assert_int_equal(h->n_guests, IOV_PEER_MAX_GUESTS);
  for (size_t i = 1; i < h->n_guests; i++)
    assert_true(strcmp(h->guests[i - 1]->route, h->guests[i]->route) < 0);

  /* Full: a new name is refused, known ones are still found. */
  assert_null(iov_peer_guest(h, "one-more", true));
  assert_int_equal(h->n_guests, IOV_PEER_MAX_GUESTS);
  struct iov_peer *g = iov_peer_guest(h, "vm00042", true);
  assert_non_null(g);
  assert_string_equal(g->name, "h/vm00042");
  assert_null(iov_peer_guest(h, "absent", false));

  iov_peer_free(h);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_guests_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
