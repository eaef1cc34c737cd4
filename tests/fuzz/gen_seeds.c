/* Seeds for the envelope fuzzers, made with the real protobuf-c encoder
 * of this build (proto/iovbench.proto), so that they stay valid when the
 * protocol changes:
 *
 *   fuzz_gen_seeds CORPUS_DIR
 *
 * writes CORPUS_DIR/wire/seed-* (one frame of every message type, and a
 * few that must be refused), CORPUS_DIR/agent/seed-* and
 * CORPUS_DIR/coord/seed-* (conversations in the record format of fuzz.h:
 * [tag][length, 2 bytes LE][frame]).  Existing files of those names are
 * overwritten; nothing else is touched. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "hist.h"
#include "macro.h"
#include "wire.h"

static const char *outdir;
static int failures;

/* ---- output ---------------------------------------------------------- */

struct buf {
  uint8_t data[1 << 16];
  size_t len;
};

static void write_out(const char *target, const char *name, const void *data, size_t len) {
  char path[4096];
  FILE *f;
  snprintf(path, sizeof(path), "%s/%s", outdir, target);
  (void)mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/%s/seed-%s", outdir, target, name);
  f = fopen(path, "we");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "gen_seeds: cannot write %s: %s\n", path, strerror(errno));
    failures++;
  }
}

/* Pack e as iov_wire_encode() does (version filled in) unless raw. */
static size_t pack(iov_envelope *e, uint8_t *out, size_t cap, bool raw) {
  size_t len;
  if (!raw) e->proto_version = IOV_PROTO_VERSION;
  len = iovbench__envelope__get_packed_size(e);
  if (len > cap) {
    fprintf(stderr, "gen_seeds: %s of %zu bytes does not fit\n", iov_wire_body_name(e), len);
    failures++;
    return 0;
  }
  return iovbench__envelope__pack(e, out);
}

static void frame(const char *name, iov_envelope *e) {
  static uint8_t out[1 << 16];
  size_t len = pack(e, out, sizeof(out), false);
  write_out("wire", name, out, len);
}

/* One record of a conversation. */
static void rec(struct buf *b, uint8_t tag, iov_envelope *e) {
  size_t len = e ? pack(e, b->data + b->len + 3, sizeof(b->data) - b->len - 3, false) : 0;
  b->data[b->len] = tag;
  b->data[b->len + 1] = (uint8_t)(len & 0xff);
  b->data[b->len + 2] = (uint8_t)(len >> 8);
  b->len += 3 + len;
}

/* An action record of fuzz_agent (tag 3): arg 1 = wait 5 ms first. */
static void act(struct buf *b, uint8_t arg) {
  b->data[b->len++] = 3;
  b->data[b->len++] = 1;
  b->data[b->len++] = 0;
  b->data[b->len++] = arg;
}

/* ---- messages -------------------------------------------------------- */

static uint64_t msg_id;

static iov_envelope env(Iovbench__Envelope__BodyCase body, void *msg, const char *route) {
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.msg_id = ++msg_id;
  e.session_id = 77;
  e.route = (char *)(route ? route : "");
  e.body_case = body;
  /* Every body member of the oneof shares one place. */
  e.hello = msg;
  return e;
}

static uint64_t hello_heartbeat_ns = 100 * IOV_NSEC_PER_MSEC;

static iov_envelope hello(const char *route) {
  static Iovbench__Hello h = IOVBENCH__HELLO__INIT;
  h.kind = IOVBENCH__PEER_KIND__PEER_COORD;
  h.heartbeat_ns = hello_heartbeat_ns;
  h.identity = "a";
  h.run_id = "2024-01-01T00:00:00-fuzz";
  h.version = "0.1.0";
  return env(IOVBENCH__ENVELOPE__BODY_HELLO, &h, route);
}

