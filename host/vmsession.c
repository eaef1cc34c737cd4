/* See vmsession.h.  Runs on the agent's loop thread: the libvirt calls
 * block it while domains are created (seconds at most), which is fine
 * since no point runs while VMs are being set up. */
#include "vmsession.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "err.h"
#include "log.h"
#include "parse.h"
#include "relay.h"
#include "spawn.h"
#include "sriov.h"
#include "timeutil.h"
#include "transport.h"
#include "vf.h"
#include "vm.h"

#define DEFAULT_BOOT_TIMEOUT_S 60

struct vm_state {
  struct iov_agent *a;
  const struct iov_vm_settings *cfg;
  const struct iov_vm_ops *ops;
  struct iov_vm_host *vh;
  struct iov_vf *vf; /* NULL without --sriov-pf */
  /* The VMs held now, in order, and what they were made for. */
  char **names;
  size_t n;
  /* Per VM, the key pair its guest agent authenticates with (NULL when
   * the host agent runs plaintext); allowed at the relay while it lives. */
  zcert_t **keys;
  /* Per VM, the data address handed to it (--vm-net), NULL = none: the
   * relay vouches for it to coord (agent.h, vm_guest). */
  char **addrs;
  char path[16];
  uint32_t vcpus;
  uint64_t memory_mb;
  pid_t *sims; /* simulated guests (test hook), one per VM, 0 = none */
  /* A setup waiting for its guests to register. */
  bool pending;
  uint64_t point_id, reply_to;
  uv_timer_t timer;
  bool vf_touched;
  /* A VmSetup the dead-man switch undid: answered when coord speaks again. */
  uint64_t owed_reply_to, owed_point_id;
  size_t owed_count;
  char owed_path[16];
};

static void reply_ready(struct vm_state *st, uint64_t point_id, uint64_t reply_to, bool with_names) {
  Iovbench__VmReady r = IOVBENCH__VM_READY__INIT;
  r.point_id = point_id;
  r.guests = with_names ? st->names : NULL;
  r.n_guests = with_names ? st->n : 0;
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_VM_READY;
  e.vm_ready = &r;
  (void)iov__agent_send(st->a, &e, reply_to);
}

static void stop_sims(struct vm_state *st) {
  for (size_t i = 0; st->sims && i < st->n; i++) {
    if (st->sims[i] > 0) (void)iov_spawn_stop(st->sims[i], 2000);
    st->sims[i] = 0;
  }
}

/* Take every VM down and give the PF back its VF settings. */
static void release(struct vm_state *st) {
  char err[512] = "";
  stop_sims(st);
  if (st->n && st->ops->destroy_all(st->vh, err, sizeof(err)) < 0)
    iov_warn("taking the VMs down: %s (check with virsh list)", err);
  /* Their guests are gone with them: a VM of the next point may take the
   * same name, and must not be mistaken for the old one. */
  for (size_t i = 0; i < st->n; i++) iov__relay_drop_guest(st->a, st->names[i]);
  for (size_t i = 0; i < st->n; i++) free(st->names[i]);
  for (size_t i = 0; st->keys && i < st->n; i++)
    if (st->keys[i]) {
      (void)iov_zap_allow(st->a->zap, zcert_public_txt(st->keys[i]), false);
      zcert_destroy(&st->keys[i]);
    }
  free(st->keys);
  st->keys = NULL;
  for (size_t i = 0; st->addrs && i < st->n; i++) free(st->addrs[i]);
  free(st->addrs);
  st->addrs = NULL;
  free(st->names);
  free(st->sims);
  st->names = NULL;
  st->sims = NULL;
  st->n = 0;
  st->path[0] = 0;
  if (st->vf && st->vf_touched) {
    char vf_err[512] = "";
    int r = iov_vf_restore_pf(st->vf, st->cfg->sriov_pf, vf_err, sizeof(vf_err));
    if (r < 0)
      iov_warn("restoring the VFs of %s: %s (the agent tries again at its next start)", st->cfg->sriov_pf,
               vf_err);
    else
      st->vf_touched = false;
  }
}

