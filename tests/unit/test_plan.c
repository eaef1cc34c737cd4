/* Unit tests for lib/plan.c: hosts, defaults, sweeps, and one test per
 * kind of plan error, each checking the exact line and key reported.
 * Fixture plans live in tests/fixtures/plans/, found through IOV_SRCDIR
 * (set by ctest to the source root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "frame.h"
#include "macro.h"
#include "parse.h"
#include "plan.h"

#define MS 1000000ULL
#define S 1000000000ULL

/* Engine settings as engines declare them (engines/ is not linked here):
 * tcp_rr has burst; udp_stream and tcp_rr both have tos. */
struct fake_opts {
  uint64_t burst, tos, poll;
};
static const struct iov_engine_opt rr_opts[] = {
  { .name = "burst",
    .type = IOV_OPT_UINT,
    .def = 1,
    .min = 1,
    .max = 1024,
    .help = "outstanding",
    .sweepable = true,
    .offset = offsetof(struct fake_opts, burst) },
  { .name = "tos",
    .type = IOV_OPT_UINT,
    .def = 0,
    .min = 0,
    .max = 255,
    .help = "IP TOS",
    .sweepable = true,
    .offset = offsetof(struct fake_opts, tos) },
  { .name = "poll",
    .type = IOV_OPT_DURATION,
    .def = 0,
    .min = 0,
    .max = 1000000000,
    .help = "busy",
    .sweepable = false,
    .offset = offsetof(struct fake_opts, poll) },
  { 0 },
};
static const struct iov_engine_opt udp_opts[] = {
  { .name = "tos",
    .type = IOV_OPT_UINT,
    .def = 8,
    .min = 0,
    .max = 63,
    .help = "IP TOS",
    .sweepable = true,
    .offset = offsetof(struct fake_opts, tos) },
  { 0 },
};
static const struct iov_plan_workload workloads[] = {
  { .name = "tcp_stream" },
  { .name = "tcp_rr", .opts = rr_opts },
  { .name = "udp_stream", .udp = true, .opts = udp_opts },
  { 0 },
};

/* An error as the plan reports it, "FILE:LINE: key 'K': message", in
 * its parts again (file is the one expected; line 0 and key NULL when
 * absent). */
struct perr {
  char text[1024];
  char file[512];
  unsigned line;
  char key_buf[128];
  const char *key, *message;
};

static void perr_split(struct perr *e, const char *file) {
  const char *p = e->text;
  size_t fl = strlen(file);
  e->file[0] = '\0';
  e->line = 0;
  e->key = NULL;
  if (strncmp(p, file, fl) == 0 && p[fl] == ':') {
    snprintf(e->file, sizeof(e->file), "%s", file);
    p += fl + 1;
    if (*p >= '0' && *p <= '9') {
      e->line = (unsigned)strtoul(p, (char **)&p, 10);
      assert_true(*p == ':');
      p++;
    }
    assert_true(*p == ' ');
    p++;
  }
  if (strncmp(p, "key '", 5) == 0) {
    const char *end = strstr(p + 5, "': ");
    assert_non_null(end);
    snprintf(e->key_buf, sizeof(e->key_buf), "%.*s", (int)(end - p - 5), p + 5);
    e->key = e->key_buf;
    p = end + 3;
  }
  e->message = p;
}

/* Lines 1-3 of most inline plans; a test section then starts on line 4. */
#define HOSTS "[hosts]\na = 198.18.0.1\nb = 198.18.0.2\n"

static struct iov_plan *parse_ok(const char *text, const struct iov_plan_workload *wl) {
  struct iov_plan *p = NULL;
  char buf[512];
  int r = iov_plan_parse(text, "inline.plan", wl, &p, buf, sizeof(buf));

  if (r != 0) fail_msg("plan rejected (%d): %s", r, buf);
  assert_non_null(p);
  return p;
}

/* The source root: $IOV_SRCDIR, else derived from this file's path. */
static char *fixture(const char *name) {
  const char *root = getenv("IOV_SRCDIR");
  char *path = NULL;

  if (root && *root) {
    assert_true(asprintf(&path, "%s/tests/fixtures/plans/%s", root, name) > 0);
  } else {
    const char *me = __FILE__, *tail = strstr(me, "tests/unit/test_plan.c");
    int n = tail ? (int)(tail - me) : 0;
    assert_true(asprintf(&path, "%.*stests/fixtures/plans/%s", n, me, name) > 0);
  }
  return path;
}

static void check_point(const struct iov_plan_point *pt, const char *test, const char *sweep, uint64_t flows,
                        uint64_t msg_size, uint64_t response_size) {
  assert_string_equal(pt->test, test);
  assert_string_equal(pt->sweep, sweep);
  assert_int_equal(pt->p.flows, flows);
  assert_int_equal(pt->p.msg_size, msg_size);
  assert_int_equal(pt->p.response_size, response_size);
}

/* ---- Good plans ------------------------------------------------------ */

static void test_good_fixture(void **state) {
  char *path = fixture("good.plan");
  struct iov_plan *p = NULL;
  char buf[512];
  int r;

  (void)state;
  r = iov_plan_load(path, workloads, &p, buf, sizeof(buf));
  if (r != 0) fail_msg("%s", buf);
  assert_string_equal(p->path, path);
  assert_non_null(p->text);
  assert_non_null(strstr(p->text, "[quiet]"));

  assert_int_equal(p->n_hosts, 2);
  assert_string_equal(p->hosts[0].name, "a");
  assert_string_equal(p->hosts[0].endpoint, "tcp://198.18.0.1:7700");
  assert_string_equal(p->hosts[0].data_addr, "198.18.0.1");
  assert_int_equal(p->hosts[0].line, 4);
  assert_string_equal(p->hosts[1].endpoint, "tcp://[2001:db8::2]:7701");
  assert_string_equal(p->hosts[1].data_addr, "198.19.0.2");
  assert_int_equal(p->hosts[1].line, 5);

  /* stream: flows x global msg_size, msg_size varying fastest. */
  assert_int_equal(p->n_points, 6 + 2 + 3);
  check_point(&p->points[0], "stream", "flows=1 msg_size=64", 1, 64, 1);
  check_point(&p->points[1], "stream", "flows=1 msg_size=1k", 1, 1024, 1);
  check_point(&p->points[2], "stream", "flows=1 msg_size=64k", 1, 65536, 1);
  check_point(&p->points[3], "stream", "flows=2 msg_size=64", 2, 64, 1);
  check_point(&p->points[5], "stream", "flows=2 msg_size=64k", 2, 65536, 1);
  /* rr overrides the global msg_size sweep with one value. */
  check_point(&p->points[6], "rr", "response_size=1", 1, 1, 1);
  check_point(&p->points[7], "rr", "response_size=1k", 1, 1, 1024);
  check_point(&p->points[8], "quiet", "msg_size=64", 1, 64, 1);
  check_point(&p->points[10], "quiet", "msg_size=64k", 1, 65536, 1);
  for (size_t i = 0; i < p->n_points; i++) {
    const struct iov_plan_point *pt = &p->points[i];
    assert_int_equal(pt->index, i);
    assert_string_equal(pt->p.workload, i == 6 || i == 7 ? "tcp_rr" : "tcp_stream");
    /* Two hosts: the first sends, the second receives. */
    assert_string_equal(pt->p.sender, "a");
    assert_string_equal(pt->p.receiver, "b");
    assert_int_equal(pt->p.duration, 2 * S);
    assert_int_equal(pt->p.sample_interval, 1 * S);
    assert_int_equal(pt->p.timeout, 10 * S);
  }
  assert_int_equal(p->points[0].line, 13);
  assert_int_equal(p->points[6].line, 16);
  assert_int_equal(p->points[8].line, 22);
  assert_null(iov_plan_free(p));
  free(path);
}

