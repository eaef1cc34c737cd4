/* Unit tests for the VM module: host/domxml.c (domain and volume XML)
 * and host/vm_libvirt.c (the lifecycle), the latter against libvirt's
 * own test driver, test:///default, which runs inside this process.
 *
 * The test driver keeps one state for all connections to test:///default
 * in a process while any is open, so a "keeper" connection, open for the
 * whole run, plays libvirtd: a handle closed without destroying its
 * domains (an agent that crashed) leaves them for a fresh handle to find.
 * Each test leaves the driver as it found it: the pre-existing domain
 * 'test' and the base volume default-pool/base.qcow2.
 *
 * Every domain XML generated here is written to a scratch directory and
 * checked with `virt-xml-validate FILE domain` (volumes with
 * `storagevol`); where that tool is missing the check is skipped with a
 * message.  Golden files: tests/fixtures/domains/expected-*.xml
 * (IOV_UPDATE_GOLDEN=1 rewrites them). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "vm.h"

#define URI "test:///default"
#define POOL "default-pool"
#define BASE "/default-pool/base.qcow2"
#define ENDPOINT "198.18.0.1"

static char fixtures[PATH_MAX];
static char validator[PATH_MAX]; /* "" when virt-xml-validate is missing */
static virConnectPtr keeper;
static const struct iov_vm_ops *ops = &iov_vm_ops_libvirt;

/* ---- helpers ---------------------------------------------------------- */

static void find_fixtures(void) {
  const char *src = getenv("IOV_SRCDIR");
  if (src && *src) {
    snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/domains", src);
  } else {
    const char *f = __FILE__, *t = strstr(f, "tests/unit/");
    int len = t ? (int)(t - f) : 0;
    snprintf(fixtures, sizeof(fixtures), "%.*stests/fixtures/domains", len, f);
  }
}

static void find_validator(void) {
  const char *path = getenv("PATH");
  char buf[PATH_MAX];
  validator[0] = 0;
  if (!path) path = "/usr/bin:/bin";
  while (*path) {
    size_t n = strcspn(path, ":");
    snprintf(buf, sizeof(buf), "%.*s/virt-xml-validate", (int)n, path);
    if (n > 0 && access(buf, X_OK) == 0) {
      snprintf(validator, sizeof(validator), "%s", buf);
      return;
    }
    path += n + (path[n] == ':');
  }
}

static const char *fixture(const char *name) {
  static char buf[PATH_MAX + 64];
  snprintf(buf, sizeof(buf), "%s/%s", fixtures, name);
  return buf;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  char chunk[4096];
  size_t k;
  while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) fwrite(chunk, 1, k, m);
  fclose(f);
  fclose(m);
  return buf;
}