static void check_ready(struct vm_state *st) {
  size_t ok = 0;
  if (!st->pending) return;
  for (size_t i = 0; i < st->n; i++) ok += iov__relay_has_guest(st->a, st->names[i]);
  if (ok < st->n) return;
  st->pending = false;
  uv_timer_stop(&st->timer);
  iov_info("%zu %s VMs up, their guest agents registered", st->n, st->path);
  reply_ready(st, st->point_id, st->reply_to, true);
}

static void on_boot_timeout(uv_timer_t *t) {
  struct vm_state *st = t->data;
  size_t ok = 0;
  const char *missing = NULL;
  if (!st->pending) return;
  for (size_t i = 0; i < st->n; i++) {
    if (iov__relay_has_guest(st->a, st->names[i]))
      ok++;
    else if (!missing)
      missing = st->names[i];
  }
  st->pending = false;
  iov__agent_send_error(st->a, NULL, st->reply_to, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, st->point_id,
                        "agent '%s': %zu of %zu VMs' guest agents registered in time; '%s' did not: does its "
                        "image start iovbench-guest-agent, and can it reach %s? (virsh console %s)",
                        st->a->identity, ok, st->n, missing ? missing : "?", st->cfg->guest_endpoint,
                        missing);
  release(st);
}

/* Test hook: what the VM's guest agent would do when it boots. */
static pid_t spawn_sim(const struct vm_state *st, size_t i) {
  char *argv[12] = { (char *)st->cfg->guest_agent,
                     "--host",
                     (char *)st->cfg->guest_endpoint,
                     "--vm-id",
                     st->names[i],
                     "--data",
                     "127.0.0.1",
                     "--quiet",
                     NULL };
  char env[64] = "", *envp[] = { env, NULL };
  zcert_t *key = st->keys ? st->keys[i] : NULL;
  if (key) {
    argv[8] = "--host-key";
    argv[9] = (char *)zcert_public_txt(st->a->cert);
    argv[10] = NULL;
    snprintf(env, sizeof(env), "IOVBENCH_GUEST_KEY=%s", zcert_secret_txt(key));
  }
  pid_t pid =
      iov_spawn(argv, &(struct iov_spawn_opts){
                          .out_fd = IOV_SPAWN_INHERIT, .die_with_parent = true, .env = key ? envp : NULL });
  explicit_bzero(env, sizeof(env));
  return pid;
}

/* A locally administered MAC per VF, the same every run and different on
 * every host of one network: 02, the PF's own last three bytes (the part
 * a NIC maker numbers its ports by), and the VF's number + 1.  Hosts
 * whose PFs share those three bytes would clash; without a readable PF
 * MAC, the agent's name stands in (hashed). */
static void vf_mac(const uint8_t pf_tail[3], unsigned i, char buf[18]) {
  snprintf(buf, 18, "02:%02x:%02x:%02x:%02x:%02x", pf_tail[0], pf_tail[1], pf_tail[2], (i + 1) >> 8 & 0xff,
           (i + 1) & 0xff);
}

/* The VF PCI addresses of the PF, after its count was set, and the tail
 * of the PF's MAC for vf_mac(). */
static int vf_addresses(struct vm_state *st, unsigned count, char ***ret, uint8_t pf_tail[3]) {
  struct iov_nic_list *l = NULL;
  int r = iov_sriov_discover(st->cfg->sysfs_root, &l);
  if (r < 0) return r;
  const struct iov_nic *pf = iov_nic_list_find(l, st->cfg->sriov_pf);
  for (size_t i = 0; !pf && i < l->n_nics; i++)
    for (size_t j = 0; j < l->nics[i].n_netdevs; j++)
      if (strcmp(l->nics[i].netdevs[j].name, st->cfg->sriov_pf) == 0) pf = &l->nics[i];
  if (!pf || pf->n_vfs < count) {
    iov_nic_list_free(l);
    return -ENODEV;
  }
  uint8_t mac[6];
  if (pf->n_netdevs && pf->netdevs[0].mac && iov_parse_mac(pf->netdevs[0].mac, mac) >= 0)
    memcpy(pf_tail, mac + 3, 3);
  else {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = st->a->identity; *c; c++) h = (h ^ (uint8_t)*c) * 16777619u;
    pf_tail[0] = h >> 16 & 0xff, pf_tail[1] = h >> 8 & 0xff, pf_tail[2] = h & 0xff;
  }
  char **a = calloc(count, sizeof(char *));
  for (unsigned i = 0; a && i < count; i++) a[i] = strdup(pf->vfs[i].pci_addr);
  iov_nic_list_free(l);
  if (!a) return -ENOMEM;
  *ret = a;
  return 0;
}

