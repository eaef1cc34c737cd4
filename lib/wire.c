#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "macro.h"
#include "text.h"

#define fail iov_errf

/* Protobuf strings are UTF-8 (protobuf-c does not check): a peer's text
 * goes on into JSON, the database and logs. */
static bool str_ok(const char *s) {
  return !s || (strnlen(s, IOV_WIRE_MAX_STRING + 1) <= IOV_WIRE_MAX_STRING && iov_utf8_valid(s));
}

bool iov_wire_name_ok(const char *s) {
  size_t n = 0;
  if (!s) return false;
  for (; s[n]; n++) {
    char c = s[n];
    if (n >= IOV_WIRE_MAX_NAME) return false;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-' || c == ':'))
      return false;
  }
  return n > 0;
}

/* The binary form of an address literal, its prefix and zone cut off. */
static int addr_bin(const char *text, uint8_t out[16]);

bool iov_wire_ip_literal_ok(const char *s) {
  uint8_t b[16];
  char buf[INET6_ADDRSTRLEN];
  size_t n = s ? strnlen(s, sizeof(buf)) : sizeof(buf);
  if (n == 0 || n >= sizeof(buf)) return false;
  memcpy(buf, s, n + 1);
  return inet_pton(AF_INET, buf, b) == 1 || inet_pton(AF_INET6, buf, b) == 1;
}

/* "" or an IP literal: a data address as agents report it. */
static bool data_addr_ok(const char *s) { return !s || !*s || iov_wire_ip_literal_ok(s); }

/* An interface address as the inventory lists it: "ADDR/PREFIX". */
static bool if_addr_ok(const char *s) {
  uint8_t b[16];
  const char *slash = s ? strchr(s, '/') : NULL;
  if (!s || strnlen(s, 80) >= 80 || strchr(s, '%')) return false;
  int fam = addr_bin(s, b);
  if (fam < 0) return false;
  if (!slash) return true;
  char *end;
  unsigned long p = strtoul(slash + 1, &end, 10);
  return slash[1] >= '0' && slash[1] <= '9' && !*end && p <= (fam == AF_INET ? 32u : 128u);
}

