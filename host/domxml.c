/* Domain and volume XML for the guests of a test point (see vm.h).
 *
 * Everything goes through libxml2's tree: the template is parsed, the
 * parts we own are replaced, our elements are added, and the tree is
 * serialised.  User-supplied values only ever reach the XML as attribute
 * values (xmlSetProp) or text nodes (xmlNewTextChild, xmlNodeAddContent),
 * both of which libxml2 escapes on output; nothing is pasted into markup.
 *
 * Values are checked here for form (names, PCI addresses, MACs, CPU
 * numbers, the guest agent's settings) so that a bad one is named before
 * anything is created.  What only libvirt can judge (PCI slot/function
 * ranges, whether a bridge exists) is left to libvirt, whose refusal the
 * lifecycle code reports with libvirt's own text. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "guestconf.h"
#include "macro.h"
#include "parse.h"
#include "vm.h"
#include "wire.h"

#define BUILTIN_NAME "(built-in template)"
#define OVERLAY_TARGET "vda"
#define IFNAME_MAX 15                        /* IFNAMSIZ - 1 */
#define MEMORY_MIB_MAX (16ULL * 1024 * 1024) /* 16 TiB */
#define PATH_MAX_LEN 4096
#define CMDLINE_MAX_LEN 4096

/* The machine when the caller names no template: KVM, whatever machine
 * type and CPU model the hypervisor defaults to, a serial console, no
 * balloon (it would skew memory measurements).  The spec adds memory,
 * vCPUs, boot and NICs. */
static const char builtin_template[] = "<domain type='kvm'>"
                                       "  <memory unit='MiB'>1024</memory>"
                                       "  <vcpu placement='static'>1</vcpu>"
                                       "  <os><type>hvm</type></os>"
                                       "  <features><acpi/><apic/></features>"
                                       "  <clock offset='utc'/>"
                                       "  <on_poweroff>destroy</on_poweroff>"
                                       "  <on_reboot>restart</on_reboot>"
                                       "  <on_crash>destroy</on_crash>"
                                       "  <devices>"
                                       "    <serial type='pty'><target port='0'/></serial>"
                                       "    <console type='pty'><target type='serial' port='0'/></console>"
                                       "    <memballoon model='none'/>"
                                       "  </devices>"
                                       "</domain>";

static const char *const nic_type_table[_IOV_VM_NIC_MAX] = {
  [IOV_VM_NIC_HOSTDEV] = "hostdev",
  [IOV_VM_NIC_BRIDGE] = "bridge",
  [IOV_VM_NIC_DIRECT] = "direct",
};

const char *iov_vm_nic_type_to_string(enum iov_vm_nic_type t) {
  if (t < 0 || t >= _IOV_VM_NIC_MAX) return NULL;
  return nic_type_table[t];
}

enum iov_vm_nic_type iov_vm_nic_type_from_string(const char *s) {
  if (!s) return _IOV_VM_NIC_INVALID;
  for (int i = 0; i < _IOV_VM_NIC_MAX; i++)
    if (strcmp(s, nic_type_table[i]) == 0) return (enum iov_vm_nic_type)i;
  return _IOV_VM_NIC_INVALID;
}

static void once_init(void) {
  /* Idempotent; libxml2 wants it before use from several threads. */
  xmlInitParser();
}

/* Names that become part of domain names, file names and the guest's
 * vm_id: [A-Za-z0-9._-]+, not starting with '.' or '-'. */
static bool ident_ok(const char *s) {
  if (!s || !*s || *s == '.' || *s == '-') return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* Interface names as the kernel takes them: 1..15 bytes, no '/', no
 * blanks, no ':' (alias syntax). */
static bool ifname_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > IFNAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
  for (const char *p = s; *p; p++)
    if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f) return false;
  return true;
}

static bool hex_run(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!iov_is_hex(s[i])) return false;
  return true;
}

/* DDDD:BB:SS.F, all hex, as sysfs names PCI devices: slot 0..1f,
 * function 0..7. */