static void on_setup(struct vm_state *st, const iov_envelope *in) {
  const Iovbench__VmSetup *v = in->vm_setup;
  struct iov_agent *a = st->a;
  const struct iov_vm_settings *cfg = st->cfg;
  bool sriov = strcmp(v->path, "sriov") == 0;
  char err[768] = "";
  int r;

  /* Per VM, what the plan asks for (0: the template's own, which is the
   * owner's configuration, not the coordinator's). */
  if (a->caps.max_vcpus && v->vcpus > a->caps.max_vcpus) {
    iov_warn("refused VMs of %u vCPUs for point %" PRIu64 ": over the cap of %" PRIu64, v->vcpus, v->point_id,
             a->caps.max_vcpus);
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_LIMIT, v->point_id,
                          "agent '%s' refuses VMs of %u vCPUs, over its cap of %" PRIu64
                          " per VM (--max-vcpus)",
                          a->identity, v->vcpus, a->caps.max_vcpus);
    return;
  }
  if (a->caps.max_memory && v->memory_mb > a->caps.max_memory >> 20) {
    iov_warn("refused VMs of %" PRIu64 " MiB for point %" PRIu64 ": over the cap of %" PRIu64 " MiB",
             v->memory_mb, v->point_id, a->caps.max_memory >> 20);
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_LIMIT, v->point_id,
                          "agent '%s' refuses VMs of %" PRIu64 " MiB memory, over its cap of %" PRIu64
                          " MiB per VM (--max-memory)",
                          a->identity, v->memory_mb, a->caps.max_memory >> 20);
    return;
  }
  if (a->caps.max_vms && v->count > a->caps.max_vms) {
    iov_warn("refused %u VMs for point %" PRIu64 ": over the cap of %" PRIu64, v->count, v->point_id,
             a->caps.max_vms);
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_LIMIT, v->point_id,
                          "agent '%s' refuses to start %u VMs, over its cap of %" PRIu64 " (--max-vms)",
                          a->identity, v->count, a->caps.max_vms);
    return;
  }
  if (st->pending) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_INVALID_STATE, v->point_id,
                          "agent '%s' is still starting VMs for point %" PRIu64, a->identity, st->point_id);
    return;
  }
  if (sriov ? !cfg->sriov_pf : !cfg->virtio_bridge) {
    iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_UNSUPPORTED, v->point_id,
                          "agent '%s' has no %s: start it with %s to run path %s", a->identity,
                          sriov ? "PF for SR-IOV" : "bridge for virtio",
                          sriov ? "--sriov-pf NETDEV" : "--virtio-bridge BRIDGE", v->path);
    return;
  }
  /* The same VMs again: keep them. */
  if (v->reuse && st->n == v->count && strcmp(st->path, v->path) == 0 && st->vcpus == v->vcpus &&
      st->memory_mb == v->memory_mb) {
    st->pending = true;
    st->point_id = v->point_id;
    st->reply_to = in->msg_id;
    uv_timer_start(&st->timer, on_boot_timeout, 1000ULL * DEFAULT_BOOT_TIMEOUT_S, 0);
    check_ready(st);
    return;
  }
  release(st);

  _cleanup_free_ char **vfs = NULL;
  uint8_t pf_tail[3] = { 0 };
  if (sriov) {
    unsigned have = 0;
    if (!st->vf) {
      r = -ENODEV;
      snprintf(err, sizeof(err), "no VF handle");
      goto fail;
    }
    r = iov_vf_get_count(st->vf, cfg->sriov_pf, &have, NULL, err, sizeof(err));
    if (r >= 0 && have < v->count) r = iov_vf_set_count(st->vf, cfg->sriov_pf, v->count, err, sizeof(err));
    if (r < 0) goto fail;
    st->vf_touched = true;
    r = vf_addresses(st, v->count, &vfs, pf_tail);
    if (r < 0) {
      snprintf(err, sizeof(err), "cannot find %u VFs of %s in sysfs: %s", v->count, cfg->sriov_pf,
               iov_strerror(r));
      goto fail;
    }
    /* The plan's VF settings, through rtnetlink (the MAC goes with the
     * domain's hostdev interface). */
    struct iov_vf_settings vs = { 0 };
    if (v->vf_vlan) {
      vs.set |= IOV_VF_SET_VLAN;
      vs.vlan = (uint16_t)v->vf_vlan;
    }
    if (v->vf_max_rate_mbps) {
      vs.set |= IOV_VF_SET_RATE;
      vs.max_tx_rate = (uint32_t)v->vf_max_rate_mbps;
    }
    if (v->vf_spoofchk >= 0) {
      vs.set |= IOV_VF_SET_SPOOFCHK;
      vs.spoofchk = v->vf_spoofchk == 1;
    }
    if (v->vf_trust >= 0) {
      vs.set |= IOV_VF_SET_TRUST;
      vs.trust = v->vf_trust == 1;
    }
    /* Without libvirt to set it with the hostdev interface, the MAC goes
     * through the PF too. */
    bool set_mac = !(st->ops->caps & IOV_VM_CAP_SETS_VF_MAC);
    for (unsigned i = 0; (vs.set || set_mac) && i < v->count; i++) {
      if (set_mac) {
        char mac[18];
        vf_mac(pf_tail, i, mac);
        vs.set |= IOV_VF_SET_MAC;
        (void)iov_parse_mac(mac, vs.mac);
      }
      char vf_err[512] = "";
      r = iov_vf_set(st->vf, cfg->sriov_pf, i, &vs, NULL, vf_err, sizeof(vf_err));
      if (r < 0) {
        snprintf(err, sizeof(err), "VF %u: %s", i, vf_err);
        goto fail;
      }
    }
  }

  struct iov_vm_spec *specs = calloc(v->count, sizeof(*specs));
  struct iov_vm_nic *nics = calloc(v->count, sizeof(*nics));
  uint16_t *cpus = calloc((size_t)v->count * (v->vcpus ? v->vcpus : 1) + 1, sizeof(*cpus));
  char(*macs)[18] = calloc(v->count, sizeof(*macs));
  char(*addrs)[INET_ADDRSTRLEN] = calloc(v->count, sizeof(*addrs));
  char(*nets)[INET_ADDRSTRLEN + 4] = calloc(v->count, sizeof(*nets));
  struct in_addr base = { 0 };
  unsigned prefix = 0;
  bool net_ok = true;
  if (cfg->vm_net) {
    char b[INET_ADDRSTRLEN];
    const char *slash = strchr(cfg->vm_net, '/');
    size_t bl = slash ? (size_t)(slash - cfg->vm_net) : 0;
    if (slash && bl < sizeof(b)) {
      memcpy(b, cfg->vm_net, bl);
      b[bl] = 0;
      prefix = (unsigned)atoi(slash + 1);
    }
    net_ok = slash && bl < sizeof(b) && inet_pton(AF_INET, b, &base) == 1 && prefix <= 32;
  }
  st->names = calloc(v->count, sizeof(char *));
  st->sims = calloc(v->count, sizeof(pid_t));
  st->keys = calloc(v->count, sizeof(zcert_t *));
  st->addrs = calloc(v->count, sizeof(char *));
  r = specs && nics && cpus && macs && addrs && nets && st->names && st->sims && st->keys && st->addrs
          ? 0
          : -ENOMEM;
  if (r == 0 && !net_ok) {
    snprintf(err, sizeof(err), "--vm-net '%s' is not an IPv4 ADDRESS/PREFIX", cfg->vm_net);
    r = -EINVAL;
  }
  unsigned vcpus = v->vcpus ? v->vcpus : 1;
  for (unsigned i = 0; r == 0 && i < v->count; i++) {
    struct iov_vm_nic *nic = &nics[i];
    if (sriov) {
      vf_mac(pf_tail, i, macs[i]);
      /* libvirt sets the VF's MAC and VLAN itself when it passes it in:
       * give it the VLAN set above, or it would clear it. */
      *nic = (struct iov_vm_nic){
        .type = IOV_VM_NIC_HOSTDEV, .pci = vfs[i], .mac = macs[i], .vlan = (unsigned)v->vf_vlan
      };
    } else
      *nic = (struct iov_vm_nic){ .type = IOV_VM_NIC_BRIDGE, .source = cfg->virtio_bridge };
    /* vCPUs round robin over the pinning set, VM after VM. */
    uint16_t *mine = &cpus[(size_t)i * vcpus];
    for (unsigned j = 0; v->n_cpus && j < vcpus; j++)
      mine[j] = (uint16_t)v->cpus[((size_t)i * vcpus + j) % v->n_cpus];
    specs[i] = (struct iov_vm_spec){
      .run = v->run_id,
      .host = a->identity,
      .index = i + 1,
      .template_path = cfg->template_path,
      .virt_type = cfg->virt_type,
      .memory_mib = v->memory_mb,
      .vcpus = vcpus,
      .cpus = v->n_cpus ? mine : NULL,
      .n_cpus = v->n_cpus ? vcpus : 0,
      .base_image = cfg->image,
      .pool = cfg->pool,
      .kernel = cfg->kernel,
      .initrd = cfg->initrd,
      .cmdline = cfg->cmdline,
      .nics = nic,
      .n_nics = 1,
      .guest_endpoint = cfg->guest_endpoint,
    };
    if (cfg->vm_net) {
      struct in_addr ai = { .s_addr = htonl(ntohl(base.s_addr) + i) };
      inet_ntop(AF_INET, &ai, addrs[i], sizeof(addrs[i]));
      snprintf(nets[i], sizeof(nets[i]), "%s/%u", addrs[i], prefix);
      specs[i].data = addrs[i];
      specs[i].net = nets[i];
      st->addrs[i] = strdup(addrs[i]); /* NULL: vouched for as none */
    }
    if (cfg->simulate_guests) { /* test hook: spawn_sim() hands its guest 127.0.0.1 */
      free(st->addrs[i]);
      st->addrs[i] = strdup("127.0.0.1");
    }
    char name[IOV_VM_NAME_MAX + 1];
    r = iov_vm_name(&specs[i], name, sizeof(name), err, sizeof(err));
    if (r >= 0 && !(st->names[i] = strdup(name))) r = -ENOMEM;
    if (r >= 0) st->n = i + 1;
    /* Its own key pair, let in at the relay for as long as it lives. */
    if (r >= 0 && a->cert) {
      st->keys[i] = zcert_new();
      if (!st->keys[i]) r = -ENOMEM;
      if (r >= 0) r = iov_zap_allow(a->zap, zcert_public_txt(st->keys[i]), true);
      if (r < 0) snprintf(err, sizeof(err), "cannot make a key for guest %s: %s", name, strerror(-r));
      specs[i].host_key = zcert_public_txt(a->cert);
      specs[i].guest_key = st->keys[i] ? zcert_secret_txt(st->keys[i]) : NULL;
    }
  }
  size_t reused = 0;
  if (r >= 0) r = st->ops->create(st->vh, specs, v->count, &reused, err, sizeof(err));
  free(specs);
  free(nics);
  free(cpus);
  free(macs);
  free(addrs);
  free(nets);
  for (unsigned i = 0; vfs && i < v->count; i++) free(TAKE_PTR(vfs[i]));
  if (r < 0) {
    if (!err[0]) snprintf(err, sizeof(err), "%s", iov_strerror(r));
    goto fail;
  }
  snprintf(st->path, sizeof(st->path), "%s", v->path);
  st->vcpus = v->vcpus;
  st->memory_mb = v->memory_mb;
  iov_info("started %u %s VMs (%s ...) for point %" PRIu64 ", waiting for their guest agents", v->count,
           v->path, st->names[0], v->point_id);
  if (cfg->simulate_guests)
    for (size_t i = 0; i < st->n; i++) {
      pid_t pid = spawn_sim(st, i);
      if (pid > 0) st->sims[i] = pid;
    }
  st->pending = true;
  st->point_id = v->point_id;
  st->reply_to = in->msg_id;
  unsigned per = cfg->boot_timeout_s ? cfg->boot_timeout_s : DEFAULT_BOOT_TIMEOUT_S;
  uv_timer_start(&st->timer, on_boot_timeout, 1000ULL * per * (1 + v->count / 4), 0);
  check_ready(st);
  return;