/* An engine setting's key: 1..31 of [a-z0-9_]. */
static bool setting_key_ok(const char *s) {
  size_t n = 0;
  if (!s) return false;
  for (; s[n]; n++)
    if (n >= 31 || !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
      return false;
  return n > 0;
}

#define CHECK(cond, ...)                                             \
  do {                                                               \
    if (!(cond)) return fail(-EBADMSG, errbuf, errlen, __VA_ARGS__); \
  } while (0)

static int check_hist(const Iovbench__Histogram *h, char *errbuf, size_t errlen) {
  if (!h) return 0;
  CHECK(h->n_index == h->n_count, "histogram: %zu indexes but %zu counts", h->n_index, h->n_count);
  CHECK(h->n_index <= IOV_HIST_BUCKETS, "histogram: %zu buckets (max %u)", h->n_index, IOV_HIST_BUCKETS);
  /* Sparse: only buckets that hold something are listed (a zero would
   * make the listed first and last bucket disagree with min and max), and
   * the total must be a count, not a wrapped sum. */
  uint64_t total = 0;
  for (size_t i = 0; i < h->n_index; i++) {
    CHECK(h->index[i] < IOV_HIST_BUCKETS, "histogram: bucket %u out of range", h->index[i]);
    CHECK(i == 0 || h->index[i] > h->index[i - 1], "histogram: bucket indexes not increasing");
    CHECK(h->count[i] > 0, "histogram: bucket %u listed with count 0", h->index[i]);
    CHECK(total + h->count[i] >= total, "histogram: counts add up past 2^64");
    total += h->count[i];
  }
  return 0;
}

static int check_workload(const Iovbench__Workload *w, Iovbench__Role role, char *errbuf, size_t errlen) {
  CHECK(w, "prepare: no workload");
  CHECK(w->name && *w->name && str_ok(w->name), "prepare: bad workload name");
  CHECK(w->flows >= 1 && w->flows <= IOV_WIRE_MAX_FLOWS, "prepare: flows %u out of range 1..%u", w->flows,
        IOV_WIRE_MAX_FLOWS);
  CHECK(w->msg_size >= 1 && w->msg_size <= IOV_WIRE_MAX_SIZE, "prepare: msg_size out of range");
  CHECK(w->response_size <= IOV_WIRE_MAX_SIZE, "prepare: response_size out of range");
  CHECK(w->duration_ns > 0, "prepare: duration is 0");
  CHECK(w->sample_interval_ns > 0 && w->sample_interval_ns <= w->duration_ns,
        "prepare: sample interval out of range");
  CHECK(w->duration_ns / w->sample_interval_ns <= 10000000, "prepare: too many samples");
  CHECK(str_ok(w->bind_address) && str_ok(w->peer_address), "prepare: address too long");
  CHECK(!w->interface || strnlen(w->interface, 16) < 16, "prepare: interface name too long");
  CHECK(w->n_cpus <= IOV_WIRE_MAX_CPUS, "prepare: %zu CPUs to pin to (max %u)", w->n_cpus, IOV_WIRE_MAX_CPUS);
  for (size_t i = 0; i < w->n_cpus; i++)
    CHECK(w->cpus[i] < IOV_WIRE_MAX_CPUS, "prepare: CPU %u out of range", w->cpus[i]);
  CHECK(w->n_settings <= IOV_WIRE_MAX_SETTINGS, "prepare: %zu engine settings (max %u)", w->n_settings,
        IOV_WIRE_MAX_SETTINGS);
  for (size_t i = 0; i < w->n_settings; i++) {
    const Iovbench__EngineSetting *e = w->settings[i];
    CHECK(e && setting_key_ok(e->key), "prepare: engine setting %zu has no valid key", i);
    CHECK(e->value_case == IOVBENCH__ENGINE_SETTING__VALUE_U ||
              e->value_case == IOVBENCH__ENGINE_SETTING__VALUE_B ||
              (e->value_case == IOVBENCH__ENGINE_SETTING__VALUE_S && str_ok(e->s)),
          "prepare: engine setting '%s' has no value", e->key);
  }
  /* Empty passes: the agent answers that Prepare with why it refuses it. */
  CHECK(w->token.len == 0 || w->token.len == 16, "prepare: data-path token of %zu bytes (want 16)",
        w->token.len);
  CHECK(w->warmup_ns <= 3600 * 1000000000ULL, "prepare: warm-up longer than an hour");
  /* No NIC passes a billion packets a second on one flow: a larger rate
   * is no rate an honest coord asks for. */
  CHECK(w->rate_pps <= IOV_WIRE_MAX_PPS, "prepare: rate of %" PRIu64 " packets/s per flow (max %llu)",
        w->rate_pps, IOV_WIRE_MAX_PPS);
  CHECK(w->n_run_addresses <= IOV_WIRE_MAX_RUN_ADDRS, "prepare: %zu run addresses (max %u)",
        w->n_run_addresses, IOV_WIRE_MAX_RUN_ADDRS);
  for (size_t i = 0; i < w->n_run_addresses; i++)
    CHECK(w->run_addresses[i] && strnlen(w->run_addresses[i], 80) < 80 && str_ok(w->run_addresses[i]),
          "prepare: run address too long or not UTF-8");
  if (role == IOVBENCH__ROLE__ROLE_SENDER) {
    CHECK(w->peer_address && *w->peer_address, "prepare: sender without peer address");
    CHECK(w->n_peer_ports == w->flows, "prepare: %zu peer ports for %u flows", w->n_peer_ports, w->flows);
    for (size_t i = 0; i < w->n_peer_ports; i++)
      CHECK(w->peer_ports[i] >= 1 && w->peer_ports[i] <= 65535, "prepare: bad peer port");
  }
  return 0;
}

/* "0000:01:00.0"; a 5-digit domain at most. */
static bool pci_addr_ok(const char *s) {
  size_t n = s ? strnlen(s, 16) : 0;
  return n >= 12 && n <= 13;
}

static int check_nic(const Iovbench__PciNic *n, char *errbuf, size_t errlen) {
  CHECK(n && pci_addr_ok(n->pci_address), "welcome: NIC without a PCI address");
  CHECK(n->vendor_id <= 0xffff && n->device_id <= 0xffff && n->class_code <= 0xffffff,
        "welcome: NIC %s: ids out of range", n->pci_address);
  CHECK(str_ok(n->vendor_name) && str_ok(n->device_name) && str_ok(n->driver),
        "welcome: NIC %s: string too long", n->pci_address);
  CHECK(!n->physfn || !*n->physfn || pci_addr_ok(n->physfn), "welcome: NIC %s: bad physfn", n->pci_address);
  CHECK(n->numa_node >= -1 && n->numa_node <= 65535, "welcome: NIC %s: NUMA node out of range",
        n->pci_address);
  CHECK(n->iommu_group >= -1, "welcome: NIC %s: IOMMU group out of range", n->pci_address);
  CHECK(n->sriov_totalvfs >= -1 && n->sriov_totalvfs <= 65535 && n->sriov_numvfs >= -1 &&
            n->sriov_numvfs <= 65535,
        "welcome: NIC %s: VF counts out of range", n->pci_address);
  CHECK(n->n_netdevs <= IOV_WIRE_MAX_NETDEVS, "welcome: NIC %s: %zu netdevs (max %u)", n->pci_address,
        n->n_netdevs, IOV_WIRE_MAX_NETDEVS);
  for (size_t i = 0; i < n->n_netdevs; i++) {
    const Iovbench__NetDev *d = n->netdevs[i];
    CHECK(d && d->name && *d->name && strnlen(d->name, 16) < 16, "welcome: NIC %s: bad netdev name",
          n->pci_address);
    CHECK(str_ok(d->mac) && str_ok(d->operstate), "welcome: NIC %s: string too long", n->pci_address);
  }
  CHECK(n->n_vfs <= IOV_WIRE_MAX_VFS, "welcome: NIC %s: %zu VFs (max %u)", n->pci_address, n->n_vfs,
        IOV_WIRE_MAX_VFS);
  for (size_t i = 0; i < n->n_vfs; i++) {
    const Iovbench__PciVf *v = n->vfs[i];
    CHECK(v && pci_addr_ok(v->pci_address) && v->index <= 65535, "welcome: NIC %s: bad VF", n->pci_address);
    CHECK(str_ok(v->driver) && (!v->netdev || strnlen(v->netdev, 16) < 16) && v->iommu_group >= -1,
          "welcome: NIC %s: bad VF %u", n->pci_address, v->index);
  }
  CHECK(n->n_warnings <= IOV_WIRE_MAX_WARNINGS, "welcome: NIC %s: %zu warnings (max %u)", n->pci_address,
        n->n_warnings, IOV_WIRE_MAX_WARNINGS);
  for (size_t i = 0; i < n->n_warnings; i++)
    CHECK(str_ok(n->warnings[i]), "welcome: NIC %s: warning too long", n->pci_address);
  return 0;
}

static int validate(const iov_envelope *e, char *errbuf, size_t errlen) {
  CHECK(!e->route || !*e->route || iov_wire_name_ok(e->route), "bad route (guest name)");
  switch (e->body_case) {
  case IOVBENCH__ENVELOPE__BODY_HELLO:
    CHECK(str_ok(e->hello->identity) && str_ok(e->hello->run_id) && str_ok(e->hello->version),
          "hello: string too long");
    return 0;
  case IOVBENCH__ENVELOPE__BODY_WELCOME: {
    const Iovbench__Inventory *inv = e->welcome->inventory;
    CHECK(str_ok(e->welcome->identity) &&
              strnlen(e->welcome->identity ? e->welcome->identity : "", 256) < 256,
          "welcome: identity too long or not UTF-8");
    CHECK(data_addr_ok(e->welcome->data_address),
          "welcome: data address is not an IP literal (a host name or garbage: give --data an address)");
    CHECK(e->welcome->n_guests <= IOV_WIRE_MAX_GUESTS, "welcome: %zu guests (max %u)", e->welcome->n_guests,
          IOV_WIRE_MAX_GUESTS);
    for (size_t i = 0; i < e->welcome->n_guests; i++)
      CHECK(iov_wire_name_ok(e->welcome->guests[i]), "welcome: bad guest name");
    /* Parallel to the guests (or absent: an older host agent). */
    CHECK(e->welcome->n_guest_addresses == 0 || e->welcome->n_guest_addresses == e->welcome->n_guests,
          "welcome: %zu guest addresses for %zu guests", e->welcome->n_guest_addresses, e->welcome->n_guests);
    for (size_t i = 0; i < e->welcome->n_guest_addresses; i++)
      CHECK(data_addr_ok(e->welcome->guest_addresses[i]), "welcome: a guest address is not an IP literal");
    if (inv) {
      CHECK(inv->n_interfaces <= IOV_WIRE_MAX_INTERFACES, "welcome: too many interfaces");
      CHECK(str_ok(inv->hostname) && str_ok(inv->kernel) && str_ok(inv->cpu_model) &&
                str_ok(inv->agent_version),
            "welcome: string too long or not UTF-8");
      for (size_t i = 0; i < inv->n_interfaces; i++) {
        const Iovbench__Interface *it = inv->interfaces[i];
        CHECK(it && it->name && strnlen(it->name, 16) < 16 && str_ok(it->name),
              "welcome: bad interface name");
        CHECK(str_ok(it->mac) && (!it->mac || strnlen(it->mac, 64) < 64) && str_ok(it->driver),
              "welcome: interface %s: MAC or driver too long or not UTF-8", it->name);
        CHECK(it->n_addresses <= IOV_WIRE_MAX_IF_ADDRS, "welcome: interface %s: %zu addresses (max %u)",
              it->name, it->n_addresses, IOV_WIRE_MAX_IF_ADDRS);
        for (size_t k = 0; k < it->n_addresses; k++)
          CHECK(if_addr_ok(it->addresses[k]), "welcome: interface %s: an address is not ADDR/PREFIX",
                it->name);
      }
      CHECK(inv->n_workloads <= IOV_WIRE_MAX_WORKLOADS, "welcome: %zu workloads (max %u)", inv->n_workloads,
            IOV_WIRE_MAX_WORKLOADS);
      for (size_t i = 0; i < inv->n_workloads; i++)
        CHECK(inv->workloads[i] && strnlen(inv->workloads[i], 64) < 64 && str_ok(inv->workloads[i]),
              "welcome: bad workload name");
      CHECK(inv->n_nics <= IOV_WIRE_MAX_NICS, "welcome: %zu PCI NICs (max %u)", inv->n_nics,
            IOV_WIRE_MAX_NICS);
      for (size_t i = 0; i < inv->n_nics; i++) {
        int r = check_nic(inv->nics[i], errbuf, errlen);
        if (r < 0) return r;
      }
    }
    return 0;
  }
  case IOVBENCH__ENVELOPE__BODY_PREPARE:
    CHECK(e->prepare->role == IOVBENCH__ROLE__ROLE_SENDER ||
              e->prepare->role == IOVBENCH__ROLE__ROLE_RECEIVER,
          "prepare: bad role %d", (int)e->prepare->role);
    return check_workload(e->prepare->workload, e->prepare->role, errbuf, errlen);
  case IOVBENCH__ENVELOPE__BODY_READY:
    CHECK(e->ready->n_ports <= IOV_WIRE_MAX_FLOWS, "ready: too many ports");
    for (size_t i = 0; i < e->ready->n_ports; i++)
      CHECK(e->ready->ports[i] >= 1 && e->ready->ports[i] <= 65535, "ready: bad port");
    return 0;
  case IOVBENCH__ENVELOPE__BODY_START: CHECK(e->start->start_at_ns > 0, "start: no start instant"); return 0;
  case IOVBENCH__ENVELOPE__BODY_STOP: CHECK(str_ok(e->stop->reason), "stop: reason too long"); return 0;
  case IOVBENCH__ENVELOPE__BODY_SAMPLES: {
    const Iovbench__SampleBatch *b = e->samples;
    CHECK(b->n_flows <= IOV_WIRE_MAX_FLOWS, "samples: too many flows");
    CHECK(b->seq >= 1, "samples: seq 0");
    CHECK(b->t_end_ns >= b->t_start_ns, "samples: interval ends before it starts");
    /* Each flow and CPU at most once: they are keys of what coord stores.
     * Interrupt lines may repeat (two IRQs with one action name, as two
     * VFs both called eth1 in their namespaces have); coord keeps one. */
    uint8_t seen[(IOV_WIRE_MAX_CPUS + 1 + 7) / 8] = { 0 };
    for (size_t i = 0; i < b->n_flows; i++) {
      CHECK(b->flows[i] && b->flows[i]->flow < IOV_WIRE_MAX_FLOWS, "samples: bad flow");
      unsigned f = b->flows[i]->flow;
      CHECK(!(seen[f / 8] & (1u << f % 8)), "samples: flow %u given twice", f);
      seen[f / 8] |= (uint8_t)(1u << f % 8);
      int r = check_hist(b->flows[i]->latency, errbuf, errlen);
      if (r < 0) return r;
    }
    CHECK(b->n_cpus <= IOV_WIRE_MAX_CPUS + 1, "samples: too many CPUs");
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < b->n_cpus; i++) {
      CHECK(b->cpus[i] && b->cpus[i]->cpu >= -1 && b->cpus[i]->cpu < (int32_t)IOV_WIRE_MAX_CPUS,
            "samples: bad CPU");
      unsigned k = (unsigned)(b->cpus[i]->cpu + 1);
      CHECK(!(seen[k / 8] & (1u << k % 8)), "samples: CPU %d given twice", b->cpus[i]->cpu);
      seen[k / 8] |= (uint8_t)(1u << k % 8);
    }
    CHECK(b->n_irqs <= IOV_WIRE_MAX_IRQS, "samples: too many interrupt lines");
    for (size_t i = 0; i < b->n_irqs; i++)
      CHECK(b->irqs[i] && b->irqs[i]->name && strnlen(b->irqs[i]->name, 256) < 256 &&
                iov_utf8_valid(b->irqs[i]->name),
            "samples: bad interrupt line");
    return 0;
  }
  case IOVBENCH__ENVELOPE__BODY_RESULT: {
    const Iovbench__Result *res = e->result;
    CHECK(res->n_flows <= IOV_WIRE_MAX_FLOWS, "result: too many flows");
    uint8_t seen[IOV_WIRE_MAX_FLOWS / 8] = { 0 };
    for (size_t i = 0; i < res->n_flows; i++) {
      CHECK(res->flows[i] && res->flows[i]->flow < IOV_WIRE_MAX_FLOWS, "result: bad flow");
      unsigned f = res->flows[i]->flow;
      CHECK(!(seen[f / 8] & (1u << f % 8)), "result: flow %u given twice", f);
      seen[f / 8] |= (uint8_t)(1u << f % 8);
      CHECK(str_ok(res->flows[i]->error_text), "result: error text too long");
      int r = check_hist(res->flows[i]->latency, errbuf, errlen);
      if (r < 0) return r;
    }
    return 0;
  }
  case IOVBENCH__ENVELOPE__BODY_ERROR: CHECK(str_ok(e->error->message), "error: message too long"); return 0;
  case IOVBENCH__ENVELOPE__BODY_HEARTBEAT: return 0;
  case IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE: return 0;
  case IOVBENCH__ENVELOPE__BODY_VM_SETUP: {
    const Iovbench__VmSetup *v = e->vm_setup;
    CHECK(v->path && (strcmp(v->path, "sriov") == 0 || strcmp(v->path, "virtio") == 0),
          "vm setup: path must be sriov or virtio");
    CHECK(v->count >= 1 && v->count <= IOV_WIRE_MAX_GUESTS, "vm setup: %u VMs (1..%u)", v->count,
          IOV_WIRE_MAX_GUESTS);
    CHECK(v->vcpus <= 1024 && v->memory_mb <= (1u << 24), "vm setup: vcpus or memory out of range");
    CHECK(v->n_cpus <= IOV_WIRE_MAX_CPUS, "vm setup: too many CPUs to pin to");
    for (size_t i = 0; i < v->n_cpus; i++)
      CHECK(v->cpus[i] < IOV_WIRE_MAX_CPUS, "vm setup: CPU out of range");
    CHECK(!v->run_id || strnlen(v->run_id, 129) <= 128, "vm setup: run id too long");
    CHECK(v->vf_vlan <= 4094, "vm setup: VLAN %u out of range", v->vf_vlan);
    CHECK(v->vf_max_rate_mbps <= UINT32_MAX, "vm setup: VF rate out of range");
    CHECK(v->vf_spoofchk >= -1 && v->vf_spoofchk <= 1 && v->vf_trust >= -1 && v->vf_trust <= 1,
          "vm setup: bad spoof check or trust");
    return 0;
  }
  case IOVBENCH__ENVELOPE__BODY_VM_READY:
    CHECK(e->vm_ready->n_guests <= IOV_WIRE_MAX_GUESTS, "vm ready: too many guests");
    for (size_t i = 0; i < e->vm_ready->n_guests; i++)
      CHECK(iov_wire_name_ok(e->vm_ready->guests[i]), "vm ready: bad guest name");
    return 0;
  case IOVBENCH__ENVELOPE__BODY_VM_TEARDOWN: return 0;
  case IOVBENCH__ENVELOPE__BODY_GUESTS:
    CHECK(e->guests->n_names <= IOV_WIRE_MAX_GUESTS, "guests: %zu names (max %u)", e->guests->n_names,
          IOV_WIRE_MAX_GUESTS);
    for (size_t i = 0; i < e->guests->n_names; i++)
      CHECK(iov_wire_name_ok(e->guests->names[i]), "guests: bad guest name");
    CHECK(e->guests->n_addresses == 0 || e->guests->n_addresses == e->guests->n_names,
          "guests: %zu addresses for %zu names", e->guests->n_addresses, e->guests->n_names);
    for (size_t i = 0; i < e->guests->n_addresses; i++)
      CHECK(data_addr_ok(e->guests->addresses[i]), "guests: an address is not an IP literal");
    return 0;
  case IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY:
    CHECK(e->clock_reply->t3_ns >= e->clock_reply->t2_ns, "clock reply: sent before it was received");
    return 0;
  default: return fail(-ENOMSG, errbuf, errlen, "unknown message body %d", (int)e->body_case);
  }
}