static iov_envelope welcome(const char *identity, const char *route, bool guest) {
  static Iovbench__NetDev nd = IOVBENCH__NET_DEV__INIT;
  static Iovbench__NetDev *nds[] = { &nd };
  static Iovbench__PciVf vf0 = IOVBENCH__PCI_VF__INIT, vf1 = IOVBENCH__PCI_VF__INIT;
  static Iovbench__PciVf *vfs[] = { &vf0, &vf1 };
  static char *warnings[] = { "sriov_numvfs: unreadable" };
  static Iovbench__PciNic nic = IOVBENCH__PCI_NIC__INIT;
  static Iovbench__PciNic *nics[] = { &nic };
  static char *addrs[] = { "198.18.0.1/24", "fe80::1/64" };
  static char *addrs_lo[] = { "127.0.0.1/8" };
  static Iovbench__Interface eth = IOVBENCH__INTERFACE__INIT, lo = IOVBENCH__INTERFACE__INIT;
  static Iovbench__Interface *ifs[] = { &lo, &eth };
  static char *wl[] = { "tcp_stream", "tcp_rr", "udp_stream", "udp_rr" };
  static Iovbench__Inventory inv = IOVBENCH__INVENTORY__INIT;
  static char *guests[] = { "vm-1", "vm-2" };
  static char *guest_addrs[] = { "198.18.1.2", "" }; /* vouched by the host: one, none */
  static Iovbench__Welcome w = IOVBENCH__WELCOME__INIT;

  nd.name = "eth1";
  nd.mac = "52:54:00:12:34:56";
  nd.speed_mbps = 1000;
  nd.ifindex = 3;
  nd.operstate = "up";
  vf0.index = 0;
  vf0.pci_address = "0000:11:10.0";
  vf0.driver = "igbvf";
  vf0.netdev = "eth2";
  vf0.iommu_group = 8;
  vf1.index = 1;
  vf1.pci_address = "0000:11:10.2";
  vf1.driver = "vfio-pci";
  vf1.iommu_group = -1;
  nic.pci_address = "0000:11:00.0";
  nic.vendor_id = 0x8086;
  nic.device_id = 0x10c9;
  nic.class_code = 0x020000;
  nic.vendor_name = "Intel Corporation";
  nic.device_name = "82576 Gigabit Network Connection";
  nic.driver = "igb";
  nic.netdevs = nds;
  nic.n_netdevs = 1;
  nic.numa_node = -1;
  nic.iommu_group = 7;
  nic.sriov = true;
  nic.sriov_totalvfs = 7;
  nic.sriov_numvfs = 2;
  nic.vfs = vfs;
  nic.n_vfs = 2;
  nic.warnings = warnings;
  nic.n_warnings = 1;
  lo.name = "lo";
  lo.addresses = addrs_lo;
  lo.n_addresses = 1;
  lo.loopback = true;
  lo.up = true;
  lo.mtu = 65536;
  eth.name = "eth0";
  eth.mac = "52:54:00:00:00:01";
  eth.addresses = addrs;
  eth.n_addresses = 2;
  eth.mtu = 1500;
  eth.up = true;
  eth.driver = "virtio_net";
  eth.speed_mbps = 10000;
  inv.hostname = "fuzzhost";
  inv.kernel = "6.1.0-26-amd64";
  inv.cpus_online = 2;
  inv.cpu_model = "QEMU Virtual CPU";
  inv.mem_total_kb = 2048000;
  inv.interfaces = ifs;
  inv.n_interfaces = 2;
  inv.workloads = wl;
  inv.n_workloads = 4;
  inv.agent_version = "0.1.0";
  inv.nics = guest ? NULL : nics;
  inv.n_nics = guest ? 0 : 1;
  w.kind = guest ? IOVBENCH__PEER_KIND__PEER_GUEST_AGENT : IOVBENCH__PEER_KIND__PEER_HOST_AGENT;
  w.identity = (char *)identity;
  w.inventory = &inv;
  w.guests = guest ? NULL : guests;
  w.n_guests = guest ? 0 : 2;
  w.guest_addresses = guest ? NULL : guest_addrs;
  w.n_guest_addresses = guest ? 0 : 2;
  w.data_address = guest ? "198.18.1.2" : "";
  return env(IOVBENCH__ENVELOPE__BODY_WELCOME, &w, route);
}