static void spit(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

struct scratch {
  char dir[64];
};

static int scratch_setup(void **state) {
  struct scratch *s = calloc(1, sizeof(*s));
  if (!s) return -1;
  snprintf(s->dir, sizeof(s->dir), "/tmp/iov-vm-XXXXXX");
  if (!mkdtemp(s->dir)) return -1;
  *state = s;
  return 0;
}

static int scratch_teardown(void **state) {
  struct scratch *s = *state;
  if (getenv("IOV_KEEP_TMP"))
    fprintf(stderr, "kept %s\n", s->dir);
  else
    nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(s);
  return 0;
}

/* Run virt-xml-validate FILE KIND; its exit status, output into out. */
static int validate(const char *file, const char *kind, char *out, size_t outlen) {
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    execl(validator, "virt-xml-validate", file, kind, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  size_t o = 0;
  ssize_t k;
  while ((k = read(p[0], out + o, outlen - 1 - o)) > 0 && o + (size_t)k < outlen - 1) o += (size_t)k;
  if (k > 0) o += (size_t)k;
  out[o] = 0;
  close(p[0]);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Every *.xml in dir must validate (domains as "domain", *.vol.xml as
 * "storagevol"); returns how many were checked.  'expect_bad' names one
 * file that must fail instead (NULL = none). */
static size_t validate_dir(const char *dir, const char *expect_bad) {
  if (!validator[0]) {
    print_message("SKIP validation: virt-xml-validate not found in PATH (apt-get install libvirt-clients)\n");
    return 0;
  }
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!ends_with(e->d_name, ".xml")) continue;
    char path[PATH_MAX], out[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    int st = validate(path, ends_with(e->d_name, ".vol.xml") ? "storagevol" : "domain", out, sizeof(out));
    bool bad = expect_bad && strcmp(e->d_name, expect_bad) == 0;
    if ((st == 0) == bad) {
      print_error("%s: virt-xml-validate exit %d, expected %s:\n%s\n", path, st, bad ? "failure" : "success",
                  out);
      char *x = slurp(path);
      print_error("%s\n", x ? x : "(unreadable)");
      free(x);
      fail();
    }
    n++;
  }
  closedir(d);
  return n;
}

/* Write xml to dir/<name>.xml. */
static void keep_xml(const char *dir, const char *name, const char *xml) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  spit(path, xml);
}

static const uint16_t cpus_2_3[] = { 2, 3 };
static const uint16_t cpus_1[] = { 1 };
static const uint16_t cpus_set[] = { 4, 5, 6, 8 };

static struct iov_vm_nic vf_nic(unsigned i) {
  /* VFs of a PF at 0000:03:00.0, as sysfs lists them (never a real
   * device of this host: managed hostdevs get detached). */
  static char pci[8][16];
  snprintf(pci[i % 8], sizeof(pci[0]), "0000:03:10.%u", i % 8);
  return (struct iov_vm_nic){ .type = IOV_VM_NIC_HOSTDEV, .pci = pci[i % 8] };
}

static struct iov_vm_spec base_spec(const char *run, unsigned index) {
  return (struct iov_vm_spec){
    .run = run,
    .host = "h1",
    .index = index,
    .memory_mib = 256,
    .vcpus = 1,
    .kernel = "/var/lib/iovbench/vmlinuz",
    .initrd = "/var/lib/iovbench/initrd.img",
    .cmdline = "console=ttyS0",
    .guest_endpoint = ENDPOINT,
  };
}

static size_t count_ours(const char *run, const char *host) {
  struct iov_vm_host *h = NULL;
  char err[512] = "";
  struct iov_vm_config cfg = { .uri = URI };
  assert_int_equal(ops->open(&cfg, &h, err, sizeof(err)), 0);
  struct iov_vm_info *info = NULL;
  size_t n = 99;
  int r = ops->list_ours(h, run, host, &info, &n, err, sizeof(err));
  if (r < 0) print_error("list_ours: %s\n", err);
  assert_int_equal(r, 0);
  iov_vm_info_free_array(info, n);
  ops->close(h);
  return n;
}

static bool domain_exists(const char *name) {
  virDomainPtr d = virDomainLookupByName(keeper, name);
  if (d) virDomainFree(d);
  return d != NULL;
}

static bool volume_exists(const char *name) {
  virStoragePoolPtr p = virStoragePoolLookupByName(keeper, POOL);
  assert_non_null(p);
  virStorageVolPtr v = virStorageVolLookupByName(p, name);
  if (v) virStorageVolFree(v);
  virStoragePoolFree(p);
  return v != NULL;
}

static size_t count_volumes(void) {
  virStoragePoolPtr p = virStoragePoolLookupByName(keeper, POOL);
  assert_non_null(p);
  int n = virStoragePoolNumOfVolumes(p);
  virStoragePoolFree(p);
  assert_true(n >= 0);
  return (size_t)n;
}

/* The driver as every test must leave it. */
static void assert_pristine(void) {
  assert_int_equal(count_ours(NULL, NULL), 0);
  assert_true(domain_exists("test"));
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains(keeper, &doms, 0);
  for (int i = 0; i < n; i++) {
    if (strcmp(virDomainGetName(doms[i]), "test") != 0)
      print_error("left over: %s\n", virDomainGetName(doms[i]));
    virDomainFree(doms[i]);
  }
  free(doms);
  assert_int_equal(n, 1);
  assert_int_equal(count_volumes(), 1); /* base.qcow2 */
}

/* ---- names, strings, metadata ----------------------------------------- */

static void test_nic_type_strings(void **state) {
  (void)state;
  for (int i = 0; i < _IOV_VM_NIC_MAX; i++)
    assert_int_equal(iov_vm_nic_type_from_string(iov_vm_nic_type_to_string((enum iov_vm_nic_type)i)), i);
  assert_int_equal(iov_vm_nic_type_from_string("sriov"), _IOV_VM_NIC_INVALID);
  assert_int_equal(iov_vm_nic_type_from_string(NULL), _IOV_VM_NIC_INVALID);
  assert_null(iov_vm_nic_type_to_string(_IOV_VM_NIC_MAX));
}

static void test_names(void **state) {
  (void)state;
  char name[IOV_VM_NAME_MAX + 1], err[256];
  struct iov_vm_spec s = { .run = "20250101-1", .host = "srv-a.lab", .index = 3 };
  assert_int_equal(iov_vm_name(&s, name, sizeof(name), err, sizeof(err)), 0);
  assert_string_equal(name, "iovb-20250101-1-srv-a.lab-vm03");
  s.index = 123;
  assert_int_equal(iov_vm_name(&s, name, sizeof(name), err, sizeof(err)), 0);
  assert_string_equal(name, "iovb-20250101-1-srv-a.lab-vm123");

  s.run = "a/b";
  assert_int_equal(iov_vm_name(&s, name, sizeof(name), err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "run id 'a/b'"));
  s.run = "r";
  s.host = "-x";
  assert_int_equal(iov_vm_name(&s, name, sizeof(name), err, sizeof(err)), -EINVAL);
  s.host = "h";
  s.index = IOV_VM_INDEX_MAX + 1;
  assert_int_equal(iov_vm_name(&s, name, sizeof(name), err, sizeof(err)), -EINVAL);
  s.index = 0;
  s.run = "a-run-id-that-is-rather-long-indeed-0123456789";
  s.host = "and-a-long-host";
  assert_int_equal(iov_vm_name(&s, name, sizeof(name), err, sizeof(err)), -ENAMETOOLONG);
  assert_non_null(strstr(err, "shorten"));
}

static void test_metadata_parse(void **state) {
  (void)state;
  struct iov_vm_info i = { 0 };
  assert_int_equal(
      iov__vm_metadata_parse("<vm run=\"r1\" host=\"h1\" index=\"7\" pool=\"p\" volume=\"v.qcow2\"/>", &i),
      0);
  assert_string_equal(i.run, "r1");
  assert_string_equal(i.host, "h1");
  assert_int_equal(i.index, 7);
  assert_string_equal(i.pool, "p");
  assert_string_equal(i.volume, "v.qcow2");
  iov_vm_info_done(&i);
  assert_int_equal(iov__vm_metadata_parse("<vm run='r1' host='h1' index='0'/>", &i), 0);
  assert_null(i.volume);
  iov_vm_info_done(&i);

  static const char *const bad[] = {
    "<vm run='r1' host='h1'/>",
    "<vm run='r1' host='h1' index='x'/>",
    "<vm run='r/1' host='h1' index='1'/>",
    "<vm host='h1' index='1'/>",
    "<other run='r1' host='h1' index='1'/>",
    "<vm run='r1' host='h1' index='1' volume='v'/>",
    "<vm run='r1' host='h1' index='1' pool='p' volume='../v'/>",
    "not xml",
    "",
  };
  for (size_t k = 0; k < ELEMENTSOF(bad); k++) assert_int_equal(iov__vm_metadata_parse(bad[k], &i), -EINVAL);
}

/* ---- domain XML ------------------------------------------------------- */

static struct iov_vm_nic golden_sriov_nic = {
  .type = IOV_VM_NIC_HOSTDEV, .pci = "0000:03:10.2", .mac = "52:54:00:a0:00:01", .vlan = 42
};

static struct iov_vm_spec golden_sriov(void) {
  return (struct iov_vm_spec){
    .run = "r20250101",
    .host = "srv-a",
    .index = 1,
    .memory_mib = 2048,
    .vcpus = 2,
    .cpus = cpus_2_3,
    .n_cpus = 2,
    .emulator_cpus = cpus_1,
    .n_emulator_cpus = 1,
    .base_image = "/var/lib/libvirt/images/iovbench-guest.qcow2",
    .pool = "iovbench",
    .nics = &golden_sriov_nic,
    .n_nics = 1,
    .guest_endpoint = "198.18.0.1",
    .data = "198.18.1.11",
  };
}

static const struct iov_vm_nic golden_virtio_nics[] = {
  { .type = IOV_VM_NIC_BRIDGE, .source = "br-iov0" },
  { .type = IOV_VM_NIC_DIRECT, .source = "ens1f0", .direct_mode = "passthrough" },
};

static struct iov_vm_spec golden_virtio(void) {
  return (struct iov_vm_spec){
    .run = "r20250101",
    .host = "srv-b",
    .index = 12,
    .template_path = fixture("template-tcg.xml"),
    .vcpus = 4,
    .cpus = cpus_set,
    .n_cpus = 4 - 1, /* fewer CPUs than vCPUs: all on the set */
    .kernel = "/var/lib/iovbench/vmlinuz-6.1",
    .initrd = "/var/lib/iovbench/initrd & more.img",
    .cmdline = "console=ttyS0 quiet iovbench.note=\"a<b>&c\" </cmdline><evil/>",
    .nics = golden_virtio_nics,
    .n_nics = 2,
    .guest_endpoint = "tcp://[2001:db8::1]:7709",
    .vm_id = "guest:12",
  };
}

static void golden(struct scratch *sc, const struct iov_vm_spec *spec, const char *overlay,
                   const char *expected) {
  char err[512] = "";
  char *xml = NULL;
  int r = iov_vm_domain_xml(spec, overlay, &xml, err, sizeof(err));
  if (r < 0) print_error("%s\n", err);
  assert_int_equal(r, 0);
  keep_xml(sc->dir, expected, xml);
  if (getenv("IOV_UPDATE_GOLDEN")) spit(fixture(expected), xml);
  char *want = slurp(fixture(expected));
  if (!want) print_error("missing golden file %s (IOV_UPDATE_GOLDEN=1 writes it)\n", fixture(expected));
  assert_non_null(want);
  if (strcmp(want, xml) != 0) print_error("%s differs; got:\n%s\n", fixture(expected), xml);
  assert_string_equal(want, xml);
  free(want);
  free(xml);
}

static void test_golden_sriov(void **state) {
  struct scratch *sc = *state;
  struct iov_vm_spec s = golden_sriov();
  golden(sc, &s, "/var/lib/libvirt/images/iovbench/iovb-r20250101-srv-a-vm01.qcow2",
         "expected-sriov-disk.xml");
  assert_int_equal(validate_dir(sc->dir, NULL), validator[0] ? 1 : 0);
}

static void test_golden_virtio(void **state) {
  struct scratch *sc = *state;
  struct iov_vm_spec s = golden_virtio();
  golden(sc, &s, NULL, "expected-virtio-kernel.xml");
  assert_int_equal(validate_dir(sc->dir, NULL), validator[0] ? 1 : 0);

  /* The escaped command line survives as one text node: no <evil/>. */
  char *xml = slurp(fixture("expected-virtio-kernel.xml"));
  assert_non_null(xml);
  assert_null(strstr(xml, "<evil/>"));
  assert_non_null(strstr(xml, "&lt;/cmdline&gt;&lt;evil/&gt;"));
  assert_non_null(strstr(xml, "initrd &amp; more.img"));
  /* The template's own SMBIOS string stays, its stale iovbench.host goes. */
  assert_non_null(strstr(xml, "<entry>site=lab-1</entry>"));
  assert_null(strstr(xml, "192.0.2.99"));
  assert_null(strstr(xml, "0b5c7f2e"));
  free(xml);
}

/* Variations of both, each validated. */
static void test_variants_validate(void **state) {
  struct scratch *sc = *state;
  if (!validator[0]) skip();
  char err[512];
  struct iov_vm_nic nics[3] = { vf_nic(0),
                                { .type = IOV_VM_NIC_BRIDGE, .source = "br0", .mac = "52:54:00:00:00:09" },
                                { .type = IOV_VM_NIC_DIRECT, .source = "eth1" } };
  struct {
    const char *name;
    struct iov_vm_spec s;
    const char *overlay;
  } v[] = {
    { "builtin-kernel-only", base_spec("r1", 0), NULL },
    { "builtin-three-nics", base_spec("r1", 1), NULL },
    { "template-disk-and-kernel", golden_virtio(), "/p/ov.qcow2" },
    { "template-keeps-memory", golden_virtio(), NULL },
    { "builtin-pinned-8", base_spec("r1", 2), NULL },
  };
  v[1].s.nics = nics;
  v[1].s.n_nics = 3;
  v[2].s.base_image = "/p/base.qcow2";
  v[3].s.vcpus = 0;
  v[3].s.n_cpus = 0;
  v[3].s.memory_mib = 0;
  v[4].s.vcpus = 8;
  static const uint16_t eight[] = { 8, 9, 10, 11, 12, 13, 14, 15 };
  v[4].s.cpus = eight;
  v[4].s.n_cpus = 8;
  for (size_t i = 0; i < ELEMENTSOF(v); i++) {
    char *xml = NULL;
    int r = iov_vm_domain_xml(&v[i].s, v[i].overlay, &xml, err, sizeof(err));
    if (r < 0) print_error("%s: %s\n", v[i].name, err);
    assert_int_equal(r, 0);
    char f[128];
    snprintf(f, sizeof(f), "%s.xml", v[i].name);
    keep_xml(sc->dir, f, xml);
    free(xml);
  }
  assert_int_equal(validate_dir(sc->dir, NULL), ELEMENTSOF(v));
}

static void test_overlay_xml(void **state) {
  struct scratch *sc = *state;
  char err[256];
  char *xml = NULL;
  assert_int_equal(iov_vm_overlay_xml("iovb-r-h-vm00.qcow2", 1ULL << 32, "/images/base & co.qcow2", NULL,
                                      &xml, err, sizeof(err)),
                   0);
  assert_non_null(strstr(xml, "<backingStore>"));
  assert_non_null(strstr(xml, "<path>/images/base &amp; co.qcow2</path>"));
  assert_non_null(strstr(xml, "<capacity unit=\"bytes\">4294967296</capacity>"));
  keep_xml(sc->dir, "overlay.vol.xml", xml);
  free(xml);
  assert_int_equal(iov_vm_overlay_xml("a/b", 1, "/x", NULL, &xml, err, sizeof(err)), -EINVAL);
  assert_int_equal(iov_vm_overlay_xml("v", 0, "/x", NULL, &xml, err, sizeof(err)), -EINVAL);
  assert_int_equal(iov_vm_overlay_xml("v", 1, "x", NULL, &xml, err, sizeof(err)), -EINVAL);
  assert_int_equal(iov_vm_overlay_xml("v", 1, "/x", "vmdk", &xml, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "vmdk"));
  validate_dir(sc->dir, NULL);
}

static void test_bad_templates(void **state) {
  (void)state;
  static const struct {
    const char *file, *want;
    int r;
  } cases[] = {
    { "bad-not-xml.xml", "not well-formed XML (line", -EINVAL },
    { "bad-no-devices.xml", "no <devices> element", -EINVAL },
    { "bad-no-os.xml", "no <os> element", -EINVAL },
    { "bad-no-memory.xml", "no <memory> element", -EINVAL },
    { "bad-not-domain.xml", "root element is not <domain>", -EINVAL },
    { "bad-fixed-mac.xml", "fixed <mac address>", -EINVAL },
    { "bad-writable-disk.xml", "<disk> 'vdb' is writable", -EINVAL },
    { "bad-no-type.xml", "no type attribute", -EINVAL },
    { "bad-hostdev.xml", "a <hostdev> would be passed to every clone", -EINVAL },
    { "no-such-template.xml", "cannot open", -ENOENT },
  };
  for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
    struct iov_vm_spec s = base_spec("r1", 0);
    s.memory_mib = 0; /* bad-no-memory must miss it */
    s.template_path = fixture(cases[i].file);
    char err[1024] = "", *xml = NULL;
    int r = iov_vm_domain_xml(&s, NULL, &xml, err, sizeof(err));
    if (r != cases[i].r || !strstr(err, cases[i].want) || !strstr(err, s.template_path))
      print_error("%s: got %d '%s'\n", cases[i].file, r, err);
    assert_int_equal(r, cases[i].r);
    assert_non_null(strstr(err, cases[i].want));
    assert_non_null(strstr(err, s.template_path)); /* names the file */
    assert_null(xml);
  }
  /* The overlay's target taken by the template. */
  struct iov_vm_spec s = base_spec("r1", 0);
  s.template_path = fixture("template-tcg.xml");
  s.base_image = "/p/base.qcow2";
  char err[1024], *xml = NULL;
  assert_int_equal(iov_vm_domain_xml(&s, "/p/ov.qcow2", &xml, err, sizeof(err)), 0);
  free(xml);
  /* Nothing to boot. */
  s = base_spec("r1", 0);
  s.kernel = s.initrd = s.cmdline = NULL;
  assert_int_equal(iov_vm_domain_xml(&s, NULL, &xml, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "nothing to boot"));
  assert_non_null(strstr(err, "built-in"));
}