/* Whether m or a message inside it kept an unknown field numbered 0.
 * protobuf-c takes one when its tag is an overlong varint (80 00) and
 * packs it back as the single byte 00, which it then refuses: what we
 * accepted could not be forwarded (the relay re-encodes) or stored as
 * sent.  No valid encoder writes field 0, so such a message is malformed. */
static bool has_unknown_field_0(const ProtobufCMessage *m) {
  if (!m) return false;
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0) return true;
  for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
    const char *at = (const char *)m + f->offset;
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
      ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)at;
      for (size_t k = 0; k < n; k++)
        if (has_unknown_field_0(v[k])) return true;
    } else if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
               *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id) {
      if (has_unknown_field_0(*(ProtobufCMessage *const *)at)) return true;
    }
  }
  return false;
}

int iov_wire_decode(const uint8_t *data, size_t len, iov_envelope **ret, struct iov_wire_stats *stats,
                    char *errbuf, size_t errlen) {
  iov_envelope *e;
  int r;

  if (stats) stats->received++;
  if (len > IOV_WIRE_MAX_MSG) {
    if (stats) stats->oversized++;
    return fail(-EMSGSIZE, errbuf, errlen, "message of %zu bytes exceeds the %u byte limit", len,
                IOV_WIRE_MAX_MSG);
  }
  e = iovbench__envelope__unpack(NULL, len, data);
  if (!e) {
    if (stats) stats->malformed++;
    return fail(-EBADMSG, errbuf, errlen, "not a valid envelope (%zu bytes)", len);
  }
  if (has_unknown_field_0(&e->base)) {
    if (stats) stats->malformed++;
    iov_wire_free(e);
    return fail(-EBADMSG, errbuf, errlen, "not a valid envelope (%zu bytes): a field numbered 0", len);
  }
  if (e->proto_version != IOV_PROTO_VERSION) {
    if (stats) stats->bad_version++;
    r = fail(-EPROTONOSUPPORT, errbuf, errlen, "protocol version %u, this build speaks %u", e->proto_version,
             IOV_PROTO_VERSION);
    iov_wire_free(e);
    return r;
  }
  r = validate(e, errbuf, errlen);
  if (r < 0) {
    if (stats) {
      if (r == -ENOMSG)
        stats->unknown++;
      else
        stats->malformed++;
    }
    iov_wire_free(e);
    return r;
  }
  *ret = e;
  return 0;
}