static bool pci_parse(const char *s, char dom[7], char bus[5], char slot[5], char fn[4]) {
  if (!s || strlen(s) != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  if (!hex_run(s, 4) || !hex_run(s + 5, 2) || !hex_run(s + 8, 2) || !hex_run(s + 11, 1)) return false;
  if (s[8] > '1' || s[11] > '7') return false;
  snprintf(dom, 7, "0x%.4s", s);
  snprintf(bus, 5, "0x%.2s", s + 5);
  snprintf(slot, 5, "0x%.2s", s + 8);
  snprintf(fn, 4, "0x%.1s", s + 11);
  return true;
}

static bool text_ok(const char *s, size_t max) {
  /* No control characters (they do not survive XML 1.0) and a bound. */
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
    if (n >= max || *p < ' ' || *p == 0x7f) return false;
  return true;
}

static bool abs_path_ok(const char *s) { return s && s[0] == '/' && text_ok(s, PATH_MAX_LEN); }

int iov_vm_name(const struct iov_vm_spec *spec, char *buf, size_t len, char *err, size_t errlen) {
  if (!spec || !buf) return iov_errf(-EINVAL, err, errlen, "no VM spec");
  if (!ident_ok(spec->run))
    return iov_errf(-EINVAL, err, errlen, "bad run id '%s': use letters, digits, '.', '_' and '-'",
                    spec->run ? spec->run : "(none)");
  if (!ident_ok(spec->host))
    return iov_errf(-EINVAL, err, errlen, "bad host name '%s': use letters, digits, '.', '_' and '-'",
                    spec->host ? spec->host : "(none)");
  if (spec->index > IOV_VM_INDEX_MAX)
    return iov_errf(-EINVAL, err, errlen, "VM index %u is over the limit of %u", spec->index,
                    IOV_VM_INDEX_MAX);
  char name[IOV_VM_NAME_MAX + 64];
  int n = snprintf(name, sizeof(name), IOV_VM_NAME_PREFIX "%s-%s-vm%02u", spec->run, spec->host, spec->index);
  if (n < 0 || (size_t)n >= sizeof(name) || n > IOV_VM_NAME_MAX)
    return iov_errf(-ENAMETOOLONG, err, errlen,
                    "domain name for run '%s', host '%s' would be longer than %d characters: shorten the run "
                    "id or the host name",
                    spec->run, spec->host, IOV_VM_NAME_MAX);
  if ((size_t)n >= len) return iov_errf(-ENAMETOOLONG, err, errlen, "buffer too small for domain name");
  memcpy(buf, name, (size_t)n + 1);
  return 0;
}

/* ---- CPU sets --------------------------------------------------------- */

static int cmp_u16(const void *a, const void *b) {
  uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
  return (x > y) - (x < y);
}

/* "2-5,8" for a list of CPUs (any order, duplicates allowed).  New
 * string, NULL on OOM. */
static char *cpuset_format(const uint16_t *cpus, size_t n) {
  _cleanup_free_ uint16_t *s = malloc(n * sizeof(*s));
  /* Each item at most "4095-4095," */
  _cleanup_free_ char *out = malloc(n * 11 + 1);
  if (!s || !out) return NULL;
  memcpy(s, cpus, n * sizeof(*s));
  qsort(s, n, sizeof(*s), cmp_u16);
  size_t o = 0;
  out[0] = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && (s[j + 1] == s[j] || s[j + 1] == s[j] + 1)) j++;
    if (s[j] == s[i])
      o += (size_t)sprintf(out + o, "%s%u", o ? "," : "", s[i]);
    else
      o += (size_t)sprintf(out + o, "%s%u-%u", o ? "," : "", s[i], s[j]);
    i = j + 1;
  }
  return TAKE_PTR(out);
}

static int cpus_check(const char *what, const uint16_t *cpus, size_t n, char *err, size_t errlen) {
  if (n == 0) return 0;
  if (!cpus) return iov_errf(-EINVAL, err, errlen, "%s: %zu CPUs but no list", what, n);
  if (n > IOV_MAX_CPUS) return iov_errf(-EINVAL, err, errlen, "%s: more than %d CPUs", what, IOV_MAX_CPUS);
  for (size_t i = 0; i < n; i++)
    if (cpus[i] >= IOV_MAX_CPUS)
      return iov_errf(-EINVAL, err, errlen, "%s: CPU %u is over the limit of %d", what, cpus[i],
                      IOV_MAX_CPUS - 1);
  return 0;
}

/* ---- tree helpers ----------------------------------------------------- */

/* The state of one build: the first OOM sticks, and the template's name
 * goes into every message about it. */
struct build {
  const char *tpl;
  bool oom;
  char *err;
  size_t errlen;
};

static bool is_el(xmlNodePtr n, const char *name) {
  return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name) {
  for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
    if (is_el(c, name) && !c->ns) return c;
  return NULL;
}

static size_t count_children(xmlNodePtr parent, const char *name) {
  size_t k = 0;
  for (xmlNodePtr c = parent->children; c; c = c->next)
    if (is_el(c, name)) k++;
  return k;
}

static void remove_children(xmlNodePtr parent, const char *name) {
  xmlNodePtr c = parent->children;
  while (c) {
    xmlNodePtr next = c->next;
    if (is_el(c, name)) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
    c = next;
  }
}

/* A new element with escaped text (or none) at the end of parent. */
static xmlNodePtr add(struct build *b, xmlNodePtr parent, const char *name, const char *text) {
  if (b->oom) return NULL;
  xmlNodePtr n = xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
  if (!n) b->oom = true;
  return n;
}

static void set_attr(struct build *b, xmlNodePtr n, const char *name, const char *value) {
  if (b->oom || !n) return;
  if (!xmlSetProp(n, BAD_CAST name, BAD_CAST value)) b->oom = true;
}

/* Replace all content of n by one (escaped) text node. */
static void set_text(struct build *b, xmlNodePtr n, const char *text) {
  if (b->oom || !n) return;
  xmlNodePtr c = n->children;
  while (c) {
    xmlNodePtr next = c->next;
    xmlUnlinkNode(c);
    xmlFreeNode(c);
    c = next;
  }
  xmlNodePtr t = xmlNewDocText(n->doc, BAD_CAST text);
  if (!t || !xmlAddChild(n, t)) {
    xmlFreeNode(t);
    b->oom = true;
  }
}

/* The existing child, or a new one at the end (or first when 'first'). */
static xmlNodePtr ensure(struct build *b, xmlNodePtr parent, const char *name, bool first) {
  xmlNodePtr n = child(parent, name);
  if (n || b->oom) return n;
  n = xmlNewDocNode(parent->doc, NULL, BAD_CAST name, NULL);
  if (!n) {
    b->oom = true;
    return NULL;
  }
  if (first && parent->children)
    xmlAddPrevSibling(parent->children, n);
  else
    xmlAddChild(parent, n);
  return n;
}

/* The existing child, or a new one right after 'after' (at the end when
 * after is NULL), so the output reads in libvirt's usual order. */
static xmlNodePtr ensure_after(struct build *b, xmlNodePtr parent, const char *name, xmlNodePtr after) {
  xmlNodePtr n = child(parent, name);
  if (n || b->oom) return n;
  if (!after) return ensure(b, parent, name, false);
  n = xmlNewDocNode(parent->doc, NULL, BAD_CAST name, NULL);
  if (!n || !xmlAddNextSibling(after, n)) {
    xmlFreeNode(n);
    b->oom = true;
    return NULL;
  }
  return n;
}

