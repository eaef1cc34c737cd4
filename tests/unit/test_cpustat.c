/* Unit tests for lib/cpustat.c: recorded and hand-made /proc/stat files
 * under tests/fixtures/proc/<case>/ (and <case>/next/ for a later
 * snapshot), malformed files, random mutations, and the live /proc. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpustat.h"
#include "macro.h"

#define REAL_CASE "debian12-2cpu-virtio"
#define HAND_CASE "handmade-8cpu-ixgbe-sriov"
#define CAP (IOV_CPUSTAT_MAX_CPUS + 1)

static char fixture_root[PATH_MAX];

/* The source root: $IOV_SRCDIR (ctest sets it), else from __FILE__. */
static void find_fixtures(void) {
  const char *src = getenv("IOV_SRCDIR");

  if (src && *src) {
    snprintf(fixture_root, sizeof(fixture_root), "%s/tests/fixtures/proc", src);
  } else {
    const char *f = __FILE__, *t = strstr(f, "tests/unit/");
    int len = t ? (int)(t - f) : 0;
    snprintf(fixture_root, sizeof(fixture_root), "%.*stests/fixtures/proc", len, f);
  }
}

static const char *case_dir(char *buf, size_t n, const char *name, const char *sub) {
  int r = snprintf(buf, n, "%s/%s%s%s", fixture_root, name, sub ? "/" : "", sub ? sub : "");
  assert_true(r > 0 && (size_t)r < n);
  return buf;
}

static uint64_t tick_ns(uint64_t ticks) {
  uint64_t hz = (uint64_t)sysconf(_SC_CLK_TCK);
  return (ticks / hz) * 1000000000ULL + (ticks % hz) * 1000000000ULL / hz;
}

/* A scratch proc root holding one "stat" file. */
struct tmproot {
  char dir[64];
  char file[96];
};

static void tmproot_init(struct tmproot *t) {
  snprintf(t->dir, sizeof(t->dir), "/tmp/iov-cpustat-XXXXXX");
  assert_non_null(mkdtemp(t->dir));
  snprintf(t->file, sizeof(t->file), "%s/stat", t->dir);
}

/* Rewrite the file in place (same inode), so that an open reader sees
 * the new contents. */
