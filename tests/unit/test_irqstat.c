/* Unit tests for lib/irqstat.c: recorded and hand-made /proc/interrupts
 * files under tests/fixtures/proc/<case>/ (and <case>/next/ for a later
 * snapshot), pattern selection, deltas across a CPU going offline, a
 * 32-bit wrap and a reset, malformed files, random mutations, and the
 * live /proc. */
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

#include "irqstat.h"
#include "macro.h"

#define REAL_CASE "debian12-2cpu-virtio"
#define HAND_CASE "handmade-8cpu-ixgbe-sriov"

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

/* A scratch proc root holding one "interrupts" file. */
struct tmproot {
  char dir[64];
  char file[96];
};

static void tmproot_init(struct tmproot *t) {
  snprintf(t->dir, sizeof(t->dir), "/tmp/iov-irqstat-XXXXXX");
  assert_non_null(mkdtemp(t->dir));
  snprintf(t->file, sizeof(t->file), "%s/interrupts", t->dir);
}

/* Rewrite the file in place (same inode), so an open reader sees it. */
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

/* Open a reader on a fixture case and read it into snap. */
static int read_case(const char *name, const char *sub, const char *const *pats, size_t n_pats,
                     struct iov_irqstat_snap *snap) {
  char dir[PATH_MAX];
  struct iov_irqstat *s = NULL;
  int r;

  assert_int_equal(iov_irqstat_open(case_dir(dir, sizeof(dir), name, sub), pats, n_pats, &s), 0);
  r = iov_irqstat_read(s, snap);
  iov_irqstat_free(s);
  return r;
}

static void check_irqs(const struct iov_irqstat_view *v, const unsigned *irqs, size_t n) {
  if (v->n_queues != n) fail_msg("%zu queues selected, expected %zu", v->n_queues, n);
  for (size_t i = 0; i < n; i++)
    if (v->queues[i].irq != irqs[i])
      fail_msg("queue %zu is IRQ %u (%s), expected %u", i, v->queues[i].irq, v->queues[i].name, irqs[i]);
}

/* The recorded 2-vCPU guest: eth0 is virtio2. */
static void test_real_values(void **state) {
  static const char *const pats[] = { "virtio2" };
  static const char *const eth0[] = { "eth0" };
  static const char *const balloon[] = { "virtio0" };
  static const unsigned irqs[] = { 37, 38, 39 };
  struct iov_irqstat_snap *snap = iov_irqstat_snap_new();
  const struct iov_irqstat_view *v = iov_irqstat_snap_view(snap);
  (void)state;

  assert_non_null(snap);
  assert_int_equal(read_case(REAL_CASE, NULL, pats, 1, snap), 3);
  assert_int_equal(v->n_cpus, 2);
  assert_int_equal(v->cpus[0], 0);
  assert_int_equal(v->cpus[1], 1);
  assert_int_equal(v->n_skipped, 0);
  assert_true(v->time_ns > 0);
  check_irqs(v, irqs, 3);
  assert_string_equal(v->queues[0].name, "virtio2-config");
  assert_string_equal(v->queues[1].name, "virtio2-input.0");
  assert_int_equal(v->queues[1].per_cpu[0], 0);
  assert_int_equal(v->queues[1].per_cpu[1], 443);
  assert_int_equal(v->queues[1].total, 443);
  assert_string_equal(v->queues[2].name, "virtio2-output.0");
  assert_int_equal(v->queues[2].per_cpu[0], 391);
  assert_int_equal(v->queues[2].total, 391);

  /* The netdev name itself appears nowhere in a virtio guest. */
  assert_int_equal(read_case(REAL_CASE, NULL, eth0, 1, snap), 0);
  assert_int_equal(v->n_queues, 0);
  assert_int_equal(read_case(REAL_CASE, NULL, balloon, 1, snap), 5);
  iov_irqstat_snap_free(snap);
}

struct selection {
  const char *pats[4];
  size_t n_pats;
  unsigned irqs[16];
  size_t n_irqs;
};