/* Text content of n, trimmed, as a number; -1 if not one. */
static int64_t text_number(xmlNodePtr n) {
  xmlChar *t = xmlNodeGetContent(n);
  if (!t) return -1;
  char *s = (char *)t;
  while (*s == ' ' || *s == '\n' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t')) *--e = 0;
  uint64_t v;
  int r = iov_parse_u64(s, &v);
  xmlFree(t);
  return r < 0 || v > INT64_MAX ? -1 : (int64_t)v;
}

static int serialize(xmlNodePtr root, char **ret) {
  xmlBufferPtr buf = xmlBufferCreate();
  if (!buf) return -ENOMEM;
  xmlSaveCtxtPtr sc = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
  if (!sc) {
    xmlBufferFree(buf);
    return -ENOMEM;
  }
  long w = xmlSaveTree(sc, root);
  xmlSaveClose(sc);
  if (w < 0) {
    xmlBufferFree(buf);
    return -ENOMEM;
  }
  const char *c = (const char *)xmlBufferContent(buf);
  size_t n = strlen(c);
  char *s = malloc(n + 2);
  if (!s) {
    xmlBufferFree(buf);
    return -ENOMEM;
  }
  memcpy(s, c, n);
  if (n == 0 || s[n - 1] != '\n') s[n++] = '\n';
  s[n] = 0;
  xmlBufferFree(buf);
  *ret = s;
  return 0;
}

/* ---- the template ----------------------------------------------------- */

static int read_template(const char *path, char **ret, size_t *ret_len, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int r = -errno;
    return iov_errf(r, err, errlen, "template '%s': cannot open: %s", path, strerror(-r));
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return iov_errf(-EINVAL, err, errlen, "template '%s': not a regular file", path);
  }
  if (st.st_size > IOV_VM_TEMPLATE_MAX) {
    close(fd);
    return iov_errf(-EFBIG, err, errlen, "template '%s': larger than %d bytes", path, IOV_VM_TEMPLATE_MAX);
  }
  _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  size_t got = 0;
  while (got <= (size_t)st.st_size) {
    ssize_t k = read(fd, buf + got, (size_t)st.st_size + 1 - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      int r = -errno;
      close(fd);
      return iov_errf(r, err, errlen, "template '%s': read failed: %s", path, strerror(-r));
    }
    if (k == 0) break;
    got += (size_t)k;
  }
  close(fd);
  if (got > (size_t)st.st_size)
    return iov_errf(-EFBIG, err, errlen, "template '%s': grew while being read", path);
  buf[got] = 0;
  *ret = TAKE_PTR(buf);
  *ret_len = got;
  return 0;
}

/* Parse XML text without network access, entity expansion or messages on
 * stderr; a syntax error comes back with its line in err. */