fail:
  for (unsigned i = 0; vfs && i < v->count; i++) free(TAKE_PTR(vfs[i]));
  iov__agent_send_error(a, NULL, in->msg_id, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, v->point_id,
                        "agent '%s' cannot start %u %s VMs: %s", a->identity, v->count, v->path, err);
  release(st);
}

static void on_teardown(struct vm_state *st, const iov_envelope *in) {
  if (st->pending) {
    st->pending = false;
    uv_timer_stop(&st->timer);
  }
  if (!in->vm_teardown->keep) release(st);
  reply_ready(st, in->vm_teardown->point_id, in->msg_id, false);
}

static void on_message(struct iov_agent *a, void *state, const iov_envelope *in) {
  struct vm_state *st = state;
  (void)a;
  if (in->body_case == IOVBENCH__ENVELOPE__BODY_VM_SETUP)
    on_setup(st, in);
  else if (in->body_case == IOVBENCH__ENVELOPE__BODY_VM_TEARDOWN)
    on_teardown(st, in);
}

static bool vm_guest(struct iov_agent *a, void *state, size_t i, struct iov_vm_guest *ret) {
  struct vm_state *st = state;
  (void)a;
  if (i >= st->n || !st->names || !st->names[i]) return false;
  *ret = (struct iov_vm_guest){ .name = st->names[i],
                                .key = st->keys && st->keys[i] ? zcert_public_txt(st->keys[i]) : NULL,
                                .address = st->addrs ? st->addrs[i] : NULL };
  return true;
}