/* Each set of patterns selects exactly its lines of the hand-made host. */
static void test_handmade_selection(void **state) {
  static const struct selection cases[] = {
    /* PF: link vector and queues; not ens1f1, not the VF ens1f0v0. */
    { { "ens1f0" }, 1, { 40, 41, 42, 43, 44 }, 5 },
    { { "ens1f1" }, 1, { 45, 46, 47, 48, 49 }, 5 },
    /* VF bound to iavf: "iavf-ens1f0v0-TxRx-N", but not its mailbox. */
    { { "ens1f0v0" }, 1, { 50, 51 }, 2 },
    /* The mailbox carries the VF's PCI address. */
    { { "0000:3b:10.0" }, 1, { 52 }, 1 },
    /* mlx5 names carry "@pci:ADDR", with or without the prefix. */
    { { "@pci:0000:af:00.0" }, 1, { 60, 61, 62, 63 }, 4 },
    { { "0000:af:00.0" }, 1, { 60, 61, 62, 63 }, 4 },
    /* Several patterns: file order, each line once. */
    { { "ens1f0v0", "ens1f0", "@pci:0000:af:00.0", "ens1f0-TxRx-1" },
      4,
      { 40, 41, 42, 43, 44, 50, 51, 60, 61, 62, 63 },
      11 },
    /* A pattern is a whole word. */
    { { "ens1f" }, 1, { 0 }, 0 },
    { { "ens1f0-TxRx" }, 1, { 41, 42, 43, 44 }, 4 },
    { { "TxRx" }, 1, { 41, 42, 43, 44, 46, 47, 48, 49, 50, 51 }, 10 },
    { { "mlx5_comp0" }, 1, { 61 }, 1 },
    /* IRQ 0 is a number like any other; arch lines never match. */
    { { "timer" }, 1, { 0 }, 1 },
    { { "Non" }, 1, { 0 }, 0 },
    /* One name out of a shared IRQ's list. */
    { { "aerdrv" }, 1, { 25 }, 1 },
    /* Chip and trigger text is not an action name. */
    { { "edge" }, 1, { 0 }, 0 },
    { { "IR-PCI-MSI" }, 1, { 0 }, 0 },
  };
  struct iov_irqstat_snap *snap = iov_irqstat_snap_new();
  const struct iov_irqstat_view *v = iov_irqstat_snap_view(snap);
  (void)state;

  assert_non_null(snap);
  for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
    int r = read_case(HAND_CASE, NULL, cases[i].pats, cases[i].n_pats, snap);
    if (r != (int)cases[i].n_irqs) fail_msg("case %zu ('%s'): r=%d", i, cases[i].pats[0], r);
    check_irqs(v, cases[i].irqs, cases[i].n_irqs);
    assert_int_equal(v->n_cpus, 8);
    assert_int_equal(v->n_skipped, 0);
  }

  /* Names and values of the selected lines. */
  {
    static const char *const pats[] = { "ens1f0", "aerdrv", "timer" };
    assert_int_equal(read_case(HAND_CASE, NULL, pats, 3, snap), 7);
    assert_string_equal(v->queues[0].name, "timer");
    assert_int_equal(v->queues[0].total, 41);
    assert_string_equal(v->queues[1].name, "aerdrv");
    assert_string_equal(v->queues[2].name, "ens1f0");
    assert_int_equal(v->queues[2].per_cpu[6], 3);
    assert_string_equal(v->queues[3].name, "ens1f0-TxRx-0");
    assert_int_equal(v->queues[3].total, 123456789);
    assert_string_equal(v->queues[5].name, "ens1f0-TxRx-2");
    assert_int_equal(v->queues[5].per_cpu[0], 17);
    assert_int_equal(v->queues[5].per_cpu[2], 4294960000ULL);
    assert_int_equal(v->queues[5].total, 4294960017ULL);
    for (unsigned c = 0; c < 8; c++) assert_int_equal(v->cpus[c], c);
  }
  iov_irqstat_snap_free(snap);
}

static const struct iov_irqstat_rate *find_rate(const struct iov_irqstat_rate *r, int n, unsigned irq) {
  for (int i = 0; i < n; i++)
    if (r[i].irq == irq) return &r[i];
  return NULL;
}