static void test_hosts_normalisation(void **state) {
  static const char text[] = "[hosts]\n"
                             "plain = 198.18.0.1\n"
                             "port = 198.18.0.2:9000\n"
                             "tcp = tcp://198.18.0.3:7701\n"
                             "name = agent-1.example\n"
                             "v6 = [2001:db8::1]\n"
                             "v6port = [2001:db8::2]:7702\n"
                             "v6bare = 2001:db8::3\n"
                             "tcp6 = tcp://[::1]:7703\n"
                             "here = local\n"
                             "sock = ipc:///run/iovbench/agent.sock\n"
                             "sock.data = 198.18.1.10\n"
                             "name.data = 2001:db8::99\n"
                             "sock.key = g6k@p%dfbne#Ff&Io:MVyjR6SOajFYH@+H}zn%*9\n"
                             "[t]\nworkload = anything\nsender = plain\nreceiver = here\n";
  static const struct {
    const char *name, *endpoint, *data;
    bool local;
  } want[] = {
    { "plain", "tcp://198.18.0.1:7700", "198.18.0.1", false },
    { "port", "tcp://198.18.0.2:9000", "198.18.0.2", false },
    { "tcp", "tcp://198.18.0.3:7701", "198.18.0.3", false },
    { "name", "tcp://agent-1.example:7700", "2001:db8::99", false },
    { "v6", "tcp://[2001:db8::1]:7700", "2001:db8::1", false },
    { "v6port", "tcp://[2001:db8::2]:7702", "2001:db8::2", false },
    { "v6bare", "tcp://[2001:db8::3]:7700", "2001:db8::3", false },
    { "tcp6", "tcp://[::1]:7703", "::1", false },
    { "here", "local", NULL, true },
    { "sock", "ipc:///run/iovbench/agent.sock", "198.18.1.10", false },
  };
  struct iov_plan *p;

  (void)state;
  p = parse_ok(text, NULL);
  assert_int_equal(p->n_hosts, ELEMENTSOF(want));
  for (size_t i = 0; i < ELEMENTSOF(want); i++) {
    const struct iov_plan_host *h = iov_plan_host_find(p, want[i].name);
    assert_ptr_equal(h, &p->hosts[i]);
    assert_string_equal(h->name, want[i].name);
    assert_string_equal(h->endpoint, want[i].endpoint);
    if (want[i].data)
      assert_string_equal(h->data_addr, want[i].data);
    else
      assert_null(h->data_addr);
    assert_int_equal(h->local, want[i].local);
    assert_int_equal(h->line, i + 2);
  }
  /* A pinned key, '#' and all (a Z85 character, not a comment). */
  assert_string_equal(iov_plan_host_find(p, "sock")->key, "g6k@p%dfbne#Ff&Io:MVyjR6SOajFYH@+H}zn%*9");
  assert_null(iov_plan_host_find(p, "plain")->key);
  assert_null(iov_plan_host_find(p, "nope"));
  assert_null(iov_plan_host_find(NULL, "plain"));
  /* workloads == NULL: any workload name is accepted. */
  assert_string_equal(p->points[0].p.workload, "anything");
  iov_plan_free(p);
}

static void test_defaults(void **state) {
  struct iov_plan *p;

  (void)state;
  p = parse_ok(HOSTS "[t]\nworkload = tcp_rr\n", workloads);
  assert_int_equal(p->n_points, 1);
  assert_string_equal(p->points[0].test, "t");
  assert_int_equal(p->points[0].line, 4);
  assert_int_equal(p->points[0].index, 0);
  assert_string_equal(p->points[0].sweep, "");
  assert_string_equal(p->points[0].p.workload, "tcp_rr");
  assert_string_equal(p->points[0].p.sender, "a");
  assert_string_equal(p->points[0].p.receiver, "b");
  assert_int_equal(p->points[0].p.flows, 1);
  assert_int_equal(p->points[0].p.msg_size, 65536);
  assert_int_equal(p->points[0].p.response_size, 1);
  assert_int_equal(p->points[0].p.duration, 10 * S);
  assert_int_equal(p->points[0].p.sample_interval, 1 * S);
  assert_int_equal(p->points[0].p.timeout, 10 * S);
  iov_plan_free(p);

  /* Two hosts in the other order: file order decides, not names. */
  p = parse_ok("[hosts]\nzz = 198.18.0.9\naa = 198.18.0.8\n[t]\nworkload = tcp_rr\n", workloads);
  assert_string_equal(p->points[0].p.sender, "zz");
  assert_string_equal(p->points[0].p.receiver, "aa");
  iov_plan_free(p);

  /* With three hosts, sender and receiver may come from [global]. */
  p = parse_ok("[hosts]\na = 1.1.1.1\nb = 1.1.1.2\nc = 1.1.1.3\n"
               "[global]\nsender = c\nreceiver = a\n[t]\nworkload = tcp_rr\nsender = b\n",
               workloads);
  assert_string_equal(p->points[0].p.sender, "b");
  assert_string_equal(p->points[0].p.receiver, "a");
  iov_plan_free(p);
}

static void test_sweep_order(void **state) {
  static const char text[] = HOSTS "[t]\n"
                                   "workload = tcp_stream, tcp_rr\n"
                                   "timeout = 5s,1m\n"
                                   "msg_size =  64k ,1M\n"
                                   "flows = 1\n"
                                   "[u]\n"
                                   "workload = udp_stream\n";
  /* Table order: workload, sender, receiver, flows, msg_size, ..., timeout;
   * the last key varies fastest. */
  static const char *const sweeps[] = {
    "workload=tcp_stream msg_size=64k timeout=5s", "workload=tcp_stream msg_size=64k timeout=1m",
    "workload=tcp_stream msg_size=1M timeout=5s",  "workload=tcp_stream msg_size=1M timeout=1m",
    "workload=tcp_rr msg_size=64k timeout=5s",     "workload=tcp_rr msg_size=64k timeout=1m",
    "workload=tcp_rr msg_size=1M timeout=5s",      "workload=tcp_rr msg_size=1M timeout=1m",
  };
  struct iov_plan *p;

  (void)state;
  p = parse_ok(text, workloads);
  assert_int_equal(p->n_points, ELEMENTSOF(sweeps) + 1);
  for (size_t i = 0; i < ELEMENTSOF(sweeps); i++) {
    const struct iov_plan_point *pt = &p->points[i];
    assert_string_equal(pt->test, "t");
    assert_int_equal(pt->index, i);
    assert_string_equal(pt->sweep, sweeps[i]);
    assert_string_equal(pt->p.workload, i < 4 ? "tcp_stream" : "tcp_rr");
    assert_int_equal(pt->p.msg_size, (i / 2) % 2 ? 1ULL << 20 : 65536);
    assert_int_equal(pt->p.timeout, i % 2 ? 60 * S : 5 * S);
  }
  assert_string_equal(p->points[8].test, "u");
  assert_string_equal(p->points[8].sweep, "");
  assert_int_equal(p->points[8].index, 8);
  iov_plan_free(p);
}

static void test_global_sweep_overridden(void **state) {
  static const char text[] = HOSTS "[global]\n"
                                   "workload = tcp_rr\n"
                                   "msg_size = 1, 2, 3\n"
                                   "flows = 4, 8\n"
                                   "[swept]\n"
                                   "[fixed]\n"
                                   "msg_size = 4k\n"
                                   "flows = 16\n";
  struct iov_plan *p;

  (void)state;
  p = parse_ok(text, workloads);
  assert_int_equal(p->n_points, 6 + 1);
  check_point(&p->points[0], "swept", "flows=4 msg_size=1", 4, 1, 1);
  check_point(&p->points[5], "swept", "flows=8 msg_size=3", 8, 3, 1);
  check_point(&p->points[6], "fixed", "", 16, 4096, 1);
  iov_plan_free(p);
}

/* CRLF, a UTF-8 BOM, comments and indented keys are all fine. */
static void test_syntax_variants(void **state) {
  static const char text[] = "\xEF\xBB\xBF; comment\r\n"
                             "[hosts]\r\n"
                             "  a = 198.18.0.1   ; inline comment\r\n"
                             "\tb: 198.18.0.2\r\n"
                             "# hash comment\r\n"
                             "[t]   ; comment after a header\r\n"
                             "    workload = tcp_rr\r\n"
                             "duration = 1.5\r\n"
                             "\r\n";
  struct iov_plan *p;

  (void)state;
  p = parse_ok(text, workloads);
  assert_int_equal(p->n_points, 1);
  assert_int_equal(p->points[0].line, 6);
  assert_int_equal(p->hosts[1].line, 4);
  assert_string_equal(p->hosts[1].endpoint, "tcp://198.18.0.2:7700");
  assert_int_equal(p->points[0].p.duration, 1500 * MS);
  iov_plan_free(p);
}

/* Names up to 63 characters, longer than inih's own section buffer. */
static void test_long_names(void **state) {
  char text[1024];
  char name63[64];
  struct iov_plan *p;

  (void)state;
  memset(name63, 'x', 63);
  name63[63] = '\0';
  snprintf(text, sizeof(text), "[hosts]\n%s = 198.18.0.1\nb = 198.18.0.2\n[%s]\nworkload = tcp_rr\n", name63,
           name63);
  p = parse_ok(text, workloads);
  assert_string_equal(p->hosts[0].name, name63);
  assert_string_equal(p->points[0].test, name63);
  assert_string_equal(p->points[0].p.sender, name63);
  iov_plan_free(p);
}

static int parse_err(const char *text, struct perr *e) {
  struct iov_plan *p = NULL;
  int r = iov_plan_parse(text, "inline.plan", workloads, &p, e->text, sizeof(e->text));
  assert_null(p);
  perr_split(e, "inline.plan");
  return r;
}