static void test_bad_values(void **state) {
  (void)state;
  struct iov_vm_nic nic;
  struct iov_vm_spec s;
  char err[512], *xml = NULL;
#define BAD(setup, want)                                               \
  do {                                                                 \
    s = base_spec("r1", 0);                                            \
    nic = vf_nic(0);                                                   \
    s.nics = &nic;                                                     \
    s.n_nics = 1;                                                      \
    setup;                                                             \
    err[0] = 0;                                                        \
    int r_ = iov_vm_domain_xml(&s, NULL, &xml, err, sizeof(err));      \
    if (r_ != -EINVAL || !strstr(err, want)) print_error("%s\n", err); \
    assert_int_equal(r_, -EINVAL);                                     \
    assert_non_null(strstr(err, want));                                \
  } while (0)
  BAD(nic.pci = "03:10.2", "bad PCI address '03:10.2'");
  BAD(nic.pci = "0000:03:10.g", "bad PCI address");
  BAD(nic.pci = NULL, "bad PCI address '(none)'");
  BAD(nic.mac = "52:54:00:00:00", "bad MAC address");
  BAD(nic.vlan = 4095, "VLAN 4095");
  BAD((nic = (struct iov_vm_nic){ .type = IOV_VM_NIC_BRIDGE, .source = "br0", .vlan = 5 }),
      "hostdev (sriov) NICs only");
  BAD((nic = (struct iov_vm_nic){ .type = IOV_VM_NIC_BRIDGE, .source = "a-name-too-long-for-linux" }),
      "bridge name");
  BAD((nic = (struct iov_vm_nic){ .type = IOV_VM_NIC_DIRECT }), "device name '(none)'");
  BAD((nic = (struct iov_vm_nic){ .type = IOV_VM_NIC_DIRECT, .source = "eth0", .direct_mode = "x" }),
      "macvtap mode");
  BAD(nic.type = (enum iov_vm_nic_type)7, "unknown type");
  BAD(s.guest_endpoint = NULL, "no guest endpoint");
  BAD(s.guest_endpoint = "tcp://a b", "bad guest endpoint");
  BAD(s.guest_endpoint = "a b", "bad guest endpoint");
  BAD(nic.pci = "0000:03:20.0", "slot up to 1f");
  BAD(nic.pci = "0000:03:10.8", "function up to 7");
  BAD(s.vm_id = "a b", "bad vm_id");
  BAD(s.data = "10.0.0.300", "bad data address");
  BAD(s.kernel = "vmlinuz", "not an absolute path");
  BAD((s.kernel = NULL, s.base_image = "/b.qcow2"), "an initrd without a kernel");
  BAD(s.cmdline = "a\nb", "control characters");
  BAD(s.vcpus = IOV_VM_VCPUS_MAX + 1, "vCPUs");
  BAD(s.memory_mib = UINT64_MAX / 2, "memory");
  BAD((s.cpus = cpus_1, s.n_cpus = 0, s.emulator_cpus = NULL, s.n_emulator_cpus = 2), "no list");
  BAD(s.virt_type = "kvm'/><x", "bad domain type");
  BAD(s.n_nics = IOV_VM_NICS_MAX + 1, "NICs is over");
#undef BAD
  /* A base image needs its overlay's path. */
  s = base_spec("r1", 0);
  s.base_image = "/b.qcow2";
  assert_int_equal(iov_vm_domain_xml(&s, NULL, &xml, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "no overlay path"));
}