/* Two recorded snapshots of the guest, during a UDP send. */
static void test_real_delta(void **state) {
  static const char *const pats[] = { "virtio2" };
  struct iov_irqstat_snap *a = iov_irqstat_snap_new(), *b = iov_irqstat_snap_new();
  struct iov_irqstat_rate r[4];
  double secs;
  int n;
  (void)state;

  assert_int_equal(read_case(REAL_CASE, NULL, pats, 1, a), 3);
  assert_int_equal(read_case(REAL_CASE, "next", pats, 1, b), 3);
  n = iov_irqstat_delta(a, b, r, ELEMENTSOF(r));
  assert_int_equal(n, 3);
  assert_int_equal(r[0].irq, 37);
  assert_int_equal(r[0].count, 0);
  assert_int_equal(r[1].irq, 38);
  assert_string_equal(r[1].name, "virtio2-input.0");
  assert_int_equal(r[1].count, 452 - 443);
  assert_int_equal(r[2].irq, 39);
  assert_int_equal(r[2].count, 8988 - 391);
  secs = (double)(iov_irqstat_snap_view(b)->time_ns - iov_irqstat_snap_view(a)->time_ns) / 1e9;
  if (secs > 0) {
    assert_true(r[2].per_sec > 0.999 * 8597 / secs);
    assert_true(r[2].per_sec < 1.001 * 8597 / secs);
  }
  iov_irqstat_snap_free(a);
  iov_irqstat_snap_free(b);
}

/* The hand-made host ten seconds later: CPU5 went offline, one queue's
 * counter wrapped on CPU2, the VF's queues were re-requested and a third
 * appeared. */
static void test_handmade_delta(void **state) {
  static const char *const pats[] = { "ens1f0", "ens1f0v0", "ens1f1", "@pci:0000:af:00.0" };
  static const struct {
    unsigned irq;
    uint64_t count;
  } want[] = {
    { 40, 1 },     { 41, 250000 }, { 42, 180000 }, { 43, 5 + 10296 }, /* CPU0 +5; CPU2 4294960000 -> 3000 across 2^32 */
    { 44, 90000 },                                                    /* CPU5's 1000 went with CPU5 */
    { 45, 0 },     { 46, 10 },     { 47, 20 },                        /* moved from CPU5 to CPU7 */
    { 48, 30 },    { 49, 40 },     { 50, 100 },                       /* 9000000 -> 100: reset, not a wrap */
    { 51, 40 },    { 60, 0 },      { 61, 50 },     { 62, 60 },        { 63, 0 },
  };
  struct iov_irqstat_snap *a = iov_irqstat_snap_new(), *b = iov_irqstat_snap_new();
  const struct iov_irqstat_view *vb = iov_irqstat_snap_view(b);
  struct iov_irqstat_rate r[32];
  int n;
  (void)state;

  assert_int_equal(read_case(HAND_CASE, NULL, pats, ELEMENTSOF(pats), a), 16);
  assert_int_equal(read_case(HAND_CASE, "next", pats, ELEMENTSOF(pats), b), 17);
  assert_int_equal(vb->n_cpus, 7);
  assert_int_equal(vb->cpus[5], 6);
  assert_int_equal(iov_irqstat_delta(a, b, r, 16), -ENOBUFS);
  n = iov_irqstat_delta(a, b, r, ELEMENTSOF(r));
  assert_int_equal(n, (int)ELEMENTSOF(want));
  for (size_t i = 0; i < ELEMENTSOF(want); i++) {
    const struct iov_irqstat_rate *x = find_rate(r, n, want[i].irq);
    if (!x) fail_msg("IRQ %u missing", want[i].irq);
    if (x->count != want[i].count)
      fail_msg("IRQ %u (%s): %llu, expected %llu", x->irq, x->name, (unsigned long long)x->count,
               (unsigned long long)want[i].count);
  }
  /* IRQ 53 is new: no rate yet. */
  assert_null(find_rate(r, n, 53));
  /* Same snapshot twice: nothing happened. */
  n = iov_irqstat_delta(b, b, r, ELEMENTSOF(r));
  assert_int_equal(n, 17);
  for (int i = 0; i < n; i++) {
    assert_int_equal(r[i].count, 0);
    assert_true(r[i].per_sec == 0);
  }
  iov_irqstat_snap_free(a);
  iov_irqstat_snap_free(b);
}

