#include "json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* The PCI NICs of a host agent's inventory, with the keys and the nulls
 * of `iovbench-agent inventory --json` (agent/sriov_sysfs.c): "" and -1
 * mean unknown and are written as null. */
static json_t *j_str(const char *s) {
  json_t *v = s && *s ? json_string(s) : NULL; /* NULL also for bad UTF-8 */
  return v ? v : json_null();
}
static json_t *j_int(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

static json_t *nic_json(const Iovbench__PciNic *n) {
  json_t *netdevs = json_array(), *vfs = json_array(), *warnings = json_array(), *j = NULL;
  bool ids = n->vendor_id || n->device_id;

  if (!netdevs || !vfs || !warnings) goto out;
  for (size_t i = 0; i < n->n_netdevs; i++) {
    const Iovbench__NetDev *d = n->netdevs[i];
    json_array_append_new(
        netdevs, json_pack("{s:o, s:o, s:o, s:o, s:o}", "name", j_str(d->name), "mac", j_str(d->mac),
                           "speed_mbps", j_int(d->speed_mbps ? (int64_t)d->speed_mbps : -1), "ifindex",
                           j_int(d->ifindex ? (int64_t)d->ifindex : -1), "operstate", j_str(d->operstate)));
  }
  for (size_t i = 0; i < n->n_vfs; i++) {
    const Iovbench__PciVf *v = n->vfs[i];
    json_array_append_new(vfs, json_pack("{s:I, s:o, s:o, s:o, s:o}", "index", (json_int_t)v->index,
                                         "pci_address", j_str(v->pci_address), "driver", j_str(v->driver),
                                         "netdev", j_str(v->netdev), "iommu_group", j_int(v->iommu_group)));
  }
  for (size_t i = 0; i < n->n_warnings; i++) json_array_append_new(warnings, j_str(n->warnings[i]));
  j = json_pack(
      "{s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:O, s:o, s:o, s:b, s:o, s:o, s:O, s:o, s:O}", "pci_address",
      j_str(n->pci_address), "vendor_id", ids ? json_integer(n->vendor_id) : json_null(), "device_id",
      ids ? json_integer(n->device_id) : json_null(), "class_code", (json_int_t)n->class_code, "vendor_name",
      j_str(n->vendor_name), "device_name", j_str(n->device_name), "driver", j_str(n->driver), "netdevs",
      netdevs, "numa_node", j_int(n->numa_node), "iommu_group", j_int(n->iommu_group), "sriov", n->sriov,
      "sriov_totalvfs", j_int(n->sriov ? n->sriov_totalvfs : -1), "sriov_numvfs",
      j_int(n->sriov ? n->sriov_numvfs : -1), "vfs", vfs, "physfn", j_str(n->physfn), "warnings", warnings);
out:
  json_decref(netdevs);
  json_decref(vfs);
  json_decref(warnings);
  return j;
}

json_t *iov_json_inventory(const char *name, const char *endpoint, const Iovbench__Welcome *w) {
  const Iovbench__Inventory *inv = w ? w->inventory : NULL;
  json_t *ifs = json_array();
  json_t *wl = json_array();
  json_t *nics = json_array();
  json_t *j = json_pack("{s:s, s:s, s:s?}", "name", name, "endpoint", endpoint, "identity",
                        w && w->identity ? w->identity : NULL);
  if (!j || !ifs || !wl || !nics) goto oom;
  if (inv) {
    for (size_t i = 0; i < inv->n_interfaces; i++) {
      const Iovbench__Interface *it = inv->interfaces[i];
      json_t *addrs = json_array();
      if (!addrs) goto oom;
      for (size_t k = 0; k < it->n_addresses; k++)
        json_array_append_new(addrs, json_string(it->addresses[k]));
      json_array_append_new(ifs, json_pack("{s:s, s:s, s:o, s:i, s:b, s:b, s:s, s:I}", "name", it->name,
                                           "mac", it->mac ? it->mac : "", "addresses", addrs, "mtu",
                                           (int)it->mtu, "up", it->up, "loopback", it->loopback, "driver",
                                           it->driver ? it->driver : "", "speed_mbps",
                                           (json_int_t)it->speed_mbps));
    }
    for (size_t i = 0; i < inv->n_workloads; i++) json_array_append_new(wl, json_string(inv->workloads[i]));
    for (size_t i = 0; i < inv->n_nics; i++) json_array_append_new(nics, nic_json(inv->nics[i]));
    json_object_set_new(j, "hostname", json_string(inv->hostname ? inv->hostname : ""));
    json_object_set_new(j, "kernel", json_string(inv->kernel ? inv->kernel : ""));
    json_object_set_new(j, "cpus_online", json_integer(inv->cpus_online));
    json_object_set_new(j, "cpu_model", json_string(inv->cpu_model ? inv->cpu_model : ""));
    json_object_set_new(j, "mem_total_kb", json_integer((json_int_t)inv->mem_total_kb));
    json_object_set_new(j, "agent_version", json_string(inv->agent_version ? inv->agent_version : ""));
  }
  json_object_set_new(j, "interfaces", ifs);
  json_object_set_new(j, "workloads", wl);
  json_object_set_new(j, "nics", nics);
  return j;
oom:
  json_decref(j);
  json_decref(ifs);
  json_decref(wl);
  json_decref(nics);
  return NULL;
}

json_t *iov_json_point_params(const struct iov_plan_point *p) {
  json_t *j =
      json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "test", p->test, "index",
                (int)p->index, "sweep", p->sweep ? p->sweep : "", "workload", p->p.workload, "sender",
                p->p.sender, "receiver", p->p.receiver, "flows", (json_int_t)p->p.flows, "msg_size",
                (json_int_t)p->p.msg_size, "response_size", (json_int_t)p->p.response_size, "duration_ns",
                (json_int_t)p->p.duration, "sample_interval_ns", (json_int_t)p->p.sample_interval,
                "timeout_ns", (json_int_t)p->p.timeout, "path", p->p.path ? p->p.path : "auto");
  /* What else sets the point apart: the line rate when the plan gives
   * one, and each engine setting that differs from its engine's default,
   * as a plan writes it ("frame_size": "imix", "pdr_loss": "0.5%"), so
   * points of other settings are told apart and the runs from before a
   * setting existed still match their default. */
  if (j && p->p.line_rate) json_object_set_new(j, "line_rate", json_integer((json_int_t)p->p.line_rate));
  for (size_t i = 0; j && i < p->p.n_settings; i++) {
    const struct iov_plan_setting *s = &p->p.settings[i];
    char buf[64];
    if (s->value != s->opt->def && !json_object_get(j, s->opt->name))
      json_object_set_new(j, s->opt->name,
                          json_string(iov_engine_opt_format(s->opt, s->value, buf, sizeof(buf))));
  }
  return j;
}

char *iov_json_dumps(const json_t *j) { return j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL; }

int iov_json_dump_file(const json_t *j, const char *path) {
  if (!j) return -ENOMEM;
  return json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 ? 0 : -EIO;
}