/* NAME.plaintext and NAME.guest_data (issue 14): parsed, repeated lines
 * of guest_data add up (a later entry for a guest wins), and the errors
 * name the key. */
static void test_host_vouching(void **state) {
  static const char text[] = HOSTS "a.plaintext = yes\n"
                                   "b.plaintext = no\n"
                                   "a.guest_data = vm01=198.18.1.10, vm02 = 198.18.1.11\n"
                                   "a.guest_data = vm03=2001:db8::3,vm01=198.18.1.12\n"
                                   "[t]\nworkload = tcp_rr\n";
  struct perr e;
  (void)state;
  struct iov_plan *p = parse_ok(text, workloads);
  assert_true(p->hosts[0].plaintext);
  assert_false(p->hosts[1].plaintext);
  assert_int_equal(p->hosts[0].n_guest_data, 3);
  assert_string_equal(iov_plan_host_guest_data(&p->hosts[0], "vm01"), "198.18.1.12");
  assert_string_equal(iov_plan_host_guest_data(&p->hosts[0], "vm02"), "198.18.1.11");
  assert_string_equal(iov_plan_host_guest_data(&p->hosts[0], "vm03"), "2001:db8::3");
  assert_null(iov_plan_host_guest_data(&p->hosts[0], "vm04"));
  assert_null(iov_plan_host_guest_data(&p->hosts[1], "vm01"));
  assert_int_equal(iov_plan_host_guest_data_add(&p->hosts[1], "x", "198.18.1.20"), 0);
  assert_string_equal(iov_plan_host_guest_data(&p->hosts[1], "x"), "198.18.1.20");
  iov_plan_free(p);

  static const struct {
    const char *line, *key, *msg;
  } bad[] = {
    { "a.plaintext = maybe\n", "a.plaintext", "not yes or no" },
    { "a.guest_data = vm01\n", "a.guest_data", "is not VM=ADDRESS" },
    { "a.guest_data = vm01=db.example\n", "a.guest_data", "not an IPv4 or IPv6 address" },
    { "a.guest_data = bad/name=198.18.1.1\n", "a.guest_data", "is not VM=ADDRESS" },
    { "a.guest_data = vm01=198.18.1.1,\n", "a.guest_data", "is not VM=ADDRESS" },
    { "a.key = g6k@p%dfbne#Ff&Io:MVyjR6SOajFYH@+H}zn%*9\na.plaintext = yes\n", "a.plaintext", "pins a key" },
    { "c.plaintext = yes\n", "c.plaintext", "no host 'c'" },
    { "a.vouch = yes\n", "a.vouch", "unknown host setting" },
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char buf[512];
    snprintf(buf, sizeof(buf), HOSTS "%s[t]\nworkload = tcp_rr\n", bad[i].line);
    assert_int_equal(parse_err(buf, &e), -IOV_E_PLAN);
    if (!e.key || strcmp(e.key, bad[i].key) != 0 || !strstr(e.message, bad[i].msg))
      fail_msg("%s: got key '%s', '%s'", bad[i].line, e.key ? e.key : "(none)", e.message);
  }
}

/* inih's buffer holds 197 characters a line: 197 is fine, 198 an error. */
static void test_line_limit(void **state) {
  char text[1024];
  struct perr e;
  struct iov_plan *p;
  int n;

  (void)state;
  for (int len = 197; len <= 198; len++) {
    n = snprintf(text, sizeof(text), HOSTS "[t]\nworkload = tcp_rr\n; ");
    memset(text + n, 'c', (size_t)len - 2);
    snprintf(text + n + len - 2, sizeof(text) - (size_t)(n + len - 2), "\nflows = 2\n");
    if (len == 197) {
      p = parse_ok(text, workloads);
      assert_int_equal(p->points[0].p.flows, 2);
      iov_plan_free(p);
    } else {
      assert_int_equal(parse_err(text, &e), -IOV_E_PLAN);
      assert_int_equal(e.line, 6);
      assert_null(e.key);
      assert_non_null(strstr(e.message, "198 characters long, the longest allowed is 197"));
    }
  }
}

/* Exactly IOV_PLAN_MAX_POINTS points is allowed. */
static void test_max_points(void **state) {
  static const char text[] = HOSTS "[t]\n"
                                   "workload = tcp_rr\n"
                                   "flows = 1,2,3,4,5,6,7,8,9,10\n"
                                   "msg_size = 1,2,3,4,5,6,7,8,9,10\n"
                                   "response_size = 1,2,3,4,5,6,7,8,9,10\n"
                                   "duration = 1,2,3,4,5,6,7,8,9,10\n"
                                   "timeout = 1,2,3,4,5,6,7,8,9,10\n";
  struct iov_plan *p;

  (void)state;
  p = parse_ok(text, workloads);
  assert_int_equal(p->n_points, IOV_PLAN_MAX_POINTS);
  assert_string_equal(p->points[IOV_PLAN_MAX_POINTS - 1].sweep,
                      "flows=10 msg_size=10 response_size=10 duration=10 timeout=10");
  assert_int_equal(p->points[IOV_PLAN_MAX_POINTS - 1].index, IOV_PLAN_MAX_POINTS - 1);
  iov_plan_free(p);
}

/* Topologies: the receiver of vm-vm-same is the sender's host whatever
 * [global] says, and every host learns the most guests any point needs
 * on it (local hosts get that many simulated VMs; others are waited for). */
static void test_topologies(void **state) {
  static const char text[] = "[hosts]\na = local\nb = 198.18.0.2\nb.guests = 20\nc = local\n"
                             "[global]\nworkload = tcp_stream\nsender = a\nreceiver = b\n"
                             "[same]\ntopology = vm-vm-same\nvms = 1, 3\n"
                             "[cross]\ntopology = vm-vm-cross\nvms = 2\n"
                             "[m2o]\ntopology = many-to-one\nvms = 5\nsender = c\nreceiver = c\n"
                             "[native]\n";
  struct iov_plan *p;

  (void)state;
  p = parse_ok(text, workloads);
  assert_int_equal(p->n_points, 5);
  assert_string_equal(p->points[0].p.topology, "vm-vm-same");
  assert_string_equal(p->points[0].p.receiver, "a");
  assert_int_equal(p->points[1].p.vms, 3);
  assert_string_equal(p->points[1].sweep, "vms=3");
  assert_string_equal(p->points[2].p.receiver, "b");
  /* many-to-one may end on the senders' own host (VMs to their host). */
  assert_string_equal(p->points[3].p.receiver, "c");
  assert_string_equal(p->points[4].p.topology, "host-host");
  assert_string_equal(p->points[4].p.path, "auto");
  assert_int_equal(p->points[0].p.vm_memory, 512ULL << 20);
  assert_string_equal(p->points[0].p.vf_spoofchk, "keep");
  assert_int_equal(p->points[0].p.vf_vlan, 0);
  assert_int_equal(iov_path_from_string("sriov"), IOV_PATH_SRIOV);
  assert_int_equal(iov_path_from_string("SR-IOV"), _IOV_PATH_INVALID);
  assert_int_equal(p->points[4].p.vms, 1);
  const struct iov_plan_host *a = iov_plan_host_find(p, "a"), *b = iov_plan_host_find(p, "b"),
                             *c = iov_plan_host_find(p, "c");
  /* a: vm-vm-same vms=3 uses 6 VMs; cross needs 2. */
  assert_int_equal(a->guests_needed, 6);
  assert_int_equal(a->guests, 6);
  assert_false(a->guests_set);
  assert_int_equal(b->guests_needed, 2);
  assert_int_equal(b->guests, 20);
  assert_true(b->guests_set);
  assert_int_equal(c->guests, 5);
  iov_plan_free(p);

  unsigned s, r;
  iov_topology_guests(IOV_TOPO_VM_VM_SAME, 4, &s, &r);
  assert_int_equal(s, 8);
  assert_int_equal(r, 0);
  iov_topology_guests(IOV_TOPO_VM_VM_CROSS, 4, &s, &r);
  assert_int_equal(s, 4);
  assert_int_equal(r, 4);
  assert_int_equal(iov_topology_from_string("many-to-one"), IOV_TOPO_MANY_TO_ONE);
  assert_int_equal(iov_topology_from_string("Many-to-one"), _IOV_TOPO_INVALID);
  assert_string_equal(iov_topology_to_string(IOV_TOPO_HOST_HOST), "host-host");
}

/* ---- Bad plans: exact line and key ----------------------------------- */

struct bad_case {
  const char *text;
  unsigned line;
  const char *key;     /* NULL: no key expected */
  const char *message; /* a substring of the message */
};