static void test_delta_errors(void **state) {
  static const char *const pats[] = { "ens1f0" };
  struct iov_irqstat_snap *a = iov_irqstat_snap_new(), *b = iov_irqstat_snap_new();
  struct iov_irqstat_rate r[8];
  struct tmproot t;
  struct iov_irqstat *s = NULL;
  (void)state;

  /* Never read. */
  assert_int_equal(iov_irqstat_delta(a, b, r, 8), -EINVAL);
  assert_int_equal(read_case(HAND_CASE, NULL, pats, 1, a), 5);
  assert_int_equal(iov_irqstat_delta(a, b, r, 8), -EINVAL);
  assert_int_equal(read_case(HAND_CASE, "next", pats, 1, b), 5);
  assert_int_equal(iov_irqstat_delta(a, b, r, 8), 5);
  /* Backwards in time. */
  assert_int_equal(iov_irqstat_delta(b, a, r, 8), -EINVAL);
  assert_int_equal(iov_irqstat_delta(NULL, b, r, 8), -EINVAL);
  assert_int_equal(iov_irqstat_delta(a, b, NULL, 8), -EINVAL);

  /* A failed read leaves the snapshot empty and refused. */
  tmproot_init(&t);
  tmproot_write(&t, "garbage\n", 8);
  assert_int_equal(iov_irqstat_open(t.dir, pats, 1, &s), 0);
  assert_int_equal(iov_irqstat_read(s, b), -EBADMSG);
  assert_int_equal(iov_irqstat_snap_view(b)->n_queues, 0);
  assert_null(iov_irqstat_snap_view(b)->queues);
  assert_int_equal(iov_irqstat_delta(a, b, r, 8), -EINVAL);

  /* The same IRQ under another name is another queue. */
  {
    static const char before[] = "      CPU0 CPU1\n"
                                 " 41: 10 20 IR-PCI-MSI 1-edge      ens1f0-TxRx-0\n"
                                 " 42: 10 20 IR-PCI-MSI 2-edge      ens1f0-TxRx-1\n";
    static const char after[] = "      CPU0 CPU1\n"
                                " 41: 15 25 IR-PCI-MSI 1-edge      ens1f0-TxRx-1\n"
                                " 42: 15 25 IR-PCI-MSI 2-edge      ens1f0-TxRx-0\n";
    tmproot_write(&t, before, sizeof(before) - 1);
    assert_int_equal(iov_irqstat_read(s, a), 2);
    tmproot_write(&t, after, sizeof(after) - 1);
  }
  assert_int_equal(iov_irqstat_read(s, b), 2);
  assert_int_equal(iov_irqstat_delta(a, b, r, 8), 0);
  iov_irqstat_free(s);
  tmproot_done(&t);
  iov_irqstat_snap_free(a);
  iov_irqstat_snap_free(b);
  assert_null(iov_irqstat_snap_free(NULL));
  assert_null(iov_irqstat_free(NULL));
  assert_int_equal(iov_irqstat_snap_view(NULL)->n_queues, 0);
}

struct text_case {
  const char *text;
  int ret;          /* read's return */
  size_t skipped;   /* view.n_skipped when ret >= 0 */
  const char *name; /* the first queue's name when ret > 0 */
};

#define HDR "           CPU0       CPU1       \n"
#define OK41 " 41:          5          7  IR-PCI-MSI 1-edge      eth0-TxRx-0\n"