static int parse_xml(const char *what, const char *text, size_t len, xmlDocPtr *ret, char *err,
                     size_t errlen) {
  if (len > INT32_MAX) return iov_errf(-EFBIG, err, errlen, "%s: too large", what);
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (!ctxt) return -ENOMEM;
  xmlDocPtr doc = xmlCtxtReadMemory(ctxt, text, (int)len, NULL, NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                                        XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
  if (!doc) {
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char msg[256] = "no XML";
    int line = 0;
    if (e && e->message) {
      snprintf(msg, sizeof(msg), "%s", e->message);
      size_t m = strlen(msg);
      while (m > 0 && (msg[m - 1] == '\n' || msg[m - 1] == ' ')) msg[--m] = 0;
      line = e->line;
    }
    xmlFreeParserCtxt(ctxt);
    return iov_errf(-EINVAL, err, errlen, "%s: not well-formed XML (line %d: %s)", what, line, msg);
  }
  xmlFreeParserCtxt(ctxt);
  *ret = doc;
  return 0;
}

static int load_template(const char *path, xmlDocPtr *ret, char *err, size_t errlen) {
  if (!path) return parse_xml(BUILTIN_NAME, builtin_template, sizeof(builtin_template) - 1, ret, err, errlen);
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  int r = read_template(path, &text, &len, err, errlen);
  if (r < 0) return r;
  char what[PATH_MAX_LEN + 16];
  snprintf(what, sizeof(what), "template '%s'", path);
  return parse_xml(what, text, len, ret, err, errlen);
}

/* ---- the parts of a domain -------------------------------------------- */

static int check_spec(const struct iov_vm_spec *s, char *err, size_t errlen) {
  if (s->memory_mib > MEMORY_MIB_MAX)
    return iov_errf(-EINVAL, err, errlen, "memory %" PRIu64 " MiB is over the limit of %llu MiB",
                    s->memory_mib, MEMORY_MIB_MAX);
  if (s->vcpus > IOV_VM_VCPUS_MAX)
    return iov_errf(-EINVAL, err, errlen, "%u vCPUs is over the limit of %d", s->vcpus, IOV_VM_VCPUS_MAX);
  int r = cpus_check("vCPU pinning", s->cpus, s->n_cpus, err, errlen);
  if (r < 0) return r;
  r = cpus_check("emulator pinning", s->emulator_cpus, s->n_emulator_cpus, err, errlen);
  if (r < 0) return r;
  if (s->virt_type && !ident_ok(s->virt_type))
    return iov_errf(-EINVAL, err, errlen, "bad domain type '%s' (kvm, qemu, ...)", s->virt_type);
  if (s->base_image && !abs_path_ok(s->base_image))
    return iov_errf(-EINVAL, err, errlen, "base image '%s': not an absolute path", s->base_image);
  if (s->kernel && !abs_path_ok(s->kernel))
    return iov_errf(-EINVAL, err, errlen, "kernel '%s': not an absolute path", s->kernel);
  if (s->initrd && !abs_path_ok(s->initrd))
    return iov_errf(-EINVAL, err, errlen, "initrd '%s': not an absolute path", s->initrd);
  if (s->initrd && !s->kernel) return iov_errf(-EINVAL, err, errlen, "an initrd without a kernel");
  if (s->cmdline && !s->kernel)
    return iov_errf(-EINVAL, err, errlen, "a kernel command line without a kernel");
  if (s->cmdline && !text_ok(s->cmdline, CMDLINE_MAX_LEN))
    return iov_errf(-EINVAL, err, errlen, "kernel command line: control characters or longer than %d bytes",
                    CMDLINE_MAX_LEN);
  if (s->n_nics > IOV_VM_NICS_MAX)
    return iov_errf(-EINVAL, err, errlen, "%zu NICs is over the limit of %d", s->n_nics, IOV_VM_NICS_MAX);
  if (s->n_nics && !s->nics) return iov_errf(-EINVAL, err, errlen, "%zu NICs but no list", s->n_nics);
  for (size_t i = 0; i < s->n_nics; i++) {
    const struct iov_vm_nic *n = &s->nics[i];
    char d[7], b[5], sl[5], f[4];
    switch (n->type) {
    case IOV_VM_NIC_HOSTDEV:
      if (!pci_parse(n->pci, d, b, sl, f))
        return iov_errf(
            -EINVAL, err, errlen,
            "NIC %zu: bad PCI address '%s' (want DDDD:BB:SS.F, hex, slot up to 1f, function up to 7, e.g. "
            "0000:03:10.2)",
            i, n->pci ? n->pci : "(none)");
      if (n->vlan > 4094)
        return iov_errf(-EINVAL, err, errlen, "NIC %zu: VLAN %u is not in 1..4094", i, n->vlan);
      break;
    case IOV_VM_NIC_BRIDGE:
    case IOV_VM_NIC_DIRECT:
      if (!ifname_ok(n->source))
        return iov_errf(-EINVAL, err, errlen, "NIC %zu (%s): bad or missing %s name '%s'", i,
                        iov_vm_nic_type_to_string(n->type),
                        n->type == IOV_VM_NIC_BRIDGE ? "bridge" : "device", n->source ? n->source : "(none)");
      if (n->vlan)
        return iov_errf(
            -EINVAL, err, errlen,
            "NIC %zu (%s): a VLAN tag works on hostdev (sriov) NICs only: tag on the bridge port or "
            "use a VLAN device as the source",
            i, iov_vm_nic_type_to_string(n->type));
      if (n->type == IOV_VM_NIC_DIRECT && n->direct_mode && strcmp(n->direct_mode, "bridge") != 0 &&
          strcmp(n->direct_mode, "vepa") != 0 && strcmp(n->direct_mode, "private") != 0 &&
          strcmp(n->direct_mode, "passthrough") != 0)
        return iov_errf(-EINVAL, err, errlen,
                        "NIC %zu: bad macvtap mode '%s' (bridge, vepa, private, passthrough)", i,
                        n->direct_mode);
      break;
    default: return iov_errf(-EINVAL, err, errlen, "NIC %zu: unknown type %d", i, (int)n->type);
    }
    if (n->mac && !iov_mac_ok(n->mac))
      return iov_errf(-EINVAL, err, errlen, "NIC %zu: bad MAC address '%s' (want aa:bb:cc:dd:ee:ff)", i,
                      n->mac);
  }
  if (s->vm_id && !iov_wire_name_ok(s->vm_id))
    return iov_errf(-EINVAL, err, errlen, "bad vm_id '%s': 1..64 of letters, digits, '.', '_', ':' and '-'",
                    s->vm_id);
  if (s->data) {
    unsigned char a[16];
    if (inet_pton(AF_INET, s->data, a) != 1 && inet_pton(AF_INET6, s->data, a) != 1)
      return iov_errf(-EINVAL, err, errlen, "bad data address '%s': not an IPv4 or IPv6 address", s->data);
  }
  if (s->net) {
    char addr[64];
    unsigned char a[16];
    const char *slash = strchr(s->net, '/');
    char *end = NULL;
    long prefix = slash ? strtol(slash + 1, &end, 10) : -1;
    size_t alen = slash ? (size_t)(slash - s->net) : 0;
    if (!slash || alen == 0 || alen >= sizeof(addr) || !end || *end || end == slash + 1 || prefix < 0 ||
        prefix > 128)
      return iov_errf(-EINVAL, err, errlen, "bad guest network '%s': want ADDRESS/PREFIX", s->net);
    memcpy(addr, s->net, alen);
    addr[alen] = 0;
    bool v4 = inet_pton(AF_INET, addr, a) == 1;
    if ((!v4 && inet_pton(AF_INET6, addr, a) != 1) || (v4 && prefix > 32))
      return iov_errf(-EINVAL, err, errlen, "bad guest network '%s': want ADDRESS/PREFIX", s->net);
  }
  return 0;
}

static void set_metadata(struct build *b, xmlNodePtr root, xmlNodePtr after, const struct iov_vm_spec *s,
                         const char *overlay_volume) {
  xmlNodePtr meta = child(root, "metadata");
  if (!meta && !b->oom) {
    meta = xmlNewDocNode(root->doc, NULL, BAD_CAST "metadata", NULL);
    if (!meta || !xmlAddNextSibling(after, meta)) {
      xmlFreeNode(meta);
      b->oom = true;
      return;
    }
  }
  if (b->oom) return;
  /* A template made from one of our own domains carries our element. */
  xmlNodePtr c = meta->children;
  while (c) {
    xmlNodePtr next = c->next;
    if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
        strcmp((const char *)c->ns->href, IOV_VM_XMLNS) == 0) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
    c = next;
  }
  xmlNodePtr vm = add(b, meta, "vm", NULL);
  if (!vm) return;
  xmlNsPtr ns = xmlNewNs(vm, BAD_CAST IOV_VM_XMLNS, BAD_CAST IOV_VM_XMLNS_PREFIX);
  if (!ns) {
    b->oom = true;
    return;
  }
  xmlSetNs(vm, ns);
  char idx[16];
  snprintf(idx, sizeof(idx), "%u", s->index);
  set_attr(b, vm, "run", s->run);
  set_attr(b, vm, "host", s->host);
  set_attr(b, vm, "index", idx);
  if (overlay_volume) {
    set_attr(b, vm, "pool", s->pool ? s->pool : IOV_VM_DEFAULT_POOL);
    set_attr(b, vm, "volume", overlay_volume);
  }
}