static void run_bad(void **state) {
  const struct bad_case *c = *state;
  struct perr e;
  int r = parse_err(c->text, &e);

  print_message("    %s\n", e.text);
  assert_int_equal(r, -IOV_E_PLAN);
  assert_string_equal(e.file, "inline.plan");
  if (e.line != c->line) fail_msg("line %u, expected %u", e.line, c->line);
  if (c->key)
    assert_string_equal(e.key, c->key);
  else
    assert_null(e.key);
  if (!strstr(e.message, c->message)) fail_msg("message lacks '%s'", c->message);
}

#define BAD(name, text_, line_, key_, msg_) \
  static const struct bad_case bad_##name = { text_, line_, key_, msg_ };
#define T4 "[t]\nworkload = tcp_rr\n" /* lines 4-5 after HOSTS */

BAD(unknown_key, HOSTS T4 "bogus = 1\n", 6, "bogus", "unknown key (see coord --help-plan)")
BAD(misspelt_key, HOSTS T4 "msg_sise = 1\n", 6, "msg_sise", "did you mean 'msg_size'?")
BAD(bad_size, HOSTS T4 "msg_size = 64, 64q\n", 6, "msg_size",
    "'64q' is not a size (a number with an optional k, m or g suffix, e.g. 64k)")
BAD(bad_duration, HOSTS T4 "duration = 10 s\n", 6, "duration", "'10 s' is not a duration")
BAD(bad_number, HOSTS T4 "flows = two\n", 6, "flows", "'two' is not a whole number")
BAD(negative, HOSTS T4 "flows = -1\n", 6, "flows", "'-1' is not a whole number")
BAD(flows_range, HOSTS T4 "flows = 1, 300\n", 6, "flows", "'300' is out of range; use 1..256")
BAD(flows_zero, HOSTS T4 "flows = 0\n", 6, "flows", "'0' is out of range; use 1..256")
BAD(flows_overflow, HOSTS T4 "flows = 99999999999999999999999\n", 6, "flows", "out of range")
BAD(size_range, HOSTS T4 "msg_size = 17m\n", 6, "msg_size", "'17m' is out of range; use 1..16m")
BAD(duration_range, HOSTS T4 "duration = 50ms\n", 6, "duration", "'50ms' is out of range; use 100ms..24h")
BAD(timeout_range, HOSTS "[global]\ntimeout = 2h\n" T4, 5, "timeout", "use 1s..1h")
BAD(unknown_host, HOSTS T4 "sender = c\n", 6, "sender", "no host 'c' in [hosts] (known: a, b)")
BAD(unknown_host_global, HOSTS "[global]\nreceiver = zz\n" T4, 5, "receiver", "no host 'zz'")
BAD(bad_host_name, HOSTS T4 "receiver = a.b\n", 6, "receiver", "'a.b' is not a host name")
BAD(missing_workload, HOSTS "[t]\nflows = 2\n", 4, "workload",
    "test 't' has no workload; add 'workload = NAME' to [t] or [global]")
BAD(unknown_workload, HOSTS "[t]\nworkload = tcp_rr, udp_nope\n", 5, "workload",
    "unknown workload 'udp_nope' (known: tcp_stream, tcp_rr, udp_stream)")
BAD(duplicate_host, "[hosts]\na = 198.18.0.1\nb = 198.18.0.2\na = 198.18.0.3\n" T4, 4, "a",
    "host 'a' is defined twice (first on line 2)")
BAD(duplicate_section, HOSTS T4 "[u]\nworkload = tcp_rr\n[t]\n", 8, NULL,
    "section [t] appears twice (first on line 4)")
BAD(duplicate_hosts_section, HOSTS T4 "[hosts]\n", 6, NULL, "section [hosts] appears twice")
BAD(duplicate_key, HOSTS T4 "flows = 1\nflows = 2\n", 7, "flows", "set twice in [t] (first on line 6)")
BAD(no_tests, HOSTS "[global]\nworkload = tcp_rr\n", 0, NULL, "the plan has no tests")
BAD(no_hosts, T4, 0, NULL, "no [hosts] section")
BAD(empty_hosts, "; hosts\n[hosts]\n" T4, 2, NULL, "[hosts] names no host")
BAD(sample_interval, HOSTS T4 "duration = 1s\nsample_interval = 2s\n", 7, "sample_interval",
    "sample_interval 2s is longer than duration 1s in test 't'")
BAD(sample_interval_global, HOSTS "[global]\nsample_interval = 5s\n" T4 "duration = 1s, 10s\n", 5,
    "sample_interval", "sample_interval 5s is longer than duration 1s")
BAD(short_duration, HOSTS T4 "duration = 500ms\n", 6, "duration",
    "duration 500ms is shorter than the sample_interval 1s")
BAD(syntax, HOSTS T4 "this is not ini\n", 6, NULL, "cannot parse 'this is not ini'")
BAD(syntax_before_key_error, HOSTS T4 "junk\nbogus = 1\n", 6, NULL, "cannot parse 'junk'")
BAD(continuation, HOSTS T4 "flows = 1,\n    2\n", 6, "flows", "empty item")
BAD(continuation2, HOSTS T4 "flows = 1\n    2\n", 7, NULL, "cannot parse '2'")
BAD(too_many_points,
    HOSTS T4 "flows = 1,2,3,4,5,6,7,8,9,10,11\n"
             "msg_size = 1,2,3,4,5,6,7,8,9,10\n"
             "response_size = 1,2,3,4,5,6,7,8,9,10\n"
             "duration = 1,2,3,4,5,6,7,8,9,10\n"
             "timeout = 1,2,3,4,5,6,7,8,9,10\n",
    4, NULL, "more than 100000 points")
BAD(too_many_points_total,
    HOSTS "[global]\nworkload = tcp_rr\n"
          "msg_size = 1,2,3,4,5,6,7,8,9,10\n"
          "response_size = 1,2,3,4,5,6,7,8,9,10\n"
          "duration = 1,2,3,4,5,6,7,8,9,10\n"
          "timeout = 1,2,3,4,5,6,7,8,9,10\n"
          "[t1]\nflows = 1,2,3,4,5,6,7,8\n[t2]\nflows = 1,2,3\n",
    12, NULL, "test 't2' sweeps too many combinations")
BAD(empty_item, HOSTS T4 "msg_size = 1,,2\n", 6, "msg_size",
    "empty item in the list '1,,2'; remove the extra comma")
BAD(trailing_comma, HOSTS T4 "msg_size = 1, 2,\n", 6, "msg_size", "empty item")
BAD(empty_value, HOSTS T4 "msg_size =\n", 6, "msg_size", "no value")
BAD(same_host, HOSTS T4 "sender = b\n", 6, "sender", "would send from host 'b' to itself")
BAD(same_host_swept, HOSTS T4 "sender = a, b\nreceiver = b\n", 7, "receiver", "to itself")
BAD(sender_required, "[hosts]\na = 1.1.1.1\nb = 1.1.1.2\nc = 1.1.1.3\n[t]\nworkload = tcp_rr\n", 5, "sender",
    "test 't' has no sender; [hosts] names 3 hosts")
BAD(receiver_required, "[hosts]\na = 1.1.1.1\n[t]\nworkload = tcp_rr\nsender = a\n", 3, "receiver",
    "has no receiver")
BAD(outside_section, "flows = 1\n" HOSTS T4, 1, "flows", "key outside any section")
BAD(data_unknown_host, HOSTS "c.data = 198.18.1.1\n" T4, 4, "c.data", "no host 'c' in [hosts]")
BAD(data_bad_addr, HOSTS "a.data = host.example\n" T4, 4, "a.data",
    "'host.example' is not an IPv4 or IPv6 address")
BAD(data_twice, HOSTS "a.data = 1.2.3.4\na.data = 1.2.3.5\n" T4, 5, "a.data", "set twice (first on line 4)")
BAD(host_attr, HOSTS "a.mac = 1.2.3.4\n" T4, 4, "a.mac", "unknown host setting 'mac'")
BAD(bad_topology, HOSTS T4 "topology = star\n", 6, "topology",
    "'star' is not a topology: host-host, vm-vm-cross")
BAD(vms_host_host, HOSTS T4 "vms = 1, 2\n", 6, "vms", "topology host-host has no VMs")
BAD(vms_range, HOSTS T4 "topology = many-to-one\nvms = 2000\n", 7, "vms", "use 1..1024")
BAD(vm_same_other_receiver, HOSTS T4 "topology = vm-vm-same\nreceiver = b\n", 7, "receiver",
    "vm-vm-same: both ends are VMs on host 'a'")
BAD(path_bad, HOSTS T4 "path = pci\n", 6, "path", "'pci' is not a path: auto, native, sriov")
BAD(path_native_vms, HOSTS T4 "topology = vm-vm-cross\npath = native\n", 7, "path",
    "path native measures the hosts' own NICs")