/* Malformed files fail as documented; malformed lines are skipped. */
static void test_malformed(void **state) {
  static const struct text_case cases[] = {
    { "", -EBADMSG, 0, NULL },
    { "\n", -EBADMSG, 0, NULL },
    /* No header: the first line is an IRQ line. */
    { OK41 OK41, -EBADMSG, 0, NULL },
    /* A header without its newline. */
    { "           CPU0       CPU1", -EBADMSG, 0, NULL },
    { "  CPU0 CPUx\n" OK41, -EBADMSG, 0, NULL },
    { "  CPU0 CPU-1\n" OK41, -EBADMSG, 0, NULL },
    { "  CPU1 CPU0\n" OK41, -EBADMSG, 0, NULL },
    { "  CPU0 CPU0\n" OK41, -EBADMSG, 0, NULL },
    { "  CPU0 CPU4096\n" OK41, -E2BIG, 0, NULL },
    { "  CPU0 CPU99999999999999999999999\n" OK41, -EBADMSG, 0, NULL },
    /* The reference: one good line. */
    { HDR OK41, 1, 0, "eth0-TxRx-0" },
    /* Too few counts: the chip name is not a count. */
    { HDR " 42:          5  IR-PCI-MSI 1-edge      eth0-TxRx-1\n" OK41, 1, 1, NULL },
    /* Truncated in the counts, with no action left: not selected. */
    { HDR " 42:          5\n" OK41, 1, 0, NULL },
    /* A last line without its newline. */
    { HDR OK41 " 42:          5          7  IR-PCI-MSI 1-edge      eth0-TxRx-1", 1, 1, NULL },
    /* Garbage counts. */
    { HDR " 42:          5         x7  IR-PCI-MSI 1-edge      eth0-TxRx-1\n" OK41, 1, 1, NULL },
    { HDR " 42:          5         -7  IR-PCI-MSI 1-edge      eth0-TxRx-1\n" OK41, 1, 1, NULL },
    { HDR " 42: 5 99999999999999999999999 IR-PCI-MSI 1-edge  eth0-TxRx-1\n" OK41, 1, 1, NULL },
    /* An IRQ number that is too large. */
    { HDR " 99999999999:  5  7  IR-PCI-MSI 1-edge      eth0-TxRx-1\n" OK41, 1, 1, NULL },
    /* Lines without ':' and blank lines. */
    { HDR "garbage\n\n   \nhello world: 1 2\n" OK41, 1, 2, NULL },
    /* Arch lines and non-numeric IRQs are not devices. */
    { HDR "NMI:  1  2  Non-maskable eth0 interrupts\n12a: 1 2  x  eth0\nERR: 0\n" OK41, 1, 0, NULL },
    /* No action at all, or nothing after the counts. */
    { HDR " 42:          5          7  IR-PCI-MSI 1-edge\n 43: 1 2\n" OK41, 1, 0, NULL },
    /* A shared IRQ: the matching name out of the list. */
    { HDR " 16:  1  2  IR-IO-APIC 16-fasteoi   i801_smbus, eth0, ehci_hcd:usb1\n", 1, 0, "eth0" },
    /* Tabs and extra blanks between counts. */
    { HDR " 42:\t5\t\t7  IR-PCI-MSI 1-edge  eth0\n", 1, 0, "eth0" },
    /* CRLF is not kernel output: "eth0\r" is another word. */
    { HDR " 42:  5  7  IR-PCI-MSI 1-edge  eth0\r\n", 0, 0, NULL },
  };
  static const char *const pats[] = { "eth0" };
  struct iov_irqstat_snap *snap = iov_irqstat_snap_new();
  const struct iov_irqstat_view *v = iov_irqstat_snap_view(snap);
  struct iov_irqstat *s = NULL;
  struct tmproot t;
  (void)state;

  tmproot_init(&t);
  tmproot_write(&t, "", 0);
  assert_int_equal(iov_irqstat_open(t.dir, pats, 1, &s), 0);
  for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
    int r;

    tmproot_write(&t, cases[i].text, strlen(cases[i].text));
    r = iov_irqstat_read(s, snap);
    if (r != cases[i].ret) fail_msg("case %zu: r=%d, expected %d", i, r, cases[i].ret);
    if (r < 0) continue;
    if (v->n_skipped != cases[i].skipped)
      fail_msg("case %zu: %zu skipped, expected %zu", i, v->n_skipped, cases[i].skipped);
    if (r > 0) {
      const char *name = cases[i].name ? cases[i].name : "eth0-TxRx-0";
      assert_string_equal(v->queues[0].name, name);
    }
  }
  iov_irqstat_free(s);
  iov_irqstat_snap_free(snap);
  tmproot_done(&t);
}