static int set_memory_vcpus(struct build *b, xmlNodePtr root, const struct iov_vm_spec *s,
                            unsigned *ret_vcpus) {
  if (s->memory_mib) {
    char v[32];
    snprintf(v, sizeof(v), "%" PRIu64, s->memory_mib * 1024);
    xmlNodePtr m = ensure_after(b, root, "memory", child(root, "metadata"));
    set_text(b, m, v);
    set_attr(b, m, "unit", "KiB");
    xmlNodePtr cur = child(root, "currentMemory");
    if (cur) {
      set_text(b, cur, v);
      set_attr(b, cur, "unit", "KiB");
    }
  } else if (!child(root, "memory")) {
    return iov_errf(-EINVAL, b->err, b->errlen, "%s: no <memory> element: add one or give the memory size",
                    b->tpl);
  }

  unsigned vcpus = 1; /* libvirt's default */
  xmlNodePtr vc = child(root, "vcpu");
  if (s->vcpus) {
    char v[16];
    snprintf(v, sizeof(v), "%u", s->vcpus);
    vc = ensure_after(b, root, "vcpu",
                      child(root, "currentMemory") ? child(root, "currentMemory") : child(root, "memory"));
    set_text(b, vc, v);
    if (vc) xmlUnsetProp(vc, BAD_CAST "current");
    vcpus = s->vcpus;
  } else if (vc) {
    int64_t v = text_number(vc);
    if (v < 1 || v > IOV_VM_VCPUS_MAX)
      return iov_errf(-EINVAL, b->err, b->errlen, "%s: <vcpu> is not a number in 1..%d", b->tpl,
                      IOV_VM_VCPUS_MAX);
    vcpus = (unsigned)v;
    xmlChar *cur = xmlGetProp(vc, BAD_CAST "current");
    if (cur) {
      xmlFree(cur);
      if (s->n_cpus)
        return iov_errf(
            -EINVAL, b->err, b->errlen,
            "%s: <vcpu current=...> with pinning: remove the current attribute or give the vCPU count",
            b->tpl);
    }
  }
  *ret_vcpus = vcpus;
  return 0;
}

static int set_cputune(struct build *b, xmlNodePtr root, const struct iov_vm_spec *s, unsigned vcpus) {
  if (!s->n_cpus && !s->n_emulator_cpus) return 0;
  xmlNodePtr ct = ensure_after(b, root, "cputune", child(root, "vcpu"));
  if (!ct) return -ENOMEM;
  remove_children(ct, "vcpupin");
  remove_children(ct, "emulatorpin");
  _cleanup_free_ char *all = s->n_cpus ? cpuset_format(s->cpus, s->n_cpus) : NULL;
  if (s->n_cpus && !all) return -ENOMEM;
  for (unsigned j = 0; s->n_cpus && j < vcpus; j++) {
    char v[16], one[8];
    snprintf(v, sizeof(v), "%u", j);
    xmlNodePtr p = add(b, ct, "vcpupin", NULL);
    set_attr(b, p, "vcpu", v);
    if (s->n_cpus == vcpus) snprintf(one, sizeof(one), "%u", s->cpus[j]);
    set_attr(b, p, "cpuset", s->n_cpus == vcpus ? one : all);
  }
  if (s->n_emulator_cpus) {
    _cleanup_free_ char *em = cpuset_format(s->emulator_cpus, s->n_emulator_cpus);
    if (!em) return -ENOMEM;
    set_attr(b, add(b, ct, "emulatorpin", NULL), "cpuset", em);
  } else {
    set_attr(b, add(b, ct, "emulatorpin", NULL), "cpuset", all);
  }
  return 0;
}

static int set_os(struct build *b, xmlNodePtr root, const struct iov_vm_spec *s) {
  xmlNodePtr os = child(root, "os");
  if (!os)
    return iov_errf(-EINVAL, b->err, b->errlen, "%s: no <os> element: add <os><type>hvm</type></os>", b->tpl);
  xmlNodePtr type = child(os, "type");
  xmlChar *t = type ? xmlNodeGetContent(type) : NULL;
  bool hvm = t && strcmp((const char *)t, "hvm") == 0;
  xmlFree(t);
  if (!hvm)
    return iov_errf(-EINVAL, b->err, b->errlen,
                    "%s: <os> lacks <type>hvm</type> (SMBIOS strings for the guest agent need a full virtual "
                    "machine)",
                    b->tpl);
  if (s->kernel) {
    remove_children(os, "kernel");
    remove_children(os, "initrd");
    remove_children(os, "cmdline");
    add(b, os, "kernel", s->kernel);
    if (s->initrd) add(b, os, "initrd", s->initrd);
    if (s->cmdline) add(b, os, "cmdline", s->cmdline);
  }
  xmlNodePtr sm = ensure(b, os, "smbios", false);
  set_attr(b, sm, "mode", "sysinfo");
  return 0;
}