iov_envelope *iov_wire_free(iov_envelope *e) {
  if (e) iovbench__envelope__free_unpacked(e, NULL);
  return NULL;
}

int iov_wire_encode(iov_envelope *e, zframe_t **ret) {
  size_t len;
  zframe_t *f;

  e->proto_version = IOV_PROTO_VERSION;
  len = iovbench__envelope__get_packed_size(e);
  if (len > IOV_WIRE_MAX_MSG) return -EMSGSIZE;
  f = zframe_new(NULL, len);
  if (!f) return -ENOMEM;
  iovbench__envelope__pack(e, zframe_data(f));
  *ret = f;
  return 0;
}

int iov_wire_send(zsock_t *sock, zframe_t *routing_id, iov_envelope *e) {
  zframe_t *f = NULL;
  void *s = zsock_resolve(sock);
  int r = iov_wire_encode(e, &f);

  if (r < 0) return r;
  if (routing_id &&
      zmq_send(s, zframe_data(routing_id), zframe_size(routing_id), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    r = -errno;
    zframe_destroy(&f);
    return r;
  }
  if (zmq_send(s, zframe_data(f), zframe_size(f), ZMQ_DONTWAIT) < 0) r = -errno;
  zframe_destroy(&f);
  return r;
}

/* Receive one whole multipart message without blocking.  Frames past the
 * ones we expect are read and discarded so the socket stays in step. */
int iov_wire_recv(zsock_t *sock, zframe_t **ret_routing_id, iov_envelope **ret, struct iov_wire_stats *stats,
                  char *errbuf, size_t errlen) {
  return iov_wire_recv_peer(sock, ret_routing_id, ret, stats, NULL, errbuf, errlen);
}

/* A metadata property of a received frame, "" when it has none. */
static void msg_prop(zmq_msg_t *m, const char *name, char *out, size_t len) {
  const char *v = zmq_msg_gets(m, name);
  snprintf(out, len, "%s", v ? v : "");
}

int iov_wire_recv_peer(zsock_t *sock, zframe_t **ret_routing_id, iov_envelope **ret,
                       struct iov_wire_stats *stats, struct iov_wire_peer *peer, char *errbuf,
                       size_t errlen) {
  void *s = zsock_resolve(sock);
  zmq_msg_t parts[2];
  int n = 0, more = 0, r;
  size_t extra = 0;
  const int want = ret_routing_id ? 2 : 1;

  if (ret_routing_id) *ret_routing_id = NULL;

  do {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
      r = -errno;
      zmq_msg_close(&m);
      for (int i = 0; i < n && i < 2; i++) zmq_msg_close(&parts[i]);
      return r;
    }
    more = zmq_msg_more(&m);
    if (n < 2)
      parts[n] = m;
    else {
      zmq_msg_close(&m);
      extra++;
    }
    n++;
  } while (more);

  if (n != want) {
    if (stats) {
      stats->received++;
      stats->bad_framing++;
    }
    r = fail(-EBADMSG, errbuf, errlen, "message with %d frames, expected %d", n, want);
    for (int i = 0; i < n && i < 2; i++) zmq_msg_close(&parts[i]);
    (void)extra;
    return r;
  }
  zmq_msg_t *body = &parts[want - 1];
  if (peer) {
    msg_prop(body, "User-Id", peer->user_id, sizeof(peer->user_id));
    msg_prop(body, "Peer-Address", peer->address, sizeof(peer->address));
  }
  r = iov_wire_decode(zmq_msg_data(body), zmq_msg_size(body), ret, stats, errbuf, errlen);
  if (ret_routing_id) {
    /* Also on a decode failure, so the caller can answer the sender. */
    *ret_routing_id = zframe_new(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]));
    if (!*ret_routing_id && r == 0) {
      *ret = iov_wire_free(*ret);
      r = -ENOMEM;
    }
  }
  for (int i = 0; i < n && i < 2; i++) zmq_msg_close(&parts[i]);
  return r;
}