/* A NUL byte anywhere refuses the file. */
static void test_nul_byte(void **state) {
  static const char text[] = HDR " 41:  5  7  IR-PCI-MSI 1-edge  eth0\0-TxRx-0\n";
  static const char *const pats[] = { "eth0" };
  struct iov_irqstat_snap *snap = iov_irqstat_snap_new();
  struct iov_irqstat *s = NULL;
  struct tmproot t;
  (void)state;

  tmproot_init(&t);
  tmproot_write(&t, text, sizeof(text) - 1);
  assert_int_equal(iov_irqstat_open(t.dir, pats, 1, &s), 0);
  assert_int_equal(iov_irqstat_read(s, snap), -EBADMSG);
  iov_irqstat_free(s);
  iov_irqstat_snap_free(snap);
  tmproot_done(&t);
}

/* 4096 CPU columns: lines of 45 kB, no fixed line buffer.  4097: -E2BIG. */
static void test_many_cpus(void **state) {
  static const char *const pats[] = { "eth0" };
  size_t cap = 1 << 20, len = 0;
  char *text = malloc(cap);
  struct iov_irqstat_snap *snap = iov_irqstat_snap_new();
  const struct iov_irqstat_view *v = iov_irqstat_snap_view(snap);
  struct iov_irqstat *s = NULL;
  struct tmproot t;
  uint64_t sum = 0;
  (void)state;

  assert_non_null(text);
  len += (size_t)snprintf(text + len, cap - len, "     ");
  for (int c = 0; c < IOV_IRQSTAT_MAX_CPUS; c++) len += (size_t)snprintf(text + len, cap - len, "CPU%-8d", c);
  len += (size_t)snprintf(text + len, cap - len, "\n");
  for (int irq = 100; irq < 103; irq++) {
    len += (size_t)snprintf(text + len, cap - len, "%4d: ", irq);
    for (int c = 0; c < IOV_IRQSTAT_MAX_CPUS; c++)
      len += (size_t)snprintf(text + len, cap - len, "%10u ", 4000000000u + (unsigned)c);
    len += (size_t)snprintf(text + len, cap - len, " IR-PCI-MSI 1-edge      eth0-TxRx-%d\n", irq - 100);
  }
  assert_true(len < cap);
  for (int c = 0; c < IOV_IRQSTAT_MAX_CPUS; c++) sum += 4000000000u + (unsigned)c;

  tmproot_init(&t);
  tmproot_write(&t, text, len);
  assert_int_equal(iov_irqstat_open(t.dir, pats, 1, &s), 0);
  assert_int_equal(iov_irqstat_read(s, snap), 3);
  assert_int_equal(v->n_cpus, IOV_IRQSTAT_MAX_CPUS);
  assert_int_equal(v->cpus[4095], 4095);
  assert_int_equal(v->queues[2].per_cpu[4095], 4000004095ULL);
  assert_int_equal(v->queues[2].total, sum);
  assert_string_equal(v->queues[2].name, "eth0-TxRx-2");

  /* One more column. */
  len = (size_t)snprintf(text, cap, "     ");
  for (int c = 0; c <= IOV_IRQSTAT_MAX_CPUS; c++) len += (size_t)snprintf(text + len, cap - len, "CPU%d ", c);
  len += (size_t)snprintf(text + len, cap - len, "\n" OK41);
  tmproot_write(&t, text, len);
  assert_int_equal(iov_irqstat_read(s, snap), -E2BIG);
  iov_irqstat_free(s);
  iov_irqstat_snap_free(snap);
  tmproot_done(&t);
  free(text);
}

/* A file over 16 MiB is refused rather than read without end. */
static void test_file_too_big(void **state) {
  static const char *const pats[] = { "eth0" };
  struct iov_irqstat_snap *snap = iov_irqstat_snap_new();
  struct iov_irqstat *s = NULL;
  struct tmproot t;
  int fd;
  (void)state;

  tmproot_init(&t);
  tmproot_write(&t, HDR OK41, strlen(HDR OK41));
  assert_int_equal(iov_irqstat_open(t.dir, pats, 1, &s), 0);
  assert_int_equal(iov_irqstat_read(s, snap), 1);
  fd = open(t.file, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)IOV_IRQSTAT_MAX_FILE + 1), 0);
  close(fd);
  assert_int_equal(iov_irqstat_read(s, snap), -EFBIG);
  /* Exactly the limit is read (and then refused for its NUL bytes). */
  fd = open(t.file, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)IOV_IRQSTAT_MAX_FILE), 0);
  close(fd);
  assert_int_equal(iov_irqstat_read(s, snap), -EBADMSG);
  iov_irqstat_free(s);
  iov_irqstat_snap_free(snap);
  tmproot_done(&t);
}