static iov_envelope guests_msg(void) {
  static char *names[] = { "vm-1", "vm-2" };
  static char *addrs[] = { "198.18.1.2", "" };
  static Iovbench__Guests g = IOVBENCH__GUESTS__INIT;
  g.names = names;
  g.n_names = 2;
  g.addresses = addrs;
  g.n_addresses = 2;
  return env(IOVBENCH__ENVELOPE__BODY_GUESTS, &g, NULL);
}

static iov_envelope prepare(const char *workload, bool sender, uint32_t flows, const char *route) {
  static uint32_t ports[8] = { 40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007 };
  static uint32_t cpus[] = { 0, 1 };
  static Iovbench__Workload w;
  static Iovbench__Prepare p;
  iovbench__workload__init(&w);
  iovbench__prepare__init(&p);
  w.name = (char *)workload;
  w.flows = flows;
  w.msg_size = 1024;
  w.response_size = 64;
  w.duration_ns = 20 * IOV_NSEC_PER_MSEC;
  w.sample_interval_ns = 5 * IOV_NSEC_PER_MSEC;
  w.bind_address = "127.0.0.1";
  /* Engine settings as coord sends them: the engine's own keys only. */
  static Iovbench__EngineSetting burst = IOVBENCH__ENGINE_SETTING__INIT,
                                 timeout = IOVBENCH__ENGINE_SETTING__INIT;
  static Iovbench__EngineSetting *settings[] = { &burst, &timeout };
  burst.key = "burst";
  burst.value_case = IOVBENCH__ENGINE_SETTING__VALUE_U;
  burst.u = 2;
  timeout.key = "rr_timeout";
  timeout.value_case = IOVBENCH__ENGINE_SETTING__VALUE_U;
  timeout.u = 10 * IOV_NSEC_PER_MSEC;
  w.settings = settings;
  w.n_settings = strcmp(workload, "udp_rr") == 0 ? 2 : strcmp(workload, "tcp_rr") == 0 ? 1 : 0;
  w.rate_bps = 1000000;
  /* A search's trial offers packets (issue 16). */
  if (strcmp(workload, "udp_stream") == 0) w.rate_pps = 1000;
  w.nodelay = true;
  w.cpus = cpus;
  w.n_cpus = 2;
  if (sender) {
    w.peer_address = "127.0.0.1";
    static char *run_addrs[] = { "127.0.0.1", "198.18.0.2" };
    w.run_addresses = run_addrs;
    w.n_run_addresses = 2;
    w.peer_ports = ports;
    w.n_peer_ports = flows;
  }
  p.point_id = 1;
  p.role = sender ? IOVBENCH__ROLE__ROLE_SENDER : IOVBENCH__ROLE__ROLE_RECEIVER;
  p.workload = &w;
  return env(IOVBENCH__ENVELOPE__BODY_PREPARE, &p, route);
}

static iov_envelope ready(void) {
  static uint32_t ports[] = { 40000, 40001, 40002, 40003 };
  static Iovbench__Ready r = IOVBENCH__READY__INIT;
  r.point_id = 1;
  r.ports = ports;
  r.n_ports = 4;
  return env(IOVBENCH__ENVELOPE__BODY_READY, &r, NULL);
}

static iov_envelope start(const char *route) {
  static Iovbench__Start s = IOVBENCH__START__INIT;
  s.point_id = 1;
  s.start_at_ns = 1700000000000000000ULL;
  return env(IOVBENCH__ENVELOPE__BODY_START, &s, route);
}

static iov_envelope stop(const char *route) {
  static Iovbench__Stop s = IOVBENCH__STOP__INIT;
  s.point_id = 1;
  s.reason = "run over";
  return env(IOVBENCH__ENVELOPE__BODY_STOP, &s, route);
}