const char *iov_wire_body_name(const iov_envelope *e) {
  switch (e->body_case) {
  case IOVBENCH__ENVELOPE__BODY_HELLO: return "hello";
  case IOVBENCH__ENVELOPE__BODY_WELCOME: return "welcome";
  case IOVBENCH__ENVELOPE__BODY_PREPARE: return "prepare";
  case IOVBENCH__ENVELOPE__BODY_READY: return "ready";
  case IOVBENCH__ENVELOPE__BODY_START: return "start";
  case IOVBENCH__ENVELOPE__BODY_STOP: return "stop";
  case IOVBENCH__ENVELOPE__BODY_SAMPLES: return "samples";
  case IOVBENCH__ENVELOPE__BODY_RESULT: return "result";
  case IOVBENCH__ENVELOPE__BODY_ERROR: return "error";
  case IOVBENCH__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
  case IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE: return "clock_probe";
  case IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY: return "clock_reply";
  case IOVBENCH__ENVELOPE__BODY_GUESTS: return "guests";
  case IOVBENCH__ENVELOPE__BODY_VM_SETUP: return "vm_setup";
  case IOVBENCH__ENVELOPE__BODY_VM_READY: return "vm_ready";
  case IOVBENCH__ENVELOPE__BODY_VM_TEARDOWN: return "vm_teardown";
  default: return "unknown";
  }
}