static void test_open_errors(void **state) {
  static const char *const ok[] = { "eth0" };
  char longpat[IOV_IRQSTAT_MAX_PATTERN_LEN + 2];
  const char *many[IOV_IRQSTAT_MAX_PATTERNS + 1];
  const char *one[1];
  struct iov_irqstat *s = NULL;
  char dir[PATH_MAX];
  (void)state;

  case_dir(dir, sizeof(dir), HAND_CASE, NULL);
  assert_int_equal(iov_irqstat_open(dir, ok, 0, &s), -EINVAL);
  assert_int_equal(iov_irqstat_open(dir, NULL, 1, &s), -EINVAL);
  assert_int_equal(iov_irqstat_open(dir, ok, 1, NULL), -EINVAL);
  for (size_t i = 0; i < ELEMENTSOF(many); i++) many[i] = "eth0";
  assert_int_equal(iov_irqstat_open(dir, many, ELEMENTSOF(many), &s), -E2BIG);
  memset(longpat, 'a', sizeof(longpat) - 1);
  longpat[sizeof(longpat) - 1] = 0;
  one[0] = longpat;
  assert_int_equal(iov_irqstat_open(dir, one, 1, &s), -E2BIG);
  static const char *const bad[] = { "", "eth 0", "eth0,eth1", "-", "@:-", "a\tb", NULL };
  for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
    one[0] = bad[i];
    if (iov_irqstat_open(dir, one, 1, &s) != -EINVAL) fail_msg("pattern %zu accepted", i);
  }
  assert_null(s);
  assert_int_equal(iov_irqstat_open("/nonexistent-iov-root", ok, 1, &s), -ENOENT);
  /* The limits themselves are fine. */
  longpat[sizeof(longpat) - 2] = 0;
  one[0] = longpat;
  assert_int_equal(iov_irqstat_open(dir, one, 1, &s), 0);
  s = iov_irqstat_free(s);
  assert_int_equal(iov_irqstat_open(dir, many, IOV_IRQSTAT_MAX_PATTERNS, &s), 0);
  s = iov_irqstat_free(s);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Apply one random edit to buf[0..*len) (capacity cap). */