static int set_sysinfo(struct build *b, xmlNodePtr root, const struct iov_vm_spec *s, const char *name) {
  _cleanup_free_ char *endpoint = NULL;
  if (!s->guest_endpoint)
    return iov_errf(-EINVAL, b->err, b->errlen,
                    "no guest endpoint: the guest agent would not find its host agent");
  int r = -EINVAL;
  if (text_ok(s->guest_endpoint, 1024) && !strchr(s->guest_endpoint, ' '))
    r = iov_guest_endpoint_normalize(s->guest_endpoint, &endpoint);
  if (r == -ENOMEM) return r;
  if (r < 0)
    return iov_errf(-EINVAL, b->err, b->errlen,
                    "bad guest endpoint '%s' (want ADDR[:PORT], tcp://... or ipc://...)", s->guest_endpoint);

  xmlNodePtr si = NULL;
  for (xmlNodePtr c = root->children; c; c = c->next) {
    if (!is_el(c, "sysinfo")) continue;
    xmlChar *t = xmlGetProp(c, BAD_CAST "type");
    bool smbios = t && strcmp((const char *)t, "smbios") == 0;
    xmlFree(t);
    if (smbios) {
      si = c;
      break;
    }
  }
  if (!si && !b->oom) {
    xmlNodePtr after = child(root, "cputune") ? child(root, "cputune") : child(root, "vcpu");
    si = xmlNewDocNode(root->doc, NULL, BAD_CAST "sysinfo", NULL);
    if (si && !(after ? xmlAddNextSibling(after, si) : xmlAddChild(root, si))) {
      xmlFreeNode(si);
      si = NULL;
    }
    if (!si) b->oom = true;
    set_attr(b, si, "type", "smbios");
  }
  if (!si) return -ENOMEM;
  xmlNodePtr oem = ensure(b, si, "oemStrings", false);
  if (!oem) return -ENOMEM;
  /* Entries of ours in the template would shadow or confuse the guest. */
  xmlNodePtr c = oem->children;
  while (c) {
    xmlNodePtr next = c->next;
    if (is_el(c, "entry")) {
      xmlChar *t = xmlNodeGetContent(c);
      if (t && strncmp((const char *)t, "iovbench.", 9) == 0) {
        xmlUnlinkNode(c);
        xmlFreeNode(c);
      }
      xmlFree(t);
    }
    c = next;
  }
  char line[IOV_VM_NAME_MAX + 1024 + 64];
  if (strlen(endpoint) > 1024) return iov_errf(-EINVAL, b->err, b->errlen, "guest endpoint too long");
  snprintf(line, sizeof(line), "iovbench.host=%s", endpoint);
  add(b, oem, "entry", line);
  snprintf(line, sizeof(line), "iovbench.vm_id=%s", s->vm_id ? s->vm_id : name);
  add(b, oem, "entry", line);
  if (s->data) {
    snprintf(line, sizeof(line), "iovbench.data=%s", s->data);
    add(b, oem, "entry", line);
  }
  if (s->net) {
    snprintf(line, sizeof(line), "iovbench.net=%s", s->net);
    add(b, oem, "entry", line);
  }
  /* CURVE to the relay.  The secret key sits in the domain's definition,
   * which only the host's libvirt users read, and reaches the guest's
   * root only (the SMBIOS tables). */
  if (s->host_key && s->guest_key) {
    snprintf(line, sizeof(line), "iovbench.host_key=%s", s->host_key);
    add(b, oem, "entry", line);
    snprintf(line, sizeof(line), "iovbench.key=%s", s->guest_key);
    add(b, oem, "entry", line);
  }
  return 0;
}

/* What clones cannot share: fixed MACs, host devices, writable disks. */
static int check_devices(struct build *b, xmlNodePtr devices, bool adding_overlay) {
  size_t k = 0;
  for (xmlNodePtr c = devices->children; c; c = c->next) {
    if (is_el(c, "interface")) {
      k++;
      if (child(c, "mac"))
        return iov_errf(
            -EINVAL, b->err, b->errlen,
            "%s: <interface> #%zu has a fixed <mac address>, which every clone would share: remove the "
            "<mac> element",
            b->tpl, k);
    }
    if (is_el(c, "hostdev"))
      return iov_errf(-EINVAL, b->err, b->errlen,
                      "%s: a <hostdev> would be passed to every clone at once: remove it (VFs come from the "
                      "spec's NICs)",
                      b->tpl);
    if (!is_el(c, "disk")) continue;
    xmlNodePtr target = child(c, "target");
    xmlChar *dev = target ? xmlGetProp(target, BAD_CAST "dev") : NULL;
    char devname[32];
    snprintf(devname, sizeof(devname), "%s", dev ? (const char *)dev : "?");
    xmlFree(dev);
    if (adding_overlay && strcmp(devname, OVERLAY_TARGET) == 0)
      return iov_errf(-EINVAL, b->err, b->errlen,
                      "%s: <disk> with target '" OVERLAY_TARGET
                      "' is in the way of the boot overlay: remove it or "
                      "give it another target",
                      b->tpl);
    xmlChar *device = xmlGetProp(c, BAD_CAST "device");
    bool writable_kind =
        !device || strcmp((const char *)device, "disk") == 0 || strcmp((const char *)device, "lun") == 0;
    xmlFree(device);
    if (writable_kind && child(c, "source") && !child(c, "readonly") && !child(c, "shareable") &&
        !child(c, "transient"))
      return iov_errf(-EINVAL, b->err, b->errlen,
                      "%s: <disk> '%s' is writable and every clone would write to it: mark it <readonly/>, "
                      "<shareable/> or <transient/>, or boot from a base image (an overlay per VM)",
                      b->tpl, devname);
  }
  return 0;
}