static Iovbench__Histogram *latency(void) {
  static struct iov_hist h;
  static Iovbench__Histogram pb;
  static bool done;
  if (!done) {
    iov_hist_init(&h);
    for (uint64_t v = 1000; v < 5000000; v = v * 3 + 7) iov_hist_record(&h, v);
    iov_hist_record(&h, 1ULL << 45); /* overflow */
    if (iov_wire_hist_to_pb(&h, &pb) < 0) failures++;
    done = true;
  }
  return &pb;
}

static iov_envelope samples(uint32_t seq, bool host_cpu, const char *route) {
  static Iovbench__FlowSample fs[4];
  static Iovbench__FlowSample *fsp[4];
  static Iovbench__CpuSample cs[3];
  static Iovbench__CpuSample *csp[3];
  static Iovbench__IrqSample irq = IOVBENCH__IRQ_SAMPLE__INIT;
  static Iovbench__IrqSample *irqp[] = { &irq };
  static Iovbench__VmHostCpu hc = IOVBENCH__VM_HOST_CPU__INIT;
  static Iovbench__SampleBatch b;
  iovbench__sample_batch__init(&b);
  for (unsigned i = 0; i < 4; i++) {
    iovbench__flow_sample__init(&fs[i]);
    fs[i].flow = i;
    fs[i].bytes = 125000000ULL * seq + i;
    fs[i].messages = 1000 * seq;
    fs[i].transactions = 900 * seq;
    fs[i].latency = i < 2 ? latency() : NULL;
    fs[i].lost = i;
    fs[i].jitter_ns = 1200;
    fs[i].retransmits = 3;
    fs[i].rtt_us = 80;
    fs[i].snd_cwnd = 10;
    fs[i].segs_out = 900 * seq;
    fs[i].segs_in = 450 * seq;
    fsp[i] = &fs[i];
  }
  for (int i = 0; i < 3; i++) {
    iovbench__cpu_sample__init(&cs[i]);
    cs[i].cpu = i - 1;
    cs[i].user_ns = 1000000;
    cs[i].system_ns = 2000000;
    cs[i].idle_ns = 97000000;
    csp[i] = &cs[i];
  }
  irq.name = "eth0-TxRx-0";
  irq.count = 1234;
  hc.interval_ns = 100000000;
  hc.vcpu_ns = 50000000;
  hc.total_ns = 60000000;
  hc.kvm_exits = 4242;
  hc.kvm_exits_known = true;
  b.point_id = 1;
  b.seq = seq;
  b.t_start_ns = 1700000000000000000ULL + (seq - 1) * 100000000ULL;
  b.t_end_ns = b.t_start_ns + 100000000ULL;
  b.flows = fsp;
  b.n_flows = 4;
  b.cpus = csp;
  b.n_cpus = 3;
  b.irqs = irqp;
  b.n_irqs = 1;
  b.host_cpu = host_cpu ? &hc : NULL;
  return env(IOVBENCH__ENVELOPE__BODY_SAMPLES, &b, route);
}

static iov_envelope result(uint32_t n_samples, bool error, const char *route) {
  static Iovbench__FlowResult fr[4];
  static Iovbench__FlowResult *frp[4];
  static Iovbench__Result r;
  iovbench__result__init(&r);
  for (unsigned i = 0; i < 4; i++) {
    iovbench__flow_result__init(&fr[i]);
    fr[i].flow = i;
    fr[i].bytes = 1250000000ULL;
    fr[i].messages = 10000;
    fr[i].transactions = 9000;
    fr[i].t_start_ns = 1700000000000000000ULL;
    fr[i].t_end_ns = 1700000001000000000ULL;
    fr[i].latency = i < 2 ? latency() : NULL;
    fr[i].error = error && i == 3 ? -ECONNRESET : 0;
    fr[i].error_text = error && i == 3 ? "Connection reset by peer" : "";
    fr[i].complete = !(error && i == 3);
    fr[i].segs_out = 9000;
    fr[i].segs_in = 4500;
    frp[i] = &fr[i];
  }
  r.point_id = 1;
  r.role = IOVBENCH__ROLE__ROLE_SENDER;
  r.samples = n_samples;
  r.flows = frp;
  r.n_flows = 4;
  r.window_start_ns = 1700000000000000000ULL;
  r.window_end_ns = 1700000001000000000ULL;
  r.started_ns = 1700000000000000100ULL;
  return env(IOVBENCH__ENVELOPE__BODY_RESULT, &r, route);
}