static void tmproot_write(struct tmproot *t, const void *data, size_t len) {
  int fd = open(t->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static void tmproot_done(struct tmproot *t) {
  unlink(t->file);
  rmdir(t->dir);
}

static int open_text(struct tmproot *t, const char *text, struct iov_cpustat **ret) {
  tmproot_write(t, text, strlen(text));
  return iov_cpustat_open(t->dir, ret);
}

static char *slurp(const char *path, size_t *ret_len) {
  FILE *f = fopen(path, "re");
  char *buf = NULL;
  size_t len = 0, cap = 0, k;

  assert_non_null(f);
  do {
    if (len + 4096 > cap) {
      cap = cap ? cap * 2 : 8192;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
    k = fread(buf + len, 1, cap - len, f);
    len += k;
  } while (k > 0);
  fclose(f);
  *ret_len = len;
  return buf;
}

static void check_core(const struct iov_cpustat_core *c, int cpu, const uint64_t t[10]) {
  assert_int_equal(c->cpu, cpu);
  assert_int_equal(c->user_ns, tick_ns(t[0]));
  assert_int_equal(c->nice_ns, tick_ns(t[1]));
  assert_int_equal(c->system_ns, tick_ns(t[2]));
  assert_int_equal(c->idle_ns, tick_ns(t[3]));
  assert_int_equal(c->iowait_ns, tick_ns(t[4]));
  assert_int_equal(c->irq_ns, tick_ns(t[5]));
  assert_int_equal(c->softirq_ns, tick_ns(t[6]));
  assert_int_equal(c->steal_ns, tick_ns(t[7]));
  assert_int_equal(c->guest_ns, tick_ns(t[8]));
  assert_int_equal(c->guest_nice_ns, tick_ns(t[9]));
}

static int read_case(const char *name, const char *sub, struct iov_cpustat_core *cores, size_t cap) {
  char dir[PATH_MAX];
  struct iov_cpustat *s = NULL;
  int r;

  assert_int_equal(iov_cpustat_open(case_dir(dir, sizeof(dir), name, sub), &s), 0);
  r = iov_cpustat_read(s, cores, cap);
  iov_cpustat_free(s);
  return r;
}

/* Values recorded on a 2-vCPU Debian 12 guest are read exactly. */
static void test_real_values(void **state) {
  static const uint64_t agg[10] = { 109440, 0, 33813, 274628, 1763, 0, 9733, 5968, 0, 0 };
  static const uint64_t cpu0[10] = { 54014, 0, 16784, 139168, 244, 0, 4528, 2927, 0, 0 };
  static const uint64_t cpu1[10] = { 55425, 0, 17029, 135460, 1518, 0, 5205, 3040, 0, 0 };
  struct iov_cpustat_core cores[8];
  (void)state;

  assert_int_equal(read_case(REAL_CASE, NULL, cores, ELEMENTSOF(cores)), 3);
  check_core(&cores[0], -1, agg);
  check_core(&cores[1], 0, cpu0);
  check_core(&cores[2], 1, cpu1);
}

/* The hand-made 8-CPU host: guest time is reported, but inside user. */
static void test_handmade_values(void **state) {
  static const uint64_t cpu7[10] = {
    12353455, 2352, 3458343, 239976669, 123526, 45727, 234798, 0, 1200700, 0
  };
  static const uint64_t agg[10] = { 98796532, 18788,   27660528, 1919906676, 987928,
                                    365620,   1877460, 0,        9602800,    0 };
  struct iov_cpustat_core cores[16];
  (void)state;

  assert_int_equal(read_case(HAND_CASE, NULL, cores, ELEMENTSOF(cores)), 9);
  check_core(&cores[0], -1, agg);
  for (int i = 0; i < 8; i++) assert_int_equal(cores[i + 1].cpu, i);
  check_core(&cores[8], 7, cpu7);
}

/* Too small an array: -ENOBUFS, and the count says what is needed. */
static void test_enobufs_and_count(void **state) {
  char dir[PATH_MAX];
  struct iov_cpustat *s = NULL;
  struct iov_cpustat_core cores[9];
  (void)state;

  assert_int_equal(iov_cpustat_open(case_dir(dir, sizeof(dir), HAND_CASE, NULL), &s), 0);
  assert_int_equal(iov_cpustat_count(s), 9);
  assert_int_equal(iov_cpustat_read(s, cores, 8), -ENOBUFS);
  assert_int_equal(iov_cpustat_count(s), 9);
  assert_int_equal(iov_cpustat_read(s, cores, 9), 9);
  assert_int_equal(iov_cpustat_read(s, NULL, 0), -ENOBUFS);
  iov_cpustat_free(s);
  assert_null(iov_cpustat_free(NULL));
  assert_int_equal(iov_cpustat_count(NULL), 0);
}

/* Two real snapshots a few seconds apart. */
static void test_real_delta(void **state) {
  struct iov_cpustat_core a[8], b[8];
  struct iov_cpustat_load l[8];
  int na, nb;
  (void)state;

  na = read_case(REAL_CASE, NULL, a, ELEMENTSOF(a));
  nb = read_case(REAL_CASE, "next", b, ELEMENTSOF(b));
  assert_int_equal(na, 3);
  assert_int_equal(nb, 3);
  assert_int_equal(iov_cpustat_delta(a, (size_t)na, b, (size_t)nb, l, ELEMENTSOF(l)), 3);

  /* cpu0: user 34, system 77, softirq 5, steal 5; idle 104, iowait 0. */
  assert_int_equal(l[1].cpu, 0);
  assert_int_equal(l[1].busy_ns, tick_ns(34 + 77 + 5 + 5));
  assert_int_equal(l[1].idle_ns, tick_ns(104));
  assert_int_equal(l[1].iowait_ns, 0);
  assert_int_equal(l[1].steal_ns, tick_ns(5));
  /* cpu1: user 35, system 4, softirq 1, steal 2; idle 203, iowait 1. */
  assert_int_equal(l[2].cpu, 1);
  assert_int_equal(l[2].busy_ns, tick_ns(35 + 4 + 1 + 2));
  assert_int_equal(l[2].idle_ns, tick_ns(203 + 1));
  assert_int_equal(l[2].iowait_ns, tick_ns(1));
  /* The aggregate is the sum of the cores. */
  assert_int_equal(l[0].cpu, -1);
  assert_int_equal(l[0].busy_ns, l[1].busy_ns + l[2].busy_ns);
  assert_int_equal(l[0].idle_ns, l[1].idle_ns + l[2].idle_ns);
  assert_int_equal(l[0].steal_ns, tick_ns(7));
}

/* cpu5 went offline, cpu3's iowait stepped back, guest time grew inside
 * user: none of it may distort the result. */
static void test_handmade_delta_offline(void **state) {
  struct iov_cpustat_core a[16], b[16];
  struct iov_cpustat_load l[16];
  static const int online[] = { 0, 1, 2, 3, 4, 6, 7 };
  uint64_t busy = 0, idle = 0;
  int na, nb;
  (void)state;

  na = read_case(HAND_CASE, NULL, a, ELEMENTSOF(a));
  nb = read_case(HAND_CASE, "next", b, ELEMENTSOF(b));
  assert_int_equal(na, 9);
  assert_int_equal(nb, 8);
  assert_int_equal(iov_cpustat_delta(a, (size_t)na, b, (size_t)nb, l, (size_t)nb), 8);
  for (size_t i = 0; i < ELEMENTSOF(online); i++) {
    int c = online[i];
    const struct iov_cpustat_load *x = &l[i + 1];

    assert_int_equal(x->cpu, c);
    /* user 400+c, nice 1, system 150+c, irq 3, softirq 20+c; guest's 100
     * is part of user and must not be added again. */
    assert_int_equal(x->busy_ns, tick_ns(574 + 3 * (uint64_t)c));
    if (c == 3) {
      assert_int_equal(x->iowait_ns, 0);
      assert_int_equal(x->idle_ns, tick_ns(420 - 3));
    } else {
      assert_int_equal(x->iowait_ns, tick_ns(5));
      assert_int_equal(x->idle_ns, tick_ns(425 - (uint64_t)c));
    }
    busy += x->busy_ns;
    idle += x->idle_ns;
  }
  /* The aggregate line dropped by all of cpu5's time; the sum of the
   * cores did not. */
  assert_true(b[0].user_ns < a[0].user_ns);
  assert_int_equal(l[0].busy_ns, busy);
  assert_int_equal(l[0].idle_ns, idle);
  assert_int_equal(l[0].busy_ns, tick_ns(4087));
  assert_int_equal(l[0].idle_ns, tick_ns(2947));
}

static void test_delta_errors(void **state) {
  struct iov_cpustat_core a[16], b[16], only[1];
  struct iov_cpustat_load l[16];
  int na;
  (void)state;

  na = read_case(HAND_CASE, NULL, a, ELEMENTSOF(a));
  assert_int_equal(na, 9);
  memcpy(b, a, sizeof(a));
  assert_int_equal(iov_cpustat_delta(a, 9, b, 9, l, 8), -ENOBUFS);
  assert_int_equal(iov_cpustat_delta(a, 0, b, 9, l, 9), -EINVAL);
  assert_int_equal(iov_cpustat_delta(NULL, 9, b, 9, l, 9), -EINVAL);
  assert_int_equal(iov_cpustat_delta(a, 9, b, 9, NULL, 9), -EINVAL);
  /* No aggregate first; cores out of order. */
  assert_int_equal(iov_cpustat_delta(a + 1, 8, b, 9, l, 9), -EINVAL);
  b[4].cpu = 1;
  assert_int_equal(iov_cpustat_delta(a, 9, b, 9, l, 9), -EINVAL);
  /* Identical snapshots: all zero. */
  assert_int_equal(iov_cpustat_delta(a, 9, a, 9, l, 9), 9);
  for (int i = 0; i < 9; i++) assert_int_equal(l[i].busy_ns + l[i].idle_ns, 0);
  /* Only the aggregate line: it is used directly. */
  only[0] = a[0];
  memcpy(b, a, sizeof(a));
  b[0].user_ns += 1000;
  b[0].idle_ns += 2000;
  assert_int_equal(iov_cpustat_delta(only, 1, b, 1, l, 1), 1);
  assert_int_equal(l[0].busy_ns, 1000);
  assert_int_equal(l[0].idle_ns, 2000);
}

/* Counters that pass 2^64 ns still give the right difference. */
static void test_delta_wrap(void **state) {
  struct iov_cpustat_core a[2] = { { .cpu = -1 }, { .cpu = 0 } }, b[2];
  struct iov_cpustat_load l[2];
  (void)state;

  a[1].user_ns = UINT64_MAX - 499;
  a[1].idle_ns = 1000;
  memcpy(b, a, sizeof(a));
  b[1].user_ns = 500; /* 1000 ns later, past the wrap */
  b[1].idle_ns = 999; /* stepped back */
  assert_int_equal(iov_cpustat_delta(a, 2, b, 2, l, 2), 2);
  assert_int_equal(l[1].busy_ns, 1000);
  assert_int_equal(l[1].idle_ns, 0);
}

struct bad_case {
  const char *text;
  int error;
};

/* Every malformed file is refused with its documented error. */
static void test_malformed(void **state) {
  static const struct bad_case cases[] = {
    { "", -EBADMSG },
    { "intr 1 2 3\nctxt 5\n", -EBADMSG },                  /* no cpu lines */
    { "cpu0 1 2 3 4\n", -EBADMSG },                        /* no aggregate */
    { "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3", -EBADMSG }, /* truncated */
    { "cpu  1 2 3 4 5 6 7 8 9 10", -EBADMSG },             /* truncated */
    { "cpu  1 2 3 4 5 6 7 8 9 10\ncp", -EBADMSG },         /* truncated */
    { "cpu  1 2 3\n", -EBADMSG },                          /* too few fields */
    { "cpu\n", -EBADMSG },
    { "cpu  1 2 x 4\n", -EBADMSG }, /* garbage */
    { "cpu  1 2 3 4\ncpux 1 2 3 4\n", -EBADMSG },
    { "cpu  1 2 3 4\ncpu-1 1 2 3 4\n", -EBADMSG },
    { "cpu  1 2 -3 4\n", -EBADMSG },
    { "cpu  1 2 3 4\ncpu1 1 2 3 4\ncpu0 1 2 3 4\n", -EBADMSG }, /* order */
    { "cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu0 1 2 3 4\n", -EBADMSG }, /* twice */
    { "cpu  1 2 3 4\ncpu  1 2 3 4\n", -EBADMSG },
    { "cpu  1 2 3 4\ncpu4096 1 2 3 4\n", -E2BIG }, /* too many */
    { "cpu  1 2 3 4\ncpu99999999999999999999999 1 2 3 4\n", -EBADMSG },
    { "cpu  99999999999999999999999 2 3 4\n", -EBADMSG }, /* overflow */
    { "cpu  1 2 3 4\r\n", -EBADMSG },
  };
  struct tmproot t;
  (void)state;

  tmproot_init(&t);
  for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
    struct iov_cpustat *s = NULL;
    int r = open_text(&t, cases[i].text, &s);
    if (r != cases[i].error) fail_msg("case %zu: r=%d, expected %d", i, r, cases[i].error);
    assert_null(s);
  }
  tmproot_done(&t);
}

/* What old and new kernels write is accepted. */
static void test_tolerated(void **state) {
  struct tmproot t;
  struct iov_cpustat *s = NULL;
  struct iov_cpustat_core c[4];
  (void)state;

  tmproot_init(&t);
  /* Linux 2.4: four fields; the rest read as 0. */
  assert_int_equal(open_text(&t, "cpu  1 2 3 4\ncpu0 1 2 3 4\npage 5 6\n", &s), 0);
  assert_int_equal(iov_cpustat_read(s, c, 4), 2);
  assert_int_equal(c[1].idle_ns, tick_ns(4));
  assert_int_equal(c[1].iowait_ns, 0);
  assert_int_equal(c[1].guest_nice_ns, 0);
  s = iov_cpustat_free(s);
  /* A future kernel with more fields; tabs; sparse core numbers; a cpu
   * line after the block is not looked at. */
  assert_int_equal(open_text(&t,
                             "cpu  1 2 3 4 5 6 7 8 9 10 11 12\n"
                             "cpu2\t1 2 3 4 5 6 7 8 9 10 x\n"
                             "cpu7 1 2 3 4 5 6 7 8 9 10\n"
                             "intr 1\n"
                             "cpu9 garbage\n",
                             &s),
                   0);
  assert_int_equal(iov_cpustat_read(s, c, 4), 3);
  assert_int_equal(c[1].cpu, 2);
  assert_int_equal(c[2].cpu, 7);
  assert_int_equal(c[2].guest_nice_ns, tick_ns(10));
  /* The open reader follows the file as it changes, bad or good. */
  tmproot_write(&t, "cpu  1 2\n", 9);
  assert_int_equal(iov_cpustat_read(s, c, 4), -EBADMSG);
  tmproot_write(&t, "cpu  1 2 3 4\n", 13);
  assert_int_equal(iov_cpustat_read(s, c, 4), 1);
  iov_cpustat_free(s);
  tmproot_done(&t);
}

/* A NUL byte inside a cpu line is refused, not read as an end. */
static void test_nul_byte(void **state) {
  static const char text[] = "cpu  1 2 3 4\ncpu0 1 2\0 3 4\n";
  struct tmproot t;
  struct iov_cpustat *s = NULL;
  (void)state;

  tmproot_init(&t);
  tmproot_write(&t, text, sizeof(text) - 1);
  assert_int_equal(iov_cpustat_open(t.dir, &s), -EBADMSG);
  tmproot_done(&t);
}

/* 4096 cores is the limit and works; the line count is not limited by a
 * fixed buffer. */
static void test_many_cpus(void **state) {
  struct tmproot t;
  struct iov_cpustat *s = NULL;
  struct iov_cpustat_core *c = calloc(CAP, sizeof(*c));
  size_t cap = 1 << 20, len = 0;
  char *text = malloc(cap);
  (void)state;

  assert_non_null(c);
  assert_non_null(text);
  len += (size_t)snprintf(text + len, cap - len, "cpu  1 2 3 4 5 6 7 8 9 10\n");
  for (int i = 0; i < IOV_CPUSTAT_MAX_CPUS; i++)
    len += (size_t)snprintf(text + len, cap - len, "cpu%d %d 2 3 4 5 6 7 8 9 10\n", i, i);
  tmproot_init(&t);
  tmproot_write(&t, text, len);
  assert_int_equal(iov_cpustat_open(t.dir, &s), 0);
  assert_int_equal(iov_cpustat_count(s), CAP);
  assert_int_equal(iov_cpustat_read(s, c, CAP), CAP);
  assert_int_equal(c[CAP - 1].cpu, 4095);
  assert_int_equal(c[CAP - 1].user_ns, tick_ns(4095));
  s = iov_cpustat_free(s);
  free(c);
  free(text);
  tmproot_done(&t);
}

/* A cpu line that never ends is cut off at the size limit. */
static void test_file_too_big(void **state) {
  static const char head[] = "cpu  1 2 3 4\ncpu0 1 ";
  struct tmproot t;
  struct iov_cpustat *s = NULL;
  int fd;
  (void)state;

  tmproot_init(&t);
  tmproot_write(&t, head, sizeof(head) - 1);
  fd = open(t.file, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)IOV_CPUSTAT_MAX_FILE + 4096), 0);
  close(fd);
  assert_int_equal(iov_cpustat_open(t.dir, &s), -EFBIG);
  tmproot_done(&t);
}