static void add_disk(struct build *b, xmlNodePtr devices, const char *path, const char *format) {
  xmlNodePtr d = add(b, devices, "disk", NULL);
  set_attr(b, d, "type", "file");
  set_attr(b, d, "device", "disk");
  xmlNodePtr drv = add(b, d, "driver", NULL);
  set_attr(b, drv, "name", "qemu");
  set_attr(b, drv, "type", format);
  set_attr(b, add(b, d, "source", NULL), "file", path);
  xmlNodePtr t = add(b, d, "target", NULL);
  set_attr(b, t, "dev", OVERLAY_TARGET);
  set_attr(b, t, "bus", "virtio");
}

static void add_nic(struct build *b, xmlNodePtr devices, const struct iov_vm_nic *n) {
  xmlNodePtr i = add(b, devices, "interface", NULL);
  set_attr(b, i, "type", iov_vm_nic_type_to_string(n->type));
  if (n->type == IOV_VM_NIC_HOSTDEV) set_attr(b, i, "managed", "yes");
  if (n->mac) set_attr(b, add(b, i, "mac", NULL), "address", n->mac);
  xmlNodePtr src = add(b, i, "source", NULL);
  switch (n->type) {
  case IOV_VM_NIC_HOSTDEV: {
    char d[7], bus[5], sl[5], f[4];
    (void)pci_parse(n->pci, d, bus, sl, f); /* checked in check_spec() */
    xmlNodePtr a = add(b, src, "address", NULL);
    set_attr(b, a, "type", "pci");
    set_attr(b, a, "domain", d);
    set_attr(b, a, "bus", bus);
    set_attr(b, a, "slot", sl);
    set_attr(b, a, "function", f);
    if (n->vlan) {
      char v[8];
      snprintf(v, sizeof(v), "%u", n->vlan & 0xfffu);
      set_attr(b, add(b, add(b, i, "vlan", NULL), "tag", NULL), "id", v);
    }
    break;
  }
  case IOV_VM_NIC_BRIDGE:
  case IOV_VM_NIC_DIRECT:
    if (n->type == IOV_VM_NIC_BRIDGE) {
      set_attr(b, src, "bridge", n->source);
    } else {
      set_attr(b, src, "dev", n->source);
      set_attr(b, src, "mode", n->direct_mode ? n->direct_mode : "bridge");
    }
    set_attr(b, add(b, i, "model", NULL), "type", "virtio");
    set_attr(b, add(b, i, "driver", NULL), "name", "vhost");
    break;
  default: break;
  }
}

static int build_domain(xmlDocPtr doc, struct build *b, const struct iov_vm_spec *s, const char *name,
                        const char *overlay_path, const char *overlay_volume) {
  xmlNodePtr root = xmlDocGetRootElement(doc);
  if (!root || !is_el(root, "domain"))
    return iov_errf(-EINVAL, b->err, b->errlen, "%s: the root element is not <domain>", b->tpl);
  if (s->virt_type) {
    set_attr(b, root, "type", s->virt_type);
  } else {
    xmlChar *t = xmlGetProp(root, BAD_CAST "type");
    xmlFree(t);
    if (!t)
      return iov_errf(-EINVAL, b->err, b->errlen,
                      "%s: <domain> has no type attribute: add type='kvm' (or 'qemu')", b->tpl);
  }
  /* Ids go first: <name>, no <uuid> (libvirt makes a fresh one), and
   * nothing that ties the clone to the domain the template came from. */
  remove_children(root, "name");
  remove_children(root, "uuid");
  remove_children(root, "genid");
  xmlUnsetProp(root, BAD_CAST "id");
  xmlNodePtr n = ensure(b, root, "name", true);
  set_text(b, n, name);
  if (b->oom) return -ENOMEM;
  set_metadata(b, root, n, s, overlay_volume);

  unsigned vcpus = 1;
  int r = set_memory_vcpus(b, root, s, &vcpus);
  if (r < 0) return r;
  r = set_cputune(b, root, s, vcpus);
  if (r < 0) return r;
  r = set_os(b, root, s);
  if (r < 0) return r;
  r = set_sysinfo(b, root, s, name);
  if (r < 0) return r;

  xmlNodePtr devices = child(root, "devices");
  if (!devices) return iov_errf(-EINVAL, b->err, b->errlen, "%s: no <devices> element", b->tpl);
  if (count_children(root, "devices") > 1)
    return iov_errf(-EINVAL, b->err, b->errlen, "%s: more than one <devices> element", b->tpl);
  r = check_devices(b, devices, overlay_path != NULL);
  if (r < 0) return r;
  if (overlay_path) add_disk(b, devices, overlay_path, "qcow2");
  for (size_t i = 0; i < s->n_nics; i++) add_nic(b, devices, &s->nics[i]);
  if (!overlay_path && !s->kernel) {
    /* Nothing of ours boots it: the template has to. */
    xmlNodePtr os = child(root, "os");
    bool boots = child(os, "kernel") || count_children(devices, "disk") > 0 || child(os, "loader");
    if (!boots)
      return iov_errf(
          -EINVAL, b->err, b->errlen,
          "%s: nothing to boot: give a base image or a kernel, or add a <disk> or <kernel> to the "
          "template",
          b->tpl);
  }
  return b->oom ? -ENOMEM : 0;
}