static iov_envelope error_msg(const char *route) {
  static Iovbench__Error e = IOVBENCH__ERROR__INIT;
  e.code = IOVBENCH__ERROR_CODE__ERR_WORKLOAD;
  e.point_id = 1;
  e.message = "agent 'h': tcp_stream receiver cannot listen on 198.18.0.1: Cannot assign requested address";
  return env(IOVBENCH__ENVELOPE__BODY_ERROR, &e, route);
}

static iov_envelope heartbeat(const char *route) {
  static Iovbench__Heartbeat hb = IOVBENCH__HEARTBEAT__INIT;
  hb.sent_at_ns = 1700000000000000000ULL;
  return env(IOVBENCH__ENVELOPE__BODY_HEARTBEAT, &hb, route);
}

static iov_envelope clock_probe(const char *route) {
  static Iovbench__ClockProbe p = IOVBENCH__CLOCK_PROBE__INIT;
  p.t1_ns = 1700000000000000000ULL;
  return env(IOVBENCH__ENVELOPE__BODY_CLOCK_PROBE, &p, route);
}

static iov_envelope clock_reply(uint64_t skew) {
  static Iovbench__ClockReply c = IOVBENCH__CLOCK_REPLY__INIT;
  c.t1_ns = 1700000000000000000ULL;
  c.t2_ns = c.t1_ns + 50000 + skew;
  c.t3_ns = c.t2_ns + 2000;
  return env(IOVBENCH__ENVELOPE__BODY_CLOCK_REPLY, &c, NULL);
}

static iov_envelope vm_setup(void) {
  static uint32_t cpus[] = { 2, 3 };
  static Iovbench__VmSetup v = IOVBENCH__VM_SETUP__INIT;
  v.point_id = 1;
  v.path = "sriov";
  v.count = 2;
  v.vcpus = 1;
  v.memory_mb = 512;
  v.cpus = cpus;
  v.n_cpus = 2;
  v.reuse = true;
  v.run_id = "2024-01-01T00:00:00-fuzz";
  v.vf_vlan = 100;
  v.vf_max_rate_mbps = 1000;
  v.vf_spoofchk = 1;
  v.vf_trust = -1;
  return env(IOVBENCH__ENVELOPE__BODY_VM_SETUP, &v, NULL);
}

static iov_envelope vm_ready(void) {
  static char *names[] = { "vm-1", "vm-2" };
  static Iovbench__VmReady v = IOVBENCH__VM_READY__INIT;
  v.point_id = 1;
  v.guests = names;
  v.n_guests = 2;
  return env(IOVBENCH__ENVELOPE__BODY_VM_READY, &v, NULL);
}

static iov_envelope vm_teardown(void) {
  static Iovbench__VmTeardown v = IOVBENCH__VM_TEARDOWN__INIT;
  v.point_id = 1;
  v.keep = true;
  return env(IOVBENCH__ENVELOPE__BODY_VM_TEARDOWN, &v, NULL);
}

/* ---- corpora --------------------------------------------------------- */