int iov_wire_hist_to_pb(const struct iov_hist *h, Iovbench__Histogram *ret) {
  size_t n = 0, k = 0;

  iovbench__histogram__init(ret);
  for (unsigned i = 0; i < IOV_HIST_BUCKETS; i++) n += h->buckets[i] != 0;
  if (n) {
    ret->index = malloc(n * sizeof(*ret->index));
    ret->count = malloc(n * sizeof(*ret->count));
    if (!ret->index || !ret->count) {
      iov_wire_hist_pb_done(ret);
      return -ENOMEM;
    }
  }
  for (unsigned i = 0; i < IOV_HIST_BUCKETS && k < n; i++)
    if (h->buckets[i]) {
      ret->index[k] = i;
      ret->count[k] = h->buckets[i];
      k++;
    }
  ret->n_index = ret->n_count = n;
  ret->min_ns = h->count ? h->min : 0;
  ret->max_ns = h->max;
  ret->sum_ns = h->sum;
  ret->overflow = h->overflow;
  return 0;
}

void iov_wire_hist_pb_done(Iovbench__Histogram *pb) {
  free(pb->index);
  free(pb->count);
  pb->index = NULL;
  pb->count = NULL;
  pb->n_index = pb->n_count = 0;
}

int iov_wire_hist_from_pb(const Iovbench__Histogram *pb, struct iov_hist *ret) {
  int r = check_hist(pb, NULL, 0);
  if (r < 0) return r;
  iov_hist_init(ret);
  for (size_t i = 0; i < pb->n_index; i++) {
    r = iov_hist_set_bucket(ret, pb->index[i], pb->count[i]);
    if (r < 0) return r;
  }
  if (ret->count) {
    /* Exact extremes from the sender, kept within the buckets' bounds. */
    if (pb->min_ns >= iov_hist_bucket_low(pb->index[0]) && pb->min_ns <= iov_hist_bucket_high(pb->index[0]))
      ret->min = pb->min_ns;
    size_t last = pb->n_index - 1;
    if (pb->max_ns >= iov_hist_bucket_low(pb->index[last]) &&
        pb->max_ns <= iov_hist_bucket_high(pb->index[last]))
      ret->max = pb->max_ns;
  }
  ret->sum = pb->sum_ns;
  /* Overflowed values sit in the last bucket; never claim more. */
  ret->overflow =
      pb->overflow <= ret->buckets[IOV_HIST_BUCKETS - 1] ? pb->overflow : ret->buckets[IOV_HIST_BUCKETS - 1];
  return 0;
}