int iov_vm_domain_xml(const struct iov_vm_spec *spec, const char *overlay_path, char **ret_xml, char *err,
                      size_t errlen) {
  char name[IOV_VM_NAME_MAX + 1];
  int r = iov_vm_name(spec, name, sizeof(name), err, errlen);
  if (r < 0) return r;
  r = check_spec(spec, err, errlen);
  if (r < 0) return r;
  if (spec->base_image && !abs_path_ok(overlay_path))
    return iov_errf(-EINVAL, err, errlen, "a base image but no overlay path for %s", name);
  if (!spec->base_image) overlay_path = NULL;

  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, once_init);

  char tpl[PATH_MAX_LEN + 16];
  if (spec->template_path)
    snprintf(tpl, sizeof(tpl), "template '%s'", spec->template_path);
  else
    snprintf(tpl, sizeof(tpl), "%s", BUILTIN_NAME);
  xmlDocPtr doc = NULL;
  r = load_template(spec->template_path, &doc, err, errlen);
  if (r < 0) return r;

  char volume[IOV_VM_NAME_MAX + 16];
  snprintf(volume, sizeof(volume), "%s.qcow2", name);
  struct build b = { .tpl = tpl, .err = err, .errlen = errlen };
  r = build_domain(doc, &b, spec, name, overlay_path, overlay_path ? volume : NULL);
  if (r == 0) r = serialize(xmlDocGetRootElement(doc), ret_xml);
  xmlFreeDoc(doc);
  if (r == -ENOMEM) return iov_errf(r, err, errlen, "out of memory building the XML of %s", name);
  return r;
}

int iov_vm_overlay_xml(const char *name, uint64_t capacity, const char *backing_path,
                       const char *backing_format, char **ret_xml, char *err, size_t errlen) {
  if (!name || !*name || strchr(name, '/') || !text_ok(name, 255))
    return iov_errf(-EINVAL, err, errlen, "bad volume name '%s'", name ? name : "(none)");
  if (capacity == 0) return iov_errf(-EINVAL, err, errlen, "volume '%s': capacity 0", name);
  if (!abs_path_ok(backing_path))
    return iov_errf(-EINVAL, err, errlen, "volume '%s': backing image '%s' is not an absolute path", name,
                    backing_path ? backing_path : "(none)");
  if (!backing_format) backing_format = "qcow2";
  if (strcmp(backing_format, "qcow2") != 0 && strcmp(backing_format, "raw") != 0)
    return iov_errf(-EINVAL, err, errlen, "volume '%s': backing format '%s' is neither qcow2 nor raw", name,
                    backing_format);

  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, once_init);

  xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
  if (!doc) return -ENOMEM;
  struct build b = { .tpl = "volume", .err = err, .errlen = errlen };
  xmlNodePtr v = xmlNewDocNode(doc, NULL, BAD_CAST "volume", NULL);
  if (!v) b.oom = true;
  if (v) xmlDocSetRootElement(doc, v);
  char cap[32];
  snprintf(cap, sizeof(cap), "%" PRIu64, capacity);
  add(&b, v, "name", name);
  set_attr(&b, add(&b, v, "capacity", cap), "unit", "bytes");
  set_attr(&b, add(&b, add(&b, v, "target", NULL), "format", NULL), "type", "qcow2");
  xmlNodePtr bs = add(&b, v, "backingStore", NULL);
  add(&b, bs, "path", backing_path);
  set_attr(&b, add(&b, bs, "format", NULL), "type", backing_format);
  int r = b.oom ? -ENOMEM : serialize(v, ret_xml);
  xmlFreeDoc(doc);
  return r;
}

/* ---- our metadata, read back ------------------------------------------ */

static int dup_prop(xmlNodePtr n, const char *name, char **ret) {
  xmlChar *v = xmlGetProp(n, BAD_CAST name);
  if (!v) {
    *ret = NULL;
    return 0;
  }
  *ret = strdup((const char *)v);
  xmlFree(v);
  return *ret ? 0 : -ENOMEM;
}

int iov__vm_metadata_parse(const char *xml, struct iov_vm_info *ret) {
  if (!xml) return -EINVAL;
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, once_init);
  xmlDocPtr doc = NULL;
  size_t len = strnlen(xml, 65537);
  if (len > 65536) return -EINVAL;
  int r = parse_xml("metadata", xml, len, &doc, NULL, 0);
  if (r < 0) return r;
  struct iov_vm_info i = { 0 };
  char *idx = NULL;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  r = -EINVAL;
  if (!root || root->type != XML_ELEMENT_NODE || strcmp((const char *)root->name, "vm") != 0) goto out;
  if ((r = dup_prop(root, "run", &i.run)) < 0 || (r = dup_prop(root, "host", &i.host)) < 0 ||
      (r = dup_prop(root, "pool", &i.pool)) < 0 || (r = dup_prop(root, "volume", &i.volume)) < 0 ||
      (r = dup_prop(root, "index", &idx)) < 0)
    goto out;
  uint64_t v;
  r = -EINVAL;
  bool ok = ident_ok(i.run) && ident_ok(i.host) && idx && iov_parse_u64(idx, &v) == 0 &&
            v <= IOV_VM_INDEX_MAX && (!i.volume || (i.pool && !strchr(i.volume, '/')));
  if (!ok) goto out;
  i.index = (unsigned)v;
  *ret = i;
  memset(&i, 0, sizeof(i));
  r = 0;
out:
  free(idx);
  iov_vm_info_done(&i);
  xmlFreeDoc(doc);
  return r;
}

void iov_vm_info_done(struct iov_vm_info *i) {
  if (!i) return;
  free(i->name);
  free(i->run);
  free(i->host);
  free(i->pool);
  free(i->volume);
  memset(i, 0, sizeof(*i));
}

struct iov_vm_info *iov_vm_info_free_array(struct iov_vm_info *a, size_t n) {
  for (size_t i = 0; a && i < n; i++) iov_vm_info_done(&a[i]);
  free(a);
  return NULL;
}