static void wire_seeds(void) {
  iov_envelope e;
  uint8_t out[1 << 16];
  size_t len;

  frame("hello", (e = hello(NULL), &e));
  frame("welcome-host", (e = welcome("fuzzhost", NULL, false), &e));
  frame("welcome-guest", (e = welcome("vm-1", "vm-1", true), &e));
  frame("guests", (e = guests_msg(), &e));
  frame("prepare-sender", (e = prepare("tcp_rr", true, 4, NULL), &e));
  frame("prepare-receiver", (e = prepare("udp_stream", false, 2, NULL), &e));
  frame("ready", (e = ready(), &e));
  frame("start", (e = start(NULL), &e));
  frame("stop", (e = stop(NULL), &e));
  frame("samples", (e = samples(1, true, "vm-1"), &e));
  frame("result", (e = result(10, true, NULL), &e));
  frame("error", (e = error_msg(NULL), &e));
  frame("heartbeat", (e = heartbeat(NULL), &e));
  frame("clock-probe", (e = clock_probe(NULL), &e));
  frame("clock-reply", (e = clock_reply(0), &e));
  frame("vm-setup", (e = vm_setup(), &e));
  frame("vm-ready", (e = vm_ready(), &e));
  frame("vm-teardown", (e = vm_teardown(), &e));
  /* Refused: another protocol version, no body, a bad route. */
  e = heartbeat(NULL);
  e.proto_version = IOV_PROTO_VERSION + 1;
  len = pack(&e, out, sizeof(out), true);
  write_out("wire", "bad-version", out, len);
  e = heartbeat(NULL);
  e.body_case = IOVBENCH__ENVELOPE__BODY__NOT_SET;
  len = pack(&e, out, sizeof(out), false);
  write_out("wire", "no-body", out, len);
  e = heartbeat("../etc");
  len = pack(&e, out, sizeof(out), false);
  write_out("wire", "bad-route", out, len);
}

/* fuzz_agent: tag 0 coord -> host agent, 1 vm -> relay, 2 host -> guest agent, 3 action. */
static void agent_seeds(void) {
  static struct buf b;
  iov_envelope e;

  b.len = 0;
  rec(&b, 0, (e = hello(NULL), &e));
  rec(&b, 0, (e = heartbeat(NULL), &e));
  rec(&b, 0, (e = clock_probe(NULL), &e));
  rec(&b, 0, (e = vm_setup(), &e));
  rec(&b, 0, (e = vm_teardown(), &e));
  rec(&b, 0, (e = ready(), &e));
  rec(&b, 0, (e = stop(NULL), &e));
  write_out("agent", "host-control", b.data, b.len);

  b.len = 0;
  rec(&b, 0, (e = prepare("tcp_stream", false, 2, NULL), &e));
  rec(&b, 0, (e = start(NULL), &e));
  rec(&b, 0, (e = hello("vm-9"), &e));
  write_out("agent", "before-hello", b.data, b.len);

  const char *const workloads[] = { "tcp_stream", "tcp_rr",     "udp_stream", "udp_rr",
                                    "tcp_crr",    "tcp_maerts", "tcp_bidir" };
  for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
    for (int sender = 0; sender < 2; sender++) {
      char name[64];
      b.len = 0;
      rec(&b, 0, (e = hello(NULL), &e));
      rec(&b, 0, (e = prepare(workloads[i], sender, 2, NULL), &e));
      rec(&b, 0, (e = prepare(workloads[i], sender, 2, NULL), &e)); /* still holds one */
      rec(&b, 0, (e = start(NULL), &e));
      for (int k = 0; k < 6; k++) act(&b, 1);
      rec(&b, 0, (e = stop(NULL), &e));
      snprintf(name, sizeof(name), "point-%s-%s", workloads[i], sender ? "sender" : "receiver");
      write_out("agent", name, b.data, b.len);
    }
  }

  /* Beyond the host agent's caps (fuzz_agent gives it 64 flows). */
  b.len = 0;
  rec(&b, 0, (e = hello(NULL), &e));
  rec(&b, 0, (e = prepare("tcp_stream", false, 128, NULL), &e));
  write_out("agent", "over-cap", b.data, b.len);

  /* The dead-man switch: a coordinator with a 1 ms heartbeat falls silent. */
  b.len = 0;
  hello_heartbeat_ns = IOV_NSEC_PER_MSEC;
  rec(&b, 1, (e = welcome("vm-1", NULL, true), &e));
  rec(&b, 0, (e = hello(NULL), &e));
  rec(&b, 0, (e = prepare("udp_stream", false, 1, NULL), &e));
  rec(&b, 0, (e = start(NULL), &e));
  act(&b, 1);
  act(&b, 3);
  rec(&b, 0, (e = heartbeat(NULL), &e)); /* too late: before hello again */
  write_out("agent", "deadman", b.data, b.len);
  hello_heartbeat_ns = 100 * IOV_NSEC_PER_MSEC;

  b.len = 0;
  rec(&b, 1, (e = welcome("vm-1", NULL, true), &e)); /* registers */
  rec(&b, 0, (e = hello(NULL), &e));
  rec(&b, 0, (e = heartbeat("vm-1"), &e)); /* relayed */
  rec(&b, 0, (e = heartbeat("vm-7"), &e)); /* no such guest */
  rec(&b, 1, (e = samples(1, true, "vm-1"), &e));
  rec(&b, 1, (e = result(1, false, "vm-1"), &e));
  rec(&b, 1, (e = heartbeat(NULL), &e));
  rec(&b, 1, (e = welcome("vm-2", NULL, true), &e)); /* renamed */
  rec(&b, 1, (e = stop(NULL), &e));                  /* leaves */
  rec(&b, 1, (e = heartbeat("vm-1"), &e));           /* unknown now */
  write_out("agent", "relay", b.data, b.len);

  b.len = 0;
  rec(&b, 2, (e = heartbeat(NULL), &e)); /* registered */
  rec(&b, 2, (e = hello("vm-1"), &e));
  rec(&b, 2, (e = clock_probe("vm-1"), &e));
  rec(&b, 2, (e = prepare("udp_rr", false, 1, "vm-1"), &e));
  rec(&b, 2, (e = start("vm-1"), &e));
  for (int k = 0; k < 6; k++) act(&b, 1);
  rec(&b, 2, (e = error_msg(NULL), &e)); /* the host forgot us */
  rec(&b, 2, (e = stop(NULL), &e));
  write_out("agent", "guest", b.data, b.len);
}