BAD(path_sriov_hosts, HOSTS T4 "path = sriov\n", 6, "path", "path sriov needs VMs")
BAD(path_sriov_local,
    "[hosts]\na = local\nb = local\n[t]\nworkload = tcp_rr\ntopology = many-to-one\n"
    "path = virtio\n",
    7, "path", "host 'a' is local")
BAD(vf_vlan_range, HOSTS T4 "vf_vlan = 4095\n", 6, "vf_vlan", "out of range")
BAD(vf_trust_bad, HOSTS T4 "vf_trust = maybe\n", 6, "vf_trust", "'maybe' is not on, off or keep")
BAD(vf_rate_bits, HOSTS T4 "vf_rate = 50\n", 6, "vf_rate",
    "whole Mbit/s; write it with a unit, e.g. vf_rate = 50M")
BAD(on_error_bad, HOSTS T4 "on_error = retry\n", 6, "on_error", "'retry' is not continue or stop")
BAD(heartbeat_per_test, HOSTS T4 "heartbeat = 2s\n[u]\nworkload = tcp_rr\n", 7, "heartbeat",
    "test 'u' sets heartbeat = 1s, but test 't' has 2s: there is one heartbeat for the whole run")
BAD(heartbeat_small, HOSTS T4 "heartbeat = 10ms\n", 6, "heartbeat", "out of range")
BAD(udp_big_size, HOSTS "[t]\nworkload = udp_stream\nmsg_size = 64k\n", 6, "msg_size",
    "a UDP datagram carries at most 65507 bytes")
BAD(vm_memory_small, HOSTS T4 "vm_memory = 1m\n", 6, "vm_memory", "out of range")
BAD(guests_bad, HOSTS "a.guests = many\n" T4, 4, "a.guests", "not a guest count")
BAD(guests_unknown_host, HOSTS "c.guests = 2\n" T4, 4, "c.guests", "no host 'c' in [hosts]")
BAD(guests_twice, HOSTS "a.guests = 2\na.guests = 3\n" T4, 5, "a.guests", "set twice")
BAD(key_bad, HOSTS "a.key = secret\n" T4, 4, "a.key", "'secret' is not a CURVE public key")
BAD(key_twice,
    HOSTS
    "a.key = g6k@p%dfbne#Ff&Io:MVyjR6SOajFYH@+H}zn%*9\na.key = g6k@p%dfbne#Ff&Io:MVyjR6SOajFYH@+H}zn%*9\n" T4,
    5, "a.key", "set twice")
BAD(key_unknown_host, HOSTS "c.key = g6k@p%dfbne#Ff&Io:MVyjR6SOajFYH@+H}zn%*9\n" T4, 4, "c.key",
    "no host 'c' in [hosts]")
BAD(local_guests_short,
    "[hosts]\na = local\nb = local\na.guests = 3\n[t]\nworkload = tcp_rr\n"
    "topology = vm-vm-same\nvms = 1, 2\n",
    2, "a.guests", "gets 3 simulated VMs but the plan needs 4")
BAD(host_bad_name, HOSTS "a b = 1.2.3.4\n" T4, 4, "a b", "not a host name")
BAD(host_bad_port, HOSTS "c = 198.18.0.3:70000\n" T4, 4, "c", "'70000' is not a port")
BAD(host_bad_scheme, HOSTS "c = udp://198.18.0.3:7700\n" T4, 4, "c", "unsupported endpoint")
BAD(host_bad_ip, HOSTS "c = 198.18.0.300\n" T4, 4, "c", "'198.18.0.300' is not a host name or address")
BAD(host_bad_v6, HOSTS "c = [2001:db8::zz]:7700\n" T4, 4, "c", "is not an IPv6 address")
BAD(host_bare_v6_port, HOSTS "c = 2001:db8::1:7700:x\n" T4, 4, "c", "write IPv6 addresses in brackets")
BAD(host_no_endpoint, HOSTS "c =\n" T4, 4, "c", "no endpoint")
BAD(host_empty_ipc, HOSTS "c = ipc://\n" T4, 4, "c", "not a usable ipc endpoint")
BAD(section_unclosed, HOSTS "[t\nworkload = tcp_rr\n", 4, NULL, "has no closing ']'")
BAD(section_trailing, HOSTS "[t] x\nworkload = tcp_rr\n", 4, NULL, "unexpected text after ']'")
BAD(section_bad_name, HOSTS "[a b]\nworkload = tcp_rr\n", 4, NULL, "'[a b]' is not a valid section name")
BAD(section_too_long,
    HOSTS "[xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]\nworkload = tcp_rr\n", 4, NULL,
    "is not a valid section name; use 1 to 63")
BAD(section_case, HOSTS T4 "[Global]\n", 6, NULL, "did you mean [global]?")