int iov_wire_hist_summary(const Iovbench__Histogram *pb, struct iov_hist_summary *ret) {
  int r = check_hist(pb, NULL, 0);
  size_t first = SIZE_MAX, last = 0;
  if (r < 0) return r;
  *ret = (struct iov_hist_summary){ .min = UINT64_MAX };
  for (size_t i = 0; i < pb->n_index; i++) {
    if (!pb->count[i]) continue;
    ret->count = ret->count + pb->count[i] < ret->count ? UINT64_MAX : ret->count + pb->count[i];
    if (first == SIZE_MAX) first = i;
    last = i;
  }
  if (ret->count) {
    /* As set_bucket() widens them, then the sender's exact extremes when
     * they fall inside those buckets. */
    uint32_t lo = pb->index[first], hi = pb->index[last];
    ret->min = iov_hist_bucket_low(lo);
    ret->max = iov_hist_bucket_top(hi);
    if (pb->min_ns >= iov_hist_bucket_low(lo) && pb->min_ns <= iov_hist_bucket_high(lo))
      ret->min = pb->min_ns;
    if (pb->max_ns >= iov_hist_bucket_low(hi) && pb->max_ns <= iov_hist_bucket_high(hi))
      ret->max = pb->max_ns;
  }
  ret->sum = pb->sum_ns;
  uint64_t in_last =
      pb->n_index && pb->index[pb->n_index - 1] == IOV_HIST_BUCKETS - 1 ? pb->count[pb->n_index - 1] : 0;
  ret->overflow = pb->overflow <= in_last ? pb->overflow : in_last;
  return 0;
}

void iov_wire_sock_setup(zsock_t *sock) {
  zsock_set_linger(sock, 0);
  zsock_set_maxmsgsize(sock, (int)(IOV_WIRE_MAX_MSG * 2));
  zsock_set_sndhwm(sock, 10000);
  zsock_set_rcvhwm(sock, 10000);
}