static void mutate(char *buf, size_t *len, size_t cap) {
  static const char interesting[] = "\n \t:0123456789-,@CPU\0x";
  static const char *const words[] = {
    "99999999999999999999999", "4294967295", "  ", ", ", "CPU4096", "\n", ":", "  ens1f0", "-TxRx-", "@pci:"
  };
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
  default: { /* insert a few interesting bytes */
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
 * what it returns is consistent.  Run under ASan/UBSan to mean much. */
static void test_fuzz_mutations(void **state) {
  static const char *const files[][2] = {
    { REAL_CASE, NULL }, { REAL_CASE, "next" }, { HAND_CASE, NULL }, { HAND_CASE, "next" }
  };
  static const char *const pats[] = { "ens1f0", "ens1f0v0", "virtio2", "0000:af:00.0", "virtio0", "TxRx" };
  char *orig[ELEMENTSOF(files)], *buf;
  size_t orig_len[ELEMENTSOF(files)], cap = 1 << 16;
  struct iov_irqstat_snap *base = iov_irqstat_snap_new(), *snap = iov_irqstat_snap_new();
  const struct iov_irqstat_view *v = iov_irqstat_snap_view(snap);
  struct iov_irqstat_rate rates[128];
  struct iov_irqstat *s = NULL;
  struct tmproot t;
  int accepted = 0;
  (void)state;

  buf = malloc(cap);
  assert_non_null(buf);
  for (size_t i = 0; i < ELEMENTSOF(files); i++) {
    char dir[PATH_MAX], path[PATH_MAX + 16];
    int r =
        snprintf(path, sizeof(path), "%s/interrupts", case_dir(dir, sizeof(dir), files[i][0], files[i][1]));
    assert_true(r > 0 && (size_t)r < sizeof(path));
    orig[i] = slurp(path, &orig_len[i]);
    assert_true(orig_len[i] < cap / 2);
  }
  assert_int_equal(read_case(HAND_CASE, NULL, pats, ELEMENTSOF(pats), base), 15);

  tmproot_init(&t);
  tmproot_write(&t, orig[0], orig_len[0]);
  assert_int_equal(iov_irqstat_open(t.dir, pats, ELEMENTSOF(pats), &s), 0);
  for (int iter = 0; iter < 4000; iter++) {
    size_t f = rnd() % ELEMENTSOF(files), len = orig_len[f];
    int edits = 1 + (int)(rnd() % 4), r, d;

    memcpy(buf, orig[f], len);
    for (int e = 0; e < edits; e++) mutate(buf, &len, cap);
    tmproot_write(&t, buf, len);
    r = iov_irqstat_read(s, snap);
    if (r < 0) {
      if (r != -EBADMSG && r != -E2BIG) fail_msg("iteration %d: unexpected error %d", iter, r);
      assert_int_equal(v->n_queues, 0);
      continue;
    }
    accepted++;
    assert_int_equal((size_t)r, v->n_queues);
    assert_true(v->n_cpus >= 1 && v->n_cpus <= IOV_IRQSTAT_MAX_CPUS);
    for (size_t c = 1; c < v->n_cpus; c++) assert_true(v->cpus[c] > v->cpus[c - 1]);
    for (size_t q = 0; q < v->n_queues; q++) {
      uint64_t sum = 0;
      assert_non_null(v->queues[q].name);
      assert_true(strlen(v->queues[q].name) > 0);
      for (size_t c = 0; c < v->n_cpus; c++) sum += v->queues[q].per_cpu[c];
      assert_int_equal(sum, v->queues[q].total);
    }
    d = iov_irqstat_delta(base, snap, rates, ELEMENTSOF(rates));
    assert_true(d >= 0 || (d == -ENOBUFS && v->n_queues > ELEMENTSOF(rates)));
  }
  assert_true(accepted > 1000);
  iov_irqstat_free(s);
  tmproot_done(&t);
  for (size_t i = 0; i < ELEMENTSOF(files); i++) free(orig[i]);
  free(buf);
  iov_irqstat_snap_free(base);
  iov_irqstat_snap_free(snap);
}

/* The live /proc/interrupts: one column per online CPU, two reads give a
 * delta. */
static void test_live(void **state) {
  static const char *const pats[] = { "eth0", "virtio0", "virtio1", "virtio2", "virtio3", "timer" };
  struct iov_irqstat_snap *a = iov_irqstat_snap_new(), *b = iov_irqstat_snap_new();
  struct iov_irqstat_rate *r;
  struct iov_irqstat *s = NULL;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  int na, nb;
  (void)state;

  assert_int_equal(iov_irqstat_open(NULL, pats, ELEMENTSOF(pats), &s), 0);
  na = iov_irqstat_read(s, a);
  nb = iov_irqstat_read(s, b);
  assert_true(na >= 0);
  assert_true(nb >= 0);
  assert_int_equal(iov_irqstat_snap_view(a)->n_cpus, online);
  assert_int_equal(iov_irqstat_snap_view(a)->n_skipped, 0);
  r = calloc((size_t)nb + 1, sizeof(*r));
  assert_non_null(r);
  assert_true(iov_irqstat_delta(a, b, r, (size_t)nb) >= 0);
  free(r);
  iov_irqstat_free(s);
  iov_irqstat_snap_free(a);
  iov_irqstat_snap_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_real_values),    cmocka_unit_test(test_handmade_selection),
    cmocka_unit_test(test_real_delta),     cmocka_unit_test(test_handmade_delta),
    cmocka_unit_test(test_delta_errors),   cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_nul_byte),       cmocka_unit_test(test_many_cpus),
    cmocka_unit_test(test_file_too_big),   cmocka_unit_test(test_open_errors),
    cmocka_unit_test(test_fuzz_mutations), cmocka_unit_test(test_live),
  };

  find_fixtures();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