/* ---- lifecycle against the test driver -------------------------------- */

static struct iov_vm_host *open_handle(const char *xml_dir, bool persistent, bool reuse) {
  struct iov_vm_config cfg = { .uri = URI, .persistent = persistent, .reuse_vms = reuse, .xml_dir = xml_dir };
  struct iov_vm_host *h = NULL;
  char err[512] = "";
  int r = ops->open(&cfg, &h, err, sizeof(err));
  if (r < 0) print_error("open: %s\n", err);
  assert_int_equal(r, 0);
  return h;
}

static void create_ok(struct iov_vm_host *h, const struct iov_vm_spec *s, size_t n, size_t *reused) {
  char err[1024] = "";
  int r = ops->create(h, s, n, reused, err, sizeof(err));
  if (r < 0) print_error("create: %s\n", err);
  assert_int_equal(r, 0);
}

static void test_lifecycle_sriov(void **state) {
  struct scratch *sc = *state;
  struct iov_vm_host *h = open_handle(sc->dir, false, false);
  struct iov_vm_nic nics[3];
  struct iov_vm_spec s[3];
  for (unsigned i = 0; i < 3; i++) {
    nics[i] = vf_nic(i + 1);
    nics[i].vlan = 100;
    s[i] = base_spec("sriov", i);
    s[i].nics = &nics[i];
    s[i].n_nics = 1;
    s[i].vcpus = 2;
    s[i].cpus = cpus_2_3;
    s[i].n_cpus = 2;
  }
  create_ok(h, s, 3, NULL);

  struct iov_vm_info *info = NULL;
  size_t n = 0;
  char err[512];
  assert_int_equal(ops->list_ours(h, "sriov", "h1", &info, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) {
    char want[64];
    snprintf(want, sizeof(want), "iovb-sriov-h1-vm%02zu", i);
    assert_string_equal(info[i].name, want);
    assert_string_equal(info[i].run, "sriov");
    assert_string_equal(info[i].host, "h1");
    assert_int_equal(info[i].index, i);
    assert_true(info[i].active);
    assert_false(info[i].persistent);
    assert_null(info[i].volume);
  }
  iov_vm_info_free_array(info, n);
  assert_int_equal(ops->list_ours(h, NULL, NULL, &info, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 3); /* not the driver's own 'test' */
  for (size_t i = 0; i < n; i++) assert_string_not_equal(info[i].name, "test");
  iov_vm_info_free_array(info, n);
  assert_int_equal(ops->list_ours(h, "other-run", NULL, &info, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 0);
  iov_vm_info_free_array(info, n);

  /* The VF went in as a hostdev interface with its VLAN, the settings as
   * OEM strings. */
  virDomainPtr d = virDomainLookupByName(keeper, "iovb-sriov-h1-vm01");
  assert_non_null(d);
  char *live = virDomainGetXMLDesc(d, 0);
  virDomainFree(d);
  assert_non_null(strstr(live, "<interface type='hostdev' managed='yes'>"));
  assert_non_null(strstr(live, "slot='0x10' function='0x2'"));
  assert_non_null(strstr(live, "<tag id='100'/>"));
  assert_non_null(strstr(live, "<entry>iovbench.host=tcp://198.18.0.1:7701</entry>"));
  assert_non_null(strstr(live, "<entry>iovbench.vm_id=iovb-sriov-h1-vm01</entry>"));
  assert_non_null(strstr(live, "<smbios mode='sysinfo'/>"));
  assert_non_null(strstr(live, "<vcpupin vcpu='1' cpuset='3'/>"));
  free(live);

  struct iov_vm_stats *st = NULL;
  assert_int_equal(ops->stats(h, &st, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(st[i].state, VIR_DOMAIN_RUNNING);
    /* The test driver (libvirt 9.0) gives the state group only. */
    assert_int_equal(st[i].cpu_time_ns, IOV_VM_UNKNOWN);
    assert_int_equal(st[i].balloon_kib, IOV_VM_UNKNOWN);
    assert_int_equal(st[i].n_vcpus, 0);
    assert_int_equal(st[i].n_nets, 0);
  }
  assert_string_equal(st[2].name, "iovb-sriov-h1-vm02");
  iov_vm_stats_free_array(st, n);

  assert_int_equal(ops->destroy(h, "iovb-sriov-h1-vm01", err, sizeof(err)), 0);
  assert_false(domain_exists("iovb-sriov-h1-vm01"));
  assert_int_equal(ops->destroy(h, "iovb-sriov-h1-vm01", err, sizeof(err)), -ENOENT);
  assert_int_equal(ops->destroy(h, "test", err, sizeof(err)), -ENOENT); /* never someone else's */
  assert_int_equal(count_ours("sriov", NULL), 2);
  assert_int_equal(ops->point_done(h, err, sizeof(err)), 0); /* no reuse: all go */
  assert_int_equal(count_ours("sriov", NULL), 0);
  ops->close(h);
  assert_int_equal(validate_dir(sc->dir, NULL), validator[0] ? 3 : 0);
  assert_pristine();
}

/* --vm-xml-dir: the dumps hold every OEM string but the guest's secret
 * key, which is written nowhere but the domain handed to libvirt.  The key
 * is a real Z85 key, with the characters XML escapes (& < >) where they
 * fall. */
static void test_xml_dump_no_secret(void **state) {
  struct scratch *sc = *state;
  struct iov_vm_host *h = open_handle(sc->dir, false, false);
  static const char host_key[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  static const char secret[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
  struct iov_vm_spec s[2];
  for (unsigned i = 0; i < 2; i++) {
    s[i] = base_spec("keys", i);
    s[i].host_key = host_key;
    s[i].guest_key = secret;
  }
  create_ok(h, s, 2, NULL);
  /* libvirt got the key (the guest needs it) ... */
  virDomainPtr d = virDomainLookupByName(keeper, "iovb-keys-h1-vm01");
  assert_non_null(d);
  char *live = virDomainGetXMLDesc(d, 0);
  virDomainFree(d);
  assert_non_null(
      strstr(live, "<entry>iovbench.key=JTKVSB%%)wK0E.X)V&gt;+}o?pNmC{O&amp;4W4b!Ni{Lh6</entry>"));
  free(live);
  char err[512];
  assert_int_equal(ops->point_done(h, err, sizeof(err)), 0);
  ops->close(h);
  /* ... the dumps did not: grep them for the key and for each of its
   * halves, escaped or not. */
  size_t dumps = 0;
  DIR *dir = opendir(sc->dir);
  assert_non_null(dir);
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (!ends_with(e->d_name, ".xml")) continue;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", sc->dir, e->d_name);
    char *x = slurp(path);
    assert_non_null(x);
    assert_null(strstr(x, "JTKVSB"));
    assert_null(strstr(x, "Ni{Lh6"));
    assert_null(strstr(x, "pNmC{O"));
    assert_non_null(strstr(x, "<entry>iovbench.key=(secret key, not written here)</entry>"));
    /* The rest is as handed to libvirt. */
    assert_non_null(
        strstr(x, "<entry>iovbench.host_key=rq:rM&gt;}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7</entry>"));
    assert_non_null(strstr(x, "<entry>iovbench.host=tcp://198.18.0.1:7701</entry>"));
    assert_non_null(strstr(x, "</domain>"));
    free(x);
    dumps++;
  }
  closedir(dir);
  assert_int_equal(dumps, 2);
  assert_int_equal(validate_dir(sc->dir, NULL), validator[0] ? 2 : 0);
  assert_pristine();
}

static void test_lifecycle_virtio_overlay(void **state) {
  struct scratch *sc = *state;
  struct iov_vm_host *h = open_handle(sc->dir, true, false);
  struct iov_vm_nic nics[2] = { { .type = IOV_VM_NIC_BRIDGE, .source = "br-iov0" },
                                { .type = IOV_VM_NIC_DIRECT, .source = "eth1" } };
  struct iov_vm_spec s[3];
  for (unsigned i = 0; i < 3; i++) {
    s[i] = base_spec("virtio", i + 1);
    s[i].kernel = s[i].initrd = s[i].cmdline = NULL;
    s[i].base_image = BASE;
    s[i].pool = POOL;
    s[i].nics = nics;
    s[i].n_nics = 2;
  }
  create_ok(h, s, 3, NULL);
  char err[512];
  struct iov_vm_info *info = NULL;
  size_t n = 0;
  assert_int_equal(ops->list_ours(h, "virtio", "h1", &info, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 3);
  assert_string_equal(info[0].name, "iovb-virtio-h1-vm01");
  assert_true(info[0].persistent);
  assert_true(info[0].active);
  assert_string_equal(info[0].pool, POOL);
  assert_string_equal(info[0].volume, "iovb-virtio-h1-vm01.qcow2");
  iov_vm_info_free_array(info, n);

  /* The overlays exist, on the base, and the domains boot from them. */
  virStoragePoolPtr p = virStoragePoolLookupByName(keeper, POOL);
  virStorageVolPtr v = virStorageVolLookupByName(p, "iovb-virtio-h1-vm02.qcow2");
  assert_non_null(v);
  char *vx = virStorageVolGetXMLDesc(v, 0);
  assert_non_null(strstr(vx, "<backingStore>\n    <path>" BASE "</path>"));
  assert_non_null(strstr(vx, "<format type='qcow2'/>"));
  virStorageVolInfo vi;
  assert_int_equal(virStorageVolGetInfo(v, &vi), 0);
  assert_int_equal(vi.capacity, 1ULL << 30); /* the base's */
  free(vx);
  virStorageVolFree(v);
  virStoragePoolFree(p);
  virDomainPtr d = virDomainLookupByName(keeper, "iovb-virtio-h1-vm02");
  char *live = virDomainGetXMLDesc(d, 0);
  virDomainFree(d);
  assert_non_null(strstr(live, "<source file='/default-pool/iovb-virtio-h1-vm02.qcow2'/>"));
  assert_non_null(strstr(live, "<source bridge='br-iov0'/>"));
  assert_non_null(strstr(live, "<source dev='eth1' mode='bridge'/>"));
  assert_non_null(strstr(live, "<driver name='vhost'/>"));
  free(live);

  assert_int_equal(ops->destroy_all(h, err, sizeof(err)), 0);
  for (unsigned i = 1; i <= 3; i++) {
    char name[64];
    snprintf(name, sizeof(name), "iovb-virtio-h1-vm%02u", i);
    assert_false(domain_exists(name)); /* undefined, not only stopped */
    strcat(name, ".qcow2");
    assert_false(volume_exists(name));
  }
  ops->close(h);
  /* 3 domains and 3 volumes. */
  assert_int_equal(validate_dir(sc->dir, NULL), validator[0] ? 6 : 0);
  assert_pristine();
}

static void test_crash_cleanup(void **state) {
  struct scratch *sc = *state;
  char err[1024];

  /* Someone else's domains: one with our prefix but no metadata, one of
   * ours for another host, and an overlay volume whose domain never got
   * made (the agent died in between). */
  static const char foreign[] = "<domain type='test'><name>iovb-crash-h1-vm09</name><memory>65536</memory>"
                                "<os><type>hvm</type></os><devices/></domain>";
  virDomainPtr f = virDomainDefineXML(keeper, foreign);
  assert_non_null(f);
  struct iov_vm_host *other = open_handle(NULL, true, false);
  struct iov_vm_spec os = base_spec("crash", 0);
  os.host = "h2";
  create_ok(other, &os, 1, NULL);
  ops->close(other); /* crashed too */
  char *ovx = NULL;
  assert_int_equal(
      iov_vm_overlay_xml("iovb-crash-h1-vm07.qcow2", 1 << 20, BASE, NULL, &ovx, err, sizeof(err)), 0);
  virStoragePoolPtr p = virStoragePoolLookupByName(keeper, POOL);
  virStorageVolPtr ov = virStorageVolCreateXML(p, ovx, 0);
  assert_non_null(ov);
  virStorageVolFree(ov);
  static const char not_ours[] = "<volume><name>iovb-crash-h1-data.qcow2</name><capacity>1024</capacity>"
                                 "<target><format type='qcow2'/></target></volume>";
  ov = virStorageVolCreateXML(p, not_ours, 0);
  assert_non_null(ov);
  virStorageVolFree(ov);
  free(ovx);

  /* The agent: three guests, two persistent with overlays, then it dies
   * (close without destroy). */
  struct iov_vm_host *h = open_handle(sc->dir, true, false);
  struct iov_vm_spec s[3];
  for (unsigned i = 0; i < 3; i++) {
    s[i] = base_spec("crash", i);
    if (i < 2) {
      s[i].base_image = BASE;
      s[i].pool = POOL;
    }
  }
  create_ok(h, s, 3, NULL);
  h = ops->close(h);
  assert_null(h);
  assert_true(domain_exists("iovb-crash-h1-vm00"));

  /* A fresh agent, a fresh connection. */
  h = open_handle(NULL, true, false);
  struct iov_vm_info *info = NULL;
  size_t n = 0;
  assert_int_equal(ops->list_ours(h, NULL, "h1", &info, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 3);
  assert_string_equal(info[0].name, "iovb-crash-h1-vm00");
  assert_string_equal(info[2].name, "iovb-crash-h1-vm02");
  iov_vm_info_free_array(info, n);
  assert_int_equal(ops->list_ours(h, "crash", NULL, &info, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 4); /* and h2's */
  iov_vm_info_free_array(info, n);

  size_t removed = 0;
  int r = ops->cleanup(h, NULL, "h1", POOL, &removed, err, sizeof(err));
  if (r < 0) print_error("cleanup: %s\n", err);
  assert_int_equal(r, 0);
  assert_int_equal(removed, 4); /* 3 domains (with 2 overlays) + the orphan */
  assert_int_equal(count_ours(NULL, "h1"), 0);
  assert_false(volume_exists("iovb-crash-h1-vm00.qcow2"));
  assert_false(volume_exists("iovb-crash-h1-vm07.qcow2"));
  /* Untouched: the prefix-only domain, h2's guest, a volume not named
   * like an overlay, and the driver's own domain. */
  assert_true(domain_exists("iovb-crash-h1-vm09"));
  assert_int_equal(virDomainIsPersistent(f), 1);
  assert_true(domain_exists("iovb-crash-h2-vm00"));
  assert_true(volume_exists("iovb-crash-h1-data.qcow2"));
  assert_true(domain_exists("test"));
  /* Nothing left: a second cleanup removes nothing. */
  assert_int_equal(ops->cleanup(h, NULL, "h1", POOL, &removed, err, sizeof(err)), 0);
  assert_int_equal(removed, 0);

  /* Tidy up the rest: h2's guest through cleanup, the others by hand. */
  assert_int_equal(ops->cleanup(h, "crash", "h2", NULL, &removed, err, sizeof(err)), 0);
  assert_int_equal(removed, 1);
  ops->close(h);
  assert_int_equal(virDomainUndefine(f), 0);
  virDomainFree(f);
  ov = virStorageVolLookupByName(p, "iovb-crash-h1-data.qcow2");
  assert_int_equal(virStorageVolDelete(ov, 0), 0);
  virStorageVolFree(ov);
  virStoragePoolFree(p);
  assert_int_equal(validate_dir(sc->dir, NULL), validator[0] ? 5 : 0);
  assert_pristine();
}

static void test_reuse(void **state) {
  struct scratch *sc = *state;
  struct iov_vm_host *h = open_handle(sc->dir, false, true);
  struct iov_vm_spec s[3];
  for (unsigned i = 0; i < 3; i++) s[i] = base_spec("reuse", i);
  size_t reused = 99;
  create_ok(h, s, 3, &reused);
  assert_int_equal(reused, 0);
  virDomainPtr d0 = virDomainLookupByName(keeper, "iovb-reuse-h1-vm00");
  virDomainPtr d1 = virDomainLookupByName(keeper, "iovb-reuse-h1-vm01");
  unsigned id0 = virDomainGetID(d0), id1 = virDomainGetID(d1);
  virDomainFree(d0);
  virDomainFree(d1);
  char err[512];
  assert_int_equal(ops->point_done(h, err, sizeof(err)), 0);
  assert_int_equal(count_ours("reuse", NULL), 3); /* kept */

  /* Next point: vm00 as it was, vm01 with more memory, no vm02. */
  s[1].memory_mib = 512;
  create_ok(h, s, 2, &reused);
  assert_int_equal(reused, 1);
  assert_int_equal(count_ours("reuse", NULL), 2);
  d0 = virDomainLookupByName(keeper, "iovb-reuse-h1-vm00");
  d1 = virDomainLookupByName(keeper, "iovb-reuse-h1-vm01");
  assert_int_equal(virDomainGetID(d0), id0); /* the same running domain */
  assert_int_not_equal(virDomainGetID(d1), id1);
  assert_int_equal(virDomainGetMaxMemory(d1), 512 * 1024);
  virDomainFree(d0);
  virDomainFree(d1);
  assert_false(domain_exists("iovb-reuse-h1-vm02"));

  struct iov_vm_stats *st = NULL;
  size_t n = 0;
  assert_int_equal(ops->stats(h, &st, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 2);
  iov_vm_stats_free_array(st, n);

  /* vm00 now boots from an overlay, then from an overlay on another base:
   * neither is the domain that runs. */
  static const char base2[] = "<volume><name>base2.qcow2</name><capacity>1048576</capacity>"
                              "<target><format type='qcow2'/></target></volume>";
  virStoragePoolPtr p = virStoragePoolLookupByName(keeper, POOL);
  virStorageVolPtr b2 = virStorageVolCreateXML(p, base2, 0);
  assert_non_null(b2);
  s[0].base_image = BASE;
  s[0].pool = POOL;
  create_ok(h, s, 2, &reused);
  assert_int_equal(reused, 1); /* vm01 */
  assert_true(volume_exists("iovb-reuse-h1-vm00.qcow2"));
  create_ok(h, s, 2, &reused);
  assert_int_equal(reused, 2);
  s[0].base_image = "/default-pool/base2.qcow2";
  create_ok(h, s, 2, &reused);
  assert_int_equal(reused, 1);
  virStorageVolPtr ov = virStorageVolLookupByName(p, "iovb-reuse-h1-vm00.qcow2");
  char *vx = virStorageVolGetXMLDesc(ov, 0);
  assert_non_null(strstr(vx, "<path>/default-pool/base2.qcow2</path>"));
  free(vx);
  virStorageVolFree(ov);

  assert_int_equal(ops->destroy_all(h, err, sizeof(err)), 0);
  ops->close(h);
  assert_int_equal(virStorageVolDelete(b2, 0), 0);
  virStorageVolFree(b2);
  virStoragePoolFree(p);
  /* Every domain XML handed to libvirt is kept, a reused name as NAME.N.xml. */
  assert_int_equal(validate_dir(sc->dir, NULL), validator[0] ? 8 : 0);
  assert_pristine();
}

static void test_libvirt_refuses(void **state) {
  struct scratch *sc = *state;
  struct iov_vm_host *h = open_handle(sc->dir, false, false);
  /* Guest 1 gets the same VF twice: well-formed and valid by the schema,
   * but libvirt refuses the hostdev.  Guest 0 was made by then: all or
   * none, overlays included. */
  struct iov_vm_nic good = vf_nic(1), twice[2] = { vf_nic(2), vf_nic(2) };
  struct iov_vm_spec s[2] = { base_spec("refuse", 0), base_spec("refuse", 1) };
  s[0].nics = &good;
  s[0].n_nics = 1;
  s[1].nics = twice;
  s[1].n_nics = 2;
  for (int i = 0; i < 2; i++) {
    s[i].base_image = BASE;
    s[i].pool = POOL;
  }
  char err[1024] = "";
  int r = ops->create(h, s, 2, NULL, err, sizeof(err));
  print_message("libvirt refused, as expected: %s\n", err);
  assert_true(r < 0);
  assert_non_null(strstr(err, "libvirt refused to create domain 'iovb-refuse-h1-vm01'"));
  assert_non_null(strstr(err, "Hostdev already exists")); /* libvirt's own words */
  assert_int_equal(count_ours("refuse", NULL), 0);
  assert_false(volume_exists("iovb-refuse-h1-vm00.qcow2"));
  assert_false(volume_exists("iovb-refuse-h1-vm01.qcow2"));
  ops->close(h);

  /* A template with an element libvirt's schema does not know, persistent:
   * define refuses (we ask libvirt to validate), on one line. */
  h = open_handle(sc->dir, true, false);
  struct iov_vm_spec t = base_spec("refuse", 2);
  t.template_path = fixture("refused-typo.xml");
  r = ops->create(h, &t, 1, NULL, err, sizeof(err));
  print_message("libvirt refused, as expected: %s\n", err);
  assert_true(r < 0);
  assert_non_null(strstr(err, "libvirt refused to define domain 'iovb-refuse-h1-vm02'"));
  assert_non_null(strstr(err, "validate against schema"));
  assert_null(strchr(err, '\n'));
  assert_false(domain_exists("iovb-refuse-h1-vm02"));
  ops->close(h);
  /* Everything written validates except the domain from that template. */
  assert_int_equal(validate_dir(sc->dir, "iovb-refuse-h1-vm02.xml"), validator[0] ? 5 : 0);
  assert_pristine();
}

static void test_name_clash(void **state) {
  (void)state;
  char err[1024] = "";
  /* A domain of someone else's, named like our guest 1. */
  static const char foreign[] = "<domain type='test'><name>iovb-clash-h1-vm01</name><memory>65536</memory>"
                                "<os><type>hvm</type></os><devices/></domain>";
  virDomainPtr f = virDomainCreateXML(keeper, foreign, 0);
  assert_non_null(f);
  struct iov_vm_host *h = open_handle(NULL, true, false);
  struct iov_vm_spec s[2] = { base_spec("clash", 0), base_spec("clash", 1) };
  int r = ops->create(h, s, 2, NULL, err, sizeof(err));
  assert_int_equal(r, -EEXIST);
  assert_non_null(strstr(err, "'iovb-clash-h1-vm01' already exists"));
  assert_false(domain_exists("iovb-clash-h1-vm00")); /* all or none */
  assert_true(domain_exists("iovb-clash-h1-vm01"));  /* and theirs untouched */
  /* Cleanup does not take it for ours either. */
  size_t removed = 99;
  assert_int_equal(ops->cleanup(h, "clash", NULL, POOL, &removed, err, sizeof(err)), 0);
  assert_int_equal(removed, 0);
  assert_true(domain_exists("iovb-clash-h1-vm01"));
  assert_int_equal(virDomainDestroy(f), 0);
  virDomainFree(f);

  /* Twice the same guest in one call. */
  s[1].index = 0;
  assert_int_equal(ops->create(h, s, 2, NULL, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "both 'iovb-clash-h1-vm00'"));
  /* Still held from the last point, without reuse_vms. */
  create_ok(h, s, 1, NULL);
  assert_int_equal(ops->create(h, s, 1, NULL, err, sizeof(err)), -EEXIST);
  assert_non_null(strstr(err, "still running"));
  /* An overlay volume already there. */
  struct iov_vm_spec o = base_spec("clash", 5);
  o.base_image = BASE;
  o.pool = POOL;
  create_ok(h, &o, 1, NULL);
  assert_int_equal(ops->destroy(h, "iovb-clash-h1-vm05", err, sizeof(err)), 0);
  char *ovx = NULL;
  assert_int_equal(
      iov_vm_overlay_xml("iovb-clash-h1-vm05.qcow2", 1 << 20, BASE, NULL, &ovx, err, sizeof(err)), 0);
  virStoragePoolPtr p = virStoragePoolLookupByName(keeper, POOL);
  virStorageVolPtr v = virStorageVolCreateXML(p, ovx, 0);
  assert_non_null(v);
  free(ovx);
  assert_int_equal(ops->create(h, &o, 1, NULL, err, sizeof(err)), -EEXIST);
  assert_non_null(strstr(err, "overlay volume 'iovb-clash-h1-vm05.qcow2' already exists"));
  assert_int_equal(virStorageVolDelete(v, 0), 0);
  virStorageVolFree(v);
  virStoragePoolFree(p);
  /* A pool that is not there, a base that is in no pool. */
  o.pool = "no-such-pool";
  assert_int_equal(ops->create(h, &o, 1, NULL, err, sizeof(err)), -ENOENT);
  assert_non_null(strstr(err, "no storage pool 'no-such-pool'"));
  o.pool = POOL;
  o.base_image = "/elsewhere/base.qcow2";
  assert_int_equal(ops->create(h, &o, 1, NULL, err, sizeof(err)), -ENOENT);
  assert_non_null(strstr(err, "not a volume of any libvirt storage pool"));
  o.overlay_size = 1 << 30; /* then the size must be given */
  create_ok(h, &o, 1, NULL);
  assert_int_equal(ops->destroy_all(h, err, sizeof(err)), 0);
  ops->close(h);
  assert_pristine();
}

static void test_open_errors_quiet(void **state) {
  struct scratch *sc = *state;
  /* libvirt must not print on its own: catch stderr in a file. */
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/stderr", sc->dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);

  struct iov_vm_config cfg = { .uri = "bogus:///nowhere" };
  struct iov_vm_host *h = NULL;
  char err[1024] = "";
  int r = ops->open(&cfg, &h, err, sizeof(err));
  struct iov_vm_host *t = open_handle(NULL, false, false);
  char e2[512];
  int r2 = ops->destroy(t, "nope", e2, sizeof(e2));
  virDomainPtr d = virDomainLookupByName(keeper, "no-such-domain"); /* an error inside libvirt */
  ops->close(t);

  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  close(fd);
  char *text = slurp(path);
  if (st.st_size) print_error("stderr got: %s\n", text);
  free(text);
  assert_int_equal(st.st_size, 0);
  assert_null(d);
  assert_int_equal(r2, -ENOENT);
  assert_true(r < 0);
  assert_null(h);
  assert_non_null(strstr(err, "cannot connect to libvirt at 'bogus:///nowhere'"));
  print_message("open error: %s\n", err);
}

/* ---- main ------------------------------------------------------------- */

static void quiet(void *u, virErrorPtr e) {
  (void)u;
  (void)e;
}

static int group_setup(void **state) {
  (void)state;
  find_fixtures();
  find_validator();
  if (!validator[0]) fprintf(stderr, "test_vm: virt-xml-validate not found: XML validation skipped\n");
  virSetErrorFunc(NULL, quiet);
  keeper = virConnectOpen(URI);
  if (!keeper) return -1;
  virStoragePoolPtr p = virStoragePoolLookupByName(keeper, POOL);
  if (!p) return -1;
  static const char base[] = "<volume><name>base.qcow2</name><capacity unit='GiB'>1</capacity>"
                             "<target><format type='qcow2'/></target></volume>";
  virStorageVolPtr v = virStorageVolCreateXML(p, base, 0);
  virStoragePoolFree(p);
  if (!v) return -1;
  virStorageVolFree(v);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  if (keeper) virConnectClose(keeper);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_nic_type_strings),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_metadata_parse),
    cmocka_unit_test_setup_teardown(test_golden_sriov, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_golden_virtio, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_variants_validate, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_overlay_xml, scratch_setup, scratch_teardown),
    cmocka_unit_test(test_bad_templates),
    cmocka_unit_test(test_bad_values),
    cmocka_unit_test_setup_teardown(test_lifecycle_sriov, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_lifecycle_virtio_overlay, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_xml_dump_no_secret, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_crash_cleanup, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_reuse, scratch_setup, scratch_teardown),
    cmocka_unit_test_setup_teardown(test_libvirt_refuses, scratch_setup, scratch_teardown),
    cmocka_unit_test(test_name_clash),
    cmocka_unit_test_setup_teardown(test_open_errors_quiet, scratch_setup, scratch_teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