static void test_open_errors(void **state) {
  struct iov_cpustat *s = NULL;
  char longpath[PATH_MAX + 16];
  (void)state;

  assert_int_equal(iov_cpustat_open("/nonexistent-iov-root", &s), -ENOENT);
  memset(longpath, 'a', sizeof(longpath) - 1);
  longpath[sizeof(longpath) - 1] = 0;
  assert_int_equal(iov_cpustat_open(longpath, &s), -ENAMETOOLONG);
  assert_int_equal(iov_cpustat_open(NULL, NULL), -EINVAL);
  assert_null(s);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Apply one random edit to buf[0..*len) (capacity cap). */
static void mutate(char *buf, size_t *len, size_t cap) {
  static const char interesting[] = "\n \t:0123456789-,cpuCPU\0x";
  static const char *const words[] = { "99999999999999999999999", "4096",  "cpu",  "cpu4096", "\n", "  ",
                                       "18446744073709551615",    "cpu0 ", "\ncpu" };
  size_t n = *len, pos = n ? rnd() % n : 0;

  switch (rnd() % 7) {
  case 0:
    if (n) buf[pos] = (char)rnd();
    break;
  case 1:
    if (n) buf[pos] = interesting[rnd() % (sizeof(interesting) - 1)];
    break;
  case 2: *len = pos; break;
  case 3: { /* delete a range */
    size_t k = rnd() % 64;
    if (pos + k > n) k = n - pos;
    memmove(buf + pos, buf + pos + k, n - pos - k);
    *len = n - k;
    break;
  }
  case 4: { /* insert a word */
    const char *w = words[rnd() % ELEMENTSOF(words)];
    size_t k = strlen(w);
    if (n + k > cap) break;
    memmove(buf + pos + k, buf + pos, n - pos);
    memcpy(buf + pos, w, k);
    *len = n + k;
    break;
  }
  case 5: { /* duplicate a range, such as a line */
    char tmp[200];
    size_t k = rnd() % sizeof(tmp), at = rnd() % (n + 1);
    if (pos + k > n) k = n - pos;
    if (k == 0 || n + k > cap) break;
    memcpy(tmp, buf + pos, k);
    memmove(buf + at + k, buf + at, n - at);
    memcpy(buf + at, tmp, k);
    *len = n + k;
    break;
  }
  default: { /* insert random bytes */
    size_t k = 1 + rnd() % 8;
    if (n + k > cap) break;
    memmove(buf + pos + k, buf + pos, n - pos);
    for (size_t i = 0; i < k; i++) buf[pos + i] = interesting[rnd() % (sizeof(interesting) - 1)];
    *len = n + k;
    break;
  }
  }
}

/* Random mutations of the fixtures (fixed seed) never crash the parser;
 * what it accepts is well formed.  Run under ASan/UBSan to mean much. */
static void test_fuzz_mutations(void **state) {
  static const char *const files[][2] = {
    { REAL_CASE, NULL }, { REAL_CASE, "next" }, { HAND_CASE, NULL }, { HAND_CASE, "next" }
  };
  struct iov_cpustat_core *base = calloc(CAP, sizeof(*base)), *c = calloc(CAP, sizeof(*c));
  struct iov_cpustat_load *l = calloc(CAP, sizeof(*l));
  char *orig[ELEMENTSOF(files)], *buf;
  size_t orig_len[ELEMENTSOF(files)], cap = 1 << 16;
  struct iov_cpustat *s = NULL;
  struct tmproot t;
  int nbase, accepted = 0;
  (void)state;

  assert_non_null(base);
  assert_non_null(c);
  assert_non_null(l);
  buf = malloc(cap);
  assert_non_null(buf);
  for (size_t i = 0; i < ELEMENTSOF(files); i++) {
    char dir[PATH_MAX], path[PATH_MAX + 8];
    int r = snprintf(path, sizeof(path), "%s/stat", case_dir(dir, sizeof(dir), files[i][0], files[i][1]));
    assert_true(r > 0 && (size_t)r < sizeof(path));
    orig[i] = slurp(path, &orig_len[i]);
    assert_true(orig_len[i] < cap / 2);
  }
  nbase = read_case(HAND_CASE, NULL, base, CAP);
  assert_int_equal(nbase, 9);

  tmproot_init(&t);
  tmproot_write(&t, orig[0], orig_len[0]);
  assert_int_equal(iov_cpustat_open(t.dir, &s), 0);
  for (int iter = 0; iter < 4000; iter++) {
    size_t f = rnd() % ELEMENTSOF(files), len = orig_len[f];
    int edits = 1 + (int)(rnd() % 4), r;

    memcpy(buf, orig[f], len);
    for (int e = 0; e < edits; e++) mutate(buf, &len, cap);
    tmproot_write(&t, buf, len);
    r = iov_cpustat_read(s, c, CAP);
    if (r < 0) {
      if (r != -EBADMSG && r != -E2BIG) fail_msg("iteration %d: unexpected error %d", iter, r);
      continue;
    }
    accepted++;
    assert_true(r >= 1 && r <= CAP);
    assert_int_equal(c[0].cpu, -1);
    for (int i = 2; i < r; i++) assert_true(c[i].cpu > c[i - 1].cpu);
    assert_true(iov_cpustat_delta(base, (size_t)nbase, c, (size_t)r, l, CAP) >= 1);
  }
  /* The mutations are small enough that many files still parse. */
  assert_true(accepted > 100);
  iov_cpustat_free(s);
  tmproot_done(&t);
  for (size_t i = 0; i < ELEMENTSOF(files); i++) free(orig[i]);
  free(buf);
  free(base);
  free(c);
  free(l);
}

/* The live /proc/stat: one entry per cpuN line, at most the configured
 * CPUs, and two reads give a delta. */
static void test_live(void **state) {
  struct iov_cpustat *s = NULL;
  struct iov_cpustat_core *a, *b;
  struct iov_cpustat_load *l;
  long conf = sysconf(_SC_NPROCESSORS_CONF);
  size_t len, lines = 0;
  char *text;
  int na, nb;
  (void)state;

  text = slurp("/proc/stat", &len);
  for (size_t i = 0; i + 4 < len; i++)
    if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "cpu", 3) == 0 && text[i + 3] >= '0' &&
        text[i + 3] <= '9')
      lines++;
  free(text);

  assert_int_equal(iov_cpustat_open(NULL, &s), 0);
  assert_int_equal(iov_cpustat_count(s), lines + 1);
  assert_true(conf > 0 && lines <= (size_t)conf);
  a = calloc(CAP, sizeof(*a));
  b = calloc(CAP, sizeof(*b));
  l = calloc(CAP, sizeof(*l));
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(l);
  na = iov_cpustat_read(s, a, CAP);
  nb = iov_cpustat_read(s, b, CAP);
  assert_int_equal(na, (int)lines + 1);
  assert_true(nb >= 1);
  assert_true(iov_cpustat_delta(a, (size_t)na, b, (size_t)nb, l, CAP) >= 1);
  free(a);
  free(b);
  free(l);
  iov_cpustat_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_real_values),
    cmocka_unit_test(test_handmade_values),
    cmocka_unit_test(test_enobufs_and_count),
    cmocka_unit_test(test_real_delta),
    cmocka_unit_test(test_handmade_delta_offline),
    cmocka_unit_test(test_delta_errors),
    cmocka_unit_test(test_delta_wrap),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_tolerated),
    cmocka_unit_test(test_nul_byte),
    cmocka_unit_test(test_many_cpus),
    cmocka_unit_test(test_file_too_big),
    cmocka_unit_test(test_open_errors),
    cmocka_unit_test(test_fuzz_mutations),
    cmocka_unit_test(test_live),
  };

  find_fixtures();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