static void on_guest(struct iov_agent *a, void *state, const char *name) {
  (void)a;
  (void)name;
  check_ready(state);
}

/* The qemu process of one of our VMs: the simulated guest (test hook),
 * or libvirt's pid file for the domain. */
static pid_t guest_pid(struct iov_agent *a, void *state, const char *name) {
  struct vm_state *st = state;
  (void)a;
  for (size_t i = 0; i < st->n; i++) {
    if (strcmp(st->names[i], name) != 0) continue;
    if (st->cfg->simulate_guests) return st->sims ? st->sims[i] : 0;
    if (st->ops->guest_pid) return st->ops->guest_pid(st->vh, name);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s.pid", st->cfg->pid_dir ? st->cfg->pid_dir : "/run/libvirt/qemu",
             name);
    FILE *f = fopen(path, "re");
    long pid = 0;
    if (f) {
      if (fscanf(f, "%ld", &pid) != 1) pid = 0;
      fclose(f);
    }
    return pid > 0 && pid < INT_MAX ? (pid_t)pid : 0;
  }
  return 0;
}

static int init(struct iov_agent *a, void *config, void **ret_state) {
  const struct iov_vm_settings *cfg = config;
  struct vm_state *st = calloc(1, sizeof(*st));
  char err[768] = "";
  int r;

  if (!st) return -ENOMEM;
  st->a = a;
  st->cfg = cfg;
  st->ops = cfg->backend && strcmp(cfg->backend, "netns") == 0 ? &iov_vm_ops_netns : &iov_vm_ops_libvirt;
  if (!cfg->guest_endpoint) {
    free(st);
    return iov_log_errno(-EINVAL, "VMs need --vm-guest-endpoint: the relay's address as the VMs reach it");
  }
  struct iov_vm_config vc = { .uri = cfg->libvirt_uri,
                              .persistent = cfg->persistent,
                              .reuse_vms = true,
                              .xml_dir = cfg->xml_dir,
                              .sysfs_root = cfg->sysfs_root,
                              .guest_agent = cfg->guest_agent };
  r = st->ops->open(&vc, &st->vh, err, sizeof(err));
  if (r < 0) {
    bool hypervisor = st->ops->caps & IOV_VM_CAP_HYPERVISOR;
    free(st);
    if (!hypervisor) return iov_log_errno(r, "Cannot run guests in network namespaces: %s", err);
    return iov_log_errno(r, "Cannot connect to libvirt at %s: %s", cfg->libvirt_uri, err);
  }
  /* What a crashed run of this agent left behind. */
  size_t removed = 0;
  if (st->ops->cleanup(st->vh, NULL, a->identity, cfg->pool, &removed, err, sizeof(err)) < 0)
    iov_warn("removing leftover VMs: %s", err);
  else if (removed)
    iov_notice("removed %zu domains and volumes a previous run left behind", removed);
  if (cfg->sriov_pf) {
    struct iov_vf_config vfc = { .sysfs_root = cfg->sysfs_root, .state_dir = cfg->vf_state_dir };
    r = iov_vf_new(&vfc, &st->vf);
    if (r >= 0) {
      r = iov_vf_restore(st->vf, err, sizeof(err));
      if (r > 0) iov_notice("restored the VF settings of %d PF(s) that a previous run changed", r);
      if (r < 0) iov_warn("restoring VF settings left by a previous run: %s", err);
    }
  }
  uv_timer_init(&a->loop, &st->timer);
  st->timer.data = st;
  iov_info("VMs through %s (sriov PF %s, virtio bridge %s)",
           st->ops->caps & IOV_VM_CAP_HYPERVISOR ? cfg->libvirt_uri : "network namespaces",
           cfg->sriov_pf ? cfg->sriov_pf : "none", cfg->virtio_bridge ? cfg->virtio_bridge : "none");
  *ret_state = st;
  return 0;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

static void done(struct iov_agent *a, void *state) {
  struct vm_state *st = state;
  (void)a;
  release(st);
  st->vh = st->ops->close(st->vh);
  st->vf = iov_vf_free(st->vf);
  uv_close((uv_handle_t *)&st->timer, on_timer_closed);
}

static void coord_back(struct iov_agent *a, void *state) {
  struct vm_state *st = state;
  if (!st->owed_reply_to) return;
  iov__agent_send_error(
      a, NULL, st->owed_reply_to, IOVBENCH__ERROR_CODE__ERR_WORKLOAD, st->owed_point_id,
      "agent '%s' took its %zu %s VMs down again: its coordinator went silent (the dead-man "
      "switch) while they started",
      a->identity, st->owed_count, st->owed_path);
  st->owed_reply_to = 0;
}

static void coord_lost(struct iov_agent *a, void *state) {
  struct vm_state *st = state;
  (void)a;
  if (st->pending) {
    st->pending = false;
    uv_timer_stop(&st->timer);
    /* Owed to the coordinator if it speaks again (it was only slow):
     * these VMs are gone, no need to wait out its deadline. */
    st->owed_reply_to = st->reply_to;
    st->owed_point_id = st->point_id;
    st->owed_count = st->n;
    snprintf(st->owed_path, sizeof(st->owed_path), "%s", st->path);
  }
  if (st->n) iov_notice("taking down %zu %s VMs of the silent coordinator's run", st->n, st->path);
  release(st);
}

const struct iov_agent_vm_hooks iov_vm_hooks = {
  .init = init,
  .on_message = on_message,
  .on_guest = on_guest,
  .vm_guest = vm_guest,
  .guest_pid = guest_pid,
  .done = done,
  .coord_lost = coord_lost,
  .coord_back = coord_back,
};