/* fuzz_coord: every record a frame from host agent "h". */
static void coord_seeds(void) {
  static struct buf b;
  iov_envelope e;

  b.len = 0;
  rec(&b, 0, (e = welcome("fuzzhost", NULL, false), &e));
  rec(&b, 0, (e = guests_msg(), &e));
  rec(&b, 0, (e = welcome("vm-1", "vm-1", true), &e));
  rec(&b, 0, (e = clock_reply(0), &e));
  rec(&b, 0, (e = clock_reply(1000), &e));
  rec(&b, 0, (e = ready(), &e));
  for (uint32_t s = 1; s <= 3; s++) rec(&b, 0, (e = samples(s, false, NULL), &e));
  rec(&b, 0, (e = samples(2, false, NULL), &e)); /* again */
  rec(&b, 0, (e = samples(5, true, "vm-1"), &e));
  rec(&b, 0, (e = result(3, false, NULL), &e));
  rec(&b, 0, (e = result(1, true, "vm-1"), &e));
  write_out("coord", "point", b.data, b.len);

  b.len = 0;
  rec(&b, 0, (e = guests_msg(), &e));
  rec(&b, 0, (e = vm_ready(), &e));
  rec(&b, 0, (e = error_msg("vm-2"), &e));
  rec(&b, 0, (e = samples(1, true, "vm-3"), &e)); /* unknown guest */
  rec(&b, 0, (e = heartbeat(NULL), &e));
  write_out("coord", "guests", b.data, b.len);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  outdir = argv[1];
  (void)mkdir(outdir, 0755);
  wire_seeds();
  agent_seeds();
  coord_seeds();
  return failures ? 1 : 0;
}