#define BAD_TEST(name) \
  { "bad_" #name, run_bad, NULL, NULL, (void *)&bad_##name }

/* ---- Files, errors, help ----------------------------------------------- */

static void load_bad_fixture(const char *name, unsigned line, const char *key, const char *msg) {
  char *path = fixture(name);
  struct iov_plan *p = NULL;
  struct perr e;
  char want[1024];

  assert_int_equal(iov_plan_load(path, workloads, &p, e.text, sizeof(e.text)), -IOV_E_PLAN);
  assert_null(p);
  perr_split(&e, path);
  assert_string_equal(e.file, path);
  assert_int_equal(e.line, line);
  if (key)
    assert_string_equal(e.key, key);
  else
    assert_null(e.key);
  snprintf(want, sizeof(want), "%s:%u: %s%s%s%s", path, line, key ? "key '" : "", key ? key : "",
           key ? "': " : "", msg);
  assert_string_equal(e.text, want);
  free(path);
}

static void test_bad_fixtures(void **state) {
  (void)state;
  load_bad_fixture("bad_size.plan", 8, "msg_size",
                   "'64q' is not a size (a number with an optional k, m or g suffix, e.g. 64k)");
  load_bad_fixture("unknown_host.plan", 10, "sender", "no host 'd' in [hosts] (known: a, b, c)");
  load_bad_fixture("syntax.plan", 7, NULL,
                   "cannot parse 'workload tcp_rr': expected 'key = value', a [section] header "
                   "or a comment");
}

static void test_load_missing(void **state) {
  struct iov_plan *p = NULL;
  struct perr e;

  (void)state;
  assert_int_equal(iov_plan_load("/nonexistent/x.plan", workloads, &p, e.text, sizeof(e.text)), -ENOENT);
  assert_null(p);
  perr_split(&e, "/nonexistent/x.plan");
  assert_int_equal(e.line, 0);
  assert_null(e.key);
  assert_string_equal(e.text, "/nonexistent/x.plan: cannot read plan: No such file or directory");
  /* err may be NULL. */
  assert_int_equal(iov_plan_load("/nonexistent/x.plan", workloads, &p, NULL, 0), -ENOENT);
}

static char *write_temp(const char *data, size_t len) {
  char *path = strdup("/tmp/iov_test_plan_XXXXXX");
  int fd;

  assert_non_null(path);
  fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
  return path;
}

static void test_load_limits(void **state) {
  static const char nul_text[] = HOSTS "[t]\nwork\0load = tcp_rr\n";
  size_t big = IOV_PLAN_MAX_SIZE + 1;
  char *text = malloc(big + 1), *path;
  struct iov_plan *p = NULL;
  struct perr e;

  (void)state;
  assert_non_null(text);
  /* A comment line repeated: valid, but too large. */
  for (size_t i = 0; i < big; i++) text[i] = (i % 64 == 63) ? '\n' : ';';
  text[big] = '\0';
  path = write_temp(text, big);
  assert_int_equal(iov_plan_load(path, workloads, &p, e.text, sizeof(e.text)), -IOV_E_PLAN);
  assert_null(p);
  perr_split(&e, path);
  assert_non_null(strstr(e.message, "larger than 1048576 bytes"));
  unlink(path);
  free(path);
  assert_int_equal(iov_plan_parse(text, "big.plan", workloads, &p, e.text, sizeof(e.text)), -IOV_E_PLAN);
  perr_split(&e, "big.plan");
  assert_non_null(strstr(e.message, "larger than"));
  free(text);

  path = write_temp(nul_text, sizeof(nul_text) - 1);
  assert_int_equal(iov_plan_load(path, workloads, &p, e.text, sizeof(e.text)), -IOV_E_PLAN);
  perr_split(&e, path);
  assert_int_equal(e.line, 5);
  assert_non_null(strstr(e.message, "NUL byte"));
  unlink(path);
  free(path);
}

/* The error's parts, each left out when absent, in one line; a short
 * buffer keeps it terminated. */
static void test_error_format(void **state) {
  struct iov_plan *p = NULL;
  char buf[256];

  (void)state;
  assert_int_equal(iov_plan_parse(HOSTS "[t]\nworkload = tcp_rr\nmsg_size = bad\n", "p.plan", workloads, &p,
                                  buf, sizeof(buf)),
                   -IOV_E_PLAN);
  assert_non_null(strstr(buf, "p.plan:6: key 'msg_size': 'bad' is not a size"));
  assert_int_equal(iov_plan_parse(HOSTS "[t]\nworkload tcp_rr\n", "p.plan", workloads, &p, buf, sizeof(buf)),
                   -IOV_E_PLAN);
  assert_non_null(strstr(buf, "p.plan:5: cannot parse"));
  assert_int_equal(iov_plan_parse(HOSTS, "p.plan", workloads, &p, buf, sizeof(buf)), -IOV_E_PLAN);
  assert_string_equal(
      buf, "p.plan: the plan has no tests; add a section such as '[latency]' with 'workload = tcp_rr'");
  /* Truncation keeps the buffer terminated. */
  assert_int_equal(iov_plan_parse(HOSTS "[t]\nworkload tcp_rr\n", "p.plan", workloads, &p, buf, 8),
                   -IOV_E_PLAN);
  assert_string_equal(buf, "p.plan:");
  assert_null(p);
}

/* Engine settings come from the workloads' tables: typed, range-checked
 * per engine, swept when declared so, refused in a test whose workloads
 * lack them; each point carries its engine's settings. */
static void test_engine_settings(void **state) {
  struct iov_plan *p;
  struct perr e;
  uint64_t v = 0;

  (void)state;
  p = parse_ok(HOSTS "[global]\nburst = 2\n[s]\nworkload = tcp_stream\n[t]\nworkload = tcp_rr, udp_stream\n"
                     "burst = 1, 4\ntos = 46\n[u]\nworkload = udp_stream\non_error = stop\n",
               workloads);
  assert_int_equal(p->n_points, 6);
  assert_int_equal(p->points[0].p.n_settings, 0); /* tcp_stream has none; [global]'s burst is not its */
  assert_false(iov_plan_setting_get(&p->points[0].p, "burst", &v));
  assert_string_equal(p->points[1].sweep, "workload=tcp_rr burst=1");
  assert_int_equal(p->points[1].p.n_settings, 3);
  assert_ptr_equal(p->points[1].p.settings[0].opt, &rr_opts[0]);
  assert_true(iov_plan_setting_get(&p->points[2].p, "burst", &v));
  assert_int_equal(v, 4);
  assert_true(iov_plan_setting_get(&p->points[2].p, "tos", &v));
  assert_int_equal(v, 46);
  assert_true(iov_plan_setting_get(&p->points[2].p, "poll", &v));
  assert_int_equal(v, 0);
  assert_true(iov_plan_setting_get(&p->points[3].p, "tos", &v)); /* udp_stream */
  assert_int_equal(v, 46);
  assert_false(iov_plan_setting_get(&p->points[3].p, "burst", &v));
  assert_true(iov_plan_setting_get(&p->points[5].p, "tos", &v)); /* udp_stream's own default */
  assert_int_equal(v, 8);
  assert_int_equal(p->points[5].p.on_error_id, IOV_ON_ERROR_STOP);
  assert_int_equal(p->points[0].p.on_error_id, IOV_ON_ERROR_CONTINUE);
  assert_int_equal(p->points[0].p.topo, IOV_TOPO_HOST_HOST);
  assert_int_equal(p->points[0].p.path_id, IOV_PATH_AUTO);
  iov_plan_free(p);

  static const struct {
    const char *text;
    unsigned line;
    const char *key, *msg;
  } bad[] = {
    { HOSTS "[t]\nworkload = tcp_rr\ntos = 300\n", 6, "tos", "'300' is out of range; use 0..255" },
    { HOSTS "[t]\nworkload = tcp_rr\nburst = 0\n", 6, "burst", "'0' is out of range; use 1..1024" },
    { HOSTS "[t]\nworkload = udp_stream\ntos = 100\n", 6, "tos",
      "'100' is out of range; use 0..63 for udp_stream" },
    { HOSTS "[t]\nworkload = tcp_stream\n\nburst = 4\n", 7, "burst",
      "test 't' runs no workload that has this setting (it belongs to tcp_rr)" },
    { HOSTS "[t]\nworkload = tcp_rr\npoll = 1ms, 2ms\n", 6, "poll", "does not sweep" },
    { HOSTS "[t]\nworkload = tcp_rr\nburst = many\n", 6, "burst", "'many' is not a whole number" },
    { HOSTS "[t]\nworkload = tcp_rr\nbrust = 2\n", 6, "brust", "did you mean 'burst'?" },
  };
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    assert_int_equal(parse_err(bad[i].text, &e), -IOV_E_PLAN);
    if (e.line != bad[i].line || !e.key || strcmp(e.key, bad[i].key) != 0 || !strstr(e.message, bad[i].msg))
      fail_msg("case %zu: got '%s'", i, e.text);
  }
}

static void test_help(void **state) {
  static const char *const want[] = {
    "[hosts]",
    "[global]",
    "sweeps",
    "workload",
    "sender",
    "receiver",
    "flows",
    "msg_size",
    "size, default 64k, 1..16m",
    "response_size",
    "duration",
    "duration, default 10s, 100ms..24h",
    "sample_interval",
    "10ms..1h",
    "timeout",
    "integer, default 1, 1..256",
    "  burst            integer, default 1, 1..1024\n                   (tcp_rr) outstanding",
    "  tos              integer, default 0, 0..255\n                   (tcp_rr, udp_stream) IP TOS",
    "  poll             duration, no sweep, default 0s, 0s..1s",
  };
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);

  (void)state;
  assert_non_null(f);
  iov_plan_help(f, workloads);
  fclose(f);
  for (size_t i = 0; i < ELEMENTSOF(want); i++)
    if (!strstr(buf, want[i])) fail_msg("help lacks '%s':\n%s", want[i], buf);
  free(buf);
}

/* ---- Frames, percentages and engine-defined settings (issue 16) ------- */

/* A search setting as an engine declares one: its own words, a comma
 * inside the value (the key does not sweep). */
static int search_parse(const char *text, uint64_t *ret, char *err, size_t errlen) {
  static const char *const names[] = { "none", "ndr", "pdr", "ndr,pdr" };
  for (uint64_t i = 0; i < ELEMENTSOF(names); i++)
    if (strcmp(text, names[i]) == 0) {
      *ret = i;
      return 0;
    }
  snprintf(err ? err : (char[1]){ 0 }, err ? errlen : 1, "'%s' is not none, ndr, pdr or ndr,pdr", text);
  return -EINVAL;
}

static const char *search_format(uint64_t v, char *buf, size_t n) {
  static const char *const names[] = { "none", "ndr", "pdr", "ndr,pdr" };
  snprintf(buf, n, "%s", v < ELEMENTSOF(names) ? names[v] : "?");
  return buf;
}

struct frame_opts {
  uint64_t frame_size, search, pdr_loss;
};
static const struct iov_engine_opt frame_opts[] = {
  { .name = "frame_size",
    .type = IOV_OPT_CUSTOM,
    .def = 0,
    .min = 0,
    .max = UINT64_MAX,
    .help = "Ethernet frame size",
    .sweepable = true,
    .offset = offsetof(struct frame_opts, frame_size),
    .parse = iov_frame_parse,
    .format = iov_frame_format },
  { .name = "search",
    .type = IOV_OPT_CUSTOM,
    .def = 0,
    .min = 0,
    .max = 3,
    .help = "what to search for",
    .sweepable = false,
    .offset = offsetof(struct frame_opts, search),
    .parse = search_parse,
    .format = search_format },
  { .name = "pdr_loss",
    .type = IOV_OPT_PERCENT,
    .def = 5000000, /* 0.5 % */
    .min = 0,
    .max = 1000000000,
    .help = "loss the PDR allows",
    .sweepable = true,
    .offset = offsetof(struct frame_opts, pdr_loss) },
  { 0 },
};
static const struct iov_plan_workload frame_workloads[] = {
  { .name = "tcp_stream" },
  { .name = "udp_stream", .udp = true, .opts = frame_opts, .min_msg_size = 18 },
  { 0 },
};

static int frame_err(const char *text, struct perr *e) {
  struct iov_plan *p = NULL;
  int r = iov_plan_parse(text, "inline.plan", frame_workloads, &p, e->text, sizeof(e->text));
  assert_null(p);
  perr_split(e, "inline.plan");
  return r;
}

static uint64_t setting(const struct iov_plan_point *pt, const char *key) {
  uint64_t v = 12345;
  assert_true(iov_plan_setting_get(&pt->p, key, &v));
  return v;
}