void iov_wire_sock_harden(zsock_t *sock) {
  zsock_set_handshake_ivl(sock, IOV_WIRE_HANDSHAKE_MS);
  zsock_set_heartbeat_ivl(sock, IOV_WIRE_HEARTBEAT_MS);
  zsock_set_heartbeat_timeout(sock, IOV_WIRE_HEARTBEAT_TIMEOUT_MS);
  zsock_set_heartbeat_ttl(sock, IOV_WIRE_HEARTBEAT_TIMEOUT_MS);
}

static int addr_bin(const char *text, uint8_t out[16]) {
  char buf[INET6_ADDRSTRLEN + 1];
  size_t n = strcspn(text, "/%");
  if (n >= sizeof(buf)) return -EINVAL;
  memcpy(buf, text, n);
  buf[n] = 0;
  memset(out, 0, 16);
  if (inet_pton(AF_INET, buf, out) == 1) return AF_INET;
  if (inet_pton(AF_INET6, buf, out) == 1) return AF_INET6;
  return -EINVAL;
}

bool iov_wire_addr_listed(const char *addr, char *const *list, size_t n) {
  uint8_t a[16], b[16];
  int fa = addr ? addr_bin(addr, a) : -EINVAL;
  if (fa < 0) return false;
  for (size_t i = 0; i < n; i++)
    if (list[i] && addr_bin(list[i], b) == fa && memcmp(a, b, 16) == 0) return true;
  return false;
}

int iov_wire_engine_settings_to_pb(const struct iov_plan_setting *s, size_t n, Iovbench__Workload *w) {
  w->settings = NULL;
  w->n_settings = 0;
  if (n == 0) return 0;
  /* One block: the pointers, then the messages. */
  Iovbench__EngineSetting **ptrs = calloc(1, n * (sizeof(*ptrs) + sizeof(**ptrs)));
  if (!ptrs) return -ENOMEM;
  Iovbench__EngineSetting *msgs = (Iovbench__EngineSetting *)(void *)(ptrs + n);
  for (size_t i = 0; i < n; i++) {
    Iovbench__EngineSetting *e = &msgs[i];
    iovbench__engine_setting__init(e);
    e->key = (char *)s[i].opt->name;
    if (s[i].opt->type == IOV_OPT_BOOL) {
      e->value_case = IOVBENCH__ENGINE_SETTING__VALUE_B;
      e->b = s[i].value != 0;
    } else {
      e->value_case = IOVBENCH__ENGINE_SETTING__VALUE_U;
      e->u = s[i].value;
    }
    ptrs[i] = e;
  }
  w->settings = ptrs;
  w->n_settings = n;
  return 0;
}

void iov_wire_engine_settings_done(Iovbench__Workload *w) {
  if (!w) return;
  free(w->settings);
  w->settings = NULL;
  w->n_settings = 0;
}

int iov_wire_engine_settings(const struct iov_engine_opt *opts, size_t struct_size,
                             const Iovbench__Workload *w, void *ret, char *err, size_t errlen) {
  bool seen[IOV_WIRE_MAX_SETTINGS] = { false };
  size_t n_opts = 0;

  memset(ret, 0, struct_size);
  for (const struct iov_engine_opt *o = opts; o && o->name; o++, n_opts++) {
    if (n_opts >= IOV_WIRE_MAX_SETTINGS || o->offset + sizeof(uint64_t) > struct_size)
      return iov_errf(-EINVAL, err, errlen, "key '%s': the engine's table does not fit its option struct",
                      o->name);
    memcpy((char *)ret + o->offset, &o->def, sizeof(uint64_t));
  }
  for (size_t i = 0; w && i < w->n_settings; i++) {
    const Iovbench__EngineSetting *e = w->settings[i];
    const char *key = e && e->key ? e->key : "";
    const struct iov_engine_opt *o = iov_engine_opt_find(opts, key);
    char why[160];
    uint64_t v;

    if (!o) return iov_errf(-EINVAL, err, errlen, "key '%.31s': this engine has no such setting", key);
    size_t k = (size_t)(o - opts);
    if (seen[k]) return iov_errf(-EINVAL, err, errlen, "key '%s': sent twice", key);
    seen[k] = true;
    if (o->type == IOV_OPT_BOOL && e->value_case == IOVBENCH__ENGINE_SETTING__VALUE_B)
      v = e->b;
    else if (o->type != IOV_OPT_BOOL && e->value_case == IOVBENCH__ENGINE_SETTING__VALUE_U)
      v = e->u;
    else
      return iov_errf(-EINVAL, err, errlen, "key '%s': a %s value where the engine takes a %s", key,
                      e->value_case == IOVBENCH__ENGINE_SETTING__VALUE_B   ? "yes/no"
                      : e->value_case == IOVBENCH__ENGINE_SETTING__VALUE_S ? "text"
                                                                           : "missing",
                      o->type == IOV_OPT_BOOL ? "yes/no" : "number");
    if (iov_engine_opt_check(o, v, why, sizeof(why)) < 0)
      return iov_errf(-EINVAL, err, errlen, "key '%s': %s", key, why);
    memcpy((char *)ret + o->offset, &v, sizeof(v));
  }
  return 0;
}