static void test_percent_parse(void **state) {
  static const struct {
    const char *text;
    uint64_t ppb;
    const char *back;
  } good[] = {
    { "0.5%", 5000000, "0.5%" },
    { "0.5 %", 5000000, "0.5%" },
    { "0", 0, "0%" },
    { "0%", 0, "0%" },
    { "1%", 10000000, "1%" },
    { "100%", 1000000000, "100%" },
    { "12.25%", 122500000, "12.25%" },
    { "0.0000001%", 1, "0.0000001%" },
    { ".5%", 5000000, "0.5%" },
  };
  static const char *const bad[] = { "0.5",    "5",   "%",           "",     "0.5%%",
                                     "0.5  %", "-1%", "0.00000001%", "1e3%", " 1%" };
  char buf[32];
  (void)state;
  for (size_t i = 0; i < ELEMENTSOF(good); i++) {
    uint64_t v = 1;
    if (iov_parse_percent(good[i].text, &v) != 0 || v != good[i].ppb) fail_msg("'%s'", good[i].text);
    assert_string_equal(iov_format_percent(buf, sizeof(buf), v), good[i].back);
  }
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    uint64_t v = 7;
    if (iov_parse_percent(bad[i], &v) == 0 || v != 7) fail_msg("'%s' accepted", bad[i]);
  }

  /* In a plan: the engine's percent key, the format back, the range. */
  struct iov_plan *p = parse_ok(HOSTS "[t]\nworkload = udp_stream\npdr_loss = 0.1 %, 2%\n", frame_workloads);
  assert_int_equal(p->n_points, 2);
  assert_int_equal(setting(&p->points[0], "pdr_loss"), 1000000);
  assert_int_equal(setting(&p->points[1], "pdr_loss"), 20000000);
  assert_string_equal(p->points[0].sweep, "pdr_loss=0.1 %");
  const struct iov_engine_opt *o = iov_engine_opt_find(frame_opts, "pdr_loss");
  assert_string_equal(iov_engine_opt_format(o, 1000000, buf, sizeof(buf)), "0.1%");
  iov_plan_free(p);
  p = parse_ok(HOSTS "[t]\nworkload = udp_stream\n", frame_workloads);
  assert_int_equal(setting(&p->points[0], "pdr_loss"), 5000000);
  iov_plan_free(p);

  struct perr e;
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = udp_stream\npdr_loss = 101%\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 6);
  assert_string_equal(e.key, "pdr_loss");
  assert_non_null(strstr(e.message, "'101%' is out of range; use 0%..100%"));
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = udp_stream\npdr_loss = 0.5\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 6);
  assert_non_null(strstr(e.message, "is not a percentage"));
}

static void test_custom_parse(void **state) {
  struct perr e;
  char buf[64];
  (void)state;

  /* search = ndr,pdr: the comma belongs to the value, nothing sweeps. */
  struct iov_plan *p =
      parse_ok(HOSTS "[t]\nworkload = udp_stream\nsearch = ndr,pdr\nframe_size = imix\n", frame_workloads);
  assert_int_equal(p->n_points, 1);
  assert_int_equal(setting(&p->points[0], "search"), 3);
  assert_true(setting(&p->points[0], "frame_size") == IOV_FRAME_IMIX);
  assert_string_equal(p->points[0].sweep, "");
  iov_plan_free(p);
  /* The whole text goes to the engine's parser, blanks and all. */
  assert_int_equal(frame_err(HOSTS "[global]\nsearch = ndr, pdr\n[t]\nworkload = udp_stream\n", &e),
                   -IOV_E_PLAN);
  assert_int_equal(e.line, 5);
  assert_string_equal(e.message, "'ndr, pdr' is not none, ndr, pdr or ndr,pdr");

  /* The engine's reason, on the line and key. */
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = udp_stream\nsearch = ndr,foo\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 6);
  assert_string_equal(e.key, "search");
  assert_string_equal(e.message, "'ndr,foo' is not none, ndr, pdr or ndr,pdr");
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = udp_stream\nframe_size = 64, 63\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 6);
  assert_string_equal(e.key, "frame_size");
  assert_string_equal(e.message, "frame size 63 is out of range; use 64..9216");
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = udp_stream\nframe_size = 64:7 570:4 1518:1 9000:1\n", &e),
                   -IOV_E_PLAN);
  assert_non_null(strstr(e.message, "part '9000:1' of the frame mix is one too many"));
  /* frame_size on an engine that has none. */
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = tcp_stream\nframe_size = 64\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 6);
  assert_string_equal(e.key, "frame_size");
  assert_non_null(strstr(e.message, "runs no workload that has this setting (it belongs to udp_stream)"));

  /* Values from the wire: valid when they format and parse back. */
  const struct iov_engine_opt *fo = iov_engine_opt_find(frame_opts, "frame_size");
  const struct iov_engine_opt *so = iov_engine_opt_find(frame_opts, "search");
  assert_int_equal(iov_engine_opt_check(fo, IOV_FRAME_IMIX, NULL, 0), 0);
  assert_int_equal(iov_engine_opt_check(fo, 1518, NULL, 0), 0);
  assert_int_equal(iov_engine_opt_check(fo, 0, NULL, 0), 0);
  assert_int_equal(iov_engine_opt_check(fo, 63, buf, sizeof(buf)), -EINVAL);
  assert_string_equal(buf, "'0x3f' is not a valid value");
  assert_int_equal(iov_engine_opt_check(fo, IOV_FRAME_MIX_BIT, NULL, 0), -EINVAL);
  assert_int_equal(iov_engine_opt_check(so, 3, NULL, 0), 0);
  assert_int_equal(iov_engine_opt_check(so, 4, NULL, 0), -EINVAL);
  assert_string_equal(iov_engine_opt_format(fo, IOV_FRAME_IMIX, buf, sizeof(buf)), "imix");
  assert_string_equal(iov_engine_opt_format(so, 3, buf, sizeof(buf)), "ndr,pdr");

  /* The help: types, defaults and who owns them. */
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  assert_non_null(f);
  iov_plan_help(f, frame_workloads);
  fclose(f);
  static const char *const want[] = {
    "  frame_size       value, default 0\n                   (udp_stream) Ethernet frame size",
    "  search           value, no sweep, default none\n",
    "  pdr_loss         percent, default 0.5%, 0%..100%\n",
    "  line_rate        rate, default 0, 0..400g\n",
  };
  for (size_t i = 0; i < ELEMENTSOF(want); i++)
    if (!strstr(text, want[i])) fail_msg("help lacks '%s':\n%s", want[i], text);
  free(text);
}

static void test_frame_sweep(void **state) {
  (void)state;
  struct iov_plan *p = parse_ok(HOSTS "[t]\nworkload = udp_stream\nframe_size = 64, 512, 1518, imix\n"
                                      "search = ndr,pdr\n",
                                frame_workloads);
  static const uint64_t want[] = { 64, 512, 1518, IOV_FRAME_IMIX };
  static const char *const sweep[] = { "frame_size=64", "frame_size=512", "frame_size=1518",
                                       "frame_size=imix" };
  assert_int_equal(p->n_points, 4);
  for (size_t i = 0; i < 4; i++) {
    assert_true(setting(&p->points[i], "frame_size") == want[i]);
    assert_int_equal(setting(&p->points[i], "search"), 3);
    assert_string_equal(p->points[i].sweep, sweep[i]);
  }
  iov_plan_free(p);
}

static void test_msg_size_minimum(void **state) {
  struct perr e;
  (void)state;
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = udp_stream\n\nmsg_size = 10\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 7);
  assert_string_equal(e.key, "msg_size");
  assert_string_equal(e.message,
                      "msg_size 10 is below udp_stream's minimum of 18 bytes (its datagram header)");
  /* From [global]: that line. */
  assert_int_equal(frame_err(HOSTS "[global]\nmsg_size = 17\n[t]\nworkload = udp_stream\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 5);
  assert_string_equal(e.key, "msg_size");
  /* 18 runs; other engines have no minimum. */
  struct iov_plan *p =
      parse_ok(HOSTS "[t]\nworkload = udp_stream\nmsg_size = 18\n[u]\nworkload = tcp_stream\n"
                     "msg_size = 1\n",
               frame_workloads);
  assert_int_equal(p->points[0].p.msg_size, 18);
  iov_plan_free(p);
  /* A frame size sets the payload: msg_size's minimum does not apply. */
  p = parse_ok(HOSTS "[global]\nmsg_size = 10\n[t]\nworkload = udp_stream\nframe_size = 64\n",
               frame_workloads);
  assert_int_equal(setting(&p->points[0], "frame_size"), 64);
  iov_plan_free(p);
}

static void test_frame_and_msg_size(void **state) {
  struct perr e;
  (void)state;
  /* Both in one section: refused, on the later line. */
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = udp_stream\nframe_size = 64\nmsg_size = 100\n", &e),
                   -IOV_E_PLAN);
  assert_int_equal(e.line, 7);
  assert_string_equal(e.key, "msg_size");
  assert_non_null(strstr(e.message, "set frame_size or msg_size, not both"));
  assert_int_equal(
      frame_err(HOSTS "[global]\nmsg_size = 100\nframe_size = 128\n[t]\nworkload = udp_stream\n", &e),
      -IOV_E_PLAN);
  assert_int_equal(e.line, 6);
  assert_string_equal(e.key, "frame_size");
  /* A test's own key beats [global]'s. */
  struct iov_plan *p =
      parse_ok(HOSTS "[global]\nframe_size = 64\n[t]\nworkload = udp_stream\nmsg_size = 100\n"
                     "[u]\nworkload = udp_stream\n",
               frame_workloads);
  assert_int_equal(p->n_points, 2);
  assert_int_equal(setting(&p->points[0], "frame_size"), 0);
  assert_int_equal(p->points[0].p.msg_size, 100);
  assert_int_equal(setting(&p->points[1], "frame_size"), 64);
  iov_plan_free(p);
  p = parse_ok(HOSTS "[global]\nmsg_size = 64k\n[t]\nworkload = udp_stream\nframe_size = 9216\n",
               frame_workloads);
  assert_int_equal(setting(&p->points[0], "frame_size"), 9216);
  iov_plan_free(p);
  /* frame_size = 0 is unset: msg_size rules. */
  p = parse_ok(HOSTS "[t]\nworkload = udp_stream\nframe_size = 0\nmsg_size = 100\n", frame_workloads);
  assert_int_equal(p->points[0].p.msg_size, 100);
  iov_plan_free(p);
}

static void test_frame_ipv6(void **state) {
  struct perr e;
  (void)state;
  /* The receiver's data address is an IPv6 literal: 64 bytes cannot
   * carry IPv6, UDP and the 18-byte header; 84 can. */
  static const char v6[] = "[hosts]\na = 198.18.0.1\nb = 198.18.0.2\nb.data = 2001:db8::2\n";
  char text[512];
  snprintf(text, sizeof(text), "%s[t]\nworkload = udp_stream\nframe_size = 128, 64\n", v6);
  assert_int_equal(frame_err(text, &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 7);
  assert_string_equal(e.key, "frame_size");
  assert_non_null(
      strstr(e.message, "a 64-byte IPv6 frame carries -2 bytes of UDP payload, and udp_stream needs 18"));
  assert_non_null(strstr(e.message, "use frames of 84 bytes or more"));
  snprintf(text, sizeof(text), "%s[t]\nworkload = udp_stream\nframe_size = imix\n", v6);
  assert_int_equal(frame_err(text, &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 7);
  snprintf(text, sizeof(text), "%s[t]\nworkload = udp_stream\nframe_size = 84, 1518\n", v6);
  struct iov_plan *p = parse_ok(text, frame_workloads);
  assert_int_equal(p->n_points, 2);
  iov_plan_free(p);
  /* An IPv4 or unknown address: the engine decides at run time. */
  p = parse_ok("[hosts]\na = local\nb = local\n[t]\nworkload = udp_stream\nframe_size = 64\n",
               frame_workloads);
  iov_plan_free(p);
}

static void test_line_rate(void **state) {
  struct perr e;
  (void)state;
  struct iov_plan *p =
      parse_ok(HOSTS "[global]\nline_rate = 10g\n[t]\nworkload = udp_stream\n[u]\nworkload = udp_stream\n"
                     "line_rate = 25000m, 100g\n",
               frame_workloads);
  assert_int_equal(p->n_points, 3);
  assert_int_equal(p->points[0].p.line_rate, 10000000000ULL);
  assert_int_equal(p->points[1].p.line_rate, 25000000000ULL);
  assert_int_equal(p->points[2].p.line_rate, 100000000000ULL);
  for (size_t i = 0; i < p->n_points; i++) assert_int_equal(p->points[i].p.rate_pps, 0);
  iov_plan_free(p);
  p = parse_ok(HOSTS "[t]\nworkload = tcp_stream\n", frame_workloads);
  assert_int_equal(p->points[0].p.line_rate, 0);
  iov_plan_free(p);
  assert_int_equal(frame_err(HOSTS "[t]\nworkload = tcp_stream\nline_rate = fast\n", &e), -IOV_E_PLAN);
  assert_int_equal(e.line, 6);
  assert_string_equal(e.key, "line_rate");
}

static void test_free_null(void **state) {
  (void)state;
  assert_null(iov_plan_free(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_good_fixture),
    cmocka_unit_test(test_hosts_normalisation),
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_sweep_order),
    cmocka_unit_test(test_global_sweep_overridden),
    cmocka_unit_test(test_syntax_variants),
    cmocka_unit_test(test_long_names),
    cmocka_unit_test(test_host_vouching),
    cmocka_unit_test(test_line_limit),
    cmocka_unit_test(test_max_points),
    BAD_TEST(unknown_key),
    BAD_TEST(misspelt_key),
    BAD_TEST(bad_size),
    BAD_TEST(bad_duration),
    BAD_TEST(bad_number),
    BAD_TEST(negative),
    BAD_TEST(flows_range),
    BAD_TEST(flows_zero),
    BAD_TEST(flows_overflow),
    BAD_TEST(size_range),
    BAD_TEST(duration_range),
    BAD_TEST(timeout_range),
    BAD_TEST(unknown_host),
    BAD_TEST(unknown_host_global),
    BAD_TEST(bad_host_name),
    BAD_TEST(missing_workload),
    BAD_TEST(unknown_workload),
    BAD_TEST(duplicate_host),
    BAD_TEST(duplicate_section),
    BAD_TEST(duplicate_hosts_section),
    BAD_TEST(duplicate_key),
    BAD_TEST(no_tests),
    BAD_TEST(no_hosts),
    BAD_TEST(empty_hosts),
    BAD_TEST(sample_interval),
    BAD_TEST(sample_interval_global),
    BAD_TEST(short_duration),
    BAD_TEST(syntax),
    BAD_TEST(syntax_before_key_error),
    BAD_TEST(continuation),
    BAD_TEST(continuation2),
    BAD_TEST(too_many_points),
    BAD_TEST(too_many_points_total),
    BAD_TEST(empty_item),
    BAD_TEST(trailing_comma),
    BAD_TEST(empty_value),
    BAD_TEST(same_host),
    BAD_TEST(same_host_swept),
    BAD_TEST(sender_required),
    BAD_TEST(receiver_required),
    BAD_TEST(outside_section),
    BAD_TEST(data_unknown_host),
    BAD_TEST(data_bad_addr),
    BAD_TEST(data_twice),
    BAD_TEST(host_attr),
    BAD_TEST(bad_topology),
    BAD_TEST(vms_host_host),
    BAD_TEST(vms_range),
    BAD_TEST(vm_same_other_receiver),
    BAD_TEST(path_bad),
    BAD_TEST(path_native_vms),
    BAD_TEST(path_sriov_hosts),
    BAD_TEST(path_sriov_local),
    BAD_TEST(vm_memory_small),
    BAD_TEST(udp_big_size),
    BAD_TEST(vf_vlan_range),
    BAD_TEST(vf_trust_bad),
    BAD_TEST(vf_rate_bits),
    BAD_TEST(on_error_bad),
    BAD_TEST(heartbeat_per_test),
    BAD_TEST(heartbeat_small),
    BAD_TEST(guests_bad),
    BAD_TEST(guests_unknown_host),
    BAD_TEST(guests_twice),
    BAD_TEST(key_bad),
    BAD_TEST(key_twice),
    BAD_TEST(key_unknown_host),
    BAD_TEST(local_guests_short),
    cmocka_unit_test(test_topologies),
    BAD_TEST(host_bad_name),
    BAD_TEST(host_bad_port),
    BAD_TEST(host_bad_scheme),
    BAD_TEST(host_bad_ip),
    BAD_TEST(host_bad_v6),
    BAD_TEST(host_bare_v6_port),
    BAD_TEST(host_no_endpoint),
    BAD_TEST(host_empty_ipc),
    BAD_TEST(section_unclosed),
    BAD_TEST(section_trailing),
    BAD_TEST(section_bad_name),
    BAD_TEST(section_too_long),
    BAD_TEST(section_case),
    cmocka_unit_test(test_bad_fixtures),
    cmocka_unit_test(test_load_missing),
    cmocka_unit_test(test_load_limits),
    cmocka_unit_test(test_error_format),
    cmocka_unit_test(test_engine_settings),
    cmocka_unit_test(test_help),
    cmocka_unit_test(test_free_null),
    cmocka_unit_test(test_percent_parse),
    cmocka_unit_test(test_custom_parse),
    cmocka_unit_test(test_frame_sweep),
    cmocka_unit_test(test_msg_size_minimum),
    cmocka_unit_test(test_frame_and_msg_size),
    cmocka_unit_test(test_frame_ipv6),
    cmocka_unit_test(test_line_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
